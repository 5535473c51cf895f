"""Trends: post volume per key (topic, hashtag, entity) over time, bursts, emerging keys and next-period forecasts.

A *key* is whatever groups posts: the hashtags of ``posts.hashtags`` or any ``(post_id, key)`` assignment (topics
from a topic model, entities, labels). Everything here reads one Arrow table, the *volume series*:

- ``volume_series(posts, keys, freq="D")`` (or ``series_from_counts`` for counts aggregated elsewhere): columns
  ``key``, ``period`` (UTC timestamp of the period's start), ``count`` (posts of the key in the period) and
  ``total`` (all posts in the period), one row per key and period, zeros included.
- A period of a UTC day without a single post in the whole corpus was *not observed* (not collected, not quiet;
  ``_periods.observed_periods``): its ``count`` is null and its ``total`` 0, and every analysis here steps over it.
  It is no part of a baseline, so the return of posts after a gap does not start a burst, and the charts show a
  gap, not a drop to 0; the card names the days, and ``describe_gaps(series)`` says which they are.
- ``detect_bursts(series, method="negative_binomial" | "poisson" | "kleinberg")``: ``key``, ``start``, ``end``
  (first and last period of the burst, inclusive), ``periods``, ``posts``, ``score``. The count tests judge a key's
  count against a trailing baseline of its own non-burst periods (negative binomial with the key's own dispersion,
  or Poisson); Kleinberg's two-state automaton for batched streams (``kleinberg_states``) judges its share of all
  posts.
- ``emerging_topics``: the keys whose burst is still running at the last period and began recently, ranked.
- ``VolumeForecaster``: next-period volume of every key from lag features in log space (scikit-learn, one model
  across keys); ``persistence`` and ``moving_average`` are the baselines; ``backtest`` compares them one period
  ahead, refitting on the past only.
- ``trends_section``: the report card.

Examples:
    >>> import datetime as dt
    >>> day = lambda d: dt.datetime(2024, 5, d, 9, tzinfo=dt.UTC)
    >>> posts = pa.table({"post_id": [f"p{i}" for i in range(8)],
    ...                   "created_at": [day(1), day(1), day(2), day(2), day(3), day(3), day(3), day(3)],
    ...                   "hashtags": [["cats"], ["dogs"], ["cats"], [], ["cats"], ["cats"], ["Cats"], ["dogs"]]})
    >>> series = volume_series(posts)
    >>> series.filter(pc.equal(series.column("key"), "cats")).select(["count", "total"]).to_pylist()
    [{'count': 1, 'total': 2}, {'count': 1, 'total': 2}, {'count': 3, 'total': 4}]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks._ids import cell_sums, keep_rows, sorted_keys
from socialfusion.tasks._periods import (
    FREQUENCIES,
    PERIOD_TYPE,
    describe_gaps,
    describe_unobserved,
    floor_times,
    hashtag_pairs,
    observed_periods,
    period_unit,
    post_key_pairs,
    to_periods,
)
from socialfusion.tasks.topics import POST_TOPICS_TABLE

if TYPE_CHECKING:
    from socialfusion.report import ReportSection
    from socialfusion.store import Store

__all__ = [
    "BURST_METHODS",
    "FORECAST_MODELS",
    "FREQUENCIES",
    "KEY_KINDS",
    "VolumeForecaster",
    "backtest",
    "describe_gaps",
    "detect_bursts",
    "emerging_topics",
    "key_assignment",
    "kleinberg_states",
    "moving_average",
    "persistence",
    "series_from_counts",
    "trends_section",
    "volume_series",
]

logger = logging.getLogger(__name__)

BURST_METHODS = ("negative_binomial", "poisson", "kleinberg")
"""Burst detectors of ``detect_bursts``."""

FORECAST_MODELS = ("ridge", "gradient_boosting")
"""Learners of ``VolumeForecaster``."""

KEY_KINDS = ("hashtag", "topic")
"""What ``key_assignment`` groups a store's posts by."""


_SERIES_COLUMNS = ("key", "period", "count", "total")
_BURST_SCHEMA = pa.schema([("key", pa.string()), ("start", PERIOD_TYPE), ("end", PERIOD_TYPE),
                           ("periods", pa.int64()), ("posts", pa.int64()), ("score", pa.float64())])
_FORECAST_SCHEMA = pa.schema([("key", pa.string()), ("period", PERIOD_TYPE), ("forecast", pa.float64())])
_MAX_SHARE = 0.9999  # Kleinberg's burst rate s * p0 is capped below 1 (log(1 - p) must stay finite)


# -- volume series ------------------------------------------------------------------------------------------------


def key_assignment(data: Store | Corpus | pa.Table, by: str = "hashtag") -> pa.Table:
    """The key of each post: one row per (post, key).

    Args:
        data: a store, a corpus, or a posts table (``by="hashtag"`` only).
        by: ``"hashtag"``: the post's hashtags, lower-cased without ``#`` (each once per post); ``"topic"``: the
            store's ``post_topics`` table (``post_id``, ``topic_id``, from a topic model) when it exists, else the
            ``topic`` labels of the ``labels`` table.

    Returns:
        Columns ``post_id`` and ``key`` (strings).

    Raises:
        ConfigurationError: ``by`` is unknown.
        DataError: ``by="topic"`` and there is no topic assignment (the message says how to make one).

    Examples:
        >>> posts = pa.table({"post_id": ["p1", "p2"], "hashtags": [["AI", "#ai", "ML"], []]})
        >>> key_assignment(posts).sort_by("key").to_pylist()
        [{'post_id': 'p1', 'key': 'ai'}, {'post_id': 'p1', 'key': 'ml'}]
    """
    if by not in KEY_KINDS:
        raise ConfigurationError(f"unknown key kind {by!r}; expected one of {KEY_KINDS}")
    if by == "hashtag":
        return hashtag_pairs(data if isinstance(data, pa.Table) else (
            data.posts if isinstance(data, Corpus) else data.read("posts", columns=["post_id", "hashtags"])))
    if isinstance(data, pa.Table):
        raise ConfigurationError("by='topic' needs a store or a corpus (topics are in post_topics or labels)")
    if not isinstance(data, Corpus) and POST_TOPICS_TABLE in data.tables():
        topics = data.read(POST_TOPICS_TABLE, columns=["post_id", "topic_id"])
        return pa.table({"post_id": topics.column("post_id").cast(pa.string()),
                         "key": topics.column("topic_id").cast(pa.string())})
    labels = data.labels if isinstance(data, Corpus) else data.read("labels")
    labels = labels.filter(pc.and_(pc.equal(labels.column("task"), "topic"),
                                   pc.equal(labels.column("item_kind"), "post")))
    if labels.num_rows == 0:
        raise DataError(f"no topic assignment: no {POST_TOPICS_TABLE!r} table and no post labelled for task 'topic'; "
                        "fit a topic model and write its post_topics table, or group by hashtag instead")
    return pa.table({"post_id": labels.column("item_id"), "key": labels.column("label").cast(pa.string())})


def _check_posts(posts: pa.Table) -> None:
    missing = [name for name in ("post_id", "created_at") if name not in posts.column_names]
    if missing:
        raise DataError(f"posts need the columns post_id and created_at; missing {missing}")


def _dense(key_names: pa.Array, key_codes: np.ndarray, period_codes: np.ndarray, counts: np.ndarray,
           periods: np.ndarray, totals: np.ndarray, min_posts: int) -> pa.Table:
    """A series table from (key code, period code, count) triples, the keys sorted (``sorted_keys``): every key x
    every period, zeros filled, and the count null in the periods not observed (``observed_periods`` of the
    totals)."""
    n_periods = len(periods)
    matrix = cell_sums(key_codes, period_codes, (len(key_names), n_periods), counts).astype(np.int64)
    order = np.flatnonzero(matrix.sum(axis=1) >= max(min_posts, 1))  # in key order: the keys are sorted
    unobserved = ~observed_periods(periods, totals)
    return pa.table({
        "key": key_names.take(pa.array(np.repeat(order, n_periods))),
        "period": to_periods(np.tile(periods, len(order))),
        "count": pa.array(matrix[order].ravel(), pa.int64(), mask=np.tile(unobserved, len(order))),
        "total": pa.array(np.tile(totals.astype(np.int64), len(order)), pa.int64()),
    })


def volume_series(posts: pa.Table, keys: pa.Table | str = "hashtags", *, freq: str = "D",
                  min_posts: int = 1) -> pa.Table:
    """Posts per key and period: the volume series every trend analysis reads.

    Args:
        posts: posts with ``post_id`` and ``created_at`` (and ``hashtags`` for the default keys); posts without a
            ``created_at`` are left out (with a log line).
        keys: ``"hashtags"`` (lower-cased, ``#`` stripped, once per post), the name of another column of ``posts``
            (a string or a list of strings per post), or a table ``(post_id, key)`` of any assignment (a topic
            model's ``post_topics`` with ``topic_id`` works as it is).
        freq: ``"D"`` (UTC days) or ``"h"`` (hours).
        min_posts: keep the keys with at least this many posts in all.

    Returns:
        Columns ``key`` (string), ``period`` (UTC timestamp, start of the period), ``count`` (posts of the key),
        ``total`` (every dated post of the period, keyed or not), for every key and every period from the first
        dated post to the last; sorted by key then period. In a period not observed (a UTC day without any post:
        not collected, not quiet) ``count`` is null and ``total`` 0.

    Raises:
        ConfigurationError: unknown ``freq`` or ``keys``.
        DataError: ``posts`` lacks ``post_id`` or ``created_at``, or no post has a ``created_at``.
    """
    unit = period_unit(freq)
    _check_posts(posts)
    read = [name for name in dict.fromkeys(["post_id", "created_at", keys if isinstance(keys, str) else "post_id"])
            if name in posts.column_names]
    dated = keep_rows(posts.select(read), pc.is_valid(posts.column("created_at")))  # no copy when all are dated
    if dated.num_rows < posts.num_rows:
        logger.info("%d posts without created_at are left out of the volume series", posts.num_rows - dated.num_rows)
    if dated.num_rows == 0:
        raise DataError("no post has a created_at, so there is no volume over time to count")
    floored = floor_times(dated.column("created_at"), unit)
    first = floored.min()
    periods = np.arange(first, floored.max() + 1)
    post_period = (floored - first).astype(np.int64)
    totals = np.bincount(post_period, minlength=len(periods))
    pairs = post_key_pairs(dated, keys)
    position = pc.index_in(pairs.column("post_id"), value_set=dated.column("post_id"))
    pairs = pairs.filter(pc.is_valid(position)).group_by(["post_id", "key"]).aggregate([])
    position = pc.index_in(pairs.column("post_id"), value_set=dated.column("post_id")).to_numpy()
    key_names, key_codes = sorted_keys(pairs.column("key"))
    return _dense(key_names, key_codes, post_period[position], np.ones(len(position), np.int64), periods,
                  totals, min_posts)


def series_from_counts(counts: pa.Table, *, key: str = "key", period: str = "period", count: str = "count",
                       freq: str = "D", periods: Sequence[Any] | None = None, min_posts: int = 1) -> pa.Table:
    """A volume series from counts aggregated elsewhere (e.g. ``load_weibo_hashtag_counts``).

    Args:
        counts: one row per (key, period) with a count; repeated rows are added up.
        key: the key column.
        period: the period column (date or timestamp; floored to ``freq``).
        count: the count column.
        freq: ``"D"`` or ``"h"``.
        periods: the periods to keep (dates or timestamps), in any order; rows of other periods are dropped. Use
            it to skip periods that were not observed (a crawl's missing days): each series then steps from one
            kept period to the next. None: every period from the first row to the last.
        min_posts: keep the keys counting at least this many in the kept periods.

    Returns:
        The volume series (``key``, ``period``, ``count``, ``total``); ``total`` is the sum of all keys' counts in
        the period. A period whose day has no count at all was not observed: its ``count`` is null, its ``total``
        0 (as in ``volume_series``).

    Raises:
        DataError: a column is missing, a count is negative, or no row is left.

    Examples:
        >>> import datetime as dt
        >>> counts = pa.table({"hashtag": ["a", "a", "b"], "date": [dt.date(2020, 1, 1), dt.date(2020, 1, 3),
        ...                    dt.date(2020, 1, 3)], "n": [2, 5, 1]})
        >>> series_from_counts(counts, key="hashtag", period="date", count="n").column("count").to_pylist()
        [2, None, 5, 0, None, 1]
    """
    unit = period_unit(freq)
    missing = [name for name in (key, period, count) if name not in counts.column_names]
    if missing:
        raise DataError(f"counts need the columns {key!r}, {period!r} and {count!r}; missing {missing} "
                        f"(columns: {counts.column_names})")
    counts = counts.filter(pc.and_(pc.is_valid(counts.column(period)), pc.is_valid(counts.column(key))))
    values = counts.column(count).fill_null(0).to_numpy().astype(np.int64)
    if (values < 0).any():
        raise DataError(f"counts in column {count!r} must not be negative")
    floored = floor_times(counts.column(period), unit)
    if periods is None:
        if not len(floored):
            raise DataError("no counts to make a series of")
        kept = np.arange(floored.min(), floored.max() + 1)
    else:
        kept = np.unique(floor_times(pa.array(list(periods)), unit))
    period_codes = np.searchsorted(kept, floored)
    inside = (period_codes < len(kept)) & (kept[np.minimum(period_codes, len(kept) - 1)] == floored)
    if not inside.any():
        raise DataError("no count falls in the periods asked for")
    key_names, key_codes = sorted_keys(counts.column(key).filter(pa.array(inside)))
    totals = np.bincount(period_codes[inside], weights=values[inside], minlength=len(kept))
    return _dense(key_names, key_codes, period_codes[inside], values[inside], kept, totals, min_posts)


class _Matrix(NamedTuple):
    keys: list[str]
    periods: np.ndarray  # (T,) datetime64[us]
    counts: np.ndarray  # (K, T) float
    totals: np.ndarray  # (T,) float
    observed: np.ndarray  # (T,) bool: False for the periods of a day without any post (see observed_periods)

    def observed_only(self) -> _Matrix:
        """The same keys over the observed periods only: what bursts, alerts and forecasts read."""
        keep = self.observed
        return _Matrix(self.keys, self.periods[keep], self.counts[:, keep], self.totals[keep], keep[keep])

    def describe_unobserved(self) -> str:
        """The sentence naming the days not observed (``""`` when none)."""
        return describe_unobserved(self.periods, self.observed)


def _matrix(series: pa.Table) -> _Matrix:
    """The series as a keys x periods matrix (periods sorted; missing rows and null counts count 0), with the
    periods observed: those of a day whose ``total`` (else the sum of all keys' counts) is above 0."""
    missing = [name for name in _SERIES_COLUMNS[:3] if name not in series.column_names]
    if missing:
        raise DataError(f"a volume series needs the columns key, period, count (and total); missing {missing}; "
                        "make one with volume_series or series_from_counts")
    if series.num_rows == 0:
        raise DataError("the volume series is empty")
    periods_raw = floor_times(series.column("period"), "us")
    periods, period_codes = np.unique(periods_raw, return_inverse=True)
    keys, key_codes = sorted_keys(series.column("key"))
    values = series.column("count").fill_null(0).to_numpy().astype(float)
    if (values < 0).any():
        raise DataError("a volume series has negative counts")
    counts = cell_sums(key_codes, period_codes, (len(keys), len(periods)), values)
    if "total" in series.column_names:
        totals = np.zeros(len(periods))
        np.maximum.at(totals, period_codes, series.column("total").fill_null(0).to_numpy().astype(float))
    else:
        totals = counts.sum(axis=0)
    return _Matrix(keys.to_pylist(), periods, counts, totals, observed_periods(periods, totals))


def _observed_matrix(series: pa.Table) -> _Matrix:
    """``_matrix`` over the observed periods only; at least one must be left."""
    data = _matrix(series).observed_only()
    if not len(data.periods):
        raise DataError("no period of the volume series was observed: every total is 0")
    return data


# -- bursts -------------------------------------------------------------------------------------------------------


def _kleinberg_costs(counts: np.ndarray, totals: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``(2, n)`` costs of the base and burst states (negative log-likelihoods, binomial coefficient dropped)."""
    relevant, total = counts.sum(), totals.sum()
    if relevant <= 0 or relevant >= total:
        return None  # nothing, or everything, is on this key: no rate to rise above
    base = relevant / total
    rates = np.array([base, min(s * base, _MAX_SHARE)])
    costs = -(counts[None, :] * np.log(rates[:, None]) + (totals - counts)[None, :] * np.log1p(-rates[:, None]))
    return costs, rates


def kleinberg_states(counts: Sequence[float], totals: Sequence[float], *, s: float = 2.0,
                     gamma: float = 1.0) -> np.ndarray:
    """The cheapest state sequence of Kleinberg's two-state automaton for a batched document stream.

    Batch ``t`` has ``totals[t]`` documents, ``counts[t]`` of them relevant (on the key). State 0 emits relevant
    documents at the overall rate ``p0 = sum(counts) / sum(totals)``, state 1 at ``p1 = s * p0`` (capped below
    1); a batch costs ``-log(p^r (1 - p)^(d - r))`` in a state (the binomial coefficient is the same in both and
    dropped), moving up from state 0 to 1 costs ``gamma * ln(n)`` (n batches) and moving down is free. The
    automaton starts in state 0. (Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002, sec. 4.)

    Args:
        counts: ``(n,)`` relevant documents per batch.
        totals: ``(n,)`` documents per batch, each at least its count.
        s: the burst state's rate multiplier, above 1.
        gamma: the cost of entering the burst state, in units of ``ln(n)``; at least 0.

    Returns:
        ``(n,)`` int array of states, 1 in a burst.

    Raises:
        ConfigurationError: ``s <= 1`` or ``gamma < 0``.
        DataError: lengths differ, or a count is negative or above its total.

    Examples:
        Five batches of 10 documents, 5 relevant in the middle one: ``p0 = 0.1``, ``p1 = 0.2``. The middle batch
        costs 12.04 in state 0 and 9.16 in state 1, a saving of 2.88; entering the burst costs ``ln 5 = 1.61``:

        >>> kleinberg_states([0, 0, 5, 0, 0], [10] * 5).tolist()
        [0, 0, 1, 0, 0]

        With ``gamma=2`` entering costs 3.22, more than the saving:

        >>> kleinberg_states([0, 0, 5, 0, 0], [10] * 5, gamma=2).tolist()
        [0, 0, 0, 0, 0]
    """
    if not s > 1:
        raise ConfigurationError(f"s must be above 1 (the burst rate is s times the base rate); got {s}")
    if not gamma >= 0:
        raise ConfigurationError(f"gamma must be at least 0; got {gamma}")
    counts, totals = np.asarray(counts, float), np.asarray(totals, float)
    if counts.shape != totals.shape or counts.ndim != 1:
        raise DataError(f"counts and totals must be 1-d of the same length; got {counts.shape} and {totals.shape}")
    if (counts < 0).any() or (counts > totals).any():
        raise DataError("each count must be between 0 and its batch's total")
    n = len(counts)
    found = _kleinberg_costs(counts, totals, s)
    if n == 0 or found is None:
        return np.zeros(n, np.int64)
    costs = found[0]
    up = gamma * math.log(n) if n > 1 else gamma * math.log(2)
    best = np.array([costs[0, 0], costs[1, 0] + up])
    back = np.zeros((n, 2), np.int64)
    for t in range(1, n):
        into_base = (best[0], best[1])  # going down is free
        into_burst = (best[0] + up, best[1])
        back[t] = [int(np.argmin(into_base)), int(np.argmin(into_burst))]
        best = np.array([min(into_base), min(into_burst)]) + costs[:, t]
    states = np.zeros(n, np.int64)
    states[-1] = int(np.argmin(best))
    for t in range(n - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of every run of True values, inclusive."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(first), int(after) - 1) for first, after in zip(edges[::2], edges[1::2])]


def _count_flags(counts: np.ndarray, window: int, alpha: float, min_count: int, min_history: int,
                 dispersion_window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Periods whose count is improbably high against the key's trailing non-burst periods; and z-scores.

    The expected count ``m`` is the mean of the last ``window`` periods not flagged already (a burst does not
    raise its own baseline); before ``min_history`` such periods exist, the median of the whole series stands in.
    ``m`` is floored at 0.5 posts, so that a key out of nowhere needs a few posts to count as a burst. With
    ``dispersion_window=None`` the count is judged under Poisson(m). Otherwise its variance is ``phi * m``, where
    ``phi`` (at least 1: never below Poisson) is the variance-to-mean ratio of the last ``dispersion_window``
    non-flagged periods (method of moments; before ``min_history`` of them, the whole series' robust ratio
    ``(1.4826 MAD)^2 / median``), and the count is judged under the negative binomial of mean ``m`` and that
    variance.
    """
    from scipy.stats import nbinom, poisson

    flags = np.zeros(len(counts), bool)
    z = np.zeros(len(counts))
    history: list[float] = []
    median = float(np.median(counts))
    mad = 1.4826 * float(np.median(np.abs(counts - median)))
    fallback_ratio = max(mad * mad / max(median, 0.5), 1.0)
    for t, count in enumerate(counts):
        known = len(history) >= min_history
        expected = max(float(np.mean(history[-window:])) if known else median, 0.5)
        ratio = 1.0
        if dispersion_window is not None:
            recent = np.asarray(history[-dispersion_window:]) if known else None
            ratio = (max(float(np.var(recent, ddof=1)) / max(float(recent.mean()), 0.5), 1.0)
                     if recent is not None and len(recent) > 1 else fallback_ratio)
        z[t] = (count - expected) / math.sqrt(expected * ratio)
        if ratio > 1.0:  # negative binomial with mean m, variance ratio * m: n = m / (ratio - 1), p = 1 / ratio
            tail = nbinom.sf(count - 1, expected / (ratio - 1.0), 1.0 / ratio)
        else:
            tail = poisson.sf(count - 1, expected)
        if count >= min_count and tail < alpha:
            flags[t] = True
        else:
            history.append(float(count))
    return flags, z


def detect_bursts(series: pa.Table, method: str = "negative_binomial", *, s: float = 2.0, gamma: float = 1.0,
                  window: int = 14, alpha: float = 0.001, min_count: int = 3, min_history: int = 3,
                  dispersion_window: int = 14) -> pa.Table:
    """Periods of unusually high volume per key.

    ``"kleinberg"`` runs ``kleinberg_states`` on each key's count against the period totals (a key bursts when
    its *share* of all posts rises about ``s``-fold); a burst is a run of state 1 and its score is the cost it
    saves, ``sum(cost_base - cost_burst)`` over its periods.

    ``"poisson"`` and ``"negative_binomial"`` test each period's count ``c`` against the mean ``m`` of the key's
    last ``window`` non-burst periods (flagged periods stay out of later baselines) and flag it when
    ``P(X >= c) < alpha`` and ``c >= min_count``. ``"poisson"``: ``X ~ Poisson(m)``. ``"negative_binomial"``
    (the default) allows for overdispersion, since real daily counts vary more than a Poisson law (weekday
    rhythm, a few very active authors, the baseline itself being an estimate): ``X`` has mean ``m`` and variance
    ``phi * m``, where ``phi`` is the variance-to-mean ratio of the key's last ``dispersion_window`` non-burst
    periods (method of moments), floored at 1 (Poisson); so a key whose quiet days already swing widely needs a
    larger jump. A burst is a run of flagged periods; its score is the largest ``(c - m) / sqrt(phi * m)`` in it
    (``phi = 1`` for ``"poisson"``). The defaults (``alpha=0.001``, ``window=14``, ``dispersion_window=14``)
    are the best F1 of a small grid on synthetic networks with planted bursts whose seeds are disjoint from the
    reported ones (see ``benchmarks/_trend_series.py``).

    Every method reads the observed periods only (``observed_periods``): a day without any post in the corpus is
    neither a quiet day in a baseline nor a batch of Kleinberg's stream, so the first day after a gap is judged
    against the days before the gap, and a burst that runs on after a gap is one burst.

    Args:
        series: a volume series (``key``, ``period``, ``count``, ``total``).
        method: ``"negative_binomial"``, ``"poisson"`` or ``"kleinberg"``.
        s: Kleinberg's rate multiplier of the burst state (above 1).
        gamma: Kleinberg's cost of entering a burst, in units of ``ln(periods)``.
        window: count tests: periods in the trailing baseline mean.
        alpha: count tests: the per-period significance level (no correction: lower it for many keys).
        min_count: count tests: fewest posts in a burst period.
        min_history: count tests: baseline periods needed before the trailing mean (and dispersion) is used;
            before, the series' median (and its robust dispersion, ``(1.4826 MAD)^2 / median``) stands in.
        dispersion_window: ``"negative_binomial"``: trailing non-burst periods the dispersion is estimated from
            (at least 2).

    Returns:
        Columns ``key``, ``start`` and ``end`` (first and last period of the burst, inclusive), ``periods`` (the
        observed periods in it), ``posts`` (the key's posts in the burst) and ``score``; sorted by key then start.

    Raises:
        ConfigurationError: an unknown method or a parameter out of range.
        DataError: the series is empty or lacks a column.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, d, tzinfo=dt.UTC) for d in range(1, 11)]
        >>> series = pa.table({"key": ["cats"] * 10, "period": days, "count": [5, 5, 5, 5, 5, 20, 20, 5, 5, 5],
        ...                    "total": [50] * 10})
        >>> [(row["start"].day, row["end"].day) for row in detect_bursts(series).to_pylist()]
        [(6, 7)]
        >>> [(row["start"].day, row["end"].day) for row in detect_bursts(series, "kleinberg").to_pylist()]
        [(6, 7)]

        A key whose quiet days swing between 2 and 14 posts: 18 posts is a Poisson burst, not an overdispersed
        one:

        >>> swinging = series.set_column(2, "count", pa.array([2, 14, 3, 12, 2, 18, 4, 13, 3, 12]))
        >>> detect_bursts(swinging, "poisson").num_rows, detect_bursts(swinging).num_rows
        (1, 0)
    """
    if method not in BURST_METHODS:
        raise ConfigurationError(f"unknown burst method {method!r}; expected one of {BURST_METHODS}")
    if window < 1 or min_history < 1 or min_count < 0 or not 0 < alpha < 1 or dispersion_window < 2:
        raise ConfigurationError(f"need window >= 1, min_history >= 1, min_count >= 0, 0 < alpha < 1 and "
                                 f"dispersion_window >= 2; got window={window}, min_history={min_history}, "
                                 f"min_count={min_count}, alpha={alpha}, dispersion_window={dispersion_window}")
    data = _observed_matrix(series)
    rows: list[tuple[str, int, int, int, float]] = []
    for key, counts in zip(data.keys, data.counts):
        if method == "kleinberg":
            states = kleinberg_states(counts, np.maximum(data.totals, counts), s=s, gamma=gamma)
            found = _kleinberg_costs(counts, np.maximum(data.totals, counts), s)
            saving = found[0][0] - found[0][1] if found is not None else np.zeros(len(counts))
            for first, last in _runs(states == 1):
                rows.append((key, first, last, int(counts[first:last + 1].sum()),
                             float(saving[first:last + 1].sum())))
        else:
            flags, z = _count_flags(counts, window, alpha, min_count, min_history,
                                    dispersion_window if method == "negative_binomial" else None)
            for first, last in _runs(flags):
                rows.append((key, first, last, int(counts[first:last + 1].sum()), float(z[first:last + 1].max())))
    if not rows:
        return _BURST_SCHEMA.empty_table()
    keys, firsts, lasts, posts, scores = (list(column) for column in zip(*rows))
    return pa.table({"key": keys, "start": to_periods(data.periods[firsts]), "end": to_periods(data.periods[lasts]),
                     "periods": np.asarray(lasts) - np.asarray(firsts) + 1, "posts": posts, "score": scores},
                    schema=_BURST_SCHEMA)


def emerging_topics(series: pa.Table, *, method: str = "negative_binomial", within: int = 3, top: int = 10,
                    **burst_options: Any) -> pa.Table:
    """Alerts: keys whose burst is still running at the series' last observed period and began in its last
    ``within`` observed periods (periods not observed are skipped, see ``detect_bursts``).

    Args:
        series: a volume series.
        method: the burst detector (see ``detect_bursts``).
        within: a burst must have started in the last ``within`` periods.
        top: most alerts returned.
        **burst_options: passed to ``detect_bursts`` (``alpha``, ``window``, ``s``, ``gamma``, ...).

    Returns:
        Columns ``key``, ``start`` (the burst's first period), ``periods``, ``posts`` (in the burst), ``score``,
        ``latest`` (the key's count in the last observed period) and ``before`` (its mean count per observed
        period before the burst; 0 when it began at the first period), ranked by score, highest first.

    Raises:
        ConfigurationError: ``within`` or ``top`` below 1, or a bad burst option.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, d, tzinfo=dt.UTC) for d in range(1, 9)]
        >>> series = pa.table({"key": ["a"] * 8 + ["b"] * 8, "period": days * 2,
        ...                    "count": [4, 5, 4, 5, 4, 5, 30, 40] + [5] * 8, "total": [100] * 16})
        >>> emerging_topics(series).select(["key", "latest", "before"]).to_pylist()
        [{'key': 'a', 'latest': 40, 'before': 4.5}]
    """
    if within < 1 or top < 1:
        raise ConfigurationError(f"within and top must be at least 1; got within={within}, top={top}")
    data = _observed_matrix(series)
    bursts = detect_bursts(series, method, **burst_options)
    last = data.periods[-1]
    first_recent = data.periods[max(0, len(data.periods) - within)]
    ends = floor_times(bursts.column("end"), "us")
    starts = floor_times(bursts.column("start"), "us")
    live = bursts.filter(pa.array((ends == last) & (starts >= first_recent)))
    index = {key: position for position, key in enumerate(data.keys)}
    latest, before = [], []
    for key, start in zip(live.column("key").to_pylist(), floor_times(live.column("start"), "us")):
        counts = data.counts[index[key]]
        began = int(np.searchsorted(data.periods, start))
        latest.append(int(counts[-1]))
        before.append(float(counts[:began].mean()) if began else 0.0)
    alerts = live.drop_columns(["end"]).append_column("latest", pa.array(latest, pa.int64())).append_column(
        "before", pa.array(before, pa.float64()))
    return alerts.sort_by([("score", "descending"), ("key", "ascending")]).slice(0, top)


# -- forecasting --------------------------------------------------------------------------------------------------


def _next_periods(periods: np.ndarray, n_keys: int) -> pa.Array:
    """The period after the last, one per key: the last plus the most common step between periods (all periods of
    the series, observed or not)."""
    step = np.median(np.diff(periods)).astype("timedelta64[us]") if len(periods) > 1 else np.timedelta64(1, "D")
    return to_periods(np.repeat(periods[-1] + step, n_keys))


def _forecast_table(series: pa.Table, keys: list[str], forecast: np.ndarray) -> pa.Table:
    periods = np.unique(floor_times(series.column("period"), "us"))
    return pa.table({"key": keys, "period": _next_periods(periods, len(keys)),
                     "forecast": np.asarray(forecast, float)}, schema=_FORECAST_SCHEMA)


def persistence(series: pa.Table) -> pa.Table:
    """The persistence baseline: each key's next-period volume is its last count (of the last observed period).

    Returns:
        Columns ``key``, ``period`` (the period after the series' last) and ``forecast``.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, d, tzinfo=dt.UTC) for d in (1, 2, 3)]
        >>> series = pa.table({"key": ["a"] * 3, "period": days, "count": [1, 4, 7], "total": [9] * 3})
        >>> row = persistence(series).to_pylist()[0]
        >>> row["period"].day, row["forecast"]
        (4, 7.0)
    """
    data = _observed_matrix(series)
    return _forecast_table(series, data.keys, data.counts[:, -1])


def moving_average(series: pa.Table, window: int = 7) -> pa.Table:
    """The moving-average baseline: each key's mean count over its last ``window`` observed periods (fewer if
    absent).

    Raises:
        ConfigurationError: ``window`` below 1.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, d, tzinfo=dt.UTC) for d in (1, 2, 3)]
        >>> series = pa.table({"key": ["a"] * 3, "period": days, "count": [1, 4, 7], "total": [9] * 3})
        >>> moving_average(series, 2).column("forecast").to_pylist()
        [5.5]
    """
    if window < 1:
        raise ConfigurationError(f"window must be at least 1; got {window}")
    data = _observed_matrix(series)
    return _forecast_table(series, data.keys, data.counts[:, -window:].mean(axis=1))


def _lag_features(counts: np.ndarray, target: int, lags: int) -> np.ndarray:
    """``(K, lags + 3)`` features of each key for predicting column ``target`` from the columns before it.

    log1p of the last ``lags`` counts (most recent first; zeros before the series starts), of their mean and
    maximum, and of the periods since the key's first post (0 before it has any).
    """
    past = counts[:, max(0, target - lags):target][:, ::-1]
    if past.shape[1] < lags:
        past = np.pad(past, ((0, 0), (0, lags - past.shape[1])))
    seen = counts[:, :target] > 0
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), target)
    age = target - first
    return np.log1p(np.column_stack([past, past.mean(axis=1), past.max(axis=1), age]))


class VolumeForecaster:
    """Next-period volume of every key, from lag features in log space, one model across all keys.

    Each (key, period) row of the training series becomes a training example: the features are log1p of the key's
    ``lags`` previous counts, of their mean and maximum and of the periods since its first post; the target is
    log1p of its count. Examples are built only from the periods before their target, so nothing is learned from
    the future of a row; ``backtest`` refits on the past at each step. Forecasts are ``expm1`` of the prediction
    (a median-like forecast of the count), at least 0. Periods not observed (``observed_periods``) are skipped:
    the lags of a period are the key's previous observed periods, and no example has a gap for its target.

    Args:
        model: ``"ridge"`` (scikit-learn ``Ridge``) or ``"gradient_boosting"`` (``HistGradientBoostingRegressor``).
        lags: previous periods read per forecast.
        alpha: the ridge penalty (``"ridge"`` only).
        random_state: seed of the gradient boosting.

    Attributes:
        regressor_: the fitted scikit-learn regressor.
        n_examples_: the training examples it learned from.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=d) for d in range(20)]
        >>> series = pa.table({"key": ["a"] * 20 + ["b"] * 20, "period": days * 2,
        ...                    "count": [10] * 20 + [100] * 20, "total": [110] * 40})
        >>> forecast = VolumeForecaster(lags=3).fit(series).predict(series)
        >>> [round(value, -1) for value in forecast.column("forecast").to_pylist()]  # within 5 posts
        [10.0, 100.0]
    """

    def __init__(self, model: str = "ridge", lags: int = 7, alpha: float = 1.0, random_state: int | None = 0):
        self.model = model
        self.lags = lags
        self.alpha = alpha
        self.random_state = random_state

    def __repr__(self) -> str:
        return (f"VolumeForecaster(model={self.model!r}, lags={self.lags!r}, alpha={self.alpha!r}, "
                f"random_state={self.random_state!r})")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name (scikit-learn's ``get_params``)."""
        return {"model": self.model, "lags": self.lags, "alpha": self.alpha, "random_state": self.random_state}

    def _new_regressor(self) -> Any:
        if self.model not in FORECAST_MODELS:
            raise ConfigurationError(f"unknown forecast model {self.model!r}; expected one of {FORECAST_MODELS}")
        if not isinstance(self.lags, int) or self.lags < 1:
            raise ConfigurationError(f"lags must be a positive integer; got {self.lags!r}")
        if self.model == "ridge":
            from sklearn.linear_model import Ridge

            if not self.alpha >= 0:
                raise ConfigurationError(f"alpha must be at least 0; got {self.alpha}")
            return Ridge(alpha=self.alpha)
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=self.random_state)

    def _fit_counts(self, counts: np.ndarray) -> VolumeForecaster:
        regressor = self._new_regressor()
        if counts.shape[1] < 2:
            raise DataError(f"need at least 2 periods to learn a forecast; got {counts.shape[1]}")
        features = np.vstack([_lag_features(counts, target, self.lags) for target in range(1, counts.shape[1])])
        targets = np.log1p(counts[:, 1:].T.ravel())
        self.regressor_ = regressor.fit(features, targets)
        self.n_examples_ = len(targets)
        return self

    def _predict_counts(self, counts: np.ndarray) -> np.ndarray:
        if not hasattr(self, "regressor_"):
            raise ConfigurationError("this VolumeForecaster is not fitted yet; call fit(series) first")
        features = _lag_features(counts, counts.shape[1], self.lags)
        return np.maximum(np.expm1(self.regressor_.predict(features)), 0.0)

    def fit(self, series: pa.Table, y: Any = None) -> VolumeForecaster:
        """Learn from every (key, period) of ``series`` with at least one period before it.

        Args:
            series: a volume series (``key``, ``period``, ``count``); rows in any order.
            y: ignored (scikit-learn's signature).

        Returns:
            self.

        Raises:
            ConfigurationError: an unknown model or bad ``lags``/``alpha``.
            DataError: the series is empty or has fewer than 2 periods.
        """
        return self._fit_counts(_observed_matrix(series).counts)

    def predict(self, series: pa.Table) -> pa.Table:
        """Each key's volume in the period after the series' last, from its last ``lags`` periods.

        Returns:
            Columns ``key``, ``period`` (the next period) and ``forecast`` (posts, a float >= 0).

        Raises:
            ConfigurationError: the forecaster is not fitted.
        """
        data = _observed_matrix(series)
        return _forecast_table(series, data.keys, self._predict_counts(data.counts))


def backtest(series: pa.Table, *, test_periods: int = 14, forecaster: VolumeForecaster | None = None,
             window: int = 7) -> pa.Table:
    """Rolling one-period-ahead forecasts over the last ``test_periods`` observed periods, from the past only.

    For each test period ``t`` the forecaster is refitted on the periods before ``t`` and every method forecasts
    ``t`` from them; nothing at or after ``t`` is read. Periods not observed are neither forecast nor learned from.

    Args:
        series: a volume series.
        test_periods: how many final periods to forecast.
        forecaster: the model (unfitted; a copy is refitted each step); None: ``VolumeForecaster()``.
        window: the moving average's window.

    Returns:
        Columns ``key``, ``period``, ``actual``, ``persistence``, ``moving_average`` and ``model`` (forecasts),
        one row per key and test period.

    Raises:
        ConfigurationError: ``test_periods`` below 1, or not at least 2 periods before the first test period.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=d) for d in range(12)]
        >>> series = pa.table({"key": ["a"] * 12, "period": days, "count": [3, 4] * 6, "total": [9] * 12})
        >>> table = backtest(series, test_periods=2, forecaster=VolumeForecaster(lags=2),
        ...                  window=2)
        >>> table.select(["actual", "persistence", "moving_average"]).to_pylist()[0]
        {'actual': 3.0, 'persistence': 4.0, 'moving_average': 3.5}
    """
    from sklearn.base import clone

    data = _observed_matrix(series)
    n_periods = data.counts.shape[1]
    if test_periods < 1 or n_periods - test_periods < 2:
        raise ConfigurationError(f"test_periods must be at least 1 and leave 2 periods to learn from; got "
                                 f"{test_periods} of {n_periods} periods")
    if window < 1:
        raise ConfigurationError(f"window must be at least 1; got {window}")
    template = forecaster if forecaster is not None else VolumeForecaster()
    columns: dict[str, list] = {name: [] for name in ("key", "period", "actual", "persistence", "moving_average",
                                                      "model")}
    for target in range(n_periods - test_periods, n_periods):
        past = data.counts[:, :target]
        model = clone(template, safe=False)._fit_counts(past)
        columns["key"] += data.keys
        columns["period"].append(np.repeat(data.periods[target], len(data.keys)))
        columns["actual"].append(data.counts[:, target])
        columns["persistence"].append(past[:, -1])
        columns["moving_average"].append(past[:, -window:].mean(axis=1))
        columns["model"].append(model._predict_counts(past))
    return pa.table({"key": pa.array(columns["key"], pa.string()),
                     "period": to_periods(np.concatenate(columns["period"])),
                     **{name: np.concatenate(columns[name]).astype(float)
                        for name in ("actual", "persistence", "moving_average", "model")}})


# -- report -------------------------------------------------------------------------------------------------------


def trends_section(series: pa.Table, bursts: pa.Table | None = None, forecast: pa.Table | None = None, *,
                   method: str = "negative_binomial", top: int = 5, topics: pa.Table | None = None) -> ReportSection:
    """The report section of trends: rising keys with their bursts shaded, the bursts, and next-period forecasts.

    Periods not observed (days without any post in the corpus, ``observed_periods``) are gaps in the chart, and
    the card names them.

    Args:
        series: a volume series.
        bursts: from ``detect_bursts``; None detects them with ``method``.
        forecast: ``key``, ``period``, ``forecast`` (``VolumeForecaster.predict``); None fits a
            ``VolumeForecaster`` on ``series`` when it has at least 3 observed periods.
        method: the burst detector when ``bursts`` is None.
        top: keys drawn (those with the highest burst scores, then the most posts).
        topics: when the keys are topic ids, the store's ``topics`` table (``topic_id``, ``label``): topics are
            then named by their labels (``topic_names``) and drawn in their colours (``topic_colors``), as in
            every card.

    Returns:
        A ``ReportSection`` with key ``"trends"``; its volume figure has the div id ``trends-volume``.

    Raises:
        ConfigurationError: ``top`` below 1.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 5, d, tzinfo=dt.UTC) for d in range(1, 11)]
        >>> series = pa.table({"key": ["cats"] * 10, "period": days, "count": [5, 5, 5, 5, 5, 20, 20, 5, 5, 5],
        ...                    "total": [50] * 10})
        >>> section = trends_section(series)
        >>> section.key, section.figure_ids(), section.summary
        ('trends', ['trends-volume'], '1 key over 10 periods; 1 burst (negative_binomial).')
    """
    from socialfusion.report import Figure, Metrics, ReportSection, Table, Text
    from socialfusion.report._figures import lines_chart, topic_colors
    from socialfusion.report._format import plural
    from socialfusion.tasks.topics import topic_names

    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    data = _matrix(series)
    observed = data.observed_only()
    if bursts is None:
        bursts = detect_bursts(series, method)
    if forecast is None and observed.counts.shape[1] >= 3:
        forecast = VolumeForecaster().fit(series).predict(series)
    names = topic_names(topics) if topics is not None else {}
    colours = {names.get(key, key): colour for key, colour in topic_colors(data.keys).items()} if names else None
    burst_score: dict[str, float] = {}
    for row in bursts.to_pylist():
        burst_score[row["key"]] = max(burst_score.get(row["key"], -math.inf), row["score"])
    volume = dict(zip(data.keys, data.counts.sum(axis=1)))
    shown = sorted(data.keys, key=lambda key: (key not in burst_score, -burst_score.get(key, 0.0), -volume[key],
                                               key))[:top]
    periods = data.periods.astype("datetime64[us]").astype(object)
    drawn = {names.get(key, key): [value if seen else None for value, seen in
                                   zip(data.counts[data.keys.index(key)].tolist(), data.observed)] for key in shown}
    figure = lines_chart(periods, drawn, x_title="period (UTC)", y_title="posts", colors=colours)
    line_colours = dict(zip(drawn, (trace.line.color for trace in figure.data)))
    for row in bursts.filter(pc.is_in(bursts.column("key"), value_set=pa.array(shown, pa.string()))).to_pylist():
        figure.add_vrect(x0=row["start"], x1=row["end"], fillcolor=line_colours.get(names.get(row["key"], row["key"]))
                         or "#f0ad4e", opacity=0.15, line_width=0, layer="below")
    unobserved = data.describe_unobserved()
    n_unobserved = int((~data.observed).sum())
    metrics = {"keys": len(data.keys), "periods": len(data.periods), "bursts": bursts.num_rows}
    if n_unobserved:
        metrics["periods not observed"] = n_unobserved
    gaps = "; gaps: periods not observed" if n_unobserved else ""
    blocks: list = [
        Metrics(metrics),
        Figure(figure, caption=f"Posts per period of the {len(shown)} keys with the strongest bursts (then the most "
                               f"posts); shaded: their burst windows{gaps}.", key="volume"),
    ]
    if unobserved:
        blocks.append(Text(f"{unobserved} Bursts, baselines and forecasts skip them."))
    if bursts.num_rows:
        ranked = bursts.sort_by([("score", "descending"), ("key", "ascending")])
        blocks.append(Table(_named(ranked, names), caption="Bursts, strongest first: first and last period "
                                                           "(inclusive), posts in the burst, score", max_rows=20))
    else:
        blocks.append(Text("No burst was detected."))
    if forecast is not None and forecast.num_rows:
        blocks.append(Table(_named(forecast.sort_by([("forecast", "descending"), ("key", "ascending")]), names),
                            caption="Next-period volume forecast per key (VolumeForecaster), highest first",
                            max_rows=20))
    not_observed = f" ({n_unobserved} not observed)" if n_unobserved else ""
    summary = (f"{plural(len(data.keys), 'key')} over {plural(len(data.periods), 'period')}{not_observed}; "
               f"{plural(bursts.num_rows, 'burst')} ({method}).")
    return ReportSection(title="Trends", key="trends", summary=summary, blocks=blocks)


def _named(table: pa.Table, names: dict[str, str]) -> pa.Table:
    """``table`` with each ``key`` shown by its name (a topic's label) where ``names`` has one."""
    if not names:
        return table
    keys = [names.get(key, key) for key in table.column("key").to_pylist()]
    return table.set_column(table.column_names.index("key"), "key", pa.array(keys, pa.string()))
