"""Information propagation: reshare cascades rebuilt as timed trees, their statistics, and independent-cascade reach.

Platforms record a reshare against the original post (``reshare_of``), not against the friend the resharer saw
it from. ``reshare_cascades`` rebuilds the tree the way Goel et al. (2016) did for Twitter: a resharer's parent is
the latest earlier adopter of the same cascade whom the resharer follows, or the original author when they follow
none. ``cascade_statistics`` then gives size, depth, maximum breadth, structural virality (the mean distance
between two nodes of the tree, Goel et al.) and speed. ``independent_cascade_reach`` simulates the independent
cascade model (Kempe et al. 2003) for many runs at once, vectorised over runs.

Examples:
    >>> import datetime as dt
    >>> from socialfusion.corpus import Corpus
    >>> at = lambda minutes: dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
    >>> corpus = Corpus.from_records(
    ...     posts=[{"post_id": "p", "author_id": "a", "created_at": at(0), "text": "news"},
    ...            {"post_id": "r1", "author_id": "b", "created_at": at(5), "reshare_of": "p"},
    ...            {"post_id": "r2", "author_id": "c", "created_at": at(9), "reshare_of": "p"}],
    ...     edges=[{"src": "c", "dst": "b", "kind": "follow"}])  # c follows b: c saw it from b
    >>> reshare_cascades(corpus).select(["post_id", "parent_post_id", "depth"]).to_pylist()[2]
    {'post_id': 'r2', 'parent_post_id': 'r1', 'depth': 2}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError

__all__ = [
    "NextAdopterModel",
    "cascade_sequences",
    "cascade_statistics",
    "celf_seeds",
    "degree_discount_seeds",
    "independent_cascade_reach",
    "learn_cascade_probabilities",
    "linear_threshold_reach",
    "reshare_cascades",
    "sir_outbreak",
]

_CASCADE_SCHEMA = pa.schema([
    ("cascade_id", pa.string()), ("post_id", pa.string()), ("author_id", pa.string()),
    ("parent_post_id", pa.string()), ("depth", pa.int32()), ("at", pa.timestamp("us", tz="UTC")),
])


def reshare_cascades(corpus: Corpus) -> pa.Table:
    """Every reshare cascade as a timed tree: one row per post (the original first, then reshares by time).

    Returns:
        Columns ``cascade_id`` (the original post), ``post_id``, ``author_id``, ``parent_post_id`` (None for the
        original), ``depth`` (0 for the original) and ``at``. Originals without reshares are left out.
    """
    posts = corpus.posts.select(["post_id", "author_id", "created_at", "reshare_of"]).to_pylist()
    by_id = {post["post_id"]: post for post in posts}
    follows = defaultdict(set)
    for edge in corpus.edges.select(["src", "dst", "kind"]).to_pylist():
        if edge["kind"] in ("follow", "friend"):
            follows[edge["src"]].add(edge["dst"])
    reshares = defaultdict(list)
    for post in posts:
        if post["reshare_of"] is not None and post["reshare_of"] in by_id:
            reshares[post["reshare_of"]].append(post)
    rows = []
    for root_id in sorted(reshares):
        root = by_id[root_id]
        rows.append({"cascade_id": root_id, "post_id": root_id, "author_id": root["author_id"],
                     "parent_post_id": None, "depth": 0, "at": root["created_at"]})
        adopters = [(root["author_id"], root_id, 0)]  # (author, post, depth), in time order
        timed = sorted(reshares[root_id], key=lambda post: (post["created_at"] is None, post["created_at"],
                                                            post["post_id"]))
        for post in timed:
            followed = follows.get(post["author_id"], set())
            parent = next((adopter for adopter in reversed(adopters) if adopter[0] in followed), adopters[0])
            rows.append({"cascade_id": root_id, "post_id": post["post_id"], "author_id": post["author_id"],
                         "parent_post_id": parent[1], "depth": parent[2] + 1, "at": post["created_at"]})
            adopters.append((post["author_id"], post["post_id"], parent[2] + 1))
    return pa.Table.from_pylist(rows, schema=_CASCADE_SCHEMA)


def _structural_virality(parents: list[int]) -> float:
    """Mean shortest-path distance over all pairs of nodes of a tree given by parent indices (root: -1).

    Each edge separates the tree into a subtree of ``s`` nodes and the rest, and lies on ``s * (n - s)`` paths,
    so the Wiener index is their sum: O(n) once subtree sizes are known (parents come before children).
    """
    n = len(parents)
    if n < 2:
        return 0.0
    sizes = np.ones(n, np.int64)
    for node in range(n - 1, 0, -1):
        sizes[parents[node]] += sizes[node]
    wiener = float(np.sum(sizes[1:] * (n - sizes[1:])))
    return wiener / (n * (n - 1) / 2)


def cascade_statistics(cascades: pa.Table) -> pa.Table:
    """Per cascade: size, depth, maximum breadth, structural virality, duration and speed.

    Args:
        cascades: the output of ``reshare_cascades``.

    Returns:
        Columns ``cascade_id``, ``size`` (posts, the original included), ``depth`` (longest chain of reshares),
        ``max_breadth`` (most posts at one depth), ``structural_virality`` (Goel et al.: ``2k / (k + 1)`` for a
        broadcast star of ``k`` reshares, ``(n + 1) / 3`` for a chain of ``n`` posts), ``duration_hours``
        (original to last reshare) and ``reshares_per_hour`` (reshares / duration; None when the duration is
        zero or unknown), largest cascades first.
    """
    trees = defaultdict(list)
    for row in cascades.to_pylist():  # one pass; within a cascade, rows keep their order (parents first)
        trees[row["cascade_id"]].append(row)
    rows = []
    for cascade, tree in trees.items():
        index = {row["post_id"]: position for position, row in enumerate(tree)}
        parents = [-1 if row["parent_post_id"] is None else index[row["parent_post_id"]] for row in tree]
        depths = np.array([row["depth"] for row in tree])
        times = [row["at"] for row in tree if row["at"] is not None]
        hours = (max(times) - min(times)).total_seconds() / 3600 if len(times) > 1 else None
        rows.append({"cascade_id": cascade, "size": len(tree), "depth": int(depths.max()),
                     "max_breadth": int(np.bincount(depths).max()),
                     "structural_virality": _structural_virality(parents), "duration_hours": hours,
                     "reshares_per_hour": (len(tree) - 1) / hours if hours else None})
    rows.sort(key=lambda row: (-row["size"], row["cascade_id"]))
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("cascade_id", pa.string()), ("size", pa.int64()), ("depth", pa.int64()), ("max_breadth", pa.int64()),
        ("structural_virality", pa.float64()), ("duration_hours", pa.float64()), ("reshares_per_hour", pa.float64()),
    ]))


class _RunGrid:
    """The state shared by the diffusion simulators: one CSR adjacency and ``runs`` copies of the nodes.

    Run r's node v is cell ``r * n_nodes + v`` of flat arrays, so one vectorised pass handles every run.
    """

    def __init__(self, sources: np.ndarray, targets: np.ndarray, weights: float | np.ndarray, n_nodes: int,
                 seeds: Sequence[int], runs: int, what: str):
        sources, targets = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
        if sources.shape != targets.shape:
            raise ConfigurationError(f"sources and targets differ in length: {len(sources)} vs {len(targets)}")
        self.one_weight = np.ndim(weights) == 0
        weights = np.broadcast_to(np.asarray(weights, np.float64), sources.shape)
        if ((weights < 0) | (weights > 1)).any():
            raise ConfigurationError(f"{what} must lie in [0, 1]")
        seeds = np.unique(np.asarray(seeds, np.int64))
        if len(seeds) and (seeds.min() < 0 or seeds.max() >= n_nodes):
            raise ConfigurationError(f"seeds must be node indices in [0, {n_nodes})")
        if runs < 1:
            raise ConfigurationError(f"runs must be at least 1; got {runs}")
        order = np.argsort(sources, kind="stable")
        # int32 where it fits: the passes are memory-bound, and half the bytes is nearly half the time.
        self.index_type = np.int32 if runs * n_nodes < 2**31 and len(sources) < 2**31 else np.int64
        self.targets = targets[order].astype(self.index_type)
        self.weights = weights[order]
        self.starts = np.searchsorted(sources[order], np.arange(n_nodes + 1)).astype(self.index_type)
        self.n_nodes, self.runs = n_nodes, runs
        self.seed_cells = (np.arange(runs, dtype=self.index_type)[:, None] * n_nodes
                           + seeds[None, :].astype(self.index_type)).ravel()
        self.claimed = np.zeros(runs * n_nodes, self.index_type)

    def out_edges(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every out-edge of every cell: the target's cell, and the edge's index (into weights)."""
        nodes = cells % self.n_nodes
        degrees = self.starts[nodes + 1] - self.starts[nodes]
        edge = (np.repeat(self.starts[nodes] - np.cumsum(degrees, dtype=self.index_type) + degrees, degrees)
                + np.arange(degrees.sum(), dtype=self.index_type))
        return np.repeat(cells - nodes, degrees) + self.targets[edge], edge

    def edge_weights(self, edge: np.ndarray) -> float | np.ndarray:
        return self.weights[0] if self.one_weight and len(self.weights) else self.weights[edge]

    def distinct(self, cells: np.ndarray) -> np.ndarray:
        """``cells`` without repeats, in O(len) (no sort)."""
        ranks = np.arange(len(cells), dtype=self.index_type)
        self.claimed[cells] = ranks
        return cells[self.claimed[cells] == ranks]

    def per_run(self, flags: np.ndarray) -> np.ndarray:
        return flags.reshape(self.runs, self.n_nodes).sum(axis=1)


def independent_cascade_reach(
    sources: np.ndarray, targets: np.ndarray, probabilities: float | np.ndarray, n_nodes: int,
    seeds: Sequence[int], *, runs: int = 1000, random_state: int = 0,
) -> np.ndarray:
    """Final sizes of ``runs`` independent-cascade simulations from ``seeds``, all runs advanced together.

    Every newly activated node gets one chance to activate each out-neighbour with the edge's probability
    (Kempe, Kleinberg & Tardos 2003). Each step handles the frontier of every run in one vectorised pass.

    Args:
        sources, targets: ``(m,)`` node indices of the directed edges along which influence flows.
        probabilities: one probability for every edge, or ``(m,)`` per edge.
        n_nodes: number of nodes.
        seeds: the initially active nodes.
        runs: number of simulations.
        random_state: seed.

    Returns:
        ``(runs,)`` int: activated nodes per run, the seeds included.

    Examples:
        >>> chain = independent_cascade_reach(np.array([0, 1]), np.array([1, 2]), 1.0, 3, [0], runs=4)
        >>> chain.tolist()
        [3, 3, 3, 3]
    """
    grid = _RunGrid(sources, targets, probabilities, n_nodes, seeds, runs, "edge probabilities")
    rng = np.random.default_rng(random_state)
    active = np.zeros(runs * n_nodes, bool)
    frontier = grid.seed_cells
    active[frontier] = True
    while len(frontier):
        cells, edge = grid.out_edges(frontier)
        waiting = ~active[cells]  # an edge into an already active node cannot change anything: skip its draw
        cells, edge = cells[waiting], edge[waiting]
        frontier = grid.distinct(cells[rng.random(len(cells)) < grid.edge_weights(edge)])
        active[frontier] = True
    return grid.per_run(active)


def linear_threshold_reach(
    sources: np.ndarray, targets: np.ndarray, weights: float | np.ndarray | None, n_nodes: int,
    seeds: Sequence[int], *, runs: int = 1000, random_state: int = 0,
) -> np.ndarray:
    """Final sizes of ``runs`` linear-threshold simulations from ``seeds`` (Kempe, Kleinberg & Tardos 2003).

    Each node draws a threshold uniformly in [0, 1] per run and activates once the weights of its active
    in-neighbours add up to it.

    Args:
        weights: per edge (each node's incoming weights should add up to at most 1), one for every edge, or None
            for ``1 / in-degree`` (the usual choice).

    Returns:
        ``(runs,)`` int: activated nodes per run, the seeds included.

    Examples:
        >>> linear_threshold_reach(np.array([0, 1]), np.array([1, 2]), None, 3, [0], runs=3).tolist()
        [3, 3, 3]
    """
    if weights is None:
        in_degree = np.bincount(np.asarray(targets, np.int64), minlength=n_nodes)
        weights = 1.0 / in_degree[np.asarray(targets, np.int64)]
    grid = _RunGrid(sources, targets, weights, n_nodes, seeds, runs, "edge weights")
    rng = np.random.default_rng(random_state)
    thresholds = rng.random(runs * n_nodes)
    pressure = np.zeros(runs * n_nodes)
    active = np.zeros(runs * n_nodes, bool)
    frontier = grid.seed_cells
    active[frontier] = True
    while len(frontier):
        cells, edge = grid.out_edges(frontier)
        waiting = ~active[cells]
        cells, edge = cells[waiting], edge[waiting]
        np.add.at(pressure, cells, np.broadcast_to(grid.edge_weights(edge), cells.shape))
        touched = grid.distinct(cells)
        frontier = touched[pressure[touched] >= thresholds[touched]]
        active[frontier] = True
    return grid.per_run(active)


def sir_outbreak(
    sources: np.ndarray, targets: np.ndarray, infection: float | np.ndarray, recovery: float, n_nodes: int,
    seeds: Sequence[int], *, runs: int = 1000, max_steps: int = 10_000, random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``runs`` discrete-time SIR epidemics from ``seeds``: every step, each infected node infects each
    susceptible out-neighbour with probability ``infection``, then recovers with probability ``recovery``.

    Returns:
        ``(final sizes (runs,), infected per step (steps, runs))``: final size = nodes ever infected; the
        curve starts with the seeds and ends when no run has an infected node (or after ``max_steps``).

    Examples:
        >>> sizes, curve = sir_outbreak(np.array([0, 1]), np.array([1, 2]), 1.0, 1.0, 3, [0], runs=2)
        >>> sizes.tolist(), curve[:, 0].tolist()
        ([3, 3], [1, 1, 1])
    """
    if not 0 <= recovery <= 1:
        raise ConfigurationError(f"recovery must lie in [0, 1]; got {recovery}")
    grid = _RunGrid(sources, targets, infection, n_nodes, seeds, runs, "infection probabilities")
    rng = np.random.default_rng(random_state)
    ever = np.zeros(runs * n_nodes, bool)
    infected = grid.seed_cells
    ever[infected] = True
    curve = []
    for _ in range(max_steps):
        if not len(infected):
            break
        curve.append(np.bincount(infected // n_nodes, minlength=runs))
        cells, edge = grid.out_edges(infected)
        susceptible = ~ever[cells]
        cells, edge = cells[susceptible], edge[susceptible]
        fresh = grid.distinct(cells[rng.random(len(cells)) < grid.edge_weights(edge)])
        ever[fresh] = True
        infected = np.concatenate([infected[rng.random(len(infected)) >= recovery], fresh])
    return grid.per_run(ever), np.array(curve).reshape(-1, runs)


def learn_cascade_probabilities(sequences: Sequence[Sequence[str]], follows: Sequence[tuple[str, str]], *,
                                prior: tuple[float, float] = (0.0, 0.0)) -> pa.Table:
    """Independent-cascade edge probabilities learned from observed cascades (Goyal, Bonchi & Lakshmanan 2010).

    For the edge from ``u`` to a follower ``v``: ``p = (A(u -> v) + a) / (A(u) + a + b)``, where ``A(u)`` counts the
    cascades ``u`` adopted in and ``A(u -> v)`` those in which ``v`` adopted after ``u`` (the Bernoulli estimate,
    crediting every earlier adopter ``v`` follows), with an optional Beta(a, b) prior for smoothing.

    Args:
        sequences: adopters of each cascade, in time order.
        follows: ``(follower, followed)`` pairs.
        prior: ``(a, b)``; (0, 0) gives the plain frequency.

    Returns:
        Columns ``source`` (the followed user), ``target`` (the follower), ``probability``, ``trials`` (``A(u)``);
        one row per follow edge whose source adopted at least once.

    Examples:
        >>> table = learn_cascade_probabilities([["a", "b"], ["a"], ["a", "c", "b"]], [("b", "a"), ("c", "b")])
        >>> table.to_pylist()[0]
        {'source': 'a', 'target': 'b', 'probability': 0.6666666666666666, 'trials': 3}
    """
    prior_a, prior_b = prior
    if prior_a < 0 or prior_b < 0:
        raise ConfigurationError(f"prior counts must be non-negative; got {prior}")
    followers = defaultdict(set)
    for follower, followed in follows:
        followers[followed].add(follower)
    trials, successes = defaultdict(int), defaultdict(int)
    for sequence in sequences:
        seen: set[str] = set()
        for user in sequence:
            if user in seen:
                continue
            trials[user] += 1
            for earlier in seen:
                if user in followers.get(earlier, ()):
                    successes[(earlier, user)] += 1
            seen.add(user)
    rows = []
    for source in sorted(trials):
        for target in sorted(followers.get(source, ())):
            probability = (successes[(source, target)] + prior_a) / (trials[source] + prior_a + prior_b)
            rows.append({"source": source, "target": target, "probability": probability, "trials": trials[source]})
    return pa.Table.from_pylist(rows, schema=pa.schema([("source", pa.string()), ("target", pa.string()),
                                                       ("probability", pa.float64()), ("trials", pa.int64())]))


def degree_discount_seeds(sources: np.ndarray, targets: np.ndarray, n_nodes: int, k: int,
                          probability: float) -> list[int]:
    """``k`` seeds by the degree-discount heuristic for the independent cascade with one edge probability.

    Chen, Wang & Yang (KDD 2009): repeatedly pick the node of highest discounted degree ``d - 2t - (d - t) t p``,
    where ``d`` is its degree and ``t`` the number of its neighbours already chosen (the graph is read as
    undirected, as in the paper), so hubs next to a chosen seed lose their appeal.

    Examples:
        >>> degree_discount_seeds(np.array([0, 0, 0, 4]), np.array([1, 2, 3, 5]), 6, 2, 0.1)
        [0, 4]
    """
    if not 0 <= k <= n_nodes:
        raise ConfigurationError(f"k must be between 0 and {n_nodes}; got {k}")
    neighbours = [set() for _ in range(n_nodes)]
    for source, target in zip(np.asarray(sources).tolist(), np.asarray(targets).tolist()):
        if source != target:
            neighbours[source].add(target)
            neighbours[target].add(source)
    degree = np.array([len(items) for items in neighbours], np.float64)
    chosen_neighbours = np.zeros(n_nodes)
    score = degree.copy()
    seeds: list[int] = []
    for _ in range(k):
        candidates = np.where(np.isin(np.arange(n_nodes), seeds), -np.inf, score)
        best = int(np.argmax(candidates))
        seeds.append(best)
        for neighbour in neighbours[best]:
            if neighbour not in seeds:
                chosen_neighbours[neighbour] += 1
                t, d = chosen_neighbours[neighbour], degree[neighbour]
                score[neighbour] = d - 2 * t - (d - t) * t * probability
    return seeds


def celf_seeds(sources: np.ndarray, targets: np.ndarray, probabilities: float | np.ndarray, n_nodes: int, k: int, *,
               runs: int = 200, candidates: Sequence[int] | None = None, random_state: int = 0) -> list[int]:
    """``k`` seeds maximising expected independent-cascade reach, by lazy greedy (CELF, Leskovec et al. 2007).

    Marginal gains are Monte Carlo estimates (``runs`` simulations, common random numbers per evaluation), and a
    node's stale gain bounds its fresh one (submodularity), so most nodes are re-evaluated rarely.

    Args:
        candidates: nodes to choose from (default: all); restricting to, say, the 200 highest-degree nodes keeps
            the first pass short on large graphs.
    """
    import heapq

    if not 0 <= k <= n_nodes:
        raise ConfigurationError(f"k must be between 0 and {n_nodes}; got {k}")

    def reach(seeds: list[int]) -> float:
        if not seeds:
            return 0.0
        return float(independent_cascade_reach(sources, targets, probabilities, n_nodes, seeds, runs=runs,
                                               random_state=random_state).mean())

    pool = list(range(n_nodes)) if candidates is None else [int(node) for node in candidates]
    heap = [(-reach([node]), node, 0) for node in pool]
    heapq.heapify(heap)
    seeds: list[int] = []
    current = 0.0
    while len(seeds) < k and heap:
        negative_gain, node, round_evaluated = heapq.heappop(heap)
        if round_evaluated == len(seeds):
            seeds.append(node)
            current += -negative_gain
        else:
            heapq.heappush(heap, (-(reach([*seeds, node]) - current), node, len(seeds)))
    return seeds


def cascade_sequences(corpus: Corpus, split: str | None = None) -> dict[str, list[str]]:
    """Per cascade, its adopters in time order, from a corpus's ``share`` interactions (cascade id = ``post_id``).

    Args:
        corpus: e.g. ``socialfusion.datasets.load_diffusion_cascades("christianity")``.
        split: keep only cascades whose ``cascade`` label has this split (``train``/``dev``/``test``); None: all.
    """
    interactions = corpus.interactions.select(["user_id", "post_id", "kind", "at"]).to_pylist()
    allowed = None
    if split is not None:
        allowed = {row["item_id"] for row in corpus.labels.to_pylist()
                   if row["task"] == "cascade" and row["split"] == split}
    events = defaultdict(list)
    for row in interactions:
        if row["kind"] == "share" and (allowed is None or row["post_id"] in allowed):
            events[row["post_id"]].append((row["at"], row["user_id"]))
    sequences = {}
    for cascade, adoptions in events.items():
        seen, ordered = set(), []
        for _, user in sorted(adoptions, key=lambda event: event[0]):
            if user not in seen:
                seen.add(user)
                ordered.append(user)
        sequences[cascade] = ordered
    return sequences


class NextAdopterModel:
    """Who adopts next in a cascade: what followed the same adopters in past cascades, who follows them, popularity.

    The score of a candidate ``v`` after adopters ``u_1 .. u_i`` is
    ``transition * sum_j decay^(i-j) T[u_j, v] + social * sum_j decay^(i-j) F[u_j, v] + popularity * P[v]``,
    where ``T`` counts, over training cascades, how often ``v`` adopted within ``window`` steps after ``u`` (each
    row scaled to sum 1), ``F`` is 1 when ``v`` follows ``u`` (scaled the same way) and ``P`` is each user's share
    of training adoptions. Users already in the cascade are never predicted. The three weights are chosen on a
    held-out tenth of the training cascades (by MAP@100), then the model is refitted on all of them.

    Args:
        window: how many later adopters count as following one adopter.
        decay: weight of an adopter one step further back.
        random_state: seed of the held-out tenth.
    """

    def __init__(self, window: int = 10, decay: float = 0.8, random_state: int = 0):
        self.window = window
        self.decay = decay
        self.random_state = random_state

    def _matrices(self, sequences: Sequence[Sequence[int]]):
        from scipy import sparse

        n = self.n_users_
        rows, columns, weights = [], [], []
        for sequence in sequences:
            sequence = np.asarray(sequence)
            for distance in range(1, self.window + 1):
                rows.append(sequence[:-distance])
                columns.append(sequence[distance:])
                weights.append(np.full(max(len(sequence) - distance, 0), 1.0 / distance))
        transitions = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(columns))),
                                        shape=(n, n)) if rows else sparse.csr_matrix((n, n))
        popularity = np.bincount(np.concatenate([np.asarray(s) for s in sequences]), minlength=n).astype(float)
        return _row_normalised(transitions), popularity / max(popularity.sum(), 1.0)

    def fit(self, sequences: Sequence[Sequence[str]], follows: Sequence[tuple[str, str]], users: Sequence[str]):
        """Learn from training cascades.

        Args:
            sequences: adopters of each training cascade, in time order.
            follows: ``(follower, followed)`` pairs of the social graph.
            users: every user id.
        """
        from scipy import sparse

        self.users_ = list(users)
        self.index_ = {user: position for position, user in enumerate(self.users_)}
        self.n_users_ = len(self.users_)
        encoded = [[self.index_[user] for user in sequence if user in self.index_] for sequence in sequences]
        encoded = [sequence for sequence in encoded if len(sequence) > 1]
        if not encoded:
            raise ConfigurationError("need at least one training cascade with two or more known adopters")
        followed = np.array([self.index_[b] for a, b in follows if a in self.index_ and b in self.index_], np.int64)
        follower = np.array([self.index_[a] for a, b in follows if a in self.index_ and b in self.index_], np.int64)
        # F[u, v] = 1 when v follows u: influence flows from the followed to the follower.
        self.social_ = _row_normalised(sparse.csr_matrix(
            (np.ones(len(followed)), (followed, follower)), shape=(self.n_users_, self.n_users_)))
        order = np.random.default_rng(self.random_state).permutation(len(encoded))
        held_out = max(1, len(encoded) // 10)
        tuning, development = [encoded[i] for i in order[held_out:]], [encoded[i] for i in order[:held_out]]
        self.transitions_, self.popularity_ = self._matrices(tuning)
        best = None
        for weights in ((1, 0, 0), (1, 0.5, 0), (1, 1, 0), (1, 0, 1), (1, 0.5, 1), (1, 1, 1), (0, 1, 1), (1, 2, 1)):
            self.weights_ = weights
            score = self._evaluate(development, (100,))["map@100"]
            if best is None or score > best[0]:
                best = (score, weights)
        self.weights_ = best[1]
        self.transitions_, self.popularity_ = self._matrices(encoded)
        return self

    def _ranks(self, sequence: Sequence[int]) -> np.ndarray:
        """For each step i >= 1, the rank (1 = top) of ``sequence[i]`` given ``sequence[:i]``."""
        transition_weight, social_weight, popularity_weight = self.weights_
        history = np.zeros(self.n_users_)
        social = np.zeros(self.n_users_)
        adopted = np.zeros(self.n_users_, bool)
        ranks = []
        for step, user in enumerate(sequence):
            if step > 0:
                scores = transition_weight * history + social_weight * social + popularity_weight * self.popularity_
                scores = np.where(adopted, -np.inf, scores)
                ranks.append(int(np.sum(scores > scores[user])) + 1)
            history = self.decay * history + self.transitions_[user].toarray().ravel()
            social = self.decay * social + self.social_[user].toarray().ravel()
            adopted[user] = True
        return np.array(ranks)

    def _evaluate(self, encoded: Sequence[Sequence[int]], ks: Sequence[int]) -> dict[str, float]:
        ranks = np.concatenate([self._ranks(sequence) for sequence in encoded if len(sequence) > 1])
        result = {}
        for k in ks:
            result[f"hits@{k}"] = float(np.mean(ranks <= k))
            result[f"map@{k}"] = float(np.mean(np.where(ranks <= k, 1.0 / ranks, 0.0)))
        return result

    def evaluate(self, sequences: Sequence[Sequence[str]], ks: Sequence[int] = (10, 50, 100)) -> dict[str, float]:
        """Hits@k and MAP@k over every prediction step of ``sequences`` (the seed is given, each later adopter is
        predicted from the ones before it). With one true next adopter per step, AP@k is 1/rank within the top k,
        else 0, as in the DyHGCN / MS-HGAT evaluation code. Unknown users are dropped from the sequences."""
        encoded = [[self.index_[user] for user in sequence if user in self.index_] for sequence in sequences]
        return self._evaluate(encoded, ks)


def _row_normalised(matrix):
    """A CSR matrix with each non-empty row scaled to sum 1."""
    from scipy import sparse

    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix.tocsr()
