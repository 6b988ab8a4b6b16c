"""Newsroom ranking: options and pure, vectorised functions over candidate arrays.

Everything here works on plain numpy arrays (candidate rows, scores, timestamps as int64
nanoseconds since the epoch with ``NaT`` as the minimum int64) and knows nothing about models,
databases or HTTP: :mod:`recommender.engine.recommender` assembles these steps into a ranking.

The options of a ranking live in one frozen dataclass, :class:`RankingOptions`, whose fields
are their declaration in :mod:`recommender.ranking.spec` and whose
:meth:`RankingOptions.from_mapping` validates a plain mapping (an HTTP query string, a JSON
body, CLI flags, an evaluation config) and names the offending field on error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the pure steps take scipy matrices, this module does not need scipy
    import scipy.sparse as sp

from ..errors import InvalidParameterError
from .placements import parse_placements, placements_text
from .spec import (  # the choices are re-exported: part of this module's API
    BOOLEAN,
    BY_NAME,
    CHOICE,
    DATE,
    DIRECTIONS,  # noqa: F401
    FALLBACKS,  # noqa: F401
    INTEGER,
    KEEP_RULES,  # noqa: F401
    MAX_K,  # noqa: F401
    NUMBER,
    OPTIONS,
    PLACEMENTS,
    SECTION_HALF_LIVES,
    STATUSES,  # noqa: F401
    STRING,
    STRINGS,
    TAG_MODES,  # noqa: F401
    OptionSpec,
    RankingFields,
)

#: Nanoseconds per day (timestamps are int64 ns since the epoch).
NS_PER_DAY = 86_400 * 10**9
#: ``datetime64[ns]`` NaT viewed as int64.
NAT = np.iinfo(np.int64).min

#: Best candidates whose mean expands the query (``RankingOptions.feedback``).
FEEDBACK_DOCS = 2

# Reasons a candidate is dropped (debug mode), in the order the checks run.
DROP_SELF = "self"
DROP_KILLED = "killed"
DROP_UNPUBLISHED = "unpublished"
DROP_BLOCKED = "blocked"
DROP_EXCLUDED = "excluded"
DROP_FILTERED = "filtered"
DROP_TOO_OLD = "too_old"
DROP_DUPLICATE = "duplicate"
DROP_BELOW_FLOOR = "below_floor"
DROP_DIVERSITY = "diversity"

#: Reason codes of :func:`eligibility` (0 = eligible).
REASON_CODES = (
    "", DROP_SELF, DROP_KILLED, DROP_UNPUBLISHED, DROP_BLOCKED, DROP_EXCLUDED, DROP_FILTERED,
    DROP_TOO_OLD,
)

_OFF = frozenset({"none", "off", "null", "false", ""})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# ====================================================================== options
def _number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, allow_none: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        if allow_none:
            return None
        raise InvalidParameterError(name, "a number is required")
    if isinstance(value, bool):
        raise InvalidParameterError(name, f"must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidParameterError(name, f"must be a number, got {value!r}") from None
    if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise InvalidParameterError(name, f"must be a finite number, got {value!r}")
    value = float(value)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        op = ">" if lo_open else ">="
        raise InvalidParameterError(name, f"must be {op} {lo:g}, got {value:g}")
    if hi is not None and value > hi:
        raise InvalidParameterError(name, f"must be <= {hi:g}, got {value:g}")
    return value


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(name, f"must be an integer between {lo} and {hi}, "
                                          f"got {value!r}")
    if not lo <= int(value) <= hi:
        raise InvalidParameterError(name, f"must be between {lo} and {hi}, got {value}")
    return int(value)


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise InvalidParameterError(name, f"must be true or false, got {value!r}")


def _choice(name: str, value: Any, choices: Sequence[str], allow_none: bool = False
            ) -> str | None:
    if allow_none and (value is None or (isinstance(value, str) and value.lower() in _OFF)):
        return None
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise InvalidParameterError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value.strip().lower()


def _strings(name: str, value: Any) -> tuple[str, ...]:
    """A list of non-empty strings (a single string is a list of one)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterError(name, f"must be a string or a list of strings, got {value!r}")
    items = tuple(v.strip() for v in value if v.strip())
    if len(items) > 1000:
        raise InvalidParameterError(name, f"at most 1000 values, got {len(items)}")
    return items


def parse_datetime(name: str, value: Any) -> dt.datetime | None:
    """An ISO 8601 date or date-time (naive means UTC) as an aware datetime, or None."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidParameterError(
                name, f"must be an ISO 8601 date or date-time (e.g. 2012-05-01 or "
                      f"2012-05-01T10:00:00Z), got {value!r}"
            ) from None
    else:
        raise InvalidParameterError(name, f"must be an ISO 8601 date string, got {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _section_half_lives(name: str, value: Any) -> tuple[tuple[str, float | None], ...]:
    """``{"News": 2, "Features": 90}``, or ``"News:2,Features:90"`` / ``["News=2", ...]``."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)) and all(
        isinstance(item, (list, tuple)) and len(item) == 2 for item in value
    ):
        value = dict(value)
    if isinstance(value, (list, tuple)):
        pairs = {}
        for item in value:
            if not isinstance(item, str):
                raise InvalidParameterError(name, f"expected SECTION:DAYS items, got {item!r}")
            sep = "=" if "=" in item else ":"
            section, found, days = item.rpartition(sep)
            if not found or not section.strip():
                raise InvalidParameterError(name, f"expected SECTION:DAYS, got {item!r}")
            pairs[section.strip()] = days
        value = pairs
    if not isinstance(value, Mapping):
        raise InvalidParameterError(name, f"must map sections to half-lives, got {value!r}")
    out = []
    for section, days in value.items():
        half = _number(f"{name}.{section}", days, lo=0.0, lo_open=True, allow_none=True)
        out.append((str(section), half))
    return tuple(sorted(out))


def _validator(spec: OptionSpec) -> Callable[[str, Any], Any]:
    """The library validator of one declared option (forgiving: CLI flags, configs)."""
    lo, hi = spec.lo, spec.hi
    if spec.type == INTEGER:
        assert lo is not None and hi is not None, spec.name
        return lambda n, v: _integer(n, v, int(lo), int(hi))
    if spec.type == NUMBER:
        return lambda n, v: _number(n, v, lo=lo, hi=hi, lo_open=spec.lo_open,
                                    allow_none=spec.nullable)
    if spec.type == CHOICE:
        return lambda n, v: _choice(n, v, spec.choices, allow_none=spec.nullable)
    if spec.type == STRING:
        return lambda n, v: None if v is None else (_strings(n, v) or (None,))[0]
    return {BOOLEAN: _boolean, DATE: parse_datetime, STRINGS: _strings,
            SECTION_HALF_LIVES: _section_half_lives, PLACEMENTS: parse_placements}[spec.type]


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {s.name: _validator(s) for s in OPTIONS}
_NUMERIC = frozenset(s.name for s in OPTIONS if s.numeric)
_NULLABLE = frozenset(s.name for s in OPTIONS if s.nullable)
_BOOLEAN = frozenset(s.name for s in OPTIONS if s.type == BOOLEAN)


def _check_json_type(name: str, value: Any) -> None:
    if value is None:
        if name not in _NULLABLE:
            raise InvalidParameterError(name, "must not be null")
        return
    if name in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InvalidParameterError(name, f"must be a JSON number, got {value!r}")
    if name in _BOOLEAN and not isinstance(value, bool):
        raise InvalidParameterError(name, f"must be a JSON boolean, got {value!r}")


def _parameter_doc(spec: OptionSpec) -> str:
    if spec.numeric and spec.hi is not None:
        kind = f"{spec.type} in {'(' if spec.lo_open else '['}{spec.lo:g}, {spec.hi:g}]"
    elif spec.type == CHOICE:
        kind = "{" + ", ".join(f'"{c}"' for c in spec.choices) + "}"
    else:
        kind = spec.type
    if spec.nullable:
        kind += " or None"
    return f"{spec.name} : {kind}, default={spec.default!r}\n        {spec.help}"


@dataclass(frozen=True)
class RankingOptions(RankingFields):
    """Every knob of the newsroom ranking (library argument, CLI flag and HTTP field).

    The options are declared once, as the fields of
    :class:`recommender.ranking.spec.RankingFields`; this class's validation and the parameter
    list below are generated from there.

    Defaults were chosen by cross-validation over the development sets against a plain
    scikit-learn TF-IDF baseline (``scripts/quality.py --cv``; figures in docs/quality.md).

    Recency: ``score = similarity * (floor + (1 - floor) * 0.5 ** (age_gap / half_life))``
    with ``age_gap`` the distance in days between a candidate and the article being read
    (for a draft: now); ``section_half_life`` overrides ``half_life`` by the candidate's
    section. ``duplicate_threshold`` hides a candidate whose cosine with the article itself
    makes it the same story (a re-publication, an update); ``near_duplicate_threshold``
    shows once each group of mutually similar candidates (``collapse_keep`` picks which).
    ``feedback`` re-scores the candidates against the query plus ``feedback`` times the mean
    of its :data:`FEEDBACK_DOCS` best candidates (what the closest stories share counts more
    than an incidental word); ``similarity`` is then the cosine with that expanded query,
    and explanations decompose it. ``language=None`` means the article's own language when
    the corpus has a language column; ``"any"`` switches the filter off.

    Parameters
    ----------
    {parameters}
    """

    # ------------------------------------------------------------------ build
    def __post_init__(self) -> None:
        # Validate whatever the constructor got (library callers pass Python values).
        for name, value in self._validated(dataclasses.asdict(self), strict=True).items():
            object.__setattr__(self, name, value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Valid option names (for error messages, CLI and HTTP parsing)."""
        return tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None,
                     base: RankingOptions | None = None, *,
                     json_types: bool = False) -> RankingOptions:
        """Validate a mapping of option names to values over ``base`` (default: defaults).

        Raises :class:`InvalidParameterError` naming the field for an unknown name or a bad
        value. Values may be strings (query strings, CLI flags: parsed) or JSON types; with
        ``json_types=True`` (a JSON body) numbers and booleans must be JSON numbers and
        booleans, not strings.
        """
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise InvalidParameterError(
                unknown[0], f"unknown ranking option; valid options: {', '.join(cls.names())}"
            )
        if json_types:
            for name, value in values.items():
                _check_json_type(name, value)
        base = base or cls()
        return dataclasses.replace(base, **cls._validated(values, strict=False))

    def replace(self, **changes: Any) -> RankingOptions:
        """A copy with some options changed (validated like :meth:`from_mapping`)."""
        return self.from_mapping(changes, base=self)

    @staticmethod
    def _validated(values: Mapping[str, Any], strict: bool) -> dict[str, Any]:
        return {name: _VALIDATORS[name](name, value) for name, value in values.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (datetimes as ISO strings, mappings as objects)."""
        out: dict[str, Any] = {}
        for name in self.names():
            value = getattr(self, name)
            if name == "placements":  # an answer without slots reads as it always has
                if value:
                    out[name] = placements_text(value)
                continue
            if isinstance(value, dt.datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif BY_NAME[name].type == SECTION_HALF_LIVES:
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    def half_life_for(self, section: str | None) -> float | None:
        for name, days in self.section_half_life:
            if name == section:
                return days
        return self.half_life


RankingOptions.__doc__ = (RankingOptions.__doc__ or "").replace(
    "{parameters}", "\n    ".join(_parameter_doc(s) for s in OPTIONS))


# ============================================================ time and recency
def to_ns(when: dt.datetime | np.datetime64 | None) -> int:
    """A datetime as int64 ns since the epoch (``NAT`` for None)."""
    if when is None:
        return NAT
    if isinstance(when, np.datetime64):
        return int(when.astype("datetime64[ns]").astype(np.int64))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(round(when.timestamp() * 1e6)) * 1000


def age_gap_days(timestamps: np.ndarray, reference: int) -> np.ndarray:
    """Absolute distance in days between each timestamp and ``reference`` (NaN if unknown)."""
    ts = np.asarray(timestamps, dtype=np.int64)
    gap = np.abs(ts.astype(np.float64) - float(reference)) / NS_PER_DAY
    gap[(ts == NAT) | (reference == NAT)] = np.nan
    return gap


def recency_factor(age_gap: np.ndarray, half_life: float | np.ndarray | None,
                   floor: float) -> np.ndarray:
    """``floor + (1 - floor) * 0.5 ** (age_gap / half_life)``, element-wise.

    Unknown ages (NaN) and a ``None``/NaN half-life give a factor of 1 (no decay).
    """
    gap = np.asarray(age_gap, dtype=np.float64)
    if half_life is None:
        return np.ones_like(gap)
    half = np.broadcast_to(np.asarray(half_life, dtype=np.float64), gap.shape)
    # A tiny half-life (5e-324 days is valid) overflows gap / half to inf: 0.5 ** inf = 0.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factor = floor + (1.0 - floor) * np.power(0.5, gap / half)
    return np.where(np.isnan(factor), 1.0, factor)


def window_mask(timestamps: np.ndarray, reference: int, *, since: int = NAT, until: int = NAT,
                max_age_days: float | None = None, direction: str = "any") -> np.ndarray:
    """Rows inside the hard time windows (True = kept).

    Undated rows fail every active window (they cannot be shown to be inside it).
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    keep = np.ones(ts.shape, dtype=bool)
    dated = ts != NAT
    if since != NAT:
        keep &= dated & (ts >= since)
    if until != NAT:
        keep &= dated & (ts <= until)
    if reference != NAT:
        if max_age_days is not None:
            keep &= dated & (np.abs(ts - reference) <= max_age_days * NS_PER_DAY)
        if direction == "before":
            keep &= dated & (ts <= reference)
        elif direction == "after":
            keep &= dated & (ts >= reference)
    return keep


# ==================================================================== filters
def tags_mask(row_tags: Sequence[Any], wanted: Iterable[str], mode: str = "any") -> np.ndarray:
    """Rows whose tags match ``wanted`` (case-insensitive), any or all of them."""
    wanted_set = {t.lower() for t in wanted}
    out = np.zeros(len(row_tags), dtype=bool)
    if not wanted_set:
        out[:] = True
        return out
    for i, tags in enumerate(row_tags):
        have = {str(t).lower() for t in (tags if tags is not None else ())}
        out[i] = wanted_set <= have if mode == "all" else bool(wanted_set & have)
    return out


# ================================================================ collapse
def collapse_groups(order: np.ndarray, sim: np.ndarray, threshold: float) -> np.ndarray:
    """Group candidates that are near-duplicates of each other.

    ``order`` are candidate positions best first and ``sim`` their pairwise cosine matrix.
    Each candidate joins the group of the first better candidate it is a near-duplicate of
    (cosine >= ``threshold``), else starts its own group. Returns the group leader (a position)
    of every position.
    """
    n = sim.shape[0]
    leader = np.arange(n)
    close = sim >= threshold
    np.fill_diagonal(close, False)
    if not close.any():  # the common case: nothing to collapse
        return leader
    leaders: list[int] = []
    for pos in order:
        for lead in leaders:
            if sim[pos, lead] >= threshold:
                leader[pos] = lead
                break
        else:
            leaders.append(int(pos))
    return leader


def group_leaders(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """:func:`collapse_groups` from the near-duplicate pairs instead of a matrix.

    Positions ``0..n-1`` are candidates best first; ``(first[i], second[i])`` are the pairs
    that are near-duplicates (either direction, repeats allowed). Same rule: each candidate
    joins the group of the best earlier group leader it is a near-duplicate of. Only the
    positions that have an earlier near-duplicate are visited (usually none or a few).
    """
    leader = np.arange(n)
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    keep = lo != hi
    if not keep.any():
        return leader
    lo, hi = lo[keep], hi[keep]
    order = np.lexsort((lo, hi))  # by the later position, then its earlier partners
    current, found = -1, False
    for h, low in zip(hi[order].tolist(), lo[order].tolist(), strict=True):
        if h != current:
            current, found = h, False
        if not found and leader[low] == low:  # the best earlier leader: join its group
            leader[h] = low
            found = True
    return leader


def pick_in_groups(leader: np.ndarray, scores: np.ndarray, timestamps: np.ndarray,
                   keep: str = "newer") -> np.ndarray:
    """The member of each group to show: the newest (``newer``), oldest, or best (``higher``).

    Undated members lose to dated ones under ``newer``/``older``; ties go to the better score,
    then to the earlier position. Returns a boolean array (True = shown).
    """
    leader = np.asarray(leader)
    n = len(leader)
    shown = leader == np.arange(n)
    members = np.flatnonzero(np.bincount(leader, minlength=n)[leader] > 1)
    if not members.size:
        return shown
    group = leader[members]
    score = np.asarray(scores)[members]
    if keep == "higher":
        keys: tuple[np.ndarray, ...] = (score,)
    else:
        ts = np.asarray(timestamps, dtype=np.int64)[members]
        dated = ts != NAT
        # older: the smallest timestamp wins (undated keep 0: negating NaT would overflow)
        when = ts if keep == "newer" else np.where(dated, -ts, 0)
        keys = (dated, when, score)
    # Within each group ascending by key, the earliest position last among equal keys:
    # the last member of each group is the one shown.
    order = np.lexsort((-members, *reversed(keys), group))
    last = np.r_[group[order][1:] != group[order][:-1], True]
    shown[members] = False
    shown[members[order[last]]] = True
    return shown


# ================================================================== diversity
def mmr(relevance: np.ndarray, sim: np.ndarray | Callable[[int], np.ndarray], k: int,
        diversity: float) -> np.ndarray:
    """Maximal marginal relevance: positions in pick order.

    Each step takes ``argmax((1 - diversity) * relevance - diversity * max_sim_to_picked)``;
    ``diversity=0`` is plain relevance order (ties by position). ``sim`` is the pairwise
    cosine matrix, or a function returning one row of it: only the rows of the picked
    positions are read (all but the last), so they can be computed on demand.
    """
    n = len(relevance)
    k = min(k, n)
    if n == 0 or k == 0:
        return np.empty(0, dtype=np.int64)
    rel = np.asarray(relevance, dtype=np.float64)
    if diversity <= 0:
        return np.lexsort((np.arange(n), -rel))[:k]
    row = sim.__getitem__ if isinstance(sim, np.ndarray) else sim
    lam = 1.0 - diversity
    base = lam * rel
    picked: list[int] = []
    max_sim = np.zeros(n)
    for step in range(k):
        gain = base - diversity * max_sim
        if picked:
            gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        if step + 1 < k:
            max_sim = np.maximum(max_sim, row(best))
    return np.asarray(picked, dtype=np.int64)


def top_positions(scores: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best positive ``scores`` where ``mask``; best first, then
    by position (argpartition: linear in the number of positions)."""
    cand = np.flatnonzero(mask & (scores > 0))
    if cand.size > n:
        part = np.argpartition(-scores[cand], n - 1)[:n]
        kth = scores[cand[part]].min()
        cand = cand[scores[cand] >= kth]
    order = np.lexsort((cand, -scores[cand]))
    return cand[order][:n]


def pair_cosines(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dot products between the given rows of a CSR matrix (cosines for L2-normalised rows).

    Works on the raw CSR arrays and only on the columns at least two of the rows share:
    scipy's general sparse product would transpose over every column of the vocabulary,
    which costs more than the whole rest of a ranking.
    """
    rows = np.asarray(rows, dtype=np.int64)
    p = rows.size
    indptr = matrix.indptr
    starts = indptr[rows].astype(np.int64)
    lens = indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if p == 0 or total == 0:
        return np.zeros((p, p))
    offsets = np.cumsum(lens) - lens
    idx = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lens)
    cols = np.asarray(matrix.indices[idx])
    vals = np.asarray(matrix.data[idx], dtype=np.float64)
    owner = np.repeat(np.arange(p), lens)
    diag = np.bincount(owner, weights=vals * vals, minlength=p)
    order = np.argsort(cols, kind="stable")
    cols, vals, owner = cols[order], vals[order], owner[order]
    first = np.empty(total, dtype=bool)
    first[0] = True
    np.not_equal(cols[1:], cols[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    shared = np.bincount(group)[group] >= 2
    # Every pair of entries in the same column contributes v_i * v_j to its two rows' dot
    # product; summed with bincount (no BLAS: its threads stall under CPU contention).
    cols_s, vals_s, owner_s = cols[shared], vals[shared], owner[shared]
    gram: np.ndarray = np.zeros(p * p)
    if cols_s.size:
        grp = group[shared]
        start = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        size = np.diff(np.r_[start, grp.size])
        g_of = np.repeat(size, size)  # group size of each entry
        s_of = np.repeat(start, size)  # group start of each entry
        left = np.repeat(np.arange(grp.size), g_of)
        offs = np.cumsum(g_of) - g_of
        right = np.repeat(s_of, g_of) + (np.arange(left.size) - np.repeat(offs, g_of))
        gram = np.bincount(owner_s[left] * p + owner_s[right],
                           weights=vals_s[left] * vals_s[right], minlength=p * p)
    gram = gram.reshape(p, p)
    np.fill_diagonal(gram, diag)
    return gram
