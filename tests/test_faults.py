"""Fault injection: a full disk while a model is written, a read-only state database.

Each gives a clear error, keeps the previous model current and serving, and loses no state.
A full disk is simulated with ``RLIMIT_FSIZE`` in a subprocess (works anywhere) and, when this
process may mount file systems (root), with a real 1 MiB tmpfs; the read-only database with a
tmpfs remounted read-only.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recommender.model import artifact
from recommender.state.db import StateDB
from recommender.state.live import LiveStore, parse_articles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, sample_articles) -> Path:
    path = tmp_path_factory.mktemp("faults") / "corpus.jsonl"
    path.write_text("".join(
        json.dumps({"id": r.id, "title": r.title, "body": r.body}) + "\n"
        for r in sample_articles.head(40).itertuples()))
    return path


def _train(corpus: Path, out: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "recommender", "train", str(corpus), "--out", str(out), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit,
    )


def _assert_old_model_intact(root: Path, version: str) -> None:
    assert artifact.current_version(root) == version
    assert artifact.list_versions(root) == [version]
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temp dirs/pointers
    assert artifact.load(root).version == version  # still verifies and loads


def test_full_disk_on_model_write_rlimit(tiny_corpus, tmp_path):
    root = tmp_path / "models"
    first = _train(tiny_corpus, root)
    assert first.returncode == 0, first.stderr
    version = artifact.current_version(root)
    size = (root / version / artifact.MODEL_FILE).stat().st_size
    failed = _train(tiny_corpus, root, fsize=size // 2)
    assert failed.returncode == 1
    message = failed.stderr.strip().splitlines()[-1]
    assert message.startswith("alsosee: error: could not write model version"), failed.stderr
    # EFBIG from write(), or numpy's errno-less short write, explained
    assert "File too large" in message or "file size limit" in message, message
    assert "Traceback" not in failed.stderr
    _assert_old_model_intact(root, version)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_on_model_write_tmpfs(tiny_corpus, tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        root = disk / "models"
        assert _train(tiny_corpus, root).returncode == 0
        version = artifact.current_version(root)
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * max(free - 8192, 0))  # leave 8 KiB: less than a model
        failed = _train(tiny_corpus, root)
        assert failed.returncode == 1
        assert "No space left on device" in failed.stderr
        assert "Traceback" not in failed.stderr
        _assert_old_model_intact(root, version)


@contextlib.contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """``target``: a read-only bind mount of the directory ``source``."""
    target.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(target)],
                          capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bind.stderr.strip()})")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(target)],
                            capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only ({ro.stderr.strip()})")
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_read_only_state_database(tmp_path, trained_model_dir):
    from service import create_app

    data = tmp_path / "data"
    data.mkdir()
    store = LiveStore(StateDB(data / "state.db").init())
    store.publish(parse_articles([{"id": "kept", "title": "Floods in the delta"}]))
    store.unpublish("gone")
    version = store.db.version()
    store.db.close()
    with read_only_view(data, tmp_path / "ro") as ro:
        app = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                          "STATE_DB": str(ro / "state.db"), "API_KEYS": "faults-key-0123456789"})
        client = app.test_client()
        response = client.put("/v1/articles/new", json={"title": "t"},
                              headers={"Authorization": "Bearer faults-key-0123456789"})
        assert response.status_code == 503
        detail = response.get_json(force=True)["detail"]
        assert "read-only" in detail or "cannot be opened" in detail, detail
        ready = client.get("/readyz")
        if app.extensions["alsosee"].db is None:
            # Could not even open it: not ready (never serve without the takedowns), and why.
            assert ready.status_code == 503
            assert "state database" in ready.get_json(force=True)["detail"]
        else:
            assert ready.status_code == 200
            assert client.get("/v1/articles/kept/related").status_code == 200
    again = LiveStore(StateDB(data / "state.db").init())
    assert again.db.version() == version
    assert again.counts() == {"published": 1, "unpublished": 1}  # nothing lost
    assert again.get("new") is None
