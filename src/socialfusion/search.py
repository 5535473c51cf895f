"""Search over a store's posts: semantic (stored text vectors), keyword (BM25 full-text index), hybrid (reciprocal
rank fusion of both) and "more like this post".

Semantic search embeds the query with a text encoder that needs no fitting on the corpus (``QUERY_ENCODERS``), so
that the query lands in the space of the posts' stored vectors (``socialfusion featurize``), and searches that
feature table through ``Store.search`` by cosine distance. A table of ``MIN_INDEXED_ROWS`` rows or more gets a
vector index, built when absent and rebuilt when more than ``STALE_FRACTION`` of its rows came after it (those rows
are still found meanwhile, by a scan); a smaller table is searched exactly. Keyword search keeps a full-text index
on the posts' text the same way, tokenized by ICU word boundaries (``TEXT_TOKENIZER``) so that Chinese and Japanese
words are found as well as English ones (stemmed).

A search runs many times a second in a service, so what it needs besides the query itself is looked at once in a
while, not on every call: whether the indexes are up to date and which encoders the store has are checked at most
every ``CHECK_SECONDS`` per store and table, and a stale index is rebuilt on a background thread while searches go
on (rows written since the last build are found by a scan meanwhile). Only a missing full-text index is built
before the search that needs it. The query encoder is built once per process and runs on one thread per query.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError, NotFoundError, StoreError
from socialfusion.featurize import feature_table
from socialfusion.store import Store, sql_string

__all__ = [
    "CHECK_SECONDS",
    "LOOKUP_COLUMNS",
    "MIN_INDEXED_ROWS",
    "QUERY_ENCODERS",
    "RRF_K",
    "SEARCH_MODES",
    "STALE_FRACTION",
    "TEXT_TOKENIZER",
    "embed_query",
    "embed_texts",
    "ensure_lookup_indexes",
    "ensure_text_index",
    "ensure_vector_index",
    "fused_post_vectors",
    "hybrid_search",
    "keyword_search",
    "lookup_upkeep",
    "more_like_this",
    "more_like_this_fused",
    "post_encoders",
    "reciprocal_rank_fusion",
    "search_encoder",
    "semantic_search",
]

logger = logging.getLogger(__name__)

SEARCH_MODES = ("semantic", "keyword", "hybrid")

QUERY_ENCODERS = ("text/minilm-int8", "text/minilm", "text/multilingual")
"""Text encoders that embed a new query as they embedded the stored posts (no fitting on the corpus), in the order
``search_encoder`` prefers them."""

RRF_K = 60
"""The constant of reciprocal rank fusion: a hit at rank r (from 1) scores ``1 / (RRF_K + r)`` in each list."""

MIN_INDEXED_ROWS = 5000
"""Tables smaller than this are searched exactly (a scan of a few thousand vectors takes milliseconds)."""

STALE_FRACTION = 0.2
"""An index is rebuilt when the rows written after it exceed this share of the rows it holds."""

CHECK_SECONDS = 2.0
"""How long a search trusts what it last saw of a table (its indexes, the store's encoders) before looking again."""

TEXT_TOKENIZER = "icu"
"""The full-text index's tokenizer: ICU word boundaries (a dictionary for Chinese, Japanese, Thai...), lower-cased
and stemmed (English). The store's metadata records it (``text_index_tokenizer``): an index built with another one
is rebuilt."""

LOOKUP_COLUMNS = ("post_id", "author_id")
"""Columns of the posts with a scalar (B-tree) index, for finding posts by id and by author."""

_TOKENIZER_KEY = "text_index_tokenizer"
_VECTOR_INDEX = {"index_type": "IVF_HNSW_SQ", "metric": "cosine"}
_ROWS_PER_PARTITION = 4096
_HYBRID_CANDIDATES = 50  # each list contributes at least this many hits to the fusion
_index_locks: dict[tuple[str, str], threading.Lock] = {}
_index_locks_guard = threading.Lock()
_checked: dict[tuple[str, str], tuple[float, object]] = {}  # (store, what) -> (when, what was seen)
_rebuilds = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="socialfusion-index")
_pending: set[tuple[str, str]] = set()


def _index_lock(store: Store, table: str) -> threading.Lock:
    with _index_locks_guard:
        return _index_locks.setdefault((store.uri, table), threading.Lock())


def _identity(store: Store) -> str:
    return store.uri if "://" not in store.uri else f"{store.uri}#{id(store)}"  # two in-memory stores differ


def _recent(store: Store, what: str, look: Callable[[], object]) -> object:
    """``look()``, reused for ``CHECK_SECONDS`` per store and ``what`` (an empty answer is never reused: what is
    missing is looked for again at once)."""
    key, now = (_identity(store), what), time.monotonic()
    seen = _checked.get(key)
    if seen is not None and now - seen[0] < CHECK_SECONDS:
        return seen[1]
    value = look()
    if value:
        _checked[key] = (now, value)
    return value


def _forget(store: Store) -> None:
    """Drop what was seen of the store (after an index was built: the next search looks again)."""
    identity = _identity(store)
    for key in [key for key in list(_checked) if key[0] == identity]:
        _checked.pop(key, None)


def _in_background(store: Store, what: str, build: Callable[[], bool]) -> None:
    """Run ``build`` on the index thread unless one for ``what`` is queued or running already."""
    key = (_identity(store), what)
    with _index_locks_guard:
        if key in _pending:
            return
        _pending.add(key)

    def run() -> None:
        try:
            if build():
                _forget(store)
        except Exception:  # a failed refresh leaves the old index, which still answers (unindexed rows scanned)
            logger.exception("refreshing the %s index of %r failed", what, store.uri)
        finally:
            with _index_locks_guard:
                _pending.discard(key)

    _rebuilds.submit(run)


@functools.lru_cache(maxsize=4)
def _query_encoder(name: str):
    """The encoder of queries: one thread per forward pass (one short text; concurrent queries run side by side)."""
    from socialfusion.encoders import get_encoder

    try:
        return get_encoder(name, num_threads=1)
    except TypeError:  # an encoder without a thread setting (text/minilm runs on PyTorch)
        return get_encoder(name)


def search_encoder(store: Store, encoder: str | None = None) -> str:
    """The text encoder whose stored vectors a semantic search reads: ``encoder``, else the first of
    ``QUERY_ENCODERS`` the store has features of.

    Raises:
        ConfigurationError: ``encoder`` cannot embed a query (it is fitted on the corpus, or not a text encoder).
        StoreError: the store has no features of ``encoder`` (or of any query encoder); the message says how to
            make them.
    """
    tables = _recent(store, "tables", lambda: frozenset(store.tables()))
    if encoder is not None:
        if encoder not in QUERY_ENCODERS:
            raise ConfigurationError(f"encoder {encoder!r} cannot embed a search query; use one of {QUERY_ENCODERS}")
        if feature_table(encoder) not in tables:
            raise StoreError(
                f"no {encoder} features in {store.uri!r} to search; make them with: socialfusion "
                f"featurize --store {store.uri} --encoders {encoder}"
            )
        return encoder
    for name in QUERY_ENCODERS:
        if feature_table(name) in tables:
            return name
    raise StoreError(
        f"no text features in {store.uri!r} to search; make them with: socialfusion featurize --store "
        f"{store.uri} --encoders {QUERY_ENCODERS[0]}"
    )


def embed_texts(texts: Sequence[str], encoder: str) -> np.ndarray:
    """``(n, dim)`` the texts' vectors by ``encoder``, one of ``QUERY_ENCODERS`` (built once per process).

    Raises:
        ConfigurationError: ``encoder`` is not one of ``QUERY_ENCODERS``.
        DataError: a text cannot be embedded (the message names the first and why).
    """
    if encoder not in QUERY_ENCODERS:
        raise ConfigurationError(f"encoder {encoder!r} cannot embed new texts; use one of {QUERY_ENCODERS}")
    encoded = _query_encoder(encoder).encode(list(texts))
    for index, missing in enumerate(encoded.missing):
        if missing:
            raise DataError(f"text {index} cannot be embedded by {encoder}: {encoded.reasons[index]}")
    return np.asarray(encoded.vectors, np.float32)


def embed_query(text: str, encoder: str) -> np.ndarray:
    """``(dim,)`` the query's vector by ``encoder`` (built once per process).

    Raises:
        DataError: the query is blank.
    """
    if not text or not text.strip():
        raise DataError("the search query is blank: give some words to search for")
    try:
        return embed_texts([text], encoder)[0]
    except DataError as error:
        raise DataError(f"the query cannot be embedded: {error}") from None


def _stale(stats: dict | None) -> bool:
    return stats is None or stats["unindexed_rows"] > STALE_FRACTION * max(stats["indexed_rows"], 1)


def ensure_vector_index(store: Store, encoder: str) -> bool:
    """Build (or rebuild) the vector index of an encoder's feature table when it is large and absent or stale.

    Returns:
        True when an index was built.
    """
    table = feature_table(encoder)
    rows = store.count(table)
    if rows < MIN_INDEXED_ROWS or not _stale(store.index_stats(table, "vector")):
        return False
    with _index_lock(store, table):
        if not _stale(store.index_stats(table, "vector")):  # another thread built it while this one waited
            return False
        partitions = max(1, rows // _ROWS_PER_PARTITION)
        store.create_index(table, "vector", num_partitions=partitions, **_VECTOR_INDEX)
        logger.info("built the vector index of %s (%d rows, %d partitions)", table, rows, partitions)
    return True


def _text_index_current(store: Store) -> bool:
    return not _stale(store.index_stats("posts", "text")) and store.get_metadata().get(_TOKENIZER_KEY) == TEXT_TOKENIZER


def ensure_text_index(store: Store) -> bool:
    """Build (or rebuild) the full-text index on the posts' text when absent, stale or built with another tokenizer
    than ``TEXT_TOKENIZER``.

    Returns:
        True when an index was built.
    """
    if store.count("posts") == 0 or _text_index_current(store):
        return False
    with _index_lock(store, "posts"):
        if _text_index_current(store):
            return False
        store.create_index("posts", "text", index_type="FTS", base_tokenizer=TEXT_TOKENIZER)
        store.update_metadata({_TOKENIZER_KEY: TEXT_TOKENIZER})
    return True


def _searchable_text(store: Store) -> bool:
    """Whether the posts have a full-text index to search, building it first when there is none; a stale one is
    refreshed in the background. Looked at once every ``CHECK_SECONDS``."""

    def look() -> str:
        stats = store.index_stats("posts", "text")
        if stats is None:
            return "built" if ensure_text_index(store) else ""
        return "stale" if not _text_index_current(store) else "current"

    state = _recent(store, "text-index", look)
    if state == "stale":
        _in_background(store, "text-index", lambda: ensure_text_index(store))
    return bool(state)


def _vector_index_upkeep(store: Store, encoder: str) -> None:
    """Refresh the vector index of a query encoder in the background when it is absent or stale (looked at once
    every ``CHECK_SECONDS``); the search goes on meanwhile (exactly, or through the old index and a scan)."""
    table = feature_table(encoder)

    def look() -> str:
        stale = store.count(table) >= MIN_INDEXED_ROWS and _stale(store.index_stats(table, "vector"))
        return "stale" if stale else "current"

    if _recent(store, f"vector-index:{table}", look) == "stale":
        _in_background(store, f"vector-index:{table}", lambda: ensure_vector_index(store, encoder))


def _lookup_targets(store: Store) -> list[tuple[str, str]]:
    """(table, column) of every lookup index: the posts' ``LOOKUP_COLUMNS`` and the ``item_id`` of each feature
    table (one post's features, read for its detail)."""
    tables = _recent(store, "tables", lambda: frozenset(store.tables()))
    return [("posts", column) for column in LOOKUP_COLUMNS] + [
        (table, "item_id") for table in sorted(tables) if table.startswith("features__")
    ]


def ensure_lookup_indexes(store: Store) -> list[str]:
    """Build (or rebuild) the scalar (B-tree) indexes of the posts' ``LOOKUP_COLUMNS`` and of the feature tables'
    ``item_id`` when absent or stale: finding posts by id (search hits, one post) or by author, and one post's
    features, then read a few rows instead of scanning the table (at 100,000 posts, 10 ids in 6 ms instead of 60;
    one post's features in 3 ms instead of 30).

    Returns:
        The indexes built, as ``table.column``.
    """
    built = []
    if store.count("posts") == 0:
        return built
    for table, column in _lookup_targets(store):
        with _index_lock(store, table):
            if store.count(table) and _stale(store.index_stats(table, column)):
                store.create_index(table, column, index_type="BTREE")
                built.append(f"{table}.{column}")
    return built


def lookup_upkeep(store: Store) -> None:
    """Keep the lookup indexes (``ensure_lookup_indexes``) up to date in the background; looked at once every
    ``CHECK_SECONDS``. Lookups work meanwhile, by a scan of what is not indexed."""

    def look() -> str:
        stale = store.count("posts") and any(
            store.count(table) and _stale(store.index_stats(table, column)) for table, column in _lookup_targets(store)
        )
        return "stale" if stale else "current"

    if _recent(store, "lookup-indexes", look) == "stale":
        _in_background(store, "lookup-indexes", lambda: bool(ensure_lookup_indexes(store)))


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigurationError(f"k must be a positive integer; got {k!r}")


def _ranked(ids: Sequence[str], scores: Sequence[float]) -> pa.Table:
    return pa.table({"post_id": pa.array(list(ids), pa.string()), "score": pa.array(list(scores), pa.float64())})


def _vector_hits(store: Store, encoder: str, vector: np.ndarray, k: int, exclude: str | None = None) -> pa.Table:
    table = feature_table(encoder)
    _vector_index_upkeep(store, encoder)
    # The filter is applied to the nearest rows found rather than to every row before the search (a prefilter
    # evaluates it over the whole table: 3 times slower at 100,000 rows); the few rows it drops (posts without a
    # vector, the post itself) are made up for by asking for more, and by an exact prefiltered search when too
    # many were dropped.
    found = store.search(table, vector, k=2 * k + 10, metric="cosine")
    keep = pc.and_(pc.invert(found.column("missing")), pc.equal(found.column("item_kind"), "post"))
    if exclude is not None:
        keep = pc.and_(keep, pc.not_equal(found.column("item_id"), exclude))
    kept = found.filter(keep)
    if kept.num_rows < k and found.num_rows == 2 * k + 10:
        where = "missing = false AND item_kind = 'post'"
        if exclude is not None:
            where += f" AND item_id != {sql_string(exclude)}"
        kept = store.search(table, vector, k=k, where=where, metric="cosine")
    kept = kept.slice(0, k)
    distances = kept.column("_distance").to_numpy(zero_copy_only=False)
    return _ranked(kept.column("item_id").to_pylist(), (1.0 - distances).tolist())


def semantic_search(store: Store, query: str, *, k: int = 10, encoder: str | None = None) -> pa.Table:
    """The ``k`` posts whose text vectors are nearest to the query's (cosine).

    Args:
        store: a store with text features of a query encoder (``socialfusion featurize``).
        query: the words to look for.
        k: posts returned.
        encoder: one of ``QUERY_ENCODERS``; default: ``search_encoder(store)``.

    Returns:
        Columns ``post_id``, ``score`` (cosine similarity), best first.

    Raises:
        ConfigurationError: a bad ``k`` or encoder.
        DataError: a blank query.
        StoreError: no text features to search.
    """
    _check_k(k)
    encoder = search_encoder(store, encoder)
    return _vector_hits(store, encoder, embed_query(query, encoder), k)


def keyword_search(store: Store, query: str, *, k: int = 10) -> pa.Table:
    """The ``k`` posts whose text best matches the query's words (BM25 over a full-text index).

    Returns:
        Columns ``post_id``, ``score`` (BM25), best first; empty when no post holds any of the words.

    Raises:
        ConfigurationError: a bad ``k``.
        DataError: a blank query.
    """
    _check_k(k)
    if not query or not query.strip():
        raise DataError("the search query is blank: give some words to search for")
    if not _searchable_text(store):
        return _ranked([], [])
    found = store.search_text("posts", query, k=k, column="text", columns=["post_id"])
    return _ranked(found.column("post_id").to_pylist(), found.column("_score").to_pylist())


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> pa.Table:
    """Fuse ranked lists of ids: each id scores the sum of ``1 / (k + rank)`` over the lists holding it.

    Returns:
        Columns ``post_id``, ``score``, best first (ties by id).

    Examples:
        >>> reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]]).column("post_id").to_pylist()
        ['a', 'c', 'b']
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = sorted(scores, key=lambda item: (-scores[item], item))
    return _ranked(order, [scores[item] for item in order])


def hybrid_search(store: Store, query: str, *, k: int = 10, encoder: str | None = None) -> pa.Table:
    """Semantic and keyword search fused by reciprocal rank (``reciprocal_rank_fusion``): the ``k`` best.

    Returns:
        Columns ``post_id``, ``score`` (the fused score), best first.
    """
    _check_k(k)
    candidates = max(k, _HYBRID_CANDIDATES)
    semantic = semantic_search(store, query, k=candidates, encoder=encoder)
    keyword = keyword_search(store, query, k=candidates)
    fused = reciprocal_rank_fusion([semantic.column("post_id").to_pylist(), keyword.column("post_id").to_pylist()])
    return fused.slice(0, k)


def more_like_this(store: Store, post_id: str, *, k: int = 10, encoder: str | None = None) -> pa.Table:
    """The ``k`` posts whose stored text vectors are nearest to this post's (the post itself left out).

    Raises:
        NotFoundError: no post has this id.
        DataError: the post has no text vector (no text, or not featurized yet).
    """
    _check_k(k)
    encoder = search_encoder(store, encoder)
    rows = store.read(
        feature_table(encoder),
        where=f"item_id = {sql_string(post_id)} AND item_kind = 'post'",
        columns=["vector", "missing"],
    )
    if rows.num_rows == 0 or rows.column("missing")[0].as_py():
        if store.count("posts", where=f"post_id = {sql_string(post_id)}") == 0:
            raise NotFoundError(f"no post {post_id!r} in {store.uri!r}", field="post_id")
        raise DataError(
            f"post {post_id!r} has no {encoder} vector (no text, or not featurized since it was "
            f"ingested: socialfusion featurize --store {store.uri} --encoders {encoder})"
        )
    vector = np.asarray(rows.column("vector")[0].as_py(), np.float32)
    return _vector_hits(store, encoder, vector, k, exclude=post_id)


_MEDIA_PREFERENCE = ("image/open-clip", "image/transformers", "image/efficientnet", "video/keyframes", "audio/whisper")
"""Media encoders preferred for a fused vector (semantic embeddings first); any other stored one comes after."""


def post_encoders(store: Store) -> dict[str, str]:
    """Modality -> the encoder whose post features a fused vector takes: text from ``search_encoder``, each medium
    from ``_MEDIA_PREFERENCE`` then any other of its encoders the store has features of. Empty without features."""
    from socialfusion.encoders import available_encoders

    tables = _recent(store, "tables", lambda: frozenset(store.tables()))
    chosen: dict[str, str] = {}
    try:
        chosen["text"] = search_encoder(store)
    except StoreError:
        pass
    for modality in ("image", "video", "audio"):
        names = available_encoders(modality)
        ordered = [name for name in _MEDIA_PREFERENCE if name in names] + sorted(set(names) - set(_MEDIA_PREFERENCE))
        found = next((name for name in ordered if feature_table(name) in tables), None)
        if found is not None:
            chosen[modality] = found
    return chosen


def fused_post_vectors(store: Store, encoders: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Every post's fused vector: its stored vectors of ``encoders`` (modality -> encoder), each made unit length
    and set side by side (``socialfusion.tasks.recommend.fuse_item_features``; a modality the post lacks counts 0).

    Returns:
        The post ids and ``(n, sum of dims)`` float32 rows of unit length (0 for a post with no vector at all).
    """
    from socialfusion.featurize import load_features
    from socialfusion.tasks.recommend import fuse_item_features

    ids = store.read("posts", columns=["post_id"]).column("post_id").to_pylist()
    vectors = {}
    for modality, encoder in encoders.items():
        encoded = load_features(store, encoder, ids)
        vectors[modality] = np.where(encoded.missing[:, None], np.float32(0), encoded.vectors)
    return ids, fuse_item_features(vectors)


def more_like_this_fused(ids: Sequence[str], vectors: np.ndarray, post_id: str, *, k: int = 10) -> pa.Table:
    """The ``k`` posts whose fused vectors (``fused_post_vectors``) are nearest to this post's (cosine, exact).

    Raises:
        NotFoundError: ``post_id`` is not among ``ids``.
        DataError: the post has no vector in any modality.
    """
    _check_k(k)
    try:
        row = list(ids).index(post_id)
    except ValueError:
        raise NotFoundError(f"no post {post_id!r} to find posts like", field="post_id") from None
    query = vectors[row]
    if not query.any():
        raise DataError(f"post {post_id!r} has no stored vector in any modality (featurize it first)")
    scores = vectors @ query
    scores[row] = -np.inf
    scores[~vectors.any(axis=1)] = -np.inf
    count = min(k, int(np.isfinite(scores).sum()))
    top = (
        np.argpartition(-scores, count - 1)[:count] if 0 < count < len(scores) else np.flatnonzero(np.isfinite(scores))
    )
    top = top[np.lexsort((top, -scores[top]))][:count]
    return _ranked([ids[index] for index in top], scores[top].astype(float).tolist())
