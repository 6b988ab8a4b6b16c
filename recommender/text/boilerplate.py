"""Newsroom boilerplate: "ALSO SEE:" / "Read more:" / "Related:" link blocks and stock lines.

Two stories are not related because both end with the same list of links, or with the same
"This post is part of our special coverage X" line. These blocks are removed from the body
before vectorising (on by default, see ``RelatedStories(strip_boilerplate=...)``); the same
block finder is what ``alsosee mine-links`` reads editors' related links from.

Bodies follow the corpus convention (paragraphs separated by blank lines; single line breaks
are also honoured). A block is

* a paragraph/line that starts with a marker and a colon (``ALSO SEE:``, ``Read more:``,
  ``Related:``, ``See also:``, ``More on this:`` ...). If the marker stands alone, the
  following short lines (at most ``max_headline_words`` words, at most ``max_block_lines``
  lines) are the block's headlines; if text follows the colon, that text is the headline list
  (several headlines may be separated by ``|`` or ``•``);
* any line matching one of the ``line_patterns`` (whole line, case-insensitive), e.g.
  Global Voices' "This post is part of our special coverage ...".

Patterns are configurable per newsroom: pass a mapping with ``block_markers`` (regular
expressions for the marker words), ``line_patterns``, ``max_headline_words`` and
``max_block_lines`` (see :func:`boilerplate_config`), or load one from a TOML/JSON file with
:func:`load_boilerplate_config`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from ..errors import InvalidParameterError

__all__ = [
    "DEFAULT_BLOCK_MARKERS",
    "DEFAULT_LINE_PATTERNS",
    "Block",
    "Boilerplate",
    "boilerplate_config",
    "find_blocks",
    "load_boilerplate_config",
    "strip_boilerplate",
]

#: Marker words that open a related-links block (followed by a colon).
DEFAULT_BLOCK_MARKERS: tuple[str, ...] = (
    r"also see",
    r"see also",
    r"read more",
    r"read also",
    r"more reading",
    r"related(?: (?:stories|articles|posts|coverage|links|content|news|reading))?",
    r"more on (?:this|this story|this topic)",
    r"further reading",
    r"you may also like",
)
#: Whole lines removed wherever they appear.
DEFAULT_LINE_PATTERNS: tuple[str, ...] = (
    r"this (?:post|article|story) is part of (?:our|the) special coverage\b.*",
    r"(?:this (?:post|article|story) is part of )?(?:our|the) special coverage(?: page)?:.*",
)
DEFAULT_MAX_HEADLINE_WORDS = 25
DEFAULT_MAX_BLOCK_LINES = 12

_SPLIT_INLINE = re.compile(r"\s+[|•·]\s+|\s*\u2022\s*")
_BULLET = re.compile(r"^\s*(?:[-*•·–—>]+|\d{1,2}[.)])\s+")
_LINES = re.compile(r"\n+")
_UNSAFE_FOR_SCAN = re.compile(r"\(\?[=!<]|\\[ZAB]|[$^]")


@dataclass(frozen=True)
class Block:
    """One related-links block found in a body.

    Attributes
    ----------
    marker : str
        The marker as written (``"ALSO SEE"``), or ``""`` for a stock line.
    headlines : tuple of str
        Candidate headlines (bullets stripped); empty for a stock line.
    start, end : int
        Line span ``[start, end)`` in the body's non-empty lines.
    """

    marker: str
    headlines: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Boilerplate:
    """Compiled patterns (build with :func:`boilerplate_config`)."""

    block_markers: tuple[str, ...] = DEFAULT_BLOCK_MARKERS
    line_patterns: tuple[str, ...] = DEFAULT_LINE_PATTERNS
    max_headline_words: int = DEFAULT_MAX_HEADLINE_WORDS
    max_block_lines: int = DEFAULT_MAX_BLOCK_LINES
    _marker_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _line_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    #: Whether :meth:`may_hold_blocks` may rule bodies out (most bodies, in training, have
    #: no block and skip the line-by-line search).
    _scan: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        markers = "|".join(f"(?:{p})" for p in self.block_markers) or r"(?!x)x"
        marker = (rf"^\s*(?:[*_#>\-–—]+\s*)?(?P<marker>{markers})"
                  r"\s*[:：]\s*(?:[*_]+\s*)?(?P<rest>.*)$")
        object.__setattr__(self, "_marker_re", re.compile(marker, re.IGNORECASE))
        lines = "|".join(f"(?:{p})" for p in self.line_patterns)
        line = rf"^\s*(?:{lines})\s*$"
        object.__setattr__(self, "_line_re",
                           re.compile(line, re.IGNORECASE) if lines else None)
        # Look-arounds, anchors and \A \Z \B inside a pattern could see past a line's
        # stripped end where the scan reads the raw line: no scan then (always search).
        object.__setattr__(self, "_scan", not any(
            _UNSAFE_FOR_SCAN.search(p) for p in (*self.block_markers, *self.line_patterns)))

    def may_hold_blocks(self, text: str) -> bool:
        r"""False when ``text`` certainly has no block: no raw line matches a marker or a line
        pattern (a stripped line that matches also matches with its surrounding spaces,
        which the patterns' own ``^\s*`` and ``.*$`` / ``\s*$`` absorb)."""
        if not self._scan:
            return True
        lines = text.split("\n")
        if any(map(self._marker_re.match, lines)):
            return True
        return self._line_re is not None and any(map(self._line_re.match, lines))


_DEFAULT = Boilerplate()


#: What the boilerplate functions accept: a config, its mapping form (JSON), or None (the
#: defaults).
BoilerplateConfig: TypeAlias = "Boilerplate | Mapping[str, Any] | None"


def boilerplate_config(config: BoilerplateConfig = None) -> Boilerplate:
    """Validate a boilerplate configuration.

    Parameters
    ----------
    config : Boilerplate, mapping or None
        None for the defaults; a mapping may set ``block_markers`` and ``line_patterns``
        (lists of regular expressions, replacing the defaults), ``extra_block_markers`` and
        ``extra_line_patterns`` (added to the defaults), ``max_headline_words`` and
        ``max_block_lines``.

    Returns
    -------
    Boilerplate

    Raises
    ------
    InvalidParameterError
        Unknown key, a pattern that is not a valid regular expression, a bad number.
    """
    if config is None:
        return _DEFAULT
    if isinstance(config, Boilerplate):
        return config
    if not isinstance(config, Mapping):
        raise InvalidParameterError("boilerplate", f"expected a mapping, got {config!r}")
    valid = {"block_markers", "line_patterns", "extra_block_markers", "extra_line_patterns",
             "max_headline_words", "max_block_lines"}
    unknown = sorted(set(config) - valid)
    if unknown:
        raise InvalidParameterError(
            "boilerplate", f"unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}")
    kwargs: dict[str, Any] = {}
    for key, default in (("block_markers", DEFAULT_BLOCK_MARKERS),
                         ("line_patterns", DEFAULT_LINE_PATTERNS)):
        patterns = list(config.get(key, default)) + list(config.get(f"extra_{key}", ()))
        for p in patterns:
            if not isinstance(p, str):
                raise InvalidParameterError(f"boilerplate.{key}", f"patterns must be strings, "
                                            f"got {p!r}")
            try:
                re.compile(p)
            except re.error as e:
                raise InvalidParameterError(f"boilerplate.{key}",
                                            f"invalid regular expression {p!r}: {e}") from None
        kwargs[key] = tuple(patterns)
    for key in ("max_headline_words", "max_block_lines"):
        if key in config:
            v = config[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"boilerplate.{key}", f"must be an integer >= 1, "
                                            f"got {v!r}")
            kwargs[key] = v
    return Boilerplate(**kwargs)


def load_boilerplate_config(path: str | Path) -> dict[str, Any]:
    """Read a newsroom's boilerplate patterns from TOML (a ``[boilerplate]`` table or the top
    level) or JSON; returns the mapping (validated) to pass as ``boilerplate=``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidParameterError("boilerplate", f"{p}: cannot read ({e.strerror or e})") from e
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidParameterError("boilerplate", f"{p}: malformed file: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("boilerplate"), dict):
        data = data["boilerplate"]
    boilerplate_config(data)  # validate now, with the file's name in the error
    return dict(data)


def _is_headline(line: str, cfg: Boilerplate) -> bool:
    return 0 < len(line.split()) <= cfg.max_headline_words and not cfg._marker_re.match(line)


def find_blocks(text: str, config: BoilerplateConfig = None
                ) -> list[Block]:
    """Find related-links blocks and stock lines in a body.

    Parameters
    ----------
    text : str
        Plain-text body (paragraphs separated by blank lines or line breaks).
    config : Boilerplate or mapping, optional
        Patterns (defaults when None).

    Returns
    -------
    list of Block
        In body order; spans index the body's non-empty lines.

    Examples
    --------
    >>> body = "Story text here.\\n\\nALSO SEE:\\n\\nFlood hits city\\n\\nChess final ends"
    >>> [b.headlines for b in find_blocks(body)]
    [('Flood hits city', 'Chess final ends')]
    """
    cfg = boilerplate_config(config)
    lines = [ln.strip() for ln in _LINES.split(text or "") if ln.strip()]
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = cfg._marker_re.match(line)
        if match:
            rest = match.group("rest").strip()
            if rest:
                parts = [_BULLET.sub("", p).strip() for p in _SPLIT_INLINE.split(rest)]
                blocks.append(Block(match.group("marker"), tuple(p for p in parts if p), i, i + 1))
                i += 1
                continue
            j = i + 1
            while j < len(lines) and j - i <= cfg.max_block_lines and _is_headline(
                    _BULLET.sub("", lines[j]), cfg):
                j += 1
            heads = tuple(_BULLET.sub("", ln).strip() for ln in lines[i + 1:j])
            blocks.append(Block(match.group("marker"), heads, i, j))
            i = j
            continue
        if cfg._line_re is not None and cfg._line_re.match(line):
            blocks.append(Block("", (), i, i + 1))
        i += 1
    return blocks


def strip_boilerplate(text: str, config: BoilerplateConfig = None
                      ) -> tuple[str, int]:
    """Remove related-links blocks and stock lines from a body.

    Parameters
    ----------
    text : str
        Plain-text body.
    config : Boilerplate or mapping, optional
        Patterns (defaults when None).

    Returns
    -------
    text : str
        The body without the blocks (paragraphs joined by blank lines), unchanged if none.
    n_blocks : int
        Number of blocks removed.

    Examples
    --------
    >>> strip_boilerplate("Text.\\n\\nThis post is part of our special coverage Europe.")
    ('Text.', 1)
    """
    if not text:
        return text or "", 0
    if not boilerplate_config(config).may_hold_blocks(text):
        return text, 0
    blocks = find_blocks(text, config)
    if not blocks:
        return text, 0
    lines = [ln.strip() for ln in _LINES.split(text) if ln.strip()]
    drop = {i for b in blocks for i in range(b.start, b.end)}
    return "\n\n".join(ln for i, ln in enumerate(lines) if i not in drop), len(blocks)
