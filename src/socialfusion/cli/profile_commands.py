"""``socialfusion profiles`` and ``socialfusion engagement``: user profiles, similar users, segments, engagement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, fail, print_rows
from socialfusion.exceptions import SocialFusionError

__all__ = ["engagement_app", "profiles_app"]

profiles_app = typer.Typer(help="User profiles: interests, rhythm, influence, embeddings; similar users; segments.",
                           no_args_is_help=True)
engagement_app = typer.Typer(help="Engagement prediction: who will like, comment or share what.",
                             no_args_is_help=True)

TextEncoderOption = Annotated[str, typer.Option(help="Text encoder of the profile embeddings (its featurize cache "
                                                     "is used when present).")]
KindOption = Annotated[str, typer.Option(help="Engagement to predict: like, comment, share or click.")]
LearnerOption = Annotated[str, typer.Option(help="gradient_boosting, logistic or random_forest.")]
TrainFractionOption = Annotated[float, typer.Option(help="Share of the days (earliest first) to train on.")]
PREDICTIONS_TABLE = "engagement_predictions"




@profiles_app.command("build")
def build(store: StoreOption = Path("socialfusion.db"), text_encoder: TextEncoderOption = "text/minilm-int8",
          sentiment: Annotated[str, typer.Option(help="Post tone from 'lexicon', 'predictions' (the stored "
                                                      "sentiment predictions) or 'none'.")] = "lexicon",
          seed: Annotated[int, typer.Option(help="Random seed of the communities.")] = 0) -> None:
    """Build one profile per user and store them in the user_profiles table (with a vector index column)."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.profiles import PROFILES_TABLE, build_profiles, write_profiles

    opened = existing_store(store)
    try:
        tone = _sentiment(opened, sentiment)
        profiles = build_profiles(Corpus.from_store(opened), store=opened, text_encoder=text_encoder, sentiment=tone,
                                  random_state=seed)
        written = write_profiles(opened, profiles)
    except SocialFusionError as error:
        fail(error)
    missing = sum(profiles.column("embedding_missing").to_pylist())
    console.print(f"{written:,} user profiles written to {PROFILES_TABLE} ({missing:,} without a text embedding)")


def _sentiment(store, sentiment: str):
    if sentiment == "none":
        return None
    if sentiment == "predictions":
        from socialfusion.tasks.sentiment import read_predictions

        return read_predictions(store)
    if sentiment != "lexicon":
        fail(ValueError(f"--sentiment must be lexicon, predictions or none; got {sentiment!r}"))
    return "lexicon"


@profiles_app.command("similar")
def similar(user: Annotated[str, typer.Argument(help="The user id to match.")],
            store: StoreOption = Path("socialfusion.db"), k: Annotated[int, typer.Option(help="Users to show.")] = 10,
            exact: Annotated[bool, typer.Option(help="Compare with every profile instead of the index.")] = False,
            as_json: JsonOption = False) -> None:
    """The users whose profile embeddings are closest to USER's."""
    from socialfusion.tasks.profiles import similar_users

    try:
        found = similar_users(existing_store(store), user, k, exact=exact)
    except SocialFusionError as error:
        fail(error)
    print_rows(found.to_pylist(), f"Users most similar to {user}", as_json)


@profiles_app.command("segments")
def segments(store: StoreOption = Path("socialfusion.db"),
             n_segments: Annotated[int | None, typer.Option(help="Number of segments; default: by silhouette.")] = None,
             seed: Annotated[int, typer.Option(help="Random seed.")] = 0, as_json: JsonOption = False) -> None:
    """Audience segments of the stored profiles: size, interests, languages, peak hours and what works."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.profiles import PROFILES_TABLE, audience_segments

    opened = existing_store(store)
    if PROFILES_TABLE not in opened.tables():
        fail(FileNotFoundError(f"no profiles in {store}; build them with: socialfusion profiles build --store {store}"))
    try:
        found = audience_segments(opened.read(PROFILES_TABLE), n_segments, seed, corpus=Corpus.from_store(opened))
    except SocialFusionError as error:
        fail(error)
    rows = found.cards.to_pylist()
    if as_json:
        silhouette = None if found.silhouette != found.silhouette else found.silhouette  # NaN is not JSON
        print(json.dumps({"silhouette": silhouette, "rejected_k": found.rejected_k,
                          "segments": [] if found.rejected_k is not None else rows}))
        return
    if found.rejected_k is not None:
        console.print(f"{found.describe()}: users are not split into audience segments", highlight=False)
        return
    print_rows(rows, found.describe(), False)


def _fitted(store: Path, kind: str, learner: str, train_fraction: float, seed: int):
    """Examples of the store, the time split, and a model fitted on the earlier part."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, time_split

    opened = existing_store(store)
    try:
        examples = engagement_examples(Corpus.from_store(opened), kinds=(kind,), store=opened, random_state=seed)
        train, test = time_split(examples, train_fraction=train_fraction)
        model = EngagementModel(kind=kind, learner=learner, random_state=seed).fit(train)
    except SocialFusionError as error:
        fail(error)
    return opened, model, test


@engagement_app.command("fit")
def fit(store: StoreOption = Path("socialfusion.db"), kind: KindOption = "like",
        learner: LearnerOption = "gradient_boosting", train_fraction: TrainFractionOption = 0.8,
        top: Annotated[int, typer.Option(help="Drivers to show.")] = 10,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0, as_json: JsonOption = False) -> None:
    """Train on the earlier days, print the AUC on the later days and the drivers of engagement."""
    _, model, test = _fitted(store, kind, learner, train_fraction, seed)
    try:
        scores = model.evaluate(test)
    except SocialFusionError as error:
        fail(error)
    drivers = model.explain(test, n_repeats=3).slice(0, top).to_pylist()
    if as_json:
        print(json.dumps({**scores, "kind": kind, "learner": learner, "drivers": drivers}))
        return
    console.print(f"{kind} prediction ({learner}): held-out AUC {scores['auc']:.3f}, average precision "
                  f"{scores['average_precision']:.3f} on {scores['n']:,} later examples "
                  f"({scores['positive_rate']:.1%} engaged)")
    print_rows(drivers, "Drivers (AUC drop when shuffled)", False)


@engagement_app.command("predict")
def predict(store: StoreOption = Path("socialfusion.db"), kind: KindOption = "like",
            learner: LearnerOption = "gradient_boosting", train_fraction: TrainFractionOption = 0.8,
            top: Annotated[int, typer.Option(help="Rows to show.")] = 10,
            seed: Annotated[int, typer.Option(help="Random seed.")] = 0, as_json: JsonOption = False) -> None:
    """Score the later days' (user, post) pairs with a model trained on the earlier days; store the scores."""
    import pyarrow as pa

    opened, model, test = _fitted(store, kind, learner, train_fraction, seed)
    probability = model.predict_proba(test)[:, 1]
    scored = pa.table({"user_id": test.column("user_id"), "post_id": test.column("post_id"), "at": test.column("at"),
                       "kind": pa.array([kind] * test.num_rows, pa.string()), "probability": probability})
    scored = scored.append_column("key", pa.array([f"{u}|{p}|{kind}" for u, p in zip(
        scored.column("user_id").to_pylist(), scored.column("post_id").to_pylist())], pa.string()))
    written = opened.write(PREDICTIONS_TABLE, scored, mode="upsert", key="key")
    best = scored.sort_by([("probability", "descending")]).drop_columns(["key"]).slice(0, top).to_pylist()
    if as_json:
        print(json.dumps({"written": written, "top": best}, default=str))
        return
    console.print(f"{written:,} {kind} probabilities written to {PREDICTIONS_TABLE}")
    print_rows(best, f"Most likely to {kind}", False)
