"""Embedding on other sites: the ``/widget.js`` script and the ``/oembed`` endpoint.

The widget (``service/static/widget.js``) calls ``/v1/articles/<id>/related`` from the
reader's browser (CORS: ``service/cors.py``). oEmbed (https://oembed.com, type ``rich``) lets
a CMS embed a story's related list by the story's URL; its ``html`` is the same fragment as
``/v1/articles/<id>/related.html``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_file

from recommender.urls import canonical_url, url_matches
from service import validation
from service.api import related_for_article
from service.errors import Problem, invalid_parameter
from service.pages import render_fragment
from service.state import get_state

bp = Blueprint("embed", __name__)

STATIC = Path(__file__).with_name("static")
WIDGET_MAX_AGE = 3600
OEMBED_DEFAULT_WIDTH = 600
MAX_URL_LENGTH = 2048
_URL_RE = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_DIMENSION_RE = re.compile(r"[0-9]{1,5}", re.ASCII)
_URL_INDEX_KEY = "alsosee.url_index"


@bp.get("/widget.js")
def widget_js():
    """The embeddable "ALSO SEE:" widget script.

    ---
    summary: Embeddable widget script
    description: |
      A dependency-free script. A page includes
      `<div data-alsosee-article="ID" data-k="5"></div>` and
      `<script src="/widget.js" defer></script>` and gets an accessible "ALSO SEE:" list
      (same markup and `alsosee__*` classes as the HTML fragment). Titles are inserted as
      text. Nothing is shown (and one console warning logged) when the article has no related
      stories or the service is down.
    tags: [embed]
    responses:
      "200":
        description: The script.
        content:
          text/javascript:
            schema:
              type: string
    """
    response = send_file(
        STATIC / "widget.js", mimetype="text/javascript", max_age=WIDGET_MAX_AGE,
        conditional=True, etag=True,
    )
    response.headers["Cache-Control"] = f"public, max-age={WIDGET_MAX_AGE}"
    # A script is not a CORS resource, but some pages load it with crossorigin=anonymous.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _url_index(owner: object, pairs: Iterable[tuple[str, str | None]], key: str
               ) -> dict[str, str]:
    """Canonical URL -> article id, built once per *owner* (a loaded model, or the rows of
    a live snapshot) from ``(id, canonical URL)`` pairs."""
    cached = current_app.extensions.get(key)
    if cached is not None and (cached[0] is owner or (
            hasattr(owner, "same_rows") and owner.same_rows(cached[0]))):
        return cached[1]
    index: dict[str, str] = {}
    for article_id, url_key in pairs:
        if url_key:
            index.setdefault(url_key, article_id)
    current_app.extensions[key] = (owner, index)
    return index


def find_article_by_url(url: str) -> str:
    """The id of the article published at *url* (live articles first), or a 404 problem."""
    view = get_state().view()
    live = view.live
    indexes = []
    if live is not None and live.n_live:
        indexes.append(_url_index(live, zip(live.ids, live.url_keys, strict=True),
                                  _URL_INDEX_KEY + ".live"))
    model = view.model
    indexes.append(_url_index(view.loaded, ((i, canonical_url(u)) for i, u in
                                            zip(model.ids_, model.meta_["url"], strict=True)),
                              _URL_INDEX_KEY))
    for index in indexes:
        article_id = url_matches(index, url)
        if article_id is not None and not (live is not None
                                           and live.is_unpublished(article_id)):
            return article_id
    raise Problem(404, f"no article has the URL {url!r}", slug="unknown-article",
                  title="Unknown article", field="url")


def _dimension(name: str) -> int | None:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1 or not _DIMENSION_RE.fullmatch(values[0]) or int(values[0]) < 1:
        raise invalid_parameter(name, f"{name} must be a positive integer (pixels), given once")
    return int(values[0])


@bp.get("/oembed")
def oembed():
    """oEmbed (type `rich`) for an article's related-stories list, by the article's URL.

    ---
    summary: oEmbed for a story's related list
    description: |
      oEmbed 1.0 provider endpoint. `html` is the "ALSO SEE:" fragment of the article
      published at `url` (the same markup as `related.html`; empty when it has no related
      stories). Only `format=json` is implemented; `format=xml` answers 501 as the oEmbed
      specification requires.
    tags: [embed]
    parameters:
      - name: url
        in: query
        required: true
        description: The article's URL, as in the corpus (a trailing slash is ignored).
        schema:
          type: string
          format: uri
          pattern: '^[hH][tT][tT][pP][sS]?://[^\\s\\x00-\\x1f\\x7f]+'
          maxLength: 2048
        example: https://globalvoices.org/2012/05/01/example/
      - name: format
        in: query
        required: false
        schema:
          type: string
          enum: [json, xml]
          default: json
      - name: maxwidth
        in: query
        required: false
        schema:
          type: integer
          minimum: 1
          maximum: 99999
      - name: maxheight
        in: query
        required: false
        schema:
          type: integer
          minimum: 1
          maximum: 99999
      - $ref: "#/components/parameters/K"
    responses:
      "200":
        description: The oEmbed response.
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/OEmbed"
      "400":
        $ref: "#/components/responses/BadRequest"
      "404":
        $ref: "#/components/responses/NotFound"
      "410":
        $ref: "#/components/responses/Gone"
      "501":
        $ref: "#/components/responses/NotImplemented"
      "503":
        $ref: "#/components/responses/Unavailable"
    """
    urls = request.args.getlist("url")
    if len(urls) != 1 or not urls[0]:
        raise invalid_parameter("url", "url is required (once): the article's URL")
    url = urls[0].strip()
    if len(url) > MAX_URL_LENGTH or not _URL_RE.fullmatch(url):
        raise invalid_parameter(
            "url", f"url must be an http(s) URL of at most {MAX_URL_LENGTH} characters"
        )
    formats = request.args.getlist("format") or ["json"]
    if len(formats) > 1 or formats[0] not in {"json", "xml"}:
        raise invalid_parameter("format", "format must be 'json' (or 'xml', not implemented)")
    if formats[0] == "xml":
        raise Problem(501, "Only format=json is implemented.", slug="format-not-implemented",
                      title="Not Implemented", field="format")
    maxwidth = _dimension("maxwidth")
    maxheight = _dimension("maxheight")
    k = validation.k_from_query(request)

    article_id = find_article_by_url(url)
    article, items = related_for_article(article_id, k)
    html = render_fragment(items, article_id)
    width = min(OEMBED_DEFAULT_WIDTH, maxwidth or OEMBED_DEFAULT_WIDTH)
    # A heading plus one line per link (two when the title wraps in a narrow box).
    lines_per_item = 1 if width >= 400 else 2
    height = 0 if not items else 48 + 24 * lines_per_item * len(items)
    if maxheight is not None:
        height = min(height, maxheight)
    body = {
        "version": "1.0",
        "type": "rich",
        "html": html,
        "width": width,
        "height": int(math.ceil(height)),
        "title": str(article.get("title") or article_id),
        "provider_name": "alsosee",
        "provider_url": request.host_url,
        # The lists' own max-age: no consumer keeps a removed story longer than that.
        "cache_age": int(current_app.config.get("CACHE_MAX_AGE", 10)),
    }
    return Response(
        current_app.json.dumps(body) + "\n", mimetype="application/json"
    )
