"""Slow clients against gunicorn alone (no proxy in front): they must not take the threads
that other requests need (service/gunicorn_worker.py reads requests without a thread until
they are complete). The same through nginx: tests/test_deploy_nginx.py."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests

from service.gunicorn_worker import request_complete
from tests.livesrv import live_server
from tests.slowclients import SlowClients, requests_under_slow_clients

# slow: wheels, real servers and proxies, left out of the quick subset
pytestmark = pytest.mark.slow

ARTICLE = "gv-316447"


def _urls(base: str, n: int = 100) -> list[str]:
    # k varies so that the response cache does not answer every one
    return [f"{base}/v1/articles/{ARTICLE}/related?k={1 + i % 20}" for i in range(n)]


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on one connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_slow_headers_and_bodies_do_not_starve_other_requests(trained_model_dir: Path,
                                                              tmp_path: Path) -> None:
    """64 clients sending headers at 1 byte/s and 64 sending a POST body at 1 byte/s, all
    on ONE worker with 2 threads: 100 other requests all answered, p99 under 100 ms.
    (gunicorn's plain gthread worker failed all 20 of 20 with only 4 slow clients.)"""
    with live_server(trained_model_dir, tmp_path / "server.log", workers=1) as live:
        port = _port(live.base)
        under_attack = requests_under_slow_clients("127.0.0.1", port, _urls(live.base),
                                                   "gunicorn alone")
        assert under_attack.failures == []
        assert len(under_attack.latencies_ms) == 100
        assert under_attack.percentile(99) < 100, under_attack.summary()


def test_a_request_not_sent_in_time_gets_a_408_problem(trained_model_dir: Path,
                                                       tmp_path: Path) -> None:
    env = {"ALSOSEE_REQUEST_READ_TIMEOUT": "1.5"}
    with live_server(trained_model_dir, tmp_path / "server.log", env=env) as live:
        start = time.monotonic()
        answer = _raw(_port(live.base), b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slo")
        waited = time.monotonic() - start
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"application/problem+json" in head
        assert json.loads(body)["status"] == 408
        assert 1.4 < waited < 4.5
        # connected and silent: the same (gunicorn's own worker kept a thread 5 s on it)
        assert _raw(_port(live.base), b"").startswith(b"HTTP/1.1 408 ")
        assert requests.get(f"{live.base}/readyz", timeout=5).status_code == 200


def test_requests_read_in_pieces_are_answered(trained_model_dir: Path, tmp_path: Path) -> None:
    """Bodies by length, chunked, after 100-continue, pipelined and kept-alive requests:
    all still answered once their bytes are in."""
    with live_server(trained_model_dir, tmp_path / "server.log") as live:
        port = _port(live.base)
        draft = json.dumps({"title": "Colombia journalist kidnapped", "k": 3}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = (b"POST /v1/related HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(draft))
            for piece in (head[:10], head[10:], draft[:5], draft[5:]):
                sock.sendall(piece)
                time.sleep(0.2)
            answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert len(json.loads(answer.partition(b"\r\n\r\n")[2])["related"]) == 3

        chunked = (b"POST /v1/related HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                   + b"%x\r\n%s\r\n" % (len(draft), draft) + b"0\r\n\r\n")
        assert _raw(port, chunked).startswith(b"HTTP/1.1 200 ")

        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/related HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nExpect: 100-continue\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(draft))
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(draft)
            answer = sock.makefile("rb").read()
        assert b"HTTP/1.1 200 " in answer

        two = (f"GET /v1/articles/{ARTICLE}/related?k=2 HTTP/1.1\r\nHost: x\r\n\r\n"
               f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
        answers = _raw(port, two)
        assert answers.count(b"HTTP/1.1 200 ") == 2, answers[:500]

        with requests.Session() as session:  # kept alive: several requests, one connection
            for k in (1, 2, 3):
                assert session.get(f"{live.base}/v1/articles/{ARTICLE}/related?k={k}",
                                   timeout=5).status_code == 200


def test_request_complete() -> None:
    assert not request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    post = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
    assert not request_complete(post + b"abc") and request_complete(post + b"abcd")
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert not request_complete(chunked + b"3\r\nabc\r\n")
    assert not request_complete(chunked + b"3\r\nabc\r\n0\r\n")
    assert request_complete(chunked + b"3\r\nabc\r\n0\r\n\r\n")
    assert request_complete(chunked + b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
    # what gunicorn's parser refuses goes to it at once, to be answered with its error
    assert request_complete(b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
    assert request_complete(b"GET / HTTP/1.1\nHost: x\n\n")
    assert request_complete(chunked + b"zz\r\n")


def test_pending_slow_clients_do_not_hold_up_a_shutdown(trained_model_dir: Path,
                                                        tmp_path: Path) -> None:
    """SIGTERM with 16 half-sent requests: the server exits within a few seconds, not after
    the read timeout (60 s here) or the graceful timeout."""
    env = {"ALSOSEE_REQUEST_READ_TIMEOUT": "60"}
    with live_server(trained_model_dir, tmp_path / "server.log", env=env,
                     args=["--graceful-timeout", "60"]) as live:
        with SlowClients("127.0.0.1", _port(live.base), 16, "headers").running():
            time.sleep(1.5)
            start = time.monotonic()
            live.proc.terminate()
            live.proc.wait(timeout=30)
            assert time.monotonic() - start < 8
