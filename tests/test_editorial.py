"""Editorial state (takedowns, pins, blocks) in the SQLite state database, and its CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from recommender.cli import cli
from recommender.errors import InvalidParameterError, StateError
from recommender.state.db import StateDB
from recommender.state.editorial import Editorial


def test_changes_survive_a_restart(tmp_path):
    path = tmp_path / "state.db"
    ed = Editorial(StateDB(path).init())
    ed.takedown("a", reason="legal removal", by="lawyer")
    ed.pin("x", ["b", "c"], expires_at="2999-01-01", by="editor")
    ed.block("x", ["d"], by="editor")
    del ed
    reopened = Editorial(StateDB(path).init())  # a new process would see the same
    [item] = reopened.takedowns()
    assert (item.key, item.reason, item.created_by) == ("a", "legal removal", "lawyer")
    assert item.created_at.endswith("Z")
    [pins] = reopened.pins("x")
    assert pins.ids == ("b", "c") and pins.expires_at == "2999-01-01T00:00:00Z"
    assert reopened.blocks() == {"x": ["d"]}
    actions = [row["action"] for row in reopened.history()]
    assert actions == ["block", "pin", "takedown"]


def test_a_change_through_one_handle_is_seen_by_another(tmp_path):
    path = tmp_path / "state.db"
    worker1 = Editorial(StateDB(path).init())
    worker2 = Editorial(StateDB(path).init())
    assert worker2.snapshot().takedown_ids == frozenset()
    worker1.takedown("killed", reason="retracted")
    assert worker2.snapshot().takedown_ids == {"killed"}
    assert worker1.undo_takedown("killed") is True
    assert worker2.snapshot().takedown_ids == frozenset()
    assert worker1.undo_takedown("killed") is False


def test_snapshot_is_cached_until_the_version_moves(tmp_path):
    ed = Editorial(StateDB(tmp_path / "state.db").init())
    first = ed.snapshot()
    assert ed.snapshot() is first
    ed.takedown("a", reason="x")
    assert ed.snapshot() is not first


def test_takedown_by_url_and_update(tmp_path):
    ed = Editorial(StateDB(tmp_path / "state.db").init())
    ed.takedown("https://news.example/a", reason="legal")
    ed.takedown("https://news.example/a", reason="legal, confirmed")
    snap = ed.snapshot()
    assert snap.takedown_urls == {"https://news.example/a"}
    assert snap.takedowns["https://news.example/a"].reason == "legal, confirmed"


@pytest.mark.parametrize(("call", "field"), [
    (lambda ed: ed.takedown("a", reason=" "), "reason"),
    (lambda ed: ed.takedown("", reason="x"), "id"),
    (lambda ed: ed.pin("x", [], by="e"), "ids"),
    (lambda ed: ed.pin("x", ["x"], by="e"), "ids"),
    (lambda ed: ed.pin("x", ["b", "b"], by="e"), "ids"),
    (lambda ed: ed.pin("x", "b", by="e"), "ids"),
    (lambda ed: ed.pin("x", ["b"], expires_at="not a date"), "expires_at"),
    (lambda ed: ed.pin("x", ["b"], expires_at="2000-01-01"), "expires_at"),
])
def test_bad_requests_change_nothing(tmp_path, call, field):
    ed = Editorial(StateDB(tmp_path / "state.db").init())
    ed.pin("x", ["c"])
    version = ed.db.version()
    with pytest.raises(InvalidParameterError) as info:
        call(ed)
    assert info.value.field == field
    assert ed.db.version() == version
    assert ed.pins("x")[0].ids == ("c",)


def test_corrupt_database_is_a_clear_error_and_is_not_touched(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StateError, match="corrupt|not a database"):
        Editorial(StateDB(path).init())
    assert path.read_bytes() == before


def test_locked_database_write_fails_cleanly(tmp_path, monkeypatch):
    import recommender.state.db as dbmod

    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "state.db"
    ed = Editorial(StateDB(path).init())
    ed.takedown("kept", reason="x")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match="locked"):
            ed.takedown("lost", reason="y")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert set(ed.snapshot().takedown_ids) == {"kept"}


# ------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_env(trained_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSOSEE_STATE_DB", str(tmp_path / "cli-state.db"))
    monkeypatch.setenv("ALSOSEE_USER", "night-desk")
    return trained_model_dir


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def related_ids(model_dir, article_id, *extra):
    result = run("related", article_id, "--model", str(model_dir), "--format", "json", "-k", "5",
                 *extra)
    assert result.exit_code == 0, result.output
    return [item["id"] for item in json.loads(result.output)["related"]]


def test_cli_takedown_pin_block_roundtrip(cli_env):
    model_dir = cli_env
    article = "gv-316447"
    before = related_ids(model_dir, article)
    victim = before[0]
    result = run("takedown", victim, "--reason", "legal", "--model", str(model_dir))
    assert result.exit_code == 0 and "taken down" in result.output
    assert victim not in related_ids(model_dir, article)
    listed = run("takedown", "--list", "--format", "json", "--model", str(model_dir))
    [entry] = json.loads(listed.output)
    assert entry["id"] == victim and entry["created_by"] == "night-desk"

    # takedown beats pin
    result = run("pin", article, before[3], victim, "--model", str(model_dir))
    assert result.exit_code == 0, result.output
    after = related_ids(model_dir, article)
    assert after[0] == before[3] and victim not in after

    result = run("block", article, before[1], "--model", str(model_dir))
    assert result.exit_code == 0
    assert before[1] not in related_ids(model_dir, article)

    assert run("takedown", victim, "--undo", "--model", str(model_dir)).exit_code == 0
    assert run("pin", article, "--undo", "--model", str(model_dir)).exit_code == 0
    assert run("block", article, "--undo", "--model", str(model_dir)).exit_code == 0
    assert related_ids(model_dir, article) == before


def test_cli_errors_are_one_line(cli_env):
    model_dir = str(cli_env)
    result = CliRunner().invoke(cli, ["takedown", "no-such-id", "--reason", "x", "--model",
                                      model_dir])
    assert result.exit_code == 1
    assert result.output == "alsosee: error: unknown article id: 'no-such-id'\n"
    result = CliRunner().invoke(cli, ["related", "gv-316447", "--model", model_dir,
                                      "--diversity", "3"])
    assert result.exit_code == 1 and "diversity" in result.output
    result = CliRunner().invoke(cli, ["takedown", "gv-316447", "--model", model_dir])
    assert result.exit_code == 2 and "--reason" in result.output
    forced = CliRunner().invoke(cli, ["takedown", "future-id", "--reason", "x", "--force",
                                      "--model", model_dir])
    assert forced.exit_code == 0
    assert "hides 0 article(s)" in forced.output and "matches no article" in forced.output


def test_cli_takedown_by_a_url_variant(cli_env):
    model_dir = str(cli_env)
    url = "HTTPS://www.GlobalVoicesOnline.org//2012/05/15/colombia-5-dead-19-injured-after-" \
          "bomb-blast-in-bogota?utm_source=rss"
    assert "gv-321626" in related_ids(model_dir, "gv-316447")
    result = run("takedown", url, "--reason", "legal", "--model", model_dir, "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["matches"] == 1 and "warning" not in payload
    assert payload["id"] == ("https://globalvoicesonline.org/2012/05/15/colombia-5-dead-19-"
                             "injured-after-bomb-blast-in-bogota")
    assert "gv-321626" not in related_ids(model_dir, "gv-316447")


def test_cli_takedown_of_known_ids_and_urls_says_what_it_hides(cli_env, tmp_path):
    model_dir = str(cli_env)
    result = run("takedown", "gv-316447", "--reason", "legal", "--model", model_dir)
    assert result.exit_code == 0, result.output
    assert result.output == "taken down gv-316447 (legal): hides 1 article(s)\n"
    variant = "http://www.globalvoicesonline.org/2012/05/15/colombia-5-dead-19-injured-" \
              "after-bomb-blast-in-bogota/#comments"
    result = run("takedown", variant, "--reason", "legal", "--model", model_dir)
    assert result.exit_code == 0, result.output
    assert result.output.endswith("in-bogota (legal): hides 1 article(s)\n")
    # an article published since the model was trained is known too, and a live version
    # of a corpus article is a second article the takedown hides
    article = tmp_path / "live.jsonl"
    article.write_text(json.dumps({"id": "live-1", "title": "Floods in Dhaka"}) + "\n"
                       + json.dumps({"id": "gv-316371", "title": "An update"}) + "\n")
    assert run("publish", str(article), "--model", model_dir).exit_code == 0
    assert "hides 1 article(s)" in run("takedown", "live-1", "--reason", "x", "--model",
                                       model_dir).output
    assert "hides 2 article(s)" in run("takedown", "gv-316371", "--reason", "x", "--model",
                                       model_dir).output
    assert run("pin", "live-1", "gv-321626", "--model", model_dir).exit_code == 0


def test_cli_related_flags(cli_env):
    model_dir = str(cli_env)
    result = run("related", "gv-316447", "--model", model_dir, "--explain", "--debug",
                 "--half-life", "7", "--section", "Latin America", "-k", "3")
    assert result.exit_code == 0, result.output
    assert "why: similarity" in result.output and "dropped" in result.output
    result = run("related", "gv-316447", "--model", model_dir, "--format", "json",
                 "--section", "Latin America", "--explain")
    items = json.loads(result.output)["related"]
    assert items and all(i["section"] == "Latin America" for i in items)
    assert all("explanation" in i for i in items)
    plain = run("related", "gv-316447", "--model", model_dir, "--plain", "--format", "json")
    assert plain.exit_code == 0 and "reason" not in json.loads(plain.output)["related"][0]
