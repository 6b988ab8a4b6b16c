"""Wall time of short `alsosee` commands, as a cron job pays it: median of N fresh processes.

    .venv/bin/python scripts/cli_startup.py [--runs 7] [--alsosee .venv/bin/alsosee] [--model M]

``--alsosee`` is a command line: to compare with another checkout, pass for example
``--alsosee "env PYTHONPATH=/tmp/before $PWD/.venv/bin/python -m recommender"``. With ``--model``
(a trained models root), `takedown ID`, `takedown URL` and `pin ID OTHER` are also timed
without ``--force``: they check the ids and the URL against the model's verified id and URL
tables (not the unpickled model).

Runs `--help`, `takedown --list`, `pin --list`, `takedown ID --force` and `publish FILE`
against a private state database in a temporary directory (no model is needed), after one
warm-up run of each (the first run compiles .pyc files). Targets: `--help` under 0.5 s,
the editorial and publishing commands under 1.5 s. The machine's load moves the figures:
compare runs made one after the other, and look at the load printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": 0.5}
DEFAULT_TARGET = 1.5


def commands(work: Path, model: str | None) -> dict[str, list[str]]:
    article = work / "article.jsonl"
    article.write_text(json.dumps({"id": "cron-1", "title": "Floods in Dhaka",
                                   "body": "The river rose overnight."}) + "\n")
    models = ["--model", str(work / "models")]
    timed = {
        "--help": ["--help"],
        "takedown --list": ["takedown", "--list", *models],
        "pin --list": ["pin", "--list", *models],
        "takedown ID": ["takedown", "cron-9", "--force", "--reason", "test", *models],
        "publish FILE": ["publish", str(article), *models],
    }
    if model:
        checked = ["--model", model, "--state-db", str(work / "models" / "state.db")]
        timed["takedown (model)"] = ["takedown", "gv-316447", "--reason", "test", *checked]
        timed["takedown URL (model)"] = [
            "takedown", "https://www.globalvoicesonline.org/2012/05/15/colombia-5-dead-19-"
            "injured-after-bomb-blast-in-bogota/?utm_source=rss", "--reason", "test", *checked]
        timed["pin (model)"] = ["pin", "gv-316447", "gv-316371", *checked]
    return timed


def time_once(alsosee: str, args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    # cwd: outside any checkout (`python -m` would put the current directory first)
    subprocess.run([*shlex.split(alsosee), *args], check=True, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--alsosee", default=shutil.which("alsosee") or
                        str(Path(".venv/bin/alsosee").resolve()))
    parser.add_argument("--model", default=None, help="a trained models root (optional)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alsosee-startup-"))
    try:
        (work / "models").mkdir()
        print(f"{args.alsosee}, median of {args.runs} runs, load {os.getloadavg()[0]:.2f}")
        for name, argv in commands(work, args.model).items():
            time_once(args.alsosee, argv, work)  # warm-up
            times = [time_once(args.alsosee, argv, work) for _ in range(args.runs)]
            target = TARGETS.get(name, DEFAULT_TARGET)
            median = statistics.median(times)
            print(f"  {name:<20} {median:6.3f} s  (min {min(times):.3f}, max {max(times):.3f}; "
                  f"target {target} s: {'ok' if median < target else 'OVER'})")
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
