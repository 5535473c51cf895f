"""Trainer: learning on a planted problem, early stopping with the best weights restored, seeds, skipped items."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn import ModalityFeatures, MultimodalModel, Trainer, TrainingHistory
from socialfusion.learn._arrays import oversample, stratified_split
from socialfusion.learn.model import run_model, seeded

CLASSIFY = {"label": "classification"}


def build(features, fusion="toy-mean", seed=0, **options):
    with seeded(seed):
        return MultimodalModel(features.dims, {"label": 2}, fusion=fusion, fused_dim=8, hidden=8, **options)


def accuracy(model, features, y):
    logits = run_model(model, features.vectors, features.present).outputs["label"]
    return float(np.mean(logits.argmax(dim=1).numpy() == y))


@pytest.mark.parametrize("fusion", ["toy-mean", "toy-late"])
def test_training_lowers_the_loss_and_beats_chance(toy_fusions, planted, fusion):
    features, y = planted(300, seed=1)
    test, y_test = planted(200, seed=2)
    model = build(features, fusion)
    history = Trainer(epochs=25, batch_size=32, learning_rate=1e-2, random_state=0).fit(
        model, features, {"label": y}, tasks=CLASSIFY)

    losses = history.column("train_loss")
    assert losses[-1] < 0.6 * losses[0]
    assert accuracy(model, test, y_test) > 0.85  # chance is 0.5; both modalities carry the label
    assert not model.training
    assert set(history.to_arrow().column_names) == {"epoch", "train_loss", "validation_loss", "validation_metric",
                                                    "seconds"}
    assert all(record.seconds > 0 for record in history.epochs)


def test_early_stopping_stops_and_restores_the_best_epoch(toy_fusions, planted):
    features, _ = planted(120, seed=3)
    noise = np.random.default_rng(0).integers(0, 2, 120)  # labels with nothing to learn: validation loss soon rises
    validation, validation_noise = planted(60, seed=4)
    model = build(features, fusion="toy-mean", dropout=0.0)
    trainer = Trainer(epochs=60, batch_size=16, learning_rate=5e-2, patience=3, modality_dropout=0.0, random_state=0)
    history = trainer.fit(model, features, {"label": noise}, tasks=CLASSIFY,
                          validation=(validation, {"label": validation_noise % 2}))

    assert history.stopped_early and len(history.epochs) < 60
    losses = history.column("validation_loss")
    assert history.best_epoch == int(np.argmin(losses))
    assert len(history.epochs) == history.best_epoch + 1 + 3  # patience epochs after the best
    # The model holds the best epoch's weights: its validation loss is the best one recorded.
    logits = run_model(model, validation.vectors, validation.present).outputs["label"]
    restored = torch.nn.functional.cross_entropy(logits, torch.as_tensor(validation_noise % 2))
    assert float(restored) == pytest.approx(losses.min(), rel=1e-5)


def test_a_stratified_share_is_held_out_when_no_validation_is_given(toy_fusions, planted):
    features, y = planted(200, seed=5)
    history = Trainer(epochs=3, validation_fraction=0.2, random_state=0).fit(
        build(features), features, {"label": y}, tasks=CLASSIFY)

    assert all(record.validation_loss is not None and 0 <= record.validation_metric <= 1 for record in history.epochs)
    without = Trainer(epochs=3, early_stopping=False).fit(build(features), features, {"label": y}, tasks=CLASSIFY)
    assert without.best_epoch is None and all(record.validation_loss is None for record in without.epochs)


def test_the_same_seed_gives_identical_weights(toy_fusions, planted):
    features, y = planted(150, seed=6)

    def weights(seed):
        model = build(features, seed=seed)
        Trainer(epochs=4, modality_dropout=0.5, random_state=seed).fit(model, features, {"label": y}, tasks=CLASSIFY)
        return torch.cat([parameter.detach().flatten() for parameter in model.parameters()])

    assert torch.equal(weights(0), weights(0))
    assert not torch.equal(weights(0), weights(1))


def test_the_callers_random_state_is_left_alone(toy_fusions, planted):
    features, y = planted(60, seed=7)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(epochs=2, random_state=0).fit(build(features), features, {"label": y}, tasks=CLASSIFY)

    assert torch.equal(torch.rand(3), expected)


def test_items_with_no_modality_are_skipped_with_a_warning(toy_fusions, planted, caplog):
    features, y = planted(100, seed=8)
    present = {name: mask.copy() for name, mask in features.present.items()}
    for mask in present.values():
        mask[:7] = False
    holed = ModalityFeatures(features.vectors, present)

    with caplog.at_level(logging.WARNING, logger="socialfusion.learn"):
        history = Trainer(epochs=2, random_state=0).fit(build(holed), holed, {"label": y}, tasks=CLASSIFY)

    assert history.skipped_items == 7
    assert "7 of 100 training items have no modality present" in caplog.text


def test_multitask_training_learns_the_task_weights(toy_fusions, planted):
    features, y = planted(200, seed=9)
    likes = np.where(np.arange(200) % 4 == 0, np.nan, y * 2.0 + 0.1).astype(np.float32)
    with seeded(0):
        model = MultimodalModel(features.dims, {"label": 2, "likes": 1}, fusion="toy-mean", fused_dim=8)
    trainer = Trainer(epochs=5, learning_rate=5e-2, learn_task_weights=True, random_state=0)
    history = trainer.fit(model, features, {"label": y, "likes": likes},
                          tasks={"label": "classification", "likes": "regression"})

    assert trainer.loss_.log_variances is not None
    assert history.task_weights != {"label": 1.0, "likes": 1.0}  # moved away from exp(-0)


def test_history_round_trips_through_a_dict(toy_fusions, planted):
    features, y = planted(80, seed=10)
    history = Trainer(epochs=2, random_state=0).fit(build(features), features, {"label": y}, tasks=CLASSIFY)

    assert TrainingHistory.from_dict(history.to_dict()) == history


@pytest.mark.parametrize(("options", "message"), [({"epochs": 0}, "epochs"),
                                                  ({"modality_dropout": 1.0}, "modality_dropout"),
                                                  ({"resample": "smote"}, "oversample")])
def test_bad_options_are_explained(toy_fusions, planted, options, message):
    features, y = planted(20)
    with pytest.raises(ConfigurationError, match=message):
        Trainer(**options).fit(build(features), features, {"label": y}, tasks=CLASSIFY)


def test_mismatched_inputs_are_explained(toy_fusions, planted):
    features, y = planted(20)
    with pytest.raises(DataError, match="19 training targets"):
        Trainer().fit(build(features), features, {"label": y[:19]}, tasks=CLASSIFY)
    with pytest.raises(DataError, match="class index 2, but its head has 2 classes"):
        Trainer().fit(build(features), features, {"label": y + 1}, tasks=CLASSIFY)
    with pytest.raises(ConfigurationError, match="built for modalities"):
        Trainer().fit(build(features), features.select(["text"]), {"label": y}, tasks=CLASSIFY)


def test_split_and_oversampling_helpers_by_eye():
    strata = np.array([0] * 10 + [1] * 4 + [2])
    training, validation = stratified_split(strata, 0.5, np.random.default_rng(0))
    assert np.bincount(strata[validation], minlength=3).tolist() == [5, 2, 0]  # the lone item stays in training
    assert sorted([*training, *validation]) == list(range(15))

    labels = np.array([0, 0, 0, 0, 1, -1])
    positions = oversample(labels, np.random.default_rng(0))
    assert np.bincount(labels[positions][labels[positions] >= 0]).tolist() == [4, 4]
    assert (labels[positions] == -1).sum() == 1
