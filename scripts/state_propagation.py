"""Two hosts on one PostgreSQL: how soon a takedown on one is served by the other, leaks, and
the state write latency of SQLite vs PostgreSQL measured in the same run.

Starts a throw-away PostgreSQL cluster (Debian's binaries, recommender/bench/pgserver.py) and
two real servers (own ports, own copies of the models, two workers each;
recommender/bench/replicas.py), then alternates N takedowns between them. Propagation = the last
answer of the other host that still showed the story (0 when none did) after the write returned;
a leak = any answer showing it later than 1 s.

    .venv/bin/python scripts/state_propagation.py [--writes 200] [--model models] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from recommender.bench import pgserver
from recommender.bench.replicas import AUTH, hosts, propagation, related
from recommender.state.db import StateDB
from recommender.state.editorial import Editorial


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def write_latency(db: StateDB, n: int) -> dict[str, float]:
    """Seconds per takedown (one committed transaction each) through the library."""
    editorial = Editorial(db)
    times = []
    for i in range(n):
        start = time.perf_counter()
        editorial.takedown(f"bench-{i}", "latency", by="bench")
        times.append(time.perf_counter() - start)
    return percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--model", type=Path, default=None,
                        help="models root to copy to each host (default: the bundled sample)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    reason = pgserver.unavailable()
    if reason:
        sys.exit(f"state_propagation: {reason}")

    with tempfile.TemporaryDirectory(prefix="alsosee-prop-") as tmp, pgserver.cluster() as pg:
        tmp_path = Path(tmp)
        model = args.model
        if model is None:
            from recommender.training.job import train_sample

            model = tmp_path / "sample-models"
            train_sample(model)
        url = pg.create_database()
        times, leaks, write_seconds = [], 0, []
        with hosts(url, model, tmp_path) as pair:
            for i in range(args.writes):
                writer, other = pair[i % 2], pair[(i + 1) % 2]
                victim = related(other)[0]
                start = time.perf_counter()
                r = requests.put(f"{writer.base}/v1/takedowns/{victim}",
                                 json={"reason": f"legal {i}"}, headers=AUTH, timeout=10)
                returned = time.perf_counter()
                r.raise_for_status()
                write_seconds.append(returned - start)
                elapsed, leaked = propagation(pair, other, victim, returned)
                times.append(elapsed)
                leaks += leaked
        sqlite_db = StateDB(tmp_path / "bench.db").init()
        pg_db = StateDB(pg.create_database())
        pg_db.migrate()
        result = {
            "writes": args.writes,
            "propagation_a_to_b": percentiles(times),
            # writes after which the other host still served the story at least once
            "served_after_return": sum(t > 0 for t in times),
            "leaks": leaks,
            "http_takedown_latency": percentiles(write_seconds),
            "state_write_latency": {
                "sqlite": write_latency(sqlite_db, args.writes),
                "postgresql": write_latency(pg_db.init(), args.writes),
            },
        }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
