"""Memory-mapped string tables (recommender.string_tables) and the format-2 artifact using them."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import joblib
import marisa_trie
import numpy as np
import pytest

from recommender.errors import ArtifactError
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.string_tables import ListColumn, RowIndex, StringColumn

VALUES = ["plain", None, "", "Zürich – naïve 日本語 🙂", float("nan"), "x" * 300, "lone \ud800"]


def _mapped(col: StringColumn, tmp_path: Path) -> StringColumn:
    col.save(tmp_path, "c")
    return StringColumn.open(tmp_path, "c", mmap=True)


def test_string_column_round_trip(tmp_path: Path) -> None:
    col = StringColumn.from_values(VALUES)
    expected = [None if v is None or isinstance(v, float) else v for v in VALUES]
    for c in (col, _mapped(col, tmp_path), pickle.loads(pickle.dumps(col))):
        assert len(c) == len(VALUES)
        assert list(c) == expected == c.tolist()
        assert [c[i] for i in range(len(c))] == expected
        assert c[-1] == expected[-1]
        assert c[[3, 0]].tolist() == [expected[3], expected[0]]
        assert c[1:3].tolist() == expected[1:3]
        mask = np.array([v is not None for v in expected])
        assert c[mask].tolist() == [v for v in expected if v is not None]
        assert np.asarray(c).dtype == object and np.asarray(c).tolist() == expected
        with pytest.raises(IndexError):
            c[len(VALUES)]
    mapped = _mapped(col, tmp_path)
    assert isinstance(mapped._arrays[0], np.memmap) and isinstance(mapped._arrays[1], np.memmap)


def test_string_column_without_missing_values_has_no_mask(tmp_path: Path) -> None:
    col = StringColumn.from_values(["a", "b"])
    assert col.save(tmp_path, "ids") == ["ids.utf8.npy", "ids.offsets.npy"]
    empty = StringColumn.from_values([])
    empty.save(tmp_path, "e")
    assert len(StringColumn.open(tmp_path, "e")) == 0


def test_list_column_round_trip(tmp_path: Path) -> None:
    values = [["a", "b"], [], None, ("Human Rights",), np.array(["x"], dtype=object)]
    col = ListColumn.from_values(values)
    col.save(tmp_path, "tags")
    for c in (col, ListColumn.open(tmp_path, "tags"), pickle.loads(pickle.dumps(col))):
        assert c.tolist() == [["a", "b"], [], [], ["Human Rights"], ["x"]]
        assert c[0] == ["a", "b"] and c[-1] == ["x"]
        picked = c[np.array([3, 0])]
        assert picked.dtype == object and picked.tolist() == [["Human Rights"], ["a", "b"]]
        arr = np.asarray(c, dtype=object)
        assert arr.shape == (5,) and arr[1] == []


def test_row_index_is_a_mapping(tmp_path: Path) -> None:
    ids = ["b", "a", "", "日本", "id with space"]
    index = RowIndex.build(ids)
    index.save(tmp_path, "row_of")
    for ix in (index, RowIndex.open(tmp_path, "row_of"), pickle.loads(pickle.dumps(index))):
        assert [ix[i] for i in ids] == list(range(len(ids)))
        assert len(ix) == 5 and set(ix) == set(ids)
        assert ix.get("missing") is None and ix.get("missing", -1) == -1
        assert "a" in ix and "missing" not in ix and 3 not in ix and None not in ix
        assert ix.get(3) is None
        with pytest.raises(KeyError):
            ix["missing"]
        with pytest.raises(KeyError):
            ix[b"a"]
    with pytest.raises(ValueError, match="unique"):
        RowIndex.build(["a", "a"])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, sample_model: RelatedStories) -> Path:
    root = tmp_path_factory.mktemp("tables-models")
    return artifact.save(sample_model, root)


def test_loaded_model_maps_its_tables(saved: Path, sample_model: RelatedStories) -> None:
    manifest = json.loads((saved / artifact.MANIFEST_FILE).read_text())
    assert manifest["format_version"] == artifact.FORMAT_VERSION
    assert {"ids.utf8.npy", "row_of.marisa", "vocab.text.marisa",
            "meta.title.utf8.npy", "meta.tags.rows.npy"} <= set(manifest["files"])
    m = artifact.load(saved).model
    # Nothing string-like is a private Python object any more: tables are memory-mapped.
    assert isinstance(m.ids_._arrays[0], np.memmap)
    assert isinstance(m.meta_["title"]._arrays[0], np.memmap)
    assert isinstance(m.meta_["published_at"], np.memmap)
    for vec in m.vectorizers_.values():
        assert isinstance(vec.vocabulary_, marisa_trie.Trie)
    assert m.ids_.tolist() == sample_model.ids_.tolist()
    assert all(m.row_of_[i] == r for r, i in enumerate(sample_model.ids_))
    for name in ("title", "url", "section", "status", "tags", "language", "story_id"):
        assert m.meta_[name].tolist() == sample_model.meta_[name].tolist(), name
    first = sample_model.ids_[0]
    assert m.related(first, k=5) == sample_model.related(first, k=5)
    draft = sample_model.meta_["title"][7]
    assert m.related_to_text(draft, k=5) == sample_model.related_to_text(draft, k=5)
    assert (m.vectorize_draft(draft, "rights") != sample_model.vectorize_draft(
        draft, "rights")).nnz == 0
    # The pickle itself no longer carries the strings.
    state = joblib.load(saved / artifact.MODEL_FILE, mmap_mode="r").__dict__
    assert "ids_" not in state and "row_of_" not in state and "title" not in state["meta_"]


def test_tampered_or_unlisted_table_is_refused(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "v"
    shutil.copytree(saved, bad)
    with open(bad / "vocab.text.marisa", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ArtifactError, match="vocab.text.marisa does not match its SHA-256"):
        artifact.load(bad)
    other = tmp_path / "w"
    shutil.copytree(saved, other)
    manifest = json.loads((other / artifact.MANIFEST_FILE).read_text())
    del manifest["files"]["row_of.rows.npy"]
    (other / artifact.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not list .*row_of.rows.npy"):
        artifact.load(other)


@pytest.mark.parametrize("old_format", [1, 2])
def test_older_formats_are_refused_with_retrain_needed(saved: Path, tmp_path: Path,
                                                       old_format: int) -> None:
    """Models of older formats had separately normalised field blocks: this version would
    score them wrongly, so loading names the problem and the remedy instead."""
    old = tmp_path / saved.name
    shutil.copytree(saved, old)
    manifest = json.loads((old / artifact.MANIFEST_FILE).read_text())
    manifest["format_version"] = old_format
    (old / artifact.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=rf"format version {old_format} .*retrain"):
        artifact.load(old)


def test_arrow_and_python_paths_build_the_same_columns() -> None:
    """Plain strings take pyarrow's C conversion; anything else the Python loop (numbers
    become their str, lone surrogates survive): both give the same column."""
    from recommender import string_tables as tables

    plain = ["a", None, "", "ünï", float("nan"), "x" * 70]
    fast = tables._from_arrow(plain)
    assert fast is not None and fast.tolist() == ["a", None, "", "ünï", None, "x" * 70]
    mixed = [*plain, 7]
    assert tables._from_arrow(mixed) is None
    assert StringColumn.from_values(mixed).tolist() == [*fast.tolist(), "7"]
    lists = [["a"], None, [], ("b", "c"), np.array(["d"], dtype=object), float("nan")]
    fast_lists = tables._lists_from_arrow(lists)
    assert fast_lists is not None
    assert fast_lists.tolist() == [["a"], [], [], ["b", "c"], ["d"], []]
    odd = [*lists, "bare string", [1]]
    assert tables._lists_from_arrow(odd) is None
    assert ListColumn.from_values(odd).tolist() == [*fast_lists.tolist(), [], ["1"]]
