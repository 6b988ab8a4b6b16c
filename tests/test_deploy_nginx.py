"""The production setup of deploy/, run for real: Debian's nginx with the shipped site file in
front of a real alsosee server (gunicorn), and the systemd units checked by systemd itself.

nginx runs as a child of the test (``nginx -c <tmp conf> -p <tmp>``), never as the system
service. The site file is used as shipped; only its listen port, its upstream address and its
cache directory are replaced (each must appear exactly once, so the test follows the file).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.launch import ServerProcess
from tests.livesrv import ROOT, free_port, live_server
from tests.slowclients import requests_under_slow_clients

# slow: wheels, real servers and proxies, left out of the quick subset
pytestmark = pytest.mark.slow

SITE = ROOT / "deploy" / "nginx" / "alsosee.conf"
UNITS = ROOT / "deploy" / "systemd"
ARTICLE = "gv-316447"
RATE_LIMIT = 3  # per minute, anonymous POST /v1/related


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{SITE.name}: expected {old!r} exactly once"
    return text.replace(old, new)


def render_site(listen_port: int, upstream_port: int, cache_dir: Path) -> str:
    """The shipped site file, on test ports and a temporary cache directory."""
    site = SITE.read_text(encoding="utf-8")
    site = _replace_once(site, "listen 80;", f"listen 127.0.0.1:{listen_port};")
    site = _replace_once(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    return _replace_once(site, "/var/cache/nginx/alsosee", str(cache_dir))


@contextlib.contextmanager
def nginx_in_front(upstream_port: int, workdir: Path) -> Iterator[str]:
    """Real nginx with the rendered site on a free port; yields its base URL."""
    binary = _nginx()
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx, or run "
                    "scripts/install_test_deps.sh as root)")
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "temp"):
        (workdir / sub).mkdir(exist_ok=True)
    port = free_port()
    (workdir / "alsosee.conf").write_text(render_site(port, upstream_port, workdir / "cache"))
    temp = workdir / "temp"
    # As root, nginx's workers would switch to "nobody", who cannot enter pytest's 0700 dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {workdir}/alsosee.conf;
}}
""")
    command = [binary, "-c", str(workdir / "nginx.conf"), "-p", str(workdir),
               "-e", str(workdir / "logs" / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, f"nginx -t refused the rendered site:\n{check.stderr}"
    nginx = ServerProcess(command=[*command, "-g", "daemon off;"], port=port,
                          log_path=workdir / "logs" / "stderr.log").start()
    try:
        deadline = time.monotonic() + 10
        while True:
            assert nginx.proc is not None and nginx.proc.poll() is None, (
                f"nginx exited: {nginx.log()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            assert time.monotonic() < deadline, "nginx did not listen within 10 s"
            time.sleep(0.05)
        yield nginx.base
    finally:
        nginx.stop()


@pytest.fixture(scope="module")
def stack(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """(nginx base URL, gunicorn base URL): one worker (exact in-memory rate counts),
    trusting the proxy on 127.0.0.1 as deploy/systemd/alsosee.service does."""
    if _nginx() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx, or run "
                    "scripts/install_test_deps.sh as root)")
    tmp = tmp_path_factory.mktemp("nginx-stack")
    env = {"ALSOSEE_RATE_LIMIT": f"{RATE_LIMIT}/minute", "ALSOSEE_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(trained_model_dir, tmp / "server.log", env=env, workers=1) as live, \
            nginx_in_front(int(live.base.rsplit(":", 1)[1]), tmp / "nginx") as proxy:
        yield proxy, live.base


def test_answers_flow_through_nginx(stack) -> None:
    proxy, direct = stack
    url = f"/v1/articles/{ARTICLE}/related?k=5"
    via, straight = requests.get(proxy + url, timeout=5), requests.get(direct + url, timeout=5)
    assert via.status_code == 200 and via.json()["related"] == straight.json()["related"]
    # nginx weakens the ETag of a body it compresses; revalidation through it still works
    assert via.headers["ETag"].removeprefix("W/") == straight.headers["ETag"]
    revalidated = requests.get(proxy + url, headers={"If-None-Match": via.headers["ETag"]},
                               timeout=5)
    assert revalidated.status_code == 304
    # gzip on for JSON (requests decodes it; the raw header says it was compressed)
    assert via.headers.get("Content-Encoding") == "gzip"
    raw = http.client.HTTPConnection(proxy.removeprefix("http://"), timeout=5)
    raw.request("GET", url, headers={"Accept-Encoding": "gzip"})
    answer = raw.getresponse()
    assert json.loads(gzip.decompress(answer.read()))["related"] == straight.json()["related"]
    raw.close()
    # problem bodies and methods pass through untouched
    missing = requests.get(f"{proxy}/v1/articles/no-such-id/related", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    draft = requests.post(f"{proxy}/v1/related", json={"title": "Colombia journalist"},
                          timeout=5)
    assert draft.status_code == 200 and draft.json()["related"]
    # the widget and the docs page's static files are cached by nginx
    for path in ("/widget.js", "/static/docs.js"):
        first = requests.get(proxy + path, timeout=5)
        second = requests.get(proxy + path, timeout=5)
        assert first.status_code == second.status_code == 200, path
        assert first.headers["X-Proxy-Cache"] in ("MISS", "EXPIRED"), path
        assert second.headers["X-Proxy-Cache"] == "HIT", path
        assert first.content == second.content
    # an oversized body: nginx's limit is the batch limit; alsosee answers its own 413
    big = requests.post(f"{proxy}/v1/related", data=b"x" * (2 * 1024 * 1024),
                        headers={"Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/problem+json"
    assert requests.get(f"{proxy}/metrics", timeout=5).status_code == 200  # from 127.0.0.1


def _post_from(base: str, source: str, forwarded: str | None = None) -> int:
    """POST a draft from the local address ``source`` (all of 127/8 is this host)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    conn.request("POST", "/v1/related", body=b'{"title": "floods"}', headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_forwarded_for_reaches_the_rate_limiter(stack) -> None:
    """Readers behind nginx are counted one by one (the address nginx appends), not as the
    proxy's one address; a reader's own X-Forwarded-For does not move it to another bucket;
    without the proxy, the header is not believed."""
    proxy, direct = stack
    reader_a = [_post_from(proxy, "127.0.0.2") for _ in range(RATE_LIMIT + 1)]
    assert reader_a == [200] * RATE_LIMIT + [429]
    assert _post_from(proxy, "127.0.0.2", forwarded="203.0.113.50") == 429  # spoof: same bucket
    assert _post_from(proxy, "127.0.0.3") == 200  # another reader, its own bucket
    # straight to gunicorn from 127.0.0.4 (not a trusted proxy): naming 127.0.0.3 in the
    # header does not borrow its bucket, and naming a fresh address does not give a new one
    assert [_post_from(direct, "127.0.0.4", forwarded="198.51.100.1")
            for _ in range(RATE_LIMIT + 1)] == [200] * RATE_LIMIT + [429]
    assert _post_from(direct, "127.0.0.4", forwarded="198.51.100.2") == 429


@pytest.mark.slow
def test_slow_clients_do_not_slow_requests_through_nginx(stack) -> None:
    """64 clients sending headers at 1 byte/s and 64 sending POST bodies at 1 byte/s to
    nginx, then 100 normal requests through it: 0 failures, p99 under 100 ms."""
    proxy, direct = stack
    port = int(proxy.rsplit(":", 1)[1])
    urls = [f"{proxy}/v1/articles/{ARTICLE}/related?k={1 + i % 20}" for i in range(100)]
    loaded = requests_under_slow_clients("127.0.0.1", port, urls, "via nginx")
    assert loaded.failures == []
    assert len(loaded.latencies_ms) == 100
    assert loaded.percentile(99) < 100, loaded.summary()


# ------------------------------------------------------------------------- systemd units
UNIT_FILES = sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))


def test_units_are_the_expected_set() -> None:
    assert [p.name for p in UNIT_FILES] == [
        "alsosee-sync.service", "alsosee-sync.timer", "alsosee-train.service",
        "alsosee-train.timer", "alsosee.service"]


def test_units_parse_and_name_real_commands(tmp_path: Path) -> None:
    """Every unit has its sections; every ExecStart runs an alsosee command that exists;
    each timer starts its service."""
    commands = set(re.findall(r"^  (\w[\w-]*)", subprocess.run(
        [str(ROOT / ".venv" / "bin" / "alsosee") if (ROOT / ".venv" / "bin" / "alsosee").exists()
         else "alsosee", "--help"], capture_output=True, text=True).stdout, re.M))
    for unit in UNIT_FILES:
        text = unit.read_text(encoding="utf-8")
        sections = re.findall(r"^\[(\w+)\]$", text, re.M)
        if unit.suffix == ".timer":
            assert sections == ["Unit", "Timer", "Install"], unit.name
            assert (UNITS / unit.name.replace(".timer", ".service")).exists()
        else:
            assert sections[:2] == ["Unit", "Service"], unit.name
            start = re.search(r"^ExecStart=/opt/alsosee/venv/bin/alsosee (\S+)", text, re.M)
            assert start and start[1] in commands, (unit.name, commands)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the parse test above still runs)")
    alsosee = ROOT / ".venv" / "bin" / "alsosee"
    if not alsosee.exists():
        alsosee = Path(shutil.which("alsosee") or "/nonexistent")
    if not alsosee.exists():
        pytest.skip("no installed alsosee executable to point the units at")
    for unit in UNIT_FILES:  # the real executable instead of /opt/alsosee's
        (tmp_path / unit.name).write_text(unit.read_text(encoding="utf-8").replace(
            "/opt/alsosee/venv/bin/alsosee", str(alsosee)))
    result = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                            capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output
