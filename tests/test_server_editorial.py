"""Real gunicorn, two workers, one state database: a takedown made through one worker is
honoured by the other; takedowns and pins survive the server being killed (a new process
reading the same file still applies them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.launch import ServerProcess, free_port
from tests.livesrv import ROOT, checkout_env

ARTICLE = "gv-316447"
KEY = "test-key-123-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}

pytestmark = pytest.mark.server


def start(model_dir: Path, state_db: Path, log_path: Path) -> ServerProcess:
    port = free_port()
    server = ServerProcess(
        model_dir, workers=2, port=port, args=["--timeout", "20", "--graceful-timeout", "5"],
        cwd=ROOT, log_path=log_path, startup_timeout=30,
        env=checkout_env({"ALSOSEE_STATE_DB": str(state_db), "ALSOSEE_API_KEYS": f"desk:{KEY}"}),
        # Killed with SIGKILL below: a server-made /tmp directory would be left behind.
        metrics_dir=log_path.parent / f"metrics-{port}")
    try:
        server.start().wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def kill(server: ServerProcess) -> None:
    """SIGKILL the master and its workers at once (a crash, not a graceful stop)."""
    server.signal(signal.SIGKILL)
    server.stop()


def answers_by_worker(base: str, want_workers: int = 2, max_requests: int = 400):
    """GET the related list (new connection each time) until every worker answered at
    least 5 times; returns {pid: [list of ids, ...]}."""
    seen: dict[int, list[list[str]]] = {}
    for _ in range(max_requests):
        body = requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                            params={"debug": "true", "k": 10}, timeout=5,
                            headers={"Connection": "close", **AUTH}).json()
        seen.setdefault(body["debug"]["worker_pid"], []).append(
            [item["id"] for item in body["related"]])
        if len(seen) >= want_workers and all(len(v) >= 5 for v in seen.values()):
            break
    return seen


def test_takedown_through_one_worker_is_honoured_by_the_other(trained_model_dir, tmp_path):
    state_db = tmp_path / "state.db"
    log_path = tmp_path / "server.log"
    server = start(trained_model_dir, state_db, log_path)
    base = server.base
    try:
        before = answers_by_worker(base)
        assert len(before) == 2, f"only one worker answered: {list(before)}"
        lists = [ids for answers in before.values() for ids in answers]
        victim, pinned = lists[0][0], lists[0][4]
        assert all(victim in ids for ids in lists)  # both workers showed it before

        response = requests.put(f"{base}/v1/takedowns/{victim}", json={"reason": "legal"},
                                headers=AUTH, timeout=5)
        assert response.status_code == 200, response.text
        after = answers_by_worker(base)
        assert len(after) == 2
        for pid, answers in after.items():
            assert all(victim not in ids for ids in answers), f"worker {pid} still shows it"

        response = requests.put(f"{base}/v1/articles/{ARTICLE}/pins",
                                json={"ids": [pinned, victim]}, headers=AUTH, timeout=5)
        assert response.status_code == 200, response.text
        for pid, answers in answers_by_worker(base).items():
            assert all(ids[0] == pinned and victim not in ids for ids in answers), pid
        refused = requests.put(f"{base}/v1/takedowns/{pinned}", json={"reason": "x"},
                               timeout=5)
        assert refused.status_code == 401
    finally:
        kill(server)

    # The server is gone (killed, no clean shutdown): a new process on the same file.
    env = {**os.environ, "ALSOSEE_STATE_DB": str(state_db)}
    out = subprocess.run(
        [sys.executable, "-m", "recommender", "related", ARTICLE, "--model",
         str(trained_model_dir), "--format", "json", "-k", "10"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    import json

    ids = [item["id"] for item in json.loads(out.stdout)["related"]]
    assert ids[0] == pinned and victim not in ids
    out = subprocess.run(
        [sys.executable, "-m", "recommender", "takedown", "--list", "--format", "json",
         "--model", str(trained_model_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    [listed] = json.loads(out.stdout)
    assert listed["id"] == victim and listed["created_by"] == "api:desk"
    assert "Traceback" not in log_path.read_text()
