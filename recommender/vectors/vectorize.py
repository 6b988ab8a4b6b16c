"""Fit the field vectorisers in parallel: token counts per shard, merged into one vocabulary.

scikit-learn's ``TfidfVectorizer.fit_transform`` counts tokens in one Python loop on one
core (~48 CPU-seconds at 100k articles, most of a 1M fit). Here the articles are cut into
shards; each shard is analysed and counted in a joblib task, with a local vocabulary. The
parent merges the shards' vocabularies, applies ``min_df`` / ``max_df`` / ``max_features``
exactly as scikit-learn does, and computes IDF and the TF-IDF rows with scikit-learn's own
formula and ``TfidfTransformer.transform``: the result equals the single-process fit up to
float rounding and the order of the columns (tested).

Where the time goes, and why it is done this way (1M articles, ~1.6M terms, 143M non-zeros):

* **Counting** (the workers). A word analyzer's tokens are found for a whole shard with
  C-level ``map`` calls (preprocessor, the token pattern's ``findall``), numbered by one
  Arrow ``dictionary_encode`` of the shard's tokens, stop words dropped and bigrams made
  from pairs of token numbers in numpy: the bigram *strings* are built once per distinct
  pair, not once per occurrence. Other analyzers (the tags' callable) run the former
  per-document loop.
* **Merging** (the parent). Each shard returns its local terms as one Arrow string array;
  the parent numbers all shards' terms with one ``dictionary_encode`` (a C hash table)
  instead of a Python dict look-up per term and shard.
* **Assembly** (the parent). With field ``weights`` the fields' rows are weighted,
  concatenated and L2-normalised shard by shard and written straight into one
  preallocated CSR matrix while the shards' counts are freed: no per-field block and no
  stacked copy of the whole matrix ever coexist.

The kept terms go into a MARISA trie (:mod:`marisa_trie`) that becomes the vectoriser's
``vocabulary_``; a term's column **is** its key id in the trie, so the served model needs no
term -> column dict: the trie file is memory-mapped and shared by every worker process
(:mod:`recommender.string_tables`), and it still answers ``vocabulary_[term]``, ``.get`` and
``.items()`` like the dict it replaces.

The tasks run on local processes (loky) or, with a scheduler address, on a Dask cluster
through joblib's Dask backend: each shard's texts travel once, to the task that counts them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from joblib import Parallel, delayed, parallel_config
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from ..memory import peak_rss_mib
from ..string_tables import build_trie
from ..text.analyzer import _ASCII_WORD_BYTES, _DEFAULT_TOKEN_PATTERN, fast_analyzer
from ..text.boilerplate import BoilerplateConfig, strip_boilerplate

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
    #: This process's CPU time (s) of the stages after the counting.
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)

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
            "stage_cpu_seconds": {k: round(v, 3) for k, v in self.stage_cpu_seconds.items()},
        }


@dataclass
class Vectorized:
    """Fitted vectorisers and their TF-IDF blocks (rows L2-normalised per field), or with
    field weights the model matrix and each field's column range in it."""

    vectorizers: dict[str, TfidfVectorizer]
    blocks: dict[str, sp.csr_matrix]
    skipped: dict[str, str]
    boilerplate_removed: int
    stats: VectorizeStats
    matrix: sp.csr_matrix | None = None
    field_slices: dict[str, tuple[int, int]] = field(default_factory=dict)


#: One shard's counts of one space: its local terms (an Arrow string array), then the CSR
#: indptr, local term indices and counts.
ShardCounts = tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]
#: What counting a shard gives: per space its counts (or why a term cannot be stored), the
#: boilerplate blocks removed, the task's CPU seconds and peak memory (MiB).
CountedShard = tuple[dict[str, ShardCounts | str], int, float, float]


def _count_shard(vectorizers: Mapping[str, TfidfVectorizer], columns: Mapping[str, Sequence[Any]],
                 boilerplate: BoilerplateConfig,
                 fields_of: Mapping[str, Mapping[str, float]] | None = None,
                 ) -> CountedShard:
    """Count the tokens of one shard: per space, (local terms as an Arrow string array,
    indptr, indices, counts) or, if a term cannot be stored, the reason as a str; the
    boilerplate blocks removed, the task's CPU time and the process's peak memory (MiB).

    A space reads one or more fields (``fields_of``: space -> {field: weight}); the fields'
    counts are added with their weights into the space's one vocabulary (float32 counts when
    a weight is not 1), so a headline word and the same word in the body are one term."""
    cpu = time.thread_time()
    removed = 0
    out: dict[str, ShardCounts | str] = {}
    if fields_of is None:
        fields_of = {name: {name: 1.0} for name in vectorizers}
    for name, vec in vectorizers.items():
        parts: list[tuple[pa.Array, sp.csr_matrix, float]] = []
        error = None
        for source, weight in fields_of[name].items():
            docs = columns[source]
            if source == "body" and boilerplate is not None:
                stripped = [strip_boilerplate(d, boilerplate) for d in docs]
                removed += sum(n for _, n in stripped)
                docs = [t for t, _ in stripped]
            counted = _word_counts(vec, docs)
            if counted is None:
                counted = _generic_counts(vec, docs)
            terms, counts = counted
            if isinstance(terms, list):
                try:
                    terms = pa.array(terms, type=pa.large_string())
                except UnicodeEncodeError:  # a lone surrogate (e.g. a tag from lax JSON)
                    bad = next(t for t in terms if not _encodable(t))
                    error = f"term {bad!r} is not valid Unicode text (lone surrogate)"
                    break
            parts.append((terms, counts, float(weight)))
        if error is not None:
            out[name] = error
            continue
        terms, counts = _weighted_sum(parts)
        out[name] = (terms, counts.indptr.astype(np.int64), counts.indices.astype(np.int32),
                     counts.data)
    return out, removed, time.thread_time() - cpu, peak_rss_mib()


def _weighted_sum(parts: Sequence[tuple[pa.Array, sp.csr_matrix, float]]
                  ) -> tuple[pa.Array, sp.csr_matrix]:
    """The fields' counts of one shard added with their weights over one local vocabulary
    (int32 counts when every weight is 1, else float32)."""
    if len(parts) == 1 and parts[0][2] == 1.0:
        terms, counts, _ = parts[0]
        return terms, counts.astype(np.int32, copy=False)
    encoded = pc.dictionary_encode(pa.concat_arrays(
        [t.cast(pa.large_string()) for t, _, _ in parts]))
    dictionary = encoded.dictionary
    local = np.split(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                     np.cumsum([len(t) for t, _, _ in parts])[:-1])
    integral = all(w == 1.0 for _, _, w in parts)
    dtype = np.int32 if integral else np.float32
    total = None
    for glob, (_, counts, weight) in zip(local, parts, strict=True):
        m = sp.csr_matrix(((counts.data * weight).astype(dtype), glob[counts.indices],
                           counts.indptr), shape=(counts.shape[0], len(dictionary)))
        total = m if total is None else total + m
    assert total is not None, "no shard counts to merge"
    total.sort_indices()
    return dictionary, total


def saturate(tf: np.ndarray) -> np.ndarray:
    """Sublinear term frequency: ``1 + log(tf)`` from 1 up, ``tf`` itself below 1 (a field
    weighted under 1 contributes less than one occurrence, never a negative weight)."""
    tf = np.asarray(tf)
    out = np.log(np.maximum(tf, 1), dtype=tf.dtype if tf.dtype.kind == "f" else np.float32)
    out += 1
    return np.where(tf < 1, tf, out).astype(out.dtype, copy=False)


def _encodable(term: str) -> bool:
    try:
        term.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: A faster pattern than scikit-learn's default (``analyzer._DEFAULT_TOKEN_PATTERN``) that
#: finds the same tokens with ``findall``: a match of ``\w\w+`` can only start where a run
#: of word characters starts (inside a run, the run's start would have matched first and
#: taken the whole run), and it takes the whole run, so the word boundaries add nothing
#: (tested on the corpora).
_RUN_PATTERN = re.compile(r"(?u)\w\w+")


def _word_counts(vec: TfidfVectorizer, docs: Sequence[Any]
                 ) -> tuple[pa.Array, sp.csr_matrix] | None:
    """A shard's counts for scikit-learn's word analyzer with unigrams and/or bigrams, with
    no per-token Python code: tokens by C-level ``map`` calls, numbered by Arrow's hash
    table, stop words and bigrams in numpy. The same counts as the analyzer gives (tested);
    None for the configurations it does not reproduce (those take :func:`_generic_counts`)."""
    low, high = vec.ngram_range
    if (vec.analyzer != "word" or vec.preprocessor is not None or vec.tokenizer is not None
            or vec.input != "content" or not 1 <= low <= high <= 2):
        return None
    if not all(isinstance(d, str) for d in docs):
        docs = list(map(vec.decode, docs))  # bytes, and scikit-learn's error for NaN
    preprocess = vec.build_preprocessor()
    default_pattern = vec.token_pattern == _DEFAULT_TOKEN_PATTERN
    findall = _RUN_PATTERN.findall if default_pattern else vec.build_tokenizer()
    texts = list(map(preprocess, docs))
    n = len(texts)
    # ASCII texts (with the default pattern): a token is a run of [0-9A-Za-z_] of 2+
    # characters, so every other byte becomes a space (bytes.translate) and Arrow splits
    # on spaces, ~3x faster than the regular expression; other texts take findall.
    plain = (np.fromiter(map(str.isascii, texts), dtype=bool, count=n) if default_pattern
             else np.zeros(n, dtype=bool))
    flats: list[pa.Array] = []
    owners: list[np.ndarray] = []
    if plain.any():
        picked = np.flatnonzero(plain)
        chosen = texts if picked.size == n else [texts[i] for i in picked.tolist()]
        spaced = pa.array([t.encode("ascii").translate(_ASCII_WORD_BYTES) for t in chosen],
                          type=pa.large_binary()).cast(pa.large_string())
        del chosen
        lists = pc.ascii_split_whitespace(spaced)
        del spaced
        words = pc.list_flatten(lists)
        owner = np.repeat(picked, pc.list_value_length(lists).to_numpy(zero_copy_only=False))
        del lists
        long_enough = pc.greater_equal(pc.binary_length(words), 2)
        flats.append(words.filter(long_enough))
        owners.append(owner[long_enough.to_numpy(zero_copy_only=False)])
        del words, owner
    if n == 0 or not plain.all():
        picked = np.flatnonzero(~plain)
        tokens = [findall(texts[i]) for i in picked.tolist()]
        try:
            flats.append(pa.array(list(chain.from_iterable(tokens)), type=pa.large_string()))
        except UnicodeEncodeError:  # a custom token pattern kept a lone surrogate
            return None
        owners.append(np.repeat(picked, np.fromiter(map(len, tokens), dtype=np.int64,
                                                  count=len(tokens))))
        del tokens
    del texts
    # Each document's tokens stay together and in order (the bigrams need that).
    flat = flats[0] if len(flats) == 1 else pa.concat_arrays(flats)
    doc = (owners[0] if len(owners) == 1 else np.concatenate(owners)).astype(np.int32)
    del flats, owners
    encoded = pc.dictionary_encode(flat)
    del flat
    ids = encoded.indices.to_numpy().astype(np.int64)
    words = encoded.dictionary
    stop = vec.get_stop_words()
    if stop and len(words):
        is_stop = pc.is_in(words, value_set=pa.array(sorted(stop), type=pa.large_string()))
        is_stop = is_stop.to_numpy(zero_copy_only=False)
        if is_stop.any():
            # scikit-learn drops stop words before making n-grams: renumber the others.
            renumber = np.cumsum(~is_stop) - 1
            keep = ~is_stop[ids]
            ids, doc = renumber[ids[keep]], doc[keep]
            words = words.filter(pa.array(~is_stop))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    terms: list[pa.Array] = []
    if low == 1:
        rows.append(doc)
        cols.append(ids)
        terms.append(words)
    if high == 2 and ids.size > 1:
        same = doc[1:] == doc[:-1]  # consecutive kept tokens of one document
        pairs = (ids[:-1][same] << 32) | ids[1:][same]
        codes, distinct = pd.factorize(pairs)
        rows.append(doc[1:][same])
        cols.append(codes.astype(np.int64) + (len(words) if low == 1 else 0))
        terms.append(pc.binary_join_element_wise(
            words.take(pa.array(distinct >> 32)), words.take(pa.array(distinct & 0xFFFFFFFF)),
            pa.scalar(" ", type=pa.large_string())))
    all_terms = pa.concat_arrays(terms) if terms else pa.array([], type=pa.large_string())
    row = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    # COO -> CSR sums the duplicates: the count of each term in each document.
    counts = sp.csr_matrix((np.ones(col.size, dtype=np.int32), (row, col)),
                           shape=(len(docs), len(all_terms)))
    counts.sum_duplicates()
    return all_terms, counts


def _generic_counts(vec: TfidfVectorizer, docs: Sequence[Any]) -> tuple[list[str], sp.csr_matrix]:
    """A shard's counts with the vectoriser's analyzer, one document at a time."""
    analyze = fast_analyzer(vec)  # scikit-learn's tokens, faster n-grams
    # A term's local id is the vocabulary size when first seen (as in scikit-learn).
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__
    get = vocab.__getitem__
    cols: list[int] = []
    lengths = np.empty(len(docs), dtype=np.int64)
    for i, doc in enumerate(docs):
        before = len(cols)
        cols.extend(map(get, analyze(doc)))  # C-level loop, no per-token Python code
        lengths[i] = len(cols) - before
    col = np.asarray(cols, dtype=np.int64)
    row = np.repeat(np.arange(len(docs), dtype=np.int32), lengths)
    counts = sp.csr_matrix((np.ones(col.size, dtype=np.int32), (row, col)),
                           shape=(len(docs), len(vocab)))
    counts.sum_duplicates()
    return list(vocab), counts


def _doc_count(bound: int | float, n_docs: int) -> float:
    return bound if isinstance(bound, Integral) else bound * n_docs


def _limit(vec: TfidfVectorizer, terms: pa.Array, df: np.ndarray, tf: Callable[[], np.ndarray],
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
        # UTF-8 byte order is code point order: Python's sorted order of the terms.
        order = pc.sort_indices(terms).to_numpy().astype(np.int64)
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


@dataclass
class _FieldFit:
    """A fitted field between merging and assembly: its shards' counts and where each
    shard's local terms go (a column of the field, or -1 when pruned)."""

    name: str
    tfidf: TfidfTransformer
    n_columns: int
    dtype: np.dtype
    column_of: np.ndarray  # global term id -> column (-1: pruned)
    local_to_global: list[np.ndarray | None]  # None once its shard is transformed
    shards: list[Any]
    sublinear: bool = False

    def chunk(self, k: int) -> sp.csr_matrix:
        """Shard ``k``'s TF-IDF rows (scikit-learn's transform), its counts freed."""
        _, indptr, indices, counts = self.shards[k]
        self.shards[k] = None
        cols = self.column_of[self.local_to_global[k]][indices]
        self.local_to_global[k] = None
        keep = cols >= 0
        csum = np.zeros(keep.size + 1, dtype=np.int64)
        np.cumsum(keep, out=csum[1:])
        tf = counts[keep].astype(self.dtype)
        if self.sublinear:
            tf = saturate(tf)
        chunk = sp.csr_matrix((tf, cols[keep], csum[indptr]),
                              shape=(indptr.size - 1, self.n_columns))
        chunk.sort_indices()
        return self.tfidf.transform(chunk, copy=False)


def _merge_terms(shards: Sequence[ShardCounts]) -> tuple[pa.Array, list[np.ndarray]]:
    """Number all shards' local terms at once (one hash table in C): the global vocabulary
    and, per shard, local id -> global id."""
    arrays = [s[0] for s in shards]
    encoded = pc.dictionary_encode(pa.chunked_array(arrays, type=pa.large_string()))
    if encoded.num_chunks == 0:
        return pa.array([], type=pa.large_string()), [np.zeros(0, np.int64) for _ in arrays]
    ids = np.concatenate([c.indices.to_numpy() for c in encoded.chunks]).astype(np.int64)
    dictionary = encoded.chunks[-1].dictionary  # chunks share one growing dictionary
    sizes = np.cumsum([len(a) for a in arrays])[:-1]
    return dictionary, np.split(ids, sizes)


def _fit_field(vec: TfidfVectorizer, name: str, shards: list[Any], n_docs: int,
               terms_seen: dict[str, int]) -> _FieldFit:
    """Merge the shards' vocabularies, prune them, number the kept terms by trie key id and
    compute the IDF (scikit-learn's formula and dtype); ``vec`` becomes fitted."""
    dictionary, local_to_global = _merge_terms(shards)
    n_terms = terms_seen[name] = len(dictionary)
    if n_terms == 0:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    df = np.zeros(n_terms, dtype=np.int64)
    for (_, _, indices, _), glob in zip(shards, local_to_global, strict=True):
        df[glob] += np.bincount(indices, minlength=glob.size)  # local ids are distinct

    def term_counts() -> np.ndarray:
        tf = np.zeros(n_terms, dtype=np.float64)
        for (_, _, indices, counts), glob in zip(shards, local_to_global, strict=True):
            tf[glob] += np.bincount(indices, weights=counts, minlength=glob.size)
        return tf.astype(vec.dtype)  # scikit-learn sums the float counts it stores

    kept = _limit(vec, dictionary, df, term_counts, n_docs)
    kept_terms = dictionary.take(pa.array(kept))
    del dictionary
    trie = build_trie(kept_terms.to_pylist(), "term")
    # Global id -> trie key id, matching the trie's keys to the kept terms in C.
    items = trie.items()
    keys = pa.array([k for k, _ in items], type=pa.large_string())
    key_ids = np.fromiter((i for _, i in items), dtype=np.int64, count=len(items))
    del items
    position = pc.index_in(keys, value_set=kept_terms).to_numpy().astype(np.int64)
    del keys, kept_terms
    column_of = np.full(n_terms, -1, dtype=np.int64)
    column_of[kept[position]] = key_ids
    del key_ids, position
    n_columns = len(trie)
    dtype = np.dtype(vec.dtype)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    # Sublinear tf is applied by _FieldFit.chunk (saturate: weighted counts may be < 1).
    tfidf = TfidfTransformer(norm=vec.norm, use_idf=vec.use_idf, smooth_idf=vec.smooth_idf,
                             sublinear_tf=False)
    tfidf.n_features_in_ = n_columns
    if vec.use_idf:
        # TfidfTransformer.fit's own arithmetic (same dtype, same operations: same bits),
        # from the document frequencies counted above instead of a stacked count matrix.
        col_df: np.ndarray = np.zeros(n_columns, dtype=np.int64)
        col_df[column_of[kept]] = df[kept]
        col_df = col_df.astype(dtype)
        col_df += float(vec.smooth_idf)
        idf = np.full_like(col_df, fill_value=n_docs + int(vec.smooth_idf), dtype=dtype)
        idf /= col_df
        np.log(idf, out=idf)
        idf += 1.0
        tfidf.idf_ = idf
    vec.vocabulary_ = trie
    vec.fixed_vocabulary_ = False
    # The vectoriser's own transform keeps scikit-learn's behaviour (its sublinear_tf).
    vec._tfidf = own = TfidfTransformer(norm=vec.norm, use_idf=vec.use_idf,
                                        smooth_idf=vec.smooth_idf, sublinear_tf=vec.sublinear_tf)
    own.n_features_in_ = n_columns
    if vec.use_idf:
        own.idf_ = tfidf.idf_
    return _FieldFit(name, tfidf, n_columns, dtype, column_of, list(local_to_global), shards,
                     sublinear=bool(vec.sublinear_tf))


def _assemble(fits: Sequence[_FieldFit], bounds: Sequence[tuple[int, int]], n_docs: int,
              weights: Mapping[str, float] | None) -> sp.csr_matrix:
    """The fields' TF-IDF rows side by side in one CSR matrix, built shard by shard.

    With ``weights``, each field's rows are scaled by its weight and the concatenated rows
    L2-normalised (the model matrix); without, one field's block. The output arrays are
    allocated once with the unpruned size as bound (pages never written are never
    resident) and filled while each shard's counts are freed.
    """
    upper = sum(int(s[2].size) for f in fits for s in f.shards)
    n_columns = sum(f.n_columns for f in fits)
    small = max(upper, n_columns, n_docs) < np.iinfo(np.int32).max
    idx_dtype = np.int32 if small else np.int64
    dtype = np.float32 if weights is not None else fits[0].dtype
    indices: np.ndarray = np.empty(upper, dtype=idx_dtype)
    data = np.empty(upper, dtype=dtype)
    indptr: np.ndarray = np.zeros(n_docs + 1, dtype=idx_dtype)
    pos = 0
    for k, (start, stop) in enumerate(bounds):
        pieces = []
        for f in fits:
            chunk = f.chunk(k)
            if weights is not None:
                chunk.data *= np.float32(weights[f.name])
            pieces.append(chunk)
        rows = sp.hstack(pieces, format="csr", dtype=dtype) if len(pieces) > 1 else pieces[0]
        del pieces
        if weights is not None:
            rows = normalize(rows, norm="l2", copy=False)
        nnz = rows.nnz
        indices[pos: pos + nnz] = rows.indices
        data[pos: pos + nnz] = rows.data
        indptr[start + 1: stop + 1] = rows.indptr[1:] + pos
        pos += nnz
    # Terms pruned by max_df/min_df leave a tail: a view, not a copy, of the kept part.
    return sp.csr_matrix((data[:pos], indices[:pos], indptr), shape=(n_docs, n_columns))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block that creates millions of objects
    and no cycles: otherwise full collections keep traversing them (a ``zip`` over 591k
    (term, id) pairs took 1.4 CPU-s with the collector on, 0.16 s with it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@gc_paused()  # millions of terms, tuples and strings are made here, and no cycles
def fit_vectorizers(
    vectorizers: Mapping[str, TfidfVectorizer],
    columns: Mapping[str, Sequence[Any]],
    *,
    boilerplate: BoilerplateConfig = None,
    n_jobs: int | None = None,
    dask_scheduler: str | None = None,
    progress: bool = False,
    shard_size: int = SHARD_SIZE,
    min_parallel: int = MIN_PARALLEL_ARTICLES,
    weights: Mapping[str, float] | None = None,
    while_counting: Callable[[], object] | None = None,
    fields_of: Mapping[str, Mapping[str, float]] | None = None,
) -> Vectorized:
    """Fit one TF-IDF vectoriser per space over the same articles, counting in parallel.

    Parameters
    ----------
    vectorizers : mapping of str -> TfidfVectorizer
        Unfitted vectorisers, one per space (their parameters: analyzer, ``min_df``,
        ``max_df``, ``max_features``, ``sublinear_tf``, ``norm``, ``dtype``).
    columns : mapping of str -> sequence
        The values of each field, one per article, in row order.
    fields_of : mapping of str -> mapping of str -> float, optional
        The fields each space reads and their weights (the term counts of a space are the
        weighted sum of its fields' counts, before sublinear tf, IDF and norm). Default:
        each vectoriser reads the field of its own name with weight 1.
    boilerplate : optional
        A :func:`recommender.text.boilerplate.boilerplate_config`: stripped from ``body``
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
    weights : mapping of str -> float, optional
        Field weights: instead of one block per field, build the model matrix (each
        field's rows times its weight, side by side in the order of ``vectorizers``, rows
        L2-normalised, float32) without ever holding the per-field blocks.
    while_counting : callable, optional
        Called once in this process while the workers count (after the first tasks are
        sent; before the counting in sequential mode): other work of the caller that would
        otherwise leave a core idle after the counting.

    Returns
    -------
    Vectorized
        Fitted vectorisers (``vocabulary_`` a MARISA trie whose key ids are the columns),
        their TF-IDF blocks (CSR, rows L2-normalised) or, with ``weights``, the model
        matrix and each field's column range; the fields left out with the reason (e.g. an
        empty vocabulary: a corpus without tags), and timings.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    if fields_of is None:
        fields_of = {name: {name: 1.0} for name in vectorizers}
    fields_of = {name: dict(fields_of[name]) for name in vectorizers}
    names = [f for f in vectorizers if fields_of[f] and all(c in columns for c in fields_of[f])]
    n_docs = len(columns[next(iter(fields_of[names[0]]))]) if names else 0
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

    # Per field, per shard: (local terms, indptr, local indices, counts), as shards arrive.
    parts: dict[str, list[Any]] = {name: [None] * len(bounds) for name in names}
    errors: dict[str, str] = {}
    removed = 0

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_docs, desc="vectorising", unit="art", leave=False)

    def absorb(i: int, result: CountedShard) -> None:
        nonlocal removed
        out, n_removed, cpu, peak = result
        removed += n_removed
        stats.count_cpu_seconds += cpu
        stats.worker_peak_rss_mib = max(stats.worker_peak_rss_mib, peak)
        for name, part in out.items():
            if isinstance(part, str):
                errors.setdefault(name, part)
            else:
                parts[name][i] = part
        if bar is not None:
            bar.update(bounds[i][1] - bounds[i][0])

    specs = {name: vectorizers[name] for name in names}
    reads = {name: fields_of[name] for name in names}
    needed = list(dict.fromkeys(f for name in names for f in reads[name]))

    def shard(i: int) -> dict[str, Sequence[Any]]:
        s, e = bounds[i]
        return {f: columns[f][s:e] for f in needed}

    def task(i: int) -> tuple[int, CountedShard]:
        return i, _count_shard(specs, shard(i), boilerplate, reads)

    def meanwhile() -> None:
        if while_counting is not None:
            cpu = time.process_time()
            while_counting()
            stats.stage_cpu_seconds["while_counting"] = time.process_time() - cpu

    try:
        if dask_scheduler:
            from ..cluster import CONNECT_TIMEOUT, dask_client

            stats.backend = "dask"
            with dask_client(dask_scheduler) as client:
                stats.n_jobs = len(client.scheduler_info().get("workers", {})) or 1
                with parallel_config(backend="dask", client=client,
                                     wait_for_workers_timeout=CONNECT_TIMEOUT):
                    results = Parallel(return_as="generator_unordered")(
                        delayed(_indexed_count)(i, specs, shard(i), boilerplate, reads)
                        for i in range(len(bounds)))
                    meanwhile()
                    for i, result in results:
                        absorb(i, result)
        elif n_jobs == 1 or len(bounds) == 1 or n_docs < min_parallel:
            stats.backend, stats.n_jobs = "sequential", 1
            meanwhile()
            for i in range(len(bounds)):
                absorb(*task(i))
        else:
            stats.backend, stats.n_jobs = "loky", min(n_jobs, len(bounds))
            with parallel_config(backend="loky", inner_max_num_threads=1):
                # The generator has sent the first tasks when Parallel returns it.
                results = Parallel(n_jobs=stats.n_jobs, return_as="generator_unordered")(
                    delayed(_indexed_count)(i, specs, shard(i), boilerplate, reads)
                    for i in range(len(bounds)))
                meanwhile()
                for i, result in results:
                    absorb(i, result)
    finally:
        if bar is not None:
            bar.close()

    # One collection now: joblib's finished tasks sit in reference cycles that would keep
    # every shard's texts (~0.3 GB at 1M) until the collector runs again.
    gc.collect()
    stats.peak_rss_mib_after["counting"] = peak_rss_mib()
    stats.stage_cpu_seconds["counting"] = time.process_time() - cpu_start
    stage_cpu = time.process_time()
    fitted: dict[str, TfidfVectorizer] = {}
    fits: list[_FieldFit] = []
    for name in names:
        try:
            if name in errors:
                raise ValueError(errors[name])
            fit = _fit_field(vectorizers[name], name, parts.pop(name), n_docs,
                             stats.terms_seen)
        except ValueError as exc:
            skipped[name] = str(exc)
            parts.pop(name, None)
            continue
        fitted[name] = vectorizers[name]
        fits.append(fit)
        stats.peak_rss_mib_after[name] = peak_rss_mib()
    _release_arrow_memory()  # the shards' term arrays
    stats.stage_cpu_seconds["vocabularies"] = time.process_time() - stage_cpu
    stage_cpu = time.process_time()
    blocks: dict[str, sp.csr_matrix] = {}
    matrix = None
    slices: dict[str, tuple[int, int]] = {}
    if weights is not None:
        if fits:
            offset = 0
            for f in fits:
                slices[f.name] = (offset, offset + f.n_columns)
                offset += f.n_columns
            matrix = _assemble(fits, bounds, n_docs, weights)
    else:
        for f in fits:
            blocks[f.name] = _assemble([f], bounds, n_docs, None)
    del fits
    _release_arrow_memory()  # the shards' counts, freed while assembling
    stats.stage_cpu_seconds["assembly"] = time.process_time() - stage_cpu
    stats.peak_rss_mib_after["assembly"] = peak_rss_mib()
    stats.seconds = time.perf_counter() - start
    stats.cpu_seconds = time.process_time() - cpu_start + (
        stats.count_cpu_seconds if stats.backend != "sequential" else 0.0)
    logger.info("vectorised %d articles in %.1f s (%s, %d jobs, %d shards)", n_docs,
                stats.seconds, stats.backend, stats.n_jobs, stats.shards)
    return Vectorized(fitted, blocks, skipped, removed, stats, matrix=matrix,
                      field_slices=slices)


def _indexed_count(i: int, vectorizers: Mapping[str, TfidfVectorizer],
                   columns: Mapping[str, Sequence[Any]], boilerplate: BoilerplateConfig,
                   fields_of: Mapping[str, Mapping[str, float]] | None = None,
                   ) -> tuple[int, CountedShard]:
    return i, _count_shard(vectorizers, columns, boilerplate, fields_of)


def _release_arrow_memory() -> None:
    """Hand memory that the allocators keep for reuse back to the system: Arrow's (after
    reading a Parquet corpus, ~1.2 GB at 1M articles stays resident otherwise) and the C
    library's heap (glibc keeps freed blocks below its mmap threshold, up to 32 MB: every
    shard's counts, ~1.2 GB at 1M once the matrix is assembled)."""
    try:
        pa.default_memory_pool().release_unused()
    except (AttributeError, NotImplementedError):  # older pyarrow
        pass
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None
