"""Ground truth ("qrels"): which articles an editor considers related to which.

Accepted files:

* JSON ``{"query_id": ["related_id", ...]}`` (every grade 1);
* JSON ``{"query_id": {"related_id": grade, ...}}`` (graded; grade 0 means judged not relevant);
* CSV/TSV ``source_id,related_id[,grade]`` pairs, with or without a header line.

Ids that are not in the corpus are counted and reported, then skipped; a query left without any
relevant article is skipped and counted too. An empty or malformed file is a
:class:`QrelsError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AlsoseeError

__all__ = ["Qrels", "QrelsError", "QrelsReport", "load_qrels", "qrels_from_mapping"]

logger = logging.getLogger(__name__)

#: At most this many unknown ids are listed in a report (the counts stay exact).
MAX_LISTED = 50


class QrelsError(AlsoseeError, ValueError):
    """A ground-truth file cannot be read or has the wrong shape."""


@dataclass
class QrelsReport:
    """What loading a ground-truth file kept and skipped.

    Attributes
    ----------
    source : str
        File name (or ``"<mapping>"``).
    queries_read, pairs_read : int
        Queries and (query, related) pairs in the file.
    unknown_queries : int
        Query ids not in the corpus (their pairs are skipped).
    unknown_related : int
        Related ids not in the corpus (those pairs are skipped).
    self_pairs : int
        Pairs naming the query itself (skipped: a list never shows its own article).
    empty_queries : int
        Queries left with no relevant article (grade > 0) after the skips.
    unknown_ids : list of str
        The first :data:`MAX_LISTED` unknown ids, for the report.
    """

    source: str = "<mapping>"
    queries_read: int = 0
    pairs_read: int = 0
    unknown_queries: int = 0
    unknown_related: int = 0
    self_pairs: int = 0
    empty_queries: int = 0
    unknown_ids: list[str] = field(default_factory=list)

    def _unknown(self, id_: str) -> None:
        if len(self.unknown_ids) < MAX_LISTED and id_ not in self.unknown_ids:
            self.unknown_ids.append(id_)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line for the terminal."""
        line = (f"{self.source}: {self.queries_read} queries, {self.pairs_read} pairs read; "
                f"skipped {self.unknown_queries} unknown query ids, {self.unknown_related} "
                f"unknown related ids, {self.self_pairs} self-pairs, {self.empty_queries} "
                "queries left without a relevant article")
        if self.unknown_ids:
            line += f" (unknown ids e.g. {', '.join(self.unknown_ids[:5])})"
        return line


@dataclass
class Qrels:
    """Graded relevance judgements: ``judgements[query][article] = grade``.

    Grades are numbers; ``> 0`` means relevant (used by P@k, recall, MAP, MRR, hit rate) and
    the grade itself is the gain of nDCG.
    """

    judgements: dict[str, dict[str, float]]
    report: QrelsReport = field(default_factory=QrelsReport)

    @property
    def queries(self) -> list[str]:
        """Query ids with at least one relevant article, in file order."""
        return [q for q, rel in self.judgements.items() if any(g > 0 for g in rel.values())]

    def relevant(self, query: str) -> dict[str, float]:
        """Relevant articles (grade > 0) of one query."""
        return {d: g for d, g in self.judgements.get(query, {}).items() if g > 0}

    def subset(self, queries: Iterable[str]) -> Qrels:
        """The judgements of some queries only (same report)."""
        return Qrels({q: self.judgements[q] for q in queries if q in self.judgements},
                     self.report)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {q: dict(rel) for q, rel in self.judgements.items()}

    def __len__(self) -> int:
        return len(self.queries)


def _grade(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QrelsError(f"{where}: grade must be a number, got {value!r}")
    try:
        grade = float(value)
    except ValueError:
        raise QrelsError(f"{where}: grade must be a number, got {value!r}") from None
    if grade != grade or grade < 0 or grade in (float("inf"),):
        raise QrelsError(f"{where}: grade must be a finite number >= 0, got {value!r}")
    return grade


def _json_line_of(text: str, key: str) -> int:
    """1-based line where ``"key"`` first appears in a JSON text (for error messages)."""
    pos = text.find(json.dumps(key))
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def _parse_json(text: str, source: str) -> list[tuple[str, str, float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise QrelsError(f"{source}: malformed JSON at line {e.lineno}, column {e.colno}: "
                         f"{e.msg}") from e
    if not isinstance(data, dict):
        raise QrelsError(f"{source}: line 1: expected a JSON object mapping query ids to "
                         f"related ids, got a {type(data).__name__}")
    if not data:
        raise QrelsError(f"{source}: the JSON object is empty: no judgements")
    pairs: list[tuple[str, str, float]] = []
    for query, related in data.items():
        where = f"{source}: line {_json_line_of(text, query)}: query {query!r}"
        if isinstance(related, list):
            for item in related:
                if not isinstance(item, (str, int)) or isinstance(item, bool):
                    raise QrelsError(f"{where}: related ids must be strings, got {item!r}")
                pairs.append((str(query), str(item), 1.0))
        elif isinstance(related, dict):
            for item, grade in related.items():
                pairs.append((str(query), str(item), _grade(grade, f"{where}, id {item!r}")))
        else:
            raise QrelsError(f"{where}: expected a list of ids or an object id -> grade, got "
                             f"{type(related).__name__}")
    return pairs


def _parse_csv(text: str, source: str) -> list[tuple[str, str, float]]:
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    pairs: list[tuple[str, str, float]] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for row in reader:
        lineno = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) not in (2, 3):
            raise QrelsError(f"{source}: line {lineno}: expected source_id{delimiter}related_id"
                             f"[{delimiter}grade], got {len(cells)} fields: {row!r}")
        if not pairs and lineno == 1 and cells[0].lower() in {"source_id", "source", "query",
                                                               "query_id", "id"}:
            continue  # header line
        if not cells[0] or not cells[1]:
            raise QrelsError(f"{source}: line {lineno}: empty id in {row!r}")
        grade = _grade(cells[2], f"{source}: line {lineno}") if len(cells) == 3 else 1.0
        pairs.append((cells[0], cells[1], grade))
    if not pairs:
        raise QrelsError(f"{source}: no judgements (only a header, comments or blank lines)")
    return pairs


def _build(pairs: Iterable[tuple[str, str, float]], known_ids: Collection[str] | None,
           report: QrelsReport) -> Qrels:
    judgements: dict[str, dict[str, float]] = {}
    queries_seen: dict[str, None] = {}  # ordered: queries keep their file order
    unknown_q: set[str] = set()
    for query, doc, grade in pairs:
        report.pairs_read += 1
        if query not in queries_seen:
            queries_seen[query] = None
            report.queries_read += 1
        if known_ids is not None and query not in known_ids:
            if query not in unknown_q:
                unknown_q.add(query)
                report.unknown_queries += 1
                report._unknown(query)
            continue
        if doc == query:
            report.self_pairs += 1
            continue
        if known_ids is not None and doc not in known_ids:
            report.unknown_related += 1
            report._unknown(doc)
            continue
        rel = judgements.setdefault(query, {})
        rel[doc] = max(grade, rel.get(doc, 0.0))
    kept = {}
    for query in [q for q in queries_seen if q not in unknown_q]:
        rel = judgements.get(query, {})
        if any(g > 0 for g in rel.values()):
            kept[query] = rel
        else:
            report.empty_queries += 1
    if report.unknown_queries or report.unknown_related:
        logger.warning("%s", report.summary())
    return Qrels(kept, report)


def qrels_from_mapping(data: Mapping[str, Any], known_ids: Collection[str] | None = None,
                       source: str = "<mapping>") -> Qrels:
    """Build :class:`Qrels` from an in-memory mapping (same shapes as the JSON file)."""
    pairs = _parse_json(json.dumps(data), source)
    return _build(pairs, known_ids, QrelsReport(source=source))


def load_qrels(path: str | Path, known_ids: Collection[str] | None = None) -> Qrels:
    """Read a ground-truth file.

    Parameters
    ----------
    path : str or Path
        ``.json`` (list or graded mapping) or ``.csv``/``.tsv``/``.txt`` pairs. Files whose
        first non-blank character is ``{`` are read as JSON whatever their name.
    known_ids : collection of str, optional
        Ids of the corpus; ids outside it are counted in the report and skipped.

    Returns
    -------
    Qrels
        Judgements of the queries that keep at least one relevant article, with a
        :class:`QrelsReport`.

    Raises
    ------
    QrelsError
        Missing, unreadable, empty, non-UTF-8 or malformed file (the message names the line).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.json"
    >>> _ = p.write_text(json.dumps({"a": ["b", "zz"]}))
    >>> q = load_qrels(p, known_ids={"a", "b"})
    >>> q.relevant("a"), q.report.unknown_related
    ({'b': 1.0}, 1)
    """
    p = Path(path)
    if not p.is_file():
        raise QrelsError(f"{p}: no such file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise QrelsError(f"{p}: cannot read the file ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise QrelsError(f"{p}: not valid UTF-8 at line {line}") from e
    if not text.strip():
        raise QrelsError(f"{p}: file is empty")
    is_json = p.suffix.lower() == ".json" or text.lstrip().startswith(("{", "["))
    pairs = _parse_json(text, str(p)) if is_json else _parse_csv(text, str(p))
    return _build(pairs, known_ids, QrelsReport(source=str(p)))
