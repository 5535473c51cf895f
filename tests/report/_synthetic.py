"""A small synthetic store for the report tests: the demo's network at a tenth of its size, with topics written
from the planted topic labels (one-hot embeddings, so no encoder runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import Store, connect
from socialfusion.tasks.topics import TopicModel, write_topics


def synthetic_store(folder: Path, *, n_users: int = 40, n_posts: int = 200, seed: int = 0) -> Store:
    """Ingest ``generate(n_users, n_posts, seed)`` into ``folder`` and fit KMeans topics on its planted topics."""
    network = generate(n_users=n_users, n_posts=n_posts, seed=seed)
    store = connect(folder)
    ingest_corpus(network.corpus, store)
    posts = network.corpus.posts
    labels = network.corpus.labels.to_pylist()
    planted = {row["item_id"]: row["label"] for row in labels if row["task"] == "topic"}
    names = sorted(set(planted.values()))
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(scale=0.05, size=(posts.num_rows, len(names) + 1))
    for row, post in enumerate(posts.column("post_id").to_pylist()):
        embeddings[row, names.index(planted[post]) if post in planted else len(names)] += 1.0
    model = TopicModel(method="kmeans", n_topics=len(names), reduce_to=None, random_state=seed).fit_texts(
        posts.column("text").to_pylist(), embeddings=embeddings, post_ids=posts.column("post_id").to_pylist())
    write_topics(store, model)
    return store
