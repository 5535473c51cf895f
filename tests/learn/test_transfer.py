"""TransferredPredictions: a source-trained model's log-probabilities as a target modality."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn import ModalityFeatures
from socialfusion.learn.transfer import TransferredPredictions

POSITIVE = ["love it", "what a great day", "so happy now", "best news ever", "amazing work", "lovely people"]
NEGATIVE = ["hate it", "what an awful day", "so sad now", "worst news ever", "terrible work", "horrible people"]


def test_source_model_predicts_target_texts_and_rows_without_text_are_absent():
    transfer = TransferredPredictions().fit(POSITIVE * 3 + NEGATIVE * 3, ["pos"] * 18 + ["neg"] * 18)
    assert transfer.classes_ == ["neg", "pos"]
    target_texts = ["a great and happy day", "an awful and sad day", None, "   "]
    scores = transfer.transform(target_texts)
    assert scores.shape == (4, 2) and scores.dtype == np.float32
    assert scores[0].argmax() == 1 and scores[1].argmax() == 0
    assert np.allclose(np.exp(scores[:2]).sum(axis=1), 1.0, atol=1e-4)
    features = ModalityFeatures({"text": np.ones((4, 2))}, {"text": np.ones(4, bool)})
    added = transfer.add_to(features, target_texts)
    assert added.modalities == ["text", "transfer"]
    assert added.present["transfer"].tolist() == [True, True, False, False]
    assert not added.vectors["transfer"][2:].any()


def test_any_estimator_over_modality_features():
    from socialfusion.learn.stacking import StackedFusionClassifier

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    source = ModalityFeatures({"text": rng.normal(size=(200, 3)) + 2 * y[:, None]}, {"text": np.ones(200, bool)})
    transfer = TransferredPredictions(StackedFusionClassifier(random_state=0)).fit(source, y)
    target = ModalityFeatures({"text": np.array([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])}, {"text": np.ones(2, bool)})
    assert transfer.transform(target).argmax(axis=1).tolist() == [1, 0]


def test_clear_errors():
    with pytest.raises(ConfigurationError, match="not fitted"):
        TransferredPredictions().transform(["text"])
    with pytest.raises(DataError, match="labels for"):
        TransferredPredictions().fit(["a", "b"], ["x"])
    with pytest.raises(DataError, match="2 classes"):
        TransferredPredictions().fit(["a", "b"], ["x", "x"])
    transfer = TransferredPredictions().fit(POSITIVE + NEGATIVE, ["pos"] * 6 + ["neg"] * 6)
    features = ModalityFeatures({"transfer": np.ones((1, 2))}, {"transfer": np.ones(1, bool)})
    with pytest.raises(ConfigurationError, match="already have"):
        transfer.add_to(features, ["x"])
    with pytest.raises(DataError, match="inputs for"):
        transfer.add_to(features, ["x", "y"], name="other")


def test_default_source_model_is_the_tfidf_text_classifier_with_a_logistic_loss():
    from socialfusion.learn.text_linear import TfidfTextClassifier

    texts, labels = POSITIVE * 3 + NEGATIVE * 3, ["pos"] * 18 + ["neg"] * 18
    transfer = TransferredPredictions().fit(texts, labels)
    model = transfer.estimator_
    assert isinstance(model, TfidfTextClassifier) and model.loss == "log" and model.class_weight is None
    target = ["a great and happy day", "an awful and sad day"]
    assert np.allclose(transfer.transform(target), np.log(model.predict_proba(target)), atol=1e-5)
    assert transfer.transform(target).argmax(axis=1).tolist() == [1, 0]
