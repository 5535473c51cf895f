"""LanceStore: the Store over LanceDB, embedded in a local directory (default) or in memory (``memory://``)."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, StoreError
from socialfusion.schema import TABLES, arrow_schema
from socialfusion.store._base import INDEX_TYPES, WRITE_MODES

__all__ = ["LanceStore"]

logger = logging.getLogger(__name__)

_META_TABLE = "store_meta"
_META_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.string())])
_INDEX_CONFIGS = {  # INDEX_TYPES -> the lancedb.index configuration class
    "IVF_FLAT": "IvfFlat", "IVF_SQ": "IvfSq", "IVF_PQ": "IvfPq", "IVF_RQ": "IvfRq", "IVF_HNSW_SQ": "IvfHnswSq",
    "IVF_HNSW_PQ": "IvfHnswPq", "IVF_HNSW_FLAT": "IvfHnswFlat", "BTREE": "BTree", "BITMAP": "Bitmap",
    "LABEL_LIST": "LabelList", "FTS": "FTS",
}
_METRICS = ("l2", "cosine", "dot")
LOCK_FILE = ".socialfusion-writer.lock"
_HOLDER_FILE = ".socialfusion-writer.holder"
LOCK_TIMEOUT_SECONDS = float(os.environ.get("SOCIALFUSION_LOCK_TIMEOUT", 600))
_WAIT_NOTICE_SECONDS = 2.0
_COMMIT_RETRIES = 5


def _is_local(uri: str) -> bool:
    return "://" not in uri


class WriterLock:
    """The store's one writer lock: every process and thread that writes a local store takes it in turn.

    On a local directory it is an OS file lock (``flock``) on ``.socialfusion-writer.lock`` inside the store, so
    it is released by the kernel when its holder dies, even by SIGKILL. In memory it is a re-entrant thread lock.
    Object-store URIs have no shared lock: their writers rely on Lance's own commit-conflict detection (retried).

    The lock is re-entrant within a thread. A writer that waits longer than a couple of seconds says so (a
    warning naming the holder's process and command), and gives up with a ``StoreError`` after ``timeout``.
    """

    def __init__(self, uri: str, timeout: float = LOCK_TIMEOUT_SECONDS):
        self.uri = uri
        self.timeout = timeout
        self._local = _is_local(uri)
        if self._local:
            import filelock

            self._file_lock = filelock.FileLock(str(Path(uri) / LOCK_FILE), is_singleton=False)
        self._thread_lock = threading.RLock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if not self._local:
            with self._thread_lock:
                yield
            return
        import filelock

        started = time.monotonic()
        told = False
        while True:
            try:
                self._file_lock.acquire(timeout=_WAIT_NOTICE_SECONDS)
                break
            except filelock.Timeout:
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    raise StoreError(
                        f"store {self.uri!r} is busy: another writer ({self._holder()}) has held it for "
                        f"{waited:.0f} s; try again when it has finished (SOCIALFUSION_LOCK_TIMEOUT sets the wait)"
                    ) from None
                if not told:
                    logger.warning("waiting for another writer on store %r (%s)", self.uri, self._holder())
                    told = True
        try:
            if self._file_lock.lock_counter == 1:
                self._write_holder()
            yield
        finally:
            self._file_lock.release()

    def _write_holder(self) -> None:
        holder = {"pid": os.getpid(), "command": " ".join(sys.argv[:3])[:200], "since": time.time()}
        with contextlib.suppress(OSError):
            (Path(self.uri) / _HOLDER_FILE).write_text(json.dumps(holder))

    def _holder(self) -> str:
        try:
            holder = json.loads((Path(self.uri) / _HOLDER_FILE).read_text())
            return f"pid {holder['pid']}, {holder['command']!r}"
        except (OSError, ValueError, KeyError):
            return "holder unknown"


def _no_space(error: BaseException) -> bool:
    return "No space left on device" in str(error) or getattr(error, "errno", None) == 28


def _is_commit_conflict(error: BaseException) -> bool:
    text = str(error).lower()
    return "commit conflict" in text or "retryable" in text and "conflict" in text


_READ_BATCH = 65_536
"""Rows per record batch of a whole-table ``read``."""


def _query(handle: Any, *, where: str | None = None, columns: list[str] | None = None, row_ids: bool = False) -> Any:
    """The query over every row of a table that ``LanceStore.read`` and ``read_batches`` run."""
    query = handle.search()
    if where is not None:
        query = query.where(where)
    if columns:
        query = query.select(columns)
    if row_ids:
        query = query.with_row_id(True)
    return query.limit(None)


class LanceStore:
    """A Store backed by LanceDB.

    Args:
        uri: a local directory (created when absent), ``memory://`` for a throw-away in-memory store, or any
            object-store URI that LanceDB accepts.

    Examples:
        >>> import pyarrow as pa
        >>> store = LanceStore("memory://")
        >>> store.write("notes", pa.table({"id": ["a"], "n": [1]}), mode="upsert", key="id")
        1
        >>> store.write("notes", pa.table({"id": ["a", "b"], "n": [2, 3]}), mode="upsert", key="id")
        2
        >>> sorted(store.read("notes").column("n").to_pylist())
        [2, 3]
    """

    def __init__(self, uri: str):
        # Lance logs routine events ("no existing dataset, it will be created") as warnings on stderr.
        os.environ.setdefault("LANCEDB_LOG", "error")
        import lancedb

        self.uri = uri
        self._db = lancedb.connect(uri)
        self._handles: dict[str, Any] = {}
        self.writer_lock = WriterLock(uri)

    def __repr__(self) -> str:
        return f"LanceStore({self.uri!r})"

    # -- tables -------------------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the tables that exist and can be read (the metadata table excluded).

        A table another process is creating is listed a moment before its first version can be read; it is left
        out until then, so ``name in store.tables()`` followed by ``store.read(name)`` does not race that writer.
        """
        names: list[str] = []
        page_token = None
        while True:
            response = self._db.list_tables(page_token=page_token)
            names.extend(response.tables)
            page_token = response.page_token
            if not page_token:
                break
        return sorted(name for name in names if name != _META_TABLE and self._readable(name))

    def _readable(self, table: str) -> bool:
        """Whether the table has a version to read (opened once; a cached handle is known to have one)."""
        if table in self._handles:
            return True
        try:
            self._handles[table] = self._db.open_table(table)
        except (FileNotFoundError, ValueError):
            return False
        return True

    def _open(self, table: str):
        """The table's handle at its latest version (another connection may have written since), or None."""
        if table in self._handles:
            self._handles[table].checkout_latest()
        elif not self._readable(table):
            return None
        return self._handles[table]

    def _conform(self, table: str, rows: pa.Table) -> pa.Table:
        if table in TABLES:
            schema = arrow_schema(table)
            try:
                return rows.select(schema.names).cast(schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
                raise StoreError(f"rows for {table!r} do not match its schema: {error}") from error
        return rows

    # -- writes -------------------------------------------------------------------------------------------
    def write(self, table: str, rows: pa.Table, *, mode: str = "upsert", key: str | None = None) -> int:
        """Write ``rows`` to ``table``, creating it when absent.

        Args:
            table: table name.
            rows: the rows; canonical tables are cast to their schema.
            mode: ``upsert`` (insert new keys, replace rows with known keys), ``append`` or ``overwrite``.
            key: the column upserts match on; defaults to ``record_key`` for canonical tables.

        Returns:
            Rows inserted plus rows updated.

        Raises:
            ConfigurationError: unknown mode, or an upsert with no key on a non-canonical table.
            StoreError: rows do not match the table's schema.
        """
        if mode not in WRITE_MODES:
            raise ConfigurationError(f"unknown write mode {mode!r}; expected one of {WRITE_MODES}")
        rows = self._conform(table, rows)
        if mode == "upsert":
            key = key or ("record_key" if table in TABLES else None)
            if key is None:
                raise ConfigurationError(f"upsert into {table!r} needs key=<column>")
        with self.writer_lock():
            return self._committed(table, lambda: self._write_locked(table, rows, mode, key))

    def _write_locked(self, table: str, rows: pa.Table, mode: str, key: str | None) -> int:
        handle = self._open(table)
        if handle is None:
            try:  # never mode="overwrite" here: that would wipe rows another writer has just committed
                self._handles[table] = self._db.create_table(table, rows, mode="create")
                return rows.num_rows
            except ValueError as error:
                if "already exists" not in str(error):
                    raise
            handle = self._open(table)  # created meanwhile by a writer outside our lock (an object-store URI)
        if rows.num_rows == 0:
            return 0
        if mode == "overwrite":
            self._handles[table] = self._db.create_table(table, rows, mode="overwrite")
            return rows.num_rows
        if mode == "append":
            handle.add(rows)
            return rows.num_rows
        result = handle.merge_insert(key).when_matched_update_all().when_not_matched_insert_all().execute(rows)
        return int(result.num_inserted_rows + result.num_updated_rows)

    def _committed(self, table: str, operation):
        """Run a write, retrying Lance commit conflicts; a full disk becomes one clear StoreError."""
        for attempt in range(_COMMIT_RETRIES):
            try:
                return operation()
            except (OSError, RuntimeError, ValueError) as error:
                if _no_space(error):
                    raise StoreError(
                        f"no space left on the device of store {self.uri!r} while writing {table!r}: this write was "
                        "not committed and the store is unchanged by it (every earlier batch is kept); free some "
                        "disk space and run the same command again (it carries on where this one stopped)"
                    ) from None
                if not _is_commit_conflict(error) or attempt == _COMMIT_RETRIES - 1:
                    raise
                self._handles.pop(table, None)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def version(self, table: str) -> int | None:
        """The table's current version (it grows with every commit by any writer), or None when absent."""
        handle = self._open(table)
        return None if handle is None else int(handle.version)

    def delete(self, table: str, where: str) -> None:
        """Delete the rows of ``table`` matching the SQL predicate ``where``.

        Raises:
            StoreError: the predicate is invalid.
        """
        with self.writer_lock():
            handle = self._open(table)
            if handle is not None:
                try:
                    self._committed(table, lambda: handle.delete(where))
                except (ValueError, RuntimeError) as error:
                    raise StoreError(f"cannot delete from {table!r} where {where!r}: {error}") from error

    # -- reads --------------------------------------------------------------------------------------------
    def read(self, table: str, *, where: str | None = None, columns: list[str] | None = None,
             row_ids: bool = False) -> pa.Table:
        """Rows of ``table`` matching ``where``, restricted to ``columns`` (plus ``_rowid`` with ``row_ids``).

        Row ids identify a physical row (two rows with the same key have different ids) and grow with each
        write; ``delete(table, "_rowid IN (...)")`` removes exactly those rows.

        An absent canonical table reads as an empty table with its schema.

        Raises:
            StoreError: the table does not exist (non-canonical tables) or the query is invalid.
        """
        handle = self._canonical_or_existing(table)
        if handle is None:
            empty = arrow_schema(table).empty_table()
            return empty.select(columns) if columns else empty
        try:
            # in large batches: LanceDB's to_arrow() gives 1,024-row chunks, which at 19.5M interactions held
            # 1.8 GB for 0.96 GB of data and took three times as long to read
            return _query(handle, where=where, columns=columns, row_ids=row_ids).to_batches(_READ_BATCH).read_all()
        except (ValueError, RuntimeError, OSError) as error:
            raise StoreError(f"cannot read {table!r} where {where!r}: {error}") from error

    def read_batches(self, table: str, *, columns: list[str] | None = None,
                     batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The table's rows (``columns`` only) in record batches of at most ``batch_size`` rows, from one version
        of the table (a writer's later commits are not seen); an absent canonical table gives no batch.

        Raises:
            StoreError: the table does not exist (non-canonical tables) or a column is unknown.
        """
        handle = self._canonical_or_existing(table)
        if handle is None:
            return
        try:
            reader = _query(handle, columns=columns).to_batches(batch_size)
        except (ValueError, RuntimeError, OSError) as error:
            raise StoreError(f"cannot read {table!r}: {error}") from error
        yield from reader

    def _canonical_or_existing(self, table: str):
        """The table's handle; None for an absent canonical table (it reads as empty).

        Raises:
            StoreError: the table does not exist and is not canonical.
        """
        handle = self._open(table)
        if handle is None and table not in TABLES:
            raise StoreError(f"no table {table!r} in store {self.uri!r}; tables: {self.tables()}")
        return handle

    def count(self, table: str, *, where: str | None = None) -> int:
        """Number of rows of ``table`` matching ``where`` (0 when the table is absent)."""
        handle = self._open(table)
        if handle is None:
            return 0
        try:
            return int(handle.count_rows(where))
        except (ValueError, RuntimeError) as error:
            raise StoreError(f"cannot count {table!r} where {where!r}: {error}") from error

    def search(
        self,
        table: str,
        vector: np.ndarray,
        *,
        k: int = 10,
        where: str | None = None,
        nprobes: int | None = None,
        refine_factor: int | None = None,
        ef: int | None = None,
        metric: str | None = None,
        exact: bool = False,
    ) -> pa.Table:
        """The ``k`` nearest rows to ``vector`` in the table's vector column, with ``_distance``.

        Without an index (or with ``exact=True``) the search is exact; through an index (``create_index``) it
        is approximate, and these options trade speed for recall: ``nprobes`` IVF partitions are searched
        (LanceDB's default is a few percent of them), ``ef`` candidates are kept while walking an HNSW graph
        (at least ``k``), and ``refine_factor`` fetches ``refine_factor * k`` hits and re-ranks them by their
        exact distances (also giving exact ``_distance`` values for quantised indexes).

        Args:
            table: the table.
            vector: ``(d,)`` the query.
            k: rows returned.
            where: SQL predicate applied before the search.
            nprobes: IVF partitions searched; None for LanceDB's default.
            refine_factor: re-rank ``refine_factor * k`` candidates exactly; None for no re-ranking.
            ef: HNSW search breadth; None for LanceDB's default.
            metric: ``"l2"``, ``"cosine"`` or ``"dot"``; None for the index's metric (``l2`` without index).
            exact: ignore any index and scan every row.

        Returns:
            The rows, nearest first, with a ``_distance`` column.

        Raises:
            ConfigurationError: a non-positive option or an unknown metric.
            StoreError: absent table, or no vector column of the vector's dimension.

        Examples:
            >>> store = LanceStore("memory://")
            >>> vectors = pa.FixedSizeListArray.from_arrays(pa.array([0.0, 0.0, 1.0, 1.0, 5.0, 5.0]), 2)
            >>> _ = store.write("points", pa.table({"id": ["a", "b", "c"], "vector": vectors}), mode="append")
            >>> store.search("points", np.array([0.9, 1.2]), k=2, exact=True).column("id").to_pylist()
            ['b', 'a']
        """
        for name, value in (("k", k), ("nprobes", nprobes), ("refine_factor", refine_factor), ("ef", ef)):
            if value is not None and (not isinstance(value, int | np.integer) or value < 1):
                raise ConfigurationError(f"{name} must be a positive integer; got {value!r}.")
        if metric is not None and metric not in _METRICS:
            raise ConfigurationError(f"metric must be one of {_METRICS}; got {metric!r}.")
        handle = self._open(table)
        if handle is None:
            raise StoreError(f"no table {table!r} in store {self.uri!r} to search")
        try:
            query = handle.search(np.asarray(vector, dtype=np.float32))
            if metric is not None:
                query = query.distance_type(metric)
            if exact:
                query = query.bypass_vector_index()
            if nprobes is not None:
                query = query.nprobes(int(nprobes))
            if refine_factor is not None:
                query = query.refine_factor(int(refine_factor))
            if ef is not None:
                query = query.ef(int(ef))
            if where is not None:
                query = query.where(where, prefilter=True)
            return query.limit(k).to_arrow()
        except (ValueError, RuntimeError) as error:
            raise StoreError(f"cannot search {table!r}: {error}") from error

    def search_text(self, table: str, query: str, *, k: int = 10, column: str | None = None,
                    where: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """The ``k`` rows whose text best matches ``query`` (BM25 over a full-text index), with ``_score``.

        Rows written after the index was built are searched too (unindexed rows are scanned).

        Args:
            table: the table.
            query: words to look for (the index's tokenizer splits, lower-cases and stems them).
            k: rows returned.
            column: the indexed text column; None when the table has one full-text index.
            where: SQL predicate applied before the search.
            columns: the columns returned (``_score`` is always added); None for all.

        Returns:
            The rows, best match first; empty when no row holds any of the words.

        Raises:
            ConfigurationError: ``k`` is not a positive integer.
            StoreError: absent table, no full-text index, or an invalid query.

        Examples:
            >>> store = LanceStore("memory://")
            >>> _ = store.write("notes", pa.table({"id": ["a", "b"], "text": ["red apples", "green pears"]}),
            ...                 mode="append")
            >>> store.create_index("notes", "text", index_type="FTS")
            >>> store.search_text("notes", "apple", columns=["id"]).column("id").to_pylist()
            ['a']
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigurationError(f"k must be a positive integer; got {k!r}.")
        handle = self._open(table)
        if handle is None:
            raise StoreError(f"no table {table!r} in store {self.uri!r} to search")
        try:
            search = handle.search(query, query_type="fts", fts_columns=column)
            if where is not None:
                search = search.where(where, prefilter=True)
            if columns:
                search = search.select(columns)
            return search.limit(int(k)).to_arrow()
        except (ValueError, RuntimeError) as error:
            raise StoreError(f"cannot search the text of {table!r} for {query!r}: {error}; a full-text index is "
                             f"needed: store.create_index({table!r}, 'text', index_type='FTS')") from error

    def index_stats(self, table: str, column: str) -> dict[str, Any] | None:
        """The index on ``column``: ``{"index_type", "indexed_rows", "unindexed_rows"}``, or None without one.

        Rows written after an index was built are its ``unindexed_rows``: still found, but by a scan.
        """
        handle = self._open(table)
        if handle is None:
            return None
        for index in handle.list_indices():
            if list(index.columns) == [column]:
                stats = handle.index_stats(index.name)
                return {"index_type": str(stats.index_type), "indexed_rows": int(stats.num_indexed_rows),
                        "unindexed_rows": int(stats.num_unindexed_rows)}
        return None

    def create_index(
        self,
        table: str,
        column: str = "vector",
        *,
        index_type: str = "IVF_PQ",
        metric: str = "l2",
        replace: bool = True,
        **options: Any,
    ) -> None:
        """Build an index on ``column`` of ``table`` (in memory or on disk alike); later writes stay searchable.

        Vector indexes make ``search`` approximate and fast; scalar indexes (``BTREE``, ``BITMAP``,
        ``LABEL_LIST``) speed up ``where`` filters. Rows written after the index was built are still found (by
        a flat scan of them) until the index is rebuilt.

        Args:
            table: the table.
            column: the indexed column (a fixed-size list of floats for vector indexes).
            index_type: one of ``INDEX_TYPES``: ``IVF_PQ`` (the default: compact, use ``refine_factor``),
                ``IVF_HNSW_SQ`` (graph search over 8-bit vectors: high recall), ``IVF_FLAT``, ``IVF_SQ``, ...
            metric: distance of a vector index, ``"l2"``, ``"cosine"`` or ``"dot"``.
            replace: replace an existing index on the column (else building one again fails).
            **options: the index's parameters, as LanceDB names them: ``num_partitions``, ``num_sub_vectors``
                (PQ), ``num_bits``, ``m`` and ``ef_construction`` (HNSW), ``max_iterations``, ``sample_rate``,
                ``target_partition_size``.

        Raises:
            ConfigurationError: an unknown index type, metric or option (the message lists the accepted ones).
            StoreError: absent table, a column that cannot hold that index, or too few rows to train it.

        Examples:
            >>> rng = np.random.default_rng(0)
            >>> store = LanceStore("memory://")
            >>> vectors = pa.FixedSizeListArray.from_arrays(pa.array(rng.normal(size=512 * 8), pa.float32()), 8)
            >>> _ = store.write("points", pa.table({"id": np.arange(512), "vector": vectors}), mode="append")
            >>> store.create_index("points", index_type="IVF_FLAT", num_partitions=4)
            >>> query = vectors[7].values.to_numpy()
            >>> store.search("points", query, k=1, nprobes=4).column("id").to_pylist()
            [7]
        """
        kind = str(index_type).upper()
        if kind not in _INDEX_CONFIGS:
            raise ConfigurationError(f"unknown index_type {index_type!r}; expected one of {INDEX_TYPES}.")
        if metric not in _METRICS:
            raise ConfigurationError(f"metric must be one of {_METRICS}; got {metric!r}.")
        import lancedb.index

        config_class = getattr(lancedb.index, _INDEX_CONFIGS[kind])
        accepted = [name for name in inspect.signature(config_class).parameters if name != "distance_type"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigurationError(f"{kind} index takes the options {accepted}; got unknown {unknown}.")
        if "distance_type" in inspect.signature(config_class).parameters:
            options = {"distance_type": metric, **options}
        handle = self._open(table)
        if handle is None:
            raise StoreError(f"no table {table!r} in store {self.uri!r} to index; tables: {self.tables()}")
        try:
            with self.writer_lock():
                self._committed(table, lambda: handle.create_index(column, config=config_class(**options),
                                                                    replace=replace))
        except (ValueError, RuntimeError, OSError) as error:
            raise StoreError(f"cannot build a {kind} index on {table}.{column} ({handle.count_rows()} rows): "
                             f"{error}; vector indexes need a vector column and enough rows to train (PQ: 256 or "
                             "more, IVF: a few per partition).") from error
        logger.info("built a %s index on %s.%s of %r", kind, table, column, self.uri)

    # -- metadata -----------------------------------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        """The store's metadata as a dict (empty when none was written)."""
        handle = self._open(_META_TABLE)
        if handle is None:
            return {}
        rows = handle.to_arrow().to_pylist()
        return {row["key"]: orjson.loads(row["value"]) for row in rows}

    def update_metadata(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into the store's metadata (top-level keys replaced); returns the result."""
        rows = pa.table(
            {
                "key": list(values),
                "value": [orjson.dumps(value, default=str).decode() for value in values.values()],
            },
            schema=_META_SCHEMA,
        )
        self.write(_META_TABLE, rows, mode="upsert", key="key")
        return self.get_metadata()
