"""Shared fixtures: the bundled sample, a fitted model, a trained model directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.corpus.load import load_corpus
from recommender.model.estimator import RelatedStories
from recommender.training.job import train_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "globalvoices-2012-05.jsonl"
SAMPLE_WXR = ROOT / "data" / "globalvoices-2012-05.wxr.xml"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_articles() -> pd.DataFrame:
    articles, _ = load_corpus(SAMPLE)
    return articles


@pytest.fixture(scope="session")
def sample_model(sample_articles: pd.DataFrame) -> RelatedStories:
    return RelatedStories().fit(sample_articles)


@pytest.fixture(scope="session")
def lexical_model(sample_articles: pd.DataFrame) -> RelatedStories:
    """The sample fitted without the topic blend: scores are the plain cosine (for tests of
    the lexical search itself)."""
    return RelatedStories(lsa_components=0).fit(sample_articles)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models root with the bundled sample trained once for the whole session."""
    root = tmp_path_factory.mktemp("models")
    train_sample(root)
    return root


# ---------------------------------------------------------------- HTTP service fixtures
# ``app`` is create_app({"TESTING": True, "MODEL_DIR": <trained_model_dir>}); config keys
# are documented in service/__init__.py (MODEL_DIR, MAX_CONTENT_LENGTH).
_SERVICE_ENV = ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES")


@pytest.fixture
def empty_model_dir(tmp_path: Path) -> Path:
    """A models root holding no model (the service must start anyway)."""
    root = tmp_path / "empty-models"
    root.mkdir()
    return root


@pytest.fixture
def app(trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The Flask app serving the trained sample (isolated from ALSOSEE_* env vars)."""
    from service import create_app

    for name in _SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    return create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir)})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ------------------------------------------------------------------ PostgreSQL (shared state)
@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL server (Debian's binaries, a temporary cluster, a free port) for
    the session; skips with the reason when it cannot run here."""
    from recommender.bench import pgserver

    reason = pgserver.unavailable()
    if reason:
        pytest.skip(reason)
    with pgserver.cluster() as pg:
        yield pg


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of a new, empty database (not migrated) on the session's PostgreSQL."""
    return pg_cluster.create_database()
