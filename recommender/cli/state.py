"""``alsosee state``: the state database's schema (``migrate``) and where it stands
(``status``), for the SQLite file and for a shared PostgreSQL database alike."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import DEFAULT_MODEL_DIR, fail, state_db_option


def _target(model_dir: str, state_db: Path | str | None) -> Path | str:
    from ..state.db import default_path

    return state_db or default_path(model_dir)


@click.group("state")
def state() -> None:
    """The live-state database: schema migrations and status."""


@state.command("migrate")
@click.option("--model", "model_dir", default=DEFAULT_MODEL_DIR, show_default=True,
              help="Models root (the SQLite file's default place).")
@state_db_option()
def migrate(model_dir: str, state_db: Path | str | None) -> None:
    """Apply the missing schema migrations (creating the tables of a new database).

    Run it once per upgrade, before starting the servers of the new version: they refuse a
    database at another schema version.
    """
    from ..errors import StateError
    from ..state.db import StateDB

    target = _target(model_dir, state_db)
    try:
        db = StateDB(target)
        before, after = db.migrate()
    except StateError as exc:
        fail(str(exc))
    where = getattr(db, "path", target)
    if before == after:
        click.echo(f"state database {where}: schema version {after}, up to date")
    else:
        click.echo(f"state database {where}: schema version {before} -> {after}")


@state.command("status")
@click.option("--model", "model_dir", default=DEFAULT_MODEL_DIR, show_default=True,
              help="Models root (the SQLite file's default place).")
@state_db_option()
def status(model_dir: str, state_db: Path | str | None) -> None:
    """The store, its schema version (and the one this alsosee expects) and state version."""
    from ..errors import StateError
    from ..state.db import StateDB
    from ..state.schema import SCHEMA_VERSION

    target = _target(model_dir, state_db)
    if isinstance(target, Path) and not target.is_file():
        fail(f"state database {target}: no such file")
    try:
        db = StateDB(target)
        found = db.schema_version()
        version = db.init(check=False).version() if found == SCHEMA_VERSION else None
    except StateError as exc:
        fail(str(exc))
    click.echo(json.dumps({"store": db.dialect, "database": str(db.path),
                           "schema_version": found, "expected_schema_version": SCHEMA_VERSION,
                           "state_version": version}, indent=2))
