"""The model version every server of a fleet serves, recorded in the shared state database.

``alsosee models activate`` / ``rollback`` (on any host) record the version here and point
the models root's ``current`` at it. Servers whose state database holds a record serve the
recorded version, loaded and verified from their models root (the shared model storage every
host mounts); without a record they serve what ``current`` names. A record bumps the state
version like every write, so servers notice it where they notice any other write.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

from .db import StateDB

# The table ``fleet_model`` is created by the state schema's migrations (state/schema.py):
# one row (``name = 'active'``), the version the fleet serves and who recorded it.
_ACTIVE = "active"


@dataclass(frozen=True)
class FleetRecord:
    """The recorded version, the one it replaced, when (UTC, ISO 8601) and by whom."""

    version: str
    previous: str | None
    at: str
    by: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "previous": self.previous, "at": self.at,
                "by": self.by}


def wanted(db: StateDB) -> FleetRecord | None:
    """The recorded version of ``db`` (a :class:`recommender.state.db.StateDB`), or None."""
    with db.read() as conn:
        row = conn.execute("SELECT version, previous, recorded_at, recorded_by FROM fleet_model "
                           "WHERE name = ?",
                           (_ACTIVE,)).fetchone()
    return FleetRecord(str(row[0]), row[1], str(row[2]), str(row[3])) if row else None


def record(db: StateDB, version: str, previous: str | None = None,
           by: str | None = None) -> FleetRecord:
    """Record ``version`` as the fleet's model (one write: it bumps the state version)."""
    entry = FleetRecord(
        version=version, previous=previous,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        by=by or f"{socket.gethostname()} pid {os.getpid()}")
    with db.write() as conn:
        conn.execute(
            "INSERT INTO fleet_model (name, version, previous, recorded_at, recorded_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "version = excluded.version, previous = excluded.previous, "
            "recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
            (_ACTIVE, entry.version, entry.previous, entry.at, entry.by))
    return entry
