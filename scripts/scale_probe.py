#!/usr/bin/env python3
"""Probe one large size (e.g. 1M) within a bounded time, when the full benchmark cannot run.

    python scripts/scale_probe.py --size 1M --neighbor-rows 20000 --out probe.json

It derives the corpus (outside the repository), fits the vectors (timed, peak RSS), computes
the neighbour lists of the first ``--neighbor-rows`` articles only (on all local cores) and
projects the full step from the measured articles per core-second, saves and loads the
artifact (memory-mapped), and measures single-threaded by-text and by-id latency (by-id
through the full query path, since most lists were not computed; ``--full-neighbors``
computes them all instead). ``--fit-only`` stops after the fit's figures; ``--rows N`` fits
the first N articles only (e.g. a 300k slice of the 1M corpus).

The fit's ``projected_idle_wall_seconds_2_cores`` is a projection from CPU times, not a
measurement: the counting (workers' CPU plus this process's CPU while they count) spread over
two cores, plus this process's CPU after the counting, which is serial.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from recommender.bench.benchmark import (
    DEFAULT_SOURCE,
    dir_bytes,
    machine_info,
    parse_sizes,
    percentiles,
)
from recommender.bench.derived import DEFAULT_CACHE, cached_corpus, read_source
from recommender.index.neighbors import compute_neighbors
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.model.lsa import parse_lsa_components


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def projected_wall(fit_stats: dict, client_cpu: float, cores: int = 2) -> float:
    """Wall time of the fit on ``cores`` idle cores, projected from CPU times: the counting
    phase (workers plus this process meanwhile) shared by the cores, the rest serial."""
    c = fit_stats["vectorize"]["counting"]
    during = c.get("stage_cpu_seconds", {}).get("counting", 0.0)
    return round((c["count_cpu_seconds"] + during) / cores + (client_cpu - during), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="1M")
    p.add_argument("--neighbor-rows", type=int, default=20_000)
    p.add_argument("--full-neighbors", action="store_true")
    p.add_argument("--fit-only", action="store_true",
                   help="stop after the fit's figures (no lists, save, load or queries)")
    p.add_argument("--rows", type=int, default=None,
                   help="use only the first ROWS articles of the corpus (e.g. a 300k slice "
                        "of the 1M corpus)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lsa-components", default="0", metavar="auto|N|0",
                   help="the topic blend (default 0: the words-only model the documented "
                        "figures are of)")
    args = p.parse_args()
    (n,) = parse_sizes(args.size)
    res: dict = {"command": " ".join(sys.argv), "machine": machine_info(), "size": n,
                 "note": "corpus DERIVED from Reuters-21578 (real paragraphs recombined "
                         "within a topic); not real stories"}

    def save() -> None:
        res.setdefault("loadavg", {})[time.strftime("%H:%M:%S")] = [
            round(x, 2) for x in os.getloadavg()]
        args.out.write_text(json.dumps(res, indent=2, default=str))

    save()

    t0 = time.perf_counter()
    articles, path = cached_corpus(args.source, n, args.cache)
    if args.rows is not None:
        articles = articles.iloc[:args.rows].reset_index(drop=True)
        n = res["size"] = len(articles)
    res["corpus_seconds"] = round(time.perf_counter() - t0, 1)
    res["peak_rss_mib_after_corpus"] = round(peak_mib(), 0)
    full = args.full_neighbors
    # Lists are built after the fit (below), so that the fit's figures are saved first.
    model = RelatedStories(n_neighbors=0,
                           lsa_components=parse_lsa_components(args.lsa_components))
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(articles, progress=True)
    vz = model.fit_stats_["vectorize"]
    res["fit"] = {"wall_seconds": round(time.perf_counter() - t0, 1),
                  # this process only; vectorise_cpu_seconds adds the counting workers' CPU
                  "cpu_seconds": round(time.process_time() - c0, 1),
                  "projected_idle_wall_seconds_2_cores": projected_wall(model.fit_stats_,
                                                                        time.process_time() - c0),
                  "vectorise_wall_seconds": vz["seconds"],
                  "vectorise_cpu_seconds": vz["cpu_seconds"],
                  "articles_per_core_second": round(n / max(vz["cpu_seconds"], 1e-9), 1),
                  "fit_stats": model.fit_stats_, "peak_rss_mib": round(peak_mib(), 0),
                  "features": int(model.matrix_.shape[1]), "nonzeros": int(model.matrix_.nnz)}
    save()
    if args.fit_only:
        sys.stdout.write(json.dumps(res, indent=2, default=str) + "\n")
        return
    ids = articles["id"].to_numpy()
    del articles
    if full:
        model.n_neighbors = 50
        t0 = time.perf_counter()
        model.build_neighbors(progress=True)
        nb = model.fit_stats_["neighbors"]
        res["neighbors"] = {**nb, "wall_seconds": round(time.perf_counter() - t0, 1),
                            "peak_rss_mib": round(peak_mib(), 0)}
        save()
    else:
        rows = min(args.neighbor_rows, n)
        sub_allowed = model.published_
        t0 = time.perf_counter()
        # The first `rows` query rows against the whole index: the real per-row cost.
        r, s, stats = compute_neighbors(model.matrix_, model.index_, sub_allowed, 50,
                                        pruning=model.query_pruning(), progress=True, n_rows=rows)
        per_core = rows / max(stats.cpu_seconds, 1e-9)  # per CPU-second of the blocks
        res["neighbors_sample"] = {
            **stats.to_dict(), "rows": rows, "articles_per_core_second": round(per_core, 1),
            "projected_seconds_full_on_local_cores": round(n / per_core / stats.n_jobs, 0),
            "peak_rss_mib": round(peak_mib(), 0)}
        save()
    t0 = time.perf_counter()
    root = args.cache / f"probe-models-{args.size}"
    version = artifact.save(model, root, keep=1)
    res["save_seconds"] = round(time.perf_counter() - t0, 1)
    res["artifact_bytes"] = dir_bytes(version)
    del model
    t0 = time.perf_counter()
    loaded = artifact.load(root)
    res["load_seconds"] = round(time.perf_counter() - t0, 3)
    m = loaded.model
    real = read_source(args.source)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(real), size=min(len(real), args.queries + 100), replace=False)
    texts = [(real["title"].iat[i], real["body"].iat[i]) for i in pick]
    qids = ids[rng.integers(0, n, size=args.queries + 100)]

    def lat(fn, items):
        for it in items[:100]:
            fn(it)
        out = []
        for it in items[100:]:
            t = time.perf_counter()
            fn(it)
            out.append(time.perf_counter() - t)
        return percentiles(out)

    res["by_text"] = lat(lambda t: m.related_to_text(t[0], t[1], k=5), texts)
    save()
    res["by_id_full_query" if not full else "by_id"] = lat(lambda a: m.related(a, k=5), qids)
    res["peak_rss_mib"] = round(peak_mib(), 0)
    save()
    sys.stdout.write(json.dumps(res, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
