"""UTC periods and (post, key) pairs: what the time-series analyses (``trends``, ``opinion``) share."""

from __future__ import annotations

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
