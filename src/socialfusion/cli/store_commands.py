"""``socialfusion store``: check a store for rows that share a key, and repair it."""

from __future__ import annotations

from pathlib import Path

import typer

from socialfusion import app as app_layer
from socialfusion.cli._shared import JsonOption, StoreOption, existing_store, print_rows, run

app = typer.Typer(
    help="Store health: find rows that share a key (left by older versions' concurrent writers) and remove them.",
    no_args_is_help=True,
)


def _rows(found, repaired: bool) -> list[dict]:
    rows = []
    for check in found.tables:
        row = {
            "table": check.table,
            "key": check.key or "(none)",
            "rows": check.rows,
            "duplicate keys": check.duplicate_keys,
            "surplus rows": check.surplus_rows,
        }
        if repaired:
            row["removed"] = check.removed
        row["examples"] = check.examples
        rows.append(row)
    return rows


@app.command()
def check(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Count each table's rows and its keys held by more than one row; exits 1 when any are found."""
    found = run(app_layer.check_store_keys, existing_store(store))
    print_rows(_rows(found, repaired=False), "store check", as_json)
    if found.surplus_rows:
        if not as_json:
            print("duplicate keys found: run 'socialfusion store repair' to keep the last-written row of each")
        raise typer.Exit(code=1)


@app.command()
def repair(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Keep the last-written row of every duplicated key and remove the others (each table in one commit)."""
    found = run(app_layer.repair_store_keys, existing_store(store))
    print_rows(_rows(found, repaired=True), "store repair", as_json)
