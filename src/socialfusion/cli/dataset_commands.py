"""``socialfusion datasets``: list the shared public datasets and load one into a store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialfusion.cli._shared import JsonOption, NewStoreOption, console, fail, parse_pairs
from socialfusion.cli.corpus_commands import SCRUB_HELP
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="The public datasets in ../shared/data (or $SOCIALFUSION_DATA).", no_args_is_help=True)

ROOT_HELP = "Data folder (default: $SOCIALFUSION_DATA or ../shared/data)."
RootOption = Annotated[Path | None, typer.Option("--root", help=ROOT_HELP)]


@app.command("list")
def list_datasets(root: RootOption = None, as_json: JsonOption = False) -> None:
    """The datasets socialfusion can load, and whether each folder is present."""
    from socialfusion.datasets import DATASETS, dataset_path

    rows = []
    for name in sorted(DATASETS):
        try:
            path, present = str(dataset_path(name, root)), True
        except SocialFusionError as error:
            path, present = str(error), False
        rows.append({"name": name, "present": present, "path": path})
    if as_json:
        print(json.dumps(rows))
        return
    view = Table(title="Shared datasets")
    for column in ("name", "present", "path"):
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(row["name"], "yes" if row["present"] else "[red]no[/red]", row["path"])
    console.print(view)


@app.command("load")
def load(
    name: Annotated[str, typer.Argument(help="Dataset name, from `socialfusion datasets list`.")],
    store: NewStoreOption = Path("socialfusion.db"),
    root: RootOption = None,
    task: Annotated[str | None, typer.Option(help="TweetEval task, or cascade dataset (android|christianity).")] = None,
    scrub_pii: Annotated[bool, typer.Option("--scrub-pii/--keep-pii", help=SCRUB_HELP)] = True,
    checksum: Annotated[list[str] | None, typer.Option(
        "--checksum", help="PATH=SHA256 of a file the manifest does not list (repeatable); without one such a file "
                           "loads as unverified (mvsa-single, tweeteval, diffusion-cascades).")] = None,
    extra_split: Annotated[list[str] | None, typer.Option(
        "--extra-split", help="SPLIT=PATH of a CLMLF-format split file, e.g. test=test.json (mvsa-single; "
                              "repeatable).")] = None,
    extra_labels: Annotated[list[Path] | None, typer.Option(
        "--extra-labels", help="CSV/JSON file of item_id,label[,split] rows (mvsa-single; repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a dataset (checked against its MANIFEST.sha256) and ingest it into a store."""
    from socialfusion.datasets import load_dataset
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.store import connect

    options = {}
    if task is not None:
        options["name" if name == "diffusion-cascades" else "task"] = task
    if checksum:
        options["checksums"] = parse_pairs(checksum, "--checksum", "PATH=SHA256", value_required=True)
    if extra_split:
        options["extra_splits"] = parse_pairs(extra_split, "--extra-split", "SPLIT=PATH", value_required=True)
    if extra_labels:
        options["extra_labels"] = extra_labels
    try:
        with console.status(f"loading {name}"):
            corpus = load_dataset(name, root, **options)
            summary = ingest_corpus(corpus, connect(store), source=f"dataset:{name}", scrub_pii=scrub_pii)
    except (SocialFusionError, TypeError) as error:
        fail(error)
    unverified = corpus.metadata.get("verification", {}).get("unverified", {})
    if as_json:
        print(json.dumps({**summary.to_dict(), "unverified_files": unverified}))
        return
    console.print(f"{name}: ingested {summary.ingested:,} rows, duplicate {summary.duplicate:,}, "
                  f"rejected {summary.rejected:,} into {store}")
    for path, digest in unverified.items():
        console.print(f"[yellow]unverified:[/yellow] {path} is not in MANIFEST.sha256 and had no --checksum "
                      f"(its sha256 now: {digest})")

