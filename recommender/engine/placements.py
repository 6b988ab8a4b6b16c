"""Passage vectors for inline slots: what the reader has just read, blended with the story.

An inline slot after paragraph ``P`` ranks on ``normalise(PASSAGE_WEIGHT * passage +
(1 - PASSAGE_WEIGHT) * story)``, where ``passage`` is the L2-normalised sum of the vectors of
paragraphs ``P``, ``P-1``, ... (at most :data:`PASSAGE_PARAGRAPHS` of them), each weighted
``DECAY ** distance`` so the nearest counts most, and every paragraph is vectorised exactly as
a draft body is (:meth:`RelatedStories.draft_terms`). ``story`` is the article's own row (or
the draft's vector). Paragraphs are the blank-line-separated blocks of the stored body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Share of the passage in an inline slot's query (the rest: the whole story).
PASSAGE_WEIGHT = 0.5
#: Weight of each paragraph further back from the slot (the nearest: 1).
DECAY = 0.5
#: Paragraphs read back from the slot (older ones weigh under 0.5 ** 4 anyway).
PASSAGE_PARAGRAPHS = 4

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")

Terms = tuple[np.ndarray, np.ndarray]


def split_paragraphs(text: str | None) -> list[str]:
    """The paragraphs of a body in the text convention (blocks separated by a blank line)."""
    if not text:
        return []
    return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]


def _combine(parts: Sequence[tuple[Terms, float]]) -> Terms:
    """``normalise(sum(weight * vector))`` of sparse ``(columns, weights)`` vectors."""
    parts = [(t, w) for t, w in parts if t[0].size and w > 0]
    if not parts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    cols = np.concatenate([t[0] for t, _ in parts])
    vals = np.concatenate([t[1].astype(np.float64) * w for t, w in parts])
    col, inverse = np.unique(cols, return_inverse=True)
    val: np.ndarray = np.bincount(inverse, weights=vals, minlength=col.size)
    norm = np.sqrt(np.dot(val, val))
    if norm > 0:
        val /= norm
    return col.astype(np.int32), val.astype(np.float32)


def passage_terms(model: Any, paragraphs: Sequence[str], after: int, *,
                  decay: float = DECAY, depth: int = PASSAGE_PARAGRAPHS) -> Terms:
    """The passage before an inline slot after paragraph ``after`` (1-based), as a unit
    vector: the nearest paragraphs, each vectorised as a draft body, weighted toward the
    nearest."""
    parts = []
    for distance in range(min(depth, after)):
        text = paragraphs[after - 1 - distance]
        terms = model.draft_terms("", text)
        parts.append((terms, decay ** distance))
    return _combine(parts)


def slot_query(story: Terms, passage: Terms, weight: float | None = None) -> Terms:
    """An inline slot's query: the passage blended with the whole story (unit vectors;
    ``weight``: the passage's share, default :data:`PASSAGE_WEIGHT`)."""
    if not passage[0].size:
        return story
    weight = PASSAGE_WEIGHT if weight is None else weight
    return _combine([(passage, weight), (story, 1.0 - weight)])
