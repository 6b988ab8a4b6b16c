"""The versioned schema of the state database, and the one place SQL is adapted per dialect.

The state lives in SQLite (one host, the default) or PostgreSQL (several hosts sharing it).
Feature code writes its queries once, in the SQLite flavour it always used (``?``
placeholders, ``INSERT OR IGNORE``, ``json_extract``, ``sqlite_master``); :func:`translate`
turns them into PostgreSQL, so no query site knows which database it talks to.

:data:`MIGRATIONS` is the one ordered list of schema changes. ``meta.schema_version`` records
the last one applied; ``alsosee state migrate`` applies the missing ones, and opening a
database whose version differs from :data:`SCHEMA_VERSION` is a clear error naming both.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from ..errors import SchemaVersionError, StateError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class Migration:
    """One schema step: ``sql`` (SQLite flavour, translated for PostgreSQL), or per-dialect
    text in ``by_dialect`` where the two differ beyond :func:`translate`."""

    version: int
    summary: str
    sql: str = ""
    by_dialect: dict[str, str] = field(default_factory=dict)

    def statements(self, dialect: str) -> list[str]:
        text = self.by_dialect.get(dialect, self.sql)
        return [translate_ddl(s, dialect) for s in split(text)]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "live state: meta, takedowns, pins, blocks, editorial log, live articles, "
                 "WordPress sync, verified model versions, the fleet's model", """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('state_version', 0);
CREATE TABLE IF NOT EXISTS takedowns (
    key        TEXT PRIMARY KEY,            -- an article id or an http(s) URL
    kind       TEXT NOT NULL CHECK (kind IN ('id', 'url')),
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    article_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    pinned_id  TEXT NOT NULL,
    expires_at TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (article_id, position)
);
CREATE TABLE IF NOT EXISTS blocks (
    article_id TEXT NOT NULL,
    blocked_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (article_id, blocked_id)
);
CREATE TABLE IF NOT EXISTS editorial_log (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    who    TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS live_articles (
    id         TEXT PRIMARY KEY,
    published  INTEGER NOT NULL,      -- 1: live article, 0: unpublished (tombstone)
    record     TEXT,                  -- JSON of the validated fields (NULL if unpublished)
    updated_at TEXT NOT NULL,
    seq        INTEGER NOT NULL       -- the state version this change produced
);
CREATE INDEX IF NOT EXISTS live_articles_seq ON live_articles (seq);
CREATE TABLE IF NOT EXISTS wp_sync (
    site       TEXT PRIMARY KEY,     -- normalised site URL
    cursor     TEXT,                 -- greatest modified_gmt synced (ISO 8601, GMT)
    synced_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS wp_posts (
    site         TEXT NOT NULL,
    post_id      INTEGER NOT NULL,
    article_id   TEXT NOT NULL,
    modified_gmt TEXT NOT NULL,
    PRIMARY KEY (site, post_id)
);
-- the last model version that verified and served, per models root
CREATE TABLE IF NOT EXISTS model_verified (
    root    TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    at      TEXT NOT NULL
);
-- the model version every server of a fleet serves (one row, name = 'active')
CREATE TABLE IF NOT EXISTS fleet_model (
    name        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    previous    TEXT,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
)
"""),
)

#: The schema version this code reads and writes.
SCHEMA_VERSION: int = MIGRATIONS[-1].version

#: Tables declared outside the versioned migrations (extensions, tests): name -> DDL.
_EXTRA: dict[str, str] = {}


def register_schema(name: str, ddl: str) -> None:
    """Declare extra tables (idempotent ``CREATE ... IF NOT EXISTS`` statements, SQLite
    flavour) outside :data:`MIGRATIONS`; opening the database creates them if missing."""
    _EXTRA[name] = ddl


def registered_schemas() -> dict[str, str]:
    return dict(_EXTRA)


def is_postgres_url(target: object) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def check_version(found: int, where: str) -> None:
    """Raise :class:`StateError` unless ``found`` is :data:`SCHEMA_VERSION`."""
    if found == SCHEMA_VERSION:
        return
    if found < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"state database {where} has schema version {found}, this alsosee expects "
            f"{SCHEMA_VERSION}: run `alsosee state migrate` (with the same ALSOSEE_STATE_DB / "
            "--state-db) before starting servers or commands")
    raise SchemaVersionError(
        f"state database {where} has schema version {found}, newer than the {SCHEMA_VERSION} "
        "this alsosee expects: it was migrated by a newer alsosee; upgrade this host")


def split(ddl: str) -> list[str]:
    statements = []
    for chunk in ddl.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements


def table_names(ddl: str) -> list[str]:
    names = []
    for statement in split(ddl):
        words = statement.replace("(", " ").split()
        upper = [w.upper() for w in words]
        if upper[:2] == ["CREATE", "TABLE"]:
            idx = 5 if upper[2:5] == ["IF", "NOT", "EXISTS"] else 2
            names.append(words[idx])
    return names


# ------------------------------------------------------------------- dialects
_QUOTED = re.compile(r"('(?:[^']|'')*')")
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.I)
_INSERT_OR_REPLACE = re.compile(r"^\s*INSERT\s+OR\s+REPLACE\b", re.I)
_JSON_EXTRACT = re.compile(r"json_extract\(\s*(\w+)\s*,\s*'\$\.(\w+)'\s*\)", re.I)
_SQLITE_MASTER = re.compile(
    r"FROM\s+sqlite_master\s+WHERE\s+type\s*=\s*'table'\s+AND\s+name\b", re.I)
_AUTOINCREMENT = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.I)
_INTEGER = re.compile(r"\bINTEGER\b", re.I)


def _outside_quotes(sql: str, fn: object) -> str:
    parts = _QUOTED.split(sql)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))  # type: ignore[operator]


@functools.lru_cache(maxsize=512)
def translate(sql: str, dialect: str = POSTGRESQL) -> str:
    """A query written for SQLite, as ``dialect`` needs it (cached: sites reuse their text)."""
    if dialect == SQLITE:
        return sql
    if sql.lstrip().upper().startswith("PRAGMA"):
        raise StateError(f"SQLite-only statement sent to PostgreSQL: {sql.strip()[:80]}")
    if _INSERT_OR_REPLACE.match(sql):
        # Its PostgreSQL form needs the conflict target: write ON CONFLICT (...) DO UPDATE.
        raise StateError("INSERT OR REPLACE has no PostgreSQL equivalent without a conflict "
                         f"target; use ON CONFLICT (...) DO UPDATE: {sql.strip()[:80]}")
    ignore = bool(_INSERT_OR_IGNORE.match(sql))
    if ignore:
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1)
    sql = _JSON_EXTRACT.sub(r"(\1::jsonb ->> '\2')", sql)
    sql = _SQLITE_MASTER.sub(
        "FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name", sql)
    # psycopg's placeholders are %s, so a literal % is written %%
    sql = _outside_quotes(sql.replace("%", "%%"), lambda p: p.replace("?", "%s"))
    if ignore:
        sql = sql.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return sql


def translate_ddl(statement: str, dialect: str) -> str:
    """A DDL statement for ``dialect`` (64-bit integers and identity columns on PostgreSQL)."""
    if dialect == SQLITE:
        return statement
    statement = _AUTOINCREMENT.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                                   statement)
    statement = _outside_quotes(statement, lambda p: _INTEGER.sub("BIGINT", p))
    return translate(statement, dialect)
