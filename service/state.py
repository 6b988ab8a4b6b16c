"""Per-app (hence per-worker) state: the serving model, the live state, reloads.

The model that answers requests is held in **one reference** (:attr:`ServiceState.serving`):
a reload loads and verifies the new version completely (and vectorises the live articles for
it), then replaces that reference in one assignment. A request grabs the reference once, at
its start (:meth:`ServiceState.view`, pinned in ``flask.g``), so it is answered by exactly one
model version even if a swap happens while it runs.

Reloads are triggered by ``POST /v1/admin/reload`` (which also asks every other worker, through
a counter in the state database), by SIGHUP (see :mod:`service.server`) and, when
``WATCH_MODEL`` is on, by the ``current`` pointer changing. A version that fails verification
is refused: the old model keeps serving and the error is kept for ``/v1/model``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, g, has_request_context

from service.errors import Problem, public_message

if TYPE_CHECKING:
    from recommender.engine.recommender import Recommender
    from recommender.model.artifact import LoadedModel
    from recommender.model.estimator import RelatedStories
    from recommender.ranking.options import RankingOptions
    from recommender.state.db import StateDB
    from recommender.state.editorial import Editorial
    from recommender.state.live import LiveIndex, LiveSnapshot

T = TypeVar("T")

EXTENSION_KEY = "alsosee"
#: Key in the state database's meta table counting reload requests (all workers follow it).
RELOAD_COUNTER = "model_reload_requests"
#: Seconds between retries of a fleet version this host refused (e.g. shared storage that
#: was still being copied when the version was recorded).
FLEET_RETRY_SECONDS = 30.0


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """One model version with what was built for it; replaced as a whole on reload."""

    loaded: LoadedModel
    live: LiveIndex | None  # bound to this model (None without a state DB)
    since: float  # time.time() when it started serving


@dataclass(frozen=True)
class RequestView:
    """What one request uses: one model, one live snapshot, one state version."""

    loaded: LoadedModel
    live: LiveSnapshot | None
    state_version: int | None

    @property
    def model(self) -> RelatedStories:
        return self.loaded.model

    @property
    def version(self) -> str:
        return self.loaded.version


@dataclass
class ReloadResult:
    status: str  # "reloaded", "unchanged" or "failed"
    previous: str | None
    version: str | None
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "previous": self.previous, "version": self.version,
                "error": self.error, "seconds": round(self.seconds, 3)}


@dataclass
class ServiceState:
    """What ``app.extensions["alsosee"]`` holds.

    ``loaded`` is the library's ``LoadedModel`` (``.model``, ``.manifest``, ``.version``) or
    ``None`` when the model directory held no loadable model; ``load_error`` then says why.
    ``db`` is the shared state database (``None`` and ``state_error`` when it cannot be
    opened: live publishing then answers 503, queries still work from the model alone).
    """

    model_dir: str
    serving: Serving | None = None
    load_error: str | None = None
    db: StateDB | None = None
    state_error: str | None = None
    last_reload: dict[str, Any] | None = None
    last_reload_error: str | None = None
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _failed_version: str | None = field(default=None, repr=False)
    _watcher: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _hup: threading.Event = field(default_factory=threading.Event, repr=False)
    #: Default ranking options (see configure_ranking).
    ranking_defaults: RankingOptions | None = None
    #: Takedowns, pins and blocks in ``db``.
    editorial: Editorial | None = None
    _engine: Recommender | None = field(default=None, repr=False)
    _engine_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Set when ``current`` did not verify at start-up and the last verified version serves
    #: instead: ``{"current": name, "error": why}`` (shown by ``/readyz``).
    fallback: dict[str, Any] | None = None
    #: The fleet version last looked up (for the watcher: a new record means a reload).
    _wanted_seen: str | None = field(default=None, repr=False)

    # ------------------------------------------------------------ start-up
    @classmethod
    def load(cls, model_dir: str, state_db: str | os.PathLike[str] | None = None,
             poll_interval: float | None = None) -> ServiceState:
        # Imported here so that the service package imports even where the library's
        # optional heavy parts are broken; a failure then surfaces as "no model loaded".
        from recommender.errors import AlsoseeError
        from recommender.model import artifact

        state = cls(model_dir=model_dir)
        state._open_db(state_db)
        if state.db is not None and poll_interval is not None:
            state.db.poll_interval = poll_interval  # PostgreSQL's listener (unused by SQLite)
        loaded: LoadedModel | None
        try:
            loaded = artifact.load(state._target())
            _probe(loaded)
        except (AlsoseeError, OSError) as exc:
            loaded = state._load_last_verified(exc)
            if loaded is None:
                log.warning("no model loaded from %s: %s", model_dir, exc)
                state.load_error = str(exc)
                return state
        log.info("loaded model %s from %s", loaded.version, model_dir)
        state.serving = state._prepare(loaded)
        state._remember_verified(loaded)
        return state

    def wanted(self) -> Any | None:
        """The fleet's recorded model version (``recommender.state.fleet.FleetRecord``), or None:
        no record, no state database, or a version directory served directly."""
        if self.db is None or Path(self.model_dir) != self._models_root():
            return None
        from recommender.state import fleet

        try:
            return fleet.wanted(self.db)
        except Exception as exc:  # noqa: BLE001 - unreadable: keep serving what serves
            log.warning("fleet model version unreadable: %s", exc)
            return None

    def _target(self) -> Path:
        """The version directory to serve: the fleet's recorded version under the models
        root, else what ``current`` names (or the version directory given)."""
        from recommender.errors import ArtifactError
        from recommender.model import artifact

        self._wanted_seen = None
        record = self.wanted()
        if record is None:
            return artifact.resolve(self.model_dir)
        version = record.version
        if not version or "/" in version or version.startswith("."):
            raise ArtifactError(f"the fleet's model version {version!r} is not a version name")
        path = self._models_root() / version
        self._wanted_seen = version
        if not path.is_dir():
            raise ArtifactError(f"the fleet's model version {version} is not in {path.parent} "
                                "(is the shared model storage mounted and complete?)")
        return path

    def fleet_status(self) -> dict[str, Any]:
        """``wanted`` (the fleet's version, None without a record), whether this worker
        serves it, and why not (the last refusal) when it does not."""
        record = self.wanted()
        serving = self.serving
        version = serving.loaded.version if serving is not None else None
        status: dict[str, Any] = {"wanted": record.version if record else None,
                                  "serving_wanted": record is None or record.version == version}
        # refused: this worker tried the recorded version and it did not verify (otherwise
        # it has not tried yet: a switch within the watch interval)
        if (record is not None and not status["serving_wanted"]
                and self._failed_version == record.version):
            status["refused"] = self.last_reload_error or "refused"
        return status

    def pointer(self) -> str | None:
        """The version ``current`` names now (None for a version directory or no pointer)."""
        from recommender.errors import AlsoseeError
        from recommender.model import artifact

        try:
            return artifact.current_version(self._models_root())
        except AlsoseeError:
            return None

    def _verified_key(self) -> str:
        return str(self._models_root().resolve())

    def last_verified(self) -> str | None:
        """The version recorded as the last one that verified under this models root."""
        if self.db is None:
            return None
        try:
            with self.db.read() as conn:
                row = conn.execute("SELECT version FROM model_verified WHERE root = ?",
                                   (self._verified_key(),)).fetchone()
        except Exception as exc:  # noqa: BLE001 - an unreadable record: no fallback
            log.warning("last verified model version unreadable: %s", exc)
            return None
        return str(row[0]) if row else None

    def _remember_verified(self, loaded: LoadedModel) -> None:
        if self.db is None or loaded.path.parent.resolve() != self._models_root().resolve():
            return  # a version directory served directly: nothing to fall back within
        if self.last_verified() == loaded.version:
            return  # no write (and no state-version bump) when nothing changed
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO model_verified (root, version, at) VALUES (?, ?, ?) "
                    "ON CONFLICT(root) DO UPDATE SET version = excluded.version, "
                    "at = excluded.at", (self._verified_key(), loaded.version, _now()))
        except Exception as exc:  # noqa: BLE001 - serving matters more than the record
            log.warning("could not record verified model %s: %s", loaded.version, exc)

    def _load_last_verified(self, error: Exception) -> LoadedModel | None:
        """When the version to serve (the fleet's, else ``current``) does not verify: the
        version ``current`` names (if it is another one), else the last verified version of
        this models root."""
        from recommender.errors import AlsoseeError
        from recommender.model import artifact

        root = self._models_root()
        try:
            current = artifact.current_version(root)
        except AlsoseeError:
            current = None
        refused = self._wanted_seen or current
        candidates = [v for v in dict.fromkeys([current, self.last_verified()])
                      if v is not None and v != refused]
        for version in candidates:
            try:
                loaded = artifact.load(root / version)
                _probe(loaded)
            except (AlsoseeError, OSError) as exc:
                log.error("model %s does not load either: %s", version, exc)
                continue
            log.error("model %s refused: %s; serving %s instead", refused, error, version)
            self.fallback = {"current": refused, "error": str(error)}
            self._failed_version = refused
            self.last_reload_error = str(error)
            return loaded
        return None

    def _open_db(self, state_db: str | os.PathLike[str] | None) -> None:
        from recommender.errors import SchemaVersionError, StateError
        from recommender.state.db import StateDB

        explicit = state_db is not None  # STATE_DB (service/settings.py) or the caller's
        path = self.state_target(state_db)
        if not explicit and isinstance(path, Path) and not path.parent.is_dir():
            # No models directory yet: do not create one as a side effect of starting.
            self.state_error = f"state database {path}: directory {path.parent} does not exist"
            log.warning("%s", self.state_error)
            return
        try:
            self.db = StateDB(path).init()
            from recommender.state.editorial import Editorial

            self.editorial = Editorial(self.db)
        except SchemaVersionError:
            raise  # the code and the database disagree: refuse to start
        except StateError as exc:
            self.state_error = str(exc)
            log.error("%s", exc)
            if getattr(exc, "retryable", False):
                # A database server not reachable yet: keep the handle, which checks the
                # schema on its first use; until then the state's users answer 503.
                from recommender.state.editorial import Editorial

                self.db = db = StateDB(path)
                self.editorial = Editorial(db)
            else:
                self.db = self.editorial = None

    def state_target(self, state_db: str | os.PathLike[str] | None = None) -> Path | str:
        """The state database: ``state_db``, else ALSOSEE_STATE_DB, else ``state.db`` in the
        models root (a ``postgresql://`` URL as text)."""
        from recommender.state.db import default_path
        from recommender.state.schema import is_postgres_url

        if state_db is not None:
            return str(state_db) if is_postgres_url(state_db) else Path(state_db)
        return default_path(self._models_root())

    @classmethod
    def check_schema(cls, model_dir: str, state_db: str | os.PathLike[str] | None = None) -> None:
        """At server start-up: raise :class:`SchemaVersionError` (naming the versions found
        and expected) when the state database exists at another schema version. A file not
        created yet, or a database unreachable now, is left to the workers (503 until back)."""
        from recommender.errors import SchemaVersionError, StateError
        from recommender.state.db import StateDB
        from recommender.state.schema import SCHEMA_VERSION, check_version

        target = cls(model_dir=model_dir).state_target(state_db)
        if isinstance(target, Path) and not target.is_file():
            return
        db = StateDB(target)
        try:
            found = db.schema_version()
        except SchemaVersionError:
            raise
        except StateError as exc:
            log.warning("state schema not checked at start-up: %s", exc)
            return
        finally:
            db.close()
        if found != SCHEMA_VERSION:
            check_version(found, str(db.path))

    def _models_root(self) -> Path:
        """The models root (the parent of a version directory given as MODEL_DIR)."""
        path = Path(self.model_dir)
        if (path / "manifest.json").is_file() and not (path / "current").exists():
            return path.parent
        return path

    def _prepare(self, loaded: LoadedModel) -> Serving:
        """Build what a model needs before it serves (live articles vectorised with it)."""
        live_index = None
        if self.db is not None:
            from recommender.errors import StateError
            from recommender.state.live import LiveIndex, LiveStore

            live_index = LiveIndex(LiveStore(self.db), loaded.model, loaded.version)
            try:
                live_index.snapshot()
            except StateError as exc:  # served without live articles until the DB is back
                log.error("live articles not loaded for model %s: %s", loaded.version, exc)
        return Serving(loaded=loaded, live=live_index, since=time.time())

    # ------------------------------------------------------------ requests
    @property
    def loaded(self) -> LoadedModel | None:
        """The model of the current request (pinned), else the serving one."""
        if has_request_context() and "alsosee_view" in g:
            return g.alsosee_view.loaded
        serving = self.serving
        return serving.loaded if serving is not None else None

    def view(self) -> RequestView:
        """The request's view (model + live snapshot + state version), pinned on first use."""
        if has_request_context() and "alsosee_view" in g:
            return g.alsosee_view
        serving = self.serving  # the one read of the reference
        if serving is None:
            raise self._no_model()
        # Never answer without the live state: a takedown or an unpublish could be missed.
        db = self.require_db()
        live_snapshot, state_version = None, None
        if serving.live is not None:
            state_version = db.version()  # StateError -> 503 problem
            live_snapshot = serving.live.snapshot(state_version)
            state_version = live_snapshot.state_version
        view = RequestView(loaded=serving.loaded, live=live_snapshot, state_version=state_version)
        if has_request_context():
            g.alsosee_view = view
        return view

    def require(self) -> LoadedModel:
        """The loaded model, or a 503 problem when there is none."""
        return self.view().loaded

    def _no_model(self) -> Problem:
        return Problem(
            503,
            "No model loaded: the model directory holds no usable model "
            "(train one with `alsosee train`, then reload or restart the service).",
            slug="no-model",
            title="No model loaded",
        )

    def model_info(self) -> dict[str, Any]:
        loaded = self.require()
        manifest = loaded.manifest
        return {
            "version": loaded.version,
            "trained_at": manifest.get("created_at"),
            "articles": manifest.get("articles"),
        }

    # ------------------------------------------------------------- ranking
    def configure_ranking(self, ranking: Mapping[str, Any] | None = None) -> None:
        """Validate the default ranking options (the config file's ``[ranking]`` table);
        raises ``InvalidParameterError`` naming the field (the start-up must fail)."""
        from recommender.ranking.options import RankingOptions

        self.ranking_defaults = RankingOptions.from_mapping(ranking or {})
        self._engine = None

    def engine(self) -> Recommender:
        """The newsroom ``Recommender`` of the request's model, with the editorial state.

        Without the state database (locked, read-only, corrupt at start-up) ranking answers
        503: serving lists that ignore takedowns would be worse than not serving.
        """
        loaded = self.require()
        if self.editorial is None:
            raise Problem(
                503,
                "The state database (takedowns, pins, blocks) is unavailable: "
                f"{public_message(self.state_error) or 'not open'}",
                slug="state-unavailable", title="State database unavailable",
            )
        engine = self._engine
        if engine is None or engine.model is not loaded.model:
            with self._engine_lock:
                engine = self._engine
                if engine is None or engine.model is not loaded.model:
                    from recommender.engine.recommender import Recommender

                    engine = Recommender(loaded.model, editorial=self.editorial,
                                         defaults=self.ranking_defaults)
                    self._engine = engine
        return engine

    def _build_engine(self, loaded: LoadedModel) -> Recommender | None:
        """The ranking engine for a model about to be swapped in (None without editorial)."""
        if self.editorial is None:
            return None
        from recommender.engine.recommender import Recommender

        return Recommender(loaded.model, editorial=self.editorial,
                           defaults=self.ranking_defaults)

    def require_db(self) -> StateDB:
        if self.db is None:
            raise Problem(503, "The live-state database is not available: "
                               f"{public_message(self.state_error)}",
                          slug="state-unavailable", title="State database unavailable")
        return self.db

    # -------------------------------------------------------------- reload
    def reload(self, *, reason: str = "request", force: bool = False) -> ReloadResult:
        """Load and verify the version ``current`` names; swap only if it is sound.

        Never raises for a bad model: the result (and ``last_reload_error``) says why it was
        refused, and the previous model keeps serving.
        """
        from recommender.errors import AlsoseeError
        from recommender.model import artifact
        from service import metrics

        with self._reload_lock:
            start = time.perf_counter()
            old = self.serving
            previous = old.loaded.version if old is not None else None
            target = None
            try:
                target = self._target()
                if old is not None and target.name == previous and not force:
                    return ReloadResult("unchanged", previous, previous,
                                        seconds=time.perf_counter() - start)
                loaded = artifact.load(target)
                _probe(loaded)
                serving = self._prepare(loaded)
                engine = self._build_engine(loaded)
            except (AlsoseeError, OSError, MemoryError) as exc:
                self._failed_version = (target.name if target is not None
                                        else self._wanted_seen)
                self.last_reload_error = str(exc)
                result = ReloadResult("failed", previous, previous, error=str(exc),
                                      seconds=time.perf_counter() - start)
                self.last_reload = {**result.to_dict(), "at": _now(), "reason": reason,
                                    "pid": os.getpid()}
                metrics.record_reload(False)
                log.error("model reload (%s) refused, still serving %s: %s",
                          reason, previous, exc)
                return result
            self.serving = serving  # the swap: one reference assignment
            if engine is not None:
                self._engine = engine  # built above, so no request pays for it after the swap
            self._remember_verified(loaded)
            self.fallback = None
            self.load_error = None
            self.last_reload_error = None
            self._failed_version = None
            result = ReloadResult("reloaded", previous, loaded.version,
                                  seconds=time.perf_counter() - start)
            self.last_reload = {**result.to_dict(), "at": _now(), "reason": reason,
                                "pid": os.getpid()}
            metrics.record_reload(True)
            metrics.set_model(previous, loaded.version)
            log.info("model reload (%s): %s -> %s in %.2f s", reason, previous, loaded.version,
                     result.seconds)
            return result

    def request_reload_everywhere(self) -> None:
        """Ask every worker (through the state database) to reload."""
        db = self.require_db()
        with db.write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT(key) "
                         "DO UPDATE SET value = meta.value + 1", (RELOAD_COUNTER,))

    def _reload_requests(self) -> int | None:
        if self.db is None:
            return None
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?",
                               (RELOAD_COUNTER,)).fetchone()
        return int(row[0]) if row else 0

    def signal_reload(self) -> None:
        """Called from a signal handler: only sets a flag (the watcher does the work)."""
        self._hup.set()

    def start_watcher(self, interval: float = 1.0, watch_pointer: bool = False) -> None:
        """Start the background thread that performs requested reloads (one per worker)."""
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(max(interval, 0.05), watch_pointer),
            name="alsosee-reloader", daemon=True,
        )
        self._watcher.start()

    def stop_watcher(self) -> None:
        self._stop.set()
        self._hup.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _watch(self, interval: float, watch_pointer: bool) -> None:
        from recommender.errors import AlsoseeError
        from recommender.model import artifact

        seen = self._safe(self._reload_requests)
        state_seen = None
        last_retry = time.monotonic()
        while not self._stop.is_set():
            self._hup.wait(interval)
            if self._stop.is_set():
                return
            reason = None
            if self._hup.is_set():
                self._hup.clear()
                reason = "SIGHUP"
            requests_now = self._safe(self._reload_requests)
            if requests_now is not None and requests_now != seen:
                seen = requests_now
                reason = reason or "reload request"
            # The fleet's record is read only when the state version moved (every write,
            # the record's own included, bumps it): one indexed read per interval otherwise.
            state_now = self._safe(self.db.version) if self.db is not None else None
            retry = (self._failed_version is not None
                     and time.monotonic() - last_retry >= FLEET_RETRY_SECONDS)
            if reason is None and state_now is not None and (state_now != state_seen or retry):
                state_seen = state_now
                last_retry = time.monotonic()
                record = self.wanted()
                serving = self.serving
                current = serving.loaded.version if serving is not None else None
                if (record is not None and record.version != current
                        and (retry or record.version != self._failed_version)):
                    reason = "fleet version"
            if reason is None and watch_pointer:
                try:
                    pointer = artifact.current_version(self.model_dir)
                except AlsoseeError:
                    pointer = None
                serving = self.serving
                current = serving.loaded.version if serving is not None else None
                if pointer and pointer != current and pointer != self._failed_version:
                    reason = "pointer changed"
            if reason is not None:
                try:
                    self.reload(reason=reason)
                except Exception:  # noqa: BLE001 - the watcher must survive anything
                    log.exception("model reload (%s) crashed", reason)

    @staticmethod
    def _safe(fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - a locked/missing DB must not kill the thread
            log.warning("reload watcher: %s", exc)
            return None


def _probe(loaded: LoadedModel) -> None:
    """A verified model must also answer before it serves (a by-text and a by-id query):
    e.g. one pickled by an incompatible alsosee passes its checksums but fails here."""
    from recommender.errors import ArtifactError

    model = loaded.model
    try:
        model.related_to_text("readiness probe", "", k=1)
        if model.n_articles_:
            model.related(model.ids_[0], k=1)
    except Exception as exc:  # noqa: BLE001 - any failure means "do not swap it in"
        raise ArtifactError(f"model {loaded.version} failed its probe queries: "
                            f"{type(exc).__name__}: {exc}") from exc


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def get_state() -> ServiceState:
    return current_app.extensions[EXTENSION_KEY]
