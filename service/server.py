"""Run the service under gunicorn, programmatically.

``python -m service.server --model models --port 8000 --workers 2`` or, from Python,
``run("models", port=8000)``. Each worker builds its own app (and loads the model once);
logs go to stderr; SIGTERM/SIGINT stop gracefully (gunicorn's default: workers finish their
requests within ``graceful_timeout``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from service import ENV_MODEL_DIR

log = logging.getLogger(__name__)


class AlsoseeApplication(BaseApplication):
    """A gunicorn application whose WSGI app is ``create_app()`` built in each worker."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        assert self.cfg is not None
        for key, value in self.options.items():
            # Settings newer than the installed gunicorn (e.g. control_socket_disable, 23+)
            # are skipped rather than failing.
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from service import create_app

        return create_app()


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def ensure_model(model_dir: str) -> None:
    """Train the bundled sample into ``model_dir`` when it holds no model."""
    from recommender import artifact
    from recommender.errors import ArtifactError

    try:
        artifact.resolve(model_dir)
    except ArtifactError:
        log.warning("no model in %s: training the bundled sample", model_dir)
        artifact.train_sample(model_dir)


def run(
    model_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = 1,
    timeout: int = 30,
    *,
    graceful_timeout: int = 30,
    access_log: bool = False,
    log_level: str = "info",
    train_if_missing: bool = False,
) -> None:
    """Serve ``model_dir`` with gunicorn until stopped (blocks; exits the process on error).

    The model directory reaches the workers through ``ALSOSEE_MODEL_DIR`` (set here, before
    the workers fork). ``threads > 1`` selects gunicorn's threaded (gthread) worker.
    """
    model_dir = os.fspath(model_dir)
    if train_if_missing:
        ensure_model(model_dir)
    os.environ[ENV_MODEL_DIR] = model_dir
    options: dict[str, Any] = {
        "bind": _bind(host, port),
        "workers": workers,
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": graceful_timeout,
        "errorlog": "-",  # stderr
        "loglevel": log_level,
        "accesslog": "/dev/stderr" if access_log else None,
        "proc_name": "alsosee",
        "preload_app": False,  # one model load per worker, after fork
        # No shared control socket in $HOME: several servers (tests, staging) can coexist.
        "control_socket_disable": True,
    }
    AlsoseeApplication(options).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default=os.environ.get(ENV_MODEL_DIR, "models"),
                        help="models root (with a `current` pointer) or a version directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=30, help="worker timeout, seconds")
    parser.add_argument("--graceful-timeout", type=int, default=30)
    parser.add_argument("--access-log", action="store_true", help="log requests (to stderr)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--train-if-missing", action="store_true",
                        help="train the bundled sample when the model directory is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(args.model, args.host, args.port, args.workers, args.threads, args.timeout,
        graceful_timeout=args.graceful_timeout, access_log=args.access_log,
        log_level=args.log_level, train_if_missing=args.train_if_missing)


if __name__ == "__main__":
    main()
