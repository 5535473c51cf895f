"""Knowledge-graph build throughput: entity extraction and graph build, on synthetic, English and Chinese posts.

Rows: the synthetic generator's posts (English and Chinese templates, hashtags, mentions), TweetEval sentiment
validation tweets (English) and emotion-labelled Weibo posts (Chinese). Models are loaded by a warm-up call
before timing; posts/s counts every post given (posts in other languages, or without text, included).

    python benchmarks/_trend_kg.py [--synthetic-posts 5000 --weibo-posts 5000]
"""

from __future__ import annotations

import argparse
import time


def _row(name: str, posts) -> None:
    from socialfusion.tasks.knowledge import KnowledgeGraph, extract_entities

    started = time.perf_counter()
    entities = extract_entities(posts)
    extraction = time.perf_counter() - started
    started = time.perf_counter()
    graph = KnowledgeGraph.build(posts, entities)
    build = time.perf_counter() - started
    n_posts = posts.num_rows
    print(f"{name:<34}{n_posts:>8,}{entities.num_rows:>10,}{n_posts / extraction:>12,.0f}"
          f"{n_posts / build:>12,.0f}{n_posts / (extraction + build):>11,.0f}"
          f"{graph.nodes.num_rows:>9,}{graph.edges.num_rows:>10,}")


def kg_table(synthetic_posts: int = 5000, weibo_posts: int = 5000) -> None:
    """Print posts/s of entity extraction, graph build and both, with entity, node and edge counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from socialfusion.datasets import load_tweeteval, load_weibo_covid_emotions
    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.knowledge import extract_entities

    warm_up = pa.table({"post_id": ["en", "zh"], "text": ["Ada Lovelace lived in London.", "张伟去了上海。"],
                        "lang": ["en", "zh"]})
    extract_entities(warm_up)  # loads spaCy's model and LAC outside the timings
    network = generate(n_users=max(50, synthetic_posts // 10), n_posts=synthetic_posts, seed=0, n_videos=0,
                       n_audio=0, image_fraction=0.0)
    tweets = load_tweeteval("sentiment").posts
    tweets = tweets.filter(pc.match_substring(tweets.column("post_id"), ":dev:"))
    weibo = load_weibo_covid_emotions().posts.slice(0, weibo_posts)
    print("\nKnowledge graph build throughput (posts/s, one process; spaCy en_core_web_sm NER, Baidu's LAC)\n")
    print(f"{'dataset':<34}{'posts':>8}{'entities':>10}{'extract/s':>12}{'build/s':>12}{'total/s':>11}"
          f"{'nodes':>9}{'edges':>10}")
    _row("synthetic generator (seed 0)", network.corpus.posts)
    _row("TweetEval sentiment validation", tweets)
    _row(f"Weibo COVID-19 emotions (first {weibo.num_rows:,})", weibo)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-posts", type=int, default=5000)
    parser.add_argument("--weibo-posts", type=int, default=5000)
    arguments = parser.parse_args()
    kg_table(arguments.synthetic_posts, arguments.weibo_posts)
