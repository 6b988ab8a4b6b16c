"""The live state on a real PostgreSQL server, behind the same interface as SQLite:
versioned migrations and the start-up check, one transaction per write bumping the shared
version, the same answers as SQLite for the same writes, and the listener that tells every
process of a change."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from recommender.errors import SchemaVersionError, StateError
from recommender.state import schema as state_schema
from recommender.state.db import StateDB
from recommender.state.editorial import Editorial
from recommender.state.known import read_live
from recommender.state.live import LiveStore, parse_articles
from tests.pgserver import free_port as pgserver_free_port

ROOT = Path(__file__).resolve().parent.parent


def _articles(*ids: str) -> pd.DataFrame:
    return parse_articles([{"id": i, "title": f"Story {i}", "body": "words about it " * 5,
                            "url": f"https://news.example/{i}",
                            "published_at": "2026-01-02T03:04:05Z"} for i in ids], batch=True)


def _exercise(db) -> dict:  # type: ignore[no-untyped-def]
    """The same writes through every feature; what the state reads back."""
    ed = Editorial(db)
    ed.takedown("a1", "legal", by="t")
    ed.takedown("https://News.example/x?utm_source=feed", "court order", by="t")
    ed.pin("p", ["b", "c"], by="t")
    ed.block("p", ["d"], by="t")
    ed.block("p", ["d", "e"], by="t")  # INSERT OR IGNORE of the existing pair
    ed.unblock("p", ["d"], by="t")
    store = LiveStore(db)
    store.apply(_articles("L1", "L2"), ["C9"])
    store.unpublish(["L2"])
    undone = ed.undo_takedown("a1", by="t")
    live = read_live(db)  # json_extract and sqlite_master, translated
    return {
        "version": db.version(),
        "takedowns": [(t.key, t.kind, t.reason) for t in ed.takedowns()],
        "pins": [(p.article_id, p.ids) for p in ed.pins()],
        "blocks": ed.blocks(),
        "history": [(h["seq"], h["action"], h["target"]) for h in ed.history(20)],
        "undone": undone,
        "counts": store.counts(),
        "changes": [(c.id, c.published, c.seq) for c in store.changes(0)],
        "live": (live.row_of, sorted(live.tombstones), live.url_keys),
    }


def test_same_writes_same_state_as_sqlite(pg_url: str, tmp_path: Path) -> None:
    pg = StateDB(pg_url)
    assert pg.dialect == "postgresql"
    pg.migrate()
    sqlite = _exercise(StateDB(tmp_path / "state.db").init())
    postgres = _exercise(pg.init())
    assert postgres == sqlite
    assert postgres["version"] == 9  # one bump per write (9), none for the reads
    assert postgres["takedowns"] == [("https://news.example/x", "url", "court order")]


def test_empty_database_needs_migrate_and_newer_schema_is_refused(pg_url: str) -> None:
    db = StateDB(pg_url)
    with pytest.raises(SchemaVersionError, match=r"schema version 0, this alsosee expects 1.*"
                                                 r"alsosee state migrate"):
        db.init()
    assert db.migrate() == (0, state_schema.SCHEMA_VERSION)
    assert db.migrate() == (1, 1)  # idempotent
    db.init()
    with db.write() as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 99, newer than the 1"):
        StateDB(pg_url).init()
    with pytest.raises(SchemaVersionError, match="newer"):
        StateDB(pg_url).migrate()  # never "downgrades"


def test_cli_migrate_and_status(pg_url: str, tmp_path: Path, trained_model_dir: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "recommender", *args,
                               *(["--model", str(trained_model_dir)] if args[0] != "state"
                                 else [])],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    refused = run("takedown", "gv-316447", "--reason", "r", "--state-db", pg_url)
    assert refused.returncode == 1
    assert "schema version 0, this alsosee expects 1" in refused.stderr
    done = run("state", "migrate", "--state-db", pg_url)
    assert done.returncode == 0, done.stderr
    assert "schema version 0 -> 1" in done.stdout
    assert run("takedown", "gv-316447", "--reason", "r", "--state-db", pg_url).returncode == 0
    status = run("state", "status", "--state-db", pg_url)
    assert '"schema_version": 1' in status.stdout and '"state_version": 1' in status.stdout
    # SQLite too: an existing file at another version is refused with the same message.
    sqlite = tmp_path / "state.db"
    assert run("state", "migrate", "--state-db", str(sqlite)).returncode == 0
    db = StateDB(sqlite).init()
    with db.write() as conn:
        conn.execute("UPDATE meta SET value = 0 WHERE key = 'schema_version'")
    old = run("takedown", "gv-316447", "--reason", "r", "--state-db", str(sqlite))
    assert old.returncode == 1 and "schema version 0, this alsosee expects 1" in old.stderr


def test_server_refuses_to_start_on_another_schema_version(pg_url: str,
                                                           trained_model_dir: Path) -> None:
    """At start-up, before serving anything: one line naming the database (never its
    password), the schema versions, and what to do."""
    import os

    host, tail = pg_url.split("@", 1)
    with_password = f"{host}:s3cret-pw@{tail}"  # trust auth ignores it; messages must not
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALSOSEE_")}
    env["ALSOSEE_STATE_DB"] = with_password

    def start() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "service.server", "--model", str(trained_model_dir),
             "--port", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    shown = pg_url.replace("@", ":***@", 1)  # postgresql://alsosee:***@127.0.0.1:PORT/db
    empty = start()
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines()[-1] == (
        f"alsosee: error: state database {shown} has schema version 0, this alsosee expects "
        "1: run `alsosee state migrate` (with the same ALSOSEE_STATE_DB / --state-db) before "
        "starting servers or commands")
    db = StateDB(pg_url)
    db.migrate()
    with db.init().write() as conn:
        conn.execute("UPDATE meta SET value = 7 WHERE key = 'schema_version'")
    newer = start()
    assert newer.returncode == 1
    assert newer.stderr.strip().splitlines()[-1] == (
        f"alsosee: error: state database {shown} has schema version 7, newer than the 1 this "
        "alsosee expects: it was migrated by a newer alsosee; upgrade this host")
    assert "s3cret-pw" not in empty.stderr + newer.stderr


def test_failed_write_changes_nothing_and_names_the_store(pg_url: str) -> None:
    db = StateDB(pg_url)
    db.migrate()
    ed = Editorial(db.init())
    ed.takedown("keep", "r", by="t")
    with pytest.raises(ValueError), db.write() as conn:
        conn.execute("DELETE FROM takedowns")
        raise ValueError("half-way")
    with pytest.raises(StateError, match=r"\(PostgreSQL\) failed: .*duplicate key"), \
            db.write() as conn:
        conn.execute("INSERT INTO takedowns VALUES ('keep', 'id', 'x', 'y', 'z')")
    assert [t.key for t in Editorial(StateDB(pg_url).init()).takedowns()] == ["keep"]
    assert db.version() == 1


def test_concurrent_writers_are_serialised(pg_url: str) -> None:
    """Live writes number their rows with the next state version: writers in two processes
    (two handles: each its own pool) at once must never produce the same number twice."""
    from recommender.state.pg import PgStateDB

    StateDB(pg_url).migrate()
    stores = [LiveStore(PgStateDB(pg_url).init()) for _ in range(4)]
    errors: list[BaseException] = []

    def publish(store: LiveStore, n: int) -> None:
        try:
            for i in range(10):
                store.publish(_articles(f"w{n}-{i}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [c.seq for c in stores[0].changes(0)]
    assert sorted(seqs) == list(range(1, 41))
    # every process learns of the others' writes (NOTIFY) within the propagation bound
    deadline = time.monotonic() + 1.0
    while stores[0].db.version() != 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert stores[0].db.version() == 40
    for store in stores:
        store.db.close()


def test_listener_sees_another_process_write_within_a_second(pg_url: str) -> None:
    StateDB(pg_url).migrate()
    reader = StateDB(pg_url).init()
    assert StateDB(pg_url) is reader  # one handle (pool, listener) per database and process
    start = reader.version()
    deadline = time.monotonic() + 5
    while not reader.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.listening
    reader.poll_interval = 30.0  # so only NOTIFY can explain a prompt update
    time.sleep(0.1)
    code = ("import sys; from recommender.state.db import StateDB; "
            "from recommender.state.editorial import Editorial; "
            "Editorial(StateDB(sys.argv[1]).init()).takedown('z', 'r', by='t')")
    subprocess.run([sys.executable, "-c", code, pg_url], cwd=ROOT, check=True, timeout=60)
    written = time.monotonic()
    while reader.version() == start and time.monotonic() - written < 5:
        time.sleep(0.001)
    assert reader.version() == start + 1
    assert time.monotonic() - written < 1.0
    assert [t.key for t in Editorial(reader).takedowns()] == ["z"]
    reader.close()


def test_unreachable_or_wrong_database_is_a_clear_error(pg_cluster) -> None:
    missing = StateDB(pg_cluster.url("no_such_database"))
    with pytest.raises(StateError, match=r"\(PostgreSQL\) is unreachable .*"
                                         r"database \"no_such_database\" does not exist"):
        missing.migrate()
    missing.close()
    secret = StateDB(f"postgresql://someone:hunter2@127.0.0.1:{pgserver_free_port()}/x")
    with pytest.raises(StateError, match="refused") as caught:
        secret.init()
    secret.close()
    assert "hunter2" not in str(caught.value) and "someone:***@" in str(caught.value)


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t WHERE a = ? AND b = '?%'", "SELECT * FROM t WHERE a = %s AND b = '?%%'"),
    ("INSERT OR IGNORE INTO blocks (a) VALUES (?)",
     "INSERT INTO blocks (a) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("SELECT json_extract(record, '$.url') FROM live_articles",
     "SELECT (record::jsonb ->> 'url') FROM live_articles"),
])
def test_translation(sql: str, expected: str) -> None:
    assert state_schema.translate(sql) == expected
    assert state_schema.translate(sql, state_schema.SQLITE) == sql


def test_untranslatable_sql_is_refused() -> None:
    with pytest.raises(StateError, match="ON CONFLICT"):
        state_schema.translate("INSERT OR REPLACE INTO t VALUES (?)")
    with pytest.raises(StateError, match="SQLite-only"):
        state_schema.translate("PRAGMA journal_mode")


def test_train_keeps_the_fleet_record_in_postgresql_in_step(pg_url: str, tmp_path: Path) -> None:
    """The fleet's record lives in PostgreSQL: a retrain on any host records its version there
    (servers would otherwise keep the old one); the message never shows the password."""
    from recommender.state import fleet

    env = {**os.environ, "ALSOSEE_STATE_DB": pg_url}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "recommender", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    root = tmp_path / "models"
    assert run("state", "migrate").returncode == 0
    assert run("train", "--out", str(root), "-q").returncode == 0
    db = StateDB(pg_url).init()
    assert fleet.wanted(db) is None  # nothing recorded: a retrain records nothing
    first = (root / "current").read_text().strip()
    assert run("models", "activate", first, "--model", str(root)).returncode == 0
    done = run("train", "--out", str(root))
    assert done.returncode == 0, done.stderr
    second = (root / "current").read_text().strip()
    record = fleet.wanted(db)
    assert record is not None
    assert (record.version, record.previous) == (second, first) and second != first
    assert "recorded as the fleet's model version in postgresql://" in done.stdout
    assert not (root / "state.db").exists()
