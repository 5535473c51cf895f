"""Posts on many planted topics, over several days, and a topic model fitted on them (no encoder runs)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from socialfusion import Corpus
from socialfusion.tasks.topics import TopicModel

WORDS = ["cat", "stock", "rain", "goal", "vote", "song", "bread", "train", "phone", "tree", "ship", "moon", "chess",
         "sushi", "yoga", "paint"]
DAYS = 8


def topics_corpus(n_topics: int, per_topic: int = 6) -> tuple[TopicModel, Corpus]:
    """``n_topics`` planted topics of ``per_topic`` posts each (topic t has t + 1 more posts), over DAYS days."""
    rng = np.random.default_rng(0)
    texts, ids, times, rows = [], [], [], []
    for topic in range(n_topics):
        for number in range(per_topic + topic):
            texts.append(f"{WORDS[topic]} {WORDS[topic]}s and more {WORDS[topic]} talk {number}")
            ids.append(f"t{topic}-{number}")
            times.append(dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=number % DAYS, hours=topic))
            rows.append(topic)
    embeddings = np.eye(n_topics)[rows] + rng.normal(scale=0.01, size=(len(rows), n_topics))
    model = TopicModel(method="kmeans", n_topics=n_topics, reduce_to=None, top_words=6).fit_texts(
        texts, embeddings=embeddings, post_ids=ids)
    corpus = Corpus.from_records(posts=[{"post_id": post, "text": text, "created_at": at, "lang": "en"}
                                        for post, text, at in zip(ids, texts, times)])
    return model, corpus
