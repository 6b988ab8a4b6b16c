"""Reading a JSON lines file (one object a line) or a JSON array of objects."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CorpusError
from .files import Records, decode, read_bytes


def read_jsonl(path: Path) -> Records:
    """The objects of a JSON lines file (numbered by line) or of a JSON array (by element)."""
    text = decode(path, read_bytes(path))
    stripped = text.lstrip()
    records: Records = []
    if stripped.startswith("["):  # a JSON array (.json)
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusError(
                f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            ) from e
        for i, obj in enumerate(items, 1):
            if not isinstance(obj, dict):
                raise CorpusError(
                    f"{path}: element {i} of the JSON array is a {type(obj).__name__}, "
                    "not an object"
                )
            records.append((i, obj))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(
                    f"{path}: line {lineno}: malformed JSON at column {e.colno}: {e.msg}"
                ) from e
            if not isinstance(obj, dict):
                raise CorpusError(
                    f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            records.append((lineno, obj))
    if not records:
        raise CorpusError(f"{path}: no data rows (only blank lines)")
    return records
