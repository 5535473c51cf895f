"""The fusion modules: one conformance suite for every registered fusion, by-eye checks, and modality dropout."""

from __future__ import annotations

import io

import pytest
import torch

from socialfusion.exceptions import ConfigurationError
from socialfusion.fusion import Fusion, available_fusions, get_fusion, modality_dropout
from socialfusion.fusion.shared import soft_cca_loss
from socialfusion.fusion.tensor import MAX_PRODUCT_SIZE

INPUT_DIMS = {"text": 4, "image": 5, "audio": 3}  # deliberately unsorted: modules must sort
OUTPUT_DIM = 6
BATCH = 7
# Tiny options keep the suite fast; every other option keeps its default.
SMALL_OPTIONS = {"co-attention": {"d_model": 16, "n_heads": 2, "hidden_dim": 32}}
FUSIONS = [name for name in available_fusions() if name != "identity"]
WEIGHTED_FUSIONS = {"gated-attention", "late", "mean", "weighted"}  # those returning per-modality weights


def build(name: str, input_dims=INPUT_DIMS, seed: int = 0, **options) -> Fusion:
    torch.manual_seed(seed)
    return get_fusion(name, input_dims, OUTPUT_DIM, **{**SMALL_OPTIONS.get(name, {}), **options})


def random_batch(input_dims=INPUT_DIMS, batch: int = BATCH, seed: int = 1, all_present: bool = False):
    """Features and masks: item 0 has every modality, item 1 only the first one, the rest at random (>= 1 each)."""
    generator = torch.Generator().manual_seed(seed)
    names = sorted(input_dims)
    features = {name: torch.randn(batch, dim, generator=generator) for name, dim in input_dims.items()}
    present = torch.rand(batch, len(names), generator=generator) < 0.5
    present[0] = True
    present[1] = False
    present[1, 0] = True
    empty = ~present.any(dim=1)
    present[empty, torch.randint(len(names), (int(empty.sum()),), generator=generator)] = True
    if all_present:
        present[:] = True
    return features, {name: present[:, column] for column, name in enumerate(names)}


def with_absent_rows(features, mask, value: str):
    """The same features with every absent row replaced by NaN or by huge random values."""
    changed = {}
    for name, matrix in features.items():
        replacement = torch.full_like(matrix, float("nan")) if value == "nan" else 1e6 * torch.randn_like(matrix)
        changed[name] = torch.where(mask[name][:, None], matrix, replacement)
    return changed


def run(fusion: Fusion, features, mask, seed: int = 123):
    torch.manual_seed(seed)  # the same dropout masks and VAE samples in training mode
    return fusion(features, mask)


def assert_same_output(first, second):
    assert torch.equal(first.fused, second.fused)
    assert (first.aux_loss is None) == (second.aux_loss is None)
    if first.aux_loss is not None:
        assert torch.equal(first.aux_loss, second.aux_loss)
    assert (first.weights is None) == (second.weights is None)
    if first.weights is not None:
        assert first.weights.keys() == second.weights.keys()
        for name in first.weights:
            assert torch.equal(first.weights[name], second.weights[name])


# -- conformance: every registered fusion ------------------------------------------------------------------------


def test_every_builtin_fusion_is_registered():
    assert set(available_fusions()) == {
        "autoencoder", "co-attention", "concat", "gated-attention", "identity", "interaction", "late", "linear",
        "low-rank", "mean", "mlp", "multiview", "tensor", "vae", "weighted",
    }


@pytest.mark.parametrize("name", FUSIONS)
def test_fusion_is_a_fusion_registered_under_its_name(name):
    fusion = build(name)

    assert isinstance(fusion, Fusion)
    assert fusion.name == name
    assert fusion.modalities == ["audio", "image", "text"]


@pytest.mark.parametrize("name", FUSIONS)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_output_shapes_and_dtypes(name, training):
    fusion = build(name).train(training)
    features, mask = random_batch()

    output = run(fusion, features, mask)

    assert output.fused.shape == (BATCH, OUTPUT_DIM)
    assert output.fused.dtype == torch.float32
    assert torch.isfinite(output.fused).all()
    if output.aux_loss is not None:
        assert output.aux_loss.shape == ()
        assert output.aux_loss.dtype == torch.float32
        assert torch.isfinite(output.aux_loss)


@pytest.mark.parametrize("name", FUSIONS)
@pytest.mark.parametrize("value", ["nan", "huge"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_absent_rows_do_not_change_anything(name, value, training):
    fusion = build(name).train(training)
    features, mask = random_batch()

    expected = run(fusion, features, mask)
    changed = run(fusion, with_absent_rows(features, mask, value), mask)

    assert_same_output(expected, changed)


@pytest.mark.parametrize("name", FUSIONS)
def test_gradients_reach_every_parameter(name):
    fusion = build(name).train()
    features, mask = random_batch(all_present=True)

    output = run(fusion, features, mask)
    loss = (output.fused * torch.randn(output.fused.shape, generator=torch.Generator().manual_seed(2))).sum()
    if output.aux_loss is not None:
        loss = loss + output.aux_loss
    loss.backward()

    for parameter_name, parameter in fusion.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", FUSIONS)
def test_gradients_stay_finite_with_nan_in_absent_rows(name):
    fusion = build(name).train()
    features, mask = random_batch()

    output = run(fusion, with_absent_rows(features, mask, "nan"), mask)
    loss = output.fused.square().mean() + (output.aux_loss if output.aux_loss is not None else 0)
    loss.backward()

    for parameter_name, parameter in fusion.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("name", FUSIONS)
def test_same_seed_same_module_same_output(name):
    features, mask = random_batch()

    first = run(build(name, seed=5).eval(), features, mask)
    second = run(build(name, seed=5).eval(), features, mask)

    assert_same_output(first, second)


@pytest.mark.parametrize("name", FUSIONS)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_one_present_modality_per_item(name, training):
    fusion = build(name).train(training)
    features, _ = random_batch()
    names = sorted(INPUT_DIMS)
    mask = {name_: torch.arange(BATCH) % len(names) == column for column, name_ in enumerate(names)}

    output = run(fusion, features, mask)

    assert output.fused.shape == (BATCH, OUTPUT_DIM)
    assert torch.isfinite(output.fused).all()
    if output.aux_loss is not None:
        assert torch.isfinite(output.aux_loss)


@pytest.mark.parametrize("name", FUSIONS)
def test_a_single_modality_fusion_works(name):
    input_dims = {"text": 4}
    fusion = build(name, input_dims).eval()
    features, mask = random_batch(input_dims)

    output = run(fusion, features, mask)

    assert output.fused.shape == (BATCH, OUTPUT_DIM)
    assert torch.isfinite(output.fused).all()
    if output.weights is not None:
        assert torch.equal(output.weights["text"], torch.ones(BATCH))


@pytest.mark.parametrize("name", FUSIONS)
def test_weights_are_shares_of_the_present_modalities(name):
    fusion = build(name).eval()
    features, mask = random_batch()

    weights = run(fusion, features, mask).weights

    if name not in WEIGHTED_FUSIONS:
        assert weights is None
        return
    assert sorted(weights) == sorted(INPUT_DIMS)
    for modality, share in weights.items():
        assert share.shape == (BATCH,)
        assert (share >= 0).all()
        assert (share[~mask[modality]] == 0).all()
    torch.testing.assert_close(sum(weights.values()), torch.ones(BATCH))


@pytest.mark.parametrize("name", FUSIONS)
def test_state_dict_round_trip(name):
    features, mask = random_batch()
    original = build(name, seed=3).eval()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)

    restored = build(name, seed=4).eval()
    restored.load_state_dict(torch.load(buffer))

    assert_same_output(run(original, features, mask), run(restored, features, mask))


@pytest.mark.parametrize("name", FUSIONS)
def test_inputs_that_do_not_match_the_module_are_rejected(name):
    fusion = build(name)
    features, mask = random_batch()

    with pytest.raises(ConfigurationError, match="modalities"):
        fusion({key: value for key, value in features.items() if key != "text"}, mask)
    with pytest.raises(ConfigurationError, match="features\\['image'\\]"):
        fusion({**features, "image": torch.ones(BATCH, 2)}, mask)
    with pytest.raises(ConfigurationError, match="mask\\['audio'\\]"):
        fusion(features, {**mask, "audio": mask["audio"][:3]})


def test_identity_passes_its_one_modality_through():
    fusion = get_fusion("identity", {"text": 3}, 3)
    features = {"text": torch.tensor([[1.0, 2.0, 3.0], [float("nan"), 0.0, 1e9]])}
    mask = {"text": torch.tensor([True, False])}

    output = fusion(features, mask)

    assert output.fused.tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    assert output.aux_loss is None
    assert output.weights["text"].tolist() == [1.0, 0.0]


def test_identity_refuses_two_modalities_or_another_size():
    with pytest.raises(ConfigurationError, match="exactly one modality"):
        get_fusion("identity", {"image": 3, "text": 3}, 3)
    with pytest.raises(ConfigurationError, match="exactly one modality"):
        get_fusion("identity", {"text": 3}, 4)


def test_unknown_fusion_names_the_known_ones():
    with pytest.raises(ConfigurationError, match="known: .*mean"):
        get_fusion("no-such-fusion", {"text": 3}, 3)


# -- by eye ------------------------------------------------------------------------------------------------------


def two_modalities(present_image=(True, False)):
    features = {"image": torch.tensor([[1.0, 2.0], [3.0, -1.0]]), "text": torch.tensor([[0.5, -0.5], [2.0, 1.0]])}
    mask = {"image": torch.tensor(present_image), "text": torch.tensor([True, True])}
    return features, mask


def test_mean_is_the_mean_of_the_present_projections():
    torch.manual_seed(0)
    fusion = get_fusion("mean", {"image": 2, "text": 2}, 3).eval()
    features, mask = two_modalities()
    image, text = fusion.heads["image"][1], fusion.heads["text"][1]  # [0] is the dropout

    fused = fusion(features, mask).fused

    torch.testing.assert_close(fused[0], (image(features["image"][0]) + text(features["text"][0])) / 2)
    torch.testing.assert_close(fused[1], text(features["text"][1]))


def test_weighted_with_equal_weights_equals_mean():
    torch.manual_seed(0)
    mean = get_fusion("mean", {"image": 2, "text": 2}, 3).eval()
    weighted = get_fusion("weighted", {"image": 2, "text": 2}, 3).eval()
    missing, unexpected = weighted.load_state_dict(mean.state_dict(), strict=False)
    assert missing == ["modality_logits"] and unexpected == []
    features, mask = two_modalities()

    torch.testing.assert_close(weighted(features, mask).fused, mean(features, mask).fused)

    with torch.no_grad():
        weighted.modality_logits.copy_(torch.tensor([2.0, 0.0]))
    assert not torch.allclose(weighted(features, mask).fused[0], mean(features, mask).fused[0])
    torch.testing.assert_close(weighted(features, mask).fused[1], mean(features, mask).fused[1])  # text alone


def test_tensor_fusion_with_one_modality_absent_reduces_to_the_present_one():
    torch.manual_seed(0)
    fusion = get_fusion("tensor", {"image": 2, "text": 2}, 3, modality_dim=2).eval()
    features, mask = two_modalities()
    text = fusion.projections["text"](features["text"][1])
    with_one = torch.cat([text, torch.ones(1)])  # [h_text, 1]
    absent_image = torch.tensor([0.0, 0.0, 1.0])

    fused = fusion(features, mask).fused[1]

    by_outer_product = fusion.output(torch.outer(absent_image, with_one).flatten())
    torch.testing.assert_close(fused, by_outer_product)
    # Only the block of the image's constant 1 survives: the last 3 of the 9 product columns.
    by_present_only = fusion.output.weight[:, 6:] @ with_one + fusion.output.bias
    torch.testing.assert_close(fused, by_present_only)


def test_low_rank_rank_one_by_hand():
    fusion = get_fusion("low-rank", {"image": 2, "text": 2}, 1, rank=1).eval()
    with torch.no_grad():
        fusion.factors["image"].copy_(torch.tensor([[[1.0], [2.0], [3.0]]]))  # x1 + 2 x2 + 3
        fusion.factors["text"].copy_(torch.tensor([[[1.0], [0.0], [1.0]]]))  # y1 + 1
        fusion.bias.fill_(0.5)
    features = {"image": torch.tensor([[1.0, 1.0], [1.0, 1.0]]), "text": torch.tensor([[2.0, 5.0], [2.0, 5.0]])}
    mask = {"image": torch.tensor([True, True]), "text": torch.tensor([True, False])}

    fused = fusion(features, mask).fused

    assert fused.tolist() == [[(1 + 2 + 3) * (2 + 1) + 0.5], [(1 + 2 + 3) * 1 + 0.5]]


def test_late_fusion_with_one_modality_absent_is_that_modality_prediction():
    torch.manual_seed(0)
    fusion = get_fusion("late", {"image": 2, "text": 2}, 3).eval()
    with torch.no_grad():
        fusion.modality_logits.copy_(torch.tensor([2.0, -1.0]))
    features, mask = two_modalities()

    output = fusion(features, mask)

    assert fusion.decision_level
    assert torch.equal(output.fused[1], fusion.heads["text"](features["text"])[1])
    assert output.weights["text"].tolist()[1] == 1.0


def test_autoencoder_reconstruction_loss_decreases_with_training():
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(64, 2, generator=generator)
    features = {"image": latent @ torch.randn(2, 5, generator=generator),
                "text": latent @ torch.randn(2, 4, generator=generator)}
    mask = {"image": torch.rand(64, generator=generator) < 0.7, "text": torch.ones(64, dtype=torch.bool)}
    torch.manual_seed(0)
    fusion = get_fusion("autoencoder", {"image": 5, "text": 4}, 2, hidden_dim=16, dropout=0.0)
    optimizer = torch.optim.Adam(fusion.parameters(), lr=1e-2)

    losses = []
    for _ in range(50):
        loss = fusion(features, mask).aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    assert losses[-1] < 0.5 * losses[0]


def test_soft_cca_loss_prefers_correlated_views():
    generator = torch.Generator().manual_seed(0)
    view = torch.randn(128, 3, generator=generator)

    correlated = soft_cca_loss(view, 3 * view + 2)  # perfectly correlated, dimension by dimension
    independent = soft_cca_loss(view, torch.randn(128, 3, generator=generator))

    assert correlated < independent
    assert correlated < -0.7
    assert abs(independent) < 0.3


def test_soft_cca_loss_penalises_collapsed_dimensions():
    signal = torch.randn(128, 1, generator=torch.Generator().manual_seed(0))
    collapsed = signal.repeat(1, 3)  # every dimension the same signal: perfectly correlated, but redundant

    assert soft_cca_loss(collapsed, collapsed) > soft_cca_loss(signal, signal) + 0.5


def test_soft_cca_loss_is_zero_without_two_paired_rows():
    view = torch.randn(4, 3)

    assert soft_cca_loss(view, view, torch.tensor([False, True, False, False])).item() == 0.0


def test_multiview_aux_loss_is_a_zero_tensor_when_no_pair_co_occurs():
    fusion = build("multiview", {"image": 2, "text": 2})
    features, _ = random_batch({"image": 2, "text": 2}, batch=4)
    mask = {"image": torch.tensor([True, True, False, False]), "text": torch.tensor([False, False, True, True])}

    aux_loss = fusion(features, mask).aux_loss

    assert isinstance(aux_loss, torch.Tensor) and aux_loss.shape == () and aux_loss.item() == 0.0


def test_vae_is_deterministic_in_eval_and_stochastic_in_training():
    fusion = build("vae", dropout=0.0)
    features, mask = random_batch()

    fusion.eval()
    assert torch.equal(fusion(features, mask).fused, fusion(features, mask).fused)
    fusion.train()
    assert not torch.equal(fusion(features, mask).fused, fusion(features, mask).fused)


def test_co_attention_with_one_token_present_stays_finite_in_both_modes():
    fusion = build("co-attention", n_layers=2)
    features, _ = random_batch()
    names = sorted(INPUT_DIMS)
    only_first = {name: torch.full((BATCH,), column == 0) for column, name in enumerate(names)}

    for training in (True, False):
        with torch.set_grad_enabled(training):  # eval without grad takes PyTorch's fast path
            assert torch.isfinite(fusion.train(training)(features, only_first).fused).all()


def test_bad_options_are_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match="divisible by n_heads"):
        get_fusion("co-attention", {"text": 4}, 2, d_model=10, n_heads=4)
    with pytest.raises(ConfigurationError, match="rank >= 1"):
        get_fusion("low-rank", {"text": 4}, 2, rank=0)
    too_many = {f"modality{index}": 2 for index in range(6)}
    assert 17**6 > MAX_PRODUCT_SIZE
    with pytest.raises(ConfigurationError, match="lower modality_dim"):
        get_fusion("tensor", too_many, 2)


# -- modality dropout --------------------------------------------------------------------------------------------


def test_modality_dropout_keeps_at_least_one_present_modality_per_item():
    generator = torch.Generator().manual_seed(0)
    mask = {name: torch.rand(500, generator=generator) < 0.6 for name in ("audio", "image", "text")}
    mask["text"] |= ~(mask["audio"] | mask["image"])

    dropped = modality_dropout(mask, 0.9, generator)

    assert torch.stack(list(dropped.values())).any(dim=0).all()
    for name in mask:
        assert not (dropped[name] & ~mask[name]).any(), "dropout never adds a modality"


def test_modality_dropout_hides_about_the_asked_share():
    mask = {f"modality{index}": torch.ones(20_000, dtype=torch.bool) for index in range(4)}

    dropped = modality_dropout(mask, 0.3, torch.Generator().manual_seed(0))

    # An item that lost all four (0.3 ** 4 of them) gets one back, so the share is 0.3 - 0.3 ** 4 / 4 = 0.298.
    hidden_share = 1 - torch.stack(list(dropped.values())).float().mean().item()
    assert abs(hidden_share - 0.298) < 0.01


def test_modality_dropout_is_reproducible_with_a_generator_and_a_no_op_at_zero():
    mask = {"image": torch.rand(100) < 0.5, "text": torch.ones(100, dtype=torch.bool)}

    first = modality_dropout(mask, 0.5, torch.Generator().manual_seed(7))
    second = modality_dropout(mask, 0.5, torch.Generator().manual_seed(7))
    unchanged = modality_dropout(mask, 0.0)

    assert all(torch.equal(first[name], second[name]) for name in mask)
    assert all(torch.equal(unchanged[name], mask[name]) for name in mask)
