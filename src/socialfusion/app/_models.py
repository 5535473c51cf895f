"""Operations that learn: train the sentiment model, predict the sentiment of a new text, fit topics."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from socialfusion.app._common import Params, Result, cached, local_folder
from socialfusion.store import Store

__all__ = [
    "SENTIMENT_MODEL_FOLDER",
    "AssignTopicsParams",
    "AssignTopicsResult",
    "FitTopicsParams",
    "FitTopicsResult",
    "SentimentParams",
    "SentimentResult",
    "TrainSentimentParams",
    "TopicAssignment",
    "TrainSentimentResult",
    "assign_topics",
    "fit_topics",
    "predict_sentiment",
    "sentiment_model_path",
    "train_sentiment",
]

SENTIMENT_MODEL_FOLDER = "models/sentiment"
"""Where, inside a local store's folder, ``train_sentiment`` saves the store's sentiment model."""

_MODEL_LOCK = threading.Lock()


def sentiment_model_path(store: Store) -> Path | None:
    """The folder of the store's trained sentiment model, or None when the store has none (or is not local)."""
    folder = local_folder(store)
    path = None if folder is None else folder / SENTIMENT_MODEL_FOLDER
    return path if path is not None and (path / "sentiment_model.json").is_file() else None


@functools.lru_cache(maxsize=4)
def _load_model(path: str, modified: float):
    from socialfusion.tasks.sentiment import SentimentModel

    return SentimentModel.load(path)


class SentimentParams(Params):
    """A text whose sentiment to predict."""

    text: str = Field(min_length=1, max_length=10_000)
    language: str | None = Field(
        None,
        min_length=2,
        max_length=8,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$",
        description="Language of the text for the lexicons (en, zh, ...); default: detected.",
    )


class SentimentResult(Result):
    """The predicted class, how sure the model is, and which model answered."""

    label: str
    confidence: float | None = Field(description="The class probability (a trained model) or the lexicon strength.")
    probabilities: dict[str, float] | None = None
    model: str = Field(description="'lexicon', or the trained model's fusion.")


def predict_sentiment(store: Store, params: SentimentParams) -> SentimentResult:
    """The sentiment of a new text: the store's trained model when it has one (``train_sentiment``) and can read
    the text, else the lexicons (``socialfusion.tasks.sentiment.lexicon_sentiment``).
    """
    from socialfusion.tasks.sentiment import LEXICON_MODEL, lexicon_sentiment

    path = sentiment_model_path(store)
    if path is not None:
        with _MODEL_LOCK:
            model = _load_model(str(path), (path / "sentiment_model.json").stat().st_mtime)
        if model.encoders_ is not None:
            features = model.text_features([params.text], store)
            if features.usable()[0]:
                row = model.predict_features(features).to_pylist()[0]
                probabilities = {name[2:]: float(value) for name, value in row.items() if name.startswith("p_")}
                return SentimentResult(
                    label=row["label"],
                    confidence=float(row["confidence"]),
                    probabilities=probabilities,
                    model=row["model"],
                )
    label = lexicon_sentiment([params.text], language=params.language)[0]
    return SentimentResult(label=str(label), confidence=None, model=LEXICON_MODEL)


def _check_encoder_map(encoders: dict[str, str] | None) -> dict[str, str] | None:
    from socialfusion.encoders import encoder_info

    for name in (encoders or {}).values():
        encoder_info(name)
    return encoders


class TrainSentimentParams(Params):
    """What the store's sentiment model learns from, and how."""

    task: str = Field("sentiment", min_length=1, max_length=64, description="Task name of the labels.")
    split: str | None = Field("train", max_length=64, description="Split of the labels to learn from; null: all.")
    fusion: str = Field(
        "stacked", min_length=1, max_length=64, description="'stacked' (late fusion by stacking) or a fusion name."
    )
    encoders: dict[str, str] | None = Field(
        None, max_length=16, description="Modality -> encoder; default: MiniLM int8, lexicon, images."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    predict: bool = Field(True, description="Then predict every post and store the predictions.")

    @field_validator("encoders")
    @classmethod
    def _known(cls, encoders: dict[str, str] | None) -> dict[str, str] | None:
        return _check_encoder_map(encoders)


class TrainSentimentResult(Result):
    """What the model learned from, where it was saved, and the predictions written."""

    model: str
    classes: dict[str, int]
    modalities: dict[str, int]
    n: int
    training_scores: dict
    predictions_written: int = 0


def train_sentiment(store: Store, params: TrainSentimentParams) -> TrainSentimentResult:
    """Train a ``SentimentModel`` on the store's labels, save it as the store's model, and (by default) predict
    every post into ``sentiment_predictions``.

    Raises:
        ConfigurationError: the store is not a local folder, or bad encoders or fusion.
        DataError: no labels to learn from.
    """
    from socialfusion.exceptions import ConfigurationError
    from socialfusion.tasks.sentiment import SentimentModel, write_predictions

    folder = local_folder(store)
    if folder is None:
        raise ConfigurationError(f"store {store.uri!r} is not a local folder, where the model would be saved")
    model = SentimentModel(encoders=params.encoders, fusion=params.fusion, random_state=params.seed)
    model.fit(store, task=params.task, split=params.split)
    model.save(folder / SENTIMENT_MODEL_FOLDER)
    scores = model.evaluate(store, task=params.task, split=params.split)
    written = write_predictions(store, model.predict(store)) if params.predict else 0
    return TrainSentimentResult(
        model=SENTIMENT_MODEL_FOLDER,
        classes=model.training_["classes"],
        modalities=model.training_["modalities"],
        n=model.training_["n"],
        training_scores=scores,
        predictions_written=written,
    )


class FitTopicsParams(Params):
    """The topic model to fit on the store's posts."""

    method: Literal["kmeans", "hdbscan"] = "kmeans"
    n_topics: int | None = Field(8, ge=1, le=500, description="Topics (KMeans); an upper bound for HDBSCAN.")
    text_encoder: Literal["text/multilingual", "text/minilm-int8", "text/minilm"] = "text/multilingual"
    min_topic_size: int = Field(10, ge=2, le=100_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class FitTopicsResult(Result):
    """The topics found."""

    topics: int
    assigned: int
    labels: dict[str, str]


def fit_topics(store: Store, params: FitTopicsParams) -> FitTopicsResult:
    """Fit a ``TopicModel`` on the store's posts and write its ``topics`` and ``post_topics`` tables.

    Raises:
        ConfigurationError: kmeans without n_topics.
        DataError: too few posts.
    """
    from socialfusion.tasks.topics import TopicModel, topic_names, write_topics

    model = TopicModel(
        encoders={"text": params.text_encoder},
        method=params.method,
        n_topics=params.n_topics,
        min_topic_size=params.min_topic_size,
        random_state=params.seed,
    ).fit(store)
    assigned = write_topics(store, model)
    return FitTopicsResult(topics=model.topics_.num_rows, assigned=assigned, labels=topic_names(model.topics_))


class AssignTopicsParams(Params):
    """New texts to place among the store's fitted topics."""

    texts: list[Annotated[str, Field(min_length=1, max_length=10_000)]] = Field(
        min_length=1, max_length=100, description="The texts (1 to 100)."
    )


class TopicAssignment(Result):
    """The topic of one text: the nearest topic centre, or -1 (an outlier) beyond that topic's radius."""

    index: int = Field(description="Position of the text in the request.")
    topic_id: int
    label: str | None = Field(description="The topic's name; None for an outlier.")
    distance: float = Field(description="Distance to the topic's centre (in the model's space).")


class AssignTopicsResult(Result):
    """Each text's topic, and the encoder that embedded them (the topic model's)."""

    encoder: str
    assignments: list[TopicAssignment]


def assign_topics(store: Store, params: AssignTopicsParams) -> AssignTopicsResult:
    """The topics of new texts under the store's fitted topic model (``socialfusion.tasks.topics.load_topic_model``;
    loaded once per fit, embedded by the model's text encoder built once per process).

    Raises:
        StoreError: the store has no fitted topic model (``fit_topics``).
        ConfigurationError: the model's text encoder learns from the corpus (``text/tfidf``...), so new texts
            cannot be placed in its space; refit with text/multilingual or text/minilm-int8.
    """
    from socialfusion.exceptions import ConfigurationError, StoreError
    from socialfusion.search import QUERY_ENCODERS, embed_texts
    from socialfusion.tasks.topics import TOPICS_TABLE, load_topic_model, topic_names

    if TOPICS_TABLE not in store.tables():
        raise StoreError(f"no topic model in {store.uri!r}; fit one with: socialfusion topics fit --store {store.uri}")
    model = cached(store, [TOPICS_TABLE], "topic-model", lambda: load_topic_model(store))
    encoder = model.encoders_.get("text")
    if encoder not in QUERY_ENCODERS:
        raise ConfigurationError(
            f"the store's topic model embeds text with {encoder!r}, which learns from the corpus: "
            f"new texts cannot be placed among its topics; refit with one of {QUERY_ENCODERS} "
            f"(socialfusion topics fit --store {store.uri} --encoders {QUERY_ENCODERS[0]})"
        )
    table = model.assign(params.texts, embeddings=embed_texts(params.texts, encoder))
    names = topic_names(model.topics_)
    return AssignTopicsResult(
        encoder=encoder,
        assignments=[
            TopicAssignment(
                index=index,
                topic_id=row["topic_id"],
                distance=float(row["distance"]),
                label=names.get(str(row["topic_id"])) if row["topic_id"] >= 0 else None,
            )
            for index, row in enumerate(table.to_pylist())
        ],
    )
