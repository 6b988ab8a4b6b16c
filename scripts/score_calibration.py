#!/usr/bin/env python
"""Can a similarity floor (``min_score``) mean the same on every archive? Measures it.

Fits the defaults on each development set once and collects every query's top-10 list (the
model's similarity, judged against the set's ground truth). Then, per set, the share of links judged
relevant at or above a floor, for

* ``raw``        the similarity itself (what ``min_score`` applies to);
* ``calibrated`` the similarity's standing against the archive's own background, learned without
  labels: the empirical CDF of every article's closest-neighbour similarity (a 101-point
  quantile table of ``neighbor_scores_[:, 0]``), so 0.5 means "as close as the archive's median
  closest pair".

Floors are compared at matched volume (the floor of each score that keeps the same mean number
of links per list over the sets), and against the *oracle bound*: the range of precision each
set can reach at all with any floor that keeps at least half a link per list. Where those ranges
do not overlap, no per-archive monotone map of the score (however learned) can make a floor mean
the same precision on both.

Usage::

    python scripts/score_calibration.py [--data ../shared/data] [--sets ecb-title,reuters,gv]
"""

from __future__ import annotations

import argparse

import numpy as np

from recommender.evaluation.devsets import default_data_dir, dev_sets
from recommender.model.estimator import RelatedStories

VOLUMES = (1.0, 2.0, 4.0, 6.0)
CUTOFFS = {"raw": (0.1, 0.2, 0.3, 0.4), "calibrated": (0.25, 0.5, 0.75, 0.9)}


def _lists(ds, model: RelatedStories) -> tuple[np.ndarray, np.ndarray, int]:
    scores, rel, n = [], [], 0
    for q in ds.qrels:
        if not model.has_article(q):
            continue
        n += 1
        for r in model.related(q, k=10):
            scores.append(r.score)
            rel.append(ds.qrels[q].get(r.id, 0) > 0)
    return np.array(scores), np.array(rel, dtype=bool), n


def _precision(score: np.ndarray, rel: np.ndarray, floor: float) -> tuple[float, int]:
    kept = score >= floor
    return (float(rel[kept].mean()) if kept.any() else float("nan")), int(kept.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data_dir())
    parser.add_argument("--sets", default="ecb-title,reuters,gv")
    args = parser.parse_args()
    sets = {}
    for ds in dev_sets([n for n in args.sets.split(",") if n], args.data):
        model = RelatedStories(n_jobs=1).fit(ds.articles)
        score, rel, n = _lists(ds, model)
        table = np.quantile(model.neighbor_scores_[:, 0], np.linspace(0, 1, 101))
        cal = np.interp(score, table, np.linspace(0, 1, 101))
        sets[ds.name] = {"raw": score, "calibrated": cal, "rel": rel, "n": n}
    print("precision at or above a floor (links per list)")
    for kind, cuts in CUTOFFS.items():
        for cut in cuts:
            cells = []
            ps = []
            for name, s in sets.items():
                p, kept = _precision(s[kind], s["rel"], cut)
                ps.append(p)
                cells.append(f"{name} {p:.2f} ({kept / s['n']:.1f})")
            spread = np.nanmax(ps) - np.nanmin(ps)
            print(f"  {kind:<10} >= {cut:<4} " + "  ".join(cells) + f"   spread {spread:.2f}")
    print("\nmatched volume (mean links per list over the sets): precision per set, spread")
    for kind in CUTOFFS:
        spreads = []
        for v in VOLUMES:
            values = np.unique(np.concatenate([s[kind] for s in sets.values()]))[::-1]
            vol = [np.mean([(s[kind] >= c).sum() / s["n"] for s in sets.values()])
                   for c in values]
            floor = values[min(int(np.searchsorted(vol, v)), len(values) - 1)]
            ps = [_precision(s[kind], s["rel"], floor)[0] for s in sets.values()]
            spreads.append(np.nanmax(ps) - np.nanmin(ps))
            print(f"  {kind:<10} {v:.0f} links: " + "  ".join(
                f"{name} {p:.2f}" for name, p in zip(sets, ps, strict=True))
                + f"   spread {spreads[-1]:.2f}" + ("  (a set keeps none)" if np.isnan(ps).any()
                                                  else ""))
        print(f"  {kind:<10} mean spread {np.mean(spreads):.2f}")
    print("\noracle bound: precision each set can reach with a floor keeping >= 0.5 links/list")
    for name, s in sets.items():
        order = np.argsort(-s["raw"], kind="stable")
        cum = np.cumsum(s["rel"][order]) / np.arange(1, order.size + 1)
        reach = cum[max(int(0.5 * s["n"]) - 1, 0):]
        print(f"  {name:<12} {reach.min():.2f} .. {reach.max():.2f}")


if __name__ == "__main__":
    main()
