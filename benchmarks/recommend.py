"""Recommendation figures: Last.fm ranking quality, cold start for new posts, vector-index retrieval at 100k items.

1. Last.fm (HetRec 2011): a fixed random 8:1:1 split of the user-artist pairs (seed 0); hyper-parameters and the
   hybrid's weights are chosen on the 10% validation part, figures are on the 10% test part; Recall@10/@20 and
   NDCG@10/@20 ranking every artist the user has not trained on (Recall@k = hits / held-out items, as in the
   LightGCN / SEPT code), and fit seconds;
2. synthetic generator: cold-start Recall@20 for new posts (posts of the last days, unseen in training), content
   model (fused text + image features) vs popularity;
3. top-20 retrieval among 100,000 clustered items through the LanceDB vector index vs exact NumPy brute force:
   latency p50/p99 and recall@20 of the index against the exact top 20.

Rows the lead adds (engagement AUC, ...) go through ``EXTRA_TABLES``: functions taking no argument that print
their own table.

    python benchmarks/recommend.py [--skip-lastfm] [--skip-cold-start] [--skip-retrieval] [--items 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np

EXTRA_TABLES: list[Callable[[], None]] = []  # the lead's hook: e.g. the engagement AUC table of tasks/engagement.py


def lastfm_table() -> None:
    import pyarrow as pa

    from socialfusion.datasets import load_lastfm
    from socialfusion.tasks.recommend import (
        ALSRecommender,
        BPRRecommender,
        EASERecommender,
        HybridRecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        SocialRecommender,
        evaluate_recommender,
        split_interactions,
    )

    corpus = load_lastfm()
    split = split_interactions(corpus, ratios=(0.8, 0.1, 0.1), by="random", random_state=0)
    print(f"\n1. Last.fm: {corpus.counts()['users']:,} users, {corpus.counts()['posts']:,} artists, "
          f"{corpus.counts()['edges']:,} friendships; random 8:1:1 split of user-artist pairs (seed 0): "
          f"{split.train.num_rows:,} train / {split.validation.num_rows:,} validation / {split.test.num_rows:,} test")

    def fitted(model, **options):
        started = time.perf_counter()
        model.fit(split.train, edges=corpus.edges, **options)
        return model, time.perf_counter() - started

    # Hyper-parameters of the factor models: a small grid, chosen by validation Recall@20.
    grids = {
        "ALS": [ALSRecommender(factors, regularization=regularization, alpha=alpha)
                for factors in (32, 64) for regularization in (1.0, 4.0) for alpha in (2.0,)],
        "BPR": [BPRRecommender(factors, learning_rate=rate, iterations=iterations)
                for factors in (64,) for rate in (0.02, 0.05) for iterations in (200,)],
    }
    chosen = {}
    print("\nvalidation Recall@20 of each setting tried (the best is used below)")
    for name, candidates in grids.items():
        best = None
        for candidate in candidates:
            model, _ = fitted(candidate)
            recall = evaluate_recommender(model, split.validation, k=20)["recall@20"]
            settings = {key: value for key, value in vars(candidate).items()
                        if not key.endswith("_") and key in ("factors", "regularization", "alpha", "learning_rate",
                                                             "iterations")}
            print(f"  {name} {settings}: {recall:.4f}")
            if best is None or recall > best[0]:
                best = (recall, candidate)
        chosen[name] = best[1]
    models = {
        "popularity": PopularityRecommender(),
        "ALS (implicit)": type(chosen["ALS"])(**{k: v for k, v in vars(chosen["ALS"]).items() if not k.endswith("_")}),
        "BPR (implicit)": type(chosen["BPR"])(**{k: v for k, v in vars(chosen["BPR"]).items() if not k.endswith("_")}),
        "item kNN": ItemKNNRecommender(),
        "EASE": EASERecommender(l2=200.0),
        "social (friends' artists)": SocialRecommender(),
    }
    components = {"als": models["ALS (implicit)"], "ease": models["EASE"], "itemknn": models["item kNN"],
                  "social": models["social (friends' artists)"]}
    hybrid = HybridRecommender(components, depth=100, tune_k=10)
    print(f"\n{'method':<30}{'R@10':>8}{'R@20':>8}{'N@10':>8}{'N@20':>8}{'fit s':>8}   (8:1:1 split, test part)")
    for name, model in models.items():
        model, seconds = fitted(model)
        metrics = evaluate_recommender(model, split.test)
        print(f"{name:<30}{metrics['recall@10']:>8.4f}{metrics['recall@20']:>8.4f}{metrics['ndcg@10']:>8.4f}"
              f"{metrics['ndcg@20']:>8.4f}{seconds:>8.1f}")
    started = time.perf_counter()
    hybrid.fit(split.train, validation=split.validation, edges=corpus.edges)
    seconds = time.perf_counter() - started
    metrics = evaluate_recommender(hybrid, split.test)
    print(f"{'hybrid (weights on validation)':<30}{metrics['recall@10']:>8.4f}{metrics['recall@20']:>8.4f}"
          f"{metrics['ndcg@10']:>8.4f}{metrics['ndcg@20']:>8.4f}{seconds:>8.1f}")
    started = time.perf_counter()
    refitted = HybridRecommender(components, weights=hybrid.weights_, depth=100).fit(
        pa.concat_tables([split.train, split.validation]), edges=corpus.edges)
    seconds = time.perf_counter() - started
    metrics = evaluate_recommender(refitted, split.test)
    print(f"{'  same, refit on train+valid.':<30}{metrics['recall@10']:>8.4f}{metrics['recall@20']:>8.4f}"
          f"{metrics['ndcg@10']:>8.4f}{metrics['ndcg@20']:>8.4f}{seconds:>8.1f}")
    weights = ", ".join(f"{name} {weight:.1f}" for name, weight in hybrid.weights_.items())
    print(f"hybrid weights (validation Recall@10 {max(hybrid.validation_.values()):.4f}): {weights}; test users "
          f"scored: {metrics['users']:,}")
    print("published Recall@10 on Last.fm (their own 8:1:1 splits): LightGCN 0.2064, MHCN 0.2123, SEPT 0.2127")


def cold_start_table() -> None:
    from socialfusion.datasets.synthetic import generate
    from socialfusion.encoders import get_encoder
    from socialfusion.learn._data import ModalityFeatures
    from socialfusion.tasks.recommend import (
        ContentRecommender,
        PopularityRecommender,
        interaction_table,
        ranking_metrics,
    )

    network = generate(n_users=400, n_posts=3000, seed=0, n_videos=0, n_audio=0)
    corpus = network.corpus
    originals = network.truth.post_kind == "original"
    post_ids = network.truth.post_ids[originals].tolist()
    posts = corpus.posts.to_pylist()
    by_id = {row["post_id"]: row for row in posts}
    created = np.array([by_id[post]["created_at"].timestamp() for post in post_ids])
    cut = np.quantile(created, 0.9)  # the last 10% of original posts are "new": nobody's training items
    new = {post for post, when in zip(post_ids, created) if when >= cut}
    likes = interaction_table(corpus, kind="like")
    items = likes.column("item").to_pylist()
    train_rows = [index for index, item in enumerate(items) if item not in new and item in by_id]
    test_rows = [index for index, item in enumerate(items) if item in new]
    train, test = likes.take(train_rows), likes.take(test_rows)
    encoder = get_encoder("text/minilm-int8")
    started = time.perf_counter()
    text = encoder.encode([by_id[post]["text"] for post in post_ids])
    image_encoder = get_encoder("image/colour-histogram")
    image = image_encoder.encode([next((media for media in by_id[post]["media"] if media["kind"] == "image"), None)
                                  for post in post_ids])
    features = ModalityFeatures.from_encoded({"text": text, "image": image}, ids=post_ids)
    encode_seconds = time.perf_counter() - started
    print(f"\n2. Cold start on the synthetic network (400 users, 3,000 original posts, seed 0): {len(new):,} newest "
          f"posts unseen in training, {test.num_rows:,} likes on them by {len(set(test.column('user').to_pylist()))}"
          f" users; features text/minilm-int8 + image/colour-histogram ({encode_seconds:.0f} s)\n")
    print(f"{'method':<36}{'R@20':>8}{'N@20':>8}")
    for name, model in (("popularity", PopularityRecommender()), ("content (fused features)", ContentRecommender())):
        model.fit(train, item_features=features)
        recommendations = model.recommend(sorted(set(test.column("user").to_pylist())), k=20, candidates=sorted(new))
        metrics = ranking_metrics(recommendations, test, k=20)
        print(f"{name:<36}{metrics['recall@20']:>8.4f}{metrics['ndcg@20']:>8.4f}")
    print("(both rank only the new posts; popularity of a new post is 0, so its order is the id order)")


def retrieval_table(n_items: int, dim: int = 64, queries: int = 200) -> None:
    from socialfusion.store import connect
    from socialfusion.tasks.recommend import exact_top_k, retrieve, write_item_vectors

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, dim))
    vectors = centres[rng.integers(0, 100, n_items)] + 0.6 * rng.normal(size=(n_items, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"item{index}" for index in range(n_items)]
    probes = centres[rng.integers(0, 100, queries)] + 0.6 * rng.normal(size=(queries, dim))
    print(f"\n3. Top-20 retrieval, {n_items:,} clustered items (100 clusters, dim {dim}), {queries} queries\n")
    print(f"{'method':<44}{'build s':>9}{'p50 ms':>9}{'p99 ms':>9}{'recall@20':>11}")
    exact = [set(exact_top_k(vectors, probe / np.linalg.norm(probe), 20)[0].tolist()) for probe in probes]
    latencies = []
    for probe in probes:
        started = time.perf_counter()
        exact_top_k(vectors, probe / np.linalg.norm(probe), 20)
        latencies.append(time.perf_counter() - started)
    print(f"{'exact NumPy brute force':<44}{0.0:>9.1f}{np.percentile(latencies, 50) * 1e3:>9.2f}"
          f"{np.percentile(latencies, 99) * 1e3:>9.2f}{1.0:>11.3f}")
    with tempfile.TemporaryDirectory() as folder:
        store = connect(folder)
        built = None
        for name, index, options, refine in (
            ("LanceDB IVF_HNSW_SQ (16 partitions)", "IVF_HNSW_SQ", {"num_partitions": 16}, 1),
            ("  same, refine x2 (exact re-rank)", "IVF_HNSW_SQ", {"num_partitions": 16}, 2),
            ("LanceDB IVF_PQ (64 partitions, 16 subvectors)", "IVF_PQ", {"num_partitions": 64,
                                                                          "num_sub_vectors": 16}, 1),
            ("  same, refine x4 (exact re-rank)", "IVF_PQ", {"num_partitions": 64, "num_sub_vectors": 16}, 4),
            ("LanceDB flat scan (no index)", None, {}, 1),
        ):
            build = 0.0
            if built != (index, tuple(options.items())):  # the refine rows reuse the index just built
                started = time.perf_counter()
                write_item_vectors(store, ids, vectors, index=index, index_options=options)
                build = time.perf_counter() - started
                built = (index, tuple(options.items()))
            latencies, recalls = [], []
            for probe, truth in zip(probes, exact):
                started = time.perf_counter()
                found = retrieve(store, probe, 20, refine=refine)
                latencies.append(time.perf_counter() - started)
                recalls.append(len({int(item[4:]) for item in found.column("item").to_pylist()} & truth) / 20)
            print(f"{name:<44}{build:>9.1f}{np.percentile(latencies, 50) * 1e3:>9.2f}"
                  f"{np.percentile(latencies, 99) * 1e3:>9.2f}{np.mean(recalls):>11.3f}")
    print("(searched through Store.search with LanceDB's default nprobes; 'refine' re-ranks refine x 20 index hits "
          "by their stored vectors; build 0.0 = the index of the row above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lastfm", action="store_true")
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--items", type=int, default=100_000)
    arguments = parser.parse_args()
    if not arguments.skip_lastfm:
        lastfm_table()
    if not arguments.skip_cold_start:
        cold_start_table()
    if not arguments.skip_retrieval:
        retrieval_table(arguments.items)
    for table in EXTRA_TABLES:
        table()


if __name__ == "__main__":
    main()
