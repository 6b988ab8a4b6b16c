"""Reading a CSV or TSV file with a header row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import CorpusError
from .files import Records, decode, read_bytes


def read_csv(path: Path, sep: str) -> Records:
    """The rows of a delimited file as records keyed by its header (``sep``: "," or a tab)."""
    text = decode(path, read_bytes(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise CorpusError(f"{path}: file has no header row")
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise CorpusError(f"{path}: header line {reader.line_num}: duplicate column {dup[0]!r}")
        records: Records = []
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) > len(header):
                raise CorpusError(
                    f"{path}: line {line}: {len(row)} fields but the header has "
                    f"{len(header)} ({', '.join(header)}); check quoting and the delimiter"
                )
            records.append((line, dict(zip(header, row, strict=False))))
    except csv.Error as e:
        raise CorpusError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from e
    if not records:
        raise CorpusError(f"{path}: no data rows (header only: {', '.join(header)})")
    return records
