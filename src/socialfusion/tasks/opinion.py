"""Public-opinion monitoring: sentiment per key over time, and alerts when a key's negative share rises.

- ``post_sentiment(store)``: each post's sentiment label, from the store's ``sentiment_predictions`` table when it
  exists, else from the lexicons (``lexicon_sentiment``); with a ``negativity`` score that orders negative posts.
- ``opinion_posts`` / ``opinion_timeline(posts, keys, sentiment, freq="D")``: one row per (key, period) with the
  posts counted per class and the negative share. Keys are hashtags or any ``(post_id, key)`` assignment, as in
  ``socialfusion.tasks.trends``.
- ``opinion_alerts(timeline, window=3, baseline=14, alpha=0.01)``: for every key and period, a one-sided
  two-proportion z-test (statsmodels ``proportions_ztest``, ``alternative="larger"``) of the negative share in the
  last ``window`` periods against the ``baseline`` periods before them; p-values are adjusted with
  Benjamini-Hochberg over all the tests of the call, and an alert is a test with adjusted p below ``alpha``. Each
  alert carries the posts that explain it: the most negative posts of the key in the window.
- ``opinion_section``: the report card.

A period of a UTC day without a single post in the corpus was not observed (not collected, not quiet;
``_periods.observed_periods``): the timeline's ``total`` is 0 there, the alerts' windows and baselines step over
it, and the card names such days.

Examples:
    >>> import datetime as dt
    >>> posts = pa.table({"post_id": ["p1", "p2", "p3"], "text": ["good", "bad", "bad"],
    ...                   "created_at": [dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC)] * 3,
    ...                   "hashtags": [["bus"], ["bus"], ["bus"]]})
    >>> sentiment = pa.table({"post_id": ["p1", "p2", "p3"], "label": ["positive", "negative", "negative"]})
    >>> opinion_timeline(posts, sentiment=sentiment).drop_columns(["period", "total"]).to_pylist()
    [{'key': 'bus', 'n': 3, 'positive': 1, 'neutral': 0, 'negative': 2, 'negative_share': 0.6666666666666666}]
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks._ids import cell_sums, keep_rows, positions, sorted_keys
from socialfusion.tasks._periods import (
    describe_unobserved,
    floor_times,
    observed_periods,
    period_unit,
    post_key_pairs,
    to_periods,
)

if TYPE_CHECKING:
    from socialfusion.report import ReportSection
    from socialfusion.store import Store

__all__ = [
    "CORRECTIONS",
    "EXAMPLE_CHARS",
    "count_opinions",
    "opinion_alerts",
    "opinion_posts",
    "opinion_section",
    "opinion_timeline",
    "post_sentiment",
]

logger = logging.getLogger(__name__)

CORRECTIONS = ("fdr_bh", "bonferroni", "none")
"""Multiple-testing corrections of ``opinion_alerts`` (statsmodels ``multipletests`` names, or none)."""

EXAMPLE_CHARS = 200
"""Longest text of an explaining post in an alert."""

_CLASSES = ("positive", "neutral", "negative")
_TIMELINE_COLUMNS = ("key", "period", "n", "positive", "neutral", "negative", "negative_share")
_EXAMPLE_TYPE = pa.list_(pa.struct([("post_id", pa.string()), ("text", pa.string())]))


def post_sentiment(store: Store) -> pa.Table:
    """Each post's sentiment: the store's stored predictions if any, else the lexicon labels of its text.

    Args:
        store: the store.

    Returns:
        Columns ``post_id``, ``label`` and ``negativity`` (orders negative posts, higher is more negative: a
        model's ``p_negative``, else its confidence for a negative label, else minus a lexicon's polarity score;
        null for lexicon labels computed here, which carry no score).

    Examples:
        >>> from socialfusion import Corpus, connect, ingest_corpus
        >>> store = connect("memory://")
        >>> _ = ingest_corpus(Corpus.from_records(posts=[{"post_id": "p1", "text": "I hate this", "lang": "en"}]),
        ...                   store)
        >>> post_sentiment(store).select(["post_id", "label"]).to_pylist()
        [{'post_id': 'p1', 'label': 'negative'}]
    """
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, lexicon_sentiment, read_predictions

    if PREDICTIONS_TABLE in store.tables():
        predictions = read_predictions(store)
        if "p_negative" in predictions.column_names:
            negativity = predictions.column("p_negative").cast(pa.float64())
        else:
            negative = pc.equal(predictions.column("label"), "negative")
            negativity = pc.if_else(negative, predictions.column("confidence").cast(pa.float64()), 0.0)
            if "score" in predictions.column_names:  # a lexicon's polarity (-1..1), where no confidence was fitted
                by_score = pc.negate(predictions.column("score").cast(pa.float64()))
                negativity = pc.if_else(pc.is_null(negativity), by_score, negativity)
        return pa.table({"post_id": predictions.column("post_id"), "label": predictions.column("label"),
                         "negativity": negativity})
    logger.info("no %s table in %s: labelling posts with the lexicons", PREDICTIONS_TABLE, store.uri)
    posts = store.read("posts", columns=["post_id", "text", "lang"])
    labels = lexicon_sentiment(posts.column("text").to_pylist(), language=posts.column("lang").to_pylist())
    return pa.table({"post_id": posts.column("post_id"), "label": labels.tolist(),
                     "negativity": pa.nulls(posts.num_rows, pa.float64())})


def opinion_posts(posts: pa.Table, keys: pa.Table | str = "hashtags", sentiment: pa.Table | None = None, *,
                  freq: str = "D") -> pa.Table:
    """Each (key, post) with its period and sentiment: what ``opinion_timeline`` counts and alerts quote.

    Args:
        posts: posts with ``post_id``, ``created_at``, ``text`` (and ``hashtags`` or ``lang`` where used); posts
            without a ``created_at`` are left out.
        keys: ``"hashtags"``, another column of ``posts``, or a ``(post_id, key)`` table (see
            ``trends.volume_series``).
        sentiment: ``post_id``, ``label`` (and optionally ``negativity``), e.g. ``post_sentiment(store)`` or
            ``read_predictions(store)``; None labels the posts' texts with ``lexicon_sentiment`` (languages from
            ``lang`` when present). Posts without a label are left out.
        freq: ``"D"`` or ``"h"``.

    Returns:
        Columns ``key``, ``period``, ``post_id``, ``label``, ``negativity`` (float, may be null) and ``text``.

    Raises:
        ConfigurationError: unknown ``freq`` or ``keys``.
        DataError: a required column is missing.
    """
    from socialfusion.tasks.sentiment import lexicon_sentiment

    unit = period_unit(freq)
    missing = [name for name in ("post_id", "created_at", "text") if name not in posts.column_names]
    if missing:
        raise DataError(f"posts need the columns post_id, created_at and text; missing {missing}")
    read = ["post_id", "created_at", "text", "lang", keys if isinstance(keys, str) else "post_id"]
    posts = posts.select([name for name in dict.fromkeys(read) if name in posts.column_names])  # what is read only:
    posts = keep_rows(posts, pc.is_valid(posts.column("created_at")))  # no copy when every post has a time
    if sentiment is None:
        language = posts.column("lang").to_pylist() if "lang" in posts.column_names else None
        labels = lexicon_sentiment(posts.column("text").to_pylist(), language=language)
        sentiment = pa.table({"post_id": posts.column("post_id"), "label": labels.tolist()})
    absent = [name for name in ("post_id", "label") if name not in sentiment.column_names]
    if absent:
        raise DataError(f"sentiment needs the columns post_id and label; missing {absent}")
    pairs = post_key_pairs(posts, keys)
    post_row = pc.index_in(pairs.column("post_id"), value_set=posts.column("post_id"))
    label_row = pc.index_in(pairs.column("post_id"), value_set=sentiment.column("post_id"))
    kept = pc.and_(pc.is_valid(post_row), pc.is_valid(label_row))
    pairs, post_row, label_row = pairs.filter(kept), post_row.filter(kept), label_row.filter(kept)
    negativity = (sentiment.column("negativity").cast(pa.float64()) if "negativity" in sentiment.column_names
                  else pa.nulls(sentiment.num_rows, pa.float64()))
    periods = floor_times(posts.column("created_at").take(post_row), unit)
    return pa.table({
        "key": pairs.column("key"),
        "period": to_periods(periods),
        "post_id": pairs.column("post_id"),
        "label": sentiment.column("label").take(label_row).cast(pa.string()),
        "negativity": negativity.take(label_row),
        "text": posts.column("text").take(post_row),
    })


def opinion_timeline(posts: pa.Table, keys: pa.Table | str = "hashtags", sentiment: pa.Table | None = None, *,
                     freq: str = "D") -> pa.Table:
    """Posts per sentiment class for each key and period, and the negative share.

    Args:
        posts: posts (see ``opinion_posts``).
        keys: ``"hashtags"``, another column of ``posts``, or a ``(post_id, key)`` table.
        sentiment: ``post_id``, ``label`` per post; None labels the texts with the lexicons.
        freq: ``"D"`` or ``"h"``.

    Returns:
        Columns ``key``, ``period``, ``n`` (labelled posts), ``positive``, ``neutral``, ``negative``,
        ``negative_share`` (``negative / n``, null where ``n`` is 0) and ``total`` (every dated post of the
        period, keyed, labelled or not; 0 on a day not observed), for every key and every period from the first
        labelled post to the last; sorted by key then period. Labels other than the three classes count in ``n``
        only.

    Raises:
        ConfigurationError: unknown ``freq`` or ``keys``.
        DataError: a required column is missing, or no keyed post has a label.
    """
    return count_opinions(opinion_posts(posts, keys, sentiment, freq=freq), freq, posts=posts)


def count_opinions(scored: pa.Table, freq: str = "D", *, posts: pa.Table | None = None) -> pa.Table:
    """The timeline of ``opinion_timeline`` from ``opinion_posts`` rows already scored (no labelling again).

    Args:
        scored: ``opinion_posts`` rows.
        freq: ``"D"`` or ``"h"``.
        posts: all the posts (``created_at``), to count each period's ``total``, which tells the periods not
            observed (days without any post); None counts the distinct posts of ``scored``.

    Raises:
        DataError: ``scored`` is empty.
    """
    if scored.num_rows == 0:
        raise DataError("no post with a key, a created_at and a sentiment label: nothing to put on a timeline")
    unit = period_unit(freq)
    times = floor_times(scored.column("period"), unit)
    periods = np.arange(times.min(), times.max() + 1)
    period_codes = (times - periods[0]).astype(np.int64)
    if posts is not None:
        dated = floor_times(pc.drop_null(posts.column("created_at")), unit)
        inside = (dated >= periods[0]) & (dated <= periods[-1])
        totals = np.bincount((dated[inside] - periods[0]).astype(np.int64), minlength=len(periods))
    else:
        distinct = pa.table({"post_id": scored.column("post_id"), "period": period_codes}).group_by(
            ["post_id", "period"]).aggregate([])
        totals = np.bincount(distinct.column("period").to_numpy(), minlength=len(periods))
    keys, key_codes = sorted_keys(scored.column("key"))
    shape = (len(keys), len(periods))  # (key, period) cells, key-major
    counts = {"n": cell_sums(key_codes, period_codes, shape).ravel()}
    for name in _CLASSES:
        chosen = pc.fill_null(pc.equal(scored.column("label"), name), False).to_numpy(zero_copy_only=False)
        counts[name] = cell_sums(key_codes[chosen], period_codes[chosen], shape).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts["negative"] / counts["n"]
    return pa.table({
        "key": keys.take(pa.array(np.repeat(np.arange(len(keys)), len(periods)))),
        "period": to_periods(np.tile(periods, len(keys))),
        **{name: pa.array(values, pa.int64()) for name, values in counts.items()},
        "negative_share": pa.array(share, pa.float64(), mask=counts["n"] == 0),
        "total": pa.array(np.tile(totals, len(keys)), pa.int64()),
    })


def _excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"


class _Quotes:
    """The negative rows of ``opinion_posts`` grouped by timeline key and ordered by period, so that each alert finds
    the posts it quotes in its key's rows of its window (a search, not a pass over every row per alert)."""

    def __init__(self, evidence: pa.Table, keys: np.ndarray) -> None:
        negative = np.flatnonzero(pc.fill_null(pc.equal(evidence.column("label"), "negative"), False)
                                  .to_numpy(zero_copy_only=False))
        codes = positions(evidence.column("key"), pa.array(keys.tolist(), pa.string()))[negative]
        periods = floor_times(evidence.column("period"), "us")[negative]
        order = np.lexsort((periods, codes))
        order = order[codes[order] >= 0]
        # one take of the quoted columns (a filter first would copy every negative row's text twice)
        self.rows = evidence.select(["post_id", "period", "negativity", "text"]).take(
            pa.array(negative[order], pa.int64()))
        self.codes, self.periods = codes[order], periods[order]

    def top(self, code: int, first: np.datetime64, last: np.datetime64, count: int) -> list[dict]:
        """The ``count`` most negative posts of key ``code`` in [first, last]: by negativity (null last), latest
        first, then by post id."""
        low, high = np.searchsorted(self.codes, [code, code + 1])
        start = low + np.searchsorted(self.periods[low:high], first, side="left")
        stop = low + np.searchsorted(self.periods[low:high], last, side="right")
        window = self.rows.slice(start, stop - start)
        order = pc.sort_indices(window, sort_keys=[("negativity", "descending"), ("period", "descending"),
                                                   ("post_id", "ascending")])  # nulls last (Arrow's default)
        return [{"post_id": row["post_id"], "text": _excerpt(row["text"])}
                for row in window.take(order[:count]).select(["post_id", "text"]).to_pylist()]


def _timeline_matrix(timeline: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(periods (T,), keys (K,), n (K, T), negative (K, T), observed (T,))`` of a timeline, periods sorted.

    A period is observed when its day has a post: the timeline's ``total`` when it has one (``count_opinions``),
    else the labelled posts of all its keys (``observed_periods``).
    """
    periods, period_codes = np.unique(floor_times(timeline.column("period"), "us"), return_inverse=True)
    keys, key_codes = sorted_keys(timeline.column("key"))
    n, negative = (cell_sums(key_codes, period_codes, (len(keys), len(periods)),
                             timeline.column(name).fill_null(0).to_numpy().astype(float)) for name in ("n", "negative"))
    keys = np.asarray(keys.to_pylist(), dtype=object)
    if "total" in timeline.column_names:
        totals = np.zeros(len(periods))
        np.maximum.at(totals, period_codes, timeline.column("total").fill_null(0).to_numpy().astype(float))
    else:
        totals = n.sum(axis=0)
    return periods, keys, n, negative, observed_periods(periods, totals)


def opinion_alerts(timeline: pa.Table, *, window: int = 3, baseline: int = 14, alpha: float = 0.01,
                   correction: str = "fdr_bh", min_posts: int = 10, latest_only: bool = False,
                   evidence: pa.Table | None = None, examples: int = 3) -> pa.Table:
    """Keys whose negative share in the recent window is significantly higher than in the baseline before it.

    For each key and each period ``t`` with ``window + baseline`` periods up to it, the window is the ``window``
    periods ending at ``t`` and the baseline the ``baseline`` periods before the window. The test is statsmodels'
    one-sided two-proportion z-test (``proportions_ztest``, pooled variance, ``alternative="larger"``) of
    ``negative / n`` in the window against the baseline; it runs when both have at least ``min_posts`` posts (a
    test with no variance, all or no posts negative in both, gets p = 1). The p-values of all tests of the call
    (every key and period) are adjusted with ``correction``, Benjamini-Hochberg by default, and a test whose
    adjusted p-value is below ``alpha`` is an alert.

    Periods are counted over the observed periods only: a day without any post in the corpus (the timeline's
    ``total`` is 0 there; without a ``total``, no labelled post of any key) is neither tested nor part of a window
    or a baseline, which step over it (``observed_periods``).

    Args:
        timeline: from ``opinion_timeline`` (``key``, ``period``, ``n``, ``negative``; ``total`` when there).
        window: observed periods in the recent window.
        baseline: observed periods in the baseline before the window.
        alpha: the false-discovery rate (or family-wise error rate with ``"bonferroni"``) of the alerts.
        correction: ``"fdr_bh"``, ``"bonferroni"`` or ``"none"`` (each test at level ``alpha``).
        min_posts: fewest posts in the window and in the baseline for a test.
        latest_only: test only the last observed period of the timeline (monitoring "now") instead of every
            period.
        evidence: ``opinion_posts`` of the same posts, to quote the posts that explain each alert; None: no
            quotes (the ``examples`` column is empty).
        examples: posts quoted per alert.

    Returns:
        One row per alert, strongest first: ``key``, ``start`` and ``end`` (the window's first and last period),
        ``window_posts``, ``window_negative``, ``window_share``, ``baseline_posts``, ``baseline_share``, ``z``,
        ``p_value``, ``adjusted_p`` and ``examples`` (list of ``{post_id, text}``: the most negative posts of the
        key in the window, by negativity score when the sentiment has one, latest first otherwise).

    Raises:
        ConfigurationError: a parameter is out of range or ``correction`` unknown.
        DataError: the timeline lacks a column.
    """
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    if window < 1 or baseline < 1 or min_posts < 1 or examples < 0 or not 0 < alpha < 1:
        raise ConfigurationError(f"need window, baseline and min_posts >= 1, examples >= 0 and 0 < alpha < 1; got "
                                 f"window={window}, baseline={baseline}, min_posts={min_posts}, "
                                 f"examples={examples}, alpha={alpha}")
    if correction not in CORRECTIONS:
        raise ConfigurationError(f"unknown correction {correction!r}; expected one of {CORRECTIONS}")
    missing = [name for name in ("key", "period", "n", "negative") if name not in timeline.column_names]
    if missing:
        raise DataError(f"an opinion timeline needs the columns key, period, n and negative; missing {missing}; "
                        "make one with opinion_timeline")
    periods, keys, n, negative, observed = _timeline_matrix(timeline)
    periods, n, negative = periods[observed], n[:, observed], negative[:, observed]
    ends = [len(periods) - 1] if latest_only else range(window + baseline - 1, len(periods))
    tests = []
    for end in ends:
        if end < window + baseline - 1:
            continue
        recent = slice(end - window + 1, end + 1)
        before = slice(end - window - baseline + 1, end - window + 1)
        for code in range(len(keys)):
            n_recent, n_before = n[code, recent].sum(), n[code, before].sum()
            if n_recent < min_posts or n_before < min_posts:
                continue
            neg_recent, neg_before = negative[code, recent].sum(), negative[code, before].sum()
            pooled = (neg_recent + neg_before) / (n_recent + n_before)
            if pooled in (0.0, 1.0):
                z, p_value = 0.0, 1.0
            else:
                z, p_value = proportions_ztest([neg_recent, neg_before], [n_recent, n_before], alternative="larger")
            tests.append((code, end, n_recent, neg_recent, n_before, neg_before, float(z), float(p_value)))
    names = ["key", "start", "end", "window_posts", "window_negative", "window_share", "baseline_posts",
             "baseline_share", "z", "p_value", "adjusted_p", "examples"]
    if not tests:
        return _empty_alerts(names)
    p_values = np.array([test[-1] for test in tests])
    adjusted = p_values if correction == "none" else multipletests(p_values, alpha=alpha, method=correction)[1]
    alerted = evidence is not None and examples > 0 and bool((adjusted < alpha).any())
    quotes = _Quotes(evidence, keys) if alerted else None
    rows = []
    for test, adjusted_p in zip(tests, adjusted):
        code, end, n_recent, neg_recent, n_before, neg_before, z, p_value = test
        if adjusted_p >= alpha:
            continue
        first = periods[end - window + 1]
        quoted = quotes.top(code, first, periods[end], examples) if quotes is not None else []
        rows.append({"key": str(keys[code]), "start": first, "end": periods[end], "window_posts": int(n_recent),
                     "window_negative": int(neg_recent), "window_share": neg_recent / n_recent,
                     "baseline_posts": int(n_before), "baseline_share": neg_before / n_before, "z": z,
                     "p_value": p_value, "adjusted_p": float(adjusted_p), "examples": quoted})
    if not rows:
        return _empty_alerts(names)
    rows.sort(key=lambda row: (row["adjusted_p"], -row["z"], row["key"], str(row["end"])))
    columns = {name: [row[name] for row in rows] for name in names}
    for name in ("start", "end"):
        columns[name] = to_periods(np.array(columns[name]))
    columns["examples"] = pa.array(columns["examples"], _EXAMPLE_TYPE)
    return pa.table(columns)


def _empty_alerts(names: list[str]) -> pa.Table:
    types = {"key": pa.string(), "start": pa.timestamp("us", tz="UTC"), "end": pa.timestamp("us", tz="UTC"),
             "window_posts": pa.int64(), "window_negative": pa.int64(), "baseline_posts": pa.int64(),
             "examples": _EXAMPLE_TYPE}
    return pa.schema([(name, types.get(name, pa.float64())) for name in names]).empty_table()


def opinion_section(timeline: pa.Table, alerts: pa.Table | None = None, *, top: int = 5,
                    topics: pa.Table | None = None) -> ReportSection:
    """The report section of public opinion: the negative share of the busiest keys over time, and the alerts.

    Periods without a labelled post of a key are gaps in its line; the days not observed at all (no post in the
    corpus) are named under the chart.

    Args:
        timeline: from ``opinion_timeline``.
        alerts: from ``opinion_alerts``; None computes them with its defaults (no quoted posts).
        top: keys drawn (those with the most labelled posts) and shown in the class chart.
        topics: when the keys are topic ids, the store's ``topics`` table (``topic_id``, ``label``): topics are
            then named by their labels (``topic_names``) and drawn in their colours (``topic_colors``), as in
            every card.

    Returns:
        A ``ReportSection`` with key ``"opinion"``; its figures have the div ids ``opinion-negative-share`` and
        ``opinion-classes``.

    Raises:
        ConfigurationError: ``top`` below 1.
        DataError: the timeline lacks a column.

    Examples:
        >>> import datetime as dt
        >>> timeline = pa.table({"key": ["bus", "bus"], "period": [dt.datetime(2024, 5, d, tzinfo=dt.UTC)
        ...                      for d in (1, 2)], "n": [4, 2], "positive": [1, 0], "neutral": [1, 1],
        ...                      "negative": [2, 1], "negative_share": [0.5, 0.5]})
        >>> section = opinion_section(timeline)
        >>> section.figure_ids(), section.summary
        (['opinion-negative-share', 'opinion-classes'], '1 key over 2 periods; 0 alerts.')
    """
    from socialfusion.report import Figure, Metrics, ReportSection, Table, Text
    from socialfusion.report._figures import lines_chart, stacked_bar_chart, topic_colors
    from socialfusion.report._format import plural
    from socialfusion.tasks._sentiment_report import CLASS_COLORS
    from socialfusion.tasks.topics import topic_names

    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    missing = [name for name in _TIMELINE_COLUMNS if name not in timeline.column_names]
    if missing:
        raise DataError(f"an opinion timeline needs the columns {list(_TIMELINE_COLUMNS)}; missing {missing}")
    if alerts is None:
        alerts = opinion_alerts(timeline)
    names = topic_names(topics) if topics is not None else {}
    totals = timeline.group_by("key").aggregate([(name, "sum") for name in ("n", *_CLASSES)])
    totals = totals.sort_by([("n_sum", "descending"), ("key", "ascending")])
    shown = totals.column("key").slice(0, top).to_pylist()
    periods, _, _, _, observed = _timeline_matrix(timeline)
    series = {}
    for key in shown:
        rows = timeline.filter(pc.equal(timeline.column("key"), key)).sort_by("period")
        series[names.get(key, key)] = rows.column("negative_share").to_pylist()
    colours = {names.get(key, key): colour for key, colour in topic_colors(shown).items()} if names else None
    share_chart = lines_chart(periods.astype(object), series, x_title="period (UTC)", y_title="negative share",
                              colors=colours)
    share_chart.update_yaxes(tickformat=".0%", range=[0, 1])
    top_totals = totals.slice(0, top)
    class_chart = stacked_bar_chart([names.get(key, key) for key in shown],
                                    {name: top_totals.column(f"{name}_sum").to_pylist() for name in _CLASSES},
                                    value_title="posts", label_title="key", colors=CLASS_COLORS)
    n_unobserved = int((~observed).sum())
    metrics = {"keys": totals.num_rows, "periods": len(periods),
               "posts": int(pc.sum(totals.column("n_sum")).as_py() or 0), "alerts": alerts.num_rows}
    if n_unobserved:
        metrics["periods not observed"] = n_unobserved
    blocks: list = [
        Metrics(metrics),
        Figure(share_chart, caption=f"Share of negative posts per period of the {len(shown)} keys with the most "
                                    "labelled posts; periods without posts are gaps.", key="negative-share"),
    ]
    unobserved = describe_unobserved(periods, observed)
    if unobserved:
        blocks.append(Text(f"{unobserved} Alert windows and baselines skip them."))
    blocks.append(Figure(class_chart, caption="Posts per sentiment class of the same keys, over the whole timeline.",
                         key="classes"))
    if alerts.num_rows:
        table = alerts.drop_columns(["examples"]) if "examples" in alerts.column_names else alerts
        quotes = [" | ".join(f"{example['post_id']}: {example['text']}" for example in row)
                  for row in (alerts.column("examples").to_pylist() if "examples" in alerts.column_names
                              else [[]] * alerts.num_rows)]
        table = table.append_column("explaining posts", pa.array(quotes, pa.string()))
        if names:
            keys = [names.get(key, key) for key in table.column("key").to_pylist()]
            table = table.set_column(table.column_names.index("key"), "key", pa.array(keys, pa.string()))
        blocks.append(Table(table, caption="Alerts: keys whose negative share in the recent window is significantly "
                                           "above their baseline (one-sided two-proportion z-test, adjusted p)",
                            max_rows=20))
    else:
        blocks.append(Text("No alert: no key's negative share rose significantly above its baseline."))
    not_observed = f" ({n_unobserved} not observed)" if n_unobserved else ""
    summary = f"{plural(totals.num_rows, 'key')} over {plural(len(periods), 'period')}{not_observed}; " \
              f"{plural(alerts.num_rows, 'alert')}."
    return ReportSection(title="Public opinion", key="opinion", summary=summary, blocks=blocks)
