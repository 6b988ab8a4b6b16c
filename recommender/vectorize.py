"""Fit the field vectorisers in parallel: token counts per shard, merged into one vocabulary.

scikit-learn's ``TfidfVectorizer.fit_transform`` counts tokens in one Python loop on one
core (~48 CPU-seconds at 100k articles, most of a 1M fit). Here the articles are cut into
shards; each shard is analysed (the vectoriser's own analyzer: same tokens) and counted in a
joblib task, with a local vocabulary. The parent merges the shards' vocabularies, applies
``min_df`` / ``max_df`` / ``max_features`` exactly as scikit-learn does, and computes IDF and
the TF-IDF rows with scikit-learn's own ``TfidfTransformer``: the result equals the
single-process fit up to float rounding and the order of the columns (tested).

The kept terms go into a MARISA trie (:mod:`marisa_trie`) that becomes the vectoriser's
``vocabulary_``; a term's column **is** its key id in the trie, so the served model needs no
term -> column dict: the trie file is memory-mapped and shared by every worker process
(:mod:`recommender.tables`), and it still answers ``vocabulary_[term]``, ``.get`` and
``.items()`` like the dict it replaces.

The tasks run on local processes (loky) or, with a scheduler address, on a Dask cluster
through joblib's Dask backend: each shard's texts travel once, to the task that counts them.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, parallel_config
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from .analyzer import fast_analyzer
from .boilerplate import strip_boilerplate
from .tables import build_trie

logger = logging.getLogger(__name__)

#: Articles per task: bounded memory per task, enough tasks to balance the workers.
SHARD_SIZE = 25_000
#: Below this many articles, counting runs in-process (starting workers costs more).
MIN_PARALLEL_ARTICLES = 20_000


@dataclass
class VectorizeStats:
    """What vectorising cost (goes into ``fit_stats_``)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    count_cpu_seconds: float = 0.0
    shards: int = 0
    n_jobs: int = 1
    backend: str = "sequential"
    terms_seen: dict[str, int] = field(default_factory=dict)
    #: Largest peak resident memory of a counting process (a worker's own, for loky/Dask).
    worker_peak_rss_mib: float = 0.0
    #: This process's peak memory (MiB) at the end of each stage (where the peak happens).
    peak_rss_mib_after: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "count_cpu_seconds": round(self.count_cpu_seconds, 3),
            "shards": self.shards,
            "n_jobs": self.n_jobs,
            "backend": self.backend,
            "terms_seen": dict(self.terms_seen),
            "worker_peak_rss_mib": round(self.worker_peak_rss_mib, 1),
            "peak_rss_mib_after": {k: round(v, 1) for k, v in self.peak_rss_mib_after.items()},
        }


@dataclass
class Vectorized:
    """Fitted vectorisers and their TF-IDF blocks (rows L2-normalised per field)."""

    vectorizers: dict[str, TfidfVectorizer]
    blocks: dict[str, sp.csr_matrix]
    skipped: dict[str, str]
    boilerplate_removed: int
    stats: VectorizeStats


def _count_shard(vectorizers: Mapping[str, TfidfVectorizer], columns: Mapping[str, Sequence[Any]],
                 boilerplate: Any) -> tuple[dict[str, tuple], int, float, float]:
    """Count the tokens of one shard: per field, (local terms, indptr, indices, counts); the
    boilerplate blocks removed, the task's CPU time and the process's peak memory (MiB)."""
    cpu = time.thread_time()
    removed = 0
    out: dict[str, tuple] = {}
    for name, docs in columns.items():
        if name == "body" and boilerplate is not None:
            stripped = [strip_boilerplate(d, boilerplate) for d in docs]
            removed += sum(n for _, n in stripped)
            docs = [t for t, _ in stripped]
        analyze = fast_analyzer(vectorizers[name])  # scikit-learn's tokens, faster n-grams
        # A term's local id is the vocabulary size when first seen (as in scikit-learn).
        vocab: defaultdict[str, int] = defaultdict()
        vocab.default_factory = vocab.__len__
        get = vocab.__getitem__
        cols = array("i")
        lengths = np.empty(len(docs), dtype=np.int64)
        for i, doc in enumerate(docs):
            before = len(cols)
            cols.extend(map(get, analyze(doc)))  # C-level loop, no per-token Python code
            lengths[i] = len(cols) - before
        col = np.frombuffer(cols, dtype=np.int32) if len(cols) else np.zeros(0, np.int32)
        row = np.repeat(np.arange(len(docs), dtype=np.int32), lengths)
        # COO -> CSR sums the duplicates: the count of each term in each document.
        counts = sp.csr_matrix((np.ones(col.size, dtype=np.int32), (row, col)),
                               shape=(len(docs), len(vocab)))
        counts.sum_duplicates()
        out[name] = (list(vocab), counts.indptr.astype(np.int64), counts.indices.astype(np.int32),
                     counts.data.astype(np.int32))
    return out, removed, time.thread_time() - cpu, peak_rss_mib()


def _doc_count(bound: int | float, n_docs: int) -> float:
    return bound if isinstance(bound, Integral) else bound * n_docs


def _limit(vec: TfidfVectorizer, terms: list[str], df: np.ndarray, tf: Callable[[], np.ndarray],
           n_docs: int) -> np.ndarray:
    """Global ids of the terms kept by min_df / max_df / max_features (scikit-learn's rules,
    including its tie order for ``max_features``, which ranks terms in sorted order)."""
    high = _doc_count(vec.max_df, n_docs)
    low = _doc_count(vec.min_df, n_docs)
    if high < low:
        raise ValueError("max_df corresponds to < documents than min_df")
    mask = (df <= high) & (df >= low)
    limit = vec.max_features
    if limit is not None and mask.sum() > limit:
        order = np.array(sorted(range(len(terms)), key=terms.__getitem__), dtype=np.int64)
        tfs = tf()[order]
        sorted_mask = mask[order]
        picked = (-tfs[sorted_mask]).argsort()[:limit]
        new_mask = np.zeros(len(terms), dtype=bool)
        new_mask[order[np.where(sorted_mask)[0][picked]]] = True
        mask = new_mask
    kept = np.flatnonzero(mask)
    if kept.size == 0:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    return kept


def _shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + shard_size, n)) for s in range(0, n, max(shard_size, 1))] or [(0, 0)]


def fit_vectorizers(
    vectorizers: Mapping[str, TfidfVectorizer],
    columns: Mapping[str, Sequence[Any]],
    *,
    boilerplate: Any = None,
    n_jobs: int | None = None,
    dask_scheduler: str | None = None,
    progress: bool = False,
    shard_size: int = SHARD_SIZE,
    min_parallel: int = MIN_PARALLEL_ARTICLES,
) -> Vectorized:
    """Fit one TF-IDF vectoriser per field over the same articles, counting in parallel.

    Parameters
    ----------
    vectorizers : mapping of str -> TfidfVectorizer
        Unfitted vectorisers (their parameters: analyzer, ``min_df``, ``max_df``,
        ``max_features``, ``sublinear_tf``, ``norm``, ``dtype``).
    columns : mapping of str -> sequence
        The values of each field, one per article, in row order.
    boilerplate : optional
        A :func:`recommender.boilerplate.boilerplate_config`: stripped from ``body``
        values (inside the tasks) before counting.
    n_jobs : int, optional
        Local worker processes (default: all cores); ignored with ``dask_scheduler``.
    dask_scheduler : str, optional
        ``tcp://host:port``: run the counting tasks on that Dask cluster.
    progress : bool
        A progress bar (tqdm, stderr) over the articles counted.
    shard_size : int
        Articles per task.
    min_parallel : int
        Below this many articles, count in this process.

    Returns
    -------
    Vectorized
        Fitted vectorisers (``vocabulary_`` a MARISA trie whose key ids are the columns),
        their TF-IDF blocks (float32 CSR), the fields left out with the reason (e.g. an
        empty vocabulary: a corpus without tags), and timings.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    names = [f for f in vectorizers if f in columns]
    n_docs = len(columns[names[0]]) if names else 0
    stats = VectorizeStats()
    skipped: dict[str, str] = {}
    for name in list(names):
        try:
            vectorizers[name]._validate_params()
        except ValueError as exc:
            skipped[name] = str(exc)
            names.remove(name)
    bounds = _shard_bounds(n_docs, shard_size)
    stats.shards = len(bounds)
    if n_jobs is None or n_jobs < 1:
        n_jobs = os.cpu_count() or 1

    vocabs: dict[str, defaultdict[str, int]] = {}
    for name in names:
        vocabs[name] = defaultdict()
        vocabs[name].default_factory = vocabs[name].__len__
    # Per field, per shard: (indptr, global indices, counts), filled as shards arrive.
    parts: dict[str, list[Any]] = {name: [None] * len(bounds) for name in names}
    removed = 0

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_docs, desc="vectorising", unit="art", leave=False)

    def absorb(i: int, result: tuple[dict[str, tuple], int, float, float]) -> None:
        nonlocal removed
        out, n_removed, cpu, peak = result
        removed += n_removed
        stats.count_cpu_seconds += cpu
        stats.worker_peak_rss_mib = max(stats.worker_peak_rss_mib, peak)
        for name, (terms, indptr, indices, counts) in out.items():
            get = vocabs[name].__getitem__
            remap = np.fromiter(map(get, terms), dtype=np.int32, count=len(terms))
            parts[name][i] = (indptr, remap[indices], counts)
        if bar is not None:
            bar.update(bounds[i][1] - bounds[i][0])

    specs = {name: vectorizers[name] for name in names}

    def shard(i: int) -> dict[str, Sequence[Any]]:
        s, e = bounds[i]
        return {name: columns[name][s:e] for name in names}

    def task(i: int) -> tuple[int, tuple]:
        return i, _count_shard(specs, shard(i), boilerplate)

    try:
        if dask_scheduler:
            from .neighbors import CONNECT_TIMEOUT, dask_client

            stats.backend = "dask"
            with dask_client(dask_scheduler) as client:
                stats.n_jobs = len(client.scheduler_info().get("workers", {})) or 1
                with parallel_config(backend="dask", client=client,
                                     wait_for_workers_timeout=CONNECT_TIMEOUT):
                    for i, result in Parallel(return_as="generator_unordered")(
                            delayed(_indexed_count)(i, specs, shard(i), boilerplate)
                            for i in range(len(bounds))):
                        absorb(i, result)
        elif n_jobs == 1 or len(bounds) == 1 or n_docs < min_parallel:
            stats.backend, stats.n_jobs = "sequential", 1
            for i in range(len(bounds)):
                absorb(*task(i))
        else:
            stats.backend, stats.n_jobs = "loky", min(n_jobs, len(bounds))
            with parallel_config(backend="loky", inner_max_num_threads=1):
                for i, result in Parallel(n_jobs=stats.n_jobs,
                                          return_as="generator_unordered")(
                        delayed(_indexed_count)(i, specs, shard(i), boilerplate)
                        for i in range(len(bounds))):
                    absorb(i, result)
    finally:
        if bar is not None:
            bar.close()

    stats.peak_rss_mib_after["counting"] = peak_rss_mib()
    fitted: dict[str, TfidfVectorizer] = {}
    blocks: dict[str, sp.csr_matrix] = {}
    for name in names:
        vocab = vocabs.pop(name)
        stats.terms_seen[name] = len(vocab)
        try:
            if not vocab:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
            block, vec = _finish_field(vectorizers[name], vocab, parts[name], n_docs)
        except ValueError as exc:
            skipped[name] = str(exc)
            parts[name] = []
            continue
        fitted[name], blocks[name] = vec, block
        del vocab
        stats.peak_rss_mib_after[name] = peak_rss_mib()
    stats.seconds = time.perf_counter() - start
    stats.cpu_seconds = time.process_time() - cpu_start + (
        stats.count_cpu_seconds if stats.backend != "sequential" else 0.0)
    logger.info("vectorised %d articles in %.1f s (%s, %d jobs, %d shards)", n_docs,
                stats.seconds, stats.backend, stats.n_jobs, stats.shards)
    return Vectorized(fitted, blocks, skipped, removed, stats)


def _indexed_count(i: int, vectorizers: Mapping[str, TfidfVectorizer],
                   columns: Mapping[str, Sequence[Any]],
                   boilerplate: Any) -> tuple[int, tuple[dict[str, tuple], int, float, float]]:
    return i, _count_shard(vectorizers, columns, boilerplate)


def _finish_field(vec: TfidfVectorizer, vocab: Mapping[str, int], shards: list[Any],
                  n_docs: int) -> tuple[sp.csr_matrix, TfidfVectorizer]:
    """Prune the merged vocabulary, number the kept terms by trie key id, build TF-IDF."""
    terms = list(vocab)  # in global id order (first seen)
    n_terms = len(terms)
    df = np.zeros(n_terms, dtype=np.int64)
    for _, indices, _ in shards:
        df += np.bincount(indices, minlength=n_terms)

    def term_counts() -> np.ndarray:
        tf = np.zeros(n_terms, dtype=np.float64)
        for _, indices, counts in shards:
            tf += np.bincount(indices, weights=counts, minlength=n_terms)
        return tf.astype(vec.dtype)  # scikit-learn sums the float counts it stores

    kept = _limit(vec, terms, df, term_counts, n_docs)
    kept_terms = [terms[i] for i in kept.tolist()]
    del terms
    trie = build_trie(kept_terms, "term")
    del kept_terms
    # Global id -> trie key id, from one pass over the trie's (key, id) pairs (C-level
    # iteration and dict lookups; ~4x faster than a key_id() call per term).
    keys, key_ids = zip(*trie.items(), strict=True)
    column = np.full(n_terms, -1, dtype=np.int64)
    column[np.fromiter(map(vocab.__getitem__, keys), dtype=np.int64, count=len(keys))] = \
        np.asarray(key_ids, dtype=np.int64)
    del keys, key_ids
    # One output array of each kind, filled shard by shard while the shards are freed: at
    # 1M articles the counts take ~1 GB, and concatenating copies would double that.
    upper = sum(int(indices.size) for _, indices, _ in shards)
    idx_dtype = np.int32 if upper < np.iinfo(np.int32).max else np.int64
    indices_out = np.empty(upper, dtype=idx_dtype)
    data_out = np.empty(upper, dtype=vec.dtype)
    indptr = np.zeros(n_docs + 1, dtype=idx_dtype)
    pos = row = 0
    for k, (shard_indptr, indices, counts) in enumerate(shards):
        cols = column[indices]
        keep = cols >= 0
        csum = np.zeros(keep.size + 1, dtype=np.int64)
        np.cumsum(keep, out=csum[1:])
        n_kept, n_rows = int(csum[-1]), shard_indptr.size - 1
        indices_out[pos: pos + n_kept] = cols[keep]
        data_out[pos: pos + n_kept] = counts[keep]
        indptr[row + 1: row + n_rows + 1] = csum[shard_indptr[1:]] + pos
        pos += n_kept
        row += n_rows
        shards[k] = None
        del cols, keep, csum, indices, counts
    # Terms pruned by max_df/min_df leave a tail: a view, not a copy, of the kept part.
    indices, data = indices_out[:pos], data_out[:pos]
    counts = sp.csr_matrix((data, indices, indptr), shape=(n_docs, len(trie)))
    counts.sort_indices()
    tfidf = TfidfTransformer(norm=vec.norm, use_idf=vec.use_idf, smooth_idf=vec.smooth_idf,
                             sublinear_tf=vec.sublinear_tf)
    tfidf.fit(counts)
    block = tfidf.transform(counts, copy=False)
    vec.vocabulary_ = trie
    vec.fixed_vocabulary_ = False
    vec._tfidf = tfidf
    return sp.csr_matrix(block), vec


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): ``VmHWM``, the high-water mark of its own
    address space. ``ru_maxrss`` would not do in a worker: it is carried over from the
    parent's size at fork (a loky worker of a 3 GB trainer reported 3 GB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
