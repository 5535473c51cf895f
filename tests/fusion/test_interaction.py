"""InteractionFusion: pairwise agreement terms, exact zeros for absent pairs, and an interaction it can learn."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from socialfusion.fusion import get_fusion  # noqa: E402
from socialfusion.fusion.interaction import InteractionFusion, pair_interactions  # noqa: E402
from socialfusion.learn import ModalityFeatures, MultimodalClassifier  # noqa: E402


def test_pair_terms_are_product_difference_cosine_and_flag():
    left, right = torch.tensor([[1.0, 2.0], [1.0, 1.0]]), torch.tensor([[3.0, -1.0], [5.0, 5.0]])
    terms = pair_interactions(left, right, torch.tensor([True, False]))
    cosine = (3.0 - 2.0) / (np.sqrt(5.0) * np.sqrt(10.0))
    assert terms[0].tolist() == pytest.approx([3.0, -2.0, 2.0, 3.0, cosine, 1.0], abs=1e-6)
    assert terms[1].tolist() == [0.0] * 6  # one member absent: no interaction at all


def test_registered_and_sized_for_every_pair_of_three_modalities():
    fusion = get_fusion("interaction", {"text": 3, "image": 4, "audio": 2}, output_dim=5, shared_dim=6)
    assert isinstance(fusion, InteractionFusion)
    assert fusion.pairs == [("audio", "image"), ("audio", "text"), ("image", "text")]
    output = fusion(
        {"text": torch.randn(4, 3), "image": torch.randn(4, 4), "audio": torch.randn(4, 2)},
        {
            "text": torch.ones(4, dtype=torch.bool),
            "image": torch.tensor([True, False, True, False]),
            "audio": torch.zeros(4, dtype=torch.bool),
        },
    )
    assert output.fused.shape == (4, 5)


def test_absent_image_values_do_not_change_the_output():
    torch.manual_seed(0)
    fusion = InteractionFusion({"text": 3, "image": 4}, output_dim=2).eval()
    text = torch.randn(3, 3)
    mask = {"text": torch.ones(3, dtype=torch.bool), "image": torch.tensor([True, False, False])}
    image = torch.randn(3, 4)
    other = image.clone()
    other[1:] = float("nan")
    first = fusion({"text": text, "image": image}, mask).fused
    second = fusion({"text": text, "image": other}, mask).fused
    assert torch.equal(first, second)


def test_learns_agreement_that_a_linear_map_cannot():
    # The label is whether text and image point the same way (a sarcasm-like XOR): no linear map of the two
    # vectors separates it, the pairwise product does.
    rng = np.random.default_rng(0)
    n = 400
    text, image = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    labels = np.where(text[:, 0] * image[:, 0] > 0, "agree", "disagree")
    features = ModalityFeatures({"text": text, "image": image}, {"text": np.ones(n, bool), "image": np.ones(n, bool)})
    train, test = np.arange(300), np.arange(300, n)
    scores = {}
    for fusion, options in (("interaction", {"shared_dim": 8, "hidden": 16}), ("linear", {})):
        model = MultimodalClassifier(
            fusion=fusion,
            fusion_options=options,
            fused_dim=8,
            hidden=0,
            epochs=40,
            batch_size=32,
            learning_rate=1e-2,
            modality_dropout=0.0,
            early_stopping=False,
            random_state=0,
        )
        model.fit(features.subset(train), labels[train])
        scores[fusion] = model.score(features.subset(test), labels[test])
    assert scores["interaction"] > 0.8, scores
    assert scores["linear"] < 0.65, scores
