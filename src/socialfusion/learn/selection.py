"""Model selection that holds on unseen data: out-of-fold scores, per-fold figures, balanced decision offsets.

Settings are chosen on the training data alone, by stratified k-fold cross-validation; a validation split is
looked at once, at the end. ``out_of_fold_scores`` fits a model on all folds but one and scores the one left out, so
every training item gets a score from a model that never saw it; ``fold_metric`` turns those into one figure per
fold, whose mean and standard deviation (``mean_std``) are what a report should quote.

``balanced_offsets`` handles a shift of class shares between training and new data for macro-averaged recall:
macro recall weighs every class the same whatever its share, so a model that leans on the training shares loses
when new data has more of a rare class. One additive offset per class, added to the log-probabilities before the
argmax, is chosen to maximise the macro recall of out-of-fold predictions (coordinate ascent over a grid); the
offsets come from the training data, never from the split they are judged on.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> codes = rng.choice(3, size=3000, p=[0.1, 0.6, 0.3])
    >>> scores = rng.normal(size=(3000, 3)) + 1.5 * np.eye(3)[codes] + np.log([0.1, 0.6, 0.3])
    >>> offsets = balanced_offsets(scores, codes)
    >>> before = macro_recall(codes, scores.argmax(axis=1), 3)
    >>> after = macro_recall(codes, (scores + offsets).argmax(axis=1), 3)
    >>> bool(after > before + 0.05)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError

__all__ = ["balanced_offsets", "fold_metric", "macro_recall", "mean_std", "out_of_fold_scores"]

OFFSET_GRID = np.round(np.arange(-3.0, 3.0001, 0.05), 2)
"""The offsets ``balanced_offsets`` tries for each class (in log-probability units)."""


def _codes(codes: Sequence[int], n_classes: int | None = None) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 1 or codes.dtype.kind not in "iu" or (len(codes) and codes.min() < 0):
        raise DataError("class codes must be a 1-d array of non-negative integers (np.unique(..., return_inverse))")
    if n_classes is not None and len(codes) and codes.max() >= n_classes:
        raise DataError(f"a class code {int(codes.max())} is out of range for {n_classes} classes")
    return codes


def macro_recall(codes: Sequence[int], predicted: Sequence[int], n_classes: int) -> float:
    """Recall averaged over the classes present in ``codes`` (TweetEval's sentiment metric).

    Args:
        codes: ``(n,)`` true class codes.
        predicted: ``(n,)`` predicted class codes.
        n_classes: number of classes.

    Raises:
        DataError: lengths differ, or codes are not class codes.
    """
    codes, predicted = _codes(codes, n_classes), _codes(predicted, n_classes)
    if len(codes) != len(predicted) or not len(codes):
        raise DataError(f"need as many predictions as labels, at least one; got {len(predicted)} and {len(codes)}")
    support = np.bincount(codes, minlength=n_classes)
    hits = np.bincount(codes[codes == predicted], minlength=n_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


def balanced_offsets(
    scores: np.ndarray, codes: Sequence[int], *, rounds: int = 3, grid: np.ndarray = OFFSET_GRID
) -> np.ndarray:
    """Per-class offsets that maximise the macro recall of ``argmax(scores + offsets)`` on these predictions.

    The first class's offset stays 0 (only differences matter); the others are improved one at a time, each over
    ``grid``, for ``rounds`` passes or until no pass improves. Ties keep the offset closest to 0, so that
    predictions that already balance recall are left as they are.

    Args:
        scores: ``(n, n_classes)`` out-of-fold log-probabilities (or any additive scores).
        codes: ``(n,)`` true class codes.
        rounds: passes over the classes.
        grid: the offsets tried.

    Returns:
        ``(n_classes,)`` offsets to add to the scores of new items.

    Raises:
        DataError: shapes that do not match, or non-finite scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise DataError(f"scores must be (n, n_classes) with at least two classes; got shape {scores.shape}")
    codes = _codes(codes, scores.shape[1])
    if len(codes) != len(scores) or not np.isfinite(scores).all():
        raise DataError(f"need finite scores, one row per label; got {len(scores)} rows for {len(codes)} labels")
    n_classes = scores.shape[1]
    order = np.argsort(np.abs(grid), kind="stable")  # try small offsets first so that ties keep them
    offsets = np.zeros(n_classes)
    best = macro_recall(codes, scores.argmax(axis=1), n_classes)
    for _ in range(rounds):
        improved = False
        for column in range(1, n_classes):
            candidates = np.tile(offsets, (len(grid), 1))
            candidates[:, column] = grid
            results = [
                macro_recall(codes, (scores + candidate).argmax(axis=1), n_classes) for candidate in candidates[order]
            ]
            position = int(np.argmax(results))
            if results[position] > best + 1e-12:
                best, offsets, improved = results[position], candidates[order][position], True
        if not improved:
            break
    return offsets


def out_of_fold_scores(
    fit_score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    codes: Sequence[int],
    *,
    folds: int = 5,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores for every item from a model that did not see it: stratified ``folds``-fold cross-validation.

    Args:
        fit_score: ``fit_score(training_rows, held_out_rows)`` fits a model on the training rows and returns the
            ``(len(held_out_rows), n_classes)`` scores of the held-out rows.
        codes: ``(n,)`` class codes, for the stratification.
        folds: k.
        random_state: seed of the shuffled folds.

    Returns:
        ``(n, n_classes)`` scores and ``(n,)`` the fold of each item.

    Raises:
        ConfigurationError: fewer than two folds, or more than the rarest class has items.
        DataError: ``fit_score`` returned the wrong number of rows.
    """
    from sklearn.model_selection import StratifiedKFold

    codes = _codes(codes)
    if folds < 2 or np.bincount(codes)[np.bincount(codes) > 0].min() < folds:
        raise ConfigurationError(
            f"{folds} folds need at least {max(folds, 2)} items of every class; got class "
            f"counts {np.bincount(codes).tolist()}"
        )
    fold_of = np.zeros(len(codes), np.int64)
    result = None
    splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    for fold, (training, held_out) in enumerate(splitter.split(np.zeros(len(codes)), codes)):
        scores = np.asarray(fit_score(training, held_out))
        if scores.ndim != 2 or len(scores) != len(held_out):
            raise DataError(f"fit_score returned shape {scores.shape} for {len(held_out)} held-out rows")
        if result is None:
            result = np.zeros((len(codes), scores.shape[1]), scores.dtype)
        result[held_out], fold_of[held_out] = scores, fold
    return result, fold_of


def fold_metric(
    metric: Callable[[np.ndarray, np.ndarray], float],
    codes: Sequence[int],
    predicted: Sequence[int],
    fold_of: Sequence[int],
) -> list[float]:
    """``metric(codes, predicted)`` of each fold's items, in fold order."""
    codes, predicted, fold_of = np.asarray(codes), np.asarray(predicted), np.asarray(fold_of)
    if not len(codes) == len(predicted) == len(fold_of):
        raise DataError(f"lengths differ: {len(codes)} labels, {len(predicted)} predictions, {len(fold_of)} folds")
    return [float(metric(codes[fold_of == fold], predicted[fold_of == fold])) for fold in np.unique(fold_of)]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        raise DataError("mean_std needs at least one value")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
