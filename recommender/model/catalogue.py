"""The article catalogue of a fitted model: ids, titles, urls, dates and the other result
fields of its rows, and the results built from them.

The columns are memory-mappable string tables (:mod:`recommender.string_tables`), built
once at fit time by :func:`build_catalogue`; :class:`ArticleCatalogue` is the part of
:class:`~recommender.model.estimator.RelatedStories` that looks rows and articles up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UnknownArticleError
from ..string_tables import ListColumn, RowIndex, StringColumn
from ..values import _NS, _iso, _none_if_missing, iso_from_ns


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One related story: what a "ALSO SEE" box shows, plus the similarity score."""

    id: str
    title: str
    url: str | None
    published_at: str | None
    section: str | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "published_at": self.published_at,
            "section": self.section,
            "score": self.score,
        }


def row_getter(column: Any) -> Any:
    """``column[row]`` for the model's own (valid) rows: a string table's unchecked
    accessor, else plain indexing."""
    return column.item if isinstance(column, StringColumn) else column.__getitem__


def build_catalogue(X: pd.DataFrame) -> dict[str, Any]:
    """Per-row result fields: string columns as :class:`~recommender.string_tables.StringColumn`
    (one UTF-8 buffer, memory-mapped and shared once saved), tags as a
    :class:`~recommender.string_tables.ListColumn`, dates as datetime64[ns]."""
    n = len(X)

    def col(name: str, default: Any) -> np.ndarray:
        if name in X.columns:
            return X[name].to_numpy(dtype=object)
        return np.full(n, default, dtype=object)

    titles = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
              for v in col("title", "")]
    if "published_at" in X.columns:
        published = pd.to_datetime(X["published_at"], utc=True, errors="coerce")
        published = published.to_numpy(dtype="datetime64[ns]")
    else:
        published = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    status = ["published" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
              for v in col("status", "published")]
    return {
        "title": StringColumn.from_values(titles),
        "url": StringColumn.from_values(col("url", None)),
        "published_at": published,
        "section": StringColumn.from_values(col("section", None)),
        "tags": ListColumn.from_values(col("tags", None)),
        "language": StringColumn.from_values(col("language", None)),
        "status": StringColumn.from_values(status),
        "story_id": StringColumn.from_values(col("story_id", None)),
        # The text as read (paragraphs separated by a blank line): inline placements score
        # the passage before a slot from it at query time.
        "body": StringColumn.from_values(col("body", None)),
    }


class ArticleCatalogue:
    """Lookups of the fitted rows: id -> row, a row's metadata, results for rows."""

    ids_: StringColumn
    row_of_: RowIndex
    meta_: dict[str, Any]
    check_fitted: Callable[[], None]

    def has_article(self, article_id: str) -> bool:
        self.check_fitted()
        return article_id in self.row_of_

    def row(self, article_id: str) -> int:
        """Row of an article id, or :class:`UnknownArticleError`."""
        self.check_fitted()
        try:
            return self.row_of_[article_id]
        except (KeyError, TypeError):
            raise UnknownArticleError(str(article_id)) from None

    def article(self, article_id: str) -> dict[str, Any]:
        """Metadata of one article of the corpus (``id``, ``title``, ``url``, ...)."""
        return self.article_at(self.row(article_id))

    def article_at(self, row: int) -> dict[str, Any]:
        """Metadata of the article at a row (see :meth:`article`)."""
        m = self.meta_
        return {
            "id": self.ids_[row],
            "title": m["title"][row],
            "url": _none_if_missing(m["url"][row]),
            "published_at": _iso(m["published_at"][row]),
            "section": _none_if_missing(m["section"][row]),
            "tags": list(m["tags"][row]),
            "language": _none_if_missing(m["language"][row]),
            "status": m["status"][row],
        }

    def results(self, rows: np.ndarray, scores: np.ndarray) -> list[Recommendation]:
        """The results for parallel arrays of rows and scores, with the columns looked up
        once (and the dates read through a plain view of their memory map: ``np.memmap``
        indexing runs Python code for every item)."""
        m = self.meta_
        ids, titles, urls, sections = (row_getter(c) for c in (
            self.ids_, m["title"], m["url"], m["section"]))
        rows = np.asarray(rows, dtype=np.intp)
        published = np.asarray(m["published_at"]).take(rows)
        # whole dates as int64 ns (Python ints format faster than numpy scalars)
        dates = (map(iso_from_ns, published.view(np.int64).tolist())
                 if published.dtype == _NS else map(_iso, published))
        return [Recommendation(id=ids(r), title=titles(r), url=_none_if_missing(urls(r)),
                               published_at=date, section=_none_if_missing(sections(r)),
                               score=round(min(max(s, 0.0), 1.0), 6))
                for r, s, date in zip(rows.tolist(), scores.tolist(), dates, strict=True)]
