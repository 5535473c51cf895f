"""``socialfusion topics``: fit a topic model on a store's posts, show its topics, assign new posts to them."""

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
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="Topics of posts: cluster fused embeddings, describe topics by keywords, assign new posts.",
                  no_args_is_help=True)

MethodOption = Annotated[str, typer.Option(help="hdbscan (finds the number of topics, marks outliers) or kmeans.")]
TopicsOption = Annotated[int | None, typer.Option("--topics", "-k", help="Number of topics (required for kmeans; "
                                                                        "an upper bound for hdbscan).")]
ENCODERS_HELP = ("Encoders, comma-separated: one text encoder, e.g. text/multilingual (Chinese + English, the "
                 "default), text/minilm-int8 (English, fast) or text/tfidf, and optionally encoders of other "
                 "modalities to fuse (image/colour-histogram, ...); MODALITY=ENCODER pairs also work.")
EncodersOption = Annotated[str, typer.Option("--encoders", help=ENCODERS_HELP)]
OldEncoderOption = Annotated[str | None, typer.Option("--encoder", hidden=True)]  # the option's former name


def _split_encoders(value: str) -> tuple[str, list[str]]:
    """``text/multilingual,image/colour-histogram`` (or ``modality=name`` pairs): the first text encoder, and the
    others (``FitTopicsParams`` keys them by modality)."""
    from socialfusion.encoders import encoder_info

    names = [item.split("=", 1)[-1].strip() for item in value.split(",") if item.strip()]
    try:
        texts = [name for name in names if encoder_info(name)["modality"] == "text"]
    except SocialFusionError as error:
        raise typer.BadParameter(str(error), param_hint="--encoders") from None
    if not texts:
        raise typer.BadParameter(f"name a text encoder (e.g. text/multilingual); got {value!r}",
                                 param_hint="--encoders")
    return texts[0], [name for name in names if name != texts[0]]


def _print_topics(topics: list, title: str) -> None:
    view = Table(title=title)
    view.add_column("topic", justify="right")
    view.add_column("posts", justify="right")
    view.add_column("keywords")
    for topic in topics:
        view.add_row(str(topic.topic_id), f"{topic.size:,}", ", ".join(topic.keywords))
    console.print(view)


@app.command()
def fit(
    store: StoreOption = Path("socialfusion.db"),
    method: MethodOption = "hdbscan",
    topics: TopicsOption = None,
    encoders: EncodersOption = "text/multilingual",
    encoder: OldEncoderOption = None,
    min_topic_size: Annotated[int, typer.Option(help="Smallest topic (hdbscan).")] = 10,
    reduce_to: Annotated[int, typer.Option(help="PCA dimensions before clustering (0: none).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same topics).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit topics on every post with text, write the topics and post_topics tables, and print the topics."""
    from socialfusion.app import FitTopicsParams, fit_topics
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    text_encoder, other_encoders = _split_encoders(encoder if encoder is not None else encoders)
    params = parameters(FitTopicsParams, {"n_topics": "--topics", "text_encoder": "--encoders",
                                          "other_encoders": "--encoders"},
                        method=method, n_topics=topics, text_encoder=text_encoder,
                        other_encoders=other_encoders, min_topic_size=min_topic_size,
                        reduce_to=reduce_to or None, seed=seed)  # before the encoders run, which takes a while
    target = existing_store(store)
    with StageProgress(quiet=as_json, one_bar=True) as progress:
        result = run(fit_topics, target, params, progress=progress.fraction)
    if as_json:
        print(json.dumps({"posts": result.assigned, "outliers": result.outliers, "table": POST_TOPICS_TABLE,
                          "topics": [topic.model_dump() for topic in result.summaries]}))
        return
    _print_topics(result.summaries, f"{result.topics:,} topics over {result.assigned:,} posts ({result.outliers:,} "
                                    "outliers)")
    console.print(f"written to the topics and {POST_TOPICS_TABLE} tables; later posts: socialfusion topics assign "
                  f"--store {store}")


@app.command()
def show(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Print the topics stored by 'topics fit'."""
    from socialfusion.app import stored_topics

    found = run(stored_topics, existing_store(store))
    if as_json:
        print(found.model_dump_json())
        return
    _print_topics(found.topics, f"{len(found.topics):,} topics over {found.posts:,} posts ({found.outliers:,} "
                                "outliers)")


@app.command()
def assign(store: StoreOption = Path("socialfusion.db"), engine: EngineOption = "local",
           ray_address: RayAddressOption = None, ray_workers: RayWorkersOption = None,
           as_json: JsonOption = False) -> None:
    """Assign the posts that have no topic yet to the stored topics (nearest topic centre) and store that."""
    from socialfusion.app import assign_new_posts

    cluster = ray_options(engine, ray_address, ray_workers)
    result = run(assign_new_posts, existing_store(store), engine=engine, ray_options=cluster)
    if as_json:
        print(json.dumps({"assigned": result.assigned,
                          "per_topic": {str(topic): n for topic, n in result.per_topic.items()}}))
        return
    if not result.assigned:
        console.print("no new post to assign: every post with content already has a topic")
        return
    view = Table(title=f"{result.assigned:,} new posts assigned")
    view.add_column("topic", justify="right")
    view.add_column("posts", justify="right")
    for topic, count in result.per_topic.items():
        view.add_row("outlier" if topic < 0 else str(topic), f"{count:,}")
    console.print(view)
