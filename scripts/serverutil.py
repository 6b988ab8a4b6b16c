"""Start and stop a real alsosee server (or plain gunicorn) for the operations scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m service.server`` (or ``gunicorn service.wsgi:app`` with ``stock=True``: the
    stock HUP behaviour, for comparison) in its own process group."""

    def __init__(self, models: Path, workers: int, log_path: Path, *,
                 api_key: str = "bench-key-0123456789",
                 state_db: Path | None = None, stock: bool = False,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(ALSOSEE_API_KEYS=api_key, ALSOSEE_RATE_LIMIT="off",
                   ALSOSEE_MODEL_DIR=str(models), **(extra_env or {}))
        if state_db is not None:
            env["ALSOSEE_STATE_DB"] = str(state_db)
        if stock:
            argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
                    f"127.0.0.1:{self.port}", "--timeout", "60", "service.wsgi:app"]
        else:
            argv = [sys.executable, "-m", "service.server", "--model", str(models), "--port",
                    str(self.port), "--workers", str(workers), "--timeout", "60"]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 300.0, answers: int = 10) -> float:
        start = time.monotonic()
        ok = 0
        while ok < answers:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-3000:]}")
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"not ready in {timeout} s")
            try:
                ok = ok + 1 if requests.get(f"{self.base}/readyz", timeout=10).ok else 0
            except requests.RequestException:
                ok = 0
                time.sleep(0.2)
        return time.monotonic() - start

    def pids(self) -> list[int]:
        """The master and its workers."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return [self.proc.pid, *map(int, out)]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def pss_kib(pid: int) -> dict[str, int]:
    """Pss and Rss (KiB) of one process from /proc/<pid>/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0] in ("Pss:", "Rss:"):
                values[parts[0][:-1].lower()] = int(parts[1])
    return values
