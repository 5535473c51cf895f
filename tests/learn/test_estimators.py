"""MultimodalClassifier (neural and classic learners) and MultimodalMultiTask: fit, predict, save/load, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.fusion import available_fusions
from socialfusion.learn import ModalityFeatures, MultimodalClassifier, MultimodalMultiTask

SMALL = {"fused_dim": 8, "hidden": 8, "epochs": 25, "batch_size": 32, "learning_rate": 1e-2}
CLASSIC = ["logistic", "svm", "random_forest", "gradient_boosting"]
REAL = [name for name in ("mean", "gated-attention", "late", "autoencoder") if name in available_fusions()]


def named(y):
    return np.where(y == 1, "positive", "negative")


def holed(features: ModalityFeatures, rows) -> ModalityFeatures:
    """``features`` with every modality hidden on ``rows``."""
    present = {name: mask.copy() for name, mask in features.present.items()}
    for mask in present.values():
        mask[rows] = False
    return ModalityFeatures(features.vectors, present, features.ids)


def test_neural_classifier_learns_the_planted_problem(toy_fusions, planted):
    features, y = planted(300, seed=1)
    test, y_test = planted(200, seed=2)
    classifier = MultimodalClassifier(fusion="toy-mean", **SMALL).fit(features, named(y))

    assert classifier.classes_.tolist() == ["negative", "positive"]
    assert classifier.score(test, named(y_test)) > 0.85
    probabilities = classifier.predict_proba(test)
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert classifier.input_dims_ == {"image": 5, "text": 6} and classifier.n_features_in_ == 11
    assert classifier.history_.epochs and classifier.learner_ is None
    assert classifier.modality_weights(test).shape == (200, 2)


@pytest.mark.parametrize("learner", CLASSIC)
def test_classic_learners_learn_and_round_trip_exactly(planted, tmp_path, learner):
    features, y = planted(300, seed=1)
    test, y_test = planted(200, seed=2)
    classifier = MultimodalClassifier(learner=learner, class_weight="balanced").fit(features, y)

    assert classifier.score(test, y_test) > 0.8
    assert classifier.model_ is None and classifier.history_ is None
    assert classifier.modality_weights(test) is None
    loaded = MultimodalClassifier.load(classifier.save(tmp_path / f"{learner}.sfm"))
    assert np.array_equal(loaded.predict_proba(test), classifier.predict_proba(test))
    assert loaded.get_params() == classifier.get_params()


@pytest.mark.parametrize("fusion", ["toy-mean", "toy-late"])
def test_neural_save_and_load_round_trip_exactly(toy_fusions, planted, tmp_path, fusion):
    features, y = planted(200, seed=3)
    classifier = MultimodalClassifier(fusion=fusion, class_weight={1: 2.0}, **{**SMALL, "epochs": 3}).fit(features, y)
    loaded = MultimodalClassifier.load(classifier.save(tmp_path / "model.sfm"), device="cpu")

    assert np.array_equal(loaded.predict_proba(features), classifier.predict_proba(features))
    assert loaded.classes_.tolist() == [0, 1]
    assert loaded.class_weight == {1: 2.0}  # integer label keys survive the JSON
    assert loaded.history_ == classifier.history_
    assert loaded.model_config_ == classifier.model_config_


def test_the_same_random_state_gives_identical_probabilities(toy_fusions, planted):
    features, y = planted(200, seed=4)
    test, _ = planted(50, seed=5)

    def probabilities(seed):
        options = {**SMALL, "epochs": 5, "modality_dropout": 0.3}
        classifier = MultimodalClassifier(fusion="toy-mean", random_state=seed, **options).fit(features, y)
        return classifier.predict_proba(test)

    assert np.array_equal(probabilities(0), probabilities(0))
    assert not np.array_equal(probabilities(0), probabilities(1))


@pytest.mark.parametrize("learner", ["neural", "logistic"])
def test_class_weight_and_oversampling_move_predictions_toward_the_minority(toy_fusions, planted, learner):
    features, y = planted(400, seed=6, minority=0.1)
    test, _ = planted(400, seed=7, minority=0.1)
    options = {"fusion": "toy-mean", **SMALL, "early_stopping": False, "epochs": 15} if learner == "neural" else {}

    def minority_predictions(**settings):
        classifier = MultimodalClassifier(learner=learner, **options, **settings).fit(features, y)
        return int((classifier.predict(test) == 1).sum())

    plain = minority_predictions()
    assert minority_predictions(class_weight="balanced") > plain + 20
    assert minority_predictions(resample="oversample") > plain + 20
    assert minority_predictions(class_weight={1: 5.0}) > plain + 20


@pytest.mark.parametrize("learner", ["neural", "logistic"])
def test_items_with_no_modality_are_predicted_as_the_training_prior(toy_fusions, planted, learner):
    features, y = planted(200, seed=8)
    classifier = MultimodalClassifier(learner=learner, fusion="toy-mean", **{**SMALL, "epochs": 3}).fit(
        holed(features, slice(0, 10)), y)
    probabilities = classifier.predict_proba(holed(features, [3, 50]))

    prior = np.bincount(y, minlength=2) / len(y)  # over every training label, usable item or not
    assert np.array_equal(classifier.prior_, prior)
    assert np.array_equal(probabilities[[3, 50]], [prior, prior])
    assert not np.allclose(probabilities[51], prior)


def test_get_params_set_params_and_clone(toy_fusions):
    from sklearn.base import clone

    classifier = MultimodalClassifier(fusion="toy-mean", epochs=3)
    assert classifier.get_params()["epochs"] == 3
    assert classifier.set_params(epochs=4) is classifier and classifier.epochs == 4
    copy = clone(classifier)
    assert copy is not classifier and copy.get_params() == classifier.get_params()
    assert repr(classifier) == "MultimodalClassifier(fusion='toy-mean', epochs=4)"
    with pytest.raises(ConfigurationError, match="no parameters"):
        classifier.set_params(epoch=3)


def test_mistakes_are_explained(toy_fusions, planted, tmp_path):
    features, y = planted(60)
    classifier = MultimodalClassifier(fusion="toy-mean", **{**SMALL, "epochs": 1})
    with pytest.raises(ConfigurationError, match="not fitted"):
        classifier.predict(features)
    with pytest.raises(DataError, match="59 labels for 60 items"):
        classifier.fit(features, y[:59])
    with pytest.raises(DataError, match="missing"):
        classifier.fit(features, [None, *y[1:]])
    with pytest.raises(DataError, match="at least two classes"):
        classifier.fit(features, np.zeros(60))
    with pytest.raises(ConfigurationError, match="unknown learner"):
        MultimodalClassifier(learner="knn").fit(features, y)
    with pytest.raises(ConfigurationError, match="not among the classes"):
        MultimodalClassifier(learner="logistic", class_weight={"cat": 2.0}).fit(features, y)
    with pytest.raises(ConfigurationError, match="ModalityFeatures"):
        classifier.fit(features.vectors["text"], y)

    classifier.fit(features, y)
    with pytest.raises(ConfigurationError, match=r"features.select\(\['image', 'text'\]\)"):
        extra = ModalityFeatures({**features.vectors, "audio": np.ones((60, 2))},
                                 {**features.present, "audio": np.ones(60, bool)})
        classifier.predict(extra)
    with pytest.raises(ConfigurationError, match="fitted on modalities"):
        classifier.predict(features.select(["text"]))
    path = classifier.save(tmp_path / "model.sfm")
    with pytest.raises(DataError, match="load it with MultimodalClassifier.load"):
        MultimodalMultiTask.load(path)
    (tmp_path / "junk").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not an estimator file"):
        MultimodalClassifier.load(tmp_path / "junk")


# -- calibration --------------------------------------------------------------------------------------------------


def calibrated_and_raw(learner, features, y, **options):
    calibrated = MultimodalClassifier(learner=learner, fusion="toy-mean", **options).fit(features, y)
    raw = MultimodalClassifier(learner=learner, fusion="toy-mean", calibration=None, **options).fit(features, y)
    return calibrated, raw


def test_a_network_is_calibrated_on_the_items_early_stopping_held_out(toy_fusions, planted):
    features, y = planted(300, seed=12, minority=0.3)  # overlapping classes: a network is not always right
    test, _ = planted(200, seed=13, minority=0.3)

    calibrated, raw = calibrated_and_raw("neural", features, y, **SMALL)

    # The same held-out items, the same network: only the temperature differs.
    for column in ("train_loss", "validation_loss"):
        np.testing.assert_array_equal(calibrated.history_.column(column), raw.history_.column(column))
    assert calibrated.history_.best_epoch == raw.history_.best_epoch
    assert raw.temperature_ == 1.0 and calibrated.temperature_ != 1.0
    np.testing.assert_array_equal(calibrated.predict(test), raw.predict(test))
    assert not np.allclose(calibrated.predict_proba(test), raw.predict_proba(test))


@pytest.mark.parametrize("learner", ["logistic", "random_forest"])
def test_a_classic_learner_is_calibrated_out_of_fold(planted, tmp_path, learner):
    features, y = planted(300, seed=12, minority=0.3)
    test, _ = planted(200, seed=13, minority=0.3)

    calibrated, raw = calibrated_and_raw(learner, features, y)

    assert raw.temperature_ == 1.0 and 0.05 < calibrated.temperature_ < 20 and calibrated.temperature_ != 1.0
    np.testing.assert_array_equal(calibrated.predict(test), raw.predict(test))
    loaded = MultimodalClassifier.load(calibrated.save(tmp_path / "model.sfm"))
    assert loaded.temperature_ == calibrated.temperature_
    assert np.array_equal(loaded.predict_proba(test), calibrated.predict_proba(test))


def test_calibration_needs_held_out_items_and_a_known_method(toy_fusions, planted, caplog):
    features, y = planted(60, seed=14)

    network = MultimodalClassifier(fusion="toy-mean", validation_fraction=0.0, **{**SMALL, "epochs": 2})
    assert network.fit(features, y).temperature_ == 1.0
    assert "no held-out items to calibrate on" in caplog.text
    rare = np.zeros(60, np.int64)
    rare[0] = 1  # one item of class 1: no out-of-fold prediction for it
    assert MultimodalClassifier(learner="logistic").fit(features, rare).temperature_ == 1.0
    assert "too few training items" in caplog.text
    with pytest.raises(ConfigurationError, match="unknown calibration 'platt'"):
        MultimodalClassifier(learner="logistic", calibration="platt").fit(features, y)


def test_a_file_saved_before_calibration_loads_uncalibrated(planted, tmp_path):
    import json
    import zipfile

    features, y = planted(100, seed=15)
    path = MultimodalClassifier(learner="logistic").fit(features, y).save(tmp_path / "model.sfm")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    state = json.loads(members["estimator.json"])
    del state["fitted"]["temperature"]
    del state["params"]["calibration"]
    members["estimator.json"] = json.dumps(state).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    loaded = MultimodalClassifier.load(path)

    assert loaded.temperature_ == 1.0
    np.testing.assert_array_equal(loaded.predict_proba(features),
                                  MultimodalClassifier(learner="logistic", calibration=None).fit(features, y)
                                  .predict_proba(features))


# -- several tasks ------------------------------------------------------------------------------------------------


def multitask_targets(y, seed=0):
    rng = np.random.default_rng(seed)
    sentiment = [None if index % 5 == 0 else label for index, label in enumerate(named(y))]  # 20% unknown
    engagement = np.where(rng.random(len(y)) < 0.2, np.nan, 100.0 + 30.0 * y + rng.normal(size=len(y)))
    return {"sentiment": sentiment, "engagement": engagement}


def test_multitask_learns_both_tasks_with_missing_targets(toy_fusions, planted, tmp_path):
    features, y = planted(300, seed=9)
    test, y_test = planted(150, seed=10)
    tasks = {"sentiment": "classification", "engagement": "regression"}
    model = MultimodalMultiTask(tasks, fusion="toy-mean", task_weights="learned", **SMALL)
    model.fit(features, multitask_targets(y))

    scores = model.score(test, multitask_targets(y_test, seed=1))
    assert scores["sentiment"] > 0.85 and scores["engagement"] > 0.5
    assert model.classes_["sentiment"].tolist() == ["negative", "positive"]
    known = [label for label in multitask_targets(y)["sentiment"] if label is not None]
    assert model.prior_["sentiment"].tolist() == pytest.approx([known.count("negative") / len(known),
                                                                known.count("positive") / len(known)])
    assert model.target_scaling_["engagement"][0] == pytest.approx(np.nanmean(multitask_targets(y)["engagement"]))
    predictions = model.predict(test)
    assert predictions["engagement"].mean() == pytest.approx(115, abs=5)  # in the targets' own units
    assert set(model.predict_proba(test)) == {"sentiment"}
    assert model.history_.task_weights.keys() == {"sentiment", "engagement"}

    loaded = MultimodalMultiTask.load(model.save(tmp_path / "multi.sfm"))
    again = loaded.predict(test)
    assert np.array_equal(again["engagement"], predictions["engagement"])
    assert np.array_equal(again["sentiment"], predictions["sentiment"])


def test_multitask_fixed_weights_and_per_task_class_weights(toy_fusions, planted):
    features, y = planted(120, seed=11)
    tasks = {"sentiment": "classification", "engagement": "regression"}
    model = MultimodalMultiTask(tasks, fusion="toy-mean", task_weights={"engagement": 0.25},
                                class_weight={"sentiment": "balanced"}, **{**SMALL, "epochs": 2})
    model.fit(features, multitask_targets(y))

    assert model.history_.task_weights == {"sentiment": 1.0, "engagement": 0.25}
    with pytest.raises(ConfigurationError, match="not classification tasks"):
        model.set_params(class_weight={"engagement": "balanced"}).fit(features, multitask_targets(y))
    with pytest.raises(ConfigurationError, match="decision-level"):
        MultimodalMultiTask(tasks, fusion="toy-late", **SMALL).fit(features, multitask_targets(y))
    with pytest.raises(DataError, match="no targets for tasks"):
        MultimodalMultiTask(tasks, fusion="toy-mean").fit(features, {"sentiment": y})


# -- the real fusion modules --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fusion", REAL)
def test_real_fusions_learn_and_round_trip(planted, tmp_path, fusion):
    features, y = planted(300, seed=1)
    test, y_test = planted(200, seed=2)
    classifier = MultimodalClassifier(fusion=fusion, fusion_options={"dropout": 0.0}, **SMALL).fit(features, y)

    assert classifier.score(test, y_test) > 0.8
    loaded = MultimodalClassifier.load(classifier.save(tmp_path / f"{fusion}.sfm"))
    assert np.array_equal(loaded.predict_proba(test), classifier.predict_proba(test))
