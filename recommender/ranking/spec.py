"""The ranking options, each declared once: name, type, default, bounds or choices,
nullability, repetition, help.

Every surface is generated from :data:`OPTIONS`: the fields, validators and docstring of
:class:`recommender.ranking.options.RankingOptions`, the HTTP query/JSON grammar and its OpenAPI
parameters (:mod:`service.ranking_params`) and the flags of ``alsosee related``
(:mod:`recommender.cli.editorial`). A new option is one more :class:`OptionSpec` here.

Plain Python only (no numpy): the CLI reads this module to build its flags, and
``alsosee --help`` must stay fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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

_PYTHON_TYPES: dict[str, Any] = {
    INTEGER: int, NUMBER: float, BOOLEAN: bool, CHOICE: str, DATE: dt.datetime, STRING: str,
    STRINGS: tuple[str, ...], SECTION_HALF_LIVES: tuple[tuple[str, float | None], ...],
    PLACEMENTS: tuple[Any, ...],
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
    def annotation(self) -> Any:
        """The Python type of the validated value."""
        base = _PYTHON_TYPES[self.type]
        return base | None if self.nullable else base

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def cli_text(self) -> str:
        return self.cli_help or self.help.replace("`", "'")

    @property
    def numeric(self) -> bool:
        return self.type in (INTEGER, NUMBER)


_DAYS_OFF = dict(type=NUMBER, lo=0, lo_open=True, nullable=True)
_UNIT = dict(type=NUMBER, lo=0, hi=1)
_COSINE_OFF = dict(type=NUMBER, lo=0, hi=1, lo_open=True, nullable=True)

#: Every ranking option, in documentation order.
OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("k", INTEGER, 5, "Number of links.", lo=1, hi=MAX_K, grouped=False,
               tunable=False),
    OptionSpec("half_life", default=180.0, **_DAYS_OFF,
               help="Recency half-life in days; `none` switches recency off."),
    OptionSpec("recency_floor", default=0.8, **_UNIT,
               help="Share of the similarity a very old story keeps (0-1)."),
    OptionSpec("section_half_life", SECTION_HALF_LIVES, (), repeatable=True,
               help="Per-section half-lives: `SECTION:DAYS` pairs separated by commas "
                    "(`News:2,Features:90`; DAYS > 0 or `none`); other sections use "
                    "`half_life`.",
               cli_help="Per-section half-life, SECTION=DAYS (repeatable)."),
    OptionSpec("since", DATE, None, nullable=True,
               help="Only stories published from this ISO 8601 date or date-time "
                    "(no offset: UTC); `none`: no bound."),
    OptionSpec("until", DATE, None, nullable=True,
               help="Only stories published until this ISO 8601 date or date-time "
                    "(no offset: UTC); `none`: no bound."),
    OptionSpec("max_age_days", default=None, **_DAYS_OFF,
               help="Only stories at most this many days from the article; `none`: no "
                    "limit."),
    OptionSpec("direction", CHOICE, "any", choices=DIRECTIONS,
               help="`any`, `before` (earlier coverage) or `after` (follow-ups)."),
    OptionSpec("duplicate_threshold", default=0.98, **_COSINE_OFF,
               help="Cosine with the article from which a story is the same story (not "
                    "shown); `none`: off."),
    OptionSpec("near_duplicate_threshold", default=0.98, **_COSINE_OFF,
               help="Mutual cosine from which two candidates show once; `none`: off."),
    OptionSpec("collapse_keep", CHOICE, "newer", choices=KEEP_RULES,
               help="Which near-duplicate is shown: `newer`, `older` or `higher`."),
    OptionSpec("diversity", default=0.0, **_UNIT, help="MMR diversity, 0 (off) to 1."),
    OptionSpec("feedback", default=0.0, **_UNIT,
               help="Pseudo-relevance feedback for an article's list: weight of the best two "
                    "candidates added to the query before re-scoring, 0 (off) to 1."),
    OptionSpec("draft_feedback", default=0.5, **_UNIT,
               help="Pseudo-relevance feedback for a draft (a short query): weight of the best "
                    "two candidates added to it before re-scoring, 0 (off) to 1."),
    OptionSpec("section", STRINGS, (), repeatable=True,
               help="Only this section (repeatable; an unknown section is a 400 of type "
                    "unusable-value).",
               cli_help="Only this section (repeatable)."),
    OptionSpec("exclude_sections", STRINGS, (), repeatable=True, flag="--exclude-section",
               help="Never this section (repeatable; an unknown section is a 400 of type "
                    "unusable-value).",
               cli_help="Never this section (repeatable)."),
    OptionSpec("tags", STRINGS, (), repeatable=True, flag="--tag",
               help="Only stories with this tag (repeatable)."),
    OptionSpec("tags_mode", CHOICE, "any", choices=TAG_MODES,
               help="`any` or `all` of the `tags`.", cli_help="any or all of the --tag values."),
    OptionSpec("language", STRING, None, nullable=True,
               help="Only this language (default: the article's own); `any` for all (an "
                    "unknown language is a 400 of type unusable-value).",
               cli_help="Only this language (default: the article's own; 'any' for all)."),
    OptionSpec("exclude", STRINGS, (), repeatable=True,
               help="Never this article id (repeatable)."),
    OptionSpec("status", CHOICE, "published", choices=STATUSES,
               help="`published` (default) or `any`."),
    OptionSpec("min_score", default=0.0, **_UNIT, help="Similarity floor (0-1)."),
    OptionSpec("fallback", CHOICE, None, choices=FALLBACKS, nullable=True,
               help="`latest_in_section`: fill empty slots with the section's newest "
                    "stories; `none`: off."),
    OptionSpec("explain", BOOLEAN, False, "Show why each link is there.", tunable=False),
    OptionSpec("debug", BOOLEAN, False, "Also list dropped candidates and why.",
               tunable=False),
    OptionSpec("explain_terms", INTEGER, 5, "Terms per explanation.", lo=1, hi=50,
               tunable=False),
    OptionSpec("placements", PLACEMENTS, (), repeatable=True, flag="--placement", tunable=False,
               help="Slots of the answer, comma-separated: `inline:P:N` (N links after "
                    "paragraph P, chosen by the passage before it and the whole story), "
                    "`end:N` (the end block, which `related` then holds); `:pins` after a "
                    "slot sends the article's pins there (default: the end block). At most "
                    "100 links in total; `k` is not used.",
               cli_help="A slot of the answer: inline:PARAGRAPH:COUNT or end:COUNT, "
                        "':pins' to send the pins there (repeatable)."),
    OptionSpec("pool", INTEGER, 50, "Candidates examined for collapse and diversity.",
               lo=1, hi=1000),
)

#: The options by name.
BY_NAME: dict[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}
#: The options shared by every endpoint and command (all but ``k``).
GROUPED: tuple[OptionSpec, ...] = tuple(spec for spec in OPTIONS if spec.grouped)
