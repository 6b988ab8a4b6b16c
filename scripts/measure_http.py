#!/usr/bin/env python
"""HTTP throughput and latency of the real server on an existing model, under wrk.

    python scripts/measure_http.py --model ~/.cache/alsosee-bench/models-100k \\
        --corpus ~/.cache/alsosee-bench/derived-reuters-100000-seed0.parquet --seconds 10

The HTTP part of ``alsosee bench`` (``recommender.bench.benchmark.measure_http``) without
rebuilding the model: 2 gunicorn workers with the server's defaults, wrk with 16 connections
from another process; by-id over 1,000 random articles of the corpus (response cache warm
after a 3 s warm-up), the same with the response cache off, and drafts (by-text) from
Reuters-21578; then total PSS with 1 and 4 workers. Prints JSON (with the load average,
since wall-clock figures depend on what else runs) and writes it to ``--out`` if given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.bench.benchmark import DEFAULT_SOURCE, machine_info, measure_http
from recommender.bench.derived import read_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="models root or version dir")
    parser.add_argument("--corpus", type=Path, required=True,
                        help="the corpus the model was trained on (.parquet), for its ids")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="Reuters-21578 articles.jsonl.gz, for draft texts")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    ids = pd.read_parquet(args.corpus, columns=["id"])["id"].astype(str).to_numpy()
    rng = np.random.default_rng(1)
    picked = ids[rng.integers(0, len(ids), size=1000)].tolist()
    real = read_source(args.source)
    rows = rng.choice(len(real), size=200, replace=False)
    texts = [(real["title"].iat[i], real["body"].iat[i]) for i in rows]
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    result = measure_http(args.model, picked, texts, args.seconds, args.k)
    report = {"command": " ".join(sys.argv), "machine": machine_info(),
              "load_average_start": load_start, "load_average_end": os.getloadavg(),
              "seconds": round(time.perf_counter() - t0, 1), "http": result}
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
