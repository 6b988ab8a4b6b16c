"""alsosee: related-stories ("ALSO SEE") recommendations for newsrooms.

The small public API::

    from recommender import load_corpus, RelatedStories, save, load, train

    articles, report = load_corpus("data/globalvoices-2012-05.jsonl")
    model = RelatedStories().fit(articles)
    model.related("gv-316447", k=5)
"""

__version__ = "0.1.0"

from .artifact import LoadedModel, load, save  # noqa: E402
from .corpus import CorpusReport, load_corpus  # noqa: E402
from .errors import (  # noqa: E402
    AlsoseeError,
    ArtifactError,
    CorpusError,
    InvalidParameterError,
    UnknownArticleError,
)
from .model import Recommendation, RelatedStories  # noqa: E402
from .training import TrainResult, train  # noqa: E402

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
