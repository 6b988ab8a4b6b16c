"""The ``alsosee`` command line (also ``python -m recommender``).

Exit codes: 0 ok; 1 an error (one line on stderr, no traceback); 2 a usage error.
This module and the service start-up are the only places that configure logging.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import AlsoseeError, InvalidParameterError
from ..ranking.placements import parse_placements
from .common import (
    BUILTIN_MODEL_DIR,
    DEFAULT_MODEL_DIR,
    ENV_MODEL_DIR,
    default_model_dir,
    state_db_option,
)
from .common import guarded as _guarded
from .common import parse_columns as _parse_columns
from .editorial import COMMANDS as EDITORIAL_COMMANDS
from .editorial import open_engine, options_from_flags, ranking_flags

# This module is imported by every command: it imports no scikit-learn, pandas or model code
# at module level (each command imports what it needs), so that `alsosee --help` and the
# cron-run commands (takedown, pin, publish) start in a fraction of a second.

logger = logging.getLogger("recommender.cli")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


#: Versions kept by `alsosee train` (recommender.model.artifact.DEFAULT_KEEP; a test checks).
DEFAULT_KEEP = 5

#: Commands whose modules import heavy libraries (or a package that does) when loaded:
#: name -> ("module:attribute", the short help `alsosee --help` lists; a test checks it).
LAZY_COMMANDS = {
    "bench": ("recommender.cli.bench:bench",
              "Benchmark build, load, query and HTTP cost on derived corpora of SIZES articles."),
    "evaluate": ("recommender.cli.evaluation:evaluate_cmd",
                 "Measure related-links quality against editors' ground truth (and compare "
                 "settings)."),
    "mine-links": ("recommender.cli.evaluation:mine_links_cmd",
                   "Mine editors' related links (in-body links, \"ALSO SEE:\" blocks) from "
                   "CORPUS."),
}


class LazyGroup(click.Group):
    """A group that imports the modules of LAZY_COMMANDS only when one of them runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attribute = LAZY_COMMANDS[cmd_name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                stub = click.Command(name, help=LAZY_COMMANDS[name][1])  # shortened as click does
                rows.append((name, stub.get_short_help_str(limit)))
            else:
                command = self.commands[name]
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alsosee")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """alsosee: related-stories ("ALSO SEE") links for newsrooms."""
    _setup_logging(verbose)


# -------------------------------------------------------------------- train
@cli.command()
@click.argument("corpus", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", default=DEFAULT_MODEL_DIR, show_default=True,
              type=click.Path(path_type=Path), help="Models root; the new version becomes current.")
@click.option("--column", "columns", multiple=True, metavar="SOURCE=TARGET",
              help="Map a column of the export onto an alsosee column (e.g. headline=title).")
@click.option("--title-weight", type=float, default=None, help="Weight of headline matches.")
@click.option("--body-weight", type=float, default=None, help="Weight of body matches.")
@click.option("--tags-weight", type=float, default=None, help="Weight of tag matches.")
@click.option("--min-df", type=float, default=None, help="Minimum document frequency.")
@click.option("--max-df", type=float, default=None, help="Maximum document frequency (share).")
@click.option("--keep", type=click.IntRange(1), default=DEFAULT_KEEP, show_default=True,
              help="Model versions to keep.")
@click.option("--strip-boilerplate/--no-strip-boilerplate", default=True, show_default=True,
              help='Remove "ALSO SEE:"/"Read more:" link blocks and stock lines before training.')
@click.option("--boilerplate-config", type=click.Path(path_type=Path), default=None,
              help="The newsroom's own boilerplate patterns (TOML or JSON).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Also write the training report (JSON) here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary output.")
@click.option("--neighbors", "n_neighbors", type=click.IntRange(0, 1000), default=None,
              help="Neighbour list length precomputed per article (0 disables; default 50).")
@click.option("--jobs", "n_jobs", type=click.IntRange(1), default=None,
              help="Local worker processes for the parallel steps (default: all cores).")
@click.option("--include-live", is_flag=True,
              help="Fold the live state in: published live articles join the corpus, "
                   "unpublished ids are left out (state DB: ALSOSEE_STATE_DB or <out>/state.db).")
@click.option("--dask-scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the parallel steps on this Dask cluster (pip install 'alsosee[dask]').")
@click.option("--lsa-components", default=None, metavar="auto|N",
              help="The topic (LSA) blend: 'auto' (the default: 4 x sqrt(articles), 20-400), "
                   "a rank, or 0 (off: lexical similarity only, faster to train).")
@click.option("--lsa-weight", type=float, default=None,
              help="Share of the topic cosine in the score, in [0, 1] (default 0.3).")
@click.option("--lsa-neighbors", type=int, default=None,
              help="Closest lexical neighbours each article's topic row is smoothed over "
                   "(default 5; 0: no smoothing).")
@click.option("--lsa-smoothing", type=float, default=None,
              help="Weight of those neighbours' topic rows, >= 0 (default 0.5; 0: none).")
@_guarded
def train(corpus: tuple[Path, ...], out: Path, columns: tuple[str, ...],
          title_weight: float | None, body_weight: float | None, tags_weight: float | None,
          min_df: float | None, max_df: float | None, keep: int, strip_boilerplate: bool,
          boilerplate_config: Path | None, report_path: Path | None, quiet: bool,
          n_neighbors: int | None, n_jobs: int | None, dask_scheduler: str | None,
          include_live: bool = False, lsa_components: str | None = None,
          lsa_weight: float | None = None, lsa_neighbors: int | None = None,
          lsa_smoothing: float | None = None) -> None:
    """Train a model on CORPUS files (default: the bundled sample) into --out."""
    from ..errors import InvalidParameterError
    from ..model.lsa import check_lsa_params, parse_lsa_components
    from ..training.job import train as run_training

    params: dict[str, Any] = {}
    try:
        if lsa_components is not None:
            params["lsa_components"] = parse_lsa_components(lsa_components)
        for name, value in (("lsa_weight", lsa_weight), ("lsa_neighbors", lsa_neighbors),
                            ("lsa_smoothing", lsa_smoothing)):
            if value is not None:
                check_lsa_params(0, **{name.removeprefix("lsa_"): value})
                params[name] = value
    except InvalidParameterError as exc:
        raise click.BadParameter(exc.message,
                                 param_hint=f"--{exc.field.replace('_', '-')}") from None
    for name, value in (("title_weight", title_weight), ("body_weight", body_weight),
                        ("tags_weight", tags_weight), ("max_df", max_df)):
        if value is not None:
            params[name] = value
    if min_df is not None:
        params["min_df"] = int(min_df) if min_df >= 1 else min_df
    if n_neighbors is not None:
        params["n_neighbors"] = n_neighbors
    if n_jobs is not None:
        params["n_jobs"] = n_jobs
    if not strip_boilerplate:
        params["strip_boilerplate"] = False
    if boilerplate_config is not None:
        from ..text.boilerplate import load_boilerplate_config

        params["boilerplate"] = load_boilerplate_config(boilerplate_config)
    start = time.perf_counter()

    def on_step(msg: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - start:6.1f}s] {msg} ...", err=True)

    if not corpus and not quiet:
        click.echo("no corpus given: training the bundled sample (Global Voices, CC BY 3.0)",
                   err=True)
    live_state = None
    if include_live:
        from ..state.db import StateDB, default_path

        live_state = StateDB(default_path(out)).init()
    try:
        result = run_training(list(corpus) or None, out, params=params,
                              columns=_parse_columns(columns), keep=keep, on_step=on_step,
                              dask_scheduler=dask_scheduler, progress=not quiet,
                              live_state=live_state)
    except InvalidParameterError as exc:
        if not exc.field.startswith("lsa_"):
            raise
        # known only once the vocabulary is: a usage error all the same
        raise click.BadParameter(exc.message,
                                 param_hint=f"--{exc.field.replace('_', '-')}") from None
    if report_path is not None:
        report_path.write_text(json.dumps(result.report, indent=2, default=str))
    recorded = _record_for_fleet(out, result.version)
    if not quiet:
        click.echo(result.summary())
        if recorded:
            click.echo(f"recorded as the fleet's model version in {recorded}")


def _record_for_fleet(out: Path, version: str) -> Path | str | None:
    """Once servers follow a recorded version (``alsosee models activate``), a new current
    version is recorded too: otherwise they would keep the old one. No record, no write
    (and no SQLite state file created)."""
    from ..state import fleet
    from ..state.db import StateDB, default_path

    path = default_path(out)
    if isinstance(path, Path) and not path.is_file():
        return None
    db = StateDB(path).init()  # PostgreSQL (ALSOSEE_STATE_DB): the fleet's shared record
    recorded = fleet.wanted(db)
    if recorded is None:
        return None
    fleet.record(db, version, recorded.version)
    return db.path  # a PostgreSQL URL without its password


# ------------------------------------------------------------------ related
def format_also_see(heading: str | None, results: Sequence[dict[str, Any]]) -> str:
    """The plain-text "ALSO SEE:" block a newsroom prints under a story."""
    lines = []
    if heading:
        lines += [heading, ""]
    if not results:
        lines.append("ALSO SEE: (no related stories found)")
        return "\n".join(lines)
    lines.append("ALSO SEE:")
    for r in results:
        date = f" ({r['published_at'][:10]})" if r.get("published_at") else ""
        mark = f" ({r['reason']})" if r.get("reason") in ("pinned", "fallback") else ""
        lines.append(f"  * {r['title']}{date}  [{r['score']:.3f}]{mark}")
        if r.get("url"):
            lines.append(f"    {r['url']}")
        explanation = r.get("explanation")
        if explanation:
            terms = ", ".join(f"{t['term']!r} in {t['field']} {t['share']:.0%}"
                              for t in explanation["terms"])
            lines.append(f"    why: similarity {explanation['similarity']:.3f} x recency "
                         f"{explanation['recency_factor']:.2f}; {terms or 'no shared terms'}")
    return "\n".join(lines)


@cli.command()
@click.argument("article_id", required=False)
@click.option("--model", "model_dir", default=DEFAULT_MODEL_DIR, show_default=True,
              type=click.Path(path_type=Path), help="Models root or version directory.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="Number of links (1-100).")
@click.option("--title", default=None, help="Headline of a draft not in the corpus.")
@click.option("--body", default=None, help="Body text of a draft not in the corpus.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@state_db_option("State database with takedowns/pins/blocks: a SQLite file or a "
                 "postgresql:// URL (default: $ALSOSEE_STATE_DB, else <models>/state.db).")
@click.option("--plain", is_flag=True,
              help="The model's own similarity lists: no ranking options, no editorial "
                   "state.")
@ranking_flags
@_guarded
def related(article_id: str | None, model_dir: Path, k: int, title: str | None,
            body: str | None, fmt: str, state_db: Path | None, plain: bool,
            **flags: Any) -> None:
    """Print the related stories of ARTICLE_ID, or of a draft given by --title/--body.

    The list goes through the newsroom ranking (recency, same-story collapse, filters,
    takedowns, pins, blocks); every ranking option has a flag below.
    """
    if article_id is None and title is None and body is None:
        raise click.UsageError("give an ARTICLE_ID, or --title and/or --body for a draft")
    if article_id is not None and (title is not None or body is not None):
        raise click.UsageError("give either an ARTICLE_ID or --title/--body, not both")
    options = options_from_flags(flags)
    debug = None
    slots: list[dict[str, Any]] | None = None
    if plain:
        if options:
            raise click.UsageError("--plain takes no ranking options")
        from ..model import artifact

        loaded = artifact.load(model_dir)
        model = loaded.model
        if article_id is not None:
            article = model.article(article_id)
            results = [r.to_dict() for r in model.related(article_id, k=k)]
        else:
            article = {"title": title or ""}
            results = [r.to_dict() for r in model.related_to_text(title or "", body or "", k=k)]
    else:
        if "placements" in options:  # a malformed slot is a usage error, before any loading
            try:
                parse_placements("placements", options["placements"])
            except InvalidParameterError as exc:
                raise click.BadParameter(exc.message, param_hint="--placement") from None
        engine, loaded, live = open_engine(model_dir, state_db)
        try:
            if article_id is not None:
                result = engine.related(article_id, k=k, live=live, **options)
            else:
                result = engine.related_to_text(title or "", body or "", k=k, live=live,
                                                **options)
        except InvalidParameterError as exc:
            if exc.field != "placements":
                raise
            raise click.BadParameter(exc.message, param_hint="--placement") from None
        article, debug = result.article, result.debug
        results = [item.to_dict() for item in result.items]
        if result.slots is not None:
            slots = [slot.to_dict() for slot in result.slots]
    heading = article.get("title") if article_id is not None else (
        f"Draft: {title}" if title else "Draft")
    if fmt == "json":
        payload = {
            "article": article,
            "related": results,
            "model": {"version": loaded.version, "trained_at": loaded.trained_at,
                      "articles": loaded.manifest.get("articles")},
        }
        if slots is not None:
            payload["placements"] = slots
        if debug is not None:
            payload["debug"] = debug
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif slots is not None:
        parts = [heading] if heading else []
        for slot in slots:
            where = (f"inline, after paragraph {slot['after_paragraph']}"
                     if slot["slot"] == "inline" else "end")
            parts.append(f"[{where}]\n" + format_also_see(None, slot["related"]))
        click.echo("\n\n".join(parts))
    else:
        click.echo(format_also_see(heading, results))
        if debug is not None:
            click.echo("")
            click.echo(f"dropped ({len(debug['dropped'])} of the best candidates):")
            for entry in debug["dropped"]:
                detail = f" ({entry['detail']})" if entry.get("detail") else ""
                click.echo(f"  - {entry['id']}  [{entry['similarity']:.3f}] "
                           f"{entry['reason']}{detail}")


# -------------------------------------------------------------------- serve
@cli.command()
@click.option("--model", "model_dir", default=None, type=click.Path(path_type=Path),
              help=f"Models root  [default: ALSOSEE_MODEL_DIR or {BUILTIN_MODEL_DIR}]")
@click.option("--train-sample", is_flag=True,
              help="Train the bundled sample into --model if it holds no model (done without "
                   f"asking only for the default ./{BUILTIN_MODEL_DIR}).")
@click.option("--host", default=None, help="Address  [default: ALSOSEE_HOST or 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port  [default: ALSOSEE_PORT or 8000]")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes  [default: ALSOSEE_WORKERS or 2]")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Threads per worker  [default: ALSOSEE_THREADS or 2]")
@click.option("--timeout", type=click.IntRange(1), default=None,
              help="Worker timeout in seconds  [default: ALSOSEE_TIMEOUT or 30]")
@click.option("--graceful-timeout", type=click.IntRange(0), default=None,
              help="Seconds to finish requests on shutdown  [default: ALSOSEE_GRACEFUL_TIMEOUT "
                   "or 30]")
@_guarded
def serve(model_dir: Path | None, train_sample: bool, host: str | None, port: int | None,
          workers: int | None, threads: int | None, timeout: int | None,
          graceful_timeout: int | None) -> None:
    """Serve the HTTP API with gunicorn.

    With no model yet, the default ./models gets the bundled sample trained first (the quick
    start); any other directory must hold a model, unless --train-sample is given: a mistyped
    path is an error, never a demo model served in its place.
    Settings not given as flags come from ALSOSEE_* variables, then the ALSOSEE_CONFIG file.
    """
    from ..model import artifact

    chosen = model_dir is not None or ENV_MODEL_DIR in os.environ
    model_dir = model_dir or Path(default_model_dir())
    try:
        artifact.resolve(model_dir)
    except AlsoseeError:
        if artifact.list_versions(model_dir):
            raise
        if chosen and not train_sample:
            raise AlsoseeError(
                f"no model in {model_dir}: train one (alsosee train CORPUS --out {model_dir}), "
                "check the path, or add --train-sample to serve the bundled sample") from None
        click.echo(f"no model in {model_dir}: training the bundled sample first ...", err=True)
        from ..training.job import train as run_training

        result = run_training(None, model_dir)
        click.echo(result.summary(), err=True)
    artifact.load(model_dir)  # fail here, with one clear line, rather than in every worker
    # The library never imports the web layer: hand over to the service's own entry point
    # (exec, so gunicorn receives signals directly and shuts down gracefully). It checks the
    # configuration and the port first and reports problems as one "alsosee: error:" line.
    argv = [sys.executable, "-m", "service.server", "--model", str(model_dir)]
    for flag, value in (("--host", host), ("--port", port), ("--workers", workers),
                        ("--threads", threads), ("--timeout", timeout),
                        ("--graceful-timeout", graceful_timeout)):
        if value is not None:
            argv += [flag, str(value)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


# Operations commands (models, publish, unpublish) live in their own module.
from .ops import COMMANDS as _OPS_COMMANDS  # noqa: E402

for _command in _OPS_COMMANDS:
    cli.add_command(_command)

from .sync import sync as _sync_command  # noqa: E402 - registered after the group exists

cli.add_command(_sync_command)

for _command in EDITORIAL_COMMANDS:
    cli.add_command(_command)

from .state import state as _state_group  # noqa: E402

cli.add_command(_state_group)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="alsosee")


if __name__ == "__main__":  # pragma: no cover
    main()
