"""Editorial controls over HTTP: takedowns, pins and blocks (``/v1``).

Reads are open (unless ``READ_REQUIRES_KEY``); every write needs ``Authorization: Bearer
<key>`` (:mod:`service.auth`) and is one atomic transaction in the state database: a
rejected request (bad key, unknown id, malformed body) changes nothing.

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

from service import validation
from service.auth import current_actor, require_api_key
from service.errors import Problem, invalid_parameter
from service.state import get_state

bp = Blueprint("editorial", __name__, url_prefix="/v1")


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
    engine = get_state().engine()
    return {"takedowns": [t.to_dict() for t in engine.takedowns()]}


@bp.put("/takedowns/<path:article_id>")
@require_api_key
def put_takedown(article_id: str):
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid_parameter("reason", "reason must be a non-empty string")
    force = payload.get("force", False)
    if not isinstance(force, bool):
        raise invalid_parameter("force", "force must be a JSON boolean")
    state = get_state()
    item = state.engine().takedown(article_id, reason, by=current_actor(), force=force,
                                   live=state.view().live)
    return {"takedown": item.to_dict()}


@bp.delete("/takedowns/<path:article_id>")
@require_api_key
def delete_takedown(article_id: str):
    article_id = validation.article_id(article_id)
    if not get_state().engine().undo_takedown(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} is not taken down")
    return Response(status=204)


# ----------------------------------------------------------------------- pins
@bp.get("/pins")
@require_api_key(scope="read")
def list_pins():
    return {"pins": [p.to_dict() for p in get_state().engine().pins()]}


@bp.get("/articles/<path:article_id>/pins")
@require_api_key(scope="read")
def get_pins(article_id: str):
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
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    expires_at = payload.get("expires_at")
    if expires_at is not None and not isinstance(expires_at, str):
        raise invalid_parameter("expires_at", "expires_at must be an ISO 8601 date string")
    state = get_state()
    pin = state.engine().pin(article_id, _ids(payload), expires_at=expires_at,
                             by=current_actor(), live=state.view().live)
    return pin.to_dict()


@bp.delete("/articles/<path:article_id>/pins")
@require_api_key
def delete_pins(article_id: str):
    article_id = validation.article_id(article_id)
    if not get_state().engine().unpin(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} has no pins")
    return Response(status=204)


# --------------------------------------------------------------------- blocks
@bp.get("/blocks")
@require_api_key(scope="read")
def list_blocks():
    blocks = get_state().engine().blocks()
    return {"blocks": [{"article_id": aid, "ids": ids} for aid, ids in blocks.items()]}


@bp.get("/articles/<path:article_id>/blocks")
@require_api_key(scope="read")
def get_blocks(article_id: str):
    state = get_state()
    engine = state.engine()
    engine.article(validation.article_id(article_id), state.view().live)
    return {"article_id": article_id, "ids": engine.blocks(article_id).get(article_id, [])}


@bp.put("/articles/<path:article_id>/blocks")
@require_api_key
def put_blocks(article_id: str):
    article_id = validation.article_id(article_id)
    payload = validation.json_object(request)
    state = get_state()
    ids = state.engine().block(article_id, _ids(payload), by=current_actor(), replace=True,
                               live=state.view().live)
    return {"article_id": article_id, "ids": ids}


@bp.delete("/articles/<path:article_id>/blocks")
@require_api_key
def delete_blocks(article_id: str):
    article_id = validation.article_id(article_id)
    if not get_state().engine().unblock(article_id, by=current_actor()):
        raise _not_found(f"{article_id!r} has no blocks")
    return Response(status=204)
