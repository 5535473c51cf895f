"""analyze's choices: which sections, the title, and which posts (since, until, where), from Python and the CLI."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from socialfusion import Corpus
from socialfusion.cli import app
from socialfusion.exceptions import ConfigurationError
from socialfusion.pipeline import REPORT_SECTIONS, analyze, check_sections, filter_corpus, post_filter

from ._synthetic import synthetic_store

runner = CliRunner()


def _cards(page: str) -> list[str]:
    return re.findall(r'<section class="card" id="([^"]+)"', page)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return synthetic_store(tmp_path_factory.mktemp("analyze") / "store")


@pytest.fixture
def corpus() -> Corpus:
    return Corpus.from_records(
        posts=[
            {"post_id": "p1", "author_id": "u1", "created_at": "2024-05-01T09:00:00Z", "lang": "en",
             "text": "Flood warning downtown #Climate", "hashtags": ["Climate"], "mentions": ["@Bob"]},
            {"post_id": "p2", "author_id": "u2", "created_at": "2024-05-02T23:59:59Z", "lang": "fr",
             "text": "Il pleut", "hashtags": ["#meteo"], "media": [{"kind": "image", "uri": "rain.png"}]},
            {"post_id": "p3", "author_id": "u1", "created_at": "2024-05-03T00:00:00Z", "lang": "en",
             "text": "Storm tonight #climate #storm", "hashtags": ["climate", "storm"]},
            {"post_id": "p4", "author_id": "u3", "created_at": None, "text": "undated flood", "hashtags": []},
        ],
        users=[{"user_id": "u1", "handle": "@Alice"}, {"user_id": "u2", "handle": "bob"}],
        interactions=[{"user_id": "u2", "post_id": "p1", "kind": "like"},
                      {"user_id": "u1", "post_id": "p2", "kind": "like"}],
        labels=[{"item_id": "p1", "item_kind": "post", "task": "sentiment", "label": "negative"},
                {"item_id": "p2", "item_kind": "post", "task": "sentiment", "label": "neutral"},
                {"item_id": "u1", "item_kind": "user", "task": "community", "label": "a"}],
        edges=[{"src": "u2", "dst": "u1", "kind": "follow"}],
    )


def _ids(corpus: Corpus, **options) -> list[str]:
    return filter_corpus(corpus, **options).posts.column("post_id").to_pylist()


@pytest.mark.parametrize(("where", "expected"), [
    ("hashtag=climate", ["p1", "p3"]),
    ("hashtag=#CLIMATE", ["p1", "p3"]),
    ("hashtag=meteo|storm", ["p2", "p3"]),
    ("hashtag~clim", ["p1", "p3"]),
    ("hashtag!=climate", ["p2", "p4"]),
    ("text~flood", ["p1", "p4"]),
    ("text!~flood", ["p2", "p3"]),
    ("text=il pleut", ["p2"]),
    ("lang=en", ["p1", "p3"]),
    ("lang!=en", ["p2", "p4"]),  # a post without a language is not English
    ("mention=bob", ["p1"]),
    ("author=u1", ["p1", "p3"]),
    ("author=@alice", ["p1", "p3"]),  # by handle, case and @ ignored
    ("media=image", ["p2"]),
    (" hashtag = climate ", ["p1", "p3"]),
])
def test_where_conditions(corpus, where, expected):
    assert _ids(corpus, where=where) == expected


def test_conditions_and_dates_all_hold(corpus):
    assert _ids(corpus, where=["hashtag=climate", "text~storm"]) == ["p3"]
    assert _ids(corpus, since="2024-05-02") == ["p2", "p3"]  # undated posts are left out
    assert _ids(corpus, until="2024-05-02") == ["p1", "p2"]  # through the end of that day
    assert _ids(corpus, since="2024-05-01T10:00:00Z", until="2024-05-03T00:00:00+00:00") == ["p2", "p3"]
    assert filter_corpus(corpus) is corpus


def test_filtering_keeps_interactions_and_labels_of_kept_posts_only(corpus):
    kept = filter_corpus(corpus, where="lang=en")
    assert kept.interactions.column("post_id").to_pylist() == ["p1"]
    assert sorted(kept.labels.column("item_id").to_pylist()) == ["p1", "u1"]  # user labels stay
    assert kept.users.num_rows == 2 and kept.edges.num_rows == 1


@pytest.mark.parametrize(("where", "message"), [
    ("hashtag", "cannot read the condition"),
    ("colour=red", "unknown field 'colour'"),
    ("text~", "empty value"),
    ("hashtag=a|", "empty value"),
])
def test_bad_conditions_say_how_to_write_them(where, message):
    with pytest.raises(ConfigurationError, match=message):
        post_filter(where)


def test_bad_dates_and_an_empty_window_are_refused(corpus):
    with pytest.raises(ConfigurationError, match="YYYY-MM-DD"):
        filter_corpus(corpus, since="May 1st")
    with pytest.raises(ConfigurationError, match="after until"):
        filter_corpus(corpus, since="2024-05-03", until="2024-05-01")


def test_sections_are_checked_and_put_in_reading_order():
    assert check_sections(None) == list(REPORT_SECTIONS)
    assert check_sections(["recommend", "overview"]) == ["overview", "recommend"]
    with pytest.raises(ConfigurationError, match="unknown report section.*'network ties'"):
        check_sections("overview,network ties")
    with pytest.raises(ConfigurationError, match="unknown report section"):
        check_sections(" , ")


def test_analyze_builds_the_sections_asked_for_with_the_title(store, tmp_path):
    page = analyze(store, tmp_path / "r.html", title="Sports and food",
                   sections="topics,overview,sentiment").read_text()
    assert _cards(page) == ["overview", "sentiment", "topics"]
    assert "<title>Sports and food</title>" in page
    assert "No sentiment predictions in the store" in page  # asked for by name, so it says why it is empty


def test_analyze_reads_entities_of_a_bounded_sample_and_both_cards_say_so(store, tmp_path):
    posts = Corpus.from_store(store).posts.num_rows
    page = analyze(store, tmp_path / "r.html", sections="knowledge,patterns", max_ner_texts=50).read_text()
    assert _cards(page) == ["knowledge", "patterns"]
    assert re.search(rf"Entities from a sample of \d+ of {posts:,} posts", page)
    assert re.search(rf"Rules mined from a sample of \d+ of {posts:,} posts", page)
    assert "a sample of" not in analyze(store, tmp_path / "all.html", sections="knowledge").read_text()


def test_analyze_of_some_posts_says_which_and_counts_only_them(store, tmp_path):
    everything = store.count("posts")
    page = analyze(store, tmp_path / "r.html", sections="overview,topics", where=["hashtag=football|nba"],
                   since="2024-03-01").read_text()
    subtitle = re.search(r'<header class="report-header"><h1>.*?</h1><p>(.*?)</p>', page).group(1)
    shown = int(subtitle.split(" posts")[0].replace(",", ""))
    assert 0 < shown < everything
    assert "posts: since 2024-03-01; hashtag=football|nba" in subtitle
    topics = re.search(r'<section class="card" id="topics">.*?</section>', page, re.S).group(0)
    assert f"over {shown:,} posts" in topics  # the topics card counts the filtered posts
    with pytest.raises(ConfigurationError, match="unknown report section"):
        analyze(store, tmp_path / "never.html", sections="overveiw")
    assert not (tmp_path / "never.html").exists()


def test_cli_analyze_takes_title_sections_dates_and_conditions(store, tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["analyze", "--store", store.uri, "--out", str(out), "--title", "Climate watch",
                                 "--sections", "overview,trends", "--since", "2024-03-01", "--until", "2024-12-31",
                                 "--where", "text~the", "--where", "lang=en"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert _cards(page) == ["overview", "trends"] and "<title>Climate watch</title>" in page
    assert "text~the; lang=en" in page

    bad = runner.invoke(app, ["analyze", "--store", store.uri, "--out", str(out), "--where", "colour=red"])
    assert bad.exit_code == 2 and "unknown field 'colour'" in bad.output
