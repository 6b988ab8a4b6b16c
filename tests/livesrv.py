"""Helpers for tests that need the real gunicorn server, a small trained corpus, or a
static site on another port (imported by the CMS-integration tests)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from service.launch import ServerProcess, free_port

__all__ = ["ROOT", "checkout_env", "free_port", "live_server", "static_site", "train_corpus"]

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0


def checkout_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` plus ``PYTHONPATH`` naming this checkout first (the server runs its code)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, **(env or {})}


@contextlib.contextmanager
def live_server(
    model_dir: Path, log_path: Path, env: Mapping[str, str] | None = None, workers: int = 1,
    args: Iterable[str] = (), ready_answers: int = 1,
) -> Iterator[ServerProcess]:
    """``python -m service.server`` on a free port, ready (``/readyz`` 200) or failing the
    test with its log; always stopped on exit. ``args`` are added to the command line (a
    repeated flag wins over the defaults here)."""
    port = free_port()
    server = ServerProcess(
        model_dir, workers=workers, port=port,
        args=["--timeout", "20", "--graceful-timeout", "3", *args],
        env=checkout_env(env), log_path=log_path, cwd=ROOT,
        # Prometheus' multi-process files go next to the log (pytest's tmp_path), not into a
        # /tmp/alsosee-metrics-* directory that a killed server could not remove.
        metrics_dir=log_path.parent / f"metrics-{port}",
        startup_timeout=STARTUP_TIMEOUT, ready_answers=ready_answers)
    with server:
        yield server


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
