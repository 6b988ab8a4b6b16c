"""Passage vectors of corpus articles: recomputed at query time vs stored at training time.

An inline slot of a by-id answer ranks on the passage before it blended with the story. The
engine recomputes the passage from the body the model keeps (split into paragraphs, up to 4
of them vectorised as drafts). This script measures that against two ways of storing the
work at training time, on the same fitted model, in one run:

* ``stored paragraphs``: every paragraph's sparse row (as a draft body vectorises it) in one
  CSR table, plus each article's first paragraph row; a query combines up to 4 rows;
* ``stored slot queries``: the blended query of an inline slot after every paragraph,
  precomputed (a query reads one row).

For each corpus size it prints the training cost of the table (build seconds, bytes on
disk next to the model's own), the latency of ``related(id, placements="inline:3:1,end:6")``
in each mode interleaved with one list of 7 (wall clock and the thread's CPU time,
p50/p95/p99, and the share of queries that waited over 1 ms for a core), and how many answers
are identical to the engine's; and the same engine with each slot's options validated again
(what copying them saves). The stored variants are built here, not in the library (see
docs/performance.md for why recompute is kept).

Usage::

    python scripts/measure_passages.py [--sizes 10000,100000] [--queries 500]
        [--data ../shared/data] [--json out.json]

Corpora: derived Reuters corpora (``alsosee bench``'s cache, outside the repository).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine import placements as slots
from recommender.engine import recommender as engine_module
from recommender.engine.recommender import Recommender
from recommender.evaluation.devsets import default_data_dir
from recommender.model import artifact
from recommender.model.estimator import RelatedStories

logger = logging.getLogger("measure_passages")
PLACEMENTS = "inline:3:1,end:6"


def _cat(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


class Table:
    """Sparse rows in CSR arrays (``indptr`` int64, ``indices`` int32, ``data`` float32)
    and each article's first row (``first``, one more than the articles)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 first: np.ndarray) -> None:
        self.indptr, self.indices, self.data, self.first = indptr, indices, data, first

    @classmethod
    def from_rows(cls, rows: list[slots.Terms], counts: list[int]) -> Table:
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([r[0].size for r in rows], out=indptr[1:])
        first = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        return cls(indptr, _cat([r[0] for r in rows], np.int32),
                   _cat([r[1] for r in rows], np.float32), first)

    def row(self, i: int) -> slots.Terms:
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.indices[a:b], self.data[a:b]

    def save(self, directory: Path, name: str) -> int:
        """Write the arrays as ``.npy`` files (memory-mappable); bytes written."""
        size = 0
        for part in ("indptr", "indices", "data", "first"):
            path = directory / f"{name}.{part}.npy"
            np.save(path, getattr(self, part))
            size += path.stat().st_size
        return size

    @classmethod
    def load(cls, directory: Path, name: str) -> Table:
        return cls(*(np.load(directory / f"{name}.{part}.npy", mmap_mode="r",
                             allow_pickle=False)
                     for part in ("indptr", "indices", "data", "first")))


def paragraph_table(model: RelatedStories, bodies: Sequence[str]) -> Table:
    """Every paragraph of every article, vectorised as a draft body."""
    rows, counts = [], []
    for body in bodies:
        paragraphs = slots.split_paragraphs(body)
        rows += [model.draft_terms("", p) for p in paragraphs]
        counts.append(len(paragraphs))
    return Table.from_rows(rows, counts)


def slot_query_table(model: RelatedStories, paragraphs: Table) -> Table:
    """The query of an inline slot after every paragraph of every article."""
    rows, counts = [], []
    matrix = model.matrix_
    for article in range(paragraphs.first.size - 1):
        a, b = int(paragraphs.first[article]), int(paragraphs.first[article + 1])
        story = (matrix.indices[matrix.indptr[article]:matrix.indptr[article + 1]],
                 matrix.data[matrix.indptr[article]:matrix.indptr[article + 1]])
        for after in range(1, b - a + 1):
            rows.append(slots.slot_query(story, stored_passage(paragraphs, a, after)))
        counts.append(b - a)
    return Table.from_rows(rows, counts)


def stored_passage(paragraphs: Table, first: int, after: int) -> slots.Terms:
    """:func:`~recommender.engine.placements.passage_terms` from stored paragraph rows."""
    return slots._combine([(paragraphs.row(first + after - 1 - d), slots.DECAY ** d)
                           for d in range(min(slots.PASSAGE_PARAGRAPHS, after))])


class _Stored(Sequence):
    """The paragraphs of a corpus article as the stored tables know them: a count, no text."""

    def __init__(self, row: int, first: int, count: int) -> None:
        self.row, self.first, self.count = row, first, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: Any) -> Any:
        raise TypeError("stored paragraphs have no text")


class StoredEngine(Recommender):
    """The engine with the passages of corpus articles read from a stored table."""

    def __init__(self, model: RelatedStories, paragraphs: Table,
                 queries: Table | None = None) -> None:
        super().__init__(model)
        self.paragraphs, self.queries = paragraphs, queries

    def _paragraphs(self, row: int, space: Any) -> Any:
        if row >= space.n_corpus:
            return super()._paragraphs(row, space)
        first = int(self.paragraphs.first[row])
        return _Stored(row, first, int(self.paragraphs.first[row + 1]) - first)

    def _slot_terms(self, paragraphs: Sequence[str], story: slots.Terms, after: int
                    ) -> tuple[slots.Terms, slots.Terms]:
        if not isinstance(paragraphs, _Stored):
            return super()._slot_terms(paragraphs, story, after)
        if self.queries is not None:  # the passage itself only serves explanations
            return story, self.queries.row(int(self.queries.first[paragraphs.row]) + after - 1)
        passage = stored_passage(self.paragraphs, paragraphs.first, after)
        return passage, slots.slot_query(story, passage)


class Revalidating:
    """The engine with each slot's ranking options validated again
    (``dataclasses.replace`` instead of :func:`~recommender.engine.placements.with_options`):
    what copying the validated options saves."""

    def __init__(self, engine: Recommender) -> None:
        self.engine = engine

    def related(self, article_id: str, **options: Any) -> Any:
        engine_module.with_options = dataclasses.replace
        try:
            return self.engine.related(article_id, **options)
        finally:
            engine_module.with_options = slots.with_options


def percentiles(values: list[float]) -> dict[str, float]:
    p = np.percentile(values, [50, 95, 99])
    return {"p50_ms": round(float(p[0]), 3), "p95_ms": round(float(p[1]), 3),
            "p99_ms": round(float(p[2]), 3)}


def time_modes(modes: dict[str, tuple[Any, dict[str, Any]]], sample: list[str]
               ) -> tuple[dict[str, Any], dict[str, int]]:
    """Wall and CPU percentiles per mode, modes interleaved per article, and the share of
    queries that waited over 1 ms for a core (wall minus CPU time); and, per mode, the
    answers identical to the first mode's with placements."""
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    answers: dict[str, list[Any]] = {m: [] for m in modes}
    for engine, opts in modes.values():
        engine.related(sample[0], **opts)  # warm
    for aid in sample:
        for name, (engine, opts) in modes.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            result = engine.related(aid, **opts)
            cpu[name].append((time.thread_time() - c0) * 1e3)
            wall[name].append((time.perf_counter() - t0) * 1e3)
            answers[name].append([(s.slot, [i.id for i in s.items]) for s in result.slots or []])
    reference = next(m for m, (_, o) in modes.items() if "placements" in o)
    same = {m: sum(a == b for a, b in zip(answers[m], answers[reference], strict=True))
            for m, (_, o) in modes.items() if "placements" in o}
    waited = {m: float(np.mean(np.subtract(wall[m], cpu[m]) > 1.0)) for m in modes}
    return {m: {"wall": percentiles(wall[m]), "cpu": percentiles(cpu[m]),
                "waited_over_1ms": round(waited[m], 3)} for m in modes}, same


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(df: pd.DataFrame, queries: int, rng: np.random.Generator) -> dict[str, Any]:
    t0 = time.perf_counter()
    # the word model: the passages compared here are word vectors whichever way they are
    # made (with the topic blend each is also projected, the same in every variant)
    model = RelatedStories(lsa_components=0).fit(df)
    fit_s = time.perf_counter() - t0
    bodies = list(df["body"])
    t0 = time.perf_counter()
    paragraphs = paragraph_table(model, bodies)
    paragraphs_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    blended = slot_query_table(model, paragraphs)
    blended_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="alsosee-passages-") as tmp:
        saved = artifact.save(model, Path(tmp) / "models")
        model_bytes = directory_bytes(saved)
        body_bytes = sum(p.stat().st_size for p in saved.glob("meta.body.*"))
        paragraph_bytes = paragraphs.save(saved, "passages")
        query_bytes = blended.save(saved, "slot_queries")
        engines = {
            "recompute": Recommender(model),
            "stored paragraphs": StoredEngine(model, Table.load(saved, "passages")),
            "stored slot queries": StoredEngine(model, Table.load(saved, "passages"),
                                                Table.load(saved, "slot_queries")),
        }
        long_ids = [i for i, n in zip(df["id"], np.diff(paragraphs.first), strict=True)
                    if n >= 3]
        sample = rng.choice(long_ids, size=queries, replace=True).tolist()
        modes: dict[str, tuple[Any, dict[str, Any]]] = {
            "one list of 7": (engines["recompute"], {"k": 7})}
        modes.update({name: (engine, {"placements": PLACEMENTS})
                      for name, engine in engines.items()})
        modes["recompute, revalidated"] = (Revalidating(engines["recompute"]),
                                           {"placements": PLACEMENTS})
        latency, same = time_modes(modes, sample)
    return {
        "articles": len(df), "paragraphs": int(paragraphs.first[-1]),
        "queries": queries, "fit_s": round(fit_s, 1),
        "model_bytes": model_bytes, "model_body_bytes": body_bytes,
        "stored paragraphs": {"build_s": round(paragraphs_s, 1), "bytes": paragraph_bytes,
                              "nnz": int(paragraphs.indices.size)},
        "stored slot queries": {"build_s": round(paragraphs_s + blended_s, 1),
                                "bytes": paragraph_bytes + query_bytes,
                                "nnz": int(blended.indices.size)},
        "latency_by_id": latency, "answers_identical_to_recompute": same,
    }


def report(n: int, r: dict[str, Any]) -> None:
    mib = 1 << 20
    print(f"{n:>7} articles, {r['paragraphs']:,} paragraphs (derived; fit {r['fit_s']:.0f} s, "
          f"model {r['model_bytes'] / mib:.0f} MiB on disk, of which bodies "
          f"{r['model_body_bytes'] / mib:.0f} MiB)")
    for name in ("stored paragraphs", "stored slot queries"):
        s = r[name]
        print(f"  {name:<22} +{s['build_s']:.0f} s build, +{s['bytes'] / mib:.0f} MiB on disk "
              f"({s['nnz']:,} non-zeros)")
    for name, t in r["latency_by_id"].items():
        w, c = t["wall"], t["cpu"]
        same = r["answers_identical_to_recompute"].get(name)
        print(f"  {name:<22} wall p50/p95/p99 {w['p50_ms']:.2f} / {w['p95_ms']:.2f} / "
              f"{w['p99_ms']:.2f} ms   cpu {c['p50_ms']:.2f} / {c['p95_ms']:.2f} / "
              f"{c['p99_ms']:.2f} ms   waited >1 ms {t['waited_over_1ms']:.1%}"
              + ("" if same is None else f"   same answer {same}/{r['queries']}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500, help="Articles timed per mode.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from recommender.bench.derived import cached_corpus

    source = args.data / "reuters21578" / "articles.jsonl.gz"
    out = {}
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        df, _ = cached_corpus(source, n)
        out[n] = measure(df, args.queries, np.random.default_rng(0))
        report(n, out[n])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
