"""Saving and loading model directories: round trip, verification, versions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn

from recommender.errors import ArtifactError
from recommender.model import artifact
from recommender.model.estimator import RelatedStories


@pytest.fixture()
def saved(tmp_path: Path, sample_model: RelatedStories) -> Path:
    artifact.save(sample_model, tmp_path / "models")
    return tmp_path / "models"


def test_round_trip_gives_identical_results(saved: Path, sample_model: RelatedStories) -> None:
    loaded = artifact.load(saved)
    for article_id in sample_model.ids_[:25]:
        assert loaded.model.related(article_id, k=10) == sample_model.related(article_id, k=10)
    assert loaded.model.related_to_text("Elections in Egypt", "protest") == \
        sample_model.related_to_text("Elections in Egypt", "protest")
    # Arrays are memory-mapped read-only by default (workers share the page cache).
    assert isinstance(loaded.model.matrix_.data, np.memmap)


def test_manifest_contents(saved: Path, sample_model: RelatedStories) -> None:
    loaded = artifact.load(saved)
    m = loaded.manifest
    assert m["format_version"] == artifact.FORMAT_VERSION
    assert m["articles"] == sample_model.n_articles_ == 378
    for lib in ("python", "scikit-learn", "numpy", "scipy", "pandas", "joblib", "alsosee"):
        assert m["versions"][lib]
    assert m["parameters"]["title_weight"] == sample_model.title_weight
    version_dir = artifact.resolve(saved)
    for name, digest in m["files"].items():
        assert artifact.sha256_file(version_dir / name) == digest
    assert m["created_at"].endswith("Z")


def test_training_records_corpus_checksum(trained_model_dir: Path) -> None:
    m = artifact.load(trained_model_dir).manifest
    assert m["corpus"][0]["name"] == "globalvoices-2012-05.jsonl"
    assert len(m["corpus"][0]["sha256"]) == 64


def _version_dir(root: Path) -> Path:
    return artifact.resolve(root)


def test_modified_model_file_is_refused(saved: Path) -> None:
    model_file = _version_dir(saved) / artifact.MODEL_FILE
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="SHA-256"):
        artifact.load(saved)


def test_truncated_model_file_is_refused(saved: Path) -> None:
    model_file = _version_dir(saved) / artifact.MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="modified or truncated"):
        artifact.load(saved)


def test_tampered_pickle_with_matching_manifest_edit_needs_key(
    tmp_path: Path, sample_model: RelatedStories
) -> None:
    root = tmp_path / "signed"
    artifact.save(sample_model, root, key="s3cret")
    assert artifact.load(root, key="s3cret").model.n_articles_ == 378
    vdir = _version_dir(root)
    manifest = json.loads((vdir / artifact.MANIFEST_FILE).read_text())
    manifest["articles"] = 1  # an attacker who rewrites the manifest cannot re-sign it
    (vdir / artifact.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="signature"):
        artifact.load(root, key="s3cret")
    with pytest.raises(ArtifactError, match="key"):
        artifact.load(root, key="other")


def test_missing_file_and_foreign_manifest(saved: Path, tmp_path: Path) -> None:
    vdir = _version_dir(saved)
    other = tmp_path / "copy"
    shutil.copytree(vdir, other)
    (other / artifact.MODEL_FILE).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        artifact.load(other)
    (other / artifact.MANIFEST_FILE).write_text('{"format": "something-else"}')
    with pytest.raises(ArtifactError, match="not an alsosee model manifest"):
        artifact.load(other)
    (other / artifact.MANIFEST_FILE).write_text("not json")
    with pytest.raises(ArtifactError, match="JSON"):
        artifact.load(other)


def test_other_sklearn_version_is_an_error_unless_allowed(saved: Path) -> None:
    vdir = _version_dir(saved)
    path = vdir / artifact.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["versions"]["scikit-learn"] = "0.0.1"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="scikit-learn 0.0.1"):
        artifact.load(saved)
    loaded = artifact.load(saved, allow_version_mismatch=True)
    assert any("0.0.1" in w for w in loaded.warnings)


def test_format_version_from_the_future(saved: Path) -> None:
    path = _version_dir(saved) / artifact.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format version 99"):
        artifact.load(saved)


def test_empty_or_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        artifact.load(tmp_path / "nope")
    with pytest.raises(ArtifactError, match="no model"):
        artifact.load(tmp_path)


def test_versions_pointer_and_pruning(tmp_path: Path, sample_model: RelatedStories) -> None:
    root = tmp_path / "models"
    made = [artifact.save(sample_model, root, keep=2, version=f"v{i}").name for i in range(4)]
    assert artifact.list_versions(root) == made[-2:]
    assert artifact.current_version(root) == "v3"
    artifact.set_current(root, "v2")
    assert artifact.load(root).version == "v2"
    with pytest.raises(ArtifactError, match="unknown model version"):
        artifact.set_current(root, "v0")
    assert artifact.current_version(root) == "v2"  # unchanged on error
    # A failed save leaves no partial version behind and keeps the current one.
    (root / "v4").mkdir()
    with pytest.raises(ArtifactError, match="already exists"):
        artifact.save(sample_model, root, version="v4")
    assert artifact.current_version(root) == "v2"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]


def test_unfitted_model_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not been fitted"):
        artifact.save(RelatedStories(), tmp_path)


def test_model_files_naming_the_flat_module_paths_still_load(
        tmp_path: Path, sample_model: RelatedStories, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model files pickled when the estimator lived in ``recommender.model`` and the index in
    ``recommender.index`` (modules, now packages) load and answer the same."""
    from recommender.index import inverted
    from recommender.model import estimator, transform

    # Save as the flat layout did: the pickles name the classes by their old module paths.
    monkeypatch.setattr(transform.tag_analyzer, "__qualname__", "_tag_analyzer")
    for obj, old in ((estimator.RelatedStories, "recommender.model"),
                     (transform.tag_analyzer, "recommender.model"),
                     (inverted.RescoreBounds, "recommender.index")):
        monkeypatch.setattr(obj, "__module__", old)
    version = artifact.save(sample_model, tmp_path / "models")
    monkeypatch.undo()
    pickled = (Path(version) / artifact.MODEL_FILE).read_bytes()
    for old in (b"recommender.model\x94\x8c\x0eRelatedStories", b"recommender.model\x94\x8c\r_tag",
                b"recommender.index\x94\x8c\rRescoreBounds"):
        assert old in pickled
    assert b"recommender.model.estimator" not in pickled

    loaded = artifact.load(tmp_path / "models")
    assert type(loaded.model) is estimator.RelatedStories
    for article_id in sample_model.ids_[:10]:
        assert loaded.model.related(article_id, k=10) == sample_model.related(article_id, k=10)
    assert loaded.model.related_to_text("Elections in Egypt", "protest") == \
        sample_model.related_to_text("Elections in Egypt", "protest")


SAVED = Path(__file__).parent / "data" / "saved-model"


@pytest.mark.parametrize(("expected", "args"), [
    ("rel-ranked.json", ["gv-316839", "--explain"]),
    ("rel-plain.json", ["gv-316447", "--plain"]),
    ("rel-draft.json", ["--title", "Taliban peace talks in Afghanistan", "--body",
                        "Bloggers react to the May Day protests", "--half-life", "none",
                        "--explain"]),
])
def test_a_model_saved_with_the_single_module_estimator_answers_the_same(
        tmp_path: Path, expected: str, args: list[str]) -> None:
    """tests/data/saved-model holds a model (12 sample articles) saved when the estimator and
    its helpers were one module: its pickle names ``recommender.model.estimator.RelatedStories``
    and ``recommender.model.estimator._tag_analyzer``. ``alsosee related`` on it prints the
    JSON it printed then (an article with the default ranking and with --plain, a draft)."""
    manifest = json.loads(next((SAVED / "root").glob("*/manifest.json")).read_text())
    saved_with = manifest["versions"]["scikit-learn"]
    if saved_with != sklearn.__version__:
        pytest.skip(f"the model was saved with scikit-learn {saved_with}, this is "
                    f"{sklearn.__version__}: scikit-learn's pickles are only read by their own "
                    "version")
    pickled = next((SAVED / "root").glob("*/model.joblib")).read_bytes()
    assert b"recommender.model.estimator\x94\x8c\x0eRelatedStories" in pickled
    assert b"recommender.model.estimator\x94\x8c\r_tag_analyzer" in pickled
    shutil.copytree(SAVED / "root", tmp_path / "root")
    done = subprocess.run(
        [sys.executable, "-m", "recommender", "related", *args, "--model",
         str(tmp_path / "root"), "--format", "json", "-k", "5",
         *([] if "--plain" in args else ["--state-db", str(tmp_path / "state.db")])],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((SAVED / expected).read_text())
