"""Operations on recommenders: fit one on the store's interactions and save it, and recommend items to any user
(one the model never saw gets the most popular items)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from socialfusion.app._analyses import RecommendationsParams, RecommendationsResult, Recommender, recommender_path
from socialfusion.app._common import Identifier, Params, Result, cached, clean
from socialfusion.exceptions import ConfigurationError
from socialfusion.store import Store

__all__ = ["FitRecommenderParams", "FitRecommenderResult", "fit_recommender", "recommend_items"]


class FitRecommenderParams(Params):
    """Which recommender, learning from which interactions."""

    model: Recommender = Field("hybrid", description="hybrid: ALS + item kNN + social, weights tuned.")
    kind: str | None = Field(
        None, min_length=1, max_length=32, description="Interaction kind to learn from (like, view, ...); default all."
    )
    combiner: Literal["blend", "stacked"] = Field(
        "blend",
        description="How the hybrid combines its components: blend (rank blend, weights tuned on held-out pairs) or "
        "stacked (a logistic regression over their scores and ranks, learned on held-out pairs). Hybrid only.",
    )


class FitRecommenderResult(Result):
    """Where the fitted model was saved and what it learnt from (``weights``: the blended hybrid's tuned weights;
    ``validation_recall``: the hybrid's Recall@20 on its held-out pairs, cross-validated over five folds of their
    users: the weights or the stacked model chosen on four folds, scored on the fifth)."""

    model: str
    path: str
    users: int
    items: int
    interactions: int
    weights: dict[str, float] | None = None
    validation_recall: float | None = None


def _local_path(store: Store, name: str):
    path = recommender_path(store, name)
    if path is None:
        raise ConfigurationError(f"store {store.uri!r} is not a local folder: a recommender is saved inside one")
    return path


def _unfitted(name: str, combiner: str = "blend"):
    from socialfusion.tasks.recommend import (
        RECOMMENDERS,
        ALSRecommender,
        HybridRecommender,
        ItemKNNRecommender,
        SocialRecommender,
    )

    if name == "hybrid":
        return HybridRecommender(
            {"als": ALSRecommender(), "itemknn": ItemKNNRecommender(), "social": SocialRecommender()},
            combiner=combiner,
        )
    if combiner != "blend":
        raise ConfigurationError(f"combiner={combiner!r} applies to the hybrid recommender only, not to {name}")
    return RECOMMENDERS[name]()


def fit_recommender(store: Store, params: FitRecommenderParams) -> FitRecommenderResult:
    """Fit a recommender on the store's interactions (``socialfusion.tasks.recommend``) and save it inside the
    store's folder (NPZ + JSON, no pickle), where ``recommend_items`` and ``recommendations`` find it.

    Raises:
        ConfigurationError: the store is not a local folder.
        DataError: no interactions to learn from.
    """
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.recommend import save_recommender

    path = _local_path(store, params.model)
    recommender = _unfitted(params.model, params.combiner)
    recommender.fit(Corpus.from_store(store), kind=params.kind)
    saved = save_recommender(recommender, path)
    weights, validation_recall = _tuning(recommender) if params.model == "hybrid" else (None, None)
    return FitRecommenderResult(
        model=params.model,
        path=str(saved),
        users=len(recommender.users_),
        items=len(recommender.items_),
        interactions=int(recommender.seen_.nnz),
        weights=weights,
        validation_recall=validation_recall,
    )


def _tuning(hybrid) -> tuple[dict[str, float] | None, float | None]:
    """A fitted hybrid's blend weights (None when stacked) and cross-validated held-out Recall."""
    return (None if hybrid.stack_ is not None else clean(hybrid.weights_)), hybrid.cross_validated_


def recommend_items(store: Store, user_id: Identifier, params: RecommendationsParams) -> RecommendationsResult:
    """Items for any user from the store's saved recommender (``recommendations`` refuses a user the store does
    not know; here a user the model never saw gets the most popular items, with ``known_user`` False).

    Raises:
        ConfigurationError: the store is not a local folder.
        DataError: the recommender cannot be read (not fitted: the message says how to fit one).
    """
    from socialfusion.tasks.recommend import load_recommender

    path = _local_path(store, params.model)
    if not path.is_file():
        load_recommender(path)  # raises the StoreError that says how to fit one
    model = cached(store, [], ("recommender", str(path), path.stat().st_mtime), lambda: load_recommender(path))
    table = model.recommend([user_id], k=params.k, diversity=params.diversity, freshness=params.freshness_days)
    return RecommendationsResult(
        user_id=user_id,
        model=params.model,
        known_user=user_id in model.user_index_,
        items=clean(table.select(["item", "score", "rank"]).to_pylist()),
    )
