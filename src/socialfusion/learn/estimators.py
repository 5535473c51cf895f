"""Estimators over ModalityFeatures: a multimodal classifier (fusion network or classic learner) and a multi-task model.

Both follow scikit-learn's contract: the constructor only stores its arguments, ``fit`` learns, learned state ends in
``_``, ``get_params``/``set_params`` work (so ``sklearn.base.clone`` does). They read ``ModalityFeatures`` (one
matrix and one presence mask per modality) instead of one matrix.

Items with no modality present (``~features.usable()``) are left out of training, with a logged warning, and are
predicted as the training prior: the class frequencies of the training labels (``prior_``), or the mean of a
regression target. Nothing else can be said about an item the model sees nothing of.

``MultimodalClassifier`` calibrates its probabilities by default (``calibration="temperature"``): one temperature
``temperature_`` divides the network's logits (or a classic learner's log-probabilities) before the softmax, fitted on
items the model did not learn from: the held-out validation items of a network, out-of-fold predictions of a classic
learner. The predicted class never changes; the probabilities stop claiming more than the held-out items bear out.

``save(path)`` writes one file (a zip archive) that loads without running code: ``estimator.json`` (the parameters,
classes, prior, history and model layout) and either ``model.pt`` (a PyTorch state dict, read back with
``weights_only=True``) or the fitted scikit-learn pipeline of a classic learner: ``learner.json`` plus one ``.npy``
member per array for ``"logistic"`` (each step's class, parameters and fitted attributes), ``learner.skops`` (skops'
format, read with an explicit list of trusted types) for the others. ``load`` gives back an estimator whose
predictions equal the saved one's exactly (same device).

Examples:
    >>> import numpy as np
    >>> from socialfusion.learn import ModalityFeatures
    >>> rng = np.random.default_rng(0)
    >>> text = rng.normal(size=(120, 4)).astype(np.float32)
    >>> features = ModalityFeatures({"text": text}, {"text": np.ones(120, bool)})
    >>> labels = np.where(text[:, 0] > 0, "positive", "negative")
    >>> classifier = MultimodalClassifier(learner="logistic").fit(features, labels)
    >>> classifier.classes_.tolist(), classifier.score(features, labels) > 0.9
    (['negative', 'positive'], True)
    >>> network = MultimodalClassifier(fusion="mean", fused_dim=8, hidden=8, epochs=20, learning_rate=1e-2)
    >>> network = network.fit(features, labels)
    >>> network.predict_proba(features).shape, network.score(features, labels) > 0.9
    ((120, 2), True)
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.learn._arrays import oversample, r_squared, stratified_split, usable_rows
from socialfusion.learn._data import ModalityFeatures

__all__ = ["CALIBRATIONS", "LEARNERS", "MultimodalClassifier", "MultimodalMultiTask"]

logger = logging.getLogger(__name__)

LEARNERS = ("neural", "logistic", "svm", "random_forest", "gradient_boosting")
"""``"neural"``: a fusion network; the others: scikit-learn on ``features.concatenated()`` (early fusion)."""

CALIBRATIONS = ("temperature",)
"""Calibration methods of ``MultimodalClassifier`` (``calibration=None`` keeps the raw probabilities)."""

_FORMAT = "socialfusion.learn.estimator/1"
_CALIBRATION_FOLDS = 5  # out-of-fold predictions of a classic learner, for its temperature
_LEARNER_FORMAT = "socialfusion.learn.sklearn-pipeline/1"
_EXPLICIT_LEARNERS = ("logistic",)  # pipelines of StandardScaler and LogisticRegression: JSON + arrays, no skops
_LABEL = "label"  # the task name of a MultimodalClassifier's one head


# -- shared machinery ---------------------------------------------------------------------------------------------


class _Estimator:
    """Parameters (get/set/repr), fitted checks, the neural fit and the one-file save/load of the estimators."""

    @classmethod
    def _param_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> _Estimator:
        """Change constructor arguments (scikit-learn's ``set_params``); returns ``self``."""
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise ConfigurationError(f"{type(self).__name__} has no parameters {sorted(unknown)}; "
                                     f"valid: {self._param_names()}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {name: parameter.default for name, parameter in inspect.signature(type(self)).parameters.items()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same(value, defaults.get(name, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "input_dims_"):
            raise ConfigurationError(f"this {type(self).__name__} is not fitted yet: call fit(features, ...) first")

    def _check_features(self, features: Any, role: str = "features") -> ModalityFeatures:
        if not isinstance(features, ModalityFeatures):
            raise ConfigurationError(f"{role} must be ModalityFeatures (see socialfusion.learn.ModalityFeatures); "
                                     f"got {type(features).__name__}")
        expected = getattr(self, "input_dims_", None)
        if expected is not None and features.dims != expected:
            hint = (f"; keep only the trained ones with features.select({sorted(expected)})"
                    if set(expected) < set(features.dims) else "")
            raise ConfigurationError(f"{type(self).__name__} was fitted on modalities {expected}; the {role} have "
                                     f"{features.dims}{hint}")
        return features

    # -- the neural path ------------------------------------------------------------------------------------------

    def _trainer_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "epochs", "batch_size", "learning_rate", "weight_decay", "modality_dropout", "early_stopping",
            "validation_fraction", "patience", "aux_weight", "resample", "standardize", "device", "random_state")}

    def _fit_neural(self, features: ModalityFeatures, targets: Mapping[str, np.ndarray], tasks: Mapping[str, str],
                    heads: Mapping[str, int], validation: tuple[ModalityFeatures, Mapping[str, np.ndarray]] | None,
                    **trainer_options: Any) -> None:
        from socialfusion.learn.model import MultimodalModel, resolve_device, seeded
        from socialfusion.learn.trainer import Trainer

        if not isinstance(self.fusion, str):
            raise ConfigurationError(f"fusion must be a registered fusion name (so the estimator can be saved); got "
                                     f"{type(self.fusion).__name__}: use MultimodalModel with Trainer for instances")
        self.model_config_ = {
            "input_dims": features.dims, "heads": dict(heads), "fusion": self.fusion,
            "fusion_options": dict(self.fusion_options or {}), "fused_dim": self.fused_dim, "hidden": self.hidden,
            "dropout": self.dropout, "input_norm": self.input_norm, "input_dropout": self.input_dropout,
        }
        device = resolve_device(self.device)
        with seeded(self.random_state, device):
            model = MultimodalModel(**self.model_config_)
        trainer = Trainer(**{**self._trainer_options(), **trainer_options})
        self.history_ = trainer.fit(model, features, targets, tasks=tasks, validation=validation)
        self.model_ = model

    def _neural_outputs(self, features: ModalityFeatures) -> tuple[Any, np.ndarray]:
        """The model's ``ModelOutput`` on the usable items (CPU tensors) and the ``(n,)`` usable mask."""
        from socialfusion.learn.model import run_model

        usable = features.usable()
        rows = features.subset(usable) if not usable.all() else features
        output = run_model(self.model_, rows.vectors, rows.present, batch_size=max(int(self.batch_size), 256))
        return output, usable

    # -- one file -------------------------------------------------------------------------------------------------

    def _fitted_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the fitted estimator to one file (see the module docstring for what is inside).

        Raises:
            ConfigurationError: not fitted, or parameters that cannot be written as JSON (e.g. objects in
                ``learner_options``).
        """
        from socialfusion._model_files import ModelWriter, write_archive

        self._check_fitted()
        state = {"format": _FORMAT, "class": type(self).__name__, "params": self.get_params(),
                 "fitted": self._fitted_state()}
        try:
            text = json.dumps(_to_json(state), indent=1)
        except TypeError as error:
            raise ConfigurationError(f"cannot save {type(self).__name__}: a parameter is not JSON-writable "
                                     f"({error}); use plain numbers, strings, lists and dicts") from error
        members, documents, arrays = {"estimator.json": text.encode()}, {}, {}
        if getattr(self, "model_", None) is not None:
            torch = attempt_import("torch", "text")
            buffer = io.BytesIO()
            torch.save({name: value.cpu() for name, value in self.model_.state_dict().items()}, buffer)
            members["model.pt"] = buffer.getvalue()
        if getattr(self, "learner_", None) is not None:
            from socialfusion.learn._sklearn_files import encode_sklearn, skops_bytes

            if self.learner in _EXPLICIT_LEARNERS:
                writer = ModelWriter([encode_sklearn])
                documents["learner.json"] = {"format": _LEARNER_FORMAT,
                                             "learner": writer.encode(self.learner_, "learner")}
                arrays = writer.arrays
            else:
                members["learner.skops"] = skops_bytes(self.learner_)
        return write_archive(path, documents=documents, arrays=arrays, members=members)

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None):
        """Read an estimator ``save`` wrote; nothing in the file is run or unpickled.

        Args:
            path: the file.
            device: where a neural model runs (``"cpu"``, ``"cuda"``; None: the saved ``device`` parameter, or
                CUDA when available).

        Raises:
            DataError: not a file written by ``save``, written by another estimator class, or damaged (an old file
                with a pickled classic learner included: fit and save it again).
        """
        from socialfusion._model_files import Archive

        with Archive(path, "estimator", error="{path} is not an estimator file written by save(): {reason}") as archive:
            state = _from_json(archive.document("estimator.json"))
            if not isinstance(state, dict) or state.get("format") != _FORMAT:
                raise archive.invalid(f"estimator.json is not a {_FORMAT} document")
            if state.get("class") != cls.__name__:
                raise DataError(f"{path} holds a {state.get('class')!r}; load it with {state.get('class')}.load")
            try:
                estimator = cls(**state["params"])
                if device is not None:
                    estimator.device = device
                estimator._restore_state(state["fitted"])
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise archive.invalid(f"estimator.json is malformed ({type(error).__name__}: {error})") from error
            if getattr(estimator, "model_config_", None) is not None:
                estimator.model_ = _saved_network(estimator, archive)
            elif isinstance(estimator, MultimodalClassifier) and estimator.learner != "neural":
                estimator.learner_ = _saved_learner(estimator.learner, archive)
            else:
                raise archive.invalid("it holds neither a network nor a classic learner")
        return estimator


def _saved_network(estimator: _Estimator, archive: Any) -> Any:
    """The ``MultimodalModel`` of ``model.pt``, read with ``weights_only=True``, on the estimator's device."""
    from socialfusion.learn.model import MultimodalModel, resolve_device, seeded

    torch = attempt_import("torch", "text")
    weights = archive.member("model.pt")
    try:
        with seeded(0):  # the initial weights are replaced at once; leave the caller's random state alone
            model = MultimodalModel(**estimator.model_config_)
        model.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
    except Exception as error:  # torch raises many kinds for a bad state dict; each means "not this model"
        raise archive.invalid(f"model.pt does not fit the saved model layout ({type(error).__name__}: {error})"
                              ) from error
    return model.to(resolve_device(estimator.device)).eval()


def _saved_learner(learner: str, archive: Any) -> Any:
    """The fitted scikit-learn pipeline of a classic learner: explicit JSON + arrays, or skops (trusted types only)."""
    from socialfusion._model_files import ModelReader
    from socialfusion.learn._sklearn_files import decode_sklearn, skops_model

    if learner in _EXPLICIT_LEARNERS and "learner.json" in archive:
        document = archive.document("learner.json")
        if not isinstance(document, dict) or document.get("format") != _LEARNER_FORMAT:
            raise archive.invalid(f"learner.json is not a {_LEARNER_FORMAT} document")
        pipeline = ModelReader(archive, {"sklearn": decode_sklearn}).read(document["learner"])
    elif learner not in _EXPLICIT_LEARNERS and "learner.skops" in archive:
        pipeline = skops_model(archive.member("learner.skops"), f"the learner of {archive.path}")
    else:
        raise archive.invalid(f"it has no {learner!r} learner in a safe format (files written before pickles were "
                              "dropped hold learner.pkl, which is not read: fit and save the model again)")
    if type(pipeline).__name__ != "Pipeline" or not hasattr(pipeline, "predict_proba"):
        raise archive.invalid(f"its learner is a {type(pipeline).__name__}, not a fitted scikit-learn pipeline")
    return pipeline


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _to_json(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays become Python values, mappings with non-string keys become pairs."""
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            return {key: _to_json(item) for key, item in value.items()}
        return {"__pairs__": [[_to_json(key), _to_json(item)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return _to_json(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__pairs__"}:
            return {_from_json(key): _from_json(item) for key, item in value["__pairs__"]}
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _labels(values: Any, n: int, what: str) -> list[Any]:
    """Labels as a list of Python values, checked against ``n`` items."""
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if len(values) != n:
        raise DataError(f"{len(values)} {what} for {n} items")
    return [value.item() if isinstance(value, np.generic) else value for value in values]


def _encode(labels: list[Any], classes: np.ndarray, what: str) -> np.ndarray:
    """Class indices of ``labels`` (missing ones -> -1); an unknown label raises."""
    index = {label: position for position, label in enumerate(classes.tolist())}
    try:
        return np.array([-1 if _is_missing(label) else index[label] for label in labels], np.int64)
    except KeyError as error:
        raise DataError(f"{what} holds label {error.args[0]!r}, not among the training classes "
                        f"{classes.tolist()}") from error


def _classes(labels: list[Any], what: str) -> np.ndarray:
    known = [label for label in labels if not _is_missing(label)]
    try:
        classes = np.unique(np.asarray(known))
    except TypeError as error:
        raise DataError(f"{what} mixes label types that cannot be sorted: {error}") from error
    if len(classes) < 2:
        raise DataError(f"{what} needs at least two classes; got {classes.tolist()}")
    return classes


def _class_weight_vector(setting: Any, classes: np.ndarray, what: str) -> Any:
    """None, ``"balanced"``, or a per-class weight list in ``classes`` order from a label -> weight mapping."""
    if setting is None or setting == "balanced":
        return setting
    if isinstance(setting, str) or not isinstance(setting, Mapping):
        raise ConfigurationError(f"{what} must be None, 'balanced' or a mapping label -> weight; got {setting!r}")
    unknown = set(setting) - set(classes.tolist())
    if unknown:
        raise ConfigurationError(f"{what} names labels {sorted(map(str, unknown))} that are not among the classes "
                                 f"{classes.tolist()}")
    return [float(setting.get(label, 1.0)) for label in classes.tolist()]


def _prior(indices: np.ndarray, n_classes: int) -> np.ndarray:
    known = indices[indices >= 0]
    return np.bincount(known, minlength=n_classes) / max(len(known), 1)


def _softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    torch = attempt_import("torch", "text")
    return torch.softmax(logits.double() / temperature, dim=1).numpy()


# -- the classifier -----------------------------------------------------------------------------------------------


class MultimodalClassifier(_Estimator):
    """Classify items from several modalities, by a fusion network or a classic learner on concatenated features.

    Args:
        fusion: a registered fusion name (``socialfusion.fusion.available_fusions()``), for ``learner="neural"``.
        fusion_options: options of the fusion.
        fused_dim: size of the fused vector.
        hidden: hidden units of the classification head (0: linear head).
        dropout: dropout in the head.
        input_norm: layer-normalise each modality's features.
        input_dropout: dropout on each modality's features.
        standardize: standardise each modality's features with training statistics (neural learner).
        epochs: the most training epochs.
        batch_size: items per step.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        modality_dropout: chance of hiding each present modality of a training item (one always stays).
        class_weight: None, ``"balanced"`` or a mapping label -> weight (labels not named weigh 1).
        resample: None, or ``"oversample"``: repeat minority-class training items at random until balanced.
        early_stopping: stop when the validation loss stops improving and keep the best epoch (neural learner).
        validation_fraction: share of training items held out (stratified) when ``fit`` gets no validation set.
        patience: epochs without improvement before stopping.
        aux_weight: weight of the fusion's auxiliary loss (autoencoder, VAE, multiview fusions).
        learner: one of ``LEARNERS``; the classic ones use scikit-learn on ``features.concatenated()`` (the
            vectors and one presence flag per modality), with a StandardScaler for ``"logistic"`` and ``"svm"``.
            ``"svm"`` is a LinearSVC calibrated by CalibratedClassifierCV for probabilities.
        learner_options: keyword arguments of the scikit-learn estimator (e.g. ``{"C": 0.1}``), classic learners.
        calibration: ``"temperature"`` (the default): calibrate the probabilities by temperature scaling on items
            the model did not learn from: a network's validation items (``validation``, else the
            ``validation_fraction`` share held out of the training items, also when ``early_stopping`` is off), a
            classic learner's out-of-fold predictions (5-fold cross-validation on the training items: five more
            fits). None: the raw probabilities. Either way the predicted classes are the same.
        device: ``"cpu"``, ``"cuda"``, or None for CUDA when available (neural learner).
        random_state: seed of everything random: the same seed gives the same predictions (on CPU).

    Attributes:
        classes_: ``(k,)`` the sorted labels.
        prior_: ``(k,)`` class frequencies of the training labels: the prediction for items with no modality.
        input_dims_: modality -> feature size seen in ``fit``.
        n_features_in_: the sum of the feature sizes.
        model_: the trained ``MultimodalModel`` (neural learner), else None.
        learner_: the fitted scikit-learn pipeline (classic learners), else None.
        history_: the ``TrainingHistory`` (neural learner), else None.
        temperature_: the calibration temperature that divides the logits (log-probabilities of a classic learner)
            before the softmax; 1.0 without calibration, or when the training items are too few to hold any out.
    """

    def __init__(self, fusion: str = "gated-attention", fusion_options: Mapping[str, Any] | None = None,
                 fused_dim: int = 128, hidden: int = 64, dropout: float = 0.1, input_norm: bool = False,
                 input_dropout: float = 0.0, standardize: bool = True, epochs: int = 50, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-2, modality_dropout: float = 0.2,
                 class_weight: None | str | Mapping[Any, float] = None, resample: str | None = None,
                 early_stopping: bool = True, validation_fraction: float = 0.1, patience: int = 5,
                 aux_weight: float = 1.0, learner: str = "neural", learner_options: Mapping[str, Any] | None = None,
                 calibration: str | None = "temperature", device: str | None = None, random_state: int | None = 0):
        self.fusion = fusion
        self.fusion_options = fusion_options
        self.fused_dim = fused_dim
        self.hidden = hidden
        self.dropout = dropout
        self.input_norm = input_norm
        self.input_dropout = input_dropout
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.modality_dropout = modality_dropout
        self.class_weight = class_weight
        self.resample = resample
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.aux_weight = aux_weight
        self.learner = learner
        self.learner_options = learner_options
        self.calibration = calibration
        self.device = device
        self.random_state = random_state

    def fit(self, features: ModalityFeatures, y: Sequence[Any],
            validation: tuple[ModalityFeatures, Sequence[Any]] | None = None) -> MultimodalClassifier:
        """Learn from ``n`` items and their labels.

        Args:
            features: the items.
            y: ``n`` labels (strings, ints, ...; at least two distinct ones, none missing).
            validation: ``(features, labels)`` for early stopping, and calibration, instead of a held-out share of
                the training items (neural learner; ignored by the classic learners).

        Returns:
            ``self``.

        Raises:
            ConfigurationError: an unknown learner, calibration or bad option.
            DataError: labels of the wrong length, missing labels, a single class, or no usable item.
        """
        if self.learner not in LEARNERS:
            raise ConfigurationError(f"unknown learner {self.learner!r}; expected one of {LEARNERS}")
        if self.calibration is not None and self.calibration not in CALIBRATIONS:
            raise ConfigurationError(f"unknown calibration {self.calibration!r}; expected None or one of "
                                     f"{CALIBRATIONS}")
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("_"):
                delattr(self, name)
        features = self._check_features(features)
        labels = _labels(y, len(features), "labels")
        missing = [index for index, label in enumerate(labels) if _is_missing(label)]
        if missing:
            raise DataError(f"labels are missing (None or NaN) for {len(missing)} items, e.g. item {missing[0]}; drop "
                            "those items, or use MultimodalMultiTask, which masks missing targets")
        classes = _classes(labels, "y")
        indices = _encode(labels, classes, "y")
        class_weight = _class_weight_vector(self.class_weight, classes, "class_weight")
        self.model_ = self.learner_ = self.history_ = None
        self.temperature_ = 1.0
        if self.learner == "neural":
            checked = None
            training, training_indices = features, indices
            if validation is not None:
                validation_features = self._check_features(validation[0], "validation features")
                validation_labels = _labels(validation[1], len(validation_features), "validation labels")
                if validation_features.dims != features.dims:
                    raise ConfigurationError(f"validation modalities {validation_features.dims} differ from the "
                                             f"training ones {features.dims}")
                checked = (validation_features, {_LABEL: _encode(validation_labels, classes, "validation labels")})
            elif self.calibration is not None:
                training, training_indices, checked = self._held_out_split(features, indices)
            self._fit_neural(training, {_LABEL: training_indices}, {_LABEL: "classification"},
                             {_LABEL: len(classes)}, checked,
                             class_weight=None if class_weight is None else {_LABEL: class_weight})
            if self.calibration is not None:
                self.temperature_ = self._neural_temperature(checked)
        else:
            self.learner_, self.temperature_ = self._fit_classic(features, indices, len(classes), class_weight)
        self.classes_ = classes
        self.prior_ = _prior(indices, len(classes))
        self.input_dims_ = features.dims
        self.n_features_in_ = int(sum(features.dims.values()))
        return self

    def _held_out_split(self, features: ModalityFeatures, indices: np.ndarray
                        ) -> tuple[ModalityFeatures, np.ndarray, tuple[ModalityFeatures, dict[str, np.ndarray]] | None]:
        """Training items, their labels, and the held-out ``(features, {label: indices})`` of a network.

        The held-out items are the ``validation_fraction`` share, stratified by label, that the ``Trainer`` would
        hold out for early stopping (the same items: same seed, same draw), so the network and its early stopping
        are as without calibration; here they are kept to fit the temperature on too. No split (None) when the
        fraction is 0 or too few items allow one.
        """
        rows = np.flatnonzero(features.usable())
        if not len(rows) or not 0 < self.validation_fraction < 1:
            return features, indices, None
        _, held_out = stratified_split(indices[rows], self.validation_fraction,
                                       np.random.default_rng(self.random_state))
        if not len(held_out):
            return features, indices, None
        held_out = rows[held_out]
        kept = np.setdiff1d(np.arange(len(features)), held_out)  # unusable items stay: the Trainer reports them
        return features.subset(kept), indices[kept], (features.subset(held_out), {_LABEL: indices[held_out]})

    def _neural_temperature(self, held_out: tuple[ModalityFeatures, dict[str, np.ndarray]] | None) -> float:
        """The temperature of the network's logits on its held-out items (1.0 when there are none)."""
        from socialfusion.learn.calibration import fit_temperature

        if held_out is None:
            logger.warning("no held-out items to calibrate on (validation_fraction=%s): probabilities are not "
                           "calibrated; pass validation=(features, labels) or a validation_fraction above 0",
                           self.validation_fraction)
            return 1.0
        held_features, targets = held_out
        usable = held_features.usable()
        if not usable.any():
            return 1.0
        output, _ = self._neural_outputs(held_features.subset(usable))
        temperature = fit_temperature(output.outputs[_LABEL].double().numpy(), targets[_LABEL][usable])
        logger.info("calibration: temperature %.3f fitted on %d held-out items", temperature, int(usable.sum()))
        return temperature

    def _fit_classic(self, features: ModalityFeatures, indices: np.ndarray, n_classes: int,
                     class_weight: Any) -> tuple[Any, float]:
        """The fitted scikit-learn pipeline, and its temperature (out of fold; 1.0 without calibration)."""
        rows, _ = usable_rows(features, "training")
        labels = indices[rows]
        if self.resample not in (None, "oversample"):
            raise ConfigurationError(f"resample must be None or 'oversample'; got {self.resample!r}")
        fitted_rows = rows[oversample(labels, np.random.default_rng(self.random_state))] \
            if self.resample == "oversample" else rows
        if len(np.unique(indices[fitted_rows])) < 2:
            raise DataError("the usable training items hold a single class; a classifier needs two")
        weights = class_weight
        if isinstance(class_weight, list):
            weights = {index: weight for index, weight in enumerate(class_weight)}
        matrix = features.concatenated()
        learner = self._classic_pipeline(weights, indices[fitted_rows])
        learner.fit(matrix[fitted_rows], indices[fitted_rows])
        temperature = 1.0
        if self.calibration is not None:
            temperature = self._classic_temperature(matrix[rows], labels, n_classes, weights)
        return learner, temperature

    def _classic_pipeline(self, weights: Any, labels: np.ndarray) -> Any:
        counts = np.bincount(labels)
        return _classic_learner(self.learner, dict(self.learner_options or {}), weights, self.random_state,
                                int(counts[counts > 0].min()))

    def _classic_temperature(self, matrix: np.ndarray, labels: np.ndarray, n_classes: int, weights: Any) -> float:
        """The temperature of a classic learner, fitted on its out-of-fold probabilities over the training items.

        Each fold's learner is built and resampled as the final one is; 1.0 (with a warning) when a class has too
        few items for two folds (or, for ``"svm"``, for the calibration inside each fold).
        """
        from sklearn.model_selection import StratifiedKFold

        from socialfusion.learn.calibration import fit_temperature, log_probabilities

        counts = np.bincount(labels, minlength=n_classes)
        folds = min(_CALIBRATION_FOLDS, int(counts[counts > 0].min()))
        too_few = "a class has too few training items for out-of-fold predictions; probabilities are not calibrated"
        if folds < 2:
            logger.warning("calibration: %s (class counts %s)", too_few, counts.tolist())
            return 1.0
        rng = np.random.default_rng(self.random_state)
        held_out = np.zeros((len(labels), n_classes))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for training, testing in splitter.split(matrix, labels):
            if self.resample == "oversample":
                training = training[oversample(labels[training], rng)]
            fold_counts = np.bincount(labels[training])
            if self.learner == "svm" and fold_counts[fold_counts > 0].min() < 2:
                logger.warning("calibration: %s (learner='svm')", too_few)
                return 1.0
            learner = self._classic_pipeline(weights, labels[training]).fit(matrix[training], labels[training])
            held_out[np.ix_(testing, learner.classes_)] = learner.predict_proba(matrix[testing])
        temperature = fit_temperature(log_probabilities(held_out), labels)
        logger.info("calibration: temperature %.3f fitted on %d out-of-fold predictions", temperature, len(labels))
        return temperature

    def predict_proba(self, features: ModalityFeatures) -> np.ndarray:
        """``(n, k)`` class probabilities, columns in ``classes_`` order; items with no modality get ``prior_``."""
        self._check_fitted()
        features = self._check_features(features)
        probabilities = np.tile(self.prior_, (len(features), 1))
        if self.model_ is not None:
            output, usable = self._neural_outputs(features)
            probabilities[usable] = _softmax(output.outputs[_LABEL], self.temperature_)
        else:
            usable = features.usable()
            if usable.any():
                columns = np.asarray(self.learner_.classes_, np.int64)
                scores = np.zeros((int(usable.sum()), len(self.classes_)))
                scores[:, columns] = self.learner_.predict_proba(features.concatenated()[usable])
                if self.temperature_ != 1.0:
                    from socialfusion.learn.calibration import log_probabilities, softmax_probabilities

                    scores = softmax_probabilities(log_probabilities(scores), self.temperature_)
                probabilities[usable] = scores
        return probabilities

    def predict(self, features: ModalityFeatures) -> np.ndarray:
        """``(n,)`` the most probable label of each item (from ``classes_``)."""
        probabilities = self.predict_proba(features)
        return self.classes_[np.argmax(probabilities, axis=1)]

    def score(self, features: ModalityFeatures, y: Sequence[Any]) -> float:
        """Accuracy of ``predict(features)`` against ``y``."""
        labels = _labels(y, len(features), "labels")
        return float(np.mean([predicted == label for predicted, label in zip(self.predict(features).tolist(),
                                                                               labels)]))

    def modality_weights(self, features: ModalityFeatures) -> np.ndarray | None:
        """``(n, modalities)`` the fusion's weights per item (columns in sorted modality order), summing to 1 over
        each item's present modalities; NaN rows for items with no modality; None when the fusion has no weights
        or the learner is not neural."""
        self._check_fitted()
        features = self._check_features(features)
        if self.model_ is None:
            return None
        output, usable = self._neural_outputs(features)
        if output.weights is None:
            return None
        weights = np.full((len(features), len(features.modalities)), np.nan)
        weights[usable] = np.stack([output.weights[name].double().numpy() for name in features.modalities], axis=1)
        return weights

    def _fitted_state(self) -> dict[str, Any]:
        return {"classes": self.classes_, "prior": self.prior_, "input_dims": self.input_dims_,
                "model_config": getattr(self, "model_config_", None),
                "history": None if self.history_ is None else self.history_.to_dict(),
                "temperature": self.temperature_}

    def _restore_state(self, state: Mapping[str, Any]) -> None:
        self.classes_ = np.asarray(state["classes"])
        self.prior_ = np.asarray(state["prior"], np.float64)
        self.temperature_ = float(state.get("temperature", 1.0))  # files saved before calibration: uncalibrated
        if not np.isfinite(self.temperature_) or self.temperature_ <= 0:
            raise ValueError(f"the temperature must be a positive number; got {self.temperature_}")
        self.input_dims_ = dict(state["input_dims"])
        self.n_features_in_ = int(sum(self.input_dims_.values()))
        self.model_ = self.learner_ = self.history_ = None
        if state.get("model_config") is not None:
            self.model_config_ = state["model_config"]
        if state.get("history") is not None:
            from socialfusion.learn.trainer import TrainingHistory

            self.history_ = TrainingHistory.from_dict(state["history"])


def _classic_learner(name: str, options: dict[str, Any], class_weight: Any, random_state: int | None,
                     smallest_class: int) -> Any:
    """The scikit-learn pipeline of a classic learner."""
    attempt_import("sklearn", "text")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        settings = {"max_iter": 2000, "class_weight": class_weight, "random_state": random_state, **options}
        return make_pipeline(StandardScaler(), LogisticRegression(**settings))
    if name == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        if smallest_class < 2:
            raise DataError("learner='svm' calibrates its probabilities by cross-validation and needs at least 2 "
                            "training items of every class")
        settings = {"class_weight": class_weight, "random_state": random_state, "max_iter": 5000, **options}
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(LinearSVC(**settings), cv=min(5, smallest_class)))
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        settings = {"n_estimators": 200, "class_weight": class_weight, "random_state": random_state, **options}
        return make_pipeline(RandomForestClassifier(**settings))
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = {"class_weight": class_weight, "random_state": random_state, **options}
    return make_pipeline(HistGradientBoostingClassifier(**settings))


# -- several tasks at once ----------------------------------------------------------------------------------------


class MultimodalMultiTask(_Estimator):
    """Learn several label sets at once, classification and regression, with one fusion network and one head each.

    The loss is ``MultiTaskLoss``: fixed task weights, or weights learned by homoscedastic uncertainty
    (``task_weights="learned"``), plus the fusion's auxiliary loss. A target may be missing (None or NaN) for some
    items in some tasks: those items are masked out of that task's loss only. Regression targets are standardised
    with their training mean and standard deviation for training, and predicted in their own units.

    Args:
        tasks: task -> ``"classification"`` or ``"regression"``, e.g. ``{"sentiment": "classification",
            "engagement": "regression"}``. Decision-level (late) fusion serves one task only.
        task_weights: None (every task weighs 1), a mapping task -> weight, or ``"learned"``.
        class_weight: None, ``"balanced"`` (every classification task) or task -> None, ``"balanced"`` or a
            mapping label -> weight.
        resample: None, or ``"oversample"`` by the labels of the first classification task.
        (the others): as in ``MultimodalClassifier``.

    Attributes:
        classes_: classification task -> ``(k,)`` sorted labels.
        prior_: task -> class frequencies ``(k,)`` or the mean value (regression) of the training targets: the
            prediction for items with no modality.
        target_scaling_: regression task -> ``(mean, standard deviation)`` of its training targets.
        input_dims_, n_features_in_, model_, history_: as in ``MultimodalClassifier``.
    """

    def __init__(self, tasks: Mapping[str, str], fusion: str = "gated-attention",
                 fusion_options: Mapping[str, Any] | None = None, fused_dim: int = 128, hidden: int = 64,
                 dropout: float = 0.1, input_norm: bool = False, input_dropout: float = 0.0,
                 standardize: bool = True, task_weights: None | str | Mapping[str, float] = None, epochs: int = 50,
                 batch_size: int = 64, learning_rate: float = 1e-3, weight_decay: float = 1e-2,
                 modality_dropout: float = 0.2, class_weight: None | str | Mapping[str, Any] = None,
                 resample: str | None = None, early_stopping: bool = True, validation_fraction: float = 0.1,
                 patience: int = 5, aux_weight: float = 1.0, device: str | None = None,
                 random_state: int | None = 0):
        self.tasks = tasks
        self.fusion = fusion
        self.fusion_options = fusion_options
        self.fused_dim = fused_dim
        self.hidden = hidden
        self.dropout = dropout
        self.input_norm = input_norm
        self.input_dropout = input_dropout
        self.standardize = standardize
        self.task_weights = task_weights
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.modality_dropout = modality_dropout
        self.class_weight = class_weight
        self.resample = resample
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.aux_weight = aux_weight
        self.device = device
        self.random_state = random_state

    def _checked_tasks(self) -> dict[str, str]:
        from socialfusion.learn.multitask import TASK_KINDS

        if not self.tasks:
            raise ConfigurationError("tasks must name at least one task, e.g. {'sentiment': 'classification'}")
        for name, kind in self.tasks.items():
            if kind not in TASK_KINDS:
                raise ConfigurationError(f"task {name!r} has unknown kind {kind!r}; expected one of {TASK_KINDS}")
        return dict(self.tasks)

    def _encode_targets(self, targets: Mapping[str, Any], n: int, role: str) -> dict[str, np.ndarray]:
        missing = set(self.tasks) - set(targets)
        if missing:
            raise DataError(f"no {role} targets for tasks {sorted(missing)}; give every task a sequence (None or NaN "
                            "where unknown)")
        encoded = {}
        for task, kind in self.tasks.items():
            values = _labels(targets[task], n, f"{role} targets of {task!r}")
            if kind == "classification":
                encoded[task] = _encode(values, self.classes_[task], f"{role} targets of {task!r}")
            else:
                numbers = np.array([np.nan if _is_missing(value) else float(value) for value in values], np.float64)
                mean, scale = self.target_scaling_[task]
                encoded[task] = ((numbers - mean) / scale).astype(np.float32)
        return encoded

    def fit(self, features: ModalityFeatures, targets: Mapping[str, Sequence[Any]],
            validation: tuple[ModalityFeatures, Mapping[str, Sequence[Any]]] | None = None) -> MultimodalMultiTask:
        """Learn every task from ``n`` items.

        Args:
            features: the items.
            targets: task -> ``n`` labels or values; None or NaN where unknown.
            validation: ``(features, targets)`` for early stopping instead of a held-out share.

        Returns:
            ``self``.

        Raises:
            ConfigurationError: unknown task kinds, weights for unknown tasks, or bad options.
            DataError: targets of the wrong length, a classification task with fewer than two classes, a
                regression task with no value, or no usable item.
        """
        tasks = self._checked_tasks()
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("_"):
                delattr(self, name)
        features = self._check_features(features)
        missing = set(tasks) - set(targets)
        if missing:
            raise DataError(f"no targets for tasks {sorted(missing)}; give every task a sequence (None or NaN where "
                            "unknown)")
        self.classes_, self.target_scaling_ = {}, {}
        for task, kind in tasks.items():
            values = _labels(targets[task], len(features), f"targets of {task!r}")
            if kind == "classification":
                self.classes_[task] = _classes(values, f"targets of {task!r}")
            else:
                numbers = np.array([np.nan if _is_missing(value) else float(value) for value in values], np.float64)
                known = numbers[~np.isnan(numbers)]
                if not len(known):
                    raise DataError(f"regression task {task!r} has no value (all None or NaN)")
                scale = float(known.std())
                self.target_scaling_[task] = (float(known.mean()), scale if scale > 1e-12 else 1.0)
        encoded = self._encode_targets(targets, len(features), "training")
        heads = {task: len(self.classes_[task]) if kind == "classification" else 1 for task, kind in tasks.items()}
        checked = None
        if validation is not None:
            validation_features = self._check_features(validation[0], "validation features")
            if validation_features.dims != features.dims:
                raise ConfigurationError(f"validation modalities {validation_features.dims} differ from the training "
                                         f"ones {features.dims}")
            checked = (validation_features, self._encode_targets(validation[1], len(validation_features),
                                                                 "validation"))
        learned = self.task_weights == "learned"
        if isinstance(self.task_weights, str) and not learned:
            raise ConfigurationError(f"task_weights must be None, a mapping or 'learned'; got {self.task_weights!r}")
        self._fit_neural(features, encoded, tasks, heads, checked, class_weight=self._class_weights(tasks),
                         task_weights=None if learned else self.task_weights, learn_task_weights=learned)
        self.prior_ = {task: (_prior(encoded[task], heads[task]) if kind == "classification"
                              else self.target_scaling_[task][0]) for task, kind in tasks.items()}
        self.input_dims_ = features.dims
        self.n_features_in_ = int(sum(features.dims.values()))
        return self

    def _class_weights(self, tasks: Mapping[str, str]) -> dict[str, Any] | None:
        if self.class_weight is None:
            return None
        classification = [task for task, kind in tasks.items() if kind == "classification"]
        if isinstance(self.class_weight, str):
            per_task = dict.fromkeys(classification, self.class_weight)
        else:
            per_task = dict(self.class_weight)
            unknown = set(per_task) - set(classification)
            if unknown:
                raise ConfigurationError(f"class_weight names {sorted(unknown)}, which are not classification tasks "
                                         f"({classification})")
        return {task: _class_weight_vector(setting, self.classes_[task], f"class_weight[{task!r}]")
                for task, setting in per_task.items()}

    def _outputs(self, features: ModalityFeatures) -> tuple[dict[str, np.ndarray], np.ndarray]:
        self._check_fitted()
        features = self._check_features(features)
        output, usable = self._neural_outputs(features)
        return {task: value for task, value in output.outputs.items()}, usable

    def predict_proba(self, features: ModalityFeatures) -> dict[str, np.ndarray]:
        """Classification task -> ``(n, k)`` probabilities in ``classes_[task]`` order (``prior_`` for items with no
        modality)."""
        outputs, usable = self._outputs(features)
        probabilities = {}
        for task, kind in self.tasks.items():
            if kind == "classification":
                values = np.tile(self.prior_[task], (len(usable), 1))
                values[usable] = _softmax(outputs[task])
                probabilities[task] = values
        return probabilities

    def predict(self, features: ModalityFeatures) -> dict[str, np.ndarray]:
        """Task -> ``(n,)`` predicted labels (classification) or values in the targets' units (regression)."""
        outputs, usable = self._outputs(features)
        predictions = {}
        for task, kind in self.tasks.items():
            if kind == "classification":
                values = np.tile(self.prior_[task], (len(usable), 1))
                values[usable] = _softmax(outputs[task])
                predictions[task] = self.classes_[task][np.argmax(values, axis=1)]
            else:
                mean, scale = self.target_scaling_[task]
                values = np.full(len(usable), self.prior_[task], np.float64)
                values[usable] = outputs[task].double().numpy()[:, 0] * scale + mean
                predictions[task] = values
        return predictions

    def score(self, features: ModalityFeatures, targets: Mapping[str, Sequence[Any]]) -> dict[str, float]:
        """Task -> accuracy (classification) or R^2 (regression), over the items whose target is known."""
        predictions = self.predict(features)
        scores = {}
        for task, kind in self.tasks.items():
            if task not in targets:
                continue
            values = _labels(targets[task], len(features), f"targets of {task!r}")
            known = [index for index, value in enumerate(values) if not _is_missing(value)]
            if not known:
                continue
            if kind == "classification":
                scores[task] = float(np.mean([predictions[task][index] == values[index] for index in known]))
            else:
                truth = np.array([float(values[index]) for index in known])
                guess = predictions[task][known]
                scores[task] = r_squared(truth, guess)
        return scores

    def _fitted_state(self) -> dict[str, Any]:
        return {"classes": self.classes_, "prior": self.prior_, "target_scaling": self.target_scaling_,
                "input_dims": self.input_dims_, "model_config": self.model_config_, "history": self.history_.to_dict()}

    def _restore_state(self, state: Mapping[str, Any]) -> None:
        from socialfusion.learn.trainer import TrainingHistory

        self.classes_ = {task: np.asarray(values) for task, values in state["classes"].items()}
        self.prior_ = {task: np.asarray(value, np.float64) if isinstance(value, list) else float(value)
                       for task, value in state["prior"].items()}
        self.target_scaling_ = {task: tuple(value) for task, value in state["target_scaling"].items()}
        self.input_dims_ = dict(state["input_dims"])
        self.n_features_in_ = int(sum(self.input_dims_.values()))
        self.model_config_ = state["model_config"]
        self.history_ = TrainingHistory.from_dict(state["history"])
