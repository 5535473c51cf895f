"""LanceStore: the Store over LanceDB, embedded in a local directory (default) or in memory (``memory://``)."""

from __future__ import annotations

import inspect
import logging
import os
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
    "LABEL_LIST": "LabelList",
}
_METRICS = ("l2", "cosine", "dot")


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

    def __repr__(self) -> str:
        return f"LanceStore({self.uri!r})"

    # -- tables -------------------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Names of the tables that exist (the metadata table excluded)."""
        names: list[str] = []
        page_token = None
        while True:
            response = self._db.list_tables(page_token=page_token)
            names.extend(response.tables)
            page_token = response.page_token
            if not page_token:
                break
        return sorted(name for name in names if name != _META_TABLE)

    def _open(self, table: str):
        """The table's handle at its latest version (another connection may have written since), or None."""
        if table not in self._handles:
            try:
                self._handles[table] = self._db.open_table(table)
            except (FileNotFoundError, ValueError):
                return None
        else:
            self._handles[table].checkout_latest()
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
        if rows.num_rows == 0 and self._open(table) is not None:
            return 0
        handle = self._open(table)
        if handle is None or mode == "overwrite":
            self._handles[table] = self._db.create_table(table, rows, mode="overwrite")
            return rows.num_rows
        if mode == "append":
            handle.add(rows)
            return rows.num_rows
        result = handle.merge_insert(key).when_matched_update_all().when_not_matched_insert_all().execute(rows)
        return int(result.num_inserted_rows + result.num_updated_rows)

    def delete(self, table: str, where: str) -> None:
        """Delete the rows of ``table`` matching the SQL predicate ``where``.

        Raises:
            StoreError: the predicate is invalid.
        """
        handle = self._open(table)
        if handle is not None:
            try:
                handle.delete(where)
            except (ValueError, RuntimeError) as error:
                raise StoreError(f"cannot delete from {table!r} where {where!r}: {error}") from error

    # -- reads --------------------------------------------------------------------------------------------
    def read(self, table: str, *, where: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """Rows of ``table`` matching ``where``, restricted to ``columns``.

        An absent canonical table reads as an empty table with its schema.

        Raises:
            StoreError: the table does not exist (non-canonical tables) or the query is invalid.
        """
        handle = self._open(table)
        if handle is None:
            if table in TABLES:
                empty = arrow_schema(table).empty_table()
                return empty.select(columns) if columns else empty
            raise StoreError(f"no table {table!r} in store {self.uri!r}; tables: {self.tables()}")
        try:
            query = handle.search()
            if where is not None:
                query = query.where(where)
            if columns:
                query = query.select(columns)
            data = query.limit(None).to_arrow()
        except (ValueError, RuntimeError, OSError) as error:
            raise StoreError(f"cannot read {table!r} where {where!r}: {error}") from error
        return data

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
            handle.create_index(column, config=config_class(**options), replace=replace)
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
