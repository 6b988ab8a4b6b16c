"""Plain values out of the model's and the corpus' columns: ISO 8601 dates, missing values.

Shared by the model (result boxes) and the live store; only numpy and pandas, so that
publishing (`alsosee publish`) does not import scikit-learn.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

_EPOCH = dt.datetime(1970, 1, 1)
_NAT_NS = np.iinfo(np.int64).min
_NS = np.dtype("datetime64[ns]")


def iso_from_ns(ns: int) -> str | None:
    """An int64 ns-since-epoch timestamp (NaT as the minimum int64) as ISO 8601 UTC, like
    :func:`_iso`. Whole seconds (the usual case) go through the standard library, about 4x
    faster than numpy's scalar formatting: a result box builds several per query."""
    if ns == _NAT_NS:
        return None
    if ns % 1_000_000_000 == 0:
        return (_EPOCH + dt.timedelta(seconds=ns // 1_000_000_000)).isoformat() + "Z"
    return _iso(pd.Timestamp(ns, unit="ns"))


def _iso(ts: Any) -> str | None:
    if isinstance(ts, np.datetime64):
        # Fast path: whole seconds, UTC.
        ns = int((ts if ts.dtype == _NS else ts.astype(_NS)).view(np.int64))
        if ns == _NAT_NS:
            return None
        if ns % 1_000_000_000 == 0:
            return iso_from_ns(ns)
    if ts is None or ts is pd.NaT or (isinstance(ts, float) and np.isnan(ts)):
        return None
    ts = pd.Timestamp(ts)
    if pd.isna(ts):
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _none_if_missing(value: T) -> T | None:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
