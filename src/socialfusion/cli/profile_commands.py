"""``socialfusion profiles`` and ``socialfusion engagement``: user profiles, similar users, segments, engagement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion import app
from socialfusion.cli._shared import (
    EngineOption,
    JsonOption,
    RayAddressOption,
    RayWorkersOption,
    StoreOption,
    console,
    existing_store,
    parameters,
    print_rows,
    ray_options,
    run,
)

__all__ = ["engagement_app", "profiles_app"]

profiles_app = typer.Typer(
    help="User profiles: interests, rhythm, influence, embeddings; similar users; segments.", no_args_is_help=True
)
engagement_app = typer.Typer(help="Engagement prediction: who will like, comment or share what.", no_args_is_help=True)

TextEncoderOption = Annotated[
    str, typer.Option(help="Text encoder of the profile embeddings (its featurize cache is used when present).")
]
KindOption = Annotated[str, typer.Option(help="Engagement to predict: like, comment, share or click.")]
LearnerOption = Annotated[str, typer.Option(help="gradient_boosting, logistic or random_forest.")]
TrainFractionOption = Annotated[float, typer.Option(help="Share of the days (earliest first) to train on.")]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
DriversOption = Annotated[int, typer.Option("--top", help="Drivers to show.")]
RowsOption = Annotated[int, typer.Option("--top", help="Rows to show.")]
NewOnlyOption = Annotated[
    bool, typer.Option("--new-only", help="Score only the pairs that have no stored score of this kind yet.")
]
PREDICTIONS_TABLE = app.ENGAGEMENT_PREDICTIONS_TABLE


@profiles_app.command("build")
def build(
    store: StoreOption = Path("socialfusion.db"),
    text_encoder: TextEncoderOption = "text/minilm-int8",
    sentiment: Annotated[
        str, typer.Option(help="Post tone from 'lexicon', 'predictions' (the stored sentiment predictions) or 'none'.")
    ] = "lexicon",
    seed: Annotated[int, typer.Option(help="Random seed of the communities.")] = 0,
) -> None:
    """Build one profile per user and store them in the user_profiles table (with a vector index column)."""
    params = parameters(app.BuildProfilesParams, text_encoder=text_encoder, sentiment=sentiment, seed=seed)
    found = run(app.build_user_profiles, existing_store(store), params)
    console.print(
        f"{found.written:,} user profiles written to {found.table} ({found.without_embedding:,} without a "
        "text embedding)"
    )


@profiles_app.command("similar")
def similar(
    user: Annotated[str, typer.Argument(help="The user id to match.")],
    store: StoreOption = Path("socialfusion.db"),
    k: Annotated[int, typer.Option(help="Users to show.")] = 10,
    exact: Annotated[bool, typer.Option(help="Compare with every profile instead of the index.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The users whose profile embeddings are closest to USER's."""
    params = parameters(app.SimilarUsersParams, k=min(k, app.MAX_K), exact=exact)
    found = run(app.similar_users, existing_store(store), user, params)
    print_rows([row.model_dump() for row in found.users], f"Users most similar to {user}", as_json)


@profiles_app.command("segments")
def segments(
    store: StoreOption = Path("socialfusion.db"),
    n_segments: Annotated[int | None, typer.Option(help="Number of segments; default: by silhouette.")] = None,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Audience segments of the stored profiles: size, interests, languages, peak hours and what works."""
    params = parameters(app.AudienceSegmentsParams, {"segments": "--n-segments"}, segments=n_segments, seed=seed)
    found = run(app.audience_segments, existing_store(store), params)
    if as_json:
        print(json.dumps(found.model_dump(exclude={"description"})))
        return
    if found.rejected_k is not None:
        console.print(f"{found.description}: users are not split into audience segments", highlight=False)
        return
    print_rows(found.segments, found.description, False)


def _engagement(kind: str, learner: str, train_fraction: float, seed: int, top: int, new_only: bool = False):
    return parameters(
        app.EngagementParams,
        {"k": "--top", "new_only": "--new-only"},
        kind=kind,
        learner=learner,
        train_fraction=train_fraction,
        seed=seed,
        k=min(top, app.MAX_K),
        new_only=new_only,
    )


@engagement_app.command("fit")
def fit(
    store: StoreOption = Path("socialfusion.db"),
    kind: KindOption = "like",
    learner: LearnerOption = "gradient_boosting",
    train_fraction: TrainFractionOption = 0.8,
    top: DriversOption = 10,
    seed: SeedOption = 0,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="Also save the fitted model to this file (for 'engagement predict --model').")] = None,
    as_json: JsonOption = False,
) -> None:
    """Train on the earlier days, print the AUC on the later days and the drivers of engagement."""
    params = _engagement(kind, learner, train_fraction, seed, top)
    found = run(app.fit_engagement, existing_store(store), params, save_to=model)
    if as_json:
        print(json.dumps(found.model_dump()))
        return
    console.print(
        f"{kind} prediction ({learner}): held-out AUC {found.auc:.3f}, average precision "
        f"{found.average_precision:.3f} on {found.n:,} later examples ({found.positive_rate:.1%} engaged)"
    )
    print_rows([driver.model_dump() for driver in found.drivers], "Drivers (AUC drop when shuffled)", False)


@engagement_app.command("predict")
def predict(
    store: StoreOption = Path("socialfusion.db"),
    kind: KindOption = "like",
    learner: LearnerOption = "gradient_boosting",
    train_fraction: TrainFractionOption = 0.8,
    top: RowsOption = 10,
    seed: SeedOption = 0,
    new_only: NewOnlyOption = False,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    ray_workers: RayWorkersOption = None,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="Score with the model saved by 'engagement fit --model' instead of fitting one.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score the later days' (user, post) pairs with a model trained on the earlier days; store the scores."""
    params = _engagement(kind, learner, train_fraction, seed, top, new_only)
    cluster = ray_options(engine, ray_address, ray_workers)
    found = run(app.predict_engagement, existing_store(store), params, engine=engine, ray_options=cluster,
                model=model)
    best = [row.model_dump() for row in found.top]
    if as_json:
        print(json.dumps({"written": found.written, "already_scored": found.already_scored, "top": best}, default=str))
        return
    skipped = f" ({found.already_scored:,} pairs already scored)" if found.already_scored else ""
    console.print(f"{found.written:,} {kind} probabilities written to {found.table}{skipped}")
    print_rows(best, f"Most likely to {kind}", False)
