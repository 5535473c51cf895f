"""Operations on users: build their profiles, audience segments of the profiles, and engagement prediction (fit on
the earlier days, scored on the later ones)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from socialfusion.app._common import K, Params, Result, clean
from socialfusion.exceptions import DataError, StoreError
from socialfusion.store import Store

__all__ = [
    "ENGAGEMENT_PREDICTIONS_TABLE",
    "AudienceSegmentsParams",
    "AudienceSegmentsResult",
    "BuildProfilesParams",
    "BuildProfilesResult",
    "EngagementDriver",
    "EngagementFitResult",
    "EngagementParams",
    "EngagementPredictResult",
    "EngagementScore",
    "audience_segments",
    "build_user_profiles",
    "fit_engagement",
    "predict_engagement",
]

ENGAGEMENT_PREDICTIONS_TABLE = "engagement_predictions"
"""Where ``predict_engagement`` upserts its scores (key ``user|post|kind``)."""


class BuildProfilesParams(Params):
    """How profiles are built."""

    text_encoder: str = Field(
        "text/minilm-int8",
        min_length=1,
        max_length=128,
        description="Text encoder of the profile embeddings (its featurize cache is used).",
    )
    sentiment: Literal["lexicon", "predictions", "none"] = Field(
        "lexicon", description="Post tone from the lexicons, the stored sentiment predictions, or none."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed of the communities.")


class BuildProfilesResult(Result):
    """How many profiles were written to the ``user_profiles`` table, and how many lack a text embedding."""

    table: str
    written: int
    without_embedding: int


def build_user_profiles(store: Store, params: BuildProfilesParams) -> BuildProfilesResult:
    """Build one profile per user (``socialfusion.tasks.profiles.build_profiles``) and replace the store's
    ``user_profiles`` table with them (with a vector index column).

    Raises:
        ConfigurationError: an unknown text encoder.
    """
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.profiles import PROFILES_TABLE, build_profiles, write_profiles
    from socialfusion.tasks.sentiment import read_predictions

    tone = read_predictions(store) if params.sentiment == "predictions" else params.sentiment
    tone = None if tone == "none" else tone
    profiles = build_profiles(
        Corpus.from_store(store),
        store=store,
        text_encoder=params.text_encoder,
        sentiment=tone,
        random_state=params.seed,
    )
    written = write_profiles(store, profiles)
    return BuildProfilesResult(
        table=PROFILES_TABLE, written=written, without_embedding=sum(profiles.column("embedding_missing").to_pylist())
    )


class AudienceSegmentsParams(Params):
    """How many segments of the stored profiles."""

    segments: int | None = Field(None, ge=2, le=100, description="Number of segments; default: by silhouette.")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class AudienceSegmentsResult(Result):
    """Segment cards (size, interests, languages, peak hours, what works); none when the profiles have no segment
    structure (``rejected_k`` says which partition was refused, ``description`` says why)."""

    silhouette: float | None
    rejected_k: int | None
    description: str
    segments: list[dict[str, Any]]


def audience_segments(store: Store, params: AudienceSegmentsParams) -> AudienceSegmentsResult:
    """Audience segments of the stored profiles (``socialfusion.tasks.profiles.audience_segments``).

    Raises:
        StoreError: no profiles were built (``socialfusion profiles build``).
    """
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.profiles import PROFILES_TABLE
    from socialfusion.tasks.profiles import audience_segments as segment

    if PROFILES_TABLE not in store.tables():
        raise StoreError(
            f"no profiles in {store.uri}; build them with: socialfusion profiles build --store {store.uri}"
        )
    found = segment(store.read(PROFILES_TABLE), params.segments, params.seed, corpus=Corpus.from_store(store))
    cards = [] if found.rejected_k is not None else clean(found.cards.to_pylist())
    return AudienceSegmentsResult(
        silhouette=clean(found.silhouette), rejected_k=found.rejected_k, description=found.describe(), segments=cards
    )


class EngagementParams(Params):
    """What engagement to predict, with which learner, and the time split."""

    kind: str = Field("like", min_length=1, max_length=32, description="like, comment, share or click.")
    learner: Literal["gradient_boosting", "logistic", "random_forest"] = "gradient_boosting"
    train_fraction: float = Field(0.8, gt=0, lt=1, description="Share of the days (earliest first) to train on.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    k: K = Field(10, description="Drivers (fit) or most likely pairs (predict) to return.")
    new_only: bool = Field(
        False, description="Predict: score only the (user, post) pairs that have no stored score of this kind yet."
    )


class EngagementDriver(Result):
    """A feature and how much the held-out AUC drops when it is shuffled."""

    feature: str
    importance: float | None
    importance_std: float | None


class EngagementFitResult(Result):
    """Held-out scores on the later days and the drivers of engagement, strongest first."""

    kind: str
    learner: str
    auc: float | None
    average_precision: float | None
    n: int
    positive_rate: float | None
    drivers: list[EngagementDriver]


class EngagementScore(Result):
    """The probability that a user engages with a post."""

    user_id: str
    post_id: str
    at: dt.datetime | None
    kind: str
    probability: float | None


class EngagementPredictResult(Result):
    """How many scores were upserted, how many pairs already had one (skipped with ``new_only``), and the most
    likely pairs among those scored."""

    table: str
    written: int
    already_scored: int = 0
    top: list[EngagementScore]


def _fitted(store: Store, params: EngagementParams, saved: Path | None = None):
    """A model fitted on the earlier days of the store's examples (or the one saved at ``saved``), and the later
    days' examples."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, time_split

    model = None if saved is None else EngagementModel.load(saved)
    if model is not None and model.kind != params.kind:
        raise DataError(f"{saved} predicts {model.kind!r}, not {params.kind!r}; pass --kind {model.kind}")
    examples = engagement_examples(
        Corpus.from_store(store), kinds=(params.kind,), store=store, random_state=params.seed
    )
    train, test = time_split(examples, train_fraction=params.train_fraction)
    if model is None:
        model = EngagementModel(kind=params.kind, learner=params.learner, random_state=params.seed).fit(train)
    return model, test


def fit_engagement(store: Store, params: EngagementParams, *, save_to: Path | None = None) -> EngagementFitResult:
    """Train on the earlier days and score on the later days (``socialfusion.tasks.engagement.EngagementModel``),
    with the drivers by permutation importance.

    Args:
        store: the store.
        params: the model and the time split.
        save_to: also save the fitted model to this file (``EngagementModel.save``: JSON and skops, no pickle),
            for ``predict_engagement(..., model=...)``.

    Raises:
        ConfigurationError: an unknown kind.
        DataError: too few examples, or one class only.
    """
    model, test = _fitted(store, params)
    if save_to is not None:
        model.save(save_to)
    scores = model.evaluate(test)
    drivers = model.explain(test, n_repeats=3).slice(0, params.k).to_pylist()
    return EngagementFitResult(**clean(scores), kind=params.kind, learner=params.learner, drivers=clean(drivers))


def predict_engagement(
    store: Store, params: EngagementParams, *, engine: str = "local", ray_options: Any = None,
    model: Path | None = None,
) -> EngagementPredictResult:
    """Score the later days' (user, post) pairs with a model trained on the earlier days, and upsert the scores
    into ``engagement_predictions`` (key ``user|post|kind``): all of them, or with ``params.new_only`` those that
    have no stored score yet (a re-run over an unchanged store then writes nothing).

    Args:
        store: the store.
        params: the model, the time split and which pairs to score (``new_only``).
        engine: ``"local"`` (this process) or ``"ray"``: the scores are computed block by block on a pool of Ray
            actors (the model is fitted here, then sent once to each actor); both write the same rows.
        ray_options: the cluster of the Ray engine (``socialfusion.backends.RayOptions``; default: a local runtime).
        model: score with the model saved in this file (``fit_engagement(..., save_to=...)``) instead of fitting
            one; ``params.learner`` is then unused.

    Raises:
        ConfigurationError: an unknown kind or engine, or an unreachable Ray cluster.
        DataError: too few examples, or one class only; a saved model that is not one or predicts another kind.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from socialfusion.backends import check_engine

    check_engine(engine)
    fitted, test = _fitted(store, params, model)
    keys = pc.binary_join_element_wise(test.column("user_id"), test.column("post_id"), params.kind, "|")
    test = test.append_column("key", keys)
    already = 0
    if params.new_only and ENGAGEMENT_PREDICTIONS_TABLE in store.tables():
        stored = store.read(ENGAGEMENT_PREDICTIONS_TABLE, columns=["key"]).column("key")
        fresh = pc.invert(pc.is_in(test.column("key"), value_set=stored))
        already = test.num_rows - pc.sum(fresh).as_py() if test.num_rows else 0
        test = test.filter(fresh)
    if test.num_rows == 0:  # every pair already has its score
        probability = []
    elif engine == "ray":
        from socialfusion.backends.ray_engine import predict_proba_on_ray

        probability = predict_proba_on_ray(fitted, test, ray_options)[:, 1]
    else:
        probability = fitted.predict_proba(test)[:, 1]
    scored = pa.table(
        {
            "user_id": test.column("user_id"),
            "post_id": test.column("post_id"),
            "at": test.column("at"),
            "kind": pa.array([params.kind] * test.num_rows, pa.string()),
            "probability": pa.array(probability, pa.float64()),
            "key": test.column("key"),
        }
    )
    written = store.write(ENGAGEMENT_PREDICTIONS_TABLE, scored, mode="upsert", key="key") if scored.num_rows else 0
    best = scored.sort_by([("probability", "descending")]).drop_columns(["key"]).slice(0, params.k).to_pylist()
    return EngagementPredictResult(
        table=ENGAGEMENT_PREDICTIONS_TABLE, written=written, already_scored=already, top=clean(best)
    )
