"""Dask training (a real LocalCluster), scheduler errors, the training summary."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.cluster import check_scheduler
from recommender.errors import InvalidParameterError
from recommender.model.estimator import RelatedStories
from service.launch import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_dask_cluster_gives_identical_results(sample_articles: pd.DataFrame) -> None:
    distributed = pytest.importorskip("distributed")
    articles = sample_articles.head(200)
    local = RelatedStories(n_jobs=1).fit(articles)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=":0") as cluster:
        remote = RelatedStories().fit(articles, dask_scheduler=cluster.scheduler_address)
    assert remote.fit_stats_["neighbors"]["backend"] == "dask"
    assert remote.fit_stats_["neighbors"]["n_jobs"] == 2
    # The vectorising tasks ran on the cluster too (recommender.vectors.vectorize).
    assert remote.fit_stats_["vectorize"]["counting"]["backend"] == "dask"
    assert local.fit_stats_["vectorize"]["counting"]["backend"] == "sequential"
    np.testing.assert_array_equal(local.neighbors_, remote.neighbors_)
    np.testing.assert_array_equal(local.neighbor_scores_, remote.neighbor_scores_)
    assert (local.matrix_ != remote.matrix_).nnz == 0
    assert [r.id for r in local.related(local.ids_[3], k=5)] == [
        r.id for r in remote.related(remote.ids_[3], k=5)]


@pytest.mark.slow
def test_cli_training_on_a_process_cluster_gives_the_local_model(
        trained_model_dir: Path, tmp_path: Path) -> None:
    """``alsosee train --dask-scheduler`` on a scheduler with two worker *processes* (the
    tasks and scattered arrays cross process boundaries, as on separate machines) writes the
    model that local training of the bundled sample wrote (``trained_model_dir``)."""
    distributed = pytest.importorskip("distributed")
    from recommender.model import artifact

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  protocol="tcp", dashboard_address=":0") as cluster:
        proc = subprocess.run(
            [sys.executable, "-m", "recommender", "train", "--out", str(tmp_path / "m"),
             "--quiet", "--dask-scheduler", cluster.scheduler_address],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        with distributed.Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
    assert proc.returncode == 0, proc.stderr
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    remote, local = artifact.load(tmp_path / "m"), artifact.load(trained_model_dir)
    stats = remote.model.fit_stats_
    assert stats["neighbors"]["backend"] == "dask" and stats["neighbors"]["n_jobs"] == 2
    assert stats["vectorize"]["counting"]["backend"] == "dask"
    r, m = remote.model, local.model
    assert list(r.ids_) == list(m.ids_)
    assert (r.matrix_ != m.matrix_).nnz == 0 and r.matrix_.dtype == m.matrix_.dtype
    np.testing.assert_array_equal(r.neighbors_, m.neighbors_)
    np.testing.assert_array_equal(r.neighbor_scores_, m.neighbor_scores_)
    for article in m.ids_:
        assert [x.id for x in r.related(article, k=10)] == [
            x.id for x in m.related(article, k=10)]


def test_unreachable_scheduler_fails_fast() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(InvalidParameterError) as err:
        check_scheduler(address, timeout=2)
    assert time.monotonic() - start < 5
    assert address in str(err.value)
    with pytest.raises(InvalidParameterError, match="tcp://HOST:PORT"):
        check_scheduler("http://example.invalid")


def test_cli_train_with_unreachable_scheduler(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", "train", "--out", str(tmp_path / "m"),
         "--dask-scheduler", address],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot reach the Dask scheduler" in proc.stderr and address in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - start < 30  # interpreter start-up included; the wait is 5 s
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_training_report_has_neighbour_costs(trained_model_dir: Path) -> None:
    import json

    from recommender.model import artifact

    version = artifact.resolve(trained_model_dir)
    report = json.loads((version / artifact.REPORT_FILE).read_text())
    nb = report["fit_stats"]["neighbors"]
    assert nb["seconds"] > 0 and nb["peak_rss_mib"] > 0 and nb["articles_per_core_second"] > 0
    assert report["fit_stats"]["vectorize"]["peak_rss_mib"] > 0
    assert report["timings_seconds"]["neighbours"] == nb["seconds"]


def test_training_summary_reports_vectorising_and_memory(trained_model_dir: Path) -> None:
    import json

    from recommender.model import artifact
    from recommender.training.job import TrainResult

    loaded = artifact.load(trained_model_dir)
    report = json.loads((loaded.path / artifact.REPORT_FILE).read_text())
    summary = TrainResult(loaded.path, loaded.version, loaded.model, report,
                          report["timings_seconds"]).summary()
    line = next(x for x in summary.splitlines() if x.startswith("vectorising:"))
    counting = report["fit_stats"]["vectorize"]["counting"]
    assert f"{report['model']['articles']} articles" in line
    assert f"counting on {counting['backend']}" in line and "articles/core-second" in line
    assert "peak memory" in line and "peak memory" in summary.splitlines()[-2]
