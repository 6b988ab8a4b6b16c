#!/usr/bin/env python
"""Resident memory of the real server with 1 and N workers (total PSS from smaps_rollup).

    python scripts/measure_memory.py --model models --workers 1 4 --queries 2000

For each worker count: start ``python -m service.server``, wait until ready, send
``--queries`` related-queries over many connections (so every worker touches its model),
then sum ``Pss`` (proportional set size: shared pages are split between the processes that
map them) and ``Rss`` over the master and its workers. With memory-mapped model arrays the
workers share one copy in the page cache, so total PSS grows far less than N x one worker.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
from serverutil import Server, pss_kib


def measure(models: Path, workers: int, queries: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="alsosee-mem-"))
    server = Server(models, workers, work / "server.log", state_db=work / "state.db")
    try:
        startup = server.wait_ready()
        ids = [r["id"] for r in requests.post(
            f"{server.base}/v1/related", json={"title": "oil prices trade", "k": 100},
            timeout=30).json()["related"]]
        start = time.perf_counter()
        for i in range(queries):
            requests.get(f"{server.base}/v1/articles/{ids[i % len(ids)]}/related?k=10",
                         headers={"Connection": "close"}, timeout=30).raise_for_status()
            if i % 10 == 0:
                requests.post(f"{server.base}/v1/related", timeout=30,
                              json={"title": f"query {i} oil wheat shipping"}).raise_for_status()
        elapsed = time.perf_counter() - start
        per_process = {pid: pss_kib(pid) for pid in server.pids()}
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "workers": workers,
        "startup_s": round(startup, 1),
        "queries": queries,
        "query_seconds": round(elapsed, 1),
        "total_pss_mib": round(sum(v["pss"] for v in per_process.values()) / 1024, 1),
        "total_rss_mib": round(sum(v["rss"] for v in per_process.values()) / 1024, 1),
        "per_process_pss_mib": {str(p): round(v["pss"] / 1024, 1)
                                for p, v in per_process.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for n in args.workers:
        result = measure(args.model, n, args.queries)
        print(json.dumps(result), file=sys.stderr)
        results.append(result)
    text = json.dumps({"model": str(args.model), "results": results,
                       "command": " ".join(sys.argv)}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
