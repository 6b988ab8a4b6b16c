#!/usr/bin/env python
"""What one write to the live state costs a worker on its next request.

    python scripts/live_write_cost.py --live 10000 --writes 30 --out live_write_cost.json

1. trains the bundled sample into a temporary models root and publishes ``--live`` live
   articles (the sample's texts under new ids and URLs) into its state database;
2. opens the Flask app in this process (one worker's view: real SQLite file, real model
   files) and asks one related list until it is warm;
3. times ``--reads`` requests with no write in between (the baseline), then ``--writes``
   requests each made right after one write by another writer (publishing a new article,
   updating one, unpublishing one, taking one down, in turn) through the same database.

Prints (and writes with ``--out``) p50/p90/max milliseconds of both series and the live
snapshot refresh alone. Timings on a shared machine are noisy: compare the two series of
one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from recommender.state.db import StateDB
from recommender.state.editorial import Editorial
from recommender.state.live import LiveStore
from recommender.training.job import train_sample

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = ROOT / "data" / "globalvoices-2012-05.jsonl"
ARTICLE = "gv-316447"


def _records(n: int, start: int = 0) -> list[dict]:
    base = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    out = []
    for i in range(start, start + n):
        rec = base[i % len(base)]
        out.append({"id": f"live-{i}", "title": rec["title"], "body": rec["body"],
                    "url": f"https://news.example/live/{i}",
                    "published_at": "2012-05-20T10:00:00Z",
                    "section": rec.get("section") or None,
                    "tags": [str(t) for t in rec.get("tags") or []]})
    return out


def _stats(values: list[float]) -> dict[str, float]:
    ms = sorted(1000 * v for v in values)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2), "max_ms": round(ms[-1], 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live", type=int, default=10_000, help="live articles")
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from service import create_app

    with tempfile.TemporaryDirectory(prefix="alsosee-live-cost-") as tmp:
        root = Path(tmp) / "models"
        train_sample(root)
        state_path = Path(tmp) / "state.db"
        db = StateDB(state_path).init()
        store = LiveStore(db)
        started = time.perf_counter()
        for lo in range(0, args.live, 1000):
            store.publish(_records(min(1000, args.live - lo), lo))
        publish_s = time.perf_counter() - started

        app = create_app({"TESTING": True, "MODEL_DIR": str(root), "STATE_DB": str(state_path),
                          "RESPONSE_CACHE_SIZE": 0, "RATE_LIMIT": "off"})
        client = app.test_client()
        url = f"/v1/articles/{ARTICLE}/related"

        def timed() -> float:
            t0 = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, response.get_data(as_text=True)
            return elapsed

        first = timed()  # vectorises every live article (the model's first snapshot)
        for _ in range(3):
            timed()
        baseline = [timed() for _ in range(args.reads)]

        writer = Editorial(StateDB(state_path))
        state = app.extensions["alsosee"]
        after_write, refresh = [], []
        extra = _records(args.writes, args.live)
        for i in range(args.writes):
            kind = i % 4
            if kind == 0:
                store.publish([extra[i]])
            elif kind == 1:
                store.publish([{**_records(1, i)[0], "title": f"Updated story {i}"}])
            elif kind == 2:
                store.unpublish(f"live-{i + 100}")
            else:
                writer.takedown(f"live-{i + 200}", reason="measurement", by="script")
            after_write.append(timed())
            refresh.append(state.serving.live.last_refresh_seconds)

    report = {
        "live_articles": args.live,
        "publish_all_s": round(publish_s, 2),
        "first_request_ms": round(1000 * first, 1),
        "no_write": _stats(baseline),
        "after_one_write": _stats(after_write),
        "live_refresh_after_one_write": _stats(refresh),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
