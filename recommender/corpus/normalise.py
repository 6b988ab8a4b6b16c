"""The normaliser: raw records of any reader (or of the live API) into the rows of the
canonical table, with the coercion of :mod:`.coerce`, then de-duplicated into one DataFrame.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ..errors import CorpusError
from ..text.plain import clean_title, extract_links
from ..urls import is_safe_link
from .coerce import (
    CORE_COLUMNS,
    BadValue,
    as_id,
    as_text,
    clean_body,
    map_hint,
    normalize_status,
    opt_str,
    parse_date,
    parse_tags,
)
from .dedupe import latest_versions
from .files import Records
from .report import CorpusReport

logger = logging.getLogger(__name__)


class Normaliser:
    """Accumulates normalised rows from several sources, then builds one DataFrame."""

    def __init__(self, mapping: dict[str, str], report: CorpusReport,
                 keep_links: bool = False) -> None:
        self.mapping = mapping
        self.report = report
        self.keep_links = keep_links
        self.rows: list[dict[str, Any]] = []
        self.where: list[tuple[str, int]] = []
        self.extras: dict[str, None] = {}  # ordered set of extra columns

    def add(self, source: str, records: Records, *, check_required: bool = True) -> None:
        mapping = self.mapping
        seen: dict[str, None] = {}
        renamed: Records = []
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
                    f"(columns found: {', '.join(found) or 'none'})", **map_hint("id")
                )
            if "title" not in seen and "body" not in seen:
                raise CorpusError(
                    f"{source}: missing required column 'title' or 'body' (need at least one; "
                    f"columns found: {', '.join(found)})", **map_hint("title")
                )
        for k in found:
            if k not in CORE_COLUMNS and k not in self.extras:
                self.extras[k] = None
        report = self.report
        for line, rec in renamed:
            rid = as_id(rec.get("id"))
            if rid is None:
                report.skip(source, line, None, "missing_id")
                continue
            title = clean_title(as_text(rec.get("title")))
            body = clean_body(rec.get("body"))
            if not title and not body:
                report.skip(source, line, rid, "empty")
                continue
            try:
                published = parse_date(rec.get("published_at"))
            except BadValue:
                # The date is optional: a bad one costs the article its date, not its place.
                published = None
                report.bad_date(source, line, rid, rec.get("published_at"))
            try:
                tags = parse_tags(rec.get("tags"))
            except BadValue as e:
                raise CorpusError(
                    f"{source}: line {line}: column 'tags': {e} (value {rec.get('tags')!r})"
                ) from e
            url = opt_str(rec.get("url"))
            if url is not None and not is_safe_link(url):
                logger.warning("%s: line %d: id %r: url %r is not an http(s) URL or a path on "
                               "the site; kept without a link", source, line, rid, url[:200])
                url = None
            story = opt_str(rec.get("story_id"))
            if story is None:
                story = opt_str(rec.get("canonical_url"))
            lang = opt_str(rec.get("language"))
            row = dict(rec)
            row.update(
                id=rid,
                title=title,
                body=body,
                url=url,
                published_at=published,
                section=opt_str(rec.get("section")),
                tags=tags,
                language=lang.lower() if lang else None,
                status=normalize_status(rec.get("status")),
                story_id=story,
            )
            if self.keep_links:
                row["links"] = extract_links(as_text(rec.get("body")), row["url"])
            self.rows.append(row)
            self.where.append((source, line))

    def frame(self) -> pd.DataFrame:
        keep = latest_versions(self.rows, self.where, self.report)
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
