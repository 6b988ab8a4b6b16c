"""Ground truth for inline placements: in-body links and the paragraph each sits in.

An author who links another story from paragraph ``P`` says that story relates to what
paragraph ``P`` discusses: an inline slot after ``P`` should offer it. :func:`link_paragraphs`
finds, in an article's HTML, every link to another article of the archive and the paragraph
(1-based, in the text convention: blocks separated by a blank line) holding it;
:func:`evaluate_slots` measures how often the slot's links hold the linked story, chosen by
the passage (``placements=inline:P:N``) and by the whole story (the plain list), through the
same engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree

from ..engine.placements import split_paragraphs
from ..text.plain import html_to_text
from ..urls import canonical_url

_MARK = "zqxlink{}zqx"
_MARK_RE = re.compile(r"\s*zqxlink(\d+)zqx")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class InlineLink:
    """A link from ``source`` paragraph ``paragraph`` (1-based) to ``target``."""

    source: str
    target: str
    paragraph: int


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _locate(paragraph: str, paragraphs: Sequence[str]) -> int:
    """1-based index of the stored paragraph that best matches ``paragraph`` (word overlap:
    the stored text may differ by a caption or white space)."""
    words = _words(paragraph)
    best, best_score = 0, -1.0
    for i, candidate in enumerate(paragraphs):
        other = _words(candidate)
        score = len(words & other) / max(len(words | other), 1)
        if score > best_score:
            best, best_score = i, score
    return best + 1


def link_paragraphs(source: str, html: str, stored_body: str,
                    id_of_url: Mapping[str, str]) -> list[InlineLink]:
    """The links of one article's HTML to other articles of the archive, each with the
    paragraph of ``stored_body`` (the text the model keeps) it sits in."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    targets: list[str] = []
    for anchor in root.iter("a"):
        target = id_of_url.get(canonical_url(anchor.get("href") or "") or "")
        if target is None or target == source:
            continue
        anchor.tail = f" {_MARK.format(len(targets))} " + (anchor.tail or "")
        targets.append(target)
    if not targets:
        return []
    paragraphs = split_paragraphs(stored_body)
    out: dict[tuple[str, int], InlineLink] = {}
    for marked in split_paragraphs(html_to_text(lxml.html.tostring(root, encoding="unicode"))):
        found = [int(m) for m in _MARK_RE.findall(marked)]
        if not found:
            continue
        where = _locate(_MARK_RE.sub("", marked), paragraphs)
        for n in found:
            out.setdefault((targets[n], where), InlineLink(source, targets[n], where))
    return list(out.values())


@dataclass
class SlotHits:
    """Hit rates of one way of choosing an inline slot's links."""

    name: str
    links: int = 0
    hit1: int = 0
    hit3: int = 0

    def add(self, ids: Sequence[str], target: str) -> None:
        self.links += 1
        self.hit1 += target in ids[:1]
        self.hit3 += target in ids[:3]

    def to_dict(self) -> dict[str, Any]:
        n = max(self.links, 1)
        return {"name": self.name, "links": self.links, "hit@1": round(self.hit1 / n, 3),
                "hit@3": round(self.hit3 / n, 3), "hits@1": self.hit1, "hits@3": self.hit3}


def evaluate_slots(engine: Any, links: Iterable[InlineLink], **options: Any
                   ) -> tuple[SlotHits, SlotHits, list[tuple[InlineLink, bool, bool]]]:
    """Passage-aware (an inline slot of 3 after the link's paragraph) and whole-story (the
    article's list of 3) hits on the same links; and, per link, whether each found it."""
    passage, whole = SlotHits("passage-aware"), SlotHits("whole-story")
    per_link = []
    for link in links:
        placed = engine.related(link.source, placements=f"inline:{link.paragraph}:3",
                                **options).slots[0].items
        plain = engine.related(link.source, k=3, **options).items
        passage.add([i.id for i in placed], link.target)
        whole.add([i.id for i in plain], link.target)
        per_link.append((link, link.target in [i.id for i in placed][:1],
                         link.target in [i.id for i in plain][:1]))
    return passage, whole, per_link
