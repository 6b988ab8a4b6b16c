"""A throw-away PostgreSQL cluster for tests and measurements: Debian's ``initdb``/``pg_ctl``
(``/usr/lib/postgresql/*/bin``) in a temporary directory, on a free port, as an unprivileged
user (PostgreSQL refuses to run as root: under root the cluster runs as the ``postgres``
system user the package creates, through ``runuser``). Standard library only (psycopg, for
``create_database``, is imported when called)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "alsosee"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why a cluster cannot be started here (a skip reason), or None."""
    if bin_dir() is None:
        return ("PostgreSQL server not installed (Debian's `postgresql` package: "
                "scripts/install_test_deps.sh installs it)")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without `runuser` to start PostgreSQL as another user"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no `postgres` system user to run PostgreSQL as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'alsosee[postgres]')"
    return None


class PgCluster:
    """``start()``, ``restart()``, ``stop()``; ``url(db)``; ``create_database()``."""

    def __init__(self) -> None:
        bindir = bin_dir()
        assert bindir is not None, unavailable()
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="alsosee-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, user="postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
                  "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}\n{log[-3000:]}")

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log),
                  "-w", "-t", "60", "start")

    def restart(self) -> None:
        """A fast restart (open connections are terminated, committed data is kept)."""
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log),
                  "-m", "fast", "-w", "-t", "60", "restart")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def cluster() -> Iterator[PgCluster]:
    pg = PgCluster()
    try:
        pg.start()
        yield pg
    finally:
        pg.close()
