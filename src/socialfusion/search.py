"""Search over a store's posts: semantic (stored text vectors), keyword (BM25 full-text index), hybrid (reciprocal
rank fusion of both) and "more like this post".

Semantic search embeds the query with a text encoder that needs no fitting on the corpus (``QUERY_ENCODERS``), so
that the query lands in the space of the posts' stored vectors (``socialfusion featurize``), and searches that
feature table through ``Store.search`` by cosine distance. A table of ``MIN_INDEXED_ROWS`` rows or more gets a
vector index, built when absent and rebuilt when more than ``STALE_FRACTION`` of its rows came after it (those rows
are still found meanwhile, by a scan); a smaller table is searched exactly. Keyword search keeps a full-text index
on the posts' text the same way.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, DataError, NotFoundError, StoreError
from socialfusion.featurize import feature_table
from socialfusion.store import Store, sql_string

__all__ = [
    "MIN_INDEXED_ROWS",
    "QUERY_ENCODERS",
    "RRF_K",
    "SEARCH_MODES",
    "STALE_FRACTION",
    "embed_query",
    "ensure_text_index",
    "ensure_vector_index",
    "hybrid_search",
    "keyword_search",
    "more_like_this",
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

_VECTOR_INDEX = {"index_type": "IVF_HNSW_SQ", "metric": "cosine"}
_ROWS_PER_PARTITION = 4096
_HYBRID_CANDIDATES = 50  # each list contributes at least this many hits to the fusion
_index_locks: dict[tuple[str, str], threading.Lock] = {}
_index_locks_guard = threading.Lock()


def _index_lock(store: Store, table: str) -> threading.Lock:
    with _index_locks_guard:
        return _index_locks.setdefault((store.uri, table), threading.Lock())


@functools.lru_cache(maxsize=4)
def _query_encoder(name: str):
    from socialfusion.encoders import get_encoder

    return get_encoder(name)


def search_encoder(store: Store, encoder: str | None = None) -> str:
    """The text encoder whose stored vectors a semantic search reads: ``encoder``, else the first of
    ``QUERY_ENCODERS`` the store has features of.

    Raises:
        ConfigurationError: ``encoder`` cannot embed a query (it is fitted on the corpus, or not a text encoder).
        StoreError: the store has no features of ``encoder`` (or of any query encoder); the message says how to
            make them.
    """
    tables = set(store.tables())
    if encoder is not None:
        if encoder not in QUERY_ENCODERS:
            raise ConfigurationError(f"encoder {encoder!r} cannot embed a search query; use one of {QUERY_ENCODERS}")
        if feature_table(encoder) not in tables:
            raise StoreError(f"no {encoder} features in {store.uri!r} to search; make them with: socialfusion "
                             f"featurize --store {store.uri} --encoders {encoder}")
        return encoder
    for name in QUERY_ENCODERS:
        if feature_table(name) in tables:
            return name
    raise StoreError(f"no text features in {store.uri!r} to search; make them with: socialfusion featurize --store "
                     f"{store.uri} --encoders {QUERY_ENCODERS[0]}")


def embed_query(text: str, encoder: str) -> np.ndarray:
    """``(dim,)`` the query's vector by ``encoder`` (built once per process).

    Raises:
        DataError: the query is blank.
    """
    if not text or not text.strip():
        raise DataError("the search query is blank: give some words to search for")
    encoded = _query_encoder(encoder).encode([text])
    if encoded.missing[0]:
        raise DataError(f"the query cannot be embedded by {encoder}: {encoded.reasons[0]}")
    return np.asarray(encoded.vectors[0], np.float32)


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


def ensure_text_index(store: Store) -> bool:
    """Build (or rebuild) the full-text index on the posts' text when absent or stale.

    Returns:
        True when an index was built.
    """
    if store.count("posts") == 0 or not _stale(store.index_stats("posts", "text")):
        return False
    with _index_lock(store, "posts"):
        if not _stale(store.index_stats("posts", "text")):
            return False
        store.create_index("posts", "text", index_type="FTS")
    return True


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigurationError(f"k must be a positive integer; got {k!r}")


def _ranked(ids: Sequence[str], scores: Sequence[float]) -> pa.Table:
    return pa.table({"post_id": pa.array(list(ids), pa.string()), "score": pa.array(list(scores), pa.float64())})


def _vector_hits(store: Store, encoder: str, vector: np.ndarray, k: int, exclude: str | None = None) -> pa.Table:
    table = feature_table(encoder)
    ensure_vector_index(store, encoder)
    where = "missing = false AND item_kind = 'post'"
    if exclude is not None:
        where += f" AND item_id != {sql_string(exclude)}"
    found = store.search(table, vector, k=k, where=where, metric="cosine")
    distances = found.column("_distance").to_numpy(zero_copy_only=False)
    return _ranked(found.column("item_id").to_pylist(), (1.0 - distances).tolist())


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
    if not ensure_text_index(store) and store.index_stats("posts", "text") is None:
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
    rows = store.read(feature_table(encoder), where=f"item_id = {sql_string(post_id)} AND item_kind = 'post'",
                      columns=["vector", "missing"])
    if rows.num_rows == 0 or rows.column("missing")[0].as_py():
        if store.count("posts", where=f"post_id = {sql_string(post_id)}") == 0:
            raise NotFoundError(f"no post {post_id!r} in {store.uri!r}", field="post_id")
        raise DataError(f"post {post_id!r} has no {encoder} vector (no text, or not featurized since it was "
                        f"ingested: socialfusion featurize --store {store.uri} --encoders {encoder})")
    vector = np.asarray(rows.column("vector")[0].as_py(), np.float32)
    return _vector_hits(store, encoder, vector, k, exclude=post_id)
