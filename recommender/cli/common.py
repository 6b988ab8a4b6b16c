"""What every command module shares: the default models root, the one-line error exit and
the ``--column SOURCE=TARGET`` parser. The command modules import this, never ``cli``
(which imports them to build the ``alsosee`` group)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from ..errors import AlsoseeError
from ..model.artifact import DEFAULT_MODEL_DIR as BUILTIN_MODEL_DIR
from ..model.artifact import ENV_MODEL_DIR
from ..state.schema import is_postgres_url

__all__ = ["BUILTIN_MODEL_DIR", "DEFAULT_MODEL_DIR", "ENV_MODEL_DIR", "cli_message",
           "default_model_dir", "fail", "guarded", "parse_columns", "STATE_DB",
           "state_db_option"]

DEFAULT_MODEL_DIR = os.environ.get(ENV_MODEL_DIR, BUILTIN_MODEL_DIR)


class StateTarget(click.ParamType):
    """``--state-db``: a SQLite file (a path) or a ``postgresql://`` URL (kept as text: a
    path would fold its ``//``)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        if isinstance(value, str) and is_postgres_url(value):
            return value
        return Path(value)


STATE_DB = StateTarget()

STATE_DB_HELP = ("State database: a SQLite file or a postgresql:// URL (default: "
                 "$ALSOSEE_STATE_DB, else <models root>/state.db).")


def state_db_option(help: str = STATE_DB_HELP) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The ``--state-db`` option every command that reads or writes the live state takes."""
    return click.option("--state-db", type=STATE_DB, default=None, help=help)


def cli_message(exc: BaseException) -> str:
    """An error as a command-line user reads it: a parameter is named by the running
    command's flag (``--half-life``, not the library's ``half_life``)."""
    from ..errors import InvalidParameterError

    if isinstance(exc, InvalidParameterError):
        ctx = click.get_current_context(silent=True)
        for param in ctx.command.params if ctx is not None else ():
            if isinstance(param, click.Option) and param.name == exc.field:
                return f"{max(param.opts, key=len)}: {exc.message}"
    if isinstance(exc, AlsoseeError) and not isinstance(exc, KeyError):
        return exc.cli_message
    return str(exc)


def default_model_dir() -> str:
    """``ALSOSEE_MODEL_DIR``, else ``models`` (read when a command runs)."""
    return os.environ.get(ENV_MODEL_DIR, BUILTIN_MODEL_DIR)


def fail(message: str) -> NoReturn:
    """Print ``alsosee: error: MESSAGE`` on stderr and exit with code 1."""
    click.echo(f"alsosee: error: {message}", err=True)
    sys.exit(1)


P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into a one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (AlsoseeError, KeyError, OSError, ValueError) as exc:
            # (UnknownArticleError is a KeyError with a clear str())
            fail(cli_message(exc))

    return wrapper


def parse_columns(values: Sequence[str]) -> dict[str, str]:
    """``--column SOURCE=TARGET`` flags as a ``{source: target}`` mapping."""
    mapping = {}
    for item in values:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise click.BadParameter(f"expected SOURCE=TARGET, got {item!r}", param_hint="--column")
        mapping[src] = dst
    return mapping
