#!/usr/bin/env python
"""Link quality of alsosee's defaults against the scikit-learn baseline on every development set.

Builds the honest development sets from ``../shared/data`` (see
``recommender/evaluation/devsets.py``: no field holds the answer; some sets add hostile tags),
fits the model with its defaults on each, and prints, per set, nDCG@10 / P@5 of

* ``baseline``   TfidfVectorizer(sublinear_tf=True, stop_words="english") on title + body,
* ``plain``      the model's own cosine lists,
* ``defaults``   what the service shows (ranking engine, default options),
* ``no-recency`` the defaults with ``half_life=None``,
* drafts         each query as a draft (title + first paragraph), baseline and defaults,

and the median age gap (days) of the lists on dated sets; then the bars: defaults at least
baseline - 0.005 on every set, and baseline + 0.02 on average, each set's difference with its
paired bootstrap 95% interval over the set's queries (what the set can resolve).

``--variant NAME=VALUE[,NAME=VALUE...]`` also fits each set with those model parameters (e.g.
``lsa_components=0``: the lexical model without the topic blend) in the same run, and prints
its by-id and draft nDCG@10 against the same baseline (paired 95% intervals), with its fit
time.

``--cv-topics`` chooses the topic blend's settings (``lsa_neighbors``, ``lsa_smoothing``,
``lsa_weight``) by the same leave-one-source-out cross-validation as ``--cv`` (below), on
one fit of the defaults per set.

``--cv`` also chooses settings by leave-one-source-out cross-validation (ECB+, Reuters and
Global Voices in turn held out; the setting with the best mean nDCG@10 on the other sources'
sets is scored on the held-out ones), over a grid of field weights, feedback and
near-duplicate threshold.

Usage::

    python scripts/quality.py [--data ../shared/data] [--sets ecb-title,reuters] [--json out.json]
    python scripts/quality.py --variant lsa_components=0
    python scripts/quality.py --cv [--json cv.json]
    python scripts/quality.py --cv-topics [--sets ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from recommender.evaluation.devsets import (
    SET_NAMES,
    default_data_dir,
    dev_sets,
    source_folds,
)
from recommender.evaluation.quality import (
    evaluate_set,
    graded_correlation,
    paired_interval,
    precision_above,
)
from recommender.model.estimator import RelatedStories

SYSTEMS = ("baseline", "plain", "defaults", "no-recency", "draft-baseline", "draft-defaults")
FIT_GRID = {"title_weight": [1.0, 1.5, 2.0], "tags_weight": [0.0, 0.25]}
OPTION_GRID = {"feedback": [0.0, 0.15, 0.3], "near_duplicate_threshold": [0.98]}


def _score_meaning(ds: Any, model: RelatedStories, data: Path,
                   into: dict[str, Any]) -> list[str]:
    """Precision above similarity cutoffs (and, on ECB+ with headlines, the correlation with
    the graded judgements) of a fitted model; stored in ``into``, returned as lines."""
    prec = into["precision_above"] = precision_above(ds, model)
    lines = [f"  {ds.name:<13} " + "   ".join(
        f">= {c}: {v['precision']:.2f} ({v['links_per_list']:.1f})" for c, v in prec.items())]
    if ds.name == "ecb-title":
        graded = json.loads((data / "ecbplus" / "qrels_graded.json").read_text())
        corr = into["graded_pearson"] = graded_correlation(ds.articles, graded, model)
        lines.append(f"  Pearson r of similarity with ECB+ grades (2 same event, 1 same topic,"
                     f" 0 other; {corr['pairs']} pairs): alsosee {corr['alsosee']:.3f}, "
                     f"baseline {corr['baseline']:.3f}")
    return lines


def table(data: Path, names: list[str],
          variant: dict[str, Any] | None = None) -> dict[str, Any]:
    results = {}
    variant_rows: dict[str, dict[str, Any]] = {}
    header = f"{'set':<13}{'arts':>7}{'qs':>5} " + " ".join(f"{s:>14}" for s in SYSTEMS)
    print("nDCG@10 / P@5", flush=True)
    print(header)
    meaning: list[str] = []
    per_query: dict[str, dict[str, list[float]]] = {}
    for ds in dev_sets(names, data):
        model = RelatedStories(n_jobs=1).fit(ds.articles)  # one fit serves every figure
        r = evaluate_set(ds, model=model)
        results[ds.name] = r.to_dict()
        per_query[ds.name] = r.per_query
        if ds.name != "mixed":
            meaning += _score_meaning(ds, model, data, results[ds.name])
        cells = " ".join(f"{r.scores[s]['ndcg@10']:>7.3f}/{r.scores[s]['p@5']:.3f}"
                         for s in SYSTEMS)
        print(f"{ds.name:<13}{r.n_articles:>7}{r.n_queries:>5} {cells}   ({r.seconds:.0f} s)",
              flush=True)
        if variant:
            del model
            variant_rows[ds.name] = _variant_row(ds, variant, r.per_query)
    if not results:
        print("no development set found under", data)
        return {}
    print("\nmedian age gap of the lists (days), dated sets:")
    for name, r in results.items():
        if r["age_gap_days"]:
            gaps = r["age_gap_days"]
            print(f"  {name:<13} defaults {gaps.get('defaults', float('nan')):6.1f}   "
                  f"no-recency {gaps.get('no-recency', float('nan')):6.1f}   "
                  f"baseline {gaps.get('baseline', float('nan')):6.1f}")
    print("\nbars (nDCG@10):")
    ok = True
    for prefix in ("", "draft-"):
        deltas = {n: r["scores"][f"{prefix}defaults"]["ndcg@10"]
                  - r["scores"][f"{prefix}baseline"]["ndcg@10"] for n, r in results.items()}
        worst = min(deltas, key=deltas.get)
        mean = sum(deltas.values()) / len(deltas)
        kind = "drafts" if prefix else "by id "
        each = deltas[worst] >= -0.005
        avg = mean >= 0.02
        ok &= each and avg
        print(f"  {kind}: worst set {worst} {deltas[worst]:+.3f} "
              f"({'ok' if each else 'FAIL'}: >= -0.005); mean {mean:+.3f} "
              f"({'ok' if avg else 'FAIL'}: >= +0.02)")
        for n, d in deltas.items():
            # Paired over the set's queries: a small set cannot resolve a 0.005 bar.
            lo, hi = paired_interval(per_query[n][f"{prefix}defaults"],
                                     per_query[n][f"{prefix}baseline"])
            results[n].setdefault("interval_95", {})[kind.strip()] = [round(lo, 4), round(hi, 4)]
            print(f"      {n:<13} {d:+.3f}   95% interval {lo:+.3f} .. {hi:+.3f}")
    for name, r in results.items():
        s = r["scores"]
        cost = s["no-recency"]["ndcg@10"] - s["defaults"]["ndcg@10"]
        if r["age_gap_days"]:
            print(f"  recency on {name}: costs {cost:+.3f} nDCG@10 vs half_life=None "
                  f"({'ok' if cost <= 0.005 else 'FAIL'}: <= 0.005)")
    if variant_rows:
        _print_variant(variant_rows, variant or {})
        for name, row in variant_rows.items():
            results[name]["variant"] = row
    print("\nwhat a similarity means: share of list links judged relevant at or above it"
          " (links per list)")
    print("\n".join(meaning))
    return {"sets": results, "bars_met": ok}


def _variant_row(ds: Any, params: dict[str, Any],
                 base: dict[str, list[float]]) -> dict[str, Any]:
    """A variant's nDCG@10 by id and as drafts on one set, against the baseline of the same
    queries, and what its fit cost."""
    t0 = time.perf_counter()
    model = RelatedStories(n_jobs=1, **params).fit(ds.articles)
    fit_s = time.perf_counter() - t0
    r = evaluate_set(ds, model=model)
    row: dict[str, Any] = {"fit_seconds": round(fit_s, 1),
                           "lsa": model.fit_stats_.get("lsa", {})}
    for kind, system, ref in (("id", "defaults", "baseline"),
                              ("draft", "draft-defaults", "draft-baseline")):
        got = r.per_query[system]
        lo, hi = paired_interval(got, base[ref])
        row[kind] = {"ndcg@10": round(r.scores[system]["ndcg@10"], 4),
                     "delta": round(sum(got) / len(got) - sum(base[ref]) / len(base[ref]), 4),
                     "interval_95": [round(lo, 4), round(hi, 4)]}
    print(f"  {ds.name:<13} variant (LSA rank {row['lsa'].get('rank', 0)}): by id "
          f"{row['id']['delta']:+.3f}, drafts {row['draft']['delta']:+.3f} vs baseline "
          f"(fit {fit_s:.1f} s, SVD {row['lsa'].get('seconds', 0):.1f} s)", flush=True)
    return row


def _print_variant(rows: dict[str, dict[str, Any]], params: dict[str, Any]) -> None:
    print(f"\nvariant {params}, nDCG@10 - baseline, paired 95% interval:")
    print(f"  {'set':<13}{'rank':>5}  {'by id':>26}  {'drafts':>26}  {'fit s':>6} {'SVD s':>6}")
    for name, row in rows.items():
        cells = "  ".join(
            f"{row[k]['delta']:+.3f} ({row[k]['interval_95'][0]:+.3f}..."
            f"{row[k]['interval_95'][1]:+.3f})" for k in ("id", "draft"))
        print(f"  {name:<13}{row['lsa'].get('rank', 0):>5}  {cells}  {row['fit_seconds']:>6.1f} "
              f"{row['lsa'].get('seconds', 0):>6.1f}")
    for k, label in (("id", "by id"), ("draft", "drafts")):
        deltas = {n: r[k]["delta"] for n, r in rows.items()}
        worst = min(deltas, key=deltas.get)
        print(f"  {label}: mean {sum(deltas.values()) / len(deltas):+.4f}, worst set {worst} "
              f"{deltas[worst]:+.4f}")


def cross_validate(data: Path, names: list[str]) -> dict[str, Any]:
    """nDCG@10 of every (fit params x options) setting on every set, then the held-out
    choice per source."""
    fit_grid = [dict(zip(FIT_GRID, v, strict=True)) for v in itertools.product(*FIT_GRID.values())]
    opt_grid = [dict(zip(OPTION_GRID, v, strict=True))
                for v in itertools.product(*OPTION_GRID.values())]
    scores: dict[str, dict[str, float]] = {}
    for ds in dev_sets(names, data):
        t0 = time.perf_counter()
        for params in fit_grid:
            model = RelatedStories(n_jobs=1, **params).fit(ds.articles)
            for opts in opt_grid:
                key = json.dumps({**params, **opts}, sort_keys=True)
                r = evaluate_set(ds, options=opts, model=model, drafts=False)
                scores.setdefault(key, {})[ds.name] = r.scores["defaults"]["ndcg@10"]
                scores[key][f"baseline:{ds.name}"] = r.scores["baseline"]["ndcg@10"]
        print(f"{ds.name}: {len(fit_grid) * len(opt_grid)} settings in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    sets = [n for n in names if any(n in v for v in scores.values())]

    def mean_delta(key: str, on: list[str]) -> float:
        return sum(scores[key][n] - scores[key][f"baseline:{n}"] for n in on) / len(on)

    out: dict[str, Any] = {"held_out": {}}
    print("\nleave-one-source-out (mean nDCG@10 - baseline):")
    for source, held, train in source_folds(sets):
        best = max(scores, key=lambda k: mean_delta(k, train))
        out["held_out"][source] = {"chosen": json.loads(best),
                                   "held_out_delta": {n: round(scores[best][n] - scores[best][
                                       f"baseline:{n}"], 4) for n in held}}
        print(f"  hold out {source:<8} chose {best}: " + ", ".join(
            f"{n} {scores[best][n] - scores[best][f'baseline:{n}']:+.3f}" for n in held))
    best = max(scores, key=lambda k: mean_delta(k, sets))
    out["all_sets"] = {"chosen": json.loads(best), "mean_delta": round(mean_delta(best, sets), 4)}
    print(f"  all sets: best {best}, mean {mean_delta(best, sets):+.3f}")
    ranked = sorted(scores, key=lambda k: -mean_delta(k, sets))[:8]
    print("\ntop settings over all sets (mean delta; worst set delta):")
    for key in ranked:
        worst = min(scores[key][n] - scores[key][f"baseline:{n}"] for n in sets)
        print(f"  {mean_delta(key, sets):+.4f}  {worst:+.4f}  {key}")
    out["scores"] = scores
    return out


def _params(text: str) -> dict[str, Any]:
    """``NAME=VALUE[,NAME=VALUE...]``: model parameters, each value read as JSON when it
    parses (numbers, null) and as a string otherwise (``auto``); checked by the model."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value.strip()
    try:
        RelatedStories(**out)  # an unknown name fails here, before any fit
    except TypeError as exc:
        raise argparse.ArgumentTypeError(f"not a model parameter: {exc}") from None
    return out


#: The topic blend's grid: fitted once per set (defaults), each setting applied by
#: ``set_params`` + ``build_neighbors`` (same SVD: its seed leaves these out).
TOPIC_GRID = {"lsa_neighbors": [0, 5, 10], "lsa_smoothing": [0.5, 1.0],
              "lsa_weight": [0.2, 0.3, 0.4]}


def cross_validate_topics(data: Path, names: list[str]) -> dict[str, Any]:
    """nDCG@10 by id of every topic-blend setting on every set, then the held-out choice per
    source (the setting with the best mean on the other sources' sets, none of them below
    the baseline - 0.005 when one such exists)."""
    grid = [dict(zip(TOPIC_GRID, v, strict=True))
            for v in itertools.product(*TOPIC_GRID.values())]
    grid = [g for g in grid if g["lsa_neighbors"] or g["lsa_smoothing"] == 0.5]  # 0: no smoothing
    deltas: dict[str, dict[str, float]] = {}
    for ds in dev_sets(names, data):
        t0 = time.perf_counter()
        model = RelatedStories(n_jobs=1).fit(ds.articles)
        for params in grid:
            model.set_params(**params).build_neighbors()
            r = evaluate_set(ds, model=model, drafts=False)
            deltas.setdefault(json.dumps(params, sort_keys=True), {})[ds.name] = (
                r.scores["defaults"]["ndcg@10"] - r.scores["baseline"]["ndcg@10"])
        print(f"{ds.name}: {len(grid)} topic settings in {time.perf_counter() - t0:.0f} s",
              flush=True)
    sets = [n for n in names if any(n in v for v in deltas.values())]

    def mean(key: str, on: list[str]) -> float:
        return sum(deltas[key][n] for n in on) / len(on)

    def choose(on: list[str]) -> str:
        return max(deltas, key=lambda k: (min(deltas[k][n] for n in on) >= -0.005, mean(k, on)))

    out: dict[str, Any] = {"held_out": {}, "deltas": deltas}
    print("\ntopic blend, leave-one-source-out (nDCG@10 - baseline, by id):")
    held: dict[str, float] = {}
    for source, held_sets, train in source_folds(sets):
        best = choose(train)
        held.update({n: deltas[best][n] for n in held_sets})
        out["held_out"][source] = {"chosen": json.loads(best), "held_out_delta": {
            n: round(deltas[best][n], 4) for n in held_sets}}
        print(f"  hold out {source:<8} chose {best}: " + ", ".join(
            f"{n} {deltas[best][n]:+.3f}" for n in held_sets))
    if held:
        out["held_out_mean"] = round(sum(held.values()) / len(held), 4)
        print(f"  held-out mean {out['held_out_mean']:+.4f}, worst {min(held.values()):+.4f}")
    print("\nevery setting (mean over all sets; worst set):")
    for key in sorted(deltas, key=lambda k: -mean(k, sets)):
        print(f"  {mean(key, sets):+.4f}  {min(deltas[key][n] for n in sets):+.4f}  {key}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--sets", default=",".join(SET_NAMES))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cv", action="store_true", help="also cross-validate the settings")
    parser.add_argument("--cv-topics", action="store_true",
                        help="also cross-validate the topic blend's settings")
    parser.add_argument("--variant", type=_params, default=None, metavar="NAME=VALUE,...",
                        help="also score the model with these parameters on every set")
    args = parser.parse_args()
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    report: dict[str, Any] = {"table": table(args.data, names, args.variant)}
    if args.cv:
        report["cv"] = cross_validate(args.data, names)
    if args.cv_topics:
        report["cv_topics"] = cross_validate_topics(args.data, names)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    sys.exit(0 if report["table"].get("bars_met") else 1)


if __name__ == "__main__":
    main()
