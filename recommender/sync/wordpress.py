"""Incremental sync of a WordPress site's posts into the live state, over its REST API.

``alsosee sync --wordpress https://site`` (or :func:`sync`) reads
``/wp-json/wp/v2/posts?orderby=modified&order=asc&modified_after=<cursor>`` page by page
(``per_page`` up to 100, following ``X-WP-TotalPages``), publishes new and changed posts
through :class:`recommender.state.live.LiveStore` and unpublishes posts that are no longer
published. What was synced is kept in the state database (tables ``wp_sync``: one cursor per
site; ``wp_posts``: post id -> article id and ``modified_gmt``), so the next run only asks for
what changed since.

Details that matter on real sites:

* WordPress compares ``modified_after`` with the *site-local* modification time, while the
  cursor is GMT; the query therefore starts :data:`CURSOR_OVERLAP` (24 h, more than any time
  zone offset) before the cursor, and posts whose ``modified_gmt`` is the one already synced
  are counted as unchanged, not written again.
* Without credentials the REST API lists published posts only, so a post that was trashed,
  drafted or made private simply disappears: every sync also lists the ids of all published
  posts (``_fields=id``, light) and unpublishes those it had synced that are gone. With an
  application password (``auth=(user, password)``), changed posts of every status are read
  too, and a non-published status unpublishes at once.
* Category (and tag) ids are turned into names with ``/wp-json/wp/v2/categories`` (and
  ``tags``); the first category is the ``section``, all of them the ``tags``.
* A post that fails validation (e.g. an empty title and body) is skipped and reported; it
  does not stop the others. All publishes and unpublishes of a run are applied in batches of
  at most ``BATCH`` articles; the cursor moves only after they are stored, so a failed run
  is simply repeated by the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import AlsoseeError, InvalidParameterError
from ..state.db import StateDB
from ..state.live import LiveStore, parse_articles

logger = logging.getLogger(__name__)

__all__ = ["SyncResult", "WordPressError", "WordPressSite", "post_to_article", "sync"]

PER_PAGE = 100
BATCH = 500
CURSOR_OVERLAP = dt.timedelta(hours=24)
USER_AGENT = "alsosee-wordpress-sync/1"
NOT_PUBLISHED = ("future", "draft", "pending", "private", "trash")

class WordPressError(AlsoseeError):
    """The site cannot be read as a WordPress REST API (unreachable, not WordPress, refused)."""


@dataclass
class SyncResult:
    """What one sync did (``created + updated`` articles published, ``removed`` unpublished)."""

    site: str
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    cursor_before: str | None = None
    cursor_after: str | None = None

    def summary(self) -> str:
        return (f"{self.site}: {self.created} created, {self.updated} updated, "
                f"{self.removed} removed, {self.unchanged} unchanged, "
                f"{len(self.skipped)} skipped ({self.requests} requests; cursor "
                f"{self.cursor_before or '-'} -> {self.cursor_after or '-'})")

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "created": self.created, "updated": self.updated,
                "removed": self.removed, "unchanged": self.unchanged, "skipped": self.skipped,
                "requests": self.requests, "cursor_before": self.cursor_before,
                "cursor_after": self.cursor_after}


def normalise_site(site: str) -> str:
    """``https://Example.org/news/`` -> ``https://example.org/news`` (or a clear error)."""
    parts = urlsplit(site.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameterError("wordpress", f"expected the site's URL like "
                                    f"https://www.example.org, got {site!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class WordPressSite:
    """Reads one site's REST API (``<site>/wp-json/wp/v2/...``).

    Parameters
    ----------
    site : str
        The site's URL (a path prefix such as ``https://example.org/news`` is kept).
    auth : (str, str), optional
        User name and application password: also read unpublished posts.
    per_page : int, default=100
        Page size (WordPress allows at most 100).
    timeout : float, default=30
        Seconds per request.
    """

    def __init__(self, site: str, *, auth: tuple[str, str] | None = None,
                 per_page: int = PER_PAGE, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        if not 1 <= per_page <= 100:
            raise InvalidParameterError("per_page", f"must be 1..100, got {per_page}")
        self.site = normalise_site(site)
        self.auth = auth
        self.per_page = per_page
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.requests = 0

    def get(self, route: str, params: Mapping[str, Any]) -> tuple[Any, requests.Response]:
        url = f"{self.site}/wp-json/wp/v2/{route}"
        self.requests += 1
        try:
            response = self.session.get(url, params=params, auth=self.auth,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise WordPressError(f"{url}: cannot reach the site: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise WordPressError(
                f"{url}: HTTP {response.status_code}, not JSON; is this a WordPress site with "
                "the REST API enabled?") from None
        if response.status_code != 200:
            message = body.get("message") if isinstance(body, dict) else None
            raise WordPressError(f"{url}: HTTP {response.status_code}: {message or body!r}")
        return body, response

    def pages(self, route: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged collection, following ``X-WP-TotalPages``."""
        page = 1
        while True:
            body, response = self.get(route, {**params, "per_page": self.per_page,
                                              "page": page})
            if not isinstance(body, list):
                raise WordPressError(f"{self.site}/wp-json/wp/v2/{route}: expected a JSON "
                                     f"array, got {type(body).__name__}")
            yield from body
            try:
                total_pages = int(response.headers.get("X-WP-TotalPages", "1"))
            except ValueError:
                total_pages = 1
            if page >= total_pages or not body:
                return
            page += 1

    def changed_posts(self, modified_after: str | None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"orderby": "modified", "order": "asc"}
        if modified_after:
            params["modified_after"] = modified_after
        if self.auth:
            params["status"] = ",".join(("publish", *NOT_PUBLISHED))
        return self.pages("posts", params)

    def published_ids(self) -> set[int]:
        return {int(p["id"]) for p in self.pages("posts", {"_fields": "id", "orderby": "id",
                                                           "order": "asc"})}

    def term_names(self, taxonomy: str, ids: set[int]) -> dict[int, str]:
        names: dict[int, str] = {}
        wanted = sorted(ids)
        for start in range(0, len(wanted), 100):
            chunk = wanted[start:start + 100]
            for term in self.pages(taxonomy, {"include": ",".join(map(str, chunk)),
                                              "_fields": "id,name"}):
                names[int(term["id"])] = str(term.get("name", ""))
        return names


def _gmt(value: Any) -> str | None:
    """WordPress's ``2012-05-01T19:05:31`` (GMT, no zone) -> ``...Z``; ``None`` if absent."""
    if not isinstance(value, str) or not value or value.startswith("0000"):
        return None
    return value if value.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", value) else value + "Z"


def _rendered(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("rendered", "")
    return value if isinstance(value, str) else ""


def post_to_article(post: Mapping[str, Any], terms: Mapping[int, str],
                    id_prefix: str = "wp-") -> dict[str, Any]:
    """One REST post -> a live article record (HTML is converted by the corpus rules)."""
    names = [terms[t] for t in [*post.get("categories", []), *post.get("tags", [])]
             if t in terms and terms[t]]
    categories = [terms[t] for t in post.get("categories", []) if t in terms and terms[t]]
    record: dict[str, Any] = {
        "id": f"{id_prefix}{post['id']}",
        "title": _rendered(post.get("title")),
        "body": _rendered(post.get("content")),
        "url": post.get("link") or None,
        "published_at": _gmt(post.get("date_gmt")),
        "section": categories[0] if categories else None,
        "tags": list(dict.fromkeys(names)),
        "status": "published",
    }
    return {key: value for key, value in record.items() if value not in (None, "")}


def _shift(cursor: str, delta: dt.timedelta) -> str:
    when = dt.datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    return (when - delta).strftime("%Y-%m-%dT%H:%M:%S")


def sync(site: str | WordPressSite, db: StateDB, *, id_prefix: str = "wp-",
         full: bool = False, reconcile: bool = True) -> SyncResult:
    """Sync *site*'s posts into the live state of *db* (see the module docstring).

    Parameters
    ----------
    site : str or WordPressSite
        The site's URL, or a configured :class:`WordPressSite` (credentials, page size).
    db : StateDB
        The initialised state database (the service's ``ALSOSEE_STATE_DB``).
    id_prefix : str, default="wp-"
        Article id = prefix + post id; ``"wp-"`` matches what ``alsosee train`` assigns to a
        WXR export of the same site, so a synced post replaces the trained one.
    full : bool, default=False
        Ignore the cursor and read every post again.
    reconcile : bool, default=True
        Also list all published ids and unpublish the synced posts that are gone.
    """
    wp = site if isinstance(site, WordPressSite) else WordPressSite(site)
    db.init(check=False)
    key = wp.site
    with db.read() as conn:
        row = conn.execute("SELECT cursor FROM wp_sync WHERE site = ?", (key,)).fetchone()
        known = {int(r["post_id"]): (r["article_id"], r["modified_gmt"]) for r in conn.execute(
            "SELECT post_id, article_id, modified_gmt FROM wp_posts WHERE site = ?", (key,))}
    cursor = None if full or row is None else row["cursor"]
    result = SyncResult(site=key, cursor_before=cursor)

    changed = list(wp.changed_posts(_shift(cursor, CURSOR_OVERLAP) if cursor else None))
    term_ids = {int(t) for p in changed for t in [*p.get("categories", []), *p.get("tags", [])]}
    terms: dict[int, str] = {}
    if term_ids:
        terms.update(wp.term_names("categories", term_ids))
        missing = term_ids - set(terms)
        if missing and any(p.get("tags") for p in changed):
            terms.update(wp.term_names("tags", missing))

    records: list[dict[str, Any]] = []
    written: dict[int, tuple[str, str]] = {}  # post id -> (article id, modified_gmt)
    unpublish: dict[int, str] = {}
    for post in changed:
        post_id = int(post["id"])
        modified = _gmt(post.get("modified_gmt")) or ""
        previous = known.get(post_id)
        if post.get("status", "publish") != "publish":
            if previous is not None:
                unpublish[post_id] = previous[0]
            continue
        if previous is not None and previous[1] == modified:
            result.unchanged += 1
            continue
        record = post_to_article(post, terms, id_prefix)
        try:
            parse_articles([record])
        except AlsoseeError as exc:
            result.skipped.append({"post_id": post_id, "link": post.get("link"),
                                   "error": str(exc)})
            logger.warning("post %s (%s) skipped: %s", post_id, post.get("link"), exc)
            continue
        records.append(record)
        written[post_id] = (record["id"], modified)
        if previous is None:
            result.created += 1
        else:
            result.updated += 1

    if reconcile and known:
        live = wp.published_ids()
        for post_id, (article_id, _) in known.items():
            if post_id not in live and post_id not in written:
                unpublish.setdefault(post_id, article_id)
    result.removed = len(unpublish)

    store = LiveStore(db)
    for start in range(0, max(len(records), len(unpublish), 1), BATCH):
        chunk = records[start:start + BATCH]
        gone = list(unpublish.values())[start:start + BATCH]
        if chunk or gone:
            store.apply(parse_articles(chunk, batch=True) if chunk else None, gone)

    modified_seen = [m for _, m in written.values()] + [
        _gmt(p.get("modified_gmt")) or "" for p in changed]
    new_cursor = max([c for c in [cursor, *modified_seen] if c], default=None)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with db.write() as conn:
        conn.executemany(
            "INSERT INTO wp_posts (site, post_id, article_id, modified_gmt) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (site, post_id) DO UPDATE SET article_id = excluded.article_id, "
            "modified_gmt = excluded.modified_gmt",
            [(key, pid, aid, mod) for pid, (aid, mod) in written.items()])
        conn.executemany("DELETE FROM wp_posts WHERE site = ? AND post_id = ?",
                         [(key, pid) for pid in unpublish])
        conn.execute(
            "INSERT INTO wp_sync (site, cursor, synced_at) VALUES (?, ?, ?) "
            "ON CONFLICT (site) DO UPDATE SET cursor = excluded.cursor, "
            "synced_at = excluded.synced_at", (key, new_cursor, now))
    result.cursor_after = new_cursor
    result.requests = wp.requests
    logger.info("%s", result.summary())
    return result
