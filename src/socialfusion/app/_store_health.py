"""Operations on the store's health: find rows that share a key (left by older versions' concurrent writers), and
keep the last-written row of each."""

from __future__ import annotations

from socialfusion.app._common import Result
from socialfusion.store import Store

__all__ = ["StoreHealthResult", "TableHealth", "check_store_keys", "repair_store_keys"]


class TableHealth(Result):
    """A table's rows and the keys held by more than one row (``socialfusion.store.TableCheck``)."""

    table: str
    key: str | None
    rows: int
    duplicate_keys: int
    surplus_rows: int
    removed: int
    examples: list[str]


class StoreHealthResult(Result):
    """Every table's health, and the surplus rows in all (0: no key is held twice)."""

    surplus_rows: int
    tables: list[TableHealth]


def _result(checks) -> StoreHealthResult:
    tables = [TableHealth(**check.__dict__) for check in checks]
    return StoreHealthResult(surplus_rows=sum(table.surplus_rows for table in tables), tables=tables)


def check_store_keys(store: Store) -> StoreHealthResult:
    """Count each table's rows and its keys held by more than one row (``socialfusion.store.check_store``)."""
    from socialfusion.store import check_store

    return _result(check_store(store))


def repair_store_keys(store: Store) -> StoreHealthResult:
    """Keep the last-written row of every duplicated key and remove the others, each table in one commit under the
    store's writer lock (``socialfusion.store.repair_store``)."""
    from socialfusion.store import repair_store

    return _result(repair_store(store))
