"""The fitted model (the estimator) and its on-disk form (the artifact)."""

from importlib import import_module
from typing import Any

# Model files saved before the model was a package name `recommender.model.RelatedStories`
# and `recommender.model._tag_analyzer` in their pickles: the names resolve here (PEP 562,
# imported on first use, so `import recommender.model.artifact` stays light).
_PICKLED = {"RelatedStories": "estimator", "_tag_analyzer": "estimator"}


def __getattr__(name: str) -> Any:
    module = _PICKLED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
