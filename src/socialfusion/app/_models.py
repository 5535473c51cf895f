"""Operations that learn: train the sentiment model, predict the sentiment of a new text, fit topics."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from socialfusion.app._common import (
    Params,
    Progress,
    Result,
    cached,
    check_encoder_names,
    encoding_progress,
    local_folder,
    quiet,
)
from socialfusion.store import Store

if TYPE_CHECKING:
    from socialfusion.backends import RayOptions

__all__ = [
    "CALIBRATION_SPLIT",
    "SENTIMENT_MODEL_FOLDER",
    "AssignTopicsParams",
    "AssignTopicsResult",
    "EvaluateSentimentParams",
    "FitTopicsParams",
    "FitTopicsResult",
    "LabelPostsParams",
    "LabelPostsResult",
    "NewPostTopicsResult",
    "SentimentParams",
    "SentimentResult",
    "SentimentScores",
    "StoredTopicsResult",
    "TopicAssignment",
    "TopicSummary",
    "TrainSentimentParams",
    "TrainSentimentResult",
    "assign_new_posts",
    "assign_topics",
    "evaluate_sentiment",
    "fit_topics",
    "label_posts",
    "predict_sentiment",
    "sentiment_model_path",
    "stored_topics",
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


LanguageCode = Annotated[str, StringConstraints(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")]
"""A language code for the lexicons: ``en``, ``zh``, ``pt-BR``."""


class SentimentParams(Params):
    """A text whose sentiment to predict."""

    text: str = Field(min_length=1, max_length=10_000)
    language: LanguageCode | None = Field(
        None, description="Language of the text for the lexicons (en, zh, ...); default: detected.")


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
    check_encoder_names(list((encoders or {}).values()), joined=True)
    return encoders


_LANGUAGE = Field(None, description="Language of every post for the lexicons (en, zh, ...); default: each post's own.")

CALIBRATION_SPLIT = "train"
"""The split of the labels the lexicon's confidences are calibrated on, when the store has labels in it."""


class TrainSentimentParams(Params):
    """What the store's sentiment model learns from, and how."""

    task: str = Field("sentiment", min_length=1, max_length=64, description="Task name of the labels.")
    split: str | None = Field("train", max_length=64, description="Split of the labels to learn from; null: all.")
    fusion: str = Field(
        "stacked", min_length=1, max_length=64, description="'stacked' (late fusion by stacking) or a fusion name."
    )
    learner: Literal["neural", "logistic", "svm", "random_forest", "gradient_boosting"] | None = Field(
        None, description="With a fusion other than 'stacked': the classifier (default: neural).")
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

    model: str = Field(description="Where the model was saved (the store's own model: relative to its folder).")
    fusion: str = "stacked"
    encoders: dict[str, str] = {}
    task: str | None = None
    split: str | None = None
    classes: dict[str, int]
    modalities: dict[str, int]
    n: int = Field(description="Posts learned from.")
    labelled: int | None = Field(None, description="Labelled posts of the task and split.")
    sampled: bool | int = Field(False, description="The posts learned from were a sample of the labelled ones.")
    dropped: int = Field(0, description="Labelled posts left out (no usable modality).")
    calibration: dict[str, str | float] | None = Field(
        None, description="How the probabilities were calibrated on held-out training posts (method, temperature).")
    training_scores: dict
    predictions_written: int = 0


def train_sentiment(store: Store, params: TrainSentimentParams, *, folder: Path | None = None,
                    progress: Progress = quiet) -> TrainSentimentResult:
    """Train a ``SentimentModel`` on the store's labels (featurizing what the cache lacks), save it, and (by
    default) predict every post into ``sentiment_predictions``.

    Args:
        store: the store.
        params: what to learn from, and how.
        folder: where to save the model, the caller's choice (never a request's); default: the store's own model
            (``SENTIMENT_MODEL_FOLDER`` in its folder), which ``predict_sentiment`` answers with.
        progress: told as each step starts.

    Raises:
        ConfigurationError: no folder and the store is not local, or bad encoders, fusion or learner.
        DataError: no labels to learn from.
    """
    from socialfusion.exceptions import ConfigurationError
    from socialfusion.tasks.sentiment import SentimentModel, write_predictions

    own = folder is None  # the store's own model, named relative to its folder
    if own:
        local = local_folder(store)
        if local is None:
            raise ConfigurationError(f"store {store.uri!r} is not a local folder, where the model would be saved")
        folder = local / SENTIMENT_MODEL_FOLDER
    progress(None, "featurizing and training")
    options = {"learner": params.learner} if params.learner else None
    model = SentimentModel(encoders=params.encoders, fusion=params.fusion, fusion_options=options,
                           random_state=params.seed)
    model.fit(store, task=params.task, split=params.split)
    saved = model.save(folder)
    progress(None, "scoring the training posts")
    scores = model.evaluate(store, task=params.task, split=params.split)
    written = 0
    if params.predict:
        progress(None, "predicting every post")
        written = write_predictions(store, model.predict(store))
    return TrainSentimentResult(
        model=SENTIMENT_MODEL_FOLDER if own else str(saved),
        fusion=params.fusion,
        encoders=model.encoders_,
        **{name: model.training_.get(name) for name in ("task", "split", "classes", "modalities", "n", "labelled",
                                                          "calibration")},
        sampled=model.training_.get("sampled") or False,
        dropped=model.training_.get("dropped") or 0,
        training_scores=scores,
        predictions_written=written,
    )


def _predictor(store: Store, lexicon: bool, folder: Path | None, language: str | None, task: str, calibrate: bool):
    """The saved model (``folder``, or the store's own), or the lexicons, calibrated on the store's ``task``
    labels of ``CALIBRATION_SPLIT`` when it has some (and ``calibrate``)."""
    from socialfusion.exceptions import StoreError
    from socialfusion.tasks.sentiment import LexiconSentiment, SentimentModel

    if lexicon:
        return LexiconSentiment(language=language).fit(store if calibrate else None, task, CALIBRATION_SPLIT,
                                                       missing_ok=True)
    folder = folder if folder is not None else sentiment_model_path(store)
    if folder is None:
        raise StoreError(f"no trained sentiment model for {store.uri!r}; train one (socialfusion sentiment train) "
                         "or use the lexicons")
    return SentimentModel.load(folder)


class LabelPostsParams(Params):
    """Which model labels every post (a trained one, or the lexicons), and whether the labels are stored."""

    lexicon: bool = Field(False, description="The lexicons (VADER for English, snownlp for Chinese) instead of the "
                                             "trained model.")
    language: LanguageCode | None = _LANGUAGE
    task: str = Field("sentiment", min_length=1, max_length=64,
                      description=f"Task of the labels the lexicon's confidences are calibrated on (split "
                                  f"{CALIBRATION_SPLIT}).")
    calibrate: bool = Field(True, description="Calibrate the lexicon's confidences on the store's labels, when "
                                              "it has some.")
    write: bool = Field(True, description="Write the labels to sentiment_predictions (or only return them).")


class LabelPostsResult(Result):
    """How many posts were labelled with each class, and where they were written."""

    written: int
    table: str
    counts: dict[str, int]
    calibrated: bool | None = Field(None, description="The lexicon's confidences were calibrated on labels.")
    calibration_items: int | None = None
    predictions: list[dict] | None = Field(None, description="Every label, when they were not written.")


def label_posts(store: Store, params: LabelPostsParams, *, folder: Path | None = None, engine: str = "local",
                ray_options: RayOptions | None = None, progress: Progress = quiet) -> LabelPostsResult:
    """Predict the sentiment of every post of the store and (by default) write it to ``sentiment_predictions``.

    Args:
        store: the store.
        params: which model, and whether to write.
        folder: a saved model's folder (the caller's choice); default: the store's own (``train_sentiment``).
        engine: ``local`` or ``ray`` for a trained model (the lexicons read each text once, here); the caller's
            choice, as is ``ray_options``.
        ray_options: the Ray cluster.
        progress: told as each step starts, with the lexicon features' progress.

    Raises:
        StoreError: no trained model, and no lexicon asked for.
    """
    import pyarrow.compute as pc

    from socialfusion.featurize import featurize
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, SentimentModel, write_predictions

    if params.lexicon:  # the slow part (snownlp), with progress
        featurize(store, ["text/lexicon"], progress=encoding_progress(["text/lexicon"], progress, share=0.9))
    progress(0.9 if params.lexicon else None, "labelling")
    predictor = _predictor(store, params.lexicon, folder, params.language, params.task, params.calibrate)
    predictions = (predictor.predict(store, engine=engine, ray_options=ray_options)
                   if isinstance(predictor, SentimentModel) else predictor.predict(store))
    written = 0
    if params.write:
        progress(0.95 if params.lexicon else None, "writing the predictions")
        written = write_predictions(store, predictions)
    counts = dict(sorted((row["values"], row["counts"])
                         for row in pc.value_counts(predictions.column("label")).to_pylist()))
    lexicon = {"calibrated": bool(predictor.calibration_), "calibration_items": predictor.calibration_items_} \
        if params.lexicon else {}
    listed = None if params.write else predictions.select(["post_id", "label", "confidence", "score"]).to_pylist()
    return LabelPostsResult(written=written, table=PREDICTIONS_TABLE, counts=counts, predictions=listed, **lexicon)


class EvaluateSentimentParams(Params):
    """Which model to score (a trained one, or the lexicons) against which labels."""

    lexicon: bool = Field(False, description="Score the lexicons instead of the trained model.")
    language: LanguageCode | None = _LANGUAGE
    task: str = Field("sentiment", min_length=1, max_length=64, description="Task name of the labels.")
    split: str | None = Field("test", max_length=64, description="Split of the labels to score on; null: all.")


class SentimentScores(Result):
    """Scores against labels: counts, accuracy, F1, recall, calibration (ece: None without a calibrated
    confidence) and the confusion matrix (rows: true, columns: predicted, in ``labels`` order)."""

    model_config = ConfigDict(extra="allow")

    n: int
    labels: list[str]
    confusion_matrix: list[list[int]]
    accuracy: float | None = None
    weighted_f1: float | None = None
    macro_f1: float | None = None
    macro_recall: float | None = None
    ece: float | None = None


def evaluate_sentiment(store: Store, params: EvaluateSentimentParams, *,
                       folder: Path | None = None) -> SentimentScores:
    """Score a model (``folder``, or the store's own) or the lexicons against the labels of one split; the lexicon
    is calibrated on the ``CALIBRATION_SPLIT`` labels, never when they are the ones scored.

    Raises:
        StoreError: no trained model, and no lexicon asked for.
        DataError: no labels of that task and split.
    """
    calibrate = params.split not in (CALIBRATION_SPLIT, None)
    predictor = _predictor(store, params.lexicon, folder, params.language, params.task, calibrate)
    return SentimentScores(**predictor.evaluate(store, task=params.task, split=params.split))


class FitTopicsParams(Params):
    """The topic model to fit on the store's posts."""

    method: Literal["kmeans", "hdbscan"] = Field(
        "kmeans", description="kmeans (n_topics topics) or hdbscan (finds the number, marks outliers).")
    n_topics: int | None = Field(8, ge=1, le=500, description="Topics (KMeans); an upper bound for HDBSCAN.")
    text_encoder: str = Field("text/multilingual", max_length=64,
                              description="The text encoder (text/multilingual, text/minilm-int8, text/tfidf, ...); "
                                          "new texts can be assigned later only with a query encoder.")
    other_encoders: list[str] = Field(
        [], max_length=8, description="Encoders of other modalities to fuse with the text (image/colour-histogram...).")
    min_topic_size: int = Field(10, ge=2, le=100_000)
    reduce_to: int | None = Field(10, ge=1, le=1024, description="PCA dimensions before clustering; null: none.")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("text_encoder")
    @classmethod
    def _text_encoder(cls, name: str) -> str:
        from socialfusion.encoders import encoder_info

        if encoder_info(name)["modality"] != "text":
            raise ValueError(f"{name!r} is not a text encoder; e.g. text/multilingual")
        return name

    @field_validator("other_encoders")
    @classmethod
    def _known_encoders(cls, names: list[str]) -> list[str]:
        return check_encoder_names(names)

    @field_validator("n_topics")
    @classmethod
    def _kmeans_needs_a_number(cls, n_topics: int | None, info: ValidationInfo) -> int | None:
        if n_topics is None and info.data.get("method") == "kmeans":
            raise ValueError("method 'kmeans' needs the number of topics")
        return n_topics

    def encoders(self) -> dict[str, str]:
        """The ``TopicModel``'s modality -> encoder: the text encoder, then each other one under its modality (or
        its own name when that modality is taken)."""
        from socialfusion.encoders import encoder_info

        chosen = {"text": self.text_encoder}
        for name in self.other_encoders:
            modality = encoder_info(name)["modality"]
            chosen[name if modality in chosen else modality] = name
        return chosen


class TopicSummary(Result):
    """One topic: its size, keywords, label and most representative posts."""

    topic_id: int
    size: int
    keywords: list[str]
    label: str | None
    representative_post_ids: list[str]


class FitTopicsResult(Result):
    """The topics found, and the posts given one."""

    topics: int
    assigned: int
    outliers: int = Field(0, description="Posts in no topic (HDBSCAN's noise).")
    labels: dict[str, str]
    summaries: list[TopicSummary] = []


def _summaries(topics) -> list[TopicSummary]:
    columns = ["topic_id", "size", "keywords", "label", "representative_post_ids"]
    return [TopicSummary(**row) for row in topics.select(columns).to_pylist()]


def fit_topics(store: Store, params: FitTopicsParams, *, progress: Progress = quiet) -> FitTopicsResult:
    """Fit a ``TopicModel`` on the store's posts and write its ``topics`` and ``post_topics`` tables: the encoders'
    features are brought up to date first (the slow part, with progress), then the posts are clustered.

    Raises:
        ConfigurationError: an encoder's extra is missing.
        DataError: too few posts.
    """
    from socialfusion.featurize import distinct_encoders, featurize
    from socialfusion.tasks.topics import TopicModel, topic_names, write_topics

    encoders = params.encoders()
    names = distinct_encoders(encoders.values())
    featurize(store, names, progress=encoding_progress(names, progress, share=0.9))
    progress(0.9, f"clustering ({params.method})")
    model = TopicModel(encoders=encoders, method=params.method, n_topics=params.n_topics,
                       min_topic_size=params.min_topic_size, reduce_to=params.reduce_to,
                       random_state=params.seed).fit(store)  # reads the features just cached
    progress(0.95, "writing the topics")
    assigned = write_topics(store, model)
    return FitTopicsResult(topics=model.topics_.num_rows, assigned=assigned, outliers=int((model.labels_ < 0).sum()),
                           labels=topic_names(model.topics_), summaries=_summaries(model.topics_))


class StoredTopicsResult(Result):
    """The store's topics (``fit_topics``), largest first as fitted, and how many posts have one."""

    posts: int
    outliers: int
    topics: list[TopicSummary]


def stored_topics(store: Store) -> StoredTopicsResult:
    """The topics last fitted on the store.

    Raises:
        StoreError: no topics in the store (the message says how to fit some).
    """
    import pyarrow.compute as pc

    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE, read_topics

    assigned, topics = cached(store, [POST_TOPICS_TABLE, TOPICS_TABLE], "topics", lambda: read_topics(store))
    outliers = int(pc.sum(pc.less(assigned.column("topic_id"), 0)).as_py() or 0)
    return StoredTopicsResult(posts=assigned.num_rows, outliers=outliers, topics=_summaries(topics))


class NewPostTopicsResult(Result):
    """The posts that had no topic, now assigned: how many, and how many went to each topic (-1: outliers)."""

    assigned: int
    per_topic: dict[int, int]


def assign_new_posts(store: Store, *, engine: str = "local", ray_options: RayOptions | None = None
                     ) -> NewPostTopicsResult:
    """Assign the store's posts that have no topic yet to its fitted topics (nearest centre, or an outlier beyond
    the topic's radius) and store that; only the new posts are encoded (every post goes through the feature cache).

    Args:
        store: the store.
        engine: ``local``, or ``ray`` to encode the new posts on a Ray cluster (the caller's choice, as for
            ``featurize_store``).
        ray_options: the Ray cluster.

    Raises:
        StoreError: no fitted topic model in the store.
    """
    import pyarrow.compute as pc

    from socialfusion.featurize import distinct_encoders, featurize
    from socialfusion.tasks.topics import load_topic_model, read_topics, write_topics

    model = load_topic_model(store)
    assigned, _ = read_topics(store)
    posts = store.read("posts", columns=["post_id"]).column("post_id")
    new = pc.invert(pc.is_in(posts, value_set=assigned.column("post_id")))
    if not pc.any(new).as_py():
        return NewPostTopicsResult(assigned=0, per_topic={})
    if engine != "local":  # encode on Ray; the nearest-centre step below then reads the cache
        featurize(store, distinct_encoders(model.encoders_.values()), engine=engine, ray_options=ray_options)
    rows = model.assign(store)
    rows = rows.filter(pc.is_in(rows.column("post_id"), value_set=pc.filter(posts, new)))
    written = write_topics(store, model, rows) if rows.num_rows else 0
    counted = pc.value_counts(rows.column("topic_id")).to_pylist() if written else []
    return NewPostTopicsResult(assigned=written, per_topic={row["values"]: row["counts"] for row in sorted(
        counted, key=lambda row: row["values"])})


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
