"""Reading a Parquet file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import CorpusError
from .files import Records, read_bytes


def read_parquet(path: Path) -> Records:
    """The rows of a Parquet file as records (numbered from 1)."""
    read_bytes(path)  # existence / permission / emptiness checks with our messages
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types
        raise CorpusError(f"{path}: cannot read as Parquet ({type(e).__name__}: {e})") from e
    if df.empty:
        raise CorpusError(f"{path}: no data rows (columns: {', '.join(map(str, df.columns))})")
    df.columns = [str(c) for c in df.columns]
    return list(enumerate(df.to_dict("records"), 1))
