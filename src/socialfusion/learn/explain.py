"""Explanations of a MultimodalClassifier's predictions: which modalities, which words and which image tags.

Three kinds of evidence per prediction, all about the predicted class ``c`` of each item:

- gate weights (``Explanation.gate_weights``): the fusion's own weights, for fusions that have them (mean,
  weighted, gated attention, late fusion). For each item they are >= 0 and sum to 1 over its present modalities;
  absent modalities weigh 0. They say how the fusion mixed the modalities, not how much each moved the prediction.
- leave-one-modality-out deltas (``Explanation.deltas``), for every learner: ``p(c | all present modalities) -
  p(c | the same without modality m)``, for each present modality ``m``, where "without" means marked absent. A
  positive delta means the modality supports the prediction. Deltas do not sum to anything in particular (the model
  is not additive), and an absent modality has no delta (NaN). Hiding an item's only modality leaves it with none,
  whose prediction is the training prior, so that delta is ``p(c) - prior[c]``.
- words (``word_contributions``): occlusion of the text: the item's text is re-encoded once per word with that
  word removed; a word's contribution is the drop in ``p(c)`` when it is removed, from the re-encoded full text.
  Image tags (``socialfusion.encoders.image.top_tags``) are passed in precomputed and reported as they are.

Examples:
    >>> import numpy as np
    >>> from socialfusion.learn import ModalityFeatures, MultimodalClassifier
    >>> rng = np.random.default_rng(0)
    >>> image, text = rng.normal(size=(200, 3)).astype(np.float32), rng.normal(size=(200, 3)).astype(np.float32)
    >>> features = ModalityFeatures({"image": image, "text": text}, {"image": np.ones(200, bool),
    ...                                                              "text": np.ones(200, bool)})
    >>> labels = (image[:, 0] > 0).astype(int)  # only the image matters
    >>> classifier = MultimodalClassifier(learner="logistic").fit(features, labels)
    >>> explanation = explain(classifier, features)
    >>> image_delta, text_delta = np.nanmean(explanation.deltas, axis=0)
    >>> bool(image_delta > text_delta)
    True
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from socialfusion.encoders._text_models import _CJK_CHARACTER, _jieba
from socialfusion.exceptions import ConfigurationError
from socialfusion.learn._data import ModalityFeatures

__all__ = ["Explanation", "explain", "modality_deltas", "word_contributions"]

_STRIP = string.punctuation + "“”‘’…«»¡¿，。！？、；：（）《》【】「」"
_TOKENS = re.compile(r"\S+")


@dataclass(frozen=True)
class Explanation:
    """Why each of ``n`` items got its prediction.

    Attributes:
        modalities: the ``m`` modality names, sorted (the column order of the matrices below).
        predicted: ``(n,)`` the predicted labels.
        probability: ``(n,)`` the probability of the predicted label.
        present: ``(n, m)`` bool, the modalities each item has.
        gate_weights: ``(n, m)`` the fusion's weights, >= 0, summing to 1 over each item's present modalities
            (0 on absent ones; NaN rows for items with no modality), or None for fusions and learners without.
        deltas: ``(n, m)`` leave-one-modality-out drops in the predicted label's probability; NaN where the
            modality is absent. They need not sum to anything.
        words: per item, up to ``k`` ``(word, drop in probability)`` pairs, largest drop first; empty for items
            without text; None when no texts were given.
        tags: per item, the image tags given (``(tag, probability)`` pairs), as they are; None when none were.
        ids: the item ids of the features, or None.
    """

    modalities: list[str]
    predicted: np.ndarray
    probability: np.ndarray
    present: np.ndarray
    gate_weights: np.ndarray | None
    deltas: np.ndarray
    words: list[list[tuple[str, float]]] | None = None
    tags: list[list[tuple[str, float]]] | None = None
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.predicted)

    def to_arrow(self) -> Any:
        """One row per item.

        Columns: ``id`` (when known), ``predicted`` (as text), ``probability``; per modality ``<m>_weight`` (null
        when absent or without gate weights) and ``<m>_delta`` (null when absent); ``words`` (list of
        ``{word, delta}``) and ``tags`` (list of ``{tag, probability}``) when given.
        """
        import pyarrow as pa

        columns: dict[str, Any] = {}
        if self.ids is not None:
            columns["id"] = pa.array(self.ids, pa.string())
        columns["predicted"] = pa.array([str(label) for label in self.predicted.tolist()], pa.string())
        columns["probability"] = pa.array(self.probability, pa.float64())
        for column, name in enumerate(self.modalities):
            absent = ~self.present[:, column]
            if self.gate_weights is not None:
                columns[f"{name}_weight"] = pa.array(self.gate_weights[:, column], pa.float64(), mask=absent)
            columns[f"{name}_delta"] = pa.array(self.deltas[:, column], pa.float64(), mask=absent)
        if self.words is not None:
            columns["words"] = pa.array([[{"word": word, "delta": float(delta)} for word, delta in row]
                                         for row in self.words],
                                        pa.list_(pa.struct([("word", pa.string()), ("delta", pa.float64())])))
        if self.tags is not None:
            columns["tags"] = pa.array([[{"tag": str(tag), "probability": float(score)} for tag, score in row]
                                        for row in self.tags],
                                       pa.list_(pa.struct([("tag", pa.string()), ("probability", pa.float64())])))
        return pa.table(columns)


def _predicted(classifier: Any, features: ModalityFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``(n, k)`` and the predicted class index ``(n,)``."""
    probabilities = classifier.predict_proba(features)
    if not isinstance(probabilities, np.ndarray):
        raise ConfigurationError(f"explanations need a single-task classifier whose predict_proba gives an (n, k) "
                                 f"array, such as MultimodalClassifier; got {type(classifier).__name__}")
    return probabilities, np.argmax(probabilities, axis=1)


def modality_deltas(classifier: Any, features: ModalityFeatures) -> np.ndarray:
    """Leave-one-modality-out: ``(n, m)`` drops in the predicted class's probability when each modality is hidden.

    Args:
        classifier: a fitted ``MultimodalClassifier`` (any learner) or anything with ``predict_proba`` over
            ``ModalityFeatures``.
        features: the ``n`` items; columns follow ``features.modalities``.

    Returns:
        ``(n, m)`` float64; NaN where the item lacks the modality. Positive: the modality supports the prediction.
    """
    probabilities, predicted = _predicted(classifier, features)
    rows = np.arange(len(features))
    deltas = np.full((len(features), len(features.modalities)), np.nan)
    for column, name in enumerate(features.modalities):
        present = features.present[name]
        if not present.any():
            continue
        hidden = classifier.predict_proba(features.without(name))
        deltas[present, column] = (probabilities[rows, predicted] - hidden[rows, predicted])[present]
    return deltas


def _word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text``: whitespace-separated tokens, and jieba's words inside a token that
    holds Chinese characters; tokens of punctuation alone are left out."""
    spans = []
    for match in _TOKENS.finditer(text):
        if not _CJK_CHARACTER.search(match.group()):
            pieces = [match.group()]
        else:
            pieces = _jieba().lcut(match.group())  # the pieces concatenate back to the token
        position = match.start()
        for piece in pieces:
            if piece.strip(_STRIP + " "):
                spans.append((position, position + len(piece)))
            position += len(piece)
    return spans


def word_contributions(classifier: Any, texts: Sequence[str | None], text_encoder: Any,
                       features: ModalityFeatures, k: int = 5, *, modality: str = "text",
                       batch_size: int = 32) -> list[list[tuple[str, float]]]:
    """The words whose removal lowers the predicted class's probability most, per item (occlusion).

    Each text is split into words: on whitespace, and by jieba inside runs holding Chinese characters; tokens of
    punctuation alone are skipped. For each word, the text without it (the rest left exactly as it is) is encoded
    with ``text_encoder`` and put in place of the item's ``modality`` vector (the other modalities are kept), and the
    drop in the probability of the class predicted from ``features`` is measured against the re-encoded full text.
    A word repeated in a text is reported once, with its largest drop; surrounding punctuation is stripped from the
    reported word. Removing a text's only word can leave no text: the modality is then absent.

    Args:
        classifier: a fitted ``MultimodalClassifier`` whose ``modality`` features come from ``text_encoder``.
        texts: the ``n`` texts the ``modality`` features were encoded from (None or blank: no words).
        text_encoder: the encoder of those features (``encode(texts, batch_size=...) -> Encoded``).
        features: the ``n`` items, as the classifier saw them.
        k: words per item.
        modality: the name of the text modality in ``features``.
        batch_size: texts per encoder batch.

    Returns:
        Per item, up to ``k`` ``(word, drop)`` pairs, the largest drop first (a negative drop: removing the word
        raised the probability); an empty list for an item without words.

    Raises:
        ConfigurationError: ``modality`` is not in ``features``, the encoder's size differs from the classifier's,
            or ``texts`` and ``features`` differ in length.
    """
    if modality not in features.vectors:
        raise ConfigurationError(f"no {modality!r} modality in the features; they have {features.modalities}")
    if len(texts) != len(features):
        raise ConfigurationError(f"{len(texts)} texts for {len(features)} items")
    if int(text_encoder.dim) != features.dims[modality]:
        raise ConfigurationError(f"the text encoder gives {text_encoder.dim}-d vectors but the {modality!r} "
                                 f"features are {features.dims[modality]}-d: pass the encoder they came from")
    if k < 1:
        raise ConfigurationError(f"k must be at least 1; got {k}")
    _, predicted = _predicted(classifier, features)
    owners, variants, removed = [], [], []
    for index, text in enumerate(texts):
        spans = _word_spans(text) if isinstance(text, str) else []
        if not spans:
            continue
        owners.append(index)
        variants.append(text)
        removed.append(None)
        for start, end in spans:
            owners.append(index)
            variants.append(text[:start] + text[end:])
            removed.append(text[start:end])
    results: list[list[tuple[str, float]]] = [[] for _ in texts]
    if not variants:
        return results
    encoded = text_encoder.encode(variants, batch_size=batch_size)
    owners_array = np.array(owners)
    occluded = features.subset(owners_array)
    vectors, present = dict(occluded.vectors), dict(occluded.present)
    vectors[modality], present[modality] = encoded.vectors, ~np.asarray(encoded.missing, bool)
    probabilities = classifier.predict_proba(ModalityFeatures(vectors, present))
    chosen = probabilities[np.arange(len(owners)), predicted[owners_array]]
    baseline = {}
    scores: dict[int, dict[str, tuple[str, float]]] = {}
    for row, (owner, word) in enumerate(zip(owners, removed)):
        if word is None:
            baseline[owner] = chosen[row]
            continue
        shown = word.strip(_STRIP) or word
        drop = float(baseline[owner] - chosen[row])
        best = scores.setdefault(owner, {})
        if shown.lower() not in best or drop > best[shown.lower()][1]:
            best[shown.lower()] = (shown, drop)
    for owner, best in scores.items():
        results[owner] = sorted(best.values(), key=lambda pair: -pair[1])[:k]
    return results


def explain(classifier: Any, features: ModalityFeatures, *, texts: Sequence[str | None] | None = None,
            text_encoder: Any = None, tags: Sequence[Sequence[tuple[str, float]]] | None = None, k: int = 5,
            text_modality: str = "text") -> Explanation:
    """Explain each prediction of ``classifier`` on ``features``: gate weights, modality deltas, words and tags.

    Args:
        classifier: a fitted ``MultimodalClassifier`` (any learner; gate weights need a neural one whose fusion
            has weights).
        features: the ``n`` items.
        texts: the texts behind the text features, for word contributions (with ``text_encoder``).
        text_encoder: the encoder of the text features.
        tags: per item, image tags from ``socialfusion.encoders.image.top_tags`` (or any ``(tag, score)`` list),
            included as they are.
        k: words per item.
        text_modality: the name of the text modality.

    Returns:
        An ``Explanation`` (see its attributes for what sums to what).

    Raises:
        ConfigurationError: ``texts`` without ``text_encoder``, or ``tags`` of the wrong length.
    """
    if (texts is None) != (text_encoder is None):
        raise ConfigurationError("word contributions need both texts and the text_encoder that encoded them")
    if tags is not None and len(tags) != len(features):
        raise ConfigurationError(f"{len(tags)} tag lists for {len(features)} items")
    probabilities, predicted = _predicted(classifier, features)
    weights = classifier.modality_weights(features) if hasattr(classifier, "modality_weights") else None
    words = None
    if texts is not None:
        words = word_contributions(classifier, texts, text_encoder, features, k, modality=text_modality)
    return Explanation(
        modalities=features.modalities,
        predicted=np.asarray(classifier.classes_)[predicted],
        probability=probabilities[np.arange(len(features)), predicted],
        present=np.stack([features.present[name] for name in features.modalities], axis=1),
        gate_weights=weights,
        deltas=modality_deltas(classifier, features),
        words=words,
        tags=None if tags is None else [[(str(tag), float(score)) for tag, score in row] for row in tags],
        ids=features.ids,
    )
