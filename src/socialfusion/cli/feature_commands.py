"""``socialfusion featurize`` and ``socialfusion encoders``: turn a store's posts and users into vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialfusion.cli._shared import (
    EngineOption,
    JsonOption,
    RayAddressOption,
    RayWorkersOption,
    StageProgress,
    StoreOption,
    console,
    existing_store,
    parameters,
    ray_options,
    run,
)

ENCODERS_HELP = ("Comma-separated encoder names (default: one fast encoder per modality the store has: "
                 "'socialfusion encoders list' shows them all).")
encoders_app = typer.Typer(help="The registered encoders.", no_args_is_help=True)


def featurize(
    store: StoreOption = Path("socialfusion.db"),
    encoders: Annotated[str | None, typer.Option(help=ENCODERS_HELP)] = None,
    batch_size: Annotated[int, typer.Option(help="Items per forward pass.")] = 32,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    ray_workers: RayWorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Encode posts and users into feature tables, one per encoder; unchanged items come from the cache."""
    from socialfusion.app import FeaturizeParams, featurize_store

    cluster = ray_options(engine, ray_address, ray_workers)
    names = [name.strip() for name in encoders.split(",") if name.strip()] if encoders else None
    params = parameters(FeaturizeParams, encoders=names, batch_size=batch_size)
    opened = existing_store(store)
    with StageProgress(quiet=as_json, one_bar=True) as progress:
        result = run(featurize_store, opened, params, engine=engine, ray_options=cluster,
                     progress=progress.fraction)
    if as_json:
        print(result.model_dump_json())
        return
    view = Table(title="Features")
    for column in ("encoder", "items", "encoded", "cached", "missing", "seconds"):
        view.add_column(column, justify="left" if column == "encoder" else "right")
    for encoder_run in result.encoders:
        counts = (encoder_run.items, encoder_run.encoded, encoder_run.cached, encoder_run.missing)
        view.add_row(encoder_run.encoder, *(f"{count:,}" for count in counts), f"{encoder_run.seconds:.1f}")
    console.print(view)
    for encoder_run in result.encoders:
        for reason, count in sorted(encoder_run.reasons.items(), key=lambda pair: -pair[1])[:5]:
            console.print(f"  {encoder_run.encoder}: {count:,} missing — {reason}")


@encoders_app.command("list")
def list_encoders(as_json: JsonOption = False) -> None:
    """Every registered encoder with its modality and the extra that brings its dependencies."""
    from socialfusion.encoders import available_encoders, encoder_info

    rows = [encoder_info(name) for name in available_encoders()]
    if as_json:
        print(json.dumps(rows))
        return
    view = Table(title="Encoders")
    for column in ("name", "modality", "extra"):
        view.add_column(column)
    for row in rows:
        view.add_row(row["name"], row["modality"], row["extra"] or "-")
    console.print(view)


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.command()(featurize)
    app.add_typer(encoders_app, name="encoders")
