"""A small hand-made newsroom corpus exercising every ranking rule (used by several tests)."""

from __future__ import annotations

import pandas as pd

FLOOD = ("Heavy monsoon rain flooded the river delta, displacing thousands of rice farmers "
         "whose fields and villages were submerged; relief agencies sent boats and food.")


def article(id_, title, body, published, section="World", language="en", tags=(),
            status="published", story_id=None, url=None):
    return {"id": id_, "title": title, "body": body, "published_at": published,
            "section": section, "language": language, "tags": list(tags), "status": status,
            "story_id": story_id, "url": url or f"https://news.example/{id_}"}


ARTICLES = [
    article("q", "River delta floods displace rice farmers", FLOOD, "2020-06-01T08:00:00Z",
            tags=["floods", "farming"]),
    # The same story re-published (an update with the same text).
    article("copy", "River delta floods displace rice farmers", FLOOD,
            "2020-06-01T12:00:00Z", tags=["floods", "farming"]),
    # Similar but five years old, and a fresh one a bit less similar.
    article("stale", "River delta floods displace farmers",
            "Monsoon rain flooded the river delta and displaced rice farmers from their "
            "villages; relief boats brought food.", "2015-05-20T08:00:00Z", tags=["floods"]),
    article("fresh", "Delta farmers count flood losses",
            "After the monsoon flooded the river delta, rice farmers count the losses in "
            "their fields.", "2020-05-30T08:00:00Z", tags=["floods", "farming"]),
    # Two wire copies of one relief story (near-duplicates of each other), a day apart.
    article("wire-old", "Relief boats reach flooded delta villages",
            "Relief agencies sent boats with food and medicine to flooded villages of the "
            "river delta where farmers were stranded by the monsoon.", "2020-05-28T08:00:00Z",
            tags=["floods"]),
    article("wire-new", "Relief boats reach flooded delta villages",
            "Relief agencies sent boats with food and medicine to flooded villages of the "
            "river delta where farmers were stranded by the monsoon rain.",
            "2020-05-29T08:00:00Z", tags=["floods"]),
    # Other sections / languages / statuses.
    article("sport", "Flooded stadium: delta football final moved",
            "The river delta football final was moved after monsoon rain flooded the "
            "stadium; farmers' teams will play next week.", "2020-05-31T08:00:00Z",
            section="Sport", tags=["football"]),
    article("fr", "Inondations dans le delta du fleuve",
            "La mousson a inondé le delta; les riziculteurs rice farmers river delta floods.",
            "2020-05-31T09:00:00Z", language="fr", tags=["floods"]),
    article("draft", "River delta flood draft", FLOOD + " Draft notes.",
            "2020-05-31T10:00:00Z", status="draft", tags=["floods"]),
    article("same-story", "Live: delta flood updates",
            "Live updates as monsoon rain floods the river delta villages.",
            "2020-06-01T09:00:00Z", story_id="delta-flood-2020", tags=["floods"]),
    article("q-story", "Delta flood: what we know",
            "What we know about the river delta monsoon floods and displaced farmers.",
            "2020-06-01T10:00:00Z", story_id="delta-flood-2020"),
    # Unrelated filler so document frequencies look like a newsroom's.
    article("chess", "Chess final ends in a draw", "The chess world final ended in a draw "
            "after six hours of play.", "2020-05-15T08:00:00Z", section="Culture"),
    article("budget", "Parliament passes the budget", "The parliament passed the annual "
            "budget after a long debate on taxes.", "2020-05-10T08:00:00Z",
            section="Politics"),
    article("concert", "Orchestra returns to the concert hall", "The city orchestra played "
            "its first concert of the season to a full hall.", "2020-05-20T08:00:00Z",
            section="Culture"),
    article("latest-world", "Elections announced in the north", "The government announced "
            "elections for the northern provinces next spring.", "2020-06-02T08:00:00Z"),
    article("tech", "New phone sales rise", "Sales of new phones rose in the spring quarter "
            "as prices fell.", "2020-04-01T08:00:00Z", section="Business"),
]


def frame(articles=ARTICLES) -> pd.DataFrame:
    return pd.DataFrame(articles)
