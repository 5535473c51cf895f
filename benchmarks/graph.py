"""Social-network figures: graph embeddings at scale, link prediction on ego-Facebook, independent-cascade speed.

1. Graph embedding fit time on a planted partition of 100k users / 1M edges, spectral vs random-walk, and how well
   KMeans on each embedding recovers the 50 planted communities (adjusted Rand index);
2. ego-Facebook link prediction: 10% of the friendships held out (removed from the training graph), as many
   non-edges as negatives, seed 0: AUC and average precision of every method;
3. PageRank + community detection on ego-Facebook: socialfusion (igraph) vs networkx, with the
   largest PageRank difference and both partitions' modularity, in the same run;
4. on the synthetic generator: planted communities recovered (NMI) and planted influencers found (precision@k);
5. content-aware link prediction on the synthetic generator: LinkPredictor with and without profile embeddings;
6. independent-cascade simulation, 1,000 runs on the Christianity graph: see ``benchmarks/propagation.py``.

    python benchmarks/graph.py [--users 100000 --edges 1000000] [--skip-embeddings]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def embeddings_table(users: int, edges: int) -> None:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score

    from socialfusion.datasets.synthetic import planted_follow_graph
    from socialfusion.encoders.graph import RandomWalkGraphEncoder, SpectralGraphEncoder

    corpus, community = planted_follow_graph(users, edges, 50, seed=0)
    print(f"\n1. Graph embeddings, {users:,} users / {edges:,} follow edges, 50 planted communities\n")
    print(f"{'encoder':<22}{'fit seconds':>13}{'ARI':>8}")
    for encoder in (SpectralGraphEncoder(), RandomWalkGraphEncoder()):
        started = time.perf_counter()
        encoder.fit(corpus)
        seconds = time.perf_counter() - started
        vectors = encoder.encode([f"u{index}" for index in range(users)]).vectors  # rows in community order
        labels = MiniBatchKMeans(50, random_state=0, n_init=3).fit_predict(vectors)
        print(f"{encoder.name:<22}{seconds:>13.1f}{adjusted_rand_score(community, labels):>8.2f}")


def link_prediction_table() -> None:
    from socialfusion.datasets import load_snap_ego_facebook
    from socialfusion.tasks.links import (
        HEURISTICS,
        LinkPredictor,
        embedding_scores,
        evaluate_link_prediction,
        heuristic_scores,
        split_edges,
    )

    corpus = load_snap_ego_facebook()
    source = corpus.edges.column("src").to_numpy(zero_copy_only=False)
    target = corpus.edges.column("dst").to_numpy(zero_copy_only=False)
    _, codes = np.unique(np.concatenate([source, target]), return_inverse=True)
    split = split_edges(codes.reshape(2, -1).T, test_fraction=0.1, random_state=0)
    print(f"\n2. ego-Facebook link prediction: {split.n_nodes:,} users, {len(split.train_edges):,} training edges, "
          f"{len(split.test_positive):,} held-out edges + as many non-edges\n")
    print(f"{'method':<40}{'AUC':>8}{'AP':>8}{'seconds':>10}")
    methods = [(method, lambda method=method: heuristic_scores(split.train_edges, split.test_pairs, split.n_nodes,
                                                                method)) for method in HEURISTICS]
    methods += [(f"spectral embedding, {similarity}",
                 lambda similarity=similarity: embedding_scores(split.train_edges, split.test_pairs, split.n_nodes,
                                                                similarity=similarity))
                for similarity in ("dot", "cosine")]
    methods += [(f"LinkPredictor ({estimator})",
                 lambda estimator=estimator: LinkPredictor(estimator, random_state=0)
                 .fit(split.train_edges, n_nodes=split.n_nodes).predict_proba(split.test_pairs)[:, 1])
                for estimator in ("logistic", "hist_gradient_boosting")]
    for name, score in methods:
        started = time.perf_counter()
        metrics = evaluate_link_prediction(split, score())
        print(f"{name:<40}{metrics['auc']:>8.4f}{metrics['average_precision']:>8.4f}"
              f"{time.perf_counter() - started:>10.1f}")


def structure_table() -> None:
    import networkx as nx

    from socialfusion.datasets import load_snap_ego_facebook
    from socialfusion.tasks.influence import communities, social_graph

    corpus = load_snap_ego_facebook()
    graph = social_graph(corpus, kinds=("friend", "follow"), directed=False)
    edges = [(graph.vs[edge.source]["name"], graph.vs[edge.target]["name"]) for edge in graph.es]
    reference = nx.Graph(edges)
    print(f"\n3. PageRank + communities on ego-Facebook ({graph.vcount():,} users, {graph.ecount():,} edges)\n")
    fast_started = time.perf_counter()
    pagerank = dict(zip(graph.vs["name"], graph.pagerank()))
    found = communities(graph, method="leiden", random_state=0)
    fast_seconds = time.perf_counter() - fast_started
    started = time.perf_counter()
    reference_pagerank = nx.pagerank(reference)
    reference_parts = nx.community.louvain_communities(reference, seed=0)
    slow_seconds = time.perf_counter() - started
    difference = max(abs(pagerank[user] - reference_pagerank[user]) for user in reference_pagerank)
    reference_modularity = nx.community.modularity(reference, reference_parts)
    print(f"{'method':<44}{'seconds':>9}{'modularity':>12}{'vs baseline':>13}")
    print(f"{'networkx pagerank + louvain (baseline)':<44}{slow_seconds:>9.2f}{reference_modularity:>12.3f}"
          f"{1:>12.1f}x")
    print(f"{'igraph pagerank + leiden':<44}{fast_seconds:>9.2f}{found.modularity:>12.3f}"
          f"{slow_seconds / fast_seconds:>12.1f}x")
    print(f"largest PageRank difference between the two: {difference:.2e}")


def synthetic_table(users: int = 1000) -> None:
    from sklearn.metrics import normalized_mutual_info_score

    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.influence import communities, influence_scores, social_graph

    network = generate(n_users=users, n_posts=2 * users, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    graph = social_graph(network.corpus)
    planted = dict(zip(network.truth.user_ids, network.truth.community))
    found = communities(graph, random_state=0).table.to_pylist()
    print(f"\n4. Synthetic network ({users:,} users, seed 0): planted structure recovered\n")
    nmi = normalized_mutual_info_score([planted[row["user_id"]] for row in found], [row["community"] for row in found])
    print(f"community NMI (Leiden vs planted): {nmi:.3f}")
    influencers = set(network.truth.influencers)
    ranked = influence_scores(graph).column("user_id").to_pylist()
    k = len(influencers)
    print(f"planted influencers: {k}; by PageRank: precision@10 {len(influencers & set(ranked[:10])) / 10:.2f}, "
          f"precision@{k} {len(influencers & set(ranked[:k])) / k:.2f}")


def content_link_table(users: int = 1000) -> None:
    """Link prediction with and without users' profile embeddings (mean MiniLM vector of their posts)."""
    import pyarrow.compute as pc

    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.links import LinkPredictor, evaluate_link_prediction, split_edges
    from socialfusion.tasks.profiles import profile_embeddings

    network = generate(n_users=users, n_posts=4 * users, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    corpus = network.corpus
    started = time.perf_counter()
    profiles = profile_embeddings(corpus, text_encoder="text/minilm-int8")
    embed_seconds = time.perf_counter() - started
    index = {user: row for row, user in enumerate(profiles.user_ids)}
    follows = corpus.edges.filter(pc.equal(corpus.edges.column("kind"), "follow"))
    pairs = np.array([(index[src], index[dst]) for src, dst in zip(follows.column("src").to_pylist(),
                                                                  follows.column("dst").to_pylist())])
    print(f"\n5. Content-aware link prediction on the synthetic network ({users:,} users, {len(pairs):,} follows, "
          f"seed 0; profile embeddings: mean text/minilm-int8 vector of each user's posts, {embed_seconds:.0f} s)\n")
    print(f"{'held out':>9}  {'method':<36}{'AUC':>8}{'AP':>8}{'AUC, low-degree pairs':>24}")
    for held_out in (0.1, 0.5, 0.8):
        split = split_edges(pairs, test_fraction=held_out, n_nodes=len(profiles.user_ids), random_state=0)
        train_degree = np.bincount(split.train_edges.ravel(), minlength=split.n_nodes)
        low_degree = np.quantile(train_degree, 0.25)
        cold = train_degree[split.test_pairs].min(axis=1) <= low_degree
        methods = (("LinkPredictor (graph only)", None), ("LinkPredictor + profile embeddings", profiles.vectors))
        for name, features in methods:
            model = LinkPredictor(random_state=0).fit(split.train_edges, n_nodes=split.n_nodes, node_features=features)
            probability = model.predict_proba(split.test_pairs)[:, 1]
            scores = evaluate_link_prediction(split, probability)
            cold_auc = _auc(split.test_labels[cold], probability[cold])
            print(f"{held_out:>9.0%}  {name:<36}{scores['auc']:>8.4f}{scores['average_precision']:>8.4f}"
                  f"{cold_auc:>24.4f}")
    print("(low-degree pairs: test pairs with a user in the bottom quartile of training ties)")


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--skip-embeddings", action="store_true", help="skip the 100k-user embedding table")
    parser.add_argument("--only", choices=["links", "structure", "synthetic", "content-links"], default=None)
    args = parser.parse_args()
    if args.only is not None:
        {"links": link_prediction_table, "structure": structure_table, "synthetic": synthetic_table,
         "content-links": content_link_table}[args.only]()
        return
    if not args.skip_embeddings:
        embeddings_table(args.users, args.edges)
    link_prediction_table()
    structure_table()
    synthetic_table()
    content_link_table()


if __name__ == "__main__":
    main()
