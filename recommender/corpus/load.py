"""Load and validate a newsroom corpus (CSV, JSON lines, Parquet, WordPress WXR exports).

Every reader produces raw records; one normaliser turns them into the canonical table
(see :data:`CORE_COLUMNS`) and fills a :class:`CorpusReport` telling what was read, kept and
skipped, and why.

Decisions (the contract other modules rely on):

* Rows without an id are skipped (``missing_id``); rows whose title and body are both empty
  after HTML -> text are skipped (``empty``). A *missing* date is kept as NaT, and so is one
  that cannot be parsed: the recommender must not guess dates, and the date is optional, so
  the article is kept undated, counted in ``bad_dates`` and listed in ``bad_date_rows``.
  (Live writes, :func:`recommender.state.live.parse_articles`, refuse such a date instead.)
* Duplicate ids (within a file or across files) keep the **latest version**: if both rows have
  a parseable ``modified_at`` the later one wins, else if both have a ``published_at`` the later
  one wins, else (and on ties) the row read last wins. Losers are counted in
  ``CorpusReport.duplicates`` and listed in ``skipped_rows`` with reason ``duplicate``
  (they are *not* counted in ``skipped``). Skipped rows never take part in deduplication.
* Rows whose status is not published are kept (``status`` says why) and counted in
  ``unpublished``; use :func:`is_published` to filter them. WordPress exports are different:
  only published posts are read, other items are skipped (``unpublished``, ``not_a_post``).
* ``rows_read == rows_kept + sum(skipped.values()) + duplicates``.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from ..errors import CorpusError
from ..text.plain import (
    clean_title,
    extract_links,
    html_to_text,
    looks_like_html,
    normalize_paragraphs,
)
from ..urls import is_safe_link

__all__ = [
    "CORE_COLUMNS",
    "FORMATS",
    "CorpusReport",
    "articles_from_records",
    "detect_format",
    "is_published",
    "load_corpus",
    "normalize_status",
]

logger = logging.getLogger(__name__)

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
#: Formats understood by :func:`load_corpus` (``fmt=``).
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "json", "parquet", "wxr")
#: Raw status values meaning "published" (compared lower-cased and stripped).
PUBLISHED_STATUSES: frozenset[str] = frozenset({"", "publish", "published", "live", "public"})
#: At most this many entries are kept in ``CorpusReport.skipped_rows`` (counts stay exact).
MAX_SKIPPED_ROWS = 1000

_SUFFIXES = {
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


# --------------------------------------------------------------------------- report


@dataclass
class CorpusReport:
    """What a corpus load read, kept and skipped.

    Attributes
    ----------
    files : list of str
        Files (or the ``source`` name of in-memory records) in read order.
    rows_read : int
        Data rows / JSON objects / WXR items read.
    rows_kept : int
        Rows in the returned table (published or not).
    duplicates : int
        Older versions of duplicate ids that were dropped.
    unpublished : int
        Kept rows whose status is not ``published``.
    skipped : dict of str to int
        Reason -> number of rows skipped (``missing_id``, ``empty``,
        ``unpublished``/``not_a_post`` for WXR items).
    skipped_rows : list of dict
        ``{"file", "line", "id", "reason"}`` for skipped rows and dropped duplicates (``line``
        is the 1-based line for CSV/JSONL, the 1-based element for JSON arrays, Parquet rows,
        WXR items and in-memory records); capped at :data:`MAX_SKIPPED_ROWS` entries.
    bad_dates : int
        Kept rows whose ``published_at`` could not be parsed (kept without a date).
    bad_date_rows : list of dict
        ``{"file", "line", "id", "value"}`` of those rows, capped like ``skipped_rows``.
    """

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    duplicates: int = 0
    unpublished: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    bad_dates: int = 0
    bad_date_rows: list[dict[str, Any]] = field(default_factory=list)

    def _bad_date(self, file: str, line: int, id_: str, value: Any) -> None:
        self.bad_dates += 1
        if len(self.bad_date_rows) < MAX_SKIPPED_ROWS:
            self.bad_date_rows.append({"file": file, "line": line, "id": id_,
                                       "value": str(value)})
        logger.warning("%s: line %d: id %r: unparseable published_at %r; kept without a date",
                       file, line, id_, value)

    def bad_dates_line(self) -> str | None:
        """One line on the articles kept without a date (None if there were none)."""
        if not self.bad_dates:
            return None
        first = self.bad_date_rows[0]
        return (f"unparseable published_at, kept without a date: {self.bad_dates} "
                f"(first: {first['file']}:{first['line']} id={first['id']!r} "
                f"value {first['value']!r})")

    def _skip(self, file: str, line: int, id_: str | None, reason: str, *, count: bool = True):
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if len(self.skipped_rows) < MAX_SKIPPED_ROWS:
            self.skipped_rows.append({"file": file, "line": line, "id": id_, "reason": reason})

    def summary(self) -> str:
        """Return a multi-line human-readable summary.

        Returns
        -------
        str
            Rows read and kept, skipped rows by reason, duplicates and unpublished rows.
        """
        n_skipped = sum(self.skipped.values())
        lines = [
            f"files: {', '.join(self.files) if self.files else '(none)'}",
            f"rows read: {self.rows_read}",
            f"rows kept: {self.rows_kept}",
            f"rows skipped: {n_skipped}",
        ]
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        if self.bad_dates:
            lines.append(str(self.bad_dates_line()))
        lines.append(f"duplicates dropped (older versions): {self.duplicates}")
        lines.append(f"not published (kept, never recommended): {self.unpublished}")
        listed = self.skipped_rows[:10]
        if listed:
            lines.append("first skipped rows:")
            lines += [f"  {r['file']}:{r['line']} id={r['id']!r} ({r['reason']})" for r in listed]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-serialisable plain data.

        Returns
        -------
        dict
            The dataclass fields.
        """
        return asdict(self)


# --------------------------------------------------------------------------- helpers


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
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise CorpusError(
        f"{path}: cannot tell the format from the file name; use one of "
        f"{', '.join(sorted(_SUFFIXES))} (optionally .gz) or pass fmt= ({', '.join(FORMATS)})"
    )


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
    if _missing(value):
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


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def _opt_str(v: Any) -> str | None:
    if _missing(v):
        return None
    return str(v).strip() or None


def _as_id(v: Any) -> str | None:
    if _missing(v):
        return None
    if isinstance(v, float) and v.is_integer():  # ids that went through a float column
        v = int(v)
    s = str(v).strip()
    return s or None


def _as_text(v: Any) -> str:
    if _missing(v):
        return ""
    return v if isinstance(v, str) else str(v)


def _clean_body(v: Any) -> str:
    s = _as_text(v)
    return html_to_text(s) if looks_like_html(s) else normalize_paragraphs(s)


class _BadValue(Exception):
    """A field value that cannot be interpreted (turned into a CorpusError or a skip)."""


_MIN_DATE = datetime(1677, 9, 22, tzinfo=UTC)  # datetime64[ns] range
_MAX_DATE = datetime(2262, 4, 11, tzinfo=UTC)


def _parse_date(v: Any) -> datetime | None:
    """Parse ISO 8601, RFC 2822, epoch seconds or datetime objects; naive means UTC.

    Returns an aware UTC datetime (None if missing); raises _BadValue if unparseable or out
    of the ``datetime64[ns]`` range.
    """
    if _missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        dt = v.to_pydatetime(warn=False)
    elif isinstance(v, datetime):
        dt = v
    elif isinstance(v, bool):
        raise _BadValue(v)
    elif isinstance(v, int | float | np.integer | np.floating):
        try:
            dt = datetime.fromtimestamp(float(v), UTC)
        except (ValueError, OverflowError, OSError) as e:
            raise _BadValue(v) from e
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
                    return _parse_date(float(s))
                raise _BadValue(v) from None
    else:
        raise _BadValue(v)
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if not _MIN_DATE <= dt < _MAX_DATE:
        raise _BadValue(v)
    return dt


def _parse_tags(v: Any) -> list[str]:
    if _missing(v):
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except json.JSONDecodeError as e:
                raise _BadValue(f"not a valid JSON array ({e.msg})") from e
            if not isinstance(parsed, list):
                raise _BadValue("not a JSON array")
            items: Iterable[Any] = parsed
        else:
            sep = "|" if "|" in s else ";" if ";" in s else ","
            items = s.split(sep)
    elif isinstance(v, list | tuple | np.ndarray | pd.Series):
        items = list(v)
    else:
        raise _BadValue(f"expected a list or a delimited string, got {type(v).__name__}")
    out = []
    for t in items:
        if _missing(t):
            continue
        if isinstance(t, list | dict):
            raise _BadValue("tags must be strings")
        t = str(t).strip()
        if t:
            out.append(t)
    return out


def _map_hint(target: str) -> dict[str, str]:
    """How to map a differently named column onto ``target``, from Python and the CLI."""
    return {"hint": f"map yours with columns={{'YOUR_COLUMN': {target!r}}}",
            "cli_hint": f"map yours with --column YOUR_COLUMN={target}"}


def _check_mapping(columns: Mapping[str, str] | None) -> dict[str, str]:
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


# --------------------------------------------------------------------------- readers


def _read_bytes(path: Path) -> bytes:
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


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte offset {e.start} (line {line}): "
            f"byte 0x{data[e.start]:02x}; re-export the file as UTF-8"
        ) from e


_Records = list[tuple[int, dict[str, Any]]]


def _read_jsonl(path: Path) -> _Records:
    text = _decode(path, _read_bytes(path))
    stripped = text.lstrip()
    records: _Records = []
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


def _read_csv(path: Path, sep: str) -> _Records:
    text = _decode(path, _read_bytes(path))
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
        records: _Records = []
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


def _read_parquet(path: Path) -> _Records:
    _read_bytes(path)  # existence / permission / emptiness checks with our messages
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types
        raise CorpusError(f"{path}: cannot read as Parquet ({type(e).__name__}: {e})") from e
    if df.empty:
        raise CorpusError(f"{path}: no data rows (columns: {', '.join(map(str, df.columns))})")
    df.columns = [str(c) for c in df.columns]
    return list(enumerate(df.to_dict("records"), 1))


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _read_wxr(
    path: Path, id_prefix: str, report: CorpusReport
) -> tuple[_Records, int, dict[str, str | None]]:
    """Read published posts of a WordPress export; returns (records, items read, channel info)."""
    data = _read_bytes(path)
    channel: dict[str, str | None] = {"language": None}
    records: _Records = []
    n_items = 0
    try:
        context = etree.iterparse(
            io.BytesIO(data),
            events=("end",),
            tag=("item", "{*}language"),
            resolve_entities=False,
            no_network=True,
        )
        for _, el in context:
            name = _local(el.tag)
            parent = el.getparent()
            if name == "language":
                if parent is not None and _local(parent.tag) == "channel" and el.text:
                    channel["language"] = el.text.strip().lower()
                continue
            n_items += 1
            fields: dict[str, str] = {}
            categories: list[str] = []
            sections: list[str] = []
            for child in el:
                cname = _local(child.tag)
                if cname == "category":
                    term = html.unescape((child.text or "").strip())
                    if term and child.get("domain") in ("category", "post_tag"):
                        if term not in categories:
                            categories.append(term)
                        if child.get("domain") == "category":
                            sections.append(term)
                    continue
                if cname == "encoded":
                    ns = etree.QName(child.tag).namespace or ""
                    cname = "excerpt" if "excerpt" in ns else "content"
                fields.setdefault(cname, child.text or "")
            el.clear()
            if parent is not None:  # free memory of processed items
                while el.getprevious() is not None:
                    del parent[0]
            post_id = (fields.get("post_id") or "").strip()
            rid = f"{id_prefix}{post_id}" if post_id else None
            post_type = (fields.get("post_type") or "post").strip().lower()
            status = (fields.get("status") or "").strip().lower()
            if post_type != "post":
                report._skip(str(path), n_items, rid, "not_a_post")
                continue
            if status != "publish":
                report._skip(str(path), n_items, rid, "unpublished")
                continue
            date = fields.get("post_date_gmt") or ""
            if not date.strip() or date.startswith("0000-00-00"):
                date = fields.get("pubDate") or ""
            records.append(
                (
                    n_items,
                    {
                        "id": rid,
                        "title": fields.get("title") or fields.get("post_name") or "",
                        "body": fields.get("content") or "",
                        "url": fields.get("link") or None,
                        "published_at": date,
                        "section": sections[0] if sections else None,
                        "tags": categories,
                        "language": channel["language"],
                        "status": "published",
                        "author": (fields.get("creator") or "").strip() or None,
                    },
                )
            )
    except etree.XMLSyntaxError as e:
        line, col = e.position if e.position else (e.lineno, 0)
        raise CorpusError(f"{path}: malformed XML at line {line}, column {col}: {e.msg}") from e
    if n_items == 0:
        raise CorpusError(f"{path}: no <item> elements; is this a WordPress (WXR) export?")
    return records, n_items, channel


# --------------------------------------------------------------------------- normaliser


class _Builder:
    """Accumulates normalised rows from several sources, then builds one DataFrame."""

    def __init__(self, mapping: dict[str, str], report: CorpusReport,
                 keep_links: bool = False) -> None:
        self.mapping = mapping
        self.report = report
        self.keep_links = keep_links
        self.rows: list[dict[str, Any]] = []
        self.where: list[tuple[str, int]] = []
        self.extras: dict[str, None] = {}  # ordered set of extra columns

    def add(self, source: str, records: _Records, *, check_required: bool = True) -> None:
        mapping = self.mapping
        seen: dict[str, None] = {}
        renamed: _Records = []
        for line, rec in records:
            if mapping:
                rec = {mapping.get(k, k): v for k, v in rec.items()}
            renamed.append((line, rec))
            for k in rec:
                seen.setdefault(k, None)
        if mapping:
            for src, dst in mapping.items():
                if any(src in r and dst in r for _, r in records):
                    raise CorpusError(
                        f"{source}: column {src!r} is mapped to {dst!r} but the input "
                        f"already has a {dst!r} column"
                    )
        found = list(seen)
        if check_required:
            if "id" not in seen:
                raise CorpusError(
                    f"{source}: missing required column 'id' "
                    f"(columns found: {', '.join(found) or 'none'})", **_map_hint("id")
                )
            if "title" not in seen and "body" not in seen:
                raise CorpusError(
                    f"{source}: missing required column 'title' or 'body' (need at least one; "
                    f"columns found: {', '.join(found)})", **_map_hint("title")
                )
        for k in found:
            if k not in CORE_COLUMNS and k not in self.extras:
                self.extras[k] = None
        report = self.report
        for line, rec in renamed:
            rid = _as_id(rec.get("id"))
            if rid is None:
                report._skip(source, line, None, "missing_id")
                continue
            title = clean_title(_as_text(rec.get("title")))
            body = _clean_body(rec.get("body"))
            if not title and not body:
                report._skip(source, line, rid, "empty")
                continue
            try:
                published = _parse_date(rec.get("published_at"))
            except _BadValue:
                # The date is optional: a bad one costs the article its date, not its place.
                published = None
                report._bad_date(source, line, rid, rec.get("published_at"))
            try:
                tags = _parse_tags(rec.get("tags"))
            except _BadValue as e:
                raise CorpusError(
                    f"{source}: line {line}: column 'tags': {e} (value {rec.get('tags')!r})"
                ) from e
            url = _opt_str(rec.get("url"))
            if url is not None and not is_safe_link(url):
                logger.warning("%s: line %d: id %r: url %r is not an http(s) URL or a path on "
                               "the site; kept without a link", source, line, rid, url[:200])
                url = None
            story = _opt_str(rec.get("story_id"))
            if story is None:
                story = _opt_str(rec.get("canonical_url"))
            lang = _opt_str(rec.get("language"))
            row = dict(rec)
            row.update(
                id=rid,
                title=title,
                body=body,
                url=url,
                published_at=published,
                section=_opt_str(rec.get("section")),
                tags=tags,
                language=lang.lower() if lang else None,
                status=normalize_status(rec.get("status")),
                story_id=story,
            )
            if self.keep_links:
                row["links"] = extract_links(_as_text(rec.get("body")), row["url"])
            self.rows.append(row)
            self.where.append((source, line))

    def _dedupe(self) -> list[int]:
        """Indices of rows to keep: latest version of every id (see module docstring)."""
        best: dict[str, int] = {}
        rows = self.rows
        for i, row in enumerate(rows):
            j = best.get(row["id"])
            if j is None:
                best[row["id"]] = i
                continue
            winner, loser = i, j
            for key in ("modified_at", "published_at"):
                a, b = _date_or_none(rows[j].get(key)), _date_or_none(row.get(key))
                if a is not None and b is not None:
                    if a > b:
                        winner, loser = j, i
                    break
            best[row["id"]] = winner
            self.report.duplicates += 1
            src, line = self.where[loser]
            self.report._skip(src, line, row["id"], "duplicate", count=False)
        return sorted(best.values())

    def frame(self) -> pd.DataFrame:
        keep = self._dedupe()
        rows = [self.rows[i] for i in keep]
        extras = list(self.extras)
        data: dict[str, Any] = {
            "id": pd.Series([r["id"] for r in rows], dtype=object),
            "title": pd.Series([r["title"] for r in rows], dtype=object),
            "body": pd.Series([r["body"] for r in rows], dtype=object),
            "url": pd.Series([r["url"] for r in rows], dtype=object),
            "published_at": pd.to_datetime(
                pd.Series([r["published_at"] for r in rows], dtype=object), utc=True
            ).astype("datetime64[ns, UTC]"),
            "section": pd.Series([r["section"] for r in rows], dtype=object),
            "tags": pd.Series([r["tags"] for r in rows], dtype=object),
            "language": pd.Series([r["language"] for r in rows], dtype=object),
            "status": pd.Series([r["status"] for r in rows], dtype=object),
            "story_id": pd.Series([r["story_id"] for r in rows], dtype=object),
        }
        if self.keep_links:
            extras = [*(c for c in extras if c != "links"), "links"]
        for col in extras:
            data[col] = pd.Series([r.get(col) for r in rows], dtype=object)
        df = pd.DataFrame(data, columns=[*CORE_COLUMNS, *extras])
        self.report.rows_kept = len(df)
        self.report.unpublished = int((df["status"] != "published").sum()) if len(df) else 0
        return df


def _date_or_none(v: Any) -> datetime | None:
    try:
        return _parse_date(v)
    except _BadValue:
        return None


# --------------------------------------------------------------------------- public API


def load_corpus(
    paths: str | Path | Sequence[str | Path],
    *,
    columns: Mapping[str, str] | None = None,
    fmt: str | None = None,
    id_prefix: str | None = None,
    keep_links: bool = False,
) -> tuple[pd.DataFrame, CorpusReport]:
    """Read one or more corpus files into one validated table.

    Parameters
    ----------
    paths : str, Path or sequence of them
        Files to read, in order (later files win on duplicate ids, see the module docstring).
    columns : mapping of str to str, optional
        Source column name -> our column name, e.g.
        ``{"headline": "title", "post_id": "id", "content": "body", "pub_date": "published_at"}``.
        Targets must be in :data:`MAPPABLE_COLUMNS`. Not applied to WordPress exports.
    fmt : str, optional
        Force the format of every file (``csv``, ``tsv``, ``jsonl``, ``json``, ``parquet``,
        ``wxr``) instead of :func:`detect_format`.
    id_prefix : str, optional
        Prefix of ids built from WordPress post ids (``wp:post_id``); default ``"wp-"``.
        Ignored for other formats (their ids are used as they are).
    keep_links : bool, default=False
        Add a ``links`` column: the outbound links of each body (``<a href>`` of HTML
        bodies, resolved against the article URL; URLs of plain-text bodies), as
        ``alsosee mine-links`` needs them. The HTML is otherwise dropped during loading.

    Returns
    -------
    df : DataFrame
        Columns :data:`CORE_COLUMNS` then extra input columns in first-seen order;
        ``published_at`` is ``datetime64[ns, UTC]``, ``tags`` holds lists of str, nullable
        text columns hold None.
    report : CorpusReport
        What was read, kept and skipped.

    Raises
    ------
    CorpusError
        Unreadable, empty, non-UTF-8 or malformed file, missing required column, bad
        ``columns`` mapping, invalid ``tags`` value. Messages name the file, line and column.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise CorpusError("no corpus file given")
    if fmt is not None and fmt not in FORMATS:
        raise CorpusError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    mapping = _check_mapping(columns)
    prefix = "wp-" if id_prefix is None else id_prefix
    report = CorpusReport()
    builder = _Builder(mapping, report, keep_links=keep_links)
    for path in paths:
        kind = fmt or detect_format(path)
        report.files.append(str(path))
        if kind == "wxr":
            records, n_items, _ = _read_wxr(path, prefix, report)
            report.rows_read += n_items
            builder_mapping, builder.mapping = builder.mapping, {}
            try:
                builder.add(str(path), records, check_required=False)
            finally:
                builder.mapping = builder_mapping
            continue
        if kind in ("csv", "tsv"):
            tsv = kind == "tsv" or ".tsv" in [s.lower() for s in path.suffixes]
            records = _read_csv(path, "\t" if tsv else ",")
        elif kind in ("jsonl", "json"):
            records = _read_jsonl(path)
        else:
            records = _read_parquet(path)
        report.rows_read += len(records)
        builder.add(str(path), records)
    df = builder.frame()
    _log(report)
    return df, report


def articles_from_records(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str = "<records>",
    columns: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, CorpusReport]:
    """Validate in-memory article dicts exactly like a corpus file.

    Parameters
    ----------
    records : iterable of mapping
        One mapping per article (e.g. a JSON body received over HTTP).
    source : str, default "<records>"
        Name used in error messages and the report (``line`` is the 1-based record index).
    columns : mapping of str to str, optional
        Same as in :func:`load_corpus`.

    Returns
    -------
    df : DataFrame
        Same shape as :func:`load_corpus`.
    report : CorpusReport
        What was read, kept and skipped.

    Raises
    ------
    CorpusError
        No records, a record that is not a mapping, missing required column, bad mapping.
    """
    mapping = _check_mapping(columns)
    recs: _Records = []
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, Mapping):
            raise CorpusError(f"{source}: record {i} is a {type(rec).__name__}, not an object")
        recs.append((i, dict(rec)))
    if not recs:
        raise CorpusError(f"{source}: no records")
    report = CorpusReport(files=[source], rows_read=len(recs))
    builder = _Builder(mapping, report)
    builder.add(source, recs)
    df = builder.frame()
    _log(report)
    return df, report


def _log(report: CorpusReport) -> None:
    logger.info(
        "corpus: read %d rows from %d file(s), kept %d, skipped %d %s, %d duplicates, "
        "%d not published",
        report.rows_read, len(report.files), report.rows_kept, sum(report.skipped.values()),
        report.skipped, report.duplicates, report.unpublished,
    )  # fmt: skip
    if report.rows_kept == 0:
        logger.warning("corpus: no usable rows in %s", ", ".join(report.files))
