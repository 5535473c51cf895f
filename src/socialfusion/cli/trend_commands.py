"""``socialfusion trends`` (volume series, bursts, forecasts) and ``socialfusion opinion`` (timeline, alerts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, existing_store, fail, print_rows
from socialfusion.exceptions import SocialFusionError

trends_app = typer.Typer(help="Post volume per hashtag or topic over time: series, bursts, next-period forecasts.",
                         no_args_is_help=True)
opinion_app = typer.Typer(help="Public opinion per hashtag or topic: sentiment timeline and negative-share alerts.",
                          no_args_is_help=True)

ByOption = Annotated[str, typer.Option("--by", help="Group posts by hashtag, or by topic (the store's post_topics "
                                                     "table, else its topic labels).")]
FreqOption = Annotated[str, typer.Option(help="Period: D (UTC days) or h (hours).")]
TopOption = Annotated[int, typer.Option(help="Rows to show.")]


def _posts_and_keys(store: Path, by: str):
    from socialfusion.tasks.trends import key_assignment

    target = existing_store(store)
    try:
        return target, target.read("posts"), key_assignment(target, by)
    except SocialFusionError as error:
        fail(error)



def _series(store: Path, by: str, freq: str):
    from socialfusion.tasks.trends import volume_series

    _, posts, keys = _posts_and_keys(store, by)
    try:
        return volume_series(posts, keys, freq=freq)
    except SocialFusionError as error:
        fail(error)


@trends_app.command()
def series(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
           key: Annotated[str | None, typer.Option(help="Only this key.")] = None,
           as_json: JsonOption = False) -> None:
    """Posts per key and period (zeros included), with all posts of the period."""
    import pyarrow.compute as pc

    table = _series(store, by, freq)
    if key is not None:
        table = table.filter(pc.equal(table.column("key"), key))
    print_rows(table.to_pylist(), f"Posts per {by} and period", as_json)


@trends_app.command()
def bursts(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
           method: Annotated[str, typer.Option(help="negative_binomial, poisson or kleinberg.")] = "negative_binomial",
           top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Bursts of volume per key, strongest first."""
    from socialfusion.tasks.trends import detect_bursts

    try:
        found = detect_bursts(_series(store, by, freq), method)
    except SocialFusionError as error:
        fail(error)
    ranked = found.sort_by([("score", "descending"), ("key", "ascending")]).slice(0, top)
    print_rows(ranked.to_pylist(), f"Bursts per {by} ({method})", as_json)


@trends_app.command()
def forecast(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
             model: Annotated[str, typer.Option(help="ridge or gradient_boosting.")] = "ridge",
             top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Next-period volume per key (VolumeForecaster), with the persistence baseline; highest forecast first."""
    from socialfusion.tasks.trends import VolumeForecaster, persistence

    table = _series(store, by, freq)
    try:
        predicted = VolumeForecaster(model=model).fit(table).predict(table)
    except SocialFusionError as error:
        fail(error)
    last = dict(zip(*persistence(table).select(["key", "forecast"]).to_pydict().values()))
    rows = [{**row, "last": last[row["key"]]} for row in
            predicted.sort_by([("forecast", "descending"), ("key", "ascending")]).slice(0, top).to_pylist()]
    print_rows(rows, f"Next-period forecast per {by}", as_json)


def _opinion(store: Path, by: str, freq: str):
    from socialfusion.tasks.opinion import opinion_posts, post_sentiment

    target, posts, keys = _posts_and_keys(store, by)
    try:
        return opinion_posts(posts, keys, post_sentiment(target), freq=freq)
    except SocialFusionError as error:
        fail(error)


@opinion_app.command()
def timeline(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
             key: Annotated[str | None, typer.Option(help="Only this key.")] = None,
             as_json: JsonOption = False) -> None:
    """Posts per sentiment class for each key and period (stored predictions, else the lexicons)."""
    import pyarrow.compute as pc

    from socialfusion.tasks.opinion import count_opinions

    table = count_opinions(_opinion(store, by, freq), freq)
    if key is not None:
        table = table.filter(pc.equal(table.column("key"), key))
    print_rows(table.to_pylist(), f"Sentiment per {by} and period", as_json)


@opinion_app.command()
def alerts(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
           window: Annotated[int, typer.Option(help="Periods in the recent window.")] = 3,
           baseline: Annotated[int, typer.Option(help="Periods in the baseline before it.")] = 14,
           alpha: Annotated[float, typer.Option(help="False-discovery rate (Benjamini-Hochberg).")] = 0.01,
           min_posts: Annotated[int, typer.Option(help="Fewest posts in window and baseline.")] = 10,
           latest: Annotated[bool, typer.Option("--latest", help="Only test the last period.")] = False,
           as_json: JsonOption = False) -> None:
    """Keys whose negative share rose significantly, with the most negative posts that explain each alert."""
    from socialfusion.tasks.opinion import count_opinions, opinion_alerts

    scored = _opinion(store, by, freq)
    try:
        found = opinion_alerts(count_opinions(scored, freq), window=window, baseline=baseline, alpha=alpha,
                               min_posts=min_posts, latest_only=latest, evidence=scored)
    except SocialFusionError as error:
        fail(error)
    print_rows(found.to_pylist(), f"Opinion alerts per {by}", as_json)
