"""Placements: where the links of one answer go (an inline slot after a paragraph, the end
block), declared once as the ``placements`` ranking option.

Grammar (query string, CLI flag, JSON string or array of strings): comma-separated slots,

* ``inline:P:N`` - ``N`` links after paragraph ``P`` (1-based), chosen by the passage before
  it blended with the whole story;
* ``end:N`` - ``N`` links at the end of the story, chosen by the whole story;
* ``...:pins`` after either - the editors' pins of the article go to this slot (default: the
  end block, as in a plain list; with no end block and no ``pins`` slot they are not shown).

At most one end block and one inline slot per paragraph, at most :data:`MAX_LINKS` links in
total, at most :data:`MAX_SLOTS` slots. Whether ``P`` exists is known only with the article
(the engine checks it: a paragraph past the end is an error naming ``placements``).

Plain Python only (no numpy): the CLI and the HTTP grammar read this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterError, UnusableValueError

INLINE = "inline"
END = "end"
SLOTS = (INLINE, END)
#: Most links one answer may hold, all slots together (the model's own list limit).
MAX_LINKS = 100
#: Most slots in one answer.
MAX_SLOTS = 20
PINS = "pins"

#: One slot in the HTTP grammar (the regex of the OpenAPI description).
SLOT_PATTERN = r"(?:inline:[1-9][0-9]{0,3}:[1-9][0-9]{0,2}|end:[1-9][0-9]{0,2})(?::pins)?"
PATTERN = f"^{SLOT_PATTERN}(?:,{SLOT_PATTERN}){{0,{MAX_SLOTS - 1}}}$"

_FIELD = "placements"
_INT = re.compile(r"[+-]?[0-9]{1,9}")


@dataclass(frozen=True)
class Placement:
    """One slot of an answer: ``inline`` after paragraph ``after_paragraph`` (1-based), or
    ``end`` (``after_paragraph`` None); ``count`` links; ``pins``: the article's pins go
    here."""

    slot: str
    count: int
    after_paragraph: int | None = None
    pins: bool = False

    def __str__(self) -> str:
        text = (f"{INLINE}:{self.after_paragraph}:{self.count}" if self.slot == INLINE
                else f"{END}:{self.count}")
        return text + (f":{PINS}" if self.pins else "")


def _number(text: str, what: str, item: str) -> int:
    if not _INT.fullmatch(text.strip()):
        raise InvalidParameterError(_FIELD, f"{what} must be an integer, got {text!r} in {item!r}")
    value = int(text)
    if value < 1:
        raise InvalidParameterError(_FIELD, f"{what} must be at least 1, got {value} in {item!r}")
    return value


def _slot(item: str) -> Placement:
    parts = [p.strip() for p in item.strip().split(":")]
    pins = len(parts) > 1 and parts[-1].lower() == PINS
    if pins:
        parts = parts[:-1]
    name = parts[0].lower()
    if name == INLINE:
        if len(parts) != 3:
            raise InvalidParameterError(
                _FIELD, f"an inline slot is inline:PARAGRAPH:COUNT, got {item!r}")
        return Placement(INLINE, _number(parts[2], "a slot's count of links", item),
                         _number(parts[1], "the paragraph of an inline slot", item), pins)
    if name == END:
        if len(parts) != 2:
            raise InvalidParameterError(_FIELD, f"the end block is end:COUNT, got {item!r}")
        return Placement(END, _number(parts[1], "a slot's count of links", item), None, pins)
    raise InvalidParameterError(
        _FIELD, f"unknown slot {parts[0]!r} in {item!r}; slots: {', '.join(SLOTS)}")


_KEYS = frozenset({"slot", "count", "after_paragraph", "pins"})


def _from_mapping(part: Mapping[str, Any]) -> str:
    """``{"slot": "inline", "after_paragraph": 3, "count": 1}`` in the string grammar."""
    fields = [str(part["slot"])]
    if part.get("after_paragraph") is not None or str(part["slot"]).lower() == INLINE:
        fields.append(str(part.get("after_paragraph")))
    fields.append(str(part.get("count", 1)))
    if part.get("pins"):
        fields.append(PINS)
    return ":".join(fields)


def parse_placements(name: str, value: Any) -> tuple[Placement, ...]:
    """Validated slots from ``"inline:3:1,end:6"``, a list of such strings (CLI flags, JSON
    arrays) or :class:`Placement` objects; ``None`` or empty: no placements.

    Raises :class:`InvalidParameterError` naming ``placements`` for what breaks the grammar
    (an unknown slot, a count or paragraph below 1, more than :data:`MAX_SLOTS` slots) and
    its :class:`UnusableValueError` subclass for well-formed slots that cannot go together
    (more than :data:`MAX_LINKS` links in total, two end blocks, two inline slots after the
    same paragraph, pins sent to two slots).
    """
    if value is None:
        return ()
    items: list[Any] = []
    for part in [value] if isinstance(value, (str, Placement)) else value \
            if isinstance(value, (list, tuple)) else [object()]:
        if isinstance(part, str):
            items += [p for p in part.split(",") if p.strip()]
        elif isinstance(part, Placement):
            items.append(part)
        elif isinstance(part, Mapping) and set(part) <= _KEYS and "slot" in part:
            items.append(_from_mapping(part))
        else:
            raise InvalidParameterError(
                name, f"must be slots such as 'inline:3:1,end:6' (a string or a list of "
                      f"strings), got {value!r}")
    if len(items) > MAX_SLOTS:
        raise InvalidParameterError(name, f"at most {MAX_SLOTS} slots, got {len(items)}")
    slots = tuple(p if isinstance(p, Placement) else _slot(p) for p in items)
    total = sum(p.count for p in slots)
    if total > MAX_LINKS:
        raise UnusableValueError(
            name, f"at most {MAX_LINKS} links in total, got {total} ({','.join(map(str, slots))})")
    if sum(p.slot == END for p in slots) > 1:
        raise UnusableValueError(name, "at most one end block")
    after = [p.after_paragraph for p in slots if p.slot == INLINE]
    if len(set(after)) != len(after):
        raise UnusableValueError(name, "at most one inline slot after each paragraph")
    if sum(p.pins for p in slots) > 1:
        raise UnusableValueError(name, "pins may go to one slot only")
    return slots


def placements_text(slots: Sequence[Placement]) -> str:
    """The canonical spelling (``inline:3:1,end:6``)."""
    return ",".join(map(str, slots))
