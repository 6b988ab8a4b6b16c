"""Live articles: publish and unpublish between retrains, without touching the model.

Articles published through the API, the CLI or a CMS sync are stored in the shared state
database (:mod:`recommender.state.db`) as their validated fields, not as vectors: every process
vectorises them with *its* current model's vocabulary (``model.transform``) and keeps them in
a :class:`LiveSnapshot`, refreshed incrementally when the state version moves (only rows
changed since the last refresh are re-vectorised) and rebuilt when the model changes.

Semantics (the contract the service and the ranking rely on):

* a published live article is queryable by id and a candidate in every other list; if the
  model has an article with the same id, the live version **replaces** it everywhere;
* an unpublished id (``unpublish``) is a tombstone: it hides a corpus article with that id
  too, is never recommended and queries for it raise :class:`UnknownArticleError`;
* publishing again after an unpublish brings the article back;
* every write goes through :meth:`StateDB.write`, so it bumps the state version (ETags and
  every worker's caches follow).

Terms that the model's vocabulary does not know (a brand-new name) are ignored until the next
retrain; ``alsosee train --include-live`` folds the live articles into that corpus.

Library API (used by the HTTP service, the CLI and the WordPress sync)::

    store = LiveStore(StateDB(path).init())
    store.publish(parse_articles([{"id": "a1", "title": "...", "body": "..."}]))
    store.unpublish("a1")
    store.changes(since=0)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..corpus.load import CORE_COLUMNS, PUBLISHED_STATUSES, articles_from_records
from ..errors import CorpusError, InvalidParameterError, TooLargeError
from ..urls import canonical_url, is_safe_link
from ..values import _iso, _none_if_missing
from .db import StateDB

if TYPE_CHECKING:
    from ..model.estimator import RelatedStories

# recommender.model.estimator (scikit-learn) is named for type checking only: publishing
# (`alsosee publish`, a cron job) does not need it and starts without it.

logger = logging.getLogger(__name__)

__all__ = [
    "InvalidArticleError",
    "LiveChange",
    "LiveIndex",
    "LiveSnapshot",
    "LiveStore",
    "MAX_BATCH",
    "MAX_BODY_CHARS",
    "fold_into",
    "parse_articles",
]

#: Longest body (characters, after HTML removal) a live article may have, whichever way it
#: is published (HTTP PUT or batch, ``alsosee publish``, ``alsosee sync``).
MAX_BODY_CHARS = 200_000
#: Longest title (characters).
MAX_TITLE_CHARS = 1_000
#: Longest id (characters); same limit as the HTTP routes.
MAX_ID_CHARS = 512
#: Most articles in one batch publish.
MAX_BATCH = 1_000

_STRING_FIELDS = ("url", "section", "language", "status", "story_id", "canonical_url",
                  "modified_at", "author")
#: Fields kept in the database (the corpus table's core columns).
STORED_FIELDS = tuple(c for c in CORE_COLUMNS)

class InvalidArticleError(InvalidParameterError):
    """An article sent for publication is malformed; ``field`` names the culprit
    (``published_at``, or ``articles[3].title`` in a batch) and the message starts with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, f"{field} {message}")

    def __str__(self) -> str:
        return self.message


class ArticleTooLargeError(InvalidArticleError, TooLargeError):
    """An article's body is longer than :data:`MAX_BODY_CHARS` (HTTP: a 413 naming it)."""


def check_body_sizes(articles: pd.DataFrame, *, batch: bool = False) -> None:
    """Refuse any article whose body (as stored, after HTML removal) is over the limit."""
    lengths = articles["body"].str.len().fillna(0).to_numpy()
    over = np.flatnonzero(lengths > MAX_BODY_CHARS)
    if len(over):
        i = int(over[0])
        prefix = f"articles[{i}]." if batch else ""
        raise ArticleTooLargeError(
            f"{prefix}body", f"is too large: {int(lengths[i]):,} characters (article "
            f"{articles['id'].iat[i]!r}); an article's body may have at most "
            f"{MAX_BODY_CHARS:,} characters")


# ------------------------------------------------------------------ validation
def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value, for error messages ("string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _check_record(rec: Any, prefix: str) -> dict[str, Any]:
    """Strict JSON-type checks (the corpus loader is lenient; an API must not be)."""
    if not isinstance(rec, Mapping):
        raise InvalidArticleError(prefix.rstrip(".") or "article",
                                  f"must be a JSON object, got {json_type_name(rec)}")

    def bad(name: str, message: str) -> InvalidArticleError:
        return InvalidArticleError(f"{prefix}{name}", message)

    out = dict(rec)
    article_id = rec.get("id")
    if article_id is None:
        raise bad("id", "is required")
    if isinstance(article_id, bool) or not isinstance(article_id, str | int):
        raise bad("id", f"must be a string, got {json_type_name(article_id)}")
    article_id = str(article_id).strip()
    if not article_id:
        raise bad("id", "must not be empty")
    if len(article_id) > MAX_ID_CHARS:
        raise bad("id", f"is {len(article_id)} characters long; at most {MAX_ID_CHARS}")
    out["id"] = article_id
    title = rec.get("title")
    if title is None:
        raise bad("title", "is required")
    if not isinstance(title, str):
        raise bad("title", f"must be a string, got {json_type_name(title)}")
    if not title.strip():
        raise bad("title", "must not be empty")
    if len(title) > MAX_TITLE_CHARS:
        raise bad("title", f"is {len(title)} characters long; at most {MAX_TITLE_CHARS}")
    body = rec.get("body")
    if body is not None:
        if not isinstance(body, str):
            raise bad("body", f"must be a string, got {json_type_name(body)}")
    published_at = rec.get("published_at")
    if published_at is not None and not isinstance(published_at, str):
        raise bad("published_at",
                  f"must be an ISO 8601 date string, got {json_type_name(published_at)}")
    tags = rec.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        raise bad("tags", "must be an array of strings")
    for name in _STRING_FIELDS:
        value = rec.get(name)
        if value is not None and not isinstance(value, str):
            raise bad(name, f"must be a string or null, got {json_type_name(value)}")
    url = rec.get("url")
    if url is not None and url.strip() and not is_safe_link(url.strip()):
        raise bad("url", f"must be an http(s) URL or a path on this site starting with one "
                         f"'/' (no backslash or whitespace), got {url[:200]!r}")
    return out


_SKIP_FIELDS = {"missing_id": "id", "empty": "title", "bad_date": "published_at"}
_SKIP_MESSAGES = {
    "missing_id": "is required",
    "empty": "is empty (and so is body) once HTML is removed",
    "bad_date": "cannot be parsed as a date (use ISO 8601, e.g. 2026-11-28T09:30:00Z)",
}


def parse_articles(records: Sequence[Any], *, batch: bool = False) -> pd.DataFrame:
    """Validate article dicts (e.g. JSON bodies) into the corpus table, or raise.

    Parameters
    ----------
    records : sequence of mapping
        Articles with at least ``id`` and ``title`` (``body``, ``url``, ``published_at``,
        ``section``, ``tags``, ``language``, ``status``, ``story_id`` optional).
    batch : bool, default=False
        Name fields ``articles[i].field`` in errors (the body of a batch request).

    Returns
    -------
    pandas.DataFrame
        Same columns as :func:`recommender.corpus.load.load_corpus`; nothing is skipped.

    Raises
    ------
    InvalidArticleError
        The first malformed article; ``field`` names the offending field.
    """
    if batch and len(records) > MAX_BATCH:
        raise InvalidArticleError("articles",
                                  f"has {len(records)} items; at most {MAX_BATCH} per batch")
    if not records:
        raise InvalidArticleError("articles", "is empty")
    checked = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        prefix = f"articles[{i}]." if batch else ""
        rec = _check_record(rec, prefix)
        if rec["id"] in seen:
            raise InvalidArticleError(f"{prefix}id", f"{rec['id']!r} is also articles"
                                      f"[{seen[rec['id']]}]; send each id once")
        seen[rec["id"]] = i
        checked.append(rec)
    try:
        frame, report = articles_from_records(checked, source="request")
    except CorpusError as exc:  # defensive: the checks above should make this unreachable
        raise InvalidArticleError("articles", str(exc)) from exc
    if report.bad_date_rows:  # a corpus keeps such an article undated; a live write is refused
        first = report.bad_date_rows[0]
        prefix = f"articles[{int(first['line']) - 1}]." if batch else ""
        raise InvalidArticleError(f"{prefix}published_at", _SKIP_MESSAGES["bad_date"])
    if report.skipped_rows:
        first = report.skipped_rows[0]
        index = int(first["line"]) - 1
        reason = first["reason"]
        name = _SKIP_FIELDS.get(reason, "article")
        prefix = f"articles[{index}]." if batch else ""
        if reason == "duplicate":
            raise InvalidArticleError(f"{prefix}id", f"{first['id']!r} appears more than once")
        raise InvalidArticleError(f"{prefix}{name}", _SKIP_MESSAGES.get(reason, reason))
    check_body_sizes(frame, batch=batch)
    return frame


def _record_json(row: Mapping[str, Any]) -> str:
    rec: dict[str, Any] = {}
    for name in STORED_FIELDS:
        value = row.get(name)
        if name == "published_at":
            value = _iso(value)
        elif name == "tags":
            value = [str(t) for t in (value if value is not None else [])]
        else:
            value = _none_if_missing(value)
            if value is pd.NA:
                value = None
        rec[name] = value
    return json.dumps(rec, ensure_ascii=False)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------- store
@dataclass(frozen=True, slots=True)
class LiveChange:
    """One row of the live table: a published article (``record``) or a tombstone."""

    id: str
    published: bool
    record: dict[str, Any] | None
    updated_at: str
    seq: int


class LiveStore:
    """Live articles in the state database (publish, unpublish, list, changes).

    Parameters
    ----------
    db : StateDB
        An initialised state database (the live table is created by ``db.init()``).
    """

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def publish(self, articles: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[str]:
        """Add or replace articles in one transaction; returns their ids.

        ``articles`` is a validated table (:func:`parse_articles`, :func:`load_corpus`) or
        raw dicts (validated here). All or nothing: on any error nothing is stored.
        """
        if not isinstance(articles, pd.DataFrame):
            articles = parse_articles(list(articles), batch=True)
        rows = [(row["id"], _record_json(row)) for row in articles.to_dict("records")]
        now = _now()
        with self.db.write() as conn:
            seq = _next_seq(conn)
            self._publish_rows(conn, rows, now, seq)
        logger.info("published %d live article(s) (state version %d)", len(rows), seq)
        return [article_id for article_id, _ in rows]

    def apply(self, publish: pd.DataFrame | None = None,
              unpublish: Iterable[str] = ()) -> tuple[list[str], int]:
        """Publish and unpublish in **one** transaction (a CMS batch): all or nothing.

        Returns the published ids and the number of ids whose state the unpublish changed.
        """
        rows = ([(row["id"], _record_json(row)) for row in publish.to_dict("records")]
                if publish is not None else [])
        gone = list(unpublish)
        now = _now()
        with self.db.write() as conn:
            seq = _next_seq(conn)
            self._publish_rows(conn, rows, now, seq)
            changed = self._unpublish_rows(conn, gone, now, seq)
        logger.info("published %d, unpublished %d live article(s) (state version %d)",
                    len(rows), changed, seq)
        return [article_id for article_id, _ in rows], changed

    @staticmethod
    def _publish_rows(conn: Any, rows: list[tuple[str, str]], now: str, seq: int) -> None:
        conn.executemany(
            "INSERT INTO live_articles (id, published, record, updated_at, seq) "
            "VALUES (?, 1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET published = 1, "
            "record = excluded.record, updated_at = excluded.updated_at, seq = excluded.seq",
            [(article_id, rec, now, seq) for article_id, rec in rows],
        )

    @staticmethod
    def _unpublish_rows(conn: Any, ids: list[str], now: str, seq: int) -> int:
        changed = 0
        for article_id in ids:
            cur = conn.execute(
                "INSERT INTO live_articles (id, published, record, updated_at, seq) "
                "VALUES (?, 0, NULL, ?, ?) ON CONFLICT(id) DO UPDATE SET published = 0, "
                "record = NULL, updated_at = excluded.updated_at, seq = excluded.seq "
                "WHERE live_articles.published = 1",
                (article_id, now, seq),
            )
            changed += cur.rowcount
        return changed

    def unpublish(self, article_ids: str | Iterable[str]) -> int:
        """Unpublish ids (live or corpus articles): they are never recommended again and
        queries for them fail. Returns the number of ids whose state changed."""
        ids = [article_ids] if isinstance(article_ids, str) else list(article_ids)
        now = _now()
        with self.db.write() as conn:
            seq = _next_seq(conn)
            changed = self._unpublish_rows(conn, ids, now, seq)
        logger.info("unpublished %d of %d id(s) (state version %d)", changed, len(ids), seq)
        return changed

    def get(self, article_id: str) -> LiveChange | None:
        """The stored row of an id (published or tombstone), or None."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT id, published, record, updated_at, seq FROM live_articles WHERE id = ?",
                (article_id,),
            ).fetchone()
        return _change(row) if row else None

    def changes(self, since: int = 0, limit: int | None = None) -> list[LiveChange]:
        """Rows changed after state version ``since`` (oldest first)."""
        sql = ("SELECT id, published, record, updated_at, seq FROM live_articles "
               "WHERE seq > ? ORDER BY seq, id")
        params: list[Any] = [since]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self.db.read() as conn:
            return [_change(r) for r in conn.execute(sql, params)]

    def counts(self) -> dict[str, int]:
        """``{"published": n, "unpublished": m}``."""
        with self.db.read() as conn:
            rows = dict(conn.execute(
                "SELECT published, count(*) FROM live_articles GROUP BY published"
            ).fetchall())
        return {"published": int(rows.get(1, 0)), "unpublished": int(rows.get(0, 0))}

    def published_frame(self) -> pd.DataFrame:
        """All published live articles as a corpus table (for ``train --include-live``)."""
        records = [c.record for c in self.changes(0) if c.published and c.record]
        if not records:
            return pd.DataFrame(columns=CORE_COLUMNS)
        frame, _ = articles_from_records(records, source="live articles")
        return frame

    def unpublished_ids(self) -> list[str]:
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT id FROM live_articles WHERE published = 0 ORDER BY id")]


def _next_seq(conn: Any) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'state_version'").fetchone()
    return int(row[0]) + 1 if row else 1


def _change(row: Any) -> LiveChange:
    return LiveChange(
        id=row[0], published=bool(row[1]),
        record=json.loads(row[2]) if row[2] else None, updated_at=row[3], seq=int(row[4]),
    )


def fold_into(articles: pd.DataFrame, store: LiveStore) -> tuple[pd.DataFrame, dict[str, int]]:
    """The training corpus with the live state applied (``alsosee train --include-live``).

    Live articles are added (replacing corpus rows with the same id); unpublished ids are
    dropped. Returns the new table and counts (``added``, ``replaced``, ``removed``).
    """
    live = store.published_frame()
    gone = set(store.unpublished_ids())
    ids = articles["id"].astype(str)
    live_ids = set(live["id"]) if len(live) else set()
    replaced = int(ids.isin(live_ids).sum())
    removed = int(ids.isin(gone).sum())
    kept = articles[~ids.isin(live_ids | gone)]
    merged = pd.concat([kept, live], ignore_index=True) if len(live) else kept.reset_index(
        drop=True)
    info = {"added": len(live) - replaced, "replaced": replaced, "removed": removed}
    logger.info("live state folded into the corpus: %s", info)
    return merged, info


# ------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class LiveSnapshot:
    """Immutable view of the live articles, vectorised for one model.

    A request grabs one snapshot (with one model) and uses it throughout.
    """

    model_version: str
    state_version: int
    ids: tuple[str, ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    matrix: sp.csr_matrix | None = None
    #: ``matrix.T`` as CSR (term -> live rows): a query reads only its own terms' postings.
    index: sp.csr_matrix | None = None
    candidate: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    tombstones: frozenset[str] = frozenset()
    hidden_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_of: dict[str, int] = field(default_factory=dict)
    #: ``published_at`` of each row as int64 ns since the epoch (NaT: the int64 minimum).
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: :func:`~recommender.urls.canonical_url` of each row's URL (``None`` without one).
    url_keys: tuple[str | None, ...] = ()
    #: Each row's tags (an object array of lists).
    tags: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    #: Shared by the snapshots that differ only in ``state_version`` (a write elsewhere).
    rows_token: object = field(default_factory=object)

    @property
    def n_live(self) -> int:
        return len(self.ids)

    def same_rows(self, other: object) -> bool:
        """Whether ``other`` has the very rows of this snapshot (caches built on one serve
        the other)."""
        return getattr(other, "rows_token", None) is self.rows_token

    def is_unpublished(self, article_id: str) -> bool:
        return article_id in self.tombstones

    def has(self, article_id: str) -> bool:
        return article_id in self.row_of

    def article(self, article_id: str) -> dict[str, Any]:
        rec = dict(self.records[self.row_of[article_id]])
        return {k: rec.get(k) for k in ("id", "title", "url", "published_at", "section",
                                         "tags", "language", "status")}

    def scores(self, query: sp.csr_matrix | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Cosine of a query (a 1 x d row, or its ``(indices, data)``) with every live row.

        Reads only the postings of the query's terms in :attr:`index` and sums them with one
        ``bincount``: no scipy product (whose argument checks alone cost milliseconds on a
        vocabulary of 600k terms).
        """
        if self.index is None or self.n_live == 0:
            return np.zeros(0, dtype=np.float32)
        if isinstance(query, tuple):
            terms, weights = query
        else:
            query = query.tocsr()
            terms, weights = query.indices, query.data
        indptr = self.index.indptr
        starts, ends = indptr[terms], indptr[terms + 1]
        lengths = ends - starts
        if not lengths.sum():
            return np.zeros(self.n_live, dtype=np.float32)
        # Positions of every posting of the query's terms, and the query weight of each.
        positions = np.repeat(ends - lengths.cumsum(), lengths) + np.arange(lengths.sum())
        rows = self.index.indices[positions]
        values = self.index.data[positions] * np.repeat(weights, lengths)
        return np.bincount(rows, weights=values, minlength=self.n_live).astype(np.float32)


class LiveIndex:
    """Per-process cache turning the live table into :class:`LiveSnapshot` objects for one
    model.

    ``snapshot(state_version)`` is cheap when nothing changed (one comparison); after a write
    it reads and vectorises only the rows changed since the last refresh and derives the new
    snapshot from the previous one: unchanged rows are carried over as array slices (their
    vectors, dates and canonical URLs are not recomputed), changed ones are dropped and
    appended. A new model gets a new ``LiveIndex`` (the service builds it, vectorising every
    live article, before the new model starts serving). Thread-safe.

    Parameters
    ----------
    store : LiveStore
        Where the live articles are.
    model : RelatedStories
        The fitted model whose vocabulary vectorises them.
    model_version : str
        Its version (recorded in every snapshot).
    """

    def __init__(self, store: LiveStore, model: RelatedStories, model_version: str) -> None:
        self.store = store
        self.model = model
        self.model_version = model_version
        self._lock = threading.Lock()
        self._tombstones: set[str] = set()
        #: Corpus rows the live state replaces or unpublishes, by id.
        self._hidden: dict[str, int] = {}
        self._seq = -1
        self._snapshot: LiveSnapshot | None = None
        self.last_refresh_seconds = 0.0

    def snapshot(self, state_version: int | None = None) -> LiveSnapshot:
        """The live articles as of ``state_version`` (or newer); ``None`` reads it."""
        snap = self._snapshot
        if snap is not None and state_version is not None and snap.state_version == state_version:
            return snap
        with self._lock:
            snap = self._snapshot
            if (snap is not None and state_version is not None
                    and snap.state_version >= state_version):
                return snap
            return self._refresh()

    def _refresh(self) -> LiveSnapshot:
        start = time.perf_counter()
        with self.store.db.read() as conn:
            state_version = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'state_version'").fetchone()[0])
            rows = conn.execute(
                "SELECT id, published, record, updated_at, seq FROM live_articles "
                "WHERE seq > ? ORDER BY seq", (self._seq,)).fetchall()
        latest = {c.id: c for c in map(_change, rows)}  # the last change of each id
        row_of = self.model.row_of_
        for article_id, c in latest.items():
            self._tombstones.discard(article_id)
            self._hidden.pop(article_id, None)
            if not c.published:
                self._tombstones.add(article_id)
            if (not c.published or c.record) and article_id in row_of:
                self._hidden[article_id] = int(row_of[article_id])
        prev = self._snapshot
        if prev is None or latest:
            snap = self._derive(prev, latest, state_version)
        else:
            snap = replace(prev, state_version=state_version)
        self._seq = max(self._seq, state_version)
        self._snapshot = snap
        self.last_refresh_seconds = time.perf_counter() - start
        if latest:
            logger.info("live articles: %d change(s) applied in %.1f ms (%d live, %d unpublished)",
                        len(rows), 1000 * self.last_refresh_seconds, snap.n_live,
                        len(self._tombstones))
        return snap

    def _derive(self, prev: LiveSnapshot | None, latest: Mapping[str, LiveChange],
                state_version: int) -> LiveSnapshot:
        """``prev`` without the changed ids, then the changed ids still published appended."""
        added = [c.record for c in latest.values() if c.published and c.record]
        n_prev = prev.n_live if prev is not None else 0
        dropped = ([prev.row_of[i] for i in latest if i in prev.row_of]
                   if prev is not None else [])
        keep = np.ones(n_prev, dtype=bool)
        keep[dropped] = False
        kept = np.flatnonzero(keep)

        def carry(values: Sequence[Any]) -> list[Any]:
            return list(values) if not dropped else [values[i] for i in kept.tolist()]

        ids = carry(prev.ids if prev is not None else ()) + [r["id"] for r in added]
        records = carry(prev.records if prev is not None else ()) + added
        url_keys = carry(prev.url_keys if prev is not None else ()) + [
            canonical_url(r.get("url")) for r in added]
        blocks = []
        if prev is not None and prev.matrix is not None and kept.size:
            blocks.append(prev.matrix if not dropped else prev.matrix[kept])
        new_ts = np.zeros(0, dtype=np.int64)
        new_candidate = np.zeros(0, dtype=bool)
        if added:
            blocks.append(sp.csr_matrix(self.model.transform(pd.DataFrame(added)),
                                        dtype=np.float32))
            new_ts = np.asarray(pd.to_datetime([r.get("published_at") for r in added],
                                               utc=True, errors="coerce").asi8)
            new_candidate = np.array([str(r.get("status") or "").lower() in PUBLISHED_STATUSES
                                      for r in added], dtype=bool)
        matrix = (blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
                  ) if blocks else None
        old_ts = prev.timestamps[kept] if prev is not None else np.zeros(0, dtype=np.int64)
        old_candidate = prev.candidate[kept] if prev is not None else np.zeros(0, dtype=bool)
        old_tags = prev.tags[kept] if prev is not None else np.empty(0, dtype=object)
        new_tags = np.empty(len(added), dtype=object)
        for i, r in enumerate(added):
            new_tags[i] = list(r.get("tags") or [])
        if prev is not None and not dropped:
            row_of = dict(prev.row_of)
            row_of.update((article_id, n_prev + i) for i, article_id in
                          enumerate(ids[n_prev:]))
        else:
            row_of = {article_id: row for row, article_id in enumerate(ids)}
        return LiveSnapshot(
            model_version=self.model_version, state_version=state_version, ids=tuple(ids),
            records=tuple(records), matrix=matrix,
            index=matrix.T.tocsr() if matrix is not None else None,
            candidate=np.concatenate([old_candidate, new_candidate]),
            tombstones=frozenset(self._tombstones),
            hidden_rows=np.array(sorted(self._hidden.values()), dtype=np.int64),
            row_of=row_of, timestamps=np.concatenate([old_ts, new_ts]),
            url_keys=tuple(url_keys), tags=np.concatenate([old_tags, new_tags]),
        )
