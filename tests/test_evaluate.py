"""Evaluation and tuning: metrics, ground truth, boilerplate, mining, comparisons, report, CLI."""

from __future__ import annotations

import functools
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import ROOT, SAMPLE, SAMPLE_WXR, SHARED_DATA
from PIL import Image

from recommender.cli import cli
from recommender.corpus.load import load_corpus
from recommender.errors import InvalidParameterError
from recommender.evaluation import (
    FunctionSystem,
    ModelSystem,
    RandomSystem,
    average_precision,
    evaluate,
    evaluate_systems,
    hit_at_k,
    load_qrels,
    ndcg_at_k,
    precision_at_k,
    qrels_from_mapping,
    recall_at_k,
    reciprocal_rank,
    split_queries,
)
from recommender.evaluation.compare import build_systems, expand_grid, load_grid, parse_set
from recommender.evaluation.mining import mine_links, normalize_title
from recommender.evaluation.qrels import QrelsError
from recommender.evaluation.report import write_report
from recommender.evaluation.systems import ranking_option_defaults
from recommender.model.estimator import RelatedStories
from recommender.text.boilerplate import (
    boilerplate_config,
    find_blocks,
    load_boilerplate_config,
    strip_boilerplate,
)
from recommender.text.plain import extract_links


# ------------------------------------------------------------------ metrics (hand-computed)
def test_precision_recall_hit_on_a_hand_computed_list():
    ranked = ["a", "x", "b", "y", "c"]
    rel = {"a": 1, "b": 1, "c": 1, "d": 1}
    assert precision_at_k(ranked, rel, 1) == 1.0
    assert precision_at_k(ranked, rel, 2) == 0.5
    assert precision_at_k(ranked, rel, 5) == 3 / 5
    assert precision_at_k(["a"], rel, 5) == 1 / 5  # short lists still divide by k
    assert recall_at_k(ranked, rel, 3) == 2 / 4
    assert hit_at_k(["x", "y"], rel, 2) == 0.0
    assert hit_at_k(["x", "b"], rel, 2) == 1.0


def test_ndcg_uses_grades_as_gains():
    graded = {"a": 2, "b": 1, "z": 0}
    # ranking b, a: DCG = 1/log2(2) + 2/log2(3); ideal a, b: 2 + 1/log2(3)
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], graded, 2) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], graded, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["z", "x"], graded, 2) == 0.0
    # the ideal is cut at k: one relevant item at rank 1 is perfect at k=1
    assert ndcg_at_k(["a"], graded, 1) == pytest.approx(1.0)


def test_average_precision_and_reciprocal_rank():
    rel = {"a": 1, "b": 1, "c": 1}
    assert average_precision(["a", "x", "b"], rel) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision(["x", "y"], rel) == 0.0
    assert reciprocal_rank(["x", "y", "b"], rel) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], rel) == 0.0


# ------------------------------------------------------------------------ ground truth
def test_qrels_json_list_graded_and_csv(tmp_path: Path):
    known = {"a", "b", "c", "d"}
    p = tmp_path / "q.json"
    p.write_text(json.dumps({"a": ["b", "c"], "b": ["a"]}))
    q = load_qrels(p, known)
    assert q.queries == ["a", "b"] and q.relevant("a") == {"b": 1.0, "c": 1.0}

    p = tmp_path / "graded.json"
    p.write_text(json.dumps({"a": {"b": 2, "c": 1, "d": 0}}))
    q = load_qrels(p, known)
    assert q.judgements["a"] == {"b": 2.0, "c": 1.0, "d": 0.0}
    assert q.relevant("a") == {"b": 2.0, "c": 1.0}

    p = tmp_path / "pairs.csv"
    p.write_text("source_id,related_id,grade\na,b,2\na,c,1\nc,d,1\n")
    q = load_qrels(p, known)
    assert q.queries == ["a", "c"] and q.relevant("a") == {"b": 2.0, "c": 1.0}

    p = tmp_path / "pairs_noheader.tsv"
    p.write_text("a\tb\nd\tc\n")
    assert load_qrels(p, known).queries == ["a", "d"]


def test_qrels_unknown_ids_are_counted_and_skipped(tmp_path: Path):
    p = tmp_path / "q.json"
    p.write_text(json.dumps({"a": ["b", "ghost"], "nobody": ["a"], "c": ["ghost2"], "d": ["d"]}))
    q = load_qrels(p, known_ids={"a", "b", "c", "d"})
    r = q.report
    assert q.queries == ["a"]
    assert (r.queries_read, r.pairs_read) == (4, 5)
    assert (r.unknown_queries, r.unknown_related, r.self_pairs) == (1, 2, 1)
    assert r.empty_queries == 2  # c (only an unknown id) and d (only itself)
    assert {"ghost", "ghost2", "nobody"} <= set(r.unknown_ids)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.json", "", "empty"),
        ("blank.csv", "\n  \n", "empty"),
        ("bad.json", '{\n "a": ["b",\n}', "line 3"),
        ("list.json", '["a", "b"]', "expected a JSON object"),
        ("emptyobj.json", "{}", "no judgements"),
        ("badtype.json", '{\n "a": 5\n}', "line 2"),
        ("badgrade.json", '{"a": {"b": "high"}}', "grade must be a number"),
        ("bad.csv", "a,b\nc,d,1,9\n", "line 2"),
        ("badgrade.csv", "a,b,1\nc,d,x\n", "line 2"),
        ("header.csv", "source_id,related_id\n", "no judgements"),
    ],
)
def test_qrels_bad_files_give_a_clear_error(tmp_path: Path, name: str, content: str,
                                            message: str):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(QrelsError, match=message) as info:
        load_qrels(p)
    assert str(p) in str(info.value)


def test_qrels_missing_and_non_utf8(tmp_path: Path):
    with pytest.raises(QrelsError, match="no such file"):
        load_qrels(tmp_path / "nope.json")
    p = tmp_path / "latin1.csv"
    p.write_bytes("a,b\nc,d\né,f\n".encode("latin-1"))
    with pytest.raises(QrelsError, match="line 3"):
        load_qrels(p)


# ---------------------------------------------------------------------- boilerplate
BODY_WITH_BLOCK = (
    "The council approved the budget on Monday after a long debate.\n\n"
    "ALSO SEE:\n\n"
    "- Floods hit the northern valley\n\n"
    "- Mayor resigns over budget row\n\n"
    "The next vote is planned for June, when the council meets again to discuss the plan "
    "and the many amendments that several members of the opposition have promised.\n\n"
    "Read more: Chess club wins the regional final | Bakery closes after 90 years\n\n"
    "This post is part of our special coverage Budget 2012."
)


def test_find_blocks_standalone_inline_and_stock_lines():
    blocks = find_blocks(BODY_WITH_BLOCK)
    assert [b.marker for b in blocks] == ["ALSO SEE", "Read more", ""]
    assert blocks[0].headlines == ("Floods hit the northern valley",
                                   "Mayor resigns over budget row")
    assert blocks[1].headlines == ("Chess club wins the regional final",
                                   "Bakery closes after 90 years")


def test_strip_boilerplate_keeps_the_story():
    text, n = strip_boilerplate(BODY_WITH_BLOCK)
    assert n == 3
    assert "approved the budget" in text and "next vote is planned" in text
    for gone in ("ALSO SEE", "Floods hit", "Read more", "Chess club", "special coverage"):
        assert gone not in text
    assert strip_boilerplate("Related to the vote, the mayor spoke.") == (
        "Related to the vote, the mayor spoke.", 0)  # no colon: a sentence, not a block


def _strip_line_by_line(text: str, config=None) -> tuple[str, int]:
    """strip_boilerplate without its whole-body scan (the line-by-line search only)."""
    blocks = find_blocks(text, config)
    if not blocks:
        return text, 0
    lines = [ln.strip() for ln in re.split(r"\n+", text) if ln.strip()]
    drop = {i for b in blocks for i in range(b.start, b.end)}
    return "\n\n".join(ln for i, ln in enumerate(lines) if i not in drop), len(blocks)


@pytest.mark.parametrize("config", [None, {"extra_line_patterns": ["sponsored by .*"],
                                           "extra_block_markers": ["more from the desk"]}])
def test_whole_body_scan_never_hides_a_block(sample_articles, config):
    """The scan that lets most bodies skip the line-by-line search finds every body that
    has a block: the same result as the search alone, on the sample and on bodies made to
    sit at its edges (indented and padded lines, CRLF, markers inside sentences)."""
    crafted = [BODY_WITH_BLOCK, "Intro.\n\n   ALSO SEE:  \n\nHeadline one\n\nHeadline two",
               "Text\r\n\r\nRead more: a | b\r\n", "x\n\t This post is part of our special "
               "coverage Europe.  \n", "We also see: nothing here.", "ALSO SEE:", "\n\nRelated:\n",
               "A sentence. Related: inline, not at a line start", "Story\n  Sponsored by ACME  ",
               "Story\n\nMORE FROM THE DESK:\n\nA b c", "Our special coverage: x\u2028y",
               "line\u2028Read more: z", "Read more :\tspaced colon"]
    bodies = crafted + sample_articles["body"].fillna("").tolist()
    found = 0
    for body in bodies:
        expected = _strip_line_by_line(body, config)
        assert strip_boilerplate(body, config) == expected, body
        found += expected[1] > 0
    assert found >= 8
    # Patterns whose look-arounds or anchors could see past a line's end turn the scan off.
    for pattern in ("end(?!\\s)", "sponsored$", "x\\Z"):
        cfg = boilerplate_config({"extra_line_patterns": [pattern]})
        assert cfg.may_hold_blocks("nothing to see")
    text = "Story.\n\nSponsored  \n"
    assert strip_boilerplate(text, {"extra_line_patterns": ["sponsored$"]}) == ("Story.", 1)


def test_boilerplate_config_is_validated_and_extendable(tmp_path: Path):
    with pytest.raises(InvalidParameterError, match="unknown key 'markers'"):
        boilerplate_config({"markers": ["x"]})
    with pytest.raises(InvalidParameterError, match="invalid regular expression"):
        boilerplate_config({"extra_line_patterns": ["(unclosed"]})
    cfg = tmp_path / "newsroom.toml"
    cfg.write_text('[boilerplate]\nextra_line_patterns = ["sponsored by .*"]\n'
                   'block_markers = ["more from the desk"]\n')
    patterns = load_boilerplate_config(cfg)
    text, n = strip_boilerplate("Story.\n\nSponsored by ACME.\n\nMore from the desk:\n\nA b c",
                                patterns)
    assert (text, n) == ("Story.", 2)
    # the replaced marker list no longer knows "ALSO SEE"
    assert strip_boilerplate("Story.\n\nALSO SEE: X", patterns)[1] == 0


def test_model_strips_shared_link_blocks_before_training():
    block = "\n\nALSO SEE:\n\nGovernment announces new tax on fuel\n\nStrike closes the port"
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "title": ["Orchestra tours Japan", "Volcano erupts near village",
                  "Government announces new tax on fuel", "Strike closes the port"],
        "body": ["The orchestra played six concerts." + block,
                 "Lava reached the fields overnight." + block,
                 "The tax on fuel rises in May.", "Dock workers stopped work at the port."],
    })
    raw = RelatedStories(max_df=1.0, strip_boilerplate=False).fit(df)
    clean = RelatedStories(max_df=1.0).fit(df)
    assert clean.boilerplate_removed_ == 2 and raw.boilerplate_removed_ == 0
    raw_scores = {r.id: r.score for r in raw.related("a", k=3)}
    clean_scores = {r.id: r.score for r in clean.related("a", k=3)}
    assert raw_scores.get("b", 0) > 0.1  # the shared block made them look related
    assert clean_scores.get("b", 0) == 0.0
    # drafts are cleaned the same way
    draft = clean.related_to_text("Concert", "Music." + block, k=3)
    assert all(r.id not in ("c", "d") for r in draft)


# ----------------------------------------------------------------------------- mining
def test_extract_links_resolves_relative_urls_and_skips_captions():
    body = ('<p>See <a href="/2012/05/01/a/">a</a>, <a href="mailto:x@y">mail</a>, '
            '<a href="https://other.org/x">x</a></p>'
            '<div class="wp-caption"><a href="/photo/">credit</a></div>')
    assert extract_links(body, "http://news.example/2012/05/02/b/") == [
        "http://news.example/2012/05/01/a/", "https://other.org/x"]
    assert extract_links("plain text http://a.example/x/. end") == ["http://a.example/x/"]


def test_mine_links_on_the_bundled_wordpress_export():
    articles, _ = load_corpus(SAMPLE_WXR, id_prefix="gv-", keep_links=True)
    mined, report = mine_links(articles)
    # independent check: the sample's gv_links field lists links to other GV posts
    sample = pd.read_json(SAMPLE, lines=True)
    id_of = {u.rstrip("/"): i for i, u in zip(sample["id"], sample["url"], strict=True)}
    expected = {(r.id, id_of[u.rstrip("/")]) for r in sample.itertuples() for u in r.gv_links
                if u.rstrip("/") in id_of and id_of[u.rstrip("/")] != r.id}
    got = {(s, t) for s, ts in mined.items() for t in ts}
    assert got == expected and len(got) == 41
    assert report.resolved_links >= 41 and report.unresolved_links > 0
    assert all("globalvoicesonline.org" in u["url"] for u in report.unresolved)
    if (SHARED_DATA / "globalvoices-2012-05").is_dir():
        truth = json.loads((SHARED_DATA / "globalvoices-2012-05" /
                            "qrels_inbody_links.json").read_text())
        assert got == {(s, t) for s, ts in truth.items() for t in ts}


def test_mine_links_matches_headline_blocks_tolerantly():
    df = pd.DataFrame({
        "id": ["s", "t1", "t2", "t3", "dup-old", "dup-new"],
        "title": ["Source story", "Floods hit the northern valley",
                  "Mayor resigns over budget row", "Chess Club Wins the Regional Final",
                  "Weekly briefing", "Weekly briefing"],
        "body": [("Text.\n\nALSO SEE:\n\nFLOODS HIT THE NORTHERN VALLEY!\n\n"
                  "Mayor resigns over the budget row\n\n"
                  "A headline nobody wrote\n\nWeekly briefing\n\n"
                  "Read more: chess club wins the regional final (May 3)"),
                 "x", "y", "z", "w", "v"],
        "published_at": pd.to_datetime(["2012-05-10", "2012-05-01", "2012-05-02",
                                        "2012-05-03", "2012-05-04", "2012-05-20"], utc=True),
    })
    mined, report = mine_links(df)
    assert mined == {"s": ["t1", "t2", "dup-old", "t3"]}
    assert (report.blocks, report.block_lines) == (2, 5)
    assert (report.matched_lines, report.unmatched_lines, report.ambiguous_lines) == (4, 1, 1)
    assert report.unmatched == [{"source": "s", "line": "A headline nobody wrote"}]


def test_normalize_title():
    assert normalize_title("  Côte d’Ivoire:  PEACE — at last?! ") == "cote d ivoire peace at last"


# ---------------------------------------------------------------- evaluate (library)
@pytest.fixture(scope="module")
def tiny():
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "f"],
        "title": ["flood city rain", "city flood rain damage", "chess final",
                  "chess final opening", "flood city rain", "garden show"],
        "body": ["", "", "", "", "", ""],
        "section": ["news", "news", "sport", "sport", "news", "life"],
        "published_at": pd.to_datetime(["2012-01-01", "2012-01-03", "2012-01-01",
                                        "2012-01-11", "2012-01-02", "2012-01-05"], utc=True),
    })
    model = RelatedStories(max_df=1.0, ngram_range=(1, 1)).fit(df)
    truth = qrels_from_mapping({"a": ["b", "e"], "c": ["d"], "f": ["a"]},
                               known_ids=set(model.ids_))
    return model, truth


def test_evaluate_model_and_baselines(tiny):
    model, truth = tiny
    result = evaluate(model, truth, ks=[1, 2])
    names = [s.name for s in result.systems]
    assert names == ["defaults", "plain-cosine", "latest-in-section", "random"]
    d = result.system("defaults").metrics
    # The ranking engine: e (identical to a: a re-publication) is the same story as a and is
    # not shown, so a -> b; c -> d; f shares no term: empty list
    assert d["P@1"] == pytest.approx(2 / 3)
    assert d["P@2"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert d["MRR"] == pytest.approx(2 / 3)
    assert d["coverage@2"] == pytest.approx(0.0)  # a and c get one link, f none
    assert d["takedown_leaks"] == 0
    # a's top 1 (b): 2 days; c's top 1 (d): 10 days
    assert d["age_gap_median_days@2"] == pytest.approx(6.0)
    plain = result.system("plain-cosine").metrics
    # plain cosine: a -> e (identical title) then b: both relevant
    assert plain["P@2"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert plain["age_gap_median_days@2"] == pytest.approx(2.0)
    # e is a's near-duplicate (identical text) and b is close: pair (e, b) cosine > 0.8?
    assert 0 <= d["near_duplicate_rate@2"] <= 1
    assert result.skipped["articles_without_truth"] == 3
    latest = result.system("latest-in-section").lists
    assert latest["a"] == ["e", "b"]  # news as of 2012-01-01: e (01-02) and b (01-03) after
    assert latest["c"] == ["d"]
    table = result.table()
    assert "[random]" in table and "nDCG@2" in table
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["systems"][1]["metrics"]["P@1"] == pytest.approx(2 / 3)


def test_near_duplicates_and_takedown_leaks_are_counted(tiny):
    model, truth = tiny
    # a function that always lists the twin pair (a, e) and a taken-down id
    fn = FunctionSystem(lambda q, k: [x for x in ["a", "e", "f"] if x != q][:k], name="fn")
    result = evaluate_systems([fn], truth, model, ks=[2], takedowns={"f"})
    m = result.system("fn").metrics
    assert m["takedown_leaks"] == 2  # listed for c and f's... c's list holds f; a's holds f
    # c's list (a, e) is a near-duplicate pair; a's list (e, f) and f's (a, e) too for f
    assert m["near_duplicate_rate@2"] == pytest.approx(2 / 3)


needs_engine = pytest.mark.skipif(not ranking_option_defaults(),
                                  reason="this build has no ranking engine")


@needs_engine
def test_engine_defaults_honour_takedowns_and_leaks_are_counted(tiny, tmp_path: Path):
    from recommender.state.db import StateDB

    Editorial = pytest.importorskip("recommender.state.editorial").Editorial
    model, truth = tiny
    db = StateDB(tmp_path / "state.db").init()
    Editorial(db).takedown("b", reason="legal")
    result = evaluate(model, truth, ks=[1, 2], db=db)
    defaults, plain = result.system("defaults"), result.system("plain-cosine")
    assert defaults.metrics["takedown_leaks"] == 0
    assert not any("b" in ids for ids in defaults.lists.values())
    assert plain.metrics["takedown_leaks"] >= 1  # plain cosine knows nothing of takedowns


@needs_engine
def test_ranking_options_are_compared_without_refitting(sample_model):
    systems = build_systems(sample_model, expand_grid(parse_set(["half_life=7,none"])))
    assert [s.name for s in systems] == ["defaults", "half_life=7", "half_life=none"]
    assert all(s.model is sample_model for s in systems)
    with pytest.raises(InvalidParameterError, match="half_life"):
        build_systems(sample_model, [{"half_life": -3}])


def test_k_larger_than_the_corpus_is_a_clear_error(tiny):
    model, truth = tiny
    with pytest.raises(InvalidParameterError, match="larger than the corpus"):
        evaluate(model, truth, ks=[10])
    with pytest.raises(InvalidParameterError, match="between 1 and 100"):
        evaluate(model, truth, ks=[500])


def test_unknown_grid_name_lists_the_valid_ones(tiny):
    model, _ = tiny
    with pytest.raises(InvalidParameterError) as info:
        build_systems(model, [{"title_wieght": 2}])
    assert "title_wieght" in str(info.value) and "title_weight" in str(info.value)
    assert "max_df" in str(info.value)


def test_refitting_needs_the_same_corpus(tiny, sample_articles):
    model, _ = tiny
    with pytest.raises(InvalidParameterError, match="--corpus"):
        build_systems(model, [{"title_weight": 2.0}])
    with pytest.raises(InvalidParameterError, match="not the one the model was trained on"):
        build_systems(model, [{"title_weight": 2.0}], sample_articles)


def test_grid_parsing(tmp_path: Path):
    grid = parse_set(["half_life=7,30,none", "title_weight=1,2"])
    assert grid == {"half_life": [7, 30, None], "title_weight": [1, 2]}
    assert len(expand_grid(grid)) == 6
    p = tmp_path / "grid.toml"
    p.write_text('title_weight = [1, 2]\nngram_range = [[1, 1], [1, 2]]\nhalf_life = ["none"]\n')
    assert load_grid(p) == {"title_weight": [1, 2], "ngram_range": [(1, 1), (1, 2)],
                            "half_life": [None]}
    p = tmp_path / "grid.json"
    p.write_text('{"configs": [{"title_weight": 2}, {"max_df": 0.3}]}')
    assert load_grid(p) == [{"title_weight": 2}, {"max_df": 0.3}]
    p.write_text('{"title_weight": [1,')
    with pytest.raises(InvalidParameterError, match="line 1"):
        load_grid(p)


def test_split_is_seeded_disjoint_and_complete():
    qs = [f"q{i}" for i in range(20)]
    train, test = split_queries(qs, 0.3, seed=1)
    assert (train, test) == split_queries(qs, 0.3, seed=1)
    assert len(test) == 6 and not set(train) & set(test) and set(train) | set(test) == set(qs)
    assert split_queries(qs, 0.3, seed=2) != (train, test)


def test_comparison_tunes_on_train_and_reports_on_test(sample_articles, sample_model):
    truth = qrels_from_mapping(
        json.loads((ROOT / "tests" / "data" / "sample_qrels.json").read_text())
        if (ROOT / "tests" / "data" / "sample_qrels.json").exists() else _mined_sample(),
        known_ids=set(sample_model.ids_))
    systems = build_systems(sample_model, [{"title_weight": 3.0}], sample_articles)
    result = evaluate_systems(systems, truth, sample_model, ks=(5, 10), test_size=0.5, seed=0)
    assert [s.name for s in result.systems] == ["defaults", "title_weight=3.0"]
    assert result.train_queries and not set(result.train_queries) & set(result.queries)
    best = result.best["nDCG@10"]
    assert best["chosen_on"] == "train"
    winner = result.system(best["name"])
    others = [s for s in result.systems if s.name != best["name"]]
    assert all(winner.train_metrics["nDCG@10"] >= s.train_metrics["nDCG@10"] for s in others)
    assert best["value"] == winner.metrics["nDCG@10"]


@functools.cache
def _mined_sample() -> dict[str, list[str]]:
    articles, _ = load_corpus(SAMPLE_WXR, id_prefix="gv-", keep_links=True)
    return mine_links(articles)[0]


# ------------------------------------------------------------------------------ report
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        assert tag != "script", "titles must be escaped, never markup"

    def handle_data(self, data):
        self.text.append(data)


def test_report_images_exist_are_pngs_and_titles_are_escaped(tmp_path: Path):
    evil = 'Rain <script>alert("x")</script> & floods'
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "title": [evil, "rain floods town", "chess final", "chess final game", "garden"],
        "body": ["rain", "rain", "chess", "chess", "garden"],
        "published_at": pd.to_datetime(["2012-01-01", "2012-01-03", "2012-01-01",
                                        "2012-01-11", "2012-01-02"], utc=True),
    })
    model = RelatedStories(max_df=1.0).fit(df)
    truth = qrels_from_mapping({"a": ["b"], "b": ["a"], "c": ["d"]}, known_ids=set(model.ids_))
    result = evaluate(model, truth, ks=[1, 2])
    index = write_report(result, model, tmp_path / "report")
    page = index.read_text()
    parser = _Page()
    parser.feed(page)
    assert len(parser.images) == 4
    for src in parser.images:
        with Image.open(index.parent / src) as img:
            assert img.format == "PNG" and img.size[0] > 100
    assert "<script>" not in page
    assert "Rain &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; floods" in page
    assert evil in "".join(parser.text)  # shown to the reader as text


def test_report_renders_in_a_headless_browser(tmp_path: Path):
    """Open the report from disk (file://, no server) in Debian's chromium: every image loads
    and a script smuggled in a title never runs."""
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(chromium).exists() and Path(chromedriver).exists()):
        pytest.skip("Debian's chromium/chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    df = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "title": ["<img src=x onerror=\"window.__pwned=1\"> Floods", "Floods return",
                  "Chess final", "Chess final game"],
        "body": ["rain flood", "rain flood", "chess", "chess"],
    })
    model = RelatedStories(max_df=1.0).fit(df)
    truth = qrels_from_mapping({"a": ["b"], "c": ["d"]}, known_ids=set(model.ids_))
    index = write_report(evaluate(model, truth, ks=[1, 2]), model, tmp_path / "report")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--window-size=1200,900"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        browser.set_page_load_timeout(30)
        browser.get(index.resolve().as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
        assert len(images) == 4 and all(done and width > 100 for done, width in images)
        assert browser.execute_script("return window.__pwned === undefined;")
        assert "Floods" in browser.find_element("tag name", "body").text
        assert browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.size[0] >= 1000


# ------------------------------------------------------------------------------- CLI
def test_cli_mine_links_then_evaluate_with_comparisons_end_to_end(
        tmp_path: Path, trained_model_dir: Path):
    mined = tmp_path / "mined.json"
    run = subprocess.run(
        [sys.executable, "-m", "recommender", "mine-links", str(SAMPLE_WXR), "--id-prefix",
         "gv-", "--out", str(mined)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "resolved to another article: 41" in run.stdout
    assert json.loads(mined.read_text()) and (tmp_path / "mined.report.json").is_file()

    out, report = tmp_path / "eval.json", tmp_path / "report"
    grid = tmp_path / "grid.toml"
    grid.write_text("title_weight = [2]\n")
    run = subprocess.run(
        [sys.executable, "-m", "recommender", "evaluate", "--model", str(trained_model_dir),
         "--truth", str(mined), "--k", "5,10", "--grid", str(grid), "--set", "title_weight=1,2",
         "--json", str(out), "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "[plain-cosine]" in run.stdout and "best system per metric" in run.stdout
    assert "[tfidf-baseline]" in run.stdout
    assert "bundled sample" in run.stderr  # re-fitted on the manifest's corpus
    payload = json.loads(out.read_text())
    names = [s["name"] for s in payload["systems"]]
    assert names[0] == "defaults" and {"random", "latest-in-section", "plain-cosine",
                                       "tfidf-baseline"} <= set(names)
    assert names.count("title_weight=2") == 1
    assert payload["queries"]["reported_on"] == "test"
    assert all(s["metrics"]["takedown_leaks"] == 0 for s in payload["systems"])
    assert (report / "index.html").is_file()


def test_cli_mine_links_compare_and_bad_corpus(tmp_path: Path):
    truth = tmp_path / "truth.csv"
    pairs = sorted((s, t) for s, ts in _mined_sample().items() for t in ts)
    truth.write_text("".join(f"{s},{t}\n" for s, t in pairs[:-1]) + "gv-316447,gv-nope\n")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["mine-links", str(SAMPLE_WXR), "--id-prefix", "gv-",
                                      "--out", str(out), "--compare", str(truth)])
    assert result.exit_code == 0, result.output
    assert f"recovered {len(pairs) - 1} of {len(pairs) - 1} pairs, 1 mined pairs" in result.output
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["compare"]["recovered"] == len(pairs) - 1 and report["unresolved_links"] > 0
    result = CliRunner().invoke(cli, ["mine-links", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "title_wieght=2"], "valid names are"),
        (["--k", "5,500"], "between 1 and 100"),
        (["--k", "five"], "expected integers"),
        (["--select-by", "accuracy"], "unknown metric"),
    ],
)
def test_cli_evaluate_bad_options(trained_model_dir: Path, tmp_path: Path, args, message):
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps(_mined_sample()))
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(trained_model_dir), "--truth",
                                      str(truth), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_cli_evaluate_bad_truth_and_small_corpus(trained_model_dir: Path, tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(trained_model_dir),
                                      "--truth", str(empty)])
    assert result.exit_code == 1 and "file is empty" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text('{\n "gv-316447": ["gv-316821"\n')
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(trained_model_dir),
                                      "--truth", str(broken)])
    assert result.exit_code == 1 and "line 3" in result.output
    corpus = tmp_path / "tiny.csv"
    corpus.write_text("id,title,body\na,flood city,rain\nb,flood town,rain\nc,chess,game\n")
    truth = tmp_path / "t.csv"
    truth.write_text("a,b\nb,a\nz,a\n")
    result = CliRunner().invoke(cli, ["evaluate", "--corpus", str(corpus), "--truth",
                                      str(truth), "--k", "5"])
    assert result.exit_code == 1 and "larger than the corpus" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--corpus", str(corpus), "--truth",
                                      str(truth), "--k", "1,2"])
    assert result.exit_code == 0, result.output
    assert "1 unknown query ids" in result.output


def test_cli_train_boilerplate_options(tmp_path: Path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('[boilerplate]\nextra_line_patterns = ["visit the isn blog.*"]\n')
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,title,body\na,Flood,Rain fell.\nb,Chess,A game.\n")
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "m"),
                                      "--boilerplate-config", str(cfg), "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "m").glob("*/manifest.json")).read_text())
    params = manifest.get("parameters") or manifest.get("params") or {}
    assert params["boilerplate"] == {"extra_line_patterns": ["visit the isn blog.*"]}
    bad = tmp_path / "bad.toml"
    bad.write_text('[boilerplate]\nline_patterns = ["(oops"]\n')
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "m"),
                                      "--boilerplate-config", str(bad), "-q"])
    assert result.exit_code == 1 and "invalid regular expression" in result.output


# ------------------------------------------------------- reference sets (skip when absent)
@pytest.mark.skipif(not (SHARED_DATA / "ecbplus").is_dir(), reason="../shared/data absent")
def test_ecbplus_same_event_quality():
    articles, _ = load_corpus(SHARED_DATA / "ecbplus" / "articles.jsonl")
    model = RelatedStories().fit(articles)
    truth = load_qrels(SHARED_DATA / "ecbplus" / "qrels_same_event.json", set(model.ids_))
    result = evaluate_systems([ModelSystem(model), RandomSystem(model)], truth, model,
                              ks=(5, 10), max_queries=300)
    d, rnd = result.system("defaults").metrics, result.system("random").metrics
    assert d["MAP"] > 0.9 and d["nDCG@10"] > 0.9 and d["P@5"] > 0.9  # TF-IDF reaches ~0.94
    assert rnd["P@5"] < 0.1


@pytest.mark.slow  # ~30 s: loads and fits 10k stories
@pytest.mark.skipif(not (SHARED_DATA / "reuters21578").is_dir(), reason="../shared/data absent")
def test_reuters_topic_sets_beat_the_baselines():
    articles, _ = load_corpus(SHARED_DATA / "reuters21578" / "articles.jsonl.gz")
    keep = articles["modapte_split"].isin(["train", "test"]) & (
        articles["body"].fillna("").str.split().str.len() >= 20)
    articles = articles[keep].reset_index(drop=True)
    articles["tags"] = [[] for _ in range(len(articles))]  # the topic labels themselves
    articles["section"] = None
    model = RelatedStories().fit(articles)
    truth = load_qrels(SHARED_DATA / "reuters21578" / "qrels_same_topic_set_modapte_test.json",
                       set(model.ids_))
    result = evaluate_systems([ModelSystem(model), RandomSystem(model)], truth, model,
                              ks=(5, 10), max_queries=150)
    d, rnd = result.system("defaults").metrics, result.system("random").metrics
    assert d["P@5"] > 0.3 and d["nDCG@10"] > 0.3  # plain TF-IDF: P@5 ~0.4
    assert rnd["P@5"] < 0.05
