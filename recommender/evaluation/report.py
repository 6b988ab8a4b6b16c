"""The HTML evaluation report: one self-contained page plus PNG plots (matplotlib, Agg).

The page needs no server and no network: inline CSS, images next to it referenced by
relative paths, every title and id HTML-escaped.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingExtraError
from ..model.estimator import RelatedStories
from .runner import EvaluationResult, SystemResult

__all__ = ["require_plotting", "write_report"]

logger = logging.getLogger(__name__)

#: Sample queries shown with the editors' links beside the machine's.
N_SAMPLES = 12
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ddd;padding:3px 7px;
vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.baseline td{color:#666}tr.best td{background:#eef8ee}img{max-width:100%;border:1px solid #eee}
.hit{background:#dff3df}.miss{color:#555}.mark{font-weight:bold;color:#1a7f1a}
.small{font-size:12px;color:#666}.q{margin-bottom:1.5em}.cols{display:flex;gap:1.5em}
.cols>div{flex:1}ol{margin:.2em 0;padding-left:1.6em}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def require_plotting() -> None:
    """Raise :class:`~recommender.errors.MissingExtraError` unless matplotlib (the
    ``evaluate`` extra) can be imported: callers check before a long evaluation."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise MissingExtraError("the evaluation report (--report)", "evaluate",
                                "matplotlib") from e


def _figure(width: float = 7.0, height: float = 4.0, **margins: float):
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend state

    fig = Figure(figsize=(width, height), dpi=100)
    # fixed margins: constrained/tight layout cost seconds per figure
    fig.subplots_adjust(**{"left": .08, "right": .97, "bottom": .13, "top": .9,
                           "wspace": .25, **margins})
    return fig


def _style(s: SystemResult) -> dict[str, Any]:
    return {"linestyle": "--" if s.kind == "baseline" else "-", "marker": None,
            "linewidth": 1.2 if s.kind == "baseline" else 2.0}


def _plot_curves(result: EvaluationResult, path: Path) -> None:
    fig = _figure(12, 3.8, right=.8, left=.05)
    axes = fig.subplots(1, 3)
    for ax, (key, label) in zip(axes, (("P", "precision@k"), ("recall", "recall@k"),
                                       ("nDCG", "nDCG@k")), strict=True):
        for s in result.systems:
            ys = s.curves.get(key) or []
            if ys:
                ax.plot(range(1, len(ys) + 1), ys, label=s.name, **_style(s))
        ax.set_xlabel("k")
        ax.set_title(label)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=.3)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.savefig(path)


def _plot_tradeoff(result: EvaluationResult, path: Path) -> None:
    k = result.main_k
    fig = _figure(7, 4.5, left=.1, right=.8)
    ax = fig.subplots()
    rows = [r for r in result.tradeoff()
            if r[f"nDCG@{k}"] is not None and r["age_gap_median_days"] is not None]
    for r in sorted(rows, key=lambda r: r["kind"] == "config"):  # configs drawn on top
        color = "#1a7f1a" if r["pareto"] else ("#888" if r["kind"] == "baseline" else "#1f77b4")
        ax.scatter(r["age_gap_median_days"], r[f"nDCG@{k}"], color=color, s=40,
                   marker="s" if r["kind"] == "baseline" else "o")
        ax.annotate(r["name"], (r["age_gap_median_days"], r[f"nDCG@{k}"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["age_gap_median_days"])
    if len(front) > 1:
        ax.plot([r["age_gap_median_days"] for r in front], [r[f"nDCG@{k}"] for r in front],
                color="#1a7f1a", alpha=.5)
    if not rows:
        ax.text(.5, .5, "no publication dates in this corpus", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel(f"median age gap of the top {k} (days, lower = fresher)")
    ax.set_ylabel(f"nDCG@{k}")
    ax.set_title("relevance vs freshness (green: Pareto front; squares: baselines)")
    ax.grid(alpha=.3)
    fig.savefig(path)


def _plot_scores(systems: Sequence[SystemResult], k: int, path: Path) -> None:
    fig = _figure(4.2 * max(1, len(systems)), 3.6, left=.06)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(systems))))
    bins = np.linspace(0, 1, 41)
    for ax, s in zip(axes, systems, strict=False):
        ax.hist(s.scores_other, bins=bins, alpha=.6, label=f"not relevant ({len(s.scores_other)})",
                color="#d62728")
        ax.hist(s.scores_relevant, bins=bins, alpha=.6,
                label=f"relevant ({len(s.scores_relevant)})", color="#2ca02c")
        ax.set_title(f"{s.name}: scores of the top {k}", fontsize=9)
        ax.set_xlabel("score")
        ax.legend(fontsize=7)
    fig.savefig(path)


def _plot_age_gaps(result: EvaluationResult, path: Path) -> None:
    fig = _figure(8, 4, left=.1, right=.75)
    ax = fig.subplots()
    gaps = [s for s in result.systems if s.age_gaps_days]
    if gaps:
        top = max(max(s.age_gaps_days) for s in gaps)
        bins = np.linspace(0, max(top, 1.0), 31)
        for s in gaps:
            ax.hist(s.age_gaps_days, bins=bins, histtype="step", label=s.name,
                    linewidth=1.2 if s.kind == "baseline" else 2.0,
                    linestyle="--" if s.kind == "baseline" else "-")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.text(.5, .5, "no publication dates in this corpus", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel(f"age gap between an article and its top-{result.main_k} links (days)")
    ax.set_ylabel("links")
    ax.set_title("age gaps")
    fig.savefig(path)


def _metrics_table(result: EvaluationResult) -> str:
    k = result.main_k
    cols = [*(f"P@{x}" for x in result.ks), *(f"nDCG@{x}" for x in result.ks), "MAP", "MRR",
            f"hit@{min(result.ks)}", f"recall@{k}", f"coverage@{k}", f"catalogue_coverage@{k}",
            f"age_gap_median_days@{k}", f"near_duplicate_rate@{k}", "takedown_leaks"]
    best = result.best.get(result.select_by, {}).get("name")
    short = {f"catalogue_coverage@{k}": f"catalogue@{k}",
             f"age_gap_median_days@{k}": f"median age gap (d) @{k}",
             f"near_duplicate_rate@{k}": f"near-dup rate @{k}", "takedown_leaks": "leaks"}
    out = ['<div style="overflow-x:auto"><table><tr><th>system</th>',
           *(f'<th title="{_e(c)}">{_e(short.get(c, c))}</th>' for c in cols),
           "<th>time (s)</th></tr>"]
    for s in result.systems:
        cls = " ".join(c for c, on in (("baseline", s.kind == "baseline"),
                                       ("best", s.name == best)) if on)
        label = _e(s.name) + (" (baseline)" if s.kind == "baseline" else "")
        if s.name == best:
            label += f' <span class="mark">best {_e(result.select_by)}</span>'
        out.append(f'<tr class="{cls}"><td>{label}</td>')
        out += [f'<td class="num">{_e(_fmt(s.metrics.get(c)))}</td>' for c in cols]
        out.append(f'<td class="num">{s.seconds:.2f}</td></tr>')
    out.append("</table></div>")
    return "".join(out)


def _best_table(result: EvaluationResult) -> str:
    if not result.best:
        return ""
    rows = ["<table><tr><th>metric</th><th>best system</th><th>value (reported part)</th>"
            "<th>value (train part)</th></tr>"]
    for metric, b in result.best.items():
        name = _e(b["name"]) + (" (baseline)" if b.get("kind") == "baseline" else "")
        rows.append(f"<tr><td>{_e(metric)}</td><td>{name}</td>"
                    f'<td class="num">{_e(_fmt(b["value"]))}</td>'
                    f'<td class="num">{_e(_fmt(b["train_value"]))}</td></tr>')
    rows.append("</table>")
    return "".join(rows)


def _title(model: RelatedStories, article_id: str) -> str:
    row = model.row_of_.get(article_id)
    if row is None:
        return article_id
    title = model.meta_["title"][row]
    return title if isinstance(title, str) and title.strip() else article_id


def _link_list(model: RelatedStories, ids: Sequence[str], relevant: dict[str, float]) -> str:
    if not ids:
        return "<p class='small'>(none)</p>"
    items = []
    for d in ids:
        hit = relevant.get(d, 0) > 0
        mark = '<span class="mark">&#10003; </span>' if hit else ""
        items.append(f'<li class="{"hit" if hit else "miss"}">{mark}{_e(_title(model, d))} '
                     f'<span class="small">{_e(d)}</span></li>')
    return "<ol>" + "".join(items) + "</ol>"


def _samples(result: EvaluationResult, model: RelatedStories, shown: Sequence[SystemResult],
             n: int, seed: int = 0) -> str:
    queries = list(result.queries)
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(queries), size=min(n, len(queries)), replace=False).tolist())
    k = result.main_k
    parts = []
    for i in pick:
        q = queries[i]
        rel = result.qrels.relevant(q)
        editors = sorted(rel, key=lambda d: -rel[d])
        cols = [f"<div><b>editors' links</b> ({len(editors)})"
                + _link_list(model, editors[:2 * k], {d: 1.0 for d in editors}) + "</div>"]
        for s in shown:
            ids = s.lists.get(q, [])[:k]
            hits = sum(1 for d in ids if rel.get(d, 0) > 0)
            cols.append(f"<div><b>{_e(s.name)}</b> ({hits} of {len(ids)} hits)"
                        + _link_list(model, ids, rel) + "</div>")
        parts.append(f'<div class="q"><h3>{_e(_title(model, q))} <span class="small">'
                     f'{_e(q)}</span></h3><div class="cols">{"".join(cols)}</div></div>')
    return "".join(parts)


def write_report(result: EvaluationResult, model: RelatedStories, out_dir: str | Path, *,
                 title: str = "alsosee evaluation", n_samples: int = N_SAMPLES) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``.

    Parameters
    ----------
    result : EvaluationResult
        What :func:`~recommender.evaluation.evaluate_systems` returned.
    model : RelatedStories
        The evaluated corpus's model (titles of the sample queries).
    out_dir : str or Path
        Created if needed; existing report files are overwritten.
    title : str
        Page title.
    n_samples : int
        Number of sample queries shown.

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    require_plotting()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = result.main_k
    configs = [s for s in result.systems if s.kind == "config"]
    best_name = result.best.get(result.select_by, {}).get("name")
    # the served lists, the best ones, the baseline and plain cosine, each once
    wanted = [configs[0].name if configs else None, best_name, "tfidf-baseline", "plain-cosine"]
    names = {s.name for s in result.systems}
    shown = [result.system(n) for n in dict.fromkeys(wanted) if n is not None and n in names]
    score_systems = [s for s in shown if s.scores_relevant or s.scores_other]

    images = {
        "metrics_vs_k.png": ("Metrics at each cut-off k", lambda p: _plot_curves(result, p)),
        "tradeoff.png": ("Relevance vs freshness", lambda p: _plot_tradeoff(result, p)),
        "scores.png": ("Scores of relevant vs non-relevant links",
                       lambda p: _plot_scores(score_systems, k, p)),
        "age_gaps.png": ("Age gaps", lambda p: _plot_age_gaps(result, p)),
    }
    figures = []
    for name, (caption, draw) in images.items():
        draw(out / name)
        figures.append(f'<h2>{_e(caption)}</h2><img src="{_e(name)}" alt="{_e(caption)}">')

    baseline_note = (
        ' <b>tfidf-baseline</b> is plain scikit-learn (<code>TfidfVectorizer(sublinear_tf=True,'
        ' stop_words="english")</code> over the raw title and body, cosine top-k): the lists a'
        " newsroom gets from ten lines of code." if "tfidf-baseline" in names else
        " The TF-IDF baseline was not run (no corpus).")
    q = result.qrels.report
    split = (f"{len(result.queries)} test queries, settings chosen on "
             f"{len(result.train_queries)} train queries"
             if result.train_queries else f"{len(result.queries)} queries (no split)")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p class="small">Written {_e(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))};
corpus {result.corpus.get("articles")} articles ({result.corpus.get("recommendable")}
recommendable); {_e(split)}; evaluation took {result.seconds:.2f} s.</p>
<p class="small">Ground truth {_e(q.source)}: {q.queries_read} queries and {q.pairs_read} pairs
read; skipped {q.unknown_queries} unknown query ids, {q.unknown_related} unknown related ids,
{q.empty_queries} queries without a relevant article. Near-duplicate threshold: cosine
&ge; {result.duplicate_threshold}.</p>
<h2>Metrics</h2>{_metrics_table(result)}
<p class="small">Green row: the best system by {_e(result.select_by)}, chosen among all of
them, baselines included; grey text: baselines.{baseline_note}</p>
{"<h2>Best system per metric</h2>" + _best_table(result) if len(result.systems) > 1 else ""}
{"".join(figures)}
<h2>Sample queries: editors' links beside the machine's</h2>
<p class="small">&#10003; and green: a link the editors also chose.</p>
{_samples(result, model, shown, n_samples)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
