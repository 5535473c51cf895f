"""Storage: the Store protocol and its LanceDB implementation; ``connect`` opens one by URI."""

from __future__ import annotations

from pathlib import Path

from socialfusion.store._base import INDEX_TYPES, WRITE_MODES, Store
from socialfusion.store._keys import StoredKeys
from socialfusion.store._repair import TableCheck, check_store, repair_store
from socialfusion.store.lance import LanceStore, WriterLock

__all__ = ["INDEX_TYPES", "WRITE_MODES", "LanceStore", "Store", "StoredKeys", "TableCheck", "WriterLock", "check_store",
           "connect", "repair_store"]


def connect(uri: str | Path = "./socialfusion.db") -> Store:
    """Open (or create) a store.

    Args:
        uri: a local directory (the embedded default), ``memory://`` for an in-memory store that vanishes with
            the process (tests), or an object-store URI that LanceDB understands (``s3://bucket/path``).

    Returns:
        A Store.

    Examples:
        >>> store = connect("memory://")
        >>> store.count("posts")
        0
    """
    uri = str(uri)
    if "://" not in uri:
        Path(uri).mkdir(parents=True, exist_ok=True)
    return LanceStore(uri)
