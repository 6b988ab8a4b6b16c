"""alsosee: related-stories ("ALSO SEE") recommendations for newsrooms.

The small public API::

    from recommender import load_corpus, RelatedStories, save, load, train

    articles, report = load_corpus("data/globalvoices-2012-05.jsonl")
    model = RelatedStories().fit(articles)
    model.related("gv-316447", k=5)
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
    "Recommendation": "model.estimator", "RelatedStories": "model.estimator",
    "TrainResult": "training.job", "train": "training.job",
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
    "Recommendation",
    "RelatedStories",
    "TrainResult",
    "UnknownArticleError",
    "__version__",
    "load",
    "load_corpus",
    "save",
    "train",
]
