"""One model version for a fleet: two real servers started as separate hosts (own ports and
workers) share a models root and one state database. ``alsosee models activate`` /
``rollback`` switch both by themselves (no reload request, no SIGHUP, no pointer watching);
a version a host cannot verify leaves it on its last good model, said on /readyz and
/metrics; a host that starts later serves the recorded version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from recommender.model import artifact
from recommender.state import fleet
from recommender.state.db import StateDB
from tests.livesrv import ROOT, live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

WORKERS = 2


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommender", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def _versions(base: str, tries: int = 16) -> set[str]:
    """Versions served, over fresh connections (so both workers answer)."""
    seen = set()
    for _ in range(tries):
        response = requests.get(f"{base}/readyz", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200, response.text
        seen.add(response.headers["X-Model-Version"])
    return seen


def _wait(predicate, timeout: float = 20.0) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "not reached in time"
        time.sleep(0.05)
    return time.monotonic() - start


def _host(root: Path, state: Path, tmp_path: Path, name: str):
    (tmp_path / name).mkdir(exist_ok=True)
    return live_server(root, tmp_path / name / "server.log", workers=WORKERS, env={
        "ALSOSEE_STATE_DB": str(state), "ALSOSEE_WATCH_INTERVAL": "0.2",
        "ALSOSEE_RATE_LIMIT": "off"})


def _new_version(root: Path) -> str:
    """A retrain, quickly: the current model saved again as a new version (not active)."""
    return artifact.save(artifact.load(root).model, root, activate=False).name


def test_activate_and_rollback_switch_every_host(trained_model_dir, tmp_path):
    root = tmp_path / "shared-models"  # the storage every host mounts
    shutil.copytree(trained_model_dir, root, ignore=shutil.ignore_patterns("state.db*"))
    state = tmp_path / "shared-state.db"
    v1 = artifact.current_version(root)
    v2 = _new_version(root)
    with _host(root, state, tmp_path, "a") as a, _host(root, state, tmp_path, "b") as b:
        assert _versions(a.base) == _versions(b.base) == {v1}
        assert requests.get(f"{a.base}/readyz", timeout=5).json()["wanted"] is None

        done = _cli("models", "activate", v2, "--model", str(root), "--state-db", str(state))
        assert done.returncode == 0, done.stderr
        assert f"{v1} -> {v2}" in done.stdout
        seconds = _wait(lambda: _versions(a.base) == _versions(b.base) == {v2})
        print(f"fleet switch: every worker of both hosts on {v2} {seconds:.2f} s after "
              "`alsosee models activate` returned")
        for host in (a, b):
            ready = requests.get(f"{host.base}/readyz", timeout=5).json()
            assert (ready["wanted"], ready["model"]["version"], ready["serving"]) == (
                v2, v2, "current")
        assert fleet.wanted(StateDB(state).init()).previous == v1

        # A version this storage holds damaged (recorded by a host whose copy verified):
        # both hosts refuse it and keep answering with v2, and say so.
        v3 = _new_version(root)
        damaged = root / v3 / artifact.MODEL_FILE
        damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
        fleet.record(StateDB(state).init(), v3, v2, by="a host with an intact copy")

        def refused(host) -> bool:
            ready = requests.get(f"{host.base}/readyz", headers={"Connection": "close"},
                                 timeout=5).json()
            return ready["serving"] == "last-good" and ready["model"]["version"] == v2

        _wait(lambda: all(refused(h) for h in (a, b) for _ in range(WORKERS * 4)))
        for host in (a, b):
            ready = requests.get(f"{host.base}/readyz", timeout=5).json()
            assert ready["wanted"] == v3 and ready["model"]["version"] == v2
            assert "checksum" in ready["refused"] or "SHA-256" in ready["refused"], ready
            related = requests.get(f"{host.base}/v1/articles/gv-316447/related", timeout=5)
            assert related.status_code == 200
            assert related.headers["X-Model-Version"] == v2
            metrics = requests.get(f"{host.base}/metrics", timeout=5).text
            assert f'alsosee_model_wanted_info{{version="{v3}"}} 1.0' in metrics
            assert "alsosee_model_behind_fleet 1.0" in metrics

        # The CLI refuses the damaged version itself, and rolls the fleet back from it.
        refused_cli = _cli("models", "activate", v3, "--model", str(root),
                           "--state-db", str(state))
        assert refused_cli.returncode == 1 and "current unchanged" in refused_cli.stderr
        back = _cli("models", "rollback", "--model", str(root), "--state-db", str(state))
        assert back.returncode == 0, back.stderr
        assert f"{v3} -> {v2}" in back.stdout
        _wait(lambda: all(not refused(h) for h in (a, b) for _ in range(WORKERS * 4)))
        back = _cli("models", "rollback", "--model", str(root), "--state-db", str(state))
        assert back.returncode == 0 and f"{v2} -> {v1}" in back.stdout
        _wait(lambda: _versions(a.base) == _versions(b.base) == {v1})

        # A host joining later serves the fleet's version, whatever `current` says.
        artifact.set_current(root, v2)
        with _host(root, state, tmp_path, "c") as c:
            assert _versions(c.base) == {v1}
            assert requests.get(f"{c.base}/readyz", timeout=5).json()["serving"] == "current"


def test_activate_on_postgres_switches_hosts_with_their_own_copies(pg_url, trained_model_dir,
                                                                    tmp_path):
    """The several-hosts setup: the record lives in PostgreSQL; each host has its own copy of
    the models (storage synced to each machine), and one copy of the new version is damaged:
    that host stays on its last good model and says so, the other switches."""
    roots = [tmp_path / name / "models" for name in ("a", "b")]
    shutil.copytree(trained_model_dir, roots[0], ignore=shutil.ignore_patterns("state.db*"))
    v1 = artifact.current_version(roots[0])
    v2 = _new_version(roots[0])
    shutil.copytree(roots[0], roots[1], symlinks=True)
    damaged = roots[1] / v2 / artifact.MODEL_FILE
    damaged.write_bytes(damaged.read_bytes()[:-64])
    migrated = _cli("state", "migrate", "--state-db", pg_url)
    assert migrated.returncode == 0, migrated.stderr

    def host(root: Path, name: str):
        return live_server(root, tmp_path / name / "server.log", workers=WORKERS, env={
            "ALSOSEE_STATE_DB": pg_url, "ALSOSEE_WATCH_INTERVAL": "0.2",
            "ALSOSEE_RATE_LIMIT": "off"})

    with host(roots[0], "a") as a, host(roots[1], "b") as b:
        assert _versions(a.base) == _versions(b.base) == {v1}
        done = _cli("models", "activate", v2, "--model", str(roots[0]), "--state-db", pg_url)
        assert done.returncode == 0, done.stderr
        assert fleet.wanted(StateDB(pg_url)).version == v2
        _wait(lambda: _versions(a.base) == {v2})

        def behind() -> bool:
            ready = requests.get(f"{b.base}/readyz", headers={"Connection": "close"},
                                 timeout=5).json()
            return (ready["serving"], ready["wanted"], ready["model"]["version"]) == (
                "last-good", v2, v1)

        _wait(lambda: all(behind() for _ in range(WORKERS * 4)))
        assert _versions(b.base) == {v1}
        metrics = requests.get(f"{b.base}/metrics", timeout=5).text
        assert f'alsosee_model_wanted_info{{version="{v2}"}} 1.0' in metrics
        assert "alsosee_model_behind_fleet 1.0" in metrics
        assert "alsosee_model_behind_fleet 0.0" in requests.get(f"{a.base}/metrics",
                                                                timeout=5).text
