"""Editorial controls kept in the state database: takedowns, pins and blocks.

* **Takedown**: an article id (or URL) never to be recommended again; stored with who, when
  and why; reversible (undo deletes it, the audit log keeps the history).
* **Pins**: for one article, editor-chosen ids shown first, in order, optionally until an
  expiry time. A pinned id that is taken down is not shown (takedown wins).
* **Blocks**: for one article, ids that must not appear in its list.

Every change is one :meth:`StateDB.write` transaction (all or nothing; it bumps the state
version). Readers call :meth:`Editorial.snapshot`, which costs one indexed read while
nothing changed and reloads the (small) tables when the version moved, so a change made
through one worker process is visible to every other on its next request.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameterError, UnusableValueError
from ..urls import canonical_url
from .db import StateDB

logger = logging.getLogger(__name__)

MAX_PINS = 100
MAX_REASON = 2000
MAX_KEY = 2048


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def default_actor() -> str:
    """Who a CLI change is recorded as: ``$ALSOSEE_USER``, else the login name."""
    if os.environ.get("ALSOSEE_USER"):
        return os.environ["ALSOSEE_USER"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def key_kind(key: str) -> str:
    return "url" if key.strip().lower().startswith(("http://", "https://")) else "id"


def takedown_key(key: str) -> str:
    """The key a takedown is stored under: an id as given, a URL in its canonical form
    (:func:`~recommender.urls.canonical_url`), so every variant of an address is one
    takedown."""
    return (canonical_url(key) or key) if key_kind(key) == "url" else key


def _check_key(field: str, key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidParameterError(field, f"must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY:
        raise InvalidParameterError(field, f"at most {MAX_KEY} characters, got {len(key)}")
    return key.strip()


def _check_ids(field: str, ids: Any, article_id: str) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, (list, tuple)):
        raise InvalidParameterError(field, "must be a list of article ids")
    if not ids:
        raise InvalidParameterError(field, "must name at least one article id")
    if len(ids) > MAX_PINS:
        raise InvalidParameterError(field, f"at most {MAX_PINS} ids, got {len(ids)}")
    out: list[str] = []
    for item in ids:
        item = _check_key(field, item)
        if item == article_id:
            raise UnusableValueError(field, f"{item!r} is the article itself")
        if item in out:
            raise InvalidParameterError(field, f"{item!r} is listed twice")
        out.append(item)
    return out


def unmatched_takedown(key: str) -> str:
    """What to tell an editor whose (forced) takedown hides nothing yet."""
    what = "URL" if key_kind(key) == "url" else "id"
    return (f"{key!r} matches no article the model or the live index knows: stored, but "
            f"it hides nothing until an article with this {what} is published")


@dataclass(frozen=True)
class Takedown:
    key: str
    kind: str
    reason: str
    created_by: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.key, "kind": self.kind, "reason": self.reason,
                "created_by": self.created_by, "created_at": self.created_at}


@dataclass(frozen=True)
class PinList:
    article_id: str
    ids: tuple[str, ...]
    expires_at: str | None
    created_by: str
    created_at: str

    def active(self, now: dt.datetime | None = None) -> bool:
        expires = _parse_iso(self.expires_at)
        return expires is None or (now or _now()) < expires

    def to_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "ids": list(self.ids),
                "expires_at": self.expires_at, "created_by": self.created_by,
                "created_at": self.created_at, "active": self.active()}


@dataclass(frozen=True)
class Snapshot:
    """The editorial state at one state version (immutable; shared by threads)."""

    version: int
    takedowns: dict[str, Takedown] = field(default_factory=dict)
    pins: dict[str, PinList] = field(default_factory=dict)
    blocks: dict[str, frozenset[str]] = field(default_factory=dict)

    def expired_pins(self, now: dt.datetime | None = None) -> int:
        """How many pin lists have expired by ``now``: it changes without a write, so
        caches (ETags) include it next to the state version."""
        now = now or _now()
        return sum(1 for p in self.pins.values() if p.expires_at and not p.active(now))

    @property
    def takedown_ids(self) -> frozenset[str]:
        return frozenset(k for k, t in self.takedowns.items() if t.kind == "id")

    @property
    def takedown_urls(self) -> frozenset[str]:
        return frozenset(k for k, t in self.takedowns.items() if t.kind == "url")


class Editorial:
    """Takedowns, pins and blocks stored in a :class:`StateDB`.

    Parameters
    ----------
    db : StateDB
        The shared state database (its editorial tables are created if missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from recommender.state.db import StateDB
    >>> db = StateDB(pathlib.Path(tempfile.mkdtemp()) / "state.db").init()
    >>> ed = Editorial(db)
    >>> _ = ed.takedown("gv-1", reason="legal", by="desk")
    >>> "gv-1" in ed.snapshot().takedown_ids
    True
    """

    def __init__(self, db: StateDB) -> None:
        self.db = db
        db.init(check=False)  # creates the editorial tables when an older file lacks them
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    # ---------------------------------------------------------------- reads
    def snapshot(self, version: int | None = None) -> Snapshot:
        """The current state: one ``SELECT`` when unchanged since the last call, none when
        the caller just read the state ``version`` (e.g. once per HTTP request)."""
        if version is None:
            version = self.db.version()
        snap = self._snapshot
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and snap.version == self.db.version():
                return snap
            snap = self._load()
            self._snapshot = snap
            logger.debug("editorial state reloaded at version %d", snap.version)
            return snap

    def _load(self) -> Snapshot:
        with self.db.read() as conn:
            version = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'state_version'").fetchone()[0])
            takedowns = {
                r["key"]: Takedown(r["key"], r["kind"], r["reason"], r["created_by"],
                                   r["created_at"])
                for r in conn.execute("SELECT * FROM takedowns ORDER BY created_at, key")
            }
            pins: dict[str, list[Any]] = {}
            for r in conn.execute("SELECT * FROM pins ORDER BY article_id, position"):
                pins.setdefault(r["article_id"], []).append(r)
            blocks: dict[str, set[str]] = {}
            for r in conn.execute("SELECT article_id, blocked_id FROM blocks"):
                blocks.setdefault(r["article_id"], set()).add(r["blocked_id"])
        pin_lists = {
            aid: PinList(aid, tuple(r["pinned_id"] for r in rows), rows[0]["expires_at"],
                         rows[0]["created_by"], rows[0]["created_at"])
            for aid, rows in pins.items()
        }
        return Snapshot(version, takedowns, pin_lists,
                        {aid: frozenset(ids) for aid, ids in blocks.items()})

    def takedowns(self) -> list[Takedown]:
        return list(self.snapshot().takedowns.values())

    def pins(self, article_id: str | None = None) -> list[PinList]:
        snap = self.snapshot()
        if article_id is not None:
            return [snap.pins[article_id]] if article_id in snap.pins else []
        return list(snap.pins.values())

    def blocks(self, article_id: str | None = None) -> dict[str, list[str]]:
        snap = self.snapshot()
        items = snap.blocks.items() if article_id is None else [
            (article_id, snap.blocks.get(article_id, frozenset()))]
        return {aid: sorted(ids) for aid, ids in items if ids}

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The audit log, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM editorial_log ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    # --------------------------------------------------------------- writes
    @staticmethod
    def _log(conn: Any, who: str, action: str, target: str, detail: str = "") -> None:
        conn.execute("INSERT INTO editorial_log (at, who, action, target, detail) "
                     "VALUES (?, ?, ?, ?, ?)", (_iso(_now()), who, action, target, detail))

    def takedown(self, key: str, reason: str, by: str | None = None) -> Takedown:
        """Take an article id (or URL, stored in canonical form) down; re-taking it down
        (or another variant of the URL) updates the reason."""
        key = takedown_key(_check_key("id", key))
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidParameterError("reason", "a takedown needs a non-empty reason")
        if len(reason) > MAX_REASON:
            raise InvalidParameterError("reason", f"at most {MAX_REASON} characters")
        who = by or default_actor()
        item = Takedown(key, key_kind(key), reason.strip(), who, _iso(_now()))
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO takedowns (key, kind, reason, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET reason = excluded.reason,"
                " created_by = excluded.created_by, created_at = excluded.created_at",
                (item.key, item.kind, item.reason, item.created_by, item.created_at),
            )
            self._log(conn, who, "takedown", key, item.reason)
        logger.info("takedown %s by %s: %s", key, who, item.reason)
        return item

    def undo_takedown(self, key: str, by: str | None = None) -> bool:
        """Restore a taken-down article; False if it was not taken down."""
        key = takedown_key(_check_key("id", key))
        who = by or default_actor()
        # Any stored variant of a URL (rows written before keys were canonical included).
        keys = [k for k, t in self.snapshot().takedowns.items()
                if k == key or (t.kind == "url" and takedown_key(k) == key)]
        if not keys:
            return False  # nothing to do: no write, no version bump
        with self.db.write() as conn:
            removed = sum(conn.execute("DELETE FROM takedowns WHERE key = ?", (k,)).rowcount
                          for k in keys)
            if removed:
                self._log(conn, who, "undo_takedown", key)
        return bool(removed)

    def pin(self, article_id: str, ids: Sequence[str], expires_at: dt.datetime | str | None = None,
            by: str | None = None, now: dt.datetime | None = None) -> PinList:
        """Replace the pins of ``article_id`` by ``ids`` (in order), optionally expiring
        (``expires_at`` must be later than ``now``, default the current time)."""
        article_id = _check_key("article_id", article_id)
        ids = _check_ids("ids", ids, article_id)
        expires = None
        if expires_at is not None:
            from ..ranking.options import parse_datetime

            when = parse_datetime("expires_at", expires_at)
            if when is not None and when <= (now or _now()):
                raise UnusableValueError("expires_at", f"{expires_at!r} is in the past")
            expires = _iso(when) if when is not None else None
        who = by or default_actor()
        created = _iso(_now())
        with self.db.write() as conn:
            conn.execute("DELETE FROM pins WHERE article_id = ?", (article_id,))
            conn.executemany(
                "INSERT INTO pins (article_id, position, pinned_id, expires_at, created_by, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(article_id, pos, pid, expires, who, created) for pos, pid in enumerate(ids)],
            )
            self._log(conn, who, "pin", article_id, " ".join(ids))
        return PinList(article_id, tuple(ids), expires, who, created)

    def unpin(self, article_id: str, by: str | None = None) -> bool:
        article_id = _check_key("article_id", article_id)
        who = by or default_actor()
        if article_id not in self.snapshot().pins:
            return False
        with self.db.write() as conn:
            removed = conn.execute("DELETE FROM pins WHERE article_id = ?",
                                   (article_id,)).rowcount
            if removed:
                self._log(conn, who, "unpin", article_id)
        return bool(removed)

    def block(self, article_id: str, ids: Sequence[str], by: str | None = None,
              replace: bool = False) -> list[str]:
        """Never show ``ids`` in the list of ``article_id`` (added to, or replacing, the
        existing blocks). Returns the blocked ids now in force."""
        article_id = _check_key("article_id", article_id)
        ids = _check_ids("ids", ids, article_id)
        who = by or default_actor()
        created = _iso(_now())
        with self.db.write() as conn:
            if replace:
                conn.execute("DELETE FROM blocks WHERE article_id = ?", (article_id,))
            conn.executemany(
                "INSERT OR IGNORE INTO blocks (article_id, blocked_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?)", [(article_id, bid, who, created) for bid in ids],
            )
            self._log(conn, who, "block", article_id, " ".join(ids))
            rows = conn.execute("SELECT blocked_id FROM blocks WHERE article_id = ? "
                                "ORDER BY blocked_id", (article_id,)).fetchall()
        return [r[0] for r in rows]

    def unblock(self, article_id: str, ids: Iterable[str] = (), by: str | None = None) -> int:
        """Lift blocks of ``article_id`` (the given ids, or all). Returns how many."""
        article_id = _check_key("article_id", article_id)
        ids = [_check_key("ids", i) for i in ids]
        who = by or default_actor()
        current = self.snapshot().blocks.get(article_id, frozenset())
        if not current or (ids and not current & set(ids)):
            return 0
        with self.db.write() as conn:
            if ids:
                removed = sum(conn.execute(
                    "DELETE FROM blocks WHERE article_id = ? AND blocked_id = ?",
                    (article_id, bid)).rowcount for bid in ids)
            else:
                removed = conn.execute("DELETE FROM blocks WHERE article_id = ?",
                                       (article_id,)).rowcount
            if removed:
                self._log(conn, who, "unblock", article_id, " ".join(ids))
        return removed
