"""Inline placements on the Global Voices in-body links: passage-aware vs whole-story choice.

Ground truth: every link in a post's HTML (the WordPress export) to another post of the
archive, and the paragraph it sits in (``recommender.evaluation.placements``). For each such
link, an inline slot of 3 after that paragraph is chosen twice through the same engine and
defaults: by the passage blended with the story (``placements=inline:P:3``) and by the whole
story (the article's own list of 3). Prints hit@1 and hit@3 of both, a paired sign count, and
the same at other passage weights (``--weights``), plus the latency of ``related()`` by id with
``placements=inline:3:1,end:6`` vs one list of 7 (``--latency``).

Usage::

    python scripts/measure_placements.py [--data ../shared/data] [--weights 0.25,0.5,0.75]
        [--json out.json]

The corpus is the gv-links development set (coverage line stripped, as in the quality
evaluation); the data are read from ``../shared/data`` and nothing of them is written here.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np
from lxml import etree

from recommender.engine import placements as slots
from recommender.engine.recommender import Recommender
from recommender.evaluation.devsets import default_data_dir, load_dev_set
from recommender.evaluation.placements import evaluate_slots, link_paragraphs
from recommender.model.estimator import RelatedStories
from recommender.urls import canonical_url

logger = logging.getLogger("measure_placements")
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"


def wxr_posts(path: Path) -> dict[str, str]:
    """gv-<post id> -> HTML body of the WordPress export."""
    out = {}
    for item in etree.parse(str(path)).iter("item"):
        post_id = item.findtext("{*}post_id")
        html = item.findtext(CONTENT)
        if post_id and html:
            out[f"gv-{post_id}"] = html
    return out


MODES = (("one list of 7", {"k": 7}),
         ("inline:3:1,end:6", {"placements": "inline:3:1,end:6"}))


def latency(engine: Recommender, body_of: dict[str, str], queries: int
            ) -> dict[str, dict[str, float]]:
    """p50/p95 of ``related()`` by id, one list vs placements, on the same articles (those
    with at least 3 paragraphs), the modes interleaved so that noise hits both alike."""
    rng = np.random.default_rng(0)
    long_ids = [i for i, b in body_of.items() if len(slots.split_paragraphs(b)) >= 3]
    sample = rng.choice(long_ids, size=queries, replace=True).tolist()
    ms: dict[str, list[float]] = {name: [] for name, _ in MODES}
    for _, opts in MODES:
        engine.related(sample[0], **opts)  # warm
    for aid in sample:
        for name, opts in MODES:
            t0 = time.perf_counter()
            engine.related(aid, **opts)
            ms[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"p50_ms": round(statistics.median(v), 3),
                   "p95_ms": round(float(np.percentile(v, 95)), 3)} for name, v in ms.items()}


def derived_latency(args: argparse.Namespace) -> None:
    from recommender.bench.derived import cached_corpus

    source = args.data / "reuters21578" / "articles.jsonl.gz"
    out = {}
    for n in [int(x) for x in args.derived.split(",") if x.strip()]:
        df, _ = cached_corpus(source, n)
        t0 = time.perf_counter()
        engine = Recommender(RelatedStories().fit(df))
        fit = time.perf_counter() - t0
        body_of = dict(zip(df["id"], df["body"], strict=True))
        out[n] = timing = latency(engine, body_of, args.latency)
        for name, t in timing.items():
            print(f"{n:>7} articles (derived, fit {fit:.0f} s), by id, {name:<17} "
                  f"p50 {t['p50_ms']:.2f} ms  p95 {t['p95_ms']:.2f} ms", flush=True)
        del engine
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--weights", default="0.25,0.5,0.75,1.0",
                        help="Other passage weights to report (the default is "
                             f"{slots.PASSAGE_WEIGHT}).")
    parser.add_argument("--latency", type=int, default=300, help="Queries timed per mode.")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--derived", default="",
                        help="Also time by-id placements vs one list on derived corpora of "
                             "these sizes (e.g. 10000,100000; alsosee bench's cache).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.derived:
        derived_latency(args)
        return

    dev = load_dev_set("gv-links", args.data)
    df = dev.articles
    body_of = dict(zip(df["id"], df["body"], strict=True))
    id_of_url = {canonical_url(u): i for i, u in zip(df["id"], df["url"], strict=True) if u}
    html = wxr_posts(args.data / "globalvoices-2012-05" / "globalvoices-2012-05.wxr.xml")
    links = [link for source, body in html.items() if source in body_of
             for link in link_paragraphs(source, body, body_of[source], id_of_url)]
    engine = Recommender(RelatedStories().fit(df))
    report: dict = {"articles": len(df), "links": len(links),
                    "sources": len({link.source for link in links}),
                    "judged_pairs_in_qrels": sum(len(v) for v in dev.qrels.values())}

    passage, whole, per_link = evaluate_slots(engine, links)
    only_passage = sum(p and not w for _, p, w in per_link)
    only_whole = sum(w and not p for _, p, w in per_link)
    report["default"] = {"passage_weight": slots.PASSAGE_WEIGHT, "passage": passage.to_dict(),
                         "whole": whole.to_dict(), "hit@1 only passage": only_passage,
                         "hit@1 only whole": only_whole}
    sweep = []
    default = slots.PASSAGE_WEIGHT
    for weight in [float(w) for w in args.weights.split(",") if w.strip()]:
        slots.PASSAGE_WEIGHT = weight
        p, _, _ = evaluate_slots(engine, links)
        sweep.append({"passage_weight": weight, **p.to_dict()})
    slots.PASSAGE_WEIGHT = default
    report["sweep"] = sweep

    timing = latency(engine, body_of, args.latency)
    report["latency_by_id"] = timing

    print(f"{report['links']} in-body links to posts of the archive, from "
          f"{report['sources']} posts ({report['articles']} articles)")
    for row in (passage.to_dict(), whole.to_dict()):
        print(f"  {row['name']:<14} hit@1 {row['hit@1']:.3f} ({row['hits@1']})  "
              f"hit@3 {row['hit@3']:.3f} ({row['hits@3']})")
    print(f"  hit@1 by the passage only: {only_passage}; by the whole story only: {only_whole}")
    for row in sweep:
        print(f"  passage weight {row['passage_weight']:.2f}: hit@1 {row['hit@1']:.3f}  "
              f"hit@3 {row['hit@3']:.3f}")
    for name, t in timing.items():
        print(f"  by id, {name:<17} p50 {t['p50_ms']:.2f} ms  p95 {t['p95_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
