"""Ranking metrics for one query (pure functions) and list-level aggregates.

Conventions (those of ``trec_eval``): an article is relevant when its grade is > 0;
``P@k`` divides by ``k`` even when fewer than ``k`` results came back; ``recall@k`` divides
by the number of relevant articles; ``nDCG@k`` uses the grade as a linear gain and
``log2(rank + 1)`` as the discount, normalised by the ideal ordering of the judged grades;
average precision divides by the number of relevant articles (so relevant articles that were
never retrieved count as misses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "average_precision",
    "hit_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
]


def precision_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the first ``k`` slots filled with a relevant article.

    Examples
    --------
    >>> precision_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 2)
    0.5
    """
    return sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0) / k


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant articles found in the first ``k`` results."""
    n_rel = sum(1 for g in relevant.values() if g > 0)
    if n_rel == 0:
        return 0.0
    return sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0) / n_rel


def hit_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """1.0 if at least one of the first ``k`` results is relevant, else 0.0."""
    return 1.0 if any(relevant.get(d, 0) > 0 for d in ranked[:k]) else 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Normalised discounted cumulative gain with graded (linear) gains.

    Examples
    --------
    >>> round(ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 2), 4)  # ideal is a, b
    0.8597
    """
    dcg = sum(relevant.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def average_precision(ranked: Sequence[str], relevant: Mapping[str, float]) -> float:
    """Mean of the precision at the rank of each relevant article (misses count 0).

    Examples
    --------
    >>> round(average_precision(["a", "x", "b"], {"a": 1, "b": 1, "c": 1}), 4)  # (1 + 2/3) / 3
    0.5556
    """
    n_rel = sum(1 for g in relevant.values() if g > 0)
    if n_rel == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked):
        if relevant.get(d, 0) > 0:
            hits += 1
            total += hits / (i + 1)
    return total / n_rel


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, float]) -> float:
    """1 / rank of the first relevant article (0 if none was retrieved)."""
    for i, d in enumerate(ranked):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, median and quartiles/percentiles of a sample (None when empty)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"count": 0, "median": None, "p10": None, "p25": None, "p75": None,
                "p90": None, "max": None}
    q = np.percentile(arr, [10, 25, 50, 75, 90])
    return {"count": int(arr.size), "median": float(q[2]), "p10": float(q[0]),
            "p25": float(q[1]), "p75": float(q[3]), "p90": float(q[4]),
            "max": float(arr.max())}


def curves(ranked: Sequence[str], graded: Mapping[str, float], kmax: int
           ) -> dict[str, list[float]]:
    """P@k, recall@k, nDCG@k and hit@k for every k in ``1..kmax`` in one pass.

    Same definitions as :func:`precision_at_k`, :func:`recall_at_k`, :func:`ndcg_at_k` and
    :func:`hit_at_k` (relevant = grade > 0, the grade is the gain).

    Examples
    --------
    >>> c = curves(["b", "a"], {"a": 2, "b": 1}, 3)
    >>> c["P"], c["recall"], [round(x, 4) for x in c["nDCG"]]
    ([1.0, 1.0, 0.6666666666666666], [0.5, 1.0, 1.0], [0.5, 0.8597, 0.8597])
    """
    n_rel = sum(1 for g in graded.values() if g > 0)
    ideal = sorted((g for g in graded.values() if g > 0), reverse=True)
    out: dict[str, list[float]] = {"P": [], "recall": [], "nDCG": [], "hit": []}
    hits, dcg, idcg = 0, 0.0, 0.0
    for i in range(kmax):
        discount = math.log2(i + 2)
        if i < len(ranked):
            gain = graded.get(ranked[i], 0.0)
            if gain > 0:
                hits += 1
                dcg += gain / discount
        if i < len(ideal):
            idcg += ideal[i] / discount
        out["P"].append(hits / (i + 1))
        out["recall"].append(hits / n_rel if n_rel else 0.0)
        out["nDCG"].append(dcg / idcg if idcg > 0 else 0.0)
        out["hit"].append(1.0 if hits else 0.0)
    return out
