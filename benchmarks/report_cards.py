"""Some of the report's cards on a large store without its writing stages: seconds per card, and opinion alerts.

``scale_pipeline.py`` times every stage, and at 1M original posts its writing stages (featurize, the demo's
sentiment model, topics) take hours on a 2-CPU machine. To time the cards that only read what those stages write,
this script takes the cached generated store of ``scale_pipeline`` (``benchmarks/.cache/scale-<posts>``, generated
and ingested once), copies it, and, with ``--random-writes``, writes in place of the writing stages a seeded random
sentiment prediction per post with text (labels drawn from Dirichlet(2, 3, 2) probabilities) and a random topic of
the demo's 8 per post, with a topics table of 8 rows. The cards' costs then have the real shape (rows, keys, days);
their contents mean nothing. Without ``--random-writes`` an existing written store is given with ``--store``.

It prints the seconds of each stage of ``analyze(sections=...)`` (from its progress callback) and, with
``--alerts``, the seconds of ``opinion_alerts`` over the whole corpus with its defaults and with loose settings
(alpha 0.5, no correction, 2 posts), which raise many alerts, each quoting its posts.

    python benchmarks/report_cards.py --posts 1000000 --random-writes --sections opinion,trends --alerts
    python benchmarks/report_cards.py --store benchmarks/.cache/written-100000-store --sections opinion,trends
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

N_TOPICS = 8  # the demo's topic model (pipeline.DEMO_TOPICS)


def random_writes(store, seed: int = 0) -> int:
    """Seeded random sentiment predictions and topic assignments for every post with text (see the docstring)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE

    posts = store.read("posts", columns=["post_id", "text"])
    has_text = pc.invert(pc.equal(pc.utf8_trim_whitespace(pc.fill_null(posts.column("text"), "")), ""))
    ids = posts.column("post_id").filter(has_text)
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet([2, 3, 2], len(ids))
    store.write(PREDICTIONS_TABLE, pa.table({
        "post_id": ids, "label": np.array(["negative", "neutral", "positive"])[probabilities.argmax(axis=1)],
        "confidence": probabilities.max(axis=1), "model": pa.array(["random"] * len(ids)),
        "p_negative": probabilities[:, 0], "p_neutral": probabilities[:, 1], "p_positive": probabilities[:, 2]}),
        mode="overwrite")
    store.write(POST_TOPICS_TABLE, pa.table({
        "post_id": ids, "topic_id": pa.array(rng.integers(0, N_TOPICS, len(ids)), pa.int32()),
        "distance": pa.array(rng.random(len(ids)), pa.float32())}), mode="overwrite")
    store.write(TOPICS_TABLE, pa.table({
        "topic_id": pa.array(range(N_TOPICS), pa.int32()), "size": pa.array([len(ids) // N_TOPICS] * N_TOPICS),
        "keywords": [[f"word{topic}"] for topic in range(N_TOPICS)],
        "keyword_weights": pa.array([[1.0]] * N_TOPICS, pa.list_(pa.float32())),
        "label": [f"topic {topic}" for topic in range(N_TOPICS)],
        "representative_post_ids": [[] for _ in range(N_TOPICS)],
        "centroid": pa.array([[0.0]] * N_TOPICS, pa.list_(pa.float32())), "radius": [0.0] * N_TOPICS}),
        mode="overwrite")
    return len(ids)


def card_seconds(store, sections: str, out: Path) -> dict[str, float]:
    """Seconds of each stage of ``analyze(store, sections=...)``."""
    from socialfusion.pipeline import analyze

    marks: list[tuple[str, float]] = []
    analyze(store, out, sections=sections, progress=lambda name, done, total: marks.append((name, time.perf_counter())))
    return {name: end - start for (name, start), (_, end) in zip(marks, marks[1:])}


def alert_seconds(store) -> list[tuple[str, int, float]]:
    """``(settings, alerts, seconds)`` of ``opinion_alerts`` over the whole corpus, by the stored topics."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.opinion import count_opinions, opinion_alerts, opinion_posts, post_sentiment
    from socialfusion.tasks.trends import key_assignment

    corpus = Corpus.from_store(store, bookkeeping=False)
    scored = opinion_posts(corpus.posts, key_assignment(store, by="topic"), post_sentiment(store))
    timeline = count_opinions(scored, posts=corpus.posts)
    import statsmodels.stats.multitest
    import statsmodels.stats.proportion  # noqa: F401  (their import is not the alerts' cost)
    rows = []
    for name, settings in (("defaults", {}), ("alpha 0.5, no correction, 2 posts",
                                              {"alpha": 0.5, "correction": "none", "min_posts": 2})):
        started = time.perf_counter()
        alerts = opinion_alerts(timeline, evidence=scored, **settings)
        rows.append((name, alerts.num_rows, time.perf_counter() - started))
    return rows


def main(arguments: argparse.Namespace) -> None:
    from scale_pipeline import cached_store  # the benchmarks folder is on sys.path when a script runs

    from socialfusion.store import connect

    with tempfile.TemporaryDirectory(prefix="report-cards-") as scratch:
        if arguments.store:
            source = Path(arguments.store)
        else:
            source = cached_store(arguments.posts) / "store"
        copy = Path(scratch) / "store"
        shutil.copytree(source, copy)
        store = connect(copy, create=False)
        if arguments.random_writes:
            print(f"random predictions and topics for {random_writes(store):,} posts (timing only)")
        seconds = card_seconds(store, arguments.sections, Path(scratch) / "report.html")
        print(f"\n{'stage of analyze':<36}{'seconds':>10}")
        for name, value in seconds.items():
            print(f"{name:<36}{value:>10.2f}")
        if arguments.alerts:
            print(f"\n{'opinion_alerts':<36}{'alerts':>10}{'seconds':>10}")
            for name, count, value in alert_seconds(store):
                print(f"{name:<36}{count:>10}{value:>10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000, help="original posts of scale_pipeline's cached store")
    parser.add_argument("--store", help="a written store to read instead (copied first)")
    parser.add_argument("--random-writes", action="store_true",
                        help="write random sentiment predictions and topics in place of the writing stages")
    parser.add_argument("--sections", default="opinion,trends", help="report sections to build")
    parser.add_argument("--alerts", action="store_true", help="also time opinion_alerts")
    main(parser.parse_args())
