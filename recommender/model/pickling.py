"""How a fitted model is pickled: per-process caches left out, and the attributes made of
many small Python objects packed into one blob.

joblib (un)pickles with Python's pure-Python pickler so that it can memory-map numpy
arrays; millions of small objects (vocabulary entries, ids, titles) then took most of a
worker's load time (profiled with py-spy at 100k articles). They travel as one blob made by
the C pickler; numeric arrays stay outside it, so joblib still memory-maps them.
"""

from __future__ import annotations

import pickle
from typing import Any

#: Attributes made of many small Python objects (vocabularies, ids, titles, metadata).
BLOB_ATTRS = ("vectorizers_", "ids_", "row_of_", "meta_")

#: Per-process caches (scratch space, draft analyzers, re-scoring bounds), never persisted.
CACHE_ATTRS = ("_local", "_draft", "_bounds")


class CompactPickle:
    """``__getstate__``/``__setstate__`` of the model (before scikit-learn's own in the MRO:
    its version stamp and check still apply)."""

    def __getstate__(self) -> dict[str, Any]:
        # a copy: object.__getstate__ returns __dict__ itself
        state: dict[str, Any] = dict(super().__getstate__())  # type: ignore[call-overload]
        for name in CACHE_ATTRS:
            state.pop(name, None)
        blob = {name: state.pop(name) for name in BLOB_ATTRS if name in state}
        if blob:
            state["_objects_blob"] = pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_objects_blob", None)
        if blob is not None:
            state.update(pickle.loads(blob))  # verified artifact (see artifact.load)
        super().__setstate__(state)  # type: ignore[misc]
