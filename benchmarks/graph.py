"""Graph embedding fit time at scale: spectral vs random-walk on a planted partition of 100k users / 1M edges.

Also reports how well KMeans on each embedding recovers the 50 planted communities (adjusted Rand index).

    python benchmarks/graph.py [--users 100000 --edges 1000000]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score

    from socialfusion.datasets.synthetic import planted_follow_graph
    from socialfusion.encoders.graph import RandomWalkGraphEncoder, SpectralGraphEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    args = parser.parse_args()
    corpus, community = planted_follow_graph(args.users, args.edges, 50, seed=0)
    print(f"\nGraph embeddings, {args.users:,} users / {args.edges:,} follow edges, 50 planted communities\n")
    print(f"{'encoder':<22}{'fit seconds':>13}{'ARI':>8}")
    for encoder in (SpectralGraphEncoder(), RandomWalkGraphEncoder()):
        started = time.perf_counter()
        encoder.fit(corpus)
        seconds = time.perf_counter() - started
        vectors = encoder.encode([f"u{index}" for index in range(args.users)]).vectors  # rows in community order
        labels = MiniBatchKMeans(50, random_state=0, n_init=3).fit_predict(vectors)
        print(f"{encoder.name:<22}{seconds:>13.1f}{adjusted_rand_score(community, labels):>8.2f}")


if __name__ == "__main__":
    main()
