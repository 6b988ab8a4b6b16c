#!/usr/bin/env python
"""A small closed-loop HTTP load generator (stdlib only), run as its own process.

``python scripts/loadgen.py --base http://127.0.0.1:8000 --duration 10 --concurrency 4
--path /v1/articles/gv-316447/related --path /v1/articles/gv-316371/related``

Each of ``--concurrency`` threads keeps one HTTP/1.1 connection (reconnecting if the server
closes it) and sends GETs back to back, cycling through the paths. On exit it prints one JSON
object: requests, non-2xx responses (by status), connection errors (by type), the model
versions seen (``X-Model-Version``) and latency percentiles in milliseconds. ``--stop-file``
ends the run early when that file appears (the caller decides when the scenario is over);
``--latencies FILE`` also writes every request's latency in seconds (a JSON list), so that the
samples of several load generators can be pooled into one set of percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def _worker(host: str, port: int, paths: list[str], offset: int, until: float,
            stop_file: str | None, out: dict) -> None:
    conn = None
    i = offset
    latencies, statuses, errors, versions = [], Counter(), Counter(), Counter()
    while time.monotonic() < until and not (stop_file and os.path.exists(stop_file)):
        path = paths[i % len(paths)]
        i += 1
        start = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", path, headers={"Accept": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            statuses[response.status] += 1
            versions[response.getheader("X-Model-Version") or "-"] += 1
            latencies.append(elapsed)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            errors[type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    out.update(latencies=latencies, statuses=statuses, errors=errors, versions=versions)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(base: str, paths: list[str], duration: float, concurrency: int,
        stop_file: str | None = None, latencies_out: str | None = None) -> dict:
    url = urlsplit(base)
    until = time.monotonic() + duration
    results = [{} for _ in range(concurrency)]
    threads = [threading.Thread(target=_worker, args=(url.hostname, url.port or 80, paths, n,
                                                      until, stop_file, results[n]))
               for n in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies = [x for r in results for x in r["latencies"]]
    if latencies_out:
        with open(latencies_out, "w", encoding="utf-8") as out:
            json.dump(latencies, out)
    statuses, errors, versions = Counter(), Counter(), Counter()
    for r in results:
        statuses.update(r["statuses"])
        errors.update(r["errors"])
        versions.update(r["versions"])
    total = sum(statuses.values()) + sum(errors.values())
    return {
        "requests": total,
        "seconds": round(wall, 3),
        "requests_per_second": round(total / wall, 1) if wall else 0.0,
        "non_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_errors": sum(errors.values()),
        "errors": dict(errors),
        "versions": dict(versions),
        "latency_ms": {name: round(1000 * percentile(latencies, q), 2)
                       for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99),
                                       ("max", 1.0))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--path", action="append", required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--stop-file", default=None)
    parser.add_argument("--latencies", default=None,
                        help="write every latency (s) to this file as a JSON list")
    args = parser.parse_args()
    print(json.dumps(run(args.base, args.path, args.duration, args.concurrency,
                         args.stop_file, args.latencies)))


if __name__ == "__main__":
    main()
