"""Precomputed neighbour lists: the top-N related rows of every article, built at fit time.

Rows are processed in blocks with joblib: local worker processes (loky) by default, or a
Dask cluster through joblib's Dask backend when a scheduler address is given. Big read-only
inputs travel once: for loky they are dumped to a temporary folder and memory-mapped by the
workers (joblib passes a memmap as a file reference), for Dask they are scattered to the
workers once (``parallel_config(scatter=...)``), never shipped per task.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, parallel_config

from ..cluster import CONNECT_TIMEOUT, dask_client
from ..memory import peak_rss_mib
from .inverted import Pruning, document_frequencies, index_slices, neighbor_block

logger = logging.getLogger(__name__)

@dataclass
class NeighborStats:
    """What building the lists cost (goes into the training report)."""

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    blocks: int
    n_jobs: int
    backend: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "blocks": self.blocks,
            "n_jobs": self.n_jobs,
            "backend": self.backend,
        }


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _memmapped(matrix: sp.csr_matrix, folder: Path, name: str) -> sp.csr_matrix:
    """The same CSR matrix backed by read-only memory maps in ``folder``."""
    parts = {}
    for attr in ("data", "indices", "indptr"):
        path = folder / f"{name}.{attr}.npy"
        np.save(path, np.asarray(getattr(matrix, attr)))
        parts[attr] = np.load(path, mmap_mode="r")
    out = sp.csr_matrix(matrix.shape, dtype=matrix.dtype)
    out.data, out.indices, out.indptr = parts["data"], parts["indices"], parts["indptr"]
    return out


def _run_block(matrix: sp.csr_matrix, slices: list[sp.csr_matrix], df: np.ndarray,
               allowed: np.ndarray, start: int, stop: int, n: int,
               pruning: Pruning) -> tuple[int, np.ndarray, np.ndarray, float]:
    # The block's own CPU time travels back with it: worker processes (loky, Dask) are
    # not children that the parent's rusage would count.
    cpu = time.thread_time()
    rows, scores = neighbor_block(matrix, slices, df, allowed, start, stop, n, pruning)
    return start, rows, scores, time.thread_time() - cpu


def compute_neighbors(
    matrix: sp.csr_matrix,
    index: sp.csr_matrix,
    allowed: np.ndarray,
    n: int,
    *,
    pruning: Pruning,
    block_size: int = 512,
    n_jobs: int | None = None,
    dask_scheduler: str | None = None,
    progress: bool = False,
    n_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray, NeighborStats]:
    """Top-``n`` neighbours of every row: ``(rows int32, scores float32, stats)``.

    Parameters
    ----------
    matrix, index : csr_matrix
        The L2-normalised article matrix and its transpose (the transpose gives the
        document frequencies; the products use :func:`~recommender.index.inverted.index_slices`
        of the matrix, built here).
    allowed : ndarray of bool
        Rows that may appear in a list (published articles).
    n : int
        List length; shorter lists are padded with row -1 / score 0.
    pruning : Pruning
        Candidate-generation pruning (exact when empty).
    block_size : int
        Rows per task.
    n_jobs : int, optional
        Local worker processes (default: all cores); ignored with ``dask_scheduler``.
    dask_scheduler : str, optional
        ``tcp://host:port`` of a Dask scheduler: run the blocks on that cluster.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    n_rows : int, optional
        Only the lists of the first ``n_rows`` articles (to time a sample of a big corpus).
    """
    n_rows = matrix.shape[0] if n_rows is None else min(n_rows, matrix.shape[0])
    start_t, start_cpu = time.perf_counter(), _cpu_seconds()
    df = document_frequencies(index)
    allowed = np.ascontiguousarray(allowed, dtype=bool)
    bounds = [(s, min(s + block_size, n_rows)) for s in range(0, n_rows, block_size)]
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    rows = np.full((n_rows, n), -1, dtype=np.int32)
    scores = np.zeros((n_rows, n), dtype=np.float32)

    block_cpu = [0.0]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # shown from the start: at 1M, writing the matrix and the index slices for the
        # workers takes ~15 s before the first block
        bar = tqdm(total=n_rows, desc="neighbour lists", unit="art", leave=False)

    def slices_of(folder: Path | None = None) -> list[sp.csr_matrix]:
        """:func:`index_slices` of the matrix, each memory-mapped from ``folder`` when
        given."""
        out = []
        for j, part in enumerate(index_slices(matrix)):
            if bar is not None:
                bar.set_postfix_str(f"preparing index slice {j + 1}", refresh=True)
            out.append(part if folder is None else _memmapped(part, folder, f"index{j}"))
        if bar is not None:
            bar.set_postfix_str("", refresh=True)
        return out

    def collect(results: Iterable[tuple[int, np.ndarray, np.ndarray, float]]) -> None:
        for start, r, s, cpu in results:
            block_cpu[0] += cpu
            rows[start: start + r.shape[0]] = r
            scores[start: start + r.shape[0]] = s
            if bar is not None:
                bar.update(r.shape[0])

    try:
        if dask_scheduler:
            backend = "dask"
            with dask_client(dask_scheduler) as client:
                workers = len(client.scheduler_info().get("workers", {})) or 1
                n_jobs = workers
                slices = slices_of()
                tasks = (delayed(_run_block)(matrix, slices, df, allowed, s, e, n, pruning)
                         for s, e in bounds)
                # scatter: the matrix, index slices and masks go to the workers once, not per
                # task.
                with parallel_config(backend="dask", client=client,
                                     scatter=[matrix, slices, df, allowed],
                                     wait_for_workers_timeout=CONNECT_TIMEOUT):
                    collect(Parallel(return_as="generator_unordered")(tasks))
        elif n_jobs == 1 or len(bounds) == 1:
            backend, n_jobs = "sequential", 1
            slices = slices_of()
            collect(_run_block(matrix, slices, df, allowed, s, e, n, pruning) for s, e in bounds)
        else:
            backend = "loky"
            tmp = Path(tempfile.mkdtemp(prefix="alsosee-neighbors-"))
            try:
                if bar is not None:
                    bar.set_postfix_str("preparing the matrix", refresh=True)
                mm_matrix = _memmapped(matrix, tmp, "matrix")
                # one slice at a time: built, written, mapped (never all in private memory)
                mm_slices = slices_of(tmp)
                tasks = (delayed(_run_block)(mm_matrix, mm_slices, df, allowed, s, e, n, pruning)
                         for s, e in bounds)
                with parallel_config(backend="loky", inner_max_num_threads=1):
                    collect(Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks))
                del mm_matrix, mm_slices
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if bar is not None:
            bar.close()
    stats = NeighborStats(
        seconds=time.perf_counter() - start_t,
        cpu_seconds=max(block_cpu[0], 0.0) or (_cpu_seconds() - start_cpu),
        peak_rss_mib=peak_rss_mib(),
        blocks=len(bounds),
        n_jobs=n_jobs,
        backend=backend,
    )
    logger.info("neighbour lists: %d rows x %d in %.1f s (%s, %d jobs)", n_rows, n,
                stats.seconds, backend, n_jobs)
    return rows, scores, stats
