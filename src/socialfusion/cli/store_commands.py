"""``socialfusion store``: check a store for rows that share a key, and repair it."""

from __future__ import annotations

from pathlib import Path

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, existing_store, fail, print_rows
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="Store health: find rows that share a key (left by older versions' concurrent writers) and "
                       "remove them.", no_args_is_help=True)


def _rows(checks, repaired: bool) -> list[dict]:
    rows = []
    for check in checks:
        row = {"table": check.table, "key": check.key or "(none)", "rows": check.rows,
               "duplicate keys": check.duplicate_keys, "surplus rows": check.surplus_rows}
        if repaired:
            row["removed"] = check.removed
        row["examples"] = check.examples
        rows.append(row)
    return rows


@app.command()
def check(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Count each table's rows and its keys held by more than one row; exits 1 when any are found."""
    from socialfusion.store import check_store

    try:
        checks = check_store(existing_store(store))
    except SocialFusionError as error:
        fail(error)
    print_rows(_rows(checks, repaired=False), "store check", as_json)
    if any(item.surplus_rows for item in checks):
        if not as_json:
            print("duplicate keys found: run 'socialfusion store repair' to keep the last-written row of each")
        raise typer.Exit(code=1)


@app.command()
def repair(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Keep the last-written row of every duplicated key and remove the others (each table in one commit)."""
    from socialfusion.store import repair_store

    try:
        checks = repair_store(existing_store(store))
    except SocialFusionError as error:
        fail(error)
    print_rows(_rows(checks, repaired=True), "store repair", as_json)
