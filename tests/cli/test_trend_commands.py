"""``socialfusion trends`` and ``socialfusion opinion`` through Typer's test runner, on a small synthetic store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from socialfusion.cli.trend_commands import opinion_app, trends_app
from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect

runner = CliRunner()


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trends-cli")
    network = generate(n_users=40, n_posts=300, seed=0, n_videos=0, n_audio=0, image_fraction=0.0, n_days=10,
                       n_bursts=1)
    ingest_corpus(network.corpus, connect(folder / "store"))
    return folder / "store", network.truth


def test_series_by_topic_counts_every_topic_label(store_path):
    path, truth = store_path
    result = runner.invoke(trends_app, ["series", "--store", str(path), "--by", "topic", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["key"] for row in rows} == set(truth.topic_names)
    assert sum(row["count"] for row in rows) == int((truth.post_kind != "reshare").sum())


def test_bursts_and_forecast_print_json(store_path):
    path, _ = store_path
    bursts = runner.invoke(trends_app, ["bursts", "--store", str(path), "--by", "topic", "--json"])
    assert bursts.exit_code == 0, bursts.output
    assert all({"key", "start", "end", "score"} <= set(row) for row in json.loads(bursts.stdout))
    forecast = runner.invoke(trends_app, ["forecast", "--store", str(path), "--by", "hashtag", "--top", "3", "--json"])
    assert forecast.exit_code == 0, forecast.output
    rows = json.loads(forecast.stdout)
    assert len(rows) == 3 and all(row["forecast"] >= 0 for row in rows)


def test_opinion_timeline_and_alerts(store_path):
    path, _ = store_path
    timeline = runner.invoke(opinion_app, ["timeline", "--store", str(path), "--by", "topic", "--json"])
    assert timeline.exit_code == 0, timeline.output
    rows = json.loads(timeline.stdout)
    assert all(row["n"] == row["positive"] + row["neutral"] + row["negative"] for row in rows)
    alerts = runner.invoke(opinion_app, ["alerts", "--store", str(path), "--by", "topic", "--baseline", "4",
                                         "--window", "2", "--json"])
    assert alerts.exit_code == 0, alerts.output
    assert isinstance(json.loads(alerts.stdout), list)


def test_missing_store_fails_with_a_hint(tmp_path):
    result = runner.invoke(trends_app, ["series", "--store", str(tmp_path / "absent")])
    assert result.exit_code == 2


def test_days_not_observed_are_printed_and_left_null(tmp_path):
    from socialfusion.corpus import Corpus

    days = ["2020-03-19", "2020-03-20", "2020-04-01", "2020-04-02"]  # 21-31 March: not collected
    posts = [{"post_id": f"p{n}", "author_id": "u1", "text": "calm #a", "hashtags": ["a"],
              "created_at": f"{day}T00:00:00Z"} for n, day in enumerate(days)]
    ingest_corpus(Corpus.from_records(posts=posts), connect(tmp_path / "store"))
    result = runner.invoke(trends_app, ["series", "--store", str(tmp_path / "store"), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["count"] for row in rows if row["period"].startswith("2020-03-2")][2:] == [None] * 8
    assert "11 days not observed" in result.stderr and "21–31 Mar 2020" in result.stderr
    table = runner.invoke(trends_app, ["bursts", "--store", str(tmp_path / "store")])
    assert "11 days not observed" in table.stdout
    timeline = runner.invoke(opinion_app, ["timeline", "--store", str(tmp_path / "store")])
    assert timeline.exit_code == 0, timeline.output
    assert "11 days not observed" in timeline.stdout
