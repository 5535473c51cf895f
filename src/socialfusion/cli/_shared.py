"""What every command group shares: the store and JSON options, errors, opening an existing store, loading its
corpus, printing rows, and the progress of long steps."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from pydantic import BaseModel

    from socialfusion.corpus import Corpus
    from socialfusion.store import Store

P = TypeVar("P", bound="BaseModel")
R = TypeVar("R")

__all__ = ["EngineOption", "JsonOption", "NewStoreOption", "RayAddressOption", "RayWorkersOption",
           "StageProgress", "StoreOption", "console", "errors", "existing_store",
           "fail", "load_corpus", "parameters", "parse_pairs", "print_rows", "ray_options", "run"]

PIPED_WIDTH = 200
"""Columns of output that goes to a file or a pipe: Rich would cut it at 80, the width it assumes without a
terminal (set COLUMNS to choose another)."""


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console


console = _console()
errors = _console(stderr=True)

StoreOption = Annotated[Path, typer.Option(
    "--store", "-s", help="Store folder; it must exist (make one with: socialfusion ingest PATH --store DIR).")]
NewStoreOption = Annotated[Path, typer.Option("--store", "-s", help="Store folder; created when absent.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
EngineOption = Annotated[str, typer.Option(
    "--engine", help="Where the work runs: 'local' (this machine) or 'ray' (a Ray cluster; the 'ray' extra).")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", metavar="HOST:PORT", help="With --engine ray: the cluster's head (HOST:PORT, ray://HOST:PORT "
    "or auto); default: start a local Ray runtime.")]
RayWorkersOption = Annotated[int | None, typer.Option(
    "--ray-workers", min=1, help="With --engine ray: workers per stage (default: as many as the cluster's CPUs).")]


def ray_options(engine: str, address: str | None, workers: int | None):
    """The ``RayOptions`` of the ``--engine``/``--ray-*`` options (None for the local engine); exits on a mistake."""
    from socialfusion.backends import RayOptions, check_engine
    from socialfusion.exceptions import ConfigurationError

    try:
        if check_engine(engine) == "local":
            if address or workers:
                raise ConfigurationError("--ray-address and --ray-workers need --engine ray")
            return None
        return RayOptions(address=address, workers=workers)
    except ConfigurationError as error:
        fail(error)


def fail(error: Exception) -> None:
    """Print an error for the user (no traceback) and exit with code 2."""
    errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
    raise typer.Exit(code=2)


def _option(field: str, options: dict[str, str]) -> str:
    return options.get(field, "--" + field.replace("_", "-"))


def parameters(model: type[P], options: dict[str, str] | None = None, /, **values: Any) -> P:
    """The application's parameters (``model``: an ``app.Params``, or the server's ``Settings``) from command options;
    a value the model refuses exits with code 2 and names the option (``options`` maps a field to its option where
    the names differ)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            field = next((str(part) for part in problem["loc"] if isinstance(part, str)), "")
            option = _option(field, options or {})
            if problem["type"] == "literal_error":
                problems.append(f"unknown {field.replace('_', ' ')} {problem['input']!r}: {option} must be "
                                f"{problem['ctx']['expected']}")
            else:
                message = str(problem["ctx"]["error"]) if problem["type"] == "value_error" else (
                    problem["msg"][:1].lower() + problem["msg"][1:])  # a validator's own words, without a prefix
                declared = model.model_fields.get(field)
                secret = declared is not None and "SecretStr" in str(declared.annotation)
                if not field:  # a check of several options together: its message names them
                    problems.append(message)
                    continue
                shown = secret or problem["input"] is None or repr(problem["input"]) in message  # named already
                problems.append(f"{option}: {message}" + ("" if shown else f" (got {problem['input']!r})"))
        fail(ValueError("; ".join(problems)))


def run(operation: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``operation(*args, **kwargs)`` (an application operation), the library's typed errors printed by ``fail``."""
    from socialfusion.exceptions import SocialFusionError

    try:
        return operation(*args, **kwargs)
    except SocialFusionError as error:
        fail(error)


def existing_store(path: Path) -> Store:
    """The store at ``path``; exits with a hint to ingest first when there is none (nothing is created)."""
    from socialfusion.exceptions import StoreError
    from socialfusion.store import connect

    try:
        return connect(path, create=False)
    except StoreError as error:
        fail(error)


def load_corpus(path: Path) -> Corpus:
    """The corpus of the store at ``path`` (see ``existing_store``)."""
    from socialfusion.corpus import Corpus

    return Corpus.from_store(existing_store(path))


def parse_pairs(pairs: list[str] | None, option: str, form: str = "NAME=VALUE", *,
                value_required: bool = False) -> dict[str, str]:
    """``NAME=VALUE`` option values (repeatable options) as a dict; a value without ``=`` (or, with
    ``value_required``, with nothing after it) is a usage error."""
    parsed = {}
    for pair in pairs or []:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip() or (value_required and not value.strip()):
            raise typer.BadParameter(f"expected {form}, got {pair!r}", param_hint=option)
        parsed[name.strip()] = value.strip()
    return parsed


class StageProgress:
    """The progress of a long command, on stderr: a Rich bar with an ETA per stage on a terminal, and one line
    per stage (with the time since the start) when the output goes to a file or a pipe; silent when ``quiet``.

    Use it as a context manager; ``update(stage, done, total)`` may be called as often as wanted (``total`` None
    for a stage of unknown length: a spinner). Each stage gets its own bar, counting its items; with
    ``one_bar`` the stages are the steps of one bar (``done`` of ``total`` stages), named as each starts.

    Examples:
        >>> with StageProgress(quiet=True) as progress:
        ...     progress.update("encoding", 10, 100)
    """

    def __init__(self, *, quiet: bool = False, one_bar: bool = False):
        self.quiet = quiet
        self.one_bar = one_bar
        self._bar: Progress | None = None
        self._tasks: dict[str, Any] = {}
        self._totals: dict[str, int | None] = {}
        self._current: str | None = None
        self._started = time.monotonic()

    def __enter__(self) -> StageProgress:
        if not self.quiet and errors.is_terminal:
            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 console=errors, transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, stage: str, done: int = 0, total: int | None = None) -> None:
        """Say that ``stage`` has ``done`` of ``total`` items (or steps) done."""
        if self.quiet:
            return
        if self._bar is not None and self.one_bar:
            if not self._tasks:
                self._tasks[""] = self._bar.add_task(stage, total=total)
            self._bar.update(self._tasks[""], description=stage, completed=done, total=total)
        elif self._bar is not None:
            if stage not in self._tasks:
                if self._current in self._tasks:  # the stage before is over
                    previous = self._tasks[self._current]
                    self._bar.update(previous, completed=self._totals.get(self._current) or 1,
                                     total=self._totals.get(self._current) or 1)
                self._tasks[stage] = self._bar.add_task(stage, total=total)
            self._bar.update(self._tasks[stage], completed=done, total=total)
            self._totals[stage] = total
        elif stage != self._current and not (self.one_bar and total and done >= total):  # the end is no stage
            size = f" ({done + 1} of {total})" if self.one_bar and total else f" ({total:,} items)" if total else ""
            errors.print(f"[{time.monotonic() - self._started:6.1f}s] {stage}{size}", markup=False, highlight=False)
        self._current = stage

    def __call__(self, stage: str, done: int = 0, total: int | None = None) -> None:
        self.update(stage, done, total)

    def fraction(self, fraction: float | None, message: str) -> None:
        """The progress of an application operation (``socialfusion.app.Progress``): ``fraction`` of the work
        done (None: not known) and what is going on. One bar in percent on a terminal; otherwise a line each time
        the stage (the message up to its first colon) changes."""
        if self.quiet:
            return
        percent = None if fraction is None else min(100, round(100 * fraction))
        if self._bar is not None:
            if not self._tasks:
                self._tasks[""] = self._bar.add_task(message, total=None if percent is None else 100)
            self._bar.update(self._tasks[""], description=message, completed=percent or 0,
                             total=None if percent is None else 100)
            return
        stage = message.split(":")[0]
        if stage != self._current and (percent is None or percent < 100):  # the end is no stage
            done = "" if percent is None else f" ({percent}% done)"
            errors.print(f"[{time.monotonic() - self._started:6.1f}s] {stage}{done}", markup=False, highlight=False)
        self._current = stage


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
