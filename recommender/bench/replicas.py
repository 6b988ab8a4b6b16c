"""Several serving hosts on one PostgreSQL, for the replica tests and the measurement scripts.

:func:`hosts` starts N real servers as separate hosts would be (own ports, own copies of the
models, one shared state database); :func:`related` reads a related list from one;
:func:`propagation` measures how soon a takedown written on one host stops being served by
another, and counts the answers that still show it later than :data:`BOUND`.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import requests

from recommender.state.db import StateDB
from service.launch import ServerProcess

__all__ = ["ARTICLE", "AUTH", "BOUND", "KEY", "ReplicaError", "hosts", "propagation",
           "related", "wait_for"]

#: An article of the bundled sample corpus with a full related list.
ARTICLE = "gv-316447"
#: The API key every host accepts (writes need it).
KEY = "replica-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
#: The promise: another host serves a change within this many seconds of the write returning.
BOUND = 1.0
#: Seconds a host may take to answer ``/readyz`` (it loads its models first).
STARTUP_TIMEOUT = 60.0


class ReplicaError(RuntimeError):
    """A host answered a read with something other than 200 (the message has its body)."""


@contextlib.contextmanager
def hosts(pg_url: str, model_dir: Path, tmp: Path, n: int = 2, *, workers: int = 2,
          env: Mapping[str, str] | None = None) -> Iterator[list[ServerProcess]]:
    """Migrate the state database at ``pg_url``, then start ``n`` hosts on it, each serving
    its own copy of ``model_dir`` (``tmp/host{i}/models``, log ``tmp/host{i}.log``) with
    ``workers`` workers, rate limits off and :data:`KEY` accepted; ``env`` is added to each
    host's environment. Every host is ready on entry and stopped on exit."""
    StateDB(pg_url).migrate()
    with contextlib.ExitStack() as stack:
        started = []
        for i in range(n):
            root = tmp / f"host{i}" / "models"
            shutil.copytree(model_dir, root, symlinks=True)
            log = tmp / f"host{i}.log"
            server = ServerProcess(
                root, workers=workers,
                args=["--timeout", "20", "--graceful-timeout", "3"],
                env={"ALSOSEE_STATE_DB": pg_url, "ALSOSEE_API_KEYS": f"desk:{KEY}",
                     "ALSOSEE_RATE_LIMIT": "off", **(env or {})},
                log_path=log,
                # Prometheus' multi-process files go next to the log, not into a
                # /tmp/alsosee-metrics-* directory that a killed server could not remove.
                metrics_dir=tmp / f"metrics-host{i}",
                startup_timeout=STARTUP_TIMEOUT)
            started.append(stack.enter_context(server))
        yield started


def related(host: ServerProcess, article: str = ARTICLE, k: int = 10) -> list[str]:
    """The ids of ``article``'s related list as ``host`` serves it now (a new connection each
    call, so successive reads reach different workers)."""
    url = f"{host.base}/v1/articles/{article}/related"
    response = requests.get(url, params={"k": k}, headers={"Connection": "close"}, timeout=10)
    if response.status_code != 200:
        raise ReplicaError(f"GET {url}: {response.status_code} {response.text[:500]}")
    return [item["id"] for item in response.json()["related"]]


def wait_for(check: Callable[[], bool], limit: float = 5.0) -> float:
    """Seconds until ``check()`` holds (polled without pause), or ``inf`` after ``limit``."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if check():
            return time.perf_counter() - start
    return float("inf")


def propagation(pair: Sequence[ServerProcess], other: ServerProcess, victim: str,
                written: float, clean_reads: int = 6) -> tuple[float, int]:
    """After a takedown of ``victim`` returned at ``written`` (``time.perf_counter()``): the
    seconds until ``other`` stopped serving it (``clean_reads`` answers in a row without it,
    spread over its workers by new connections; 0 when no answer showed it), and the leaks:
    answers of any host of ``pair`` still showing it later than :data:`BOUND` after the
    write."""
    last_seen, clean, leaks = 0.0, 0, 0
    while clean < clean_reads and time.perf_counter() - written < BOUND + 4:
        shown = victim in related(other)
        now = time.perf_counter() - written
        if shown:
            last_seen, clean = now, 0
            leaks += now > BOUND
        else:
            clean += 1
    for host in pair:
        for _ in range(3):
            if victim in related(host):
                now = time.perf_counter() - written
                last_seen = max(last_seen, now)
                leaks += now > BOUND
    return last_seen, leaks
