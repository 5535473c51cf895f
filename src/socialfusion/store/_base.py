"""The Store protocol: what every storage backend offers (write, read, search, metadata)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

__all__ = ["INDEX_TYPES", "Store", "WRITE_MODES", "sql_string", "sql_timestamp"]

WRITE_MODES = ("upsert", "append", "overwrite")
INDEX_TYPES = ("IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_SQ", "IVF_HNSW_PQ", "IVF_HNSW_FLAT", "BTREE",
               "BITMAP", "LABEL_LIST", "FTS")
"""Index types ``Store.create_index`` accepts: vector indexes (IVF partitions, optionally with HNSW graphs inside,
vectors kept flat or quantised: SQ, PQ, RaBitQ), scalar indexes that speed up ``where`` filters, and a full-text
index (``FTS``, BM25) that ``search_text`` reads."""


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal for a ``where`` filter (quotes doubled), so no value can end the string.

    Examples:
        >>> sql_string("it's")
        "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def sql_timestamp(value: dt.datetime) -> str:
    """``value`` as a SQL timestamp literal in UTC for a ``where`` filter (a naive datetime is taken as UTC).

    Examples:
        >>> sql_timestamp(dt.datetime(2026, 1, 2, 3, 4, 5))
        "TIMESTAMP '2026-01-02 03:04:05.000000+00:00'"
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"TIMESTAMP '{value.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"


@runtime_checkable
class Store(Protocol):
    """Tables of Arrow rows with upsert by key, SQL-like filters and vector search.

    Canonical tables (``posts``, ``users``, ...) are upserted on their ``record_key`` column; any other table
    needs ``key`` to be given to ``write`` when ``mode="upsert"``.

    Several processes may write one store at once. Each ``write`` is atomic and takes the store's writer lock;
    a caller that decides what to write from what it read (append the keys that are not stored yet, append to
    a history) holds ``writer_lock()`` around both, and checks ``version(table)`` to see whether another
    writer committed since it last looked.
    """

    uri: str

    def write(self, table: str, rows: pa.Table, *, mode: str = "upsert", key: str | None = None) -> int:
        """Write rows; returns how many rows were written (inserted or updated)."""

    def read(self, table: str, *, where: str | None = None, columns: list[str] | None = None,
             row_ids: bool = False) -> pa.Table:
        """Rows matching ``where`` (a SQL predicate); an absent canonical table reads as empty.

        With ``row_ids`` a ``_rowid`` column identifies each physical row (for ``delete("_rowid IN (...)")``).
        """

    def read_batches(self, table: str, *, columns: list[str] | None = None,
                     batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The table's rows (``columns`` only) as record batches of at most ``batch_size`` rows, one consistent
        snapshot: a reader that never holds the whole table (a million posts' 512-d vectors are 4 GB)."""

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
        """The ``k`` rows nearest to ``vector`` (with a ``_distance`` column).

        ``nprobes`` (IVF partitions searched), ``refine_factor`` (re-rank ``refine_factor * k`` index hits by
        their exact distances) and ``ef`` (HNSW candidate list) tune an index search; ``metric`` is the distance
        (``l2``, ``cosine``, ``dot``); ``exact=True`` ignores any index (brute force).
        """

    def create_index(
        self, table: str, column: str = "vector", *, index_type: str = "IVF_PQ", metric: str = "l2",
        replace: bool = True, **options: Any,
    ) -> None:
        """Build an index on ``column`` (one of ``INDEX_TYPES``); ``options`` are the index's parameters."""

    def search_text(self, table: str, query: str, *, k: int = 10, column: str | None = None,
                    where: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """The ``k`` rows whose ``column`` best matches ``query`` by BM25 (with a ``_score`` column), best first.

        Needs a full-text index on the column (``create_index(table, column, index_type="FTS")``).
        """

    def index_stats(self, table: str, column: str) -> dict[str, Any] | None:
        """``{"index_type", "indexed_rows", "unindexed_rows"}`` of the index on ``column``, or None without one."""

    def writer_lock(self) -> AbstractContextManager[None]:
        """The store's re-entrant writer lock, shared by every process writing it (a context manager)."""

    def version(self, table: str) -> int | None:
        """The table's version, which every commit by any writer increases; None when the table is absent."""

    def count(self, table: str, *, where: str | None = None) -> int:
        """Number of rows (0 for an absent table)."""

    def delete(self, table: str, where: str) -> None:
        """Delete the rows matching ``where``."""

    def tables(self) -> list[str]:
        """Names of the tables that exist."""

    def get_metadata(self) -> dict[str, Any]:
        """The store's metadata (privacy settings, ingest history, ...)."""

    def update_metadata(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into the metadata; returns the result."""
