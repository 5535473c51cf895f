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
    fail,
    ray_options,
)
from socialfusion.exceptions import ConfigurationError, SocialFusionError

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


def _parse_encoders(value: str) -> dict[str, str]:
    """``text/multilingual,image/colour-histogram`` (or ``text=...`` pairs) as TopicModel's modality -> encoder."""
    from socialfusion.encoders import encoder_info

    encoders: dict[str, str] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if "=" in item:
            modality, name = (side.strip() for side in item.split("=", 1))
        else:
            try:
                modality = encoder_info(item)["modality"]
            except SocialFusionError as error:
                raise typer.BadParameter(str(error), param_hint="--encoders") from None
            name = item
        encoders[name if modality in encoders else modality] = name
    if "text" not in encoders:
        raise typer.BadParameter(f"name a text encoder (e.g. text/multilingual); got {value!r}",
                                 param_hint="--encoders")
    return encoders



def _topic_rows(topics) -> list[dict]:
    return [{"topic_id": row["topic_id"], "size": row["size"], "keywords": row["keywords"], "label": row["label"],
             "representative_post_ids": row["representative_post_ids"]}
            for row in topics.select(["topic_id", "size", "keywords", "label", "representative_post_ids"]).to_pylist()]


def _print_topics(topics, title: str) -> None:
    view = Table(title=title)
    view.add_column("topic", justify="right")
    view.add_column("posts", justify="right")
    view.add_column("keywords")
    for row in _topic_rows(topics):
        view.add_row(str(row["topic_id"]), f"{row['size']:,}", ", ".join(row["keywords"]))
    console.print(view)


def _outliers(assigned) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(pc.less(assigned.column("topic_id"), 0)).as_py() or 0)


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
    from socialfusion.featurize import featurize
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TopicModel, write_topics

    chosen = _parse_encoders(encoder if encoder is not None else encoders)
    if method == "kmeans" and topics is None:  # before the encoders run, which takes a while
        fail(ConfigurationError("method 'kmeans' needs n_topics, the number of topics: give --topics N"))
    target = existing_store(store)
    try:
        model = TopicModel(chosen, method=method, n_topics=topics, min_topic_size=min_topic_size,
                           reduce_to=reduce_to or None, random_state=seed)
        with StageProgress(quiet=as_json) as progress:
            featurize(target, list(dict.fromkeys(chosen.values())), progress=progress)  # the slow part, with an ETA
            progress(f"clustering ({method})")
            model.fit(target)  # reads the features just cached
            progress("writing the topics")
            written = write_topics(target, model)
    except SocialFusionError as error:
        fail(error)
    outliers = int((model.labels_ < 0).sum())
    if as_json:
        print(json.dumps({"posts": written, "outliers": outliers, "table": POST_TOPICS_TABLE,
                          "topics": _topic_rows(model.topics_)}))
        return
    _print_topics(model.topics_, f"{len(model.topics_):,} topics over {written:,} posts ({outliers:,} outliers)")
    console.print(f"written to the topics and {POST_TOPICS_TABLE} tables; later posts: socialfusion topics assign "
                  f"--store {store}")


@app.command()
def show(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Print the topics stored by 'topics fit'."""
    from socialfusion.tasks.topics import read_topics

    try:
        assigned, topics = read_topics(existing_store(store))
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps({"posts": assigned.num_rows, "outliers": _outliers(assigned), "topics": _topic_rows(topics)}))
        return
    _print_topics(topics, f"{topics.num_rows:,} topics over {assigned.num_rows:,} posts "
                          f"({_outliers(assigned):,} outliers)")


@app.command()
def assign(store: StoreOption = Path("socialfusion.db"), engine: EngineOption = "local",
           ray_address: RayAddressOption = None, ray_workers: RayWorkersOption = None,
           as_json: JsonOption = False) -> None:
    """Assign the posts that have no topic yet to the stored topics (nearest topic centre) and store that."""
    import pyarrow.compute as pc

    from socialfusion.featurize import encoder_parts, featurize
    from socialfusion.tasks.topics import load_topic_model, read_topics, write_topics

    cluster = ray_options(engine, ray_address, ray_workers)
    target = existing_store(store)
    try:
        model = load_topic_model(target)
        assigned, _ = read_topics(target)
        posts = target.read("posts", columns=["post_id"]).column("post_id")
        new = pc.invert(pc.is_in(posts, value_set=assigned.column("post_id")))
        rows = None
        if pc.any(new).as_py():  # every post goes through the feature cache, so only new ones are encoded
            if cluster is not None:  # encode on Ray; the nearest-centre step below then reads the cache
                names = [part for name in model.encoders_.values() for part in encoder_parts(name)]
                featurize(target, list(dict.fromkeys(names)), engine="ray", ray_options=cluster)
            rows = model.assign(target)
            rows = rows.filter(pc.is_in(rows.column("post_id"), value_set=pc.filter(posts, new)))
        written = write_topics(target, model, rows) if rows is not None and rows.num_rows else 0
    except SocialFusionError as error:
        fail(error)
    counts: dict[int, int] = {}
    for topic in (rows.column("topic_id").to_pylist() if written else []):
        counts[topic] = counts.get(topic, 0) + 1
    if as_json:
        print(json.dumps({"assigned": written, "per_topic": {str(topic): n for topic, n in sorted(counts.items())}}))
        return
    if not written:
        console.print("no new post to assign: every post with content already has a topic")
        return
    view = Table(title=f"{written:,} new posts assigned")
    view.add_column("topic", justify="right")
    view.add_column("posts", justify="right")
    for topic, count in sorted(counts.items()):
        view.add_row("outlier" if topic < 0 else str(topic), f"{count:,}")
    console.print(view)
