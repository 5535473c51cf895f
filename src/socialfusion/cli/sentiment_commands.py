"""``socialfusion sentiment``: train, predict, evaluate and the lexicon baseline, over a store's posts and labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialfusion.app import CALIBRATION_SPLIT
from socialfusion.cli._shared import (
    EngineOption,
    JsonOption,
    RayAddressOption,
    RayWorkersOption,
    StageProgress,
    StoreOption,
    console,
    existing_store,
    parameters,
    parse_pairs,
    ray_options,
    run,
)

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


def _model(model: str) -> dict[str, Any]:
    """``--model``: the lexicons, or a saved model's folder, as the application's arguments."""
    return {"lexicon": True} if model == LEXICON else {"folder": Path(model)}


def _calibration_note(result: Any) -> str:
    if result.calibrated:
        return (f"confidence: the chance the lexicon's label is right, calibrated on "
                f"{result.calibration_items:,} labelled {CALIBRATION_SPLIT} posts")
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
    from socialfusion.app import TrainSentimentParams, train_sentiment

    params = parameters(TrainSentimentParams, task=task, split=_split(split), fusion=fusion, learner=learner,
                        encoders=_parse_encoders(encoders), seed=seed, predict=False)
    target = existing_store(store)
    with _spinner("featurizing and training", as_json):
        result = run(train_sentiment, target, params, folder=model)
    if as_json:
        print(result.model_dump_json(exclude={"predictions_written"}))
        return
    _print_counts(result.classes, f"Trained on {result.n:,} posts ({task}, split {split})")
    console.print("modalities present: " + ", ".join(f"{name} {count:,}" for name, count in result.modalities.items()))
    console.print("probabilities calibrated on held-out training posts: temperature "
                  f"{result.calibration['temperature']:.3f}" if result.calibration else "probabilities not calibrated")
    _print_scores(result.training_scores, "Scores on the training posts (optimistic: evaluate on held-out posts)")
    console.print(f"model saved to {result.model}; next: socialfusion sentiment evaluate --store {store} --model "
                  f"{result.model}")


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
    from socialfusion.app import LabelPostsParams, label_posts

    cluster = ray_options(engine, ray_address, ray_workers)
    chosen = _model(model)
    params = parameters(LabelPostsParams, lexicon=chosen.pop("lexicon", False), language=language, task=task)
    target = existing_store(store)
    with _spinner("predicting", as_json):  # the lexicons read each text once: they run here whatever the engine
        result = run(label_posts, target, params, **chosen, engine=engine, ray_options=cluster)
    if as_json:
        print(json.dumps({"written": result.written, "table": result.table, "counts": result.counts}))
        return
    _print_counts(result.counts, f"Predicted sentiment ({result.written:,} posts written to {result.table})")


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
    from socialfusion.app import EvaluateSentimentParams, evaluate_sentiment

    chosen = _model(model)
    params = parameters(EvaluateSentimentParams, lexicon=chosen.pop("lexicon", False), language=language, task=task,
                        split=_split(split))
    target = existing_store(store)
    with _spinner("evaluating", as_json):
        scores = run(evaluate_sentiment, target, params, **chosen).model_dump()
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
    from socialfusion.app import LabelPostsParams, label_posts

    params = parameters(LabelPostsParams, lexicon=True, language=language, task=task, calibrate=calibrate,
                        write=write)
    target = existing_store(store)
    with StageProgress(quiet=as_json, one_bar=True) as progress:
        result = run(label_posts, target, params, progress=progress.fraction)
    if as_json:
        print(result.model_dump_json(exclude_none=True))
        return
    _print_counts(result.counts, f"Lexicon sentiment ({result.written:,} posts written to {result.table})" if write
                  else "Lexicon sentiment (not written)")
    console.print(_calibration_note(result))
    if not write:
        listing = Table(title="Per post")
        for column in ("post_id", "label", "confidence", "score"):
            listing.add_column(column, justify="left" if column in ("post_id", "label") else "right")
        for row in result.predictions:
            confidence = "—" if row["confidence"] is None else f"{row['confidence']:.2f}"
            listing.add_row(row["post_id"], row["label"], confidence, f"{row['score']:+.2f}")
        console.print(listing)
