"""Prometheus metrics (``GET /metrics``).

Under gunicorn every worker is a process with its own counters. :mod:`service.server` sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory) before the workers start, so each worker
writes its samples to memory-mapped files there and ``/metrics``, whichever worker answers,
aggregates all of them (prometheus-client's multi-process mode; dead workers are marked in
the ``child_exit`` hook). Without that variable (tests, the Flask dev server) the counters are
the process's own.

Per-worker values that do not add up (which model a worker serves) are exported with a
``pid`` label. Values read from shared state (live articles, takedowns) and the model's age
are computed at scrape time by the answering worker.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

ENV_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"

bp = Blueprint("metrics", __name__)
#: ``app.extensions`` key of the app's :class:`StateCollector`.
COLLECTOR_KEY = "alsosee.metrics"

REQUESTS = Counter(
    "alsosee_http_requests_total", "HTTP requests answered, by endpoint and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "alsosee_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RELOADS = Counter(
    "alsosee_model_reloads_total", "Model reloads attempted in the workers, by result.",
    ["result"],
)
MODEL_SERVING = Gauge(
    "alsosee_model_serving", "1 for the model version a worker serves (label pid: the worker).",
    ["version"], multiprocess_mode="liveall",
)


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    labels = (endpoint, method, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def record_reload(ok: bool) -> None:
    RELOADS.labels("success" if ok else "failure").inc()


def set_model(previous: str | None, version: str | None) -> None:
    if previous and previous != version:
        MODEL_SERVING.labels(previous).set(0)
    if version:
        MODEL_SERVING.labels(version).set(1)


class StateCollector(Collector):
    """Gauges read at scrape time: model age and size, live articles, takedowns."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        serving = self.state.serving
        if serving is not None:
            loaded = serving.loaded
            info = GaugeMetricFamily("alsosee_model_info", "The model this worker serves.",
                                     labels=["version", "trained_at"])
            info.add_metric([loaded.version, str(loaded.manifest.get("created_at", ""))], 1)
            yield info
            age = GaugeMetricFamily("alsosee_model_age_seconds",
                                    "Seconds since the serving model was trained.")
            age.add_metric([], max(time.time() - _trained_ts(loaded.manifest), 0.0))
            yield age
            yield GaugeMetricFamily("alsosee_model_serving_since_seconds",
                                    "Unix time the serving model was swapped in.",
                                    value=serving.since)
            yield GaugeMetricFamily("alsosee_model_articles", "Articles in the serving model.",
                                    value=int(loaded.model.n_articles_))
        yield from self._fleet()
        db = self.state.db
        if db is None:
            return
        try:
            with db.read() as conn:
                live = dict(conn.execute(
                    "SELECT published, count(*) FROM live_articles GROUP BY published"
                ).fetchall())
                version = db.version()
                takedowns = _count_if_exists(conn, "takedowns")
                pinned = _count_if_exists(conn, "pins", "DISTINCT article_id")
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB is locked
            return
        g = GaugeMetricFamily("alsosee_live_articles",
                              "Live articles in the state database, by state.", labels=["state"])
        g.add_metric(["published"], live.get(1, 0))
        g.add_metric(["unpublished"], live.get(0, 0))
        yield g
        yield GaugeMetricFamily("alsosee_state_version", "The live-state version.",
                                value=version)
        if takedowns is not None:
            yield GaugeMetricFamily("alsosee_takedowns", "Articles taken down.", value=takedowns)
        if pinned is not None:
            yield GaugeMetricFamily("alsosee_pinned_articles",
                                    "Articles whose list has editor pins.", value=pinned)


    def _fleet(self) -> Iterator[GaugeMetricFamily]:
        """The fleet's recorded version and whether this worker serves it (alert on
        ``alsosee_model_behind_fleet == 1``: the host refused the version and keeps its
        last good model)."""
        fleet = self.state.fleet_status()
        if fleet["wanted"] is None:
            return
        wanted = GaugeMetricFamily("alsosee_model_wanted_info",
                                   "The model version recorded for the whole fleet.",
                                   labels=["version"])
        wanted.add_metric([fleet["wanted"]], 1)
        yield wanted
        yield GaugeMetricFamily("alsosee_model_behind_fleet",
                                "1 when this worker does not serve the fleet's version.",
                                value=0 if fleet["serving_wanted"] else 1)


def _count_if_exists(conn: sqlite3.Connection, table: str, what: str = "*") -> int | None:
    """``count(what)`` of a feature's table (None while that feature is not installed)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (table,)).fetchone()
    if not exists:
        return None
    return int(conn.execute(f"SELECT count({what}) FROM {table}").fetchone()[0])


def _trained_ts(manifest: dict[str, Any]) -> float:
    import datetime as dt

    created = manifest.get("created_at")
    try:
        return dt.datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics of all workers.

    ---
    summary: Prometheus metrics
    tags: [operations]
    responses:
      "200":
        description: Prometheus text exposition format.
        content:
          text/plain:
            schema:
              type: string
    """
    registry: CollectorRegistry
    if os.environ.get(ENV_MULTIPROC):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    collector = current_app.extensions.get(COLLECTOR_KEY)
    if collector is not None:
        registry.register(collector)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


class _ProcessRegistry(Collector):
    """The default registry's metrics (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def init_app(app: Flask) -> None:
    """Register ``/metrics``, reading the app's service state (set up before) at scrape
    time; ``service.state`` records reloads here, so this module does not import it."""
    app.register_blueprint(bp)
    state = app.extensions.get("alsosee")
    app.extensions[COLLECTOR_KEY] = StateCollector(state) if state is not None else None
    if state is not None and state.serving is not None:
        set_model(None, state.serving.loaded.version)
