"""The scale benchmark: alsosee against the naive scikit-learn baseline, in one run.

For every size it derives a corpus from real Reuters text (see
:mod:`recommender.bench.derived`), then measures, each heavy step in its own child process
(so peak RSS belongs to that step):

* build: wall and CPU time, peak RSS, artifact size on disk (alsosee: ``alsosee train``;
  baseline: ``TfidfVectorizer`` + ``NearestNeighbors(metric="cosine", algorithm="brute")``);
* load time, and single-threaded in-process latency of by-id and by-text queries
  (p50/p95/p99 after a warm-up);
* HTTP: the real gunicorn server (2 workers) under ``wrk`` from another process, for a
  bounded time on loopback; and the total PSS of 1 vs 4 workers (``smaps_rollup``).

Results go to JSON and Markdown with the machine, the versions and the exact command.
``python -m recommender.bench.benchmark JOB.json`` is the child-process entry point.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from service.launch import ServerProcess

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the repository
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "reuters21578" / "articles.jsonl.gz"

#: Peak training memory per article, measured (see docs/performance.md), plus a base.
TRAIN_BYTES_PER_ARTICLE = 6_000
BASE_BYTES = 600 * 2**20

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_sizes(text: str) -> list[int]:
    """``"10k,100k,1M"`` -> ``[10000, 100000, 1000000]``; ValueError when malformed."""
    sizes = []
    for part in text.split(","):
        m = _SIZE.match(part)
        if not m:
            raise ValueError(f"{part.strip()!r} is not a size like 2k, 100k or 1M")
        value = float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
        if value != int(value) or not 100 <= value <= 50_000_000:
            raise ValueError(f"{part.strip()!r}: sizes must be whole numbers from 100 to 50M")
        sizes.append(int(value))
    if not sizes:
        raise ValueError("no size given")
    return sizes


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def memory_available() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_estimate(n: int) -> int:
    """Estimated peak bytes to train ``n`` articles (the largest step of the benchmark)."""
    return BASE_BYTES + TRAIN_BYTES_PER_ARTICLE * n


def check_memory(sizes: Sequence[int]) -> None:
    """Raise MemoryError with the estimate when a size will not fit in available memory."""
    available = memory_available()
    if not available:
        return
    for n in sizes:
        need = memory_estimate(n)
        if need > 0.9 * available:
            raise MemoryError(
                f"size {human(n)} needs about {need / 2**30:.1f} GiB to train "
                f"(estimate: {TRAIN_BYTES_PER_ARTICLE} bytes per article + "
                f"{BASE_BYTES / 2**20:.0f} MiB), but only {available / 2**30:.1f} GiB is "
                "available; stopping before it starts"
            )


def percentiles(seconds: Sequence[float], cpu: Sequence[float] | None = None
                ) -> dict[str, float]:
    """Wall-clock percentiles (ms) and, when given, the same for the thread's CPU time.

    CPU time is what one query costs when it has a core to itself; wall time also counts
    waiting for a core, which on a shared, oversubscribed machine dominates.
    """
    ms = np.asarray(seconds) * 1000
    out = {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 4),
           "p95_ms": round(float(np.percentile(ms, 95)), 4),
           "p99_ms": round(float(np.percentile(ms, 99)), 4),
           "mean_ms": round(float(ms.mean()), 4)}
    if cpu is not None:
        c = np.asarray(cpu) * 1000
        out.update({f"cpu_{p}_ms": round(float(np.percentile(c, q)), 4)
                    for p, q in (("p50", 50), ("p95", 95), ("p99", 99))})
    return out


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


# ------------------------------------------------------------------ child jobs
def run_child(job: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run one job in a fresh interpreter; its result plus wall, CPU and peak RSS."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf, \
            tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump(job, spec)  # the job can be large (query texts): a file, not argv
        spec.flush()
        proc = subprocess.Popen([sys.executable, "-m", "recommender.bench.benchmark", spec.name],
                                cwd=ROOT, stdout=out, stderr=errf, env=env)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                raise TimeoutError(f"benchmark step {job['job']} exceeded {timeout:.0f} s")
            time.sleep(0.05)
        wall = time.perf_counter() - start
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {job['job']} failed:\n{err[-3000:]}")
    result = json.loads(text.strip().splitlines()[-1])
    result["process"] = {"wall_seconds": round(wall, 3),
                         "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                         "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}
    return result


def _job_build_alsosee(job: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from ..model import artifact
    from ..model.estimator import RelatedStories

    t0 = time.perf_counter()
    articles = pd.read_parquet(job["corpus"])
    read = time.perf_counter() - t0
    model = RelatedStories(**job.get("params", {})).fit(articles,
                                                        progress=bool(job.get("progress")))
    t1 = time.perf_counter()
    path = artifact.save(model, job["out"], corpus_files=[job["corpus"]],
                         report={"fit_stats": model.fit_stats_}, keep=1)
    return {"read_seconds": round(read, 3), "fit_stats": model.fit_stats_,
            "save_seconds": round(time.perf_counter() - t1, 3), "version_dir": str(path),
            "features": int(model.matrix_.shape[1]), "nonzeros": int(model.matrix_.nnz)}


def _baseline_texts(articles: Any) -> list[str]:
    return (articles["title"].fillna("") + "\n" + articles["body"].fillna("")).tolist()


def _job_build_baseline(job: dict[str, Any]) -> dict[str, Any]:
    import joblib
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    articles = pd.read_parquet(job["corpus"])
    t0 = time.perf_counter()
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", ngram_range=(1, 2),
                          max_df=0.5, dtype=np.float32, strip_accents="unicode")
    X = vec.fit_transform(_baseline_texts(articles))
    if hasattr(vec, "stop_words_"):
        del vec.stop_words_
    nn = NearestNeighbors(metric="cosine", algorithm="brute").fit(X)
    fit = time.perf_counter() - t0
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump({"vectorizer": vec, "nn": nn, "ids": articles["id"].to_numpy()},
                out / "baseline.joblib")
    return {"fit_seconds": round(fit, 3), "features": int(X.shape[1])}


def _latencies(fn: Callable[[Any], Any], items: Sequence[Any], warmup: int,
               budget: float) -> dict[str, float]:
    for item in items[:warmup]:
        fn(item)
    times, cpu = [], []
    stop = time.perf_counter() + budget
    for item in items[warmup:]:
        t, c = time.perf_counter(), time.thread_time()
        fn(item)
        cpu.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
        if t > stop and len(times) >= 20:
            break
    return percentiles(times, cpu)


def _job_query_alsosee(job: dict[str, Any]) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from ..model import artifact

    threadpool_limits(1)
    t0 = time.perf_counter()
    loaded = artifact.load(job["model"])
    load = time.perf_counter() - t0
    model = loaded.model
    k = job["k"]
    by_id = _latencies(lambda a: model.related(a, k=k), job["ids"], job["warmup"],
                       job["budget"])
    by_text = _latencies(lambda t: model.related_to_text(t[0], t[1], k=k), job["texts"],
                         job["warmup"], job["budget"])
    memmapped = all(isinstance(a, np.memmap) for a in (
        model.matrix_.data, model.index_.data, model.neighbors_))
    return {"load_seconds": round(load, 3), "load_seconds_reported": loaded.load_seconds,
            "by_id": by_id, "by_text": by_text, "arrays_memory_mapped": memmapped}


def _job_query_baseline(job: dict[str, Any]) -> dict[str, Any]:
    import joblib
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    t0 = time.perf_counter()
    b = joblib.load(Path(job["out"]) / "baseline.joblib")
    load = time.perf_counter() - t0
    vec, nn = b["vectorizer"], b["nn"]
    X = nn._fit_X
    row_of = {a: i for i, a in enumerate(b["ids"])}
    k = job["k"]
    by_id = _latencies(lambda a: nn.kneighbors(X[row_of[a]], n_neighbors=k + 1),
                       job["ids"], min(job["warmup"], 3), job["budget"])
    by_text = _latencies(lambda t: nn.kneighbors(vec.transform([t[0] + "\n" + t[1]]),
                                                 n_neighbors=k), job["texts"],
                         min(job["warmup"], 3), job["budget"])
    return {"load_seconds": round(load, 3), "by_id": by_id, "by_text": by_text}



_JOBS = {"build_alsosee": _job_build_alsosee, "build_baseline": _job_build_baseline,
         "query_alsosee": _job_query_alsosee, "query_baseline": _job_query_baseline}


# ------------------------------------------------------------------------ HTTP
class PssMib(TypedDict):
    """Proportional set size of a server, in MiB."""

    master: float
    workers: list[float]
    total: float


class Server(ServerProcess):
    """The real gunicorn server (``python -m service.server``) on a free loopback port,
    started and ready with every worker up."""

    def __init__(self, model_dir: Path, workers: int,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(
            model_dir, workers=workers, args=["--log-level", "warning"], cwd=ROOT,
            # No rate limit on drafts: the benchmark measures the engine, not the limiter.
            env={"ALSOSEE_MODEL_DIR": str(model_dir), "ALSOSEE_RATE_LIMIT": "off",
                 **(env or {})},
            inherit_settings=True, startup_timeout=300)
        self.url = self.base
        self.start()
        try:
            self.wait_ready(all_workers=True)
        except BaseException:
            self.stop()
            raise

    def pss_mib(self) -> PssMib:
        def pss(pid: int) -> float:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
            return 0.0

        workers = [pss(p) for p in self.worker_pids()]
        master = pss(self.pids()[0])
        return {"master": round(master, 1), "workers": [round(w, 1) for w in workers],
                "total": round(master + sum(workers), 1)}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the master and its workers."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total


_WRK_LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def _wrk_script(ids: Sequence[str], texts: Sequence[tuple[str, str]] | None, k: int) -> str:
    if texts is None:
        paths = ",".join(json.dumps(f"/v1/articles/{a}/related?k={k}") for a in ids)
        return (f"local paths = {{{paths}}}\nmath.randomseed(1)\n"
                "request = function()\n  return wrk.format('GET', paths[math.random(#paths)])\n"
                "end\n")
    bodies = ",".join(json.dumps(json.dumps({"title": t, "body": b, "k": k})) for t, b in texts)
    return (f"local bodies = {{{bodies}}}\nmath.randomseed(1)\n"
            "wrk.headers['Content-Type'] = 'application/json'\n"
            "request = function()\n"
            "  return wrk.format('POST', '/v1/related', nil, bodies[math.random(#bodies)])\nend\n")


def run_wrk(url: str, script: str, seconds: int, connections: int = 16,
            threads: int = 2) -> dict[str, Any]:
    """Run wrk against ``url``; requests/s, latency percentiles, errors."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        proc = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
             fh.name, url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(fh.name)
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    lat = {}
    for pct, value, unit in _WRK_LATENCY.findall(out):
        lat[f"p{pct}_ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return {"requests_per_second": float(rps.group(1)) if rps else None,
            "requests": int(total.group(1)) if total else None,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sock.group(1).strip() if sock else None,
            "latency": lat, "seconds": seconds, "connections": connections,
            "wrk_threads": threads}


def measure_http(model_dir: Path, ids: Sequence[str], texts: Sequence[tuple[str, str]],
                 seconds: int, k: int) -> dict[str, Any]:
    """Throughput/latency with 2 workers (the server's defaults: 2 threads each, keep-alive,
    response cache), by-id again with the response cache off, then total PSS with 1 and 4
    workers."""
    result: dict[str, Any] = {}
    by_id = _wrk_script(ids[:1000], None, k)
    runs: tuple[tuple[str, dict[str, str], str], ...] = (
        # by_id: 1,000 distinct articles, after a warm-up over the same ones (a popular
        # story's list is asked for again and again: the response cache answers).
        ("by_id", {}, by_id),
        ("by_text", {}, _wrk_script([], texts[:200], k)),
        # by_id_uncached: every request ranks (ALSOSEE_RESPONSE_CACHE_SIZE=0).
        ("by_id_uncached", {"ALSOSEE_RESPONSE_CACHE_SIZE": "0"}, by_id),
    )
    for kind, env, script in runs:
        server = Server(model_dir, workers=2, env=env)
        try:
            run_wrk(server.url, script, 3)  # warm-up
            cpu0 = server.cpu_seconds()
            res = run_wrk(server.url, script, seconds)
            used = server.cpu_seconds() - cpu0
            if res.get("requests"):
                # Server CPU per request: the capacity of a core when nothing else runs.
                res["server_cpu_ms_per_request"] = round(1000 * used / res["requests"], 3)
                res["capacity_per_core_rps"] = round(res["requests"] / used, 0) if used else None
            result[kind] = res
        finally:
            server.stop()
    pss: dict[str, PssMib] = {}
    for workers in (1, 4):
        server = Server(model_dir, workers=workers)
        try:
            # Touch the arrays in every worker (by-id and drafts) before reading PSS.
            run_wrk(server.url, _wrk_script(ids[:1000], None, k), 3, connections=8)
            run_wrk(server.url, _wrk_script([], texts[:200], k), 3, connections=8)
            pss[f"{workers}_workers"] = server.pss_mib()
        finally:
            server.stop()
    result["pss_mib"] = pss
    one, four = pss["1_workers"]["total"], pss["4_workers"]["total"]
    result["pss_ratio_4_vs_1"] = round(four / one, 3) if one else None
    return result


# ----------------------------------------------------------------------- driver
def machine_info() -> dict[str, Any]:
    from ..model.artifact import library_versions

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        wrk_version = subprocess.run([wrk, "--version"], capture_output=True,
                                     text=True).stdout.split("\n")[0].strip()
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(mem / 2**30, 1), "load_average": os.getloadavg(),
            "versions": {**library_versions(), "wrk": wrk_version}}


def run_benchmark(
    sizes: Sequence[int],
    *,
    source: Path = DEFAULT_SOURCE,
    cache: Path | None = None,
    out: Path | None = None,
    queries: int = 1000,
    warmup: int = 100,
    http_seconds: int = 10,
    baseline: bool = True,
    baseline_budget: float = 60.0,
    k: int = 5,
    command: str = "",
    on_step: Callable[[str], None] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the benchmark for each size; write ``benchmark.json`` and ``benchmark.md``.

    ``params``: :class:`~recommender.model.estimator.RelatedStories` parameters of the
    alsosee build (default: the defaults), e.g. ``{"lsa_components": "auto"}``."""
    from .derived import DEFAULT_CACHE, _inside_repo, cached_corpus, describe, read_source

    step = on_step or (lambda m: logger.info("%s", m))
    cache = Path(cache or DEFAULT_CACHE)
    out = Path(out or cache / "results")
    for p in (cache, out):
        if _inside_repo(p):
            raise ValueError(f"{p}: benchmark data must not be written inside the repository")
    check_memory(sizes)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the Reuters-21578 source is missing")
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command or " ".join(sys.argv),
        "machine": machine_info(),
        "note": ("Corpora are DERIVED from Reuters-21578 (research use only): real headlines "
                 "and real paragraphs recombined within a topic; not real stories."),
        "settings": {"queries": queries, "warmup": warmup, "k": k,
                     "http_seconds": http_seconds, "baseline_budget_seconds": baseline_budget,
                     "model_params": dict(params or {})},
        "sizes": {},
    }
    real = read_source(source)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(real), size=min(len(real), queries + warmup), replace=False)
    texts = [(real["title"].iat[i], real["body"].iat[i]) for i in pick]
    for n in sizes:
        name = human(n)
        res: dict[str, Any] = {}
        step(f"[{name}] deriving the corpus (cached in {cache})")
        t0 = time.perf_counter()
        articles, corpus_path = cached_corpus(source, n, cache)
        res["corpus"] = {**describe(articles), "path": str(corpus_path),
                         "derive_or_read_seconds": round(time.perf_counter() - t0, 2)}
        ids = articles["id"].to_numpy()[rng.integers(0, n, size=queries + warmup)].tolist()
        del articles
        model_root = cache / f"models-{name}"
        shutil.rmtree(model_root, ignore_errors=True)
        step(f"[{name}] building the alsosee model")
        build = run_child({"job": "build_alsosee", "corpus": str(corpus_path),
                           "out": str(model_root), "progress": False,
                           "params": dict(params or {})})
        version_dir = Path(build["version_dir"])
        build["artifact_bytes"] = dir_bytes(version_dir)
        res["alsosee"] = {"build": build}
        step(f"[{name}] alsosee in-process queries ({queries} by id, {queries} by text)")
        res["alsosee"]["query"] = run_child({
            "job": "query_alsosee", "model": str(model_root), "ids": ids, "texts": texts,
            "warmup": warmup, "k": k, "budget": 600.0})
        if http_seconds > 0:
            step(f"[{name}] HTTP under wrk ({http_seconds} s per endpoint), PSS 1 vs 4 workers")
            res["alsosee"]["http"] = measure_http(model_root, ids, texts, http_seconds, k)
        if baseline:
            base_dir = cache / f"baseline-{name}"
            step(f"[{name}] building the baseline (TfidfVectorizer + NearestNeighbors brute)")
            bbuild = run_child({"job": "build_baseline", "corpus": str(corpus_path),
                                "out": str(base_dir)})
            bbuild["artifact_bytes"] = dir_bytes(base_dir)
            step(f"[{name}] baseline queries (at most {baseline_budget:.0f} s per kind)")
            bquery = run_child({"job": "query_baseline", "out": str(base_dir), "ids": ids,
                                "texts": texts, "warmup": warmup, "k": k,
                                "budget": baseline_budget})
            res["baseline"] = {"build": bbuild, "query": bquery}
            shutil.rmtree(base_dir, ignore_errors=True)
        report["sizes"][name] = res
        _write(report, out)
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["load_end"] = tuple(round(x, 1) for x in os.getloadavg())
    _write(report, out)
    report["output"] = {"json": str(out / "benchmark.json"), "markdown": str(out / "benchmark.md")}
    return report


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "benchmark.md").write_text(markdown(report))


def _fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown document (one table per size)."""
    m = report["machine"]
    lines = [
        "# alsosee benchmark", "",
        f"- command: `{report['command']}`",
        f"- started: {report['started_at']}; machine: {m['cpu']} ({m['cores']} cores, "
        f"{m['memory_gib']} GiB), {m['platform']}, load average at start "
        f"{tuple(round(x, 1) for x in m['load_average'])}, at end {report.get('load_end')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- **{report['note']}**",
        f"- settings: {report['settings']}", "",
    ]
    for name, res in report["sizes"].items():
        a = res.get("alsosee", {})
        b = res.get("baseline", {})
        ab, aq = a.get("build", {}), a.get("query", {})
        bb, bq = b.get("build", {}), b.get("query", {})
        fs = ab.get("fit_stats", {})
        lines += [f"## {name} articles (derived)", "",
                  "| measure | alsosee | baseline (NearestNeighbors brute) |",
                  "|---|---|---|"]

        def row(label: str, x: Any, y: Any, lines: list[str] = lines) -> None:
            lines.append(f"| {label} | {x} | {y} |")

        ap, bp = ab.get("process", {}), bb.get("process", {})
        row("build wall (s)", _fmt(ap.get("wall_seconds")), _fmt(bp.get("wall_seconds")))
        row("build CPU (s)", _fmt(ap.get("cpu_seconds")), _fmt(bp.get("cpu_seconds")))
        row("  of which vectorise + fit (s)", _fmt(fs.get("vectorize", {}).get("seconds")),
            _fmt(bb.get("fit_seconds")))
        nb = fs.get("neighbors", {})
        row("  of which neighbour lists (s)",
            f"{_fmt(nb.get('seconds'))} ({_fmt(nb.get('articles_per_core_second'), '', 0)} "
            "articles/core-s)" if nb else "–", "–")
        row("build peak RSS (MiB)", _fmt(ap.get("peak_rss_mib"), "", 0),
            _fmt(bp.get("peak_rss_mib"), "", 0))
        row("artifact size (MiB)", _fmt(ab.get("artifact_bytes", 0) / 2**20, "", 1),
            _fmt(bb.get("artifact_bytes", 0) / 2**20, "", 1) if bb else "–")
        row("load time (s)", _fmt(aq.get("load_seconds"), "", 3),
            _fmt(bq.get("load_seconds"), "", 3))
        for kind in ("by_id", "by_text"):
            x, y = aq.get(kind, {}), bq.get(kind, {})
            for p in ("p50_ms", "p95_ms", "p99_ms"):
                row(f"{kind.replace('_', '-')} {p[:3]} wall / CPU (ms, n={x.get('n', '–')}/"
                    f"{y.get('n', '–')})",
                    f"{_fmt(x.get(p), '', 3)} / {_fmt(x.get('cpu_' + p), '', 3)}",
                    f"{_fmt(y.get(p), '', 3)} / {_fmt(y.get('cpu_' + p), '', 3)}")
        http = a.get("http")
        if http:
            for kind in ("by_id", "by_id_uncached", "by_text"):
                if kind not in http:
                    continue
                h = http.get(kind, {})
                lat = h.get("latency", {})
                row(f"HTTP {kind.replace('_', '-')} (2 workers): req/s, p50/p99 ms, non-2xx, "
                    "server CPU ms/request",
                    f"{_fmt(h.get('requests_per_second'), '', 0)}, "
                    f"{_fmt(lat.get('p50_ms'))}/{_fmt(lat.get('p99_ms'))}, "
                    f"{h.get('non_2xx')}, {_fmt(h.get('server_cpu_ms_per_request'), '', 3)}",
                    "–")
            pss = http.get("pss_mib", {})
            row("total PSS 1 / 4 workers (MiB)",
                f"{_fmt(pss.get('1_workers', {}).get('total'), '', 0)} / "
                f"{_fmt(pss.get('4_workers', {}).get('total'), '', 0)} "
                f"(x{_fmt(http.get('pss_ratio_4_vs_1'))})", "–")
        lines.append("")
    return "\n".join(lines) + "\n"


def _child_main(argv: Sequence[str]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = json.loads(Path(argv[0]).read_text())
    result = _JOBS[job["job"]](job)
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
