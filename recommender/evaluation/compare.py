"""Comparisons: parse a grid of settings, build one system per setting, holding the corpus fixed.

A setting names *model parameters* (``RelatedStories`` parameters such as ``title_weight``,
``max_df``, ``strip_boilerplate``: the model is re-fitted on the same corpus, once per
distinct combination) and/or *ranking options* (keyword options of ``related()``, such as
``half_life`` or ``diversity``: applied at query time, no re-fit). Any other name is an error
listing the valid ones.

``--set title_weight=1,2,4 --set half_life=7,30,none`` is the cartesian product of the
values; a grid file (TOML or JSON) is either such a mapping of lists or a list of explicit
settings (``[[config]]`` tables in TOML)::

    title_weight = [1, 2]
    half_life = [7, "none"]
"""

from __future__ import annotations

import itertools
import json
import logging
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidParameterError
from ..model.estimator import RelatedStories
from .systems import System, ranked_system, ranking_option_defaults

__all__ = [
    "build_systems",
    "expand_grid",
    "load_grid",
    "parameter_names",
    "parse_set",
    "parse_value",
]

logger = logging.getLogger(__name__)


def parse_value(text: str) -> Any:
    """``"none"`` -> None, ``"true"``/``"false"`` -> bool, numbers -> int/float, else str."""
    s = text.strip()
    low = s.lower()
    if low in ("none", "null", "off"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low == "false" or low == "no":
        return False
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def parse_set(values: Iterable[str]) -> dict[str, list[Any]]:
    """Parse ``--set NAME=V1,V2`` options into ``{name: [values]}``.

    Examples
    --------
    >>> parse_set(["half_life=7,30,none", "title_weight=1,2"])
    {'half_life': [7, 30, None], 'title_weight': [1, 2]}
    """
    grid: dict[str, list[Any]] = {}
    for item in values:
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise InvalidParameterError("--set", f"expected NAME=V1,V2,..., got {item!r}")
        grid.setdefault(name, [])
        for v in rest.split(","):
            if v.strip():
                value = parse_value(v)
                if value not in grid[name]:
                    grid[name].append(value)
    return grid


def _from_file_value(v: Any) -> Any:
    if isinstance(v, str):
        return parse_value(v)  # TOML has no null: "none"
    if isinstance(v, list):
        return tuple(v)  # e.g. ngram_range = [[1, 1], [1, 2]]
    return v


def load_grid(path: str | Path) -> dict[str, list[Any]] | list[dict[str, Any]]:
    """Read a grid file (TOML or JSON): a mapping name -> list of values, or a list of
    settings (``{"configs": [...]}``, TOML ``[[config]]`` tables, or a JSON list)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidParameterError("--grid", f"{p}: cannot read ({e.strerror or e})") from e
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidParameterError("--grid", f"{p}: malformed JSON at line {e.lineno}: "
                                    f"{e.msg}") from e
    except tomllib.TOMLDecodeError as e:
        raise InvalidParameterError("--grid", f"{p}: malformed TOML: {e}") from e
    if isinstance(data, dict):
        configs = data.get("configs", data.get("config"))
        if isinstance(configs, list):
            data = configs
    if isinstance(data, list):
        out = []
        for i, cfg in enumerate(data, 1):
            if not isinstance(cfg, dict):
                raise InvalidParameterError("--grid", f"{p}: setting {i} is not a table/object")
            out.append({str(k): _from_file_value(v) for k, v in cfg.items()})
        if not out:
            raise InvalidParameterError("--grid", f"{p}: no settings")
        return out
    if not isinstance(data, dict) or not data:
        raise InvalidParameterError("--grid", f"{p}: expected a mapping of parameter names to "
                                    "lists of values, or a list of settings")
    grid = {}
    for name, values in data.items():
        values = values if isinstance(values, list) else [values]
        grid[str(name)] = [_from_file_value(v) for v in values]
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]
                ) -> list[dict[str, Any]]:
    """Cartesian product of a ``{name: values}`` grid (a list of settings is kept as is)."""
    if not isinstance(grid, Mapping):
        return [dict(cfg) for cfg in grid]
    names = list(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(grid[n] for n in names))]


#: Model parameters that change how a model is computed, not what it finds.
_NOT_TUNABLE = frozenset({"n_jobs"})


def parameter_names(model: RelatedStories) -> dict[str, str]:
    """Every tunable name -> ``"model"`` (needs a re-fit) or ``"ranking"`` (query time)."""
    kinds = {name: "model" for name in model.get_params() if name not in _NOT_TUNABLE}
    for name in ranking_option_defaults():
        kinds.setdefault(name, "ranking")
    return kinds


def _defaults(model: RelatedStories) -> dict[str, Any]:
    return {**ranking_option_defaults(), **model.get_params()}


def _label(cfg: Mapping[str, Any]) -> str:
    def show(v: Any) -> str:
        if v is None:
            return "none"
        if isinstance(v, tuple):
            return "-".join(map(str, v))
        return str(v)

    return ",".join(f"{k}={show(v)}" for k, v in cfg.items()) or "defaults"


def validate_settings(model: RelatedStories, settings: Sequence[Mapping[str, Any]]) -> None:
    """Raise :class:`InvalidParameterError` naming every valid name if one is unknown."""
    kinds = parameter_names(model)
    for cfg in settings:
        for name in cfg:
            if name not in kinds:
                model_names = sorted(n for n, k in kinds.items() if k == "model")
                ranking_names = sorted(n for n, k in kinds.items() if k == "ranking")
                raise InvalidParameterError(
                    name, "unknown parameter; valid names are: model parameters (re-fitted "
                    f"on the corpus) {', '.join(model_names)}; ranking options "
                    f"{', '.join(ranking_names) or '(none in this version)'}")


def needs_refit(model: RelatedStories, settings: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any setting changes a model parameter (so the corpus is needed)."""
    kinds = parameter_names(model)
    base = model.get_params()
    return any(kinds.get(n) == "model" and base.get(n) != v
               for cfg in settings for n, v in cfg.items())


def build_systems(
    model: RelatedStories,
    settings: Sequence[Mapping[str, Any]],
    corpus: pd.DataFrame | None = None,
    *,
    db: Any = None,
    on_fit: Any = None,
) -> list[System]:
    """One :class:`ModelSystem` per setting, the defaults first.

    Parameters
    ----------
    model : RelatedStories
        The fitted model being evaluated ("defaults").
    settings : sequence of mapping
        Settings to compare (see :func:`expand_grid`); a setting equal to the defaults is
        dropped.
    corpus : DataFrame, optional
        The model's corpus; required when a setting changes a model parameter. Its ids must
        be the model's.
    db : StateDB, optional
        The state database (takedowns, pins, blocks) the ranking engine applies.
    on_fit : callable, optional
        Called with a setting's label before each re-fit (progress).

    Raises
    ------
    InvalidParameterError
        Unknown parameter name (the message lists the valid ones), a re-fit without a
        corpus, or a corpus that is not the model's.
    """
    validate_settings(model, settings)
    kinds = parameter_names(model)
    defaults = _defaults(model)
    if needs_refit(model, settings):
        if corpus is None:
            raise InvalidParameterError(
                "corpus", "comparing model parameters re-fits the model on its corpus: pass "
                "--corpus FILE (the corpus the model was trained on)")
        ids = set(corpus["id"].astype(str))
        if ids != set(map(str, model.ids_)):
            raise InvalidParameterError(
                "corpus", f"the corpus ({len(ids)} articles) is not the one the model was "
                f"trained on ({model.n_articles_} articles): the comparison must hold the "
                "corpus fixed")
    systems: list[System] = [ranked_system(model, {}, name="defaults", params={}, db=db)]
    fitted: dict[str, RelatedStories] = {}
    seen = {"defaults"}
    for cfg in settings:
        changed = {n: v for n, v in cfg.items() if defaults.get(n, object()) != v}
        label = _label(changed)  # name a setting by what it changes
        if not changed or label in seen:
            continue
        seen.add(label)
        model_params = {n: v for n, v in cfg.items() if kinds[n] == "model"}
        options = {n: v for n, v in cfg.items() if kinds[n] == "ranking"}
        key = _label(model_params)
        if not {n for n in model_params if defaults.get(n) != model_params[n]}:
            variant = model
        elif key in fitted:
            variant = fitted[key]
        else:
            if on_fit:
                on_fit(key)
            params = {**model.get_params(), **model_params}
            try:
                variant = RelatedStories(**params).fit(corpus)
            except (TypeError, ValueError) as e:
                raise InvalidParameterError(next(iter(model_params)),
                                            f"cannot fit with {key}: {e}") from e
            fitted[key] = variant
        systems.append(ranked_system(variant, options, name=label, params=dict(cfg), db=db))
    return systems
