"""The quality gate: alsosee's default lists are never worse than plain scikit-learn TF-IDF.

Trains with the defaults on two honest development sets built from ``../shared/data`` (ECB+
with headlines and a hostile wire-source tag on every story; Reuters with its topic labels
removed, a constant wire tag and random sections) and fails when the defaults, by id or as
drafts, fall more than 0.005 nDCG@10 below the baseline computed in the same run
(``TfidfVectorizer(sublinear_tf=True, stop_words="english")`` over title + body), or gain less
than 0.01 over it (the topic blend's gain, +0.015 to +0.040 on these sets). Skips when the
shared data is absent. The full table over every set: ``scripts/quality.py``.
"""

from __future__ import annotations

import pytest

from recommender.evaluation.devsets import default_data_dir, load_dev_set
from recommender.evaluation.quality import evaluate_set

#: How far below the baseline the defaults may fall (nDCG@10) on any set.
TOLERANCE = 0.005
#: The least the defaults must gain over the baseline on these two sets (nDCG@10).
GAIN = 0.01

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (default_data_dir() / "ecbplus").is_dir()
    or not (default_data_dir() / "reuters21578").is_dir(),
    reason=f"evaluation data not found under {default_data_dir()}",
)]


@pytest.fixture(scope="module", params=["ecb-wire", "reuters-wire"])
def result(request: pytest.FixtureRequest):
    return evaluate_set(load_dev_set(request.param))


def test_defaults_by_id_are_not_below_the_baseline(result) -> None:
    base = result.scores["baseline"]["ndcg@10"]
    got = result.scores["defaults"]["ndcg@10"]
    assert got >= base - TOLERANCE, (result.name, got, base)


def test_defaults_for_drafts_are_not_below_the_baseline(result) -> None:
    base = result.scores["draft-baseline"]["ndcg@10"]
    got = result.scores["draft-defaults"]["ndcg@10"]
    assert got >= base - TOLERANCE, (result.name, got, base)


@pytest.mark.parametrize("kind", ["", "draft-"])
def test_defaults_beat_the_baseline(result, kind) -> None:
    base = result.scores[f"{kind}baseline"]["ndcg@10"]
    got = result.scores[f"{kind}defaults"]["ndcg@10"]
    assert got >= base + GAIN, (result.name, kind, got, base)


def test_plain_cosine_matches_the_baseline(result) -> None:
    """The model's own vectors alone (no ranking rule) are as good as the baseline: the
    hostile tags and the field weighting do not pull the lists away from the text."""
    base = result.scores["baseline"]["ndcg@10"]
    assert result.scores["plain"]["ndcg@10"] >= base - TOLERANCE, result.name


def test_recency_costs_no_relevance_on_dated_sets(result) -> None:
    if not result.age_gap_days:
        pytest.skip(f"{result.name} is undated")
    cost = result.scores["no-recency"]["ndcg@10"] - result.scores["defaults"]["ndcg@10"]
    assert cost <= TOLERANCE, cost
    assert result.age_gap_days["defaults"] < result.age_gap_days["no-recency"]
