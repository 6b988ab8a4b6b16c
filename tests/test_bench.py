"""The scale benchmark: argument validation, memory check, a tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from recommender.bench.benchmark import check_memory, memory_estimate, parse_sizes
from recommender.cli import cli

ROOT = Path(__file__).resolve().parent.parent
REUTERS = ROOT.parent / "shared" / "data" / "reuters21578" / "articles.jsonl.gz"


@pytest.mark.parametrize("text, sizes", [("10k,100k,1M", [10_000, 100_000, 1_000_000]),
                                         ("2k", [2000]), (" 500 , 1.5k", [500, 1500])])
def test_parse_sizes(text: str, sizes: list[int]) -> None:
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "10x", "k", "1.2345k", "-5k", "10k,,20k", "99", "1G"])
def test_malformed_sizes_are_a_usage_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sizes(text)
    result = CliRunner().invoke(cli, ["bench", "--sizes", text])
    assert result.exit_code == 2
    assert "--sizes" in result.output


def test_size_that_cannot_fit_stops_early_with_an_estimate(tmp_path: Path) -> None:
    with pytest.raises(MemoryError, match="GiB"):
        check_memory([50_000_000])
    assert memory_estimate(1_000_000) > memory_estimate(100_000)
    result = CliRunner().invoke(cli, [
        "bench", "--sizes", "10k,50M", "--cache", str(tmp_path / "cache")])
    # The memory check runs before anything is derived or built.
    assert result.exit_code == 1
    assert "size 50M needs about" in result.output and "GiB" in result.output
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_cache_inside_the_repository_is_refused() -> None:
    result = CliRunner().invoke(cli, ["bench", "--sizes", "1k", "--cache",
                                      str(ROOT / "bench-cache"), "--http-seconds", "0"])
    assert result.exit_code == 1
    assert "inside the repository" in result.output
    assert not (ROOT / "bench-cache").exists()


@pytest.mark.slow  # ~25 s on an idle 2-core box: four child processes, bounded by timeout
@pytest.mark.skipif(not REUTERS.is_file(), reason="../shared/data/reuters21578 not present")
def test_tiny_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", "bench", "--sizes", "400", "--queries", "20",
         "--warmup", "2", "--http-seconds", "0", "--baseline-budget", "2", "--cache",
         str(tmp_path / "cache"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "benchmark.json").read_text())
    size = report["sizes"]["400"]
    assert size["corpus"]["derived"] is True and size["corpus"]["articles"] == 400
    a, b = size["alsosee"], size["baseline"]
    assert a["build"]["process"]["peak_rss_mib"] > 0 and a["build"]["artifact_bytes"] > 0
    assert a["query"]["by_id"]["n"] == 20 and a["query"]["by_text"]["p99_ms"] > 0
    assert a["query"]["arrays_memory_mapped"] is True
    assert b["query"]["by_id"]["n"] >= 1 and b["build"]["process"]["wall_seconds"] > 0
    assert report["machine"]["cores"] and report["machine"]["versions"]["scikit-learn"]
    assert "bench --sizes 400" in report["command"]
    md = (out / "benchmark.md").read_text()
    assert "DERIVED" in md and "| by-id p50 wall / CPU" in md
    assert a["query"]["by_id"]["cpu_p50_ms"] > 0
    assert "derived" in proc.stderr.lower()
