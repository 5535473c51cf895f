"""UTC periods, periods not observed, (post, key) pairs and time of day: what the analyses over time share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError

FREQUENCIES = ("D", "h")
"""Period lengths: ``"D"`` (UTC days) or ``"h"`` (hours)."""

UNITS = {"D": "D", "h": "h"}
PERIOD_TYPE = pa.timestamp("us", tz="UTC")


def period_unit(freq: str) -> str:
    """The numpy datetime unit of a period length (``FREQUENCIES``)."""
    if freq not in UNITS:
        raise ConfigurationError(f"unknown freq {freq!r}; expected one of {FREQUENCIES} (days or hours)")
    return UNITS[freq]


def to_periods(values: np.ndarray) -> pa.Array:
    """``datetime64`` values as a UTC timestamp array."""
    return pa.array(np.asarray(values).astype("datetime64[us]")).cast(PERIOD_TYPE)


def floor_times(times: pa.Array | pa.ChunkedArray, unit: str) -> np.ndarray:
    """Timestamps (no nulls) floored to the period ``unit``, as ``datetime64[unit]``."""
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    if pa.types.is_date(times.type):
        times = times.cast(pa.timestamp("s"))
    elif pa.types.is_timestamp(times.type) and times.type.tz is not None:
        times = times.cast(pa.timestamp(times.type.unit))  # the same instants, read as UTC wall time
    return times.to_numpy(zero_copy_only=False).astype(f"datetime64[{unit}]")


def hashtag_pairs(posts: pa.Table) -> pa.Table:
    """``(post_id, key)`` rows of the posts' hashtags, lower-cased without ``#``, each once per post."""
    from socialfusion.report.overview import post_tag_pairs

    pairs = post_tag_pairs(posts.column("hashtags"), "#")
    ids = posts.column("post_id").take(pairs.column("post"))
    return pa.table({"post_id": ids, "key": pairs.column("tag")}).combine_chunks()


def post_key_pairs(posts: pa.Table, keys: pa.Table | str) -> pa.Table:
    """``(post_id, key)`` rows from a key column of ``posts`` or an assignment table."""
    if isinstance(keys, str):
        if keys == "hashtags":
            return hashtag_pairs(posts)
        if keys not in posts.column_names:
            raise ConfigurationError(f"posts have no column {keys!r}; give 'hashtags', another column of posts, or "
                                     "a table (post_id, key)")
        column = posts.column(keys)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = column.combine_chunks()
            ids = posts.column("post_id").take(pc.list_parent_indices(column))
            return pa.table({"post_id": ids, "key": pc.list_flatten(column).cast(pa.string())}).filter(
                pc.is_valid(pc.list_flatten(column)))
        return pa.table({"post_id": posts.column("post_id"), "key": column.cast(pa.string())}).filter(
            pc.is_valid(column))
    if not isinstance(keys, pa.Table):
        raise ConfigurationError(f"keys must be 'hashtags', a column name of posts or a table (post_id, key); got "
                                 f"{type(keys).__name__}")
    others = [name for name in keys.column_names if name != "post_id"]
    if "post_id" not in keys.column_names or ("key" not in others and len(others) != 1):
        raise DataError(f"a key assignment needs the columns post_id and key (or post_id and one other column, "
                        f"e.g. topic_id); got {keys.column_names}")
    name = "key" if "key" in others else others[0]
    table = pa.table({"post_id": keys.column("post_id").cast(pa.string()), "key": keys.column(name).cast(pa.string())})
    return table.filter(pc.is_valid(table.column("key")))


# -- periods not observed ------------------------------------------------------------------------------------------


def observed_periods(periods: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Which periods were observed: False for every period of a UTC day without a single post in the corpus.

    A day on which the whole corpus has no post was not collected (a crawl's gap, a missing daily file) rather
    than quiet, so the analyses over time treat it as missing: a gap in their charts, no part of any baseline, and
    a series steps over it. Hours are judged by their day: an empty hour of a day with posts was observed.

    Args:
        periods: ``(T,)`` ``datetime64`` period starts (days, hours or bins of days).
        totals: ``(T,)`` posts of the whole corpus in each period.

    Returns:
        ``(T,)`` bool, True where observed.

    Examples:
        >>> days = np.arange(np.datetime64("2020-03-19"), np.datetime64("2020-03-23"))
        >>> observed_periods(days, np.array([5, 0, 0, 7])).tolist()
        [True, False, False, True]
        >>> hours = np.arange(np.datetime64("2020-03-19T22"), np.datetime64("2020-03-20T02"))
        >>> observed_periods(hours, np.array([0, 3, 0, 0])).tolist()  # the 20th has no post at all
        [True, True, False, False]
    """
    periods = np.asarray(periods)
    totals = np.asarray(totals, dtype=float)
    if periods.shape != totals.shape:
        raise DataError(f"periods and totals must have the same shape; got {periods.shape} and {totals.shape}")
    if not len(periods):
        return np.zeros(0, bool)
    days, day_codes = np.unique(periods.astype("datetime64[D]"), return_inverse=True)
    day_totals = np.bincount(day_codes.ravel(), weights=np.nan_to_num(totals), minlength=len(days))
    return day_totals[day_codes] > 0


def unobserved_days(periods: np.ndarray, observed: np.ndarray, *,
                    period_days: int = 1) -> list[tuple[np.datetime64, np.datetime64]]:
    """The runs of days not observed: ``(first day, last day)``, inclusive, in order.

    Args:
        periods: ``(T,)`` sorted ``datetime64`` period starts.
        observed: ``(T,)`` bool, from ``observed_periods``.
        period_days: days each period spans (bins of several days); hours and days are 1.

    Examples:
        >>> days = np.arange(np.datetime64("2020-03-19"), np.datetime64("2020-03-25"))
        >>> [(str(a), str(b)) for a, b in unobserved_days(days, np.array([1, 0, 0, 1, 0, 1], bool))]
        [('2020-03-20', '2020-03-21'), ('2020-03-23', '2020-03-23')]
    """
    starts = np.asarray(periods)[~np.asarray(observed, bool)].astype("datetime64[D]")
    if not len(starts):
        return []
    missing = np.unique((starts[:, None] + np.arange(max(period_days, 1))).ravel())
    breaks = np.flatnonzero(np.diff(missing) != np.timedelta64(1, "D"))
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [len(missing) - 1]])
    return [(missing[first], missing[last]) for first, last in zip(firsts, lasts)]


def _day_range(first: np.datetime64, last: np.datetime64) -> str:
    """``21–31 Mar 2020``, ``28 Feb–2 Mar 2020``, ``30 Dec 2019–2 Jan 2020`` or ``5 Jan 2020``."""
    start, end = first.astype(object), last.astype(object)
    if start == end:
        return f"{start.day} {start:%b %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b}–{end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y}–{end.day} {end:%b %Y}"


def describe_unobserved(periods: np.ndarray, observed: np.ndarray, *, period_days: int = 1,
                        max_runs: int = 8) -> str:
    """One sentence naming the days not observed, for a card or a command's output; ``""`` when there are none.

    Examples:
        >>> days = np.arange(np.datetime64("2020-03-19"), np.datetime64("2020-04-03"))
        >>> observed = (days < np.datetime64("2020-03-21")) | (days > np.datetime64("2020-03-31"))
        >>> describe_unobserved(days, observed)
        '11 days not observed (no post at all: not collected, so left out rather than counted as 0): 21–31 Mar 2020.'
    """
    runs = unobserved_days(periods, observed, period_days=period_days)
    if not runs:
        return ""
    n_days = sum(int((last - first).astype(int)) + 1 for first, last in runs)
    shown = ", ".join(_day_range(first, last) for first, last in runs[:max_runs])
    more = f" and {len(runs) - max_runs} more" if len(runs) > max_runs else ""
    return (f"{n_days} day{'s' if n_days != 1 else ''} not observed (no post at all: not collected, so left out "
            f"rather than counted as 0): {shown}{more}.")


# -- time of day -----------------------------------------------------------------------------------------------------


def time_of_day_known(times: pa.Array | pa.ChunkedArray,
                      groups: pa.Array | pa.ChunkedArray | Sequence[Any] | None = None) -> np.ndarray:
    """Which timestamps carry a time of day: False for nulls and for every timestamp of a date-only source.

    A source (a ``groups`` value, e.g. the posts' ``platform``; the whole column when None) whose timestamps all
    fall at exactly 00:00:00 UTC gives dates only (a daily export, a dataset that publishes the day): its hour is
    not known, and reading it as midnight would invent a peak hour 0.

    Args:
        times: timestamps (nulls allowed).
        groups: ``(n,)`` the source of each timestamp (nulls form a group of their own); None: one source.

    Returns:
        ``(n,)`` bool.

    Examples:
        >>> import datetime as dt
        >>> times = pa.array([dt.datetime(2020, 3, 1), dt.datetime(2020, 3, 2), dt.datetime(2020, 3, 2, 9, 30),
        ...                   None], pa.timestamp("us", "UTC"))
        >>> time_of_day_known(times, pa.array(["weibo", "weibo", "x", "x"])).tolist()
        [False, False, True, False]
    """
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    valid = pc.is_valid(times).to_numpy(zero_copy_only=False)
    if not len(times):
        return np.zeros(0, bool)
    if pa.types.is_date(times.type):
        return np.zeros(len(times), bool)
    if pa.types.is_timestamp(times.type) and times.type.tz is not None:
        times = times.cast(pa.timestamp(times.type.unit))  # the same instants, read as UTC wall time
    values = times.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    midnight = valid & (values == values.astype("datetime64[D]"))
    if groups is None:
        codes = np.zeros(len(values), np.int64)
    else:
        names = groups.to_pylist() if isinstance(groups, (pa.Array, pa.ChunkedArray)) else list(groups)
        if len(names) != len(values):
            raise DataError(f"groups must give one source per timestamp; got {len(names)} for {len(values)}")
        _, codes = np.unique(["" if name is None else f"={name}" for name in names], return_inverse=True)
    dated = np.bincount(codes, weights=valid, minlength=codes.max() + 1)
    at_midnight = np.bincount(codes, weights=midnight, minlength=codes.max() + 1)
    date_only = (dated > 0) & (at_midnight == dated)
    return valid & ~date_only[codes]


def describe_gaps(table: pa.Table) -> str:
    """The sentence naming the days a volume series or an opinion timeline did not observe (``""`` when none).

    Args:
        table: rows with ``period`` and ``total`` (posts of the whole corpus in the period); without ``total``,
            the sum of ``count`` (or ``n``) over the table's keys stands in.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2020, 3, 20), dt.datetime(2020, 3, 21), dt.datetime(2020, 4, 1)]
        >>> describe_gaps(pa.table({"key": ["a"] * 3, "period": days, "count": [4, None, 2], "total": [9, 0, 5]}))
        '1 day not observed (no post at all: not collected, so left out rather than counted as 0): 21 Mar 2020.'
    """
    if "period" not in table.column_names or table.num_rows == 0:
        return ""
    periods, codes = np.unique(floor_times(table.column("period"), "us"), return_inverse=True)
    totals = np.zeros(len(periods))
    if "total" in table.column_names:
        np.maximum.at(totals, codes, table.column("total").fill_null(0).to_numpy().astype(float))
    else:
        name = "count" if "count" in table.column_names else "n"
        if name not in table.column_names:
            return ""
        np.add.at(totals, codes, table.column(name).fill_null(0).to_numpy().astype(float))
    return describe_unobserved(periods, observed_periods(periods, totals))
