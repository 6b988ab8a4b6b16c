"""``alsosee sync --wordpress https://site``: pull a WordPress site's changed posts into the
live state (see :mod:`recommender.sync.wordpress`). Cron-able: each run only reads what changed
since the last one; exit code 0 ok, 1 on any error (one line on stderr)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..state.db import StateDB, default_path
from .common import DEFAULT_MODEL_DIR, fail, state_db_option


@click.command()
@click.option("--wordpress", "site", required=True, metavar="URL",
              help="The WordPress site's URL (its REST API is at URL/wp-json/).")
@click.option("--model", "model_dir", default=DEFAULT_MODEL_DIR,
              show_default=True, type=click.Path(path_type=Path),
              help="Models root; the state database defaults to MODEL/state.db.")
@state_db_option()
@click.option("--id-prefix", default="wp-", show_default=True,
              help="Article id = prefix + post id (matches `alsosee train` on a WXR export).")
@click.option("--user", envvar="ALSOSEE_WP_USER", default=None,
              help="WordPress user with an application password: also sees unpublished "
                   "posts [env ALSOSEE_WP_USER].")
@click.option("--app-password", envvar="ALSOSEE_WP_APP_PASSWORD", default=None,
              help="Its application password [env ALSOSEE_WP_APP_PASSWORD].")
@click.option("--full", is_flag=True, help="Ignore the cursor: read every post again.")
@click.option("--no-reconcile", is_flag=True,
              help="Do not list published ids to find removed posts.")
@click.option("--per-page", type=click.IntRange(1, 100), default=100, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds per request.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def sync(site: str, model_dir: Path, state_db: Path | None, id_prefix: str, user: str | None,
         app_password: str | None, full: bool, no_reconcile: bool, per_page: int,
         timeout: float, fmt: str) -> None:
    """Publish new and changed posts of a WordPress site, unpublish removed ones."""
    from ..errors import AlsoseeError
    from ..sync.wordpress import WordPressSite
    from ..sync.wordpress import sync as run_sync

    if bool(user) != bool(app_password):
        raise click.UsageError("give both --user and --app-password, or neither")
    try:
        path = state_db or default_path(model_dir)
        db = StateDB(path).init()
        wp = WordPressSite(site, auth=(user, app_password) if user and app_password else None,
                           per_page=per_page, timeout=timeout)
        result = run_sync(wp, db, id_prefix=id_prefix, full=full, reconcile=not no_reconcile)
    except (AlsoseeError, OSError) as exc:
        fail(str(exc))
        return
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(result.summary())
        for skipped in result.skipped:
            click.echo(f"  skipped post {skipped['post_id']} ({skipped['link']}): "
                       f"{skipped['error']}", err=True)
