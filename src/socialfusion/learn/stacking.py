"""Late fusion by stacking: one classifier per modality, and a meta-classifier over their out-of-fold predictions.

Each modality's classifier learns only from the items that have that modality, so a modality present on few items
(images on 600 of 3,611 MVSA-Single training tweets) still gets a model of its own, and an item without it is
never forced through a model of zeros. The meta-classifier sees, per modality, the log-probabilities of its
classifier (the log class prior when the modality is absent) and a presence flag, so it learns how far to trust
each modality. Items differ in which modalities they have, and how far to trust the text may well depend on whether
an image is there, so one meta-classifier is fitted per presence pattern seen on at least ``min_pattern_items``
training items. A pattern without a meta-classifier of its own (one no training item had, such as a post without an
image for a model trained on posts that all had one, or a rare one) gets one when enough training items have all its
modalities: it learns from those items with their other modalities hidden (each hidden block set as for an absent
modality), so it weighs what such an item has as a model that never saw the rest would. Without it the item would go
to the meta-classifier over all items (with presence flags), which may never have seen the missing modality absent
and then reads its placeholder as evidence; that one serves the patterns left over. Out-of-fold predictions
(Wolpert 1992) keep the meta-classifiers from learning on predictions the base classifiers made for their own training
items; the same folds choose each base classifier's regularisation by out-of-fold log-loss.

The stacked probabilities are then calibrated (``calibration="temperature"``, the default): the meta stage is fitted
again on each fold's other items and predicts the fold, and one temperature ``temperature_``, fitted on those
out-of-fold predictions, divides the final log-probabilities before the softmax. The predicted class never changes.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> text = rng.normal(size=(200, 3)) + y[:, None]
    >>> image = rng.normal(size=(200, 3)) + y[:, None]
    >>> has_image = np.arange(200) % 2 == 0
    >>> features = ModalityFeatures({"text": text, "image": image}, {"text": np.ones(200, bool), "image": has_image})
    >>> model = StackedFusionClassifier(random_state=0).fit(features, y)
    >>> model.predict_proba(features).shape, model.score(features, y) > 0.8
    ((200, 2), True)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion._threads import one_native_thread
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn._data import ModalityFeatures

__all__ = ["StackedFusionClassifier"]

logger = logging.getLogger(__name__)

_FORMAT = "socialfusion.stacked-fusion/2"
_DOCUMENT = "model.json"
_STATE = ("classes_", "modalities_", "prior_", "chosen_C_", "base_models_", "meta_models_", "temperature_")
_OPTIONAL_STATE = {"temperature_": 1.0}  # absent from files saved before calibration: uncalibrated
_FLOOR = 1e-6


class StackedFusionClassifier:
    """Decision-level fusion: a regularised logistic regression per modality, stacked by a meta logistic regression.

    Args:
        Cs: inverse regularisation strengths tried for each modality's classifier; the one with the lowest
            out-of-fold log-loss is kept.
        cv: folds of the out-of-fold predictions.
        class_weight: None or ``"balanced"``, for every classifier.
        meta_C: inverse regularisation of the meta-classifiers.
        min_pattern_items: fewest training items a presence pattern needs for a meta-classifier of its own (items
            that have it exactly, or, for a pattern of fewer modalities than any seen, items that have all of them).
        max_masked_modalities: the masked meta-classifiers (one per sub-pattern of the seen patterns: up to
            ``2**m - 1`` for m modalities) are fitted when there are at most this many modalities.
        calibration: ``"temperature"``: calibrate the probabilities by temperature scaling on out-of-fold
            predictions of the meta stage (cheap: the meta-classifiers are small); None: the raw probabilities.
        random_state: seed of the folds.

    Attributes:
        classes_: the sorted class labels.
        modalities_: modality names seen in fit.
        base_models_: modality -> fitted scaler + classifier pipeline (None when too few items had it).
        chosen_C_: modality -> the C kept for its classifier.
        meta_models_: presence pattern (a tuple of the present modality names) -> its meta-classifier (seen
            patterns, and the masked sub-patterns above); the key ``None`` holds the one over all items.
        prior_: ``(n_classes,)`` class frequencies of the training labels.
        temperature_: the calibration temperature dividing the log-probabilities (1.0 without calibration).
    """

    def __init__(self, Cs: Sequence[float] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), cv: int = 5,
                 class_weight: str | None = None, meta_C: float = 1.0, min_pattern_items: int = 200,
                 max_masked_modalities: int = 6, calibration: str | None = "temperature", random_state: int = 0):
        self.Cs = Cs
        self.cv = cv
        self.class_weight = class_weight
        self.meta_C = meta_C
        self.min_pattern_items = min_pattern_items
        self.max_masked_modalities = max_masked_modalities
        self.calibration = calibration
        self.random_state = random_state

    def _base_model(self, C: float):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight=self.class_weight, max_iter=3000))

    def _out_of_fold(self, matrix: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """The C with the lowest out-of-fold log-loss, and its ``(n, n_classes)`` out-of-fold log-probabilities."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        codes = np.searchsorted(self.classes_, labels)
        seen = np.searchsorted(self.classes_, np.unique(labels))
        best = None
        for C in self.Cs:
            held_out = cross_val_predict(self._base_model(C), matrix, labels, cv=folds, method="predict_proba")
            log_probabilities = self._log_over_classes(held_out, seen)
            loss = -float(np.mean(log_probabilities[np.arange(len(codes)), codes]))
            if best is None or loss < best[0]:
                best = (loss, C, log_probabilities)
        return best[1], best[2]

    def _log_over_classes(self, probabilities: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` log-probabilities over ``classes_`` from a model's ``(n, len(columns))`` ones.

        Every share is floored at 1e-6 (a class the model never saw, or a probability that underflowed to 0 on
        very separable features), so no log is infinite.
        """
        spread = np.full((len(probabilities), len(self.classes_)), _FLOOR)
        spread[:, columns] = np.maximum(probabilities, _FLOOR)
        return np.log(spread / spread.sum(axis=1, keepdims=True))

    def _log_probabilities(self, model, matrix: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` log-probabilities of a fitted base model over ``classes_``."""
        return self._log_over_classes(model.predict_proba(matrix), np.searchsorted(self.classes_, model.classes_))

    def _meta_features(self, features: ModalityFeatures, log_probabilities: dict[str, np.ndarray]) -> np.ndarray:
        columns = []
        for name in self.modalities_:
            present = features.present[name]
            block = np.tile(np.log(self.prior_), (len(features), 1))
            if name in log_probabilities:
                block[present] = log_probabilities[name][present]
            columns += [block, present[:, None].astype(float)]
        return np.hstack(columns)

    @staticmethod
    def _patterns(features: ModalityFeatures) -> list[tuple[str, ...]]:
        names = features.modalities
        return [tuple(name for name in names if features.present[name][row]) for row in range(len(features))]

    def fit(self, features: ModalityFeatures, y: Sequence[Any]) -> StackedFusionClassifier:
        """Fit the per-modality classifiers and the meta-classifiers.

        Raises:
            ConfigurationError: an unknown ``calibration``.
            DataError: ``y`` has a different length from ``features``, fewer than two classes, or no modality with
                enough labelled items.
        """
        with one_native_thread():  # dozens of small logistic regressions: one thread each is fastest
            return self._fit(features, y)

    def _fit(self, features: ModalityFeatures, y: Sequence[Any]) -> StackedFusionClassifier:
        if self.calibration not in (None, "temperature"):
            raise ConfigurationError(f"unknown calibration {self.calibration!r}; expected None or 'temperature'")
        y = np.asarray(y)
        if len(y) != len(features):
            raise DataError(f"{len(y)} labels for {len(features)} items")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes; got {self.classes_.tolist()}")
        self.modalities_ = features.modalities
        self.prior_ = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        self.base_models_, self.chosen_C_, out_of_fold = {}, {}, {}
        for name in self.modalities_:
            rows = np.flatnonzero(features.present[name])
            counts = np.bincount(codes[rows], minlength=len(self.classes_))
            if (counts[counts > 0] < self.cv).any() or (counts > 0).sum() < 2:
                logger.warning("modality %r: too few items per class (%s) for %d folds; it is not used",
                               name, counts.tolist(), self.cv)
                self.base_models_[name] = None
                continue
            matrix, labels = features.vectors[name][rows], y[rows]
            self.chosen_C_[name], held_out = self._out_of_fold(matrix, labels)
            out_of_fold[name] = np.zeros((len(features), len(self.classes_)))
            out_of_fold[name][rows] = held_out
            self.base_models_[name] = self._base_model(self.chosen_C_[name]).fit(matrix, labels)
        if not out_of_fold:
            raise DataError("no modality had enough labelled items to train on")
        meta_features = self._meta_features(features, out_of_fold)
        patterns = self._patterns(features)
        self.meta_models_ = self._fit_meta(meta_features, codes, patterns)
        self.temperature_ = 1.0
        if self.calibration is not None:
            self.temperature_ = self._meta_temperature(meta_features, codes, patterns)
        return self

    def _fit_meta(self, meta_features: np.ndarray, codes: np.ndarray, patterns: list[tuple[str, ...]]) -> dict:
        """The meta-classifiers over ``meta_features``: one per presence pattern with enough items, one per masked
        sub-pattern (``_masked_patterns``), one over all."""
        from sklearn.linear_model import LogisticRegression

        def fitted(features: np.ndarray, labels: np.ndarray):
            meta = LogisticRegression(C=self.meta_C, class_weight=self.class_weight, max_iter=3000)
            return meta.fit(features, labels)

        meta_models = {None: fitted(meta_features, codes)}
        for pattern in sorted(set(patterns)):
            rows = np.flatnonzero([p == pattern for p in patterns])
            if len(rows) >= self.min_pattern_items and len(np.unique(codes[rows])) >= 2:
                meta_models[pattern] = fitted(meta_features[rows], codes[rows])
        for pattern, rows in self._masked_patterns(patterns, set(meta_models)):
            if len(np.unique(codes[rows])) >= 2:
                meta_models[pattern] = fitted(self._hidden(meta_features[rows], pattern), codes[rows])
        return meta_models

    def _masked_patterns(self, patterns: list[tuple[str, ...]],
                         fitted: set) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """(sub-pattern, rows of the items that have all its modalities) for every non-empty sub-pattern of a seen
        pattern that has no meta-classifier yet and at least ``min_pattern_items`` such items."""
        import itertools

        if len(self.modalities_) > self.max_masked_modalities:
            return []
        present = np.array([[name in pattern for name in self.modalities_] for pattern in patterns],
                           dtype=bool).reshape(len(patterns), len(self.modalities_))
        result = []
        for size in range(1, len(self.modalities_)):
            for kept in itertools.combinations(range(len(self.modalities_)), size):
                pattern = tuple(self.modalities_[index] for index in kept)
                if pattern in fitted:
                    continue
                rows = np.flatnonzero(present[:, list(kept)].all(axis=1))
                if len(rows) >= self.min_pattern_items:
                    result.append((pattern, rows))
        return result

    def _hidden(self, meta_features: np.ndarray, pattern: tuple[str, ...]) -> np.ndarray:
        """``meta_features`` with every modality outside ``pattern`` set as absent (log prior, presence 0)."""
        width = len(self.classes_) + 1  # each modality's block: its class log-probabilities, then its presence flag
        hidden = meta_features.copy()
        for position, name in enumerate(self.modalities_):
            if name not in pattern:
                hidden[:, position * width:(position + 1) * width - 1] = np.log(self.prior_)
                hidden[:, (position + 1) * width - 1] = 0.0
        return hidden

    def _meta_probabilities(self, meta_models: dict, meta_features: np.ndarray,
                            patterns: list[tuple[str, ...]]) -> np.ndarray:
        """``(n, n_classes)`` probabilities of ``meta_models``: by the pattern's classifier, else the one over all."""
        result = np.zeros((len(meta_features), len(self.classes_)))
        routed = [pattern if pattern in meta_models else None for pattern in patterns]
        for pattern in set(routed):
            rows = np.flatnonzero([item_pattern == pattern for item_pattern in routed])
            meta = meta_models[pattern]
            result[np.ix_(rows, meta.classes_)] = meta.predict_proba(meta_features[rows])
        return result

    def _meta_temperature(self, meta_features: np.ndarray, codes: np.ndarray, patterns: list[tuple[str, ...]]) -> float:
        """The temperature fitted on out-of-fold predictions of the meta stage (1.0 when a class is too rare)."""
        from sklearn.model_selection import StratifiedKFold

        from socialfusion.learn.calibration import fit_temperature, log_probabilities

        counts = np.bincount(codes, minlength=len(self.classes_))
        folds = min(self.cv, int(counts[counts > 0].min()))
        if folds < 2:
            logger.warning("calibration: a class has fewer than two training items (%s); probabilities are not "
                           "calibrated", counts.tolist())
            return 1.0
        held_out = np.zeros((len(codes), len(self.classes_)))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for training, testing in splitter.split(meta_features, codes):
            meta_models = self._fit_meta(meta_features[training], codes[training], [patterns[i] for i in training])
            held_out[testing] = self._meta_probabilities(meta_models, meta_features[testing],
                                                         [patterns[i] for i in testing])
        temperature = fit_temperature(log_probabilities(held_out, _FLOOR), codes)
        logger.info("calibration: temperature %.3f fitted on %d out-of-fold predictions", temperature, len(codes))
        return temperature

    def _check_fitted(self) -> None:
        if not hasattr(self, "meta_models_"):
            raise ConfigurationError("this StackedFusionClassifier is not fitted yet; call fit first")

    def _modality_log_probabilities(self, features: ModalityFeatures) -> dict[str, np.ndarray]:
        """Per used modality, ``(n, n_classes)`` log-probabilities of its classifier (NaN rows where it is absent)."""
        self._check_fitted()
        if features.modalities != self.modalities_:
            raise ConfigurationError(f"fitted on modalities {self.modalities_}; got {features.modalities}")
        result = {}
        for name, model in self.base_models_.items():
            if model is None:
                continue
            log_probabilities = np.full((len(features), len(self.classes_)), np.nan)
            rows = np.flatnonzero(features.present[name])
            if len(rows):
                log_probabilities[rows] = self._log_probabilities(model, features.vectors[name][rows])
            result[name] = log_probabilities
        return result

    def modality_probabilities(self, features: ModalityFeatures) -> dict[str, np.ndarray]:
        """Per modality, ``(n, n_classes)`` probabilities of its own classifier (NaN rows where it is absent)."""
        return {name: np.exp(values) for name, values in self._modality_log_probabilities(features).items()}

    def predict_proba(self, features: ModalityFeatures) -> np.ndarray:
        """``(n, n_classes)`` class probabilities (calibrated by ``temperature_``), columns in ``classes_`` order."""
        from socialfusion.learn.calibration import log_probabilities, softmax_probabilities

        meta_features = self._meta_features(features, self._modality_log_probabilities(features))
        result = self._meta_probabilities(self.meta_models_, meta_features, self._patterns(features))
        if self.temperature_ != 1.0:
            result = softmax_probabilities(log_probabilities(result, _FLOOR), self.temperature_)
        return result

    def predict(self, features: ModalityFeatures) -> np.ndarray:
        """The most probable class of each item."""
        self._check_fitted()
        return self.classes_[np.argmax(self.predict_proba(features), axis=1)]

    def score(self, features: ModalityFeatures, y: Sequence[Any]) -> float:
        """Accuracy."""
        return float(np.mean(self.predict(features) == np.asarray(y)))

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one file, which loads without running code.

        The file is a ZIP in NumPy's NPZ layout: ``model.json`` holds the parameters, the classes, the modalities
        and each scaler and logistic regression (class, parameters, fitted attributes), and one ``.npy`` member
        holds each array (coefficients, means, ...).

        Returns:
            ``path``.

        Raises:
            ConfigurationError: not fitted.
        """
        from socialfusion._model_files import ModelWriter, write_archive
        from socialfusion.learn._sklearn_files import encode_sklearn

        self._check_fitted()
        writer = ModelWriter([encode_sklearn])
        params = {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}
        document = {"format": _FORMAT, "params": writer.encode(params, "params"),
                    "state": {name: writer.encode(getattr(self, name), name) for name in _STATE}}
        return write_archive(path, documents={_DOCUMENT: document}, arrays=writer.arrays)

    @classmethod
    def load(cls, path: str | Path) -> StackedFusionClassifier:
        """Read a model written by ``save``; nothing in the file is run or unpickled.

        Raises:
            DataError: not a file written by ``save`` (an old pickled model included: fit and save it again).
        """
        from socialfusion._model_files import Archive, ModelReader
        from socialfusion.learn._sklearn_files import decode_sklearn

        with Archive(path, "StackedFusionClassifier") as archive:
            document = archive.document(_DOCUMENT)
            if not isinstance(document, dict) or document.get("format") != _FORMAT:
                raise archive.invalid(f"{_DOCUMENT} is not a {_FORMAT} document")
            reader = ModelReader(archive, {"sklearn": decode_sklearn})
            params, state = reader.read(document["params"]), reader.read(document["state"])
            if isinstance(state, dict):
                state = {**_OPTIONAL_STATE, **state}
            if not isinstance(params, dict) or not isinstance(state, dict) or set(state) != set(_STATE):
                raise archive.invalid(f"it should hold the parameters and the fitted state {list(_STATE)}")
            temperature = state["temperature_"]
            if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
                raise archive.invalid(f"its temperature_ must be a positive number; got {temperature!r}")
            try:
                model = cls(**params)
            except TypeError as error:
                raise archive.invalid(f"unknown parameters ({error})") from error
            for name in _STATE:
                setattr(model, name, state[name])
        return model
