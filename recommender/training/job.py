"""The offline training job: corpus file(s) -> fitted model -> new verified model version."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..corpus.load import load_corpus
from ..memory import peak_rss_mib
from ..model import artifact
from ..model.estimator import RelatedStories
from ..state.db import StateDB

logger = logging.getLogger(__name__)

#: The bundled sample (Global Voices, May 2012, CC BY 3.0; see data/NOTICE).
SAMPLE_NAME = "globalvoices-2012-05.jsonl"


def default_corpus() -> Path:
    """Path of the bundled sample corpus.

    An installed wheel carries it as ``recommender/_sample/``; a source checkout (also an
    editable install) reads it from ``data/``, its home in the repository.
    """
    shipped = Path(str(resources.files("recommender").joinpath("_sample", SAMPLE_NAME)))
    in_checkout = Path(__file__).resolve().parents[2] / "data" / SAMPLE_NAME
    for candidate in (shipped, in_checkout):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"the bundled sample {SAMPLE_NAME} was not found in the package; "
        "pass a corpus file explicitly"
    )


def _first_bad_date(corpus: dict[str, Any]) -> str:
    row = corpus["bad_date_rows"][0]
    return f"{row['file']}:{row['line']} id {row['id']!r}, value {row['value']!r}"


@dataclass
class TrainResult:
    """What a training run produced: the version written and its report."""

    version_dir: Path
    version: str
    model: RelatedStories
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        r = self.report
        c = r["corpus"]
        lines = [
            f"corpus: {', '.join(c['files'])}",
            f"  rows read {c['rows_read']}, kept {c['rows_kept']}, "
            f"skipped {sum(c['skipped'].values())}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(c['skipped'].items()))})"
               if c["skipped"] else ""),
            *([f"  {c['bad_dates']} article(s) kept without a date: unparseable published_at "
               f"(first: {_first_bad_date(c)})"] if c.get("bad_dates") else []),
            f"  duplicate ids replaced by a later version: {c['duplicates']}; "
            f"not published (kept, never recommended): {c['unpublished']}",
            *([f"live state folded in: {r['live']['added']} added, {r['live']['replaced']} "
               f"replaced, {r['live']['removed']} unpublished left out"] if r.get("live") else []),
            f"model: {r['model']['articles']} articles, {r['model']['features']} features, "
            f"{r['model']['nonzeros']} non-zeros",
            "time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items()),
            *self._vectorize_lines(),
            *self._neighbour_lines(),
            f"peak memory: {r['peak_rss_mib']:.0f} MiB",
            f"saved: {self.version_dir} (now current)",
        ]
        return "\n".join(lines)


    def _vectorize_lines(self) -> list[str]:
        vz = self.report.get("fit_stats", {}).get("vectorize")
        if not vz or "counting" not in vz:
            return []
        c = vz["counting"]
        n = self.report["model"]["articles"]
        return [
            f"vectorising: {n} articles in {vz['seconds']:.2f} s ({vz['cpu_seconds']:.1f} CPU s, "
            f"counting on {c['backend']}, {c['n_jobs']} worker(s), {c['shards']} shard(s), "
            f"{n / max(vz['cpu_seconds'], 1e-9):.0f} articles/core-second), "
            f"peak memory {vz['peak_rss_mib']:.0f} MiB"
            + (f" (counting workers: {c['worker_peak_rss_mib']:.0f} MiB each at most)"
               if c["backend"] != "sequential" and c.get("worker_peak_rss_mib") else "")
        ]

    def _lsa_sample(self, lsa: dict[str, Any]) -> str:
        """`` (SVD fitted on N of M articles)`` when the fit used a sample."""
        rows, total = lsa.get("fit_rows"), self.model.n_articles_
        return f" (SVD fitted on {rows:,} of {total:,} articles)" if rows and rows < total else ""

    def _neighbour_lines(self) -> list[str]:
        stats = self.report.get("fit_stats", {})
        lsa = stats.get("lsa")
        lines = [] if not lsa else [
            f"topic blend: rank {lsa['rank']} (weight {self.model.lsa_weight:g}) in "
            f"{lsa['seconds']:.2f} s{self._lsa_sample(lsa)}, rows projected and smoothed "
            f"over {self.model.lsa_neighbors} neighbours in {lsa.get('rows_seconds', 0):.2f} s, "
            f"lists re-scored in {lsa.get('blend_seconds', 0):.2f} s, peak memory "
            f"{lsa['peak_rss_mib']:.0f} MiB"]
        nb = stats.get("neighbors")
        if not nb:
            return lines
        return lines + [
            f"neighbour lists: {self.model.n_neighbors} per article in {nb['seconds']:.2f} s "
            f"({nb['cpu_seconds']:.1f} CPU s, {nb['backend']}, {nb['n_jobs']} worker(s), "
            f"{nb['articles_per_core_second']:.0f} articles/core-second), "
            f"peak memory {nb['peak_rss_mib']:.0f} MiB"
        ]


def train(
    corpus: str | Path | Sequence[str | Path] | None = None,
    out: str | Path = artifact.DEFAULT_MODEL_DIR,
    *,
    params: Mapping[str, Any] | None = None,
    columns: Mapping[str, str] | None = None,
    keep: int = artifact.DEFAULT_KEEP,
    on_step: Callable[[str], None] | None = None,
    dask_scheduler: str | None = None,
    progress: bool = False,
    live_state: StateDB | None = None,
) -> TrainResult:
    """Load a corpus, fit :class:`RelatedStories` and save a new active model version.

    Parameters
    ----------
    corpus : path or list of paths, optional
        Corpus files (CSV, JSONL[.gz], Parquet, WordPress WXR). Defaults to the sample.
    out : path, default="models"
        Models root; the new version becomes ``current``.
    params : mapping, optional
        Parameters of :class:`RelatedStories`.
    columns : mapping, optional
        Source column name -> alsosee column name.
    keep : int
        Number of model versions to keep.
    on_step : callable, optional
        Called with a short message as each step starts (the CLI shows it).
    dask_scheduler : str, optional
        ``tcp://host:port``: run the parallel steps (neighbour lists) on this Dask cluster;
        checked before the corpus is read, so an unreachable scheduler fails in seconds.
    progress : bool, default=False
        Progress bars (tqdm, stderr) on the long steps.
    live_state : recommender.state.db.StateDB, optional
        Fold the live state in (``--include-live``): live articles are added or replace
        corpus rows, unpublished ids are left out (see :func:`recommender.state.live.fold_into`).
    """
    if dask_scheduler:
        from ..cluster import check_scheduler

        check_scheduler(dask_scheduler)
    step = on_step or (lambda msg: logger.info("%s", msg))
    if corpus is None:
        paths = [default_corpus()]
    elif isinstance(corpus, (str, Path)):
        paths = [Path(corpus)]
    else:
        paths = [Path(p) for p in corpus] or [default_corpus()]
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    step(f"reading {len(paths)} corpus file(s)")
    articles, corpus_report = load_corpus(paths, columns=columns)
    live_info = None
    if live_state is not None:
        from ..state.live import LiveStore, fold_into

        articles, live_info = fold_into(articles, LiveStore(live_state))
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step(f"vectorising {len(articles)} articles")
    model = RelatedStories(**dict(params or {})).fit(
        articles, dask_scheduler=dask_scheduler, progress=progress)
    timings["fit"] = time.perf_counter() - t0
    fit_stats = getattr(model, "fit_stats_", {})
    if "neighbors" in fit_stats:
        timings["vectorize"] = fit_stats["vectorize"]["seconds"]
        timings["neighbours"] = fit_stats["neighbors"]["seconds"]
    if "lsa" in fit_stats:
        timings["lsa"] = fit_stats["lsa"]["seconds"]

    report = {
        "corpus": corpus_report.to_dict(),
        **({"live": live_info} if live_info is not None else {}),
        "model": {
            "articles": int(model.n_articles_),
            "published": int(model.published_.sum()),
            "features": int(model.matrix_.shape[1]),
            "nonzeros": int(model.matrix_.nnz),
            "parameters": {k: artifact._jsonable(v) for k, v in model.get_params().items()},
        },
        "timings_seconds": timings,
        "fit_stats": fit_stats,
        "peak_rss_mib": peak_rss_mib(),
    }
    t0 = time.perf_counter()
    step(f"saving model to {out}")
    version_dir = artifact.save(model, out, corpus_files=paths, report=report, keep=keep)
    timings["save"] = time.perf_counter() - t0
    report["peak_rss_mib"] = peak_rss_mib()
    return TrainResult(version_dir=version_dir, version=version_dir.name, model=model,
                       report=report, timings=timings)


def train_sample(root: str | Path) -> Path:
    """Train the bundled sample corpus into ``root`` and activate it (used by serve/tests)."""
    return train(out=root).version_dir
