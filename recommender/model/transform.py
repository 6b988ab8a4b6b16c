"""How a model turns articles into vectors: the fields and spaces it reads, and the
one-article transform that vectorises a draft exactly as :meth:`fit` vectorised the corpus.

:class:`ArticleTransform` is the part of :class:`~recommender.model.estimator.RelatedStories`
that reads fields and vectorises; the fitted vocabularies and IDF come from
:mod:`recommender.vectors.vectorize`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from ..errors import InvalidParameterError
from ..text.analyzer import fast_analyzer
from ..text.boilerplate import boilerplate_config, strip_boilerplate
from ..vectors.vectorize import saturate

#: Fields of an article the model reads.
FIELDS = ("title", "body", "tags")

#: The vector spaces, in the order their columns appear in ``matrix_``, and the fields each
#: reads: headline and body words share one vocabulary (a word is one term wherever it
#: occurs); tags are terms of their own (a tag is not split into words).
SPACES = {"text": ("title", "body"), "tags": ("tags",)}


def tag_analyzer(tags: Any) -> list[str]:
    """Each tag is one token (``"Human Rights"`` must not match ``"Rights"`` of a body)."""
    if tags is None or (isinstance(tags, float) and np.isnan(tags)):
        return []
    if isinstance(tags, str):
        tags = [tags]
    return [str(t).strip().lower() for t in tags if str(t).strip()]


class ArticleTransform:
    """Fields and spaces of the model's vectors, and vectorising articles and drafts."""

    title_weight: float
    body_weight: float
    tags_weight: float
    strip_boilerplate: bool
    boilerplate: Mapping[str, Any] | None
    matrix_: sp.csr_matrix
    vectorizers_: dict[str, TfidfVectorizer]
    field_slices_: dict[str, tuple[int, int]]
    check_fitted: Callable[[], None]

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

    def transform(self, X: pd.DataFrame | Iterable[Mapping[str, Any]]) -> sp.csr_matrix:
        """Vectorise articles with the fitted vocabulary (rows L2-normalised, float32)."""
        self.check_fitted()
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

    def vectorize_draft(self, title: str | None, body: str | None = "",
                        tags: Iterable[str] = ()) -> sp.csr_matrix:
        """Vectorise a draft (validated: strings, not both empty)."""
        return self.row_vector(*self.draft_terms(title, body, tags))

    def draft_terms(self, title: str | None, body: str | None = "", tags: Iterable[str] = ()
                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`vectorize_draft` as ``(columns int32 sorted, weights float32)``: what
        :meth:`candidates` reads, without building a scipy matrix (its checks cost about
        as much as scoring the candidates)."""
        self.check_fitted()
        for name, value in (("title", title), ("body", body)):
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(name, f"must be a string, got {type(value).__name__}")
        title, body = (title or "").strip(), (body or "").strip()
        if not title and not body:
            raise InvalidParameterError("body", "a draft needs a title or a body; both are empty")
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise InvalidParameterError("tags", "must be a list of strings")
        return self._terms_one({"title": title, "body": body, "tags": list(tags)})

    def row_vector(self, col: np.ndarray, val: np.ndarray) -> sp.csr_matrix:
        """A 1 x n_features CSR row from sorted columns and their weights."""
        return sp.csr_matrix((val, col, [0, col.size]), shape=(1, self.matrix_.shape[1]))

    def _transform_one(self, fields: Mapping[str, Any]) -> sp.csr_matrix:
        """:meth:`transform` of one article (see :meth:`_terms_one`)."""
        return self.row_vector(*self._terms_one(fields))

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
                    raw = np.fromiter(counts.values(), dtype=np.int32, count=len(counts))
                    found_tf.append((raw * field_weight).astype(np.float32)
                                    if field_weight != 1.0 else raw.astype(np.float32))
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
