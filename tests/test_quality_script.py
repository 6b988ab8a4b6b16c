"""scripts/quality.py's ``--variant``: model parameters read as JSON where they parse, names
checked by the model before any fit."""

from __future__ import annotations

import argparse

import pytest

from tests.scriptmodules import load_script


@pytest.fixture(scope="module")
def quality():
    return load_script("quality")


def test_variant_values_are_json_where_they_parse(quality) -> None:
    assert quality._params("lsa_components=0, lsa_weight=0.4,title_weight=2") == {
        "lsa_components": 0, "lsa_weight": 0.4, "title_weight": 2}
    assert quality._params("lsa_components=auto,max_df=null") == {
        "lsa_components": "auto", "max_df": None}


@pytest.mark.parametrize(("text", "message"), [
    ("lsa_components", "expected NAME=VALUE"),
    ("=3", "expected NAME=VALUE"),
    ("no_such_parameter=1", "not a model parameter"),
])
def test_bad_variants_are_named(quality, text, message) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        quality._params(text)


def test_the_topic_grid_holds_the_defaults(quality) -> None:
    from recommender.model.estimator import RelatedStories

    defaults = RelatedStories().get_params()
    grid = quality.TOPIC_GRID
    assert all(defaults[name] in values for name, values in grid.items())
