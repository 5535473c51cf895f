"""``socialfusion trends`` (volume series, bursts, forecasts) and ``socialfusion opinion`` (timeline, alerts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, console, errors, existing_store, fail, print_rows
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


def _names(store: Path, by: str) -> dict[str, str]:
    """Topic id -> label when the keys are the ids of the store's topic model (``--by topic``), else nothing."""
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE, topic_names

    target = existing_store(store)
    if by != "topic" or not {POST_TOPICS_TABLE, TOPICS_TABLE} <= set(target.tables()):
        return {}
    return topic_names(target.read(TOPICS_TABLE, columns=["topic_id", "label"]))


def _rows(table, names: dict[str, str]) -> list[dict]:
    """The rows of a table, each topic named by its label (a ``name`` column after ``key``)."""
    rows = table.to_pylist()
    if not names:
        return rows
    return [{"key": row["key"], "name": names.get(row["key"], row["key"]),
             **{column: value for column, value in row.items() if column != "key"}} for row in rows]


def _say_gaps(table, as_json: bool) -> None:
    """Name the days not observed (on stderr under --json, so that stdout stays one JSON document)."""
    from socialfusion.tasks.trends import describe_gaps

    sentence = describe_gaps(table)
    if sentence:
        (errors if as_json else console).print(sentence, highlight=False)


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
    """Posts per key and period (zeros included; null on the days not observed), with all posts of the period."""
    import pyarrow.compute as pc

    table = _series(store, by, freq)
    _say_gaps(table, as_json)
    if key is not None:
        table = table.filter(pc.equal(table.column("key"), key))
    print_rows(_rows(table, _names(store, by)), f"Posts per {by} and period", as_json)


@trends_app.command()
def bursts(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
           method: Annotated[str, typer.Option(help="negative_binomial, poisson or kleinberg.")] = "negative_binomial",
           top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Bursts of volume per key, strongest first."""
    from socialfusion.tasks.trends import detect_bursts

    table = _series(store, by, freq)
    _say_gaps(table, as_json)
    try:
        found = detect_bursts(table, method)
    except SocialFusionError as error:
        fail(error)
    ranked = found.sort_by([("score", "descending"), ("key", "ascending")]).slice(0, top)
    print_rows(_rows(ranked, _names(store, by)), f"Bursts per {by} ({method})", as_json)


@trends_app.command()
def forecast(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
             model: Annotated[str, typer.Option(help="ridge or gradient_boosting.")] = "ridge",
             top: TopOption = 20, as_json: JsonOption = False) -> None:
    """Next-period volume per key (VolumeForecaster), with the persistence baseline; highest forecast first."""
    from socialfusion.tasks.trends import VolumeForecaster, persistence

    table = _series(store, by, freq)
    _say_gaps(table, as_json)
    try:
        predicted = VolumeForecaster(model=model).fit(table).predict(table)
    except SocialFusionError as error:
        fail(error)
    last = dict(zip(*persistence(table).select(["key", "forecast"]).to_pydict().values()))
    rows = [{**row, "last": last[row["key"]]} for row in
            _rows(predicted.sort_by([("forecast", "descending"), ("key", "ascending")]).slice(0, top),
                  _names(store, by))]
    print_rows(rows, f"Next-period forecast per {by}", as_json)


def _opinion(store: Path, by: str, freq: str):
    """The scored ``opinion_posts`` of the store and its timeline (``count_opinions``, totals over all posts)."""
    from socialfusion.tasks.opinion import count_opinions, opinion_posts, post_sentiment

    target, posts, keys = _posts_and_keys(store, by)
    try:
        scored = opinion_posts(posts, keys, post_sentiment(target), freq=freq)
        return scored, count_opinions(scored, freq, posts=posts)
    except SocialFusionError as error:
        fail(error)


@opinion_app.command()
def timeline(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
             key: Annotated[str | None, typer.Option(help="Only this key.")] = None,
             as_json: JsonOption = False) -> None:
    """Posts per sentiment class for each key and period (stored predictions, else the lexicons)."""
    import pyarrow.compute as pc

    _, table = _opinion(store, by, freq)
    _say_gaps(table, as_json)
    if key is not None:
        table = table.filter(pc.equal(table.column("key"), key))
    print_rows(_rows(table, _names(store, by)), f"Sentiment per {by} and period", as_json)


@opinion_app.command()
def alerts(store: StoreOption = Path("socialfusion.db"), by: ByOption = "hashtag", freq: FreqOption = "D",
           window: Annotated[int, typer.Option(help="Periods in the recent window.")] = 3,
           baseline: Annotated[int, typer.Option(help="Periods in the baseline before it.")] = 14,
           alpha: Annotated[float, typer.Option(help="False-discovery rate (Benjamini-Hochberg).")] = 0.01,
           min_posts: Annotated[int, typer.Option(help="Fewest posts in window and baseline.")] = 10,
           latest: Annotated[bool, typer.Option("--latest", help="Only test the last period.")] = False,
           as_json: JsonOption = False) -> None:
    """Keys whose negative share rose significantly, with the most negative posts that explain each alert."""
    from socialfusion.tasks.opinion import opinion_alerts

    scored, timeline = _opinion(store, by, freq)
    _say_gaps(timeline, as_json)
    try:
        found = opinion_alerts(timeline, window=window, baseline=baseline, alpha=alpha, min_posts=min_posts,
                               latest_only=latest, evidence=scored)
    except SocialFusionError as error:
        fail(error)
    print_rows(_rows(found, _names(store, by)), f"Opinion alerts per {by}", as_json)
