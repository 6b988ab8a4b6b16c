"""The canonical form of article URLs (takedowns, oEmbed look-ups): variants of one address
share it, different pages do not, and the fast path agrees with url_normalize."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.urls import _canonical, canonical_url, url_matches

STORED = "http://globalvoicesonline.org/2012/05/01/colombia-journalist-kidnapped/"


@pytest.mark.parametrize("variant", [
    "https://globalvoicesonline.org/2012/05/01/colombia-journalist-kidnapped/",
    "http://www.globalvoicesonline.org/2012/05/01/colombia-journalist-kidnapped/",
    "http://GlobalVoicesOnline.ORG/2012/05/01/colombia-journalist-kidnapped/",
    "http://globalvoicesonline.org//2012/05//01/colombia-journalist-kidnapped",
    "http://globalvoicesonline.org/2012/05/01/colombia-journalist-kidnapped/?utm_source=x",
    "HTTP://globalvoicesonline.org:80/2012/05/01/./colombia-journalist-kidnapped#comments",
    "  http://globalvoicesonline.org/2012/05/01/colombia-journalist-%6bidnapped/  ",
])
def test_variants_of_one_address_share_the_canonical_form(variant: str) -> None:
    assert canonical_url(variant) == canonical_url(STORED)
    assert canonical_url(STORED) == (
        "https://globalvoicesonline.org/2012/05/01/colombia-journalist-kidnapped")


def test_different_pages_stay_apart() -> None:
    assert canonical_url("https://news.example/?p=41") != canonical_url(
        "https://news.example/?p=42")
    assert canonical_url("https://news.example/a/B") != canonical_url("https://news.example/a/b")
    assert canonical_url("https://news.example/a") != canonical_url("https://other.example/a")
    assert canonical_url("/news/a/") == "/news/a"
    assert canonical_url("") is None and canonical_url(None) is None


def test_a_query_the_index_does_not_know_falls_back_to_the_address() -> None:
    index = {canonical_url(STORED): "gv-1", canonical_url("https://news.example/?p=41"): "wp-41"}
    assert url_matches(index, STORED.rstrip("/") + "?ref=newsletter") == "gv-1"
    assert url_matches(index, "https://news.example/?p=41&utm_medium=social") == "wp-41"
    # At a site's root the query is the page: ?p=42 is not ?p=41.
    assert url_matches(index, "https://news.example/?p=42") is None


_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_segment = st.from_regex(r"[A-Za-z0-9._~,-]{1,12}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), www=st.booleans(),
       labels=st.lists(_label, min_size=1, max_size=3),
       segments=st.lists(_segment, max_size=5), slash=st.booleans())
def test_the_fast_path_agrees_with_url_normalize(scheme: str, www: bool, labels: list[str],
                                                 segments: list[str], slash: bool) -> None:
    url = (f"{scheme}://{'www.' if www else ''}{'.'.join(labels)}/" + "/".join(segments)
           + ("/" if slash and segments else ""))
    assert canonical_url(url) == _canonical(url)
