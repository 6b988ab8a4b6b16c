"""Reading a WordPress export (WXR): the published posts, with their categories and tags.

The reader sits in the corpus layer, below training, which reads exports through
:func:`~recommender.corpus.load.load_corpus`; the WordPress sync (:mod:`recommender.sync`,
above the state layer) talks to the REST API instead and does not read exports.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

from lxml import etree

from ..errors import CorpusError
from .files import Records, read_bytes
from .report import CorpusReport


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def read_wxr(
    path: Path, id_prefix: str, report: CorpusReport
) -> tuple[Records, int, dict[str, str | None]]:
    """Read published posts of a WordPress export; returns (records, items read, channel info)."""
    data = read_bytes(path)
    channel: dict[str, str | None] = {"language": None}
    records: Records = []
    n_items = 0
    try:
        context = etree.iterparse(
            io.BytesIO(data),
            events=("end",),
            tag=("item", "{*}language"),
            resolve_entities=False,
            no_network=True,
        )
        for _, el in context:
            name = _local(el.tag)
            parent = el.getparent()
            if name == "language":
                if parent is not None and _local(parent.tag) == "channel" and el.text:
                    channel["language"] = el.text.strip().lower()
                continue
            n_items += 1
            fields: dict[str, str] = {}
            categories: list[str] = []
            sections: list[str] = []
            for child in el:
                cname = _local(child.tag)
                if cname == "category":
                    term = html.unescape((child.text or "").strip())
                    if term and child.get("domain") in ("category", "post_tag"):
                        if term not in categories:
                            categories.append(term)
                        if child.get("domain") == "category":
                            sections.append(term)
                    continue
                if cname == "encoded":
                    ns = etree.QName(child.tag).namespace or ""
                    cname = "excerpt" if "excerpt" in ns else "content"
                fields.setdefault(cname, child.text or "")
            el.clear()
            if parent is not None:  # free memory of processed items
                while el.getprevious() is not None:
                    del parent[0]
            post_id = (fields.get("post_id") or "").strip()
            rid = f"{id_prefix}{post_id}" if post_id else None
            post_type = (fields.get("post_type") or "post").strip().lower()
            status = (fields.get("status") or "").strip().lower()
            if post_type != "post":
                report.skip(str(path), n_items, rid, "not_a_post")
                continue
            if status != "publish":
                report.skip(str(path), n_items, rid, "unpublished")
                continue
            date = fields.get("post_date_gmt") or ""
            if not date.strip() or date.startswith("0000-00-00"):
                date = fields.get("pubDate") or ""
            records.append(
                (
                    n_items,
                    {
                        "id": rid,
                        "title": fields.get("title") or fields.get("post_name") or "",
                        "body": fields.get("content") or "",
                        "url": fields.get("link") or None,
                        "published_at": date,
                        "section": sections[0] if sections else None,
                        "tags": categories,
                        "language": channel["language"],
                        "status": "published",
                        "author": (fields.get("creator") or "").strip() or None,
                    },
                )
            )
    except etree.XMLSyntaxError as e:
        line, col = e.position if e.position else (e.lineno, 0)
        raise CorpusError(f"{path}: malformed XML at line {line}, column {col}: {e.msg}") from e
    if n_items == 0:
        raise CorpusError(f"{path}: no <item> elements; is this a WordPress (WXR) export?")
    return records, n_items, channel
