"""Tests for model selection: out-of-fold scores, per-fold figures and balanced decision offsets."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn.selection import balanced_offsets, fold_metric, macro_recall, mean_std, out_of_fold_scores


def test_macro_recall_weighs_every_present_class_the_same():
    codes = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 0, 1, 0, 0, 0])
    assert macro_recall(codes, predicted, 3) == pytest.approx((1 + 0.5 + 0) / 3)
    assert macro_recall(np.array([0, 0, 1]), np.array([0, 0, 1]), 3) == 1.0  # class 2 absent: not counted
    with pytest.raises(DataError, match="as many"):
        macro_recall(codes, predicted[:3], 3)
    with pytest.raises(DataError, match="out of range"):
        macro_recall(codes, predicted + 5, 3)


def test_offsets_undo_a_prior_that_a_model_leans_on():
    rng = np.random.default_rng(1)
    codes = rng.choice(3, size=4000, p=[0.15, 0.55, 0.3])
    evidence = rng.normal(size=(4000, 3)) + 1.2 * np.eye(3)[codes]
    leaning = evidence + np.log([0.15, 0.55, 0.3]) * 2  # a model that over-weights the training shares
    offsets = balanced_offsets(leaning, codes)
    assert offsets[0] == 0.0 and offsets[1] < offsets[2] < offsets[0] + 1e-9 or offsets[1] < 0
    fresh = rng.choice(3, size=4000, p=[0.4, 0.3, 0.3])  # new data: a different class balance
    fresh_scores = rng.normal(size=(4000, 3)) + 1.2 * np.eye(3)[fresh] + np.log([0.15, 0.55, 0.3]) * 2
    assert (
        macro_recall(fresh, (fresh_scores + offsets).argmax(axis=1), 3)
        > macro_recall(fresh, fresh_scores.argmax(axis=1), 3) + 0.05
    )


def test_offsets_stay_zero_when_recall_is_already_balanced():
    codes = np.repeat([0, 1, 2], 50)
    scores = np.eye(3)[codes] * 5.0
    assert balanced_offsets(scores, codes).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(DataError, match="finite"):
        balanced_offsets(np.full((150, 3), np.nan), codes)
    with pytest.raises(DataError, match="at least two classes"):
        balanced_offsets(np.zeros(150), codes)


def test_out_of_fold_scores_never_score_an_item_with_a_model_that_saw_it():
    codes = np.repeat([0, 1], 20)
    seen = []

    def fit_score(training, held_out):
        assert not set(training) & set(held_out)
        seen.append(held_out)
        return np.column_stack([held_out, -held_out]).astype(float)

    scores, fold_of = out_of_fold_scores(fit_score, codes, folds=4, random_state=3)
    assert sorted(np.concatenate(seen).tolist()) == list(range(40))
    assert np.array_equal(scores[:, 0], np.arange(40)) and sorted(set(fold_of.tolist())) == [0, 1, 2, 3]
    again, fold_again = out_of_fold_scores(fit_score, codes, folds=4, random_state=3)
    assert np.array_equal(fold_of, fold_again)
    per_fold = fold_metric(lambda truth, predicted: float(np.mean(truth == predicted)), codes, codes, fold_of)
    assert per_fold == [1.0] * 4
    with pytest.raises(ConfigurationError, match="folds need"):
        out_of_fold_scores(fit_score, np.array([0] * 10 + [1]), folds=2)
    with pytest.raises(DataError, match="returned shape"):
        out_of_fold_scores(lambda training, held_out: np.zeros((1, 2)), codes, folds=2)


def test_mean_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0)
    with pytest.raises(DataError):
        mean_std([])
