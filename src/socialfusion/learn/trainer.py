"""Trainer: fits a MultimodalModel on ModalityFeatures with AdamW, modality dropout and early stopping.

What ``Trainer.fit`` does, in order:

1. drops the items with no modality present (``~features.usable()``), with a logged warning: a fusion needs at
   least one modality per item, and such items carry nothing to learn from (the estimators predict them as the
   training prior);
2. holds out a validation set for early stopping: the one given, or a fraction of the training items, stratified
   by the first classification task's labels (items without that label form their own stratum), chosen with
   ``random_state``;
3. fits each modality's standardisation on the training items (``standardize``);
4. weighs classes (``class_weight``) and oversamples minority classes of the first classification task at random
   (``resample="oversample"``) on the training items;
5. trains with AdamW on shuffled mini-batches, hiding present modalities at random (``modality_dropout``) so the
   model copes with missing ones;
6. after every epoch, measures the validation loss; stops after ``patience`` epochs without an improvement of at
   least ``min_delta`` and restores the weights of the best epoch.

Everything random (initialisation, when the caller builds the model under ``seeded``, the split, oversampling,
shuffling, dropout, modality dropout) follows ``random_state``: two runs on CPU give identical weights. The
caller's global torch random state is left as it was.

Examples:
    >>> import numpy as np
    >>> from socialfusion.learn import ModalityFeatures, MultimodalModel
    >>> rng = np.random.default_rng(0)
    >>> text = rng.normal(size=(80, 4)).astype(np.float32)
    >>> features = ModalityFeatures({"text": text}, {"text": np.ones(80, bool)})
    >>> labels = (text[:, 0] > 0).astype(np.int64)
    >>> model = MultimodalModel({"text": 4}, {"label": 2}, fusion="identity", fused_dim=4)
    >>> history = Trainer(epochs=20, random_state=0).fit(model, features, {"label": labels},
    ...                                                  tasks={"label": "classification"})
    >>> history.epochs[-1].train_loss < history.epochs[0].train_loss
    True
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.fusion import modality_dropout as hide_modalities
from socialfusion.learn._arrays import (
    balanced_class_weights,
    oversample,
    r_squared,
    stratified_split,
    usable_rows,
)
from socialfusion.learn._data import ModalityFeatures
from socialfusion.learn.model import MultimodalModel, resolve_device, run_model, seeded
from socialfusion.learn.multitask import MISSING_CLASS, MultiTaskLoss

torch = attempt_import("torch", "text")

__all__ = ["EpochRecord", "Trainer", "TrainingHistory"]

logger = logging.getLogger(__name__)

ClassWeight = None | str | Sequence[float]
Validation = tuple[ModalityFeatures, Mapping[str, Any]]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training.

    Attributes:
        epoch: 0-based epoch number.
        train_loss: mean training loss over the epoch's items (the optimised total: weighted task losses, the
            uncertainty terms when weights are learned, and the fusion's weighted auxiliary loss).
        validation_loss: the validation task loss (``sum_i lambda_i L_i`` with the fixed weights, 1 each when
            weights are learned; no auxiliary loss), or None without a validation set.
        validation_metric: the mean over tasks of accuracy (classification) and R^2 (regression) on the validation
            set, or None.
        seconds: wall-clock time of the epoch, validation included.
    """

    epoch: int
    train_loss: float
    validation_loss: float | None
    validation_metric: float | None
    seconds: float


@dataclass
class TrainingHistory:
    """What happened during training.

    Attributes:
        epochs: one record per epoch run.
        best_epoch: the epoch whose weights the model holds (lowest validation loss), or None without validation
            (the model then holds the last epoch's weights).
        stopped_early: True when training stopped before ``epochs`` for lack of improvement.
        task_weights: each task's weight at the end (fixed ``lambda_i``, or the learned ``exp(-s_i)``).
        skipped_items: training items dropped because no modality was present.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    task_weights: dict[str, float] = field(default_factory=dict)
    skipped_items: int = 0

    def column(self, name: str) -> np.ndarray:
        """One field of every epoch, e.g. ``history.column("train_loss")``, as a float array (NaN for None)."""
        return np.array([np.nan if getattr(record, name) is None else getattr(record, name) for record in self.epochs],
                        np.float64)

    def to_arrow(self) -> Any:
        """One row per epoch: ``epoch``, ``train_loss``, ``validation_loss``, ``validation_metric``, ``seconds``."""
        import pyarrow as pa

        return pa.Table.from_pylist([dataclasses.asdict(record) for record in self.epochs],
                                    schema=pa.schema([("epoch", pa.int64()), ("train_loss", pa.float64()),
                                                      ("validation_loss", pa.float64()),
                                                      ("validation_metric", pa.float64()), ("seconds", pa.float64())]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (see ``from_dict``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingHistory:
        """The history ``to_dict`` wrote."""
        values = dict(values)
        values["epochs"] = [EpochRecord(**record) for record in values.get("epochs", [])]
        return cls(**values)


class Trainer:
    """Trains a MultimodalModel; options in the constructor, data in ``fit``.

    Args:
        epochs: the most passes over the training items.
        batch_size: items per optimisation step.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        modality_dropout: chance of hiding each present modality of an item during training (one always stays).
        early_stopping: hold out a validation set, stop when its loss stops improving, restore the best epoch.
        validation_fraction: share of the training items held out when no validation set is given.
        patience: epochs without improvement before stopping.
        min_delta: smallest decrease of the validation loss that counts as an improvement.
        task_weights: fixed weight per task (see ``MultiTaskLoss``).
        learn_task_weights: learn the task weights by homoscedastic uncertainty instead.
        aux_weight: weight of the fusion's auxiliary loss.
        class_weight: None, ``"balanced"`` (every classification task), or task -> None, ``"balanced"`` or one
            weight per class index.
        resample: None, or ``"oversample"``: repeat minority-class training items of the first classification
            task at random until the classes are balanced.
        standardize: fit each modality's standardisation on the training items.
        device: ``"cpu"``, ``"cuda"``, or None for CUDA when available.
        random_state: seed of everything random; None for a different run each time.

    Attributes (after ``fit``):
        history_: the ``TrainingHistory``.
        loss_: the ``MultiTaskLoss`` used (with the learned ``log_variances`` when weights are learned).
    """

    def __init__(self, *, epochs: int = 50, batch_size: int = 64, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-2, modality_dropout: float = 0.2, early_stopping: bool = True,
                 validation_fraction: float = 0.1, patience: int = 5, min_delta: float = 1e-4,
                 task_weights: Mapping[str, float] | None = None, learn_task_weights: bool = False,
                 aux_weight: float = 1.0, class_weight: None | str | Mapping[str, ClassWeight] = None,
                 resample: str | None = None, standardize: bool = True, device: str | None = None,
                 random_state: int | None = 0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.modality_dropout = modality_dropout
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.task_weights = task_weights
        self.learn_task_weights = learn_task_weights
        self.aux_weight = aux_weight
        self.class_weight = class_weight
        self.resample = resample
        self.standardize = standardize
        self.device = device
        self.random_state = random_state

    def _check_options(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigurationError(f"modality_dropout must be in [0, 1); got {self.modality_dropout}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigurationError(f"validation_fraction must be in [0, 1); got {self.validation_fraction}")
        if self.resample not in (None, "oversample"):
            raise ConfigurationError(f"resample must be None or 'oversample'; got {self.resample!r}")

    def fit(self, model: MultimodalModel, features: ModalityFeatures, targets: Mapping[str, Any], *,
            tasks: Mapping[str, str], validation: Validation | None = None) -> TrainingHistory:
        """Train ``model`` in place (on ``device``) and return the history.

        Args:
            model: the model, built for ``features.dims`` and the ``tasks``.
            features: the ``n`` training items.
            targets: task -> ``(n,)`` class indices (int, ``MISSING_CLASS`` when missing) or values (float, NaN
                when missing).
            tasks: task -> ``"classification"`` or ``"regression"``, the model's tasks.
            validation: ``(features, targets)`` for early stopping instead of a split of the training items.

        Returns:
            The ``TrainingHistory`` (also ``self.history_``).

        Raises:
            ConfigurationError: bad options, or a model built for other modalities or tasks.
            DataError: targets of the wrong length, or no usable training item.
        """
        self._check_options()
        _check_matches(model, features, tasks, "training")
        targets = _prepared_targets(targets, tasks, len(features), "training", model.heads_sizes)
        device = resolve_device(self.device)
        with seeded(self.random_state, device):
            return self._fit(model.to(device), features, targets, dict(tasks), validation, device)

    def _fit(self, model, features, targets, tasks, validation, device) -> TrainingHistory:
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator()
        generator.manual_seed(int(self.random_state) if self.random_state is not None else int(rng.integers(2**62)))
        rows, skipped = usable_rows(features, "training")
        primary = next((task for task, kind in tasks.items() if kind == "classification"), None)

        if validation is not None:
            validation_features, validation_targets = validation
            _check_matches(model, validation_features, tasks, "validation")
            validation_targets = _prepared_targets(validation_targets, tasks, len(validation_features), "validation",
                                                   model.heads_sizes)
            validation_rows, _ = usable_rows(validation_features, "validation")
            validation_set = (validation_features.subset(validation_rows),
                              {task: values[validation_rows] for task, values in validation_targets.items()})
        elif self.early_stopping and self.validation_fraction > 0:
            strata = targets[primary][rows] if primary else np.zeros(len(rows), np.int64)
            training, held_out = stratified_split(strata, self.validation_fraction, rng)
            validation_set = None
            if len(held_out):
                validation_set = (features.subset(rows[held_out]),
                                  {task: values[rows[held_out]] for task, values in targets.items()})
                rows = rows[training]
        else:
            validation_set = None
        if validation_set is None and self.early_stopping:
            logger.info("no validation set (validation_fraction=%s): training all %d epochs without early stopping",
                        self.validation_fraction, self.epochs)

        if self.standardize:
            model.fit_input_scaling({name: matrix[rows] for name, matrix in features.vectors.items()},
                                    {name: mask[rows] for name, mask in features.present.items()})
        loss = MultiTaskLoss(tasks, task_weights=self.task_weights, learn_weights=self.learn_task_weights,
                             aux_weight=self.aux_weight,
                             class_weights=self._class_weights(model, tasks, targets, rows)).to(device)
        if self.resample == "oversample":
            if primary is None:
                raise ConfigurationError("resample='oversample' needs a classification task")
            rows = rows[oversample(targets[primary][rows], rng)]
        self.loss_ = loss

        vectors = {name: torch.as_tensor(matrix) for name, matrix in features.vectors.items()}
        present = {name: torch.as_tensor(mask) for name, mask in features.present.items()}
        target_tensors = {task: torch.as_tensor(values) for task, values in targets.items()}
        optimizer = torch.optim.AdamW([*model.parameters(), *loss.parameters()], lr=self.learning_rate,
                                      weight_decay=self.weight_decay)
        history = TrainingHistory(skipped_items=skipped)
        best_loss, best_state, stale = np.inf, None, 0
        order = torch.as_tensor(rows)
        for epoch in range(self.epochs):
            started = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            shuffled = order[torch.randperm(len(order), generator=generator)]
            for start in range(0, len(shuffled), self.batch_size):
                batch = shuffled[start : start + self.batch_size]
                mask = hide_modalities({name: value[batch] for name, value in present.items()},
                                       self.modality_dropout, generator)
                output = model({name: value[batch].to(device) for name, value in vectors.items()},
                               {name: value.to(device) for name, value in mask.items()})
                result = loss(output.outputs, {task: value[batch].to(device) for task, value in target_tensors.items()},
                              output.aux_loss)
                if not result.total.requires_grad:  # no target and no auxiliary loss in this batch
                    continue
                optimizer.zero_grad()
                result.total.backward()
                optimizer.step()
                total += float(result.total.detach()) * len(batch)
                count += len(batch)
            validation_loss = validation_metric = None
            if validation_set is not None:
                validation_loss, validation_metric = _evaluate(model, loss, *validation_set, tasks, self.batch_size)
            history.epochs.append(EpochRecord(epoch, total / max(count, 1), validation_loss, validation_metric,
                                              time.perf_counter() - started))
            logger.debug("epoch %d: %s", epoch, history.epochs[-1])
            if validation_loss is None:
                continue
            if validation_loss < best_loss - self.min_delta:
                best_loss, stale, history.best_epoch = validation_loss, 0, epoch
                best_state = (copy.deepcopy(model.state_dict()), copy.deepcopy(loss.state_dict()))
            else:
                stale += 1
                if self.early_stopping and stale >= self.patience:
                    history.stopped_early = epoch + 1 < self.epochs
                    logger.info("early stop after epoch %d; best epoch %d (validation loss %.4f)",
                                epoch, history.best_epoch, best_loss)
                    break
        if best_state is not None and self.early_stopping:
            model.load_state_dict(best_state[0])
            loss.load_state_dict(best_state[1])
        elif not self.early_stopping:
            history.best_epoch = None
        model.eval()
        history.task_weights = loss.task_weights()
        self.history_ = history
        return history

    def _class_weights(self, model, tasks, targets, rows) -> dict[str, Sequence[float]] | None:
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, str):
            per_task = {task: self.class_weight for task, kind in tasks.items() if kind == "classification"}
        else:
            per_task = dict(self.class_weight)
        weights = {}
        for task, setting in per_task.items():
            if task not in tasks:
                raise ConfigurationError(f"class_weight names unknown task {task!r}; the tasks are {list(tasks)}")
            n_classes = model.heads_sizes[task]
            if setting is None:
                continue
            if isinstance(setting, str):
                if setting != "balanced":
                    raise ConfigurationError(f"class_weight must be None, 'balanced' or weights; got {setting!r}")
                weights[task] = balanced_class_weights(targets[task][rows], n_classes).tolist()
            else:
                setting = [float(value) for value in setting]
                if len(setting) != n_classes:
                    raise ConfigurationError(f"class_weight for {task!r} needs {n_classes} weights; got {len(setting)}")
                weights[task] = setting
        return weights


def _check_matches(model: MultimodalModel, features: ModalityFeatures, tasks: Mapping[str, str], role: str) -> None:
    if features.dims != model.input_dims:
        raise ConfigurationError(f"the model was built for modalities {model.input_dims}; the {role} features have "
                                 f"{features.dims}")
    if list(tasks) != model.tasks:
        raise ConfigurationError(f"tasks {list(tasks)} do not match the model's heads {model.tasks}")


def _prepared_targets(targets: Mapping[str, Any], tasks: Mapping[str, str], n: int, role: str,
                      sizes: Mapping[str, int]) -> dict[str, Any]:
    """Each task's targets as int64 class indices or float32 values, checked against ``n`` items and head sizes."""
    missing = set(tasks) - set(targets)
    if missing:
        raise DataError(f"no {role} targets for tasks {sorted(missing)}; pass an array per task (missing values "
                        f"as {MISSING_CLASS} or NaN)")
    prepared = {}
    for task, kind in tasks.items():
        values = np.asarray(targets[task], np.int64 if kind == "classification" else np.float32)
        if len(values) != n:
            raise DataError(f"{len(values)} {role} targets for task {task!r} but {n} items")
        if kind == "classification" and len(values) and values.max() >= sizes[task]:
            raise DataError(f"{role} targets of {task!r} hold class index {values.max()}, but its head has "
                            f"{sizes[task]} classes (indices 0 to {sizes[task] - 1}; {MISSING_CLASS} when missing)")
        prepared[task] = values
    return prepared


def _evaluate(model, loss: MultiTaskLoss, features: ModalityFeatures, targets: Mapping[str, np.ndarray],
              tasks: Mapping[str, str], batch_size: int) -> tuple[float | None, float | None]:
    """Validation loss (fixed task weights, 1 when learned; no auxiliary loss) and the mean task metric."""
    if not len(features):
        return None, None
    outputs = run_model(model, features.vectors, features.present, batch_size=max(batch_size, 256)).outputs
    with torch.no_grad():
        losses = loss.task_losses(outputs, {task: torch.as_tensor(values) for task, values in targets.items()})
    if not losses:
        return None, None
    weights = loss.fixed_weights if loss.log_variances is None else dict.fromkeys(loss.kinds, 1.0)
    total = float(sum(weights[task] * value for task, value in losses.items()))
    scores = []
    for task, kind in tasks.items():
        values, predicted = targets[task], outputs[task].numpy()
        if kind == "classification":
            keep = values >= 0
            if keep.any():
                scores.append(float(np.mean(predicted[keep].argmax(axis=1) == values[keep])))
        else:
            keep = ~np.isnan(values)
            if keep.sum() > 1:
                truth, guess = values[keep], predicted[keep].reshape(len(values[keep]), -1)[:, 0]
                scores.append(r_squared(truth, guess))
    return total, float(np.mean(scores)) if scores else None
