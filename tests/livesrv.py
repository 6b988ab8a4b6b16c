"""Helpers for tests that need the real gunicorn server, a small trained corpus, or a
static site on another port (imported by the CMS-integration tests)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
SERVICE_ENV = (
    "ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES", "ALSOSEE_CORS_ORIGINS",
    "ALSOSEE_STATE_DB", "ALSOSEE_API_KEYS", "ALSOSEE_RATE_LIMIT", "ALSOSEE_WATCH_MODEL",
    "ALSOSEE_CACHE_MAX_AGE",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Live:
    base: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def live_server(
    model_dir: Path, log_path: Path, env: Mapping[str, str] | None = None, workers: int = 1,
    args: Iterable[str] = (),
) -> Iterator[Live]:
    """``python -m service.server`` on a free port, ready (``/readyz`` 200) or failing the
    test with its log; always killed on exit. ``args`` are added to the command line (a
    repeated flag wins over the defaults here)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))
    # Prometheus' multi-process files go next to the log (pytest's tmp_path), not into a
    # /tmp/alsosee-metrics-* directory that a killed server could not remove.
    full_env["PROMETHEUS_MULTIPROC_DIR"] = str(log_path.parent / f"metrics-{port}")
    full_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.server", "--model", str(model_dir),
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--timeout", "20", "--graceful-timeout", "3", *args],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n"
                                   f"{log_path.read_text()}")
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {STARTUP_TIMEOUT} s:\n"
                                   f"{log_path.read_text()}")
            time.sleep(0.1)
        yield Live(base, proc, log_path)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server process (if still running), killing it after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def train_corpus(articles: Iterable[Mapping[str, Any]], root: Path) -> Path:
    """Train *articles* (dicts of corpus columns) into ``root/models``; returns that root."""
    from recommender.training.job import train

    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles),
                      encoding="utf-8")
    train(corpus=corpus, out=root / "models")
    return root / "models"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """Serve *directory* over HTTP on another free port (another origin); yields its base."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
