"""Per-query figures of the quality evaluation and the interval that says what a set resolves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.evaluation.devsets import DevSet
from recommender.evaluation.quality import evaluate_set, paired_interval


def test_paired_interval_contains_the_mean_and_narrows_with_more_queries() -> None:
    rng = np.random.default_rng(3)
    widths = []
    for n in (30, 300, 3000):
        ours = rng.random(n)
        theirs = ours - 0.01 + rng.normal(0, 0.05, n)
        lo, hi = paired_interval(ours, theirs)
        assert lo <= float(np.mean(ours - theirs)) <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]


def test_one_swapped_query_in_a_small_set_is_below_its_resolution() -> None:
    """33 queries, one relevant link moved from rank 1 to rank 2: mean -0.011, and an
    interval reaching 0 (the set cannot tell the two lists apart)."""
    theirs = np.ones(33)
    ours = theirs.copy()
    ours[0] = 1 / np.log2(3)
    lo, hi = paired_interval(ours, theirs)
    assert lo < -0.011 < hi
    assert hi == pytest.approx(0.0)


def test_identical_lists_have_a_zero_interval_and_the_seed_fixes_it() -> None:
    a = [0.2, 0.5, 0.9]
    assert paired_interval(a, a) == (0.0, 0.0)
    x, y = np.linspace(0, 1, 40), np.linspace(0, 1, 40) ** 2
    assert paired_interval(x, y, seed=1) == paired_interval(x, y, seed=1)


def test_evaluate_set_keeps_each_querys_ndcg_in_query_order() -> None:
    topics = {"flood": "river flood rain levee water town evacuated",
              "chess": "chess grandmaster opening endgame tournament board",
              "rates": "central bank interest rates inflation bond markets"}
    rows = []
    for t, words in topics.items():
        for i in range(4):
            rows.append({"id": f"{t}{i}", "title": f"{t} story {i}",
                         "body": f"{words} {words.split()[i]} report number {i}",
                         "url": f"https://example.org/{t}{i}",
                         "published_at": pd.Timestamp("2024-01-01", tz="UTC")
                         + pd.Timedelta(days=i), "section": "News", "tags": []})
    articles = pd.DataFrame(rows)
    qrels = {f"{t}0": {f"{t}{i}": 1.0 for i in range(1, 4)} for t in topics}
    result = evaluate_set(DevSet("tiny", articles, qrels, "three topics"), k=3)
    for system, values in result.per_query.items():
        assert len(values) == result.n_queries == 3
        assert np.mean(values) == pytest.approx(result.scores[system]["ndcg@3"])
    assert result.per_query["baseline"] == pytest.approx([1.0, 1.0, 1.0])


def test_source_folds_hold_out_one_source_and_never_choose_on_the_mixed_archive() -> None:
    from recommender.evaluation.devsets import SET_NAMES, SET_SOURCE, source_folds

    assert set(SET_SOURCE) == set(SET_NAMES)
    folds = {source: (held, train) for source, held, train in source_folds(SET_NAMES)}
    assert folds["ecb"] == (["ecb-notitle", "ecb-title", "ecb-wire"],
                            ["reuters", "reuters-wire", "gv", "gv-links"])
    assert folds["gv"][0] == ["gv", "gv-links"] and "mixed" not in folds["gv"][1]
    assert set(folds) == {"ecb", "reuters", "gv"}
    # one source alone: nothing to choose on, no fold
    assert list(source_folds(["reuters", "mixed"])) == []
