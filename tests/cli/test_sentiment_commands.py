"""``socialfusion sentiment``: train, predict, evaluate and lexicon through Typer's test runner, on a small store."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from socialfusion.cli import app
from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect
from socialfusion.tasks import PREDICTIONS_TABLE, read_predictions

runner = CliRunner()
FAST_ENCODERS = "lexicon=text/lexicon,image=image/colour-histogram"
SCORE_KEYS = {"accuracy", "weighted_f1", "macro_f1", "macro_recall", "n", "labels", "confusion_matrix", "task",
              "split", "ece", "nll", "brier"}


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def one_line(text: str) -> str:
    """Rich wraps long messages at the terminal width: join them back for matching."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """A synthetic network of 40 users and 250 posts (half with an image) with its planted sentiment labels."""
    folder = tmp_path_factory.mktemp("sentiment-cli")
    network = generate(n_users=40, n_posts=250, seed=0, media_dir=folder / "media", n_videos=0, n_audio=0,
                       image_fraction=0.5)
    ingest_corpus(network.corpus, connect(folder / "store"))
    return folder / "store"


@pytest.fixture(scope="module")
def model_path(store_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "sentiment"
    result = invoke("sentiment", "train", "--store", store_path, "--model", path, "--encoders", FAST_ENCODERS,
                    "--json")
    assert result.exit_code == 0, result.output
    return path


def test_train_prints_one_json_object_and_saves_the_model(store_path, tmp_path):
    result = invoke("sentiment", "train", "--store", store_path, "--model", tmp_path / "m", "--encoders",
                    FAST_ENCODERS, "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == str(tmp_path / "m")
    assert summary["encoders"] == {"image": "image/colour-histogram", "lexicon": "text/lexicon"}
    assert (summary["task"], summary["split"], summary["fusion"]) == ("sentiment", "train", "stacked")
    assert summary["n"] == sum(summary["classes"].values())
    assert set(summary["training_scores"]) == SCORE_KEYS
    assert summary["calibration"]["method"] == "temperature" and summary["calibration"]["temperature"] > 0
    assert (tmp_path / "m" / "sentiment_model.json").exists()


def test_train_takes_the_benchmarks_joined_encoders(store_path, tmp_path):
    joined = "text=text/lexicon+text/tfidf,image=image/colour-histogram"
    result = invoke("sentiment", "train", "--store", store_path, "--model", tmp_path / "m", "--encoders", joined,
                    "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["encoders"] == {"image": "image/colour-histogram",
                                                     "text": "text/lexicon+text/tfidf"}


def test_train_without_json_prints_tables_and_the_next_step(store_path, tmp_path):
    result = invoke("sentiment", "train", "--store", store_path, "--model", tmp_path / "m", "--encoders",
                    "lexicon=text/lexicon", "--split", "all")

    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert "Trained on" in text and "split all" in text
    assert "Confusion matrix" in text
    assert f"socialfusion sentiment evaluate --store {store_path} --model {tmp_path / 'm'}" in text


def test_predict_writes_the_predictions_table(store_path, model_path):
    result = invoke("sentiment", "predict", "--store", store_path, "--model", model_path, "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["table"] == PREDICTIONS_TABLE
    assert summary["written"] == sum(summary["counts"].values()) > 0
    stored = read_predictions(connect(store_path))
    assert stored.num_rows == summary["written"]
    assert set(stored.column("model").to_pylist()) == {"stacked"}


def test_evaluate_on_dev_and_the_lexicon_baseline(store_path, model_path):
    model = json.loads(invoke("sentiment", "evaluate", "--store", store_path, "--model", model_path, "--split",
                              "dev", "--json").stdout)
    baseline = json.loads(invoke("sentiment", "evaluate", "--store", store_path, "--model", "lexicon", "--split",
                                 "dev", "--json").stdout)

    assert set(model) == set(baseline) == SCORE_KEYS
    assert model["split"] == "dev" and model["n"] == baseline["n"] > 0
    assert model["accuracy"] > 0.6
    # The model's probabilities and the lexicon (calibrated on the train labels) both have a calibration error.
    assert 0 <= model["ece"] < 0.3 and 0 <= baseline["ece"] < 0.3 and baseline["nll"] is None


def test_lexicon_is_calibrated_on_the_store_labels_unless_told_not_to(store_path):
    calibrated = json.loads(invoke("sentiment", "lexicon", "--store", store_path, "--no-write", "--json").stdout)
    raw = json.loads(invoke("sentiment", "lexicon", "--store", store_path, "--no-write", "--no-calibrate",
                            "--json").stdout)

    assert calibrated["calibrated"] and calibrated["calibration_items"] > 0
    assert all(0 < row["confidence"] < 1 for row in calibrated["predictions"])
    assert not raw["calibrated"] and {row["confidence"] for row in raw["predictions"]} == {None}
    assert [row["score"] for row in raw["predictions"]] == [row["score"] for row in calibrated["predictions"]]


def test_evaluate_without_json_prints_the_scores(store_path, model_path):
    result = invoke("sentiment", "evaluate", "--store", store_path, "--model", model_path)

    assert result.exit_code == 0, result.output
    assert "macro_f1" in result.stdout and "Confusion matrix" in one_line(result.stdout)


def test_lexicon_prints_without_writing_or_writes(tmp_path):
    network = generate(n_users=10, n_posts=20, seed=1, n_videos=0, n_audio=0, image_fraction=0.0)
    store = connect(tmp_path / "store")
    ingest_corpus(network.corpus, store)

    printed = json.loads(invoke("sentiment", "lexicon", "--store", tmp_path / "store", "--no-write", "--json").stdout)
    assert printed["written"] == 0 and PREDICTIONS_TABLE not in store.tables()
    assert len(printed["predictions"]) == sum(printed["counts"].values()) > 0
    assert set(printed["predictions"][0]) == {"post_id", "label", "confidence", "score"}

    listing = invoke("sentiment", "lexicon", "--store", tmp_path / "store", "--no-write", "--task", "nothing")
    assert listing.exit_code == 0, listing.output
    assert "not a probability" in one_line(listing.stdout) and "—" in listing.stdout

    written = json.loads(invoke("sentiment", "lexicon", "--store", tmp_path / "store", "--json").stdout)
    assert written["written"] == len(printed["predictions"])
    assert set(read_predictions(store).column("model").to_pylist()) == {"lexicon"}


def test_analyze_shows_the_sentiment_section_after_predict(store_path, model_path, tmp_path):
    invoke("sentiment", "predict", "--store", store_path, "--model", model_path)

    result = invoke("analyze", "--store", store_path, "--out", tmp_path / "report.html")

    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="sentiment"' in page and 'id="sentiment-classes"' in page


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "emotion"], "no post is labelled for task 'emotion'"),
    (["--split", "validation"], "no 'sentiment' labels in split 'validation'"),
    (["--encoders", "text=text/nope"], "unknown encoder 'text/nope'"),
    (["--fusion", "stacked", "--learner", "svm"], "not options of StackedFusionClassifier"),
])
def test_train_errors_exit_2_with_what_to_do(store_path, tmp_path, args, message):
    result = invoke("sentiment", "train", "--store", store_path, "--model", tmp_path / "m", *args)

    assert result.exit_code == 2
    assert message in one_line(result.stderr)
    assert "Traceback" not in result.output


def test_bad_encoders_option_and_missing_store_and_model(store_path, tmp_path):
    bad = invoke("sentiment", "train", "--store", store_path, "--model", tmp_path / "m", "--encoders", "text")
    assert bad.exit_code == 2 and "expected MODALITY=ENCODER" in one_line(bad.output)

    missing = invoke("sentiment", "predict", "--store", tmp_path / "nowhere", "--model", "lexicon")
    assert missing.exit_code == 2
    assert f"no store at {tmp_path / 'nowhere'}" in one_line(missing.stderr)
    assert not (tmp_path / "nowhere").exists()

    no_model = invoke("sentiment", "evaluate", "--store", store_path, "--model", tmp_path / "no-model")
    assert no_model.exit_code == 2 and "not a saved SentimentModel" in one_line(no_model.stderr)


def test_lexicon_says_each_stage_when_not_on_a_terminal(tmp_path):
    network = generate(n_users=10, n_posts=20, seed=1, n_videos=0, n_audio=0, image_fraction=0.0)
    ingest_corpus(network.corpus, connect(tmp_path / "store"))

    result = invoke("sentiment", "lexicon", "--store", tmp_path / "store")

    assert result.exit_code == 0, result.output
    stages = result.stderr.splitlines()
    assert any("text/lexicon" in line for line in stages)
    assert "labelling" in stages[-2] and "writing the predictions" in stages[-1]
