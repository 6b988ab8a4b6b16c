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

from ..errors import InvalidParameterError
from ..model import MAX_K, RelatedStories
from . import metrics as m
from .qrels import Qrels
from .systems import (
    FunctionSystem,
    LatestInSectionSystem,
    ModelSystem,
    PlainCosineSystem,
    RandomSystem,
    System,
)

__all__ = [
    "DEFAULT_KS",
    "EvaluationResult",
    "SystemResult",
    "baselines",
    "evaluate",
    "evaluate_systems",
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
        if details:
            out["curves"] = self.curves
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
        with the configurations on the Pareto front marked."""
        k = self.main_k
        rows = []
        for s in self.systems:
            rows.append({"name": s.name, "kind": s.kind, f"nDCG@{k}": s.metrics.get(f"nDCG@{k}"),
                         "age_gap_median_days": s.metrics.get(f"age_gap_median_days@{k}")})
        for r in rows:
            rel, gap = r[f"nDCG@{k}"], r["age_gap_median_days"]
            r["pareto"] = r["kind"] == "config" and rel is not None and gap is not None and not any(
                o is not r and o["kind"] == "config" and o[f"nDCG@{k}"] is not None
                and o["age_gap_median_days"] is not None
                and o[f"nDCG@{k}"] >= rel and o["age_gap_median_days"] <= gap
                and (o[f"nDCG@{k}"] > rel or o["age_gap_median_days"] < gap)
                for o in rows)
        return rows

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        """JSON-serialisable summary (``details`` adds per-k curves and the ranked lists)."""
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
        """A plain-text table, one row per system (configurations first, then baselines)."""
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
            label = s.name + (" *" if s.name == selected else "")
            if s.kind == "baseline":
                label = f"[{s.name}]"
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


def baselines(model: RelatedStories, seed: int = 0) -> list[System]:
    """The three baselines every comparison includes."""
    return [PlainCosineSystem(model), LatestInSectionSystem(model), RandomSystem(model, seed)]


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


def _run(system: System, queries: Sequence[str], depth: int) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    out = {q: system.recommend(q, depth) for q in queries}
    return out, time.perf_counter() - t0


def _aggregate(runs: dict[str, tuple[list[str], list[float]]], qrels: Qrels,
               queries: Sequence[str], ks: Sequence[int], ref: _Reference | None,
               threshold: float) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Mean metrics over ``queries`` and the samples the report plots."""
    kmax = max(ks)
    curve_k = list(range(1, max(kmax, 10) + 1))
    per: dict[str, list[float]] = {}
    curves: dict[str, list[list[float]]] = {"P": [], "recall": [], "nDCG": []}
    gaps_at: dict[int, list[float]] = {k: [] for k in ks}
    dup_pairs = {k: 0 for k in ks}
    all_pairs = {k: 0 for k in ks}
    recommended = {k: set() for k in ks}
    full = {k: 0 for k in ks}
    leaks = 0
    rel_scores: list[float] = []
    other_scores: list[float] = []

    def add(name: str, value: float) -> None:
        per.setdefault(name, []).append(value)

    for q in queries:
        ids, scores = runs[q]
        rel = qrels.relevant(q)
        graded = qrels.judgements.get(q, {})
        for k in ks:
            add(f"P@{k}", m.precision_at_k(ids, rel, k))
            add(f"recall@{k}", m.recall_at_k(ids, rel, k))
            add(f"nDCG@{k}", m.ndcg_at_k(ids, graded, k))
            add(f"hit@{k}", m.hit_at_k(ids, rel, k))
            full[k] += len(ids) >= k
            recommended[k].update(ids[:k])
        add("MAP", m.average_precision(ids, rel))
        add("MRR", m.reciprocal_rank(ids, rel))
        curves["P"].append([m.precision_at_k(ids, rel, k) for k in curve_k])
        curves["recall"].append([m.recall_at_k(ids, rel, k) for k in curve_k])
        curves["nDCG"].append([m.ndcg_at_k(ids, graded, k) for k in curve_k])
        for d, s in zip(ids[:kmax], scores[:kmax], strict=False):
            if s is not None and not math.isnan(s):
                (rel_scores if d in rel else other_scores).append(float(s))
        if ref is None:
            continue
        leaks += sum(1 for d in ids if d in ref.blocked)
        qrow = ref.row(q)
        rows = [r for r in (ref.row(d) for d in ids[:kmax]) if r is not None]
        if qrow is not None and ref.dated[qrow]:
            for k in ks:
                gaps_at[k].extend(abs(int(ref.t[r]) - int(ref.t[qrow])) / _DAY_NS
                                  for r in rows[:k] if ref.dated[r])
        if len(rows) > 1:
            vecs = ref.model.matrix_[rows]
            sim = (vecs @ vecs.T).toarray()
            for k in ks:
                n = min(k, len(rows))
                iu = np.triu_indices(n, 1)
                dup_pairs[k] += int((sim[:n, :n][iu] >= threshold).sum())
                all_pairs[k] += len(iu[0])

    n = len(queries)
    out: dict[str, float | None] = {name: float(np.mean(v)) for name, v in per.items()}
    for k in ks:
        out[f"coverage@{k}"] = full[k] / n if n else None
        if ref is not None:
            out[f"catalogue_coverage@{k}"] = (len(recommended[k]) / ref.n_published
                                              if ref.n_published else None)
            out[f"age_gap_median_days@{k}"] = (float(np.median(gaps_at[k]))
                                               if gaps_at[k] else None)
            out[f"near_duplicate_rate@{k}"] = (dup_pairs[k] / all_pairs[k]
                                               if all_pairs[k] else 0.0)
    out["takedown_leaks"] = leaks if ref is not None else None
    extras = {
        "curves": {name: np.mean(np.asarray(v), axis=0).round(6).tolist() if v else []
                   for name, v in curves.items()},
        "age_gaps": gaps_at[kmax],
        "rel_scores": rel_scores,
        "other_scores": other_scores,
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
        Metric that defines "the best configuration" (default nDCG at the largest k); the best
        configuration for every other metric is reported too.
    max_queries : int, optional
        Evaluate at most this many queries (a seeded sample), for quick runs.
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
        depth = max(max(ks), min(MAP_DEPTH, limit))
    else:
        depth = max(max(ks), MAP_DEPTH)
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
        runs, seconds = _run(system, queries, depth)
        metrics, extras = _aggregate(runs, qrels, report_on, ks, ref, duplicate_threshold)
        train_metrics = (_aggregate(runs, qrels, train, ks, ref, duplicate_threshold)[0]
                         if train else None)
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
    result.select_by = select_by or f"nDCG@{max(ks)}"
    result.best = _best(result, result.select_by)
    result.seconds = time.perf_counter() - t_start
    return result


_LOWER_IS_BETTER = ("age_gap", "near_duplicate", "takedown_leaks")


def _best(result: EvaluationResult, select_by: str) -> dict[str, dict[str, Any]]:
    """Best configuration per metric, chosen on the train part when there is one."""
    configs = [s for s in result.systems if s.kind == "config"]
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
            "name": winner.name, "params": _jsonable(winner.params),
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
) -> EvaluationResult:
    """Evaluate one model (or any ``fn(article_id, k)``) against ground truth.

    Parameters
    ----------
    model : RelatedStories or callable
        A fitted model (asked through ``related(id, k, **options)``) or a function returning
        ids, ``(id, score)`` pairs or objects with ``id``/``score``.
    qrels : Qrels
        Ground truth, e.g. ``load_qrels(path, known_ids=model.ids_)``.
    ks : iterable of int
        Cut-offs, default ``(5, 10)``.
    reference : RelatedStories, optional
        Corpus/vectors for list-level metrics and baselines (default: ``model`` itself).
    options : dict, optional
        Ranking options passed to ``related``.
    include_baselines : bool
        Add random, latest-in-section and plain cosine.
    takedowns : collection of str
        Ids that must never be recommended.
    duplicate_threshold : float
        Near-duplicate cosine threshold.
    seed : int
        Seed of the random baseline.

    Returns
    -------
    EvaluationResult
        ``result.table()`` for the terminal, ``result.to_dict()`` for JSON.

    Examples
    --------
    >>> from recommender.evaluation import evaluate, qrels_from_mapping
    >>> import pandas as pd
    >>> from recommender.model import RelatedStories
    >>> df = pd.DataFrame({"id": list("abcd"), "title": ["flood city", "city flood rain",
    ...                    "chess final", "chess opening"], "body": ["", "", "", ""]})
    >>> model = RelatedStories(max_df=1.0).fit(df)
    >>> truth = qrels_from_mapping({"a": ["b"], "c": ["d"]}, known_ids=set(model.ids_))
    >>> evaluate(model, truth, ks=[1]).system("defaults").metrics["P@1"]
    1.0
    """
    if isinstance(model, RelatedStories):
        system: System = ModelSystem(model, options, name="defaults")
        reference = reference if reference is not None else model
    else:
        system = FunctionSystem(model, name=getattr(model, "__name__", "function"))
    systems: list[System] = [system]
    if include_baselines and reference is not None:
        systems += baselines(reference, seed)
    return evaluate_systems(systems, qrels, reference, ks=ks, takedowns=takedowns,
                            duplicate_threshold=duplicate_threshold, seed=seed)
