"""Graph embedding fit time at scale: spectral vs random-walk on a planted partition of 100k users / 1M edges.

Also reports how well KMeans on each embedding recovers the 50 planted communities (adjusted Rand index).

    python benchmarks/graph.py [--users 100000 --edges 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from socialfusion.corpus import Corpus
from socialfusion.schema import arrow_schema


def planted_partition(n_users: int, n_edges: int, n_communities: int, seed: int) -> tuple[Corpus, np.ndarray]:
    """A follow graph with 80% of the edges inside communities, as Arrow tables (no per-record validation)."""
    rng = np.random.default_rng(seed)
    community = rng.integers(0, n_communities, n_users)
    members = [np.flatnonzero(community == c) for c in range(n_communities)]
    src, dst = rng.integers(0, n_users, n_edges), rng.integers(0, n_users, n_edges)
    inside = rng.random(n_edges) < 0.8
    for c in range(n_communities):
        chosen = np.flatnonzero(inside & (community[src] == c))
        dst[chosen] = rng.choice(members[c], len(chosen))
    ids = np.char.add("u", np.arange(n_users).astype(str))
    schema = arrow_schema("edges")
    columns = {"src": ids[src], "dst": ids[dst], "kind": np.full(n_edges, "follow"),
               "record_key": np.arange(n_edges).astype(str)}
    edges = pa.table({field.name: columns.get(field.name, pa.nulls(n_edges, field.type)) for field in schema}, schema)
    return Corpus(edges=edges), community


def main() -> None:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score

    from socialfusion.encoders.graph import RandomWalkGraphEncoder, SpectralGraphEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    args = parser.parse_args()
    corpus, community = planted_partition(args.users, args.edges, 50, seed=0)
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
