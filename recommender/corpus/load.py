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

The readers are one module each (:mod:`.read_csv`, :mod:`.read_jsonl`, :mod:`.read_parquet`,
:mod:`.read_wxr`); :mod:`.coerce` turns raw values into the columns, :mod:`.normalise`
builds the rows, :mod:`.dedupe` keeps the latest version of an id and :mod:`.report` says
what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CorpusError
from .coerce import (
    CORE_COLUMNS,
    MAPPABLE_COLUMNS,
    PUBLISHED_STATUSES,
    check_mapping,
    is_published,
    normalize_status,
)
from .files import FORMATS, Records, detect_format
from .normalise import Normaliser
from .read_csv import read_csv
from .read_jsonl import read_jsonl
from .read_parquet import read_parquet
from .read_wxr import read_wxr
from .report import MAX_SKIPPED_ROWS, CorpusReport, log_report

__all__ = [
    "CORE_COLUMNS",
    "FORMATS",
    "MAPPABLE_COLUMNS",
    "MAX_SKIPPED_ROWS",
    "PUBLISHED_STATUSES",
    "CorpusReport",
    "articles_from_records",
    "detect_format",
    "is_published",
    "load_corpus",
    "normalize_status",
]


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
    files = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    if not files:
        raise CorpusError("no corpus file given")
    if fmt is not None and fmt not in FORMATS:
        raise CorpusError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    mapping = check_mapping(columns)
    prefix = "wp-" if id_prefix is None else id_prefix
    report = CorpusReport()
    builder = Normaliser(mapping, report, keep_links=keep_links)
    for path in files:
        kind = fmt or detect_format(path)
        report.files.append(str(path))
        if kind == "wxr":
            records, n_items, _ = read_wxr(path, prefix, report)
            report.rows_read += n_items
            builder_mapping, builder.mapping = builder.mapping, {}
            try:
                builder.add(str(path), records, check_required=False)
            finally:
                builder.mapping = builder_mapping
            continue
        if kind in ("csv", "tsv"):
            tsv = kind == "tsv" or ".tsv" in [s.lower() for s in path.suffixes]
            records = read_csv(path, "\t" if tsv else ",")
        elif kind in ("jsonl", "json"):
            records = read_jsonl(path)
        else:
            records = read_parquet(path)
        report.rows_read += len(records)
        builder.add(str(path), records)
    df = builder.frame()
    log_report(report)
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
    mapping = check_mapping(columns)
    recs: Records = []
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, Mapping):
            raise CorpusError(f"{source}: record {i} is a {type(rec).__name__}, not an object")
        recs.append((i, dict(rec)))
    if not recs:
        raise CorpusError(f"{source}: no records")
    report = CorpusReport(files=[source], rows_read=len(recs))
    builder = Normaliser(mapping, report)
    builder.add(source, recs)
    df = builder.frame()
    log_report(report)
    return df, report
