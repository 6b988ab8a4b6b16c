"""Scoring through the inverted index: candidate generation, pruning, exact re-scoring.

The model's rows are L2-normalised TF-IDF vectors, so a cosine similarity is a dot product.
``index`` is the transposed matrix (term -> postings), so scoring a query touches only the
postings of its own terms. Two speed tricks, both optional and both measured (see
``docs/performance.md``):

* **query-term pruning**: candidates are generated from the query's ``max_query_terms``
  strongest terms, skipping terms found in more than ``max_query_df`` of the articles (the
  common words whose postings are long and whose weight is small), like a Lucene
  More-Like-This query;
* **exact re-scoring**: the ``n_candidates`` best candidates of the pruned query are then
  scored exactly against the whole query vector, so every score returned is the true cosine
  and only the recall of the candidate step can suffer.

Everything here is vectorised over candidates (no Python loop over candidates); the
neighbour-list builder loops over rows of a block only to run one ``argpartition`` per row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_csr_row_index: Callable[..., None] | None
try:  # scipy's C++ row copy behind ``csr[rows]`` (private module, hence the fallback)
    from scipy.sparse import _sparsetools

    _csr_row_index = _sparsetools.csr_row_index
except (ImportError, AttributeError):  # pragma: no cover - then the numpy gather is used
    _csr_row_index = None

_ROW_INDEX_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

logger = logging.getLogger(__name__)

_LOCAL = threading.local()


@dataclass(frozen=True)
class Pruning:
    """How candidate generation prunes a query (``None`` fields disable that cut).

    Attributes
    ----------
    max_terms : int or None
        Keep at most this many of the query's strongest terms (by TF-IDF weight).
    max_df : int or None
        Skip terms found in more than this many articles (absolute count).
    n_candidates : int
        Candidates re-scored exactly (at least the number of results asked for).
    """

    max_terms: int | None = None
    max_df: int | None = None
    n_candidates: int = 200

    @property
    def exact(self) -> bool:
        return self.max_terms is None and self.max_df is None


def document_frequencies(index: sp.csr_matrix) -> np.ndarray:
    """Postings length (document frequency) of every term, int32."""
    return np.diff(np.asarray(index.indptr)).astype(np.int32)


def prune_rows(q: sp.csr_matrix, df: np.ndarray, pruning: Pruning) -> sp.csr_matrix:
    """Keep, in every row of ``q``, the strongest terms allowed by ``pruning`` (vectorised).

    A row whose terms are all too common keeps its ``max_terms`` rarest terms instead, so no
    query is left without candidates.
    """
    if pruning.exact:
        return q
    q = q.tocsr()
    indptr = np.asarray(q.indptr)
    indices = np.asarray(q.indices)
    data = np.asarray(q.data)
    row = np.repeat(np.arange(q.shape[0]), np.diff(indptr))
    term_df = df[indices]
    common = (term_df > pruning.max_df) if pruning.max_df is not None else np.zeros(
        indices.size, dtype=bool)
    # Rank terms within each row: allowed terms first by weight desc; too-common terms
    # after them, rarest first (only used when a row has no allowed term at all).
    order = np.lexsort((np.where(common, term_df, 0), -np.where(common, 0, data), common, row))
    rank = np.arange(order.size) - indptr[row[order]]
    keep = np.ones(order.size, dtype=bool)
    if pruning.max_terms is not None:
        keep &= rank < pruning.max_terms
    # Too-common terms survive only in rows without any allowed term.
    has_allowed = np.zeros(q.shape[0], dtype=bool)
    has_allowed[row[~common]] = True
    sorted_common = common[order]
    keep &= ~sorted_common | ~has_allowed[row[order]]
    sel = np.sort(order[keep])
    counts = np.bincount(row[sel], minlength=q.shape[0])
    new_indptr = np.concatenate(([0], np.cumsum(counts))).astype(indptr.dtype)
    return sp.csr_matrix((data[sel], indices[sel], new_indptr), shape=q.shape)


def top_rows(rows: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best (score desc, row asc) of parallel arrays, by partial selection."""
    if rows.size > n:
        kth = np.partition(scores, -n)[-n]
        keep = scores >= kth  # keep every tie of the n-th so the tie-break is stable
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:n]
    return rows[order], scores[order]


def select_terms(
    qi: np.ndarray, qd: np.ndarray, df: np.ndarray, pruning: Pruning
) -> tuple[np.ndarray, np.ndarray]:
    """The terms of one query kept by ``pruning`` (same rule as :func:`prune_rows`)."""
    if pruning.exact:
        return qi, qd
    kept = _kept_positions(qi, qd, np.asarray(df)[qi], pruning)
    return qi[kept], qd[kept]


def _kept_positions(qi: np.ndarray, qd: np.ndarray, term_df: np.ndarray, pruning: Pruning
                    ) -> np.ndarray:
    """Positions (ascending) of the query terms that ``pruning`` keeps."""
    common = term_df > pruning.max_df if pruning.max_df is not None else np.zeros(
        qi.size, dtype=bool)
    if common.all():
        order = np.lexsort((qi, term_df))  # nothing rare enough: the rarest terms
    else:
        rare = np.flatnonzero(~common)
        order = rare[np.lexsort((qi[rare], -qd[rare]))]
    if pruning.max_terms is not None:
        order = order[: pruning.max_terms]
    return np.sort(order)


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the stored entries of ``rows`` of a CSR structure, and their lengths."""
    starts = indptr[rows].astype(np.int64)
    lens = indptr[rows + 1] - starts
    offsets = np.cumsum(lens) - lens
    return np.repeat(starts - offsets, lens) + np.arange(int(lens.sum())), lens


def _slices(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, keys: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of rows ``keys`` of a CSR structure, in key order:
    ``(indices, data, lengths)``.

    Each row's entries are contiguous, so they are copied row by row by scipy's own C++
    routine for ``matrix[rows]`` (``csr_row_index``, called directly: the public indexing
    adds ~80 us of checks per call, more than the copy at 100k articles); a numpy gather
    through computed positions is the fallback (3x slower on a draft's postings).
    """
    starts = indptr[keys]
    lens = indptr[keys + 1] - starts
    if (_csr_row_index is not None and indptr.dtype == indices.dtype
            and indptr.dtype in (np.int32, np.int64) and data.dtype in _ROW_INDEX_DTYPES):
        total = int(lens.sum())
        out_indices = np.empty(total, dtype=indices.dtype)
        out_data = np.empty(total, dtype=data.dtype)
        _csr_row_index(keys.size, np.ascontiguousarray(keys, dtype=indptr.dtype), indptr,
                       indices, data, out_indices, out_data)
        return out_indices, out_data, lens.astype(np.int64, copy=False)
    pos, lens = _gather(indptr, keys)
    return indices[pos], data[pos], lens.astype(np.int64, copy=False)


def _row_marks(n: int) -> np.ndarray:
    """A per-thread int32 work array of at least ``n`` slots (contents undefined: every
    slot is written before it is read)."""
    buf = getattr(_LOCAL, "marks", None)
    if buf is None or buf.size < n:
        buf = _LOCAL.marks = np.empty(n, dtype=np.int32)
    return buf


def accumulate(index: sp.csr_matrix, qi: np.ndarray, qd: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every row sharing a term with the query ``(qi, qd)``: ``(rows, scores)``.

    Reads only the postings of the query's terms; the cost is linear in the postings
    touched (no sort, and no n-length array unless the postings are that many). Rows come
    in no particular order; each score is the float64 sum of its postings in postings
    order, as float32.
    """
    n_rows = index.shape[1]
    # np.asarray: plain views of memory-mapped arrays (np.memmap indexing is slower).
    stored, data, lens = _slices(np.asarray(index.indptr), np.asarray(index.indices),
                                 np.asarray(index.data), qi)
    # Index arrays as intp and weights as float64 up front: numpy's gathers, scatters and
    # bincount otherwise convert int32/float32 on every call (bincount 5-10x slower).
    rows = stored.astype(np.intp)
    vals = (data * np.repeat(qd, lens)).astype(np.float64)
    p = rows.size
    if p * 2 < n_rows:
        # Few postings: number each row by the position of one of its postings (the last
        # write wins), sum per number, keep one entry per row.
        marks = _row_marks(n_rows)
        seq = np.arange(p, dtype=np.int32)
        marks[rows] = seq
        rep = marks.take(rows)
        first = np.flatnonzero(rep == seq)
        sums = np.bincount(rep.astype(np.intp), weights=vals, minlength=p)
        return (stored.take(first).astype(np.int32, copy=False),
                sums.take(first).astype(np.float32))
    # Many postings: a dense accumulator is cheaper.
    dense = np.bincount(rows, weights=vals, minlength=n_rows)
    uniq = np.flatnonzero(dense)
    return uniq.astype(np.int32), dense[uniq].astype(np.float32)


def rescore(matrix: sp.csr_matrix, rows: np.ndarray, qi: np.ndarray, qd: np.ndarray,
            scratch: np.ndarray | None = None) -> np.ndarray:
    """Exact cosine of ``rows`` with the query ``(qi sorted, qd)``, float32, vectorised.

    ``scratch`` (optional) is an all-zero float32 array with one slot per feature: the
    query is spread into it for a direct lookup, then the slots are zeroed again.
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.float32)
    cols, data, lens = _slices(np.asarray(matrix.indptr), np.asarray(matrix.indices),
                               np.asarray(matrix.data), rows)
    if scratch is not None:
        scratch[qi] = qd
        contrib = data * scratch.take(cols)
        scratch[qi] = 0.0
    else:
        at = np.searchsorted(qi, cols)
        np.minimum(at, qi.size - 1, out=at)
        contrib = np.where(qi[at] == cols, data * qd[at], 0.0)
    owner = np.repeat(np.arange(rows.size), lens)
    return np.bincount(owner, weights=contrib.astype(np.float64),
                       minlength=rows.size).astype(np.float32)


@dataclass(frozen=True)
class RescoreBounds:
    """What bounds the part of a cosine that a pruned query leaves out.

    Attributes
    ----------
    max_df : int
        The pruning's ``max_df`` these bounds were computed for ("common" terms have more
        postings than this).
    term_max : ndarray of float32, shape (n_features,)
        The largest weight of every term over all rows.
    row_common_norm : ndarray of float32, shape (n_rows,)
        The L2 norm of every row restricted to the common terms.
    """

    max_df: int
    term_max: np.ndarray
    row_common_norm: np.ndarray


def rescore_bounds(index: sp.csr_matrix, df: np.ndarray, max_df: int,
                   block: int = 4096, max_postings: int = 1 << 22) -> RescoreBounds:
    """Compute :class:`RescoreBounds` from the inverted index (terms in blocks of at most
    ``block`` terms and ``max_postings`` postings: bounded temporary memory; at 1M articles
    the common terms' postings are most of the index, ~2.4 GB of temporaries in one block)."""
    indptr = np.asarray(index.indptr)
    indices = np.asarray(index.indices)
    data = np.asarray(index.data)
    n_terms, n_rows = index.shape
    term_max = np.zeros(n_terms, dtype=np.float32)
    filled = np.flatnonzero(np.diff(indptr) > 0)
    if filled.size:
        term_max[filled] = np.maximum.reduceat(data, indptr[:-1][filled])
    squares = np.zeros(n_rows, dtype=np.float64)
    common = np.flatnonzero(np.asarray(df) > max_df)
    ends = np.cumsum(indptr[common + 1] - indptr[common], dtype=np.int64)
    start = 0
    while start < common.size:
        done = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, done + max_postings, side="right"))
        stop = min(max(stop, start + 1), start + block)
        rows, weights, _ = _slices(indptr, indices, data, common[start:stop])
        squares += np.bincount(rows, weights=np.square(weights, dtype=np.float64),
                               minlength=n_rows)
        start = stop
    return RescoreBounds(int(max_df), term_max, np.sqrt(squares).astype(np.float32))


def _rescore_top(matrix: sp.csr_matrix, rows: np.ndarray, partial: np.ndarray,
                 qi: np.ndarray, qd: np.ndarray, kept: np.ndarray, term_df: np.ndarray, n: int,
                 bounds: RescoreBounds, scratch: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The exact top ``n`` of ``rows`` (same as re-scoring them all), re-scoring only the
    rows that can reach it.

    A row's exact cosine is its pruned score plus what the left-out query terms add: at most
    ``|q_common| * |row_common| + sum(q_t * max weight of t)`` over the left-out common and
    rare terms (Cauchy-Schwarz; all weights are non-negative). The ``max(2n, 16)`` rows of
    best bound are re-scored first; then, in one more batch, every other row whose bound
    exceeds the n-th best exact score found: no other row can enter the top ``n``.
    """
    left = np.ones(qi.size, dtype=bool)  # the query's terms the pruning left out
    left[kept] = False  # kept: their positions in the query
    common = term_df > bounds.max_df
    lc, lr = left & common, left & ~common
    q_common = float(np.sqrt(np.dot(qd[lc].astype(np.float64), qd[lc].astype(np.float64))))
    rare = float(np.dot(qd[lr].astype(np.float64),
                        np.asarray(bounds.term_max)[qi[lr]].astype(np.float64)))
    # + 1e-5: float32 rounding of the scores is far smaller
    upper = (partial.astype(np.float64) + rare + 1e-5
             + q_common * np.asarray(bounds.row_common_norm)[rows])
    order = np.argsort(-upper, kind="stable")
    first = order[: min(max(2 * n, 16), rows.size)]
    exact = rescore(matrix, rows.take(first), qi, qd, scratch)
    if first.size < rows.size and exact.size >= n:
        # Only a row whose bound exceeds the n-th best exact score so far can still enter
        # the top n: re-score those in one batch.
        rest = order[first.size:]
        rest = rest[upper.take(rest) > np.partition(exact, -n)[-n]]
        if rest.size:
            first = np.concatenate((first, rest))
            exact = np.concatenate((exact, rescore(matrix, rows.take(rest), qi, qd, scratch)))
    return top_rows(rows.take(first), exact, n)


def _eligible(rows: np.ndarray, scores: np.ndarray, allowed: np.ndarray | None,
              exclude_row: int | None) -> np.ndarray:
    keep = scores > 0
    if allowed is not None:
        keep &= allowed[rows]
    if exclude_row is not None:
        keep &= rows != exclude_row
    return keep


def _top_eligible(rows: np.ndarray, scores: np.ndarray, n: int, allowed: np.ndarray | None,
                  exclude_row: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_rows` of the entries that are eligible (positive score, ``allowed``, not
    ``exclude_row``). The n-th best score of all entries is found first and eligibility
    checked only at or above it; when fewer than ``n`` of those are eligible, every entry
    is checked (same result either way). With ``exclude_row`` the threshold is the
    ``n + 1``-th best: a row's own entry is usually its best, and would otherwise leave
    ``n - 1`` eligible at the top and send every such query to the full check."""
    m = n if exclude_row is None else n + 1
    if rows.size > m:
        sel = np.flatnonzero(scores >= np.partition(scores, -m)[-m])
        top, top_scores = rows.take(sel), scores.take(sel)
        keep = _eligible(top, top_scores, allowed, exclude_row)
        if np.count_nonzero(keep) >= n:
            return top_rows(top[keep], top_scores[keep], n)
    keep = _eligible(rows, scores, allowed, exclude_row)
    return top_rows(rows[keep], scores[keep], n)


def query_candidates(
    q: sp.csr_matrix | tuple[np.ndarray, np.ndarray],
    matrix: sp.csr_matrix,
    index: sp.csr_matrix,
    df: np.ndarray,
    n: int,
    *,
    pruning: Pruning,
    allowed: np.ndarray | None = None,
    exclude_row: int | None = None,
    scratch: np.ndarray | None = None,
    bounds: RescoreBounds | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` rows for one query vector: ``(rows int32, scores float32)``, best first.

    ``q`` is a 1 x d sparse row or its ``(columns, weights)`` arrays. With ``bounds`` (for
    ``pruning.max_df``), only the candidates that can reach the top ``n`` are re-scored
    (same result).

    Only rows with a positive score are returned; ``allowed`` (bool per row) restricts the
    candidates (e.g. published rows), ``exclude_row`` removes the query's own row. Scores
    are exact cosines (re-scored against the whole query when candidates were pruned),
    ordered by score descending, then row ascending.
    """
    if allowed is not None:
        allowed = np.asarray(allowed)  # a plain view: np.memmap indexing runs Python code
    if isinstance(q, tuple):  # (columns, weights) of a draft: no scipy matrix needed
        qi, qd = np.asarray(q[0]), np.asarray(q[1], dtype=np.float32)
    else:
        qi = np.asarray(q.indices)
        qd = np.asarray(q.data, dtype=np.float32)
    if qi.size > 1 and np.any(qi[1:] < qi[:-1]):
        order = np.argsort(qi, kind="stable")
        qi, qd = qi[order], qd[order]
    if pruning.exact:
        return _top_eligible(*accumulate(index, qi, qd), n, allowed, exclude_row)
    term_df = np.asarray(df)[qi]
    kept = _kept_positions(qi, qd, term_df, pruning)
    rows, scores = accumulate(index, qi.take(kept), qd.take(kept))
    rows, partial = _top_eligible(rows, scores, max(n, pruning.n_candidates), allowed,
                                  exclude_row)
    if bounds is not None and bounds.max_df == pruning.max_df and 2 * n < rows.size:
        return _rescore_top(matrix, rows, partial, qi, qd, kept, term_df, n, bounds, scratch)
    return top_rows(rows, rescore(matrix, rows, qi, qd, scratch), n)


#: Articles per slice of the inverted index in the neighbour lists' sparse product. The
#: product keeps one score and one link per article of the (slice of the) index and
#: touches them in no particular order, once per posting: over 1M articles (8 MB) nearly
#: every posting missed the CPU caches; a slice of 131,072 articles (1 MiB) stays in a
#: core's L2 cache. The same sums in the same order, 2.2-2.8x faster at 1M.
INDEX_SLICE = 1 << 17


def index_slices(matrix: sp.csr_matrix, width: int = INDEX_SLICE) -> Iterator[sp.csr_matrix]:
    """The inverted index cut into article ranges of ``width``, one slice at a time: slice
    ``j`` is the transpose of ``matrix[j * width:(j + 1) * width]`` (terms x the range's
    articles, its column ``c`` being article ``j * width + c``), each term's postings in
    article order."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    for lo in range(0, matrix.shape[0], width):
        yield matrix[lo: lo + width].T.tocsr()


def neighbor_block(
    matrix: sp.csr_matrix,
    slices: list[sp.csr_matrix],
    df: np.ndarray,
    allowed: np.ndarray,
    start: int,
    stop: int,
    n: int,
    pruning: Pruning,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` neighbours of rows ``start:stop`` (self and disallowed rows excluded).

    ``slices`` is :func:`index_slices` of ``matrix``. Returns ``(rows, scores)`` of shape
    ``(stop - start, n)``; a row with fewer than ``n`` neighbours is padded with row ``-1``
    and score ``0``. Same selection as :func:`query_candidates` for every row, with one
    sparse product per slice of the index for the whole block.
    """
    df = np.asarray(df)
    q = matrix[start:stop]
    q.sort_indices()
    qp = prune_rows(q, df, pruning)
    # One product per slice; each query row's candidates are then its segments of the
    # products, numbered from the slice's first article (stacking the products into one
    # matrix took a third of the time at 1M).
    products, first = [], 0
    for part in slices:
        product = qp @ part
        products.append((product.indptr, product.indices.astype(np.int32) + np.int32(first),
                         product.data.astype(np.float32, copy=False)))
        first += part.shape[1]
    b = stop - start
    out_rows = np.full((b, n), -1, dtype=np.int32)
    out_scores = np.zeros((b, n), dtype=np.float32)
    width = n if pruning.exact else max(n, pruning.n_candidates)
    scratch = None if pruning.exact else np.zeros(matrix.shape[1], dtype=np.float32)
    q_indptr, q_indices, q_data = q.indptr, q.indices, q.data.astype(np.float32)
    for i in range(b):  # one partial selection (and re-scoring) per query row
        if len(products) == 1:
            indptr, p_rows, p_data = products[0]
            r, s = p_rows[indptr[i]: indptr[i + 1]], p_data[indptr[i]: indptr[i + 1]]
        else:
            r = np.concatenate([p_rows[ip[i]: ip[i + 1]] for ip, p_rows, _ in products])
            s = np.concatenate([p_data[ip[i]: ip[i + 1]] for ip, _, p_data in products])
        r, s = _top_eligible(r, s, width, allowed, start + i)
        if scratch is not None:
            qs = slice(q_indptr[i], q_indptr[i + 1])
            r, s = top_rows(r, rescore(matrix, r, q_indices[qs], q_data[qs], scratch), n)
        out_rows[i, : r.size] = r
        out_scores[i, : r.size] = s
    return out_rows, out_scores
