"""Explanations: gate weights, leave-one-modality-out deltas, word occlusion and image tags."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError
from socialfusion.fusion import available_fusions
from socialfusion.learn import ModalityFeatures, MultimodalClassifier, explain, word_contributions

SMALL = {"fused_dim": 8, "hidden": 8, "epochs": 25, "batch_size": 32, "learning_rate": 1e-2}
GATED = [name for name in ("gated-attention", "mean", "late") if name in available_fusions()]


def test_gate_weights_sum_to_one_over_present_modalities_and_absent_ones_have_no_delta(toy_fusions, planted):
    features, y = planted(200, seed=1)
    classifier = MultimodalClassifier(fusion="toy-mean", **{**SMALL, "epochs": 5}).fit(features, y)
    explanation = explain(classifier, features)

    present = explanation.present
    assert explanation.modalities == ["image", "text"]
    assert np.allclose(np.where(present, explanation.gate_weights, 0).sum(axis=1), 1.0)
    assert np.all(explanation.gate_weights[~present] == 0)
    assert np.all(np.isnan(explanation.deltas[~present])) and not np.any(np.isnan(explanation.deltas[present]))
    assert np.array_equal(explanation.predicted, classifier.predict(features))
    assert np.allclose(explanation.probability, classifier.predict_proba(features).max(axis=1))


@pytest.mark.parametrize("fusion", GATED)
def test_real_fusion_weights_sum_to_one_over_present_modalities(planted, fusion):
    features, y = planted(150, seed=2)
    classifier = MultimodalClassifier(fusion=fusion, **{**SMALL, "epochs": 3}).fit(features, y)
    weights = explain(classifier, features).gate_weights

    assert weights is not None
    present = np.stack([features.present[name] for name in features.modalities], axis=1)
    assert np.allclose(np.where(present, weights, 0).sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(weights[~present], 0.0, atol=1e-6)


@pytest.mark.parametrize("learner", ["neural", "logistic"])
def test_when_only_the_image_matters_its_delta_is_larger(toy_fusions, planted, learner):
    features, y = planted(300, seed=3, image_only=True)
    classifier = MultimodalClassifier(learner=learner, fusion="toy-mean", **SMALL).fit(features, y)
    deltas = explain(classifier, features).deltas

    image, text = np.nanmean(deltas, axis=0)
    assert image > 0.2 and image > 5 * abs(text)


def test_hiding_the_only_modality_falls_back_to_the_prior(planted):
    features, y = planted(200, seed=4)
    classifier = MultimodalClassifier(learner="logistic").fit(features, y)
    explanation = explain(classifier, features)

    only_text = features.present["text"] & ~features.present["image"]
    predicted = np.searchsorted(classifier.classes_, explanation.predicted)
    expected = explanation.probability - classifier.prior_[predicted]
    assert np.allclose(explanation.deltas[only_text, 1], expected[only_text])


def test_tags_words_and_the_arrow_table(toy_fusions, planted):
    features, y = planted(4, seed=5)
    classifier = MultimodalClassifier(learner="logistic").fit(*planted(100, seed=6))
    tags = [[("golden retriever", 0.8)], [], [("pizza", 0.5), ("plate", 0.2)], []]
    explanation = explain(classifier, features, tags=tags)
    table = explanation.to_arrow()

    assert explanation.tags == tags and explanation.words is None and explanation.gate_weights is None
    assert table.num_rows == 4
    assert table.column_names == ["id", "predicted", "probability", "image_delta", "text_delta", "tags"]
    assert table.column("tags").to_pylist()[2] == [{"tag": "pizza", "probability": 0.5},
                                                   {"tag": "plate", "probability": 0.2}]
    assert table.column("text_delta").null_count == int((~features.present["text"]).sum())
    with pytest.raises(ConfigurationError, match="3 tag lists for 4 items"):
        explain(classifier, features, tags=tags[:3])


class KeywordEncoder:
    """A stand-in text encoder: one dimension per keyword, 1 when the text holds it (blank texts are missing)."""

    name, modality, version = "text/keywords", "text", "1"
    keywords = ("awful", "great", "the", "food")
    dim = len(keywords)

    def encode(self, items, *, batch_size=32):
        vectors = np.array([[float(word in (text or "").lower()) for word in self.keywords] for text in items],
                           np.float32)
        missing = np.array([not (text or "").strip() for text in items])
        return Encoded(vectors * ~missing[:, None], missing, ["empty text" if flag else None for flag in missing])


def test_word_occlusion_names_the_word_behind_the_prediction():
    encoder = KeywordEncoder()
    rng = np.random.default_rng(0)
    texts = [f"the food was {rng.choice(['awful', 'great'])}" for _ in range(60)]
    labels = ["negative" if "awful" in text else "positive" for text in texts]
    encoded = encoder.encode(texts)
    features = ModalityFeatures.from_encoded({"text": encoded})
    classifier = MultimodalClassifier(learner="logistic").fit(features, labels)

    asked = ["the food was awful !", "", "great"]
    asked_features = ModalityFeatures.from_encoded({"text": encoder.encode(asked)})
    words = word_contributions(classifier, asked, encoder, asked_features, k=2)

    assert words[0][0][0] == "awful" and words[0][0][1] > 0.3
    assert len(words[0]) == 2
    assert words[1] == []
    assert words[2][0][0] == "great"  # its only word: removing it leaves no text, so the prior
    explanation = explain(classifier, asked_features, texts=asked, text_encoder=encoder, k=1)
    assert explanation.words[0] == words[0][:1]
    with pytest.raises(ConfigurationError, match="the text encoder gives 5-d vectors"):
        word_contributions(classifier, asked, type("Wide", (KeywordEncoder,), {"dim": 5})(), asked_features)


def test_chinese_texts_are_split_into_words():
    encoder = type("ChineseKeywords", (KeywordEncoder,), {"keywords": ("糟糕", "好看", "电影", "很")})()
    texts = ["这部电影很糟糕", "这部电影很好看"] * 20
    features = ModalityFeatures.from_encoded({"text": encoder.encode(texts)})
    classifier = MultimodalClassifier(learner="logistic").fit(features, ["negative", "positive"] * 20)

    asked = ["这部电影很糟糕。"]
    asked_features = ModalityFeatures.from_encoded({"text": encoder.encode(asked)})
    words = word_contributions(classifier, asked, encoder, asked_features)
    assert words[0][0][0] == "糟糕"
    assert {word for word, _ in words[0]} <= {"这部", "电影", "很", "糟糕"}  # no punctuation, jieba's words


def test_a_multitask_model_is_not_explained_as_a_classifier(toy_fusions, planted):
    from socialfusion.learn import MultimodalMultiTask

    features, y = planted(60)
    model = MultimodalMultiTask({"label": "classification"}, fusion="toy-mean", epochs=1).fit(features, {"label": y})
    with pytest.raises(ConfigurationError, match="single-task classifier"):
        explain(model, features)


@pytest.mark.slow
def test_word_contributions_with_minilm_put_the_sentiment_word_first():
    from socialfusion.encoders import get_encoder

    encoder = get_encoder("text/minilm", device="cpu")
    positive = ["I love this phone", "what a wonderful day", "the concert was amazing", "great food and friendly staff",
                "this movie was fantastic", "such a lovely view", "best coffee in town", "I am so happy today",
                "brilliant performance tonight", "the service was excellent"]
    negative = ["I hate this phone", "what a horrible day", "the concert was awful", "bad food and rude staff",
                "this movie was terrible", "such an ugly view", "worst coffee in town", "I am so sad today",
                "dreadful performance tonight", "the service was disappointing"]
    texts, labels = positive + negative, ["positive"] * 10 + ["negative"] * 10
    features = ModalityFeatures.from_encoded({"text": encoder.encode(texts)})
    classifier = MultimodalClassifier(learner="logistic").fit(features, labels)

    asked = ["the food at this place was terrible"]
    asked_features = ModalityFeatures.from_encoded({"text": encoder.encode(asked)})
    assert classifier.predict(asked_features).tolist() == ["negative"]
    words = word_contributions(classifier, asked, encoder, asked_features, k=3)
    assert words[0][0][0] == "terrible"
