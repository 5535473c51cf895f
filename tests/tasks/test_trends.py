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
    describe_gaps,
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


# -- periods not observed: a day without any post in the corpus is a gap, not a quiet day ---------------------------


def gapped(counts: list[int | None], other: int = 40) -> pa.Table:
    """One key's daily counts, None on the days not collected (no post at all that day: total 0)."""
    totals = [0 if count is None else count + other for count in counts]
    return pa.table({"key": ["a"] * len(counts), "period": [START + dt.timedelta(days=d) for d in range(len(counts))],
                     "count": [0 if count is None else count for count in counts], "total": totals})


STEADY = [10, 12, 9, 11, 10, 13, 9, 10, 12, 11]


@pytest.mark.parametrize("method", ["negative_binomial", "poisson", "kleinberg"])
def test_the_return_after_a_gap_is_not_a_burst_but_a_surge_after_it_is(method):
    back_to_normal = gapped(STEADY + [None] * 11 + STEADY)
    assert detect_bursts(back_to_normal, method).num_rows == 0
    surge = gapped(STEADY + [None] * 11 + [11, 10, 60, 70, 65] + STEADY[:5])
    bursts = detect_bursts(surge, method).to_pylist()
    assert [(row["start"], row["end"], row["periods"]) for row in bursts] == [
        (START + dt.timedelta(days=23), START + dt.timedelta(days=25), 3)]


def test_counting_the_gap_as_zeros_would_flag_the_return():
    # what the detectors did before gaps were periods not observed: the same counts with the gap days "observed"
    zeros = gapped(STEADY + [None] * 11 + STEADY).set_column(3, "total", pa.array([50] * 31))
    assert detect_bursts(zeros, "poisson").column("start").to_pylist()[0] == START + dt.timedelta(days=21)


def test_volume_series_leaves_days_without_any_post_null_and_names_them():
    days = [0, 1, 4, 5]  # nothing at all on days 2 and 3
    posts = pa.table({"post_id": [f"p{d}" for d in days], "created_at": [START + dt.timedelta(days=d) for d in days],
                      "hashtags": [["a"], ["b"], ["a"], ["a"]]})
    series = volume_series(posts)
    assert series.column("count").to_pylist() == [1, 0, None, None, 1, 1, 0, 1, None, None, 0, 0]
    assert series.column("total").to_pylist()[:6] == [1, 1, 0, 0, 1, 1]
    assert describe_gaps(series).startswith("2 days not observed") and "3–4 May 2024" in describe_gaps(series)
    hourly = volume_series(posts, freq="h")  # an empty hour of a day with posts was observed; the empty days not
    observed_hours = hourly.filter(pc.equal(hourly.column("key"), "a")).column("count").to_pylist()
    assert observed_hours.count(None) == 48 and observed_hours.count(0) == len(observed_hours) - 48 - 3


def test_forecasts_and_emerging_keys_step_over_a_gap():
    series = gapped([2, 4, 6, 8, None, None])  # the series ends in a gap: the last observed day counts
    assert persistence(series).column("forecast").to_pylist() == [8.0]
    assert moving_average(series, 2).column("forecast").to_pylist() == [7.0]
    assert persistence(series).column("period")[0].as_py() == START + dt.timedelta(days=6)
    learned = VolumeForecaster(lags=2).fit(gapped(STEADY + [None] * 5 + STEADY))
    assert learned.n_examples_ == 2 * len(STEADY) - 1  # no example has a gap day for its target
    table = backtest(gapped(STEADY + [None] * 3 + STEADY[:4]), test_periods=4, forecaster=VolumeForecaster(lags=2))
    assert table.column("actual").to_pylist() == [float(value) for value in STEADY[:4]]
    assert table.column("persistence").to_pylist()[0] == float(STEADY[-1])
    rising = gapped(STEADY + [None] * 4 + [60, 70])
    alerts = emerging_topics(rising, within=2)
    assert alerts.column("latest").to_pylist() == [70]
    assert alerts.column("before").to_pylist() == [pytest.approx(np.mean(STEADY))]


def test_trends_section_draws_gaps_and_names_the_days():
    series = gapped(STEADY + [None] * 3 + STEADY)
    section = trends_section(series)
    (line,) = section.blocks[1].figure.data
    assert list(line.y[10:13]) == [None, None, None] and line.y[13] == STEADY[0]
    assert "3 days not observed" in section.blocks[2].text and "11–13 May 2024" in section.blocks[2].text
    assert section.summary.startswith("1 key over 23 periods (3 not observed)")


def test_trends_section_names_topics_by_label_in_their_colours():
    from socialfusion.report._figures import topic_colors

    series = series_of({"3": [10] * 10 + [40] * 3 + [10] * 7, "7": [10] * 20}, totals=[100] * 20)
    topics = pa.table({"topic_id": [3, 7], "label": ["china, us, italy, trump", "masks, wuhan"]})
    section = trends_section(series, top=2, topics=topics)
    figure = section.blocks[1].figure
    assert [trace.name for trace in figure.data] == ["china, us, italy, trump", "masks, wuhan"]
    assert [trace.line.color for trace in figure.data] == [topic_colors([3])["3"], topic_colors([7])["7"]]
    assert section.blocks[2].data.column("key").to_pylist() == ["china, us, italy, trump"]


@pytest.mark.slow
def test_weibo_days_not_collected_are_gaps_and_start_no_burst(shared_data):
    """The Weibo COVID-19 daily sample: 23 days between 19 Jan and 7 Apr 2020 have no post (files absent, or
    without text); a burst may begin on the day after such a gap only when that day's count is far above the
    days before the gap, never because posts came back."""
    import csv

    from socialfusion.datasets import load_weibo_covid_daily

    posts = load_weibo_covid_daily(shared_data).posts
    series = volume_series(posts, min_posts=200)
    with (shared_data / "weibo-covid19" / "unlabeled_daily_counts.csv").open(encoding="utf-8") as stream:
        sampled = {row["date"] for row in csv.DictReader(stream) if int(row["n_in_sample"])}
    days = sorted({period.date() for period in series.column("period").to_pylist()})
    uncollected = [day for day in days if day.isoformat() not in sampled]
    assert len(uncollected) == 23 and dt.date(2020, 3, 21) in uncollected and dt.date(2020, 3, 31) in uncollected
    counts = {(row["key"], row["period"].date()): row["count"] for row in series.to_pylist()}
    assert all(counts[key, day] is None for key, day in counts if day in uncollected)
    print(describe_gaps(series))
    assert "21–31 Mar 2020" in describe_gaps(series)

    after_gap = {day for day, before in zip(days[1:], days) if before in uncollected and day not in uncollected}
    by_key: dict[str, list[int]] = {}
    for (key, day), count in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1])):
        if count is not None:
            by_key.setdefault(key, []).append((day, count))
    for method in ("negative_binomial", "poisson", "kleinberg"):
        bursts = detect_bursts(series, method)
        print(f"{method}: {bursts.num_rows} bursts")
        for row in bursts.sort_by([("score", "descending")]).slice(0, 12).to_pylist():
            print(f"  {row['key']} {row['start']:%m-%d}..{row['end']:%m-%d} {row['posts']} posts "
                  f"score {row['score']:.1f}")
        for row in bursts.to_pylist():
            start = row["start"].date()
            if start in after_gap:  # a jump on the day posts came back must stand far above the days before the gap
                before = [count for day, count in by_key[row["key"]] if day < start][-7:]
                assert counts[row["key"], start] > 2 * float(np.median(before)) + 2, (method, row)
        found = {(row["key"], row["start"].date()) for row in bursts.to_pylist()}
        # the clearest surges of the sample, none right after a gap: 全球疫情 on 13 March (115 posts against at most
        # 11 a day before) and 海外抗疫日记 on 29 February (85 posts, from nothing)
        assert ("全球疫情", dt.date(2020, 3, 13)) in found and ("海外抗疫日记", dt.date(2020, 2, 29)) in found
        # 武汉加油 posts steadily (about 10-40 a day) from 24 January across the gaps: no return is a burst (on 25
        # February it jumps to 52 posts, which is one)
        returns = {day for day in after_gap if dt.date(2020, 1, 24) < day != dt.date(2020, 2, 25)}
        assert not {start for key, start in found if key == "武汉加油"} & returns, method
