"""Transfer from a labelled source dataset: a model trained there, whose predictions become target features.

A text sentiment model trained on tens of thousands of labelled tweets (the SemEval-2017 pool) knows more about how
tweets express sentiment than one trained on the 3,611 texts of MVSA-Single. ``TransferredPredictions`` fits a
classifier on the source and adds its class log-probabilities on the target items as one more modality of the
target's ``ModalityFeatures``; the target model learns how far to trust them (and how to map the source's classes to
its own when they differ). The source model never sees a target label.

The default source model is ``tweet_sentiment_pipeline()``: a ``socialfusion.learn.text_linear.
TfidfTextClassifier`` (TF-IDF of word uni- and bigrams and of character 2-5 grams) with a multinomial logistic
regression and no class weights, over raw texts (nothing to download). Any estimator with ``fit``,
``predict_proba`` and ``classes_`` works, over any input it accepts (for example a ``StackedFusionClassifier`` over
``ModalityFeatures`` of the same encoders as the target).

Examples:
    >>> import numpy as np
    >>> texts = ["love this", "so happy", "great day", "hate this", "so sad", "awful day"] * 5
    >>> labels = ["positive"] * 3 + ["negative"] * 3
    >>> transfer = TransferredPredictions().fit(texts, labels * 5)
    >>> transfer.classes_, transfer.transform(["happy day", "sad day"]).argmax(axis=1).tolist()
    (['negative', 'positive'], [1, 0])
    >>> target = ModalityFeatures({"text": np.zeros((2, 3))}, {"text": np.ones(2, bool)})
    >>> transfer.add_to(target, ["happy day", None]).present["transfer"].tolist()
    [True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn._data import ModalityFeatures

__all__ = ["TransferredPredictions", "tweet_sentiment_pipeline"]

_FLOOR = 1e-6


def tweet_sentiment_pipeline(C: float = 1.0, max_features: int = 200_000) -> Any:
    """The default source model: ``TfidfTextClassifier`` (word 1-2 grams + character 2-5 grams, sublinear TF-IDF)
    with a logistic regression, no class weights and no temperature folds (its probabilities are already those of a
    logistic regression), over raw texts."""
    from socialfusion.learn.text_linear import TfidfTextClassifier

    return TfidfTextClassifier(max_features=max_features, C=C, loss="log", class_weight=None, cv=None)


def _present(inputs: Any) -> np.ndarray:
    if isinstance(inputs, ModalityFeatures):
        return inputs.usable()
    return np.array([isinstance(item, str) and bool(item.strip()) for item in inputs])


class TransferredPredictions:
    """Class log-probabilities of a source-trained model, as a feature modality of target items.

    Args:
        estimator: an unfitted estimator with ``fit(inputs, labels)``, ``predict_proba(inputs)`` and ``classes_``;
            None: ``tweet_sentiment_pipeline()`` over raw texts.

    Attributes (after ``fit``):
        estimator_: the fitted estimator.
        classes_: the source's classes, the order of the added columns.
    """

    def __init__(self, estimator: Any = None):
        self.estimator = estimator

    def fit(self, inputs: Sequence[Any] | ModalityFeatures, labels: Sequence[Any]) -> TransferredPredictions:
        """Train on the source items (texts, or whatever the estimator reads); items without text are skipped.

        Raises:
            DataError: labels do not match the items, or fewer than 2 classes.
        """
        labels = np.asarray(list(labels))  # ints stay ints, strings strings: estimators infer the target type
        if len(labels) != len(inputs):
            raise DataError(f"{len(labels)} labels for {len(inputs)} source items")
        keep = _present(inputs)
        if len(set(labels[keep].tolist())) < 2:
            raise DataError("the source needs at least 2 classes among its usable items")
        self.estimator_ = self.estimator if self.estimator is not None else tweet_sentiment_pipeline()
        if isinstance(inputs, ModalityFeatures):
            self.estimator_.fit(inputs.subset(keep), labels[keep])
        else:
            self.estimator_.fit([item for item, use in zip(inputs, keep) if use], labels[keep])
        self.classes_ = np.asarray(self.estimator_.classes_).tolist()  # plain Python values
        return self

    def transform(self, inputs: Sequence[Any] | ModalityFeatures) -> np.ndarray:
        """``(n, n_source_classes)`` float32 log-probabilities; rows without usable input are zeros.

        Raises:
            ConfigurationError: not fitted.
        """
        if not hasattr(self, "estimator_"):
            raise ConfigurationError("this TransferredPredictions is not fitted yet: call fit(source, labels)")
        keep = _present(inputs)
        output = np.zeros((len(keep), len(self.classes_)), np.float32)
        if keep.any():
            chosen = (
                inputs.subset(keep)
                if isinstance(inputs, ModalityFeatures)
                else [item for item, use in zip(inputs, keep) if use]
            )
            output[keep] = np.log(np.maximum(self.estimator_.predict_proba(chosen), _FLOOR))
        return output

    def add_to(
        self, features: ModalityFeatures, inputs: Sequence[Any] | ModalityFeatures, name: str = "transfer"
    ) -> ModalityFeatures:
        """``features`` plus a modality ``name`` holding ``transform(inputs)`` (the same items, as the source model
        reads them: texts, or ``features`` themselves); items without usable input are absent in it."""
        if name in features.modalities:
            raise ConfigurationError(f"the features already have a modality {name!r}")
        if len(inputs) != len(features):
            raise DataError(f"{len(inputs)} inputs for {len(features)} items")
        return ModalityFeatures(
            {**features.vectors, name: self.transform(inputs)},
            {**features.present, name: _present(inputs)},
            features.ids,
        )
