"""End-to-end: the real gunicorn server (``python -m service.server``) over real HTTP."""

from __future__ import annotations

import signal
import subprocess

import pytest
import requests

from service.launch import ServerProcess
from tests.livesrv import ROOT, checkout_env

STARTUP_TIMEOUT = 30.0

pytestmark = pytest.mark.server


@pytest.fixture
def server(trained_model_dir, tmp_path):
    """A running 2-worker gunicorn server on a free port; always stopped on teardown."""
    log_path = tmp_path / "server.log"
    with ServerProcess(trained_model_dir, workers=2, cwd=ROOT, env=checkout_env(),
                       args=["--timeout", "20", "--graceful-timeout", "5"], log_path=log_path,
                       metrics_dir=tmp_path / "metrics",  # not a /tmp leftover
                       startup_timeout=STARTUP_TIMEOUT) as live:
        assert live.proc is not None
        yield live.proc, live.base, log_path


def test_real_server(server):
    proc, base, log_path = server
    with requests.Session() as http:
        assert http.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}

        draft = http.post(f"{base}/v1/related", json={"title": "Egypt elections", "k": 3},
                          timeout=5)
        assert draft.status_code == 200
        assert draft.headers["Content-Type"] == "application/json"
        body = draft.json()
        assert body["article"] == {"title": "Egypt elections"}
        assert 1 <= len(body["related"]) <= 3
        article_id = body["related"][0]["id"]

        related = http.get(f"{base}/v1/articles/{article_id}/related", params={"k": 4},
                           timeout=5)
        assert related.status_code == 200
        body = related.json()
        assert body["article"]["id"] == article_id
        assert 1 <= len(body["related"]) <= 4
        assert article_id not in {item["id"] for item in body["related"]}
        scores = [item["score"] for item in body["related"]]
        assert scores == sorted(scores, reverse=True)

        html = http.get(f"{base}/v1/articles/{article_id}/related.html", timeout=5)
        assert html.status_code == 200
        assert html.headers["Content-Type"] == "text/html; charset=utf-8"
        assert html.text.startswith('<aside class="alsosee"')

        missing = http.get(f"{base}/v1/articles/no-such-article/related", timeout=5)
        assert missing.status_code == 404
        assert missing.headers["Content-Type"] == "application/problem+json"
        problem = missing.json()
        assert problem["status"] == 404
        assert problem["instance"] == "/v1/articles/no-such-article/related"

        bad = http.post(f"{base}/v1/related", data=b"{", timeout=5,
                        headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        assert bad.headers["Content-Type"] == "application/problem+json"

        too_big = http.post(f"{base}/v1/related", data=b"x" * (2 * 1024 * 1024), timeout=10,
                            headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        assert too_big.headers["Connection"] == "close"  # its body was never read

        # The same keep-alive session goes on (gthread kept unread body bytes in the
        # connection and failed the next request before service/connection.py).
        assert http.get(f"{base}/readyz", timeout=5).headers["Connection"] == "keep-alive"
        # Both workers answer (each loaded the model itself).
        for _ in range(20):
            assert http.get(f"{base}/readyz", timeout=5).status_code == 200

    proc.send_signal(signal.SIGTERM)
    try:
        returncode = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("server did not stop within 15 s of SIGTERM")
    log = log_path.read_text()
    assert returncode == 0, log
    assert "Traceback" not in log
    assert "Control socket" not in log
    assert "Shutting down" in log or "Handling signal: term" in log
