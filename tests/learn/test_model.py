"""MultimodalModel and MultiTaskLoss, on inputs small enough to check by eye."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from socialfusion.exceptions import ConfigurationError
from socialfusion.fusion import available_fusions, get_fusion
from socialfusion.learn import MISSING_CLASS, ModelOutput, MultimodalModel, MultiTaskLoss

DIMS = {"image": 3, "text": 2}


def batch(n: int = 4):
    generator = torch.Generator().manual_seed(0)
    features = {name: torch.randn(n, dim, generator=generator) for name, dim in DIMS.items()}
    mask = {"image": torch.tensor([True, False, True, True][:n]), "text": torch.tensor([True, True, False, True][:n])}
    return features, mask


def test_one_head_per_task_with_the_fused_vector(toy_fusions):
    model = MultimodalModel(DIMS, {"topic": 3, "likes": 1}, fusion="toy-mean", fused_dim=5)
    output = model(*batch())

    assert isinstance(output, ModelOutput)
    assert {task: tuple(value.shape) for task, value in output.outputs.items()} == {"topic": (4, 3), "likes": (4, 1)}
    assert output.fused.shape == (4, 5)
    assert output.aux_loss is None
    assert model.tasks == ["topic", "likes"] and model.modalities == ["image", "text"]


def test_absent_rows_cannot_change_the_output_even_when_nan(toy_fusions):
    model = MultimodalModel(DIMS, {"label": 2}, fusion="toy-mean", fused_dim=4, input_norm=True).eval()
    features, mask = batch()
    poisoned = {name: value.clone() for name, value in features.items()}
    poisoned["image"][1] = float("nan")  # item 1 has no image
    poisoned["text"][2] = 1e6  # item 2 has no text

    assert torch.equal(model(features, mask).outputs["label"], model(poisoned, mask).outputs["label"])


def test_decision_level_fusion_is_the_prediction_and_serves_one_task(toy_fusions):
    model = MultimodalModel(DIMS, {"label": 3}, fusion="toy-late", fused_dim=64)
    output = model(*batch())

    assert model.fusion.output_dim == 3  # the head size, not fused_dim
    assert torch.equal(output.outputs["label"], output.fused)
    with pytest.raises(ConfigurationError, match="decision-level"):
        MultimodalModel(DIMS, {"a": 2, "b": 1}, fusion="toy-late")


def test_a_fusion_instance_must_match_the_modalities(toy_fusions):
    fusion = toy_fusions["toy-mean"](DIMS, 4)
    assert MultimodalModel(DIMS, {"label": 2}, fusion=fusion).fusion is fusion
    with pytest.raises(ConfigurationError, match="built for"):
        MultimodalModel({"text": 2}, {"label": 2}, fusion=fusion)


@pytest.mark.parametrize(("heads", "message"), [({}, "at least one task"), ({"a.b": 2}, "without '.'"),
                                                ({"label": 0}, "at least one output")])
def test_bad_heads_are_explained(toy_fusions, heads, message):
    with pytest.raises(ConfigurationError, match=message):
        MultimodalModel(DIMS, heads, fusion="toy-mean")


def test_unknown_fusion_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match="unknown fusion 'nope'.*known"):
        MultimodalModel(DIMS, {"label": 2}, fusion="nope")


def test_input_scaling_standardises_present_rows_only(toy_fusions):
    model = MultimodalModel({"text": 2}, {"label": 2}, fusion="toy-mean", fused_dim=2)
    vectors = {"text": np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 100.0]], np.float32)}
    model.fit_input_scaling(vectors, {"text": np.array([True, True, False])})

    stage = model.inputs["text"]
    assert stage.mean.tolist() == [2.0, 5.0]
    assert stage.scale.tolist() == [1.0, 1.0]  # std 1 and std 0 (kept at 1)


REAL = [name for name in ("mean", "gated-attention", "late", "autoencoder") if name in available_fusions()]


@pytest.mark.parametrize("name", REAL)
def test_real_fusions_plug_in(name):
    model = MultimodalModel(DIMS, {"label": 2}, fusion=name, fused_dim=8)
    output = model(*batch())

    assert output.outputs["label"].shape == (4, 2)
    assert model.fusion.name == name
    assert isinstance(get_fusion(name, DIMS, 4), type(model.fusion))


# -- MultiTaskLoss ------------------------------------------------------------------------------------------------


def outputs_and_targets():
    outputs = {"topic": torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 3.0]], requires_grad=True),
               "likes": torch.tensor([[1.0], [2.0], [0.0]], requires_grad=True)}
    targets = {"topic": torch.tensor([0, 2, MISSING_CLASS]), "likes": torch.tensor([2.0, float("nan"), 1.0])}
    return outputs, targets


def by_hand_cross_entropy(logits, target):
    return -(logits[target] - math.log(sum(math.exp(value) for value in logits)))


def test_fixed_weights_give_the_hand_computed_sum():
    outputs, targets = outputs_and_targets()
    loss = MultiTaskLoss({"topic": "classification", "likes": "regression"}, task_weights={"topic": 2.0, "likes": 0.5},
                         aux_weight=0.1)
    result = loss(outputs, targets, aux_loss=torch.tensor(4.0))

    topic = (by_hand_cross_entropy([2.0, 0.0, 0.0], 0) + by_hand_cross_entropy([0.0, 1.0, 0.0], 2)) / 2
    likes = ((1.0 - 2.0) ** 2 + (0.0 - 1.0) ** 2) / 2  # item 1's NaN target is masked out
    assert float(result.tasks["topic"].detach()) == pytest.approx(topic, rel=1e-6)
    assert float(result.tasks["likes"].detach()) == pytest.approx(likes)
    assert float(result.total.detach()) == pytest.approx(2.0 * topic + 0.5 * likes + 0.1 * 4.0, rel=1e-6)
    assert loss.task_weights() == {"topic": 2.0, "likes": 0.5}
    assert list(loss.parameters()) == []


def test_missing_targets_get_no_gradient():
    outputs, targets = outputs_and_targets()
    MultiTaskLoss({"topic": "classification", "likes": "regression"})(outputs, targets).total.backward()

    assert torch.all(outputs["topic"].grad[2] == 0) and torch.any(outputs["topic"].grad[0] != 0)
    assert outputs["likes"].grad[1, 0] == 0 and outputs["likes"].grad[0, 0] != 0


def test_class_weights_weigh_the_mean():
    logits, target = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1])
    loss = MultiTaskLoss({"label": "classification"}, class_weights={"label": [1.0, 3.0]})

    expected = (1.0 * by_hand_cross_entropy([1.0, 0.0], 0) + 3.0 * by_hand_cross_entropy([1.0, 0.0], 1)) / 4.0
    assert float(loss({"label": logits}, {"label": target}).total) == pytest.approx(expected, rel=1e-6)


def test_learned_weights_are_parameters_that_receive_gradients():
    outputs, targets = outputs_and_targets()
    loss = MultiTaskLoss({"topic": "classification", "likes": "regression"}, learn_weights=True)
    result = loss(outputs, targets)

    assert [tuple(parameter.shape) for parameter in loss.parameters()] == [(2,)]
    # s = 0 at the start: exp(-s) L + s is the plain sum.
    topic, likes = float(result.tasks["topic"].detach()), float(result.tasks["likes"].detach())
    assert float(result.total.detach()) == pytest.approx(topic + likes)
    result.total.backward()
    gradient = loss.log_variances.grad
    # d/ds (exp(-s) L + s) = 1 - L at s = 0.
    assert gradient.tolist() == pytest.approx([1 - topic, 1 - likes])
    with torch.no_grad():
        loss.log_variances.fill_(math.log(2.0))
    assert loss.task_weights() == pytest.approx({"topic": 0.5, "likes": 0.5})


def test_a_task_without_targets_in_the_batch_adds_nothing():
    loss = MultiTaskLoss({"topic": "classification", "likes": "regression"}, learn_weights=True)
    with torch.no_grad():
        loss.log_variances.fill_(3.0)
    outputs = {"topic": torch.zeros(2, 2), "likes": torch.ones(2, 1)}
    result = loss(outputs, {"topic": torch.tensor([MISSING_CLASS, MISSING_CLASS]), "likes": torch.tensor([1.0, 1.0])})

    assert set(result.tasks) == {"likes"}
    assert float(result.total.detach()) == pytest.approx(3.0)  # exp(-3) * 0 + 3: only the likes task's terms


@pytest.mark.parametrize(("arguments", "message"), [
    ({"tasks": {"a": "ranking"}}, "unknown kind"),
    ({"tasks": {"a": "regression"}, "task_weights": {"b": 1.0}}, "unknown tasks"),
    ({"tasks": {"a": "regression"}, "task_weights": {"a": 1.0}, "learn_weights": True}, "not both"),
    ({"tasks": {"a": "regression"}, "class_weights": {"a": [1.0]}}, "regression task"),
])
def test_bad_loss_settings_are_explained(arguments, message):
    tasks = arguments.pop("tasks")
    with pytest.raises(ConfigurationError, match=message):
        MultiTaskLoss(tasks, **arguments)
