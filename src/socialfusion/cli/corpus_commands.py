"""Commands on a store's corpus: ingest, stats, analyze, and the demo that runs them all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialfusion.cli._shared import JsonOption, StoreOption, console, errors, existing_store, fail
from socialfusion.exceptions import SocialFusionError

FORMAT_HELP = "Input format (jsonl, csv, parquet, twitter, mastodon, reddit, bluesky), or 'auto' to detect it per file."
SCRUB_HELP = "Scrub e-mails, phone numbers, card and Chinese resident ID numbers and IPs from every text column."
MAP_HELP = "Column mapping FOREIGN=canonical (repeatable)."
KEY_FILE_HELP = (
    "File holding the secret key for HMAC pseudonyms of user ids and handles (or set SOCIALFUSION_PSEUDONYM_KEY); "
    "keep it: the same key keeps ids joinable. Never given on the command line, where the process list shows it."
)


def _parse_column_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"expected FOREIGN=canonical, got {pair!r}", param_hint="--map")
        foreign, canonical = pair.split("=", 1)
        mapping[foreign.strip()] = canonical.strip()
    return mapping


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    store: StoreOption = Path("socialfusion.db"),
    format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    table: Annotated[str, typer.Option(help="Target table for canonical tabular files.")] = "posts",
    column_map: Annotated[list[str] | None, typer.Option("--map", help=MAP_HELP)] = None,
    batch_size: Annotated[int, typer.Option(help="Records per write.")] = 10_000,
    scrub_pii: Annotated[bool, typer.Option("--scrub-pii/--keep-pii", help=SCRUB_HELP)] = True,
    key_file: Annotated[Path | None, typer.Option("--pseudonymize-key-file", help=KEY_FILE_HELP)] = None,
    key_on_command_line: Annotated[str | None, typer.Option("--pseudonymize-key", hidden=True)] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest posts, users, interactions or edges; bad records go to the rejects table with their reasons."""
    from socialfusion.ingestion import check_ingest_options
    from socialfusion.ingestion import ingest as run_ingest
    from socialfusion.privacy import KEY_ENV_VAR, pseudonym_key
    from socialfusion.store import connect

    if key_on_command_line is not None:
        raise typer.BadParameter(
            f"a key on the command line shows in the process list; set {KEY_ENV_VAR} or use --pseudonymize-key-file",
            param_hint="--pseudonymize-key",
        )
    try:
        pseudonymize_key = pseudonym_key(key_file)
        check_ingest_options(format=format, table=table)  # before connect(), which creates the store
        target = connect(store)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=errors,
                      disable=as_json or not errors.is_terminal, transient=True) as bar:
            task = bar.add_task("reading", total=None)
            summary = run_ingest(
                paths, target, format=format, table=table, column_map=_parse_column_map(column_map or []),
                batch_size=batch_size, scrub_pii=scrub_pii, pseudonymize_key=pseudonymize_key,
                progress=lambda n: bar.update(task, description=f"{n:,} records read"),
            )
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps(summary.to_dict()))
        return
    console.print(
        f"ingested [green]{summary.ingested:,}[/green] · duplicate {summary.duplicate:,} · "
        f"updated {summary.updated:,} · rejected [{'red' if summary.rejected else 'green'}]{summary.rejected:,}[/] "
        f"in {summary.seconds:.1f}s"
    )
    if summary.rejected:
        console.print(f"see the reasons with: socialfusion stats --store {store} --rejects")


def stats(
    store: StoreOption = Path("socialfusion.db"),
    rejects: Annotated[bool, typer.Option("--rejects", help="Also list rejected inputs with reasons.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Row counts per table and posts per modality."""
    from socialfusion.pipeline import store_stats

    target = existing_store(store)
    result = store_stats(target)
    if rejects:
        result["rejects"] = target.read("rejects", columns=["source", "location", "table", "reason"]).to_pylist()
    if as_json:
        print(json.dumps(result))
        return
    for title, counts in (("table", result["tables"]), ("modality", result["modalities"])):
        view = Table(title="Rows per table" if title == "table" else "Posts per modality")
        view.add_column(title)
        view.add_column("rows" if title == "table" else "posts", justify="right")
        for name, count in counts.items():
            view.add_row(name, f"{count:,}")
        console.print(view)
    if rejects and result["rejects"]:
        view = Table(title="Rejected inputs")
        for column in ("source", "location", "table", "reason"):
            view.add_column(column, overflow="fold")
        for row in result["rejects"]:
            view.add_row(*(str(row[c]) for c in ("source", "location", "table", "reason")))
        console.print(view)


def analyze(
    store: StoreOption = Path("socialfusion.db"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Report file to write.")] = Path("report.html"),
) -> None:
    """Analyse a store and write a self-contained HTML report."""
    from socialfusion.pipeline import analyze as run_analyze

    target = existing_store(store)
    try:
        path = run_analyze(target, out)
    except SocialFusionError as error:
        fail(error)
    console.print(f"report written to {path}")


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the store, media and report.html.")] = Path(
        "demo-output"
    ),
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 300,
    posts: Annotated[int, typer.Option(help="Synthetic posts.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same network).")] = 0,
) -> None:
    """Generate a synthetic social network, ingest it, analyse it and write OUT/report.html."""
    from socialfusion.pipeline import run_demo

    with console.status("generating, ingesting and analysing the synthetic network"):
        report, summary = run_demo(out, n_users=users, n_posts=posts, seed=seed)
    console.print(f"ingested {summary.ingested:,} rows (rejected {summary.rejected:,}); report written to {report}")


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    for command in (ingest, stats, analyze, demo):
        app.command()(command)
