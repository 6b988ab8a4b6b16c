#!/usr/bin/env python3
"""Quality cost of every speed trick, against the exact computation (nDCG@10, P@5).

    python scripts/quality_tricks.py [--out results.json]

For ../shared/data/ecbplus (same-event ground truth) and ../shared/data/reuters21578
(same topic set, ModApte test queries) it ranks every query article with:

* ``exact float64``: the cosine computed in float64 over the whole vocabulary;
* ``exact float32``: the model's float32 matrix, every query term (``exact=True``);
* ``pruned query (m terms, df <= s)``: the inverted-index query with query-term pruning
  and exact re-scoring of ``n_candidates`` (the draft/fallback path), for several settings;
* ``neighbour lists``: the precomputed, truncated lists the by-id path reads.

The issue's bar: nDCG@10 within 0.005 of the exact computation for every trick.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from recommender.corpus.load import load_corpus
from recommender.index.inverted import Pruning, query_candidates
from recommender.model.estimator import RelatedStories

ROOT = Path(__file__).resolve().parent.parent

DATA = ROOT.parent / "shared" / "data"


def ndcg_at(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    gains = [1.0 / np.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in relevant]
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal else 0.0


def precision_at(ranked: list[str], relevant: set[str], k: int = 5) -> float:
    return sum(r in relevant for r in ranked[:k]) / k


def load_set(name: str):
    if name == "ecbplus":
        articles, _ = load_corpus(DATA / "ecbplus" / "articles.jsonl")
        qrels = json.loads((DATA / "ecbplus" / "qrels_same_event.json").read_text())
    else:
        articles, _ = load_corpus(DATA / "reuters21578" / "articles.jsonl.gz")
        articles = articles[articles["body"].fillna("").str.split().str.len() >= 20]
        qrels = json.loads(
            (DATA / "reuters21578" / "qrels_same_topic_set_modapte_test.json").read_text())
    articles = articles.reset_index(drop=True)
    qrels = {q: set(r) for q, r in qrels.items() if q in set(articles["id"])}
    return articles, qrels


def evaluate(name: str, settings: list[tuple[int | None, float | None, int]],
             max_query_df: float = 0.01) -> dict:
    articles, qrels = load_set(name)
    t0 = time.perf_counter()
    # max_query_df: the model's own pruning, which the neighbour lists are built with
    model = RelatedStories(n_jobs=2, max_query_df=max_query_df).fit(articles)
    fit_seconds = time.perf_counter() - t0
    ids = model.ids_
    queries = sorted(qrels)
    rows = [model.row(q) for q in queries]
    runs: dict[str, list[list[str]]] = {}

    X64 = model.matrix_.astype(np.float64)
    X64T = X64.T.tocsr()  # once: a transposed view would be converted on every product
    ranked = []
    for r in rows:
        s = np.asarray((X64[r] @ X64T).todense()).ravel()
        s[r] = 0
        s[~model.published_] = 0
        order = np.lexsort((np.arange(s.size), -s))[:10]
        ranked.append([ids[i] for i in order if s[i] > 0])
    runs["exact float64"] = ranked
    runs["exact float32"] = [
        [ids[i] for i in model.candidates(article_id=q, n=10, exact=True)[0]] for q in queries]
    for max_terms, max_df, cands in settings:
        pruning = Pruning(max_terms=max_terms,
                          max_df=None if max_df is None else max(int(max_df * len(ids)), 50),
                          n_candidates=cands)
        label = f"pruned query ({max_terms} terms, df <= {max_df}, {cands} re-scored)"
        runs[label] = [
            [ids[i] for i in query_candidates(
                model.matrix_[r], model.matrix_, model.index_, model.df_, 10, pruning=pruning,
                allowed=model.published_, exclude_row=r)[0]]
            for r in rows]
    runs[f"neighbour lists (df <= {max_query_df}, {model.n_neighbors} per article)"] = [
        [ids[i] for i in model.neighbors_[r, :10] if i >= 0] for r in rows]
    exact = runs["exact float32"]
    out = {"articles": len(ids), "queries": len(queries), "fit_seconds": round(fit_seconds, 2),
           "runs": {}}
    for label, ranked in runs.items():
        nd = float(np.mean([ndcg_at(rk, qrels[q]) for rk, q in zip(ranked, queries,
                                                                   strict=True)]))
        p5 = float(np.mean([precision_at(rk, qrels[q]) for rk, q in zip(ranked, queries,
                                                                       strict=True)]))
        overlap = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                                 for a, b in zip(ranked, exact, strict=True)]))
        out["runs"][label] = {"ndcg@10": round(nd, 4), "p@5": round(p5, 4),
                              "recall@10_vs_exact": round(overlap, 4)}
    base = out["runs"]["exact float32"]["ndcg@10"]
    for r in out["runs"].values():
        r["delta_ndcg@10"] = round(r["ndcg@10"] - base, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--settings", default="64:0.01:100,32:0.01:100,16:0.005:50,all:0.01:100",
                        help="pruned-query runs, comma-separated TERMS:DF_SHARE:CANDIDATES "
                             "('all' terms)")
    parser.add_argument("--max-query-df", type=float, default=0.01,
                        help="the model's max_query_df, which its neighbour lists use")
    args = parser.parse_args()
    settings = []
    for item in args.settings.split(","):
        terms, share, cands = item.split(":")
        settings.append((None if terms == "all" else int(terms), float(share), int(cands)))
    results = {name: evaluate(name, settings, args.max_query_df)
               for name in ("ecbplus", "reuters21578")}
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
