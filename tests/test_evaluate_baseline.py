"""The TF-IDF baseline inside every evaluation, and "best"/Pareto chosen among all systems."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SAMPLE
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.cli import cli
from recommender.errors import InvalidParameterError
from recommender.evaluation import (
    FunctionSystem,
    TfidfBaselineSystem,
    baselines,
    evaluate,
    evaluate_systems,
    qrels_from_mapping,
)
from recommender.evaluation.report import write_report
from recommender.evaluation.systems import ranked_system
from recommender.model.estimator import RelatedStories


def _direct_lists(articles: pd.DataFrame, published: np.ndarray, k: int
                  ) -> dict[str, list[tuple[str, float]]]:
    """The baseline written out with scikit-learn and a dense similarity matrix."""
    text = articles["title"].fillna("") + "\n" + articles["body"].fillna("")
    x = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(text)
    sims = (x @ x.T).toarray()
    ids = articles["id"].astype(str).tolist()
    out = {}
    for i, q in enumerate(ids):
        row = sims[i].copy()
        row[i] = 0.0
        row[~published] = 0.0
        order = sorted((j for j in range(len(ids)) if row[j] > 0), key=lambda j: (-row[j], j))
        out[q] = [(ids[j], float(row[j])) for j in order[:k]]
    return out


def test_baseline_lists_equal_a_direct_scikit_learn_computation(sample_articles):
    rng = np.random.default_rng(3)
    published = np.ones(len(sample_articles), dtype=bool)
    published[rng.choice(len(published), 40, replace=False)] = False
    system = TfidfBaselineSystem(sample_articles, published)
    direct = _direct_lists(sample_articles, published, 10)
    hidden = set(sample_articles["id"][~published])
    for q, expected in direct.items():
        ids, scores = system.recommend(q, 10)
        assert ids == [d for d, _ in expected], q
        assert scores == pytest.approx([s for _, s in expected], abs=1e-9)
        assert q not in ids and not hidden & set(ids)
    assert system.params["stop_words"] == "english" and system.params["sublinear_tf"] is True


def test_baseline_for_a_model_uses_its_articles_and_published_flags():
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "title": ["Flood in the city", None, "Chess final", "Chess final opening", "The"],
        "body": ["rain flood river", "rain flood river city", "chess", "chess board", "and of"],
        "status": ["publish", "publish", "publish", "draft", "publish"],
    })
    model = RelatedStories(max_df=1.0).fit(df)
    system = baselines(model, articles=df.iloc[::-1])[0]  # row order does not matter
    assert system.name == "tfidf-baseline" and system.kind == "baseline"
    assert system.recommend("a", 3)[0] == ["b"]
    assert system.recommend("c", 3)[0] == []  # d is a draft: never recommended
    assert system.recommend("e", 3)[0] == []  # nothing but stop words
    with pytest.raises(InvalidParameterError, match=r"not the one the model was trained on.*'d'"):
        TfidfBaselineSystem.for_model(model, df[df["id"] != "d"])
    with pytest.raises(InvalidParameterError, match="empty vocabulary"):
        TfidfBaselineSystem(pd.DataFrame({"id": ["x"], "title": ["the"], "body": ["of"]}))


def test_evaluate_runs_the_baseline_when_given_the_corpus(sample_articles, sample_model):
    truth = qrels_from_mapping({"gv-316447": ["gv-316821"]}, known_ids=set(sample_model.ids_))
    names = [s.name for s in evaluate(sample_model, truth, ks=[5]).systems]
    assert "tfidf-baseline" not in names
    result = evaluate(sample_model, truth, ks=[5], articles=sample_articles)
    assert [s.name for s in result.systems] == [
        "defaults", "tfidf-baseline", "plain-cosine", "latest-in-section", "random"]


@pytest.fixture(scope="module")
def baseline_wins(sample_articles, sample_model):
    """Graded truth = the baseline's own top 5 on the queries where the served list differs
    from it: the baseline is perfect there, every other system is not."""
    baseline = TfidfBaselineSystem.for_model(sample_model, sample_articles)
    served = ranked_system(sample_model)
    truth = {}
    for q in sample_articles["id"][:150]:
        top = baseline.recommend(q, 5)[0]
        if len(top) == 5 and served.recommend(q, 5)[0] != top:
            truth[q] = {d: 5 - i for i, d in enumerate(top)}
    assert len(truth) > 20
    qrels = qrels_from_mapping(truth, known_ids=set(sample_model.ids_))
    nearly = FunctionSystem(lambda q, k: baseline.recommend(q, k)[0][1:], name="skip-first")
    systems = [served, nearly, *baselines(sample_model, articles=sample_articles)]
    return evaluate_systems(systems, qrels, sample_model, ks=(5, 10))


def test_a_baseline_that_wins_is_reported_best_and_on_the_front(baseline_wins):
    result = baseline_wins
    b = result.system("tfidf-baseline").metrics
    assert b["nDCG@10"] == pytest.approx(1.0)
    assert all(s.metrics["nDCG@10"] < 1.0 for s in result.systems if s.kind == "config")
    best = result.best["nDCG@10"]
    assert (best["name"], best["kind"]) == ("tfidf-baseline", "baseline")
    assert best["value"] == pytest.approx(1.0)
    front = {r["name"]: r["pareto"] for r in result.tradeoff()}
    assert front["tfidf-baseline"]
    # a configuration both less relevant and no fresher than the baseline is off the front
    gap = b["age_gap_median_days@10"]
    for s in result.systems:
        if s.kind == "config" and s.metrics["age_gap_median_days@10"] >= gap:
            assert not front[s.name], s.name
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["best"]["nDCG@10"]["name"] == "tfidf-baseline"
    assert {r["name"] for r in payload["tradeoff"] if r["pareto"]} >= {"tfidf-baseline"}
    lines = result.table().splitlines()
    assert any(re.match(r"\[tfidf-baseline\] \*\s", ln) for ln in lines)
    assert not any(ln.startswith("defaults *") for ln in lines)


def test_a_dominating_baseline_pushes_the_defaults_off_the_front(tiny_dated):
    model, truth = tiny_dated
    # the defaults listed with a fixed stale order; plain cosine finds the related story
    stale = FunctionSystem(lambda q, k: [d for d in ["e", "d", "c", "b", "a"] if d != q][:k],
                           name="defaults")
    result = evaluate_systems([stale, *baselines(model)], truth, model, ks=[1])
    rows = {r["name"]: r for r in result.tradeoff()}
    assert rows["plain-cosine"]["nDCG@1"] > rows["defaults"]["nDCG@1"]
    assert rows["plain-cosine"]["age_gap_median_days"] <= rows["defaults"]["age_gap_median_days"]
    assert rows["plain-cosine"]["pareto"] and not rows["defaults"]["pareto"]
    assert result.best["nDCG@1"]["name"] == "plain-cosine"


@pytest.fixture(scope="module")
def tiny_dated():
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "title": ["flood city rain", "city flood rain damage", "chess final",
                  "chess final opening", "garden show"],
        "body": ["", "", "", "", ""],
        "published_at": pd.to_datetime(["2012-01-01", "2012-01-02", "2012-01-01",
                                        "2012-01-02", "2013-06-01"], utc=True),
    })
    model = RelatedStories(max_df=1.0, ngram_range=(1, 1)).fit(df)
    truth = qrels_from_mapping({"a": ["b"], "c": ["d"]}, known_ids=set(model.ids_))
    return model, truth


def test_report_shows_the_winning_baseline(baseline_wins, sample_model, tmp_path: Path):
    page = write_report(baseline_wins, sample_model, tmp_path / "r").read_text()
    row = re.search(r'<tr class="([^"]*)"><td>tfidf-baseline \(baseline\)([^<]*<span[^>]*>'
                    r"[^<]*</span>)?</td>", page)
    assert row is not None
    assert row.group(1) == "baseline best" and "best nDCG@10" in row.group(2)
    assert '<tr class=""><td>defaults</td>' in page
    assert "<td>nDCG@10</td><td>tfidf-baseline (baseline)</td>" in page  # best per metric
    assert "<b>tfidf-baseline</b> (" in page  # the sample lists show the baseline's too


# ------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def outside_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A model trained on a corpus file that is not the bundled sample: (models, corpus,
    truth)."""
    root = tmp_path_factory.mktemp("outside")
    corpus = root / "archive.csv"
    rows = [("a", "Flood hits the city", "rain flood river city"),
            ("b", "City flood damage", "rain flood river damage"),
            ("c", "Chess final", "chess board final"), ("d", "Chess opening", "chess board"),
            ("e", "Garden show", "flowers garden"), ("f", "Garden prize", "flowers garden prize")]
    pd.DataFrame(rows, columns=["id", "title", "body"]).to_csv(corpus, index=False)
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(root / "models"),
                                      "-q"])
    assert result.exit_code == 0, result.output
    truth = root / "truth.csv"
    truth.write_text("a,b\nc,d\ne,f\n")
    return root / "models", corpus, truth


def test_cli_without_the_corpus_is_one_clear_error(outside_model, tmp_path, monkeypatch):
    models, _, truth = outside_model
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(models), "--truth", str(truth),
                                      "--k", "1,2"])
    assert result.exit_code == 1
    errors = [ln for ln in result.output.splitlines() if ln.startswith("alsosee: error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert errors[0].startswith("alsosee: error: --corpus: ")
    assert "archive.csv" in errors[0] and "--no-tfidf-baseline" in errors[0]
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(models), "--truth", str(truth),
                                      "--k", "1,2", "--no-tfidf-baseline"])
    assert result.exit_code == 0, result.output
    assert "[plain-cosine]" in result.output and "tfidf-baseline" not in result.output


def test_cli_finds_or_takes_the_corpus_and_rejects_another(outside_model, tmp_path,
                                                           monkeypatch):
    models, corpus, truth = outside_model
    out = tmp_path / "e.json"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(models), "--truth", str(truth),
                                      "--k", "1,2", "--corpus", str(corpus), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "[tfidf-baseline]" in result.output and "defaults vs tfidf-baseline" in result.output
    payload = json.loads(out.read_text())
    baseline = next(s for s in payload["systems"] if s["name"] == "tfidf-baseline")
    assert baseline["kind"] == "baseline" and baseline["metrics"]["P@1"] == 1.0
    assert payload["best"]["nDCG@2"]["value"] == 1.0

    monkeypatch.chdir(corpus.parent)  # the manifest's file name, matched by SHA-256
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(models), "--truth", str(truth),
                                      "--k", "1,2"])
    assert result.exit_code == 0, result.output
    assert "found by its SHA-256: archive.csv" in result.output
    assert "[tfidf-baseline]" in result.output

    result = CliRunner().invoke(cli, ["evaluate", "--model", str(models), "--truth", str(truth),
                                      "--k", "1,2", "--corpus", str(SAMPLE)])
    assert result.exit_code == 1
    assert "alsosee: error: --corpus: the corpus (378 articles) is not the one" in result.output
