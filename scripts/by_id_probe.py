#!/usr/bin/env python
"""By-id latency of a large saved model with neighbour lists, without computing all lists.

    python scripts/by_id_probe.py ~/.cache/alsosee-bench/probe-models-1M --rows 3072

A 1M model's neighbour lists take most of an hour on two cores, and ``scale_probe.py`` saves
its 1M model without them. This computes the lists of the first ``--rows`` articles (the real
per-row cost against the whole index: articles per core-second are printed), installs them in
the loaded model (row -1 everywhere else, in memory rather than memory-mapped), and measures
by-id queries for articles among those rows: ``RelatedStories.related`` and the newsroom
``Recommender`` with its defaults, p50/p95/p99 wall and thread CPU over ``--queries`` after
100 warm-up queries, single thread. Prints JSON with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender import artifact  # noqa: E402
from recommender.engine import Recommender  # noqa: E402
from recommender.neighbors import compute_neighbors  # noqa: E402

N_NEIGHBORS = 50


def latency(fn, items: list[str]) -> dict[str, float]:
    for item in items[:100]:
        fn(item)
    wall, cpu = [], []
    for item in items[100:]:
        t, c = time.perf_counter(), time.thread_time()
        fn(item)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    out = {}
    for name, values in (("wall", wall), ("cpu", cpu)):
        for p in (50, 95, 99):
            out[f"{name}_p{p}_ms"] = round(float(np.percentile(values, p)) * 1000, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="models root or version directory")
    parser.add_argument("--rows", type=int, default=3072)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()

    report: dict = {"command": " ".join(sys.argv), "load_average_start": os.getloadavg()}
    t0 = time.perf_counter()
    model = artifact.load(args.model).model
    report["load_seconds"] = round(time.perf_counter() - t0, 2)
    n = model.n_articles_
    rows = min(args.rows, n)
    t0 = time.perf_counter()
    found, scores, stats = compute_neighbors(model.matrix_, model.index_, model.published_,
                                             N_NEIGHBORS, pruning=model._pruning(), n_rows=rows)
    per_core = rows / max(stats.cpu_seconds, 1e-9)
    report["lists"] = {"rows": rows, "wall_seconds": round(time.perf_counter() - t0, 1),
                       "cpu_seconds": round(stats.cpu_seconds, 1),
                       "articles_per_core_second": round(per_core, 1),
                       "projected_seconds_all_rows_on_2_cores": round(n / per_core / 2)}
    lists = np.full((n, N_NEIGHBORS), -1, dtype=np.int32)
    lists[:rows] = found[:rows]
    list_scores = np.zeros((n, N_NEIGHBORS), dtype=np.float32)
    list_scores[:rows] = scores[:rows]
    model.neighbors_, model.neighbor_scores_ = lists, list_scores

    rng = np.random.default_rng(1)
    ids = [str(model.ids_[int(r)]) for r in rng.integers(0, rows, size=args.queries + 100)]
    report["by_id_model"] = latency(lambda a: model.related(a, k=5), ids)
    engine = Recommender(model)
    report["by_id_engine_defaults"] = latency(lambda a: engine.related(a, k=5), ids)
    report["articles"] = n
    report["load_average_end"] = os.getloadavg()
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
