"""Derived benchmark corpora: real news text, recombined within a topic, at any size.

Reuters-21578 holds about 19k stories with a body; a newsroom archive holds 100k to
millions. :func:`derive_corpus` scales the real text up by sampling and recombining real
paragraphs *within one topic*: every derived article takes the headline of a real story of
that topic and 2-8 real paragraphs from stories of the same topic. Vocabulary, paragraph
lengths and topical clustering therefore stay those of real newswire; the articles are not
real stories, and every output that uses them says so (``derived: true``).

The derived files are written outside the repository (a cache directory): the Reuters
licence allows research use only, and nothing derived from it may be shipped.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Where derived corpora and benchmark models go unless told otherwise (never the repo).
DEFAULT_CACHE = Path(os.environ.get("ALSOSEE_BENCH_CACHE", "~/.cache/alsosee-bench")).expanduser()

_EPOCH_1987 = np.datetime64("1987-02-26T00:00:00", "s").astype(np.int64)
_SPAN_SECONDS = 236 * 86400  # Feb 26 .. Oct 20 1987, the span of the source


def read_source(path: str | Path) -> pd.DataFrame:
    """Read the Reuters JSONL(.gz) source: id, title, body, section (first topic), tags."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            body = rec.get("body") or ""
            if len(body.split()) < 20 or not rec.get("section"):
                continue
            rows.append({"id": rec["id"], "title": rec.get("title") or "", "body": body,
                         "section": rec["section"], "tags": rec.get("tags") or []})
    if not rows:
        raise ValueError(f"{path}: no stories with a topic and a body of >= 20 words")
    return pd.DataFrame(rows)


def _paragraphs(body: str) -> list[str]:
    # Reuters paragraphs start on a line indented by one space; lines inside are wrapped.
    paras = [" ".join(p.split()) for p in body.replace("\r", "").split("\n ")]
    return [p for p in paras if len(p.split()) >= 5]


def derive_corpus(source: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """Build ``n`` articles by recombining real paragraphs of ``source`` within a topic.

    Parameters
    ----------
    source : DataFrame
        Real stories (``title``, ``body``, ``section``, ``tags``) as :func:`read_source` gives.
    n : int
        Number of articles to derive.
    seed : int
        Random seed: the same inputs give the same corpus.

    Returns
    -------
    DataFrame
        ``id`` (``derived-<i>``), ``title``, ``body``, ``published_at`` (UTC, 1987),
        ``section`` (the topic), ``tags`` (the topic tags of the headline's story).
    """
    rng = np.random.default_rng(seed)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, topic in enumerate(source["section"]):
        by_topic[topic].append(i)
    topics = sorted(by_topic)
    pools = []
    for topic in topics:
        pool = [p for i in by_topic[topic] for p in _paragraphs(source["body"].iat[i])]
        pools.append(pool)
    weights = np.array([len(by_topic[t]) for t in topics], dtype=float)
    weights /= weights.sum()
    topic_of = rng.choice(len(topics), size=n, p=weights)
    n_paras = rng.integers(2, 9, size=n)
    stamps = _EPOCH_1987 + rng.integers(0, _SPAN_SECONDS, size=n)
    titles = source["title"].to_numpy(dtype=object)
    tags = source["tags"].to_numpy(dtype=object)
    members = [np.asarray(by_topic[t]) for t in topics]
    out_title, out_body, out_tags = [], [], []
    for i in range(n):
        t = topic_of[i]
        head = members[t][rng.integers(len(members[t]))]
        pool = pools[t]
        picks = rng.integers(len(pool), size=n_paras[i])
        out_title.append(titles[head])
        out_body.append("\n\n".join(pool[j] for j in picks))
        out_tags.append(list(tags[head]))
    return pd.DataFrame({
        "id": [f"derived-{i}" for i in range(n)],
        "title": out_title,
        "body": out_body,
        "published_at": pd.to_datetime(stamps, unit="s", utc=True),
        "section": [topics[t] for t in topic_of],
        "tags": out_tags,
    })


def cached_corpus(source_path: str | Path, n: int, cache: str | Path = DEFAULT_CACHE,
                  *, seed: int = 0) -> tuple[pd.DataFrame, Path]:
    """The derived corpus of ``n`` articles, built once and kept as Parquet in ``cache``."""
    cache = Path(cache)
    if _inside_repo(cache):
        raise ValueError(f"{cache}: derived corpora must not be written inside the repository")
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"derived-reuters-{n}-seed{seed}.parquet"
    if path.is_file():
        return pd.read_parquet(path), path
    logger.info("deriving a %d-article corpus into %s", n, path)
    df = derive_corpus(read_source(source_path), n, seed=seed)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return df, path


def _inside_repo(path: Path) -> bool:
    repo = Path(__file__).resolve().parents[2]
    try:
        path.resolve().relative_to(repo)
    except ValueError:
        return False
    return True


def describe(df: pd.DataFrame) -> dict[str, Any]:
    words = df["body"].str.count(" ") + 1
    return {"articles": len(df), "topics": int(df["section"].nunique()),
            "median_body_words": float(words.median()), "derived": True}
