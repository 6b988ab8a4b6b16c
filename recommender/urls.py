"""Article URLs: which may become a link, and the canonical form takedowns match on.

A link target must be ``http(s)://host...`` or a path that stays on the page's origin.
Browsers read ``\\`` as ``/`` in http(s) URLs and drop tabs and newlines, so ``/\\evil.example``
and ``//evil.example`` both leave the site: no backslash, whitespace or control character
anywhere, and a path never starts with two slashes. ``javascript:``, ``data:`` and every
other scheme are refused. The same rule is applied when an article is published, when a
corpus is trained and when a list is rendered (``service/pages.py``, ``widget.js``).
"""

from __future__ import annotations

import re
from typing import Any

SAFE_LINK_RE = re.compile(
    r"(?:https?://[^\s\x00-\x1f\x7f\\/]|/(?!/))[^\s\x00-\x1f\x7f\\]*", re.IGNORECASE)


def is_safe_link(url: Any) -> bool:
    """Whether *url* may be an ``href`` (see the module docstring)."""
    return isinstance(url, str) and SAFE_LINK_RE.fullmatch(url) is not None
