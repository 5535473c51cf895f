"""The report's sampled cards against the same computation on everything, at one corpus size.

The scale issue's agreement check: where a card works on a bounded, seeded sample, does it say what the full
computation says? On a copy of ``scale_pipeline``'s cached synthetic store (generated when absent), each comparison
runs the library's own function twice, once with the report's bound and once without:

- topics: ``TopicModel(**DEMO_TOPICS)`` fitted on ``MAX_FIT_POSTS`` posts (stratified by language) and on every post;
  NPMI coherence of each model's keywords over every post's text (``topic_coherence``, top 10 keywords), and the
  share of the sampled model's topics whose best match in the full model shares at least half its keywords;
- engagement: ``engagement_examples`` with ``MAX_EXAMPLES`` (a seeded sample of users, stratified by activity) and
  without; both logistic models are scored on the full run's held-out window, so the AUCs compare on one test set;
- recommendation: the card's models scored on ``MAX_EVALUATION_USERS`` test users (and the hybrid tuned on as many
  validation users) and on all of them: Recall@20 of each model.

The influencer table, the trends card's bursts and the opinion timeline take no sample, so they agree by
construction and are not run here.

    cd benchmarks && ../.venv/bin/python sampled_vs_full.py --posts 100000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from scale_pipeline import CACHE, cached_store  # the benchmarks folder is on sys.path when a script runs


def _timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def topics(store) -> list[tuple[str, str, str, str]]:
    from socialfusion.corpus import Corpus
    from socialfusion.pipeline import DEMO_TOPICS
    from socialfusion.tasks.topics import MAX_FIT_POSTS, TopicModel, topic_coherence

    texts = Corpus.from_store(store, bookkeeping=False).posts.column("text").to_pylist()
    sampled, sampled_s = _timed(lambda: TopicModel(**DEMO_TOPICS).fit(store))  # encodes and caches every post
    full, full_s = _timed(lambda: TopicModel(**DEMO_TOPICS, max_fit_posts=None).fit(store))
    keywords = {name: [list(words) for words in model.topics_.column("keywords").to_pylist()]
                for name, model in (("sampled", sampled), ("full", full))}
    npmi = {name: topic_coherence(words, texts) for name, words in keywords.items()}
    matched = sum(max(len(set(topic[:10]) & set(other[:10])) for other in keywords["full"]) >= 5
                  for topic in keywords["sampled"])
    return [("topic NPMI (top 10 keywords, every post)", f"{npmi['sampled']:.4f}", f"{npmi['full']:.4f}",
             f"{npmi['sampled'] - npmi['full']:+.4f}"),
            (f"topics sharing >= 5 of 10 keywords with a full topic (fit on {MAX_FIT_POSTS:,} vs all)",
             f"{matched} of {len(keywords['sampled'])}", "", ""),
            ("topic fit seconds (the first includes encoding every post)", f"{sampled_s:.1f}", f"{full_s:.1f}", "")]


def engagement(store) -> list[tuple[str, str, str, str]]:
    from socialfusion.corpus import Corpus
    from socialfusion.pipeline import MAX_TEXT_FIT, REPORT_TEXT_ENCODER
    from socialfusion.tasks.engagement import MAX_EXAMPLES, EngagementModel, engagement_examples, time_split
    from socialfusion.tasks.profiles import post_text_vectors

    corpus = Corpus.from_store(store, bookkeeping=False)
    vectors = post_text_vectors(corpus, store=store, text_encoder=REPORT_TEXT_ENCODER, max_fit_texts=MAX_TEXT_FIT)
    runs = {}
    for name, bound in (("sampled", MAX_EXAMPLES), ("full", None)):
        (train, test), seconds = _timed(lambda bound=bound: time_split(engagement_examples(
            corpus, store=store, post_vectors=vectors, max_examples=bound)))
        runs[name] = (EngagementModel(learner="logistic").fit(train), train.num_rows, test, seconds)
    test = runs["full"][2]  # one held-out window for both models
    auc = {name: run[0].evaluate(test)["auc"] for name, run in runs.items()}
    return [(f"engagement AUC on the full held-out window ({test.num_rows:,} examples)", f"{auc['sampled']:.4f}",
             f"{auc['full']:.4f}", f"{auc['sampled'] - auc['full']:+.4f}"),
            ("engagement training examples", f"{runs['sampled'][1]:,}", f"{runs['full'][1]:,}", ""),
            ("engagement examples seconds", f"{runs['sampled'][3]:.1f}", f"{runs['full'][3]:.1f}", "")]


def recommendation(store) -> list[tuple[str, str, str, str]]:
    from socialfusion.corpus import Corpus
    from socialfusion.pipeline import MAX_EVALUATION_USERS, _recommendation

    corpus = Corpus.from_store(store, bookkeeping=False)
    rows = []
    recall = {}
    seconds = {}
    for name, bound in (("sampled", MAX_EVALUATION_USERS), ("full", None)):
        section, seconds[name] = _timed(lambda bound=bound: _recommendation(corpus, max_users=bound))
        table = next(block for block in section.blocks if isinstance(getattr(block, "data", None), list))
        recall[name] = {row["method"]: row["recall@20"] for row in table.data}
    for method in recall["full"]:
        rows.append((f"Recall@20, {method}", f"{recall['sampled'][method]:.4f}", f"{recall['full'][method]:.4f}",
                     f"{recall['sampled'][method] - recall['full'][method]:+.4f}"))
    order = {name: sorted(values, key=values.get, reverse=True) for name, values in recall.items()}
    rows.append(("models in the same order", str(order["sampled"] == order["full"]), "", ""))
    rows.append(("recommendation card seconds", f"{seconds['sampled']:.1f}", f"{seconds['full']:.1f}", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000, help="original posts of the synthetic store")
    parser.add_argument("--cards", default="topics,engagement,recommendation")
    args = parser.parse_args()
    from socialfusion.store import connect

    folder = cached_store(args.posts)
    rows = []
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="sampled-") as scratch:
        shutil.copytree(folder / "store", Path(scratch) / "store")
        store = connect(Path(scratch) / "store", create=False)
        for card in args.cards.split(","):
            rows += {"topics": topics, "engagement": engagement, "recommendation": recommendation}[card](store)
            print(f"  {card} done", flush=True)
    print(f"\n| {args.posts:,} original posts | sampled (the report) | full | difference |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
