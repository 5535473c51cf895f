"""Temperature scaling and calibration scores: by eye on tiny inputs, and on planted over- and underconfidence."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import DataError
from socialfusion.learn.calibration import (
    TEMPERATURE_RANGE,
    brier_score,
    calibration_scores,
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
    negative_log_likelihood,
    softmax_probabilities,
)


def calibrated_logits(n: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is exactly calibrated: ``z ~ N(e_y, I)`` gives ``P(y | z) = softmax(z)``."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), targets] += 1.0
    return logits, targets


def test_temperature_scaling_repairs_overconfident_logits():
    logits, targets = calibrated_logits(3000)
    overconfident = 3.0 * logits  # the same ranking, three times too sure

    temperature = fit_temperature(overconfident, targets)
    before = softmax_probabilities(overconfident)
    after = softmax_probabilities(overconfident, temperature)

    assert temperature == pytest.approx(3.0, rel=0.1)
    assert negative_log_likelihood(after, targets) < negative_log_likelihood(before, targets) - 0.2
    assert expected_calibration_error(after.max(axis=1), after.argmax(axis=1) == targets) < 0.05  # sampling noise
    assert expected_calibration_error(before.max(axis=1), before.argmax(axis=1) == targets) > 0.1
    np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))  # the same predicted classes


def test_underconfident_logits_are_sharpened_and_calibrated_ones_left_alone():
    logits, targets = calibrated_logits(3000, seed=1)

    assert fit_temperature(logits / 2.0, targets) == pytest.approx(0.5, rel=0.1)
    assert fit_temperature(logits, targets) == pytest.approx(1.0, abs=0.1)


def test_a_few_held_out_items_cannot_push_the_temperature_to_an_extreme():
    logits = np.array([[4.0, 0.0], [0.0, 4.0], [5.0, 0.0]])
    targets = np.array([0, 1, 0])  # all right: the unpenalised optimum is T -> 0

    temperature = fit_temperature(logits, targets)

    assert TEMPERATURE_RANGE[0] < temperature < 1.0
    assert softmax_probabilities(logits, temperature).max() < 1.0
    assert fit_temperature(np.zeros((0, 2)), np.zeros(0, np.int64)) == 1.0


def test_probabilities_as_scores_through_their_log():
    probabilities = np.array([[1.0, 0.0], [0.25, 0.75]])

    scores = log_probabilities(probabilities)

    assert np.isfinite(scores).all()  # a probability of 0 is floored
    np.testing.assert_allclose(softmax_probabilities(scores)[1], [0.25, 0.75])
    np.testing.assert_allclose(softmax_probabilities(np.log([[0.25, 0.75]]), 1e9), [[0.5, 0.5]])


def test_scores_by_eye():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    targets = np.array([0, 1, 1, 0])

    # Bins of 0.5: (0.5, 1] holds 0.9, 0.8, 0.6 with 2 of 3 right; [0, 0.5] holds 0.5, right.
    ece = expected_calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == targets, n_bins=2)
    assert ece == pytest.approx((abs(2 - (0.9 + 0.8 + 0.6)) + abs(1 - 0.5)) / 4)
    assert negative_log_likelihood(probabilities, targets) == pytest.approx(
        -np.mean(np.log([0.9, 0.8, 0.4, 0.5])))
    assert brier_score(probabilities, targets) == pytest.approx(np.mean([0.02, 0.08, 0.72, 0.5]))
    assert set(calibration_scores(probabilities, targets)) == {"ece", "nll", "brier"}
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: expected_calibration_error([0.5], [True, False]), "one confidence per prediction"),
    (lambda: expected_calibration_error([1.5], [True]), "in \\[0, 1\\]"),
    (lambda: expected_calibration_error([0.5], [True], n_bins=0), "n_bins"),
    (lambda: fit_temperature(np.zeros((2, 3)), [0, 3]), "class indices in \\[0, 3\\)"),
    (lambda: fit_temperature(np.zeros((2, 3)), [0.0, 1.0]), "integers"),
    (lambda: negative_log_likelihood(np.zeros(3), [0]), "\\(n, k\\) matrix"),
])
def test_bad_inputs_say_what_is_wrong(call, message):
    with pytest.raises(DataError, match=message):
        call()
