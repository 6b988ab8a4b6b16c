"""Mine editors' related links from the corpus itself (``alsosee mine-links``).

Two sources of editor-made links, both already in newsroom bodies:

* **in-body links** whose URL is another article of the corpus (read from the HTML, see
  ``load_corpus(..., keep_links=True)``). URLs are compared without scheme, ``www.``, query,
  fragment and trailing slash. A link to the corpus's own site whose path has the shape of an
  article URL (e.g. ``/2012/05/01/slug/``) but names no article of the corpus is
  *unresolved* (usually an older story outside the export); other links to the site (tag,
  category, author pages) are counted apart.
* **"ALSO SEE:" / "Read more:" / "Related:" blocks** (see :mod:`recommender.text.boilerplate`)
  whose lines are headlines of other articles. Headlines are matched to corpus titles after
  normalisation (case, accents, punctuation, spacing), then by fuzzy similarity (rapidfuzz
  ``ratio`` >= ``fuzzy_threshold``) for small edits; lines that match nothing are reported.
  When several articles share a headline, the one published closest before the source wins.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ..text.boilerplate import boilerplate_config, find_blocks

__all__ = ["MiningReport", "TitleMatcher", "mine_links", "normalize_title", "normalize_url"]

logger = logging.getLogger(__name__)

DEFAULT_FUZZY_THRESHOLD = 90.0
#: At most this many unresolved links / unmatched lines are listed (counts stay exact).
MAX_LISTED = 500

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_TRAILER = re.compile(r"\s*(?:\([^()]*\)|\[[^\[\]]*\]|\s[-–—|]\s.*)$")


def normalize_title(s: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a headline.

    Examples
    --------
    >>> normalize_title("Côte d'Ivoire: Peace — at Last?")
    'cote d ivoire peace at last'
    """
    s = unicodedata.normalize("NFKD", s or "")
    s = "".join(c for c in s if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", s.casefold().replace("_", " ")).split())


def normalize_url(url: str) -> tuple[str, str]:
    """``(host, path)`` of a URL with scheme, ``www.``, query, fragment, trailing ``/`` dropped.

    Examples
    --------
    >>> normalize_url("https://www.Example.org/2012/05/01/x/?utm=1#c")
    ('example.org', '/2012/05/01/x')
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    path = path[:-len("/index.html")] if path.endswith("/index.html") else path
    return host, (path.rstrip("/") or "/")


def _shape(path: str) -> tuple[str, ...]:
    """Shape of a URL path: digit segments by length, other segments as ``s``."""
    return tuple(f"d{len(seg)}" if seg.isdigit() else "s" for seg in path.strip("/").split("/"))


class TitleMatcher:
    """Match headline lines to corpus titles (exact after normalisation, then fuzzy)."""

    def __init__(self, ids: Any, titles: Any, published: Any,
                 fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> None:
        self.threshold = fuzzy_threshold
        self.by_norm: dict[str, list[int]] = {}
        self.ids = list(ids)
        self.t = pd.to_datetime(pd.Series(list(published)), utc=True, errors="coerce")
        for i, title in enumerate(titles):
            norm = normalize_title(title if isinstance(title, str) else "")
            if norm:
                self.by_norm.setdefault(norm, []).append(i)
        self.choices = list(self.by_norm)
        self.long_titles = [n for n in self.choices if len(n.split()) >= 4]

    def _pick(self, rows: list[int], source_time: Any) -> tuple[int, bool]:
        if len(rows) == 1:
            return rows[0], False
        st = pd.Timestamp(source_time) if source_time is not None else pd.NaT
        if pd.isna(st):
            return rows[-1], True
        before = [r for r in rows if not pd.isna(self.t[r]) and self.t[r] <= st]
        pool = before or rows
        return max(pool, key=lambda r: (self.t[r] if not pd.isna(self.t[r]) else st, r)), True

    def _fuzzy(self, norm: str) -> str | None:
        try:
            from rapidfuzz import fuzz, process
        except ImportError:  # pragma: no cover - rapidfuzz is a dependency; difflib fallback
            import difflib

            hits = difflib.get_close_matches(norm, self.choices, n=1,
                                             cutoff=self.threshold / 100)
            return hits[0] if hits else None
        hit = process.extractOne(norm, self.choices, scorer=fuzz.ratio,
                                 score_cutoff=self.threshold)
        return hit[0] if hit else None

    def match(self, line: str, source_time: Any = None) -> tuple[list[int], bool]:
        """Rows whose title is this headline line (``[]`` if none) and whether it was
        ambiguous (several articles with this headline)."""
        candidates = [line]
        trimmed = _TRAILER.sub("", line).strip()
        if trimmed and trimmed != line:
            candidates.append(trimmed)  # "Headline (May 3)", "Headline - Site name"
        for cand in candidates:
            norm = normalize_title(cand)
            if not norm:
                continue
            key = norm if norm in self.by_norm else self._fuzzy(norm)
            if key is not None:
                row, ambiguous = self._pick(self.by_norm[key], source_time)
                return [row], ambiguous
        # A block flattened into one line ("ALSO SEE: Headline one Headline two"):
        # look for whole titles of four words or more inside it.
        norm = f" {normalize_title(line)} "
        found = [t for t in self.long_titles if f" {t} " in norm]
        rows = [self._pick(self.by_norm[t], source_time)[0] for t in found]
        return rows, False


@dataclass
class MiningReport:
    """What ``mine-links`` found, and what it could not resolve."""

    articles: int = 0
    links: int = 0
    site_links: int = 0
    resolved_links: int = 0
    self_links: int = 0
    unresolved_links: int = 0
    other_site_links: int = 0
    blocks: int = 0
    block_lines: int = 0
    matched_lines: int = 0
    unmatched_lines: int = 0
    ambiguous_lines: int = 0
    pairs: int = 0
    pairs_from_links: int = 0
    pairs_from_blocks: int = 0
    queries: int = 0
    unresolved: list[dict[str, str]] = field(default_factory=list)
    unmatched: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        return "\n".join([
            f"articles scanned: {self.articles}",
            f"in-body links: {self.links} ({self.site_links} to the corpus's own site)",
            f"  resolved to another article: {self.resolved_links}",
            f"  article-like but not in the corpus (unresolved): {self.unresolved_links}",
            f"  self-links: {self.self_links}; other site pages (tags, authors...): "
            f"{self.other_site_links}",
            f"related-links blocks: {self.blocks} with {self.block_lines} headline lines",
            f"  matched to a corpus title: {self.matched_lines} "
            f"({self.ambiguous_lines} ambiguous, closest earlier article chosen)",
            f"  unmatched: {self.unmatched_lines}",
            f"related pairs: {self.pairs} ({self.pairs_from_links} from links, "
            f"{self.pairs_from_blocks} from blocks only) over {self.queries} articles",
        ])


def mine_links(
    articles: pd.DataFrame,
    *,
    boilerplate: Mapping[str, Any] | None = None,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
    use_links: bool = True,
    use_blocks: bool = True,
) -> tuple[dict[str, list[str]], MiningReport]:
    """Find editor-made related links in a corpus.

    Parameters
    ----------
    articles : DataFrame
        A corpus table; in-body links need its ``links`` column
        (``load_corpus(..., keep_links=True)``) and article ``url`` values.
    boilerplate : mapping, optional
        Block patterns (defaults when None), as for ``RelatedStories(boilerplate=...)``.
    fuzzy_threshold : float, default=90
        Minimum rapidfuzz ``ratio`` (0-100) for a headline to match a title with small edits.
    use_links, use_blocks : bool
        Which sources to mine.

    Returns
    -------
    qrels : dict of str to list of str
        Source article id -> related article ids (links first, in body order).
    report : MiningReport
    """
    cfg = boilerplate_config(boilerplate)
    report = MiningReport(articles=len(articles))
    ids = articles["id"].astype(str).tolist()
    urls = articles["url"].tolist() if "url" in articles.columns else [None] * len(ids)
    published = (articles["published_at"].tolist() if "published_at" in articles.columns
                 else [None] * len(ids))
    by_url: dict[tuple[str, str], int] = {}
    hosts: set[str] = set()
    shapes: set[tuple[str, ...]] = set()
    for i, u in enumerate(urls):
        if isinstance(u, str) and u.strip():
            key = normalize_url(u)
            by_url.setdefault(key, i)
            hosts.add(key[0])
            shapes.add(_shape(key[1]))
    matcher = (TitleMatcher(ids, articles["title"].tolist(), published, fuzzy_threshold)
               if use_blocks and "title" in articles.columns else None)
    links_col = (articles["links"].tolist() if use_links and "links" in articles.columns
                 else None)
    if use_links and links_col is None:
        logger.warning("no 'links' column: load the corpus with keep_links=True to mine "
                       "in-body links")
    qrels: dict[str, list[str]] = {}
    for i, source in enumerate(ids):
        related: dict[str, None] = {}
        if links_col is not None:
            for href in links_col[i] if isinstance(links_col[i], (list, np.ndarray)) else []:
                report.links += 1
                key = normalize_url(str(href))
                if key[0] not in hosts:
                    continue
                report.site_links += 1
                j = by_url.get(key)
                if j is None:
                    if _shape(key[1]) in shapes:
                        report.unresolved_links += 1
                        if len(report.unresolved) < MAX_LISTED:
                            report.unresolved.append({"source": source, "url": str(href)})
                    else:
                        report.other_site_links += 1
                elif j == i:
                    report.self_links += 1
                else:
                    report.resolved_links += 1
                    related.setdefault(ids[j], None)
        n_from_links = len(related)
        if matcher is not None:
            body = articles["body"].iat[i] if "body" in articles.columns else ""
            for block in find_blocks(body if isinstance(body, str) else "", cfg):
                if not block.marker:
                    continue  # stock lines ("special coverage ...") name no article
                report.blocks += 1
                for line in block.headlines:
                    report.block_lines += 1
                    rows, ambiguous = matcher.match(line, published[i])
                    rows = [r for r in rows if r != i]
                    if rows:
                        report.matched_lines += 1
                        report.ambiguous_lines += ambiguous
                        for r in rows:
                            related.setdefault(ids[r], None)
                    else:
                        report.unmatched_lines += 1
                        if len(report.unmatched) < MAX_LISTED:
                            report.unmatched.append({"source": source, "line": line})
        if related:
            qrels[source] = list(related)
            report.pairs += len(related)
            report.pairs_from_links += n_from_links
            report.pairs_from_blocks += len(related) - n_from_links
    report.queries = len(qrels)
    return qrels, report
