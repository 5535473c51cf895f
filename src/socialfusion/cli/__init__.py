"""The ``socialfusion`` command line: a thin Typer shell over the library's functions."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Annotated

import typer
import typer.core
import typer.rich_utils

from socialfusion.cli import (
    collect_commands,
    corpus_commands,
    dataset_commands,
    export_commands,
    feature_commands,
    graph_commands,
    kg_commands,
    monitor_commands,
    profile_commands,
    recommend_commands,
    sentiment_commands,
    serve_commands,
    store_commands,
    topic_commands,
    trend_commands,
)
from socialfusion.cli._shared import errors

__all__ = ["app", "main"]

HELP_WIDTH = 120

app = typer.Typer(
    name="socialfusion",
    help="Multimodal social-media analysis: ingest posts, images, video, audio and the social graph; analyse them.",
    no_args_is_help=True,
    add_completion=False,
)


def _hide_flag_types() -> None:
    """Typer prints ``<bool>`` after every flag in --help, as if it took a value: show no type for a flag."""
    option = typer.core.TyperOption
    shown = option.display_type_rich

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    option.display_type_rich = display_type_rich


_hide_flag_types()
if typer.rich_utils.MAX_WIDTH is None and not errors.is_terminal:
    typer.rich_utils.MAX_WIDTH = HELP_WIDTH  # --help into a pipe or a file: not cut at 80 columns either


def _print_version(value: bool) -> None:
    if value:
        from socialfusion import __version__

        print(f"socialfusion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Multimodal social-media analysis: ingest posts, images, video, audio and the social graph; analyse them."""


corpus_commands.register(app)
collect_commands.register(app)
app.add_typer(dataset_commands.app, name="datasets")
feature_commands.register(app)
app.add_typer(sentiment_commands.app, name="sentiment")
app.add_typer(graph_commands.app, name="graph")
app.add_typer(topic_commands.app, name="topics")
app.add_typer(trend_commands.trends_app, name="trends")
app.add_typer(trend_commands.opinion_app, name="opinion")
app.add_typer(kg_commands.app, name="kg")
app.add_typer(profile_commands.profiles_app, name="profiles")
app.add_typer(profile_commands.engagement_app, name="engagement")
app.add_typer(recommend_commands.app, name="recommend")
app.add_typer(store_commands.app, name="store")
export_commands.register(app)
serve_commands.register(app)
app.add_typer(monitor_commands.app, name="monitor")


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> None:
    """End the process as ``sys.exit(code)`` would, without its teardown of every module and object.

    After a command has loaded the language models (millions of small objects: snownlp's segmenter alone holds
    its 13 MB model as dictionaries), freeing them one by one takes the interpreter a second or more; the
    operating system reclaims the memory at once. Everything that exit would still do that matters runs first:
    other non-daemon threads finish, atexit handlers run (logging flushes, Ray shuts down), and the standard
    streams are flushed.
    """
    import atexit
    import os
    import threading

    if code is not None and not isinstance(code, int):  # sys.exit("message"): the message, status 1
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)
