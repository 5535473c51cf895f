"""``app.volume_series``, ``app.forecast_volume`` and ``app.opinion_timeline`` on posts small enough to check by eye."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import socialfusion as sf
from socialfusion import app
from socialfusion.corpus import Corpus
from socialfusion.exceptions import DataError

DAYS = ["2020-03-19", "2020-03-20", "2020-04-01", "2020-04-02"]  # 21-31 March: not collected


@pytest.fixture(scope="module")
def store() -> sf.Store:
    posts = [
        {
            "post_id": f"p{n}",
            "author_id": "u1",
            "text": "awful terrible #a" if n % 2 else "great lovely #b",
            "hashtags": ["a" if n % 2 else "b"],
            "created_at": f"{day}T0{n % 3}:00:00Z",
        }
        for n, day in enumerate(day for day in DAYS for _ in range(3))
    ]
    opened = sf.connect("memory://")
    sf.ingest_corpus(Corpus.from_records(posts=posts), opened)
    return opened


def test_series_counts_each_key_and_names_the_days_not_observed(store):
    found = app.volume_series(store, app.TimelineParams())
    assert "11 days not observed" in found.unobserved
    counts = {(point.key, point.period.date().isoformat()): point.count for point in found.points}
    assert counts[("a", "2020-03-19")] + counts[("b", "2020-03-19")] == 3
    assert counts[("a", "2020-03-25")] is None  # not observed: null, never 0
    assert sum(point.count or 0 for point in found.points) == 12
    only = app.volume_series(store, app.TimelineParams(key="a"))
    assert {point.key for point in only.points} == {"a"} and all(point.name is None for point in only.points)


def test_forecast_has_the_persistence_baseline(store):
    found = app.forecast_volume(store, app.ForecastParams(k=1))
    assert len(found.forecasts) == 1 and found.forecasts[0].forecast >= 0
    last_day = {
        point.key: point.count
        for point in app.volume_series(store, app.TimelineParams()).points
        if point.period.date().isoformat() == "2020-04-02"
    }
    assert found.forecasts[0].last == last_day[found.forecasts[0].key]


def test_opinion_timeline_adds_up(store):
    found = app.opinion_timeline(store, app.TimelineParams(key="a"))
    observed = [point for point in found.points if point.n is not None]
    assert observed and all(point.n == point.positive + point.neutral + point.negative for point in observed)
    assert sum(point.negative for point in observed) > sum(point.positive for point in observed)  # "awful terrible"
    assert "11 days not observed" in found.unobserved


def test_bad_parameters_and_missing_topics():
    with pytest.raises(ValidationError):
        app.TimelineParams(freq="week")
    with pytest.raises(ValidationError):
        app.ForecastParams(model="prophet")
    empty = sf.connect("memory://")
    sf.ingest_corpus(
        Corpus.from_records(
            posts=[{"post_id": "p", "author_id": "u", "text": "x", "created_at": "2020-01-01T00:00:00Z"}]
        ),
        empty,
    )
    with pytest.raises(DataError):
        app.volume_series(empty, app.TimelineParams(by="topic"))
