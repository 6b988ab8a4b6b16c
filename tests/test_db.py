"""The SQLite state database: WAL, versions, atomic writes, clear errors."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from recommender.errors import StateError
from recommender.state.db import StateDB, register_schema

register_schema("test_notes", "CREATE TABLE IF NOT EXISTS test_notes (id TEXT PRIMARY KEY)")


def test_init_creates_wal_database_and_version_counter(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "sub" / "state.db").init()
    assert db.version() == 0
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with db.write() as conn:
        conn.execute("INSERT INTO test_notes VALUES ('a')")
    assert db.version() == 1
    # A second handle (another worker) sees the same file and version.
    other = StateDB(tmp_path / "sub" / "state.db").init()
    assert other.version() == 1


def test_failed_write_changes_nothing(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db").init()
    with db.write() as conn:
        conn.execute("INSERT INTO test_notes VALUES ('keep')")
    with pytest.raises(ValueError), db.write() as conn:
        conn.execute("INSERT INTO test_notes VALUES ('lost')")
        raise ValueError("validation failed half-way")
    with pytest.raises(StateError), db.write() as conn:
        conn.execute("INSERT INTO test_notes VALUES ('keep')")  # primary key clash
    with db.read() as conn:
        rows = [r[0] for r in conn.execute("SELECT id FROM test_notes")]
    assert rows == ["keep"]
    assert db.version() == 1


def _hold_lock(path: str, ready, release) -> None:  # type: ignore[no-untyped-def]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    ready.set()
    release.wait(30)
    conn.execute("ROLLBACK")


def test_locked_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    StateDB(path).init()
    monkeypatch.setattr("recommender.state.db.BUSY_TIMEOUT_MS", 200)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(path), ready, release))
    proc.start()
    try:
        assert ready.wait(30)
        db = StateDB(path)
        with pytest.raises(StateError, match="locked"), db.write() as conn:
            conn.execute("INSERT INTO test_notes VALUES ('x')")
    finally:
        release.set()
        proc.join(30)


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database at all" * 100)
    before = path.read_bytes()
    with pytest.raises(StateError, match="corrupt"):
        StateDB(path).init()
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateDB(path).init()
    path.chmod(0o444)
    with pytest.raises(StateError, match="read-only"), StateDB(path).write() as conn:
        conn.execute("INSERT INTO test_notes VALUES ('x')")


def test_read_only_connection_refuses_writes(tmp_path: Path) -> None:
    # Root ignores permission bits; a read-only open (mode=ro) exercises the same error path.
    path = tmp_path / "state.db"
    StateDB(path).init()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as err:
        conn.execute("INSERT INTO test_notes VALUES ('x')")
    from recommender.state.db import _explain

    assert "read-only" in str(_explain(err.value, path))
