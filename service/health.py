"""Liveness (``/healthz``) and readiness (``/readyz``) probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from service.errors import Problem, public_message
from service.state import get_state

bp = Blueprint("health", __name__)

READINESS_PROBE = "readiness probe"


@bp.get("/healthz")
def healthz():
    """The process is up and answers HTTP; says nothing about the model.

    ---
    summary: Liveness probe
    tags: [operations]
    responses:
      "200":
        description: The process is up.
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status:
                  const: ok
    """
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """200 when a model is loaded and answers a real query, else a 503 problem.

    ---
    summary: Readiness probe
    tags: [operations]
    responses:
      "200":
        description: A model is loaded and answers a query.
        content:
          application/json:
            schema:
              type: object
              required: [status, model]
              properties:
                status:
                  const: ready
                model:
                  $ref: "#/components/schemas/ModelInfo"
                current:
                  type: [string, "null"]
                  description: The version the models root's `current` pointer names.
                serving:
                  enum: [current, last-verified, last-good, switching]
                  description: >-
                    `last-verified` when `current` did not verify at start-up and the last
                    version that did serves instead (`model` names it; `refused` says why);
                    `last-good` when the fleet's version (`wanted`) did not verify on this
                    host, which keeps serving its last good model (`model`); `switching`
                    while a newly recorded version is not loaded yet (within the watch
                    interval).
                wanted:
                  type: [string, "null"]
                  description: >-
                    The model version recorded for the whole fleet in the shared state
                    (`alsosee models activate`); null when none is recorded (then `current`
                    decides).
                refused:
                  type: string
      "503":
        $ref: "#/components/responses/Unavailable"
    """
    state = get_state()
    loaded = state.require()
    state.engine()  # 503 when the state database (takedowns, pins) is unavailable
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
    body: dict[str, Any] = {"status": "ready", "model": state.model_info(),
                            "current": state.pointer(), "serving": "current"}
    if state.fallback is not None:
        body["serving"] = "last-verified"
        body["refused"] = public_message(state.fallback["error"])
    # Still ready when behind the fleet: a host that refused a version keeps answering with
    # its last good model (a fleet refusing everywhere would otherwise stop serving).
    fleet = state.fleet_status()
    body["wanted"] = fleet["wanted"]
    if "refused" in fleet:
        body["serving"] = "last-good"
        body["refused"] = public_message(fleet["refused"])
    elif not fleet["serving_wanted"]:
        body["serving"] = "switching"
    return body
