#!/usr/bin/env python3
"""In-process query latency of a saved model: plain cosine and the newsroom engine.

    python scripts/query_latency.py MODEL_DIR [--queries 1000] [--warmup 100]
        [--kinds model_id,engine_id,model_text,engine_text,engine_mmr]
        [--profile KIND] [--json out.json]

MODEL_DIR is a model directory (``alsosee train`` / ``alsosee bench`` output, e.g.
``~/.cache/alsosee-bench/models-100k``). Query ids are sampled from the model, drafts are
real Reuters-21578 stories (title + body, from ``../shared/data``) as in ``alsosee bench``.
For every kind it reports p50/p95/p99 of wall time and of the thread's CPU time (single
thread, after a warm-up), with the load average before and after: on a shared machine the
wall time also counts waiting for a core, the CPU time does not.

Kinds: ``model_id`` (``RelatedStories.related``: plain cosine from the neighbour lists),
``engine_id`` (``Recommender.related`` with the default ranking), ``model_text`` /
``engine_text`` (the same for a draft), ``engine_mmr`` (by id with ``diversity=0.3``).
``--profile KIND`` runs that kind once more under pyinstrument and prints the profile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recommender.bench.benchmark import DEFAULT_SOURCE, percentiles
from recommender.bench.derived import read_source
from recommender.engine.recommender import Recommender
from recommender.model import artifact

KINDS = ("model_id", "engine_id", "model_text", "engine_text", "engine_mmr")


def timed(fn: Callable[[Any], Any], items: Sequence[Any], warmup: int) -> dict[str, float]:
    for item in items[:warmup]:
        fn(item)
    wall, cpu = [], []
    for item in items[warmup:]:
        t, c = time.perf_counter(), time.thread_time()
        fn(item)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return percentiles(wall, cpu)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--profile", choices=KINDS, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    t0 = time.perf_counter()
    model = artifact.load(args.model).model
    load = time.perf_counter() - t0
    engine = Recommender(model)
    rng = np.random.default_rng(1)
    n = args.queries + args.warmup
    ids = model.ids_[rng.integers(0, model.n_articles_, size=n)].tolist()
    real = read_source(args.source)
    pick = rng.choice(len(real), size=min(len(real), n), replace=False)
    texts = [(real["title"].iat[i], real["body"].iat[i]) for i in pick]
    k = args.k
    fns: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "model_id": (lambda a: model.related(a, k=k), ids),
        "engine_id": (lambda a: engine.related(a, k=k), ids),
        "model_text": (lambda t: model.related_to_text(t[0], t[1], k=k), texts),
        "engine_text": (lambda t: engine.related_to_text(t[0], t[1], k=k), texts),
        "engine_mmr": (lambda a: engine.related(a, k=k, diversity=0.3), ids),
    }
    report: dict[str, Any] = {"model": str(args.model), "articles": int(model.n_articles_),
                              "load_seconds": round(load, 2), "k": k,
                              "load_average_start": os.getloadavg(), "kinds": {}}
    for kind in args.kinds.split(","):
        fn, items = fns[kind]
        report["kinds"][kind] = res = timed(fn, items, args.warmup)
        sys.stdout.write(f"{kind:12s} wall p50/p95/p99 {res['p50_ms']:.3f}/{res['p95_ms']:.3f}/"
                         f"{res['p99_ms']:.3f} ms   CPU {res['cpu_p50_ms']:.3f}/"
                         f"{res['cpu_p95_ms']:.3f}/{res['cpu_p99_ms']:.3f} ms  (n={res['n']})\n")
        sys.stdout.flush()
    report["load_average_end"] = os.getloadavg()
    sys.stdout.write(f"load average start {report['load_average_start']} "
                     f"end {report['load_average_end']}\n")
    if args.profile:
        from pyinstrument import Profiler

        fn, items = fns[args.profile]
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for item in items:
            fn(item)
        profiler.stop()
        sys.stdout.write(profiler.output_text(unicode=False, color=False, show_all=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
