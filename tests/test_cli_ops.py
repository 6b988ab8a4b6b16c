"""`alsosee models list|activate|rollback`, `publish`, `unpublish`, `train --include-live`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recommender.cli import cli
from recommender.model import artifact
from recommender.state.db import StateDB
from recommender.state.live import LiveStore


@pytest.fixture(scope="module")
def small_model(sample_articles):
    from recommender.model.estimator import RelatedStories

    return RelatedStories().fit(sample_articles.head(60))


@pytest.fixture
def models(small_model, tmp_path) -> tuple[Path, list[str]]:
    root = tmp_path / "models"
    versions = [artifact.save(small_model, root, version=f"2026010{i}T000000Z-v{i}").name
                for i in range(1, 4)]
    return root, versions


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_models_list(models):
    root, versions = models
    result = run("models", "list", "--model", str(root))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0 if not line.startswith("*") else 1] for line in lines] == versions
    assert lines[-1].startswith("* " + versions[-1])
    data = json.loads(run("models", "list", "--model", str(root), "--format", "json").output)
    assert data["current"] == versions[-1]
    assert [v["version"] for v in data["versions"]] == versions
    assert data["versions"][0]["articles"] == 60


def test_activate_and_rollback(models):
    root, versions = models
    result = run("models", "activate", versions[0], "--model", str(root))
    assert result.exit_code == 0, result.output
    assert artifact.current_version(root) == versions[0]
    assert "POST /v1/admin/reload" in result.output
    result = run("models", "rollback", "--model", str(root))  # nothing older
    assert result.exit_code == 1 and "oldest" in result.output
    run("models", "activate", versions[2], "--model", str(root))
    assert run("models", "rollback", "--model", str(root)).exit_code == 0
    assert artifact.current_version(root) == versions[1]


def test_activate_and_rollback_record_the_fleet_version(models, tmp_path):
    from recommender.state import fleet

    root, versions = models
    state = tmp_path / "shared.db"
    result = run("models", "activate", versions[1], "--model", str(root), "--state-db",
                 str(state))
    assert result.exit_code == 0, result.output
    record = fleet.wanted(StateDB(state).init())
    assert (record.version, record.previous) == (versions[1], versions[2])
    assert artifact.current_version(root) == versions[1]
    # rollback starts from the recorded version, not from a pointer moved behind its back
    artifact.set_current(root, versions[2])
    assert run("models", "rollback", "--model", str(root), "--state-db",
               str(state)).exit_code == 0
    record = fleet.wanted(StateDB(state).init())
    assert (record.version, record.previous) == (versions[0], versions[1])
    assert artifact.current_version(root) == versions[0]
    # a refused activation records nothing
    assert run("models", "activate", "nope", "--model", str(root), "--state-db",
               str(state)).exit_code == 1
    assert fleet.wanted(StateDB(state).init()).version == versions[0]


def test_train_keeps_a_fleet_record_in_step(tmp_path, monkeypatch):
    from recommender.state import fleet

    monkeypatch.delenv("ALSOSEE_STATE_DB", raising=False)
    root = tmp_path / "models"
    assert run("train", "--out", str(root), "-q").exit_code == 0
    assert not (root / "state.db").exists()  # nothing recorded, nothing created
    first = artifact.current_version(root)
    assert run("models", "activate", first, "--model", str(root)).exit_code == 0
    result = run("train", "--out", str(root))
    assert result.exit_code == 0, result.output
    second = artifact.current_version(root)
    record = fleet.wanted(StateDB(root / "state.db").init())
    assert (record.version, record.previous) == (second, first) and second != first
    assert "recorded as the fleet's model version" in result.output


def test_activate_unknown_or_broken_version_leaves_current(models):
    root, versions = models
    result = run("models", "activate", "20990101T000000Z-nope", "--model", str(root))
    assert result.exit_code == 1
    assert "unknown model version '20990101T000000Z-nope'" in result.output
    assert versions[0] in result.output  # lists the known ones
    assert artifact.current_version(root) == versions[-1]
    broken = root / versions[0] / artifact.MODEL_FILE
    broken.write_bytes(broken.read_bytes()[:100])
    result = run("models", "activate", versions[0], "--model", str(root))
    assert result.exit_code == 1 and "SHA-256" in result.output
    assert artifact.current_version(root) == versions[-1]
    result = run("models", "activate", "../etc", "--model", str(root))
    assert result.exit_code == 1
    assert artifact.current_version(root) == versions[-1]


def test_publish_and_unpublish(models, tmp_path):
    root, _ = models
    corpus = tmp_path / "live.jsonl"
    corpus.write_text("\n".join(json.dumps(a) for a in [
        {"id": "l1", "title": "Breaking: floods in the delta", "body": "Rain."},
        {"id": "l2", "title": "Second story", "published_at": "2026-11-28T10:00:00Z"},
    ]) + "\n")
    result = run("publish", str(corpus), "--model", str(root))
    assert result.exit_code == 0, result.output
    store = LiveStore(StateDB(root / "state.db").init())
    assert store.counts() == {"published": 2, "unpublished": 0}
    result = run("unpublish", "l1", "gv-x", "--model", str(root))
    assert result.exit_code == 0 and "2 changed" in result.output
    assert store.counts() == {"published": 1, "unpublished": 2}


def test_publish_bad_file_stores_nothing(models, tmp_path):
    root, _ = models
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(json.dumps({"id": "ok", "title": "fine"}) + "\n"
                      + json.dumps({"id": "bad", "title": "t", "published_at": "nope"}) + "\n")
    result = run("publish", str(corpus), "--model", str(root))
    assert result.exit_code == 1
    assert "line 2" in result.output and "bad_date" in result.output
    assert LiveStore(StateDB(root / "state.db").init()).counts()["published"] == 0
    result = run("publish", str(tmp_path / "missing.jsonl"), "--model", str(root))
    assert result.exit_code == 1


def test_publish_has_the_http_body_limit(models, tmp_path):
    from recommender.state.live import MAX_BODY_CHARS

    root, _ = models
    corpus = tmp_path / "long.jsonl"
    corpus.write_text(json.dumps({"id": "at-limit", "title": "t", "body": "é" * MAX_BODY_CHARS})
                      + "\n" + json.dumps({"id": "over", "title": "t", "body": "é" * 225_000})
                      + "\n", encoding="utf-8")
    result = run("publish", str(corpus), "--model", str(root))
    assert result.exit_code == 1
    assert result.output.startswith(f"alsosee: error: {corpus}: body is too large: 225,000 "
                                    "characters (article 'over')"), result.output
    assert "at most 200,000 characters" in result.output
    assert LiveStore(StateDB(root / "state.db").init()).counts()["published"] == 0
    corpus.write_text(corpus.read_text(encoding="utf-8").splitlines()[0], encoding="utf-8")
    assert run("publish", str(corpus), "--model", str(root)).exit_code == 0


def test_train_include_live(tmp_path, sample_articles):
    corpus = tmp_path / "corpus.jsonl"
    rows = sample_articles.head(40)
    corpus.write_text("\n".join(
        json.dumps({"id": r.id, "title": r.title, "body": r.body}) for r in rows.itertuples()
    ) + "\n")
    root = tmp_path / "models"
    store = LiveStore(StateDB(root / "state.db").init())
    gone, replaced = rows.iloc[0]["id"], rows.iloc[1]["id"]
    store.publish([{"id": "live-new", "title": "Chess final drawn", "body": "Chess."},
                   {"id": replaced, "title": "Rewritten headline", "body": "New text."}])
    store.unpublish(gone)
    result = run("train", str(corpus), "--out", str(root), "--include-live", "-q")
    assert result.exit_code == 0, result.output
    model = artifact.load(root).model
    assert model.has_article("live-new")
    assert not model.has_article(gone)
    assert model.article(replaced)["title"] == "Rewritten headline"
    assert model.n_articles_ == 40  # +1 new, -1 unpublished
    report = json.loads((artifact.resolve(root) / artifact.REPORT_FILE).read_text())
    assert report["live"] == {"added": 1, "replaced": 1, "removed": 1}
