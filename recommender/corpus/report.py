"""The load report: what a corpus load read, kept and skipped, and why."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

#: At most this many entries are kept in ``CorpusReport.skipped_rows`` (counts stay exact).
MAX_SKIPPED_ROWS = 1000


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

    def bad_date(self, file: str, line: int, id_: str, value: Any) -> None:
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

    def skip(self, file: str, line: int, id_: str | None, reason: str, *, count: bool = True):
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


def log_report(report: CorpusReport) -> None:
    """Log a load's totals (a warning when nothing was kept)."""
    logger.info(
        "corpus: read %d rows from %d file(s), kept %d, skipped %d %s, %d duplicates, "
        "%d not published",
        report.rows_read, len(report.files), report.rows_kept, sum(report.skipped.values()),
        report.skipped, report.duplicates, report.unpublished,
    )  # fmt: skip
    if report.rows_kept == 0:
        logger.warning("corpus: no usable rows in %s", ", ".join(report.files))
