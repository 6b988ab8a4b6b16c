"""Article URLs: which may become a link, and the canonical form lookups by URL match on.

A link target must be ``http(s)://host...`` or a path that stays on the page's origin.
Browsers read ``\\`` as ``/`` in http(s) URLs and drop tabs and newlines, so ``/\\evil.example``
and ``//evil.example`` both leave the site: no backslash, whitespace or control character
anywhere, and a path never starts with two slashes. ``javascript:``, ``data:`` and every
other scheme are refused. The same rule is applied when an article is published, when a
corpus is trained and when a list is rendered (``service/pages.py``, ``widget.js``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from url_normalize import url_normalize

V = TypeVar("V")

SAFE_LINK_RE = re.compile(
    r"(?:https?://[^\s\x00-\x1f\x7f\\/]|/(?!/))[^\s\x00-\x1f\x7f\\]*", re.IGNORECASE)


def is_safe_link(url: object) -> bool:
    """Whether *url* may be an ``href`` (see the module docstring)."""
    return isinstance(url, str) and SAFE_LINK_RE.fullmatch(url) is not None


#: Query parameters that say where a reader came from, not which page: dropped.
TRACKING_PARAM_RE = re.compile(
    r"utm_[a-z_]*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|yclid|igshid|ref_src",
    re.IGNORECASE)

#: A URL url_normalize leaves as it is: lower-case http(s), a plain host, no port, query,
#: fragment, percent-escape or repeated slash (and, checked apart, no dot segment).
_PLAIN_URL_RE = re.compile(
    r"https?://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
    r"((?:/[A-Za-z0-9._~,-]+)*/?)")
_DOT_SEGMENT_RE = re.compile(r"/\.\.?(?:/|$)")


def canonical_url(url: object, *, query: bool = True) -> str | None:
    """The form two URLs of one article share (``None`` for a non-string or blank value).

    :func:`url_normalize.url_normalize` lower-cases the scheme and host, drops the default
    port and dot segments, collapses repeated slashes in the path and normalises
    percent-encoding. On top of that ``http`` and ``https`` are the same page (``https`` is
    kept), a leading ``www.`` is dropped, as are a trailing slash, the fragment and tracking
    parameters (``utm_*``, ``fbclid``...); the other query parameters are kept, sorted
    (``?p=41`` is a page of its own on many sites), or all dropped with ``query=False``.
    A site-relative path stays a path.

    >>> canonical_url("HTTP://WWW.Example.com:80//news//a/?utm_source=x&b=2&a=1#top")
    'https://example.com/news/a?a=1&b=2'
    """
    if not isinstance(url, str) or not url.strip():
        return None
    text = url.strip()
    plain = _PLAIN_URL_RE.fullmatch(text)
    if plain is not None and "xn--" not in text and not _DOT_SEGMENT_RE.search(text):
        # Already normal (url_normalize would change nothing: a test checks it): 1 us,
        # not 40, for the archive's URLs indexed at each model load.
        return f"https://{plain[1].removeprefix('www.')}{plain[2].rstrip('/')}"
    return _canonical(text, query)


def _canonical(text: str, query: bool = True) -> str:
    try:
        parts = urlsplit(url_normalize(text) or text)
    except (ValueError, UnicodeError):  # unparseable host or port: compare as given
        return text
    scheme = "https" if parts.scheme in ("http", "https") else parts.scheme
    host = parts.netloc.removeprefix("www.")
    params = sorted(pair for pair in parse_qsl(parts.query, keep_blank_values=True)
                    if not TRACKING_PARAM_RE.fullmatch(pair[0])) if query else []
    return urlunsplit((scheme, host, parts.path.rstrip("/"), urlencode(params), ""))


def url_key(index: Mapping[str, object], url: object) -> str | None:
    """The key of ``index`` (keyed by :func:`canonical_url`) that ``url`` names: its
    canonical form, else (a query the index does not know, below the site's root) the
    same address without its query; ``None`` when neither is there."""
    key = canonical_url(url)
    if key is None or key in index:
        return key if key in index else None
    bare = canonical_url(url, query=False)
    if bare != key and bare in index and urlsplit(bare or "").path not in ("", "/"):
        return bare
    return None


def url_matches(index: Mapping[str, V], url: object) -> V | None:
    """The entry of ``index`` that ``url`` names (see :func:`url_key`), or ``None``."""
    key = url_key(index, url)
    return None if key is None else index[key]
