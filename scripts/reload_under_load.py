#!/usr/bin/env python
"""Model swaps under load on the real server, and publish-to-visibility time.

    python scripts/reload_under_load.py --model models --workers 3 --duration 60 \\
        --reloads 6 --trigger post --out reload.json

1. starts ``python -m service.server`` (its own state DB in a temporary directory);
2. streams related-queries from another process (``scripts/loadgen.py``) for ``--duration``
   seconds;
3. meanwhile flips ``current`` between two versions (``alsosee models activate``; a second
   version is created by re-saving the model when the root holds only one) ``--reloads``
   times and triggers the reload (``post``: ``POST /v1/admin/reload``; ``hup``: SIGHUP to the
   master; ``stock-hup``: plain ``gunicorn service.wsgi:app`` and its own HUP, which restarts
   the workers — the behaviour alsosee avoids, for comparison);
4. publishes ``--publishes`` articles and measures, for each, the time from the PUT's answer
   until a GET through a *different* worker lists it.

Prints (and writes with ``--out``) requests, errors, versions seen and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from serverutil import ROOT, Server

from recommender.model import artifact

KEY = "bench-key-0123456789abcdef"


def two_versions(models: Path) -> list[str]:
    versions = artifact.list_versions(models)
    if len(versions) < 2:
        loaded = artifact.load(models)
        artifact.save(loaded.model, models, activate=False)
        versions = artifact.list_versions(models)
    current = artifact.current_version(models)
    other = next(v for v in reversed(versions) if v != current)
    return [current, other]


def worker_of(log_path: Path, request_id: str) -> int | None:
    for line in log_path.read_text(errors="replace").splitlines():
        if request_id in line and line.startswith("{"):
            try:
                return json.loads(line).get("worker")
            except ValueError:
                return None
    return None


def visibility(server: Server, n: int) -> tuple[list[float], int]:
    """Seconds from a PUT's answer to the first listing through another worker, and the
    number of GETs after a PUT that did not list it yet (0: visible at once everywhere)."""
    anchor = requests.post(f"{server.base}/v1/related", json={"title": "oil prices", "k": 1},
                           timeout=10).json()["related"][0]
    times, misses = [], 0
    for i in range(n):
        article_id = f"visibility-{uuid.uuid4().hex[:8]}"
        put_id = uuid.uuid4().hex
        r = requests.put(f"{server.base}/v1/articles/{article_id}",
                         json={"title": anchor["title"], "body": anchor["title"]},
                         headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": put_id},
                         timeout=30)
        r.raise_for_status()
        done = time.perf_counter()
        probes = []
        while time.perf_counter() - done < 5 and len(probes) < 6:
            # Visible = its own related list answers (200), through whichever worker accepts
            # this new connection; 404 would mean that worker does not know it yet.
            rid = uuid.uuid4().hex
            g = requests.get(f"{server.base}/v1/articles/{article_id}/related?k=5",
                             headers={"Connection": "close", "X-Request-Id": rid}, timeout=10)
            if g.status_code == 200:
                probes.append((rid, time.perf_counter() - done))
            else:
                misses += 1
        time.sleep(0.3)  # let the log lines land
        put_worker = worker_of(server.log_path, put_id)
        other = [t for rid, t in probes if worker_of(server.log_path, rid) != put_worker]
        if other:
            times.append(other[0])
        requests.delete(f"{server.base}/v1/articles/{article_id}",
                        headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        print(f"  publish {i + 1}/{n}: visible through another worker after "
              f"{other[0] * 1000 if other else float('nan'):.1f} ms", file=sys.stderr)
    return times, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="models root")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--reloads", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--trigger", choices=["post", "hup", "stock-hup"], default="post")
    parser.add_argument("--publishes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    versions = two_versions(args.model)
    work = Path(tempfile.mkdtemp(prefix="alsosee-reload-"))
    log_path = work / "server.log"
    server = Server(args.model, args.workers, log_path, api_key=KEY,
                    state_db=work / "state.db", stock=args.trigger == "stock-hup")
    startup = server.wait_ready()
    print(f"server ready in {startup:.1f} s ({args.workers} workers)", file=sys.stderr)
    try:
        ids = [r["id"] for r in requests.post(
            f"{server.base}/v1/related", json={"title": "oil prices trade", "k": 50},
            timeout=10).json()["related"]]
        stop = work / "stop"
        loader = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "loadgen.py"), "--base", server.base,
             "--duration", str(args.duration + 120), "--concurrency", str(args.concurrency),
             "--stop-file", str(stop),
             *[a for i in ids for a in ("--path", f"/v1/articles/{i}/related?k=5")]],
            stdout=subprocess.PIPE, text=True)
        start = time.monotonic()
        pause = args.duration / (args.reloads + 1)
        swaps = []
        for n in range(args.reloads):
            time.sleep(max(0.0, start + pause * (n + 1) - time.monotonic()))
            target = versions[(n + 1) % 2]
            artifact.set_current(args.model, target)
            t0 = time.perf_counter()
            if args.trigger == "post":
                r = requests.post(f"{server.base}/v1/admin/reload",
                                  headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
                swaps.append({"to": target, "http": r.status_code,
                              "result": r.json().get("status", r.json().get("detail")),
                              "seconds_this_worker": round(time.perf_counter() - t0, 3)})
            else:
                server.proc.send_signal(signal.SIGHUP)
                swaps.append({"to": target, "signal": "HUP"})
            print(f"  reload {n + 1}/{args.reloads} -> {target}", file=sys.stderr)
        time.sleep(max(0.0, start + args.duration - time.monotonic()))
        stop.touch()
        load = json.loads(loader.communicate(timeout=120)[0])
        vis, misses = (visibility(server, args.publishes) if args.trigger != "stock-hup"
                       else ([], 0))
        booted = sum("Booting worker" in line for line in log_path.read_text().splitlines())
    except BaseException:
        print(f"failed; server log and state kept in {work}", file=sys.stderr)
        raise
    finally:
        server.stop()
        artifact.set_current(args.model, versions[0])
    shutil.rmtree(work, ignore_errors=True)  # a good run leaves nothing in /tmp
    result = {
        "trigger": args.trigger, "workers": args.workers, "concurrency": args.concurrency,
        "duration_s": args.duration, "reloads": args.reloads, "versions": versions,
        "startup_s": round(startup, 1), "load": load, "swaps": swaps,
        "workers_booted": booted,
        "visibility_ms": sorted(round(t * 1000, 1) for t in vis),
        "visibility_gets_not_listing_it": misses,
        "command": " ".join(sys.argv),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
