"""Per-app (hence per-worker) state: the model loaded once at ``create_app``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from service.errors import Problem

EXTENSION_KEY = "alsosee"

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """What ``app.extensions["alsosee"]`` holds.

    ``loaded`` is the library's ``LoadedModel`` (``.model``, ``.manifest``, ``.version``) or
    ``None`` when the model directory held no loadable model; ``load_error`` then says why.
    """

    model_dir: str
    loaded: Any | None = None
    load_error: str | None = None

    @classmethod
    def load(cls, model_dir: str) -> ServiceState:
        # Imported here so that the service package imports even where the library's
        # optional heavy parts are broken; a failure then surfaces as "no model loaded".
        from recommender import artifact
        from recommender.errors import AlsoseeError

        try:
            loaded = artifact.load(model_dir)
        except (AlsoseeError, OSError) as exc:
            log.warning("no model loaded from %s: %s", model_dir, exc)
            return cls(model_dir=model_dir, load_error=str(exc))
        log.info("loaded model %s from %s", loaded.version, model_dir)
        return cls(model_dir=model_dir, loaded=loaded)

    def require(self) -> Any:
        """The loaded model, or a 503 problem when there is none."""
        if self.loaded is None:
            raise Problem(
                503,
                "No model loaded: the model directory holds no usable model "
                "(train one with `alsosee train`, then restart the service).",
                slug="no-model",
                title="No model loaded",
            )
        return self.loaded

    def model_info(self) -> dict[str, Any]:
        manifest = self.require().manifest
        return {
            "version": self.loaded.version,
            "trained_at": manifest.get("created_at"),
            "articles": manifest.get("articles"),
        }


def get_state() -> ServiceState:
    return current_app.extensions[EXTENSION_KEY]
