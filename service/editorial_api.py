"""Editorial controls over HTTP: takedowns, pins and blocks (``/v1``).

Reads need a key unless ``READ_REQUIRES_KEY`` is false (takedowns carry reasons and
authors); every write needs ``Authorization: Bearer <key>`` (:mod:`service.auth`) and is one
atomic transaction in the state database: a rejected request (bad key, unknown id, malformed
body) changes nothing.

* ``GET /v1/takedowns``; ``PUT /v1/takedowns/<id>`` ``{"reason": "...", "force": false}``
  (``<id>`` may be an article URL; ``force`` allows ids the model does not know yet);
  ``DELETE /v1/takedowns/<id>``.
* ``GET|PUT|DELETE /v1/articles/<id>/pins``: PUT ``{"ids": [...], "expires_at": "..."}``
  replaces the pins; ``GET /v1/pins`` lists every pinned article.
* ``GET|PUT|DELETE /v1/articles/<id>/blocks``: PUT ``{"ids": [...]}`` replaces the blocks;
  ``GET /v1/blocks`` lists them all.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from recommender.state.editorial import unmatched_takedown
from service import openapi, ranking_params, validation
from service.auth import current_actor, require_api_key
from service.errors import Problem, invalid_parameter
from service.state import get_state

bp = Blueprint("editorial", __name__, url_prefix="/v1")
# Every operation here uses the state database: 503 when it is unavailable.
openapi.common_responses(bp, {"503": "StateUnavailable"})


def _not_found(what: str) -> Problem:
    return Problem(404, what, slug="not-found", title="Not found")


def _ids(payload: dict[str, Any]) -> list[str]:
    ids = payload.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise invalid_parameter("ids", "ids must be an array of article ids")
    return ids


# ------------------------------------------------------------------ takedowns
@bp.get("/takedowns")
@require_api_key(scope="read")
def list_takedowns():
    """Every takedown in force.

    ---
    summary: List takedowns
    tags: [editorial]
    responses:
      "200":
        description: The takedowns, oldest first, with who made them, when and why.
        content:
          application/json:
            schema:
              type: object
              required: [takedowns]
              properties:
                takedowns:
                  type: array
                  items:
                    $ref: "#/components/schemas/Takedown"
    """
    engine = get_state().engine()
    return {"takedowns": [t.to_dict() for t in engine.takedowns()]}


@bp.put("/takedowns/<path:article_id>")
@require_api_key
def put_takedown(article_id: str):
    """Take an article down: it is never recommended again (any list, any format).

    ---
    summary: Take an article down
    tags: [editorial]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [reason]
            properties:
              reason: {type: string, minLength: 1, maxLength: 2000}
              force:
                type: boolean
                default: false
                description: Accept an id (or URL) the model does not know (yet).
    responses:
      "200":
        description: |
          Stored (re-taking an article down updates the reason). A URL is stored in its
          canonical form: `http`/`https`, `www.`, the host's case, repeated or trailing
          slashes, the fragment and tracking parameters do not matter. `matches` counts the
          articles it hides now; a forced takedown that hides none says so in `warning`.
        content:
          application/json:
            schema:
              type: object
              required: [takedown, matches]
              properties:
                takedown:
                  $ref: "#/components/schemas/Takedown"
                matches:
                  type: integer
                  minimum: 0
                  description: Articles (archive and live) the takedown hides now.
                warning:
                  type: string
                  description: Present when the takedown hides no article (yet).
    """
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid_parameter("reason", "reason must be a non-empty string")
    force = payload.get("force", False)
    if not isinstance(force, bool):
        raise invalid_parameter("force", "force must be a JSON boolean")
    state = get_state()
    engine, live = state.engine(), state.view().live
    item = engine.takedown(article_id, reason, by=current_actor(), force=force, live=live)
    matches = engine.takedown_matches(item.key, live)
    body: dict[str, Any] = {"takedown": item.to_dict(), "matches": matches}
    if not matches:
        body["warning"] = unmatched_takedown(item.key)
    return body


@bp.delete("/takedowns/<path:article_id>")
@require_api_key
def delete_takedown(article_id: str):
    """Reverse a takedown.

    ---
    summary: Restore a taken-down article
    tags: [editorial]
    responses:
      "204":
        description: Restored (recommended again from the next request on).
    """
    article_id = validation.article_id(article_id)
    if not get_state().engine().undo_takedown(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} is not taken down")
    return Response(status=204)


# ----------------------------------------------------------------------- pins
@bp.get("/pins")
@require_api_key(scope="read")
def list_pins():
    """Every article with pinned related stories.

    ---
    summary: List pins
    tags: [editorial]
    responses:
      "200":
        description: "The pin lists (including expired ones, marked `active: false`)."
        content:
          application/json:
            schema:
              type: object
              required: [pins]
              properties:
                pins:
                  type: array
                  items:
                    $ref: "#/components/schemas/PinList"
    """
    return {"pins": [p.to_dict() for p in get_state().engine().pins()]}


@bp.get("/articles/<path:article_id>/pins")
@require_api_key(scope="read")
def get_pins(article_id: str):
    """The pinned related stories of an article.

    ---
    summary: Pins of an article
    tags: [editorial]
    responses:
      "200":
        description: The pin list (`ids` empty when none).
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/PinList"
    """
    state = get_state()
    engine = state.engine()
    engine.article(validation.article_id(article_id), state.view().live)  # 404 if unknown
    pins = engine.pins(article_id)
    if not pins:
        return {"article_id": article_id, "ids": [], "expires_at": None, "active": False}
    return pins[0].to_dict()


@bp.put("/articles/<path:article_id>/pins")
@require_api_key
def put_pins(article_id: str):
    """Pin related stories first (in order) in an article's list, replacing its pins.

    ---
    summary: Pin related stories
    tags: [editorial]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [ids]
            properties:
              ids:
                $ref: "#/components/schemas/EditorialIds"
              expires_at:
                description: >-
                  ISO 8601 date-time after which the pins are ignored (no offset: UTC); a time
                  already past is a 400 (type unusable-value).
                anyOf:
                  - {type: string, format: date-time}
                  - {type: string, format: date}
                  - {type: "null"}
    responses:
      "200":
        description: The pins now in force. Taken-down or blocked ids are stored but not shown.
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/PinList"
    """
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    expires_at = payload.get("expires_at")
    if expires_at is not None:  # the documented grammar; the library alone takes more
        expires_at = ranking_params.parse_iso_datetime("expires_at", expires_at)
    state = get_state()
    pin = state.engine().pin(article_id, _ids(payload), expires_at=expires_at,
                             by=current_actor(), live=state.view().live)
    return pin.to_dict()


@bp.delete("/articles/<path:article_id>/pins")
@require_api_key
def delete_pins(article_id: str):
    """Remove an article's pins.

    ---
    summary: Remove pins
    tags: [editorial]
    responses:
      "204":
        description: Removed.
    """
    article_id = validation.article_id(article_id)
    if not get_state().engine().unpin(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} has no pins")
    return Response(status=204)


# --------------------------------------------------------------------- blocks
@bp.get("/blocks")
@require_api_key(scope="read")
def list_blocks():
    """Every article with blocked related stories.

    ---
    summary: List blocks
    tags: [editorial]
    responses:
      "200":
        description: The blocks per article.
        content:
          application/json:
            schema:
              type: object
              required: [blocks]
              properties:
                blocks:
                  type: array
                  items:
                    $ref: "#/components/schemas/Blocks"
    """
    blocks = get_state().engine().blocks()
    return {"blocks": [{"article_id": aid, "ids": ids} for aid, ids in blocks.items()]}


@bp.get("/articles/<path:article_id>/blocks")
@require_api_key(scope="read")
def get_blocks(article_id: str):
    """The ids that never appear in an article's list.

    ---
    summary: Blocks of an article
    tags: [editorial]
    responses:
      "200":
        description: The blocked ids (empty when none).
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/Blocks"
    """
    state = get_state()
    engine = state.engine()
    engine.article(validation.article_id(article_id), state.view().live)
    return {"article_id": article_id, "ids": engine.blocks(article_id).get(article_id, [])}


@bp.put("/articles/<path:article_id>/blocks")
@require_api_key
def put_blocks(article_id: str):
    """Never show these ids in an article's list (replaces its blocks).

    ---
    summary: Block related stories
    tags: [editorial]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [ids]
            properties:
              ids:
                $ref: "#/components/schemas/EditorialIds"
    responses:
      "200":
        description: The blocks now in force.
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/Blocks"
    """
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    state = get_state()
    ids = state.engine().block(article_id, _ids(payload), by=current_actor(), replace=True,
                               live=state.view().live)
    return {"article_id": article_id, "ids": ids}


@bp.delete("/articles/<path:article_id>/blocks")
@require_api_key
def delete_blocks(article_id: str):
    """Lift every block of an article.

    ---
    summary: Remove blocks
    tags: [editorial]
    responses:
      "204":
        description: Removed.
    """
    article_id = validation.article_id(article_id)
    if not get_state().engine().unblock(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} has no blocks")
    return Response(status=204)
