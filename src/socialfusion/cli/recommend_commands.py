"""``socialfusion recommend``: fit a recommender on a store's interactions and recommend posts to a user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, fail
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="Recommend posts to users from their interactions, their friends and the posts' content.",
                  no_args_is_help=True)

MODEL_FILE = "recommender-{name}.npz"
MODEL_HELP = ("popularity, als, bpr, itemknn, ease, dlae, rp3beta, gfcf, lightgcn, social or hybrid (ALS + item kNN + "
              "social, weights tuned).")


def _model_path(store: Path, name: str) -> Path:
    return store / "models" / MODEL_FILE.format(name=name)


def _build(name: str):
    from socialfusion.tasks.recommend import (
        RECOMMENDERS,
        ALSRecommender,
        HybridRecommender,
        ItemKNNRecommender,
        SocialRecommender,
    )

    if name == "hybrid":
        return HybridRecommender({"als": ALSRecommender(), "itemknn": ItemKNNRecommender(),
                                  "social": SocialRecommender()})
    if name not in RECOMMENDERS or name == "content":
        raise typer.BadParameter(f"unknown model {name!r}; choose one of: {MODEL_HELP}", param_hint="--model")
    return RECOMMENDERS[name]()


@app.command()
def fit(
    store: StoreOption = Path("socialfusion.db"),
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "hybrid",
    kind: Annotated[str | None, typer.Option(help="Interaction kind to learn from (like, view, ...); default all.")]
    = None,
    as_json: JsonOption = False,
) -> None:
    """Fit a recommender on the store's interactions and save it under the store folder."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.recommend import save_recommender

    opened = existing_store(store)
    recommender = _build(model)
    try:
        corpus = Corpus.from_store(opened)
        recommender.fit(corpus, kind=kind)
        path = save_recommender(recommender, _model_path(store, model))
    except SocialFusionError as error:
        fail(error)
    result = {"model": model, "path": str(path), "users": len(recommender.users_), "items": len(recommender.items_),
              "interactions": int(recommender.seen_.nnz)}
    if hasattr(recommender, "weights_"):
        result["weights"] = recommender.weights_
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"fitted {model} on {result['interactions']:,} user-item pairs ({result['users']:,} users, "
                  f"{result['items']:,} items); saved to {path}")


@app.command("for-user")
def for_user(
    user: Annotated[str, typer.Argument(help="The user id.")],
    store: StoreOption = Path("socialfusion.db"),
    model: Annotated[str, typer.Option("--model", "-m", help="Which fitted model to use.")] = "hybrid",
    k: Annotated[int, typer.Option("--k", help="How many items.")] = 10,
    diversity: Annotated[float, typer.Option(help="MMR diversity weight in [0, 1].")] = 0.0,
    freshness_days: Annotated[float | None, typer.Option(help="Half-life in days of the recency boost.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Recommend items to USER with a model saved by 'recommend fit'."""
    from socialfusion.tasks.recommend import load_recommender

    path = _model_path(store, model)
    try:
        recommender = load_recommender(path)
        table = recommender.recommend([user], k=k, diversity=diversity, freshness=freshness_days)
    except SocialFusionError as error:
        fail(error)
    rows = table.to_pylist()
    if as_json:
        print(json.dumps(rows))
        return
    known = "" if user in recommender.user_index_ else " (unknown user: most popular items)"
    view = Table(title=f"Top {k} for {user}{known}")
    for column in ("rank", "item", "score"):
        view.add_column(column, justify="right" if column != "item" else "left")
    for row in rows:
        view.add_row(str(row["rank"]), row["item"], f"{row['score']:.4f}")
    console.print(view)
