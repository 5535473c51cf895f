"""Cross-modal alignment learns a shared space from pairs: planted shared structure is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.encoders.alignment import CrossModalAligner, blend_spaces, cross_validated_recall, retrieval_recall
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


def test_blend_spaces_similarity_is_the_weighted_mean_of_cosines():
    rng = np.random.default_rng(0)
    a_queries, a_targets = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    b_queries, b_targets = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))

    def cosines(left, right):
        left = left / np.linalg.norm(left, axis=1, keepdims=True)
        return left @ (right / np.linalg.norm(right, axis=1, keepdims=True)).T

    joined = blend_spaces([a_queries, b_queries], [3, 1]) @ blend_spaces([a_targets, b_targets], [3, 1]).T
    expected = 0.75 * cosines(a_queries, a_targets) + 0.25 * cosines(b_queries, b_targets)
    np.testing.assert_allclose(joined, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(blend_spaces([a_queries, b_queries], [3, 1]), axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigurationError, match="non-negative weight"):
        blend_spaces([a_queries, b_queries], [1.0, -1.0])
    with pytest.raises(ConfigurationError, match="same rows"):
        blend_spaces([a_queries, b_queries[:5]], [1, 1])


def test_cross_validated_recall_scores_only_held_out_pairs_in_fixed_galleries():
    seen = []

    def score_fold(training, held_out):
        seen.append((set(training.tolist()), held_out.tolist()))
        # even pairs: target = query; odd pairs: target = -query, ranked below every other target: recall@1 is the
        # share of even pairs in a gallery
        queries = np.eye(200)[held_out]
        return queries, np.where((held_out % 2 == 1)[:, None], -queries, queries)

    recalls = cross_validated_recall(score_fold, 200, folds=4, k=1, gallery=20, random_state=0)
    assert len(recalls) == 4 and all(0.2 < value < 0.8 for value in recalls)
    assert np.mean(recalls) == pytest.approx(0.5, abs=0.02)  # 100 even pairs of 200, every gallery of 20 full
    assert all(not training & set(held_out) and len(training) + len(held_out) == 200 for training, held_out in seen)
    assert sorted(row for _, held_out in seen for row in held_out) == list(range(200))
    with pytest.raises(ConfigurationError, match="pairs per fold"):
        cross_validated_recall(score_fold, 200, folds=4, gallery=60)


def test_views_are_drawn_per_epoch_and_a_fixed_temperature_stays_fixed():
    texts, images = planted_pairs(300, seed=4)
    views = np.stack([images, images[:, ::-1].copy()])  # a second view no single linear map shares with view 0
    plain = CrossModalAligner(dim=8, epochs=3, random_state=0).fit(texts, images)
    viewed = CrossModalAligner(dim=8, epochs=3, random_state=0).fit(texts, views)
    assert not np.allclose(plain.transform_image(images), viewed.transform_image(images), atol=1e-4)

    fixed = CrossModalAligner(dim=8, epochs=3, temperature=0.05, learn_temperature=False, random_state=0)
    fixed.fit(texts, images)
    assert float(fixed.log_scale_.exp()) == pytest.approx(20.0)
    learned = CrossModalAligner(dim=8, epochs=3, temperature=0.05, random_state=0).fit(texts, images)
    assert float(learned.log_scale_.exp()) != pytest.approx(20.0)
    with pytest.raises(ConfigurationError, match="aligned pairs"):
        CrossModalAligner().fit(texts, views[:, :200])
