"""LanceStore: the Store over LanceDB, embedded in a local directory (default) or in memory (``memory://``)."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, StoreError
from socialfusion.schema import TABLES, arrow_schema
from socialfusion.store._base import WRITE_MODES

__all__ = ["LanceStore"]

logger = logging.getLogger(__name__)

_META_TABLE = "store_meta"
_META_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.string())])


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

    def search(self, table: str, vector: np.ndarray, *, k: int = 10, where: str | None = None) -> pa.Table:
        """The ``k`` nearest rows to ``vector`` in the table's vector column, with ``_distance``.

        Raises:
            StoreError: absent table, or no vector column of the vector's dimension.
        """
        handle = self._open(table)
        if handle is None:
            raise StoreError(f"no table {table!r} in store {self.uri!r} to search")
        try:
            query = handle.search(np.asarray(vector, dtype=np.float32))
            if where is not None:
                query = query.where(where, prefilter=True)
            return query.limit(k).to_arrow()
        except (ValueError, RuntimeError) as error:
            raise StoreError(f"cannot search {table!r}: {error}") from error

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
