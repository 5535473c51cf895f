"""Incremental analysis: the state that lets ``analyze(incremental=True)`` update the report from new posts only.

The state lives in store tables, each written by keyed upsert under the store's writer lock:

- ``analysis_posts`` (the watermark): one row per analysed post, keyed by ``post_id``, with the ``record_hash`` it
  had, its UTC day, its keys (topic id or hashtags), its sentiment label and negativity. A post is new when its id
  is not there, changed when its hash differs (re-ingested with other content); a duplicate re-ingested keeps its
  hash and is not analysed twice, and a late post with an old timestamp is found by its id, whatever its day.
- ``analysis_days`` (posts per UTC day) and ``analysis_counts`` (per day and key: posts, and labelled posts per
  sentiment class): the aggregates the trend series and the opinion timeline are built from. A day is recounted
  from the watermark rows of that day only; the days to recount are written to ``analysis_state`` before the
  watermark changes and cleared after, so a run killed at any point is completed by the next one.
- ``analysis_cards``: the last run's cards that cannot be updated incrementally (network, knowledge graph,
  patterns, profiles, engagement, recommendation), JSON (figures as Plotly JSON, tables as Arrow IPC), reused
  only when asked (``reuse_cards``).

New posts are processed the monitor's way (``socialfusion.monitor._loop``): features through the content-hash
cache, sentiment predicted with the store's trained model (or, when the store has predictions but no model, the
lexicons, as the monitor does) and written to ``sentiment_predictions``, topics assigned with the store's fitted
topic model and written to ``post_topics``; a store without predictions gets lexicon labels kept in the
watermark only, as a full ``analyze`` computes them without storing them. Labels and topics that change for old
posts (a ``sentiment predict`` or ``topics assign`` run between two analyses) are found by comparing the stored
tables with the watermark, so the counts always equal a full recompute's.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import DataError
from socialfusion.store import Store, sql_string

__all__ = [
    "ACTIVE",
    "CARDS_TABLE",
    "COUNTS_TABLE",
    "DAYS_TABLE",
    "INCREMENTAL_SECTIONS",
    "LEDGER_TABLE",
    "REUSABLE_SECTIONS",
    "STATE_TABLE",
    "IncrementalContext",
    "IncrementalUpdate",
    "NothingToAnalyse",
    "incremental_context",
    "last_update",
    "load_cards",
    "opinion_from_state",
    "save_cards",
    "update_analysis_state",
    "volume_series_from_state",
    "with_note",
]

logger = logging.getLogger(__name__)

LEDGER_TABLE = "analysis_posts"
DAYS_TABLE = "analysis_days"
COUNTS_TABLE = "analysis_counts"
CARDS_TABLE = "analysis_cards"
STATE_TABLE = "analysis_state"

INCREMENTAL_SECTIONS = ("trends", "opinion")
"""Report cards built from the stored aggregates instead of the posts."""

REUSABLE_SECTIONS = ("network", "knowledge", "patterns", "profiles", "engagement", "recommend")
"""Report cards that need every post (graphs, models fitted on the whole corpus): recomputed on every run, or
reused from the last run with ``reuse_cards``. The overview, sentiment and topics cards are always rebuilt (they
read the store's tables and take seconds)."""

_DIRTY_KEY = "dirty_days"
_SOURCES_KEY = "sources"
_UPDATE_KEY = "last_update"
_CLASSES = ("positive", "neutral", "negative")
_IN_CHUNK = 500  # ids or days per SQL IN list
_LEDGER_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("record_hash", pa.string()),
        ("day", pa.string()),
        ("keys", pa.list_(pa.string())),
        ("label", pa.string()),
        ("negativity", pa.float64()),
    ]
)
_DAYS_SCHEMA = pa.schema([("day", pa.string()), ("posts", pa.int64())])
_COUNTS_SCHEMA = pa.schema(
    [
        ("cell", pa.string()),
        ("day", pa.string()),
        ("key", pa.string()),
        ("posts", pa.int64()),
        ("n", pa.int64()),
        *[(name, pa.int64()) for name in _CLASSES],
    ]
)
_CARDS_SCHEMA = pa.schema(
    [
        ("card_id", pa.string()),
        ("section", pa.string()),
        ("filter", pa.string()),
        ("built_at", pa.timestamp("us", tz="UTC")),
        ("posts", pa.int64()),
        ("card", pa.string()),
    ]
)


@dataclasses.dataclass(frozen=True)
class IncrementalUpdate:
    """What one update of the analysis state did.

    Attributes:
        posts: posts in the store.
        new: posts analysed for the first time (all of them on a first run).
        changed: posts analysed again: re-ingested with other content, or whose stored label or topic changed.
        removed: posts no longer in the store, taken out of the counts.
        predicted: sentiment predictions written to ``sentiment_predictions`` this run.
        assigned: topic assignments written to ``post_topics`` this run.
        labelled: lexicon labels computed this run (stores without sentiment predictions).
        days_recounted: UTC days whose aggregates were recounted.
        keys_by: ``"topic"`` (the store's ``post_topics``) or ``"hashtag"``.
        sentiment_by: ``"model"`` (the store's trained model), ``"predictions"`` (the stored predictions; new
            posts by the lexicons) or ``"lexicon"`` (labels computed, not stored).
        first_run: no state existed before this run.
        seconds: how long the update took (processing new posts, the watermark and the recount).
        errors: why a prediction or an assignment step failed (its posts are counted without a label or topic,
            as a full analysis counts them, and a later run picks up what another command stores for them).
    """

    posts: int
    new: int
    changed: int
    removed: int
    predicted: int
    assigned: int
    labelled: int
    days_recounted: int
    keys_by: str
    sentiment_by: str
    first_run: bool
    seconds: float = 0.0
    errors: tuple[str, ...] = ()

    def describe(self) -> str:
        """One sentence for the cards and the command line."""
        if self.first_run:
            what = f"first incremental run: the state was built from all {self.posts:,} posts"
        elif not (self.new or self.changed or self.removed):
            what = f"no new post since the last run ({self.posts:,} posts analysed); nothing predicted"
        else:
            what = f"{self.new:,} new, {self.changed:,} changed and {self.removed:,} removed posts since the last run"
        work = f"{self.predicted:,} sentiment predictions and {self.assigned:,} topic assignments written"
        if self.labelled:
            work += f", {self.labelled:,} lexicon labels computed"
        failed = f"; failed: {'; '.join(self.errors)}" if self.errors else ""
        return f"{what}; {work}; {self.days_recounted:,} days recounted{failed}"


class NothingToAnalyse(DataError):
    """``since`` is later than every post: there is nothing to analyse (the command line says so and exits 0)."""


@dataclasses.dataclass(frozen=True)
class IncrementalContext:
    """What ``analyze(incremental=True)`` tells the trend and opinion cards (through ``ACTIVE``).

    Attributes:
        since: first UTC day of the report's posts (``YYYY-MM-DD``), or None.
        until: last UTC day, or None.
        from_state: build the cards from the stored aggregates; False when the report's filter cannot use them
            (``where`` conditions, or bounds inside a day): the cards are then computed from the posts.
        note: the sentence each such card gets.
    """

    since: str | None
    until: str | None
    from_state: bool
    note: str


ACTIVE: contextvars.ContextVar[IncrementalContext | None] = contextvars.ContextVar("incremental", default=None)
"""Set by ``analyze(incremental=True)`` while it builds the report's sections."""


def incremental_context(
    update: IncrementalUpdate, *, since: Any = None, until: Any = None, where: Sequence[str] = ()
) -> IncrementalContext:
    """The context of an incremental report: the whole UTC days its ``since``/``until`` cover, and whether the
    stored daily counts can serve its filter (not with ``where`` conditions or bounds inside a day)."""
    from socialfusion.pipeline import _as_time

    start = _as_time(since, end_of_day=False) if since is not None else None
    end = _as_time(until, end_of_day=True) if until is not None else None
    whole_days = (start is None or start.time() == dt.time()) and (
        end is None or (end + dt.timedelta(microseconds=1)).time() == dt.time()
    )
    from_state = whole_days and not where
    if from_state:
        note = (
            "Updated incrementally: built from the daily counts per key and sentiment class that the store keeps "
            f"({DAYS_TABLE}, {COUNTS_TABLE}), not by reading every post; {update.describe()}."
        )
    else:
        why = "where conditions" if where else "a time of day in since/until"
        note = (
            f"Computed from the posts: the stored daily counts cannot apply {why}; the incremental state was "
            f"still brought up to date ({update.describe()})."
        )
    return IncrementalContext(
        since=start.date().isoformat() if start is not None else None,
        until=end.date().isoformat() if end is not None else None,
        from_state=from_state,
        note=note,
    )


def with_note(section: Any, note: str) -> Any:
    """The report section with one more paragraph at its end."""
    from socialfusion.report import ReportSection, Text

    if not isinstance(section, ReportSection):
        return section
    return dataclasses.replace(section, blocks=[*section.blocks, Text(note)])


# -- the state table: the monitor's key-value helpers on a table of its own ----------------------------------------


def _read_state(store: Store, key: str, default: Any = None) -> Any:
    from socialfusion.monitor._state import read_state

    return read_state(store, key, default, table=STATE_TABLE)


def _write_state(store: Store, values: dict[str, Any]) -> None:
    from socialfusion.monitor._state import write_state

    write_state(store, values, table=STATE_TABLE)


def last_update(store: Store) -> IncrementalUpdate | None:
    """The summary of the store's last incremental update, or None when it never had one."""
    values = _read_state(store, _UPDATE_KEY)
    return None if values is None else IncrementalUpdate(**{**values, "errors": tuple(values.get("errors", ()))})


# -- reading in bounded SQL filters ---------------------------------------------------------------------------------


def _read_in(
    store: Store,
    table: str,
    column: str,
    values: Iterable[str],
    columns: list[str] | None = None,
    where: str | None = None,
) -> pa.Table:
    """Rows whose ``column`` is one of ``values`` (read in chunks of ``_IN_CHUNK``), optionally also ``where``."""
    values = sorted(set(values))
    parts = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = ", ".join(sql_string(value) for value in values[start : start + _IN_CHUNK])
        condition = f"{column} IN ({chunk})" + (f" AND ({where})" if where else "")
        parts.append(store.read(table, where=condition, columns=columns))
    if not parts:
        return pa.table({name: pa.array([], pa.string()) for name in columns or []})
    return pa.concat_tables(parts)


def _day_strings(times: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """The UTC day of each timestamp as ``YYYY-MM-DD`` (None for a null)."""
    from socialfusion.tasks._periods import floor_times

    times = times.combine_chunks() if isinstance(times, pa.ChunkedArray) else times
    valid = pc.is_valid(times).to_numpy(zero_copy_only=False)
    days: list[str | None] = [None] * len(times)
    if valid.any():
        floored = floor_times(times.filter(pa.array(valid)), "D").astype(str).tolist()
        for position, day in zip(np.flatnonzero(valid), floored):
            days[position] = day
    return days


# -- processing new posts the monitor's way -------------------------------------------------------------------------


def _process_new(store: Store, ids: list[str], predict: bool) -> tuple[str, int, int, list[str]]:
    """Predict the sentiment and assign the topic of the posts ``ids`` that have none stored; returns
    ``(sentiment_by, predicted, assigned, errors)``: a failing step is reported, the others go on, as in a
    monitor cycle (``_timed``)."""
    from socialfusion.monitor import CycleReport, MonitorConfig
    from socialfusion.monitor._loop import (
        _assign,
        _encoders,
        _featurize,
        _predict,
        _sentiment_model,
        _texts_only,
        _timed,
        _topic_model,
    )
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    tables = store.tables()
    sentiment_model = _sentiment_model(store, MonitorConfig())
    sentiment_by = (
        "model" if sentiment_model is not None else ("predictions" if PREDICTIONS_TABLE in tables else "lexicon")
    )
    if not predict or not ids:
        return sentiment_by, 0, 0, []
    report = CycleReport(started_at=dt.datetime.now(dt.UTC))
    topic_model = _timed(report, "topics", lambda: _topic_model(store, MonitorConfig()))
    unpredicted = _without(store, PREDICTIONS_TABLE, ids) if sentiment_by != "lexicon" else []
    unassigned = _without(store, POST_TOPICS_TABLE, ids) if topic_model is not None else []
    if unassigned and _texts_only(topic_model):  # a post without text has no topic to assign (as in a full assign)
        texts = _read_in(store, "posts", "post_id", unassigned, columns=["post_id", "text"])
        written = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(texts.column("text"))), 0)
        unassigned = texts.filter(written).column("post_id").to_pylist()
    config = MonitorConfig(sentiment="auto" if sentiment_model is not None else "off")
    names = _encoders(config, sentiment_model, topic_model if unassigned else None)
    if names and (unassigned or (unpredicted and sentiment_model is not None)):
        _timed(report, "featurize", lambda: _featurize(store, names, report))
    if unpredicted:
        _timed(report, "sentiment", lambda: _predict(store, sentiment_model, unpredicted, report))
    if unassigned:
        _timed(report, "topics", lambda: _assign(store, topic_model, unassigned, report))
    return sentiment_by, report.predicted, report.assigned, report.errors


def _without(store: Store, table: str, ids: list[str]) -> list[str]:
    """The ``ids`` that have no row in the post-keyed ``table``."""
    if table not in store.tables():
        return list(ids)
    done = set(store.read(table, columns=["post_id"]).column("post_id").to_pylist())
    return [post_id for post_id in ids if post_id not in done]


# -- the watermark and the aggregates -------------------------------------------------------------------------------


def _current_keys(store: Store, keys_by: str, posts: pa.Table) -> dict[str, list[str]]:
    """Each post's keys now: its topic (``post_topics``) or its hashtags (``posts`` rows), sorted."""
    from socialfusion.tasks._periods import hashtag_pairs
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    if keys_by == "topic":
        pairs = store.read(POST_TOPICS_TABLE, columns=["post_id", "topic_id"])
        pairs = pa.table(
            {"post_id": pairs.column("post_id").cast(pa.string()), "key": pairs.column("topic_id").cast(pa.string())}
        )
    else:
        pairs = hashtag_pairs(posts.select(["post_id", "hashtags"]))
    keys: dict[str, list[str]] = {}
    for post_id, key in zip(pairs.column("post_id").to_pylist(), pairs.column("key").to_pylist()):
        if key is not None:
            keys.setdefault(post_id, []).append(key)
    return {post_id: sorted(set(values)) for post_id, values in keys.items()}


def _stored_labels(store: Store) -> dict[str, tuple[str | None, float | None]]:
    """Each post's stored sentiment label and negativity (``opinion.post_sentiment`` of the predictions)."""
    from socialfusion.tasks.opinion import post_sentiment

    table = post_sentiment(store)
    return {
        post_id: (label, negativity)
        for post_id, label, negativity in zip(
            table.column("post_id").to_pylist(),
            table.column("label").to_pylist(),
            table.column("negativity").to_pylist(),
        )
    }


def _lexicon_labels(store: Store, ids: Sequence[str]) -> dict[str, tuple[str | None, float | None]]:
    """Lexicon labels of the posts ``ids``, exactly as ``opinion.post_sentiment`` labels a store without
    predictions (no negativity score)."""
    from socialfusion.tasks.sentiment import lexicon_sentiment

    if not ids:
        return {}
    rows = _read_in(store, "posts", "post_id", ids, columns=["post_id", "text", "lang"])
    labels = lexicon_sentiment(rows.column("text").to_pylist(), language=rows.column("lang").to_pylist())
    return {post_id: (str(label), None) for post_id, label in zip(rows.column("post_id").to_pylist(), labels)}


def update_analysis_state(store: Store, *, predict: bool = True) -> IncrementalUpdate:
    """Bring the incremental analysis state up to date with the store's posts.

    Finds the posts not analysed yet (or re-ingested with other content, or whose stored sentiment label or topic
    changed), predicts sentiment and assigns topics for the new ones that have none (``predict``), records them
    in the watermark and recounts the aggregates of the days they fall on. Safe to run from several processes at
    once, and to kill at any point (the next run finishes the work).

    Args:
        store: the store.
        predict: process new posts with the store's sentiment and topic models (False: count what is stored).

    Returns:
        What the update did.

    Raises:
        DataError: the store has no posts.
    """
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    started = time.perf_counter()
    posts = store.read("posts", columns=["post_id", "record_hash", "created_at", "hashtags"])
    if posts.num_rows == 0:
        raise DataError(f"the store {store.uri!r} has no posts: nothing to analyse incrementally")
    hashes = dict(zip(posts.column("post_id").to_pylist(), posts.column("record_hash").to_pylist()))
    ledger = _read_ledger(store)
    fresh = [
        post_id
        for post_id, record_hash in hashes.items()
        if post_id not in ledger or ledger[post_id]["record_hash"] != record_hash
    ]
    sentiment_by, predicted, assigned, errors = _process_new(store, fresh, predict)
    keys_by = "topic" if POST_TOPICS_TABLE in store.tables() else "hashtag"
    lexicon = _lexicon_labels(store, fresh) if sentiment_by == "lexicon" else {}
    with store.writer_lock():  # one update at a time: the diff, the watermark and the recount agree
        # read again under the lock: posts another process ingested (and perhaps analysed) meanwhile count too
        posts = store.read("posts", columns=["post_id", "record_hash", "created_at", "hashtags"])
        hashes = dict(zip(posts.column("post_id").to_pylist(), posts.column("record_hash").to_pylist()))
        ledger = _read_ledger(store)
        first_run = not ledger and _read_state(store, _SOURCES_KEY) is None
        sources = {"keys_by": keys_by, "labels_from": "lexicon" if sentiment_by == "lexicon" else "stored"}
        resourced = _read_state(store, _SOURCES_KEY) not in (None, sources)
        fresh = {
            post_id
            for post_id, record_hash in hashes.items()
            if post_id not in ledger or ledger[post_id]["record_hash"] != record_hash or resourced
        }
        if sources["labels_from"] == "stored":
            labels = _stored_labels(store)
        else:
            missing = [post_id for post_id in fresh if post_id not in lexicon]
            lexicon.update(_lexicon_labels(store, missing))
            labels = {post_id: ledger[post_id]["label_pair"] for post_id in ledger} | lexicon
        # every post is compared when its keys or labels come from a stored table another command may rewrite;
        # otherwise only the fresh ones can differ
        compared = set(hashes) if keys_by == "topic" or sources["labels_from"] == "stored" else fresh
        chosen = posts.filter(pc.is_in(posts.column("post_id"), value_set=pa.array(sorted(compared), pa.string())))
        keys = _current_keys(store, keys_by, chosen)
        days = dict(zip(chosen.column("post_id").to_pylist(), _day_strings(chosen.column("created_at"))))
        rows, touched = [], set()
        for post_id in chosen.column("post_id").to_pylist():
            label, negativity = labels.get(post_id, (None, None))
            row = {
                "post_id": post_id,
                "record_hash": hashes[post_id],
                "day": days[post_id],
                "keys": keys.get(post_id, []),
                "label": label,
                "negativity": negativity,
            }
            old = ledger.get(post_id)
            if old is not None and all(old[name] == row[name] for name in _LEDGER_SCHEMA.names):
                continue
            rows.append(row)
            touched.update(day for day in (row["day"], old and old["day"]) if day)
        removed = [post_id for post_id in ledger if post_id not in hashes]
        touched.update(ledger[post_id]["day"] for post_id in removed if ledger[post_id]["day"])
        dirty = sorted(set(_read_state(store, _DIRTY_KEY, [])) | touched)
        if dirty:
            _write_state(store, {_DIRTY_KEY: dirty})  # before the watermark changes: a kill is finished later
        if rows:
            store.write(LEDGER_TABLE, pa.Table.from_pylist(rows, schema=_LEDGER_SCHEMA), mode="upsert", key="post_id")
        for start in range(0, len(removed), _IN_CHUNK):
            chunk = ", ".join(sql_string(post_id) for post_id in removed[start : start + _IN_CHUNK])
            store.delete(LEDGER_TABLE, f"post_id IN ({chunk})")
        _recount(store, dirty)
        new = sum(post_id not in ledger for post_id in hashes)
        update = IncrementalUpdate(
            posts=len(hashes),
            new=new,
            changed=len(rows) - new,
            removed=len(removed),
            predicted=predicted,
            assigned=assigned,
            labelled=len(lexicon),
            days_recounted=len(dirty),
            keys_by=keys_by,
            sentiment_by=sentiment_by,
            first_run=first_run,
            seconds=time.perf_counter() - started,
            errors=tuple(errors),
        )
        _write_state(store, {_DIRTY_KEY: [], _SOURCES_KEY: sources, _UPDATE_KEY: dataclasses.asdict(update)})
    logger.info("incremental analysis: %s", update.describe())
    return update


def _read_ledger(store: Store) -> dict[str, dict[str, Any]]:
    if LEDGER_TABLE not in store.tables():
        return {}
    rows = store.read(LEDGER_TABLE, columns=list(_LEDGER_SCHEMA.names)).to_pylist()
    for row in rows:
        row["keys"] = list(row["keys"] or [])
        row["label_pair"] = (row["label"], row["negativity"])
    return {row["post_id"]: row for row in rows}


def _recount(store: Store, days: Sequence[str]) -> None:
    """Recount the aggregates of ``days`` from the watermark rows of those days (cells that emptied get zeros)."""
    if not days:
        return
    rows = (
        _read_in(store, LEDGER_TABLE, "day", days, columns=["day", "keys", "label"])
        if LEDGER_TABLE in store.tables()
        else pa.table({"day": [], "keys": [], "label": []})
    )
    totals: Counter[str] = Counter()
    cells: dict[tuple[str, str], Counter[str]] = {}
    for day, keys, label in zip(
        rows.column("day").to_pylist(), rows.column("keys").to_pylist(), rows.column("label").to_pylist()
    ):
        totals[day] += 1
        for key in keys or []:
            cell = cells.setdefault((day, key), Counter())
            cell["posts"] += 1
            if label is not None:
                cell["n"] += 1
                cell[label] += 1
    old = (
        _read_in(store, COUNTS_TABLE, "day", days, columns=["day", "key"])
        if COUNTS_TABLE in store.tables()
        else pa.table({"day": pa.array([], pa.string()), "key": pa.array([], pa.string())})
    )
    for day, key in zip(old.column("day").to_pylist(), old.column("key").to_pylist()):
        cells.setdefault((day, key), Counter())
    store.write(
        DAYS_TABLE,
        pa.Table.from_pylist([{"day": day, "posts": totals[day]} for day in days], schema=_DAYS_SCHEMA),
        mode="upsert",
        key="day",
    )
    if cells:
        counts = [
            {
                "cell": f"{day}\x1f{key}",
                "day": day,
                "key": key,
                "posts": cell["posts"],
                "n": cell["n"],
                **{name: cell[name] for name in _CLASSES},
            }
            for (day, key), cell in sorted(cells.items())
        ]
        store.write(COUNTS_TABLE, pa.Table.from_pylist(counts, schema=_COUNTS_SCHEMA), mode="upsert", key="cell")


# -- the trend series and the opinion timeline from the aggregates --------------------------------------------------


def _in_range(table: pa.Table, since: str | None, until: str | None) -> pa.Table:
    mask = pa.array([True] * table.num_rows, pa.bool_())
    if since is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column("day"), since))
    if until is not None:
        mask = pc.and_(mask, pc.less_equal(table.column("day"), until))
    return table.filter(mask)


def _aggregates(store: Store, since: str | None, until: str | None) -> tuple[pa.Table, pa.Table]:
    if DAYS_TABLE not in store.tables():
        raise DataError("no incremental analysis state in this store yet; run analyze with incremental=True")
    days = _in_range(store.read(DAYS_TABLE), since, until)
    counts = (
        _in_range(store.read(COUNTS_TABLE), since, until)
        if COUNTS_TABLE in store.tables()
        else _COUNTS_SCHEMA.empty_table()
    )
    return days.filter(pc.greater(days.column("posts"), 0)), counts


def _day_range(days: Sequence[str]) -> np.ndarray:
    values = np.asarray(days, dtype="datetime64[D]")
    return np.arange(values.min(), values.max() + 1)


def volume_series_from_state(store: Store, *, since: str | None = None, until: str | None = None) -> pa.Table:
    """The daily volume series per key (``trends.volume_series`` of the store's posts and report keys), from the
    aggregates.

    Args:
        store: a store with an up-to-date state (``update_analysis_state``).
        since: first UTC day (``YYYY-MM-DD``) of the posts counted; None: from the first.
        until: last UTC day; None: to the last.

    Raises:
        DataError: no state, or no dated post in the range.
    """
    from socialfusion.tasks._ids import sorted_keys
    from socialfusion.tasks.trends import _dense

    days, counts = _aggregates(store, since, until)
    if days.num_rows == 0:
        raise DataError("no post has a created_at, so there is no volume over time to count")
    periods = _day_range(days.column("day").to_pylist())
    totals = np.zeros(len(periods), np.int64)
    totals[(np.asarray(days.column("day").to_pylist(), dtype="datetime64[D]") - periods[0]).astype(np.int64)] = (
        days.column("posts").to_numpy()
    )
    counts = counts.filter(pc.greater(counts.column("posts"), 0))
    names, codes = sorted_keys(counts.column("key"))
    period_codes = (np.asarray(counts.column("day").to_pylist(), dtype="datetime64[D]") - periods[0]).astype(np.int64)
    return _dense(names, codes, period_codes, counts.column("posts").to_numpy(), periods, totals, 1)


def opinion_from_state(
    store: Store, *, since: str | None = None, until: str | None = None, examples: int = 3
) -> tuple[pa.Table, pa.Table]:
    """The opinion timeline (``opinion.count_opinions`` of the report's scored posts) and its alerts
    (``opinion.opinion_alerts`` with its defaults), from the aggregates; the alerts quote the most negative posts
    of their windows, read from the watermark and the posts of those windows only.

    Args:
        store: a store with an up-to-date state (``update_analysis_state``).
        since: first UTC day (``YYYY-MM-DD``); None: from the first.
        until: last UTC day; None: to the last.
        examples: posts quoted per alert.

    Returns:
        ``(timeline, alerts)``.

    Raises:
        DataError: no state, or no keyed, dated and labelled post in the range.
    """
    from socialfusion.tasks._ids import sorted_keys
    from socialfusion.tasks._periods import to_periods
    from socialfusion.tasks.opinion import opinion_alerts

    days, counts = _aggregates(store, since, until)
    counts = counts.filter(pc.greater(counts.column("n"), 0))
    if counts.num_rows == 0:
        raise DataError("no post with a key, a created_at and a sentiment label: nothing to put on a timeline")
    periods = _day_range(counts.column("day").to_pylist())
    totals = np.zeros(len(periods), np.int64)
    day_codes = (np.asarray(days.column("day").to_pylist(), dtype="datetime64[D]") - periods[0]).astype(np.int64)
    inside = (day_codes >= 0) & (day_codes < len(periods))
    totals[day_codes[inside]] = days.column("posts").to_numpy()[inside]
    keys, key_codes = sorted_keys(counts.column("key"))
    period_codes = (np.asarray(counts.column("day").to_pylist(), dtype="datetime64[D]") - periods[0]).astype(np.int64)
    matrices = {}
    for name in ("n", *_CLASSES):
        matrix = np.zeros((len(keys), len(periods)), np.int64)
        matrix[key_codes, period_codes] = counts.column(name).to_numpy()
        matrices[name] = matrix.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = matrices["negative"] / matrices["n"]
    timeline = pa.table(
        {
            "key": keys.take(pa.array(np.repeat(np.arange(len(keys)), len(periods)))),
            "period": to_periods(np.tile(periods, len(keys))),
            **{name: pa.array(values, pa.int64()) for name, values in matrices.items()},
            "negative_share": pa.array(share, pa.float64(), mask=matrices["n"] == 0),
            "total": pa.array(np.tile(totals, len(keys)), pa.int64()),
        }
    )
    alerts = opinion_alerts(timeline, examples=examples)
    if alerts.num_rows and examples:
        alerts = opinion_alerts(timeline, evidence=_evidence(store, alerts), examples=examples)
    return timeline, alerts


def _evidence(store: Store, alerts: pa.Table) -> pa.Table:
    """``opinion_posts`` rows of the negative posts of the alerts' keys in their windows."""
    from socialfusion.tasks._periods import to_periods

    first = min(alerts.column("start").to_pylist()).date().isoformat()
    last = max(alerts.column("end").to_pylist()).date().isoformat()
    wanted = set(alerts.column("key").to_pylist())
    rows = store.read(
        LEDGER_TABLE,
        where=f"label = 'negative' AND day >= {sql_string(first)} AND day <= {sql_string(last)}",
        columns=["post_id", "day", "keys", "negativity"],
    )
    pairs = [(key, row) for row in rows.to_pylist() for key in row["keys"] or [] if key in wanted]
    texts = _read_in(store, "posts", "post_id", [row["post_id"] for _, row in pairs], columns=["post_id", "text"])
    text_of = dict(zip(texts.column("post_id").to_pylist(), texts.column("text").to_pylist()))
    return pa.table(
        {
            "key": pa.array([key for key, _ in pairs], pa.string()),
            "period": to_periods(np.asarray([row["day"] for _, row in pairs], dtype="datetime64[D]")),
            "post_id": pa.array([row["post_id"] for _, row in pairs], pa.string()),
            "label": pa.array(["negative"] * len(pairs), pa.string()),
            "negativity": pa.array([row["negativity"] for _, row in pairs], pa.float64()),
            "text": pa.array([text_of.get(row["post_id"]) for _, row in pairs], pa.string()),
        }
    )


# -- reusing the cards that cannot be updated -----------------------------------------------------------------------


def _filter_id(described: str, options: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([described, options], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _block_json(block: Any) -> dict[str, Any]:
    from socialfusion.report import Figure, Metrics, Table, Text

    if isinstance(block, Figure):
        return {"figure": block.figure.to_json(), "caption": block.caption, "key": block.key}
    if isinstance(block, Table):
        sink = pa.BufferOutputStream()
        data = block.to_arrow()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        return {
            "table": base64.b64encode(sink.getvalue().to_pybytes()).decode(),
            "caption": block.caption,
            "max_rows": block.max_rows,
            "key": block.key,
        }
    if isinstance(block, Metrics):
        return {"metrics": dict(block.values), "caption": block.caption}
    if isinstance(block, Text):
        return {"text": block.text}
    raise DataError(f"cannot store a report block of type {type(block).__name__}")


def _block(values: dict[str, Any]) -> Any:
    import plotly.io

    from socialfusion.report import Figure, Metrics, Table, Text

    if "figure" in values:
        return Figure(plotly.io.from_json(values["figure"]), caption=values["caption"], key=values["key"])
    if "table" in values:
        data = pa.ipc.open_stream(base64.b64decode(values["table"])).read_all()
        return Table(data, caption=values["caption"], max_rows=values["max_rows"], key=values["key"])
    if "metrics" in values:
        return Metrics(values["metrics"], caption=values["caption"])
    return Text(values["text"])


def save_cards(store: Store, sections: Sequence[Any], *, described: str, options: dict[str, Any], posts: int) -> int:
    """Store the cards of ``REUSABLE_SECTIONS`` among ``sections`` for ``load_cards`` (upsert by section and
    filter); returns how many. A card that cannot be stored is left out with a log line (it is rebuilt next time)."""
    from socialfusion.report import ReportSection

    now = dt.datetime.now(dt.UTC)
    filter_id = _filter_id(described, options)
    rows = []
    for section in sections:
        if not isinstance(section, ReportSection) or section.key not in REUSABLE_SECTIONS:
            continue
        try:
            blocks = [_block_json(block) for block in section.blocks]
            card = json.dumps({"title": section.title, "summary": section.summary, "blocks": blocks}, default=_plain)
        except (DataError, TypeError, ValueError, pa.ArrowException) as error:
            logger.warning("the %s card is not kept for reuse: %s", section.key, error)
            continue
        rows.append(
            {
                "card_id": f"{section.key}:{filter_id}",
                "section": section.key,
                "filter": described,
                "built_at": now,
                "posts": posts,
                "card": card,
            }
        )
    if rows:
        store.write(CARDS_TABLE, pa.Table.from_pylist(rows, schema=_CARDS_SCHEMA), mode="upsert", key="card_id")
    return len(rows)


def _plain(value: Any) -> Any:
    """A NumPy scalar (a metric's value) as its Python value, for ``json.dumps``."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a value of type {type(value).__name__} in a card")


def load_cards(
    store: Store, keys: Sequence[str], *, described: str, options: dict[str, Any], posts: int
) -> dict[str, Any]:
    """The stored cards of ``keys`` (those of ``REUSABLE_SECTIONS`` built with the same filter and options), each
    with a note saying when it was built and on how many posts."""
    from socialfusion.report import ReportSection, Text

    wanted = [key for key in keys if key in REUSABLE_SECTIONS]
    if not wanted or CARDS_TABLE not in store.tables():
        return {}
    filter_id = _filter_id(described, options)
    rows = _read_in(store, CARDS_TABLE, "card_id", [f"{key}:{filter_id}" for key in wanted])
    cards = {}
    for row in rows.to_pylist():
        card = json.loads(row["card"])
        note = Text(
            f"Reused from the run of {row['built_at']:%Y-%m-%d %H:%M} UTC on {row['posts']:,} posts (now "
            f"{posts:,}): this card needs every post, so an incremental run reuses it when asked "
            "(reuse_cards / --reuse-cards); a run without that option rebuilds it."
        )
        cards[row["section"]] = ReportSection(
            title=card["title"],
            key=row["section"],
            summary=card["summary"],
            blocks=[*(_block(block) for block in card["blocks"]), note],
        )
    return cards
