"""Operations on volume and opinion over time: the volume series, next-period forecasts and the opinion timeline,
each with the sentence naming the days the corpus did not observe."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from socialfusion.app._analyses import _names
from socialfusion.app._analyses import _series as _volume
from socialfusion.app._common import K, Params, Result, cached, clean
from socialfusion.store import Store

__all__ = [
    "Forecast",
    "ForecastParams",
    "ForecastResult",
    "OpinionPoint",
    "OpinionTimelineResult",
    "TimelineParams",
    "VolumePoint",
    "VolumeSeriesResult",
    "forecast_volume",
    "opinion_timeline",
    "volume_series",
]

_TREND_TABLES = ["posts", "post_topics", "topics", "labels"]


class TimelineParams(Params):
    """How posts are grouped and counted, and optionally the one key to return."""

    by: Literal["hashtag", "topic"] = Field(
        "hashtag",
        description="Group posts by hashtag, or by topic (the store's post_topics table, else its topic labels).",
    )
    freq: Literal["D", "h"] = Field("D", description="Period: D (UTC days) or h (hours).")
    key: str | None = Field(None, min_length=1, max_length=512, description="Only this key.")


class VolumePoint(Result):
    """Posts of a key in a period; ``count`` is None on a period not observed (no post at all in the corpus)."""

    key: str
    name: str | None = None
    period: dt.datetime
    count: int | None
    total: int | None


class VolumeSeriesResult(Result):
    """Posts per key and period, and the sentence naming the days not observed (empty when none)."""

    unobserved: str
    points: list[VolumePoint]


def _series(store: Store, by: str, freq: str):
    return cached(store, _TREND_TABLES, ("series", by, freq), lambda: _volume(store, by, freq))


def _named(rows: list[dict], names: dict[str, str]) -> list[dict]:
    return [{**row, "name": names.get(row["key"])} for row in clean(rows)]


def _only(table, key: str | None):
    import pyarrow.compute as pc

    return table if key is None else table.filter(pc.equal(table.column("key"), key))


def volume_series(store: Store, params: TimelineParams) -> VolumeSeriesResult:
    """Posts per key and period, zeros included and null on the days not observed
    (``socialfusion.tasks.trends.volume_series``).

    Raises:
        DataError: ``by="topic"`` and the store has no topics.
    """
    from socialfusion.tasks.trends import describe_gaps

    table = _series(store, params.by, params.freq)
    return VolumeSeriesResult(
        unobserved=describe_gaps(table), points=_named(_only(table, params.key).to_pylist(), _names(store, params.by))
    )


class ForecastParams(Params):
    """How posts are grouped and counted, the forecasting model, and how many keys to return."""

    by: Literal["hashtag", "topic"] = "hashtag"
    freq: Literal["D", "h"] = "D"
    model: Literal["ridge", "gradient_boosting"] = "ridge"
    k: K = 20


class Forecast(Result):
    """A key's forecast volume for the period after the series, with the persistence baseline (``last``)."""

    key: str
    name: str | None = None
    period: dt.datetime
    forecast: float | None
    last: float | None


class ForecastResult(Result):
    """Forecasts, highest first, and the sentence naming the days not observed."""

    unobserved: str
    forecasts: list[Forecast]


def forecast_volume(store: Store, params: ForecastParams) -> ForecastResult:
    """Next-period volume per key (``socialfusion.tasks.trends.VolumeForecaster``) with the persistence baseline.

    Raises:
        DataError: too short a series to learn from, or ``by="topic"`` and the store has no topics.
    """
    from socialfusion.tasks.trends import VolumeForecaster, describe_gaps, persistence

    table = _series(store, params.by, params.freq)

    def compute():
        predicted = VolumeForecaster(model=params.model).fit(table).predict(table)
        return predicted.sort_by([("forecast", "descending"), ("key", "ascending")])

    predicted = cached(store, _TREND_TABLES, ("forecast", params.model_dump(exclude={"k"})), compute)
    last = dict(zip(*persistence(table).select(["key", "forecast"]).to_pydict().values(), strict=True))
    rows = [{**row, "last": last.get(row["key"])} for row in predicted.slice(0, params.k).to_pylist()]
    return ForecastResult(unobserved=describe_gaps(table), forecasts=_named(rows, _names(store, params.by)))


class OpinionPoint(Result):
    """Posts per sentiment class of a key in a period (null counts on a period not observed)."""

    key: str
    name: str | None = None
    period: dt.datetime
    n: int | None
    positive: int | None
    neutral: int | None
    negative: int | None
    negative_share: float | None
    total: int | None


class OpinionTimelineResult(Result):
    """The opinion timeline and the sentence naming the days not observed."""

    unobserved: str
    points: list[OpinionPoint]


def opinion_timeline(store: Store, params: TimelineParams) -> OpinionTimelineResult:
    """Posts per sentiment class for each key and period (``socialfusion.tasks.opinion.count_opinions``; the
    stored sentiment predictions, else the lexicons).

    Raises:
        DataError: ``by="topic"`` and the store has no topics.
    """
    from socialfusion.tasks.opinion import count_opinions, opinion_posts, post_sentiment
    from socialfusion.tasks.trends import describe_gaps, key_assignment

    def compute():
        posts = store.read("posts", columns=["post_id", "created_at", "text", "hashtags", "lang"])
        scored = opinion_posts(posts, key_assignment(store, params.by), post_sentiment(store), freq=params.freq)
        return count_opinions(scored, params.freq, posts=posts)

    table = cached(store, [*_TREND_TABLES, "sentiment_predictions"], ("timeline", params.by, params.freq), compute)
    return OpinionTimelineResult(
        unobserved=describe_gaps(table), points=_named(_only(table, params.key).to_pylist(), _names(store, params.by))
    )
