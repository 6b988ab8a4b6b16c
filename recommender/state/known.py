"""What a model and the live state know: the articles an id or a URL names.

One matching behind every editorial check. The engine builds a :class:`KnownArticles` from
its loaded model and a live snapshot (the rows a takedown hides, the ids a pin or a block may
name); the CLI's ``takedown``, ``pin`` and ``block`` build the same object from the model's
verified id and URL tables and the state database (:func:`open_known`) without unpickling
the model, so they never import scikit-learn.

Rows are numbered as in the engine: the corpus ``[0, n)``, then the live articles
``[n, n + L)``. A live article replaces the corpus article with its id; an unpublished id
(a tombstone) hides it from lists, pins and blocks, but a takedown of that id still names
the corpus row (it keeps the article hidden if it is published again).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ArtifactError, UnknownArticleError, UnusableValueError
from ..urls import canonical_url, url_key, url_matches
from .editorial import Editorial, PinList, Takedown, key_kind

if TYPE_CHECKING:
    from .db import StateDB

logger = logging.getLogger(__name__)


class LiveArticles(Protocol):
    """What the checks read of the live articles (a :class:`~recommender.state.live.LiveSnapshot`
    or a :class:`LiveIds`)."""

    @property
    def row_of(self) -> Mapping[str, int]: ...  # live id -> live row

    @property
    def tombstones(self) -> Container[str]: ...  # unpublished ids

    @property
    def url_keys(self) -> Sequence[str | None]: ...  # canonical URL of each live row


@dataclass(frozen=True)
class LiveIds:
    """The live articles' ids, canonical URLs and tombstones, read from the state database
    (:func:`read_live`) without vectorising anything."""

    row_of: dict[str, int] = field(default_factory=dict)
    tombstones: frozenset[str] = frozenset()
    url_keys: tuple[str | None, ...] = ()


def corpus_url_rows(urls: Iterable[Any]) -> dict[str, list[int]]:
    """Canonical URL (:func:`~recommender.urls.canonical_url`) -> the corpus rows with it."""
    out: dict[str, list[int]] = {}
    for row, url in enumerate(urls):
        key = canonical_url(url)
        if key:
            out.setdefault(key, []).append(row)
    return out


def with_live_urls(url_rows: Mapping[str, list[int]], live_url_keys: Sequence[str | None],
                   n_corpus: int) -> Mapping[str, list[int]]:
    """``url_rows`` plus the live rows (``n_corpus + i``) by their canonical URLs; the
    corpus' lists are never appended to (the corpus index is shared)."""
    if not any(live_url_keys):
        return url_rows
    out = dict(url_rows)
    for i, key in enumerate(live_url_keys):
        if key:
            out[key] = [*out.get(key, ()), n_corpus + i]
    return out


class KnownArticles:
    """The articles of one model's corpus and one state of the live articles, by id and
    by canonical URL.

    Parameters
    ----------
    corpus_rows : mapping
        Article id -> corpus row (the model's ``row_of_``).
    n_corpus : int
        Corpus rows (live rows follow them).
    url_rows : mapping or None
        Canonical URL -> rows, corpus and live (:func:`corpus_url_rows`,
        :func:`with_live_urls`); None when only ids are checked (a URL then raises).
    live : LiveArticles, optional
        The live articles (none: the corpus alone).
    """

    def __init__(self, corpus_rows: Mapping[str, int], n_corpus: int,
                 url_rows: Mapping[str, Sequence[int]] | None,
                 live: LiveArticles | None = None) -> None:
        self.corpus_rows, self.n_corpus = corpus_rows, n_corpus
        self._url_rows, self.live = url_rows, live

    @property
    def url_rows(self) -> Mapping[str, Sequence[int]]:
        if self._url_rows is None:
            raise ValueError("these known articles were read without their URLs")
        return self._url_rows

    def row_of(self, article_id: str) -> int | None:
        """The row showing ``article_id`` (its live version first), or None when the id is
        unknown or unpublished. (Every corpus row the live state hides is replaced by a live
        version or unpublished: these two cases cover it.)"""
        live = self.live
        if live is not None:
            row = live.row_of.get(article_id)
            if row is not None:
                return self.n_corpus + row
            if article_id in live.tombstones:
                return None
        return self.corpus_rows.get(article_id)

    def takedown_rows(self, key: str, kind: str | None = None) -> list[int]:
        """The rows a takedown of ``key`` (an id or a URL, ``kind`` as stored) hides: every
        row with that canonical URL, or an id's corpus row and its live version."""
        if (kind or key_kind(key)) == "url":
            return list(url_matches(self.url_rows, key) or [])
        rows = {self.corpus_rows.get(key), self.row_of(key)} - {None}
        return sorted(r for r in rows if r is not None)

    def takedown_matches(self, key: str) -> int:
        """How many articles (corpus and live rows) a takedown of ``key`` hides now."""
        return len(self.takedown_rows(key))

    def takedown_key(self, key: Any, force: bool = False) -> Any:
        """The key a takedown of ``key`` is stored under: a URL as the address it matched
        (``?ref=x`` dropped when that is what matched). Raises :class:`UnknownArticleError`
        when it hides nothing, unless ``force``. Non-strings are left to
        :meth:`Editorial.takedown` to refuse."""
        if not isinstance(key, str):
            return key
        if not force and not self.takedown_matches(key):
            raise UnknownArticleError(key)
        if key_kind(key) == "url":
            return url_key(self.url_rows, key) or key
        return key

    def check_known(self, article_id: str, field: str | None = None) -> None:
        """Raise unless ``article_id`` names a published article (``field``: the request
        field it came from, for a 422 rather than a 404)."""
        if self.row_of(article_id) is None:
            if field is None:
                raise UnknownArticleError(article_id)
            raise UnusableValueError(field, f"unknown article id {article_id!r}")

    def check_ids(self, article_id: str, ids: Any) -> None:
        """``article_id`` and each of ``ids`` (pins, blocks) must be known; the article
        itself among ``ids``, and non-strings, are left to :class:`Editorial` to refuse."""
        self.check_known(article_id)
        if isinstance(ids, (list, tuple)):
            for other in ids:
                if isinstance(other, str) and other != article_id:
                    self.check_known(other, "ids")


class CheckedEditorial:
    """Editorial changes whose ids and URLs are checked against :class:`KnownArticles`
    first (what :class:`~recommender.engine.recommender.Recommender`'s editorial methods do)."""

    def __init__(self, editorial: Editorial, known: KnownArticles,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.editorial, self.known, self._clock = editorial, known, clock

    def takedown(self, key: str, reason: str, by: str | None = None,
                 force: bool = False) -> Takedown:
        """Take down an article id or URL (unknown ones only with ``force``)."""
        return self.editorial.takedown(self.known.takedown_key(key, force), reason, by=by)

    def takedown_matches(self, key: str) -> int:
        return self.known.takedown_matches(key)

    def pin(self, article_id: str, ids: Sequence[str], expires_at: dt.datetime | str | None = None,
            by: str | None = None) -> PinList:
        """Pin ``ids`` (known articles, not the article itself) first in its list."""
        self.known.check_ids(article_id, ids)
        now = self._clock() if self._clock is not None else None
        return self.editorial.pin(article_id, ids, expires_at=expires_at, by=by, now=now)

    def block(self, article_id: str, ids: Sequence[str], by: str | None = None,
              replace: bool = False) -> list[str]:
        self.known.check_ids(article_id, ids)
        return self.editorial.block(article_id, ids, by=by, replace=replace)


# ------------------------------------------------------ read without the model
def read_live(db: StateDB) -> LiveIds:
    """The live articles as :class:`~recommender.state.live.LiveIndex` numbers them for a new
    model (published ones in the order of their last change), without their vectors."""
    with db.read() as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'live_articles'").fetchone() is None:
            return LiveIds()  # nothing was ever published here
        rows = conn.execute(
            "SELECT id, published, json_extract(record, '$.id'), "
            "json_extract(record, '$.url') FROM live_articles ORDER BY seq").fetchall()
    row_of: dict[str, int] = {}
    url_keys: list[str | None] = []
    tombstones = set()
    for article_id, published, record_id, url in rows:
        if not published:
            tombstones.add(article_id)
        elif record_id is not None:
            row_of[str(record_id)] = len(url_keys)
            url_keys.append(canonical_url(url))
    return LiveIds(row_of=row_of, tombstones=frozenset(tombstones), url_keys=tuple(url_keys))


def _table_files(urls: bool) -> Callable[[dict[str, Any]], list[str]]:
    from ..string_tables import table_files

    def pick(manifest: dict[str, Any]) -> list[str]:
        spec = manifest.get("tables") or {}
        if "row_of" not in spec or (urls and spec.get("meta", {}).get("url") != "strings"):
            raise ArtifactError(f"model {manifest.get('version')} has no id or URL table "
                                "(retrain it)")
        names = table_files("row_index", spec["row_of"])
        if urls:
            names += table_files("strings", "meta.url")
            if "meta.url.valid.npy" in manifest.get("files", {}):
                names.append("meta.url.valid.npy")
        return names

    return pick


def open_known(model_dir: str | Path, db: StateDB, *, urls: bool = True,
               key: bytes | str | None = None) -> KnownArticles:
    """The articles a model directory (a models root or a version) and the live state know,
    read from the model's id table (and URL column, unless ``urls`` is false) after
    verifying them as :func:`recommender.model.artifact.load` would (manifest, HMAC when
    ``ALSOSEE_ARTIFACT_KEY`` or ``key`` is set, the SHA-256 of each file read)."""
    from ..model import artifact
    from ..string_tables import RowIndex, StringColumn

    with artifact.open_verified(model_dir, _table_files(urls), key=key) as files:
        spec = files.manifest["tables"]
        try:
            rows = RowIndex.open(files.view, spec["row_of"])
            url_column = StringColumn.open(files.view, "meta.url",
                                           allowed=set(files.manifest["files"])) \
                if urls else None
        except (OSError, ValueError, RuntimeError) as exc:  # marisa: RuntimeError
            raise ArtifactError(f"{files.path}: id tables could not be opened: {exc}") from exc
        n_corpus = files.manifest.get("articles")
        if len(rows) != n_corpus or (url_column is not None and len(url_column) != n_corpus):
            raise ArtifactError(f"{files.path}: id tables disagree with the manifest's "
                                f"{n_corpus} articles")
    live = read_live(db)
    url_rows = None if url_column is None else with_live_urls(
        corpus_url_rows(url_column), live.url_keys, n_corpus)
    return KnownArticles(rows, n_corpus, url_rows, live)
