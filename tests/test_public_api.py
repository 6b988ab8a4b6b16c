"""The package's top level: what a user calls, imported on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import recommender


def test_every_exported_name_resolves() -> None:
    for name in recommender.__all__:
        assert getattr(recommender, name) is not None, name
    assert recommender.Recommender.__module__ == "recommender.engine.recommender"
    assert recommender.RelatedStories.__module__ == "recommender.model.estimator"


def test_importing_the_package_loads_no_model_code() -> None:
    code = ("import sys, recommender; "
            "print(sorted(m for m in sys.modules if m.startswith(('sklearn', 'recommender.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_engine_on_a_loaded_model_version(trained_model_dir: Path) -> None:
    from recommender import RankingOptions, Recommender, RelatedResult, load, load_corpus

    loaded = load(trained_model_dir)
    engine = Recommender(loaded.model, defaults=RankingOptions(k=3))
    first = str(loaded.model.ids_[0])
    result = engine.related(first, half_life=90)
    assert isinstance(result, RelatedResult)
    assert len(result.ids) == 3 and first not in result.ids
    articles, _ = load_corpus(Path(__file__).resolve().parents[1] / "data" /
                              "globalvoices-2012-05.jsonl")
    assert set(result.ids) <= set(articles["id"])
    assert engine.related_to_text("Floods in Jakarta", "Rain and floods").ids
