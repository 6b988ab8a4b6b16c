"""Reliability on the real server (gunicorn, 3 workers, loopback, bounded in time).

* a stream of queries from another process while new models are activated and reloaded
  (POST /v1/admin/reload, then SIGHUP): zero non-2xx, zero connection errors, every version
  old or new, no worker restarted;
* a model that fails verification is refused by every worker, the old one keeps serving;
* a publish through one worker is visible through the others at once;
* kill -9 of the whole server mid-stream, restart: live articles and unpublished ids are there.

The long version of the load test is ``scripts/reload_under_load.py``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from livesrv import ROOT, checkout_env

from recommender.model import artifact
from service.launch import ServerProcess, free_port

# slow: real servers (and browsers), left out of the quick subset
pytestmark = [pytest.mark.server, pytest.mark.slow]

KEY = "server-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORKERS = 3
STARTUP_TIMEOUT = 60.0


class Server(ServerProcess):
    """The server under test, with its JSON log lines read back."""

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
        return lines

    def workers_of(self, request_ids: list[str]) -> dict[str, int]:
        """The worker pid that answered each request, from the JSON access log (one pass
        over the log per try: it holds thousands of lines after the load test)."""
        found: dict[str, int] = {}
        for _ in range(50):  # the last lines may still be in flight
            wanted = set(request_ids)
            found = {e["request_id"]: e["worker"] for e in self.log_lines()
                     if e.get("request_id") in wanted}
            if len(found) == len(wanted):
                return found
            time.sleep(0.1)
        raise AssertionError(f"requests {sorted(set(request_ids) - set(found))} not in the log")


def start_server(models: Path, state_db: Path, log_path: Path) -> Server:
    port = free_port()
    server = Server(
        models, workers=WORKERS, port=port, cwd=ROOT, log_path=log_path,
        args=["--timeout", "30", "--graceful-timeout", "5"],
        # A fresh directory per server under pytest's tmp (kill -9 leaves no /tmp leftovers).
        metrics_dir=log_path.parent / f"metrics-{port}",
        env=checkout_env({"ALSOSEE_API_KEYS": KEY, "ALSOSEE_STATE_DB": str(state_db),
                          "ALSOSEE_WATCH_INTERVAL": "0.2", "ALSOSEE_RATE_LIMIT": "off"}),
        # several answers: more than one worker is up
        startup_timeout=STARTUP_TIMEOUT, ready_answers=5)
    try:
        server.start().wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def kill_group(server: ServerProcess, sig: int = signal.SIGKILL) -> None:
    """``sig`` to the master and every worker at once; waits for the master."""
    server.signal(sig)
    assert server.proc is not None
    server.proc.wait(timeout=20)


def versions_of_all_workers(base: str, tries: int = 24) -> set[str]:
    """Model versions reported over many fresh connections (reaches every worker)."""
    seen = set()
    for _ in range(tries):
        response = requests.get(f"{base}/readyz", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
        seen.add(response.headers["X-Model-Version"])
    return seen


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def models(trained_model_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("server") / "models"
    shutil.copytree(trained_model_dir, root, ignore=shutil.ignore_patterns("state.db*"))
    return root


@pytest.fixture(scope="module")
def server(models) -> Iterator[Server]:
    srv = start_server(models, models.parent / "state.db", models.parent / "server.log")
    try:
        yield srv
    finally:
        kill_group(srv, signal.SIGTERM)


def sample_ids(base: str, n: int) -> list[str]:
    response = requests.post(f"{base}/v1/related", json={"title": "elections protest", "k": n},
                             timeout=10)
    return [r["id"] for r in response.json()["related"]]


def new_version(models: Path) -> str:
    """A nightly retrain, quickly: the current model saved again as a new version (not
    activated; the CLI does that)."""
    return artifact.save(artifact.load(models).model, models, activate=False).name


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommender", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_reload_under_load(server, models, tmp_path):
    old = artifact.current_version(models)
    ids = sample_ids(server.base, 20)
    stop = tmp_path / "stop"
    loader = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "loadgen.py"), "--base", server.base,
         "--duration", "60", "--concurrency", "4", "--stop-file", str(stop),
         *[arg for i in ids for arg in ("--path", f"/v1/articles/{i}/related?k=5")]],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.0)
        # 1. A new version, activated with the CLI, picked up through POST /v1/admin/reload.
        v2 = new_version(models)
        assert cli("models", "activate", v2, "--model", str(models)).returncode == 0
        response = requests.post(f"{server.base}/v1/admin/reload", headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == v2
        wait_for(lambda: versions_of_all_workers(server.base) == {v2})
        time.sleep(0.5)
        # 2. Another one through SIGHUP to the master (forwarded to the workers).
        v3 = new_version(models)
        artifact.set_current(models, v3)
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: versions_of_all_workers(server.base) == {v3})
        time.sleep(0.5)
    finally:
        stop.touch()
        out, _ = loader.communicate(timeout=30)
    result = json.loads(out)
    print("reload under load:", json.dumps(result))
    assert result["requests"] > 50
    assert result["non_2xx"] == 0, result
    assert result["connection_errors"] == 0, result
    assert set(result["versions"]) <= {old, v2, v3}
    assert {old, v3} <= set(result["versions"])
    # No worker was restarted: the reloads happened inside the running workers.
    booted = [e for e in server.log_lines() if "Booting worker" in e.get("msg", "")]
    assert len(booted) == WORKERS, booted
    metrics = requests.get(f"{server.base}/metrics", timeout=10).text
    assert 'alsosee_model_reloads_total{result="success"}' in metrics


def test_bad_model_is_refused_by_every_worker(server, models):
    serving = versions_of_all_workers(server.base)
    assert len(serving) == 1
    bad = new_version(models)
    target = models / bad / artifact.MODEL_FILE
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])  # truncated
    artifact.set_current(models, bad)  # behind the CLI's back (it would refuse)
    try:
        response = requests.post(f"{server.base}/v1/admin/reload", headers=AUTH, timeout=30)
        assert response.status_code == 409
        assert response.headers["Content-Type"] == "application/problem+json"
        time.sleep(1.0)  # the other workers try too (and refuse)
        assert versions_of_all_workers(server.base) == serving
        model = requests.get(f"{server.base}/v1/model", timeout=5).json()
        assert model["version"] in serving
        assert "SHA-256" in model["last_reload_error"]
        assert requests.post(f"{server.base}/v1/admin/reload", timeout=5).status_code == 401
    finally:
        artifact.set_current(models, next(iter(serving)))


def test_publish_is_visible_through_other_workers_at_once(server):
    related_to = sample_ids(server.base, 1)[0]
    title = requests.get(f"{server.base}/v1/articles/{related_to}/related",
                         timeout=5).json()["article"]["title"]
    article_id = f"breaking-{uuid.uuid4().hex[:8]}"
    put_id = uuid.uuid4().hex
    response = requests.put(f"{server.base}/v1/articles/{article_id}", headers={
        **AUTH, "X-Request-Id": put_id}, json={"title": title, "body": title}, timeout=10)
    published = time.monotonic()
    assert response.status_code == 200, response.text
    answers = []  # (request id, seconds after the PUT's answer, listed?)
    while time.monotonic() - published < 1.0:
        request_id = uuid.uuid4().hex
        r = requests.get(f"{server.base}/v1/articles/{related_to}/related?k=3",
                         headers={"Connection": "close", "X-Request-Id": request_id},
                         timeout=5)
        assert r.status_code == 200
        listed = article_id in {x["id"] for x in r.json()["related"]}
        answers.append((request_id, time.monotonic() - published, listed))
    misses = sum(1 for *_, listed in answers if not listed)
    seen: dict[int, float] = {}
    workers = server.workers_of([put_id] + [request_id for request_id, *_ in answers])
    for request_id, seconds, _ in answers:  # which worker answered
        seen.setdefault(workers[request_id], seconds)
    put_worker = workers[put_id]
    others = {pid: t for pid, t in seen.items() if pid != put_worker}
    print(f"publish visibility: seconds after the PUT per worker {seen}, misses {misses}")
    assert others, "no other worker answered within a second"
    assert misses == 0  # every worker listed it from its very first request after the PUT


@pytest.mark.slow
def test_kill_9_mid_stream_keeps_live_state(models, tmp_path):
    """Own server (it is killed): publish and unpublish while queries run, kill -9 the whole
    process group, restart on the same files, everything acknowledged is still there."""
    state_db = tmp_path / "state.db"
    srv = start_server(models, state_db, tmp_path / "a.log")
    acknowledged, unpublished = [], []
    ids = sample_ids(srv.base, 5)
    try:
        loader = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "loadgen.py"), "--base", srv.base,
             "--duration", "4", "--concurrency", "2",
             *[arg for i in ids for arg in ("--path", f"/v1/articles/{i}/related")]],
            stdout=subprocess.DEVNULL,
        )
        requests.delete(f"{srv.base}/v1/articles/{ids[0]}", headers=AUTH, timeout=10)
        unpublished.append(ids[0])
        for n in range(15):
            r = requests.put(f"{srv.base}/v1/articles/live-{n}", headers=AUTH, timeout=10,
                             json={"title": f"Live story {n} about elections", "body": "vote"})
            if r.status_code == 200:
                acknowledged.append(f"live-{n}")
        kill_group(srv)  # mid-stream: the loader is still sending
        loader.wait(timeout=30)
    finally:
        if srv.proc.poll() is None:
            kill_group(srv)
    assert len(acknowledged) == 15
    again = start_server(models, state_db, tmp_path / "b.log")
    try:
        for article_id in acknowledged:
            r = requests.get(f"{again.base}/v1/articles/{article_id}/related", timeout=5)
            assert r.status_code == 200, (article_id, r.text)
        assert requests.get(f"{again.base}/v1/articles/{ids[0]}/related",
                            timeout=5).status_code == 404
        model = requests.get(f"{again.base}/v1/model", timeout=5).json()
        assert model["live_articles"] == 15 and model["unpublished_ids"] == 1
    finally:
        kill_group(again, signal.SIGTERM)
