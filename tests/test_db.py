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


def test_new_file_is_created_at_the_current_schema_version(tmp_path: Path) -> None:
    from recommender.state.schema import SCHEMA_VERSION

    db = StateDB(tmp_path / "state.db").init()
    assert db.schema_version() == SCHEMA_VERSION
    assert db.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)  # nothing to do


def test_file_without_schema_version_is_refused_then_migrated_keeping_its_rows(
        tmp_path: Path) -> None:
    """A file whose tables predate the versioned schema (no ``schema_version`` row)."""
    from recommender.errors import SchemaVersionError
    from recommender.state.editorial import Editorial

    path = tmp_path / "state.db"
    Editorial(StateDB(path).init()).takedown("kept", "legal", by="t")
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 0, this alsosee expects 1: "
                                                 r"run `alsosee state migrate`"):
        StateDB(path).init()
    assert StateDB(path).migrate() == (0, 1)
    db = StateDB(path).init()
    assert [t.key for t in Editorial(db).takedowns()] == ["kept"]
    assert db.version() == 1


def test_server_refuses_to_start_on_another_schema_version(tmp_path: Path,
                                                           trained_model_dir: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "state.db"
    StateDB(path).init()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 42 WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALSOSEE_")}
    env["ALSOSEE_STATE_DB"] = str(path)
    result = subprocess.run(
        [sys.executable, "-m", "service.server", "--model", str(trained_model_dir),
         "--port", "0"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"alsosee: error: state database {path} has schema version 42, newer than the 1 this "
        "alsosee expects: it was migrated by a newer alsosee; upgrade this host")
