"""The newsroom recommender: a fitted model + editorial state + ranking options.

:class:`Recommender` is what the CLI and the HTTP service call (never the ranking functions
directly). For one query it scores every story by cosine similarity (the model), removes
what must not be shown (the article itself, takedowns, unpublished, blocked, excluded,
filtered, outside the time window, below the floor, the same story again), weighs the rest
by recency, collapses near-duplicates, optionally diversifies, puts the editors' pins first
and fills empty slots from the latest stories of the section when asked to.

``RelatedStories.related()`` stays plain cosine: it is the baseline the defaults are
measured against (``scripts/measure_ranking.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InvalidParameterError, UnknownArticleError, UnusableValueError
from ..model.estimator import RelatedStories, _none_if_missing, iso_from_ns
from ..ranking import options as ranking
from ..ranking.explain import explain_vectors
from ..ranking.options import FEEDBACK_DOCS, NAT, RankingOptions
from ..state.db import StateDB
from ..state.editorial import Editorial, PinList, Snapshot, Takedown
from ..state.known import CheckedEditorial, KnownArticles, corpus_url_rows, with_live_urls

logger = logging.getLogger(__name__)

REASON_SIMILAR = "similar"
REASON_PINNED = "pinned"
REASON_FALLBACK = "fallback"

_EMPTY_SNAPSHOT = Snapshot(version=0)
_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column of optional strings (-1 = missing) and the names."""
    clean = pd.Series([None if _none_if_missing(v) in (None, "") else str(v) for v in values],
                      dtype=object)
    codes, uniques = pd.factorize(clean, use_na_sentinel=True)
    return codes.astype(np.int32), [str(u) for u in uniques]


@functools.lru_cache(maxsize=256)
def _cached_options(base: RankingOptions, items: tuple[tuple[str, Any], ...]) -> RankingOptions:
    # Repeated requests (same query string) skip re-validation.
    return RankingOptions.from_mapping(dict(items), base=base)


class CorpusView:
    """Arrays derived once per model: timestamps, section/language/story codes, URL index."""

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
        self.url_rows = corpus_url_rows(meta["url"])


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


class Universe:
    """Every row a list may show: the corpus rows ``[0, n)``, then the live articles
    ``[n, n + L)`` of one :class:`~recommender.state.live.LiveSnapshot` (published through the
    API between retrains). A live article replaces the corpus article with its id; an
    unpublished id (tombstone) hides it."""

    def __init__(self, model: RelatedStories, view: CorpusView, live: Any = None) -> None:
        self.model, self.view, self.live = model, view, live
        n = view.n
        n_live = int(live.n_live) if live is not None else 0
        self.n_corpus, self.n = n, n + n_live
        hidden = np.asarray(live.hidden_rows, dtype=np.int64) if live is not None else None
        if n_live == 0:
            self.timestamps = view.timestamps
            self.ts_float = view.ts_float
            self.section_codes, self.sections = view.section_codes, view.sections
            self.language_codes, self.languages = view.language_codes, view.languages
            self.story_codes, self.stories = view.story_codes, view.stories
            self.tags = view.tags
            self.url_rows = view.url_rows
            published = view.published
        else:
            records = live.records
            self.timestamps = np.concatenate([view.timestamps, live.timestamps])
            self.ts_float = _float_timestamps(self.timestamps)
            codes, self.sections = _extend_codes(view.sections,
                                                 [r.get("section") for r in records])
            self.section_codes = np.concatenate([view.section_codes, codes])
            codes, self.languages = _extend_codes(view.languages,
                                                  [r.get("language") for r in records])
            self.language_codes = np.concatenate([view.language_codes, codes])
            codes, self.stories = _extend_codes(view.stories,
                                                [r.get("story_id") for r in records])
            self.story_codes = np.concatenate([view.story_codes, codes])
            self.tags = np.concatenate([np.asarray(view.tags, dtype=object), live.tags])
            self.url_rows = with_live_urls(view.url_rows, live.url_keys, n)
            published = np.concatenate([view.published, np.asarray(live.candidate, dtype=bool)])
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

    def rows_of(self, ids: Iterable[str]) -> list[int]:
        return [r for r in (self.row_of(i) for i in ids) if r is not None]

    def id_of(self, row: int) -> str:
        if row < self.n_corpus:
            return str(self.model.ids_[row])
        return str(self.live.ids[row - self.n_corpus])

    def vector(self, row: int) -> sp.csr_matrix:
        if row < self.n_corpus:
            return self.model.matrix_[row]
        return self.live.matrix[row - self.n_corpus]

    def vectors(self, rows: np.ndarray) -> sp.csr_matrix:
        """The vectors of ``rows`` (corpus and live), stacked in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        is_live = rows >= self.n_corpus
        if not is_live.any():
            return self.model.matrix_[rows]
        parts = [self.model.matrix_[rows[~is_live]],
                 self.live.matrix[rows[is_live] - self.n_corpus]]
        order = np.concatenate([np.flatnonzero(~is_live), np.flatnonzero(is_live)])
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return sp.vstack(parts, format="csr")[back]

    def terms(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The columns and weights of one row's vector (corpus or live), without a copy."""
        matrix = self.model.matrix_ if row < self.n_corpus else self.live.matrix
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
        scratch = self.model._scratch()
        scratch[vector.indices] = vector.data
        try:
            contrib = data.astype(np.float64) * scratch[cols]
        finally:
            scratch[vector.indices] = 0.0
        return np.bincount(owner, weights=contrib, minlength=rows.size)

    def meta(self, row: int) -> dict[str, Any]:
        if row < self.n_corpus:
            cached = self.view.meta_cache.get(row)
            if cached is None:
                m = self.model.meta_
                cached = self.view.meta_cache[row] = {
                    "id": str(self.model.ids_[row]), "title": m["title"][row],
                    "url": _none_if_missing(m["url"][row]),
                    "published_at": iso_from_ns(int(self.view.timestamps[row])),
                    "section": _none_if_missing(m["section"][row])}
            return cached
        rec = self.live.records[row - self.n_corpus]
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
        if (lists is not None and lists.shape[1] > 0 and rows.size
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
        return np.nonzero(out)

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
        scratch = self.model._scratch()
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


def _pair_similarity(matrix: Any, rows: np.ndarray) -> np.ndarray:
    if rows.size <= 24:  # measured: the raw-array version wins for small pools
        return ranking.pair_cosines(matrix, rows)
    sub = matrix[rows]
    return np.asarray((sub @ sub.T).toarray(), dtype=np.float64)


@dataclass
class RankedItem:
    """One link of a related list."""

    id: str
    title: str
    url: str | None
    published_at: str | None
    section: str | None
    score: float
    similarity: float
    reason: str
    explanation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "title": self.title, "url": self.url,
               "published_at": self.published_at, "section": self.section,
               "score": self.score, "similarity": self.similarity, "reason": self.reason}
        if self.explanation is not None:
            out["explanation"] = self.explanation
        return out


@dataclass
class RelatedResult:
    """A ranked list with the article it is for, the options used and (debug) what was
    dropped."""

    article: dict[str, Any]
    items: list[RankedItem]
    options: RankingOptions
    state_version: int
    debug: dict[str, Any] | None = None

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"article": self.article,
                               "related": [item.to_dict() for item in self.items]}
        if self.debug is not None:
            out["debug"] = self.debug
        return out


@dataclass
class _Query:
    get_vector: Callable[[], sp.csr_matrix]  # lazy: the neighbour lists need no vector
    self_row: int | None  # the article's row in the universe (never shown)
    article_id: str | None
    corpus_article: bool  # a corpus article not replaced by a live version
    reference: int  # ns since epoch, NAT if unknown
    section: str | None
    language: str | None
    story: int = -1
    #: A draft's ``(columns, weights)``: candidates need no scipy matrix.
    terms: tuple[np.ndarray, np.ndarray] | None = None
    _vector: sp.csr_matrix | None = None

    @property
    def vector(self) -> sp.csr_matrix:
        if self._vector is None:
            self._vector = self.get_vector()
        return self._vector


@dataclass
class _Drops:
    """Dropped candidates (debug): row -> (reason, detail)."""

    reasons: dict[int, tuple[str, str]] = field(default_factory=dict)

    def add(self, rows: Iterable[int], reason: str, detail: str = "") -> None:
        for row in rows:
            self.reasons.setdefault(int(row), (reason, detail))


class Recommender:
    """Related stories ranked for a newsroom (see the module docstring).

    Parameters
    ----------
    model : RelatedStories
        A fitted model.
    db : StateDB, optional
        The state database with the editorial controls; without one (and without
        ``editorial``) there are no takedowns, pins or blocks and the editorial methods raise.
    defaults : RankingOptions or mapping, optional
        Options used when a call does not set them (e.g. from the service config, with a
        per-section ``section_half_life`` mapping).
    clock : callable, optional
        Returns "now" (aware datetime): the reference time of drafts, pin expiry.
    editorial : Editorial, optional
        An existing editorial-state handle (shared between engines of successive models).

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.model.estimator import RelatedStories
    >>> df = pd.DataFrame({"id": ["a", "b", "c"],
    ...                    "title": ["Flood hits city", "City flood aftermath", "Chess final"],
    ...                    "body": ["Rain and flood", "Flood damage counted", "A chess match"]})
    >>> engine = Recommender(RelatedStories(max_df=1.0).fit(df))
    >>> engine.related("a", k=1).ids
    ['b']
    """

    def __init__(self, model: RelatedStories, db: StateDB | None = None, *,
                 defaults: RankingOptions | Mapping[str, Any] | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 editorial: Editorial | None = None) -> None:
        model._check_fitted()
        self.model = model
        self.view = CorpusView(model)
        self.editorial = editorial or (Editorial(db) if db is not None else None)
        self._clock = clock or _utcnow
        self._base = Universe(model, self.view)
        self._universe: tuple[Any, Universe] | None = None
        self._killed: tuple[int, int, np.ndarray] | None = None
        self._checked: dict[tuple[int, int], RankingOptions] = {}
        #: Validated options of the corpus universe by call options (defaults, options).
        self._checked_base: dict[tuple[Any, ...], tuple[RankingOptions, RankingOptions]] = {}
        if defaults is None or isinstance(defaults, RankingOptions):
            self.defaults = defaults or RankingOptions()
        else:
            self.defaults = RankingOptions.from_mapping(defaults)
        self.check_options(self.defaults)

    # ------------------------------------------------------------- options
    def options(self, k: Any = None, live: Any = None, **options: Any) -> RankingOptions:
        """Validate call options over the defaults (unknown names/values/sections raise)."""
        if k is not None and not options and k == self.defaults.k:
            return self.defaults
        if k is not None:
            options["k"] = k
        if not options:
            return self.defaults
        try:
            key = tuple(sorted(options.items()))
            hash(key)
        except TypeError:  # lists from JSON: not cacheable
            key = None
        if live is None and key is not None:  # the common case: one dict lookup
            hit = self._checked_base.get(key)
            if hit is not None and hit[0] is self.defaults:
                return hit[1]
        opts = _cached_options(self.defaults, key) if key is not None else \
            RankingOptions.from_mapping(options, base=self.defaults)
        uni = self.universe(live)
        if (id(opts), id(uni)) not in self._checked:
            self.check_options(opts, uni)
            if key is not None:  # cached options objects live on: remember they passed
                self._checked[(id(opts), id(uni))] = opts
        if live is None and key is not None:
            if len(self._checked_base) >= 1024:  # arbitrary query strings: stay bounded
                self._checked_base.clear()
            self._checked_base[key] = (self.defaults, opts)
        return opts

    def check_options(self, opts: RankingOptions, universe: Universe | None = None) -> None:
        """Sections and languages named by ``opts`` must exist (in the corpus or live)."""
        uni = universe or self._base
        for name in opts.section:
            uni.section_code(name, "section")
        for name in opts.exclude_sections:
            uni.section_code(name, "exclude_sections")
        if opts.language is not None and opts.language.lower() != "any":
            uni.language_code(opts.language)
        if opts.fallback and not uni.sections:
            raise UnusableValueError("fallback", "the corpus has no sections")

    def universe(self, live: Any = None) -> Universe:
        """The rows of the corpus plus those of a live snapshot (cached per snapshot)."""
        if live is None:
            return self._base
        cached = self._universe
        if cached is not None and (cached[0] is live or live.same_rows(cached[0])):
            return cached[1]
        uni = Universe(self.model, self.view, live)
        self._universe = (live, uni)
        return uni

    def _snapshot(self) -> Snapshot:
        return self.editorial.snapshot() if self.editorial is not None else _EMPTY_SNAPSHOT

    # ------------------------------------------------------------- queries
    def article(self, article_id: str, live: Any = None) -> dict[str, Any]:
        """Metadata of an article (the live version if any; 404 if unpublished)."""
        if live is not None:
            if live.has(article_id):
                return live.article(article_id)
            if article_id in live.tombstones:
                raise UnknownArticleError(article_id)
        row = self.model.row(article_id)
        cached = self.view.article_cache.get(row)
        if cached is None:  # the fields of model.article(), dates formatted faster
            m = self.model.meta_
            cached = self.view.article_cache[row] = {
                "id": self.model.ids_[row], "title": m["title"][row],
                "url": _none_if_missing(m["url"][row]),
                "published_at": iso_from_ns(int(self.view.timestamps[row])),
                "section": _none_if_missing(m["section"][row]),
                "tags": list(m["tags"][row]),
                "language": _none_if_missing(m["language"][row]),
                "status": m["status"][row]}
        return dict(cached)

    def related(self, article_id: str, k: Any = None, *, live: Any = None,
                **options: Any) -> RelatedResult:
        """The related list of a story (of the corpus, or a live article).

        Parameters
        ----------
        article_id : str
            The article being read.
        k : int, optional
            Number of links (default: the engine's default, 5).
        live : LiveSnapshot, optional
            Live articles published since the model was trained (candidates too).
        **options
            Any :class:`RankingOptions` field (strings are parsed).

        Raises
        ------
        UnknownArticleError, InvalidParameterError, StateError
        """
        opts = self.options(k, live, **options)
        uni = self.universe(live)
        article = self.article(article_id, live)
        row = uni.row_of(article_id)
        if row is None:
            raise UnknownArticleError(article_id)
        lang = uni.language_codes[row]
        ts = int(uni.timestamps[row])
        if ts == NAT:  # undated: now, unless the whole corpus is undated (recency no-op)
            ts = ranking.to_ns(self._clock()) if uni.any_dated else NAT
        query = _Query(
            get_vector=lambda: uni.vector(row), self_row=row, article_id=article_id,
            corpus_article=row < uni.n_corpus, reference=ts,
            section=uni.sections[uni.section_codes[row]] if uni.section_codes[row] >= 0
            else None,
            language=uni.languages[lang] if lang >= 0 else None,
            story=int(uni.story_codes[row]),
        )
        return self._rank(query, opts, uni, article)

    def related_to_text(self, title: str, body: str = "", k: Any = None, *,
                        article_tags: Sequence[str] = (), article_section: str | None = None,
                        article_language: str | None = None, published_at: Any = None,
                        live: Any = None, **options: Any) -> RelatedResult:
        """The related list of a draft that is not in the corpus.

        ``article_tags`` are the draft's own tags (vectorised with it; ``tags`` is the tag
        filter option). Its reference time is ``published_at`` (default: now);
        ``article_section`` is used by the ``latest_in_section`` fallback (default: the first
        ``section`` filter) and ``article_language`` as the default language filter.
        ``options`` as in :meth:`related`.
        """
        opts = self.options(k, live, **options)
        uni = self.universe(live)
        terms = self.model.draft_terms(title, body, article_tags)
        section, language = article_section, article_language
        if section is None and opts.section:
            section = opts.section[0]
        if section is not None:
            section = uni.sections[uni.section_code(section, "article_section")]
        if language is not None:
            try:
                language = uni.languages[uni.language_code(language)]
            except InvalidParameterError as exc:
                raise UnusableValueError("article_language", exc.message) from None
        when = ranking.parse_datetime("published_at", published_at) or self._clock()
        query = _Query(get_vector=lambda: self.model._row_matrix(*terms), self_row=None,
                       article_id=None, corpus_article=False,
                       reference=ranking.to_ns(when), section=section, language=language,
                       terms=terms)
        return self._rank(query, opts, uni, {"title": title})

    # ------------------------------------------------------------- ranking
    def _killed_mask(self, snap: Snapshot, uni: Universe) -> np.ndarray:
        cached = self._killed
        if cached is not None and cached[0] == snap.version and cached[1] == id(uni):
            return cached[2]
        mask = np.zeros(uni.n, dtype=bool)
        for key, item in snap.takedowns.items():
            mask[uni.known.takedown_rows(key, item.kind)] = True
        self._killed = (snap.version, id(uni), mask)
        return mask

    def _reason_codes(self, rows: np.ndarray, query: _Query, opts: RankingOptions,
                      snap: Snapshot, killed: np.ndarray, uni: Universe) -> np.ndarray:
        """Why each of ``rows`` cannot be shown (index into ``ranking.REASON_CODES``)."""
        code = np.zeros(rows.size, dtype=np.int8)

        def mark(bad: np.ndarray, reason: str) -> None:
            code[(code == 0) & bad] = ranking.REASON_CODES.index(reason)

        if query.self_row is not None:
            mark(rows == query.self_row, ranking.DROP_SELF)
        mark(killed[rows], ranking.DROP_KILLED)
        if opts.status == "published":
            mark(~uni.published[rows], ranking.DROP_UNPUBLISHED)
        elif uni.live is not None and uni.live.hidden_rows.size:
            mark(np.isin(rows, uni.live.hidden_rows), ranking.DROP_UNPUBLISHED)
        if query.article_id is not None and query.article_id in snap.blocks:
            mark(np.isin(rows, uni.rows_of(snap.blocks[query.article_id])),
                 ranking.DROP_BLOCKED)
        if opts.exclude:
            mark(np.isin(rows, uni.rows_of(opts.exclude)), ranking.DROP_EXCLUDED)
        sections = uni.section_codes[rows]
        if opts.section:
            wanted = [uni.section_code(s) for s in opts.section]
            mark(~np.isin(sections, wanted), ranking.DROP_FILTERED)
        if opts.exclude_sections:
            unwanted = [uni.section_code(s, "exclude_sections") for s in opts.exclude_sections]
            mark(np.isin(sections, unwanted), ranking.DROP_FILTERED)
        language = opts.language if opts.language is not None else query.language
        if language is not None and language.lower() != "any" and uni.languages:
            mark(uni.language_codes[rows] != uni.language_code(language),
                 ranking.DROP_FILTERED)
        if opts.tags:
            pending = np.flatnonzero(code == 0)
            ok = ranking.tags_mask(uni.tags[rows[pending]], opts.tags, opts.tags_mode)
            code[pending[~ok]] = ranking.REASON_CODES.index(ranking.DROP_FILTERED)
        if (opts.since or opts.until or opts.max_age_days is not None
                or opts.direction != "any"):
            inside = ranking.window_mask(
                uni.timestamps[rows], query.reference, since=ranking.to_ns(opts.since),
                until=ranking.to_ns(opts.until), max_age_days=opts.max_age_days,
                direction=opts.direction)
            mark(~inside, ranking.DROP_TOO_OLD)
        return code

    def _eligible(self, rows: np.ndarray, query: _Query, opts: RankingOptions,
                  snap: Snapshot, killed: np.ndarray, uni: Universe,
                  from_lists: bool = False) -> np.ndarray | None:
        """``_reason_codes(...) == 0`` in fewer operations (the common, non-debug path);
        None when every row is eligible (no array built).

        ``from_lists``: the rows come from a neighbour list, which holds published corpus
        rows only and never the article itself.
        """
        plain = (not opts.section and not opts.exclude_sections and not opts.tags
                 and not opts.exclude and opts.since is None and opts.until is None
                 and opts.max_age_days is None and opts.direction == "any"
                 and not (query.article_id is not None and query.article_id in snap.blocks))
        language = opts.language if opts.language is not None else query.language
        if not plain or (language is not None and language.lower() != "any"
                         and uni.languages):
            return self._reason_codes(rows, query, opts, snap, killed, uni) == 0
        ok = ~killed[rows] if snap.takedowns else None
        # Unpublished rows: only where the live state hides some, unless they may come
        # from anywhere (a full query).
        check_published = opts.status == "published" and (
            not from_lists or uni.published is not self.view.published)
        if check_published:
            ok = uni.published[rows] if ok is None else ok & uni.published[rows]
        if query.self_row is not None and not from_lists:
            ok = rows != query.self_row if ok is None else ok & (rows != query.self_row)
        return ok

    def _recency(self, rows: np.ndarray, query: _Query, opts: RankingOptions,
                 uni: Universe) -> np.ndarray | None:
        """Recency factors of ``rows``; None when recency is off (a factor of 1)."""
        if (opts.half_life is None and not opts.section_half_life) or query.reference == NAT:
            return None
        # A half-life under a second (valid: any number > 0) overflows the age gap / half-life
        # below; the general path handles that without a RuntimeWarning.
        if opts.section_half_life or opts.half_life < 1e-5:
            codes = uni.section_codes[rows]
            half = np.full(rows.size, np.nan if opts.half_life is None else opts.half_life)
            for name, days in opts.section_half_life:
                code = uni._section_index.get(name.lower(), -2)
                half[codes == code] = np.nan if days is None else days
            gap = ranking.age_gap_days(uni.timestamps[rows], query.reference)
            return ranking.recency_factor(gap, half, opts.recency_floor)
        # The same arithmetic as ranking.age_gap_days + recency_factor, on the timestamps
        # converted once per model (NaN for undated rows gives a factor of 1).
        factor = uni.ts_float[rows] - float(query.reference)  # a new array: in place below
        np.abs(factor, out=factor)
        factor /= ranking.NS_PER_DAY  # the age gap in days
        factor /= float(opts.half_life)
        np.power(0.5, factor, out=factor)
        floor = opts.recency_floor
        factor *= 1.0 - floor
        factor += floor
        nan = np.isnan(factor)
        if nan.any():
            factor[nan] = 1.0
        return factor

    def _candidate_rows(self, query: _Query, opts: RankingOptions, uni: Universe,
                        n: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """Up to ``n`` best corpus rows (``model.candidates``) plus every live row sharing a
        term, with their cosines; whether more corpus candidates may exist; whether the
        rows are exactly a neighbour list (published corpus rows, never the article)."""
        model = self.model
        published_only = opts.status == "published"
        exact = n >= uni.n_corpus
        from_lists = False
        if query.corpus_article:
            lists = getattr(model, "neighbors_", None)
            if published_only and not exact and lists is not None and n <= lists.shape[1]:
                # The precomputed list, read directly (what model.candidates returns).
                rows = np.asarray(lists[query.self_row, :n], dtype=np.int64)
                sims = np.asarray(model.neighbor_scores_[query.self_row, :n],
                                  dtype=np.float64)
                if rows.size and rows[-1] < 0:  # short list padded with -1
                    valid = rows >= 0
                    rows, sims = rows[valid], sims[valid]
                from_lists = True
            else:
                rows, sims = model.candidates(article_id=query.article_id, n=n,
                                              published_only=published_only, exact=exact)
        else:
            rows, sims = model.candidates(
                query=query.terms if query.terms is not None else query.vector, n=n,
                published_only=published_only, exact=exact)
        rows = np.asarray(rows, dtype=np.int64)
        sims = np.asarray(sims, dtype=np.float64)
        more = rows.size >= n and not exact
        if uni.live is not None and uni.live.n_live:
            live_scores = uni.live.scores(query.terms if query.terms is not None
                                          else query.vector)
            live_rows = np.flatnonzero(live_scores > 0)
            if live_rows.size:
                from_lists = False
                rows = np.concatenate([rows, live_rows + uni.n_corpus])
                sims = np.concatenate([sims, live_scores[live_rows].astype(np.float64)])
        return rows, sims, more, from_lists

    def _rank(self, query: _Query, opts: RankingOptions, uni: Universe,
              article: dict[str, Any]) -> RelatedResult:
        snap = self._snapshot()
        killed = self._killed_mask(snap, uni)
        pins = self._pins(query, opts, snap, killed, uni)
        slots = max(opts.k - len(pins), 0)
        debug = opts.debug

        # 1-3. Candidates and the hard rules; ask for more when the rules emptied the list.
        # A corpus article starts from its precomputed neighbour list (no query at all).
        lists = getattr(self.model, "neighbors_", None)
        width = lists.shape[1] if lists is not None else 0
        n = max(opts.pool, 10 * opts.k, 100)
        if query.corpus_article and width >= 2 * opts.k + 4:
            n = width
        dup_threshold = opts.duplicate_threshold
        while True:
            drops = _Drops()
            rows, sims, more, from_lists = self._candidate_rows(query, opts, uni, n)
            if debug:
                codes = self._reason_codes(rows, query, opts, snap, killed, uni)
                for reason_code in np.unique(codes[codes > 0]):
                    drops.add(rows[codes == reason_code], ranking.REASON_CODES[reason_code])
                keep = codes == 0
            else:
                keep = self._eligible(rows, query, opts, snap, killed, uni, from_lists)
            cand, sim = (rows, sims) if keep is None else (rows[keep], sims[keep])
            # Same story as the article itself: near-identical text or the same story id;
            # the quality floor (on the similarity: an old but close story is not junk).
            # Candidates have a positive similarity, so a floor of 0 drops nothing.
            same = sim >= dup_threshold - 1e-6 if dup_threshold is not None else None
            if query.story >= 0:
                story = uni.story_codes[cand] == query.story
                same = story if same is None else same | story
            low = None
            if opts.min_score > 0:
                low = sim < opts.min_score
                if same is not None:
                    low &= ~same
            if debug:
                if same is not None:
                    drops.add(cand[same], ranking.DROP_DUPLICATE, "same story as the article")
                if low is not None:
                    drops.add(cand[low], ranking.DROP_BELOW_FLOOR,
                              f"similarity < {opts.min_score:g}")
            drop = same if low is None else (low if same is None else same | low)
            if drop is not None and drop.any():
                keep = ~drop
                cand, sim = cand[keep], sim[keep]
            if not more or cand.size >= 2 * slots + 4:
                break
            n *= 4

        # 3b. Relevance feedback: the query plus its closest stories re-scores the candidates
        # (what the best matches share, the query's topic, counts more than an incidental
        # word); the expanded vector is the query from here on, so explanations stay exact.
        # Drafts are short: what their best matches share adds the most to them.
        weight = opts.draft_feedback if query.article_id is None else opts.feedback
        if weight > 0 and cand.size > FEEDBACK_DOCS:
            sim = self._feedback(query, cand, sim, weight, uni)

        # 4. Recency; 5. near-duplicates among candidates show once (only the best 2 x k are
        # compared unless collapse empties slots: pairwise cosines cost the most here);
        # 6. diversity (MMR) over a larger pool.
        factor = self._recency(cand, query, opts, uni)
        adjusted = sim if factor is None else sim * factor
        # Best first, ties by position (what ranking.top_positions returns), positives only;
        # pins are shown first anyway.
        if adjusted.size <= 512:
            ranked = np.argsort(-adjusted, kind="stable")
            ranked = ranked[adjusted[ranked] > 0]
            if pins:
                ranked = ranked[~np.isin(cand[ranked], pins)]
        else:
            eligible = ~np.isin(cand, pins) if pins else np.ones(cand.size, dtype=bool)
            ranked = ranking.top_positions(adjusted, eligible, adjusted.size)
        available = ranked.size
        size = opts.pool if opts.diversity > 0 else max(2 * slots, 4)
        while True:
            pool_pos = ranked[:size]
            pool = cand[pool_pos]
            pool_adj = adjusted[pool_pos]
            shown, leader = self._collapse(pool, pool_adj, opts, uni)
            count = pool.size if shown is None else int(np.count_nonzero(shown))
            if count >= slots or size >= available:
                break
            size = min(size * 2, available)
        if debug and leader is not None:
            for pos in np.flatnonzero(~shown):
                kept = np.flatnonzero(shown & (leader == leader[pos]))
                other = uni.id_of(int(pool[kept[0]])) if kept.size else ""
                drops.add([pool[pos]], ranking.DROP_DUPLICATE, f"near-duplicate of {other}")
        live_pos = np.arange(pool.size) if shown is None else np.flatnonzero(shown)
        if opts.diversity > 0 and live_pos.size > 1:
            # MMR reads only the cosines of the links it picks with the others.
            cosines = uni.pool_cosines(pool[live_pos])
            order = ranking.mmr(pool_adj[live_pos], cosines, slots, opts.diversity)
            picked = live_pos[order]
        else:  # relevance order: the pool is sorted already
            picked = live_pos[:slots]

        items = []
        if pins:
            sim_of = dict(zip(cand.tolist(), sim.tolist(), strict=True))
            items = [self._item(r, REASON_PINNED, sim_of.get(r), 1.0, query, opts, uni)
                     for r in pins]
        picked_pos = pool_pos[picked]
        items += self._items(cand[picked_pos].tolist(), sim[picked_pos].tolist(),
                             factor[picked_pos].tolist() if factor is not None
                             else [1.0] * picked_pos.size, query, opts, uni)
        if debug:
            chosen = set(picked.tolist())
            reason = ranking.DROP_DIVERSITY if opts.diversity > 0 else "outranked"
            drops.add([pool[p] for p in live_pos if p not in chosen], reason)

        # 7. Fallback: the newest published stories of the article's section.
        if opts.fallback and len(items) < opts.k and query.section is not None:
            taken = set(pins) | {int(pool[p]) for p in picked}
            for row in self._latest_in_section(query, opts, snap, killed, taken, uni,
                                               opts.k - len(items)):
                items.append(self._item(row, REASON_FALLBACK, None, 1.0, query, opts, uni))

        debug_info = None
        if debug:
            shown_ids = {item.id for item in items}
            dropped = []
            for row in rows[np.lexsort((rows, -sims))][:max(opts.pool, 3 * opts.k)]:
                entry = drops.reasons.get(int(row))
                if entry is None or entry[0] == ranking.DROP_SELF:
                    continue
                rid = uni.id_of(int(row))
                if rid in shown_ids:
                    continue
                item = {"id": rid, "reason": entry[0],
                        "similarity": round(float(sims[rows == row][0]), 6)}
                if entry[1]:
                    item["detail"] = entry[1]
                dropped.append(item)
            debug_info = {"options": opts.to_dict(), "state_version": snap.version,
                          "candidates": int(rows.size), "dropped": dropped}
        return RelatedResult(article=article, items=items, options=opts,
                             state_version=snap.version, debug=debug_info)

    @staticmethod
    def _feedback(query: _Query, cand: np.ndarray, sim: np.ndarray, weight: float,
                  uni: Universe) -> np.ndarray:
        """Cosines of the candidates with the query expanded by its :data:`FEEDBACK_DOCS`
        best candidates (Rocchio pseudo-relevance feedback): ``q + weight * mean(top)``,
        L2-normalised. Sets the query's vector to the expanded one."""
        top = cand[np.argsort(-sim, kind="stable")[:FEEDBACK_DOCS]]
        q = query.vector
        cols, vals = [np.asarray(q.indices)], [np.asarray(q.data, dtype=np.float64)]
        for row in top.tolist():
            c, v = uni.terms(row)
            cols.append(c)
            vals.append(v.astype(np.float64) * (weight / top.size))
        col, inverse = np.unique(np.concatenate(cols), return_inverse=True)
        val = np.bincount(inverse, weights=np.concatenate(vals), minlength=col.size)
        norm = np.sqrt(np.dot(val, val))
        if norm > 0:
            val /= norm
        expanded = sp.csr_matrix((val.astype(np.float32), col.astype(np.int32),
                                  [0, col.size]), shape=q.shape)
        query._vector = expanded
        return uni.dot(cand, expanded)

    def _collapse(self, pool: np.ndarray, pool_adj: np.ndarray, opts: RankingOptions,
                  uni: Universe) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Which members of the pool are shown (None: all) and the near-duplicate group
        leader of each (None: no group)."""
        if pool.size < 2 or (opts.near_duplicate_threshold is None and not uni.has_story):
            return None, None
        if opts.near_duplicate_threshold is not None:
            first, second = uni.near_duplicate_pairs(pool, opts.near_duplicate_threshold - 1e-6)
        else:
            first, second = _NO_PAIRS
        if uni.has_story:
            stories = uni.story_codes[pool]
            same = (stories[:, None] == stories[None, :]) & (stories[:, None] >= 0)
            np.fill_diagonal(same, False)
            i, j = np.nonzero(same)
            first, second = np.concatenate([first, i]), np.concatenate([second, j])
        if not first.size:
            return None, None
        leader = ranking.group_leaders(pool.size, first, second)
        if (leader == np.arange(pool.size)).all():
            return None, None
        shown = ranking.pick_in_groups(leader, pool_adj, uni.timestamps[pool],
                                       opts.collapse_keep)
        return shown, leader

    def _pins(self, query: _Query, opts: RankingOptions, snap: Snapshot,
              killed: np.ndarray, uni: Universe) -> list[int]:
        """Rows of the active pins of the article that may be shown (takedowns and blocks
        win over pins; unknown or unpublished ids are skipped)."""
        if query.article_id is None:
            return []
        pin = snap.pins.get(query.article_id)
        if pin is None or not pin.active(self._clock()):
            return []
        blocked = snap.blocks.get(query.article_id, frozenset())
        rows: list[int] = []
        for pid in pin.ids:
            row = uni.row_of(pid)
            if row is None or row == query.self_row or killed[row] or pid in blocked:
                continue
            if opts.status == "published" and not uni.published[row]:
                continue
            rows.append(row)
        return rows[:opts.k]

    def _latest_in_section(self, query: _Query, opts: RankingOptions, snap: Snapshot,
                           killed: np.ndarray, taken: set[int], uni: Universe,
                           need: int) -> list[int]:
        code = uni.section_code(query.section) if query.section else -1
        rows = np.flatnonzero((uni.section_codes == code) & (uni.timestamps != NAT))
        rows = rows[np.argsort(-uni.timestamps[rows], kind="stable")]
        out: list[int] = []
        # Scan newest first, checking the same hard rules in small batches.
        for start in range(0, rows.size, 256):
            batch = rows[start:start + 256]
            ok = self._reason_codes(batch, query, opts, snap, killed, uni) == 0
            for row in batch[ok]:
                row = int(row)
                if row in taken:
                    continue
                if opts.duplicate_threshold is not None and self._cosine(
                        query, row, uni) >= opts.duplicate_threshold - 1e-6:
                    continue
                out.append(row)
                if len(out) == need:
                    return out
        return out

    @staticmethod
    def _cosine(query: _Query, row: int, uni: Universe) -> float:
        return float((query.vector @ uni.vector(row).T).toarray()[0, 0])

    def _items(self, rows: list[int], sims: list[float], factors: list[float],
               query: _Query, opts: RankingOptions, uni: Universe) -> list[RankedItem]:
        """The ranked links (reason ``similar``): built only for the final few rows."""
        if opts.explain:
            return [self._item(r, REASON_SIMILAR, s, f, query, opts, uni)
                    for r, s, f in zip(rows, sims, factors, strict=True)]
        meta, cache = uni.meta, self.view.meta_cache
        out = []
        for row, s, f in zip(rows, sims, factors, strict=True):
            m = cache.get(row) or meta(row)  # live rows are never in the corpus cache
            out.append(RankedItem(m["id"], m["title"], m["url"], m["published_at"],
                                  m["section"], round(min(max(s * f, 0.0), 1.0), 6),
                                  round(min(max(s, 0.0), 1.0), 6), REASON_SIMILAR))
        return out

    def _item(self, row: int, reason: str, similarity: float | None, factor: float,
              query: _Query, opts: RankingOptions, uni: Universe) -> RankedItem:
        if similarity is None:  # pins and fallbacks: not necessarily among the candidates
            similarity = self._cosine(query, row, uni)
        similarity = float(similarity)
        meta = uni.meta(row)
        item = RankedItem(
            id=meta["id"], title=meta["title"], url=meta["url"],
            published_at=meta["published_at"], section=meta["section"],
            score=round(min(max(similarity * float(factor), 0.0), 1.0), 6),
            similarity=round(min(max(similarity, 0.0), 1.0), 6), reason=reason,
        )
        if opts.explain:
            item.explanation = explain_vectors(self.model, query.vector, uni.vector(row),
                                               recency_factor=float(factor),
                                               top=opts.explain_terms)
        return item

    # ----------------------------------------------------------- editorial
    def _require_editorial(self) -> Editorial:
        if self.editorial is None:
            raise InvalidParameterError("state_db", "no state database is configured")
        return self.editorial

    def _checked_editorial(self, live: Any) -> CheckedEditorial:
        """The editorial state, its changes checked against the ids and URLs of the model
        and ``live`` (the checks the CLI makes without loading the model)."""
        return CheckedEditorial(self._require_editorial(), self.universe(live).known,
                                self._clock)

    def takedown(self, key: str, reason: str, by: str | None = None, force: bool = False,
                 live: Any = None) -> Takedown:
        """Take down an article id or URL (unknown ones only with ``force``)."""
        return self._checked_editorial(live).takedown(key, reason, by=by, force=force)

    def is_taken_down(self, article_id: str, live: Any = None) -> bool:
        """Whether a takedown (of its id or of its URL) hides ``article_id`` itself."""
        uni = self.universe(live)
        row = uni.row_of(article_id)
        return row is not None and bool(self._killed_mask(self._snapshot(), uni)[row])

    def takedown_matches(self, key: str, live: Any = None) -> int:
        """How many articles (corpus and live rows) a takedown of ``key`` hides now."""
        return self.universe(live).known.takedown_matches(key)

    def undo_takedown(self, key: str, by: str | None = None) -> bool:
        return self._require_editorial().undo_takedown(key, by=by)

    def takedowns(self) -> list[Takedown]:
        return self._require_editorial().takedowns()

    def pin(self, article_id: str, ids: Sequence[str], expires_at: Any = None,
            by: str | None = None, live: Any = None) -> PinList:
        """Pin ``ids`` (known articles, not the article itself) first in its list."""
        return self._checked_editorial(live).pin(article_id, ids, expires_at=expires_at, by=by)

    def unpin(self, article_id: str, by: str | None = None) -> bool:
        return self._require_editorial().unpin(article_id, by=by)

    def pins(self, article_id: str | None = None) -> list[PinList]:
        return self._require_editorial().pins(article_id)

    def block(self, article_id: str, ids: Sequence[str], by: str | None = None,
              replace: bool = False, live: Any = None) -> list[str]:
        return self._checked_editorial(live).block(article_id, ids, by=by, replace=replace)

    def unblock(self, article_id: str, ids: Iterable[str] = (), by: str | None = None) -> int:
        return self._require_editorial().unblock(article_id, ids, by=by)

    def blocks(self, article_id: str | None = None) -> dict[str, list[str]]:
        return self._require_editorial().blocks(article_id)
