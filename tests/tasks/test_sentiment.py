"""Sentiment: lexicon baselines by eye, SentimentModel on the synthetic network's planted sentiment, stored
predictions, errors that say how to fix them, and the report section."""

from __future__ import annotations

import html

import numpy as np
import pyarrow as pa
import pytest

import socialfusion.tasks
import socialfusion.tasks.sentiment
from socialfusion import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.encoders.text import LEXICON_FEATURES
from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.featurize import feature_table, featurize
from socialfusion.ingestion import ingest_corpus
from socialfusion.learn import ModalityFeatures
from socialfusion.learn.calibration import expected_calibration_error
from socialfusion.report import Figure, Metrics, Table, Text, render_report
from socialfusion.store import connect
from socialfusion.tasks import (
    PREDICTIONS_TABLE,
    LexiconSentiment,
    SentimentModel,
    lexicon_sentiment,
    read_predictions,
    sentiment_scores,
    sentiment_section,
    write_predictions,
)
from socialfusion.tasks.sentiment import (
    SNOWNLP_NEGATIVE_BELOW,
    SNOWNLP_POSITIVE_ABOVE,
    VADER_THRESHOLD,
    labelled_posts,
    lexicon_feature_labels,
)

# Fast encoders for most tests (about a second for the whole corpus); the default ones run in one slow test.
FAST = {"image": "image/colour-histogram", "lexicon": "text/lexicon"}
TEXT_ONLY = {"lexicon": "text/lexicon"}
EVALUATION_KEYS = {"accuracy", "weighted_f1", "macro_f1", "macro_recall", "n", "labels", "confusion_matrix",
                   "task", "split", "ece", "nll", "brier"}
HOSTILE = "<script>alert('x')</script>"


@pytest.mark.parametrize("module", [socialfusion.tasks, socialfusion.tasks.sentiment])
def test_exports_are_sorted_and_resolve(module):
    def export_order(name: str) -> tuple[int, str]:  # CONSTANTS, Classes, functions (ruff's RUF022)
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name

    assert module.__all__ == sorted(module.__all__, key=export_order)
    assert all(getattr(module, name) is not None for name in module.__all__)


# -- lexicon baselines by eye -------------------------------------------------------------------------------------


def test_english_lexicon_by_eye():
    texts = ["I love this, what a great day!", "This is terrible and I hate it.", "The bus leaves at nine.",
             "see you there :)", "", None]

    assert lexicon_sentiment(texts, language="en").tolist() == [
        "positive", "negative", "neutral", "positive", "neutral", "neutral"]


def test_chinese_lexicon_by_eye_with_detected_languages():
    texts = ["今天真开心，太棒了！", "这部电影太糟糕了，浪费时间。",
             "What a wonderful surprise!", "Worst. Service. Ever."]

    assert lexicon_sentiment(texts).tolist() == ["positive", "negative", "positive", "negative"]


def test_one_language_per_text_and_none_is_detected():
    texts = ["今天真开心，太棒了！", "I am so happy today"]

    assert lexicon_sentiment(texts, language=["zh", None]).tolist() == ["positive", "positive"]
    # Scored as English, a Chinese text has no VADER word: neutral.
    assert lexicon_sentiment(texts, language="en").tolist() == ["neutral", "positive"]
    with pytest.raises(ConfigurationError, match="2 languages for 1 texts"):
        lexicon_sentiment(["hello"], language=["en", "zh"])


def test_lexicon_thresholds_are_the_documented_ones():
    vectors = np.zeros((8, len(LEXICON_FEATURES)), np.float32)
    compound, chinese = LEXICON_FEATURES.index("vader_compound"), LEXICON_FEATURES.index("chinese_sentiment")
    vectors[:4, compound] = [VADER_THRESHOLD, VADER_THRESHOLD - 0.01, -VADER_THRESHOLD, -VADER_THRESHOLD + 0.01]
    probabilities = [SNOWNLP_POSITIVE_ABOVE + 0.01, SNOWNLP_POSITIVE_ABOVE, SNOWNLP_NEGATIVE_BELOW - 0.01,
                     SNOWNLP_NEGATIVE_BELOW]
    vectors[4:, chinese] = 2 * np.array(probabilities) - 1
    is_chinese = np.array([False] * 4 + [True] * 4)

    labels, strength = lexicon_feature_labels(vectors, is_chinese)

    assert labels.tolist() == ["positive", "neutral", "negative", "neutral",
                               "positive", "neutral", "negative", "neutral"]
    assert np.all((strength >= 0) & (strength <= 1))


def test_sentiment_scores_by_eye():
    scores = sentiment_scores(["positive", "negative", "neutral", "positive"],
                              ["positive", "negative", "positive", "positive"])

    assert scores["accuracy"] == 0.75
    assert scores["labels"] == ["negative", "neutral", "positive"]
    assert scores["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert scores["macro_recall"] == pytest.approx((1 + 0 + 1) / 3)
    assert scores["n"] == 4


# -- the synthetic network ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """60 users, 400 original posts, 60% with an image, 30% of those sarcastic; ingested, lexicon + histogram
    features computed. Returns (store, truth)."""
    folder = tmp_path_factory.mktemp("synthetic")
    network = generate(n_users=60, n_posts=400, seed=0, media_dir=folder / "media", n_videos=0, n_audio=0,
                       image_fraction=0.6, disagreement_fraction=0.3)
    store = connect(folder / "store")
    ingest_corpus(network.corpus, store)
    return store, network.truth


@pytest.fixture(scope="module")
def fused(synthetic):
    store, _ = synthetic
    return SentimentModel(encoders=FAST).fit(store, split="train")


def held_out(store) -> tuple[list[str], np.ndarray]:
    dev, dev_labels = labelled_posts(store, "sentiment", "dev")
    test, test_labels = labelled_posts(store, "sentiment", "test")
    return dev + test, np.concatenate([dev_labels, test_labels])


def accuracy(model, store, ids, truth) -> float:
    predicted = np.array(model.predict(store, ids).column("label").to_pylist())
    return float(np.mean(predicted == truth))


def test_fused_model_beats_chance_on_held_out_posts(synthetic, fused):
    store, _ = synthetic
    ids, truth = held_out(store)
    majority = max(np.mean(truth == label) for label in np.unique(truth))

    assert fused.training_["split"] == "train" and fused.training_["n"] > 250
    assert accuracy(fused, store, ids, truth) > majority + 0.3  # about 0.85 against a majority share of 0.43


def test_images_get_the_sarcastic_posts_right(synthetic, fused):
    store, truth_of_network = synthetic
    ids, truth = held_out(store)
    sarcastic = dict(zip(truth_of_network.post_ids, truth_of_network.disagree))
    rows = [index for index, post_id in enumerate(ids) if sarcastic[post_id]]
    sarcastic_ids, sarcastic_truth = [ids[index] for index in rows], truth[rows]
    text_only = SentimentModel(encoders=TEXT_ONLY).fit(store, split="train")

    with_images = accuracy(fused, store, sarcastic_ids, sarcastic_truth)
    without = accuracy(text_only, store, sarcastic_ids, sarcastic_truth)

    assert len(rows) >= 10
    assert with_images >= 0.7  # the planted truth is the image's sentiment
    assert with_images - without >= 0.4  # the text says the opposite


def test_evaluate_returns_the_documented_keys(synthetic, fused):
    store, _ = synthetic

    scores = fused.evaluate(store, split="test")

    assert set(scores) == EVALUATION_KEYS
    assert (scores["task"], scores["split"]) == ("sentiment", "test")
    assert scores["n"] == len(labelled_posts(store, "sentiment", "test")[0])
    matrix = np.array(scores["confusion_matrix"])
    assert matrix.sum() == scores["n"]
    assert scores["accuracy"] == pytest.approx(np.trace(matrix) / scores["n"])
    assert scores["labels"] == ["negative", "neutral", "positive"]
    assert 0 <= scores["ece"] < 0.2 and 0 < scores["nll"] < 1 and 0 < scores["brier"] < 0.5


def test_the_model_is_calibrated_on_held_out_training_posts_unless_told_not_to(synthetic, fused):
    store, _ = synthetic
    raw = SentimentModel(encoders=FAST, fusion_options={"calibration": None}).fit(store)

    calibration = fused.training_["calibration"]
    assert calibration["method"] == "temperature"
    assert calibration["temperature"] == fused.classifier_.temperature_ != 1.0
    assert raw.training_["calibration"] is None and raw.classifier_.temperature_ == 1.0
    calibrated_rows, raw_rows = fused.predict(store), raw.predict(store)
    assert calibrated_rows.column("label").equals(raw_rows.column("label"))  # the same classes, other probabilities
    assert not calibrated_rows.column("confidence").equals(raw_rows.column("confidence"))


def test_predict_every_post_with_a_modality(synthetic, fused):
    store, truth = synthetic

    predictions = fused.predict(store)

    assert predictions.column_names == ["post_id", "label", "confidence", "model", "p_negative", "p_neutral",
                                        "p_positive"]
    reshares = set(truth.post_ids[truth.post_kind == "reshare"])
    assert predictions.num_rows == len(truth.post_ids) - len(reshares)  # reshares have no text and no media
    assert not reshares & set(predictions.column("post_id").to_pylist())
    probabilities = np.column_stack([predictions.column(f"p_{c}").to_numpy() for c in fused.classes_])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(predictions.column("confidence").to_numpy(), probabilities.max(axis=1))
    # Asked by id, a reshare gets a row too (the model's guess from nothing: its fallback).
    assert fused.predict(store, [sorted(reshares)[0]]).num_rows == 1


def test_save_and_load_round_trip_predictions_exactly(synthetic, fused, tmp_path):
    store, _ = synthetic

    folder = fused.save(tmp_path / "model")
    loaded = SentimentModel.load(folder)

    assert sorted(path.name for path in folder.iterdir()) == ["classifier.npz", "sentiment_model.json"]
    assert loaded.get_params() == fused.get_params()
    assert loaded.encoders_ == fused.encoders_ and loaded.training_ == fused.training_
    assert loaded.predict(store).equals(fused.predict(store))


def test_predictions_are_written_and_read_back(synthetic, fused):
    store, _ = synthetic
    predictions = fused.predict(store)

    assert write_predictions(store, predictions) == predictions.num_rows
    stored = read_predictions(store).sort_by("post_id")

    assert stored.equals(predictions.sort_by("post_id"))
    some = predictions.column("post_id").to_pylist()[:3]
    assert read_predictions(store, some).num_rows == 3


def test_lexicon_predictions_upsert_over_model_ones():
    store = connect("memory://")
    model_rows = pa.table({"post_id": ["p1", "p2"], "label": ["positive", "neutral"], "confidence": [0.9, 0.6],
                           "model": ["stacked", "stacked"], "p_neutral": [0.1, 0.6], "p_positive": [0.9, 0.4]})
    write_predictions(store, model_rows)

    write_predictions(store, pa.table({"post_id": ["p2", "p3"], "label": ["negative", "positive"],
                                       "confidence": [0.5, 0.4], "model": ["lexicon", "lexicon"]}))

    rows = {row["post_id"]: row for row in read_predictions(store).to_pylist()}
    assert set(rows) == {"p1", "p2", "p3"}
    assert rows["p1"] == model_rows.to_pylist()[0]
    assert (rows["p2"]["label"], rows["p2"]["model"], rows["p2"]["p_positive"]) == ("negative", "lexicon", None)


def test_bad_predictions_are_refused():
    store = connect("memory://")
    with pytest.raises(DataError, match="missing"):
        write_predictions(store, pa.table({"post_id": ["p1"], "label": ["positive"]}))
    twice = pa.table({"post_id": ["p1", "p1"], "label": ["a", "b"], "confidence": [1.0, 1.0], "model": ["m", "m"]})
    with pytest.raises(DataError, match="same post_id twice"):
        write_predictions(store, twice)
    with pytest.raises(StoreError, match="socialfusion sentiment predict"):
        read_predictions(store)


def test_lexicon_baseline_over_the_store(synthetic):
    store, _ = synthetic

    scores = LexiconSentiment().evaluate(store, split="test")
    predictions = LexiconSentiment().predict(store, ["p000001"])

    assert set(scores) == EVALUATION_KEYS
    assert 0.5 < scores["accuracy"] < 0.95  # the templates are lexicon-friendly; sarcasm and topics are not
    assert predictions.column_names == ["post_id", "label", "confidence", "model", "score"]
    assert predictions.column("model").to_pylist() == ["lexicon"]
    # Not calibrated on labels: no confidence (a lexicon score is not a probability), the raw score instead.
    assert predictions.column("confidence").to_pylist() == [None]
    assert -1 <= predictions.column("score")[0].as_py() <= 1
    assert scores["ece"] is None and scores["nll"] is None


def test_the_lexicon_is_calibrated_on_training_labels(synthetic):
    store, _ = synthetic
    train_ids, _ = labelled_posts(store, "sentiment", "train")

    lexicon = LexiconSentiment().fit(store)
    predictions = lexicon.predict(store)
    scores = lexicon.evaluate(store, split="test")

    assert lexicon.calibration_items_ == len(train_ids)
    assert {"vader/positive", "vader/negative", "vader/neutral"} <= set(lexicon.calibration_)
    confidence = np.array(predictions.column("confidence").to_pylist(), dtype=float)
    assert np.all((confidence > 0) & (confidence < 1))
    assert predictions.column("label").equals(LexiconSentiment().predict(store).column("label"))  # same labels
    assert scores["ece"] < 0.25 and scores["accuracy"] == LexiconSentiment().evaluate(store, split="test")["accuracy"]
    positive = lexicon.calibration_["vader/positive"]
    assert positive[0] > 0  # a stronger VADER score is more often right


def test_lexicon_calibration_without_labels_or_with_other_classes():
    store = connect("memory://")
    ingest_corpus(Corpus.from_records(posts=[{"post_id": "p1", "text": "I love it", "lang": "en"}]), store)

    with pytest.raises(DataError, match="has no labels"):
        LexiconSentiment().fit(store)
    lexicon = LexiconSentiment().fit(store, missing_ok=True)
    assert lexicon.calibration_ is None and lexicon.predict(store).column("confidence").to_pylist() == [None]
    ingest_corpus(Corpus.from_records(labels=[{"item_id": "p1", "item_kind": "post", "task": "sentiment",
                                               "label": "joy", "split": "train"}]), store)
    with pytest.raises(ConfigurationError, match="none of the lexicon's classes"):
        LexiconSentiment().fit(store)


# -- bad input ----------------------------------------------------------------------------------------------------


def test_unknown_task_names_the_tasks_in_the_store(synthetic):
    store, _ = synthetic

    with pytest.raises(ConfigurationError, match="'emotion'.*tasks of posts there: sentiment, topic"):
        SentimentModel(encoders=FAST).fit(store, task="emotion")


def test_unknown_split_names_the_splits(synthetic):
    store, _ = synthetic

    with pytest.raises(DataError, match="split 'validation'.*dev, test, train"):
        SentimentModel(encoders=FAST).fit(store, split="validation")


def test_a_store_without_labels_says_how_to_add_them(tmp_path):
    store = connect(tmp_path / "store")
    ingest_corpus(Corpus.from_records(posts=[{"post_id": "p1", "text": "hello"}]), store)

    with pytest.raises(DataError, match="has no labels.*--table labels"):
        SentimentModel(encoders=FAST).fit(store)


@pytest.mark.parametrize(("options", "message"), [
    ({"encoders": {"text": "text/nope"}}, "unknown encoder 'text/nope'"),
    ({"encoders": {"graph": "graph/spectral"}}, "describes graph items, not posts"),
    ({"encoders": {}}, "must map modality names"),
    ({"fusion_options": {"not_an_option": 1}}, "not options of StackedFusionClassifier"),
    ({"fusion_options": {"random_state": 1}}, "SentimentModel\\(random_state"),
    ({"fusion": "no-such-fusion"}, "unknown fusion 'no-such-fusion'"),
])
def test_bad_options_fail_before_any_work(options, message, tmp_path):
    store = connect(tmp_path / "store")  # empty: options are checked first

    with pytest.raises(ConfigurationError, match=message):
        SentimentModel(**{"encoders": FAST, **options}).fit(store)
    assert not store.tables()


def test_unfitted_and_unknown_ids(synthetic, fused):
    store, _ = synthetic

    with pytest.raises(ConfigurationError, match="not fitted yet"):
        SentimentModel().predict(store)
    with pytest.raises(DataError, match="1 ids are not posts"):
        fused.predict(store, ["no-such-post"])


def test_loading_something_else_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="not a saved SentimentModel.*sentiment train"):
        SentimentModel.load(tmp_path)


def test_an_unfeaturized_store_is_featurized_then_cached(tmp_path):
    network = generate(n_users=30, n_posts=120, seed=3, n_videos=0, n_audio=0, image_fraction=0.0)
    store = connect(tmp_path / "store")
    ingest_corpus(network.corpus, store)
    assert feature_table("text/lexicon") not in store.tables()

    model = SentimentModel(encoders=TEXT_ONLY).fit(store, split=None)

    assert feature_table("text/lexicon") in store.tables()
    rerun = featurize(store, ["text/lexicon"]).runs[0]
    assert (rerun.encoded, rerun.cached) == (0, rerun.items)  # fit wrote every row; nothing left to encode
    assert model.training_["split"] is None
    assert model.training_["n"] == len(labelled_posts(store, "sentiment", None)[0])


@pytest.mark.slow
def test_default_encoders_follow_the_modalities_of_a_text_only_store(tmp_path):
    network = generate(n_users=30, n_posts=120, seed=3, n_videos=0, n_audio=0, image_fraction=0.0)
    store = connect(tmp_path / "store")
    ingest_corpus(network.corpus, store)

    model = SentimentModel(fusion_options={"Cs": (0.1,), "cv": 3}).fit(store, split=None)

    assert sorted(model.encoders_) == ["lexicon", "text"]  # no image encoder over a store without images
    assert "features_image_efficientnet" not in " ".join(store.tables())


def test_fit_features_without_matching_encoders_predicts_features_only(synthetic):
    store, _ = synthetic
    rng = np.random.default_rng(0)
    labels = np.array(["negative", "positive"] * 30)
    features = ModalityFeatures({"embedding": rng.normal(size=(60, 4)) + (labels == "positive")[:, None]},
                                {"embedding": np.ones(60, bool)}, [f"x{i}" for i in range(60)])

    model = SentimentModel().fit_features(features, labels)

    assert model.encoders_ is None
    assert model.predict_features(features).column("post_id").to_pylist()[:2] == ["x0", "x1"]
    with pytest.raises(ConfigurationError, match="SentimentModel\\(encoders="):
        model.predict(store)


# -- other learners -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [
    {"learner": "logistic"},
    pytest.param({"epochs": 5, "fused_dim": 16, "hidden": 16}, marks=pytest.mark.slow, id="neural"),
])
def test_any_fusion_uses_a_multimodal_classifier(synthetic, tmp_path, options):
    store, _ = synthetic
    ids, truth = held_out(store)

    model = SentimentModel(encoders=FAST, fusion="gated-attention", fusion_options=options).fit(store)
    loaded = SentimentModel.load(model.save(tmp_path / "model"))

    assert type(model.classifier_).__name__ == "MultimodalClassifier"
    assert accuracy(model, store, ids, truth) > 0.6
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == ["classifier.zip", "sentiment_model.json"]
    assert loaded.predict(store, ids).equals(model.predict(store, ids))


@pytest.mark.slow
def test_default_encoders_end_to_end(synthetic, tmp_path):
    """MiniLM int8 text, lexicon features and EfficientNet images: real models, cached in the store."""
    store, _ = synthetic
    ids, truth = held_out(store)

    model = SentimentModel(fusion_options={"Cs": (0.1,), "cv": 3}).fit(store)

    assert sorted(model.encoders_) == ["image", "lexicon", "text"]
    assert set(model.classifier_.base_models_) == {"image", "lexicon", "text"}
    assert accuracy(model, store, ids, truth) > 0.8


# -- calibration on real posts -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mvsa_store(shared_data, tmp_path_factory):
    """MVSA-Single's texts and labels (3,611 train, 450 dev tweets) in a store; no images."""
    from socialfusion.datasets import load_mvsa_single

    corpus = load_mvsa_single(shared_data)
    store = connect(tmp_path_factory.mktemp("mvsa") / "store")
    ingest_corpus(Corpus.from_records(
        posts=corpus.posts.select(["post_id", "text", "lang"]).to_pylist(),
        labels=corpus.labels.select(["item_id", "item_kind", "task", "label", "split"]).to_pylist()), store)
    return store


def shown_examples(section) -> list[dict]:
    (examples,) = [table for table in blocks_of(section, Table) if "most confident" in table.caption]
    return examples.head()[1]


@pytest.mark.slow
def test_calibrated_confidences_on_real_tweets(mvsa_store):
    """Trained on MVSA-Single train, scored on dev (never calibrated on it): a random forest over the lexicon
    features claims certainty it does not have until calibrated, and the report's examples show it."""
    store = mvsa_store
    dev_ids, _ = labelled_posts(store, "sentiment", "dev")
    options = {"learner": "random_forest"}
    calibrated = SentimentModel(encoders=TEXT_ONLY, fusion="concat", fusion_options=options).fit(store)
    raw = SentimentModel(encoders=TEXT_ONLY, fusion="concat", fusion_options={**options, "calibration": None}
                         ).fit(store)

    after, before = calibrated.evaluate(store, split="dev"), raw.evaluate(store, split="dev")

    assert after["accuracy"] == before["accuracy"]
    assert after["ece"] < before["ece"] and after["ece"] < 0.08  # 0.051 against 0.068
    assert after["nll"] < before["nll"]
    predictions = calibrated.predict(store, dev_ids)
    confidence = dict(zip(predictions.column("post_id").to_pylist(), predictions.column("confidence").to_pylist()))
    shown = shown_examples(sentiment_section(store, predictions))
    assert shown and max(confidence[row["post"]] for row in shown) < 1.0
    assert max(row["confidence"] for row in shown) <= 0.99
    uncalibrated = shown_examples(sentiment_section(store, raw.predict(store, dev_ids)))
    assert max(row["confidence"] for row in uncalibrated) == 1.0  # the bug this fixes: "confidence always 1"


@pytest.mark.slow
def test_the_lexicon_calibrated_on_real_tweets_beats_its_raw_strength(mvsa_store):
    store = mvsa_store
    dev_ids, dev_truth = labelled_posts(store, "sentiment", "dev")
    lexicon = LexiconSentiment().fit(store)  # the train split

    labels, strength, _, _ = lexicon._scored(store, dev_ids)  # what the report used to call confidence
    raw_ece = expected_calibration_error(strength, labels == dev_truth)
    calibrated = lexicon.evaluate(store, split="dev")

    assert calibrated["ece"] < raw_ece and calibrated["ece"] < 0.1  # 0.058 against 0.234
    shown = shown_examples(sentiment_section(store, lexicon.predict(store, dev_ids)))
    assert max(row["confidence"] for row in shown) < 1.0


# -- the report section -------------------------------------------------------------------------------------------


def small_corpus() -> Corpus:
    """Four posts on two days (one undated), two hashtags, one hostile text; p5 is scored but not in the corpus."""
    return Corpus.from_records(posts=[
        {"post_id": "p1", "text": "Loving #AI", "hashtags": ["AI"], "created_at": "2024-05-01T09:00:00Z"},
        {"post_id": "p2", "text": HOSTILE, "hashtags": ["ai", HOSTILE], "created_at": "2024-05-01T10:00:00Z"},
        {"post_id": "p3", "text": "so-so " * 60, "hashtags": [], "created_at": "2024-05-03T10:00:00Z"},
        {"post_id": "p4", "text": "meh", "hashtags": ["AI"], "created_at": None},
    ])


SMALL_PREDICTIONS = pa.table({
    "post_id": ["p1", "p2", "p3", "p4", "p5"],
    "label": ["positive", "negative", "neutral", "positive", "positive"],
    "confidence": [0.9, 0.8, 0.5, 0.6, 0.7],
    "model": ["stacked"] * 5,
    "p_negative": [0.05, 0.8, 0.2, 0.1, 0.1],
    "p_neutral": [0.05, 0.1, 0.5, 0.3, 0.2],
    "p_positive": [0.9, 0.1, 0.3, 0.6, 0.7],
})


def blocks_of(section, kind) -> list:
    return [block for block in section.blocks if isinstance(block, kind)]


def figure(section, key: str) -> Figure:
    (found,) = [block for block in blocks_of(section, Figure) if block.key == key]
    return found


def test_section_counts_by_eye():
    section = sentiment_section(small_corpus(), SMALL_PREDICTIONS)

    (metrics,) = blocks_of(section, Metrics)
    assert dict(metrics.values) == {"posts scored": 5, "negative": 1, "neutral": 1, "positive": 3}
    (bars,) = figure(section, "classes").figure.data
    assert dict(zip(bars.x, bars.y)) == {"negative": 1, "neutral": 1, "positive": 3}
    assert section.summary == "5 posts scored: 60% positive, 20% negative, 20% neutral."
    assert section.figure_ids() == ["sentiment-classes", "sentiment-over-time", "sentiment-hashtags"]


def test_section_share_over_time_by_eye():
    over_time = figure(sentiment_section(small_corpus(), SMALL_PREDICTIONS), "over-time")

    shares = {trace.name: dict(zip(map(str, trace.x), trace.y)) for trace in over_time.figure.data}
    assert shares["positive"] == {"2024-05-01": 0.5, "2024-05-02": None, "2024-05-03": 0.0}
    assert shares["negative"]["2024-05-01"] == 0.5 and shares["neutral"]["2024-05-03"] == 1.0
    assert "1 scored post without created_at is not shown" in over_time.caption


def test_section_hashtags_by_eye():
    hashtags = figure(sentiment_section(small_corpus(), SMALL_PREDICTIONS), "hashtags")

    counts = {trace.name: {html.unescape(tag): value for tag, value in zip(trace.y, trace.x)}
              for trace in hashtags.figure.data}
    assert counts["positive"] == {"ai": 2, HOSTILE: 0}
    assert counts["negative"] == {"ai": 1, HOSTILE: 1}
    assert "all of 2 hashtags" in hashtags.caption


def test_section_examples_most_confident_first_with_excerpts():
    section = sentiment_section(small_corpus(), SMALL_PREDICTIONS, top=1)

    examples = [table for table in blocks_of(section, Table) if "most confident" in table.caption][0]
    rows = examples.head()[1]
    assert [(row["class"], row["post"]) for row in rows] == [("negative", "p2"), ("neutral", "p3"),
                                                            ("positive", "p1")]
    assert len(rows[1]["text"]) == 160 and rows[1]["text"].endswith("…")


def test_section_shows_calibrated_probabilities_with_two_decimals_never_rounded_to_one():
    predictions = SMALL_PREDICTIONS.set_column(2, "confidence", pa.array([0.9987, 0.8, 0.5, 0.6, 0.7]))

    section = sentiment_section(small_corpus(), predictions, top=2)

    examples = [table for table in blocks_of(section, Table) if "most confident" in table.caption][0]
    rows = examples.head()[1]
    assert [(row["post"], row["confidence"]) for row in rows if row["class"] == "positive"] == [("p1", 0.99),
                                                                                              ("p4", 0.6)]
    assert "calibrated probability" in examples.caption and "lexicon score" not in examples.columns()


def test_section_ranks_uncalibrated_lexicon_posts_by_their_score_not_as_probabilities():
    lexicon = pa.table({"post_id": ["p1", "p2", "p3", "p4"], "label": ["positive", "negative", "neutral", "positive"],
                        "confidence": pa.nulls(4, pa.float64()), "model": ["lexicon"] * 4,
                        "score": [0.4, -0.9, 0.01, 0.95]})

    section = sentiment_section(small_corpus(), lexicon)

    (examples,) = [table for table in blocks_of(section, Table) if "lexicon score" in table.caption]
    rows = examples.head()[1]
    assert [row["post"] for row in rows] == ["p2", "p3", "p4", "p1"]  # the most polar first
    assert [row["confidence"] for row in rows] == [None] * 4
    assert [row["lexicon score"] for row in rows] == [-0.9, 0.01, 0.95, 0.4]
    assert "not a probability" in examples.caption and "most confident" not in examples.caption


def test_section_evaluation_table_shows_the_calibration_error():
    evaluation = {"fused": {"split": "test", "n": 10, "accuracy": 0.9, "macro_f1": 0.8, "weighted_f1": 0.85,
                            "macro_recall": 0.8, "ece": 0.04, "nll": 0.3, "brier": 0.2},
                  "lexicon": {"split": "test", "n": 10, "accuracy": 0.6, "ece": None}}

    section = sentiment_section(small_corpus(), SMALL_PREDICTIONS, evaluation=evaluation)

    (table,) = [table for table in blocks_of(section, Table) if table.caption.startswith("Scores against")]
    assert [(row["method"], row["ECE"]) for row in table.head()[1]] == [("fused", 0.04), ("lexicon", None)]
    assert "expected calibration error" in table.caption


def test_section_renders_with_every_user_string_escaped():
    evaluation = {"fused": {"split": "test", "n": 10, "accuracy": 0.9, "macro_f1": 0.8, "weighted_f1": 0.85,
                            "macro_recall": 0.8}}
    section = sentiment_section(small_corpus(), SMALL_PREDICTIONS, evaluation=evaluation)

    page = render_report([section], title="t")

    assert HOSTILE not in page
    assert 'id="sentiment-hashtags"' in page and 'id="sentiment-over-time"' in page
    assert any(table.caption.startswith("Scores against held-out labels") for table in blocks_of(section, Table))


def test_section_notes_instead_of_charts():
    undated = Corpus.from_records(posts=[{"post_id": "p1", "text": "hi"}])
    predictions = SMALL_PREDICTIONS.slice(0, 1)

    section = sentiment_section(undated, predictions)

    notes = " ".join(block.text for block in blocks_of(section, Text))
    assert "No scored post has a created_at" in notes and "No scored post has a hashtag." in notes
    assert section.figure_ids() == ["sentiment-classes"]
    empty = sentiment_section(undated, SMALL_PREDICTIONS.slice(0, 0))
    assert empty.summary == "No post has a sentiment prediction." and not empty.figure_ids()
    with pytest.raises(ConfigurationError, match="top must be at least 1"):
        sentiment_section(undated, predictions, top=0)


def test_section_reads_posts_from_a_store(synthetic, fused):
    store, _ = synthetic

    section = sentiment_section(store, fused.predict(store))

    assert section.figure_ids() == ["sentiment-classes", "sentiment-over-time", "sentiment-hashtags"]
    assert PREDICTIONS_TABLE == "sentiment_predictions"


def test_stacking_survives_probabilities_that_underflow(tmp_path):
    network = generate(n_users=40, n_posts=250, seed=1, media_dir=tmp_path / "media", n_videos=0, n_audio=0,
                       image_fraction=0.5)
    store = connect(tmp_path / "store")
    ingest_corpus(network.corpus, store)

    model = SentimentModel(encoders={"image": "image/colour-histogram"}).fit(store)

    assert model.predict(store).num_rows > 0


def test_one_modality_can_concatenate_several_encoders(tmp_path):
    """What benchmarks/sentiment.py fuses (MiniLM and lexicon features side by side as "text") in the API."""
    from socialfusion.featurize import load_features

    network = generate(n_users=30, n_posts=120, seed=3, n_videos=0, n_audio=0, image_fraction=0.0)
    store = connect(tmp_path / "store")
    ingest_corpus(network.corpus, store)
    joined = {"text": "text/lexicon+text/tfidf"}

    model = SentimentModel(encoders=joined, fusion="concat", fusion_options={"learner": "logistic"}).fit(
        store, split=None)

    ids = labelled_posts(store, "sentiment", None)[0]
    lexicon, tfidf = (load_features(store, name, ids) for name in ("text/lexicon", "text/tfidf"))
    both = load_features(store, joined["text"], ids)
    assert both.vectors.shape[1] == lexicon.vectors.shape[1] + tfidf.vectors.shape[1]
    np.testing.assert_array_equal(both.vectors[:, : lexicon.vectors.shape[1]], lexicon.vectors)
    assert model.encoders_ == joined
    reloaded = SentimentModel.load(model.save(tmp_path / "model"))
    assert reloaded.predict(store).column("label").to_pylist() == model.predict(store).column("label").to_pylist()
    with pytest.raises(ConfigurationError, match="unknown"):
        SentimentModel(encoders={"text": "text/lexicon+text/nope"}).fit(store, split=None)


def test_new_texts_are_encoded_where_the_model_can_read_text_and_absent_elsewhere(synthetic, fused):
    store, _ = synthetic
    features = fused.text_features(["I love this, what a wonderful day!", "awful, I hate it"], store)

    assert features.present_counts() == {"image": 0, "lexicon": 2}  # no image for a typed text
    assert fused.predict_features(features).column("label").to_pylist() == ["positive", "negative"]
