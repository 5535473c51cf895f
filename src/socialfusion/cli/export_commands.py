"""The ``export`` command: tables, report cards' data and networks to CSV, Parquet, GEXF or GraphML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, fail
from socialfusion.exceptions import SocialFusionError

NAME_HELP = ("What to export: a table of the store (posts, users, topics, ...), card:KEY (the data of a report card, "
             "e.g. card:network), graph:social or graph:knowledge; 'list' shows everything the store offers.")
FORMAT_HELP = "csv or parquet (tables, cards; default: the --out suffix, csv for a card); gexf or graphml (graphs)."
OUT_HELP = "The file to write; for card:KEY, a folder that gets one file per table of the card."
KINDS_HELP = "Tie kinds of graph:social, comma-separated: follow, friend, mention, reply, reshare."


def export(
    name: Annotated[str, typer.Argument(help=NAME_HELP)],
    store: StoreOption = Path("socialfusion.db"),
    format: Annotated[str | None, typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=OUT_HELP)] = None,
    kinds: Annotated[str, typer.Option(help=KINDS_HELP)] = "follow",
    as_json: JsonOption = False,
) -> None:
    """Export a table, a report card's data or a network; `socialfusion export list` shows what there is."""
    from socialfusion.export import export as run_export
    from socialfusion.export import exportable

    target = existing_store(store)
    if name == "list":
        offered = exportable(target)
        if as_json:
            print(json.dumps(offered))
            return
        for kind, names in offered.items():
            console.print(f"[bold]{kind}[/bold]: {', '.join(names) or 'none'}")
        return
    if out is None:
        raise typer.BadParameter("say where to write it, e.g. --out posts.csv", param_hint="--out")
    try:
        written = run_export(target, name, out, format=format,
                             kinds=[kind.strip() for kind in kinds.split(",") if kind.strip()])
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps({"written": [str(path) for path in written]}))
    elif not written:
        console.print(f"{name} has no table to export (see its card in the report for why).")
    else:
        for path in written:
            console.print(f"written {path}")


def register(app: typer.Typer) -> None:
    """Add the export command to the top-level app."""
    app.command()(export)
