"""CLI for the newsroom ranking: ranking flags of ``alsosee related`` and the editorial
commands ``alsosee takedown``, ``alsosee pin`` and ``alsosee block``.

The state database is ``--state-db``, else ``ALSOSEE_STATE_DB``, else ``state.db`` in the
models root, the same file the HTTP service uses, so a takedown made here is honoured by a
running server on its next request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..ranking.spec import BOOLEAN, GROUPED
from .common import DEFAULT_MODEL_DIR, P, R, cli_message, state_db_option

if TYPE_CHECKING:  # imported where used: the command line starts without them
    from ..engine.recommender import Recommender
    from ..model.artifact import LoadedModel
    from ..state.editorial import Editorial
    from ..state.known import CheckedEditorial
    from ..state.live import LiveSnapshot

# option name -> (flag, multiple, is_flag, help), from the declaration of the options
_FLAGS: dict[str, tuple[str, bool, bool, str]] = {
    spec.name: (spec.cli_flag, spec.repeatable, spec.type == BOOLEAN, spec.cli_text)
    for spec in GROUPED
}


def ranking_flags(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add one CLI flag per ranking option (values are validated by RankingOptions)."""
    for name, (flag, multiple, is_flag, help_text) in reversed(list(_FLAGS.items())):
        if is_flag:
            fn = click.option(flag, name, is_flag=True, default=None, help=help_text)(fn)
        else:
            fn = click.option(flag, name, multiple=multiple, default=None, help=help_text,
                              metavar="VALUE")(fn)
    return fn


def options_from_flags(values: dict[str, Any]) -> dict[str, Any]:
    """The ranking options given on the command line (unset flags are left out)."""
    out = {}
    for name in _FLAGS:
        value = values.pop(name, None)
        if value is None or value == () or value is False:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def state_path(model_dir: str | Path, state_db: str | Path | None = None) -> Path | str:
    """``--state-db``, else ``ALSOSEE_STATE_DB``, else ``state.db`` in the models root (a
    ``postgresql://`` URL is returned as text)."""
    from ..state.schema import is_postgres_url

    chosen = state_db or os.environ.get("ALSOSEE_STATE_DB")
    if chosen:
        return str(chosen) if is_postgres_url(chosen) else Path(chosen)
    root = Path(model_dir)
    if (root / "manifest.json").exists() and not (root / "current").exists():
        root = root.parent  # a version directory: the state lives next to the versions
    return root / "state.db"


def open_engine(model_dir: str | Path, state_db: str | Path | None = None
                ) -> tuple[Recommender, LoadedModel, LiveSnapshot]:
    """A Recommender over the model and the state database, the loaded model, and the live
    articles published since it was trained (a ``LiveSnapshot``)."""
    from ..engine.recommender import Recommender
    from ..model import artifact
    from ..state.db import StateDB
    from ..state.live import LiveIndex, LiveStore

    loaded = artifact.load(model_dir)
    db = StateDB(state_path(model_dir, state_db)).init()
    live = LiveIndex(LiveStore(db), loaded.model, loaded.version).snapshot()
    return Recommender(loaded.model, db), loaded, live


def _editorial(model_dir: Path, state_db: Path | None) -> Editorial:
    """The editorial state, unchecked (lists, undo, --force)."""
    from ..state.db import StateDB
    from ..state.editorial import Editorial

    return Editorial(StateDB(state_path(model_dir, state_db)).init())


def _checked(model_dir: Path, state_db: Path | None, urls: bool = False
             ) -> CheckedEditorial:
    """The editorial state, its changes checked as the engine checks them (ids and, with
    ``urls``, canonical URLs of the model and the live articles), from the model's verified
    id and URL tables: nothing is unpickled, so no scikit-learn is imported."""
    from ..state.db import StateDB
    from ..state.editorial import Editorial
    from ..state.known import CheckedEditorial, open_known

    db = StateDB(state_path(model_dir, state_db)).init()
    return CheckedEditorial(Editorial(db), open_known(model_dir, db, urls=urls))


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True)(fn)
    fn = click.option("--by", default=None,
                      help="Who makes the change (default: $ALSOSEE_USER or $USER).")(fn)
    fn = state_db_option()(fn)
    fn = click.option("--model", "model_dir", default=DEFAULT_MODEL_DIR, show_default=True,
                      type=click.Path(path_type=Path),
                      help="Models root (ids are checked against it).")(fn)
    return fn


def _echo(fmt: str, payload: Any, text: Sequence[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for line in text:
            click.echo(line)


def _guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Library errors -> one line on stderr and exit code 1 (as in :mod:`recommender.cli`)."""
    import functools
    import sys

    from ..errors import AlsoseeError

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (AlsoseeError, OSError, ValueError, KeyError) as exc:
            click.echo(f"alsosee: error: {cli_message(exc)}", err=True)
            sys.exit(1)

    return wrapper


# ------------------------------------------------------------------- takedown
@click.command()
@click.argument("article_id", required=False)
@click.option("--reason", default=None, help="Why (required to take down).")
@click.option("--list", "list_", is_flag=True, help="List the takedowns.")
@click.option("--undo", is_flag=True, help="Restore ARTICLE_ID (reverse a takedown).")
@click.option("--force", is_flag=True, help="Allow an id or URL the model does not know.")
@_common
@_guard
def takedown(article_id: str | None, reason: str | None, list_: bool, undo: bool,
             force: bool, model_dir: Path, state_db: Path | None, by: str | None,
             fmt: str) -> None:
    """Never recommend ARTICLE_ID (an id or URL) again; --list; --undo to restore."""
    if list_:
        items = _editorial(model_dir, state_db).takedowns()
        _echo(fmt, [t.to_dict() for t in items],
              [f"{t.key}\t{t.created_at}\t{t.created_by}\t{t.reason}" for t in items]
              or ["(no takedowns)"])
        return
    if not article_id:
        raise click.UsageError("give an ARTICLE_ID (or --list)")
    if undo:
        done = _editorial(model_dir, state_db).undo_takedown(article_id, by=by)
        if not done:
            raise click.ClickException(f"{article_id!r} is not taken down")
        _echo(fmt, {"restored": article_id}, [f"restored {article_id}"])
        return
    if not reason:
        raise click.UsageError("a takedown needs --reason")
    from ..errors import ArtifactError
    from ..state.editorial import key_kind, unmatched_takedown

    root = Path(model_dir)
    has_model = (root / "current").exists() or (root / "manifest.json").exists()
    try:
        if force and not has_model:
            raise ArtifactError(f"no model in {model_dir} (run `alsosee train`)")
        checked = _checked(model_dir, state_db, urls=key_kind(article_id) == "url")
    except ArtifactError as exc:
        if not force:
            raise
        # No model to check against (yet): stored all the same, and said so.
        item = _editorial(model_dir, state_db).takedown(article_id, reason, by=by)
        warning = f"not checked against a model: {exc}"
        _echo(fmt, {**item.to_dict(), "matches": None, "warning": warning},
              [f"taken down {item.key} ({item.reason})", f"warning: {warning}"])
        return
    item = checked.takedown(article_id, reason, by=by, force=force)
    matches = checked.takedown_matches(item.key)
    payload: dict[str, Any] = {**item.to_dict(), "matches": matches}
    lines = [f"taken down {item.key} ({item.reason}): hides {matches} article(s)"]
    if not matches:
        payload["warning"] = unmatched_takedown(item.key)
        lines.append(f"warning: {payload['warning']}")
    _echo(fmt, payload, lines)


# ------------------------------------------------------------------------ pin
@click.command()
@click.argument("article_id", required=False)
@click.argument("others", nargs=-1)
@click.option("--expires", default=None, help="ISO 8601 date-time the pins end.")
@click.option("--list", "list_", is_flag=True, help="List pins (of ARTICLE_ID, or all).")
@click.option("--undo", is_flag=True, help="Remove the pins of ARTICLE_ID.")
@_common
@_guard
def pin(article_id: str | None, others: tuple[str, ...], expires: str | None, list_: bool,
        undo: bool, model_dir: Path, state_db: Path | None, by: str | None, fmt: str) -> None:
    """Show OTHER ids first (in order) in the related list of ARTICLE_ID."""
    if list_:
        from ..state.db import StateDB
        from ..state.editorial import Editorial

        items = Editorial(StateDB(state_path(model_dir, state_db)).init()).pins(article_id)
        _echo(fmt, [p.to_dict() for p in items],
              [f"{p.article_id}\t{' '.join(p.ids)}\texpires={p.expires_at or 'never'}"
               f"{'' if p.active() else ' (expired)'}" for p in items] or ["(no pins)"])
        return
    if not article_id:
        raise click.UsageError("give an ARTICLE_ID (or --list)")
    if undo:
        if not _editorial(model_dir, state_db).unpin(article_id, by=by):
            raise click.ClickException(f"{article_id!r} has no pins")
        _echo(fmt, {"unpinned": article_id}, [f"unpinned {article_id}"])
        return
    if not others:
        raise click.UsageError("give the ids to pin after ARTICLE_ID")
    item = _checked(model_dir, state_db).pin(article_id, list(others), expires_at=expires,
                                             by=by)
    _echo(fmt, item.to_dict(), [f"pinned {' '.join(item.ids)} on {article_id}"
                                + (f" until {item.expires_at}" if item.expires_at else "")])


# ---------------------------------------------------------------------- block
@click.command()
@click.argument("article_id", required=False)
@click.argument("others", nargs=-1)
@click.option("--list", "list_", is_flag=True, help="List blocks (of ARTICLE_ID, or all).")
@click.option("--undo", is_flag=True, help="Lift blocks of ARTICLE_ID (the OTHER ids, or all).")
@_common
@_guard
def block(article_id: str | None, others: tuple[str, ...], list_: bool, undo: bool,
          model_dir: Path, state_db: Path | None, by: str | None, fmt: str) -> None:
    """Never show OTHER ids in the related list of ARTICLE_ID (adds to existing blocks)."""
    if list_:
        from ..state.db import StateDB
        from ..state.editorial import Editorial

        items = Editorial(StateDB(state_path(model_dir, state_db)).init()).blocks(article_id)
        _echo(fmt, items, [f"{aid}\t{' '.join(ids)}" for aid, ids in items.items()]
              or ["(no blocks)"])
        return
    if not article_id:
        raise click.UsageError("give an ARTICLE_ID (or --list)")
    if undo:
        removed = _editorial(model_dir, state_db).unblock(article_id, others, by=by)
        if not removed:
            raise click.ClickException(f"{article_id!r} has no such blocks")
        _echo(fmt, {"unblocked": removed}, [f"lifted {removed} block(s) on {article_id}"])
        return
    if not others:
        raise click.UsageError("give the ids to block after ARTICLE_ID")
    ids = _checked(model_dir, state_db).block(article_id, list(others), by=by)
    _echo(fmt, {"article_id": article_id, "ids": ids},
          [f"blocked on {article_id}: {' '.join(ids)}"])


COMMANDS = (takedown, pin, block)
