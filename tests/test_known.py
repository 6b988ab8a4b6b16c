"""What a model and the live state know, read without unpickling the model (the CLI's
editorial checks) and through the loaded engine: one matching, the same answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recommender.cli import cli
from recommender.cli.editorial import open_engine
from recommender.errors import ArtifactError, UnknownArticleError, UnusableValueError
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.state.db import StateDB
from recommender.state.known import open_known
from recommender.state.live import LiveStore, parse_articles

KIDNAP_URL = "http://globalvoicesonline.org/2012/05/01/colombia-french-journalist-romeo-" \
             "langlois-kidnapped/"
BOMB_URL = "http://globalvoicesonline.org/2012/05/15/colombia-5-dead-19-injured-after-bomb-" \
           "blast-in-bogota/"


def _live_state(path: Path) -> StateDB:
    """A corpus article replaced live, a live-only article reusing a corpus URL, a new live
    article with a URL of its own, and an unpublished corpus article."""
    db = StateDB(path).init()
    store = LiveStore(db)
    store.publish(parse_articles([
        {"id": "gv-316447", "title": "Colombia: journalist kidnapped (updated)",
         "body": "Roméo Langlois", "url": KIDNAP_URL},
        {"id": "live-copy", "title": "Bomb in Bogota, a copy", "body": "Bogota blast",
         "url": BOMB_URL.replace("http://", "https://www.") + "?utm_source=rss"},
        {"id": "live-new", "title": "Floods in Dhaka", "body": "The river rose.",
         "url": "https://example.org/news/floods-in-dhaka"},
    ]))
    store.unpublish("gv-321626")
    return db


KEYS = ["gv-316447", "gv-321626", "gv-316371", "live-copy", "live-new", "no-such-id",
        KIDNAP_URL, KIDNAP_URL.upper().replace("HTTP://", "https://www."), BOMB_URL,
        BOMB_URL + "?utm_campaign=x#top", "https://example.org/news/floods-in-dhaka/",
        "https://example.org/news/unknown"]


def test_light_reader_and_engine_agree(trained_model_dir: Path, tmp_path: Path) -> None:
    db = _live_state(tmp_path / "state.db")
    known = open_known(trained_model_dir, db)
    engine, _, live = open_engine(trained_model_dir, tmp_path / "state.db")
    uni = engine.row_space(live)
    for key in KEYS:
        assert known.takedown_matches(key) == engine.takedown_matches(key, live), key
        assert known.takedown_rows(key) == uni.known.takedown_rows(key), key
        assert (known.row_of(key) is None) == (uni.row_of(key) is None), key
    # what the live state changes: a replaced id names two rows (corpus and live), a URL
    # shared by a corpus and a live article both, a live-only id one, a tombstone none
    assert [known.takedown_matches(k) for k in ("gv-316447", BOMB_URL, "live-new",
                                                 "https://example.org/news/floods-in-dhaka/",
                                                 "no-such-id")] == [2, 2, 1, 1, 0]
    assert known.row_of("gv-321626") is None and known.takedown_matches("gv-321626") == 1


def test_checks_of_pins_and_blocks(trained_model_dir: Path, tmp_path: Path) -> None:
    from recommender.state.editorial import Editorial
    from recommender.state.known import CheckedEditorial

    db = _live_state(tmp_path / "state.db")
    checked = CheckedEditorial(Editorial(db), open_known(trained_model_dir, db, urls=False))
    assert checked.pin("gv-316447", ["live-new", "gv-316371"]).ids == ("live-new", "gv-316371")
    with pytest.raises(UnusableValueError, match="unknown article id 'gv-321626'"):
        checked.block("gv-316447", ["gv-321626"])  # unpublished
    with pytest.raises(UnknownArticleError):
        checked.pin("no-such-id", ["gv-316447"])
    assert checked.block("live-new", ["gv-316447"]) == ["gv-316447"]
    with pytest.raises(ValueError, match="without their URLs"):
        checked.takedown(BOMB_URL, "legal")  # read for ids only: never a silent "unknown"


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    version = artifact.resolve(model_dir)
    copy = tmp_path / "models" / version.name
    shutil.copytree(version, copy)
    (copy.parent / "current").write_text(version.name + "\n")
    return copy


@pytest.mark.parametrize("name, urls", [("row_of.marisa", False), ("row_of.rows.npy", False),
                                        ("meta.url.utf8.npy", True)])
def test_the_files_read_are_verified(trained_model_dir: Path, tmp_path: Path, name: str,
                                     urls: bool) -> None:
    copy = _copy(trained_model_dir, tmp_path)
    data = bytearray((copy / name).read_bytes())
    data[-1] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    db = StateDB(tmp_path / "state.db").init()
    with pytest.raises(ArtifactError, match=f"{name} does not match its SHA-256"):
        open_known(copy.parent, db, urls=urls)
    key = BOMB_URL if urls else "gv-316447"
    result = CliRunner().invoke(cli, ["takedown", key, "--reason", "x", "--model",
                                      str(copy.parent), "--state-db", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert f"{name} does not match its SHA-256" in result.output


def test_the_manifest_signature_is_checked(sample_model: RelatedStories, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "signed"
    artifact.save(sample_model, root, key="s3cret")
    db = StateDB(tmp_path / "state.db").init()
    monkeypatch.setenv("ALSOSEE_ARTIFACT_KEY", "s3cret")
    assert open_known(root, db).takedown_matches("gv-316447") == 1
    version = artifact.resolve(root)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["articles"] = 1
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="signature does not match"):
        open_known(root, db)
    unsigned = tmp_path / "unsigned"
    monkeypatch.delenv("ALSOSEE_ARTIFACT_KEY")
    artifact.save(sample_model, unsigned)
    monkeypatch.setenv("ALSOSEE_ARTIFACT_KEY", "s3cret")
    with pytest.raises(ArtifactError, match="manifest.sig is missing"):
        open_known(unsigned, db)
