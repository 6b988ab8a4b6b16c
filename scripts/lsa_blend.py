#!/usr/bin/env python
"""Does an LSA blend whose rank follows the archive's size beat the baseline on every set?

How the library's LSA option (``RelatedStories(lsa_components=..., lsa_weight=...)``,
:mod:`recommender.model.lsa`) chose its rank rule and weight; ``scripts/quality.py``
measures the option itself. Here, an evaluation-side re-scoring: the model (defaults) is
fitted once per development set, a randomized ``TruncatedSVD`` is fitted on the model's own
TF-IDF rows, and each query's lexical candidates (the engine's top ``--candidates``) are
re-scored as

    (1 - w) * cosine + w * lsa_cosine

where ``lsa_cosine`` is the cosine of the L2-normalised rows in the reduced space (a draft,
or a query expanded by the engine's feedback, is projected the same way); the engine's
normal ranking (same-story drop, feedback, recency, near-duplicate collapse) does the rest.

The rank follows the archive: ``n_components = round(c * sqrt(n_articles))`` clipped to
[20, 400]. For a grid of (c, w) every set is scored by id and as drafts against the baseline
(paired bootstrap 95% intervals), then (c, w) is chosen by leave-one-source-out
cross-validation (ECB+, Reuters, Global Voices in turn held out, chosen on the others' sets).

    python scripts/lsa_blend.py [--sets ecb-title,gv] [--c 1,2,3] [--w 0.1,0.2,0.3] [--json out]
    python scripts/lsa_blend.py --cost     # SVD fit time/memory at 11k and 100k, per-query cost
    python scripts/lsa_blend.py --sample-overlap [--size 100000] [--cache DIR]

``--sample-overlap`` measures what fitting the library's SVD on a sample of
``LSA_FIT_ROWS`` rows (above that size) costs in answers: on a derived corpus, the blended
neighbour lists (``lsa_components="auto"``, ``lsa_weight`` 0.3, the library's own
:func:`~recommender.model.lsa.fit_lsa` and :func:`~recommender.model.lsa.blend_lists`) with
the SVD fitted on the sample and on every row, overlap@10 on 1,000 seeded articles; an
all-rows fit with another seed shows how much the lists move with the SVD's randomness alone,
and the lexical lists' overlap how much the blend changes at all.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.recommender import Recommender
from recommender.engine.results import RelatedResult
from recommender.engine.rows import RowSpace
from recommender.engine.stages import UNTRACED, Query, Ranking, Trace
from recommender.evaluation.devsets import (
    SET_NAMES,
    default_data_dir,
    dev_sets,
    source_folds,
)
from recommender.evaluation.metrics import ndcg_at_k
from recommender.evaluation.quality import by_story, draft_of, evaluate_set, paired_interval
from recommender.model import RelatedStories
from recommender.ranking.options import RankingOptions

MIN_RANK, MAX_RANK = 20, 400


def rank_for(c: float, n_articles: int) -> int:
    return int(min(max(round(c * math.sqrt(n_articles)), MIN_RANK), MAX_RANK))


def fit_svd(matrix: sp.csr_matrix, k: int, seed: int = 0, n_iter: int = 5
            ) -> tuple[np.ndarray, np.ndarray]:
    """Randomized SVD of the TF-IDF rows: (components k x vocab, float32; reduced rows)."""
    from sklearn.decomposition import TruncatedSVD

    k = min(k, min(matrix.shape) - 1)
    svd = TruncatedSVD(k, algorithm="randomized", n_iter=n_iter, random_state=seed)
    reduced = svd.fit_transform(matrix)
    return svd.components_.astype(np.float32), reduced.astype(np.float32)


def _unit(z: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    return z / np.where(norm > 0, norm, 1.0)


class _BlendedRanking(Ranking):
    """The engine's stages with the candidates' cosines blended with their LSA cosines
    (after the candidates are found, and again after feedback re-scores them)."""

    lsa: LsaBlend

    def candidate_rows(self, n: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        rows, sims, more, from_lists = super().candidate_rows(max(n, self.lsa.n_cand))
        return rows, self.lsa.blend(self.query, rows, sims), more, from_lists

    def feedback(self, cand: np.ndarray, sim: np.ndarray) -> np.ndarray:
        lexical = super().feedback(cand, sim)
        if lexical is sim:  # no feedback: the candidates' blend stands
            return sim
        return self.lsa.blend(self.query, cand, lexical)  # the expanded query's projection


class LsaBlend(Recommender):
    """The engine with its candidates re-scored as ``(1 - w) * cosine + w * lsa_cosine``."""

    def __init__(self, model: RelatedStories, rows: np.ndarray, components: np.ndarray,
                 weight: float, candidates: int) -> None:
        super().__init__(model, None)
        self.lsa_rows = _unit(rows)  # n x k, unit rows
        self.components = components  # k x vocab
        self.weight = weight
        self.n_cand = candidates

    def _lsa_query(self, query: Query) -> np.ndarray:
        if query.corpus_article and query._vector is None:
            return self.lsa_rows[query.self_row]
        z = query.vector @ self.components.T
        return _unit(np.asarray(z, dtype=np.float32).ravel())

    def blend(self, query: Query, rows: np.ndarray, sims: np.ndarray) -> np.ndarray:
        if self.weight == 0 or not rows.size:
            return sims
        lsa = self.lsa_rows[rows] @ self._lsa_query(query)
        return (1.0 - self.weight) * sims + self.weight * lsa.astype(np.float64)

    def _rank(self, query: Query, opts: RankingOptions, space: RowSpace,
              article: dict[str, Any]) -> RelatedResult:
        snap = self._snapshot()
        trace = Trace() if opts.debug else UNTRACED
        ranking = _BlendedRanking(space, query, opts, snap, self._killed_mask(snap, space),
                                  self._clock, trace)
        ranking.lsa = self
        return ranking.run(article)


def blend_lists(ds: Any, engine: Recommender, k: int = 10) -> dict[str, list[float]]:
    """Per-query nDCG@k of the engine by id and as drafts (as ``evaluate_set`` builds them)."""
    articles = ds.articles
    ids = articles["id"].astype(str).to_numpy()
    pos = {i: n for n, i in enumerate(ids)}
    dates = pd.to_datetime(articles["published_at"], utc=True)
    queries = [q for q in ds.qrels if q in pos]
    out: dict[str, list[float]] = {"id": [], "draft": []}
    for q in queries:
        row = pos[q]
        got = [i.id for i in engine.related(q, k=k).items]
        title, body = draft_of(articles.at[row, "title"], articles.at[row, "body"])
        when = dates.iloc[row]
        draft = engine.related_to_text(
            title, body, k=k + 1, article_tags=list(articles.at[row, "tags"] or []),
            published_at=None if pd.isna(when) else when.isoformat()).items
        for kind, ranked in (("id", got), ("draft", [i.id for i in draft if i.id != q][:k])):
            r, rel = by_story(ranked, ds.qrels[q], ds.story_of)
            out[kind].append(ndcg_at_k(r, rel, k))
    return out


def grid(data: Path, names: list[str], cs: list[float], ws: list[float],
         candidates: int, seed: int = 0, n_iter: int = 5) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for ds in dev_sets(names, data):
        t0 = time.perf_counter()
        n = len(ds.articles)
        # the lexical model (no topic blend of its own): the blend is applied here
        model = RelatedStories(n_jobs=1, lsa_components=0).fit(ds.articles)
        ref = evaluate_set(ds, model=model)
        base = {"id": ref.per_query["baseline"], "draft": ref.per_query["draft-baseline"]}
        dflt = {"id": ref.per_query["defaults"], "draft": ref.per_query["draft-defaults"]}
        ranks = {c: rank_for(c, n) for c in cs}
        # One SVD per rank, as a model of that rank would fit it: the leading columns of a
        # larger randomized fit are not the same (on 378 articles they moved nDCG by 0.03).
        t1 = time.perf_counter()
        fits = {r: fit_svd(model.matrix_, r, seed, n_iter) for r in sorted(set(ranks.values()))}
        svd_s = time.perf_counter() - t1
        entry: dict[str, Any] = {
            "articles": n, "queries": len(base["id"]), "svd_seconds": round(svd_s, 1),
            "baseline": {kd: float(np.mean(v)) for kd, v in base.items()},
            "defaults": {kd: float(np.mean(v)) for kd, v in dflt.items()}, "blend": {}}
        print(f"{ds.name}: {n} articles, {entry['queries']} queries, baseline "
              f"{entry['baseline']['id']:.3f}/{entry['baseline']['draft']:.3f}, defaults "
              f"{entry['defaults']['id'] - entry['baseline']['id']:+.3f}/"
              f"{entry['defaults']['draft'] - entry['baseline']['draft']:+.3f} "
              f"(SVD ranks {sorted(fits)} {svd_s:.1f} s)", flush=True)
        for c in cs:
            r = ranks[c]
            components, reduced = fits[r]
            for w in ws:
                engine = LsaBlend(model, reduced, components, w, candidates)
                got = blend_lists(ds, engine)
                cell: dict[str, Any] = {"rank": r}
                for kd in ("id", "draft"):
                    lo, hi = paired_interval(got[kd], base[kd])
                    cell[kd] = float(np.mean(got[kd]) - np.mean(base[kd]))
                    cell[f"{kd}_interval"] = [round(lo, 4), round(hi, 4)]
                entry["blend"][f"{c:g},{w:g}"] = cell
                print(f"  c={c:<4g} rank {r:>3} w={w:<4g} by id {cell['id']:+.3f} "
                      f"[{cell['id_interval'][0]:+.3f},{cell['id_interval'][1]:+.3f}]  drafts "
                      f"{cell['draft']:+.3f} [{cell['draft_interval'][0]:+.3f},"
                      f"{cell['draft_interval'][1]:+.3f}]", flush=True)
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        results[ds.name] = entry
    return results


def loso(results: dict[str, Any]) -> dict[str, Any]:
    """Leave-one-source-out choice of (c, w) on the by-id mean delta, and the held-out
    deltas by id and as drafts; plus each setting's mean and worst set over all sets."""
    sets = list(results)
    keys = list(next(iter(results.values()))["blend"]) if sets else []

    def mean(key: str, on: list[str], kind: str = "id") -> float:
        return sum(results[n]["blend"][key][kind] for n in on) / len(on)

    out: dict[str, Any] = {"held_out": {}, "settings": {}}
    print("\nleave-one-source-out (chosen on the other sources' sets, by id):")
    for source, held, train in source_folds(sets):
        best = max(keys, key=lambda k: mean(k, train))
        out["held_out"][source] = {"chosen": best, **{
            n: {kd: round(results[n]["blend"][best][kd], 4) for kd in ("id", "draft")}
            for n in held}}
        print(f"  hold out {source:<8} chose c,w={best}: " + ", ".join(
            f"{n} {results[n]['blend'][best]['id']:+.3f} (drafts "
            f"{results[n]['blend'][best]['draft']:+.3f})" for n in held))
    print("\nevery setting over all sets (mean; worst set), by id | drafts:")
    for key in keys:
        row = {}
        for kd in ("id", "draft"):
            vals = {n: results[n]["blend"][key][kd] for n in sets}
            worst = min(vals, key=vals.get)
            row[kd] = {"mean": round(mean(key, sets, kd), 4), "worst": worst,
                       "worst_delta": round(vals[worst], 4)}
        out["settings"][key] = row
        print(f"  c,w={key:<8} {row['id']['mean']:+.4f} ({row['id']['worst']} "
              f"{row['id']['worst_delta']:+.3f}) | {row['draft']['mean']:+.4f} "
              f"({row['draft']['worst']} {row['draft']['worst_delta']:+.3f})")
    dflt = {kd: sum(results[n]["defaults"][kd] - results[n]["baseline"][kd] for n in sets)
            / len(sets) for kd in ("id", "draft")}
    out["defaults_mean"] = dflt
    print(f"  defaults (no blend) {dflt['id']:+.4f} | {dflt['draft']:+.4f}")
    return out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cost(data: Path, candidates: int, n_iter: int = 5) -> dict[str, Any]:
    """Fit time and memory of the SVD on Reuters (11k) and a 100k derived corpus, and the
    per-query cost of the blend (by id and drafts) against the engine without it."""
    import tracemalloc

    from recommender.bench.benchmark import DEFAULT_SOURCE
    from recommender.bench.derived import cached_corpus

    out: dict[str, Any] = {}
    ds = next(dev_sets(["reuters"], data))
    model = RelatedStories(n_jobs=1, lsa_components=0).fit(ds.articles)  # lexical only
    for label, m in (("11k", model.matrix_),):
        for r in (rank_for(2, m.shape[0]), rank_for(4, m.shape[0])):
            tracemalloc.start()
            t0 = time.perf_counter()
            comp, red = fit_svd(m, r, n_iter=n_iter)
            sec = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            out[f"svd_{label}_{r}"] = {"seconds": round(sec, 1), "traced_peak_mib": round(peak),
                                       "stored_mib": round((comp.nbytes + red.nbytes) / 2**20, 1)}
            print(f"SVD {label} rank {r}: {sec:.1f} s, traced peak {peak:.0f} MiB, "
                  f"stored {(comp.nbytes + red.nbytes) / 2**20:.1f} MiB", flush=True)
    # per-query cost: same queries, alternating engines
    comp, red = fit_svd(model.matrix_, rank_for(4, model.matrix_.shape[0]), n_iter=n_iter)
    plain = Recommender(model, None)
    blend = LsaBlend(model, red, comp, 0.3, candidates)
    wide = LsaBlend(model, red, comp, 0.0, candidates)  # the candidates alone, no blend
    ids = list(ds.qrels)[:300]
    times: dict[str, list[float]] = {f"{e}-{kind}": [] for e in ("plain", "wide", "blend")
                                     for kind in ("id", "draft")}
    arts = ds.articles.set_index("id")
    for q in ids:
        title, body = draft_of(arts.at[q, "title"], arts.at[q, "body"])
        for name, eng in (("plain", plain), ("wide", wide), ("blend", blend)):
            t0 = time.perf_counter()
            eng.related(q, k=10)
            times[f"{name}-id"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            eng.related_to_text(title, body, k=10)
            times[f"{name}-draft"].append(time.perf_counter() - t0)
    for name, v in times.items():
        p50, p99 = np.percentile(v, [50, 99]) * 1000
        out[f"latency_{name}"] = {"p50_ms": round(p50, 3), "p99_ms": round(p99, 3)}
        print(f"{name}: p50 {p50:.3f} ms p99 {p99:.3f} ms (11k, {candidates} candidates)")
    del model, red, comp
    try:
        big, _ = cached_corpus(DEFAULT_SOURCE, 100_000)
    except Exception as exc:  # noqa: BLE001 - the estimate is optional
        print("100k corpus not built:", exc)
        return out
    m100 = RelatedStories(n_jobs=1, n_neighbors=0, lsa_components=0).fit(big).matrix_
    for r in (rank_for(1, 100_000), rank_for(4, 100_000)):
        tracemalloc.start()
        t0 = time.perf_counter()
        comp, red = fit_svd(m100, r, n_iter=n_iter)
        sec = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out[f"svd_100k_{r}"] = {"seconds": round(sec, 1), "traced_peak_mib": round(peak),
                                "stored_mib": round((comp.nbytes + red.nbytes) / 2**20, 1)}
        print(f"SVD 100k rank {r}: {sec:.1f} s, traced peak {peak:.0f} MiB, stored "
              f"{(comp.nbytes + red.nbytes) / 2**20:.1f} MiB (matrix nnz {m100.nnz})", flush=True)
    out["maxrss_mib"] = round(_peak_mib())
    return out


def sample_overlap(size: int, cache: Path | None, queries: int = 1000, k: int = 10,
                   seed: int = 0) -> dict[str, Any]:
    """Overlap@k of the blended lists with the SVD fitted on the ``LSA_FIT_ROWS`` sample and
    on all rows (same rank, seed, lexical candidates), on ``queries`` seeded articles."""
    from recommender.bench.benchmark import DEFAULT_SOURCE
    from recommender.bench.derived import DEFAULT_CACHE, cached_corpus
    from recommender.model import lsa

    articles, path = cached_corpus(DEFAULT_SOURCE, size, cache or DEFAULT_CACHE)
    print(f"{path}: {len(articles)} articles", flush=True)
    params: dict[str, Any] = {"lsa_components": "auto", "lsa_weight": 0.3}
    lexical = RelatedStories(**params).set_params(lsa_components=0).fit(articles)
    model = RelatedStories(**params)
    rank = lsa.lsa_rank("auto", lexical.n_articles_, lexical.matrix_.shape[1])
    lsa_seed = lsa.lsa_seed(model.get_params())  # the seed the library derives for them
    rows, scores = np.asarray(lexical.neighbors_), np.asarray(lexical.neighbor_scores_)
    picked = np.random.default_rng(seed).choice(len(articles), size=min(queries, len(articles)),
                                                replace=False)
    lists: dict[str, np.ndarray] = {"lexical": rows[picked, :k]}
    out: dict[str, Any] = {"articles": len(articles), "rank": rank, "queries": int(picked.size),
                           "fit_rows": lsa.LSA_FIT_ROWS}
    threshold = lsa.LSA_FIT_ROWS
    # Another seed on all rows: how much the lists move with the SVD's randomness alone.
    for label, fit_rows, fit_seed in (("sample", threshold, lsa_seed),
                                      ("all rows", len(articles), lsa_seed),
                                      ("all rows, another seed", len(articles), lsa_seed + 1)):
        lsa.LSA_FIT_ROWS = fit_rows
        try:
            stats: dict[str, Any] = {}
            cpu0 = time.process_time()
            _, lsa_rows = lsa.fit_lsa(lexical.matrix_, rank, fit_seed, stats)
            blended, _ = lsa.blend_lists(rows, scores, lsa_rows, params["lsa_weight"],
                                         rows.shape[1])
            stats["cpu_seconds"] = round(time.process_time() - cpu0, 1)
        finally:
            lsa.LSA_FIT_ROWS = threshold
        lists[label] = blended[picked, :k]
        out[label] = stats
        print(f"{label}: {stats}", flush=True)

    def overlap(a: np.ndarray, b: np.ndarray) -> float:
        per = []
        for x, y in zip(a, b, strict=True):
            x, y = set(x[x >= 0]), set(y[y >= 0])
            per.append(len(x & y) / max(min(len(x), len(y)), 1))
        return round(float(np.mean(per)), 4)

    for a, b in (("sample", "all rows"), ("all rows, another seed", "all rows"),
                 ("lexical", "all rows"), ("lexical", "sample")):
        out[f"overlap@{k} {a} / {b}"] = overlap(lists[a], lists[b])
        print(f"overlap@{k} {a} / {b}: {out[f'overlap@{k} {a} / {b}']:.4f}", flush=True)
    return out


def main() -> None:
    report: dict[str, Any]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--sets", default=",".join(SET_NAMES))
    parser.add_argument("--c", default="1,2,3", help="rank = c * sqrt(articles), in [20, 400]")
    parser.add_argument("--w", default="0.1,0.2,0.3", help="blend weights")
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="the SVD's random state")
    parser.add_argument("--n-iter", type=int, default=5, help="the SVD's power iterations")
    parser.add_argument("--cost", action="store_true", help="SVD and per-query cost only")
    parser.add_argument("--sample-overlap", action="store_true",
                        help="the sample fit's cost in answers (overlap@10) at --size")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--cache", type=Path, help="derived corpora (default: the bench's)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.sample_overlap:
        report = {"sample_overlap": sample_overlap(args.size, args.cache)}
    elif args.cost:
        report = {"cost": cost(args.data, args.candidates, args.n_iter)}
    else:
        names = [n.strip() for n in args.sets.split(",") if n.strip()]
        results = grid(args.data, names, [float(x) for x in args.c.split(",")],
                       [float(x) for x in args.w.split(",")], args.candidates, args.seed,
                       args.n_iter)
        report = {"sets": results, "cv": loso(results)}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    sys.exit(0)


if __name__ == "__main__":
    main()
