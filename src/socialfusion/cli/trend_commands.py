"""``socialfusion trends`` (volume series, bursts, forecasts) and ``socialfusion opinion`` (timeline, alerts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialfusion import app
from socialfusion.cli._shared import (
    JsonOption,
    StoreOption,
    console,
    errors,
    existing_store,
    parameters,
    print_rows,
    run,
)

trends_app = typer.Typer(
    help="Post volume per hashtag or topic over time: series, bursts, next-period forecasts.", no_args_is_help=True
)
opinion_app = typer.Typer(
    help="Public opinion per hashtag or topic: sentiment timeline and negative-share alerts.", no_args_is_help=True
)

ByOption = Annotated[
    str,
    typer.Option(
        "--by", help="Group posts by hashtag, or by topic (the store's post_topics table, else its topic labels)."
    ),
]
FreqOption = Annotated[str, typer.Option(help="Period: D (UTC days) or h (hours).")]
TopOption = Annotated[int, typer.Option(help="Rows to show.")]
KeyOption = Annotated[str | None, typer.Option(help="Only this key.")]
TOP = {"k": "--top"}


def _rows(items) -> list[dict]:
    """The result's rows; the ``name`` column (a topic's label) only where a key has one."""
    rows = [item.model_dump() for item in items]
    if any(row["name"] is not None for row in rows):
        return [{**row, "name": row["name"] or row["key"]} for row in rows]
    return [{column: value for column, value in row.items() if column != "name"} for row in rows]


def _say_gaps(sentence: str, as_json: bool) -> None:
    """Name the days not observed (on stderr under --json, so that stdout stays one JSON document)."""
    if sentence:
        (errors if as_json else console).print(sentence, highlight=False)


def _timeline_command(operation, counted: str, doc: str):
    """The command that prints ``operation``'s points per key and period (``series`` and ``timeline``)."""

    def command(
        store: StoreOption = Path("socialfusion.db"),
        by: ByOption = "hashtag",
        freq: FreqOption = "D",
        key: KeyOption = None,
        as_json: JsonOption = False,
    ) -> None:
        params = parameters(app.TimelineParams, by=by, freq=freq, key=key)
        found = run(operation, existing_store(store), params)
        _say_gaps(found.unobserved, as_json)
        print_rows(_rows(found.points), f"{counted} per {by} and period", as_json)

    command.__doc__ = doc
    return command


trends_app.command("series")(
    _timeline_command(
        app.volume_series,
        "Posts",
        "Posts per key and period (zeros included; null on the days not observed), with all posts of the period.",
    )
)
opinion_app.command("timeline")(
    _timeline_command(
        app.opinion_timeline,
        "Sentiment",
        "Posts per sentiment class for each key and period (stored predictions, else the lexicons).",
    )
)


@trends_app.command()
def bursts(
    store: StoreOption = Path("socialfusion.db"),
    by: ByOption = "hashtag",
    freq: FreqOption = "D",
    method: Annotated[str, typer.Option(help="negative_binomial, poisson or kleinberg.")] = "negative_binomial",
    top: TopOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Bursts of volume per key, strongest first."""
    params = parameters(app.BurstParams, TOP, by=by, freq=freq, method=method, k=min(top, app.MAX_K))
    opened = existing_store(store)
    _say_gaps(run(app.volume_series, opened, app.TimelineParams(by=by, freq=freq)).unobserved, as_json)
    print_rows(_rows(run(app.bursts, opened, params).bursts), f"Bursts per {by} ({method})", as_json)


@trends_app.command()
def forecast(
    store: StoreOption = Path("socialfusion.db"),
    by: ByOption = "hashtag",
    freq: FreqOption = "D",
    model: Annotated[str, typer.Option(help="ridge or gradient_boosting.")] = "ridge",
    top: TopOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Next-period volume per key (VolumeForecaster), with the persistence baseline; highest forecast first."""
    params = parameters(app.ForecastParams, TOP, by=by, freq=freq, model=model, k=min(top, app.MAX_K))
    found = run(app.forecast_volume, existing_store(store), params)
    _say_gaps(found.unobserved, as_json)
    print_rows(_rows(found.forecasts), f"Next-period forecast per {by}", as_json)


@opinion_app.command()
def alerts(
    store: StoreOption = Path("socialfusion.db"),
    by: ByOption = "hashtag",
    freq: FreqOption = "D",
    window: Annotated[int, typer.Option(help="Periods in the recent window.")] = 3,
    baseline: Annotated[int, typer.Option(help="Periods in the baseline before it.")] = 14,
    alpha: Annotated[float, typer.Option(help="False-discovery rate (Benjamini-Hochberg).")] = 0.01,
    min_posts: Annotated[int, typer.Option(help="Fewest posts in window and baseline.")] = 10,
    latest: Annotated[bool, typer.Option("--latest", help="Only test the last period.")] = False,
    top: TopOption = app.MAX_K,
    as_json: JsonOption = False,
) -> None:
    """Keys whose negative share rose significantly, with the most negative posts that explain each alert."""
    params = parameters(
        app.OpinionAlertsParams,
        TOP,
        by=by,
        freq=freq,
        window=window,
        baseline=baseline,
        alpha=alpha,
        min_posts=min_posts,
        latest=latest,
        k=min(top, app.MAX_K),
    )
    opened = existing_store(store)
    # The days not observed depend on all posts, not on their sentiment: the volume series names them at less cost.
    _say_gaps(run(app.volume_series, opened, app.TimelineParams(by=by, freq=freq)).unobserved, as_json)
    print_rows(_rows(run(app.opinion_alerts, opened, params).alerts), f"Opinion alerts per {by}", as_json)
