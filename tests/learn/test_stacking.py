"""Tests for StackedFusionClassifier: late fusion by stacking per-modality classifiers."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn._data import ModalityFeatures
from socialfusion.learn.stacking import StackedFusionClassifier


def planted(n: int = 400, seed: int = 0) -> tuple[ModalityFeatures, np.ndarray]:
    """Labels readable from the image when there is one (every other item), and only faintly from the text."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    text = rng.normal(size=(n, 4))
    text[:, 0] += 0.4 * (y == 1)
    image = rng.normal(size=(n, 4))
    image[np.arange(n), y] += 3.0
    has_image = np.arange(n) % 2 == 0
    return ModalityFeatures({"text": text, "image": image}, {"text": np.ones(n, bool), "image": has_image}), y


def test_fusion_beats_each_modality_alone_and_uses_the_image_only_where_present():
    features, y = planted(seed=1)
    test, y_test = planted(seed=2)
    fused = StackedFusionClassifier().fit(features, y)
    text_only = StackedFusionClassifier().fit(features.select(["text"]), y)
    with_image = test.present["image"]
    fused_right = fused.predict(test) == y_test
    assert fused_right[with_image].mean() > 0.9
    assert fused_right.mean() > text_only.score(test.select(["text"]), y_test) + 0.2
    # Without the image, the fused model falls back on the text: no worse than the text-only model.
    no_image = test.without("image", 1.0)
    assert fused.score(no_image, y_test) >= text_only.score(test.select(["text"]), y_test) - 0.03
    # seen patterns, the one over all items, and image-only items (never seen: text hidden on the image items)
    assert set(fused.meta_models_) == {None, ("image", "text"), ("text",), ("image",)}


def test_items_missing_a_modality_every_training_item_had_are_judged_by_what_they_have():
    # Three weak text-side modalities and a strong image, unbalanced classes; every training item has everything.
    rng = np.random.default_rng(0)
    n = 1500
    y = rng.choice(3, n, p=[0.55, 0.3, 0.15])
    vectors = {}
    for name, shift in (("a", 0.7), ("b", 0.7), ("c", 0.7), ("image", 2.5)):
        vectors[name] = rng.normal(size=(n, 3))
        vectors[name][np.arange(n), y] += shift
    features = ModalityFeatures(vectors, {name: np.ones(n, bool) for name in vectors})
    train, test = np.arange(1000), np.arange(1000, n)
    fused = StackedFusionClassifier().fit(features.subset(train), y[train])
    text_only = StackedFusionClassifier().fit(features.select(["a", "b", "c"]).subset(train), y[train])
    text_accuracy = text_only.score(features.select(["a", "b", "c"]).subset(test), y[test])
    assert fused.score(features.subset(test), y[test]) > text_accuracy + 0.2
    # The pattern without the image gets a meta-classifier learnt from the training items with their image hidden,
    # so without images the fusion does as well as the text model. The meta-classifier over all items, which never
    # saw an image absent, scored 0.686 here against the text model's 0.706.
    assert ("a", "b", "c") in fused.meta_models_
    no_image = features.subset(test).without("image")
    assert fused.score(no_image, y[test]) >= text_accuracy - 0.005
    np.testing.assert_allclose(fused.predict_proba(no_image).sum(axis=1), 1.0)


def test_probabilities_are_distributions_in_class_order_and_deterministic():
    features, y = planted()
    labels = np.array(["neg", "neu", "pos"])[y]
    first = StackedFusionClassifier(random_state=3).fit(features, labels)
    again = StackedFusionClassifier(random_state=3).fit(features, labels)
    probabilities = first.predict_proba(features)
    assert first.classes_.tolist() == ["neg", "neu", "pos"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probabilities, again.predict_proba(features))
    assert set(first.predict(features)) <= {"neg", "neu", "pos"}


def test_absent_rows_do_not_matter_and_per_modality_probabilities_are_nan_there():
    features, y = planted()
    model = StackedFusionClassifier().fit(features, y)
    image = np.where(features.present["image"][:, None], features.vectors["image"], 1e6)
    scrambled = ModalityFeatures({"text": features.vectors["text"], "image": image}, features.present)
    np.testing.assert_array_equal(model.predict_proba(features), model.predict_proba(scrambled))
    image = model.modality_probabilities(features)["image"]
    assert np.isnan(image[~features.present["image"]]).all() and not np.isnan(image[features.present["image"]]).any()


def test_a_modality_with_too_few_items_is_left_out_with_a_warning(caplog):
    features, y = planted()
    present = dict(features.present)
    present["image"] = np.zeros(len(y), bool)
    present["image"][:4] = True
    model = StackedFusionClassifier().fit(ModalityFeatures(features.vectors, present), y)
    assert model.base_models_["image"] is None and "too few items" in caplog.text


def test_save_load_round_trips_predictions_exactly(tmp_path):
    features, y = planted()
    model = StackedFusionClassifier().fit(features, y)
    model.save(tmp_path / "model.pkl")
    loaded = StackedFusionClassifier.load(tmp_path / "model.pkl")
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    (tmp_path / "other.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(DataError, match="not a saved"):
        StackedFusionClassifier.load(tmp_path / "other.pkl")


def test_errors_are_clear():
    features, y = planted()
    with pytest.raises(ConfigurationError, match="not fitted"):
        StackedFusionClassifier().predict(features)
    with pytest.raises(DataError, match="labels for"):
        StackedFusionClassifier().fit(features, y[:-1])
    with pytest.raises(DataError, match="two classes"):
        StackedFusionClassifier().fit(features, np.zeros(len(y)))
    model = StackedFusionClassifier().fit(features, y)
    with pytest.raises(ConfigurationError, match="fitted on modalities"):
        model.predict(features.select(["text"]))


def test_probabilities_are_calibrated_out_of_fold_and_round_trip(tmp_path):
    features, y = planted()
    calibrated = StackedFusionClassifier().fit(features, y)
    raw = StackedFusionClassifier(calibration=None).fit(features, y)

    assert raw.temperature_ == 1.0 and calibrated.temperature_ != 1.0
    np.testing.assert_array_equal(calibrated.predict(features), raw.predict(features))
    assert not np.allclose(calibrated.predict_proba(features), raw.predict_proba(features))
    loaded = StackedFusionClassifier.load(calibrated.save(tmp_path / "model.npz"))
    assert loaded.temperature_ == calibrated.temperature_
    with pytest.raises(ConfigurationError, match="unknown calibration"):
        StackedFusionClassifier(calibration="isotonic").fit(features, y)


def test_a_file_saved_before_calibration_loads_uncalibrated(tmp_path):
    import json
    import zipfile

    features, y = planted()
    path = StackedFusionClassifier().fit(features, y).save(tmp_path / "model.npz")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["model.json"])
    del document["state"]["temperature_"]
    del document["params"]["calibration"]
    members["model.json"] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    loaded = StackedFusionClassifier.load(path)

    assert loaded.temperature_ == 1.0
    np.testing.assert_array_equal(loaded.predict_proba(features),
                                  StackedFusionClassifier(calibration=None).fit(features, y).predict_proba(features))
    document["state"]["temperature_"] = -1.0
    members["model.json"] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(DataError, match="temperature_ must be a positive number"):
        StackedFusionClassifier.load(path)
