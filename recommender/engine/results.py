"""What a ranking returns: the links of a related list and the list itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ranking.options import RankingOptions

#: Why a link is in the list: ranked by similarity, pinned by the editors, or filling an
#: empty slot with the latest story of the section.
REASON_SIMILAR = "similar"
REASON_PINNED = "pinned"
REASON_FALLBACK = "fallback"


@dataclass
class RankedItem:
    """One link of a related list."""

    id: str
    title: str
    url: str | None
    published_at: str | None
    section: str | None
    score: float
    similarity: float
    reason: str
    explanation: dict[str, Any] | None = None
    #: The slot the link is placed in (``inline``, ``end``) when the answer has placements.
    slot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "url": self.url,
               "published_at": self.published_at, "section": self.section,
               "score": self.score, "similarity": self.similarity, "reason": self.reason}
        if self.slot is not None:
            out["slot"] = self.slot
        if self.explanation is not None:
            out["explanation"] = self.explanation
        return out


@dataclass
class PlacedSlot:
    """The links of one slot of an answer with placements."""

    slot: str
    items: list[RankedItem]
    after_paragraph: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"slot": self.slot}
        if self.after_paragraph is not None:
            out["after_paragraph"] = self.after_paragraph
        out["related"] = [item.to_dict() for item in self.items]
        return out


@dataclass
class RelatedResult:
    """A ranked list with the article it is for, the options used and (debug) what was
    dropped. With placements, ``slots`` holds every slot in the order asked and ``items``
    the end block (empty without one)."""

    article: dict[str, Any]
    items: list[RankedItem]
    options: RankingOptions
    state_version: int
    debug: dict[str, Any] | None = None
    slots: list[PlacedSlot] | None = None

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"article": self.article,
                               "related": [item.to_dict() for item in self.items]}
        if self.slots is not None:
            out["placements"] = [slot.to_dict() for slot in self.slots]
        if self.debug is not None:
            out["debug"] = self.debug
        return out

