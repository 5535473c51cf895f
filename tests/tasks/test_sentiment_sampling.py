"""SentimentModel at scale: training on a bounded, seeded sample stratified by label (``max_train_rows``),
prediction in bounded batches, and a sentiment card that states the sample."""

from __future__ import annotations

import numpy as np
import pytest

import socialfusion.tasks.sentiment as sentiment
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError
from socialfusion.ingestion import ingest_corpus
from socialfusion.pipeline import demo_sentiment
from socialfusion.report import Table
from socialfusion.store import connect
from socialfusion.tasks import SentimentModel, read_predictions, sentiment_section
from socialfusion.tasks.sentiment import EVALUATION_METADATA_KEY, MAX_TRAIN_ROWS, labelled_posts

FAST = {"image": "image/colour-histogram", "lexicon": "text/lexicon"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sampling")
    network = generate(
        n_users=50, n_posts=300, seed=1, media_dir=folder / "media", n_videos=0, n_audio=0, image_fraction=0.5
    )
    store = connect(folder / "store")
    ingest_corpus(network.corpus, store)
    return store


def scores_table(section) -> Table:
    (table,) = [block for block in section.blocks if isinstance(block, Table) and block.caption.startswith("Scores")]
    return table


def test_the_default_bound_leaves_a_demo_size_corpus_whole():
    assert MAX_TRAIN_ROWS >= 5_000  # the demo (3,000 posts, about 2,000 training labels) is never sampled
    assert SentimentModel().max_train_rows == MAX_TRAIN_ROWS


def test_more_labels_than_the_bound_train_on_exactly_the_bound_stratified_by_label(store):
    ids, labels = labelled_posts(store, "sentiment", "train")
    bound = 60
    assert len(ids) > 3 * bound

    model = SentimentModel(encoders=FAST, max_train_rows=bound).fit(store)

    training = model.training_
    assert (training["n"], training["labelled"], training["sampled"]) == (bound, len(ids), True)
    classes, counts = np.unique(labels, return_counts=True)
    for label, count in zip(classes, counts):  # each class keeps its share, to within one post
        assert abs(training["classes"][label] - bound * count / len(ids)) < 1


def test_the_sample_is_seeded(store):
    first = SentimentModel(encoders=FAST, max_train_rows=60).fit(store)
    again = SentimentModel(encoders=FAST, max_train_rows=60).fit(store)
    other = SentimentModel(encoders=FAST, max_train_rows=60, random_state=5).fit(store)

    def probabilities(model):
        return model.predict(store).column("confidence").to_numpy()

    assert first.training_ == again.training_
    np.testing.assert_array_equal(probabilities(first), probabilities(again))
    assert not np.allclose(probabilities(first), probabilities(other))  # another seed, another sample


def test_fewer_labels_than_the_bound_train_on_every_one(store):
    ids, _ = labelled_posts(store, "sentiment", "train")

    bounded = SentimentModel(encoders=FAST, max_train_rows=len(ids)).fit(store)
    unbounded = SentimentModel(encoders=FAST, max_train_rows=None).fit(store)

    for model in (bounded, unbounded):
        assert (model.training_["n"], model.training_["labelled"], model.training_["sampled"]) == (
            len(ids),
            len(ids),
            False,
        )
    np.testing.assert_array_equal(
        bounded.predict(store).column("confidence").to_numpy(), unbounded.predict(store).column("confidence").to_numpy()
    )


@pytest.mark.parametrize("rows", [0, 1, -5, 2.5, "many", True])
def test_a_bad_bound_fails_before_any_work(rows, tmp_path):
    empty = connect(tmp_path / "store")

    with pytest.raises(ConfigurationError, match="max_train_rows must be an integer of at least 2"):
        SentimentModel(encoders=FAST, max_train_rows=rows).fit(empty)
    assert not empty.tables()


def test_the_bound_is_saved_with_the_model(store, tmp_path):
    model = SentimentModel(encoders=FAST, max_train_rows=60).fit(store)

    loaded = SentimentModel.load(model.save(tmp_path / "model"))

    assert loaded.max_train_rows == 60 and loaded.training_ == model.training_
    assert "max_train_rows=60" in repr(loaded)


def test_batched_prediction_equals_one_pass(store, monkeypatch):
    model = SentimentModel(encoders=FAST).fit(store)
    whole = model.predict(store)

    monkeypatch.setattr(sentiment, "_PREDICT_BATCH_ROWS", 7)  # many batches, the last one short
    batched = model.predict(store)

    assert whole.num_rows > 7 * 10
    assert batched.column("post_id").equals(whole.column("post_id"))
    assert batched.column("label").equals(whole.column("label"))
    for name in ("confidence", "p_negative", "p_neutral", "p_positive"):  # BLAS may round another batch apart
        np.testing.assert_allclose(batched.column(name).to_numpy(), whole.column(name).to_numpy(), rtol=1e-5)


def test_the_demo_records_the_sample_and_the_card_states_it(store):
    evaluation = demo_sentiment(store, max_train_rows=50)

    labelled = len(labelled_posts(store, "sentiment", "train")[0])
    fused, text_only, lexicon = evaluation.values()
    assert fused["training"] == text_only["training"] == {"n": 50, "labelled": labelled, "sampled": True}
    assert "training" not in lexicon  # the lexicon learns nothing
    assert store.get_metadata()[EVALUATION_METADATA_KEY] == evaluation

    section = sentiment_section(store, read_predictions(store), evaluation=evaluation)

    table = scores_table(section)
    assert [row["trained on"] for row in table.head()[1]] == [50, 50, None]
    assert "seeded random sample" in table.caption and "stratified by label" in table.caption
    assert f"50 of {labelled:,}" in table.caption


def test_an_unsampled_demo_says_nothing_of_a_sample(store):
    evaluation = demo_sentiment(store)

    assert not any(scores.get("training", {}).get("sampled") for scores in evaluation.values())
    section = sentiment_section(store, read_predictions(store), evaluation=evaluation)
    table = scores_table(section)
    assert "sample" not in table.caption
