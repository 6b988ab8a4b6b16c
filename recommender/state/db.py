"""The embedded SQLite database holding the live state (takedowns, pins, blocks, live articles).

One file (``ALSOSEE_STATE_DB``, default ``<models root>/state.db``) in WAL mode, shared by every
worker process of a server and by the CLI. Every write goes through :meth:`StateDB.write`,
which runs in one ``BEGIN IMMEDIATE`` transaction and increments ``state_version``; readers
compare that number (one indexed read) to know when to refresh what they cache, so a change
made through one worker is seen by all within a request.

Feature modules declare their own tables with :func:`register_schema`; this module knows
nothing about takedowns or articles.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import StateError

logger = logging.getLogger(__name__)

DEFAULT_FILENAME = "state.db"
#: How long a writer waits for another process's write lock before giving up (ms).
BUSY_TIMEOUT_MS = 5000

_SCHEMAS: dict[str, str] = {
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (
            key   TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO meta (key, value) VALUES ('state_version', 0);
    """,
}


def register_schema(name: str, ddl: str) -> None:
    """Declare tables (idempotent ``CREATE ... IF NOT EXISTS`` statements) of a feature."""
    _SCHEMAS[name] = ddl


def default_path(model_dir: str | Path | None = None) -> Path:
    """``ALSOSEE_STATE_DB`` if set, else ``state.db`` next to the models."""
    env = os.environ.get("ALSOSEE_STATE_DB")
    if env:
        return Path(env)
    from ..model.artifact import DEFAULT_MODEL_DIR, ENV_MODEL_DIR

    return Path(model_dir or os.environ.get(ENV_MODEL_DIR, DEFAULT_MODEL_DIR)) / DEFAULT_FILENAME


def _explain(exc: sqlite3.Error, path: Path) -> StateError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        why = "is locked by another process (a long write or a stuck transaction); retry later"
    elif "readonly" in text or "read-only" in text:
        why = "is read-only (check the file and directory permissions)"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = "is corrupt (restore it from a backup; it was not modified)"
    elif "unable to open" in text:
        why = "cannot be opened (does its directory exist and is it writable?)"
    else:
        why = f"failed: {exc}"
    return StateError(f"state database {path} {why}")


class StateDB:
    """A process- and thread-safe handle on the state database.

    Connections are opened lazily per thread and re-opened after a ``fork`` (gunicorn
    workers must not share a connection inherited from the master).

    Parameters
    ----------
    path : path
        The SQLite file (created with its tables if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._initialised = False

    # ----------------------------------------------------------- connections
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=True,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("state database %s: journal mode is %s, not WAL", self.path, mode)
            # FULL: a takedown acknowledged to an editor survives a power cut.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        return conn

    def connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "conn", None) is None or local.pid != os.getpid():
            local.conn = self._connect()
            local.pid = os.getpid()
        return local.conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local.conn = None

    # ---------------------------------------------------------------- schema
    def init(self, check: bool = True) -> StateDB:
        """Create missing tables and (by default) run a quick integrity check.

        Raises :class:`StateError` with the reason when the file is locked, read-only or
        corrupt; nothing is changed in that case.
        """
        if self.path.parent and not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create directory for state database {self.path}: "
                                 f"{exc}") from exc
        conn = self.connection()
        try:
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise StateError(f"state database {self.path} is corrupt: {result}")
            missing = [name for name in _SCHEMAS if not self._has_schema(conn, name)]
            if missing:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for name in ["meta", *[m for m in missing if m != "meta"]]:
                        for statement in _split(_SCHEMAS[name]):
                            conn.execute(statement)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        self._initialised = True
        return self

    @staticmethod
    def _has_schema(conn: sqlite3.Connection, name: str) -> bool:
        tables = _table_names(_SCHEMAS[name])
        if not tables:
            return False
        rows = conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
            f"({','.join('?' * len(tables))})", tables,
        ).fetchone()[0]
        return rows == len(tables)

    # ------------------------------------------------------------ read/write
    def version(self) -> int:
        """The state version: bumped by every committed write."""
        try:
            row = self.connection().execute(
                "SELECT value FROM meta WHERE key = 'state_version'"
            ).fetchone()
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for queries (one consistent snapshot inside the block)."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything in the block commits (and bumps the version) or
        nothing does."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        try:
            yield conn
            conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'state_version'")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise _explain(exc, self.path) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise


def _split(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]


def _table_names(ddl: str) -> list[str]:
    names = []
    for statement in _split(ddl):
        words = statement.replace("(", " ").split()
        upper = [w.upper() for w in words]
        if upper[:2] == ["CREATE", "TABLE"]:
            idx = 5 if upper[2:5] == ["IF", "NOT", "EXISTS"] else 2
            names.append(words[idx])
    return names
