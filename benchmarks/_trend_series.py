"""Trend figures: planted bursts found on the synthetic network, next-day volume forecasts on Weibo COVID-19 hashtags.

1. ``burst_table``: the synthetic generator plants topic bursts (one topic's post rate 4-8x higher on 1-3 days). The
   daily volume of each topic (original posts, by their planted topic; total = all original posts of the day) goes
   through each burst detector. A detected burst *matches* a planted one when it is on the same topic and their day
   ranges overlap (inclusive). Precision: share of detected bursts that match a planted one; recall: share of
   planted bursts matched by at least one detected burst; delay: days from the planted start to the start of the
   earliest matching detected burst (negative: detected early), averaged over matched planted bursts. Parameters
   are chosen on TUNING seeds 100-139 (``tuning_table``: a small grid per method, the highest F1 wins; the
   library's defaults for ``negative_binomial`` are that choice) and the table is reported on the disjoint seeds
   0-9, which played no part in any choice.
2. ``forecast_table``: Weibo COVID-19 hashtag counts per day over all source posts with text, on the days the crawl
   kept text up to 2020-03-20 (50 days; after that the source files lose their text column), so a "next day" is the
   next observed day. Hashtags: the 300 with the most posts in the last 7 training days (the week before the test
   days; hot-search hashtags fade fast, so older volume picks mostly dead ones). Time-ordered split: the last 14 days
   are forecast one day ahead, rolling; every method sees only the days before the day it forecasts (the model is
   refitted each day). MAE of the counts over all (hashtag, test day) pairs.

    python benchmarks/_trend_series.py [--bursts-only]
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BURST_SEEDS = tuple(range(10))  # reporting seeds: used for nothing but the final table
TUNING_SEEDS = tuple(range(100, 140))  # disjoint from BURST_SEEDS: the defaults were chosen on these
BURSTS_PER_SEED = 4
NB_GRID = {"window": (7, 14), "dispersion_window": (14, 28), "alpha": (1e-2, 1e-3, 3e-4, 1e-4)}
KLEINBERG_GRID = {"s": (2.0, 3.0, 4.0), "gamma": (0.5, 1.0, 2.0)}
FORECAST_LAST_DAY = dt.date(2020, 3, 20)
FORECAST_TEST_DAYS = 14
FORECAST_HASHTAGS = 300
FORECAST_SELECTION_DAYS = 7


def _planted_series(seed: int):
    """The daily topic volume of one synthetic network and its planted bursts."""
    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.trends import volume_series

    network = generate(n_users=300, n_posts=2000, seed=seed, n_videos=0, n_audio=0, image_fraction=0.0,
                       n_bursts=BURSTS_PER_SEED)
    truth = network.truth
    original = truth.post_kind == "original"
    posts = network.corpus.posts.filter(pa.array(original))
    names = np.asarray(truth.topic_names)[truth.post_topic[original]]
    keys = pa.table({"post_id": posts.column("post_id"), "key": names.tolist()})
    series = volume_series(posts, keys, freq="D")
    first = series.column("period")[0].as_py().date()
    start = dt.date.fromisoformat(truth.parameters["start"][:10])
    offset = (first - start).days  # the series starts at the first day with a post
    planted = [(truth.topic_names[burst.topic], burst.start_day - offset, burst.start_day - offset + burst.n_days - 1)
               for burst in truth.bursts]
    return series, first, planted


def _score(detected: list[tuple[str, int, int]], planted: list[tuple[str, int, int]]) -> tuple[int, int, list[int]]:
    """Detected bursts that match, planted bursts matched, and the delay of each matched planted burst."""
    def overlaps(a, b):
        return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]

    true_detections = sum(any(overlaps(found, burst) for burst in planted) for found in detected)
    delays = []
    for burst in planted:
        starts = [found[1] for found in detected if overlaps(found, burst)]
        if starts:
            delays.append(min(starts) - burst[1])
    return true_detections, len(delays), delays


def _evaluate(networks, method: str, options: dict) -> tuple[int, float, float, float, float]:
    """Detected bursts, precision, recall, mean delay and seconds of one detector over some networks."""
    from socialfusion.tasks.trends import detect_bursts

    n_planted = sum(len(planted) for _, _, planted in networks)
    detected_total = matched_detections = matched_planted = 0
    delays: list[int] = []
    started = time.perf_counter()
    for series, first, planted in networks:
        bursts = detect_bursts(series, method, **options)
        starts, ends = ([(value.as_py().date() - first).days for value in bursts.column(column)]
                        for column in ("start", "end"))
        detected = list(zip(bursts.column("key").to_pylist(), starts, ends))
        true_detections, found, burst_delays = _score(detected, planted)
        detected_total += len(detected)
        matched_detections += true_detections
        matched_planted += found
        delays += burst_delays
    precision = matched_detections / detected_total if detected_total else float("nan")
    delay = float(np.mean(delays)) if delays else float("nan")
    return detected_total, precision, matched_planted / n_planted, delay, time.perf_counter() - started


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _name(method: str, options: dict) -> str:
    return method + "".join(f" {key}={value:g}" for key, value in options.items())


def tuning_table() -> dict[str, dict]:
    """The grid of each method on the tuning seeds; returns the options with the highest F1 per method."""
    import inspect

    from socialfusion.tasks.trends import detect_bursts

    networks = [_planted_series(seed) for seed in TUNING_SEEDS]
    n_planted = sum(len(planted) for _, _, planted in networks)
    print(f"\n1a. Tuning: seeds {TUNING_SEEDS[0]}-{TUNING_SEEDS[-1]} ({n_planted} planted bursts), disjoint from the "
          f"reporting seeds {BURST_SEEDS[0]}-{BURST_SEEDS[-1]}; the highest F1 of each grid wins\n")
    print(f"{'method':<62}{'detected':>10}{'precision':>11}{'recall':>8}{'F1':>7}")
    chosen: dict[str, dict] = {}
    for method, grid in (("negative_binomial", NB_GRID), ("kleinberg", KLEINBERG_GRID)):
        best = (-1.0, {})
        for values in itertools.product(*grid.values()):
            options = dict(zip(grid, values))
            detected, precision, recall, _, _ = _evaluate(networks, method, options)
            f1 = _f1(precision, recall)
            best = max(best, (f1, options), key=lambda pair: pair[0])  # ties: the first in grid order
            print(f"{_name(method, options):<62}{detected:>10}{precision:>11.3f}{recall:>8.3f}{f1:>7.3f}")
        chosen[method] = best[1]
        print(f"-> chosen: {_name(method, best[1])}\n")
    defaults = {name: parameter.default for name, parameter in inspect.signature(detect_bursts).parameters.items()}
    same = all(defaults[name] == value for name, value in chosen["negative_binomial"].items())
    print(f"library defaults of detect_bursts: {_name('negative_binomial', {k: defaults[k] for k in NB_GRID})} "
          f"({'the tuned choice' if same else 'NOT the tuned choice: update them'}); kleinberg keeps the textbook "
          f"s={defaults['s']:g}, gamma={defaults['gamma']:g}")
    return chosen


def burst_table(chosen: dict[str, dict] | None = None) -> None:
    chosen = tuning_table() if chosen is None else chosen
    networks = [_planted_series(seed) for seed in BURST_SEEDS]
    n_planted = sum(len(planted) for _, _, planted in networks)
    print(f"\n1b. Planted topic bursts on the synthetic network, REPORTING seeds {BURST_SEEDS[0]}-{BURST_SEEDS[-1]} "
          f"(not used for tuning): 300 users, 2,000 original posts over 30 days, 6 topics, {BURSTS_PER_SEED} bursts "
          f"per seed ({n_planted} in all). Match: same topic and overlapping day ranges (inclusive)\n")
    print(f"{'method':<50}{'detected':>10}{'precision':>11}{'recall':>8}{'mean delay (days)':>19}{'seconds':>9}")
    variants = (("negative_binomial", {}, " (default)"), ("poisson", {}, " (library alpha)"),
                ("kleinberg", {}, " (textbook default)"), ("kleinberg", chosen["kleinberg"], " (tuned)"))
    for method, options, note in variants:
        detected, precision, recall, delay, seconds = _evaluate(networks, method, options)
        print(f"{_name(method, options) + note:<50}{detected:>10}{precision:>11.3f}{recall:>8.3f}{delay:>19.2f}"
              f"{seconds:>9.2f}")


def forecast_table() -> None:
    from socialfusion.datasets.weibo import load_weibo_hashtag_counts
    from socialfusion.tasks.trends import VolumeForecaster, backtest, series_from_counts

    counts = load_weibo_hashtag_counts()
    counts = counts.filter(pc.less_equal(counts.column("date"), pa.scalar(FORECAST_LAST_DAY, pa.date32())))
    days = sorted(set(counts.column("date").to_pylist()))
    train_days = days[:-FORECAST_TEST_DAYS]
    recent = train_days[-FORECAST_SELECTION_DAYS:]
    in_train = counts.filter(pc.is_in(counts.column("date"), value_set=pa.array(recent, pa.date32())))
    volume = in_train.group_by("hashtag").aggregate([("n_posts", "sum")]).sort_by(
        [("n_posts_sum", "descending"), ("hashtag", "ascending")])
    chosen = volume.column("hashtag").slice(0, FORECAST_HASHTAGS)
    counts = counts.filter(pc.is_in(counts.column("hashtag"), value_set=chosen))
    series = series_from_counts(counts, key="hashtag", period="date", count="n_posts", periods=days)
    print(f"\n2. Next-day volume of the {FORECAST_HASHTAGS} busiest Weibo COVID-19 hashtags (in the week before "
          "the test days): "
          f"{len(days)} observed days {days[0]}..{days[-1]}, the last {FORECAST_TEST_DAYS} forecast one day ahead "
          "(rolling, refit daily, past days only)\n")
    print(f"{'method':<40}{'MAE (posts)':>12}{'MAE, log1p':>12}{'seconds':>9}")
    rows = {}
    for model in ("ridge",):  # gradient_boosting: same protocol, about 10 s per refit here
        started = time.perf_counter()
        table = backtest(series, test_periods=FORECAST_TEST_DAYS, forecaster=VolumeForecaster(model=model), window=7)
        rows[f"VolumeForecaster({model})"] = (table.column("model").to_numpy(), time.perf_counter() - started)
    actual = table.column("actual").to_numpy()
    ordered = {"persistence": (table.column("persistence").to_numpy(), 0.0),
               "moving average (7 days)": (table.column("moving_average").to_numpy(), 0.0), **rows}
    for name, (forecast, seconds) in ordered.items():
        mae = float(np.mean(np.abs(forecast - actual)))
        log_mae = float(np.mean(np.abs(np.log1p(forecast) - np.log1p(actual))))
        print(f"{name:<40}{mae:>12.3f}{log_mae:>12.3f}{seconds:>9.1f}")
    print(f"\n{table.num_rows:,} (hashtag, day) forecasts; mean actual count {float(actual.mean()):.2f}")


def main() -> None:
    burst_table()
    if "--bursts-only" not in sys.argv[1:]:
        forecast_table()


if __name__ == "__main__":
    main()
