"""The related-stories model: field-weighted TF-IDF and cosine similarity.

``RelatedStories`` follows scikit-learn's estimator conventions: ``__init__`` only records
parameters, ``fit`` learns everything (attributes ending in ``_``) and returns ``self``.
Rows of ``matrix_`` are L2-normalised, so the cosine similarity of two articles is the dot
product of their rows; ``index_`` is the transposed matrix (an inverted index: term -> the
articles that contain it), so scoring a query only touches the postings of its own terms.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from ..corpus.load import PUBLISHED_STATUSES
from ..errors import InvalidParameterError, NotFittedError, UnknownArticleError
from ..index.inverted import (
    Pruning,
    RescoreBounds,
    document_frequencies,
    query_candidates,
    rescore_bounds,
)
from ..memory import peak_rss_mib
from ..ranking.spec import MAX_K
from ..string_tables import ListColumn, RowIndex, StringColumn
from ..text.analyzer import fast_analyzer
from ..text.boilerplate import boilerplate_config, strip_boilerplate
from ..values import _NS, _iso, _none_if_missing, iso_from_ns  # noqa: F401 - engine imports these
from ..vectors.vectorize import _release_arrow_memory, fit_vectorizers, saturate

logger = logging.getLogger(__name__)

_BOUNDS_LOCK = threading.Lock()

#: Largest list a caller may ask for; a related-links box never shows more.

#: Fields of an article the model reads.
FIELDS = ("title", "body", "tags")

#: The vector spaces, in the order their columns appear in ``matrix_``, and the fields each
#: reads: headline and body words share one vocabulary (a word is one term wherever it
#: occurs); tags are terms of their own (a tag is not split into words).
SPACES = {"text": ("title", "body"), "tags": ("tags",)}

#: Candidate generation always reads the postings of terms in up to this many articles.
MIN_QUERY_DF = 1000

#: Below this many articles, max_df is not applied (see RelatedStories).
MIN_DOCS_FOR_MAX_DF = 20



def _tag_analyzer(tags: Any) -> list[str]:
    """Each tag is one token (``"Human Rights"`` must not match ``"Rights"`` of a body)."""
    if tags is None or (isinstance(tags, float) and np.isnan(tags)):
        return []
    if isinstance(tags, str):
        tags = [tags]
    return [str(t).strip().lower() for t in tags if str(t).strip()]


def validate_k(k: Any) -> int:
    """Return ``k`` as an int in ``1..MAX_K`` or raise :class:`InvalidParameterError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidParameterError("k", f"must be an integer between 1 and {MAX_K}, got {k!r}")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidParameterError("k", f"must be between 1 and {MAX_K}, got {k}")
    return int(k)


def _row_getter(column: Any) -> Any:
    """``column[row]`` for the model's own (valid) rows: a string table's unchecked
    accessor, else plain indexing."""
    return column.item if isinstance(column, StringColumn) else column.__getitem__


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


class RelatedStories(BaseEstimator):
    """Find related stories with field-weighted TF-IDF and cosine similarity.

    Parameters
    ----------
    title_weight, body_weight : float, default=1.5, 1.0
        How much one occurrence of a word counts in the headline and in the body. Headline
        and body words share one vocabulary: a word's count in an article is
        ``title_weight * (count in the title) + body_weight * (count in the body)``, then
        sublinear tf, one IDF and one L2 norm over the whole vector (BM25F-style field
        weighting), so a five-word headline cannot outweigh a 600-word body, and a short
        draft is matched on what its words say, not on its field layout. A weight of 0 leaves
        the field out.
    tags_weight : float, default=0.25
        Tags (and any other controlled labels) are terms of the same vector, one term per
        tag, weighted by their IDF like words and then by this factor: a tag carried by a
        third of the archive (a wire source, "News") weighs almost nothing, a rare tag
        weighs about as much as ``tags_weight`` times a rare word. 0 leaves tags out.
    min_df : int or float, default=1
        Ignore terms in fewer documents than this (count, or share if float).
    max_df : float, default=1.0
        Ignore terms in more than this share of documents. IDF already makes very common
        words weigh little; a cut is a size/speed setting, not a quality one. Not applied to
        corpora of fewer than ``MIN_DOCS_FOR_MAX_DF`` (20) articles.
    ngram_range : tuple of int, default=(1, 1)
        Word n-grams for title and body (bigrams were measured to cost 0.02-0.08 nDCG@10 on
        the development sets: they dilute the vector with rare pairs).
    stop_words : str or None, default="english"
        Stop word list passed to :class:`~sklearn.feature_extraction.text.TfidfVectorizer`.
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)``: a word repeated ten times is not ten times as telling.
    max_features : int or None, default=None
        Cap the vocabulary of each text field to the most frequent terms.
    n_neighbors : int, default=50
        Length of the neighbour list precomputed for every article at fit time (by-id
        queries read it instead of scoring; 0 disables it). Lists hold published articles
        only, never the article itself.
    max_query_terms : int or None, default=64
        Candidate generation uses at most this many of a query's strongest terms (like
        More-Like-This); None uses every term. Candidates are then re-scored exactly.
    max_query_df : float or None, default=0.01
        Candidate generation skips terms found in more than this share of the articles
        (their postings are long, their weight small), and never terms found in fewer
        than ``MIN_QUERY_DF`` (1,000) articles; None keeps them all.
    n_candidates : int, default=100
        Candidates of a pruned query that are re-scored exactly against the whole query.
    n_jobs : int or None, default=None
        Worker processes for vectorising (corpora of 20,000+ articles, in shards; see
        :mod:`recommender.vectors.vectorize`) and for the neighbour lists (None: all cores).
    strip_boilerplate : bool, default=True
        Remove "ALSO SEE:" / "Read more:" / "Related:" link blocks and stock lines ("This
        post is part of our special coverage ...") from bodies before vectorising, in
        training and for drafts, so two stories do not look alike because they list the same
        links (see :mod:`recommender.text.boilerplate`).
    boilerplate : mapping or None, default=None
        The newsroom's own patterns (keys of
        :func:`recommender.text.boilerplate.boilerplate_config`); None uses the defaults.

    Attributes
    ----------
    vectorizers_ : dict of str -> TfidfVectorizer
        One fitted vectoriser per space of :data:`SPACES` with a positive weight (``text``:
        headline and body words; ``tags``). Its ``vocabulary_`` is a ``marisa_trie.Trie``
        (term -> key id, which is the term's column in the space's block; memory-mapped
        and shared once saved), not a dict.
    field_slices_ : dict of str -> tuple of int
        Column range of each space inside ``matrix_``.
    matrix_ : scipy.sparse.csr_matrix of float32, shape (n_articles, n_features)
        L2-normalised article vectors.
    index_ : scipy.sparse.csr_matrix of float32, shape (n_features, n_articles)
        The transposed matrix: postings per term.
    ids_ : recommender.string_tables.StringColumn
        Article ids in row order (indexing as an object array would: ``ids_[row]`` is a
        str, ``ids_[rows]`` an object ndarray).
    row_of_ : recommender.string_tables.RowIndex
        Article id -> row, a read-only mapping (``row_of_[id]``, ``.get``, ``in``).
    published_ : ndarray of bool
        Whether each row may be recommended.
    meta_ : dict of str -> column
        ``title``, ``url``, ``section``, ``language``, ``status``, ``story_id``
        (:class:`~recommender.string_tables.StringColumn`), ``tags``
        (:class:`~recommender.string_tables.ListColumn`) and ``published_at`` (datetime64[ns])
        per row, used to build results.
    n_articles_ : int
        Number of rows.
    df_ : ndarray of int32, shape (n_features,)
        Document frequency of every feature.
    neighbors_ : ndarray of int32, shape (n_articles, n_neighbors)
        Rows of each article's precomputed neighbours, best first (-1 pads short lists).
    neighbor_scores_ : ndarray of float32, shape (n_articles, n_neighbors)
        Their exact cosine similarities.
    fit_stats_ : dict
        Seconds, CPU seconds and peak memory of the fitting steps.
    boilerplate_removed_ : int
        Boilerplate blocks/lines removed from the training bodies.

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.model.estimator import RelatedStories
    >>> df = pd.DataFrame({"id": ["a", "b", "c"],
    ...                    "title": ["Flood hits city", "City flood aftermath", "Chess final"],
    ...                    "body": ["Rain and flood", "Flood damage counted", "A chess match"]})
    >>> model = RelatedStories(max_df=1.0).fit(df)
    >>> [r.id for r in model.related("a", k=1)]
    ['b']
    """

    def __init__(
        self,
        *,
        title_weight: float = 1.5,
        body_weight: float = 1.0,
        tags_weight: float = 0.25,
        min_df: int | float = 1,
        max_df: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = "english",
        sublinear_tf: bool = True,
        max_features: int | None = None,
        n_neighbors: int = 50,
        max_query_terms: int | None = 64,
        max_query_df: float | None = 0.01,
        n_candidates: int = 100,
        n_jobs: int | None = None,
        strip_boilerplate: bool = True,
        boilerplate: Mapping[str, Any] | None = None,
    ) -> None:
        self.title_weight = title_weight
        self.body_weight = body_weight
        self.tags_weight = tags_weight
        self.min_df = min_df
        self.max_df = max_df
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.sublinear_tf = sublinear_tf
        self.max_features = max_features
        self.n_neighbors = n_neighbors
        self.max_query_terms = max_query_terms
        self.max_query_df = max_query_df
        self.n_candidates = n_candidates
        self.n_jobs = n_jobs
        self.strip_boilerplate = strip_boilerplate
        self.boilerplate = boilerplate

    # ------------------------------------------------------------------ fitting
    def _weights(self) -> dict[str, float]:
        weights = {
            "title": self.title_weight,
            "body": self.body_weight,
            "tags": self.tags_weight,
        }
        for name, w in weights.items():
            if not isinstance(w, (int, float)) or w < 0 or not np.isfinite(w):
                raise InvalidParameterError(f"{name}_weight", f"must be a number >= 0, got {w!r}")
        if not any(w > 0 for w in weights.values()):
            raise InvalidParameterError("title_weight", "at least one field weight must be > 0")
        return weights

    def _make_vectorizer(self, space: str, n_docs: int = MIN_DOCS_FOR_MAX_DF) -> TfidfVectorizer:
        # norm=None: the spaces are weighted and L2-normalised together, as one vector.
        if space == "tags":
            # Tags are a controlled vocabulary: one token per tag, no stop words, no df cut.
            return TfidfVectorizer(
                analyzer=_tag_analyzer, sublinear_tf=True, dtype=np.float32, norm=None
            )
        return TfidfVectorizer(
            sublinear_tf=self.sublinear_tf,
            stop_words=self.stop_words,
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df,
            max_df=self.max_df if n_docs >= MIN_DOCS_FOR_MAX_DF else 1.0,
            max_features=self.max_features,
            dtype=np.float32,
            norm=None,
            strip_accents="unicode",
        )

    def _spaces(self) -> dict[str, tuple[float, dict[str, float]]]:
        """Each space with a positive weight: (its weight in the vector, {field: weight})."""
        weights = self._weights()
        out: dict[str, tuple[float, dict[str, float]]] = {}
        text = {f: float(weights[f]) for f in SPACES["text"] if weights[f] > 0}
        if text:
            out["text"] = (1.0, text)
        if weights["tags"] > 0:
            out["tags"] = (float(weights["tags"]), {"tags": 1.0})
        return out

    def _field_values(self, articles: pd.DataFrame, field: str,
                      removed: list[int] | None = None, *, strip: bool = True) -> list[Any]:
        if field not in articles.columns:
            return [[] if field == "tags" else ""] * len(articles)
        column = articles[field]
        if field != "tags" and isinstance(column.dtype, pd.StringDtype):
            # Every value is a str or missing: one C-level pass (1M bodies in a second).
            texts = column.fillna("").tolist()
        else:
            values = column.tolist()
            if field == "tags":
                # Plain lists: pickling a shard's 25,000 small object arrays to a counting
                # worker took 0.4 CPU-s (16 s of the client's time at 1M), lists 0.01 s.
                return [v.tolist() if isinstance(v, np.ndarray)
                        else v if isinstance(v, (list, tuple)) else [] for v in values]
            texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                     for v in values]
        if field == "body" and strip and getattr(self, "strip_boilerplate", False):
            config = boilerplate_config(getattr(self, "boilerplate", None))
            stripped = [strip_boilerplate(t, config) for t in texts]
            if removed is not None:
                removed.append(sum(n for _, n in stripped))
            texts = [t for t, _ in stripped]
        return texts

    def fit(
        self,
        X: pd.DataFrame,
        y: None = None,
        *,
        dask_scheduler: str | None = None,
        progress: bool = False,
    ) -> RelatedStories:
        """Learn the vocabulary, IDF weights and article vectors of a corpus.

        Parameters
        ----------
        X : pandas.DataFrame
            Articles with at least ``id`` and ``title`` and/or ``body`` (as produced by
            :func:`recommender.corpus.load.load_corpus`).
        y : None
            Ignored.
        dask_scheduler : str, optional
            ``tcp://host:port`` of a Dask scheduler: the neighbour lists are computed on
            that cluster (joblib's Dask backend) instead of local processes.
        progress : bool, default=False
            Show progress bars (tqdm, on stderr) on the long steps.

        Returns
        -------
        self : RelatedStories
        """
        if not isinstance(X, pd.DataFrame):
            raise TypeError("RelatedStories.fit expects a pandas DataFrame of articles")
        if "id" not in X.columns:
            raise InvalidParameterError("id", "the article table has no 'id' column")
        if len(X) == 0:
            raise InvalidParameterError("articles", "cannot fit on an empty corpus")
        ids = X["id"].astype(str).to_numpy()
        if len(set(ids)) != len(ids):
            raise InvalidParameterError("id", "article ids must be unique")
        self._weights()
        self._check_query_params()
        t0, cpu0 = time.perf_counter(), time.process_time()
        # Reading a Parquet corpus leaves freed pages in Arrow's allocator (~1.2 GB at
        # 1M articles): hand them back before the fit's own peak.
        _release_arrow_memory()
        removed: list[int] = []

        # Counting runs in parallel shards (joblib: local processes or the Dask cluster);
        # vocabularies become MARISA tries whose key ids are the columns (shared in serving).
        spaces = self._spaces()
        unfitted = {name: self._make_vectorizer(name, n_docs=len(X)) for name in spaces}
        # Each shard's texts become Python strings only when its task is sent: 1M bodies
        # as str objects are ~1.2 GB that no one needs all at once.
        columns = {f: _LazyField(self, X, f) for _, reads in spaces.values() for f in reads}
        config = boilerplate_config(self.boilerplate) if self.strip_boilerplate else None
        described: dict[str, Any] = {}

        def describe_rows() -> None:
            # Ids, the id -> row trie and the result fields do not depend on the vectors:
            # built while the workers count instead of after, with a core left idle.
            described["ids"] = StringColumn.from_values(ids)
            described["row_of"] = RowIndex.build(ids)
            described["meta"] = meta = _build_meta(X)
            status = pd.Series(meta["status"].tolist(), dtype=object)
            described["published"] = status.str.lower().isin(PUBLISHED_STATUSES).to_numpy(
                dtype=bool)

        # With the field weights, the model matrix is assembled shard by shard inside
        # fit_vectorizers: no per-field blocks, no stacked copy (1.1 GB each at 1M).
        vectorized = fit_vectorizers(unfitted, columns, boilerplate=config, n_jobs=self.n_jobs,
                                     dask_scheduler=dask_scheduler, progress=progress,
                                     weights={name: w for name, (w, _) in spaces.items()},
                                     fields_of={name: r for name, (_, r) in spaces.items()},
                                     while_counting=describe_rows)
        del columns
        for field, reason in vectorized.skipped.items():  # e.g. a corpus without tags
            logger.info("field %r left out: %s", field, reason)
        if vectorized.matrix is None:
            raise InvalidParameterError("articles", "no field produced any term to index")
        vectorizers = {f: vectorized.vectorizers[f] for f in vectorized.field_slices}
        slices = dict(vectorized.field_slices)
        removed.append(vectorized.boilerplate_removed)

        # Assembling a 1M-article model takes a while too: a bar over its stages.
        stages = _Stages(progress, "assembling", ["transpose"])
        self.matrix_ = _compact(vectorized.matrix)
        vectorized.matrix = None
        self.index_ = _compact(self.matrix_.T.tocsr())
        vectorized.stats.peak_rss_mib_after["transpose"] = peak_rss_mib()
        stages.next()
        stages.close()
        self.vectorizers_ = vectorizers
        self.field_slices_ = slices
        self.ids_ = described["ids"]
        self.row_of_ = described["row_of"]
        self.n_articles_ = len(ids)
        self.boilerplate_removed_ = sum(removed)
        self.meta_ = described["meta"]
        self.published_ = described["published"]
        self.df_ = document_frequencies(self.index_)
        self.fit_stats_ = {
            "vectorize": {"seconds": round(time.perf_counter() - t0, 3),
                          # this process plus the counting tasks' own CPU time
                          "cpu_seconds": round(time.process_time() - cpu0 + (
                              vectorized.stats.count_cpu_seconds
                              if vectorized.stats.backend != "sequential" else 0.0), 3),
                          "peak_rss_mib": round(peak_rss_mib(), 1),
                          "counting": vectorized.stats.to_dict()},
        }
        logger.info(
            "fitted %d articles, %d features, %d non-zeros",
            self.n_articles_, self.matrix_.shape[1], self.matrix_.nnz,
        )
        if self._pruning().max_df is not None:  # saved with the model: shared, no first-use cost
            self.rescore_bounds_ = rescore_bounds(self.index_, self.df_, self._pruning().max_df)
            self.fit_stats_["vectorize"]["counting"]["peak_rss_mib_after"]["bounds"] = round(
                peak_rss_mib(), 1)
        self.build_neighbors(dask_scheduler=dask_scheduler, progress=progress)
        return self

    def _check_query_params(self) -> None:
        for name in ("n_neighbors", "n_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidParameterError(name, f"must be an integer >= 0, got {value!r}")
        mqt = self.max_query_terms
        if mqt is not None and (isinstance(mqt, bool) or not isinstance(mqt, (int, np.integer))
                                or mqt < 1):
            raise InvalidParameterError(
                "max_query_terms", f"must be an integer >= 1 or None, got {mqt!r}")
        mqd = self.max_query_df
        if mqd is not None and (isinstance(mqd, bool) or not isinstance(mqd, (int, float))
                                or not 0 < mqd <= 1):
            raise InvalidParameterError(
                "max_query_df", f"must be a share in (0, 1] or None, got {mqd!r}")

    def _pruning(self) -> Pruning:
        max_df = None
        if self.max_query_df is not None:
            # Never fewer than MIN_QUERY_DF articles: on a small archive a 1% cut skips the
            # very topic words (a commodity, a country) that make two stories related, and
            # lost 0.013 nDCG@10 on Reuters (11k articles); their postings are short there.
            max_df = max(int(self.max_query_df * self.n_articles_), MIN_QUERY_DF)
        return Pruning(max_terms=self.max_query_terms, max_df=max_df,
                       n_candidates=max(int(self.n_candidates), 1))

    def build_neighbors(self, *, dask_scheduler: str | None = None,
                        progress: bool = False) -> RelatedStories:
        """(Re)compute the precomputed neighbour lists (``n_neighbors`` per article).

        Called by :meth:`fit`; rows are processed in parallel blocks (local processes, or
        the Dask cluster at ``dask_scheduler``). Time and memory go into ``fit_stats_``.
        """
        from ..index.neighbors import compute_neighbors

        self._check_fitted()
        n = int(self.n_neighbors)
        if n <= 0:
            self.neighbors_ = np.zeros((self.n_articles_, 0), dtype=np.int32)
            self.neighbor_scores_ = np.zeros((self.n_articles_, 0), dtype=np.float32)
            self.fit_stats_.pop("neighbors", None)
            return self
        rows, scores, stats = compute_neighbors(
            self.matrix_, self.index_, self.published_, n, pruning=self._pruning(),
            n_jobs=self.n_jobs, dask_scheduler=dask_scheduler, progress=progress,
        )
        self.neighbors_ = rows
        self.neighbor_scores_ = scores
        self.fit_stats_["neighbors"] = {
            **stats.to_dict(),
            # Per CPU-second of the blocks: independent of how busy the machine was.
            "articles_per_core_second": round(
                self.n_articles_ / max(stats.cpu_seconds, 1e-9), 1),
        }
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "matrix_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise NotFittedError("this RelatedStories instance is not fitted yet; call fit()")

    # -------------------------------------------------------------- vectorising
    def transform(self, X: pd.DataFrame | Iterable[Mapping[str, Any]]) -> sp.csr_matrix:
        """Vectorise articles with the fitted vocabulary (rows L2-normalised, float32)."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(list(X))
        values = {f: self._field_values(X, f, strip=False) for f in FIELDS}
        cols, vals, indptr = [], [], [0]
        for i in range(len(X)):
            col, val = self._terms_one({f: values[f][i] for f in FIELDS})
            cols.append(col)
            vals.append(val)
            indptr.append(indptr[-1] + col.size)
        return sp.csr_matrix(
            (np.concatenate(vals) if vals else np.zeros(0, np.float32),
             np.concatenate(cols) if cols else np.zeros(0, np.int32), indptr),
            shape=(len(X), self.matrix_.shape[1]), dtype=np.float32)

    # ----------------------------------------------------------------- queries
    def has_article(self, article_id: str) -> bool:
        self._check_fitted()
        return article_id in self.row_of_

    def row(self, article_id: str) -> int:
        """Row of an article id, or :class:`UnknownArticleError`."""
        self._check_fitted()
        try:
            return self.row_of_[article_id]
        except (KeyError, TypeError):
            raise UnknownArticleError(str(article_id)) from None

    def article(self, article_id: str) -> dict[str, Any]:
        """Metadata of one article of the corpus (``id``, ``title``, ``url``, ...)."""
        row = self.row(article_id)
        return self._article_dict(row)

    def _article_dict(self, row: int) -> dict[str, Any]:
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

    def candidates(
        self,
        article_id: str | None = None,
        query: sp.spmatrix | None = None,
        n: int = 50,
        *,
        published_only: bool = True,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``n`` candidate rows for an article of the corpus or a query vector.

        This is the raw material of a ranking engine: it returns rows, not results, so
        filters, takedowns and re-ranking can be applied before anything is built.

        Parameters
        ----------
        article_id : str, optional
            An article of the corpus (its own row is never returned). Its precomputed
            neighbour list answers when ``n <= n_neighbors``; beyond that (an engine whose
            filters emptied the list asks for more) a full query runs.
        query : sparse row or tuple of arrays, optional
            A vectorised draft (:meth:`vectorize_draft`, or :meth:`draft_terms`'s
            ``(columns, weights)``), when ``article_id`` is None.
        n : int, default=50
            Number of candidates (any positive number; fewer come back when fewer
            articles share a term with the query).
        published_only : bool, default=True
            Return published articles only (``published_``); with False, unpublished rows
            are candidates too (the neighbour lists are then bypassed).
        exact : bool, default=False
            Skip query-term pruning and the precomputed lists: the exact top ``n``.

        Returns
        -------
        rows : ndarray of int32
            Candidate rows, best first (score descending, then row ascending).
        scores : ndarray of float32
            Their cosine similarities in (0, 1].
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidParameterError("n", f"must be a positive integer, got {n!r}")
        if (article_id is None) == (query is None):
            raise InvalidParameterError("article_id", "give exactly one of article_id, query")
        exclude = None
        if article_id is not None:
            exclude = self.row(article_id)
            lists = getattr(self, "neighbors_", None)
            if (published_only and not exact and lists is not None
                    and n <= lists.shape[1]):
                rows = np.asarray(lists[exclude, :n])
                valid = rows >= 0
                return rows[valid], np.asarray(self.neighbor_scores_[exclude, :n])[valid]
            query = self.matrix_[exclude]
        pruning = Pruning() if exact else self._pruning()
        return query_candidates(
            query, self.matrix_, self.index_, self.df_, int(n), pruning=pruning,
            allowed=self.published_ if published_only else None, exclude_row=exclude,
            scratch=self._scratch(), bounds=None if exact else self._rescore_bounds(pruning),
        )

    def _rescore_bounds(self, pruning: Pruning) -> RescoreBounds | None:
        """Bounds for skipping hopeless re-scoring
        (:func:`~recommender.index.inverted.rescore_bounds`):
        computed at fit time (``rescore_bounds_``, memory-mapped with the model) or, for a
        model saved without them, once per process."""
        if pruning.max_df is None:
            return None
        bounds = self.__dict__.get("rescore_bounds_") or self.__dict__.get("_bounds")
        if bounds is None or bounds.max_df != pruning.max_df:
            with _BOUNDS_LOCK:
                bounds = self.__dict__.get("_bounds")
                if bounds is None or bounds.max_df != pruning.max_df:
                    bounds = self.__dict__["_bounds"] = rescore_bounds(
                        self.index_, self.df_, pruning.max_df)
        return bounds

    def _scratch(self) -> np.ndarray:
        """A per-thread all-zero float32 buffer with one slot per feature (see rescore)."""
        local = self.__dict__.get("_local")
        if local is None:
            local = self.__dict__.setdefault("_local", threading.local())
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.zeros(self.matrix_.shape[1], dtype=np.float32)
        return buf

    #: Attributes made of many small Python objects (vocabularies, ids, titles, metadata).
    _BLOB_ATTRS = ("vectorizers_", "ids_", "row_of_", "meta_")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__
        # Per-process caches (scratch space, analyzers), never persisted.
        state.pop("_local", None)
        state.pop("_draft", None)
        state.pop("_bounds", None)
        # joblib (un)pickles with Python's pure-Python pickler so that it can memory-map
        # numpy arrays; millions of small objects (vocabulary entries, ids, titles) then
        # took most of a worker's load time (profiled with py-spy at 100k articles). They
        # travel as one blob made by the C pickler; numeric arrays stay outside it, so
        # joblib still memory-maps them.
        blob = {name: state.pop(name) for name in self._BLOB_ATTRS if name in state}
        if blob:
            state["_objects_blob"] = pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_objects_blob", None)
        if blob is not None:
            state.update(pickle.loads(blob))  # verified artifact (see artifact.load)
        super().__setstate__(state)

    def scores(self, query: sp.spmatrix) -> np.ndarray:
        """Cosine similarity of one query row against every article (dense float32)."""
        self._check_fitted()
        # q (1 x d) @ index_ (d x n): only the postings of the query's terms are read.
        return np.asarray((query @ self.index_).todense(), dtype=np.float32).ravel()

    def related(self, article_id: str, k: int = 5) -> list[Recommendation]:
        """The ``k`` most similar other published articles of the corpus.

        Parameters
        ----------
        article_id : str
            Id of an article of the corpus.
        k : int, default=5
            Number of results, 1..100. Fewer are returned when fewer articles share any
            term with this one.

        Returns
        -------
        list of Recommendation
            Sorted by score (cosine similarity in [0, 1]) descending, ties by corpus order.

        Raises
        ------
        UnknownArticleError
            If the id is not in the corpus.
        InvalidParameterError
            If ``k`` is out of range.
        """
        k = validate_k(k)
        rows, scores = self.candidates(article_id=article_id, n=k)
        return self._results(rows, scores)

    def related_to_text(
        self, title: str, body: str = "", k: int = 5, tags: Sequence[str] = ()
    ) -> list[Recommendation]:
        """The ``k`` most similar published articles to a draft that is not in the corpus.

        Raises
        ------
        InvalidParameterError
            If the draft has neither title nor body text, or ``k`` is out of range.
        """
        k = validate_k(k)
        rows, scores = self.candidates(query=self.draft_terms(title, body, tags), n=k)
        return self._results(rows, scores)

    def vectorize_draft(self, title: Any, body: Any = "", tags: Any = ()) -> sp.csr_matrix:
        """Vectorise a draft (validated: strings, not both empty)."""
        return self._row_matrix(*self.draft_terms(title, body, tags))

    def draft_terms(self, title: Any, body: Any = "", tags: Any = ()
                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`vectorize_draft` as ``(columns int32 sorted, weights float32)``: what
        :meth:`candidates` reads, without building a scipy matrix (its checks cost about
        as much as scoring the candidates)."""
        self._check_fitted()
        for name, value in (("title", title), ("body", body)):
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(name, f"must be a string, got {type(value).__name__}")
        title, body = (title or "").strip(), (body or "").strip()
        if not title and not body:
            raise InvalidParameterError("body", "a draft needs a title or a body; both are empty")
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise InvalidParameterError("tags", "must be a list of strings")
        return self._terms_one({"title": title, "body": body, "tags": list(tags)})

    def _row_matrix(self, col: np.ndarray, val: np.ndarray) -> sp.csr_matrix:
        """A 1 x n_features CSR row from sorted columns and their weights."""
        return sp.csr_matrix((val, col, [0, col.size]), shape=(1, self.matrix_.shape[1]))

    def _transform_one(self, fields: Mapping[str, Any]) -> sp.csr_matrix:
        """:meth:`transform` of one article (see :meth:`_terms_one`)."""
        return self._row_matrix(*self._terms_one(fields))

    def _terms_one(self, fields: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """One article as ``(columns, weights)``, as :meth:`fit` vectorises it: each space's
        fields' counts added with their weights, sublinear tf, IDF, the space's weight, one
        L2 norm (float32). Without scikit-learn's per-call overhead (validation,
        DataFrames), about 20x faster for a draft.
        """
        key = (self.title_weight, self.body_weight, self.tags_weight, id(self.vectorizers_))
        cached = self.__dict__.get("_draft")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_draft"] = (key, self._draft_fields())
        draft = cached[1]
        cols, vals = [], []
        for reads, analyze, get, idf, sublinear, offset, weight in draft:
            found_cols, found_tf = [], []
            for field, field_weight in reads:
                value = fields.get(field)
                if field == "tags":
                    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
                        continue
                else:
                    value = "" if value is None else str(value)
                    if field == "body" and getattr(self, "strip_boilerplate", False):
                        # the same cleaning as in training (a draft's own "ALSO SEE:" block)
                        value = strip_boilerplate(value, boilerplate_config(self.boilerplate))[0]
                # Count first (C-level Counter), then look up each distinct token once: the
                # vocabulary is a memory-mapped trie (~1-2 us a lookup, shared by workers).
                tokens = Counter(analyze(value))
                ids = list(map(get, tokens))
                counts = {j: c for j, c in zip(ids, tokens.values(), strict=True)
                          if j is not None}
                if counts:
                    found_cols.append(np.fromiter(counts.keys(), dtype=np.int64,
                                                  count=len(counts)))
                    tf = np.fromiter(counts.values(), dtype=np.int32, count=len(counts))
                    found_tf.append((tf * field_weight).astype(np.float32)
                                    if field_weight != 1.0 else tf.astype(np.float32))
            if not found_cols:
                continue
            if len(found_cols) == 1:
                j, tf = found_cols[0], found_tf[0]
            else:  # a word of the headline and the body is one term: add its counts
                j, inverse = np.unique(np.concatenate(found_cols), return_inverse=True)
                tf = np.zeros(j.size, dtype=np.float32)
                np.add.at(tf, inverse, np.concatenate(found_tf))
            if sublinear:
                tf = saturate(tf)
            w = (tf * idf[j].astype(np.float32)).astype(np.float32)
            cols.append(j + offset)
            vals.append(w * weight if weight != 1 else w)
        if not cols:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        if len(cols) == 1:
            col, val = cols[0], vals[0].astype(np.float32, copy=False)
        else:
            col = np.concatenate(cols)
            val = np.concatenate(vals).astype(np.float32, copy=False)
        order = np.argsort(col)
        col, val = col[order], val[order]
        norm = np.float32(np.sqrt(np.dot(val, val)))
        if norm > 0:
            val = val / norm
        return col.astype(np.int32), val.astype(np.float32, copy=False)

    def _draft_fields(self) -> list[tuple[Any, ...]]:
        """Per process, what vectorising one draft needs of each space: the fields it reads
        and their weights, its analyzer, the vocabulary's lookup, IDF, sublinear flag,
        column offset and weight (validated once instead of on every draft)."""
        spaces = self._spaces()
        return [(tuple(spaces[name][1].items()), fast_analyzer(vec), vec.vocabulary_.get,
                 vec.idf_, vec.sublinear_tf, self.field_slices_[name][0],
                 np.float32(spaces[name][0]))
                for name, vec in self.vectorizers_.items()]

    def _top(self, scores: np.ndarray, k: int, exclude_row: int | None) -> list[Recommendation]:
        scores = scores.copy()
        scores[~self.published_] = 0.0
        if exclude_row is not None:
            scores[exclude_row] = 0.0
        rows = top_k(scores, k)
        return self._results(rows, scores[rows])

    def _results(self, rows: np.ndarray, scores: np.ndarray) -> list[Recommendation]:
        """The results for parallel arrays of rows and scores, with the columns looked up
        once (and the dates read through a plain view of their memory map: ``np.memmap``
        indexing runs Python code for every item)."""
        m = self.meta_
        ids, titles, urls, sections = (_row_getter(c) for c in (
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

    def _recommendation(self, row: int, score: float) -> Recommendation:
        """The result for one row (see :meth:`_results`)."""
        return self._results(np.array([row]), np.array([score]))[0]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest positive scores, by score descending then row ascending.

    Uses a partial selection (``argpartition``) so the cost is linear in the candidates.
    """
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return positive
    if positive.size > k:
        cand = scores[positive]
        # Keep every candidate tied with the k-th best so the tie-break is stable.
        kth = np.partition(cand, -k)[-k]
        positive = positive[cand >= kth]
    order = np.lexsort((positive, -scores[positive]))
    return positive[order][:k]


class _LazyField(Sequence):
    """The values of one text field, converted (``_field_values``) a slice at a time."""

    def __init__(self, model: RelatedStories, articles: pd.DataFrame, field: str) -> None:
        self._model, self._articles, self._field = model, articles, field

    def __len__(self) -> int:
        return len(self._articles)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self._model._field_values(self._articles.iloc[key], self._field, strip=False)
        return self[key: key + 1 or None][0]


class _Stages:
    """A tqdm bar over named stages (nothing when ``progress`` is False)."""

    def __init__(self, progress: bool, desc: str, names: Sequence[str]) -> None:
        self.names = list(names)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(self.names), desc=desc, unit="step", leave=False)
            self.bar.set_postfix_str(self.names[0])

    def next(self) -> None:
        if self.bar is not None:
            self.bar.update()
            if self.bar.n < len(self.names):
                self.bar.set_postfix_str(self.names[self.bar.n])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _compact(m: sp.csr_matrix) -> sp.csr_matrix:
    """int32 indices when they fit: 8 bytes per non-zero instead of 12."""
    m.sum_duplicates()
    if m.nnz < np.iinfo(np.int32).max and max(m.shape) < np.iinfo(np.int32).max:
        m.indices = m.indices.astype(np.int32, copy=False)
        m.indptr = m.indptr.astype(np.int32, copy=False)
    return m


def _build_meta(X: pd.DataFrame) -> dict[str, Any]:
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
    }
