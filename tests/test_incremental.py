"""Incremental analysis: the state an incremental ``analyze`` keeps, and its cards equal a full recompute's."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import socialfusion as sf
from socialfusion.app import _incremental as incremental
from socialfusion.cli import app as cli_app
from socialfusion.pipeline import analyze
from socialfusion.tasks.opinion import count_opinions, opinion_alerts, opinion_posts, post_sentiment
from socialfusion.tasks.trends import key_assignment, volume_series

runner = CliRunner()

GOOD = "what a lovely great ride today, happy"
BAD = "terrible awful ride, I hate this bus"
START = dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)


def _post(number: int, day: int, text: str, tags: list[str], hour: int = 0) -> dict:
    return {
        "post_id": f"p{number:04d}",
        "author_id": f"u{number % 7}",
        "text": f"{text} #{' #'.join(tags)}",
        "hashtags": tags,
        "lang": "en",
        "created_at": START + dt.timedelta(days=day, hours=hour),
    }


def _commuter_posts() -> list[dict]:
    """17 days of #bus posts, cheerful for 14 days and then angry (an opinion alert), and some #cats."""
    posts, number = [], 0
    for day in range(17):
        for slot in range(12):
            negative = day >= 14 and slot < 9 or day < 14 and slot == 0
            posts.append(
                _post(number, day, BAD if negative else GOOD, ["bus"] + (["cats"] if slot % 4 == 0 else []), hour=slot)
            )
            number += 1
    return posts


def _ingest(store, posts: list[dict]) -> None:
    sf.ingest_corpus(sf.Corpus.from_records(posts=posts), store)


def _full_series_and_timeline(store, keys_by: str = "hashtag"):
    """What a full analyze computes over every post of the store."""
    posts = store.read("posts")
    keys = key_assignment(posts if keys_by == "hashtag" else store, by=keys_by)
    scored = opinion_posts(posts, keys, post_sentiment(store))
    timeline = count_opinions(scored, posts=posts)
    return volume_series(posts, keys), timeline, opinion_alerts(timeline, evidence=scored)


def test_incremental_counts_equal_a_full_recompute_after_late_and_duplicate_posts(tmp_path):
    store = sf.connect(tmp_path / "store")
    posts = _commuter_posts()
    early = [post for post in posts if post["created_at"] < START + dt.timedelta(days=15)]
    later = [post for post in posts if post not in early]
    _ingest(store, early)
    first = incremental.update_analysis_state(store)
    assert (first.first_run, first.new, first.sentiment_by, first.keys_by) == (True, len(early), "lexicon", "hashtag")

    late = _post(9000, 1, BAD, ["bus", "late"], hour=20)  # arrives now, dated on the second day
    changed = {**early[5], "text": BAD + " #bus #rain", "hashtags": ["bus", "rain"]}  # same id, other content
    _ingest(store, later + [late, changed])
    _ingest(store, early[10:20])  # duplicates re-ingested: nothing new
    update = incremental.update_analysis_state(store)
    assert (update.new, update.changed, update.removed) == (len(later) + 1, 1, 0)
    assert update.labelled == len(later) + 2  # lexicon labels of the new and the changed posts only
    assert update.days_recounted == 4  # the first day (the changed post), the second (the late one), 16 and 17
    series, timeline, alerts = _full_series_and_timeline(store)
    assert incremental.volume_series_from_state(store).equals(series)
    state_timeline, state_alerts = incremental.opinion_from_state(store)
    assert state_timeline.equals(timeline)
    assert alerts.num_rows > 0 and state_alerts.equals(alerts)  # the alert and the posts it quotes
    assert "late" in series.column("key").to_pylist() and "rain" in series.column("key").to_pylist()

    again = incremental.update_analysis_state(store)  # nothing new: no prediction work at all
    assert (again.new, again.changed, again.predicted, again.assigned, again.labelled, again.days_recounted) == (
        0,
        0,
        0,
        0,
        0,
        0,
    )


def test_days_left_dirty_by_a_killed_run_are_recounted(tmp_path):
    store = sf.connect(tmp_path / "store")
    _ingest(store, _commuter_posts()[:40])
    incremental.update_analysis_state(store)
    # a run killed after it marked a day and before its recount: the counts of that day are wrong
    store.write(
        incremental.DAYS_TABLE,
        pa.table({"day": ["2024-05-01"], "posts": pa.array([999], pa.int64())}),
        mode="upsert",
        key="day",
    )
    incremental._write_state(store, {"dirty_days": ["2024-05-01"]})
    assert incremental.update_analysis_state(store).days_recounted == 1
    series, _, _ = _full_series_and_timeline(store)
    assert incremental.volume_series_from_state(store).equals(series)


def test_new_posts_get_topics_and_sentiment_from_the_stores_models(tmp_path):
    from socialfusion.tasks.sentiment import LexiconSentiment, read_predictions, write_predictions
    from socialfusion.tasks.topics import TopicModel, load_topic_model, read_topics, write_topics

    network = sf.generate(n_users=30, n_posts=160, seed=3)
    posts = network.corpus.posts.sort_by("post_id")
    store = sf.connect(tmp_path / "store")
    sf.ingest_corpus(sf.Corpus(posts=posts.slice(0, 120), users=network.corpus.users), store)
    write_topics(
        store, TopicModel(encoders={"text": "text/lexicon"}, method="kmeans", n_topics=3, reduce_to=None).fit(store)
    )
    write_predictions(store, LexiconSentiment().predict(store))
    unpredicted = store.count("posts") - store.count("sentiment_predictions")  # posts without text, say
    first = incremental.update_analysis_state(store)  # catches up as a monitor's first cycle does
    assert (first.keys_by, first.sentiment_by, first.predicted, first.assigned) == (
        "topic",
        "predictions",
        unpredicted,
        0,
    )

    sf.ingest_corpus(sf.Corpus(posts=posts.slice(120)), store)
    new_ids = posts.slice(120).column("post_id").to_pylist()
    update = incremental.update_analysis_state(store)
    everything = load_topic_model(store).assign(store)  # what an assignment of every post gives
    expected = dict(zip(everything.column("post_id").to_pylist(), everything.column("topic_id").to_pylist()))
    assignable = [post_id for post_id in new_ids if post_id in expected]  # posts with a text
    assert len(assignable) > len(new_ids) / 2
    assert (update.new, update.predicted, update.assigned) == (len(new_ids), len(new_ids), len(assignable))
    # the new posts' predictions and topics are those of a prediction and an assignment over every post
    stored = read_predictions(store, new_ids)
    stored = dict(zip(stored.column("post_id").to_pylist(), stored.column("label").to_pylist()))
    full = LexiconSentiment().predict(store)
    full = dict(zip(full.column("post_id").to_pylist(), full.column("label").to_pylist()))
    assert len(stored) == len(new_ids) and {post_id: stored[post_id] for post_id in new_ids if post_id in full} == {
        post_id: full[post_id] for post_id in new_ids if post_id in full
    }
    assigned, _ = read_topics(store)
    got = dict(zip(assigned.column("post_id").to_pylist(), assigned.column("topic_id").to_pylist()))
    assert {post_id: got.get(post_id) for post_id in assignable} == {
        post_id: expected[post_id] for post_id in assignable
    }
    series, timeline, _ = _full_series_and_timeline(store, keys_by="topic")
    assert incremental.volume_series_from_state(store).equals(series)
    assert incremental.opinion_from_state(store)[0].equals(timeline)
    again = incremental.update_analysis_state(store)
    assert (again.new, again.predicted, again.assigned) == (0, 0, 0)


def test_analyze_incremental_notes_its_cards_and_reuses_the_others_when_asked(tmp_path):
    store = sf.connect(tmp_path / "store")
    _ingest(store, _commuter_posts())
    out = tmp_path / "report.html"
    analyze(store, out, sections="network,trends,opinion", incremental=True)
    page = out.read_text()
    assert page.count("Updated incrementally") == 2 and "Reused from the run" not in page
    analyze(store, out, sections="network,trends,opinion", incremental=True, reuse_cards=True)
    page = out.read_text()
    assert "Reused from the run" in page and "no new post since the last run" in page
    # a where condition cannot use the daily counts: the cards are computed from the posts, and say so
    analyze(store, out, sections="trends", incremental=True, where="hashtag=cats")
    assert "Computed from the posts: the stored daily counts cannot apply where conditions" in out.read_text()
    # since/until on whole days slice the counts as they filter the posts
    analyze(store, out, sections="trends", incremental=True, since="2024-05-10", until="2024-05-12")
    assert "Updated incrementally" in out.read_text()
    posts = store.read("posts")
    kept = posts.filter(
        pc.and_(
            pc.greater_equal(posts.column("created_at"), pa.scalar(START.replace(day=10, hour=0))),
            pc.less(posts.column("created_at"), pa.scalar(START.replace(day=13, hour=0))),
        )
    )
    assert incremental.volume_series_from_state(store, since="2024-05-10", until="2024-05-12").equals(
        volume_series(kept, key_assignment(kept, by="hashtag"))
    )


def test_since_after_every_post_is_nothing_to_do(tmp_path):
    store = sf.connect(tmp_path / "store")
    _ingest(store, _commuter_posts()[:20])
    with pytest.raises(incremental.NothingToAnalyse, match="no post at or after 2030-01-01"):
        analyze(store, tmp_path / "r.html", since="2030-01-01")
    result = runner.invoke(
        cli_app,
        [
            "analyze",
            "--store",
            str(tmp_path / "store"),
            "--out",
            str(tmp_path / "r.html"),
            "--since",
            "2030-01-01",
            "--incremental",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output and "2024-05-02" in result.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("shape", ["one post", "one day, no interactions or edges"])
def test_degenerate_stores_get_cards_that_say_why(tmp_path, shape):
    store = sf.connect(tmp_path / "store")
    count = 1 if shape == "one post" else 6
    _ingest(store, [_post(number, 0, GOOD, ["bus"], hour=number) for number in range(count)])
    out = analyze(store, tmp_path / "report.html", incremental=True)
    page = out.read_text()
    assert "Updated incrementally" in page and "Skipped:" in page
    result = runner.invoke(
        cli_app, ["analyze", "--store", str(tmp_path / "store"), "--out", str(out), "--incremental", "--reuse-cards"]
    )
    assert result.exit_code == 0, result.output
    assert "no new post since the last run" in result.output


def test_cards_kept_for_reuse_come_back_as_they_were_built(tmp_path):
    import numpy as np
    import plotly.graph_objects as go

    from socialfusion.report import Figure, Metrics, ReportSection, Table, Text

    store = sf.connect(tmp_path / "store")
    figure = go.Figure(go.Bar(x=["a", "b"], y=[3, 1]))
    card = ReportSection(
        title="Social network",
        key="network",
        summary="2 communities.",
        blocks=[
            Metrics({"users": np.int64(7), "modularity": 0.41}),
            Figure(figure, caption="who follows whom", key="map"),
            Table(pa.table({"user": ["u1", "u2"], "pagerank": [0.6, 0.4]}), caption="top", max_rows=5),
            Text("why"),
        ],
    )
    options = {"described": "since 2024-05-01", "options": {"max_ner_texts": 10}, "posts": 20}
    assert incremental.save_cards(store, [card, ReportSection(title="Trends", key="trends")], **options) == 1
    loaded = incremental.load_cards(store, ["network", "trends"], **{**options, "posts": 25})["network"]
    metrics, chart, table, text, note = loaded.blocks
    assert metrics.values == {"users": 7, "modularity": 0.41} and text.text == "why"
    assert json.loads(chart.figure.to_json()) == json.loads(figure.to_json())
    assert (chart.caption, chart.key) == ("who follows whom", "map")
    assert table.data.equals(card.blocks[2].data) and table.max_rows == 5
    assert "on 20 posts (now 25)" in note.text
    # another filter does not reuse it
    assert incremental.load_cards(store, ["network"], **{**options, "described": "until 2024-05-02"}) == {}


def test_incremental_needs_a_store():
    from socialfusion.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="pass a store"):
        analyze(sf.Corpus.from_records(posts=[_post(1, 0, GOOD, ["bus"])]), "r.html", incremental=True)
