"""A local WordPress REST API that replays real posts built from a WXR export.

:func:`posts_from_wxr` turns ``data/globalvoices-2012-05.wxr.xml`` into the JSON objects
``GET /wp-json/wp/v2/posts`` returns (``id``, ``date``, ``date_gmt``, ``modified``,
``modified_gmt``, ``slug``, ``status``, ``type``, ``link``, ``title.rendered``,
``content.rendered``, ``excerpt.rendered``, ``author``, ``categories``, ``tags``), and the
categories as ``/wp-json/wp/v2/categories`` objects. :class:`WordPressReplay` serves them with
WordPress's paging (``page``, ``per_page`` <= 100, ``X-WP-Total``, ``X-WP-TotalPages``,
``rest_post_invalid_page_number`` past the last page), ``orderby=modified``/``date``/``id``,
``order``, ``modified_after``, ``_fields``, ``include`` and ``status`` (anything but
``publish`` needs credentials, as on a real site). Tests mutate :attr:`posts` (edit, add,
trash) between syncs; :attr:`requests` records every query.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import html
import http.server
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _iso(wxr_date: str) -> str:
    """``2012-05-01 19:05:31`` -> ``2012-05-01T19:05:31`` (WordPress's REST format)."""
    return wxr_date.strip().replace(" ", "T")


def posts_from_wxr(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(posts, categories) in the shapes of WordPress's REST API."""
    categories: dict[str, dict[str, Any]] = {}
    posts = []
    for item in etree.parse(str(path)).iter("item"):
        fields: dict[str, str] = {}
        terms = []
        for child in item:
            name = _local(child.tag)
            if name == "category" and child.get("domain") == "category":
                slug = child.get("nicename") or ""
                if slug not in categories:
                    categories[slug] = {
                        "id": 100 + len(categories), "name": html.unescape(child.text or ""),
                        "slug": slug, "taxonomy": "category",
                    }
                terms.append(categories[slug]["id"])
            elif name == "encoded":
                ns = etree.QName(child.tag).namespace or ""
                fields.setdefault("excerpt" if "excerpt" in ns else "content", child.text or "")
            else:
                fields.setdefault(name, child.text or "")
        post_id = int(fields["post_id"])
        date_gmt = _iso(fields["post_date_gmt"])
        content = fields.get("content", "")
        posts.append({
            "id": post_id,
            "date": _iso(fields.get("post_date") or fields["post_date_gmt"]),
            "date_gmt": date_gmt,
            "guid": {"rendered": fields.get("guid", "")},
            "modified": date_gmt,
            "modified_gmt": date_gmt,
            "slug": fields.get("post_name", ""),
            "status": fields.get("status") or "publish",
            "type": "post",
            "link": fields.get("link", ""),
            "title": {"rendered": html.escape(fields.get("title", ""), quote=False)},
            # WordPress renders paragraphs (wpautop); the export holds the raw post content.
            "content": {"rendered": "".join(f"<p>{p}</p>\n" for p in content.split("\n\n")
                                            if p.strip()), "protected": False},
            "excerpt": {"rendered": f"<p>{fields.get('excerpt', '')}</p>\n", "protected": False},
            "author": 1,
            "categories": terms,
            "tags": [],
        })
    return posts, list(categories.values())


def now_gmt() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat()


class WordPressReplay:
    """The replay server; ``with WordPressReplay(posts, categories) as wp: wp.base``."""

    def __init__(self, posts: list[dict[str, Any]], categories: list[dict[str, Any]],
                 credentials: tuple[str, str] | None = None) -> None:
        self.posts = {p["id"]: copy.deepcopy(p) for p in posts}
        self.categories = {c["id"]: c for c in categories}
        self.credentials = credentials
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                replay._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> WordPressReplay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ edits
    def edit(self, post_id: int, **changes: Any) -> None:
        """Change a post as an editor would; bumps ``modified_gmt`` to now."""
        with self.lock:
            post = self.posts[post_id]
            for key, value in changes.items():
                post[key] = {"rendered": value} if key in ("title", "content") else value
            post["modified"] = post["modified_gmt"] = now_gmt()

    def add(self, post: dict[str, Any]) -> None:
        with self.lock:
            self.posts[post["id"]] = post

    # ------------------------------------------------------------------ serving
    def _send(self, handler: Any, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler: Any, status: int, code: str, message: str) -> None:
        self._send(handler, status, {"code": code, "message": message,
                                     "data": {"status": status}})

    def _authorised(self, handler: Any) -> bool:
        if self.credentials is None:
            return False
        header = handler.headers.get("Authorization", "")
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return header == f"Basic {expected}"

    def _handle(self, handler: Any) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        with self.lock:
            self.requests.append((url.path, query))
            posts = [dict(p) for p in self.posts.values()]
            categories = list(self.categories.values())
        one = {key: values[-1] for key, values in query.items()}
        try:
            page = int(one.get("page", "1"))
            per_page = int(one.get("per_page", "10"))
        except ValueError:
            return self._error(handler, 400, "rest_invalid_param", "Invalid parameter(s): page")
        if not 1 <= per_page <= 100 or page < 1:
            return self._error(handler, 400, "rest_invalid_param",
                               "Invalid parameter(s): per_page")
        if url.path.rstrip("/") == "/wp-json/wp/v2/posts":
            items = self._filter_posts(handler, posts, one)
            if items is None:
                return None
        elif url.path.rstrip("/") == "/wp-json/wp/v2/categories":
            items = categories
            if "include" in one:
                wanted = {int(i) for i in one["include"].split(",") if i}
                items = [c for c in items if c["id"] in wanted]
        else:
            return self._error(handler, 404, "rest_no_route",
                               "No route was found matching the URL and request method.")
        total = len(items)
        pages = max(1, -(-total // per_page)) if total else 0
        if page > max(pages, 1):
            return self._error(handler, 400, "rest_post_invalid_page_number",
                               "The page number requested is larger than the number of pages "
                               "available.")
        chunk = items[(page - 1) * per_page: page * per_page]
        if "_fields" in one:
            keep = one["_fields"].split(",")
            chunk = [{k: item[k] for k in keep if k in item} for item in chunk]
        self._send(handler, 200, chunk, {"X-WP-Total": str(total),
                                         "X-WP-TotalPages": str(pages)})
        return None

    def _filter_posts(self, handler: Any, posts: list[dict[str, Any]],
                      one: dict[str, str]) -> list[dict[str, Any]] | None:
        statuses = set(one.get("status", "publish").split(","))
        if statuses != {"publish"} and not self._authorised(handler):
            self._error(handler, 400 if self.credentials is None else 401,
                        "rest_invalid_param", "Invalid parameter(s): status")
            return None
        if "any" in statuses:
            statuses = {"publish", "future", "draft", "pending", "private"}
        items = [p for p in posts if p["status"] in statuses]
        if "modified_after" in one:
            after = one["modified_after"].replace("Z", "").split("+")[0]
            items = [p for p in items if p["modified_gmt"] > after]
        orderby = one.get("orderby", "date")
        key = {"modified": "modified_gmt", "date": "date_gmt", "id": "id"}.get(orderby)
        if key is None:
            self._error(handler, 400, "rest_invalid_param", "Invalid parameter(s): orderby")
            return None
        items.sort(key=lambda p: (p[key], p["id"]), reverse=one.get("order", "desc") == "desc")
        return items
