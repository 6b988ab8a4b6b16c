"""Honest development sets built from the shared evaluation data.

Each set is an archive (a DataFrame in the corpus schema) and a ground truth judged on its own
queries. None of them keeps a field that holds the answer, and some add *hostile* metadata of the
kind real archives carry (a wire-source tag on every story, random sections), so that a model
reading metadata is tested on whether it can ignore what does not help:

``ecb-notitle``
    ECB+ as published in the data folder: no titles, bodies only; related = the same event
    (``qrels_same_event.json``; stories of the same topic but the other event are the hard
    negatives).
``ecb-title``
    ECB+ with ``title_guess`` (the first line, the headline of most ``ecbplus`` documents) as the
    title and the rest of the text as the body.
``ecb-wire``
    ``ecb-title`` plus a hostile tag: every story gets one of three wire-source tags
    (``source:AP``, ``source:Reuters``, ``source:AFP``) at random, each tag on a third of the
    archive, as in real wire archives.
``reuters``
    Reuters-21578 ModApte train + test stories with a body of at least 20 words; ``tags`` and
    ``section`` emptied (they are the topic labels the ground truth is made of).
``reuters-wire``
    ``reuters`` plus a constant ``source:Reuters`` tag and a random section (from eight wire
    desks) on every story.
``gv``
    Global Voices May 2012 special coverage, the "This post is part of our special coverage X"
    line removed from every body (it names the judged collection); tags and sections kept (they
    are the site's own categories, not the collections).
``gv-links``
    The same Global Voices archive judged by its authors' in-body links to other posts of the
    set (``qrels_inbody_links.json``: what an editor chose to link from a story).
``mixed``
    All of ``ecb-title``, ``reuters`` and ``gv`` in one archive, each judged on its own queries
    (ids are unique across the sets), so each set's stories compete with the others'.

Only ids present in a set are judged; every set is deterministic (seeded). A story whose
title and body are identical (after whitespace and case folding) to the query's is a copy of the
article itself (Reuters re-sent some wires word for word), which a related list must never show:
it is not judged relevant to that query, for the baseline and alsosee alike. Lists are judged by
story (:attr:`DevSet.story_of`): identical copies of one story count once, and a second copy
in a list is a wasted slot.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DevSet", "SET_NAMES", "default_data_dir", "dev_sets", "load_dev_set"]

logger = logging.getLogger(__name__)

SET_NAMES = ("ecb-notitle", "ecb-title", "ecb-wire", "reuters", "reuters-wire", "gv", "gv-links",
             "mixed")
#: Each set's source: cross-validation holds out a whole source at a time ("all": the mixed
#: archive, never used to choose a setting).
SET_SOURCE = {"ecb-notitle": "ecb", "ecb-title": "ecb", "ecb-wire": "ecb", "reuters": "reuters",
              "reuters-wire": "reuters", "gv": "gv", "gv-links": "gv", "mixed": "all"}


def source_folds(sets: Iterable[str]) -> Iterator[tuple[str, list[str], list[str]]]:
    """Leave-one-source-out folds over ``sets``: ``(source, held-out sets, sets to choose
    on)``, the held-out source's sets against the other sources' (the mixed archive is in
    neither); a source without sets, or without others to choose on, gives no fold."""
    sets = list(sets)
    for source in ("ecb", "reuters", "gv"):
        held = [n for n in sets if SET_SOURCE[n] == source]
        train = [n for n in sets if SET_SOURCE[n] not in (source, "all")]
        if held and train:
            yield source, held, train

#: The boilerplate line of Global Voices special coverage posts (names the judged collection).
_GV_COVERAGE = re.compile(r"^.*\bpart of (?:our|the) special coverage\b.*$\n?", re.I | re.M)
_WIRE_SOURCES = ("source:AP", "source:Reuters", "source:AFP")
_WIRE_DESKS = ("World", "Business", "Markets", "Politics", "Commodities", "Energy", "Economy",
               "Top News")
_COLUMNS = ["id", "title", "body", "url", "published_at", "section", "tags"]


@dataclass
class DevSet:
    """One development set: its archive, its ground truth and where it came from.

    Attributes
    ----------
    name : str
        One of :data:`SET_NAMES`.
    articles : pandas.DataFrame
        Columns ``id, title, body, url, published_at, section, tags`` (corpus schema).
    qrels : dict
        Query id -> {related id: grade > 0}; only ids of ``articles``.
    description : str
        How the set was built, one line.
    """

    name: str
    articles: pd.DataFrame
    qrels: dict[str, dict[str, float]]
    description: str

    @property
    def story_of(self) -> dict[str, str]:
        """Article id -> its story: the id of the first article with the same text
        (whitespace and case folded), so identical copies share one story."""
        cached = self.__dict__.get("_story_of")
        if cached is None:
            first: dict[str, str] = {}
            cached = {i: first.setdefault(key, i) for i, key in _copy_keys(self.articles).items()}
            self.__dict__["_story_of"] = cached
        return cached

    @property
    def dated(self) -> bool:
        """Whether most stories carry a publication date (recency can act)."""
        return bool(self.articles["published_at"].notna().mean() > 0.5)


def default_data_dir() -> Path:
    """``ALSOSEE_EVAL_DATA``, else ``../shared/data`` beside the checkout (where the
    evaluation data lives)."""
    if os.environ.get("ALSOSEE_EVAL_DATA"):
        return Path(os.environ["ALSOSEE_EVAL_DATA"])
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in _COLUMNS:
        if col not in df:
            df[col] = None
    df["tags"] = [list(t) if isinstance(t, list) else [] for t in df["tags"]]
    df["published_at"] = pd.to_datetime(df["published_at"], utc=True, errors="coerce")
    return df[_COLUMNS].reset_index(drop=True)


def _copy_keys(df: pd.DataFrame) -> dict[str, str]:
    """Article id -> its text with whitespace and case folded (identical texts: copies)."""
    text = df["title"].fillna("").astype(str) + "\n" + df["body"].fillna("").astype(str)
    return dict(zip(df["id"], (" ".join(t.lower().split()) for t in text), strict=True))


def _graded(raw: Mapping[str, Any], df: pd.DataFrame) -> dict[str, dict[str, float]]:
    ids = set(df["id"])
    copy = _copy_keys(df)
    out: dict[str, dict[str, float]] = {}
    for q, rel in raw.items():
        if q not in ids:
            continue
        pairs = rel.items() if isinstance(rel, Mapping) else ((r, 1) for r in rel)
        kept = {r: float(g) for r, g in pairs
                if r in ids and r != q and float(g) > 0 and copy[r] != copy[q]}
        if kept:
            out[q] = kept
    return out


def _ecb(data: Path, titles: bool) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    rows = []
    for rec in _jsonl(data / "ecbplus" / "articles.jsonl"):
        body = rec.get("body") or ""
        title = None
        if titles:
            first, _, rest = body.partition("\n")
            title, body = (rec.get("title_guess") or first).strip(), rest
        rows.append({"id": rec["id"], "title": title, "body": body, "url": rec.get("url")})
    df = _frame(rows)
    raw = json.loads((data / "ecbplus" / "qrels_same_event.json").read_text())
    return df, _graded(raw, df)


def _reuters(data: Path) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    rows = []
    for rec in _jsonl(data / "reuters21578" / "articles.jsonl.gz"):
        body = rec.get("body") or ""
        if rec.get("modapte_split") not in ("train", "test") or len(body.split()) < 20:
            continue
        # tags and section are the topic labels, i.e. the ground truth: never given
        rows.append({"id": rec["id"], "title": rec.get("title"), "body": body,
                     "published_at": rec.get("published_at")})
    df = _frame(rows)
    raw = json.loads((data / "reuters21578" / "qrels_same_topic_set_modapte_test.json").read_text())
    return df, _graded(raw, df)


def _gv(data: Path, truth: str = "qrels_special_coverage.json"
        ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    rows = []
    for rec in _jsonl(data / "globalvoices-2012-05" / "articles.jsonl"):
        rows.append({"id": rec["id"], "title": rec.get("title"),
                     "body": _GV_COVERAGE.sub("", rec.get("body") or ""),
                     "url": rec.get("url"), "published_at": rec.get("published_at"),
                     "section": rec.get("section"), "tags": rec.get("tags") or []})
    df = _frame(rows)
    raw = json.loads((data / "globalvoices-2012-05" / truth).read_text())
    return df, _graded(raw, df)


def _with_wire(df: pd.DataFrame, seed: int, constant: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = df.copy()
    if constant:
        df["tags"] = [list(t) + ["source:Reuters"] for t in df["tags"]]
        df["section"] = rng.choice(_WIRE_DESKS, size=len(df))
    else:
        df["tags"] = [list(t) + [str(s)] for t, s in
                      zip(df["tags"], rng.choice(_WIRE_SOURCES, size=len(df)), strict=True)]
    return df


def load_dev_set(name: str, data: str | Path | None = None) -> DevSet:
    """Build one development set from the shared data folder.

    Parameters
    ----------
    name : str
        One of :data:`SET_NAMES`.
    data : path, optional
        The folder holding ``ecbplus/``, ``reuters21578/`` and ``globalvoices-2012-05/``
        (default: :func:`default_data_dir`).

    Raises
    ------
    FileNotFoundError
        When a source file of the set is missing (callers skip the set).
    ValueError
        For an unknown name.
    """
    data = Path(data) if data is not None else default_data_dir()
    if name == "ecb-notitle":
        df, q = _ecb(data, titles=False)
        return DevSet(name, df, q, "ECB+ bodies only, same-event ground truth")
    if name == "ecb-title":
        df, q = _ecb(data, titles=True)
        return DevSet(name, df, q, "ECB+ with title_guess as title, the rest as body")
    if name == "ecb-wire":
        df, q = _ecb(data, titles=True)
        return DevSet(name, _with_wire(df, 7, constant=False), q,
                      "ecb-title + one random wire-source tag per story (each on 1/3)")
    if name == "reuters":
        df, q = _reuters(data)
        return DevSet(name, df, q, "Reuters ModApte, body >= 20 words, tags/section emptied")
    if name == "reuters-wire":
        df, q = _reuters(data)
        return DevSet(name, _with_wire(df, 11, constant=True), q,
                      "reuters + constant source:Reuters tag + random section")
    if name == "gv":
        df, q = _gv(data)
        return DevSet(name, df, q, "Global Voices special coverage, coverage line stripped")
    if name == "gv-links":
        df, q = _gv(data, "qrels_inbody_links.json")
        return DevSet(name, df, q, "Global Voices, in-body links between posts of the set")
    if name == "mixed":
        parts = [load_dev_set(n, data) for n in ("ecb-title", "reuters", "gv")]
        df = pd.concat([p.articles for p in parts], ignore_index=True)
        qrels: dict[str, dict[str, float]] = {}
        for p in parts:
            qrels.update(p.qrels)
        return DevSet(name, df, qrels, "ecb-title + reuters + gv in one archive")
    raise ValueError(f"unknown development set {name!r}; known: {', '.join(SET_NAMES)}")


def dev_sets(names: tuple[str, ...] | list[str] = SET_NAMES,
             data: str | Path | None = None) -> Iterator[DevSet]:
    """The named sets whose source files exist (a missing one is logged and skipped)."""
    for name in names:
        try:
            yield load_dev_set(name, data)
        except FileNotFoundError as exc:
            logger.warning("development set %s skipped: %s", name, exc)
