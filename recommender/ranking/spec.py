"""The ranking options, each declared once: name, type, default, bounds or choices,
nullability, repetition, help.

They are the fields of :class:`RankingFields`, a plain dataclass (so a type checker sees
each option's type); :data:`OPTIONS` describes them and every surface is generated from it:
the validators and docstring of :class:`recommender.ranking.options.RankingOptions`, the
HTTP query/JSON grammar and its OpenAPI parameters (:mod:`service.ranking_params`) and the
flags of ``alsosee related`` (:mod:`recommender.cli.editorial`). A new option is one more
field of :class:`RankingFields`.

Plain Python only (no numpy): the CLI reads this module to build its flags, and
``alsosee --help`` must stay fast.
"""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict, Unpack, get_args, get_type_hints

from .placements import Placement

#: Largest list a caller may ask for (the model's own limit).
MAX_K = 100

DIRECTIONS = ("any", "before", "after")
KEEP_RULES = ("newer", "older", "higher")
TAG_MODES = ("any", "all")
STATUSES = ("published", "any")
FALLBACKS = ("latest_in_section",)

# Value types: how a value is validated, written over HTTP and typed in Python.
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
CHOICE = "choice"
DATE = "date"  #: an ISO 8601 date or date-time, always nullable
STRING = "string"  #: one non-empty string
STRINGS = "strings"  #: a list of non-empty strings
SECTION_HALF_LIVES = "section_half_lives"  #: section -> half-life in days (or None)
PLACEMENTS = "placements"  #: slots of the answer (recommender.ranking.placements)

#: The value type of each Python type an option may have (``str``: a choice when the option
#: has choices).
_KINDS: dict[object, str] = {
    int: INTEGER, float: NUMBER, bool: BOOLEAN, dt.datetime: DATE, str: STRING,
    tuple[str, ...]: STRINGS, tuple[tuple[str, float | None], ...]: SECTION_HALF_LIVES,
    tuple[Placement, ...]: PLACEMENTS,
}


@dataclass(frozen=True)
class OptionSpec:
    """One ranking option.

    ``lo``/``hi`` bound numbers (``lo_open``: ``lo`` itself is refused; an unbounded
    ``hi`` is a number of days, capped over HTTP). ``nullable``: ``None`` (``none`` in a
    query string) switches it off. ``repeatable``: given several times on the command line
    (string lists also in a query string). ``flag``: the CLI spelling when it is not
    ``--name-with-dashes``. ``help`` is the one-line description (OpenAPI, ``--help``,
    docstring, ``backticks`` shown as quotes on the command line); ``cli_help`` replaces
    it where the HTTP wording does not fit a command line. ``grouped=False``: not in the
    shared ranking parameters and flags (each endpoint and command declares ``k`` itself).
    ``tunable=False``: changes how a list is reported, not what it shows (evaluation grids
    leave it alone).
    """

    name: str
    type: str
    default: Any
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    repeatable: bool = False
    flag: str | None = None
    cli_help: str | None = None
    grouped: bool = True
    tunable: bool = True

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def cli_text(self) -> str:
        return self.cli_help or self.help.replace("`", "'")

    @property
    def numeric(self) -> bool:
        return self.type in (INTEGER, NUMBER)


class _Traits(TypedDict, total=False):
    """What an option declares besides its type, default and help (see :class:`OptionSpec`)."""

    lo: float
    hi: float
    lo_open: bool
    choices: tuple[str, ...]
    repeatable: bool
    flag: str
    cli_help: str
    grouped: bool
    tunable: bool


def option(default: Any, help: str, **traits: Unpack[_Traits]) -> Any:
    """One field of :class:`RankingFields`: its default, help and traits (the field's
    annotation gives its type; ``| None``: nullable)."""
    return field(default=default, metadata={"help": help, "traits": traits})


_DAYS_OFF: _Traits = {"lo": 0, "lo_open": True}
_UNIT: _Traits = {"lo": 0, "hi": 1}
_COSINE_OFF: _Traits = {"lo": 0, "hi": 1, "lo_open": True}


@dataclass(frozen=True)
class RankingFields:
    """Every ranking option, in documentation order: the fields of
    :class:`recommender.ranking.options.RankingOptions` (which adds validation).

    A field's annotation is the option's Python type (``| None``: ``none`` switches it
    off); :func:`option` gives its default, help and bounds or choices.
    """

    k: int = option(5, "Number of links.", lo=1, hi=MAX_K, grouped=False, tunable=False)
    half_life: float | None = option(
        180.0, "Recency half-life in days; `none` switches recency off.", **_DAYS_OFF)
    recency_floor: float = option(
        0.8, "Share of the similarity a very old story keeps (0-1).", **_UNIT)
    section_half_life: tuple[tuple[str, float | None], ...] = option(
        (), "Per-section half-lives: `SECTION:DAYS` pairs separated by commas "
            "(`News:2,Features:90`; DAYS > 0 or `none`); other sections use `half_life`.",
        repeatable=True, cli_help="Per-section half-life, SECTION=DAYS (repeatable).")
    since: dt.datetime | None = option(
        None, "Only stories published from this ISO 8601 date or date-time "
              "(no offset: UTC); `none`: no bound.")
    until: dt.datetime | None = option(
        None, "Only stories published until this ISO 8601 date or date-time "
              "(no offset: UTC); `none`: no bound.")
    max_age_days: float | None = option(
        None, "Only stories at most this many days from the article; `none`: no limit.",
        **_DAYS_OFF)
    direction: str = option(
        "any", "`any`, `before` (earlier coverage) or `after` (follow-ups).",
        choices=DIRECTIONS)
    duplicate_threshold: float | None = option(
        0.98, "Similarity with the article from which a story is the same story (not shown); "
              "`none`: off.", **_COSINE_OFF)
    near_duplicate_threshold: float | None = option(
        0.98, "Mutual cosine from which two candidates show once; `none`: off.",
        **_COSINE_OFF)
    collapse_keep: str = option(
        "newer", "Which near-duplicate is shown: `newer`, `older` or `higher`.",
        choices=KEEP_RULES)
    diversity: float = option(0.0, "MMR diversity, 0 (off) to 1.", **_UNIT)
    feedback: float = option(
        0.0, "Pseudo-relevance feedback for an article's list: weight of the best two "
             "candidates added to the query before re-scoring, 0 (off) to 1.", **_UNIT)
    draft_feedback: float = option(
        0.5, "Pseudo-relevance feedback for a draft (a short query): weight of the best "
             "two candidates added to it before re-scoring, 0 (off) to 1.", **_UNIT)
    section: tuple[str, ...] = option(
        (), "Only this section (repeatable; an unknown section is a 400 of type "
            "unusable-value).",
        repeatable=True, cli_help="Only this section (repeatable).")
    exclude_sections: tuple[str, ...] = option(
        (), "Never this section (repeatable; an unknown section is a 400 of type "
            "unusable-value).",
        repeatable=True, flag="--exclude-section", cli_help="Never this section (repeatable).")
    tags: tuple[str, ...] = option(
        (), "Only stories with this tag (repeatable).", repeatable=True, flag="--tag")
    tags_mode: str = option(
        "any", "`any` or `all` of the `tags`.", choices=TAG_MODES,
        cli_help="any or all of the --tag values.")
    language: str | None = option(
        None, "Only this language (default: the article's own); `any` for all (an unknown "
              "language is a 400 of type unusable-value).",
        cli_help="Only this language (default: the article's own; 'any' for all).")
    exclude: tuple[str, ...] = option(
        (), "Never this article id (repeatable).", repeatable=True)
    status: str = option("published", "`published` (default) or `any`.", choices=STATUSES)
    min_score: float = option(0.0, "Similarity floor (0-1).", **_UNIT)
    fallback: str | None = option(
        None, "`latest_in_section`: fill empty slots with the section's newest stories; "
              "`none`: off.", choices=FALLBACKS)
    explain: bool = option(False, "Show why each link is there.", tunable=False)
    debug: bool = option(False, "Also list dropped candidates and why.", tunable=False)
    explain_terms: int = option(5, "Terms per explanation.", lo=1, hi=50, tunable=False)
    placements: tuple[Placement, ...] = option(
        (), "Slots of the answer, comma-separated: `inline:P:N` (N links after paragraph P, "
            "chosen by the passage before it and the whole story), `end:N` (the end block, "
            "which `related` then holds); `:pins` after a slot sends the article's pins there "
            "(default: the end block). At most 100 links in total; `k` is not used.",
        repeatable=True, flag="--placement", tunable=False,
        cli_help="A slot of the answer: inline:PARAGRAPH:COUNT or end:COUNT, ':pins' to send "
                 "the pins there (repeatable).")
    pool: int = option(50, "Candidates examined for collapse and diversity.", lo=1, hi=1000)


def _declared(fields_of: type) -> tuple[OptionSpec, ...]:
    hints = get_type_hints(fields_of)
    specs = []
    for declared in fields(fields_of):
        hint = hints[declared.name]
        args = get_args(hint)
        nullable = isinstance(hint, types.UnionType) and type(None) in args
        base = next(a for a in args if a is not type(None)) if nullable else hint
        traits: _Traits = declared.metadata["traits"]
        if base not in _KINDS:
            raise TypeError(f"ranking option {declared.name}: unsupported type {hint}")
        kind = CHOICE if traits.get("choices") else _KINDS[base]
        specs.append(OptionSpec(declared.name, kind, declared.default,
                                declared.metadata["help"], nullable=nullable, **traits))
    return tuple(specs)


#: Every ranking option, in documentation order (from :class:`RankingFields`).
OPTIONS: tuple[OptionSpec, ...] = _declared(RankingFields)
#: The options by name.
BY_NAME: dict[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}
#: The options shared by every endpoint and command (all but ``k``).
GROUPED: tuple[OptionSpec, ...] = tuple(spec for spec in OPTIONS if spec.grouped)
