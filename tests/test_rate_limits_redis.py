"""Rate limits shared across hosts through a real Redis (Debian's ``redis-server``, started
here on a free port in a temporary directory): two servers started as separate hosts keep one
limit between them; a bad storage URL or a Redis that does not answer stops the start-up with
a message naming the setting; Redis lost while serving costs no request."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service import create_app
from service.launch import ServerProcess, free_port
from tests.livesrv import live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

REDIS_SERVER = shutil.which("redis-server")
DRAFT = {"title": "floods in the capital", "body": "rain and rivers over the banks"}
LIMIT = 7  # per minute


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = directory / "redis.log"
        self.process = ServerProcess(
            command=[REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                     str(directory), "--save", "", "--appendonly", "no", "--daemonize", "no",
                     "--logfile", str(self.log)],
            port=self.port, log_path=directory / "redis.out").start()
        deadline = time.monotonic() + 10
        while not _redis_answers(self.port):
            assert self.process.proc is not None
            if self.process.proc.poll() is not None or time.monotonic() > deadline:
                self.process.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; "
                    "scripts/install_test_deps.sh installs it when run as root)")
    pytest.importorskip("redis", reason="the redis client is not installed (the redis extra)")
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    try:
        yield server
    finally:
        server.stop()


def _host(trained_model_dir: Path, tmp_path: Path, name: str, storage: str):
    """A server as a separate host would run it: its own port, workers and state file."""
    (tmp_path / name).mkdir()
    return live_server(trained_model_dir, tmp_path / name / "server.log", workers=2, env={
        "ALSOSEE_RATE_LIMIT": f"{LIMIT}/minute", "ALSOSEE_RATE_LIMIT_STORAGE": storage,
        "ALSOSEE_STATE_DB": str(tmp_path / name / "state.db"),
        "ALSOSEE_RESPONSE_CACHE_SIZE": "0"})


def _spread(bases: list[str], n: int) -> list[int]:
    """``n`` drafts from one reader, spread over the hosts and over fresh connections (so
    gunicorn hands them to either worker)."""
    return [requests.post(f"{bases[i % len(bases)]}/v1/related", json=DRAFT,
                          timeout=10).status_code for i in range(n)]


def test_two_hosts_share_one_limit(trained_model_dir, tmp_path, redis):
    with _host(trained_model_dir, tmp_path, "a", redis.url) as a, \
            _host(trained_model_dir, tmp_path, "b", redis.url) as b:
        codes = _spread([a.base, b.base], 4 * LIMIT)
    print(f"redis storage, 2 hosts x 2 workers: {codes.count(200)} of {len(codes)} allowed, "
          f"limit {LIMIT}")
    assert codes.count(200) == LIMIT, codes
    assert set(codes) == {200, 429}, codes
    # the first LIMIT were allowed, on both hosts, and everything after refused
    assert codes[:LIMIT] == [200] * LIMIT


def test_memory_counters_are_per_host(trained_model_dir, tmp_path):
    """What the shared storage prevents: each host (and worker) counts on its own."""
    with _host(trained_model_dir, tmp_path, "a", "memory://") as a, \
            _host(trained_model_dir, tmp_path, "b", "memory://") as b:
        codes = _spread([a.base, b.base], 4 * LIMIT)
    print(f"memory storage, 2 hosts x 2 workers: {codes.count(200)} of {len(codes)} allowed, "
          f"limit {LIMIT}")
    assert codes.count(200) >= 2 * LIMIT, codes


def test_redis_lost_while_serving_costs_no_request(trained_model_dir, tmp_path, redis):
    client = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                         "STATE_DB": str(tmp_path / "state.db"), "RATE_LIMIT": "2/minute",
                         "RATE_LIMIT_STORAGE": redis.url}).test_client()
    assert [client.post("/v1/related", json=DRAFT).status_code for _ in range(3)] == [
        200, 200, 429]
    redis.stop()
    # in-memory counters of this worker take over: answered (200, then 429), never a 500
    codes = [client.post("/v1/related", json=DRAFT).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(("storage", "message"), [
    ("redis//127.0.0.1:6379", "'redis//127.0.0.1:6379' is not a usable storage URL"),
    ("postgres://db/limits", "'postgres://db/limits' is not a usable storage URL"),
    ("foo://limits:s3cret@db", "'foo://limits:***@db' is not a usable storage URL"),
])
def test_bad_storage_url_is_refused_naming_it(trained_model_dir, tmp_path, storage, message):
    with pytest.raises(ValueError) as caught:
        create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                    "STATE_DB": str(tmp_path / "state.db"), "RATE_LIMIT_STORAGE": storage})
    assert str(caught.value).startswith("rate_limit_storage (ALSOSEE_RATE_LIMIT_STORAGE)")
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_server_does_not_start_when_redis_does_not_answer(trained_model_dir, tmp_path):
    pytest.importorskip("redis", reason="the redis client is not installed (the redis extra)")
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(RuntimeError) as caught, \
            live_server(trained_model_dir, tmp_path / "server.log",
                        env={"ALSOSEE_RATE_LIMIT_STORAGE": url,
                             "ALSOSEE_STATE_DB": str(tmp_path / "state.db")}):
        pass
    log = str(caught.value)
    assert "server exited" in log
    assert "rate_limit_storage (ALSOSEE_RATE_LIMIT_STORAGE): the storage at" in log
    assert "does not answer" in log
    assert "s3cret" not in log  # the password is not logged
