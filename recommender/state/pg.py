"""The live state in PostgreSQL, shared by several serving hosts (``ALSOSEE_STATE_DB=postgresql://``).

The same interface as :class:`recommender.state.db.StateDB` (``init``, ``migrate``, ``read``,
``write``, ``version``); queries are written once in SQLite's flavour and adapted by
:func:`recommender.state.schema.translate`.

* **Writes**: one transaction each. It starts by locking the ``state_version`` row
  (``SELECT ... FOR UPDATE``), so writers are serialised as SQLite's ``BEGIN IMMEDIATE``
  serialises them, bumps the version and sends ``NOTIFY alsosee_state`` with the new version;
  PostgreSQL delivers the notification only when the transaction commits.
* **The version** every request compares (to refresh what it caches) is held in memory and
  kept current by one listener thread per process: ``LISTEN alsosee_state`` wakes it within
  milliseconds of another host's commit, and it also polls the version every
  :data:`POLL_INTERVAL` seconds (a lost notification, a reconnect). So a request costs no
  round-trip to PostgreSQL unless the state changed.
* **PostgreSQL unreachable**: reads keep answering from the last state this process loaded
  (no write can commit meanwhile, so it is the newest state unless the outage separated only
  this host); writes raise :class:`~recommender.errors.StateError` naming the store (HTTP: a
  503 problem). Once the server is back, the listener reconnects within :data:`RECONNECT_MAX` and
  re-reads the version and replaces the pool (whose connections the restart broke).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ..errors import StateError
from . import schema as state_schema

logger = logging.getLogger(__name__)

#: The NOTIFY channel every write signals on (payload: the new state version).
CHANNEL = "alsosee_state"
#: Seconds between version polls by the listener (the bound when a notification is lost);
#: servers take ``ALSOSEE_STATE_POLL_INTERVAL``.
POLL_INTERVAL = 1.0
#: Seconds to wait for a connection before a read or write fails (then: a 503).
CONNECT_TIMEOUT = 3.0
#: Most seconds between a listener's attempts to reconnect (after a restart, it catches up
#: on the writes it missed within this much of the server accepting connections again).
RECONNECT_MAX = 0.25
#: Seconds to wait for a pooled connection before opening a direct one.
POOL_WAIT = 1.0
#: Connections per process (gunicorn worker): its threads share them.
POOL_MAX = 4


_HANDLES: dict[str, PgStateDB] = {}
_HANDLES_LOCK = threading.Lock()


def open_postgres(url: str) -> PgStateDB:
    """The process's one handle on the database at ``url``: every ``StateDB(url)`` shares its
    pool, its listener and the version it knows (and a pool is never left to the garbage
    collector, whose finaliser may run on the pool's own thread)."""
    with _HANDLES_LOCK:
        handle = _HANDLES.get(url)
        if handle is None:
            handle = _HANDLES[url] = PgStateDB(url)
        return handle


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class _Row(tuple):
    """A result row readable by index and by column name, like ``sqlite3.Row``."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    return type("Row", (_Row,), {"_index": {n: i for i, n in enumerate(names)}})


class PgConnection:
    """What ``read()``/``write()`` yield: ``execute``/``executemany`` taking SQLite-flavoured
    queries, returning psycopg cursors (``fetchone``, ``fetchall``, iteration, ``rowcount``)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.raw.cursor(row_factory=_row_factory)
        cur.execute(state_schema.translate(sql), tuple(params))
        return cur

    def executemany(self, sql: str, seq: Any) -> Any:
        cur = self.raw.cursor(row_factory=_row_factory)
        rows = [tuple(p) for p in seq]
        if rows:
            cur.executemany(state_schema.translate(sql), rows)
        return cur


class PgStateDB:
    """The state in one PostgreSQL database; one pool and one listener per process."""

    dialect = state_schema.POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = redact(url)  # what messages name (never the password)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._pool: ConnectionPool | None = None
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._known: int | None = None
        self._synced_at = 0.0
        self.listening = False
        self._initialised = False
        self.poll_interval = POLL_INTERVAL

    # ----------------------------------------------------------- connections
    def _explain(self, exc: Exception) -> StateError:
        if isinstance(exc, PoolTimeout | psycopg.OperationalError):
            why = (f"is unreachable (no connection within {CONNECT_TIMEOUT:g} s: server down, "
                   "restarting or refusing connections); retry later")
            cause = str(exc).strip()
            if cause:
                why += f": {cause.splitlines()[0]}"
        else:
            why = f"failed: {str(exc).strip()}"
        error = StateError(f"state database {self.path} (PostgreSQL) {why}")
        error.retryable = isinstance(exc, PoolTimeout | psycopg.OperationalError)
        return error

    def _get_pool(self) -> ConnectionPool:
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    # After a fork (gunicorn workers) the parent's pool and threads are not
                    # ours: start afresh, never touching the inherited sockets.
                    self._pool = self._listener = None
                    self._stop = threading.Event()
                    self._pid = pid
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self.url, min_size=1, max_size=POOL_MAX, open=True,
                        timeout=CONNECT_TIMEOUT, name=f"alsosee-state-{pid}",
                        kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT)},
                        check=ConnectionPool.check_connection)  # drop ones a restart broke
                pool = self._pool
        return pool

    def _renew_pool(self) -> None:
        """A fresh pool once the server is back: the old one's connections are broken and
        it would retry with a growing delay (the old one is closed on another thread: a
        pool cannot be closed from its own)."""
        with self._lock:
            old, self._pool = self._pool, None
        if old is not None:
            threading.Thread(target=old.close, name="alsosee-state-pool-close",
                             daemon=True).start()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        pool = self._get_pool()
        try:
            conn, pooled = pool.getconn(timeout=POOL_WAIT), True
        except (PoolTimeout, PoolClosed):
            # After an outage the pool retries with a growing delay (1 s, 2 s, 4 s...), or
            # was just replaced (closed) by the listener: one direct connection serves this
            # request as soon as the server accepts again.
            try:
                conn = psycopg.connect(self.url, autocommit=True,
                                       connect_timeout=int(CONNECT_TIMEOUT - POOL_WAIT))
            except psycopg.Error as exc:
                raise self._explain(exc) from exc
            pooled = False
        try:
            yield conn
        except psycopg.Error as exc:
            raise self._explain(exc) from exc
        finally:
            if pooled:
                pool.putconn(conn)
            else:
                conn.close()

    def close(self) -> None:
        with _HANDLES_LOCK:
            if _HANDLES.get(self.url) is self:
                del _HANDLES[self.url]
        self._stop.set()
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None
        if self._listener is not None:
            self._listener.join(timeout=self.poll_interval + CONNECT_TIMEOUT + 1)
            self._listener = None

    # ---------------------------------------------------------------- schema
    def init(self, check: bool = True) -> PgStateDB:
        """Check the schema version (the schema is created only by :meth:`migrate`)."""
        state_schema.check_version(self.schema_version(), self.path)
        self._create_registered()
        self._initialised = True
        return self

    def schema_version(self) -> int:
        with self._connection() as conn:
            if not _has_table(conn, "meta"):
                return 0
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> tuple[int, int]:
        """Apply the missing migrations, each in one transaction; two hosts migrating at once
        are serialised by an advisory lock."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('alsosee_migrate'))")
            before = 0
            if _has_table(conn, "meta"):
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                before = int(row[0]) if row else 0
            if before > state_schema.SCHEMA_VERSION:
                state_schema.check_version(before, self.path)
            for step in state_schema.MIGRATIONS:
                if step.version <= before:
                    continue
                with conn.transaction():
                    for statement in step.statements(self.dialect):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (step.version,))
                logger.info("state database %s: migration %d applied (%s)", self.path,
                            step.version, step.summary)
        self._create_registered()
        return before, state_schema.SCHEMA_VERSION

    def _create_registered(self) -> None:
        extra = state_schema.registered_schemas()
        if not extra:
            return
        with self._connection() as conn, conn.transaction():
            for ddl in extra.values():
                for statement in state_schema.split(ddl):
                    conn.execute(state_schema.translate_ddl(statement, self.dialect))

    # ------------------------------------------------------------ read/write
    @contextlib.contextmanager
    def read(self) -> Iterator[PgConnection]:
        """A connection for queries (one consistent snapshot inside the block)."""
        with self._connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield PgConnection(conn)
            except psycopg.Error as exc:
                raise self._explain(exc) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[PgConnection]:
        """One atomic write: everything in the block commits (and bumps the version, and
        notifies every host) or nothing does."""
        with self._connection() as conn:
            try:
                with conn.transaction():
                    # Serialise writers (read-modify-write of seq numbers relies on it).
                    conn.execute("SELECT value FROM meta WHERE key = 'state_version' FOR UPDATE")
                    yield PgConnection(conn)
                    bumped = conn.execute(
                        "UPDATE meta SET value = value + 1 WHERE key = 'state_version' "
                        "RETURNING value").fetchone()
                    assert bumped is not None  # the schema inserts the state_version row
                    version = int(bumped[0])
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(version)))
            except psycopg.Error as exc:
                raise self._explain(exc) from exc
        self._observe(version)

    def version(self) -> int:
        """The state version as last seen by this process's listener (or by its own write);
        read from the database only until the listener has seen it."""
        if not self._initialised:
            self.init()  # opened while the server was unreachable: check the schema now
        self._ensure_listener()
        known = self._known
        if known is not None:
            return known
        with self._connection() as conn:
            value = _read_version(conn)
        self._observe(value)
        return value

    def staleness(self) -> float:
        """Seconds since this process last confirmed the version with the database."""
        return time.monotonic() - self._synced_at if self._synced_at else float("inf")

    def _observe(self, value: int) -> None:
        with self._lock:
            if self._known is None or value > self._known:
                self._known = value
            self._synced_at = time.monotonic()

    # -------------------------------------------------------------- listener
    def _ensure_listener(self) -> None:
        self._get_pool()  # resets the listener after a fork
        if self._listener is not None and self._listener.is_alive():
            return
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._listener = threading.Thread(target=self._listen, args=(self._stop,),
                                              name="alsosee-state-listener", daemon=True)
            self._listener.start()

    def _listen(self, stop: threading.Event) -> None:
        retry = 0.05  # a restart drops the connection: reconnect at once, then back off
        lost = False
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True,
                                     connect_timeout=int(CONNECT_TIMEOUT)) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if lost:
                        self._renew_pool()
                        lost = False
                    self._observe(_read_version(conn))  # what changed while we were away
                    if not self.listening:
                        logger.info("state database %s: listening (state version %s)",
                                    self.path, self._known)
                    self.listening = True
                    retry = 0.05
                    while not stop.is_set():
                        for note in conn.notifies(timeout=self.poll_interval):
                            with contextlib.suppress(ValueError):
                                self._observe(int(note.payload))
                        self._observe(_read_version(conn))  # the polling fallback
            except Exception as exc:  # noqa: BLE001 - the listener must outlive anything
                if self.listening:
                    logger.warning("state database %s: listener lost its connection (%s); "
                                   "serving the last known state (version %s), retrying "
                                   "at least every %.2f s", self.path, str(exc).strip(),
                                   self._known, min(self.poll_interval, RECONNECT_MAX))
                self.listening = False
                lost = True
                stop.wait(retry)
                retry = min(retry * 2, self.poll_interval, RECONNECT_MAX)
        self.listening = False


def _read_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'state_version'").fetchone()
    return int(row[0]) if row else 0


def _has_table(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name = %s", (table,)).fetchone() is not None
