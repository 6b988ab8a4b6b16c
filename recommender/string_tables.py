"""Memory-mappable tables of strings: what N serving workers share instead of Python objects.

A fitted model holds millions of small strings (article ids, titles, URLs, tags, the
vectorisers' terms). As Python objects (lists, dicts, object arrays) every worker process
keeps its own copy: ~330 MiB per gunicorn worker at 100k articles. Stored here as flat
buffers, memory-mapped read-only, they live once in the page cache whatever the number of
workers:

* :class:`StringColumn`: optional strings as one UTF-8 buffer + int64 offsets (+ a validity
  mask when some are missing), ``.npy`` files opened with ``np.load(mmap_mode="r")``;
* :class:`ListColumn`: a list of strings per row (tags) as a :class:`StringColumn` of all
  items + int64 row offsets;
* :class:`RowIndex`: article id -> row through a MARISA trie (``marisa-trie``, opened with
  ``Trie.mmap``) and an int32 array (trie key id -> row);
* vocabularies are plain ``marisa_trie.Trie`` objects whose key ids *are* the matrix columns
  (see :mod:`recommender.vectors.vectorize`).

Nothing here unpickles: the files are raw arrays and tries, read after the artifact's
checksums were verified (:mod:`recommender.model.artifact`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import marisa_trie
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

_ENC = "utf-8"
#: Lone surrogates (from lax JSON) survive a round trip instead of failing the save.
_ERRORS = "surrogatepass"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def load_npy(path: Path, mmap: bool = True) -> np.ndarray:
    """``np.load`` without pickles; memory-mapped read-only unless empty (not mappable)."""
    if mmap:
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError:  # an empty array cannot be memory-mapped
            pass
    return np.load(path, allow_pickle=False)


def _index_rows(n: int, key: Any) -> np.ndarray:
    """Row numbers selected by a slice, an integer array or a boolean mask."""
    return np.arange(n)[key]


class StringColumn(Sequence):
    """A read-only column of optional strings: one UTF-8 buffer, offsets, validity.

    ``column[i]`` is a ``str`` (or None); a slice, integer array or boolean mask gives an
    object ndarray, like indexing the object array it replaces. ``np.asarray(column)``
    materialises the whole column (an object array; only for small uses).
    """

    __slots__ = ("_arrays", "_buf", "_off", "_valid", "_n")

    def __init__(self, data: np.ndarray, offsets: np.ndarray,
                 valid: np.ndarray | None = None) -> None:
        if offsets.ndim != 1 or offsets.size < 1:
            raise ValueError("offsets must be a 1-D array of n + 1 positions")
        self._arrays = (data, offsets, valid)
        self._n = int(offsets.size - 1)
        # memoryviews (ndarray.data): indexing them returns Python ints/bytes without numpy
        # scalar overhead.
        self._buf = np.ascontiguousarray(data, dtype=np.uint8).data if data.size \
            else memoryview(b"")
        self._off = np.ascontiguousarray(offsets, dtype=np.int64).data
        self._valid = None if valid is None else np.ascontiguousarray(
            valid, dtype=np.bool_).data
        if self._valid is not None and len(self._valid) != self._n:
            raise ValueError("validity mask and offsets disagree on the number of rows")

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> StringColumn:
        """Build from strings; None/NaN become missing, other values ``str(value)``."""
        if not isinstance(values, (list, np.ndarray)):
            values = list(values)
        fast = _from_arrow(values)
        if fast is not None:
            return fast
        encoded: list[bytes] = []
        valid: list[bool] = []
        for v in values:
            if _missing(v):
                encoded.append(b"")
                valid.append(False)
            else:
                encoded.append((v if isinstance(v, str) else str(v)).encode(_ENC, _ERRORS))
                valid.append(True)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        mask = np.array(valid, dtype=bool)
        return cls(data, offsets, None if mask.all() else mask)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self._n

    def _get(self, i: int) -> str | None:
        if self._valid is not None and not self._valid[i]:
            return None
        return str(self._buf[self._off[i]:self._off[i + 1]], _ENC, _ERRORS)

    #: ``column[i]`` for a valid row number ``0 <= i < len(column)``, without the checks
    #: (for callers that hold rows of this very table).
    item = _get

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if i < 0:
                i += self._n
            if not 0 <= i < self._n:
                raise IndexError(f"row {key} out of range for {self._n} rows")
            return self._get(i)
        rows = _index_rows(self._n, key)
        out = np.empty(rows.size, dtype=object)
        get = self._get
        for j, i in enumerate(rows.tolist()):
            out[j] = get(i)
        return out

    def __iter__(self) -> Iterator[str | None]:
        get = self._get
        for i in range(self._n):
            yield get(i)

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None
                  ) -> np.ndarray:
        out = np.empty(self._n, dtype=object)
        out[:] = list(self)
        return out if dtype is None else out.astype(dtype)

    def tolist(self) -> list[str | None]:
        return list(self)

    def __repr__(self) -> str:
        return f"StringColumn({self._n} rows, {len(self._buf)} bytes)"

    def __reduce__(self) -> tuple[Any, ...]:
        data, offsets, valid = self._arrays
        return (StringColumn, (np.array(data), np.array(offsets),
                               None if valid is None else np.array(valid)))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays if a is not None)

    # ----------------------------------------------------------------- storage
    def save(self, directory: Path, name: str) -> list[str]:
        """Write ``name.utf8.npy``, ``name.offsets.npy`` (and ``name.valid.npy``)."""
        data, offsets, valid = self._arrays
        files = {f"{name}.utf8.npy": data, f"{name}.offsets.npy": offsets}
        if valid is not None:
            files[f"{name}.valid.npy"] = valid
        for fname, arr in files.items():
            np.save(directory / fname, np.ascontiguousarray(arr), allow_pickle=False)
        return list(files)

    @classmethod
    def open(cls, directory: Path, name: str, mmap: bool = True,
             allowed: set[str] | None = None) -> StringColumn:
        """Open the files :meth:`save` wrote; ``allowed``: the verified file names (an
        unverified validity mask is refused, not used)."""
        valid_name = f"{name}.valid.npy"
        valid = None
        if (directory / valid_name).is_file():
            if allowed is not None and valid_name not in allowed:
                raise ValueError(f"{valid_name} is not listed in the manifest")
            valid = load_npy(directory / valid_name, mmap)
        elif allowed is not None and valid_name in allowed:
            raise ValueError(f"{valid_name} is missing")
        return cls(load_npy(directory / f"{name}.utf8.npy", mmap),
                   load_npy(directory / f"{name}.offsets.npy", mmap), valid)


def _from_arrow(values: Sequence[Any] | np.ndarray) -> StringColumn | None:
    """The same column built by pyarrow's C conversion (~20x faster than the Python loop
    for a million titles), or None when some value is not a plain string (numbers, lone
    surrogates): the Python path then converts those."""
    import pyarrow as pa

    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, UnicodeEncodeError, TypeError, ValueError):
        return None
    return _column_of_arrow(arr)


def _column_of_arrow(arr: Any) -> StringColumn:
    """A StringColumn (own copies) of a pyarrow large_string array (any slice offset)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:
                                                              arr.offset + len(arr) + 1]
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    start, stop = (int(offsets[0]), int(offsets[-1])) if offsets.size else (0, 0)
    valid = None
    if arr.null_count:
        valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return StringColumn(data[start:stop].copy(), (offsets - start).astype(np.int64), valid)


class ListColumn(Sequence):
    """A read-only column of lists of strings (e.g. tags): items + row offsets."""

    __slots__ = ("items", "_offsets", "_off", "_n")

    def __init__(self, items: StringColumn, offsets: np.ndarray) -> None:
        self.items = items
        self._offsets = offsets
        self._off = np.ascontiguousarray(offsets, dtype=np.int64).data
        self._n = int(offsets.size - 1)

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> ListColumn:
        if not isinstance(values, (list, np.ndarray)):
            values = list(values)
        fast = _lists_from_arrow(values)
        if fast is not None:
            return fast
        flat: list[Any] = []
        lengths: list[int] = []
        for v in values:
            v = list(v) if isinstance(v, (list, tuple, np.ndarray)) else []
            flat.extend(v)
            lengths.append(len(v))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
        return cls(StringColumn.from_values(flat), offsets)

    def __len__(self) -> int:
        return self._n

    def _get(self, i: int) -> list[Any]:
        get = self.items._get
        return [get(j) for j in range(self._off[i], self._off[i + 1])]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if i < 0:
                i += self._n
            if not 0 <= i < self._n:
                raise IndexError(f"row {key} out of range for {self._n} rows")
            return self._get(i)
        rows = _index_rows(self._n, key)
        out = np.empty(rows.size, dtype=object)
        for j, i in enumerate(rows.tolist()):
            out[j] = self._get(i)
        return out

    def __iter__(self) -> Iterator[list[Any]]:
        for i in range(self._n):
            yield self._get(i)

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None
                  ) -> np.ndarray:
        out = np.empty(self._n, dtype=object)
        for i in range(self._n):
            out[i] = self._get(i)
        return out if dtype is None else out.astype(dtype)

    def tolist(self) -> list[list[Any]]:
        return list(self)

    def __repr__(self) -> str:
        return f"ListColumn({self._n} rows, {len(self.items)} items)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ListColumn, (self.items, np.array(self._offsets)))

    def save(self, directory: Path, name: str) -> list[str]:
        np.save(directory / f"{name}.rows.npy", np.ascontiguousarray(self._offsets),
                allow_pickle=False)
        return [f"{name}.rows.npy", *self.items.save(directory, f"{name}.items")]

    @classmethod
    def open(cls, directory: Path, name: str, mmap: bool = True,
             allowed: set[str] | None = None) -> ListColumn:
        return cls(StringColumn.open(directory, f"{name}.items", mmap, allowed),
                   load_npy(directory / f"{name}.rows.npy", mmap))


def _lists_from_arrow(values: Sequence[Any] | np.ndarray) -> ListColumn | None:
    """pyarrow's conversion of lists of plain strings (None otherwise, see _from_arrow)."""
    import pyarrow as pa

    if any(not isinstance(v, (list, tuple, np.ndarray)) and not _missing(v) for v in values):
        return None  # e.g. a bare string: the Python path treats it as no tags
    try:
        arr = pa.array(values, type=pa.large_list(pa.large_string()), from_pandas=True)
    except (pa.ArrowException, UnicodeEncodeError, TypeError, ValueError):
        return None
    offsets = np.asarray(arr.offsets.to_numpy(), dtype=np.int64)
    items = arr.flatten() if arr.null_count == 0 else arr.values.take(
        pa.array(np.arange(int(offsets[0]), int(offsets[-1]))))
    if items.null_count:
        return None  # None inside a list: the Python path keeps the old behaviour
    column = _from_arrow(items.to_pylist()) if items.offset else _from_arrow_items(items)
    if column is None:
        return None
    return ListColumn(column, offsets - offsets[0])


def _from_arrow_items(items: Any) -> StringColumn | None:
    offsets = np.frombuffer(items.buffers()[1], dtype=np.int64)[:len(items) + 1]
    buf = items.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    start, stop = int(offsets[0]), int(offsets[-1])
    return StringColumn(data[start:stop].copy(), (offsets - start).astype(np.int64))


def build_trie(keys: Sequence[str], what: str) -> marisa_trie.Trie:
    """A MARISA trie of distinct string keys (a clear error for keys it cannot store)."""
    try:
        return marisa_trie.Trie(keys)
    except UnicodeEncodeError as exc:
        bad = next((k for k in keys if not _encodable(k)), None)
        raise ValueError(f"{what} {bad!r} is not valid Unicode text (lone surrogate)") from exc


def _encodable(s: str) -> bool:
    try:
        s.encode(_ENC)
    except UnicodeEncodeError:
        return False
    return True


def save_trie(trie: marisa_trie.Trie, path: Path) -> None:
    """Write a trie with Python's file I/O: a full disk raises ``OSError`` (ENOSPC) like
    every other write of the artifact (marisa's own ``save`` raises a bare RuntimeError)."""
    with open(path, "wb") as fh:
        fh.write(trie.tobytes())


def open_trie(path: Path, mmap: bool = True) -> marisa_trie.Trie:
    trie = marisa_trie.Trie()
    if mmap:
        trie.mmap(str(path))
    else:
        trie.load(str(path))
    return trie


class RowIndex(Mapping):
    """Article id -> row, as a read-only mapping over a MARISA trie and an int32 array.

    Behaves like the ``dict`` it replaces (``index[id]``, ``.get``, ``in``, ``len``);
    keys that are not strings are simply absent. Iteration follows the trie's order.
    """

    __slots__ = ("trie", "_rows", "_rowsv")

    def __init__(self, trie: marisa_trie.Trie, rows: np.ndarray) -> None:
        if len(trie) != rows.size:
            raise ValueError("id trie and row array disagree on the number of ids")
        self.trie = trie
        self._rows = rows
        self._rowsv = np.ascontiguousarray(rows, dtype=np.int32).data

    @classmethod
    def build(cls, ids: Sequence[object]) -> RowIndex:
        keys = [str(i) for i in ids]
        trie = build_trie(keys, "article id")
        if len(trie) != len(keys):
            raise ValueError("article ids must be unique")
        key_id = trie.key_id
        tids = np.fromiter(map(key_id, keys), dtype=np.int64, count=len(keys))
        rows = np.empty(len(ids), dtype=np.int32)
        rows[tids] = np.arange(len(ids), dtype=np.int32)
        return cls(trie, rows)

    def __getitem__(self, key: Any) -> int:
        tid = self.trie.get(key) if isinstance(key, str) else None
        if tid is None:
            raise KeyError(key)
        return self._rowsv[tid]

    def get(self, key: Any, default: Any = None) -> Any:
        tid = self.trie.get(key) if isinstance(key, str) else None
        return default if tid is None else self._rowsv[tid]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key in self.trie

    def __len__(self) -> int:
        return self._rows.size

    def __iter__(self) -> Iterator[str]:
        return iter(self.trie.iterkeys())

    def __repr__(self) -> str:
        return f"RowIndex({len(self)} ids)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (RowIndex, (self.trie, np.array(self._rows)))

    def save(self, directory: Path, name: str) -> list[str]:
        save_trie(self.trie, directory / f"{name}.marisa")
        np.save(directory / f"{name}.rows.npy", np.ascontiguousarray(self._rows),
                allow_pickle=False)
        return [f"{name}.marisa", f"{name}.rows.npy"]

    @classmethod
    def open(cls, directory: Path, name: str, mmap: bool = True) -> RowIndex:
        return cls(open_trie(directory / f"{name}.marisa", mmap),
                   load_npy(directory / f"{name}.rows.npy", mmap))


# ------------------------------------------------------------- a model's tables
#: Meta columns that hold a list of strings per row.
LIST_COLUMNS = frozenset({"tags"})


def _as_table(name: str, value: Any) -> tuple[str, Any] | None:
    """(kind, storable value) of a meta column, or None to leave it in the pickle."""
    if isinstance(value, StringColumn):
        return "strings", value
    if isinstance(value, ListColumn):
        return "lists", value
    if isinstance(value, np.ndarray) and value.dtype != object:
        return "array", value
    if isinstance(value, np.ndarray) and name in LIST_COLUMNS:
        return "lists", ListColumn.from_values(value)
    if isinstance(value, np.ndarray) and all(_missing(v) or isinstance(v, str) for v in value):
        return "strings", StringColumn.from_values(value)
    return None


def write_model_tables(model: TabledModel, directory: Path) -> tuple[dict[str, Any], list[str]]:
    """Write a fitted model's string tables into ``directory``.

    Returns the spec that :func:`attach_model_tables` reads back (stored in the manifest)
    and the names of the files written (their SHA-256 go into the manifest too).
    """
    directory = Path(directory)
    spec: dict[str, Any] = {"meta": {}, "vocabularies": {}}
    files: list[str] = []
    ids = model.ids_ if isinstance(model.ids_, StringColumn) \
        else StringColumn.from_values(model.ids_)
    files += ids.save(directory, "ids")
    spec["ids"] = "ids"
    row_of = model.row_of_ if isinstance(model.row_of_, RowIndex) \
        else RowIndex.build(ids.tolist())
    files += row_of.save(directory, "row_of")
    spec["row_of"] = "row_of"
    for name, value in model.meta_.items():
        table = _as_table(name, value)
        if table is None:
            continue  # an unusual column: stays in the pickle
        kind, value = table
        base = f"meta.{name}"
        if kind == "array":
            np.save(directory / f"{base}.npy", np.ascontiguousarray(value), allow_pickle=False)
            files.append(f"{base}.npy")
        else:
            files += value.save(directory, base)
        spec["meta"][name] = kind
    for field, vec in model.vectorizers_.items():
        vocab = getattr(vec, "vocabulary_", None)
        if isinstance(vocab, marisa_trie.Trie):  # a dict (older model) stays in the pickle
            save_trie(vocab, directory / f"vocab.{field}.marisa")
            files.append(f"vocab.{field}.marisa")
            spec["vocabularies"][field] = f"vocab.{field}.marisa"
    return spec, files


class TabledModel(Protocol):
    """What the tables are read from and attached to: a fitted
    :class:`recommender.model.estimator.RelatedStories` (a higher layer: named here by the
    attributes used; the columns' types vary with how the model was built or loaded)."""

    ids_: Any
    row_of_: Any
    meta_: Any
    vectorizers_: Any


M = TypeVar("M", bound=TabledModel)


def without_tables(model: M, spec: Mapping[str, Any]) -> M:
    """A shallow copy of ``model`` without the attributes ``spec`` says are stored apart
    (the pickle then holds only parameters, numeric arrays and small objects)."""
    copy = object.__new__(type(model))
    state = dict(model.__dict__)
    state.pop("ids_", None)
    state.pop("row_of_", None)
    state["meta_"] = {k: v for k, v in model.meta_.items() if k not in spec["meta"]}
    vectorizers = {}
    for field, vec in model.vectorizers_.items():
        if field in spec["vocabularies"]:
            stripped = object.__new__(type(vec))
            stripped.__dict__.update(vec.__dict__)
            del stripped.__dict__["vocabulary_"]
            vec = stripped
        vectorizers[field] = vec
    state["vectorizers_"] = vectorizers
    copy.__dict__.update(state)
    return copy


def table_files(kind: str, base: str) -> list[str]:
    """The files a table of ``kind`` (``row_index``, or a meta column's ``array``,
    ``strings``, ``lists``) named ``base`` is stored in, optional validity masks aside."""
    return {"row_index": [f"{base}.marisa", f"{base}.rows.npy"],
            "array": [f"{base}.npy"],
            "strings": [f"{base}.utf8.npy", f"{base}.offsets.npy"],
            "lists": [f"{base}.rows.npy", f"{base}.items.utf8.npy",
                      f"{base}.items.offsets.npy"]}.get(kind, [f"{base}.?"])


def _check_spec(spec: Mapping[str, Any], allowed: set[str]) -> None:
    """Every file the spec leads to must be one the manifest lists (and so was verified)."""
    wanted = [*table_files("strings", spec["ids"]), *table_files("row_index", spec["row_of"]),
              *spec["vocabularies"].values()]
    for name, kind in spec["meta"].items():
        wanted += table_files(kind, f"meta.{name}")
    missing = [w for w in wanted if w not in allowed]
    if missing:
        raise ValueError(f"the manifest does not list (or verify) {', '.join(missing)}")


def attach_model_tables(model: M, directory: Path, spec: Mapping[str, Any],
                        mmap: bool = True, allowed: set[str] | None = None) -> M:
    """Open the tables of ``spec`` from ``directory`` (memory-mapped) and attach them.

    ``allowed``: the file names whose checksums were verified; the spec may lead to no
    other file (optional ``.valid.npy`` masks are opened only when listed).
    """
    directory = Path(directory)
    if allowed is not None:
        _check_spec(spec, allowed)
    model.ids_ = StringColumn.open(directory, spec["ids"], mmap, allowed)
    model.row_of_ = RowIndex.open(directory, spec["row_of"], mmap)
    meta = dict(getattr(model, "meta_", {}))
    for name, kind in spec["meta"].items():
        base = f"meta.{name}"
        if kind == "array":
            meta[name] = load_npy(directory / f"{base}.npy", mmap)
        elif kind == "strings":
            meta[name] = StringColumn.open(directory, base, mmap, allowed)
        elif kind == "lists":
            meta[name] = ListColumn.open(directory, base, mmap, allowed)
        else:
            raise ValueError(f"unknown table kind {kind!r} for meta column {name!r}")
    model.meta_ = meta
    for field, fname in spec["vocabularies"].items():
        model.vectorizers_[field].vocabulary_ = open_trie(directory / fname, mmap)
    if len(model.ids_) != len(model.row_of_):
        raise ValueError("ids and id index disagree on the number of articles")
    return model
