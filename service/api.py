"""JSON API, version 1 (``/v1``)."""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Blueprint, request

from service import openapi, ranking_params, validation
from service.auth import key_for_some_options
from service.errors import Problem, invalid_parameter, public_message
from service.http_caching import cacheable
from service.state import get_state

bp = Blueprint("api", __name__, url_prefix="/v1")
# Every operation here needs the loaded model: 503 without one.
openapi.common_responses(bp, {"503": "Unavailable"})

ARTICLE_FIELDS = ("id", "title", "url", "published_at", "section")

# Manifest keys safe to publish on /v1/model (an allowlist: anything new stays private).
PUBLIC_MANIFEST_KEYS = (
    "format",
    "format_version",
    "version",
    "created_at",
    "articles",
    "published_articles",
    "features",
    "nonzeros",
    "parameters",
    "versions",
    "corpus",
)
# Nested keys never published (filesystem paths, anything credential-like).
_PRIVATE_KEY_RE = re.compile(
    r"path|secret|token|password|passwd|credential|signature|api_?key", re.IGNORECASE
)


def article_summary(article: dict[str, Any]) -> dict[str, Any]:
    return {field: article.get(field) for field in ARTICLE_FIELDS}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _scrub(item)
            for key, item in value.items()
            if not (isinstance(key, str) and _PRIVATE_KEY_RE.search(key))
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without checksums, paths or anything secret-ish."""
    public = {key: manifest[key] for key in PUBLIC_MANIFEST_KEYS if key in manifest}
    return _scrub(public)


def _placements(result: Any) -> list[dict[str, Any]] | None:
    return None if result.slots is None else [slot.to_dict() for slot in result.slots]


def ranked_for_article(
    article_id: str, k: int, options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None,
           list[dict[str, Any]] | None]:
    """The article's summary, its related items (dicts), the debug block (or None) and the
    slots of its placements (or None),
    through the newsroom engine: takedowns, pins, blocks, live articles and the ranking
    options apply to every format (JSON, HTML fragment, oEmbed) that calls this."""
    state = get_state()
    view = state.view()  # one model and one live snapshot for the whole request
    engine = state.engine()
    options = options or {}
    if (engine.options(None, view.live, **options).status != "any"
            and engine.is_taken_down(article_id, view.live)):
        # Not its list under its title: gone, as for a page the site removed (previews,
        # status=any with a key, still show it).
        raise Problem(410, f"article {article_id!r} has been taken down", slug="taken-down",
                      title="Gone")
    result = engine.related(article_id, k=k, live=view.live, **options)
    items = [item.to_dict() for item in result.items]
    return article_summary(result.article), items, result.debug, _placements(result)


def related_for_article(
    article_id: str, k: int, options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`ranked_for_article` without the debug block."""
    article, items, _, _ = ranked_for_article(article_id, k, options)
    return article, items


def _response(article: dict[str, Any], items: list[dict[str, Any]],
              debug: dict[str, Any] | None,
              placements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"article": article, "related": items}
    if placements is not None:  # asked for: the slots; `related` is the end block
        body["placements"] = placements
    body["model"] = get_state().model_info()
    if debug is not None:
        # Which worker process answered (several share one state database).
        body["debug"] = {**debug, "worker_pid": os.getpid()}
    return body


@bp.get("/articles/<path:article_id>/related")
@cacheable
@key_for_some_options
def related(article_id: str):
    """Related stories of an article of the corpus.

    ---
    summary: Related stories of an article
    tags: [related]
    parameters:
      - $ref: "#/components/parameters/K"
      - $ref: "#/x-parameter-groups/Ranking"
    responses:
      "200":
        description: >-
          The article and up to `k` related published articles, best first (never the
          article itself).
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/RelatedResponse"
      "410":
        $ref: "#/components/responses/Gone"
    """
    article_id = validation.article_id(article_id)
    k = validation.k_from_query(request)
    options = ranking_params.from_query(request)
    return _response(*ranked_for_article(article_id, k, options))


@bp.post("/related")
@key_for_some_options
def related_to_draft():
    """Related stories of a draft that is not in the corpus.

    ---
    summary: Related stories of a draft
    tags: [related]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Draft"
    responses:
      "200":
        description: Up to `k` related published articles, best first.
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/DraftResponse"
      "429":
        $ref: "#/components/responses/TooManyRequests"
    """
    state = get_state()
    view = state.view()
    payload = validation.json_object(request)
    title = validation.optional_string(payload, "title")
    body = validation.optional_string(payload, "body")
    tags = validation.optional_string_list(payload, "tags")
    k = validation.k_from_json(payload)
    options = ranking_params.from_json(payload)
    published_at = payload.get("published_at")
    if published_at is not None and not isinstance(published_at, str):
        raise invalid_parameter("published_at", "published_at must be an ISO 8601 date string")
    # The draft's section (for the latest_in_section fallback) is the first section filter.
    result = state.engine().related_to_text(
        title, body, k=k, article_tags=tags, published_at=published_at, live=view.live,
        **options,
    )
    items = [item.to_dict() for item in result.items]
    return _response({"title": title}, items, result.debug, _placements(result))


@bp.get("/model")
def model():
    """The loaded model's manifest (without checksums, paths or secrets).

    ---
    summary: The loaded model
    tags: [operations]
    responses:
      "200":
        description: The public part of the model's manifest.
        content:
          application/json:
            schema:
              type: object
              required: [version]
              properties:
                version:
                  type: string
                created_at:
                  type: string
                articles:
                  type: integer
              additionalProperties: true
    """
    state = get_state()
    view = state.view()
    serving = state.serving
    body = public_manifest(view.loaded.manifest)
    body["serving"] = {
        "version": view.version,
        "since": serving.since if serving is not None else None,
        "load_seconds": round(view.loaded.load_seconds, 3),
    }
    body["state_version"] = view.state_version
    body["live_articles"] = view.live.n_live if view.live is not None else None
    body["unpublished_ids"] = len(view.live.tombstones) if view.live is not None else None
    # Errors name files: anonymous clients get them without absolute paths.
    last = state.last_reload
    if last is not None and last.get("error"):
        last = {**last, "error": public_message(last["error"])}
    body["last_reload"] = last
    body["last_reload_error"] = public_message(state.last_reload_error)
    return body
