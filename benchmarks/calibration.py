"""Calibration of the sentiment confidences on real tweets: ECE, log-loss and Brier score before and after.

Trains on MVSA-Single train (3,611 tweets, text only) and scores on MVSA-Single dev (450 tweets), which no model or
calibration ever sees before it is scored:

1. each classifier of ``SentimentModel`` (the stacked default, classic learners, networks) with the temperature it
   fitted on held-out training data, against the same fitted model with temperature 1 (calibration changes nothing
   else: the same network, the same learner, the same predicted classes);
2. the lexicon baseline (VADER, snownlp): its raw strength (what the report showed as "confidence" before), against
   ``LexiconSentiment.fit`` on the train labels (the chance its label is right).

ECE: expected calibration error of the top class over 15 equal-width bins (0 is perfect); NLL: mean log-loss; Brier:
multi-class Brier score; "max": the largest confidence given on dev.

    python benchmarks/calibration.py                  # lexicon features (17-d): about two minutes on 2 CPUs
    python benchmarks/calibration.py --text minilm    # + MiniLM int8 embeddings (cached in benchmarks/.cache)
    python benchmarks/calibration.py --boosting       # also gradient boosting (slow: six fits)
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np


def mvsa_texts():
    """MVSA-Single's labelled texts: ids, texts, labels and splits, in label-table order."""
    from socialfusion.datasets import load_dataset

    corpus = load_dataset("mvsa-single")
    labels = corpus.labels
    by_id = dict(zip(corpus.posts.column("post_id").to_pylist(), corpus.posts.column("text").to_pylist()))
    ids = labels.column("item_id").to_pylist()
    return (corpus, ids, [by_id[item] for item in ids], np.array(labels.column("label").to_pylist()),
            np.array(labels.column("split").to_pylist()))


def features(ids: list[str], texts: list[str], text: str):
    from sentiment import encoded

    from socialfusion.learn import ModalityFeatures

    vectors = {"lexicon": encoded("text/lexicon", texts, "mvsa-single")}
    if text == "minilm":
        vectors["text"] = encoded("text/minilm-int8", texts, "mvsa-single")
    return ModalityFeatures({name: value.vectors for name, value in vectors.items()},
                            {name: ~value.missing for name, value in vectors.items()}, ids)


def line(method: str, stage: str, probabilities: np.ndarray, codes: np.ndarray, temperature: float | str) -> str:
    from socialfusion.learn.calibration import calibration_scores

    scores = calibration_scores(probabilities, codes)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == codes))
    shown = f"{temperature:.3f}" if isinstance(temperature, float) else temperature
    return (f"{method:<34}{stage:<8}{shown:>8}{accuracy:>9.3f}{scores['ece']:>8.3f}{scores['nll']:>8.3f}"
            f"{scores['brier']:>8.3f}{probabilities.max():>9.4f}")


def classifiers(boosting: bool) -> list[tuple[str, str, dict]]:
    neural = {"epochs": 40}
    chosen = [("stacked (the default)", "stacked", {}),
              ("early: concat + logistic", "concat", {"learner": "logistic"}),
              ("early: concat + random forest", "concat", {"learner": "random_forest"}),
              ("neural: mlp", "mlp", neural),
              ("neural: gated-attention", "gated-attention", neural)]
    if boosting:
        chosen.insert(3, ("early: concat + gradient boosting", "concat", {"learner": "gradient_boosting"}))
    return chosen


def model_table(data, text: str, boosting: bool) -> None:
    from socialfusion.tasks.sentiment import SentimentModel

    _, ids, texts, labels, splits = data
    matrix = features(ids, texts, text)
    train, dev = splits == "train", splits == "dev"
    print(f"\n1. SentimentModel classifiers, MVSA-Single ({train.sum():,} train / {dev.sum()} dev tweets), text "
          f"features: {', '.join(matrix.modalities)}\n")
    print(f"{'method':<34}{'':<8}{'T':>8}{'acc':>9}{'ECE':>8}{'NLL':>8}{'Brier':>8}{'max':>9}")
    for name, fusion, options in classifiers(boosting):
        started = time.perf_counter()
        model = SentimentModel(encoders={"lexicon": "text/lexicon"}, fusion=fusion, fusion_options=options)
        model.fit_features(matrix.subset(train), labels[train])
        raw = copy.deepcopy(model)
        raw.classifier_.temperature_ = 1.0  # the same fitted model, its probabilities not calibrated
        codes = np.searchsorted(model.classes_, labels[dev])
        temperature = model.classifier_.temperature_
        print(line(name, "before", raw.predict_proba_features(matrix.subset(dev)), codes, 1.0))
        print(line(f"  (fit {time.perf_counter() - started:.0f} s)", "after",
                   model.predict_proba_features(matrix.subset(dev)), codes, temperature), flush=True)


def lexicon_table(data) -> None:
    from socialfusion import Corpus
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.learn.calibration import expected_calibration_error
    from socialfusion.store import connect
    from socialfusion.tasks.sentiment import LexiconSentiment, labelled_posts

    corpus = data[0]
    with tempfile.TemporaryDirectory() as folder:
        store = connect(Path(folder) / "store")
        ingest_corpus(Corpus.from_records(
            posts=corpus.posts.select(["post_id", "text", "lang"]).to_pylist(),
            labels=corpus.labels.select(["item_id", "item_kind", "task", "label", "split"]).to_pylist()), store)
        dev_ids, truth = labelled_posts(store, "sentiment", "dev")
        lexicon = LexiconSentiment().fit(store, split="train")
        labels, strength, _, _ = lexicon._scored(store, dev_ids)
        calibrated = np.asarray(lexicon.predict(store, dev_ids).column("confidence").to_pylist(), float)
        right = labels == truth
        print(f"\n2. Lexicon baseline (VADER; snownlp where a tweet is detected as Chinese), MVSA-Single dev "
              f"({len(dev_ids)} tweets), accuracy {right.mean():.3f}; calibrated on {lexicon.calibration_items_:,} "
              f"train tweets\n")
        print(f"{'confidence':<60}{'ECE':>8}{'max':>9}")
        print(f"{'before: lexicon strength (|compound|), not a probability':<60}"
              f"{expected_calibration_error(strength, right):>8.3f}{strength.max():>9.4f}")
        print(f"{'after: P(label right | strength), fitted on train labels':<60}"
              f"{expected_calibration_error(calibrated, right):>8.3f}{calibrated.max():>9.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", choices=("lexicon", "minilm"), default="lexicon",
                        help="text features: the 17 lexicon features, or those plus MiniLM int8 embeddings")
    parser.add_argument("--boosting", action="store_true", help="also gradient boosting (slow)")
    args = parser.parse_args()
    data = mvsa_texts()
    model_table(data, args.text, args.boosting)
    lexicon_table(data)


if __name__ == "__main__":
    main()
