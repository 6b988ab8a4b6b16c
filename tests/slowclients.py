"""Slow HTTP clients ("slowloris") and a timed batch of normal requests, for the tests that
check a slow client cannot starve the others (gunicorn alone, and nginx in front of it).

A slow client connects and sends its request one byte per second: either the header lines
(``mode="headers"``) or, after complete headers, the body of a ``POST /v1/related``
(``mode="body"``). When the server drops one, it reconnects at once, as an attacker would:
the point is that ``n`` of them are always pending.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests

BODY_LENGTH = 100_000


def _opening(mode: str, host: str) -> bytes:
    if mode == "headers":
        return f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode()
    if mode == "body":
        return (f"POST /v1/related HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {BODY_LENGTH}\r\n\r\n"
                '{"title": "').encode()
    raise ValueError(f"unknown slow-client mode {mode!r}")


@dataclass
class SlowClients:
    """``n`` connections trickling one byte per second each (see the module docstring)."""

    host: str
    port: int
    n: int
    mode: str = "headers"
    interval: float = 1.0
    connections: int = 0
    drops: int = 0
    _socks: list[socket.socket | None] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.sendall(_opening(self.mode, self.host))
        except OSError:
            return None
        self.connections += 1
        return sock

    def _trickle(self) -> None:
        while not self._stop.wait(self.interval):
            for i, sock in enumerate(self._socks):
                try:
                    if sock is None:
                        raise OSError("not connected")
                    sock.sendall(b"a")
                except OSError:
                    if sock is not None:
                        self.drops += 1
                        sock.close()
                    self._socks[i] = self._connect()

    @contextlib.contextmanager
    def running(self) -> Iterator[SlowClients]:
        self._socks = [self._connect() for _ in range(self.n)]
        thread = threading.Thread(target=self._trickle, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)
            for sock in self._socks:
                if sock is not None:
                    sock.close()


@dataclass
class Timings:
    latencies_ms: list[float]
    failures: list[str]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    def summary(self) -> str:
        median = statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")
        return (f"{len(self.latencies_ms)} ok, {len(self.failures)} failed, "
                f"p50 {median:.1f} ms, p99 {self.percentile(99):.1f} ms")


def timed_requests(urls: list[str], timeout: float = 5.0,
                   headers: dict[str, str] | None = None) -> Timings:
    """GET each URL once, one after the other, each on a new connection (as a browser or
    a proxy opening connections would); a failure is an exception or a status >= 500."""
    latencies, failures = [], []
    for url in urls:
        start = time.perf_counter()
        try:
            answer = requests.get(url, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            failures.append(f"{url}: {type(exc).__name__}")
            continue
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status_code >= 500:
            failures.append(f"{url}: {answer.status_code}")
        else:
            latencies.append(elapsed)
    return Timings(latencies, failures)


def requests_under_slow_clients(host: str, port: int, urls: list[str], label: str,
                                clients: int = 64) -> Timings:
    """``urls`` timed idle, then again while ``clients`` slow-header and ``clients`` slow-body
    connections hold ``host:port``; prints both summaries and returns the loaded timings."""
    idle = timed_requests(urls)
    with SlowClients(host, port, clients, "headers").running() as heads, \
            SlowClients(host, port, clients, "body").running() as bodies:
        time.sleep(3)  # every slow client has connected and sent a few bytes
        loaded = timed_requests(urls, timeout=5)
        assert heads.connections >= clients and bodies.connections >= clients
    print(f"\n{label}, idle: {idle.summary()}"
          f"\n{label}, {clients} slow-header + {clients} slow-body clients: {loaded.summary()}")
    return loaded
