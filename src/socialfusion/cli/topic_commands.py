"""``socialfusion topics``: fit a topic model on a store's posts, show its topics, assign new posts to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, fail
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="Topics of posts: cluster fused embeddings, describe topics by keywords, assign new posts.",
                  no_args_is_help=True)

MethodOption = Annotated[str, typer.Option(help="hdbscan (finds the number of topics, marks outliers) or kmeans.")]
TopicsOption = Annotated[int | None, typer.Option("--topics", "-k", help="Number of topics (required for kmeans; "
                                                                        "an upper bound for hdbscan).")]
EncoderOption = Annotated[str, typer.Option(help="Text encoder, e.g. text/multilingual (Chinese + English, the "
                                                 "default), text/minilm-int8 (English, fast) or text/tfidf.")]



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
    encoder: EncoderOption = "text/multilingual",
    min_topic_size: Annotated[int, typer.Option(help="Smallest topic (hdbscan).")] = 10,
    reduce_to: Annotated[int, typer.Option(help="PCA dimensions before clustering (0: none).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same topics).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit topics on every post with text, write the topics and post_topics tables, and print the topics."""
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TopicModel, write_topics

    target = existing_store(store)
    try:
        model = TopicModel({"text": encoder}, method=method, n_topics=topics, min_topic_size=min_topic_size,
                           reduce_to=reduce_to or None, random_state=seed).fit(target)
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
def assign(store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Assign the posts that have no topic yet to the stored topics (nearest topic centre) and store that."""
    import pyarrow.compute as pc

    from socialfusion.tasks.topics import load_topic_model, read_topics, write_topics

    target = existing_store(store)
    try:
        model = load_topic_model(target)
        assigned, _ = read_topics(target)
        posts = target.read("posts", columns=["post_id"]).column("post_id")
        new = pc.invert(pc.is_in(posts, value_set=assigned.column("post_id")))
        rows = None
        if pc.any(new).as_py():  # every post goes through the feature cache, so only new ones are encoded
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
