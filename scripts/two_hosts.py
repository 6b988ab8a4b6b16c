"""Requests/s of two serving hosts vs one, on the same machine, in the same run.

Starts a throw-away PostgreSQL cluster (Debian's binaries, tests/pgserver.py) and two real
servers as separate hosts would be (own ports, own copies of the models, ``--workers`` each,
one shared state database), then alternates rounds of the same closed-loop load
(scripts/loadgen.py, two client processes of ``--concurrency``/2 connections each, cycling
through every article's related list):

* ``one host``: both client processes send to host A (host B runs, idle);
* ``two hosts``: one client process per host (what a load balancer does).

With ``--one-core-each`` host A's processes are bound to CPU 0 and host B's to CPU 1 (the
client processes are not bound): two one-core "machines", so the figure shows whether a
second host adds capacity or whether something shared (the state database) limits it.

Rounds alternate (one, two, one, two, ...) so that drift in the machine's load falls on both
setups alike; each setup's figures pool all its rounds. Prints one JSON object: requests/s
(median of the rounds and every round), and median/p99 latency over all requests.

    .venv/bin/python scripts/two_hosts.py [--rounds 3] [--duration 10] [--concurrency 8]
        [--workers 2] [--model models] [--no-response-cache] [--one-core-each] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.state.db import StateDB  # noqa: E402
from service.launch import ServerProcess  # noqa: E402
from tests import pgserver  # noqa: E402
from tests.livesrv import live_server  # noqa: E402

LOADGEN = ROOT / "scripts" / "loadgen.py"


@contextlib.contextmanager
def two_hosts(pg_url: str, model: Path, tmp: Path, workers: int,
              env: dict[str, str]) -> Iterator[list[ServerProcess]]:
    StateDB(pg_url).migrate()
    with contextlib.ExitStack() as stack:
        started = []
        for i in range(2):
            root = tmp / f"host{i}" / "models"
            shutil.copytree(model, root, symlinks=True)
            started.append(stack.enter_context(live_server(
                root, tmp / f"host{i}.log", workers=workers,
                env={"ALSOSEE_STATE_DB": pg_url, "ALSOSEE_RATE_LIMIT": "off", **env})))
        yield started


def article_ids(model: Path) -> list[str]:
    from recommender import load

    return [str(i) for i in load(model).model.ids_]


def load(targets: list[str], paths: list[str], duration: float, per_client: int,
         tmp: Path) -> dict:
    """One client process per entry of ``targets`` (a base URL, repeats allowed), run at
    once; their requests and latencies pooled."""
    procs = []
    for n, base in enumerate(targets):
        out = tmp / f"latencies-{n}.json"
        cmd = [sys.executable, str(LOADGEN), "--base", base, "--duration", str(duration),
               "--concurrency", str(per_client), "--latencies", str(out)]
        for path in paths[n::len(targets)] or paths:
            cmd += ["--path", path]
        procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True), out))
    summaries, latencies = [], []
    for proc, out in procs:
        stdout, _ = proc.communicate(timeout=duration + 60)
        if proc.returncode != 0:
            sys.exit(f"two_hosts: the load generator failed ({proc.returncode})")
        summaries.append(json.loads(stdout))
        latencies += json.loads(out.read_text())
    seconds = max(s["seconds"] for s in summaries)
    return {"requests": sum(s["requests"] for s in summaries),
            "requests_per_second": sum(s["requests_per_second"] for s in summaries),
            "seconds": seconds,
            "non_2xx": sum(s["non_2xx"] for s in summaries),
            "connection_errors": sum(s["connection_errors"] for s in summaries),
            "latencies": latencies}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(rounds: list[dict]) -> dict:
    latencies = [x for r in rounds for x in r["latencies"]]
    return {
        "requests_per_second": round(statistics.median(r["requests_per_second"]
                                                       for r in rounds), 1),
        "rounds_requests_per_second": [round(r["requests_per_second"], 1) for r in rounds],
        "requests": sum(r["requests"] for r in rounds),
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "connection_errors": sum(r["connection_errors"] for r in rounds),
        "latency_ms": {"p50": round(1000 * percentile(latencies, 0.5), 2),
                       "p99": round(1000 * percentile(latencies, 0.99), 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each setup")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="client connections in all (split over two client processes)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--model", type=Path, default=None,
                        help="models root to copy to each host (default: the bundled sample)")
    parser.add_argument("--no-response-cache", action="store_true",
                        help="ALSOSEE_RESPONSE_CACHE_SIZE=0: every request ranks")
    parser.add_argument("--one-core-each", action="store_true",
                        help="bind host A to CPU 0 and host B to CPU 1")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.concurrency < 2 or args.concurrency % 2:
        parser.error("--concurrency must be even (two client processes)")
    reason = pgserver.unavailable()
    if reason:
        sys.exit(f"two_hosts: {reason}")
    env = {"ALSOSEE_RESPONSE_CACHE_SIZE": "0"} if args.no_response_cache else {}

    with tempfile.TemporaryDirectory(prefix="alsosee-hosts-") as tmp, \
            pgserver.cluster() as pg:
        tmp_path = Path(tmp)
        model = args.model
        if model is None:
            from recommender.training.job import train_sample

            model = tmp_path / "sample-models"
            train_sample(model)
        paths = [f"/v1/articles/{i}/related" for i in article_ids(model)]
        per_client = args.concurrency // 2
        runs: dict[str, list[dict]] = {"one_host": [], "two_hosts": []}
        with two_hosts(pg.create_database(), model, tmp_path, args.workers, env) as (a, b):
            if args.one_core_each:
                for cpu, host in enumerate((a, b)):
                    for pid in host.pids():
                        os.sched_setaffinity(pid, {cpu})
            load([a.base, b.base], paths, 2.0, per_client, tmp_path)  # warm-up, both hosts
            for _ in range(args.rounds):
                runs["one_host"].append(load([a.base, a.base], paths, args.duration,
                                             per_client, tmp_path))
                runs["two_hosts"].append(load([a.base, b.base], paths, args.duration,
                                              per_client, tmp_path))
        result = {
            "cores": os.cpu_count(),
            "load_average_after": os.getloadavg()[0],
            "workers_per_host": args.workers,
            "client_connections": args.concurrency,
            "response_cache": not args.no_response_cache,
            "one_core_each": args.one_core_each,
            "seconds_per_round": args.duration,
            **{name: summary(rounds) for name, rounds in runs.items()},
        }
        one = result["one_host"]["requests_per_second"]
        result["two_over_one"] = round(result["two_hosts"]["requests_per_second"] / one, 3) \
            if one else None
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
