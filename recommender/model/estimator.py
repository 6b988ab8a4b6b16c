"""The related-stories model: field-weighted TF-IDF and cosine similarity.

``RelatedStories`` follows scikit-learn's estimator conventions: ``__init__`` only records
parameters, ``fit`` learns everything (attributes ending in ``_``) and returns ``self``.
Rows of ``matrix_`` are L2-normalised, so the cosine similarity of two articles is the dot
product of their rows; ``index_`` is the transposed matrix (an inverted index: term -> the
articles that contain it), so scoring a query only touches the postings of its own terms.

The estimator holds the parameters and what ``fit`` learns; the rest of its behaviour is
in modules of its own, mixed into :class:`RelatedStories`: the article catalogue
(:mod:`.catalogue`: ids, titles, urls, dates, results), search (:mod:`.search`: candidates
and scores through the index), the transform (:mod:`.transform`: fields, spaces, drafts)
and pickling (:mod:`.pickling`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from ..corpus.coerce import PUBLISHED_STATUSES
from ..errors import InvalidParameterError, NotFittedError
from ..index.inverted import document_frequencies, rescore_bounds
from ..memory import peak_rss_mib
from ..string_tables import RowIndex, StringColumn
from ..text.boilerplate import boilerplate_config
from ..vectors.vectorize import _release_arrow_memory, fit_vectorizers
from .catalogue import ArticleCatalogue, build_catalogue
from .lsa import (
    LatentTopics,
    blend_lists,
    check_lsa_params,
    fit_lsa,
    lsa_rank,
    lsa_seed,
    project_rows,
    smooth_rows,
)
from .pickling import CompactPickle
from .search import NeighbourSearch
from .transform import ArticleTransform, tag_analyzer

logger = logging.getLogger(__name__)


def one_blas_thread() -> Any:
    """A context with BLAS on one thread: its sums then round the same way in every process
    and on every machine, so the topic space and the lists it re-ranks are the same whether
    training ran locally, on a Dask cluster or elsewhere (threaded BLAS splits its sums by
    the thread count, and near-tied lists then swap)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")

#: Below this many articles, max_df is not applied (see RelatedStories).
MIN_DOCS_FOR_MAX_DF = 20

# Saved models name the tags analyzer ``recommender.model.estimator._tag_analyzer`` (and
# ``recommender.model._tag_analyzer``, see the package): it must stay resolvable here.
_tag_analyzer = tag_analyzer


class RelatedStories(ArticleCatalogue, NeighbourSearch, ArticleTransform, LatentTopics,
                     CompactPickle, BaseEstimator):
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
        than :data:`~.search.MIN_QUERY_DF` (1,000) articles; None keeps them all.
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
    lsa_components : int or "auto", default="auto"
        The topic (LSA) blend (:mod:`.lsa`); 0 turns it off (lexical similarity only).
        ``"auto"`` or a rank: a randomized TruncatedSVD of the article vectors (seeded from
        the corpus-side parameters) gives a topic space; candidates found by the index are
        then scored ``(1 - lsa_weight) * cosine + lsa_weight * topic_cosine`` (neighbour
        lists, drafts and live articles alike). ``"auto"`` is ``round(4 * sqrt(articles))``
        clipped to [20, 400], and off below 300 articles. Above
        :data:`~.lsa.LSA_FIT_ROWS` articles the SVD is fitted on a seeded sample of rows;
        every article is projected.
    lsa_weight : float, default=0.3
        The topic cosine's share of the score, in [0, 1].
    lsa_neighbors : int, default=5
        Each article's topic row is its projection plus ``lsa_smoothing`` times those of its
        ``lsa_neighbors`` closest articles by cosine (weighted by the cosine), made unit
        length: a story leans toward the coverage around it. 0 (or ``n_neighbors=0``: no
        lists to take the neighbours from) leaves the projections.
    lsa_smoothing : float, default=0.5
        The neighbours' weight in a topic row (0: none).

    Attributes
    ----------
    vectorizers_ : dict of str -> TfidfVectorizer
        One fitted vectoriser per space of :data:`~.transform.SPACES` with a positive
        weight (``text``: headline and body words; ``tags``). Its ``vocabulary_`` is a
        ``marisa_trie.Trie`` (term -> key id, which is the term's column in the space's
        block; memory-mapped and shared once saved), not a dict.
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
    lsa_components_ : ndarray of float32, shape (n_features, rank), or None
        The LSA components, transposed (None without LSA).
    lsa_rows_ : ndarray of float32, shape (n_articles, rank), or None
        The articles' unit-length topic rows: projections smoothed over their
        ``lsa_neighbors`` closest articles (None without LSA).
    top_cosine_ : ndarray of float32, shape (n_articles,), or None
        With LSA (whose lists hold blended scores), the cosine of each article's best
        lexical neighbour (0: none); None without LSA (``neighbor_scores_[:, 0]`` is it).

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
        lsa_components: int | str = "auto",
        lsa_weight: float = 0.3,
        lsa_neighbors: int = 5,
        lsa_smoothing: float = 0.5,
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
        self.lsa_components = lsa_components
        self.lsa_weight = lsa_weight
        self.lsa_neighbors = lsa_neighbors
        self.lsa_smoothing = lsa_smoothing

    # Models saved before the LSA parameters existed unpickle without them: off (and
    # before smoothing existed: unsmoothed rows).
    lsa_components: int | str = 0
    lsa_weight: float = 0.3
    lsa_neighbors: int = 0
    lsa_smoothing: float = 0.0
    lsa_components_: np.ndarray | None = None
    lsa_rows_: np.ndarray | None = None
    top_cosine_: np.ndarray | None = None

    def _make_vectorizer(self, space: str, n_docs: int = MIN_DOCS_FOR_MAX_DF) -> TfidfVectorizer:
        # norm=None: the spaces are weighted and L2-normalised together, as one vector.
        if space == "tags":
            # Tags are a controlled vocabulary: one token per tag, no stop words, no df cut.
            return TfidfVectorizer(
                analyzer=tag_analyzer, sublinear_tf=True, dtype=np.float32, norm=None
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
            described["meta"] = meta = build_catalogue(X)
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
        self.fit_stats_: dict[str, Any] = {  # the training report's JSON
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
        max_df = self.query_pruning().max_df
        if max_df is not None:  # saved with the model: shared, no first-use cost
            self.rescore_bounds_ = rescore_bounds(self.index_, self.df_, max_df)
            self.fit_stats_["vectorize"]["counting"]["peak_rss_mib_after"]["bounds"] = round(
                peak_rss_mib(), 1)
        self._fit_lsa()
        self.build_neighbors(dask_scheduler=dask_scheduler, progress=progress)
        return self

    def _fit_lsa(self) -> None:
        """The topic space's components (:mod:`.lsa`) when ``lsa_components`` asks for them;
        the rows come with the neighbour lists they are smoothed over (:meth:`build_neighbors`)."""
        self.lsa_components_ = self.lsa_rows_ = None
        rank = lsa_rank(self.lsa_components, self.n_articles_, self.matrix_.shape[1])
        if rank <= 0:
            if self.lsa_components:
                logger.info("LSA left out: the corpus is too small for a topic space")
            return
        t0, cpu0 = time.perf_counter(), time.process_time()
        stages: dict[str, Any] = {}
        with one_blas_thread():
            self.lsa_components_ = fit_lsa(self.matrix_, rank, lsa_seed(self.get_params()),
                                           stages)
        self.fit_stats_["lsa"] = {"rank": rank, **stages,
                                  "seconds": round(time.perf_counter() - t0, 3),
                                  "cpu_seconds": round(time.process_time() - cpu0, 3),
                                  "peak_rss_mib": round(peak_rss_mib(), 1)}

    def _topic_rows(self, rows: np.ndarray | None, scores: np.ndarray | None) -> None:
        """``lsa_rows_``: every article's projection, smoothed over its first
        ``lsa_neighbors`` lexical neighbours (``rows``/``scores``; None: no lists)."""
        t0, cpu0 = time.perf_counter(), time.process_time()
        assert self.lsa_components_ is not None
        projected = project_rows(self.matrix_, self.lsa_components_)
        if rows is not None and scores is not None:
            projected = smooth_rows(projected, rows, scores, int(self.lsa_neighbors),
                                    float(self.lsa_smoothing))
        self.lsa_rows_ = projected
        stats = self.fit_stats_.setdefault("lsa", {})
        stats["rows_seconds"] = round(time.perf_counter() - t0, 3)
        stats["rows_cpu_seconds"] = round(time.process_time() - cpu0, 3)

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
        check_lsa_params(self.lsa_components, self.lsa_weight, self.lsa_neighbors,
                         self.lsa_smoothing)
        mqd = self.max_query_df
        if mqd is not None and (isinstance(mqd, bool) or not isinstance(mqd, (int, float))
                                or not 0 < mqd <= 1):
            raise InvalidParameterError(
                "max_query_df", f"must be a share in (0, 1] or None, got {mqd!r}")

    def build_neighbors(self, *, dask_scheduler: str | None = None,
                        progress: bool = False) -> RelatedStories:
        """(Re)compute the precomputed neighbour lists (``n_neighbors`` per article).

        Called by :meth:`fit`; rows are processed in parallel blocks (local processes, or
        the Dask cluster at ``dask_scheduler``). Time and memory go into ``fit_stats_``.
        """
        from ..index.neighbors import compute_neighbors

        self.check_fitted()
        n = int(self.n_neighbors)
        if n <= 0:
            if self.has_lsa:  # no lists to smooth over: the projections
                with one_blas_thread():
                    self._topic_rows(None, None)
            self.neighbors_ = np.zeros((self.n_articles_, 0), dtype=np.int32)
            self.neighbor_scores_ = np.zeros((self.n_articles_, 0), dtype=np.float32)
            self.fit_stats_.pop("neighbors", None)
            return self
        # With LSA, a list is its own lexical candidates re-scored by the blend (measured:
        # a wider pass cost 7 s at 100k for 0.001 of mean nDCG@10); the topic rows are
        # smoothed over the first lsa_neighbors of them.
        width = max(n, int(self.lsa_neighbors)) if self.has_lsa else n
        rows, scores, stats = compute_neighbors(
            self.matrix_, self.index_, self.published_, width, pruning=self.query_pruning(),
            n_jobs=self.n_jobs, dask_scheduler=dask_scheduler, progress=progress,
        )
        self.top_cosine_ = None
        if self.has_lsa:
            # The lists will hold blended scores: the engine's near-duplicate check reads
            # each article's best cosine here instead.
            self.top_cosine_ = np.ascontiguousarray(scores[:, 0], dtype=np.float32)
            with one_blas_thread():
                self._topic_rows(rows, scores)
                t0, cpu0 = time.perf_counter(), time.process_time()
                rows, scores = blend_lists(rows, scores, self.lsa_arrays()[1],
                                           float(self.lsa_weight), n)
            self.fit_stats_.setdefault("lsa", {}).update(
                blend_seconds=round(time.perf_counter() - t0, 3),
                blend_cpu_seconds=round(time.process_time() - cpu0, 3))
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

    def check_fitted(self) -> None:
        """Raise :class:`~recommender.errors.NotFittedError` unless the model is fitted."""
        if not hasattr(self, "matrix_"):
            raise NotFittedError("this RelatedStories instance is not fitted yet; call fit()")


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
