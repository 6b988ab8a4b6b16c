"""The topic (LSA) blend: a latent topic space that links stories sharing meaning, not words.

A randomized :class:`~sklearn.decomposition.TruncatedSVD` of the model's own TF-IDF rows gives
``lsa_components_`` (vocabulary x rank, float32). A live article or a draft is projected from
its own term vector: ``unit(vector @ lsa_components_)``. A corpus article's topic row
(``lsa_rows_``, articles x rank, float32, unit rows) is its projection smoothed over its
``lsa_neighbors`` closest articles by cosine (:func:`smooth_rows`): ``unit(z + lsa_smoothing *
sum(cosine_j * z_j))``, so a story leans toward the coverage around it. A candidate found by
the lexical search is then scored

    (1 - lsa_weight) * cosine + lsa_weight * topic_cosine

where ``topic_cosine`` is the dot product of the query's topic vector and the candidate's
row. Candidates still come from the inverted index (the topic space only re-scores them): a
precomputed list re-scores the lexical candidates of the ordinary neighbour pass
(``n_neighbors`` of them); a draft, a live article or a query beyond the lists re-scores
``max(k, LSA_CANDIDATES)``.

Above :data:`LSA_FIT_ROWS` articles, the SVD is fitted on a seeded random sample of that many
rows, then every row is projected: the fit's cost stops growing with the archive, the
projection's grows linearly.

``lsa_components``: ``"auto"`` (the default) is ``round(4 * sqrt(articles))`` clipped to
[20, 400], and off below :data:`AUTO_MIN_ARTICLES` articles; an int is the rank; 0 turns the
blend off (see docs/quality.md).
"""

from __future__ import annotations

import json
import logging
import math
import time
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameterError

logger = logging.getLogger(__name__)

#: Lexical candidates re-scored by the blend for a draft, a live article or a query beyond the
#: precomputed lists (at least ``k``). Measured outside the library: 50 instead of 200 lost
#: 0.0012 of the mean nDCG@10 gain over the development sets.
LSA_CANDIDATES = 50
#: Above this many articles the SVD is fitted on a seeded random sample of this many rows.
LSA_FIT_ROWS = 20_000
#: ``"auto"``: rank = round(AUTO_C * sqrt(articles)), clipped to [AUTO_MIN, AUTO_MAX].
AUTO_C, AUTO_MIN, AUTO_MAX = 4.0, 20, 400
#: ``"auto"`` leaves the blend off below this many articles: too few to learn topics from
#: (the smallest archive it was measured on has 378).
AUTO_MIN_ARTICLES = 300
#: Power iterations of the randomized SVD.
N_ITER = 5
#: Most lexical neighbours a topic row can be smoothed over (``lsa_neighbors``).
MAX_SMOOTHING_NEIGHBORS = 50
#: Rows projected per block when the corpus rows are stored.
_BLOCK = 8192


def check_lsa_params(components: Any, weight: Any = 0.3, neighbors: Any = 5,
                     smoothing: Any = 0.5) -> None:
    """Raise :class:`InvalidParameterError` naming the ``lsa_*`` parameter that is not valid
    (the vocabulary bound on the rank is checked at fit time)."""
    if not (components == "auto" or (isinstance(components, (int, np.integer))
                                     and not isinstance(components, bool) and components >= 0)):
        raise InvalidParameterError(
            "lsa_components", f"must be 'auto', 0 (off) or a positive integer, got "
                              f"{components!r}")
    if (isinstance(weight, bool) or not isinstance(weight, (int, float, np.floating))
            or not 0.0 <= float(weight) <= 1.0):
        raise InvalidParameterError("lsa_weight", f"must be a number in [0, 1], got {weight!r}")
    if (isinstance(neighbors, bool) or not isinstance(neighbors, (int, np.integer))
            or not 0 <= neighbors <= MAX_SMOOTHING_NEIGHBORS):
        raise InvalidParameterError(
            "lsa_neighbors", f"must be an integer in [0, {MAX_SMOOTHING_NEIGHBORS}], got "
                             f"{neighbors!r}")
    if (isinstance(smoothing, bool) or not isinstance(smoothing, (int, float, np.floating))
            or not 0.0 <= float(smoothing) <= 10.0):
        raise InvalidParameterError(
            "lsa_smoothing", f"must be a number in [0, 10], got {smoothing!r}")


def parse_lsa_components(value: str) -> str | int:
    """A command-line value: ``auto`` or an integer >= 0."""
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    try:
        number = int(text)
    except ValueError:
        raise InvalidParameterError(
            "lsa_components", f"must be 'auto', 0 (off) or a positive integer, got "
                              f"{value!r}") from None
    check_lsa_params(number, 0.0)
    return number


def lsa_rank(components: str | int, n_articles: int, n_features: int) -> int:
    """The rank a model fits (0: no LSA). ``"auto"`` follows the archive's size, stays below
    the matrix's smaller side and is 0 below :data:`AUTO_MIN_ARTICLES`; an explicit rank
    beyond the matrix is an error."""
    # the randomized SVD needs a rank below the (sampled) matrix's smaller side
    limit = min(n_articles, LSA_FIT_ROWS, n_features) - 1
    if components == "auto":
        if n_articles < AUTO_MIN_ARTICLES:
            return 0
        rank = int(min(max(round(AUTO_C * math.sqrt(n_articles)), AUTO_MIN), AUTO_MAX))
        return max(min(rank, limit), 0)
    rank = int(components)
    if rank > limit:
        raise InvalidParameterError(
            "lsa_components", f"{rank} is too large for this corpus: at most {max(limit, 0)} "
                              f"(one less than the smaller of "
                              f"{min(n_articles, LSA_FIT_ROWS)} articles fitted and "
                              f"{n_features} terms)")
    return rank


#: Parameters that do not shape the matrix the SVD sees (nor its rank): left out of its seed,
#: so a model differing only in them fits the same topic space.
_NOT_SEEDED = frozenset({"n_jobs", "lsa_weight", "lsa_neighbors", "lsa_smoothing"})


def lsa_seed(params: dict[str, Any]) -> int:
    """A random state derived from the model's parameters (not from ``n_jobs`` or the blend's
    weights): the same parameters on the same corpus fit the same arrays."""
    stable = {k: v for k, v in params.items() if k not in _NOT_SEEDED}
    return zlib.crc32(json.dumps(stable, sort_keys=True, default=str).encode())


def unit_rows(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), in place, float32."""
    z = np.asarray(z, dtype=np.float32)
    norm = np.sqrt(np.einsum("ij,ij->i", z, z))
    norm[norm == 0] = 1.0
    z /= norm[:, None]
    return z


def project(vectors: sp.spmatrix, components: np.ndarray) -> np.ndarray:
    """Unit-length LSA projections (rows x rank, float32) of sparse term rows."""
    z = vectors @ components
    return unit_rows(np.asarray(z, dtype=np.float32).reshape(vectors.shape[0], -1))


def project_terms(cols: np.ndarray, weights: np.ndarray, components: np.ndarray) -> np.ndarray:
    """:func:`project` of one vector given as ``(columns, weights)``: a rank-long vector."""
    # a plain view: a np.memmap's fancy indexing runs Python code (a tenth of a draft's blend)
    z = np.asarray(weights, dtype=np.float32) @ np.asarray(components).take(
        np.asarray(cols), axis=0)
    z = np.asarray(z, dtype=np.float32).ravel()
    norm = np.sqrt(np.dot(z, z))  # one row: unit_rows' einsum costs more than the product
    if norm > 0:
        z /= norm
    return z


def fit_rows(n_articles: int, seed: int) -> np.ndarray | None:
    """The rows the SVD is fitted on: None (all) up to :data:`LSA_FIT_ROWS` articles, else a
    seeded random sample of that many, in row order."""
    if n_articles <= LSA_FIT_ROWS:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_articles, size=LSA_FIT_ROWS, replace=False))


def fit_lsa(matrix: sp.csr_matrix, rank: int, seed: int,
            stats: dict[str, Any] | None = None) -> np.ndarray:
    """The components (vocabulary x rank, float32) of a randomized SVD of ``matrix``. Above
    :data:`LSA_FIT_ROWS` articles the SVD sees a sample (:func:`fit_rows`). ``stats``
    receives its seconds and the rows fitted."""
    from sklearn.decomposition import TruncatedSVD

    t0 = time.perf_counter()
    sample = fit_rows(matrix.shape[0], seed)
    fitted = matrix if sample is None else matrix[sample]
    used = None
    if sample is not None:
        # Only the terms the sample uses: a smaller random range to orthogonalise. The
        # others get zero components (the sample knows nothing of their direction).
        used = np.flatnonzero(np.bincount(fitted.indices, minlength=matrix.shape[1]))
        if used.size <= rank:
            used = None
        else:
            fitted = fitted[:, used]
    svd = TruncatedSVD(rank, algorithm="randomized", n_iter=N_ITER, random_state=seed)
    svd.fit(fitted)
    del fitted
    if used is None:
        components = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
    else:
        components = np.zeros((matrix.shape[1], rank), dtype=np.float32)
        components[used] = svd.components_.T
    t1 = time.perf_counter()
    n_fit = matrix.shape[0] if sample is None else sample.size
    logger.info("LSA: rank %d fitted on %d of %d articles in %.1f s", rank, n_fit,
                matrix.shape[0], t1 - t0)
    if stats is not None:
        stats.update(fit_rows=n_fit, svd_seconds=round(t1 - t0, 3))
    return components


def project_rows(matrix: sp.csr_matrix, components: np.ndarray) -> np.ndarray:
    """:func:`project` of every row of ``matrix``, in blocks (articles x rank, float32)."""
    rows = np.empty((matrix.shape[0], components.shape[1]), dtype=np.float32)
    for start in range(0, matrix.shape[0], _BLOCK):
        rows[start:start + _BLOCK] = project(matrix[start:start + _BLOCK], components)
    return rows


def smooth_rows(rows: np.ndarray, neighbor_rows: np.ndarray, neighbor_scores: np.ndarray,
                neighbors: int, smoothing: float) -> np.ndarray:
    """Topic rows leaning toward their neighbourhood: ``unit(z_i + smoothing * sum_j
    cosine_ij * z_j)`` over each article's first ``neighbors`` lexical neighbours
    (``neighbor_rows`` padded with -1, ``neighbor_scores`` their cosines), from the
    unsmoothed ``rows`` (not changed). ``neighbors`` or ``smoothing`` 0: the rows, copied."""
    out = np.array(rows, dtype=np.float32)
    m = min(int(neighbors), neighbor_rows.shape[1])
    if m <= 0 or smoothing <= 0:
        return out
    for start in range(0, out.shape[0], _BLOCK):
        nb = np.asarray(neighbor_rows[start:start + _BLOCK, :m], dtype=np.int64)
        weight = np.where(nb >= 0, neighbor_scores[start:start + _BLOCK, :m], 0.0)
        pulled = np.einsum("ij,ijk->ik", weight.astype(np.float32),
                           rows[np.where(nb >= 0, nb, 0)])
        out[start:start + _BLOCK] += np.float32(smoothing) * pulled
    return unit_rows(out)


def blend(cosines: np.ndarray, lsa_cosines: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * cosine + weight * lsa_cosine`` (float64)."""
    return ((1.0 - weight) * np.asarray(cosines, dtype=np.float64)
            + weight * np.asarray(lsa_cosines, dtype=np.float64))


def blend_lists(rows: np.ndarray, scores: np.ndarray, lsa_rows: np.ndarray, weight: float,
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists (``rows`` padded with -1, their cosines) re-scored by the blend,
    re-sorted (score descending, then row ascending) and cut to ``n``; a list keeps only
    positive blended scores."""
    out_rows = np.full((rows.shape[0], n), -1, dtype=np.int32)
    out_scores = np.zeros((rows.shape[0], n), dtype=np.float32)
    lsa_rows = np.asarray(lsa_rows)  # a plain view: np.memmap indexing runs Python code
    # Gathering the candidates' rows is most of the cost (random reads, memory-bound):
    # blocks small enough that the gathered rows stay in cache for the dot products.
    block = max(1, (4 << 20) // (4 * max(rows.shape[1] * lsa_rows.shape[1], 1)))
    gathered = np.empty((min(block, rows.shape[0]), rows.shape[1], lsa_rows.shape[1]),
                        dtype=lsa_rows.dtype)
    last = np.iinfo(np.int64).max
    for start in range(0, rows.shape[0], block):
        r = np.asarray(rows[start:start + block], dtype=np.int64)
        valid = r >= 0
        own = lsa_rows[start:start + r.shape[0]]
        g = gathered[:r.shape[0]]
        np.take(lsa_rows, np.where(valid, r, 0), axis=0, out=g)
        lsa = np.matmul(g, own[:, :, None])[:, :, 0]
        s = blend(scores[start:start + r.shape[0]], lsa, weight)
        s[~valid | (s <= 0)] = -np.inf
        order = np.lexsort((np.where(np.isfinite(s), r, last), -s), axis=-1)[:, :n]
        picked_s = np.take_along_axis(s, order, axis=1)
        picked_r = np.take_along_axis(r, order, axis=1)
        keep = np.isfinite(picked_s)
        out_rows[start:start + r.shape[0]] = np.where(keep, picked_r, -1)
        out_scores[start:start + r.shape[0]] = np.where(keep, picked_s, 0.0)
    return out_rows, out_scores


class LatentTopics:
    """The LSA part of :class:`~recommender.model.estimator.RelatedStories`: whether the
    model has one, projections, and the blended score of lexical candidates."""

    lsa_weight: float

    @property
    def has_lsa(self) -> bool:
        return getattr(self, "lsa_components_", None) is not None

    def lsa_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lsa_components_, lsa_rows_)`` of a model with LSA."""
        comps = getattr(self, "lsa_components_", None)
        rows = getattr(self, "lsa_rows_", None)
        if comps is None or rows is None:
            raise ValueError("this model has no LSA blend (lsa_components=0)")
        return comps, rows

    def lsa_of_vector(self, vector: Any) -> np.ndarray:
        """The unit LSA projection of one query: a sparse row or ``(columns, weights)``."""
        comps = self.lsa_arrays()[0]
        if isinstance(vector, tuple):
            return project_terms(vector[0], vector[1], comps)
        return project(sp.csr_matrix(vector), comps)[0]

    def lsa_cosines(self, rows: np.ndarray, query_lsa: np.ndarray) -> np.ndarray:
        """LSA cosines of corpus ``rows`` with a projected query (float64)."""
        lsa_rows = np.asarray(self.lsa_arrays()[1])  # a plain view (see project_terms)
        return np.asarray(lsa_rows.take(np.asarray(rows, dtype=np.int64), axis=0) @ query_lsa,
                          dtype=np.float64)

    def blend_candidates(self, rows: np.ndarray, cosines: np.ndarray, query_lsa: np.ndarray,
                         n: int) -> tuple[np.ndarray, np.ndarray]:
        """Lexical candidates re-scored by the blend: the best ``n`` with a positive score,
        score descending then row ascending (float32 scores)."""
        rows = np.asarray(rows)
        if not rows.size:
            return rows, np.asarray(cosines, dtype=np.float32)
        s = blend(cosines, self.lsa_cosines(rows, query_lsa), float(self.lsa_weight))
        order = np.lexsort((rows, -s))
        order = order[s[order] > 0][:n]
        return rows[order], s[order].astype(np.float32)
