"""alsosee: related-stories ("ALSO SEE") recommendations for newsrooms.

The public API: read a corpus, train a model version, load it, ask the engine::

    from recommender import Recommender, load, load_corpus, train

    train(["data/globalvoices-2012-05.jsonl"], "models")   # a new verified model version
    engine = Recommender(load("models").model)              # + db=StateDB(...) for editorial
    engine.related("gv-316447", k=5, half_life=90).ids       # the newsroom ranking
    engine.related_to_text("Floods in Jakarta", "Rain ...")  # a draft

``RankingOptions`` holds and validates the ranking options; ``RelatedStories`` is the fitted
estimator itself (its ``related()``: the model's own similarity lists, without ranking).
"""

__version__ = "0.1.0"

from importlib import import_module
from typing import Any

# Public names -> the module defining them. Imported on first use (PEP 562), so that
# `import recommender.cli` and short commands do not pay for scikit-learn and pandas.
_EXPORTS = {
    "LoadedModel": "model.artifact", "load": "model.artifact", "save": "model.artifact",
    "CorpusReport": "corpus.load", "load_corpus": "corpus.load",
    "AlsoseeError": "errors", "ArtifactError": "errors", "CorpusError": "errors",
    "InvalidParameterError": "errors", "UnknownArticleError": "errors",
    "Recommendation": "model.catalogue", "RelatedStories": "model.estimator",
    "TrainResult": "training.job", "train": "training.job",
    "Recommender": "engine.recommender",
    "RankedItem": "engine.results", "RelatedResult": "engine.results",
    "RankingOptions": "ranking.options",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AlsoseeError",
    "ArtifactError",
    "CorpusError",
    "CorpusReport",
    "InvalidParameterError",
    "LoadedModel",
    "RankedItem",
    "RankingOptions",
    "Recommendation",
    "Recommender",
    "RelatedResult",
    "RelatedStories",
    "TrainResult",
    "UnknownArticleError",
    "__version__",
    "load",
    "load_corpus",
    "save",
    "train",
]
