"""Calibrated class probabilities: temperature scaling fitted on held-out predictions, and calibration scores.

A classifier's probabilities are calibrated when, of the items it gives 0.8, about 80% are right. Models trained to
fit their training items (boosted trees, lightly regularised linear models, networks) are often overconfident.
Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017) divides a model's scores (logits,
or log-probabilities) by one scalar ``T`` before the softmax: ``T > 1`` softens, ``T < 1`` sharpens, and the most
probable class never changes, so accuracy is the same. ``T`` is fitted on predictions for items the model did not
learn from (a held-out split, or out-of-fold predictions), by minimising their negative log-likelihood.

Scores: ``expected_calibration_error`` (the gap between confidence and accuracy, averaged over equal-width confidence
bins), ``negative_log_likelihood`` and ``brier_score``; ``calibration_scores`` gives the three at once.

Only NumPy and SciPy are needed.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> targets = rng.integers(0, 3, 2000)
    >>> logits = rng.normal(size=(2000, 3))
    >>> logits[np.arange(2000), targets] += 1.0
    >>> overconfident = 4 * logits  # the right ranking, four times too sure
    >>> temperature = fit_temperature(overconfident, targets)
    >>> 3.5 < temperature < 4.5  # fitted on 2,000 items: close to the true 4
    True
    >>> before = negative_log_likelihood(softmax_probabilities(overconfident), targets)
    >>> after = negative_log_likelihood(softmax_probabilities(overconfident, temperature), targets)
    >>> bool(after < before)
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from socialfusion.exceptions import DataError

__all__ = [
    "CALIBRATION_BINS",
    "PROBABILITY_FLOOR",
    "TEMPERATURE_RANGE",
    "brier_score",
    "calibration_scores",
    "expected_calibration_error",
    "fit_temperature",
    "log_probabilities",
    "negative_log_likelihood",
    "softmax_probabilities",
]

CALIBRATION_BINS = 15
"""Equal-width confidence bins of ``expected_calibration_error`` by default (Guo et al. use 15)."""

TEMPERATURE_RANGE = (0.05, 20.0)
"""The smallest and largest temperature ``fit_temperature`` returns."""

PROBABILITY_FLOOR = 1e-6
"""Probabilities are floored here before their log is taken (a class a model gives exactly 0 stays finite)."""


def _targets(targets: Any, n: int, k: int) -> np.ndarray:
    codes = np.asarray(targets)
    if codes.shape != (n,) or (n and not np.issubdtype(codes.dtype, np.integer)):
        raise DataError(f"targets must be {n} class indices (integers); got an array of shape {codes.shape} and "
                        f"dtype {codes.dtype}")
    if n and (codes.min() < 0 or codes.max() >= k):
        raise DataError(f"targets must be class indices in [0, {k}); got values from {codes.min()} to {codes.max()}")
    return codes.astype(np.int64)


def _matrix(values: Any, what: str) -> np.ndarray:
    matrix = np.asarray(values, np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise DataError(f"{what} must be an (n, k) matrix with k >= 2 classes; got shape {matrix.shape}")
    return matrix


def log_probabilities(probabilities: Any, floor: float = PROBABILITY_FLOOR) -> np.ndarray:
    """``(n, k)`` log of probabilities floored at ``floor``: scores for ``fit_temperature`` and
    ``softmax_probabilities`` when a model gives probabilities rather than logits."""
    return np.log(np.maximum(_matrix(probabilities, "probabilities"), floor))


def softmax_probabilities(scores: Any, temperature: float = 1.0) -> np.ndarray:
    """``(n, k)`` probabilities ``softmax(scores / temperature)`` of ``(n, k)`` logits or log-probabilities.

    Examples:
        >>> softmax_probabilities([[0.0, np.log(3.0)]]).round(2).tolist()
        [[0.25, 0.75]]
        >>> softmax_probabilities([[0.0, np.log(3.0)]], temperature=1e9).round(2).tolist()
        [[0.5, 0.5]]
    """
    scaled = _matrix(scores, "scores") / float(temperature)
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exponentials = np.exp(scaled)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def fit_temperature(scores: Any, targets: Any) -> float:
    """The temperature that minimises the negative log-likelihood of held-out ``targets`` under ``scores / T``.

    A standard normal prior on ``log T`` is added to the summed negative log-likelihood, so that a handful of
    held-out items (all right, say) cannot push ``T`` to an extreme; with hundreds of items it has no visible
    effect. The result stays within ``TEMPERATURE_RANGE``.

    Args:
        scores: ``(n, k)`` logits or log-probabilities (``log_probabilities``) of items the model did not learn
            from.
        targets: ``(n,)`` their true class indices.

    Returns:
        ``T``, a positive float (1.0 when there is no item).

    Raises:
        DataError: shapes that do not match, or class indices out of range.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    matrix = _matrix(scores, "scores")
    codes = _targets(targets, len(matrix), matrix.shape[1])
    if not len(codes):
        return 1.0
    true_scores = matrix[np.arange(len(codes)), codes]

    def objective(log_temperature: float) -> float:
        inverse = np.exp(-log_temperature)
        summed = float(np.sum(logsumexp(matrix * inverse, axis=1) - true_scores * inverse))
        return summed + 0.5 * log_temperature**2

    low, high = np.log(TEMPERATURE_RANGE)
    # NLL is convex in 1/T, hence unimodal in log T: a bounded scalar search finds the optimum.
    result = minimize_scalar(objective, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def expected_calibration_error(confidence: Any, correct: Any, n_bins: int = CALIBRATION_BINS) -> float:
    """The weighted mean gap between confidence and accuracy over ``n_bins`` equal-width confidence bins.

    ``ECE = sum_b (n_b / n) |accuracy_b - mean confidence_b|``: 0 for perfectly calibrated confidences.

    Args:
        confidence: ``(n,)`` the probability each prediction was given (of a model: its top class's).
        correct: ``(n,)`` bool, whether each prediction was right.
        n_bins: bins over [0, 1]; a confidence on a bin edge falls in the bin below it.

    Raises:
        DataError: lengths differ, no item, confidences outside [0, 1], or ``n_bins`` below 1.

    Examples:
        >>> expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, True, True, False], n_bins=10)
        0.1
    """
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    if confidence.shape != correct.shape or confidence.ndim != 1 or not len(confidence):
        raise DataError(f"need one confidence per prediction, at least one; got {confidence.shape} confidences and "
                        f"{correct.shape} outcomes")
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1; got {n_bins}")
    if np.any((confidence < 0) | (confidence > 1)) or np.isnan(confidence).any():
        raise DataError("confidences must be probabilities in [0, 1]")
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gaps = np.abs(np.bincount(bins, correct.astype(np.float64), n_bins) - np.bincount(bins, confidence, n_bins))
    return float(round(gaps.sum() / len(confidence), 12)) if counts.any() else 0.0


def negative_log_likelihood(probabilities: Any, targets: Any, floor: float = PROBABILITY_FLOOR) -> float:
    """Mean ``-log p(true class)`` (log-loss), with probabilities floored at ``floor``."""
    matrix = _matrix(probabilities, "probabilities")
    codes = _targets(targets, len(matrix), matrix.shape[1])
    if not len(codes):
        raise DataError("negative_log_likelihood needs at least one item")
    return float(-np.mean(np.log(np.maximum(matrix[np.arange(len(codes)), codes], floor))))


def brier_score(probabilities: Any, targets: Any) -> float:
    """Mean over items of ``sum_k (p_k - [k is the true class])^2``: 0 is perfect, 2 the worst."""
    matrix = _matrix(probabilities, "probabilities")
    codes = _targets(targets, len(matrix), matrix.shape[1])
    if not len(codes):
        raise DataError("brier_score needs at least one item")
    truth = np.zeros_like(matrix)
    truth[np.arange(len(codes)), codes] = 1.0
    return float(np.mean(np.sum((matrix - truth) ** 2, axis=1)))


def calibration_scores(probabilities: Any, targets: Any, n_bins: int = CALIBRATION_BINS) -> dict[str, float]:
    """``{"ece", "nll", "brier"}`` of ``(n, k)`` probabilities against ``(n,)`` true class indices.

    The ECE is top-label: the confidence of each item is its largest probability, right when that class is true.

    Examples:
        >>> scores = calibration_scores([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 1, 1], n_bins=10)
        >>> {name: round(value, 3) for name, value in scores.items()}
        {'ece': 0.3, 'nll': 0.415, 'brier': 0.273}
    """
    matrix = _matrix(probabilities, "probabilities")
    codes = _targets(targets, len(matrix), matrix.shape[1])
    correct = np.argmax(matrix, axis=1) == codes
    return {"ece": expected_calibration_error(matrix.max(axis=1), correct, n_bins),
            "nll": negative_log_likelihood(matrix, codes), "brier": brier_score(matrix, codes)}
