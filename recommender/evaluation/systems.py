"""The recommenders an evaluation compares: the model (with options) and the baselines.

Every system answers ``recommend(query_id, depth) -> (ids, scores)``: the ranked list for
one article of the corpus, best first, never the article itself.

Baselines (always run, so a number has something to be compared with):

* ``tfidf-baseline`` — **the baseline**: scikit-learn's ``TfidfVectorizer(sublinear_tf=True,
  stop_words="english")`` fitted on ``title + "\\n" + body`` of the articles the model was
  trained on, one L2-normalised row per article, cosine top-k. Deliberately plain: the raw
  title and body as the corpus loader returns them (no boilerplate stripping, no tags, no
  section, no ranking rule), so it stays the ten lines of scikit-learn a newsroom would write
  first. It needs the articles' text, which a fitted model does not keep (pass the corpus);
* ``random`` — published articles drawn uniformly (seeded);
* ``latest-in-section`` — what a section page showed when the story was published: the
  newest published stories of the same section dated at or before it, then the earliest ones
  after it (the whole corpus when the article has no section);
* ``plain-cosine`` — TF-IDF cosine similarity of the model's own vectors, with no ranking
  rule (no recency, no collapse, no diversity, no filter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import InvalidParameterError
from ..model.estimator import RelatedStories
from ..model.search import top_k
from ..ranking.spec import BY_NAME
from ..urls import canonical_url, url_matches

__all__ = [
    "EngineSystem",
    "FunctionSystem",
    "LatestInSectionSystem",
    "ModelSystem",
    "PlainCosineSystem",
    "RandomSystem",
    "System",
    "TfidfBaselineSystem",
    "ranked_system",
    "ranking_option_defaults",
    "ranking_option_names",
    "takedown_ids",
]

Ranked = tuple[list[str], list[float]]


class System(Protocol):
    """Something that ranks articles for an article of the corpus."""

    name: str
    kind: str  # "config" or "baseline"
    params: dict[str, Any]

    def recommend(self, query_id: str, depth: int) -> Ranked: ...


def _engine() -> tuple[Any, Any] | None:
    """``(Recommender, RankingOptions)`` when this version has the newsroom ranking engine."""
    try:
        from ..engine.recommender import Recommender
        from ..ranking.options import RankingOptions
    except ImportError:  # a build without the ranking engine: plain cosine only
        return None
    return Recommender, RankingOptions


def ranking_option_defaults() -> dict[str, Any]:
    """Tunable ranking options (``half_life``, ``diversity``...) and their defaults."""
    engine = _engine()
    if engine is None:
        return {}
    defaults = engine[1]()
    return {name: getattr(defaults, name) for name in engine[1].names()
            if BY_NAME[name].tunable}


def ranking_option_names(model: RelatedStories | None = None) -> list[str]:
    """Names of the tunable ranking options (applied at query time, no re-fit)."""
    return list(ranking_option_defaults())


def ranked_system(model: RelatedStories, options: Mapping[str, Any] | None = None,
                  name: str = "defaults", params: Mapping[str, Any] | None = None,
                  db: Any = None) -> System:
    """The system a newsroom serves: the ranking engine over ``model`` with ``options``
    (or, in a build without the engine, the model's own ``related``)."""
    engine = _engine()
    if engine is None:
        return ModelSystem(model, options, name=name, params=params)
    return EngineSystem(engine[0](model, db), options, name=name, params=params)


def takedown_ids(db: Any, model: RelatedStories | None = None) -> set[str]:
    """Article ids taken down in a state database, by id or (given the model) by URL
    (empty without the editorial module)."""
    if db is None:
        return set()
    try:
        from ..state.editorial import Editorial
    except ImportError:
        return set()
    snapshot = Editorial(db).snapshot()
    ids = set(snapshot.takedown_ids)
    urls = getattr(snapshot, "takedown_urls", ())
    if urls and model is not None:
        by_url: dict[str, list[str]] = {}
        for i, u in zip(model.ids_, model.meta_["url"], strict=True):
            key = canonical_url(u)
            if key:
                by_url.setdefault(key, []).append(str(i))
        for url in urls:
            ids.update(url_matches(by_url, url) or ())
    return ids


class EngineSystem:
    """The newsroom ranking engine (recency, collapse, diversity, editorial state).

    Parameters
    ----------
    engine : recommender.engine.recommender.Recommender
        An engine over the fitted model (and the state database, if any).
    options : mapping, optional
        Ranking options of this setting (validated by the engine).
    name : str
        Label in tables and plots.
    params : mapping, optional
        What to show as this setting's parameters.
    """

    kind = "config"
    prefix_stable = False  # collapse/diversity pools grow with k: ask at each depth

    def __init__(self, engine: Any, options: Mapping[str, Any] | None = None,
                 name: str = "defaults", params: Mapping[str, Any] | None = None) -> None:
        self.engine = engine
        self.model = engine.model
        self.options = dict(options or {})
        self.name = name
        self.params = dict(params if params is not None else self.options)
        engine.options(**self.options)  # validate now: a bad value fails before any query

    def recommend(self, query_id: str, depth: int) -> Ranked:
        result = self.engine.related(query_id, k=depth, **self.options)
        return [item.id for item in result.items], [float(item.score) for item in result.items]


class ModelSystem:
    """A fitted model asked through its own ``related(id, k, **options)`` (plain cosine).

    Parameters
    ----------
    model : RelatedStories
        Fitted model.
    options : mapping, optional
        Ranking options passed to ``related`` (e.g. ``half_life``).
    name : str
        Label in tables and plots.
    params : mapping, optional
        What to show as this configuration's parameters (model + ranking options).
    """

    kind = "config"
    prefix_stable = False  # short lists come from precomputed neighbours, long ones do not

    def __init__(self, model: RelatedStories, options: Mapping[str, Any] | None = None,
                 name: str = "defaults", params: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.options = dict(options or {})
        self.name = name
        self.params = dict(params if params is not None else self.options)

    def recommend(self, query_id: str, depth: int) -> Ranked:
        recs = self.model.related(query_id, k=depth, **self.options)
        return [r.id for r in recs], [float(r.score) for r in recs]


class FunctionSystem:
    """Wrap any callable ``fn(query_id, k)`` returning ids or ``(id, score)`` pairs."""

    kind = "config"
    prefix_stable = False

    def __init__(self, fn: Callable[[str, int], Sequence[Any]], name: str = "function",
                 params: Mapping[str, Any] | None = None) -> None:
        self.fn = fn
        self.name = name
        self.params = dict(params or {})

    def recommend(self, query_id: str, depth: int) -> Ranked:
        ids: list[str] = []
        scores: list[float] = []
        for item in self.fn(query_id, depth):
            if hasattr(item, "id"):
                ids.append(str(item.id))
                scores.append(float(getattr(item, "score", np.nan)))
            elif isinstance(item, (tuple, list)):
                ids.append(str(item[0]))
                scores.append(float(item[1]) if len(item) > 1 else np.nan)
            else:
                ids.append(str(item))
                scores.append(np.nan)
        return ids, scores


class PlainCosineSystem:
    """TF-IDF cosine over the model's own vectors, no ranking rule."""

    kind = "baseline"
    name = "plain-cosine"

    def __init__(self, model: RelatedStories) -> None:
        self.model = model
        self.params: dict[str, Any] = {}
        self._by_term = model.matrix_.T.tocsr()  # inverted index: only shared terms are read
        self._published = np.asarray(model.published_, dtype=bool)

    def recommend(self, query_id: str, depth: int) -> Ranked:
        row = self.model.row(query_id)
        scores = np.asarray((self.model.matrix_[row] @ self._by_term).todense(),
                            dtype=np.float32).ravel()
        scores[~self._published] = 0.0
        scores[row] = 0.0
        rows = top_k(scores, depth)
        return [str(self.model.ids_[r]) for r in rows], [float(scores[r]) for r in rows]


class RandomSystem:
    """Published articles in a seeded random order."""

    kind = "baseline"
    name = "random"

    def __init__(self, model: RelatedStories, seed: int = 0) -> None:
        self.model = model
        self.params = {"seed": seed}
        self._rng = np.random.default_rng(seed)
        self._candidates = np.flatnonzero(np.asarray(model.published_, dtype=bool))

    def recommend(self, query_id: str, depth: int) -> Ranked:
        row = self.model.row(query_id)
        cand = self._candidates[self._candidates != row]
        pick = self._rng.choice(cand, size=min(depth, cand.size), replace=False)
        return [str(self.model.ids_[r]) for r in pick], [0.0] * len(pick)


class LatestInSectionSystem:
    """The newest published stories of the article's section as of its publication."""

    kind = "baseline"
    name = "latest-in-section"

    def __init__(self, model: RelatedStories) -> None:
        self.model = model
        self.params: dict[str, Any] = {}
        dates = np.asarray(model.meta_["published_at"], dtype="datetime64[ns]")
        # undated articles sort as the oldest
        self._t = np.where(np.isnat(dates), np.iinfo(np.int64).min,
                           dates.astype(np.int64)).astype(np.int64)
        published = np.asarray(model.published_, dtype=bool)
        sections = model.meta_["section"]
        self._groups: dict[Any, np.ndarray] = {}
        keys = np.array([s if isinstance(s, str) and s else None for s in sections],
                        dtype=object)
        self._keys = keys
        rows = np.flatnonzero(published)
        # each group sorted newest first, ties by corpus order
        order = rows[np.lexsort((rows, -self._t[rows]))]
        self._all = order
        for key in {k for k in keys[rows] if k is not None}:
            self._groups[key] = order[keys[order] == key]

    def recommend(self, query_id: str, depth: int) -> Ranked:
        row = self.model.row(query_id)
        group = self._groups.get(self._keys[row], self._all)
        group = group[group != row]
        t0 = self._t[row]
        before = group[self._t[group] <= t0]          # newest first
        after = group[self._t[group] > t0][::-1]      # earliest first
        picked = np.concatenate([before, after])[:depth]
        return [str(self.model.ids_[r]) for r in picked], [0.0] * len(picked)


class TfidfBaselineSystem:
    """The baseline: plain scikit-learn TF-IDF over ``title + "\\n" + body``, cosine top-k.

    ``TfidfVectorizer(sublinear_tf=True, stop_words="english")`` fitted on the raw text of
    ``articles`` (one L2-normalised row per article), nothing else: no boilerplate stripping,
    no tags or section, no recency. Lists hold published articles only, never the article
    itself, best first, ties by corpus order.

    Parameters
    ----------
    articles : DataFrame
        ``id``, ``title`` and ``body`` columns (missing text counts as empty).
    published : array of bool, optional
        Which rows may be recommended, in the order of ``articles`` (default: all).

    Raises
    ------
    InvalidParameterError
        Duplicate ids, or no word left once English stop words are removed.
    """

    kind = "baseline"
    name = "tfidf-baseline"
    #: How the vectors are made (shown as this system's parameters).
    VECTORIZER = {"class": "sklearn.feature_extraction.text.TfidfVectorizer",
                  "sublinear_tf": True, "stop_words": "english", "text": "title + \\n + body"}

    def __init__(self, articles: pd.DataFrame, published: Sequence[bool] | np.ndarray | None = None
                 ) -> None:
        from .quality import baseline_vectors  # the one definition of the baseline's vectors

        ids = articles["id"].astype(str).tolist()
        self._row = {article_id: row for row, article_id in enumerate(ids)}
        if len(self._row) != len(ids):
            dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
            raise InvalidParameterError("corpus", f"duplicate article id {dup!r}")
        self.ids = ids
        self.params: dict[str, Any] = dict(self.VECTORIZER)
        text = pd.DataFrame({"title": _text(articles, "title"), "body": _text(articles, "body")})
        try:
            self.vectorizer, self.matrix = baseline_vectors(text)
        except ValueError as e:  # "empty vocabulary": nothing but stop words
            raise InvalidParameterError("corpus", f"the TF-IDF baseline cannot be fitted: {e}"
                                        ) from e
        self._by_term = self.matrix.T.tocsr()  # inverted index: only shared terms are read
        self._published = (np.ones(len(ids), dtype=bool) if published is None
                           else np.asarray(published, dtype=bool))
        if self._published.shape != (len(ids),):
            raise InvalidParameterError(
                "published", f"expected {len(ids)} flags, got {self._published.shape}")

    @classmethod
    def for_model(cls, model: RelatedStories, articles: pd.DataFrame) -> TfidfBaselineSystem:
        """The baseline over the articles ``model`` was trained on, with its published flags.

        Raises
        ------
        InvalidParameterError
            When the ids of ``articles`` are not exactly the model's (the baseline must see the
            same articles), naming a few missing and extra ids.
        """
        ids = set(articles["id"].astype(str))
        model_ids = set(map(str, model.ids_))
        if ids != model_ids:
            missing, extra = sorted(model_ids - ids), sorted(ids - model_ids)
            raise InvalidParameterError(
                "corpus", f"the corpus ({len(ids)} articles) is not the one the model was "
                f"trained on ({len(model_ids)} articles; {len(missing)} of the model's ids "
                f"missing{_examples(missing)}, {len(extra)} ids not in the model"
                f"{_examples(extra)}): the TF-IDF baseline must be fitted on the same articles")
        published = np.asarray(model.published_, dtype=bool)
        flags = [bool(published[model.row(str(i))]) for i in articles["id"]]
        return cls(articles, flags)

    def recommend(self, query_id: str, depth: int) -> Ranked:
        row = self._row[query_id]
        scores = np.asarray((self.matrix[row] @ self._by_term).todense()).ravel()
        scores[~self._published] = 0.0
        scores[row] = 0.0
        rows = top_k(scores, depth)
        return [self.ids[r] for r in rows], [float(scores[r]) for r in rows]


def _text(articles: pd.DataFrame, column: str) -> pd.Series:
    if column not in articles:
        return pd.Series([""] * len(articles), index=articles.index)
    return articles[column].map(lambda v: v if isinstance(v, str) else "")


def _examples(ids: Sequence[str], n: int = 3) -> str:
    return f" (e.g. {', '.join(map(repr, ids[:n]))})" if ids else ""
