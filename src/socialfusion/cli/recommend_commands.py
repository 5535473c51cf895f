"""``socialfusion recommend``: fit a recommender on a store's interactions and recommend posts to a user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from socialfusion import app as app_layer
from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, parameters, run

app = typer.Typer(
    help="Recommend posts to users from their interactions, their friends and the posts' content.", no_args_is_help=True
)

MODEL_HELP = (
    "popularity, als, bpr, itemknn, ease, dlae, rp3beta, gfcf, lightgcn, social or hybrid (ALS + item kNN + "
    "social, weights tuned)."
)


@app.command()
def fit(
    store: StoreOption = Path("socialfusion.db"),
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "hybrid",
    kind: Annotated[
        str | None, typer.Option(help="Interaction kind to learn from (like, view, ...); default all.")
    ] = None,
    combiner: Annotated[
        str,
        typer.Option(
            help="How the hybrid combines its components: blend (rank blend, tuned weights) or stacked (a logistic "
            "regression over their scores and ranks)."
        ),
    ] = "blend",
    as_json: JsonOption = False,
) -> None:
    """Fit a recommender on the store's interactions and save it under the store folder."""
    params = parameters(app_layer.FitRecommenderParams, model=model, kind=kind, combiner=combiner)
    result = run(app_layer.fit_recommender, existing_store(store), params)
    if as_json:
        print(json.dumps(result.model_dump(exclude_none=True)))
        return
    console.print(
        f"fitted {model} on {result.interactions:,} user-item pairs ({result.users:,} users, "
        f"{result.items:,} items); saved to {result.path}"
    )


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
    params = parameters(
        app_layer.RecommendationsParams,
        model=model,
        k=min(k, app_layer.MAX_K),
        diversity=diversity,
        freshness_days=freshness_days,
    )
    found = run(app_layer.recommend_items, existing_store(store), user, params)
    rows = [item.model_dump() for item in found.items]
    if as_json:
        print(json.dumps(rows))
        return
    known = "" if found.known_user else " (unknown user: most popular items)"
    view = Table(title=f"Top {k} for {user}{known}")
    for column in ("rank", "item", "score"):
        view.add_column(column, justify="right" if column != "item" else "left")
    for row in found.items:
        view.add_row(str(row.rank), row.item, "" if row.score is None else f"{row.score:.4f}")
    console.print(view)
