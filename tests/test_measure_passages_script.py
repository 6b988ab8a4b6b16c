"""scripts/measure_passages.py compares recomputed passages with stored ones: its stored
tables must hold exactly the engine's passages and slot queries, and its engines must give the
engine's answers (a change to the engine's passages that the script missed would make its
latency figures compare different work)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine.placements import passage_terms, slot_query, split_paragraphs
from recommender.engine.recommender import Recommender
from recommender.model.estimator import RelatedStories
from tests.scriptmodules import load_script

TOPICS = {
    "flood": "river flood water valley homes rain levee",
    "chess": "grandmaster chess final opening move board",
    "markets": "markets stocks bank earnings shares investors",
    "election": "election vote ballot candidate parliament campaign",
}


@pytest.fixture(scope="module")
def script():
    return load_script("measure_passages")


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    names, rows = list(TOPICS), []
    for i in range(40):
        paragraphs = []
        for _ in range(int(rng.integers(1, 6))):
            words = TOPICS[names[int(rng.integers(len(names)))]].split()
            paragraphs.append(" ".join(rng.choice(words, size=8).tolist()) + ".")
        rows.append({"id": f"a{i}", "title": f"Story {i} {paragraphs[0].split()[0]}",
                     "body": "\n\n".join(paragraphs)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def model(corpus: pd.DataFrame) -> RelatedStories:
    return RelatedStories(max_df=1.0).fit(corpus)


def _close(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], atol=1e-6)


def test_stored_tables_hold_the_engines_passages_and_queries(script, model, corpus,
                                                             tmp_path: Path) -> None:
    paragraphs = script.paragraph_table(model, list(corpus["body"]))
    paragraphs.save(tmp_path, "passages")
    paragraphs = script.Table.load(tmp_path, "passages")
    queries = script.slot_query_table(model, paragraphs)
    checked = 0
    for row, body in enumerate(corpus["body"]):
        text = split_paragraphs(body)
        first = int(paragraphs.first[row])
        assert int(paragraphs.first[row + 1]) - first == len(text)
        story = model.draft_terms(corpus["title"][row], body)
        for after in range(1, len(text) + 1):
            expected = passage_terms(model, text, after)
            assert _close(script.stored_passage(paragraphs, first, after), expected)
            assert _close(queries.row(int(queries.first[row]) + after - 1),
                          slot_query(story, expected))
            checked += 1
    assert checked > len(corpus)


def test_stored_engines_answer_as_the_engine(script, model, corpus) -> None:
    paragraphs = script.paragraph_table(model, list(corpus["body"]))
    queries = script.slot_query_table(model, paragraphs)
    plain = Recommender(model)
    engines = [script.StoredEngine(model, paragraphs),
               script.StoredEngine(model, paragraphs, queries)]
    asked = 0
    for article_id, body in zip(corpus["id"], corpus["body"], strict=True):
        n = len(split_paragraphs(body))
        if n < 2:
            continue
        slots = f"inline:{n - 1}:1,inline:{n}:2,end:3"
        expected = [(s.slot, [(i.id, round(i.similarity, 5)) for i in s.items])
                    for s in plain.related(article_id, placements=slots).slots]
        for engine in engines:
            got = engine.related(article_id, placements=slots).slots
            assert [(s.slot, [(i.id, round(i.similarity, 5)) for i in s.items])
                    for s in got] == expected
        asked += 1
    assert asked > 10
    explained = engines[0].related(corpus["id"][asked], placements="inline:1:1,end:2",
                                   explain=True).slots[0].items
    assert explained and "passage_terms" in explained[0].explanation


def test_revalidating_engine_answers_alike_and_restores_the_engine(script, model, corpus
                                                                   ) -> None:
    from recommender.engine import placements
    from recommender.engine import recommender as engine_module

    plain = Recommender(model)
    again = script.Revalidating(plain)
    article_id = next(i for i, b in zip(corpus["id"], corpus["body"], strict=True)
                      if len(split_paragraphs(b)) >= 2)
    got = again.related(article_id, placements="inline:2:1,end:3")
    assert engine_module.with_options is placements.with_options
    assert [s.items for s in got.slots] == \
        [s.items for s in plain.related(article_id, placements="inline:2:1,end:3").slots]
