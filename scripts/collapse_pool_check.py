#!/usr/bin/env python3
"""How often does a near-duplicate of a shown link sit beyond the collapse pool?

    python scripts/collapse_pool_check.py [--data ../shared/data] [--model MODEL_DIR]
        [--threshold 0.9] [--sample 3000]

The engine compares only the best ``2 x k`` candidates for near-duplicates (the pool grows
when collapsing empties slots); the rest of the candidate list (the 50 of the neighbour
list) is not compared. A near-duplicate of a shown link further down would, under the
"show the newer" rule, replace it if it is newer. For every query of ECB+ and
Reuters-21578 (the sets of ``scripts/measure_ranking.py``) and for a sample of a saved model
(e.g. the derived 100k benchmark corpus), this counts the lists where a candidate beyond
the pool has a cosine >= ``--threshold`` with a shown link, and those where it is also newer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from recommender import artifact, ranking  # noqa: E402
from recommender.engine import Recommender  # noqa: E402
from recommender.model import RelatedStories  # noqa: E402


def study(label: str, model: RelatedStories, queries: Sequence[str], k: int,
          threshold: float) -> str:
    engine = Recommender(model)
    uni = engine.universe()
    opts = engine.options(k=k)
    lists = beyond = newer = 0
    size = max(2 * k, 4)
    for q in queries:
        shown = np.array([model.row(i) for i in engine.related(q, k=k).ids], dtype=np.int64)
        if not shown.size:
            continue
        lists += 1
        row = model.row(q)
        rows = np.asarray(model.neighbors_[row], dtype=np.int64)
        sims = np.asarray(model.neighbor_scores_[row], dtype=np.float64)
        ok = (rows >= 0) & (sims < opts.duplicate_threshold - 1e-6)
        rows, sims = rows[ok], sims[ok]
        ts = uni.timestamps
        factor = np.ones(rows.size)
        if ts[row] != ranking.NAT:
            gap = ranking.age_gap_days(ts[rows], int(ts[row]))
            factor = ranking.recency_factor(gap, opts.half_life, opts.recency_floor)
        rest = rows[np.argsort(-(sims * factor), kind="stable")[size:]]
        if not rest.size:
            continue
        gram = ranking.pair_cosines(model.matrix_, np.concatenate([shown, rest]))
        i, j = np.nonzero(gram[:shown.size, shown.size:] >= threshold - 1e-6)
        if i.size:
            beyond += 1
            newer += bool(np.any(ts[rest[j]] > ts[shown[i]]))
    return (f"{label}, k={k}: {lists} lists; a near-duplicate (cosine >= {threshold:g}) of a "
            f"shown link beyond the best {size} candidates in {beyond} "
            f"({100 * beyond / max(lists, 1):.2f}%), newer than it in {newer} "
            f"({100 * newer / max(lists, 1):.2f}%)")


def main(argv: Sequence[str] | None = None) -> int:
    import measure_ranking

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", type=Path, default=None,
                        help="also a saved model (a sample of its articles as queries)")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--sample", type=int, default=3000)
    args = parser.parse_args(argv)
    for name, loader in (("ecbplus", measure_ranking.load_ecbplus),
                         ("reuters21578", measure_ranking.load_reuters)):
        if not (args.data / name).is_dir():
            continue
        frame, graded, _ = loader(args.data / name)
        model = RelatedStories().fit(frame)
        queries = sorted(q for q in graded if model.has_article(q) and graded[q])
        for k in (5, 10):
            sys.stdout.write(study(name, model, queries, k, args.threshold) + "\n")
    if args.model is not None:
        model = artifact.load(args.model).model
        rng = np.random.default_rng(3)
        ids = [model.ids_[i] for i in rng.integers(0, model.n_articles_, args.sample)]
        for k in (5, 10):
            sys.stdout.write(study(f"{args.model.name} ({args.sample} articles)", model, ids,
                                   k, args.threshold) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
