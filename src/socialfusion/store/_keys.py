"""StoredKeys: which keys a table holds (with a fingerprint per key), kept in step with other writers."""

from __future__ import annotations

from collections.abc import Sequence

from socialfusion.store._base import Store

__all__ = ["StoredKeys"]


class StoredKeys:
    """``key -> fingerprint`` of the rows a table holds, loaded once and reloaded only after another writer.

    A writer that appends the keys it has not seen before must not trust a view taken before another process
    committed: ``sync`` (called while holding ``store.writer_lock()``) reloads the view when the table's version
    moved since this writer's own last commit, and ``committed`` records that version after the writer's own
    writes, so a lone writer never reloads.

    Args:
        store: the store.
        table: the table.
        key: the key column.
        fingerprint: columns whose values, as a tuple, tell whether a stored row equals a new one (for example
            the content hash); a single column gives the value itself rather than a 1-tuple.

    Examples:
        >>> import pyarrow as pa
        >>> from socialfusion.store import connect
        >>> store = connect("memory://")
        >>> _ = store.write("notes", pa.table({"id": ["a"], "hash": ["h1"]}), mode="append")
        >>> keys = StoredKeys(store, "notes", key="id", fingerprint=["hash"])
        >>> with store.writer_lock():
        ...     keys.sync()["a"]
        'h1'
    """

    def __init__(self, store: Store, table: str, *, key: str = "record_key",
                 fingerprint: Sequence[str] = ("record_hash",)):
        self.store = store
        self.table = table
        self.key = key
        self.fingerprint = list(fingerprint)
        self.values: dict[str, object] = {}
        self._version: int | None = -1  # never loaded

    def sync(self) -> dict[str, object]:
        """The current ``key -> fingerprint`` (reloaded if another writer committed); hold the writer lock."""
        version = self.store.version(self.table)
        if version != self._version:
            self.values = self._load() if version is not None else {}
            self._version = version
        return self.values

    def committed(self) -> None:
        """Record that the table's current version includes this writer's own writes (hold the writer lock)."""
        self._version = self.store.version(self.table)

    def _load(self) -> dict[str, object]:
        rows = self.store.read(self.table, columns=[self.key, *self.fingerprint])
        keys = rows.column(self.key).to_pylist()
        columns = [rows.column(name).to_pylist() for name in self.fingerprint]
        return dict(zip(keys, columns[0] if len(columns) == 1 else zip(*columns)))
