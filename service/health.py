"""Liveness (``/healthz``) and readiness (``/readyz``) probes."""

from __future__ import annotations

from flask import Blueprint, current_app

from service.errors import Problem
from service.state import get_state

bp = Blueprint("health", __name__)

READINESS_PROBE = "readiness probe"


@bp.get("/healthz")
def healthz():
    """The process is up and answers HTTP; says nothing about the model."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """200 when a model is loaded and answers a real query, else a 503 problem."""
    state = get_state()
    loaded = state.require()
    try:
        loaded.model.related_to_text(READINESS_PROBE, "", k=1)
    except Exception:
        current_app.logger.exception("readiness probe query failed")
        raise Problem(
            503,
            "The model is loaded but failed to answer a probe query; see the server log.",
            slug="not-ready",
            title="Not ready",
        ) from None
    return {"status": "ready", "model": state.model_info()}
