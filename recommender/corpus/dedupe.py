"""De-duplication: when an id is read more than once, the latest version is kept.

If both rows have a parseable ``modified_at`` the later one wins, else if both have a
``published_at`` the later one wins, else (and on ties) the row read last wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .coerce import date_or_none
from .report import CorpusReport


def latest_versions(rows: Sequence[Mapping[str, Any]], where: Sequence[tuple[str, int]],
                    report: CorpusReport) -> list[int]:
    """Indices of the rows to keep, in order: the latest version of every id.

    ``where`` gives each row's (file, line); dropped versions are counted in
    ``report.duplicates`` and listed in its ``skipped_rows`` (reason ``duplicate``).
    """
    best: dict[str, int] = {}
    for i, row in enumerate(rows):
        j = best.get(row["id"])
        if j is None:
            best[row["id"]] = i
            continue
        winner, loser = i, j
        for key in ("modified_at", "published_at"):
            a, b = date_or_none(rows[j].get(key)), date_or_none(row.get(key))
            if a is not None and b is not None:
                if a > b:
                    winner, loser = j, i
                break
        best[row["id"]] = winner
        report.duplicates += 1
        src, line = where[loser]
        report.skip(src, line, row["id"], "duplicate", count=False)
    return sorted(best.values())
