"""scripts/lsa_blend.py re-scores the engine's own candidates: with weight 0 it is the engine,
with a weight each link's similarity is the blend of its cosine and its LSA cosine (a stage
renamed in the engine would make the blend a silent no-op; these tests catch that)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.recommender import Recommender
from recommender.model.estimator import RelatedStories
from tests.scriptmodules import load_script


@pytest.fixture(scope="module")
def lsa():
    return load_script("lsa_blend")


def test_rank_follows_the_archive_and_is_clipped(lsa) -> None:
    assert lsa.rank_for(3, 982) == 94
    assert lsa.rank_for(1, 100) == 20
    assert lsa.rank_for(4, 100_000) == 400


def test_weight_zero_is_the_engine(lsa, lexical_model: RelatedStories) -> None:
    components, rows = lsa.fit_svd(lexical_model.matrix_, 20)
    plain = Recommender(lexical_model, None)
    blend = lsa.LsaBlend(lexical_model, rows, components, 0.0, candidates=50)
    for article_id in lexical_model.ids_[:15]:
        assert ([(i.id, i.similarity) for i in blend.related(article_id, k=5).items]
                == [(i.id, i.similarity) for i in plain.related(article_id, k=5).items])


def test_each_link_scores_the_blend_of_its_two_cosines(lsa, lexical_model: RelatedStories) -> None:
    components, rows = lsa.fit_svd(lexical_model.matrix_, 20)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    blend = lsa.LsaBlend(lexical_model, rows, components, 0.5, candidates=50)
    plain = Recommender(lexical_model, None)
    changed = 0
    for article_id in lexical_model.ids_[:15]:
        q = lexical_model.row(article_id)
        items = blend.related(article_id, k=5).items
        assert items
        for item in items:
            r = lexical_model.row(item.id)
            cosine = float((lexical_model.matrix_[q] @ lexical_model.matrix_[r].T).toarray()[0, 0])
            expected = 0.5 * cosine + 0.5 * float(unit[q] @ unit[r])
            assert item.similarity == pytest.approx(min(max(expected, 0.0), 1.0), abs=1e-5)
        changed += [i.id for i in items] != plain.related(article_id, k=5).ids
    assert changed  # the topic cosine reorders some lists
