"""Volume series, Kleinberg and Poisson bursts, emerging keys and next-period forecasts on hand-made series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks.trends import (
    VolumeForecaster,
    backtest,
    detect_bursts,
    emerging_topics,
    kleinberg_states,
    moving_average,
    persistence,
    series_from_counts,
    trends_section,
    volume_series,
)

START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def series_of(counts: dict[str, list[int]], totals: list[int] | None = None) -> pa.Table:
    n = len(next(iter(counts.values())))
    days = [START + dt.timedelta(days=d) for d in range(n)]
    totals = totals or [sum(values[d] for values in counts.values()) + 50 for d in range(n)]
    return pa.table({"key": [key for key in counts for _ in range(n)], "period": days * len(counts),
                     "count": [value for values in counts.values() for value in values], "total": totals * len(counts)})


def test_volume_series_counts_keys_per_day_with_zeros_and_totals():
    posts = pa.table({"post_id": ["p1", "p2", "p3", "p4"],
                      "created_at": [START, START + dt.timedelta(hours=30), START + dt.timedelta(days=2), None],
                      "hashtags": [["A"], ["b"], ["#a", "A"], ["a"]]})
    series = volume_series(posts)
    assert series.column("key").to_pylist() == ["a"] * 3 + ["b"] * 3
    assert series.column("count").to_pylist() == [1, 0, 1, 0, 1, 0]
    assert series.column("total").to_pylist() == [1, 1, 1] * 2
    assert series.column("period")[1].as_py() == START + dt.timedelta(days=1)
    hourly = volume_series(posts, pa.table({"post_id": ["p1", "p2"], "topic_id": [7, 7]}), freq="h")
    assert hourly.column("key").unique().to_pylist() == ["7"]
    assert hourly.num_rows == 49 and int(pc.sum(hourly.column("count")).as_py()) == 2


def test_series_from_counts_keeps_only_the_periods_asked_for():
    counts = pa.table({"tag": ["a", "a", "a"], "day": [dt.date(2020, 1, 1), dt.date(2020, 1, 2), dt.date(2020, 1, 5)],
                       "n": [1, 2, 3]})
    series = series_from_counts(counts, key="tag", period="day", count="n",
                                periods=[dt.date(2020, 1, 1), dt.date(2020, 1, 5)])
    assert series.column("count").to_pylist() == [1, 3]


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ConfigurationError, match="freq"):
        volume_series(pa.table({"post_id": ["p"], "created_at": [START], "hashtags": [["a"]]}), freq="W")
    with pytest.raises(DataError, match="created_at"):
        volume_series(pa.table({"post_id": ["p"]}))
    with pytest.raises(ConfigurationError, match="burst method"):
        detect_bursts(series_of({"a": [1, 2]}), "wavelet")
    with pytest.raises(ConfigurationError, match="dispersion_window"):
        detect_bursts(series_of({"a": [1, 2]}), dispersion_window=1)
    with pytest.raises(ConfigurationError, match="s must be above 1"):
        kleinberg_states([1], [2], s=1.0)
    with pytest.raises(DataError, match="between 0"):
        kleinberg_states([3], [2])
    with pytest.raises(ConfigurationError, match="not fitted"):
        VolumeForecaster().predict(series_of({"a": [1, 2, 3]}))


def test_kleinberg_state_sequence_by_hand():
    # p0 = 0.1, p1 = 0.2; the 5-of-10 batch saves 2.88 in state 1, entering costs gamma * ln 5.
    assert kleinberg_states([0, 0, 5, 0, 0], [10] * 5).tolist() == [0, 0, 1, 0, 0]
    assert kleinberg_states([0, 0, 5, 0, 0], [10] * 5, gamma=2).tolist() == [0, 0, 0, 0, 0]
    # Two high batches in a row stay in the burst (leaving and re-entering would pay twice).
    assert kleinberg_states([0, 5, 5, 0, 0, 0], [10] * 6).tolist() == [0, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("method", ["negative_binomial", "poisson", "kleinberg"])
def test_flat_series_has_no_burst_and_a_step_is_found_exactly(method):
    flat = series_of({"a": [10] * 20}, totals=[100] * 20)
    assert detect_bursts(flat, method).num_rows == 0
    step = series_of({"a": [10] * 10 + [40] * 3 + [10] * 7}, totals=[100] * 10 + [130] * 3 + [100] * 7)
    bursts = detect_bursts(step, method).to_pylist()
    assert [(row["start"], row["end"], row["periods"], row["posts"]) for row in bursts] == [
        (START + dt.timedelta(days=10), START + dt.timedelta(days=12), 3, 120)]
    assert bursts[0]["score"] > 0


# Quiet days swinging between about 4 and 16 posts (variance/mean about 4), with two 21-22 post days: no burst.
SWINGING = [4, 16, 6, 14, 3, 18, 5, 15, 4, 17, 6, 13, 3, 22, 5, 16, 4, 14, 6, 17, 3, 15, 5, 21]


def test_negative_binomial_allows_for_overdispersion_where_poisson_does_not():
    swinging = series_of({"a": SWINGING}, totals=[200] * 24)
    assert detect_bursts(swinging, "negative_binomial").num_rows == 0
    assert [row["start"].day for row in detect_bursts(swinging, "poisson").to_pylist()] == [14, 24]
    assert detect_bursts(swinging).num_rows == 0  # the default method


def test_negative_binomial_finds_a_step_on_an_overdispersed_series_exactly():
    step = series_of({"a": SWINGING[:14] + [60, 60, 60] + SWINGING[17:]}, totals=[200] * 24)
    bursts = detect_bursts(step, "negative_binomial").to_pylist()
    assert [(row["start"], row["end"], row["posts"]) for row in bursts] == [
        (START + dt.timedelta(days=14), START + dt.timedelta(days=16), 180)]
    # the score is a z-score against the overdispersed variance: below the Poisson one on the same day
    poisson_score = max(row["score"] for row in detect_bursts(step, "poisson").to_pylist() if row["posts"] > 100)
    assert 0 < bursts[0]["score"] < poisson_score


def test_emerging_topics_lists_only_running_recent_bursts():
    series = series_of({"old": [5] * 3 + [40] * 2 + [5] * 5, "new": [5] * 8 + [40] * 2, "calm": [5] * 10},
                       totals=[200] * 10)
    alerts = emerging_topics(series, within=3)
    assert alerts.column("key").to_pylist() == ["new"]
    assert alerts.column("latest").to_pylist() == [40]
    assert emerging_topics(series, within=1).num_rows == 0  # began two periods ago


def test_baselines_and_forecaster_on_a_simple_series():
    series = series_of({"a": [2, 4, 6, 8]})
    assert persistence(series).column("forecast").to_pylist() == [8.0]
    assert moving_average(series, 3).column("forecast").to_pylist() == [6.0]
    assert persistence(series).column("period")[0].as_py() == START + dt.timedelta(days=4)
    level = series_of({"low": [3] * 30, "high": [300] * 30})
    forecast = VolumeForecaster(lags=3).fit(level).predict(level)
    assert np.allclose(forecast.column("forecast").to_numpy(), [300, 3], rtol=0.1)


def test_forecaster_is_deterministic_with_a_seed():
    rng = np.random.default_rng(0)
    series = series_of({f"k{i}": rng.poisson(5 + i, 8).tolist() for i in range(2)})  # tiny: 14 examples
    first = VolumeForecaster("gradient_boosting", random_state=1).fit(series).predict(series)
    second = VolumeForecaster("gradient_boosting", random_state=1).fit(series).predict(series)
    assert first.equals(second)


def test_backtest_reads_only_the_past():
    rng = np.random.default_rng(3)
    counts = {f"k{i}": rng.poisson(10, 30).tolist() for i in range(4)}
    original = backtest(series_of(counts), test_periods=5, forecaster=VolumeForecaster(lags=3))
    changed = {key: values[:27] + rng.permutation(values[27:]).tolist()[::-1] + [0] for key, values in counts.items()}
    changed = {key: values[:28] + [99, 0] for key, values in changed.items()}
    shuffled = series_of(changed).take(pa.array(rng.permutation(120)))  # row order must not matter either
    again = backtest(shuffled, test_periods=5, forecaster=VolumeForecaster(lags=3))
    early = pc.less(original.column("period"), pa.scalar(START + dt.timedelta(days=28), pa.timestamp("us", "UTC")))
    for name in ("persistence", "moving_average", "model"):
        before = original.filter(early).sort_by([("period", "ascending"), ("key", "ascending")]).column(name)
        after = again.filter(early).sort_by([("period", "ascending"), ("key", "ascending")]).column(name)
        assert np.allclose(before.to_numpy(), after.to_numpy()), name
    late = again.filter(pc.invert(early))
    assert not np.allclose(late.column("model").to_numpy(), original.filter(pc.invert(early)).column("model"))


def test_trends_section_shades_bursts_and_lists_them():
    series = series_of({"a": [10] * 10 + [40] * 3 + [10] * 7, "b": [10] * 20}, totals=[100] * 20)
    section = trends_section(series, top=2)
    assert section.key == "trends" and section.figure_ids() == ["trends-volume"]
    figure = section.blocks[1].figure
    assert len(figure.data) == 2 and len(figure.layout.shapes) == 1
    assert section.blocks[2].num_rows == 1
