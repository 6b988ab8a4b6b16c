"""Run the service under gunicorn, programmatically.

``python -m service.server --model models --port 8000 --workers 2`` or, from Python,
``run("models", port=8000)``. Each worker builds its own app (and memory-maps the model);
logs go to stderr as JSON lines; SIGTERM/SIGINT stop gracefully (workers finish their requests
within ``graceful_timeout``).

Model reloads without downtime: **SIGHUP does not restart the workers** here. Gunicorn's own
HUP handling starts new workers and stops the old ones, and requests waited up to 20 s while
the new workers loaded their model (measured, see NOTES). Instead the master forwards SIGHUP
to the workers, and each worker's reloader thread loads and verifies the new model, then swaps
one reference while it keeps answering with the old one. To deploy new *code*, restart the
service (or use gunicorn's USR2 + TERM binary upgrade).

Prometheus multi-process mode: ``PROMETHEUS_MULTIPROC_DIR`` is set to a fresh directory (or
emptied, if given) before the workers start; dead workers are marked in ``child_exit``.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from service import settings as service_settings

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

        app = create_app()
        _start_reloader(app)
        return app

    def run(self) -> None:
        try:
            AlsoseeArbiter(self).run()
        except RuntimeError as exc:
            log.error("%s", exc)
            sys.exit(1)


class AlsoseeArbiter(Arbiter):
    """Gunicorn's master, except that SIGHUP asks the workers to reload the *model*."""

    def handle_hup(self) -> None:
        self.log.info("SIGHUP: asking %d worker(s) to reload the model", len(self.WORKERS))
        self.kill_workers(signal.SIGHUP)


def _start_reloader(app: Flask) -> None:
    """In a worker: SIGHUP sets a flag, the reloader thread does the work (never the signal
    handler itself: it runs between two bytecodes of whatever request is being served)."""
    state = app.extensions["alsosee"]
    signal.signal(signal.SIGHUP, lambda signum, frame: state.signal_reload())
    state.start_watcher(interval=float(app.config.get("WATCH_INTERVAL", 1.0)),
                        watch_pointer=bool(app.config.get("WATCH_MODEL", False)))


def _child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _prometheus_dir() -> None:
    """A clean multi-process directory shared by the workers (removed at exit if ours)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # counters of a previous run
            stale.unlink()
        return
    path = Path(tempfile.mkdtemp(prefix="alsosee-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    master = os.getpid()
    # Removed when the master exits normally (SIGTERM/SIGINT); a master killed with SIGKILL
    # cannot, so supervisors and tests that kill -9 should pass their own directory.
    def remove() -> None:
        if os.getpid() == master:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    log.info("Prometheus multi-process directory %s (removed at exit)", path)


def logconfig(level: str) -> dict[str, Any]:
    """Every log line (ours and gunicorn's) as one JSON object on stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logfmt.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            # Our own request log line (alsosee.access) replaces gunicorn's access log.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


#: Imported by the master before the workers fork (see _preimport); no service module here:
#: those create Prometheus metrics at import, which must happen in the workers.
PREIMPORT = ("numpy", "scipy.sparse", "pandas", "sklearn.feature_extraction.text",
             "sklearn.preprocessing", "joblib", "marisa_trie", "flask",
             "recommender.model.artifact", "recommender.engine.recommender",
             "recommender.state.live")


def _preimport() -> None:
    """Import the heavy libraries in the master, so that the forked workers share them.

    Their module objects (numpy, scipy, pandas, scikit-learn, Flask, alsosee's library) are
    tens of MiB of Python objects per process; imported once before the fork they stay
    shared copy-on-write instead of being built again in every worker (total PSS measured
    with scripts/measure_memory.py, docs/performance.md). The app and the model are still
    created in each worker after the fork (the model memory-mapped, so shared too).
    """
    import importlib

    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional piece missing: the worker will say so
            log.warning("could not preload %s: %s", name, exc)


NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _limit_native_threads() -> None:
    """One BLAS/OpenMP thread per process, unless the operator set one of those variables.

    The workers are the parallelism: a BLAS pool per worker, sized for the whole machine,
    only spins against the other workers (measured: 2.6 -> 2.0 ms of server CPU per
    uncached by-id request at 100k, 740 -> 940 requests/s, 2 workers). Set in the master
    after the pre-import; the forked workers inherit it.
    """
    if any(name in os.environ for name in NATIVE_THREAD_VARIABLES):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def check_port(host: str, port: int) -> None:
    """Fail with one clear line when the address cannot be listened on (in use, not ours),
    rather than gunicorn's retries and a page of log lines."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as gunicorn binds: a port whose old connections linger in TIME_WAIT is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(f"cannot listen on {_bind(host, port)}: {exc.strerror or exc} "
                          "(another server on that port? choose another with --port or "
                          "ALSOSEE_PORT)") from None


def ensure_model(model_dir: str) -> None:
    """Train the bundled sample into ``model_dir`` when it holds no model."""
    from recommender.errors import ArtifactError
    from recommender.model import artifact

    try:
        artifact.resolve(model_dir)
    except ArtifactError:
        from recommender.training.job import train_sample

        log.warning("no model in %s: training the bundled sample", model_dir)
        train_sample(model_dir)


def check_api_keys() -> None:
    """Before any worker starts: exit with one line when a configured API key is empty or
    short; say once that writes and previews are disabled when no key is configured."""
    from service.auth import ENV_API_KEYS, parse_keys

    try:
        app_settings = service_settings.resolve(service_settings.APP_SETTINGS)
        keys = parse_keys(app_settings.get("API_KEYS"))
    except (ValueError, RuntimeError) as exc:
        sys.exit(f"alsosee: error: {ENV_API_KEYS} / api_keys: {exc}")
    if not keys:
        editorial = ("the editorial lists are refused"
                     if app_settings.get("READ_REQUIRES_KEY", True)
                     else "the editorial lists stay open (read_requires_key is false)")
        log.warning("no API key configured (%s or api_keys): writes, previews (status=any) "
                    "and debug are refused; %s", ENV_API_KEYS, editorial)


def run(
    model_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threads: int = 2,
    timeout: int = 30,
    *,
    graceful_timeout: int = 30,
    access_log: bool = False,
    log_level: str = "info",
    train_if_missing: bool = False,
    keepalive: int = 5,
    max_requests: int = 0,
    request_read_timeout: float = 15.0,
) -> None:
    """Serve ``model_dir`` with gunicorn until stopped (blocks; exits the process on error).

    The model directory reaches the workers through ``ALSOSEE_MODEL_DIR`` (set here, before
    the workers fork). Workers are gunicorn's threaded (gthread) worker, reading each request
    without a thread until it is complete (``request_read_timeout`` seconds at most), with
    gunicorn's own error answers as problem bodies (:mod:`service.gunicorn_worker`).
    ``access_log`` is kept for compatibility: every request is logged (JSON) anyway.
    """
    model_dir = os.fspath(model_dir)
    check_api_keys()
    if train_if_missing:
        ensure_model(model_dir)
    service_settings.export("MODEL_DIR", model_dir)
    # Read by the workers (service.gunicorn_worker), which gunicorn builds from a class path.
    service_settings.export("REQUEST_READ_TIMEOUT", request_read_timeout)
    _prometheus_dir()
    options: dict[str, Any] = {
        "bind": _bind(host, port),
        "workers": workers,
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": graceful_timeout,
        "keepalive": keepalive,
        "max_requests": max_requests,
        "max_requests_jitter": max_requests // 10 if max_requests else 0,
        "errorlog": "-",  # stderr
        "loglevel": log_level,
        "logconfig_dict": logconfig(log_level),
        "proc_name": "alsosee",
        "preload_app": False,  # one model load per worker, after fork (mmap shares memory)
        # No shared control socket in $HOME: several servers (tests, staging) can coexist.
        "control_socket_disable": True,
        "child_exit": _child_exit,
        # gunicorn's maximum (default 4094): a valid 512-character id of 4-byte UTF-8
        # characters is 6,144 bytes percent-encoded; longer lines get gunicorn's own HTML 414.
        "limit_request_line": 8190,
        # Requests gunicorn itself refuses (malformed request line, header too long...) get
        # an RFC 9457 problem body like every other error, not gunicorn's HTML page; a
        # request is read without a thread until it is complete, so slow clients cannot take
        # the threads (even with threads=1: the sync worker would give its only one away).
        "worker_class": "service.gunicorn_worker.ProblemThreadWorker",
        "logger_class": "service.gunicorn_worker.QuietAccessLogger",
    }
    _preimport()
    _limit_native_threads()
    AlsoseeApplication(options).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default=None,
                        help="models root (with a `current` pointer) or a version directory")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=None, help="worker timeout, seconds")
    parser.add_argument("--graceful-timeout", type=int, default=None)
    parser.add_argument("--keepalive", type=int, default=None)
    parser.add_argument("--max-requests", type=int, default=None)
    parser.add_argument("--access-log", action="store_true", help="(requests are always logged)")
    parser.add_argument("--log-level", default=None)
    parser.add_argument("--train-if-missing", action="store_true",
                        help="train the bundled sample when the model directory is empty")
    args = parser.parse_args(argv)
    from recommender.errors import SchemaVersionError

    try:
        opts = server_options(vars(args))
        from service.state import ServiceState

        # the app's settings too: a bad value fails here, not in each worker
        app_settings = service_settings.app_config()
        ServiceState.check_schema(opts["MODEL_DIR"], app_settings.get("STATE_DB"))
        check_port(opts["HOST"], opts["PORT"])
    except (ValueError, RuntimeError, OSError, SchemaVersionError) as exc:
        # One line, as every alsosee command reports errors (not a usage block, not logs).
        sys.stderr.write(f"alsosee: error: {exc}\n")
        sys.exit(1)
    logging.config.dictConfig(logconfig(opts["LOG_LEVEL"]))
    run(opts["MODEL_DIR"], opts["HOST"], opts["PORT"], opts["WORKERS"], opts["THREADS"],
        opts["TIMEOUT"], graceful_timeout=opts["GRACEFUL_TIMEOUT"], log_level=opts["LOG_LEVEL"],
        train_if_missing=args.train_if_missing, keepalive=opts["KEEPALIVE"],
        max_requests=opts["MAX_REQUESTS"], request_read_timeout=opts["REQUEST_READ_TIMEOUT"])


def server_options(args: dict[str, Any]) -> dict[str, Any]:
    """Server settings: command-line flag > ``ALSOSEE_*`` variable > config file > default."""
    table = (service_settings.MODEL_DIR, *service_settings.SERVER_SETTINGS)
    overrides = {s.key: args.get(s.key.lower()) for s in service_settings.SERVER_SETTINGS}
    overrides["MODEL_DIR"] = args.get("model")
    return service_settings.resolve(table, overrides=overrides)


if __name__ == "__main__":
    main()
