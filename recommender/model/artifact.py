"""Save and load model directories, verified before anything is unpickled.

Layout of a models root (``models/`` by default)::

    models/
      current                      one line: the active version name (replaced atomically)
      20261128T023000Z-1a2b3c/     one directory per trained version
        model.joblib               the fitted RelatedStories without its string tables
                                   (a pickle: trusted input only; arrays memory-mapped)
        ids.*, row_of.*, meta.*,   string tables and tries (format 2): article ids, id -> row,
        vocab.<field>.marisa       titles/URLs/sections/tags, vocabularies; raw .npy arrays
                                   and MARISA tries, memory-mapped and shared by the workers
        manifest.json              format, versions, corpus, parameters, SHA-256 of every file
        training_report.json       rows read/kept/skipped, timings
        manifest.sig               optional HMAC-SHA256 of manifest.json (ALSOSEE_ARTIFACT_KEY)

joblib files are pickles, and unpickling runs code. ``load`` therefore checks the manifest,
the SHA-256 of every file and (when a key is configured) the manifest's HMAC **before**
calling ``joblib.load`` or opening any table, and it unpickles and maps the very files it
checked (each opened once; see :class:`_OpenedVersion`); a model from another scikit-learn
version is refused unless explicitly allowed. :func:`open_verified` makes the same checks of
the manifest and of only the files a reader needs (the CLI's editorial checks read the id and
URL tables this way, unpickling nothing). Format 1 directories (everything in one pickle) still
load; their strings then live in each worker's private memory. A load either returns a
complete, verified model or raises :class:`ArtifactError`: it never half-succeeds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import platform
import secrets
import shutil
import stat
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactError

if TYPE_CHECKING:
    from .estimator import RelatedStories

# joblib, scikit-learn (recommender.model.estimator) and the tables (numpy) are imported by the
# functions that save, unpickle or map: verifying a few files (:func:`open_verified`, the
# CLI's editorial checks) needs none of them.

logger = logging.getLogger(__name__)

#: The models root every command and the service use when none is given, and the variable
#: that names another one (read by the CLI, the service's settings and the state database).
ENV_MODEL_DIR = "ALSOSEE_MODEL_DIR"
DEFAULT_MODEL_DIR = "models"

FORMAT = "alsosee-model"
FORMAT_VERSION = 3
#: Formats this version reads (3: one similarity space for headline, body and tags, pickle +
#: shared string tables). Older models were built with separately normalised field blocks:
#: this code would score them wrongly, so they are refused with "retrain needed".
READABLE_FORMATS = (3,)
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
REPORT_FILE = "training_report.json"
POINTER_FILE = "current"
DEFAULT_KEEP = 5


@dataclass
class LoadedModel:
    """A verified model and what its manifest says about it."""

    model: RelatedStories
    manifest: dict[str, Any]
    path: Path
    version: str
    load_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def trained_at(self) -> str:
        return self.manifest.get("created_at", "")


def library_versions() -> dict[str, str]:
    """Versions recorded in (and checked against) every manifest."""
    import joblib
    import numpy
    import pandas
    import scipy
    import sklearn

    from .. import __version__

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "joblib": joblib.__version__,
        "alsosee": __version__,
    }


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_bytes_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _artifact_key(key: bytes | str | None) -> bytes | None:
    if key is None:
        key = os.environ.get("ALSOSEE_ARTIFACT_KEY") or None
    if key is None:
        return None
    return key.encode() if isinstance(key, str) else key


def new_version_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}"


def save(
    model: RelatedStories,
    root: str | Path,
    *,
    corpus_files: Iterable[str | Path] = (),
    report: dict[str, Any] | None = None,
    activate: bool = True,
    keep: int = DEFAULT_KEEP,
    key: bytes | str | None = None,
    version: str | None = None,
) -> Path:
    """Write ``model`` as a new version directory under ``root`` and (by default) activate it.

    The version is written into a temporary directory, fsynced, then renamed into place, and
    only then is the ``current`` pointer replaced (write, fsync, rename): a crash or a full
    disk at any point leaves the previous model active and intact.

    Parameters
    ----------
    model : RelatedStories
        A fitted model.
    root : path
        Models root directory (created if needed).
    corpus_files : iterable of path
        Files the model was trained on (names and SHA-256 go into the manifest).
    report : dict, optional
        Training report (rows read/kept/skipped, timings) saved beside the model.
    activate : bool, default=True
        Point ``current`` at the new version.
    keep : int, default=5
        Number of versions to keep; older ones (never the active one) are deleted.
    key : bytes or str, optional
        HMAC key to sign the manifest; defaults to ``ALSOSEE_ARTIFACT_KEY`` when set.

    Returns
    -------
    Path
        The new version directory.
    """
    import joblib

    from ..string_tables import without_tables, write_model_tables

    if not hasattr(model, "matrix_"):
        raise ArtifactError("refusing to save a model that has not been fitted")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    version = version or new_version_name()
    final = root / version
    if final.exists():
        raise ArtifactError(f"model version {version} already exists in {root}")
    tmp = root / f".tmp-{version}"
    try:
        tmp.mkdir()
        # Strings as memory-mappable tables (shared by the serving workers), the rest pickled.
        tables, table_files = write_model_tables(model, tmp)
        joblib.dump(without_tables(model, tables), tmp / MODEL_FILE)
        files = {MODEL_FILE: sha256_file(tmp / MODEL_FILE)}
        for name in table_files:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
            files[name] = sha256_file(tmp / name)
        if report is not None:
            _write_bytes_durably(
                tmp / REPORT_FILE, json.dumps(report, indent=2, default=str).encode()
            )
            files[REPORT_FILE] = sha256_file(tmp / REPORT_FILE)
        with open(tmp / MODEL_FILE, "rb") as fh:
            os.fsync(fh.fileno())
        corpus = []
        for f in corpus_files:
            p = Path(f)
            corpus.append({"name": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size})
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace(
                "+00:00", "Z"
            ),
            "articles": int(model.n_articles_),
            "published_articles": int(model.published_.sum()),
            "features": int(model.matrix_.shape[1]),
            "nonzeros": int(model.matrix_.nnz),
            "parameters": {k: _jsonable(v) for k, v in model.get_params().items()},
            "versions": library_versions(),
            "corpus": corpus,
            "files": files,
            "tables": tables,
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        _write_bytes_durably(tmp / MANIFEST_FILE, manifest_bytes)
        hkey = _artifact_key(key)
        if hkey is not None:
            sig = hmac.new(hkey, manifest_bytes, hashlib.sha256).hexdigest()
            _write_bytes_durably(tmp / SIGNATURE_FILE, sig.encode())
        _fsync_dir(tmp)
        os.replace(tmp, final)
        _fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = str(exc)
        if exc.errno is None:  # numpy's short write ("N requested and M written") has no errno
            why += " (a short write: the disk is full or a file size limit was reached)"
        raise ArtifactError(f"could not write model version to {final}: {why}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved model version %s to %s", version, final)
    if activate:
        set_current(root, version)
        prune(root, keep=keep)
    return final


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):  # e.g. the boilerplate patterns
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


# ---------------------------------------------------------------- versions
def list_versions(root: str | Path) -> list[str]:
    """Version directories under ``root``, oldest first (names sort by creation time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).exists()
    )


def current_version(root: str | Path) -> str | None:
    """The version named by ``root/current``, or None when there is none."""
    pointer = Path(root) / POINTER_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArtifactError(f"cannot read model pointer {pointer}: {exc}") from exc
    return name or None


def set_current(root: str | Path, version: str) -> None:
    """Atomically point ``root/current`` at ``version`` (write, fsync, rename)."""
    root = Path(root)
    if not (root / version / MANIFEST_FILE).is_file() or "/" in version or version.startswith("."):
        known = ", ".join(list_versions(root)) or "none"
        raise ArtifactError(f"unknown model version {version!r} in {root} (known: {known})")
    tmp = root / f".{POINTER_FILE}.{os.getpid()}.tmp"
    try:
        _write_bytes_durably(tmp, (version + "\n").encode())
        os.replace(tmp, root / POINTER_FILE)
        _fsync_dir(root)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ArtifactError(f"could not update {root / POINTER_FILE}: {exc}") from exc
    logger.info("current model version is now %s", version)


def prune(root: str | Path, keep: int = DEFAULT_KEEP) -> list[str]:
    """Delete all but the newest ``keep`` versions; the active one is always kept."""
    versions = list_versions(root)
    active = current_version(root)
    doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != active]
    for v in doomed:
        shutil.rmtree(Path(root) / v, ignore_errors=True)
        logger.info("removed old model version %s", v)
    return doomed


def resolve(path: str | Path) -> Path:
    """The version directory a path designates: a version dir, or a root with ``current``."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        return path
    version = current_version(path)
    if version is None:
        if not path.exists():
            raise ArtifactError(f"model directory {path} does not exist (run `alsosee train`)")
        raise ArtifactError(f"no model in {path}: no {POINTER_FILE} pointer (run `alsosee train`)")
    target = path / version
    if not (target / MANIFEST_FILE).is_file():
        raise ArtifactError(
            f"{path / POINTER_FILE} names version {version!r}, which has no manifest"
        )
    return target


# -------------------------------------------------------------------- load
def read_manifest(version_dir: str | Path) -> dict[str, Any]:
    path = Path(version_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable JSON manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not an alsosee model manifest")
    return manifest


class _OpenedVersion:
    """The files of one version directory, each opened once and verified through that open
    file descriptor; :attr:`view` is a private directory whose entries lead to exactly
    those descriptors (``/proc/self/fd/N``), so what is unpickled or memory-mapped is the
    file that was hashed, even if a path in the version directory is replaced meanwhile."""

    def __init__(self, version_dir: Path) -> None:
        self.version_dir = version_dir
        self.fds: dict[str, int] = {}
        self.view: Path | None = None
        try:
            self.dir_fd = os.open(version_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise ArtifactError(f"cannot open model directory {version_dir}: {exc}") from exc

    def open(self, name: str) -> int:
        if "/" in name or name.startswith(".") or not name:
            raise ArtifactError(f"{self.version_dir}: manifest names an unsafe path {name!r}")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.dir_fd)
        except FileNotFoundError:
            raise ArtifactError(f"{self.version_dir}: {name} is missing") from None
        except OSError as exc:
            raise ArtifactError(f"{self.version_dir}: cannot open {name}: {exc}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArtifactError(f"{self.version_dir}: {name} is not a regular file")
        self.fds[name] = fd
        return fd

    def read(self, name: str) -> bytes:
        with open(self.open(name), "rb", closefd=False) as fh:
            return fh.read()

    def sha256(self, name: str) -> str:
        with open(self.open(name), "rb", closefd=False) as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    def make_view(self) -> Path:
        """A private directory of links to the verified descriptors (Linux ``/proc``)."""
        proc = Path("/proc/self/fd")
        if not proc.is_dir():
            raise ArtifactError("loading a model needs /proc/self/fd (Linux) to open the "
                                "verified files by descriptor")
        self.view = Path(tempfile.mkdtemp(prefix="alsosee-verified-"))
        for name, fd in self.fds.items():
            os.symlink(proc / str(fd), self.view / name)
        return self.view

    def close(self) -> None:
        # Memory maps keep their own references: closing the descriptors frees nothing
        # that is still in use.
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        with contextlib.suppress(OSError):
            os.close(self.dir_fd)
        if self.view is not None:
            shutil.rmtree(self.view, ignore_errors=True)
            self.view = None


def _parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ArtifactError(f"{path} is not a readable JSON manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not an alsosee model manifest")
    return manifest


def _verify_manifest(opened: _OpenedVersion, *, key: bytes | str | None) -> dict[str, Any]:
    """Read the manifest once through *opened*, check its format, its HMAC (when a key is
    configured) and that every file it lists has a safe name; return it parsed from that read."""
    version_dir = opened.version_dir
    manifest_bytes = opened.read(MANIFEST_FILE)
    manifest = _parse_manifest(version_dir / MANIFEST_FILE, manifest_bytes)
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise ArtifactError(
            f"{version_dir}: model format version {manifest.get('format_version')!r} is not "
            f"supported (this alsosee reads versions "
            f"{', '.join(map(str, READABLE_FORMATS))}); retrain the model"
        )
    hkey = _artifact_key(key)
    if hkey is not None:
        try:
            signature = opened.read(SIGNATURE_FILE).decode("ascii", "replace").strip()
        except ArtifactError:
            raise ArtifactError(f"{version_dir}: {SIGNATURE_FILE} is missing and a key is set") \
                from None
        expected = hmac.new(hkey, manifest_bytes, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ArtifactError(f"{version_dir}: manifest signature does not match the key")
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ArtifactError(f"{version_dir}: manifest lists no {MODEL_FILE}")
    for name in files:
        if not isinstance(name, str) or name in (MANIFEST_FILE, SIGNATURE_FILE):
            raise ArtifactError(f"{version_dir}: manifest names an unsafe path {name!r}")
    return manifest


def _verify_files(opened: _OpenedVersion, manifest: dict[str, Any],
                  names: Iterable[str]) -> None:
    """The SHA-256 of each of *names* (files the manifest lists), through *opened*."""
    version_dir = opened.version_dir
    files = manifest["files"]
    for name in names:
        if name not in files:
            raise ArtifactError(f"{version_dir}: the manifest does not list {name}")
        actual = opened.sha256(name)
        if not hmac.compare_digest(actual, str(files[name])):
            raise ArtifactError(
                f"{version_dir}: {name} does not match its SHA-256 in the manifest "
                "(modified or truncated); refusing to load it"
            )


def _verify_opened(opened: _OpenedVersion, *, key: bytes | str | None,
                   allow_version_mismatch: bool) -> tuple[dict[str, Any], list[str]]:
    """Check a version directory through *opened* (each byte checked is a byte that will be
    loaded: the manifest is read once, then signed-checked and parsed from that read)."""
    version_dir = opened.version_dir
    manifest = _verify_manifest(opened, key=key)
    _verify_files(opened, manifest, manifest["files"])
    notes: list[str] = []
    trained = manifest.get("versions", {})
    here = library_versions()
    if trained.get("scikit-learn") != here["scikit-learn"]:
        msg = (
            f"{version_dir}: trained with scikit-learn {trained.get('scikit-learn')}, "
            f"running {here['scikit-learn']}"
        )
        if not allow_version_mismatch:
            raise ArtifactError(
                msg + "; retrain, or allow it (ALSOSEE_ALLOW_VERSION_MISMATCH=1)"
            )
        notes.append(msg)
        logger.warning(msg)
    return manifest, notes


def verify(version_dir: str | Path, *, key: bytes | str | None = None,
           allow_version_mismatch: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Check a version directory without unpickling anything.

    Returns the manifest and a list of warnings; raises :class:`ArtifactError` when the
    format is foreign, a file is missing, truncated or modified, the signature is wrong, or
    the scikit-learn version differs (unless ``allow_version_mismatch``).
    """
    opened = _OpenedVersion(Path(version_dir))
    try:
        return _verify_opened(opened, key=key, allow_version_mismatch=allow_version_mismatch)
    finally:
        opened.close()


@dataclass(frozen=True)
class VerifiedFiles:
    """Files of one version directory, verified (see :func:`open_verified`)."""

    path: Path
    manifest: dict[str, Any]
    #: A private directory whose entries are the verified files (and only those).
    view: Path


@contextlib.contextmanager
def open_verified(path: str | Path, pick: Callable[[dict[str, Any]], Iterable[str]], *,
                  key: bytes | str | None = None) -> Iterator[VerifiedFiles]:
    """Verify some files of a model without unpickling it, for readers of a few tables.

    The manifest is checked as :func:`load` checks it (format, HMAC when a key is set),
    then the SHA-256 of the files ``pick(manifest)`` names (each must be listed), and the
    files are yielded through the very descriptors that were hashed. Nothing is unpickled,
    so scikit-learn is neither imported nor its version compared. Memory maps opened in the
    block stay valid after it.
    """
    version_dir = resolve(path)
    opened = _OpenedVersion(version_dir)
    try:
        manifest = _verify_manifest(opened, key=key)
        _verify_files(opened, manifest, list(pick(manifest)))
        yield VerifiedFiles(version_dir, manifest, opened.make_view())
    finally:
        opened.close()


def load(
    path: str | Path,
    *,
    mmap: bool = True,
    key: bytes | str | None = None,
    allow_version_mismatch: bool | None = None,
) -> LoadedModel:
    """Verify, then load a model directory (a models root with ``current``, or a version).

    Every file is opened once; its SHA-256 is computed through that descriptor, and the
    pickle and the tables are then read and memory-mapped through the same descriptors, so
    a file replaced in the directory between the check and the load is never used.

    Parameters
    ----------
    path : path
        Models root or version directory.
    mmap : bool, default=True
        Memory-map the arrays read-only (several worker processes then share one copy in
        the page cache).
    key : bytes or str, optional
        HMAC key; defaults to ``ALSOSEE_ARTIFACT_KEY``. When set, unsigned models are refused.
    allow_version_mismatch : bool, optional
        Load a model trained with another scikit-learn version (with a warning). Defaults
        to the ``ALSOSEE_ALLOW_VERSION_MISMATCH`` environment variable.
    """
    start = time.perf_counter()
    if allow_version_mismatch is None:
        allow_version_mismatch = os.environ.get("ALSOSEE_ALLOW_VERSION_MISMATCH", "") in {
            "1", "true", "yes",
        }
    version_dir = resolve(path)
    opened = _OpenedVersion(version_dir)
    try:
        manifest, notes = _verify_opened(opened, key=key,
                                         allow_version_mismatch=allow_version_mismatch)
        view = opened.make_view()
        model, caught = _unpickle(view, version_dir, manifest, mmap=mmap)
    finally:
        opened.close()
    from .estimator import RelatedStories

    for w in caught:
        notes.append(str(w.message))
        logger.warning("while loading %s: %s", version_dir, w.message)
        if "InconsistentVersionWarning" in type(w.message).__name__ and not allow_version_mismatch:
            raise ArtifactError(f"{version_dir}: {w.message}")
    if not isinstance(model, RelatedStories) or not hasattr(model, "matrix_"):
        raise ArtifactError(f"{version_dir / MODEL_FILE} does not hold a fitted RelatedStories")
    if model.n_articles_ != manifest.get("articles"):
        raise ArtifactError(
            f"{version_dir}: model has {model.n_articles_} articles, manifest says "
            f"{manifest.get('articles')}"
        )
    elapsed = time.perf_counter() - start
    logger.info("loaded model %s (%d articles) in %.3f s", version_dir.name,
                model.n_articles_, elapsed)
    return LoadedModel(model=model, manifest=manifest, path=version_dir,
                       version=manifest["version"], load_seconds=elapsed, warnings=notes)


def _unpickle(view: Path, version_dir: Path, manifest: dict[str, Any], *,
              mmap: bool) -> tuple[object, list[warnings.WarningMessage]]:
    """The object unpickled (a model's tables opened) from the verified files of *view*, and
    the warnings unpickling raised."""
    import joblib

    from ..string_tables import attach_model_tables
    from .estimator import RelatedStories

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = joblib.load(view / MODEL_FILE, mmap_mode="r" if mmap else None)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not loadable"
        raise ArtifactError(f"{version_dir / MODEL_FILE} could not be loaded: {exc}") from exc
    tables = manifest.get("tables")
    if tables and isinstance(model, RelatedStories):
        try:
            attach_model_tables(model, view, tables, mmap=mmap,
                                allowed=set(manifest["files"]))
        except Exception as exc:  # noqa: BLE001 - a table that does not open: not loadable
            raise ArtifactError(f"{version_dir}: string tables could not be opened: {exc}") \
                from exc
    return model, list(caught)
