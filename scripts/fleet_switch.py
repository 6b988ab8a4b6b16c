#!/usr/bin/env python3
"""How fast a fleet switches model version: two servers (separate hosts on one machine) share
a models root and a state database; the version is recorded as ``alsosee models activate``
records it, and the time until every worker of both servers answers with it is measured.

    python scripts/fleet_switch.py --switches 20 --interval 1.0 [--json out.json]

The sample is trained into a temporary models root and saved again as a second version; the
switches alternate between the two. Time is from the record's commit (``recommender.state
.fleet.record``, what the CLI calls) to the first round of /readyz answers over fresh connections
(8 per server, so every worker answers) that all name the new version; rounds take a few
milliseconds, so the figure is an upper bound by that much. With the watch interval ``I``
expect about ``I / 2`` on average and ``I`` at most, plus the load and verification of the
version (the sample: tens of ms).
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
from serverutil import Server  # the scripts directory is on sys.path when run as a script


def _serving(base: str, tries: int = 8) -> set[str]:
    return {requests.get(f"{base}/readyz", headers={"Connection": "close"},
                         timeout=5).headers.get("X-Model-Version", "")
            for _ in range(tries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="workers per server")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="ALSOSEE_WATCH_INTERVAL of the servers (s)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from recommender.model import artifact
    from recommender.state import fleet
    from recommender.state.db import StateDB
    from recommender.training.job import train_sample

    with tempfile.TemporaryDirectory(prefix="alsosee-fleet-") as tmp:
        root, state = Path(tmp) / "models", Path(tmp) / "state.db"
        train_sample(root)
        versions = [artifact.current_version(root),
                    artifact.save(artifact.load(root).model, root, activate=False).name]
        db = StateDB(state).init()
        fleet.record(db, versions[0])
        env = {"ALSOSEE_WATCH_INTERVAL": str(args.interval)}
        servers = [Server(root, args.workers, Path(tmp) / f"server-{i}.log", state_db=state,
                          extra_env=env) for i in range(2)]
        try:
            for server in servers:
                server.wait_ready()
            seconds = []
            for i in range(args.switches):
                version = versions[(i + 1) % 2]
                start = time.monotonic()
                fleet.record(db, version, versions[i % 2], by="scripts/fleet_switch.py")
                while any(_serving(s.base) != {version} for s in servers):
                    if time.monotonic() - start > 30:
                        sys.exit(f"switch {i} to {version} not seen everywhere in 30 s")
                seconds.append(time.monotonic() - start)
                time.sleep(0.3)
        finally:
            for server in servers:
                server.stop()
    ordered = sorted(seconds)
    figures = {
        "servers": 2, "workers_per_server": args.workers, "watch_interval": args.interval,
        "switches": len(seconds),
        "p50_seconds": round(statistics.median(ordered), 3),
        "p90_seconds": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max_seconds": round(ordered[-1], 3),
    }
    print(f"{len(seconds)} switches, 2 servers x {args.workers} workers, watch interval "
          f"{args.interval} s: every worker on the new version after p50 "
          f"{figures['p50_seconds']} s, p90 {figures['p90_seconds']} s, "
          f"max {figures['max_seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
