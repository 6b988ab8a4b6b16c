"""Why a link is there: the cosine score of two TF-IDF vectors, decomposed term by term.

Rows of the model's matrix are L2-normalised, so the cosine similarity of a query ``q`` and a
story ``d`` is ``sum_i q_i * d_i`` over the features both contain. Each product is that
feature's exact contribution; the contributions of all shared features add up to the score.
A feature is a word or bigram of one field (title, body) or one tag, so each contribution also
says *where* the match is.

A model with the LSA blend scores ``(1 - w) * cosine + w * lsa_cosine``: every term
contribution is then scaled by ``1 - w`` and one more component, ``topic_similarity``
(``w * lsa_cosine``, the shared latent topics), completes the sum.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp


class FittedModel(Protocol):
    """What an explanation reads of a fitted model
    (:class:`recommender.model.estimator.RelatedStories`, a higher layer)."""

    @property
    def field_slices_(self) -> Mapping[str, tuple[int, int]]: ...

    @property
    def vectorizers_(self) -> Mapping[str, Any]: ...  # scikit-learn's (no type information)

    @property
    def matrix_(self) -> sp.csr_matrix: ...

    # the LSA blend (recommender.model.lsa.LatentTopics)
    @property
    def has_lsa(self) -> bool: ...

    @property
    def lsa_weight(self) -> float: ...

    def lsa_of_vector(self, vector: Any) -> np.ndarray: ...

    def lsa_cosines(self, rows: np.ndarray, query_lsa: np.ndarray) -> np.ndarray: ...


_NAMES: weakref.WeakKeyDictionary[FittedModel, FeatureNames] = weakref.WeakKeyDictionary()
_NAMES_LOCK = threading.Lock()


class FeatureNames:
    """Maps a column of ``model.matrix_`` to ``(field, term)`` (built lazily, per field)."""

    def __init__(self, model: FittedModel) -> None:
        self._model = model
        self._slices = sorted(model.field_slices_.items(), key=lambda item: item[1][0])
        self._starts = np.array([start for _, (start, _) in self._slices])
        self._names: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, model: FittedModel) -> FeatureNames:
        """The (cached) names of a fitted model."""
        with _NAMES_LOCK:
            names = _NAMES.get(model)
            if names is None:
                names = _NAMES[model] = cls(model)
            return names

    def lookup(self, column: int) -> tuple[str, str]:
        field, (start, _) = self._slices[int(np.searchsorted(self._starts, column, "right")) - 1]
        vocab = getattr(self._model.vectorizers_[field], "vocabulary_", None)
        if vocab is not None and hasattr(vocab, "restore_key"):
            # A MARISA trie (recommender.vectors.vectorize): the column is the term's key id, so the
            # term is read from the shared trie, no per-process array of every term.
            return field, vocab.restore_key(int(column - start))
        names = self._names.get(field)
        if names is None:
            names = self._names[field] = self._model.vectorizers_[field].get_feature_names_out()
        return field, str(names[column - start])


def contributions(query: sp.csr_matrix, doc: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Shared feature columns of two 1-row vectors and their products ``q_i * d_i``
    (float64), largest first."""
    q = sp.csr_matrix(query)
    d = sp.csr_matrix(doc)
    q.sum_duplicates()
    d.sum_duplicates()
    cols, qi, di = np.intersect1d(q.indices, d.indices, assume_unique=True, return_indices=True)
    products = q.data[qi].astype(np.float64) * d.data[di].astype(np.float64)
    order = np.lexsort((cols, -products))
    return cols[order], products[order]


def explain(model: FittedModel, query: sp.csr_matrix, row: int, *, recency_factor: float = 1.0,
            top: int = 5) -> dict[str, Any]:
    """:func:`explain_vectors` for a row of the model's matrix (with the topic blend, the
    row's stored topic row against the query's projection)."""
    topic = None
    if model.has_lsa:
        topic = float(model.lsa_cosines(np.array([row]), model.lsa_of_vector(query))[0])
    return explain_vectors(model, query, model.matrix_[row], recency_factor=recency_factor,
                           top=top, topic_cosine=topic)


def explain_vectors(model: FittedModel, query: sp.csr_matrix, doc: sp.csr_matrix, *,
                    recency_factor: float = 1.0, top: int = 5,
                    topic_cosine: float | None = None) -> dict[str, Any]:
    """The explanation object of one result.

    Parameters
    ----------
    model : RelatedStories
        The fitted model (``matrix_``, ``vectorizers_``, ``field_slices_``).
    query : sparse matrix, shape (1, n_features)
        The L2-normalised query vector (the article being read, or a draft).
    doc : sparse matrix, shape (1, n_features)
        The recommended story's vector (a row of the model, or a live article's).
    recency_factor : float
        The factor the ranking multiplied the similarity by.
    top : int
        Number of terms listed; the rest is summed in ``other_terms``.
    topic_cosine : float, optional
        With the topic blend, the topic cosine the ranking used (a corpus article's stored,
        smoothed topic row against the query's); by default both vectors' projections.

    Returns
    -------
    dict
        ``similarity`` (the cosine, = sum of every ``contribution``), ``recency_factor``,
        ``score`` (= similarity x recency factor), ``terms``: ``[{"term", "field",
        "contribution", "share"}]`` (share of the similarity), ``other_terms``:
        ``{"count", "contribution", "share"}``, ``fields``: contribution per field, and
        with the LSA blend ``topic_similarity`` (its contribution; ``share`` of the
        similarity in ``topic_share``).
    """
    cols, products = contributions(query, doc)
    topic = None
    if model.has_lsa:
        weight = float(model.lsa_weight)
        products = products * (1.0 - weight)
        if topic_cosine is None:
            topic_cosine = float(np.dot(model.lsa_of_vector(query).astype(np.float64),
                                        model.lsa_of_vector(doc).astype(np.float64)))
        topic = weight * float(topic_cosine)
    similarity = float(products.sum()) + (topic or 0.0)
    names = FeatureNames.of(model)
    terms: list[dict[str, Any]] = []
    fields: dict[str, float] = {}
    for i, (col, value) in enumerate(zip(cols, products, strict=True)):
        field, term = names.lookup(int(col)) if i < top else (_field_of(names, int(col)), "")
        fields[field] = fields.get(field, 0.0) + float(value)
        if i < top:
            terms.append({"term": term, "field": field, "contribution": float(value),
                          "share": float(value / similarity) if similarity else 0.0})
    rest = float(products[top:].sum())
    out: dict[str, Any] = {
        "similarity": similarity,
        "recency_factor": float(recency_factor),
        "score": similarity * float(recency_factor),
        "terms": terms,
        "other_terms": {"count": max(len(products) - top, 0), "contribution": rest,
                        "share": rest / similarity if similarity else 0.0},
        "fields": fields,
    }
    if topic is not None:
        out["topic_similarity"] = topic
        out["topic_share"] = topic / similarity if similarity else 0.0
    return out


def _field_of(names: FeatureNames, column: int) -> str:
    return names._slices[int(np.searchsorted(names._starts, column, "right")) - 1][0]
