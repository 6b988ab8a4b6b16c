"""``alsosee bench``: the scale benchmark from the command line (see :mod:`benchmark`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..bench.benchmark import DEFAULT_SOURCE, parse_sizes, run_benchmark


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        return parse_sizes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _params(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
            ) -> dict[str, Any]:
    """``NAME=VALUE`` flags as model parameters, checked against the estimator's."""
    from ..model.estimator import RelatedStories

    known = RelatedStories().get_params()
    out: dict[str, Any] = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or name not in known:
            raise click.BadParameter(
                f"expected NAME=VALUE with NAME one of {', '.join(sorted(known))}; got {item!r}")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    try:
        RelatedStories(**out)._check_query_params()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return out


@click.command("bench")
@click.option("--sizes", default="10k,100k", show_default=True, callback=_sizes,
              help="Corpus sizes, comma-separated (e.g. 10k,100k,1M).")
@click.option("--source", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_SOURCE, show_default=True,
              help="Reuters-21578 articles.jsonl.gz the corpora are derived from.")
@click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where derived corpora and models go (default ~/.cache/alsosee-bench; "
                   "never inside the repository).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where benchmark.json and benchmark.md go (default CACHE/results).")
@click.option("--queries", type=click.IntRange(10), default=1000, show_default=True,
              help="Timed queries per kind (after the warm-up).")
@click.option("--warmup", type=click.IntRange(0), default=100, show_default=True)
@click.option("--http-seconds", type=click.IntRange(0), default=10, show_default=True,
              help="wrk run per HTTP endpoint (0 skips HTTP and PSS).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also measure NearestNeighbors(metric='cosine', algorithm='brute').")
@click.option("--baseline-budget", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Seconds of baseline queries per kind (it is slow at 1M).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report to stdout.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", callback=_params,
              help="A model parameter of the alsosee build (e.g. lsa_components=auto); "
                   "VALUE is read as JSON when it parses, else as a string. Repeatable.")
def bench(sizes: list[int], source: Path, cache: Path | None, out: Path | None, queries: int,
          warmup: int, http_seconds: int, baseline: bool, baseline_budget: float,
          as_json: bool, params: dict[str, Any]) -> None:
    """Benchmark build, load, query and HTTP cost on derived corpora of SIZES articles."""
    start = time.perf_counter()

    def on_step(msg: str) -> None:
        click.echo(f"[{time.perf_counter() - start:7.1f}s] {msg}", err=True)

    click.echo("note: the corpora are derived from Reuters-21578 (real paragraphs recombined "
               "within a topic), not real stories", err=True)
    try:
        report = run_benchmark(
            sizes, source=source, cache=cache, out=out, queries=queries, warmup=warmup,
            http_seconds=http_seconds, baseline=baseline, baseline_budget=baseline_budget,
            params=params,
            command=" ".join(["alsosee", *sys.argv[1:]]) if sys.argv else "", on_step=on_step)
    except (MemoryError, OSError, ValueError, RuntimeError, TimeoutError) as exc:
        click.echo(f"alsosee: error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        from ..bench.benchmark import markdown

        click.echo(markdown(report))
        click.echo(f"written: {report['output']['json']}, {report['output']['markdown']}",
                   err=True)
