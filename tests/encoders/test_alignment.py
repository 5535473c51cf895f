"""Cross-modal alignment learns a shared space from pairs: planted shared structure is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.encoders.alignment import CrossModalAligner, retrieval_recall
from socialfusion.exceptions import ConfigurationError


def planted_pairs(n: int, seed: int):
    """Text and image features that are different noisy linear views of one shared latent per pair."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 16))
    texts = shared @ rng.normal(size=(16, 48)) + 0.3 * rng.normal(size=(n, 48))
    images = np.tanh(shared @ rng.normal(size=(16, 64))) + 0.3 * rng.normal(size=(n, 64))
    return texts.astype(np.float32), images.astype(np.float32)


def test_retrieval_recall_by_hand():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    targets = np.array([[1.0, 0.1], [1.0, 0.0], [0.9, 1.0]])
    # query 0: target 1 ([1, 0]) beats its own ([1, 0.1]); query 1: its own target ranks last; query 2: first
    assert retrieval_recall(queries, targets, k=1) == pytest.approx(1 / 3)
    assert retrieval_recall(queries, targets, k=2) == pytest.approx(2 / 3)
    assert retrieval_recall(queries, targets, k=3) == 1.0


def test_aligned_pairs_are_found_far_above_chance_on_held_out_pairs():
    texts, images = planted_pairs(900, seed=1)
    aligner = CrossModalAligner(dim=32, epochs=80, random_state=0).fit(texts[:700], images[:700])

    held_text, held_image = aligner.transform_text(texts[700:]), aligner.transform_image(images[700:])

    text_to_image = retrieval_recall(held_text, held_image, k=1)
    image_to_text = retrieval_recall(held_image, held_text, k=1)
    chance = 1 / 200
    assert text_to_image > 20 * chance and image_to_text > 20 * chance
    assert retrieval_recall(held_text, held_image, k=10) > 0.6
    assert aligner.history_[-1]["train_loss"] < aligner.history_[0]["train_loss"]


def test_same_seed_same_space_and_search_ranks_best_first():
    texts, images = planted_pairs(200, seed=2)
    first = CrossModalAligner(dim=8, epochs=5, random_state=3).fit(texts, images)
    second = CrossModalAligner(dim=8, epochs=5, random_state=3).fit(texts, images)

    np.testing.assert_allclose(first.transform_text(texts), second.transform_text(texts), atol=1e-5)
    indices, scores = first.search(first.transform_text(texts[:3]), first.transform_image(images), k=4)
    assert indices.shape == scores.shape == (3, 4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_bad_input_and_unfitted_use_are_clear_errors():
    with pytest.raises(ConfigurationError, match="at least 4 aligned pairs"):
        CrossModalAligner().fit(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ConfigurationError, match="not fitted"):
        CrossModalAligner().transform_text(np.zeros((1, 3)))
