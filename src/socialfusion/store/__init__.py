"""Storage: the Store protocol and its LanceDB implementation; ``connect`` opens one by URI."""

from __future__ import annotations

from pathlib import Path

from socialfusion.exceptions import StoreError
from socialfusion.store._base import INDEX_TYPES, WRITE_MODES, Store, sql_string, sql_timestamp
from socialfusion.store._keys import StoredKeys
from socialfusion.store._repair import TableCheck, check_store, repair_store
from socialfusion.store.lance import LanceStore, WriterLock

__all__ = ["INDEX_TYPES", "WRITE_MODES", "LanceStore", "Store", "StoredKeys", "TableCheck", "WriterLock", "check_store",
           "connect", "repair_store", "sql_string", "sql_timestamp"]


def connect(uri: str | Path = "./socialfusion.db", *, create: bool = True) -> Store:
    """Open a store, creating it when absent unless ``create=False``.

    Args:
        uri: a local directory (the embedded default), ``memory://`` for an in-memory store that vanishes with
            the process (tests), or an object-store URI that LanceDB understands (``s3://bucket/path``).
        create: create a local store that does not exist yet. Pass False to open only an existing one (what
            reading and analysing need: a mistyped path then fails instead of giving an empty store).

    Returns:
        A Store.

    Raises:
        StoreError: ``create=False`` and there is no store at ``uri``, or ``uri`` names a file.

    Examples:
        >>> store = connect("memory://")
        >>> store.count("posts")
        0
        >>> connect("/no/such/store", create=False)
        Traceback (most recent call last):
        ...
        socialfusion.exceptions.StoreError: no store at /no/such/store; create one with: socialfusion ingest ...
    """
    uri = str(uri)
    if "://" not in uri:
        path = Path(uri)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{uri} is a file, not a store (a store is a folder); pick another --store path")
        if not create and not path.is_dir():
            raise StoreError(f"no store at {uri}; create one with: socialfusion ingest PATH --store {uri}")
        path.mkdir(parents=True, exist_ok=True)
    return LanceStore(uri)
