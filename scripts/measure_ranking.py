"""Measure the newsroom ranking against plain cosine on ECB+ and Reuters-21578.

For each data set (read from ``../shared/data`` when present; skipped otherwise) and each
ranking configuration, prints P@5, nDCG@10, the median age gap (days) between an article and
its recommended stories, the share of recommended pairs that are near-duplicates of each
other (mutual cosine >= ``--dup-measure``, default 0.8, within each top-10 list), the share of
recommended stories near-identical to the article itself (cosine >= 0.9), and the median
latency of one ``related()`` call (ms), against ``RelatedStories.related()`` (plain cosine).

* ECB+: body text only (no titles, dates or tags); graded qrels (2 same event, 1 same topic)
  for nDCG@10, same-event ids for P@5. No dates: recency is a no-op there.
* Reuters-21578: ModApte train+test stories with a body of >= 20 words, title + body (the
  topic tags and sections are the ground truth and are left out of the model); qrels: same
  TOPICS label set, for the 542 ModApte test queries.

Usage::

    python scripts/measure_ranking.py [--data ../shared/data] [--json out.json]
        [--config NAME=JSON ...] [--latency-queries 300]

The data sets are research-only: nothing of them is written into the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine.recommender import Recommender
from recommender.evaluation.metrics import ndcg_at_k, precision_at_k
from recommender.model.estimator import RelatedStories
from recommender.ranking.options import NAT, NS_PER_DAY, RankingOptions, pair_cosines

ROOT = Path(__file__).resolve().parent.parent

logger = logging.getLogger("measure_ranking")

K = 10

#: Configurations compared (RankingOptions mappings); "defaults" are the library defaults.
CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no-collapse": {"duplicate_threshold": None, "near_duplicate_threshold": None},
    "recency-only": {"duplicate_threshold": None, "near_duplicate_threshold": None,
                     "half_life": RankingOptions().half_life or 180.0},
    "half_life=30,floor=0.5": {"half_life": 30, "recency_floor": 0.5},
    "half_life=30,floor=0.2": {"half_life": 30, "recency_floor": 0.2},
    "half_life=90,floor=0.5": {"half_life": 90, "recency_floor": 0.5},
    "half_life=365,floor=0.7": {"half_life": 365, "recency_floor": 0.7},
    "no-recency": {"half_life": None},
    "near_dup=0.7": {"near_duplicate_threshold": 0.7},
    "near_dup=0.9": {"near_duplicate_threshold": 0.9},
    "dup=0.8": {"duplicate_threshold": 0.8},
    "dup=0.95": {"duplicate_threshold": 0.95},
    "diversity=0.1": {"diversity": 0.1},
    "diversity=0.3": {"diversity": 0.3},
}


# ------------------------------------------------------------------ data sets
def load_ecbplus(root: Path) -> tuple[pd.DataFrame, dict[str, dict[str, float]],
                                      dict[str, dict[str, float]]]:
    rows = [json.loads(line) for line in (root / "articles.jsonl").open(encoding="utf-8")]
    frame = pd.DataFrame({"id": [r["id"] for r in rows], "title": [""] * len(rows),
                          "body": [r["body"] for r in rows]})
    graded = json.loads((root / "qrels_graded.json").read_text())
    same_event = {q: {d: 1.0 for d, g in rel.items() if g >= 2} for q, rel in graded.items()}
    return frame, {q: {d: float(g) for d, g in rel.items()} for q, rel in graded.items()}, \
        same_event


def load_reuters(root: Path) -> tuple[pd.DataFrame, dict[str, dict[str, float]],
                                      dict[str, dict[str, float]]]:
    rows = []
    with gzip.open(root / "articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("modapte_split") not in ("train", "test"):
                continue
            if len((r.get("body") or "").split()) < 20:
                continue
            rows.append({"id": r["id"], "title": r.get("title") or "", "body": r["body"],
                         "published_at": r.get("published_at")})
    frame = pd.DataFrame(rows)
    qrels = json.loads((root / "qrels_same_topic_set_modapte_test.json").read_text())
    known = set(frame["id"])
    rel = {q: {d: 1.0 for d in ids if d in known and d != q}
           for q, ids in qrels.items() if q in known}
    return frame, rel, rel


# ------------------------------------------------------------------- measuring
def near_dup_share(model: RelatedStories, lists: Sequence[Sequence[str]],
                   threshold: float) -> float:
    pairs = dup = 0
    for ids in lists:
        rows = np.array([model.row(i) for i in ids], dtype=np.int64)
        if rows.size < 2:
            continue
        gram = pair_cosines(model.matrix_, rows)
        upper = gram[np.triu_indices(rows.size, 1)]
        pairs += upper.size
        dup += int(np.count_nonzero(upper >= threshold))
    return dup / pairs if pairs else 0.0


def self_dup_share(model: RelatedStories, queries: Sequence[str],
                   lists: Sequence[Sequence[str]], threshold: float = 0.9) -> float:
    shown = dup = 0
    for q, ids in zip(queries, lists, strict=True):
        if not ids:
            continue
        rows = np.array([model.row(q)] + [model.row(i) for i in ids], dtype=np.int64)
        gram = pair_cosines(model.matrix_, rows)
        shown += len(ids)
        dup += int(np.count_nonzero(gram[0, 1:] >= threshold))
    return dup / shown if shown else 0.0


def median_age_gap(model: RelatedStories, queries: Sequence[str],
                   lists: Sequence[Sequence[str]], k: int = 5) -> float | None:
    ts = np.asarray(model.meta_["published_at"]).astype("datetime64[ns]").view(np.int64)
    gaps = []
    for q, ids in zip(queries, lists, strict=True):
        t0 = ts[model.row(q)]
        for i in ids[:k]:
            t = ts[model.row(i)]
            if t0 != NAT and t != NAT:
                gaps.append(abs(int(t) - int(t0)) / NS_PER_DAY)
    return float(statistics.median(gaps)) if gaps else None


def latencies(systems: Mapping[str, Callable[[str], Any]], queries: Sequence[str],
              rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Median ms per call of each system, wall and thread CPU time, interleaved query by
    query (a busy machine slows every system alike instead of whichever happened to run at
    the wrong moment; the CPU time does not count waiting for a core)."""
    times: dict[str, list[float]] = {name: [] for name in systems}
    cpu: dict[str, list[float]] = {name: [] for name in systems}
    for q in queries:  # warm-up: first touches of caches and pages
        for fn in systems.values():
            fn(q)
    for _ in range(rounds):
        for q in queries:
            for name, fn in systems.items():
                start, start_cpu = time.perf_counter(), time.thread_time()
                fn(q)
                cpu[name].append(time.thread_time() - start_cpu)
                times[name].append(time.perf_counter() - start)
    return {name: (1000 * float(np.median(times[name])), 1000 * float(np.median(cpu[name])))
            for name in systems}


def run_system(name: str, fn: Callable[[str], list[str]], model: RelatedStories,
               queries: Sequence[str], graded: Mapping[str, Mapping[str, float]],
               binary: Mapping[str, Mapping[str, float]], dup_measure: float
               ) -> dict[str, Any]:
    lists = [fn(q) for q in queries]
    return {
        "system": name,
        "P@5": float(np.mean([precision_at_k(ids, binary[q], 5)
                              for q, ids in zip(queries, lists, strict=True)])),
        "nDCG@10": float(np.mean([ndcg_at_k(ids, graded[q], 10)
                                  for q, ids in zip(queries, lists, strict=True)])),
        "median_age_gap_days": median_age_gap(model, queries, lists),
        "near_dup_pair_share": near_dup_share(model, lists, dup_measure),
        "self_dup_share": self_dup_share(model, queries, lists),
        "mean_list_length": float(np.mean([len(ids) for ids in lists])),
    }


def measure(name: str, frame: pd.DataFrame, graded: Mapping[str, Mapping[str, float]],
            binary: Mapping[str, Mapping[str, float]], configs: Mapping[str, Mapping[str, Any]],
            latency_queries: int, dup_measure: float, model_params: Mapping[str, Any]
            ) -> dict[str, Any]:
    start = time.perf_counter()
    model = RelatedStories(**model_params).fit(frame)
    logger.info("%s: fitted %d articles in %.1f s", name, len(frame),
                time.perf_counter() - start)
    queries = sorted(q for q in graded if model.has_article(q) and graded[q])
    engine = Recommender(model)
    systems: dict[str, Callable[[str], list[str]]] = {
        "plain cosine": lambda q: [r.id for r in model.related(q, k=K)]}
    for label, options in configs.items():
        systems[label] = lambda q, o=options: engine.related(q, k=K, **o).ids
    results = []
    for label, fn in systems.items():
        results.append(run_system(label, fn, model, queries, graded, binary, dup_measure))
        logger.info("%s: %s done", name, label)
    load_start = os.getloadavg()
    timed = latencies(systems, queries[:latency_queries])
    for r in results:
        r["latency_ms_median"], r["cpu_ms_median"] = timed[r["system"]]
    base = results[0]
    for r in results:
        r["delta_nDCG@10"] = r["nDCG@10"] - base["nDCG@10"]
        r["latency_ratio"] = r["latency_ms_median"] / base["latency_ms_median"]
        r["cpu_ratio"] = r["cpu_ms_median"] / base["cpu_ms_median"]
    return {"dataset": name, "articles": len(frame), "queries": len(queries),
            "defaults": RankingOptions().to_dict(), "results": results,
            "load_average": [round(x, 2) for x in (*load_start, *os.getloadavg())]}


def table(report: Mapping[str, Any]) -> str:
    head = (f"### {report['dataset']} ({report['articles']} articles, {report['queries']} "
            "queries)\n\n| system | P@5 | nDCG@10 | dnDCG | median age gap (d) | near-dup pairs "
            "| self-dup | latency ms (x plain) | CPU ms (x plain) |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in report["results"]:
        gap = "-" if r["median_age_gap_days"] is None else f"{r['median_age_gap_days']:.1f}"
        lines.append(
            f"| {r['system']} | {r['P@5']:.4f} | {r['nDCG@10']:.4f} | "
            f"{r['delta_nDCG@10']:+.4f} | {gap} | {r['near_dup_pair_share']:.4f} | "
            f"{r['self_dup_share']:.4f} | {r['latency_ms_median']:.3f} "
            f"({r['latency_ratio']:.2f}x) | {r['cpu_ms_median']:.3f} ({r['cpu_ratio']:.2f}x) |")
    load = report.get("load_average")
    if load:
        lines.append(f"\nload average (1/5/15 min) before timing {tuple(load[:3])}, "
                     f"after {tuple(load[3:])}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=JSON",
                        help="measure only these configurations (JSON RankingOptions)")
    parser.add_argument("--datasets", default="ecbplus,reuters21578")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--dup-measure", type=float, default=0.8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configs = CONFIGS
    if args.config:
        configs = {}
        for item in args.config:
            label, _, text = item.partition("={")
            text = "{" + text if text else ""
            configs[label] = json.loads(text) if text else {}
    loaders = {"ecbplus": (load_ecbplus, {}), "reuters21578": (load_reuters, {})}
    reports = []
    for name in args.datasets.split(","):
        root = args.data / name
        if not root.is_dir():
            logger.warning("%s not found: skipped", root)
            continue
        loader, params = loaders[name]
        frame, graded, binary = loader(root)
        report = measure(name, frame, graded, binary, configs, args.latency_queries,
                         args.dup_measure, params)
        reports.append(report)
        sys.stdout.write(table(report) + "\n\n")
        sys.stdout.flush()
    if args.json is not None:
        args.json.write_text(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
