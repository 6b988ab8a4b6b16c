"""service.launch: the one way tests, benchmarks and scripts start a real server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from service.launch import ServerError, ServerProcess, free_port
from tests.livesrv import ROOT, checkout_env

pytestmark = pytest.mark.server


def test_a_server_is_ready_inside_and_its_whole_group_is_gone_after(trained_model_dir: Path,
                                                                    tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with ServerProcess(trained_model_dir, workers=2, cwd=ROOT, env=checkout_env(),
                       log_path=log_path, metrics_dir=tmp_path / "metrics") as server:
        assert requests.get(f"{server.base}/readyz", timeout=5).status_code == 200
        server.wait_ready(all_workers=True, timeout=30)
        pids = server.pids()
        assert len(pids) == 3  # the master and two workers
    assert server.proc is not None and server.proc.returncode == 0
    for pid in pids:  # no worker left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert '"level": "info"' in log_path.read_text()


def test_a_server_that_exits_is_an_error_with_its_log(trained_model_dir: Path) -> None:
    server = ServerProcess(trained_model_dir, cwd=ROOT,
                           env=checkout_env({"ALSOSEE_WATCH_MODEL": "maybe"}))
    with pytest.raises(ServerError, match=r"server exited with 1 .*\n.*ALSOSEE_WATCH_MODEL: "
                                          r"expected true/false, got 'maybe'"):
        with server:
            pass
    assert not server.log_path.exists()  # its own temporary log is removed


def test_the_callers_service_settings_do_not_reach_the_server(trained_model_dir: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("ALSOSEE_WATCH_MODEL", "maybe")  # would stop the server
    with ServerProcess(trained_model_dir, cwd=ROOT, env=checkout_env()) as server:
        assert server.ready()
        assert "ALSOSEE_WATCH_MODEL" not in server.env


def test_not_ready_in_time_is_an_error() -> None:
    port = free_port()
    # listens, never answers /readyz with 200: a static file server
    server = ServerProcess(command=[sys.executable, "-m", "http.server", str(port), "--bind",
                                    "127.0.0.1"], port=port, startup_timeout=2)
    with pytest.raises(ServerError, match="not ready after 2 s"):
        with server:
            pass
    assert server.proc is not None and server.proc.poll() is not None
