"""What every command group shares: the store and JSON options, errors, opening an existing store, loading its
corpus, printing rows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from socialfusion.corpus import Corpus
    from socialfusion.store import Store

__all__ = ["JsonOption", "StoreOption", "console", "errors", "existing_store", "fail", "load_corpus", "print_rows"]

console = Console()
errors = Console(stderr=True)

StoreOption = Annotated[Path, typer.Option("--store", "-s", help="Store directory (created when absent).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def fail(error: Exception) -> None:
    """Print an error for the user (no traceback) and exit with code 2."""
    errors.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code=2)


def existing_store(path: Path) -> Store:
    """The store at ``path``; exits with a hint to ingest first when there is none."""
    from socialfusion.store import connect

    if not path.exists():
        fail(FileNotFoundError(f"no store at {path}; create one with: socialfusion ingest PATH --store {path}"))
    return connect(path)


def load_corpus(path: Path) -> Corpus:
    """The corpus of the store at ``path`` (see ``existing_store``)."""
    from socialfusion.corpus import Corpus

    return Corpus.from_store(existing_store(path))


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):  # a whole UTC day prints as the date
        whole_day = (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
        return value.date().isoformat() if whole_day else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def print_rows(rows: list[dict], title: str, as_json: bool) -> None:
    """Rows as JSON (one array, non-ASCII kept) or as a Rich table: text columns left, numbers right."""
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
        return
    if not rows:
        console.print(f"{title}: none.")
        return
    view = Table(title=title)
    for column, value in rows[0].items():
        view.add_column(column, justify="right" if isinstance(value, (int, float)) else "left")
    for row in rows:
        view.add_row(*(_cell(value) for value in row.values()))
    console.print(view)
