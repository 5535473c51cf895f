"""Store health: find and remove rows that share a key (left by older versions' concurrent writers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.compute as pc

from socialfusion.store._base import Store

__all__ = ["TableCheck", "check_store", "repair_store", "table_key"]

# Derived tables keyed on something other than record_key (written by the tasks).
_DERIVED_KEYS = {"sentiment_predictions": "post_id", "engagement_predictions": "post_id", "post_topics": "post_id",
                 "topics": "topic_id", "user_profiles": "user_id", "store_meta": "key"}


@dataclass
class TableCheck:
    """One table's health.

    Attributes:
        table: the table.
        key: the column that identifies a row (None when the table has none: it is not checked).
        rows: rows in the table.
        duplicate_keys: keys held by more than one row.
        surplus_rows: rows beyond the first of each key (what ``repair_store`` removes).
        removed: rows removed by a repair.
        examples: up to five duplicated keys.
    """

    table: str
    key: str | None
    rows: int
    duplicate_keys: int = 0
    surplus_rows: int = 0
    removed: int = 0
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def table_key(store: Store, table: str) -> str | None:
    """The column that identifies a row of ``table``: ``record_key`` where there is one, else a known key."""
    names = store.read(table, where="false").schema.names
    if "record_key" in names:
        return "record_key"
    key = _DERIVED_KEYS.get(table)
    return key if key in names else None


def _surplus(store: Store, table: str, key: str) -> tuple[TableCheck, list[int]]:
    """The table's check and the row ids of every row but the last-written one of each duplicated key."""
    rows = store.read(table, columns=[key], row_ids=True)
    check = TableCheck(table=table, key=key, rows=rows.num_rows)
    counts = pc.value_counts(rows.column(key))
    duplicated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(duplicated) == 0:
        return check, []
    check.duplicate_keys = len(duplicated)
    check.examples = [str(value) for value in duplicated.slice(0, 5).to_pylist()]
    doubled = rows.filter(pc.is_in(rows.column(key), value_set=duplicated))
    # Row ids grow with each write (fragment, offset): keep the highest, i.e. the last version written.
    ordered = doubled.sort_by([(key, "ascending"), ("_rowid", "descending")])
    keys = ordered.column(key).to_pylist()
    ids = ordered.column("_rowid").to_pylist()
    surplus = [row_id for position, row_id in enumerate(ids) if position and keys[position] == keys[position - 1]]
    check.surplus_rows = len(surplus)
    return check, surplus


def check_store(store: Store) -> list[TableCheck]:
    """Every table's row count and duplicated keys (nothing is changed).

    Examples:
        >>> import pyarrow as pa
        >>> from socialfusion.store import connect
        >>> store = connect("memory://")
        >>> _ = store.write("notes", pa.table({"key": ["a", "a", "b"], "n": [1, 2, 3]}), mode="append")
        >>> [(c.table, c.duplicate_keys, c.surplus_rows) for c in check_store(store) if c.table == "notes"]
        [('notes', 0, 0)]
    """
    checks = []
    for table in store.tables():
        key = table_key(store, table)
        if key is None:
            checks.append(TableCheck(table=table, key=None, rows=store.count(table)))
        else:
            checks.append(_surplus(store, table, key)[0])
    return checks


def repair_store(store: Store) -> list[TableCheck]:
    """Remove all but the last-written row of every duplicated key, table by table.

    Each table is repaired by one delete of the surplus rows' ids, under the writer lock: atomic, so a repair
    killed half-way leaves each table either repaired or as it was, and running it again finishes the work.

    Returns:
        The check of every table, with ``removed`` filled in.
    """
    checks = []
    for table in store.tables():
        key = table_key(store, table)
        if key is None:
            checks.append(TableCheck(table=table, key=None, rows=store.count(table)))
            continue
        with store.writer_lock():
            check, surplus = _surplus(store, table, key)
            for start in range(0, len(surplus), 10_000):
                batch = surplus[start : start + 10_000]
                store.delete(table, f"_rowid IN ({', '.join(map(str, batch))})")
            check.removed = len(surplus)
        checks.append(check)
    return checks
