"""Start a real alsosee server in another process, for tests, benchmarks and scripts.

``free_port()`` finds a free loopback port. ``ServerProcess`` runs ``python -m service.server``
(or any other command: ``alsosee serve``, plain gunicorn) in its own process group, its output
in a log file; as a context manager it waits until ``/readyz`` answers 200 and always stops the
whole group on exit::

    with ServerProcess("models", workers=2, env={"ALSOSEE_RATE_LIMIT": "off"}) as server:
        requests.get(f"{server.base}/v1/articles/a-1/related")

The service's ``ALSOSEE_*`` variables of the calling environment are not passed on unless
``inherit_settings`` (a server under test is configured by its arguments, not by the shell it
runs from). Standard library only: nothing of the web app is imported here.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["ServerError", "ServerProcess", "free_port"]

#: Prefix of the service's settings variables (service/settings.py).
SETTINGS_PREFIX = "ALSOSEE_"
#: Written by each server's workers; a fresh one per server (see ``metrics_dir``).
METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at the moment (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerError(RuntimeError):
    """The server exited or did not become ready; the message ends with its log."""


class ServerProcess:
    """One server process (and its workers): start, wait until ready, stop; log captured.

    ``command`` replaces ``python -m service.server --host H --port P --workers N
    [--model DIR]`` (then ``args`` are appended to it too). ``env`` is added to ``base_env``
    (default: this process's environment); ``metrics_dir`` is the server's Prometheus
    directory (default: one the server makes and removes on a graceful stop). ``log_path``
    receives stdout and stderr (default: a temporary file, removed by :meth:`stop`).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        workers: int = 1,
        host: str = "127.0.0.1",
        port: int | None = None,
        args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        command: Sequence[str] | None = None,
        metrics_dir: str | os.PathLike[str] | None = None,
        inherit_settings: bool = False,
        startup_timeout: float = 60.0,
        ready_answers: int = 1,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.ready_answers = ready_answers
        self.cwd = cwd
        if command is None:
            command = [sys.executable, "-m", "service.server", "--host", host,
                       "--port", str(self.port), "--workers", str(workers)]
            if model_dir is not None:
                command += ["--model", os.fspath(model_dir)]
        self.argv = [*command, *args]
        self.env = {k: v for k, v in (os.environ if base_env is None else base_env).items()
                    if inherit_settings or not k.startswith(SETTINGS_PREFIX)}
        self.env.pop(METRICS_VARIABLE, None)
        if metrics_dir is not None:
            self.env[METRICS_VARIABLE] = os.fspath(metrics_dir)
        self.env.update(env or {})
        self._own_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="alsosee-server-", suffix=".log")
            os.close(handle)
            log_path = name
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """``http://host:port`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ServerProcess:
        """Start the process (its own session: :meth:`stop` reaches every worker)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        """Everything the server wrote so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _fail(self, why: str) -> ServerError:
        return ServerError(f"{why} ({' '.join(self.argv)}):\n{self.log()[-4000:]}")

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 now."""
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=5) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):  # not listening yet, or a 503
            return False

    def wait_ready(self, timeout: float | None = None, answers: int | None = None,
                   all_workers: bool = False) -> float:
        """Wait for ``answers`` successive 200s from ``/readyz`` (and, with ``all_workers``,
        for every worker process); seconds taken. :class:`ServerError` when the process
        exits or ``timeout`` passes."""
        assert self.proc is not None, "start() first"
        timeout = self.startup_timeout if timeout is None else timeout
        answers = self.ready_answers if answers is None else answers
        started = time.monotonic()
        ok = 0
        while ok < answers or (all_workers and len(self.worker_pids()) < self.workers):
            if self.proc.poll() is not None:
                raise self._fail(f"server exited with {self.proc.returncode}")
            if time.monotonic() - started > timeout:
                raise self._fail(f"server not ready after {timeout:g} s")
            ok = ok + 1 if self.ready() else 0
            time.sleep(0.05 if ok else 0.1)
        return time.monotonic() - started

    def worker_pids(self) -> list[int]:
        """The master's child processes (gunicorn's workers)."""
        if self.proc is None:
            return []
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in kids.split()]

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.proc.pid, *self.worker_pids()] if self.proc is not None else []

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (master and workers)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the group, SIGKILL after ``timeout`` seconds; the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.signal(signal.SIGKILL)
                    self.proc.wait(timeout=timeout)
            code = self.proc.returncode
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return code

    def __enter__(self) -> ServerProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
