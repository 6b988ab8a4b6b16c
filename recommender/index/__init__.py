"""The inverted index: candidate scoring, pruning, exact re-scoring, precomputed neighbours."""

from importlib import import_module
from typing import Any

# Model files saved before the index was a package name `recommender.index.RescoreBounds`
# in their pickles: the name resolves here (PEP 562, imported on first use).
_PICKLED = {"Pruning": "inverted", "RescoreBounds": "inverted"}


def __getattr__(name: str) -> Any:
    module = _PICKLED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
