"""Search through a fitted model's inverted index: the candidates of an article or a draft,
their exact cosine scores, and the plain related-stories lists.

:class:`NeighbourSearch` is the part of :class:`~recommender.model.estimator.RelatedStories`
that answers queries; the scoring itself is :mod:`recommender.index.inverted`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameterError
from ..index.inverted import Pruning, RescoreBounds, query_candidates, rescore_bounds
from ..ranking.spec import MAX_K
from .catalogue import Recommendation
from .lsa import LSA_CANDIDATES

#: Candidate generation always reads the postings of terms in up to this many articles.
MIN_QUERY_DF = 1000

_BOUNDS_LOCK = threading.Lock()


def validate_k(k: object) -> int:
    """Return ``k`` as an int in ``1..MAX_K`` or raise :class:`InvalidParameterError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidParameterError("k", f"must be an integer between 1 and {MAX_K}, got {k!r}")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidParameterError("k", f"must be between 1 and {MAX_K}, got {k}")
    return int(k)


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


class NeighbourSearch:
    """Queries of a fitted model: candidate rows and scores, and plain top-k lists."""

    matrix_: sp.csr_matrix
    index_: sp.csr_matrix
    df_: np.ndarray
    published_: np.ndarray
    n_articles_: int
    neighbor_scores_: np.ndarray
    max_query_terms: int | None
    max_query_df: float | None
    n_candidates: int
    check_fitted: Callable[[], None]
    row: Callable[[str], int]
    results: Callable[[np.ndarray, np.ndarray], list[Recommendation]]
    draft_terms: Callable[..., tuple[np.ndarray, np.ndarray]]
    # the LSA blend (.lsa.LatentTopics)
    has_lsa: bool
    lsa_arrays: Callable[[], tuple[np.ndarray, np.ndarray]]
    lsa_of_vector: Callable[[Any], np.ndarray]
    blend_candidates: Callable[..., tuple[np.ndarray, np.ndarray]]

    def query_pruning(self) -> Pruning:
        """How queries are pruned (``max_query_terms``, ``max_query_df``, ``n_candidates``)."""
        max_df = None
        if self.max_query_df is not None:
            # Never fewer than MIN_QUERY_DF articles: on a small archive a 1% cut skips the
            # very topic words (a commodity, a country) that make two stories related, and
            # lost 0.013 nDCG@10 on Reuters (11k articles); their postings are short there.
            max_df = max(int(self.max_query_df * self.n_articles_), MIN_QUERY_DF)
        return Pruning(max_terms=self.max_query_terms, max_df=max_df,
                       n_candidates=max(int(self.n_candidates), 1))

    def candidates(
        self,
        article_id: str | None = None,
        query: sp.csr_matrix | tuple[np.ndarray, np.ndarray] | None = None,
        n: int = 50,
        *,
        published_only: bool = True,
        exact: bool = False,
        query_lsa: np.ndarray | None = None,
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
        query_lsa : ndarray, optional
            With LSA, the query's unit projection when the caller already has it
            (:meth:`~.lsa.LatentTopics.lsa_of_vector`); else it is computed here.

        Returns
        -------
        rows : ndarray of int32
            Candidate rows, best first (score descending, then row ascending).
        scores : ndarray of float32
            Their cosine similarities in (0, 1] (with LSA, the blended scores).
        """
        self.check_fitted()
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
        pruning = Pruning() if exact else self.query_pruning()
        assert query is not None  # exactly one of article_id and query (checked above)
        lsa = self.has_lsa
        rows, scores = query_candidates(
            query, self.matrix_, self.index_, self.df_,
            max(int(n), LSA_CANDIDATES) if lsa else int(n), pruning=pruning,
            allowed=self.published_ if published_only else None, exclude_row=exclude,
            scratch=self.scratch(), bounds=None if exact else self._rescore_bounds(pruning),
        )
        if lsa:  # the lexical candidates re-scored by the blend (see .lsa)
            if query_lsa is None:
                query_lsa = (self.lsa_arrays()[1][exclude] if exclude is not None
                             else self.lsa_of_vector(query))
            return self.blend_candidates(rows, scores, query_lsa, int(n))
        return rows, scores

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

    def scratch(self) -> np.ndarray:
        """A per-thread all-zero float32 buffer with one slot per feature (see rescore)."""
        local = self.__dict__.get("_local")
        if local is None:
            local = self.__dict__.setdefault("_local", threading.local())
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.zeros(self.matrix_.shape[1], dtype=np.float32)
        return buf

    def scores(self, query: sp.csr_matrix) -> np.ndarray:
        """Cosine similarity of one query row against every article (dense float32)."""
        self.check_fitted()
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
        return self.results(rows, scores)

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
        return self.results(rows, scores)

