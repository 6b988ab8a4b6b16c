"""Plain-text helpers: HTML detection, HTML -> text conversion, whitespace normalisation.

The output convention used across alsosee is *paragraphs separated by one blank line*
(``"\\n\\n"``), with runs of whitespace collapsed to single spaces inside a paragraph.

Conversion is done with a real HTML parser: libxml2's HTML parser through ``lxml.html``
(the parser BeautifulSoup's "lxml" builder uses; calling lxml directly is ~10x faster than
building a BeautifulSoup tree, which matters for corpora of tens of thousands of articles). It is
deliberately split into small steps (:func:`_strip_shortcodes`, :func:`_prune`,
:func:`_paragraphs`) so later cleaning passes (e.g. newsroom boilerplate removal) can be
added without touching the parser code.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import lxml.html
from lxml import etree

__all__ = [
    "BLOCK_TAGS",
    "DROP_CLASS_MARKERS",
    "DROP_TAGS",
    "extract_links",
    "html_to_text",
    "looks_like_html",
    "normalize_paragraphs",
    "normalize_whitespace",
]

#: Elements removed together with their content.
DROP_TAGS: frozenset[str] = frozenset(
    {"script", "style", "noscript", "template", "iframe", "figcaption", "head", "svg", "form"}
)
#: An element whose ``class`` contains one of these substrings is removed (figure credits,
#: captions, WordPress ``wp-caption-text``...).
DROP_CLASS_MARKERS: tuple[str, ...] = ("credit", "caption")
#: Elements that start/end a paragraph.
BLOCK_TAGS: frozenset[str] = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
        "h6", "blockquote", "tr", "table", "section", "article", "header", "footer", "aside",
        "pre", "hr", "figure", "main", "nav", "address",
    }
)  # fmt: skip

# A start/end tag (``<p>``, ``</div>``, ``<br/>``, ``<a href=...>``) or an HTML entity
# (``&amp;``, ``&#8217;``, ``&#x2019;``). Cheap pre-filter: plain text skips the parser.
_HTML_RE = re.compile(
    r"<(?:/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?|!--)>"
    r"|&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
)
# WordPress ``[caption ...]<img ...> Caption text[/caption]`` shortcodes: a figure caption.
_CAPTION_SHORTCODE_RE = re.compile(r"\[caption\b[^\]]*\].*?\[/caption\]", re.IGNORECASE | re.DOTALL)
_BLANK_LINE_RE = re.compile(r"\n[^\S\n]*\n\s*")


def looks_like_html(s: str | None) -> bool:
    """Tell whether a string contains HTML tags or entities.

    Parameters
    ----------
    s : str or None
        Any text.

    Returns
    -------
    bool
        True if ``s`` contains something that looks like a tag (``<p>``, ``</a>``,
        ``<br/>``, ``<!-- ...``) or an HTML entity (``&amp;``, ``&#8217;``). ``"a < b"`` and
        ``"AT&T"`` are not HTML.
    """
    return s is not None and _HTML_RE.search(s) is not None


def normalize_whitespace(s: str | None) -> str:
    """Collapse every run of whitespace (newlines included) to one space and strip.

    Parameters
    ----------
    s : str or None
        Any text; None gives ``""``.

    Returns
    -------
    str
        The text on one line.
    """
    if not s:
        return ""
    return " ".join(s.split())


def normalize_paragraphs(s: str | None) -> str:
    """Normalise plain text while keeping paragraph breaks.

    Blank lines (possibly containing spaces) separate paragraphs; inside a paragraph every
    run of whitespace becomes one space. Empty paragraphs are dropped.

    Parameters
    ----------
    s : str or None
        Plain text.

    Returns
    -------
    str
        Paragraphs joined by ``"\\n\\n"``.
    """
    if not s:
        return ""
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (normalize_whitespace(p) for p in _BLANK_LINE_RE.split(s))
    return "\n\n".join(p for p in paragraphs if p)


def _strip_shortcodes(s: str) -> str:
    """Remove WordPress caption shortcodes (image + caption/credit text)."""
    if "[caption" in s or "[CAPTION" in s:
        s = _CAPTION_SHORTCODE_RE.sub("\n\n", s)
    return s


def _is_dropped(el: lxml.html.HtmlElement) -> bool:
    if el.tag in DROP_TAGS:
        return True
    classes = el.get("class")
    if not classes:
        return False
    classes = classes.lower()
    return any(marker in classes for marker in DROP_CLASS_MARKERS)


def _prune(root: lxml.html.HtmlElement) -> None:
    """Remove non-content elements and mark block boundaries with blank lines."""
    dropped = []
    for el in root.iter():
        if not isinstance(el.tag, str):  # comment, processing instruction
            dropped.append(el)
        elif _is_dropped(el):
            dropped.append(el)
    for el in dropped:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text; fine if an ancestor went first
    for el in root.iter(*BLOCK_TAGS):
        if el.tag not in ("br", "hr"):
            el.text = "\n\n" + (el.text or "")
        el.tail = "\n\n" + (el.tail or "")


def _paragraphs(root: lxml.html.HtmlElement) -> str:
    """Flatten the pruned tree; blank lines (blocks or wpautop-style source) split paragraphs."""
    return normalize_paragraphs(root.text_content())


def html_to_text(s: str | None) -> str:
    """Convert an HTML fragment (or document) to plain text with paragraph breaks.

    Drops ``script``, ``style``, ``noscript``, ``template``, ``iframe``, ``figcaption`` and
    elements whose class contains ``credit`` or ``caption`` (figure credits, WordPress
    ``wp-caption-text``), as well as WordPress ``[caption]...[/caption]`` shortcodes. Block
    elements (``p``, ``div``, ``br``, ``li``, ``h1``-``h6``, ``blockquote``, ``tr``,
    ``section``, ``article``...) become paragraph breaks, and so do blank lines in the source
    (WordPress stores paragraphs as blank lines, adding ``<p>`` only on display). Entities are
    decoded, whitespace is collapsed inside paragraphs.

    Parameters
    ----------
    s : str or None
        HTML.

    Returns
    -------
    str
        Paragraphs separated by ``"\\n\\n"``; ``""`` for empty input.
    """
    if not s:
        return ""
    s = _strip_shortcodes(s.replace("\r\n", "\n").replace("\r", "\n"))
    if s.lstrip().startswith("<?xml"):  # lxml refuses str input with an encoding declaration
        s = s.split("?>", 1)[-1]
    try:
        root = lxml.html.document_fromstring(s)
    except (etree.ParserError, ValueError):  # nothing but whitespace/comments
        return ""
    _prune(root)
    return _paragraphs(root)


def clean_title(s: str | None) -> str:
    """Turn a title into one line of plain text (entities decoded, tags removed if HTML).

    Parameters
    ----------
    s : str or None
        A headline.

    Returns
    -------
    str
        One-line plain text; ``"AT&T <3 you"`` stays as is.
    """
    if not s:
        return ""
    if looks_like_html(s):
        return normalize_whitespace(html_to_text(s))
    return normalize_whitespace(html.unescape(s))


_URL_RE = re.compile(r"https?://[^\s<>\"'\])]+", re.IGNORECASE)


def extract_links(s: str | None, base_url: str | None = None) -> list[str]:
    """Outbound link targets of a body, in order, without duplicates.

    HTML bodies give the ``href`` of every ``<a>`` (relative links resolved against
    ``base_url``); plain-text bodies give the ``http(s)://`` URLs they contain. Links inside
    dropped elements (scripts, captions) are ignored like their text.

    Parameters
    ----------
    s : str or None
        A body, HTML or plain text.
    base_url : str, optional
        The article's own URL, to resolve relative links.

    Returns
    -------
    list of str
        Absolute URLs (``mailto:``, ``javascript:`` and bare ``#anchors`` left out).

    Examples
    --------
    >>> extract_links('<p>See <a href="/2012/05/01/x/">this</a> and <a href="#top">top</a></p>',
    ...               "http://example.org/2012/05/02/y/")
    ['http://example.org/2012/05/01/x/']
    """
    if not s:
        return []
    out: dict[str, None] = {}
    if looks_like_html(s):
        s = _strip_shortcodes(s)
        if s.lstrip().startswith("<?xml"):
            s = s.split("?>", 1)[-1]
        try:
            root = lxml.html.document_fromstring(s)
        except (etree.ParserError, ValueError):
            return []
        for el in root.iter("a"):
            if any(_is_dropped(a) for a in el.iterancestors() if isinstance(a.tag, str)):
                continue
            href = (el.get("href") or "").strip()
            if not href or href.startswith("#"):
                continue
            if base_url:
                href = urljoin(base_url, href)
            if href.lower().startswith(("http://", "https://")):
                out.setdefault(href, None)
    else:
        for m in _URL_RE.finditer(s):
            out.setdefault(m.group(0).rstrip(".,;:!?"), None)
    return list(out)
