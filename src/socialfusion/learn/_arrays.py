"""NumPy helpers of the learners: usable rows, stratified splits, oversampling, balanced class weights, R^2.

NumPy only, so that the classic (scikit-learn) learners use them without PyTorch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from socialfusion.exceptions import DataError

if TYPE_CHECKING:
    from socialfusion.learn._data import ModalityFeatures

__all__ = ["balanced_class_weights", "oversample", "r_squared", "stratified_split", "usable_rows"]

logger = logging.getLogger(__name__)


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (k * count_c)`` per class, as scikit-learn's ``class_weight="balanced"``.

    Args:
        labels: ``(n,)`` class indices; negative ones (missing) are ignored.
        n_classes: the number of classes of the task.

    Returns:
        ``(n_classes,)`` float32; ``k`` is the number of classes present, and absent classes weigh 1.

    Examples:
        >>> balanced_class_weights(np.array([0, 0, 0, 1, -1]), 2).tolist()
        [0.6666666865348816, 2.0]
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def stratified_split(strata: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..n-1`` into training and validation, taking ``fraction`` of each stratum.

    Every stratum keeps at least one item in training; a stratum of one item stays in training.

    Returns:
        ``(training, validation)`` positions, each sorted.
    """
    validation = []
    for value in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == value))
        count = min(int(round(fraction * len(members))), len(members) - 1)
        validation.extend(members[:count].tolist())
    validation = np.array(sorted(validation), np.int64)
    training = np.setdiff1d(np.arange(len(strata)), validation)
    return training, validation


def oversample(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions that repeat minority-class items at random until every class is as frequent as the largest.

    Args:
        labels: ``(n,)`` class indices; negative ones (missing) are kept once.

    Returns:
        Positions into ``labels``: all of them once, plus the extra draws (with replacement), sorted.

    Examples:
        >>> positions = oversample(np.array([0, 0, 0, 1]), np.random.default_rng(0))
        >>> np.bincount(np.array([0, 0, 0, 1])[positions]).tolist()
        [3, 3]
    """
    labels = np.asarray(labels)
    positions = [np.arange(len(labels))]
    classes, counts = np.unique(labels[labels >= 0], return_counts=True)
    for value, count in zip(classes, counts):
        if count < counts.max():
            positions.append(rng.choice(np.flatnonzero(labels == value), counts.max() - count, replace=True))
    return np.sort(np.concatenate(positions))


def usable_rows(features: ModalityFeatures, role: str) -> tuple[np.ndarray, int]:
    """Positions of the items with at least one modality present, and how many were left out (logged).

    Args:
        features: the items.
        role: ``"training"`` or ``"validation"``: in the warning, and training raises when nothing is usable.

    Raises:
        DataError: no training item is usable.
    """
    usable = features.usable()
    skipped = int((~usable).sum())
    if skipped:
        logger.warning("%d of %d %s items have no modality present: left out of %s (they are predicted as the "
                       "training prior)", skipped, len(usable), role, role)
    rows = np.flatnonzero(usable)
    if role == "training" and not len(rows):
        raise DataError("no training item has any modality present; nothing to learn from")
    return rows, skipped


def r_squared(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination ``1 - SSE / SST`` of ``(n,)`` predictions; 0 when the truth is constant.

    Examples:
        >>> r_squared(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        0.5
    """
    spread = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - float(np.sum((truth - predicted) ** 2)) / spread if spread > 0 else 0.0
