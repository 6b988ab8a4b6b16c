"""Pure ranking functions and RankingOptions validation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.errors import InvalidParameterError
from recommender.ranking import options as ranking
from recommender.ranking.options import NAT, NS_PER_DAY, RankingOptions

DAY0 = ranking.to_ns(dt.datetime(2020, 6, 1, tzinfo=dt.UTC))


def test_recency_formula_matches_the_issue():
    gap = np.array([0.0, 30.0, 60.0, 3650.0, np.nan])
    got = ranking.recency_factor(gap, 30.0, 0.2)
    expected = 0.2 + 0.8 * 0.5 ** (gap[:4] / 30.0)
    np.testing.assert_allclose(got[:4], expected)
    assert got[1] == pytest.approx(0.6)  # one half-life: halfway between floor and 1
    assert got[4] == 1.0  # unknown age: no decay
    np.testing.assert_array_equal(ranking.recency_factor(gap, None, 0.2), np.ones(5))


def test_recency_per_row_half_life():
    got = ranking.recency_factor(np.array([10.0, 10.0]), np.array([10.0, np.nan]), 0.0)
    np.testing.assert_allclose(got, [0.5, 1.0])


def test_recency_with_the_smallest_half_life_warns_nothing():
    """half_life=5e-324 is a valid number > 0 (schemathesis sends it): gap / half overflows to
    inf, and 0.5 ** inf is the floor, without a RuntimeWarning (an error under -W error)."""
    got = ranking.recency_factor(np.array([0.0, 10.0, np.nan]), 5e-324, 0.25)
    np.testing.assert_allclose(got, [1.0, 0.25, 1.0])


def test_age_gap_is_symmetric_and_nat_is_unknown():
    ts = np.array([DAY0 - 2 * NS_PER_DAY, DAY0 + 3 * NS_PER_DAY, NAT])
    gap = ranking.age_gap_days(ts, DAY0)
    np.testing.assert_allclose(gap[:2], [2.0, 3.0])
    assert np.isnan(gap[2])
    assert np.isnan(ranking.age_gap_days(ts, NAT)).all()


def test_window_mask():
    ts = np.array([DAY0 - 10 * NS_PER_DAY, DAY0 - NS_PER_DAY, DAY0 + NS_PER_DAY, NAT])
    assert ranking.window_mask(ts, DAY0).tolist() == [True] * 4
    assert ranking.window_mask(ts, DAY0, direction="before").tolist() == [True, True, False,
                                                                          False]
    assert ranking.window_mask(ts, DAY0, direction="after").tolist() == [False, False, True,
                                                                         False]
    assert ranking.window_mask(ts, DAY0, max_age_days=5).tolist() == [False, True, True, False]
    assert ranking.window_mask(ts, DAY0, since=DAY0 - 2 * NS_PER_DAY,
                               until=DAY0).tolist() == [False, True, False, False]


def test_tags_mask_any_all_case_insensitive():
    rows = [["Floods", "Farming"], ["floods"], [], None]
    assert ranking.tags_mask(rows, ["floods", "farming"], "any").tolist() == [True, True,
                                                                             False, False]
    assert ranking.tags_mask(rows, ["FLOODS", "farming"], "all").tolist() == [True, False,
                                                                             False, False]


def test_collapse_keeps_the_newer_of_near_duplicates():
    sim = np.array([[1.0, 0.95, 0.1], [0.95, 1.0, 0.2], [0.1, 0.2, 1.0]])
    leader = ranking.collapse_groups(np.arange(3), sim, 0.9)
    assert leader.tolist() == [0, 0, 2]
    scores = np.array([0.5, 0.4, 0.3])
    ts = np.array([DAY0, DAY0 + NS_PER_DAY, DAY0])
    assert ranking.pick_in_groups(leader, scores, ts, "newer").tolist() == [False, True, True]
    assert ranking.pick_in_groups(leader, scores, ts, "older").tolist() == [True, False, True]
    assert ranking.pick_in_groups(leader, scores, ts, "higher").tolist() == [True, False, True]
    # Nothing above the threshold: nothing collapses.
    assert ranking.collapse_groups(np.arange(3), sim, 0.99).tolist() == [0, 1, 2]


def test_mmr_diversity():
    rel = np.array([0.9, 0.89, 0.5])
    sim = np.array([[1.0, 0.99, 0.0], [0.99, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert ranking.mmr(rel, sim, 2, 0.0).tolist() == [0, 1]
    assert ranking.mmr(rel, sim, 2, 0.5).tolist() == [0, 2]
    assert ranking.mmr(rel, sim, 5, 0.5).tolist() == [0, 2, 1]


def test_pair_cosines_equals_sparse_product():
    rng = np.random.default_rng(0)
    matrix = normalize(sp.random(40, 500, density=0.05, random_state=rng, format="csr",
                                 dtype=np.float32))
    matrix.sort_indices()
    rows = np.array([3, 7, 7, 0, 39])
    expected = (matrix[rows] @ matrix[rows].T).toarray()
    np.testing.assert_allclose(ranking.pair_cosines(matrix, rows), expected, atol=1e-6)


def test_top_positions():
    scores = np.array([0.1, 0.5, 0.0, 0.5, 0.3])
    mask = np.array([True, True, True, True, False])
    assert ranking.top_positions(scores, mask, 2).tolist() == [1, 3]
    assert ranking.top_positions(scores, mask, 10).tolist() == [1, 3, 0]


# -------------------------------------------------------------------- options
def test_options_from_strings_and_json():
    opts = RankingOptions.from_mapping({
        "k": "7", "half_life": "off", "section_half_life": "News:2,Features:90",
        "since": "2012-05-01", "section": "World", "explain": "true", "diversity": "0.3",
    })
    assert opts.k == 7 and opts.half_life is None and opts.explain is True
    assert opts.half_life_for("News") == 2.0 and opts.half_life_for("Other") is None
    assert opts.since == dt.datetime(2012, 5, 1, tzinfo=dt.UTC)
    assert opts.section == ("World",)
    assert opts.diversity == 0.3
    again = RankingOptions.from_mapping(opts.to_dict())
    assert again == opts
    json_opts = RankingOptions.from_mapping({"section_half_life": {"News": 2}, "tags": ["a"]},
                                            json_types=True)
    assert json_opts.section_half_life == (("News", 2.0),)


@pytest.mark.parametrize(("values", "field"), [
    ({"half_life": -1}, "half_life"),
    ({"half_life": 0}, "half_life"),
    ({"diversity": 1.5}, "diversity"),
    ({"diversity": -0.1}, "diversity"),
    ({"k": 101}, "k"),
    ({"k": 0}, "k"),
    ({"k": "many"}, "k"),
    ({"recency_floor": 2}, "recency_floor"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2020-13-40"}, "until"),
    ({"direction": "sideways"}, "direction"),
    ({"collapse_keep": "both"}, "collapse_keep"),
    ({"min_score": "nan"}, "min_score"),
    ({"fallback": "random"}, "fallback"),
    ({"explain": "maybe"}, "explain"),
    ({"section_half_life": "News:-2"}, "section_half_life.News"),
    ({"no_such_option": 1}, "no_such_option"),
])
def test_bad_options_name_the_field(values, field):
    with pytest.raises(InvalidParameterError) as info:
        RankingOptions.from_mapping(values)
    assert info.value.field == field


@pytest.mark.parametrize(("values", "field"), [
    ({"half_life": "30"}, "half_life"),
    ({"explain": "true"}, "explain"),
    ({"k": True}, "k"),
    ({"diversity": None}, "diversity"),
])
def test_json_types_are_strict(values, field):
    with pytest.raises(InvalidParameterError) as info:
        RankingOptions.from_mapping(values, json_types=True)
    assert info.value.field == field


def test_constructor_validates_too():
    with pytest.raises(InvalidParameterError):
        RankingOptions(half_life=-5)
    assert RankingOptions(half_life=None).half_life is None


def test_every_option_is_documented_and_has_a_cli_flag():
    import re
    from pathlib import Path

    from recommender.cli.editorial import _FLAGS

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "ranking.md").read_text(encoding="utf-8")
    table = doc.split("| option | default | meaning |", 1)[1].split("\n\n", 1)[0]
    # The first cell of each row names its options: the table lists exactly the valid ones.
    documented = {name for row in table.splitlines()[2:]
                  for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == set(RankingOptions.names())
    for name in RankingOptions.names():
        assert name == "k" or name in _FLAGS, name
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "(docs/ranking.md)" in readme
