"""Link quality against the outside baseline, on the development sets, in one run.

*The baseline* is what ten lines of scikit-learn give: ``TfidfVectorizer(sublinear_tf=True,
stop_words="english")`` over ``title + "\\n" + body``, one L2-normalised row per article,
cosine top-k. Every figure alsosee reports about its lists is shown next to it, computed on
the same articles in the same run:

* ``baseline`` — the lists above (the article itself excluded);
* ``plain`` — the model's own cosine lists (``RelatedStories.related``), no ranking rule;
* ``defaults`` — what the service shows: the ranking engine with its default options;
* ``no-recency`` — the engine with ``half_life=None`` (what recency costs or gains);
* ``draft-baseline`` / ``draft-defaults`` — each query article as a draft (its title and
  first paragraph, see :func:`draft_of`), dated as the article, the article itself left out.

Used by ``scripts/quality.py`` (the full table) and by the quality gate test.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..model.estimator import RelatedStories
from ..model.lsa import blend
from .devsets import DevSet
from .metrics import ndcg_at_k, precision_at_k

__all__ = ["SetResult", "baseline_vectors", "by_story", "draft_of", "evaluate_set",
           "graded_correlation", "paired_interval", "precision_above"]

logger = logging.getLogger(__name__)

#: Words of a draft's first paragraph kept (a paragraph of a wire story, not the story).
DRAFT_WORDS = 60
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass
class SetResult:
    """The figures of one development set: per system, nDCG@10 and P@5 (means over the
    set's queries), each query's nDCG@10 (``per_query``, in query order, for paired
    comparisons), and for dated sets the median age gap (days) of the lists."""

    name: str
    n_articles: int
    n_queries: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    age_gap_days: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    per_query: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "articles": self.n_articles, "queries": self.n_queries,
                "scores": self.scores, "age_gap_days": self.age_gap_days,
                "seconds": round(self.seconds, 1)}


def _texts(articles: pd.DataFrame) -> list[str]:
    title = articles["title"].fillna("").astype(str)
    body = articles["body"].fillna("").astype(str)
    return (title + "\n" + body).tolist()


def baseline_vectors(articles: pd.DataFrame) -> tuple[Any, sp.csr_matrix]:
    """The baseline's fitted vectoriser and its article rows (title + body, L2-normalised)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    return vec, sp.csr_matrix(vec.fit_transform(_texts(articles)))


def draft_of(title: Any, body: Any) -> tuple[str, str]:
    """A draft made from a stored article: its title and its first paragraph (text up to the
    first blank line, at most :data:`DRAFT_WORDS` words)."""
    title = title if isinstance(title, str) else ""
    body = body if isinstance(body, str) else ""
    first = _PARAGRAPH.split(body.strip(), maxsplit=1)[0]
    return title, " ".join(first.split()[:DRAFT_WORDS])


def _top_rows(scores: np.ndarray, exclude: int, k: int) -> np.ndarray:
    scores = scores.copy()
    scores[exclude] = -np.inf
    top = np.argpartition(-scores, min(k, scores.size - 1))[:k]
    return top[np.lexsort((top, -scores[top]))]


def by_story(ranked: Sequence[str], relevant: Mapping[str, float],
             story_of: Mapping[str, str]) -> tuple[list[str], dict[str, float]]:
    """A list and its judgements by story: each id becomes its story, a story already listed
    becomes a wasted slot, and a story is relevant with the best grade of its copies."""
    seen: set[str] = set()
    stories: list[str] = []
    for i, item in enumerate(ranked):
        story = story_of.get(item, item)
        stories.append(story if story not in seen else f"\x00repeat{i}")
        seen.add(story)
    graded: dict[str, float] = {}
    for item, grade in relevant.items():
        story = story_of.get(item, item)
        graded[story] = max(graded.get(story, 0.0), grade)
    return stories, graded


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_set(ds: DevSet, params: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, *, drafts: bool = True,
                 model: RelatedStories | None = None, k: int = 10) -> SetResult:
    """Fit the model (``params``) on a development set and score every system on its queries.

    Parameters
    ----------
    ds : DevSet
        The set (its archive and ground truth).
    params : mapping, optional
        :class:`RelatedStories` parameters (default: the defaults).
    options : mapping, optional
        Ranking options of the ``defaults`` system (default: the engine's defaults).
    drafts : bool
        Also score the draft systems.
    model : RelatedStories, optional
        An already fitted model of ``ds.articles`` (``params`` is then ignored).
    k : int
        Depth of nDCG.
    """
    from ..engine.recommender import Recommender

    t0 = time.perf_counter()
    articles = ds.articles
    if model is None:
        model = RelatedStories(n_jobs=1, **dict(params or {})).fit(articles)
    engine = Recommender(model, None)
    options = dict(options or {})
    ids = articles["id"].astype(str).to_numpy()
    pos = {i: n for n, i in enumerate(ids)}
    dates = pd.to_datetime(articles["published_at"], utc=True)
    queries = [q for q in ds.qrels if q in pos]
    result = SetResult(ds.name, len(articles), len(queries))
    vec, base = baseline_vectors(articles)
    by_term = base.T.tocsr()

    lists: dict[str, list[list[str]]] = {name: [] for name in (
        "baseline", "plain", "defaults", "no-recency")}
    if drafts:
        lists["draft-baseline"] = []
        lists["draft-defaults"] = []
    for q in queries:
        row = pos[q]
        scores = (base[row] @ by_term).toarray().ravel()
        lists["baseline"].append([ids[r] for r in _top_rows(scores, row, k)])
        lists["plain"].append([r.id for r in model.related(q, k=k)])
        lists["defaults"].append([i.id for i in engine.related(q, k=k, **options).items])
        lists["no-recency"].append(
            [i.id for i in engine.related(q, k=k, **{**options, "half_life": None}).items])
        if drafts:
            title, body = draft_of(articles.at[row, "title"], articles.at[row, "body"])
            dq = sp.csr_matrix(vec.transform([title + "\n" + body]))
            scores = (dq @ by_term).toarray().ravel()
            lists["draft-baseline"].append([ids[r] for r in _top_rows(scores, row, k)])
            when = dates.iloc[row]
            got = engine.related_to_text(
                title, body, k=k + 1, article_tags=list(articles.at[row, "tags"] or []),
                published_at=None if pd.isna(when) else when.isoformat(), **options).items
            lists["draft-defaults"].append([i.id for i in got if i.id != q][:k])
    story_of = ds.story_of
    for name, ranked in lists.items():
        judged = [by_story(r, ds.qrels[q], story_of) for q, r in zip(queries, ranked, strict=True)]
        result.per_query[name] = [ndcg_at_k(r, rel, k) for r, rel in judged]
        result.scores[name] = {
            f"ndcg@{k}": _mean(result.per_query[name]),
            "p@5": _mean([precision_at_k(r, rel, 5) for r, rel in judged]),
        }
        if ds.dated:
            gaps = [abs((dates.iloc[pos[i]] - dates.iloc[pos[q]]).total_seconds()) / 86400
                    for q, r in zip(queries, ranked, strict=True) for i in r
                    if not pd.isna(dates.iloc[pos[i]]) and not pd.isna(dates.iloc[pos[q]])]
            if gaps:
                result.age_gap_days[name] = float(np.median(gaps))
    result.seconds = time.perf_counter() - t0
    return result


def paired_interval(ours: Sequence[float], theirs: Sequence[float], *, level: float = 0.95,
                    seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean per-query difference ``ours - theirs`` (the same
    queries, in the same order): how far a set's figure can be trusted. On a small set one
    query moving its relevant link by a rank moves the mean by more than a bar of 0.005."""
    from scipy.stats import bootstrap

    diff = np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float)
    if diff.size < 2 or np.all(diff == diff[0]):
        mean = float(diff.mean()) if diff.size else float("nan")
        return mean, mean
    res = bootstrap((diff,), np.mean, confidence_level=level, n_resamples=5000,
                    method="percentile", random_state=seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def graded_correlation(articles: pd.DataFrame, graded: Mapping[str, Mapping[str, float]],
                       model: RelatedStories, *, seed: int = 0) -> dict[str, float]:
    """Pearson correlation of similarity with human grades over story pairs: every judged
    pair (e.g. ECB+ 2 = same event, 1 = same topic) plus as many random unjudged pairs
    (grade 0), for the model's similarity (the score a list gives: with the topic blend,
    ``(1 - w) * cosine + w * topic cosine``) and the baseline's cosine."""
    rng = np.random.default_rng(seed)
    ids = articles["id"].astype(str).to_numpy()
    pos = {i: n for n, i in enumerate(ids)}
    pairs, grades = [], []
    for q, rel in graded.items():
        if q not in pos:
            continue
        for r, g in rel.items():
            if r in pos and r != q:
                pairs.append((pos[q], pos[r]))
                grades.append(float(g))
        for r in rng.choice(len(ids), size=len(rel), replace=False):
            if ids[r] not in rel and r != pos[q]:
                pairs.append((pos[q], int(r)))
                grades.append(0.0)
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    _, base = baseline_vectors(articles)
    ours = np.asarray(model.matrix_[a].multiply(model.matrix_[b]).sum(axis=1)).ravel()
    if model.has_lsa:  # the score a list gives the pair (the model's own blend)
        topics = model.lsa_arrays()[1]
        ours = blend(ours, np.einsum("ij,ij->i", np.asarray(topics[a], dtype=np.float64),
                                     topics[b]), model.lsa_weight)
    theirs = np.asarray(base[a].multiply(base[b]).sum(axis=1)).ravel()
    grade_of_pair = np.array(grades)
    return {"pairs": len(grade_of_pair),
            "alsosee": float(np.corrcoef(ours, grade_of_pair)[0, 1]),
            "baseline": float(np.corrcoef(theirs, grade_of_pair)[0, 1])}


def precision_above(ds: DevSet, model: RelatedStories, cutoffs: Sequence[float] = (0.1, 0.2, 0.3),
                    k: int = 10) -> dict[str, dict[str, float]]:
    """What a ``min_score`` means on an archive: of the links in the model's top-``k`` lists
    whose similarity is at least each cutoff, the share judged relevant, and how many
    links per list pass it."""
    out: dict[str, dict[str, float]] = {}
    lists = [(q, model.related(q, k=k)) for q in ds.qrels if model.has_article(q)]
    for cut in cutoffs:
        kept = [(q, r.id) for q, recs in lists for r in recs if r.score >= cut]
        hits = sum(1 for q, i in kept if ds.qrels[q].get(i, 0) > 0)
        out[f"{cut:g}"] = {"precision": hits / len(kept) if kept else float("nan"),
                           "links_per_list": len(kept) / max(len(lists), 1)}
    return out
