"""Run recommenders over the ground-truth queries and turn their lists into metrics.

:func:`evaluate` is the library entry point: one model (or any ``fn(id, k)``) plus the
baselines. :func:`evaluate_systems` is the general form used by comparisons: several systems,
the same queries, an optional seeded train/test split of the queries (configurations are
chosen on the train part and reported on the test part).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameterError
from ..model.estimator import RelatedStories
from ..ranking.spec import MAX_K
from . import metrics as m
from .qrels import Qrels
from .systems import (
    FunctionSystem,
    LatestInSectionSystem,
    PlainCosineSystem,
    RandomSystem,
    System,
    TfidfBaselineSystem,
    ranked_system,
    takedown_ids,
)

__all__ = [
    "DEFAULT_KS",
    "EvaluationResult",
    "SystemResult",
    "baselines",
    "evaluate",
    "evaluate_systems",
    "metric_names",
    "parse_ks",
    "split_queries",
]

logger = logging.getLogger(__name__)

DEFAULT_KS: tuple[int, ...] = (5, 10)
#: Lists are fetched this deep for MAP/MRR (a box never shows more than MAX_K links).
MAP_DEPTH = MAX_K
#: Cosine between two recommended articles above which they count as near-duplicates.
DEFAULT_DUPLICATE_THRESHOLD = 0.8
#: Metric that picks "the best setting" when none is named.
_DAY_NS = 86_400 * 10**9


def parse_ks(value: str | Iterable[int]) -> tuple[int, ...]:
    """``"5,10"`` or ``[5, 10]`` -> ``(5, 10)`` (sorted, unique, each 1..MAX_K)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    ks = []
    for item in items:
        try:
            k = int(str(item).strip())
        except ValueError:
            raise InvalidParameterError("k", f"expected integers like 5,10, got {item!r}") from None
        if not 1 <= k <= MAX_K:
            raise InvalidParameterError("k", f"each k must be between 1 and {MAX_K}, got {k}")
        ks.append(k)
    if not ks:
        raise InvalidParameterError("k", "give at least one k")
    return tuple(sorted(set(ks)))


def metric_names(ks: Iterable[int]) -> list[str]:
    """Names of the metrics an evaluation at these cut-offs reports."""
    ks = sorted(set(ks))
    names = [f"{name}@{k}" for k in ks for name in ("P", "recall", "nDCG", "hit")]
    names += ["MAP", "MRR"]
    for k in ks:
        names += [f"coverage@{k}", f"catalogue_coverage@{k}", f"age_gap_median_days@{k}",
                  f"near_duplicate_rate@{k}"]
    return [*names, "takedown_leaks"]


def split_queries(queries: Sequence[str], test_size: float, seed: int = 0
                  ) -> tuple[list[str], list[str]]:
    """Seeded random split of query ids into (train, test), both non-empty."""
    if not 0 < test_size < 1:
        raise InvalidParameterError("test_size", f"must be between 0 and 1, got {test_size}")
    if len(queries) < 2:
        raise InvalidParameterError("test_size", "a train/test split needs at least 2 queries")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(queries))
    n_test = min(max(1, round(len(queries) * test_size)), len(queries) - 1)
    test = sorted(order[:n_test].tolist())
    train = sorted(order[n_test:].tolist())
    return [queries[i] for i in train], [queries[i] for i in test]


@dataclass
class SystemResult:
    """Metrics of one system (a configuration or a baseline)."""

    name: str
    kind: str
    params: dict[str, Any]
    metrics: dict[str, float | None]
    train_metrics: dict[str, float | None] | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    age_gaps_days: list[float] = field(default_factory=list)
    scores_relevant: list[float] = field(default_factory=list)
    scores_other: list[float] = field(default_factory=list)
    lists: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "params": _jsonable(self.params),
            "metrics": self.metrics, "seconds": round(self.seconds, 3),
            "age_gap_days": m.distribution(self.age_gaps_days),
        }
        if self.train_metrics is not None:
            out["train_metrics"] = self.train_metrics
        out["curves"] = self.curves  # P, recall, nDCG at k = 1, 2, ...
        if details:
            out["lists"] = self.lists
        return out


@dataclass
class EvaluationResult:
    """Everything one evaluation run measured (see :meth:`to_dict` and :meth:`table`)."""

    ks: tuple[int, ...]
    systems: list[SystemResult]
    queries: list[str]
    train_queries: list[str] | None
    qrels: Qrels
    corpus: dict[str, int]
    skipped: dict[str, int]
    duplicate_threshold: float
    seconds: float
    best: dict[str, dict[str, Any]] = field(default_factory=dict)
    select_by: str = ""

    @property
    def main_k(self) -> int:
        return max(self.ks)

    def system(self, name: str) -> SystemResult:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(name)

    def tradeoff(self) -> list[dict[str, Any]]:
        """Relevance (nDCG at the largest k) against freshness (median age gap) per system,
        with the systems on the Pareto front marked (baselines included: a baseline that is
        fresher or more relevant than every configuration is on the front, and pushes off
        the configurations it dominates)."""
        k = self.main_k
        rows: list[dict[str, Any]] = []
        for s in self.systems:
            rows.append({"name": s.name, "kind": s.kind, f"nDCG@{k}": s.metrics.get(f"nDCG@{k}"),
                         "age_gap_median_days": s.metrics.get(f"age_gap_median_days@{k}")})
        for r in rows:
            rel, gap = r[f"nDCG@{k}"], r["age_gap_median_days"]
            r["pareto"] = rel is not None and gap is not None and not any(
                o is not r and o[f"nDCG@{k}"] is not None
                and o["age_gap_median_days"] is not None
                and o[f"nDCG@{k}"] >= rel and o["age_gap_median_days"] <= gap
                and (o[f"nDCG@{k}"] > rel or o["age_gap_median_days"] < gap)
                for o in rows)
        return rows

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        """JSON-serialisable summary (``details`` adds every query's ranked list)."""
        return {
            "ks": list(self.ks),
            "queries": {"evaluated": len(self.queries),
                        "train": len(self.train_queries) if self.train_queries else None,
                        "reported_on": "test" if self.train_queries else "all"},
            "skipped": self.skipped,
            "qrels": self.qrels.report.to_dict(),
            "corpus": self.corpus,
            "duplicate_threshold": self.duplicate_threshold,
            "seconds": round(self.seconds, 3),
            "systems": [s.to_dict(details=details) for s in self.systems],
            "select_by": self.select_by,
            "best": self.best,
            "tradeoff": self.tradeoff(),
        }

    def table(self, columns: Sequence[str] | None = None) -> str:
        """A plain-text table, one row per system (configurations first, then baselines
        in brackets); ``*`` marks the best system by ``select_by``, whatever its kind."""
        k = self.main_k
        if columns is None:
            columns = [*(f"P@{x}" for x in self.ks), *(f"nDCG@{x}" for x in self.ks), "MAP",
                       "MRR", f"hit@{min(self.ks)}", f"recall@{k}", f"coverage@{k}",
                       f"catalogue_coverage@{k}", f"age_gap_median_days@{k}",
                       f"near_duplicate_rate@{k}", "takedown_leaks"]
        short = {f"catalogue_coverage@{k}": f"catalog@{k}",
                 f"age_gap_median_days@{k}": f"age_gap_d@{k}",
                 f"near_duplicate_rate@{k}": f"near_dup@{k}",
                 "takedown_leaks": "leaks"}
        header = ["system", *(short.get(c, c) for c in columns), "time_s"]
        rows = []
        selected = self.best.get(self.select_by, {}).get("name")
        for s in self.systems:
            label = f"[{s.name}]" if s.kind == "baseline" else s.name
            if s.name == selected:
                label += " *"
            rows.append([label, *(_fmt(s.metrics.get(c)) for c in columns), f"{s.seconds:.2f}"])
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                 for row in [header, *rows]]
        lines.insert(1, "-" * len(lines[0]))
        n = len(self.queries)
        where = (f"{n} test queries (tuned on {len(self.train_queries)} train queries)"
                 if self.train_queries else f"{n} queries")
        lines.append(f"{where}; [..] = baseline"
                     + (f"; * = best {self.select_by}"
                        + (" on the train queries" if self.train_queries else "")
                        if selected else ""))
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def baselines(model: RelatedStories, seed: int = 0,
              articles: pd.DataFrame | None = None) -> list[System]:
    """The baselines every comparison includes: with ``articles`` (the corpus ``model`` was
    trained on) first the TF-IDF baseline, then plain cosine, latest-in-section and random.

    Raises
    ------
    InvalidParameterError
        ``articles`` are not the articles of ``model``.
    """
    out: list[System] = []
    if articles is not None:
        out.append(TfidfBaselineSystem.for_model(model, articles))
    else:
        logger.info("no corpus given: the TF-IDF baseline is not run")
    return [*out, PlainCosineSystem(model), LatestInSectionSystem(model), RandomSystem(model, seed)]


class _Reference:
    """What the list-level metrics read from the corpus: dates, vectors, published rows."""

    def __init__(self, model: RelatedStories, takedowns: Collection[str]) -> None:
        self.model = model
        dates = np.asarray(model.meta_["published_at"], dtype="datetime64[ns]")
        self.dated = ~np.isnat(dates)
        self.t = np.where(self.dated, dates.astype(np.int64), 0)
        self.published = np.asarray(model.published_, dtype=bool)
        self.n_published = int(self.published.sum())
        self.blocked = {str(t) for t in takedowns}
        self.blocked |= {str(i) for i in np.asarray(model.ids_)[~self.published]}

    def row(self, article_id: str) -> int | None:
        return self.model.row_of_.get(article_id)


def _run(system: System, queries: Sequence[str], kmax: int, depth: int
         ) -> tuple[dict[str, tuple[list[str], list[float], list[str]]], float]:
    """``query -> (ids, scores, deep ids)``: the list as served at the largest k, and the
    ``depth``-long list MAP/MRR read. A system whose long list does not simply extend its
    short one (the ranking engine collapses duplicates over a pool that grows with k) is asked
    twice, so the cut-off metrics measure exactly what a reader would see."""
    t0 = time.perf_counter()
    out = {}
    stable = getattr(system, "prefix_stable", True)
    for q in queries:
        ids, scores = system.recommend(q, depth)
        deep = ids
        if not stable and depth > kmax:
            ids, scores = system.recommend(q, kmax)
        out[q] = (ids[:kmax], scores[:kmax], deep)
    return out, time.perf_counter() - t0


def _pair_similarities(ref: _Reference, lists: Sequence[list[int]], kmax: int
                       ) -> dict[tuple[int, int], float]:
    """Cosine of every pair of rows listed together in some top-``kmax`` list, in one pass
    (slicing the sparse matrix once per pair set instead of once per list)."""
    pairs = {(min(a, b), max(a, b)) for rows in lists for i, a in enumerate(rows[:kmax])
             for b in rows[i + 1:kmax]}
    if not pairs:
        return {}
    left, right = (np.fromiter((p[j] for p in pairs), dtype=np.int64, count=len(pairs))
                   for j in (0, 1))
    matrix = ref.model.matrix_
    sims = np.asarray(matrix[left].multiply(matrix[right]).sum(axis=1)).ravel()
    return dict(zip(pairs, sims.tolist(), strict=True))


def _per_query(runs: dict[str, tuple[list[str], list[float], list[str]]], qrels: Qrels,
               queries: Sequence[str], ks: Sequence[int], ref: _Reference | None,
               threshold: float) -> dict[str, dict[str, Any]]:
    """Every per-query number the summaries add up (computed once, summed per split)."""
    kmax = max(ks)
    curve_k = range(1, max(kmax, 10) + 1)
    rows_of: dict[str, list[int]] = {}
    if ref is not None:
        for q in queries:
            rows_of[q] = [r for r in (ref.row(d) for d in runs[q][0][:kmax]) if r is not None]
        sims = _pair_similarities(ref, list(rows_of.values()), kmax)
    stats: dict[str, dict[str, Any]] = {}
    for q in queries:
        ids, scores, deep = runs[q]
        rel = qrels.relevant(q)
        graded = qrels.judgements.get(q, {})
        c = m.curves(ids, graded, max(curve_k))
        st: dict[str, Any] = {}
        for k in ks:
            for name in ("P", "recall", "nDCG", "hit"):
                st[f"{name}@{k}"] = c[name][k - 1]
        st["MAP"] = m.average_precision(deep, rel)
        st["MRR"] = m.reciprocal_rank(deep, rel)
        st["_curves"] = {name: c[name] for name in ("P", "recall", "nDCG")}
        st["_n"] = len(ids)
        st["_ids"] = ids
        pairs_rel: list[float] = []
        pairs_other: list[float] = []
        for d, sc in zip(ids[:kmax], scores[:kmax], strict=False):
            if sc is not None and not math.isnan(sc):
                (pairs_rel if d in rel else pairs_other).append(float(sc))
        st["_rel_scores"], st["_other_scores"] = pairs_rel, pairs_other
        if ref is not None:
            st["_leaks"] = sum(1 for d in {*ids, *deep} if d in ref.blocked)
            rows = rows_of[q]
            qrow = ref.row(q)
            gaps = []
            if qrow is not None and ref.dated[qrow]:
                gaps = [abs(int(ref.t[r]) - int(ref.t[qrow])) / _DAY_NS if ref.dated[r] else None
                        for r in rows]
            st["_gaps"] = gaps
            for k in ks:
                n = min(k, len(rows))
                dup = sum(1 for i in range(n) for j in range(i + 1, n)
                          if sims[(min(rows[i], rows[j]), max(rows[i], rows[j]))] >= threshold)
                st[f"_dup@{k}"] = dup
                st[f"_pairs@{k}"] = n * (n - 1) // 2
        stats[q] = st
    return stats


def _aggregate(stats: dict[str, dict[str, Any]], queries: Sequence[str], ks: Sequence[int],
               ref: _Reference | None) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Mean metrics over ``queries`` and the samples the report plots."""
    kmax = max(ks)
    n = len(queries)
    rows = [stats[q] for q in queries]
    names = [*(f"{name}@{k}" for k in ks for name in ("P", "recall", "nDCG", "hit")), "MAP", "MRR"]
    out: dict[str, float | None] = {name: float(np.mean([r[name] for r in rows])) if rows
                                    else None for name in names}
    for k in ks:
        out[f"coverage@{k}"] = sum(r["_n"] >= k for r in rows) / n if n else None
        if ref is not None:
            seen = {d for r in rows for d in r["_ids"][:k]}
            out[f"catalogue_coverage@{k}"] = (len(seen) / ref.n_published if ref.n_published
                                              else None)
            gaps = [g for r in rows for g in r["_gaps"][:k] if g is not None]
            out[f"age_gap_median_days@{k}"] = float(np.median(gaps)) if gaps else None
            pairs = sum(r[f"_pairs@{k}"] for r in rows)
            out[f"near_duplicate_rate@{k}"] = (sum(r[f"_dup@{k}"] for r in rows) / pairs
                                               if pairs else 0.0)
    out["takedown_leaks"] = sum(r["_leaks"] for r in rows) if ref is not None else None
    extras = {
        "curves": {name: np.mean([r["_curves"][name] for r in rows], axis=0).round(6).tolist()
                   if rows else [] for name in ("P", "recall", "nDCG")},
        "age_gaps": [g for r in rows for g in r.get("_gaps", [])[:kmax] if g is not None],
        "rel_scores": [x for r in rows for x in r["_rel_scores"]],
        "other_scores": [x for r in rows for x in r["_other_scores"]],
    }
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}, extras


def evaluate_systems(
    systems: Sequence[System],
    qrels: Qrels,
    reference: RelatedStories | None = None,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    takedowns: Collection[str] = (),
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    test_size: float | None = None,
    seed: int = 0,
    select_by: str | None = None,
    max_queries: int | None = None,
    depth: int = MAP_DEPTH,
    on_system: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Evaluate several systems on the same ground-truth queries.

    Parameters
    ----------
    systems : sequence of System
        Configurations (``kind == "config"``) and baselines (``kind == "baseline"``).
    qrels : Qrels
        Ground truth (load it with the corpus ids so unknown ids are already skipped).
    reference : RelatedStories, optional
        The model whose corpus, dates and vectors the list-level metrics use (age gaps,
        near-duplicates, catalogue coverage, takedown leaks). Without it those are None.
    ks : iterable of int
        Cut-offs (each 1..MAX_K and below the number of recommendable articles).
    takedowns : collection of str
        Ids that must never be recommended (unpublished articles always count too).
    duplicate_threshold : float
        Cosine at or above which two articles of one list count as near-duplicates.
    test_size : float, optional
        Share of the queries held out: configurations are chosen on the rest and the
        reported metrics are those of the held-out part.
    seed : int
        Seed of the split and of the random baseline.
    select_by : str, optional
        Metric that defines "the best system" (default nDCG at the largest k), chosen among
        every system, baselines included; the best system for every other metric is
        reported too.
    max_queries : int, optional
        Evaluate at most this many queries (a seeded sample), for quick runs.
    depth : int, default=100
        Length of the lists fetched per query: MAP and MRR are computed over them (AP at
        this depth, divided by the number of relevant articles).
    on_system : callable, optional
        Called with each system's name as it starts (progress output).

    Returns
    -------
    EvaluationResult
    """
    t_start = time.perf_counter()
    ks = parse_ks(ks)
    if not 0 < duplicate_threshold <= 1:
        raise InvalidParameterError("duplicate_threshold",
                                    f"must be in (0, 1], got {duplicate_threshold}")
    select_by = select_by or f"nDCG@{max(ks)}"
    if select_by not in metric_names(ks):
        raise InvalidParameterError(
            "select_by", f"unknown metric {select_by!r}; valid: {', '.join(metric_names(ks))}")
    ref = _Reference(reference, takedowns) if reference is not None else None
    queries = list(qrels.queries)
    if not queries:
        raise InvalidParameterError(
            "truth", f"no query of {qrels.report.source} has a relevant article in this corpus "
            f"({qrels.report.summary()})")
    if ref is not None:
        limit = ref.n_published - 1
        if max(ks) > limit:
            raise InvalidParameterError(
                "k", f"k={max(ks)} is larger than the corpus allows: it has "
                f"{ref.n_published} recommendable articles, so a list holds at most {limit}")
        depth = max(max(ks), min(depth, limit))
    else:
        depth = max(max(ks), depth)
    if max_queries is not None and len(queries) > max_queries:
        rng = np.random.default_rng(seed)
        queries = [queries[i] for i in sorted(rng.choice(len(queries), max_queries,
                                                          replace=False))]
    train: list[str] | None = None
    report_on = queries
    if test_size:
        train, report_on = split_queries(queries, test_size, seed)

    results = []
    for system in systems:
        if on_system:
            on_system(system.name)
        runs, seconds = _run(system, queries, max(ks), depth)
        stats = _per_query(runs, qrels, queries, ks, ref, duplicate_threshold)
        metrics, extras = _aggregate(stats, report_on, ks, ref)
        train_metrics = _aggregate(stats, train, ks, ref)[0] if train else None
        results.append(SystemResult(
            name=system.name, kind=system.kind, params=dict(system.params), metrics=metrics,
            train_metrics=train_metrics, curves=extras["curves"],
            age_gaps_days=extras["age_gaps"], scores_relevant=extras["rel_scores"],
            scores_other=extras["other_scores"],
            lists={q: runs[q][0][:max(ks)] for q in report_on}, seconds=seconds))
        logger.info("%s: %s (%.2f s)", system.name, metrics, seconds)

    n_articles = len(reference.ids_) if reference is not None else 0
    result = EvaluationResult(
        ks=ks, systems=results, queries=report_on, train_queries=train, qrels=qrels,
        corpus={"articles": n_articles,
                "recommendable": ref.n_published if ref is not None else 0},
        skipped={
            "queries_without_truth": qrels.report.empty_queries + qrels.report.unknown_queries,
            "articles_without_truth": max(0, n_articles - len(qrels.queries)) if n_articles else 0,
            "unknown_ids": qrels.report.unknown_queries + qrels.report.unknown_related,
        },
        duplicate_threshold=duplicate_threshold, seconds=0.0)
    result.select_by = select_by
    result.best = _best(result, result.select_by)
    result.seconds = time.perf_counter() - t_start
    return result


_LOWER_IS_BETTER = ("age_gap", "near_duplicate", "takedown_leaks")


def _best(result: EvaluationResult, select_by: str) -> dict[str, dict[str, Any]]:
    """Best system per metric, chosen on the train part when there is one.

    Every system competes, baselines included: when a baseline beats every configuration it
    is the best (and says so with ``kind``). Ties go to the system listed first (the defaults,
    then the other configurations, then the baselines)."""
    configs = list(result.systems)
    if not configs:
        return {}
    if select_by not in configs[0].metrics:
        raise InvalidParameterError(
            "select_by", f"unknown metric {select_by!r}; valid: {', '.join(configs[0].metrics)}")
    names = [select_by] + [k for k in configs[0].metrics if k != select_by]
    best = {}
    for metric in names:
        def key(s: SystemResult, metric: str = metric) -> float:
            v = (s.train_metrics if s.train_metrics is not None else s.metrics).get(metric)
            if v is None:
                return -math.inf
            return -v if metric.startswith(_LOWER_IS_BETTER) else v
        if all(key(s) == -math.inf for s in configs):
            continue
        winner = max(configs, key=key)  # ties: the first listed (the defaults come first)
        best[metric] = {
            "name": winner.name, "kind": winner.kind, "params": _jsonable(winner.params),
            "chosen_on": "train" if winner.train_metrics is not None else "all",
            "value": winner.metrics.get(metric),
            "train_value": (winner.train_metrics or {}).get(metric),
        }
    return best


def evaluate(
    model: RelatedStories | Callable[[str, int], Sequence[Any]],
    qrels: Qrels,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    reference: RelatedStories | None = None,
    options: dict[str, Any] | None = None,
    include_baselines: bool = True,
    takedowns: Collection[str] = (),
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    seed: int = 0,
    db: Any = None,
    articles: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Evaluate one model (or any ``fn(article_id, k)``) against ground truth.

    Parameters
    ----------
    model : RelatedStories or callable
        A fitted model (asked through the newsroom ranking engine with ``options``, as the
        service would) or a function returning ids, ``(id, score)`` pairs or objects with
        ``id``/``score``.
    qrels : Qrels
        Ground truth, e.g. ``load_qrels(path, known_ids=model.ids_)``.
    ks : iterable of int
        Cut-offs, default ``(5, 10)``.
    reference : RelatedStories, optional
        Corpus/vectors for list-level metrics and baselines (default: ``model`` itself).
    options : dict, optional
        Ranking options (``half_life``, ``diversity``...).
    include_baselines : bool
        Add the baselines: the TF-IDF baseline (given ``articles``), plain cosine,
        latest-in-section and random.
    takedowns : collection of str
        Ids that must never be recommended.
    duplicate_threshold : float
        Near-duplicate cosine threshold.
    seed : int
        Seed of the random baseline.
    db : StateDB, optional
        State database: its takedowns, pins and blocks apply, and its takedowns count as
        leaks if they show up.
    articles : DataFrame, optional
        The corpus the reference model was trained on (``id``, ``title``, ``body``): the
        TF-IDF baseline is fitted on it. Without it that baseline is left out.

    Returns
    -------
    EvaluationResult
        ``result.table()`` for the terminal, ``result.to_dict()`` for JSON.

    Examples
    --------
    >>> from recommender.evaluation import evaluate, qrels_from_mapping
    >>> import pandas as pd
    >>> from recommender.model.estimator import RelatedStories
    >>> df = pd.DataFrame({"id": list("abcd"), "title": ["flood city", "city flood rain",
    ...                    "chess final", "chess opening"], "body": ["", "", "", ""]})
    >>> model = RelatedStories(max_df=1.0).fit(df)
    >>> truth = qrels_from_mapping({"a": ["b"], "c": ["d"]}, known_ids=set(model.ids_))
    >>> evaluate(model, truth, ks=[1]).system("defaults").metrics["P@1"]
    1.0
    """
    if isinstance(model, RelatedStories):
        system: System = ranked_system(model, options, name="defaults", db=db)
        reference = reference if reference is not None else model
    else:
        system = FunctionSystem(model, name=getattr(model, "__name__", "function"))
    systems: list[System] = [system]
    if include_baselines and reference is not None:
        systems += baselines(reference, seed, articles)
    takedowns = {*takedowns, *takedown_ids(db, reference)}
    return evaluate_systems(systems, qrels, reference, ks=ks, takedowns=takedowns,
                            duplicate_threshold=duplicate_threshold, seed=seed)
