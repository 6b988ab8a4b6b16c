"""The embeddable "ALSO SEE:" HTML fragment.

Every value is HTML-escaped by Jinja's autoescape; links are only emitted for ``http(s)://``
URLs and paths that stay on the page's origin (:mod:`recommender.urls`; a ``javascript:`` or
``/\\evil.example`` URL renders the title as plain text).
An article with no related stories yields an empty (200) fragment, so a page embedding it
shows nothing rather than a lone heading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from flask import Blueprint, Response, request
from markupsafe import escape

from recommender.urls import is_safe_link
from service import openapi, ranking_params, validation
from service.api import ranked_for_article, related_for_article
from service.auth import key_for_some_options
from service.http_caching import cacheable

bp = Blueprint("pages", __name__, url_prefix="/v1")
# Every operation here needs the loaded model: 503 without one.
openapi.common_responses(bp, {"503": "Unavailable"})

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)  # fmt: skip
def _safe_href(url: Any) -> str | None:
    if is_safe_link(url):
        return url
    return None


def _date(published_at: Any) -> tuple[str | None, str | None]:
    if not isinstance(published_at, str) or not published_at:
        return None, None
    try:
        when = datetime.fromisoformat(published_at)
    except ValueError:
        return None, None
    return published_at, f"{when.day} {_MONTHS[when.month - 1]} {when.year}"


def heading_id(article_id: str | None) -> str:
    """A stable, HTML-safe id for the heading (unique per source article on a page)."""
    digest = hashlib.sha256((article_id or "").encode("utf-8", "surrogatepass")).hexdigest()
    return f"alsosee-heading-{digest[:12]}"


def render_fragment(items: Iterable[Mapping[str, Any]], article_id: str | None = None) -> str:
    """Render recommendations (``Recommendation.to_dict()`` dicts) as the ALSO SEE aside."""
    rows = []
    for item in items:
        datetime_attr, date_label = _date(item.get("published_at"))
        rows.append(
            {
                "title": str(item.get("title") or item.get("id") or ""),
                "href": _safe_href(item.get("url")),
                "datetime": datetime_attr,
                "date_label": date_label,
            }
        )
    if not rows:
        return ""
    template = _env.get_template("related.html")
    return template.render(items=rows, heading_id=heading_id(article_id))


def render_slots(slots: Iterable[Mapping[str, Any]], article_id: str | None = None) -> str:
    """One ALSO SEE aside per slot of an answer with placements, each in a
    ``<div class="alsosee-slot" data-alsosee-slot="inline" data-after-paragraph="3">`` for the
    page's template to place (the widget's slot containers have the same attributes); a slot
    without links is left out."""
    parts = []
    for slot in slots:
        name = str(slot.get("slot"))
        after = slot.get("after_paragraph")
        key = f"{article_id or ''}#{name}:{after or ''}"
        inner = render_fragment(slot.get("related") or [], key)
        if not inner:
            continue
        where = f' data-after-paragraph="{int(after)}"' if after is not None else ""
        parts.append(f'<div class="alsosee-slot" data-alsosee-slot="{escape(name)}"'
                     f'{where}>\n{inner}</div>\n')
    return "".join(parts)


@bp.get("/articles/<path:article_id>/related.html")
@cacheable
@key_for_some_options
def related_html(article_id: str):
    """The "ALSO SEE:" HTML fragment of an article (empty when it has no related stories).

    ---
    summary: Related stories as an HTML fragment
    description: >-
      An `<aside class="alsosee">` with a heading and a list of links; every value is
      HTML-escaped. With `placements`, one such aside per slot, each in a
      `<div class="alsosee-slot" data-alsosee-slot="inline|end">` (inline ones with
      `data-after-paragraph`) for the page to place. The markup and its `alsosee__*`
      classes are stable (see docs/http-api.md).
      Empty (but 200) when the article has no related stories.
    tags: [embed]
    parameters:
      - $ref: "#/components/parameters/K"
      - $ref: "#/x-parameter-groups/Ranking"
    responses:
      "200":
        description: The fragment.
        content:
          text/html:
            schema:
              type: string
      "410":
        $ref: "#/components/responses/Gone"
    """
    article_id = validation.article_id(article_id)
    k = validation.k_from_query(request)
    options = ranking_params.from_query(request)
    if options.get("placements"):
        _, _, _, slots = ranked_for_article(article_id, k, options)
        return Response(render_slots(slots or [], article_id), mimetype="text/html")
    _, items = related_for_article(article_id, k, options)
    return Response(render_fragment(items, article_id), mimetype="text/html")
