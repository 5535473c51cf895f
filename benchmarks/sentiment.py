"""Multimodal sentiment on real posts: every fusion method on MVSA-Single, TweetEval sentiment, Weibo emotions.

Prints, in one run, on the data in ../shared/data (dev/validation splits only):
1. MVSA-Single: text-only, image-only and fusion configurations chosen by stratified 5-fold cross-validation on the
   CLMLF train split (3 seeds; mean ± std over folds x seeds, fusion gain within the same folds), then scored once on
   dev (``benchmarks/_sentiment_mvsa.py``);
2. robustness: the CV-chosen fusion on dev with 0%, 50% and 100% of the dev images removed, next to text-only;
   2b. the CV-chosen fusion's meta stage replaced by other meta-classifiers, CV accuracy on the same folds;
3. TweetEval sentiment, trained on the SemEval-2017 pool minus every tweet that appears in validation: macro-averaged
   recall (TweetEval's metric), accuracy and macro F1 by stratified 5-fold CV on the pool (3 seeds; mean ± std), and
   on validation once (mean ± std over the seeds), next to VADER (``benchmarks/_sentiment_tweets.py``);
4. Weibo COVID-19 emotions (7 classes), on a fixed stratified 80/20 split (scikit-learn ``train_test_split``,
   ``random_state=0``, stratified by label) of the distinct texts: the file repeats many texts verbatim (a plain
   row split puts 61% of the test texts in train too), so each text is kept once, with its most frequent label;
   accuracy and macro F1 by stratified 5-fold CV on the 80% (3 seeds), and on the 20% once.

Features are computed once per dataset and encoder version and kept in ``benchmarks/.cache`` (not versioned).

    python benchmarks/sentiment.py              # everything
    python benchmarks/sentiment.py --quick      # fewer epochs and subsets, for a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def encoded(encoder_name: str, items: list, key: str, **options):
    """``get_encoder(encoder_name).encode(items)``, cached on disk by encoder version and ``key``."""
    from socialfusion.encoders import Encoded, get_encoder

    encoder = get_encoder(encoder_name, **options)
    digest = hashlib.blake2b(f"{encoder_name}|{encoder.version}|{key}|{len(items)}".encode(), digest_size=8)
    path = CACHE / f"{digest.hexdigest()}.npz"
    if path.exists():
        stored = np.load(path, allow_pickle=False)
        return Encoded(stored["vectors"], stored["missing"], [None] * len(items))
    started = time.perf_counter()
    result = encoder.encode(items, batch_size=64)
    print(f"   encoded {len(items):,} items with {encoder_name} in {time.perf_counter() - started:.0f} s")
    CACHE.mkdir(exist_ok=True)
    np.savez(path, vectors=result.vectors, missing=result.missing)
    return result


def labelled_posts(corpus, task: str) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Posts that carry a ``task`` label, their labels and their splits, in label-table order."""
    labels = corpus.labels.filter(corpus.labels.column("task").to_numpy(zero_copy_only=False) == task)
    by_id = {post["post_id"]: post for post in corpus.posts.select(["post_id", "text", "media"]).to_pylist()}
    ids = labels.column("item_id").to_pylist()
    return ([by_id[item] for item in ids], np.array(labels.column("label").to_pylist()),
            np.array(labels.column("split").to_pylist(), dtype=object))


def scores(y_true, y_pred) -> dict[str, float]:
    """The four headline figures of ``socialfusion.tasks.sentiment.sentiment_scores``."""
    from socialfusion.tasks.sentiment import sentiment_scores

    result = sentiment_scores(y_true, y_pred)
    return {key: result[key] for key in ("accuracy", "weighted_f1", "macro_f1", "macro_recall")}


def fit_and_score(name: str, model, train, y_train, test, y_test) -> dict:
    started = time.perf_counter()
    model.fit(train, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(test)
    predict_seconds = time.perf_counter() - started
    history = getattr(model, "history_", None)
    epochs = len(history.epochs) if history is not None and hasattr(history, "epochs") else None
    print(f"   {name}: fitted in {fit_seconds:.1f} s", flush=True)
    return {"method": name, "model": model, **scores(y_test, predicted), "fit_seconds": fit_seconds,
            "epoch_seconds": fit_seconds / epochs if epochs else None,
            "posts_per_second": len(y_test) / predict_seconds}


def print_rows(rows: list[dict], metrics: tuple[str, ...]) -> None:
    header = f"{'method':<48}" + "".join(f"{metric:>14}" for metric in metrics)
    header += f"{'fit s':>9}{'s/epoch':>9}{'posts/s':>10}"
    print(header)
    for row in rows:
        line = f"{row['method']:<48}" + "".join(f"{100 * row[metric]:>14.2f}" for metric in metrics)
        epoch = f"{row['epoch_seconds']:.2f}" if row.get("epoch_seconds") else "-"
        print(line + f"{row['fit_seconds']:>9.1f}{epoch:>9}{row['posts_per_second']:>10,.0f}")


def mvsa_table(quick: bool, epochs: int) -> None:
    """MVSA-Single: settings chosen by stratified 5-fold CV on train (3 seeds), dev checked once; see
    ``benchmarks/_sentiment_mvsa.py``."""
    from _sentiment_mvsa import mvsa_cv_table

    mvsa_cv_table(quick, epochs)


def tweeteval_table(quick: bool, epochs: int) -> None:
    """TweetEval sentiment: settings chosen by stratified 5-fold CV on the SemEval pool (3 seeds), validation checked
    once; see ``benchmarks/_sentiment_tweets.py``."""
    from _sentiment_tweets import tweeteval_cv_table

    tweeteval_cv_table(quick, epochs)


def distinct_texts(texts: list[str], labels: np.ndarray) -> dict[str, tuple[int, str]]:
    """Each distinct text: its first row and its most frequent label (ties: the label seen first)."""
    from collections import Counter, defaultdict

    rows, votes = {}, defaultdict(Counter)
    for row, (text, label) in enumerate(zip(texts, labels)):
        rows.setdefault(text, row)
        votes[text][label] += 1
    return {text: (rows[text], votes[text].most_common(1)[0][0]) for text in rows}


def weibo_table(quick: bool, epochs: int) -> None:
    """Weibo emotions: settings chosen by stratified 5-fold CV on the documented 80% (3 seeds), the held-out 20%
    checked once; see ``benchmarks/_sentiment_tweets.py``."""
    from _sentiment_tweets import weibo_cv_table

    weibo_cv_table(quick, epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and subsets, for a smoke run")
    parser.add_argument("--epochs", type=int, default=None, help="most epochs of the neural models (default 60)")
    parser.add_argument("--only", choices=("mvsa", "tweeteval", "weibo"), help="run one table")
    args = parser.parse_args()
    epochs = args.epochs or (5 if args.quick else 60)
    tables = {"mvsa": mvsa_table, "tweeteval": tweeteval_table, "weibo": weibo_table}
    for name, table in tables.items():
        if args.only in (None, name):
            table(args.quick, epochs)


if __name__ == "__main__":
    main()
