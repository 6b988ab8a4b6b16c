"""The row space of a ranking: every row a related list may show.

The corpus rows of a fitted model ``[0, n)`` (their arrays derived once per model:
:class:`CorpusArrays`), then the live articles of one live snapshot ``[n, n + L)``
(:class:`RowSpace`): timestamps, section/language/story codes, URLs, vectors and the cosines
the ranking stages read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import UnusableValueError
from ..model.estimator import RelatedStories
from ..model.lsa import project
from ..ranking import options as ranking
from ..ranking.options import NAT
from ..state.known import KnownArticles, corpus_url_rows, with_live_urls
from ..state.live import LiveSnapshot
from ..values import _none_if_missing, iso_from_ns

_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column of optional strings (-1 = missing) and the names."""
    clean = pd.Series([None if _none_if_missing(v) in (None, "") else str(v) for v in values],
                      dtype=object)
    codes, uniques = pd.factorize(clean, use_na_sentinel=True)
    return codes.astype(np.int32), [str(u) for u in uniques]



class CorpusArrays:
    """The corpus rows' arrays, derived once per model: timestamps, section/language/story
    codes, URL index."""

    def __init__(self, model: RelatedStories) -> None:
        meta = model.meta_
        self.n = int(model.n_articles_)
        self.timestamps = np.asarray(meta["published_at"]).astype("datetime64[ns]").view(
            np.int64)
        self.ts_float = _float_timestamps(self.timestamps)
        self.published = np.asarray(model.published_, dtype=bool)
        self.section_codes, self.sections = _codes(meta["section"])
        self.language_codes, self.languages = _codes(meta["language"])
        self.story_codes, self.stories = _codes(meta.get("story_id", np.full(self.n, None)))
        self.tags = meta["tags"]
        #: Result fields per row, built on first use (ISO dates cost ~15 us each).
        self.meta_cache: dict[int, dict[str, Any]] = {}
        self.article_cache: dict[int, dict[str, Any]] = {}
        self.url_rows: Mapping[str, list[int]] = corpus_url_rows(meta["url"])


def _float_timestamps(timestamps: np.ndarray) -> np.ndarray:
    """float64 ns since the epoch, NaN for NaT: the recency step's input, converted once
    per model (``ranking.age_gap_days`` converts the same way on every call)."""
    out = np.asarray(timestamps, dtype=np.int64).astype(np.float64)
    out[timestamps == NAT] = np.nan
    return out


def _extend_codes(names: list[str], values: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Codes of ``values`` in ``names`` (case-sensitive; new names appended)."""
    names = list(names)
    index = {name: i for i, name in enumerate(names)}
    # Factorised first (a C loop), then only the distinct values looked up: a write to the
    # live state re-codes every live row.
    local, uniques = pd.factorize(pd.Series(list(values), dtype=object), use_na_sentinel=True)
    mapping = np.full(len(uniques) + 1, -1, dtype=np.int32)  # [-1] -> -1 (missing)
    for i, value in enumerate(uniques):
        value = _none_if_missing(value)
        if value in (None, ""):
            continue
        code = index.get(str(value))
        if code is None:
            code = index[str(value)] = len(names)
            names.append(str(value))
        mapping[i] = code
    return mapping[local].astype(np.int32), names


class RowSpace:
    """Every row a list may show: the corpus rows ``[0, n)``, then the live articles
    ``[n, n + L)`` of one :class:`~recommender.state.live.LiveSnapshot` (published through the
    API between retrains). A live article replaces the corpus article with its id; an
    unpublished id (tombstone) hides it."""

    def __init__(self, model: RelatedStories, corpus: CorpusArrays,
                 live: LiveSnapshot | None = None) -> None:
        self.model, self.corpus, self.live = model, corpus, live
        n = corpus.n
        n_live = int(live.n_live) if live is not None else 0
        self.n_corpus, self.n = n, n + n_live
        hidden = np.asarray(live.hidden_rows, dtype=np.int64) if live is not None else None
        if n_live == 0:
            self.timestamps = corpus.timestamps
            self.ts_float = corpus.ts_float
            self.section_codes, self.sections = corpus.section_codes, corpus.sections
            self.language_codes, self.languages = corpus.language_codes, corpus.languages
            self.story_codes, self.stories = corpus.story_codes, corpus.stories
            self.tags = corpus.tags
            self.url_rows = corpus.url_rows
            published = corpus.published
        else:
            assert live is not None  # n_live > 0
            records = live.records
            self.timestamps = np.concatenate([corpus.timestamps, live.timestamps])
            self.ts_float = _float_timestamps(self.timestamps)
            codes, self.sections = _extend_codes(corpus.sections,
                                                 [r.get("section") for r in records])
            self.section_codes = np.concatenate([corpus.section_codes, codes])
            codes, self.languages = _extend_codes(corpus.languages,
                                                  [r.get("language") for r in records])
            self.language_codes = np.concatenate([corpus.language_codes, codes])
            codes, self.stories = _extend_codes(corpus.stories,
                                                [r.get("story_id") for r in records])
            self.story_codes = np.concatenate([corpus.story_codes, codes])
            self.tags = np.concatenate([np.asarray(corpus.tags, dtype=object), live.tags])
            self.url_rows = with_live_urls(corpus.url_rows, live.url_keys, n)
            published = np.concatenate([corpus.published, np.asarray(live.candidate, dtype=bool)])
        if hidden is not None and hidden.size:
            published = published.copy()
            published[hidden] = False
        self.published = published
        self.has_story = bool(self.stories)
        self.any_dated = bool(np.any(self.timestamps != NAT))
        self._close: dict[float, np.ndarray] = {}
        self._section_index = {s.lower(): i for i, s in enumerate(self.sections)}
        self._language_index = {s.lower(): i for i, s in enumerate(self.languages)}
        #: Ids and URLs, matched as the CLI's checks match them (recommender.state.known).
        self.known = KnownArticles(model.row_of_, n, self.url_rows, live)

    # ----------------------------------------------------------------- rows
    def row_of(self, article_id: str) -> int | None:
        """The row showing ``article_id`` (live first), or None."""
        return self.known.row_of(article_id)

    @property
    def _live(self) -> LiveSnapshot:
        """The live snapshot of the rows >= ``n_corpus`` (there are none without one)."""
        assert self.live is not None
        return self.live

    @property
    def _live_matrix(self) -> sp.csr_matrix:
        matrix = self._live.matrix
        assert matrix is not None  # a snapshot with rows has their vectors
        return matrix

    def rows_of(self, ids: Iterable[str]) -> list[int]:
        return [r for r in (self.row_of(i) for i in ids) if r is not None]

    def id_of(self, row: int) -> str:
        if row < self.n_corpus:
            return str(self.model.ids_[row])
        return str(self._live.ids[row - self.n_corpus])

    def vector(self, row: int) -> sp.csr_matrix:
        if row < self.n_corpus:
            return self.model.matrix_[row]
        return self._live_matrix[row - self.n_corpus]

    def vectors(self, rows: np.ndarray) -> sp.csr_matrix:
        """The vectors of ``rows`` (corpus and live), stacked in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        is_live = rows >= self.n_corpus
        if not is_live.any():
            return self.model.matrix_[rows]
        parts = [self.model.matrix_[rows[~is_live]],
                 self._live_matrix[rows[is_live] - self.n_corpus]]
        order = np.concatenate([np.flatnonzero(~is_live), np.flatnonzero(is_live)])
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return sp.vstack(parts, format="csr")[back]

    def terms(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The columns and weights of one row's vector (corpus or live), without a copy."""
        matrix = self.model.matrix_ if row < self.n_corpus else self._live_matrix
        if row >= self.n_corpus:
            row -= self.n_corpus
        start, end = int(matrix.indptr[row]), int(matrix.indptr[row + 1])
        return np.asarray(matrix.indices[start:end]), np.asarray(matrix.data[start:end])

    def dot(self, rows: np.ndarray, vector: sp.csr_matrix) -> np.ndarray:
        """Dot products (float64) of ``rows`` (corpus and live) with one sparse row vector:
        the vector scattered into the model's all-zero scratch space and each row's entries
        read against it (a few microseconds per row, no sparse product)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros(0, dtype=np.float64)
        if int(rows.max()) >= self.n_corpus:
            return np.asarray((self.vectors(rows) @ vector.T).toarray(),
                              dtype=np.float64).ravel()
        cols, data, owner, _ = self._entries(rows)
        scratch = self.model.scratch()
        scratch[vector.indices] = vector.data
        try:
            contrib = data.astype(np.float64) * scratch[cols]
        finally:
            scratch[vector.indices] = 0.0
        return np.bincount(owner, weights=contrib, minlength=rows.size)

    def lsa_cosines(self, rows: np.ndarray, query_lsa: np.ndarray) -> np.ndarray:
        """LSA cosines (float64) of ``rows`` (corpus: stored projections; live: projected
        from their vectors) with a projected query (a model with LSA only)."""
        rows = np.asarray(rows, dtype=np.int64)
        is_live = rows >= self.n_corpus
        if not is_live.any():
            return self.model.lsa_cosines(rows, query_lsa)
        out = np.empty(rows.size, dtype=np.float64)
        out[~is_live] = self.model.lsa_cosines(rows[~is_live], query_lsa)
        live = self._live_matrix[rows[is_live] - self.n_corpus]
        out[is_live] = project(live, self.model.lsa_arrays()[0]) @ query_lsa
        return out

    def meta(self, row: int) -> dict[str, Any]:
        if row < self.n_corpus:
            cached = self.corpus.meta_cache.get(row)
            if cached is None:
                m = self.model.meta_
                cached = self.corpus.meta_cache[row] = {
                    "id": str(self.model.ids_[row]), "title": m["title"][row],
                    "url": _none_if_missing(m["url"][row]),
                    "published_at": iso_from_ns(int(self.corpus.timestamps[row])),
                    "section": _none_if_missing(m["section"][row])}
            return cached
        rec = self._live.records[row - self.n_corpus]
        return {"id": rec["id"], "title": rec.get("title") or "", "url": rec.get("url"),
                "published_at": rec.get("published_at"), "section": rec.get("section")}

    def near_duplicate_pairs(self, rows: np.ndarray, threshold: float
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``(i, j)`` (``i != j``) of the pairs of ``rows`` whose cosine is at least
        ``threshold`` (a pair may be listed in one or both directions).

        Read from the model's precomputed neighbour lists when every row has one that is
        not saturated (its last neighbour scores below the threshold, so no near-duplicate
        can be missing from it); else computed exactly.
        """
        rows = np.asarray(rows, dtype=np.int64)
        lists = getattr(self.model, "neighbors_", None)
        # With LSA the lists hold blended scores: near-duplicates are judged on the cosine,
        # exactly, unless no row's best lexical neighbour (top_cosine_) is that close.
        top = getattr(self.model, "top_cosine_", None)
        if (top is not None and self.model.has_lsa and rows.size
                and (self.n == self.n_corpus or int(rows.max()) < self.n_corpus)):
            close = self._close.get(threshold)
            if close is None:
                close = self._close[threshold] = np.asarray(top) >= threshold
            if not close[rows].any():
                return _NO_PAIRS
        elif (lists is not None and lists.shape[1] > 0 and rows.size and not self.model.has_lsa
                and (self.n == self.n_corpus or int(rows.max()) < self.n_corpus)):
            close = self._close.get(threshold)
            if close is None:  # rows with any neighbour that close (lists are sorted)
                close = self._close[threshold] = (
                    np.asarray(self.model.neighbor_scores_[:, 0]) >= threshold)
            if not close[rows].any():
                return _NO_PAIRS
            scores = np.asarray(self.model.neighbor_scores_[rows])
            if not np.any(scores[:, -1] >= threshold):
                i, j = np.nonzero(scores >= threshold)
                if not i.size:
                    return _NO_PAIRS
                neighbours = np.asarray(lists[rows[i], j], dtype=np.int64)
                order = np.argsort(rows)
                at = np.searchsorted(rows, neighbours, sorter=order)
                at = order[np.minimum(at, rows.size - 1)]
                hit = rows[at] == neighbours
                return i[hit], at[hit]
        gram = self.pair_similarity(rows)
        out = gram >= threshold
        np.fill_diagonal(out, False)
        first, second = np.nonzero(out)
        return first, second

    def pool_cosines(self, rows: np.ndarray) -> Callable[[int], np.ndarray]:
        """A function giving the cosines of ``rows[i]`` with every one of ``rows``.

        Each call scatters one row into the model's all-zero scratch vector and reads the
        others' entries against it (no sparse product, no full Gram matrix: maximal marginal
        relevance reads only the rows of the links it picks).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0 or int(rows.max()) >= self.n_corpus:
            return self.pair_similarity(rows).__getitem__
        cols, data, owner, ends = self._entries(rows)
        offsets = ends - np.diff(np.concatenate([[0], ends]))
        values = data.astype(np.float64)
        scratch = self.model.scratch()
        size = rows.size

        def row(i: int) -> np.ndarray:
            own = slice(offsets[i], ends[i])
            scratch[cols[own]] = data[own]
            contrib = values * scratch[cols]
            scratch[cols[own]] = 0.0
            return np.bincount(owner, weights=contrib, minlength=size)

        return row

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The stored entries of corpus ``rows``, gathered once: their columns, values, the
        position of the row each belongs to, and where each row's entries end."""
        matrix = self.model.matrix_
        indptr = np.asarray(matrix.indptr)
        starts = indptr[rows].astype(np.int64)
        lens = (indptr[rows + 1] - starts).astype(np.int64)
        ends = np.cumsum(lens)
        pos = np.repeat(starts - (ends - lens), lens) + np.arange(int(ends[-1]) if ends.size
                                                                  else 0)
        return (np.asarray(matrix.indices)[pos], np.asarray(matrix.data)[pos],
                np.repeat(np.arange(rows.size), lens), ends)

    def pair_similarity(self, rows: np.ndarray) -> np.ndarray:
        """Cosines between the given rows (corpus and live)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not (rows >= self.n_corpus).any():
            return _pair_similarity(self.model.matrix_, rows)
        return _pair_similarity(self.vectors(rows), np.arange(rows.size))

    # ----------------------------------------------------------- validation
    def section_code(self, name: str, field: str = "section") -> int:
        try:
            return self._section_index[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self.sections)[:20]) or "(the corpus has no sections)"
            raise UnusableValueError(field, f"unknown section {name!r}; known: {known}") \
                from None

    def language_code(self, name: str) -> int:
        try:
            return self._language_index[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self.languages)[:20]) or "(the corpus has no languages)"
            raise UnusableValueError("language", f"unknown language {name!r}; known: "
                                                    f"{known}") from None



def _pair_similarity(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    if rows.size <= 24:  # measured: the raw-array version wins for small pools
        return ranking.pair_cosines(matrix, rows)
    sub = matrix[rows]
    return np.asarray((sub @ sub.T).toarray(), dtype=np.float64)

