"""The ``socialfusion`` command line: a thin Typer shell over the library's functions."""

from __future__ import annotations

import logging

import typer

from socialfusion.cli import (
    corpus_commands,
    dataset_commands,
    feature_commands,
    graph_commands,
    kg_commands,
    profile_commands,
    recommend_commands,
    sentiment_commands,
    store_commands,
    topic_commands,
    trend_commands,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="socialfusion",
    help="Multimodal social-media analysis: ingest posts, images, video, audio and the social graph; analyse them.",
    no_args_is_help=True,
    add_completion=False,
)
corpus_commands.register(app)
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


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
