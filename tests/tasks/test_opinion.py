"""Opinion timelines and negative-share alerts: false-alarm rate with no change, a planted rise with its posts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks.opinion import opinion_alerts, opinion_posts, opinion_section, opinion_timeline

START = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def simulated(shares: list[float | None], per_day: int, seed: int, key: str = "bus"):
    """Posts of one hashtag, ``per_day`` a day, each negative with the day's share; their labels."""
    rng = np.random.default_rng(seed)
    ids, times, labels = [], [], []
    for day, share in enumerate(shares):
        for index in range(per_day if share is not None else 0):  # None: a day not collected, no post at all
            ids.append(f"{key}-{day}-{index}")
            times.append(START + dt.timedelta(days=day))
            labels.append("negative" if rng.random() < share else "neutral")
    posts = pa.table({"post_id": ids, "created_at": times, "text": [f"text of {i}" for i in ids],
                      "hashtags": [[key]] * len(ids)})
    return posts, pa.table({"post_id": ids, "label": labels})


def test_timeline_counts_classes_per_day():
    posts = pa.table({"post_id": ["p1", "p2", "p3"], "text": ["a", "b", "c"],
                      "created_at": [START, START, START + dt.timedelta(days=2)], "hashtags": [["x"], ["x"], ["x"]]})
    sentiment = pa.table({"post_id": ["p1", "p2", "p3"], "label": ["negative", "positive", "negative"]})
    timeline = opinion_timeline(posts, sentiment=sentiment)
    assert timeline.column("n").to_pylist() == [2, 0, 1]
    assert timeline.column("negative_share").to_pylist() == [0.5, None, 1.0]


def test_lexicon_labels_posts_when_no_sentiment_is_given():
    posts = pa.table({"post_id": ["p1", "p2"], "text": ["I love this", "This is awful"], "lang": ["en", "en"],
                      "created_at": [START, START], "hashtags": [["x"], ["x"]]})
    assert opinion_posts(posts).column("label").to_pylist() == ["positive", "negative"]


def test_no_change_rarely_alerts():
    alpha, runs = 0.01, 200
    alarmed = 0
    for seed in range(runs):
        posts, sentiment = simulated([0.3] * 30, 20, seed)
        alarmed += opinion_alerts(opinion_timeline(posts, sentiment=sentiment), alpha=alpha).num_rows > 0
    assert alarmed / runs <= alpha + 0.02  # BH over one series' periods: family-wise rate <= alpha under no change


def test_planted_rise_is_detected_with_its_most_negative_posts():
    posts, sentiment = simulated([0.2] * 20 + [0.7] * 3, 30, seed=1)
    calm, calm_sentiment = simulated([0.2] * 23, 30, seed=2, key="tram")
    posts, sentiment = pa.concat_tables([posts, calm]), pa.concat_tables([sentiment, calm_sentiment])
    sentiment = sentiment.append_column("negativity", pa.array(np.linspace(0, 1, sentiment.num_rows)))
    evidence = opinion_posts(posts, sentiment=sentiment)
    alerts = opinion_alerts(opinion_timeline(posts, sentiment=sentiment), latest_only=True, evidence=evidence)
    assert alerts.column("key").to_pylist() == ["bus"]
    alert = alerts.to_pylist()[0]
    assert alert["end"] == START.replace(hour=0) + dt.timedelta(days=22)
    assert alert["window_share"] > 0.5 > 0.3 > alert["baseline_share"]
    quoted = [example["post_id"] for example in alert["examples"]]
    assert len(quoted) == 3 and all(post_id.startswith(("bus-20-", "bus-21-", "bus-22-")) for post_id in quoted)
    labels = dict(zip(*sentiment.select(["post_id", "label"]).to_pydict().values()))
    assert all(labels[post_id] == "negative" for post_id in quoted)
    negativity = dict(zip(*sentiment.select(["post_id", "negativity"]).to_pydict().values()))
    assert [negativity[post_id] for post_id in quoted] == sorted((negativity[post_id] for post_id in quoted),
                                                                 reverse=True)
    section = opinion_section(opinion_timeline(posts, sentiment=sentiment), alerts)
    assert section.key == "opinion" and section.figure_ids() == ["opinion-negative-share", "opinion-classes"]


def test_every_alert_quotes_its_own_keys_most_negative_posts_of_its_window():
    # two rising keys, alerts at several ends; negativity with ties and nulls: nulls last, then latest, then post id
    bus, bus_sentiment = simulated([0.2] * 15 + [0.8] * 6, 12, seed=3)
    tram, tram_sentiment = simulated([0.1] * 15 + [0.9] * 6, 12, seed=4, key="tram")
    posts, sentiment = pa.concat_tables([bus, tram]), pa.concat_tables([bus_sentiment, tram_sentiment])
    rng = np.random.default_rng(0)
    negativity = [None if rng.random() < 0.2 else float(rng.integers(0, 3)) / 2 for _ in range(sentiment.num_rows)]
    sentiment = sentiment.append_column("negativity", pa.array(negativity, pa.float64()))
    evidence = opinion_posts(posts, sentiment=sentiment)
    alerts = opinion_alerts(opinion_timeline(posts, sentiment=sentiment), evidence=evidence, examples=4).to_pylist()
    assert {alert["key"] for alert in alerts} == {"bus", "tram"} and len(alerts) > 2
    rows = evidence.to_pylist()
    for alert in alerts:
        inside = [row for row in rows if row["key"] == alert["key"] and row["label"] == "negative"
                  and alert["start"] <= row["period"] <= alert["end"]]
        inside.sort(key=lambda row: (row["negativity"] is None, -(row["negativity"] or 0.0),
                                     -row["period"].timestamp(), row["post_id"]))
        assert [example["post_id"] for example in alert["examples"]] == [row["post_id"] for row in inside[:4]]


def test_bad_arguments_raise_clear_errors():
    posts, sentiment = simulated([0.3] * 5, 5, 0)
    timeline = opinion_timeline(posts, sentiment=sentiment)
    with pytest.raises(ConfigurationError, match="correction"):
        opinion_alerts(timeline, correction="holm-ish")
    with pytest.raises(ConfigurationError, match="alpha"):
        opinion_alerts(timeline, alpha=0)
    with pytest.raises(DataError, match="columns"):
        opinion_alerts(timeline.drop_columns(["negative"]))
    with pytest.raises(DataError, match="label"):
        opinion_timeline(posts, sentiment=pa.table({"post_id": ["x"]}))


def test_alert_windows_and_baselines_step_over_days_not_observed():
    # 14 calm days, 10 days not collected (no post at all), then 3 days of a rise: the baseline is the 14 calm days
    posts, sentiment = simulated([0.2] * 14 + [None] * 10 + [0.7] * 3, 30, seed=1)
    timeline = opinion_timeline(posts, sentiment=sentiment)
    assert timeline.column("total").to_pylist()[14:24] == [0] * 10
    alerts = opinion_alerts(timeline, latest_only=True).to_pylist()
    assert len(alerts) == 1
    assert alerts[0]["start"] == START.replace(hour=0) + dt.timedelta(days=24)
    assert alerts[0]["baseline_posts"] == 14 * 30  # the baseline reaches back over the gap to the calm days
    section = opinion_section(timeline, opinion_alerts(timeline))
    assert "(10 not observed)" in section.summary
    assert any("10 days not observed" in getattr(block, "text", "") for block in section.blocks)


def test_opinion_section_names_topics_by_label():
    posts, sentiment = simulated([0.3] * 5, 5, 0, key="4")
    timeline = opinion_timeline(posts, sentiment=sentiment)
    section = opinion_section(timeline, topics=pa.table({"topic_id": [4], "label": ["masks, wuhan"]}))
    assert [trace.name for trace in section.blocks[1].figure.data] == ["masks, wuhan"]


def test_uncalibrated_lexicon_predictions_order_negative_posts_by_their_score():
    from socialfusion import Corpus, connect, ingest_corpus
    from socialfusion.tasks.opinion import post_sentiment
    from socialfusion.tasks.sentiment import write_predictions

    store = connect("memory://")
    ingest_corpus(Corpus.from_records(posts=[{"post_id": p, "text": "t"} for p in ("mild", "angry", "glad")]), store)
    write_predictions(store, pa.table({
        "post_id": ["mild", "angry", "glad"], "label": ["negative", "negative", "positive"],
        "confidence": pa.nulls(3, pa.float64()), "score": [-0.2, -0.9, 0.7], "model": ["lexicon"] * 3}))

    negativity = dict(zip(*post_sentiment(store).select(["post_id", "negativity"]).to_pydict().values()))

    assert negativity["angry"] > negativity["mild"] > negativity["glad"]
