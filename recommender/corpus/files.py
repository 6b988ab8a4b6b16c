"""Corpus files: their formats, and the bytes and text every reader starts from."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from ..errors import CorpusError

#: Formats understood by :func:`~recommender.corpus.load.load_corpus` (``fmt=``).
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "json", "parquet", "wxr")

#: File name suffix -> the reader of that format.
SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xml": "wxr",
    ".wxr": "wxr",
}


def detect_format(path: str | Path) -> str:
    """Guess a corpus file's format from its name.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``, ``.jsonl``/``.ndjson``/``.json`` (JSON lines or a JSON array),
        any of those gzipped (``.gz``), ``.parquet``/``.pq``, ``.xml``/``.wxr`` (WordPress).

    Returns
    -------
    str
        ``"csv"``, ``"jsonl"``, ``"parquet"`` or ``"wxr"``.

    Raises
    ------
    CorpusError
        If the suffix is unknown.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in SUFFIXES:
        return SUFFIXES[suffixes[-1]]
    raise CorpusError(
        f"{path}: cannot tell the format from the file name; use one of "
        f"{', '.join(sorted(SUFFIXES))} (optionally .gz) or pass fmt= ({', '.join(FORMATS)})"
    )


def read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory, not a corpus file")
    try:
        data = path.read_bytes()
    except PermissionError as e:
        raise CorpusError(f"{path}: permission denied, cannot read the file") from e
    except OSError as e:
        raise CorpusError(f"{path}: cannot read the file ({e.strerror or e})") from e
    if not data:
        raise CorpusError(f"{path}: file is empty (0 bytes)")
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise CorpusError(f"{path}: not a valid gzip file ({e})") from e
        if not data:
            raise CorpusError(f"{path}: file is empty (0 bytes once decompressed)")
    return data


def decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte offset {e.start} (line {line}): "
            f"byte 0x{data[e.start]:02x}; re-export the file as UTF-8"
        ) from e


#: A reader's records: (line, or 1-based element, and the raw record) in file order.
Records = list[tuple[int, dict[str, Any]]]

