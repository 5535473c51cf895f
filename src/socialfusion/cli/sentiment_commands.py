"""``socialfusion sentiment``: train, predict, evaluate and the lexicon baseline, over a store's posts and labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialfusion.cli._shared import (
    EngineOption,
    JsonOption,
    RayAddressOption,
    RayWorkersOption,
    StageProgress,
    StoreOption,
    console,
    existing_store,
    fail,
    parse_pairs,
    ray_options,
)
from socialfusion.exceptions import SocialFusionError

errors = Console(stderr=True)
app = typer.Typer(help="Sentiment of posts: train a multimodal model on labels, predict, evaluate, or use lexicons.",
                  no_args_is_help=True)

LEXICON = "lexicon"
ModelOption = Annotated[str, typer.Option("--model", "-m", help=f"Model folder (from 'sentiment train'), or "
                                                               f"'{LEXICON}' for the lexicon baseline.")]
TaskOption = Annotated[str, typer.Option(help="Task name of the labels.")]
LanguageOption = Annotated[str | None, typer.Option(
    help="Language of every post for the lexicon (en, zh, ...); default: each post's lang, detected when unset.")]
ENCODERS_HELP = ("Modality=encoder pairs, comma-separated, e.g. text=text/minilm-int8,lexicon=text/lexicon,"
                 "image=image/efficientnet (the default, less the modalities the store lacks); join encoders with "
                 "'+' to concatenate their features in one modality: text=text/minilm-int8+text/lexicon "
                 "(what benchmarks/sentiment.py fuses).")
FUSION_HELP = "'stacked' (late fusion by stacking, the default) or a fusion name for a neural MultimodalClassifier."
LEARNER_HELP = "With a fusion other than 'stacked': neural, logistic, svm, random_forest or gradient_boosting."
SPLIT_ALL = "all"
TRAIN_SPLIT_HELP = f"Split of the labels to learn from ('{SPLIT_ALL}': every one)."
CALIBRATION_SPLIT = "train"
"""The split the lexicon's confidences are calibrated on, when the store has labels in it."""
CalibrationTaskOption = Annotated[str, typer.Option(
    "--task", help=f"Task of the labels the lexicon's confidences are calibrated on (split {CALIBRATION_SPLIT}).")]


def _split(value: str) -> str | None:
    return None if value == SPLIT_ALL else value


def _parse_encoders(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    return parse_pairs([pair for pair in value.split(",") if pair.strip()], "--encoders", "MODALITY=ENCODER")



def _spinner(text: str, quiet: bool) -> Progress:
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=errors,
                        disable=quiet or not errors.is_terminal, transient=True)
    progress.add_task(text, total=None)
    return progress


def _load(model: str, language: str | None, store: Any, task: str, calibrate: bool = True) -> Any:
    """The saved model, or the lexicon, calibrated on the store's training labels of ``task`` when it has some
    (and ``calibrate``)."""
    from socialfusion.tasks.sentiment import LexiconSentiment, SentimentModel

    if model == LEXICON:
        return LexiconSentiment(language=language).fit(store if calibrate else None, task, CALIBRATION_SPLIT,
                                                       missing_ok=True)
    return SentimentModel.load(model)


def _calibration_note(lexicon: Any) -> str:
    if lexicon.calibration_:
        return (f"confidence: the chance the lexicon's label is right, calibrated on "
                f"{lexicon.calibration_items_:,} labelled {CALIBRATION_SPLIT} posts")
    return ("no labels to calibrate on: confidence is empty; the score is the lexicon's (VADER compound or snownlp, "
            "-1 to 1), not a probability")


def _print_scores(scores: dict[str, Any], title: str) -> None:
    view = Table(title=title)
    view.add_column("metric")
    view.add_column("value", justify="right")
    for name in ("n", "accuracy", "weighted_f1", "macro_f1", "macro_recall", "ece", "nll", "brier"):
        value = scores.get(name)
        if value is not None:
            view.add_row(name, f"{value:,}" if isinstance(value, int) else f"{value:.4f}")
    console.print(view)
    if scores.get("ece") is None:
        console.print("ece: none (no calibrated confidence to score)")
    matrix = Table(title="Confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("true \\ predicted")
    for label in scores["labels"]:
        matrix.add_column(label, justify="right")
    for label, row in zip(scores["labels"], scores["confusion_matrix"]):
        matrix.add_row(label, *(f"{count:,}" for count in row))
    console.print(matrix)


def _class_counts(predictions) -> dict[str, int]:
    """Predicted class -> posts, classes sorted."""
    import pyarrow.compute as pc

    return dict(sorted((row["values"], row["counts"])
                       for row in pc.value_counts(predictions.column("label")).to_pylist()))


def _print_counts(counts: dict[str, int], title: str) -> None:
    view = Table(title=title)
    view.add_column("class")
    view.add_column("posts", justify="right")
    for label, count in counts.items():
        view.add_row(label, f"{count:,}")
    console.print(view)


@app.command()
def train(
    model: Annotated[Path, typer.Option("--model", "-m", help="Folder to save the trained model to.")],
    store: StoreOption = Path("socialfusion.db"),
    task: TaskOption = "sentiment",
    split: Annotated[str, typer.Option(help=TRAIN_SPLIT_HELP)] = "train",
    fusion: Annotated[str, typer.Option(help=FUSION_HELP)] = "stacked",
    learner: Annotated[str | None, typer.Option(help=LEARNER_HELP)] = None,
    encoders: Annotated[str | None, typer.Option(help=ENCODERS_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same model).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train a sentiment model on the labelled posts of a store (featurizing what the cache lacks) and save it."""
    from socialfusion.tasks.sentiment import SentimentModel

    target = existing_store(store)
    options = {"learner": learner} if learner else None
    try:
        with _spinner("featurizing and training", as_json):
            trained = SentimentModel(encoders=_parse_encoders(encoders), fusion=fusion, fusion_options=options,
                                     random_state=seed).fit(target, task=task, split=_split(split))
            folder = trained.save(model)
            scores = trained.evaluate(target, task=task, split=_split(split))
    except SocialFusionError as error:
        fail(error)
    result = {"model": str(folder), "fusion": fusion, "encoders": trained.encoders_, **trained.training_,
              "training_scores": scores}
    if as_json:
        print(json.dumps(result))
        return
    view = Table(title=f"Trained on {trained.training_['n']:,} posts ({task}, split {split})")
    view.add_column("class")
    view.add_column("posts", justify="right")
    for label, count in trained.training_["classes"].items():
        view.add_row(label, f"{count:,}")
    console.print(view)
    console.print("modalities present: " + ", ".join(f"{name} {count:,}"
                                                      for name, count in trained.training_["modalities"].items()))
    calibration = trained.training_.get("calibration")
    console.print("probabilities calibrated on held-out training posts: temperature "
                  f"{calibration['temperature']:.3f}" if calibration else "probabilities not calibrated")
    _print_scores(scores, "Scores on the training posts (optimistic: evaluate on held-out posts)")
    console.print(f"model saved to {folder}; next: socialfusion sentiment evaluate --store {store} --model {folder}")


@app.command()
def predict(
    model: ModelOption,
    store: StoreOption = Path("socialfusion.db"),
    task: CalibrationTaskOption = "sentiment",
    language: LanguageOption = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    ray_workers: RayWorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predict the sentiment of every post and write it to the store's sentiment_predictions table."""
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, SentimentModel, write_predictions

    cluster = ray_options(engine, ray_address, ray_workers)
    target = existing_store(store)
    try:
        with _spinner("predicting", as_json):
            predictor = _load(model, language, target, task)
            if isinstance(predictor, SentimentModel):
                predictions = predictor.predict(target, engine=engine, ray_options=cluster)
            else:  # the lexicon reads each text once: it runs here whatever the engine
                predictions = predictor.predict(target)
            written = write_predictions(target, predictions)
    except SocialFusionError as error:
        fail(error)
    counts = _class_counts(predictions)
    if as_json:
        print(json.dumps({"written": written, "table": PREDICTIONS_TABLE, "counts": counts}))
        return
    _print_counts(counts, f"Predicted sentiment ({written:,} posts written to {PREDICTIONS_TABLE})")


@app.command()
def evaluate(
    model: ModelOption,
    store: StoreOption = Path("socialfusion.db"),
    task: TaskOption = "sentiment",
    split: Annotated[str, typer.Option(help=f"Split of the labels to score on ('{SPLIT_ALL}': every one).")] = "test",
    language: LanguageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a model (or the lexicon baseline) against the labels of one split."""
    target = existing_store(store)
    try:
        with _spinner("evaluating", as_json):
            # The lexicon is calibrated on the train labels: never when they are the ones scored.
            calibrate = split not in (CALIBRATION_SPLIT, SPLIT_ALL)
            scores = _load(model, language, target, task, calibrate).evaluate(target, task=task, split=_split(split))
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps(scores))
        return
    _print_scores(scores, f"{model} on {task} labels, split {split}")


@app.command()
def lexicon(
    store: StoreOption = Path("socialfusion.db"),
    language: LanguageOption = None,
    task: CalibrationTaskOption = "sentiment",
    calibrate: Annotated[bool, typer.Option(
        "--calibrate/--no-calibrate",
        help=f"Calibrate the confidences on the store's {CALIBRATION_SPLIT} labels when it has some (without "
             "labels the confidence is empty and only the lexicon score is given).")] = True,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Write the labels to sentiment_predictions, "
                                                                   "or only print them.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Label every post with text by lexicons (VADER for English, snownlp for Chinese): no training needed."""
    from socialfusion.featurize import featurize
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, write_predictions

    target = existing_store(store)
    try:
        with StageProgress(quiet=as_json) as progress:
            featurize(target, ["text/lexicon"], progress=progress)  # the slow part (snownlp), with an ETA
            progress("labelling")
            baseline = _load(LEXICON, language, target, task, calibrate)
            predictions = baseline.predict(target)
            progress("writing the predictions")
            written = write_predictions(target, predictions) if write else 0
    except SocialFusionError as error:
        fail(error)
    counts = _class_counts(predictions)
    calibrated = bool(baseline.calibration_)
    if as_json:
        columns = ["post_id", "label", "confidence", "score"]
        listed = {} if write else {"predictions": predictions.select(columns).to_pylist()}
        print(json.dumps({"written": written, "table": PREDICTIONS_TABLE, "counts": counts, "calibrated": calibrated,
                          "calibration_items": baseline.calibration_items_, **listed}))
        return
    _print_counts(counts, f"Lexicon sentiment ({written:,} posts written to {PREDICTIONS_TABLE})" if write
                  else "Lexicon sentiment (not written)")
    console.print(_calibration_note(baseline))
    if not write:
        listing = Table(title="Per post")
        for column in ("post_id", "label", "confidence", "score"):
            listing.add_column(column, justify="left" if column in ("post_id", "label") else "right")
        for row in predictions.to_pylist():
            confidence = "—" if row["confidence"] is None else f"{row['confidence']:.2f}"
            listing.add_row(row["post_id"], row["label"], confidence, f"{row['score']:+.2f}")
        console.print(listing)
