"""Live publishing over HTTP (API key required) and model administration.

* ``PUT /v1/articles/<id>`` - add or replace one article (JSON object; ``id`` optional, must
  match the path when given; body up to ``MAX_BATCH_BYTES``, so that an article's own limit,
  ``MAX_BODY_CHARS`` characters of body on every publish path, is the one that applies);
* ``DELETE /v1/articles/<id>`` - unpublish (a corpus article too): never recommended again,
  queries for it answer 404;
* ``POST /v1/articles:batch`` - ``{"articles": [...], "unpublish": ["id", ...]}`` in one
  transaction (all or nothing), up to ``MAX_BATCH`` articles, body up to ``MAX_BATCH_BYTES``;
* ``POST /v1/admin/reload`` - load and verify the model ``current`` names, swap it in this
  worker, and ask every other worker to do the same.

A malformed article is a 400 problem whose ``field`` names the culprit (``published_at``,
``articles[3].title``), a body over ``MAX_BODY_CHARS`` a 413; nothing is stored then.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from recommender.state.live import MAX_BATCH, LiveStore, parse_articles
from service import openapi, validation
from service.auth import require_api_key
from service.errors import Problem, invalid_parameter
from service.state import get_state

bp = Blueprint("live", __name__, url_prefix="/v1")
# Every operation here uses the state database: 503 when it is unavailable.
openapi.common_responses(bp, {"503": "StateUnavailable"})

DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024


def _batch_bytes() -> int:
    return int(current_app.config.get("MAX_BATCH_BYTES", DEFAULT_MAX_BATCH_BYTES))


def _store() -> LiveStore:
    return LiveStore(get_state().require_db())


def _written(ids: list[str], status: str, **extra: Any) -> dict[str, Any]:
    db = get_state().require_db()
    return {"ids": ids, "status": status, "state_version": db.version(), **extra}


@bp.put("/articles/<article_write:article_id>")
@require_api_key
def put_article(article_id: str):
    """Publish (add or replace) a live article.

    ---
    summary: Publish a live article
    description: >-
      The id may contain `/` but may not end in `/related`, `/related.html`, `/pins` or
      `/blocks` (those paths belong to other routes; use `POST /v1/articles:batch`).
    tags: [live]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [title]
            properties:
              id: {type: [string, integer, "null"], description: "Must match the URL when given."}
              title: {type: string, maxLength: 1000, pattern: '\\S'}
              body: {type: [string, "null"], description: "Text or HTML, up to 200,000 characters."}
              url: {type: [string, "null"]}
              published_at: {type: [string, "null"], description: ISO 8601 date and time.}
              section: {type: [string, "null"]}
              tags: {type: [array, "null"], items: {type: string}}
              language: {type: [string, "null"]}
              status:
                type: [string, "null"]
                description: "Anything but published: stored, never recommended."
              story_id: {type: [string, "null"]}
    responses:
      "200":
        description: Stored; queryable and a candidate from the next request on, in every worker.
        content:
          application/json:
            schema:
              type: object
              required: [ids, status, state_version]
              properties:
                ids: {type: array, items: {type: string}}
                status: {type: string}
                state_version: {type: integer}
                changed: {type: integer}
                unpublished: {type: array, items: {type: string}}
    """
    article_id = validation.article_id(article_id)
    # The article's own size limit (MAX_BODY_CHARS, the same on every publish path) decides,
    # not the query limit: a body at that limit, JSON-escaped, can exceed MAX_CONTENT_LENGTH.
    request.max_content_length = _batch_bytes()
    payload = validation.json_object(request)
    given = payload.get("id")
    if given is not None and str(given) != article_id:
        raise invalid_parameter("id", f"the body's id {given!r} does not match the URL's "
                                f"{article_id!r}")
    payload = {**payload, "id": article_id}
    frame = parse_articles([payload])
    ids = _store().publish(frame)
    return _written(ids, "published")


@bp.delete("/articles/<article_write:article_id>")
@require_api_key
def delete_article(article_id: str):
    """Unpublish an article (live or of the corpus): never recommended again, queries 404.

    ---
    summary: Unpublish an article
    description: >-
      The id may contain `/` but may not end in `/related`, `/related.html`, `/pins` or
      `/blocks` (those paths belong to other routes; use `POST /v1/articles:batch`).
    tags: [live]
    responses:
      "200":
        description: Unpublished (`changed` is 0 when it already was).
        content:
          application/json:
            schema:
              type: object
              required: [ids, status, state_version]
              properties:
                ids: {type: array, items: {type: string}}
                status: {type: string}
                state_version: {type: integer}
                changed: {type: integer}
                unpublished: {type: array, items: {type: string}}
    """
    article_id = validation.article_id(article_id)
    changed = _store().unpublish(article_id)
    return _written([article_id], "unpublished", changed=changed)


@bp.post("/articles:batch")
@require_api_key
def batch():
    """Publish and unpublish many articles in one transaction (all or nothing).

    ---
    summary: Publish and unpublish in bulk
    tags: [live]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            additionalProperties: false
            anyOf:
              - required: [articles]
                properties: {articles: {minItems: 1}}
              - required: [unpublish]
                properties: {unpublish: {minItems: 1}}
            properties:
              articles:
                type: array
                maxItems: 1000
                items:
                  type: object
                  required: [id, title]
                  properties:
                    id: {type: [string, integer]}
                    title: {type: string, maxLength: 1000, pattern: '\\S'}
              unpublish:
                type: array
                maxItems: 1000
                items: {type: string, minLength: 1, maxLength: 512}
    responses:
      "200":
        description: Applied.
        content:
          application/json:
            schema:
              type: object
              required: [ids, status, state_version]
              properties:
                ids: {type: array, items: {type: string}}
                status: {type: string}
                state_version: {type: integer}
                changed: {type: integer}
                unpublished: {type: array, items: {type: string}}
    """
    # A CMS back-fill is larger than a query: its own (configurable) body limit.
    request.max_content_length = _batch_bytes()
    payload = validation.json_object(request)
    unknown = sorted(set(payload) - {"articles", "unpublish"})
    if unknown:
        raise invalid_parameter(unknown[0], f"unknown field {unknown[0]!r} (expected "
                                "'articles' and/or 'unpublish')")
    articles = payload.get("articles", [])
    unpublish = payload.get("unpublish", [])
    if not isinstance(articles, list):
        raise invalid_parameter("articles", "articles must be an array of article objects")
    if not isinstance(unpublish, list) or not all(isinstance(i, str) and i for i in unpublish):
        raise invalid_parameter("unpublish", "unpublish must be an array of article ids")
    if not articles and not unpublish:
        raise invalid_parameter("articles", "give 'articles' to publish and/or 'unpublish'")
    if len(unpublish) > MAX_BATCH:
        raise invalid_parameter("unpublish", f"has {len(unpublish)} ids; at most {MAX_BATCH}")
    for i, item in enumerate(unpublish):
        if len(item) > validation.MAX_ARTICLE_ID_LENGTH:
            raise invalid_parameter(f"unpublish[{i}]", "id too long")
    frame = parse_articles(articles, batch=True) if articles else None
    published, changed = _store().apply(frame, unpublish)
    return _written(published, "applied", unpublished=unpublish, changed=changed)


@bp.post("/admin/reload")
@require_api_key
def reload_model():
    """Load, verify and swap in the model version ``current`` names, in every worker.

    ---
    summary: Reload the model
    tags: [operations]
    responses:
      "200":
        description: >-
          This worker reloaded (or already served that version); the others follow within
          `ALSOSEE_WATCH_INTERVAL` seconds.
        content:
          application/json:
            schema:
              type: object
              required: [status, previous, version]
              properties:
                status: {type: string, enum: [reloaded, unchanged]}
                previous: {type: [string, "null"]}
                version: {type: [string, "null"]}
                error: {type: "null"}
                seconds: {type: number}
                other_workers_notified: {type: boolean}
      "409":
        $ref: "#/components/responses/ReloadFailed"
    """
    state = get_state()
    result = state.reload(reason="POST /v1/admin/reload")
    others = True
    try:
        state.request_reload_everywhere()
    except Exception as exc:  # noqa: BLE001 - this worker's answer still stands
        current_app.logger.error("could not ask the other workers to reload: %s", exc)
        others = False
    if result.status == "failed":
        raise Problem(
            409,
            f"The new model was refused and {result.previous or 'no model'} keeps serving: "
            f"{result.error}",
            slug="reload-failed", title="Model reload refused",
        )
    return {**result.to_dict(), "other_workers_notified": others}
