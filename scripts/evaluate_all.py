#!/usr/bin/env python
"""Evaluate alsosee on the reference sets with ground truth and print the summary table.

For each set found under ``../shared/data`` (skipped when absent):

* ``ecbplus`` — 982 articles, same-event clusters (``qrels_same_event.json``); titles are
  null, so the model sees bodies only;
* ``reuters21578`` — ModApte train + test stories with a body of >= 20 words, same topic-set
  ground truth (``qrels_same_topic_set_modapte_test.json``). ``tags`` and ``section`` are
  blanked: they hold the very topic labels the ground truth is made of;
* ``globalvoices-2012-05`` special coverage (``qrels_special_coverage.json``), with the
  default boilerplate stripping, without it, and with a Global Voices newsroom config.

Each set: the defaults, a small grid of settings (one parameter changed at a time; ranking
options such as ``half_life`` are included when this version of ``related()`` has them) and
the baselines (the TF-IDF baseline fitted on the same articles among them), tuned on a seeded
half of the queries and reported on the other half.

Usage::

    python scripts/evaluate_all.py [--data ../shared/data] [--json out.json] [--report-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from recommender.corpus.load import load_corpus
from recommender.evaluation import baselines, evaluate_systems, load_qrels
from recommender.evaluation.compare import build_systems, parameter_names
from recommender.model.estimator import RelatedStories

ROOT = Path(__file__).resolve().parent.parent

GV_CONFIG = ROOT / "data" / "boilerplate-globalvoices.toml"


def _ecbplus(data: Path):
    articles, _ = load_corpus(data / "ecbplus" / "articles.jsonl")
    return articles, data / "ecbplus" / "qrels_same_event.json"


def _reuters(data: Path):
    articles, _ = load_corpus(data / "reuters21578" / "articles.jsonl.gz")
    keep = articles["modapte_split"].isin(["train", "test"]) & (
        articles["body"].fillna("").str.split().str.len() >= 20)
    articles = articles[keep].reset_index(drop=True)
    articles["tags"] = [[] for _ in range(len(articles))]  # topic labels = the ground truth
    articles["section"] = None
    return articles, data / "reuters21578" / "qrels_same_topic_set_modapte_test.json"


def _gv(data: Path):
    articles, _ = load_corpus(data / "globalvoices-2012-05" / "articles.jsonl")
    return articles, data / "globalvoices-2012-05" / "qrels_special_coverage.json"


def grid_for(model: RelatedStories, articles) -> list[dict[str, Any]]:
    """One parameter changed at a time (a full product would re-fit dozens of times); fields
    a set does not have (ECB+ titles, Reuters tags) are not tuned."""
    has = {col: articles[col].map(lambda v: bool(v) if not isinstance(v, str)
                                  else bool(v.strip())).any() if col in articles else False
           for col in ("title", "tags")}
    settings: list[dict[str, Any]] = []
    if has["title"]:
        settings += [{"title_weight": 2.0}, {"title_weight": 0.5}]
    if has["tags"]:
        settings += [{"tags_weight": 0.0}, {"tags_weight": 1.0}]
    settings += [{"max_df": 0.2}, {"min_df": 2}]
    names = parameter_names(model)
    for name, values in (("half_life", [7, 30, 90, None]), ("recency_floor", [0.0, 0.8]),
                         ("diversity", [0.3]), ("near_duplicate_threshold", [None]),
                         ("duplicate_threshold", [None])):
        if names.get(name) == "ranking":
            settings += [{name: v} for v in values]
    return settings


def run(name: str, articles, truth: Path, *, params: dict[str, Any] | None = None,
        settings: list[dict[str, Any]] | None = None, report_dir: Path | None = None,
        seed: int = 0) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = RelatedStories(**(params or {})).fit(articles)
    fit_s = time.perf_counter() - t0
    qrels = load_qrels(truth, known_ids=set(model.ids_))
    settings = grid_for(model, articles) if settings is None else settings
    systems = build_systems(model, settings, articles) + baselines(model, seed, articles)
    n_settings = sum(s.kind == "config" for s in systems) - 1  # besides the defaults
    result = evaluate_systems(systems, qrels, model, ks=(5, 10), test_size=0.5, seed=seed)
    total = time.perf_counter() - t0
    if report_dir is not None:
        from recommender.evaluation.report import write_report

        write_report(result, model, report_dir / name, title=f"alsosee evaluation: {name}")
    best = result.best.get("nDCG@10", {}).get("name", "defaults")

    def pick(system: str) -> dict[str, Any]:
        s = result.system(system)
        return {m: s.metrics.get(m) for m in ("P@5", "nDCG@10", "MAP",
                                               "age_gap_median_days@10",
                                               "near_duplicate_rate@10")}

    return {
        "set": name, "articles": len(articles), "queries": len(qrels.queries),
        "test_queries": len(result.queries), "best": best,
        "best_params": result.best.get("nDCG@10", {}).get("params"),
        "rows": {"tfidf-baseline": pick("tfidf-baseline"),
                 "plain cosine": pick("plain-cosine"), "defaults": pick("defaults"),
                 f"best ({best})": pick(best), "latest-in-section": pick("latest-in-section"),
                 "random": pick("random")},
        "fit_seconds": round(fit_s, 2), "seconds": round(total, 2),
        "settings": n_settings, "table": result.table(),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| set | system | P@5 | nDCG@10 | MAP | median age gap (d) | near-dup@10 |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for system, m in r["rows"].items():
            gap = m["age_gap_median_days@10"]
            lines.append(
                f"| {r['set']} | {system} | {m['P@5']:.3f} | {m['nDCG@10']:.3f} | "
                f"{m['MAP']:.3f} | {'n/a' if gap is None else f'{gap:.1f}'} | "
                f"{m['near_duplicate_rate@10']:.3f} |")
    lines.append("")
    lines.append("Metrics on the held-out half of the queries (seed 0); the best system (the "
                 "baselines compete too) was chosen by nDCG@10 on the other half.")
    for r in results:
        lines.append(f"- {r['set']}: {r['articles']} articles, {r['queries']} queries "
                     f"({r['test_queries']} held out), {r['settings']} settings + 4 baselines, "
                     f"{r['seconds']:.1f} s (first fit {r['fit_seconds']:.1f} s)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--report-dir", type=Path, default=None)
    ap.add_argument("--only", default=None, help="Comma-separated subset: ecbplus,reuters,gv")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    only = set(args.only.split(",")) if args.only else {"ecbplus", "reuters", "gv"}
    results = []
    if "ecbplus" in only and (args.data / "ecbplus").is_dir():
        results.append(run("ecbplus", *_ecbplus(args.data), report_dir=args.report_dir))
    if "reuters" in only and (args.data / "reuters21578").is_dir():
        results.append(run("reuters21578", *_reuters(args.data), report_dir=args.report_dir))
    if "gv" in only and (args.data / "globalvoices-2012-05").is_dir():
        articles, truth = _gv(args.data)
        results.append(run("gv special coverage (boilerplate stripped)", articles, truth,
                           report_dir=args.report_dir))
        results.append(run("gv special coverage (not stripped)", articles, truth,
                           params={"strip_boilerplate": False}, report_dir=args.report_dir))
        if GV_CONFIG.is_file():
            from recommender.text.boilerplate import load_boilerplate_config

            results.append(run("gv special coverage (GV newsroom patterns)", articles, truth,
                               params={"boilerplate": load_boilerplate_config(GV_CONFIG)},
                               report_dir=args.report_dir))
    if not results:
        sys.exit(f"no evaluation set found under {args.data}")
    for r in results:
        sys.stdout.write(f"\n## {r['set']}\n{r['table']}\n")
    sys.stdout.write("\n" + markdown(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
