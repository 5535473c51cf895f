"""Finding posts in a store: filters, newest-first keyset pagination with opaque cursors, one post in detail.

Posts are ordered newest first (``created_at`` descending, posts without a time last), ties broken by ``post_id``.
A page ends with a cursor naming its last post's place in that order; the next page starts strictly after it, so
posts written meanwhile never repeat or shift a page (they appear on a page only when they fall after the cursor).

Examples:
    >>> from socialfusion import Corpus, connect, ingest_corpus
    >>> store = connect("memory://")
    >>> posts = [{"post_id": f"p{i}", "text": f"post {i}", "hashtags": ["Tag"], "created_at": f"2024-03-0{i}T12:00Z"}
    ...          for i in range(1, 6)]
    >>> _ = ingest_corpus(Corpus.from_records(posts=posts), store)
    >>> page = find_posts(store, hashtag="tag", limit=2)
    >>> page.posts.column("post_id").to_pylist()
    ['p5', 'p4']
    >>> find_posts(store, hashtag="tag", limit=2, after=page.next_cursor).posts.column("post_id").to_pylist()
    ['p3', 'p2']
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, NotFoundError
from socialfusion.schema import MEDIA_KINDS, arrow_schema
from socialfusion.store import Store, sql_string, sql_timestamp

__all__ = [
    "MODALITIES",
    "POST_COLUMNS",
    "SNAPSHOT_CHECK_SECONDS",
    "PostPage",
    "PostSnapshot",
    "decode_cursor",
    "encode_cursor",
    "find_posts",
    "keep_posts_in_memory",
    "post_details",
    "posts_by_id",
]

logger = logging.getLogger(__name__)

MODALITIES = ("text", *MEDIA_KINDS)
"""What ``find_posts(has=...)`` accepts: a post has text (non-blank) or carries media of a kind."""

POST_COLUMNS = [name for name in arrow_schema("posts").names if name not in ("record_key", "record_hash")]
"""The post columns a query returns (the bookkeeping columns left out)."""

_IN_LIST_CHUNK = 500  # ids per ``post_id IN (...)`` predicate

SNAPSHOT_CHECK_SECONDS = 2.0
"""How long a ``PostSnapshot`` trusts the posts table's version it last saw before looking again: a write is seen
(and the snapshot set aside until rebuilt) within this time."""

SNAPSHOT_REBUILD_SHARE = 0.2
"""At most this share of the time goes to rebuilding a snapshot: while the posts keep changing (an ingest job), a
rebuild that took ``t`` seconds is followed by the next one ``t / SNAPSHOT_REBUILD_SHARE`` seconds after it began
at the earliest (queries go to the store meanwhile)."""


class _Snapshot(NamedTuple):
    version: int | None
    posts: pa.Table  # POST_COLUMNS, media without inline bytes
    rows: dict[str, int]  # post_id -> row of ``posts``
    hashtags: pa.Table  # post_id, key: each post's hashtags, lower-cased without '#'


class PostSnapshot:
    """The posts table held in memory, for a process that answers many queries a second (the server).

    Finding posts by id or by filters then reads memory instead of the store: at 100,000 posts, ten posts by id
    take a fraction of a millisecond instead of tens. The snapshot is only used while it holds the table's latest
    version, looked at most every ``check_seconds``; once the table has changed, queries go to the store (so they
    see every write) while a new snapshot is built on a background thread (no more often than
    ``SNAPSHOT_REBUILD_SHARE`` allows, so that a table that keeps changing does not keep a CPU busy rebuilding).

    Register one with ``keep_posts_in_memory``; ``posts_by_id``, ``find_posts`` and ``post_details`` use it.
    """

    def __init__(self, store: Store, check_seconds: float = SNAPSHOT_CHECK_SECONDS):
        self.store = store
        self.check_seconds = check_seconds
        self._state: _Snapshot | None = None
        self._latest: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._builder = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="socialfusion-posts")
        self._building: concurrent.futures.Future | None = None
        self._next_build = float("-inf")  # monotonic time before which no rebuild starts

    def build(self) -> None:
        """Read the posts table into memory now (the version first: a write meanwhile makes it look stale)."""
        from socialfusion.tasks.trends import key_assignment

        started = time.monotonic()
        version = self.store.version("posts")
        posts = _without_inline_bytes(self.store.read("posts", columns=POST_COLUMNS)).combine_chunks()
        rows = {post_id: index for index, post_id in enumerate(posts.column("post_id").to_pylist())}
        state = _Snapshot(version, posts, rows, key_assignment(posts.select(["post_id", "hashtags"]), by="hashtag"))
        with self._lock:
            self._state = state
            self._latest = version
            self._checked = time.monotonic()
            self._next_build = started + (self._checked - started) / SNAPSHOT_REBUILD_SHARE

    def _rebuild(self) -> None:
        try:
            self.build()
        except Exception:  # the store answers meanwhile; the next check tries again
            logger.exception("reading the posts of %r into memory failed", self.store.uri)

    def current(self) -> _Snapshot | None:
        """The snapshot when it holds the posts table's latest version, else None (and a rebuild is started)."""
        now = time.monotonic()
        with self._lock:
            look = now - self._checked >= self.check_seconds
            if look:
                self._checked = now
        if look:
            latest = self.store.version("posts")
            with self._lock:
                self._latest = latest
        with self._lock:
            state = self._state
            if state is not None and state.version == self._latest:
                return state
            if (self._building is None or self._building.done()) and now >= self._next_build:
                self._building = self._builder.submit(self._rebuild)
        return None

    def close(self) -> None:
        """Stop building (the snapshot already built stays readable)."""
        self._builder.shutdown(wait=False, cancel_futures=True)


_snapshots: weakref.WeakKeyDictionary[Store, PostSnapshot] = weakref.WeakKeyDictionary()


def keep_posts_in_memory(store: Store, *, check_seconds: float = SNAPSHOT_CHECK_SECONDS) -> PostSnapshot:
    """Hold the store's posts in memory from now on (``PostSnapshot``, built before this returns); queries by id and
    by filter in this process then read memory while it is current. Memory: about the posts table's size without
    media bytes (tens of MB per 100,000 posts)."""
    snapshot = _snapshots.get(store)
    if snapshot is None:
        snapshot = _snapshots[store] = PostSnapshot(store, check_seconds)
    snapshot.build()
    return snapshot


def _snapshot_of(store: Store) -> _Snapshot | None:
    snapshot = _snapshots.get(store)
    return None if snapshot is None else snapshot.current()


class PostPage(NamedTuple):
    """One page of posts and the cursor of the next (None on the last page)."""

    posts: pa.Table
    next_cursor: str | None


def encode_cursor(created_at: dt.datetime | None, post_id: str) -> str:
    """The opaque cursor of a post's place in the newest-first order."""
    micros = None if created_at is None else int(created_at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(orjson.dumps([micros, post_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int | None, str]:
    """``(created_at in microseconds since the epoch or None, post_id)`` of a cursor ``encode_cursor`` made.

    Raises:
        ConfigurationError: the cursor was not made by ``encode_cursor`` (give back the ``next_cursor`` of a page).
    """
    try:
        micros, post_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (micros is None or type(micros) is int) or not isinstance(post_id, str):
            raise TypeError("not a cursor")
        return micros, post_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise ConfigurationError(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a page") from None


def _micros(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Times as int64 microseconds (0 where null) and the null mask."""
    values = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    nulls = values.is_null().to_numpy(zero_copy_only=False)
    return values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), nulls


def _ids_of(store: Store, table: str, where: str) -> pa.Array:
    if table not in store.tables():
        return pa.array([], pa.string())
    return store.read(table, where=where, columns=["post_id"]).column("post_id").combine_chunks()


def _has_modality(posts: pa.Table, kind: str) -> np.ndarray:
    if kind == "text":
        text = pc.utf8_trim_whitespace(posts.column("text").fill_null(""))
        return pc.greater(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    media = posts.column("media").combine_chunks()
    kinds = pc.list_flatten(media).field("kind")
    owners = pc.list_parent_indices(media).to_numpy(zero_copy_only=False)
    matches = pc.equal(kinds, kind).fill_null(False).to_numpy(zero_copy_only=False)
    found = np.zeros(posts.num_rows, bool)
    found[owners[matches]] = True
    return found


def find_posts(
    store: Store,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    author_id: str | None = None,
    hashtag: str | None = None,
    lang: str | None = None,
    topic_id: int | None = None,
    sentiment: str | None = None,
    has: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> PostPage:
    """Posts matching every filter given, newest first, one page at a time.

    Args:
        store: the store.
        since: posts created at or after this time (a naive time is UTC); posts without a time are left out.
        until: posts created before this time.
        author_id: posts by this author.
        hashtag: posts carrying this hashtag (case-insensitive, with or without ``#``).
        lang: posts in this language (the ``lang`` column, e.g. ``en``).
        topic_id: posts assigned to this topic by the store's topic model (``post_topics``).
        sentiment: posts whose stored sentiment prediction is this label (``sentiment_predictions``).
        has: posts that have this modality: ``text``, ``image``, ``video`` or ``audio``.
        limit: posts per page.
        after: the ``next_cursor`` of the previous page.

    Returns:
        ``PostPage(posts, next_cursor)``; ``posts`` has the ``POST_COLUMNS`` (media without inline bytes).

    Raises:
        ConfigurationError: a bad limit, modality or cursor.
    """
    if not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(f"limit must be a positive integer; got {limit!r}")
    if has is not None and has not in MODALITIES:
        raise ConfigurationError(f"unknown modality {has!r}; expected one of {MODALITIES}")
    cursor = decode_cursor(after) if after is not None else None
    columns = ["post_id", "created_at"]
    if hashtag is not None:
        columns.append("hashtags")
    if has is not None:
        columns.append("text" if has == "text" else "media")
    snapshot = _snapshot_of(store)
    if snapshot is not None:
        rows = _filtered_in_memory(snapshot.posts, since, until, author_id, lang).select(columns)
    else:
        rows = store.read("posts", where=_post_predicate(since, until, author_id, lang, hashtag, has), columns=columns)
    keep = np.ones(rows.num_rows, bool)
    if hashtag is not None:
        from socialfusion.tasks.trends import key_assignment

        wanted = hashtag.lower().lstrip("#")
        pairs = (
            snapshot.hashtags
            if snapshot is not None
            else key_assignment(rows.select(["post_id", "hashtags"]), by="hashtag")
        )
        tagged = pairs.filter(pc.equal(pairs.column("key"), wanted)).column("post_id")
        keep &= pc.is_in(rows.column("post_id"), value_set=tagged.combine_chunks()).to_numpy(zero_copy_only=False)
    if topic_id is not None:
        ids = _ids_of(store, "post_topics", f"topic_id = {int(topic_id)}")
        keep &= pc.is_in(rows.column("post_id"), value_set=ids).to_numpy(zero_copy_only=False)
    if sentiment is not None:
        ids = _ids_of(store, "sentiment_predictions", f"label = {sql_string(sentiment)}")
        keep &= pc.is_in(rows.column("post_id"), value_set=ids).to_numpy(zero_copy_only=False)
    if has is not None:
        keep &= _has_modality(rows, has)
    rows = rows.select(["post_id", "created_at"]).filter(pa.array(keep))
    micros, nulls = _micros(rows.column("created_at"))
    ids = np.asarray(rows.column("post_id").to_pylist(), dtype=object)
    # the order is (no time, -time, post_id) ascending: newest first, posts without a time last
    negative = np.where(nulls, 0, -micros)
    if cursor is not None:
        cursor_null = cursor[0] is None
        cursor_negative = 0 if cursor_null else -cursor[0]
        later = (nulls > cursor_null) | (
            (nulls == cursor_null)
            & ((negative > cursor_negative) | ((negative == cursor_negative) & (ids > cursor[1])))
        )
        ids, nulls, negative, micros = ids[later], nulls[later], negative[later], micros[later]
    order = np.lexsort((ids.astype(str) if len(ids) else ids, negative, nulls))[: limit + 1]
    page_ids = [str(ids[index]) for index in order[:limit]]
    next_cursor = None
    if len(order) > limit:
        last = order[limit - 1]
        created = None if nulls[last] else dt.datetime.fromtimestamp(micros[last] / 1_000_000, dt.UTC)
        next_cursor = encode_cursor(created, str(ids[last]))
    return PostPage(posts_by_id(store, page_ids), next_cursor)


def _post_predicate(
    since: dt.datetime | None,
    until: dt.datetime | None,
    author_id: str | None,
    lang: str | None,
    hashtag: str | None,
    has: str | None,
) -> str | None:
    """The SQL predicate of ``find_posts``'s filters that the store evaluates (hashtags and media as a superset)."""
    clauses = []
    if since is not None:
        clauses.append(f"created_at >= {sql_timestamp(since)}")
    if until is not None:
        clauses.append(f"created_at < {sql_timestamp(until)}")
    if author_id is not None:
        clauses.append(f"author_id = {sql_string(author_id)}")
    if lang is not None:
        clauses.append(f"lang = {sql_string(lang)}")
    if has in MEDIA_KINDS:
        clauses.append("array_length(media) > 0")
    if hashtag is not None:
        # a superset read by the store (any tag containing the wanted one); find_posts makes the exact match
        clauses.append(f"strpos(lower(array_to_string(hashtags, ' ')), {sql_string(hashtag.lower().lstrip('#'))}) > 0")
    return " AND ".join(clauses) or None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _filtered_in_memory(
    posts: pa.Table, since: dt.datetime | None, until: dt.datetime | None, author_id: str | None, lang: str | None
) -> pa.Table:
    """The rows of a posts snapshot that ``_post_predicate``'s time, author and language clauses keep."""
    masks = []
    created = posts.column("created_at")
    if since is not None:
        masks.append(pc.greater_equal(created, pa.scalar(_utc(since), created.type)))
    if until is not None:
        masks.append(pc.less(created, pa.scalar(_utc(until), created.type)))
    if author_id is not None:
        masks.append(pc.equal(posts.column("author_id"), author_id))
    if lang is not None:
        masks.append(pc.equal(posts.column("lang"), lang))
    if not masks:
        return posts
    keep = masks[0]
    for mask in masks[1:]:
        keep = pc.and_kleene(keep, mask)
    return posts.filter(pc.fill_null(keep, False))


def _without_inline_bytes(posts: pa.Table) -> pa.Table:
    """Media items without their ``data`` bytes (a response names media, it does not carry them)."""
    media = posts.column("media").combine_chunks()
    items = media.values
    names = [field.name for field in items.type if field.name != "data"]
    stripped = pa.StructArray.from_arrays([items.field(name) for name in names], names=names, mask=items.is_null())
    lists = pa.ListArray.from_arrays(media.offsets, stripped, mask=media.is_null())
    return posts.set_column(posts.column_names.index("media"), "media", lists)


def posts_by_id(store: Store, ids: Sequence[str], columns: Sequence[str] = POST_COLUMNS) -> pa.Table:
    """The posts ``ids`` in that order (ids that are not posts are skipped); media items without inline bytes."""
    ids = list(ids)
    snapshot = _snapshot_of(store) if ids else None
    if snapshot is not None and set(columns) <= set(POST_COLUMNS):
        rows = [snapshot.rows[post_id] for post_id in ids if post_id in snapshot.rows]
        return snapshot.posts.take(pa.array(rows, pa.int64())).select(list(columns))
    if not ids:
        return (
            _without_inline_bytes(arrow_schema("posts").empty_table().select(list(columns)))
            if "media" in columns
            else arrow_schema("posts").empty_table().select(list(columns))
        )
    parts = []
    for start in range(0, len(ids), _IN_LIST_CHUNK):
        chunk = ids[start : start + _IN_LIST_CHUNK]
        where = f"post_id IN ({', '.join(sql_string(post_id) for post_id in chunk)})"
        parts.append(store.read("posts", where=where, columns=list(columns)))
    found = pa.concat_tables(parts)
    position = pc.index_in(pa.array(ids, pa.string()), value_set=found.column("post_id"))
    found = found.take(pc.drop_null(position))
    return _without_inline_bytes(found) if "media" in found.column_names else found


def post_details(store: Store, post_id: str) -> dict[str, Any]:
    """One post with what the store knows of it: its features, its predicted sentiment and its topic.

    Returns:
        ``{"post": row, "features": [{"encoder", "missing", "reason"}], "sentiment": {"label", "confidence",
        "model", "probabilities"} or None, "topic": {"topic_id", "label", "distance"} or None}``.

    Raises:
        NotFoundError: no post has this id.
    """
    found = posts_by_id(store, [post_id])
    if found.num_rows == 0:
        raise NotFoundError(f"no post {post_id!r} in {store.uri!r}", field="post_id")
    quoted = sql_string(post_id)
    tables = store.tables()
    features = []
    for table in sorted(name for name in tables if name.startswith("features__")):
        rows = store.read(
            table, where=f"item_id = {quoted} AND item_kind = 'post'", columns=["encoder", "missing", "reason"]
        )
        features.extend(rows.to_pylist()[:1])
    sentiment = None
    if "sentiment_predictions" in tables:
        rows = store.read("sentiment_predictions", where=f"post_id = {quoted}").to_pylist()
        if rows:
            row = rows[0]
            sentiment = {
                "label": row["label"],
                "confidence": row["confidence"],
                "model": row["model"],
                "probabilities": {
                    name[2:]: value for name, value in row.items() if name.startswith("p_") and value is not None
                }
                or None,
            }
    topic = None
    if {"post_topics", "topics"} <= set(tables):
        rows = store.read("post_topics", where=f"post_id = {quoted}").to_pylist()
        if rows:
            from socialfusion.tasks.topics import topic_names

            names = topic_names(store.read("topics", columns=["topic_id", "label"]))
            topic = {
                "topic_id": rows[0]["topic_id"],
                "label": names.get(str(rows[0]["topic_id"])),
                "distance": rows[0]["distance"],
            }
    return {"post": found.to_pylist()[0], "features": features, "sentiment": sentiment, "topic": topic}
