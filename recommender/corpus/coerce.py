"""Coercion of raw corpus values into the canonical columns: ids, text, dates, tags and
statuses, and the checks of a ``columns`` mapping.

Every reader's records go through these (see :mod:`.normalise`); live writes
(:mod:`recommender.state.live`) validate articles with the same rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CorpusError
from ..text.plain import html_to_text, looks_like_html, normalize_paragraphs

#: Columns of every corpus table, in this order; extra input columns follow them.
CORE_COLUMNS: list[str] = [
    "id",
    "title",
    "body",
    "url",
    "published_at",
    "section",
    "tags",
    "language",
    "status",
    "story_id",
]
#: Names a ``columns`` mapping may target (core columns plus inputs the loader interprets).
MAPPABLE_COLUMNS: tuple[str, ...] = (*CORE_COLUMNS, "canonical_url", "modified_at", "author")
#: Raw status values meaning "published" (compared lower-cased and stripped).
PUBLISHED_STATUSES: frozenset[str] = frozenset({"", "publish", "published", "live", "public"})


def normalize_status(value: Any) -> str:
    """Normalise a CMS status: ``"published"`` for publish/published/live/public/empty.

    Parameters
    ----------
    value : Any
        Raw status (None/NaN count as empty).

    Returns
    -------
    str
        ``"published"`` or the lower-cased stripped value (``"draft"``, ``"killed"``...).
    """
    if missing(value):
        return "published"
    s = str(value).strip().lower()
    return "published" if s in PUBLISHED_STATUSES else s


def is_published(status: pd.Series | Sequence[Any]) -> np.ndarray:
    """Tell which rows are published.

    Parameters
    ----------
    status : Series or sequence
        Status values, normalised or raw.

    Returns
    -------
    ndarray of bool
        True where :func:`normalize_status` gives ``"published"``.
    """
    return np.fromiter(
        (normalize_status(v) == "published" for v in status), dtype=bool, count=len(status)
    )


def missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def opt_str(v: Any) -> str | None:
    if missing(v):
        return None
    return str(v).strip() or None


def as_id(v: Any) -> str | None:
    if missing(v):
        return None
    if isinstance(v, float) and v.is_integer():  # ids that went through a float column
        v = int(v)
    s = str(v).strip()
    return s or None


def as_text(v: Any) -> str:
    if missing(v):
        return ""
    return v if isinstance(v, str) else str(v)


def clean_body(v: Any) -> str:
    s = as_text(v)
    return html_to_text(s) if looks_like_html(s) else normalize_paragraphs(s)


class BadValue(Exception):
    """A field value that cannot be interpreted (turned into a CorpusError or a skip)."""


_MIN_DATE = datetime(1677, 9, 22, tzinfo=UTC)  # datetime64[ns] range
_MAX_DATE = datetime(2262, 4, 11, tzinfo=UTC)


def parse_date(v: Any) -> datetime | None:
    """Parse ISO 8601, RFC 2822, epoch seconds or datetime objects; naive means UTC.

    Returns an aware UTC datetime (None if missing); raises BadValue if unparseable or out
    of the ``datetime64[ns]`` range.
    """
    if missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        dt = v.to_pydatetime(warn=False)
    elif isinstance(v, datetime):
        dt = v
    elif isinstance(v, bool):
        raise BadValue(v)
    elif isinstance(v, int | float | np.integer | np.floating):
        try:
            dt = datetime.fromtimestamp(float(v), UTC)
        except (ValueError, OverflowError, OSError) as e:
            raise BadValue(v) from e
    elif isinstance(v, str):
        s = v.strip()
        if s.startswith("0000-00-00"):  # WordPress "no date"
            return None
        try:
            dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
        except ValueError:
            try:
                dt = parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                if s.lstrip("+-").replace(".", "", 1).isdigit():  # epoch seconds as text
                    return parse_date(float(s))
                raise BadValue(v) from None
    else:
        raise BadValue(v)
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if not _MIN_DATE <= dt < _MAX_DATE:
        raise BadValue(v)
    return dt


def parse_tags(v: Any) -> list[str]:
    if missing(v):
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except json.JSONDecodeError as e:
                raise BadValue(f"not a valid JSON array ({e.msg})") from e
            if not isinstance(parsed, list):
                raise BadValue("not a JSON array")
            items: Iterable[Any] = parsed
        else:
            sep = "|" if "|" in s else ";" if ";" in s else ","
            items = s.split(sep)
    elif isinstance(v, list | tuple | np.ndarray | pd.Series):
        items = list(v)
    else:
        raise BadValue(f"expected a list or a delimited string, got {type(v).__name__}")
    out = []
    for t in items:
        if missing(t):
            continue
        if isinstance(t, list | dict):
            raise BadValue("tags must be strings")
        t = str(t).strip()
        if t:
            out.append(t)
    return out


def map_hint(target: str) -> dict[str, str]:
    """How to map a differently named column onto ``target``, from Python and the CLI."""
    return {"hint": f"map yours with columns={{'YOUR_COLUMN': {target!r}}}",
            "cli_hint": f"map yours with --column YOUR_COLUMN={target}"}


def check_mapping(columns: Mapping[str, str] | None) -> dict[str, str]:
    if not columns:
        return {}
    bad = {src: dst for src, dst in columns.items() if dst not in MAPPABLE_COLUMNS}
    if bad:
        src, dst = next(iter(bad.items()))
        raise CorpusError(
            f"columns mapping {src!r} -> {dst!r}: unknown target column {dst!r}; "
            f"valid targets are: {', '.join(MAPPABLE_COLUMNS)}"
        )
    targets = list(columns.values())
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise CorpusError(f"columns mapping: several source columns map to {dup[0]!r}")
    return dict(columns)


def date_or_none(v: Any) -> datetime | None:
    """:func:`parse_date`, or None for a value it cannot read (comparing versions)."""
    try:
        return parse_date(v)
    except BadValue:
        return None
