"""Operations commands: model versions (``alsosee models ...``) and live articles
(``alsosee publish FILE``, ``alsosee unpublish ID``).

Registered on the main group by :mod:`recommender.cli`. ``models activate`` / ``rollback``
record the version in the state database (:mod:`recommender.state.fleet`): every server using that
state switches to it by itself. Servers with another state database pick up the ``current``
pointer on ``POST /v1/admin/reload``, on SIGHUP, or when they watch it
(``ALSOSEE_WATCH_MODEL=1``); published articles are visible to them at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ArtifactError, CorpusError
from .common import DEFAULT_MODEL_DIR, state_db_option
from .common import guarded as _guarded

_MODEL_OPTION = click.option(
    "--model", "model_dir", default=DEFAULT_MODEL_DIR, show_default=True,
    type=click.Path(path_type=Path), help="Models root (holding the version directories).")
_STATE_OPTION = state_db_option()

RELOAD_HINT = ("running servers switch on POST /v1/admin/reload, on SIGHUP, or by themselves "
               "with ALSOSEE_WATCH_MODEL=1")


@click.group("models")
def models() -> None:
    """List, activate and roll back model versions."""


@models.command("list")
@_MODEL_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_guarded
def list_models(model_dir: Path, fmt: str) -> None:
    """The versions under --model, oldest first; * marks the current one."""
    from ..model import artifact

    current = artifact.current_version(model_dir)
    rows = []
    for version in artifact.list_versions(model_dir):
        try:
            manifest = artifact.read_manifest(model_dir / version)
        except ArtifactError as exc:
            manifest = {"error": str(exc)}
        size = sum(p.stat().st_size for p in (model_dir / version).iterdir() if p.is_file())
        rows.append({"version": version, "current": version == current,
                     "created_at": manifest.get("created_at"),
                     "articles": manifest.get("articles"), "bytes": size,
                     **({"error": manifest["error"]} if "error" in manifest else {})})
    if fmt == "json":
        click.echo(json.dumps({"current": current, "versions": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no model versions in {model_dir} (run `alsosee train`)")
        return
    for r in rows:
        mark = "*" if r["current"] else " "
        click.echo(f"{mark} {r['version']}  {r['created_at'] or '?':20}  "
                   f"{r['articles'] if r['articles'] is not None else '?':>9} articles  "
                   f"{r['bytes'] / 2**20:8.1f} MiB" + (f"  BROKEN: {r['error']}"
                                                      if "error" in r else ""))


def _fleet_db(model_dir: Path, state_db: Path | None):  # -> StateDB
    from ..state import fleet  # noqa: F401 - registers the fleet_model table
    from ..state.db import StateDB, default_path

    return StateDB(state_db or default_path(model_dir)).init()


def _activate(model_dir: Path, version: str, state_db: Path | None) -> None:
    from ..model import artifact
    from ..state import fleet

    if version not in artifact.list_versions(model_dir):
        known = ", ".join(artifact.list_versions(model_dir)) or "none"
        raise ArtifactError(f"unknown model version {version!r} in {model_dir} (known: {known}); "
                            "current unchanged")
    # Verify checksums (and signature) before pointing servers at it: a broken version
    # would be refused by them anyway, but better to say so here.
    try:
        artifact.verify(model_dir / version)
    except ArtifactError as exc:
        raise ArtifactError(f"{exc}; current unchanged") from exc
    db = _fleet_db(model_dir, state_db)
    recorded = fleet.wanted(db)
    previous = recorded.version if recorded else artifact.current_version(model_dir)
    # The record first: it is what every server follows; the pointer follows it for tools
    # and servers without the shared state.
    fleet.record(db, version, previous)
    artifact.set_current(model_dir, version)
    click.echo(f"current model: {previous} -> {version} (recorded in {db.path}: servers using "
               f"that state switch within their watch interval; others {RELOAD_HINT})")


@models.command("activate")
@click.argument("version")
@_MODEL_OPTION
@_STATE_OPTION
@_guarded
def activate(version: str, model_dir: Path, state_db: Path | None) -> None:
    """Make VERSION the current model of every server (verified first)."""
    _activate(model_dir, version, state_db)


@models.command("rollback")
@_MODEL_OPTION
@_STATE_OPTION
@_guarded
def rollback(model_dir: Path, state_db: Path | None) -> None:
    """Make the version before the current one current again, on every server."""
    from ..model import artifact
    from ..state import fleet

    versions = artifact.list_versions(model_dir)
    recorded = fleet.wanted(_fleet_db(model_dir, state_db))
    current = recorded.version if recorded else artifact.current_version(model_dir)
    if current not in versions:
        raise ArtifactError(f"no current model version in {model_dir} to roll back from")
    index = versions.index(current)
    if index == 0:
        raise ArtifactError(f"{current} is the oldest version kept in {model_dir}: "
                            "nothing to roll back to")
    _activate(model_dir, versions[index - 1], state_db)


def _store(model_dir: Path, state_db: Path | None):  # -> LiveStore
    from ..state.db import StateDB, default_path
    from ..state.live import LiveStore

    return LiveStore(StateDB(state_db or default_path(model_dir)).init())


@click.command("publish")
@click.argument("file", type=click.Path(path_type=Path))
@_MODEL_OPTION
@_STATE_OPTION
@_guarded
def publish(file: Path, model_dir: Path, state_db: Path | None) -> None:
    """Publish the articles of FILE (any corpus format) as live articles.

    All or nothing: if any row is invalid, nothing is stored and the row is named.
    """
    from ..corpus.load import load_corpus

    articles, report = load_corpus(file)
    for row in report.bad_date_rows:  # refused as over HTTP (training keeps them undated)
        raise CorpusError(f"{row['file']}: line {row['line']}: id {row['id']!r}: published_at "
                          f"{row['value']!r} cannot be parsed as a date (bad_date); "
                          "nothing published")
    for row in report.skipped_rows:
        if row["reason"] != "duplicate":
            raise CorpusError(f"{row['file']}: line {row['line']}: id {row['id']!r}: "
                              f"{row['reason']}; nothing published")
    if len(articles) == 0:
        raise CorpusError(f"{file}: no articles; nothing published")
    from ..state.live import ArticleTooLargeError, check_body_sizes

    try:
        check_body_sizes(articles)  # the limit of every publish path, HTTP included
    except ArticleTooLargeError as exc:
        raise CorpusError(f"{file}: {exc}; nothing published") from None
    ids = _store(model_dir, state_db).publish(articles)
    click.echo(f"published {len(ids)} live article(s) from {file}")


@click.command("unpublish")
@click.argument("article_ids", nargs=-1, required=True)
@_MODEL_OPTION
@_STATE_OPTION
@_guarded
def unpublish(article_ids: tuple[str, ...], model_dir: Path, state_db: Path | None) -> None:
    """Unpublish ARTICLE_IDS (live or corpus articles): never recommended again."""
    changed = _store(model_dir, state_db).unpublish(list(article_ids))
    click.echo(f"unpublished {len(article_ids)} id(s) ({changed} changed)")


COMMANDS = (models, publish, unpublish)
