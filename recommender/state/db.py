"""The embedded SQLite database holding the live state (takedowns, pins, blocks, live articles).

One file (``ALSOSEE_STATE_DB``, default ``<models root>/state.db``) in WAL mode, shared by every
worker process of a server and by the CLI. Every write goes through :meth:`StateDB.write`,
which runs in one ``BEGIN IMMEDIATE`` transaction and increments ``state_version``; readers
compare that number (one indexed read) to know when to refresh what they cache, so a change
made through one worker is seen by all within a request.

The tables are created by the versioned migrations of :mod:`recommender.state.schema`
(``meta.schema_version``): a new file is created at the current version; an existing one at
another version is refused with the command to run (``alsosee state migrate``). Tables outside
that list (extensions, tests) can still be declared with :func:`register_schema`.

``ALSOSEE_STATE_DB=postgresql://...`` selects the shared PostgreSQL store instead
(:mod:`recommender.state.pg`): ``StateDB(url)`` returns that implementation, with the same
``read``/``write``/``version`` interface, so no caller chooses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..urls import without_password
from . import schema as state_schema

logger = logging.getLogger(__name__)

DEFAULT_FILENAME = "state.db"
#: How long a writer waits for another process's write lock before giving up (ms).
BUSY_TIMEOUT_MS = 5000

register_schema = state_schema.register_schema
registered_schemas = state_schema.registered_schemas


def default_path(model_dir: str | Path | None = None) -> Path | str:
    """``ALSOSEE_STATE_DB`` if set (a file, or a ``postgresql://`` URL), else ``state.db``
    next to the models."""
    env = os.environ.get("ALSOSEE_STATE_DB")
    if env:
        return env if state_schema.is_postgres_url(env) else Path(env)
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

    dialect = state_schema.SQLITE
    #: Seconds between polls for other hosts' writes: PostgreSQL's listener uses it; SQLite
    #: readers compare the state version on every request instead, so it is unused here.
    poll_interval: float = 0.0

    def __new__(cls, path: str | Path) -> Any:
        if cls is StateDB and state_schema.is_postgres_url(path):
            try:
                from .pg import open_postgres  # psycopg is only needed for PostgreSQL
            except ModuleNotFoundError as exc:
                raise StateError(
                    f"state database {without_password(str(path))}: PostgreSQL "
                    f"needs the 'postgres' extra (pip install 'alsosee[postgres]'): {exc}"
                ) from None
            return open_postgres(str(path))
        return super().__new__(cls)

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
        """Open the database: create a new one at the current schema version, check an
        existing one's version, create the extra registered tables, and (by default) run a
        quick integrity check.

        Raises :class:`StateError` with the reason when the file is locked, read-only,
        corrupt, or at another schema version; nothing is changed in that case.
        """
        self._prepare_directory()
        conn = self.connection()
        try:
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise StateError(f"state database {self.path} is corrupt: {result}")
            if not self._has_table(conn, "meta"):
                self._migrate(conn, 0)  # a new file: nothing to migrate, just create
            else:
                state_schema.check_version(self._schema_version(conn), str(self.path))
            self._create_registered(conn)
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        self._initialised = True
        return self

    def migrate(self) -> tuple[int, int]:
        """Apply the missing migrations (each in its own transaction); returns the schema
        versions before and after. Refuses a database newer than this code."""
        self._prepare_directory()
        conn = self.connection()
        try:
            before = self._schema_version(conn) if self._has_table(conn, "meta") else 0
            if before > state_schema.SCHEMA_VERSION:
                state_schema.check_version(before, str(self.path))
            self._migrate(conn, before)
            self._create_registered(conn)
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        return before, state_schema.SCHEMA_VERSION

    def schema_version(self) -> int:
        conn = self.connection()
        try:
            return self._schema_version(conn) if self._has_table(conn, "meta") else 0
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc

    def _prepare_directory(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create directory for state database {self.path}: "
                                 f"{exc}") from exc

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, conn: sqlite3.Connection, found: int) -> None:
        for step in state_schema.MIGRATIONS:
            if step.version <= found:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in step.statements(self.dialect):
                    conn.execute(statement)
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             (step.version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            logger.info("state database %s: migration %d applied (%s)", self.path,
                        step.version, step.summary)

    def _create_registered(self, conn: sqlite3.Connection) -> None:
        extra = registered_schemas()
        missing = [name for name, ddl in extra.items()
                   if not all(self._has_table(conn, t) for t in _table_names(ddl))]
        if not missing:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in missing:
                for statement in _split(extra[name]):
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _has_table(conn: sqlite3.Connection, table: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone() is not None

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


_split = state_schema.split
_table_names = state_schema.table_names
