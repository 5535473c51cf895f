"""Information propagation: reshare cascades rebuilt as timed trees, their statistics, and independent-cascade reach.

Platforms record a reshare against the original post (``reshare_of``), not against the friend the resharer saw
it from. ``reshare_cascades`` rebuilds the tree the way Goel et al. (2016) did for Twitter: a resharer's parent is
the latest earlier adopter of the same cascade whom the resharer follows, or the original author when they follow
none. ``cascade_statistics`` then gives size, depth, maximum breadth, structural virality (the mean distance
between two nodes of the tree, Goel et al.) and speed. ``independent_cascade_reach`` simulates the independent
cascade model (Kempe et al. 2003) for many runs at once, vectorised over runs. ``early_cascade_features`` and
``CascadeSizeForecaster`` forecast a cascade's final size from its first hour (or any window).

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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.tasks._ids import distinct_codes

__all__ = [
    "CascadeSizeForecaster",
    "NextAdopterModel",
    "adoption_cascades",
    "cascade_sequences",
    "cascade_statistics",
    "celf_seeds",
    "count_followers",
    "degree_discount_seeds",
    "early_cascade_features",
    "forecast_errors",
    "independent_cascade_reach",
    "learn_cascade_probabilities",
    "learned_probabilities",
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
    table = corpus.posts.select(["post_id", "author_id", "created_at", "reshare_of"])
    shared = table.column("reshare_of")
    # only reshares and the posts they reshare take part, and only their authors' ties: filtered by Arrow
    table = table.filter(pc.or_(pc.is_valid(shared), pc.is_in(table.column("post_id"), value_set=pc.unique(
        shared.filter(pc.is_valid(shared))))))
    posts = table.to_pylist()
    by_id = {post["post_id"]: post for post in posts}
    ties = corpus.edges.select(["src", "dst", "kind"])
    ties = ties.filter(pc.and_(pc.is_in(ties.column("kind"), value_set=pa.array(["follow", "friend"])),
                               pc.is_in(ties.column("src"), value_set=pc.unique(table.column("author_id")))))
    follows = defaultdict(set)
    for source, target in zip(ties.column("src").to_pylist(), ties.column("dst").to_pylist()):
        follows[source].add(target)
    reshares = defaultdict(list)
    for post in posts:
        if post["reshare_of"] is not None and post["reshare_of"] in by_id:
            reshares[post["reshare_of"]].append(post)
    rows = []
    for root_id in sorted(reshares):
        timed = sorted(reshares[root_id], key=lambda post: (post["created_at"] is None, post["created_at"],
                                                            post["post_id"]))
        rows += _timed_tree(by_id[root_id], timed, follows)
    return pa.Table.from_pylist(rows, schema=_CASCADE_SCHEMA)


def _timed_tree(root: dict, timed: list[dict], follows: dict[str, set[str]]) -> list[dict]:
    """The rows of one cascade: ``root`` and its reshares ``timed`` (posts with ``post_id``, ``author_id`` and
    ``created_at``, in time order), each attached to the latest earlier adopter its author follows, else the root."""
    root_id = root["post_id"]
    rows = [{"cascade_id": root_id, "post_id": root_id, "author_id": root["author_id"],
             "parent_post_id": None, "depth": 0, "at": root["created_at"]}]
    adopters = [(root["author_id"], root_id, 0)]  # (author, post, depth), in time order
    latest = {root["author_id"]: 0}  # author -> the place in adopters of their latest post in this cascade
    for post in timed:
        followed = follows.get(post["author_id"], set())
        if len(followed) < len(adopters):  # look up whom the author follows (a large cascade, a few ties)
            places = [latest[author] for author in followed if author in latest]
            parent = adopters[max(places)] if places else adopters[0]
        else:  # or walk back through the adopters (a small cascade)
            parent = next((adopter for adopter in reversed(adopters) if adopter[0] in followed), adopters[0])
        rows.append({"cascade_id": root_id, "post_id": post["post_id"], "author_id": post["author_id"],
                     "parent_post_id": parent[1], "depth": parent[2] + 1, "at": post["created_at"]})
        latest[post["author_id"]] = len(adopters)
        adopters.append((post["author_id"], post["post_id"], parent[2] + 1))
    return rows


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


def _in_order(values: np.ndarray) -> bool:
    """Whether ``values`` never decrease."""
    return bool(np.all(values[:-1] <= values[1:]))


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
        # edges already in source order (celf_seeds sorts once for its many simulations) are not sorted again
        order = slice(None) if _in_order(sources) else np.argsort(sources, kind="stable")
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

    def per_run(self, activated: list[np.ndarray]) -> np.ndarray:
        """``(runs,)`` cells activated per run, from the arrays of cells activated at each step (each cell once):
        the cost follows the reach, not ``runs x n_nodes``."""
        return np.bincount(np.concatenate(activated) // self.n_nodes, minlength=self.runs)


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
    activated = [frontier]
    while len(frontier):
        cells, edge = grid.out_edges(frontier)
        waiting = ~active[cells]  # an edge into an already active node cannot change anything: skip its draw
        cells, edge = cells[waiting], edge[waiting]
        frontier = grid.distinct(cells[rng.random(len(cells)) < grid.edge_weights(edge)])
        active[frontier] = True
        activated.append(frontier)
    return grid.per_run(activated)


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
    activated = [frontier]
    while len(frontier):
        cells, edge = grid.out_edges(frontier)
        waiting = ~active[cells]
        cells, edge = cells[waiting], edge[waiting]
        np.add.at(pressure, cells, np.broadcast_to(grid.edge_weights(edge), cells.shape))
        touched = grid.distinct(cells)
        frontier = touched[pressure[touched] >= thresholds[touched]]
        active[frontier] = True
        activated.append(frontier)
    return grid.per_run(activated)


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
    infections = [infected]
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
        infections.append(fresh)
        infected = np.concatenate([infected[rng.random(len(infected)) >= recovery], fresh])
    return grid.per_run(infections), np.array(curve).reshape(-1, runs)


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
    nested = pa.array([list(sequence) for sequence in sequences], pa.list_(pa.string()))
    return learned_probabilities(pc.list_parent_indices(nested), pc.list_flatten(nested),
                                 pa.array([pair[0] for pair in follows], pa.string()),
                                 pa.array([pair[1] for pair in follows], pa.string()), prior=prior)


def learned_probabilities(cascade: pa.Array | pa.ChunkedArray, adopter: pa.Array | pa.ChunkedArray,
                          follower: pa.Array | pa.ChunkedArray, followed: pa.Array | pa.ChunkedArray, *,
                          prior: tuple[float, float] = (0.0, 0.0)) -> pa.Table:
    """``learn_cascade_probabilities`` on columns: each adoption as a ``cascade`` key and an ``adopter`` (rows in
    time order within each cascade), and the ties as ``follower`` / ``followed`` columns (Arrow joins and
    group-bys; no Python loop over cascades or ties)."""
    prior_a, prior_b = prior
    if prior_a < 0 or prior_b < 0:
        raise ConfigurationError(f"prior counts must be non-negative; got {prior}")
    schema = pa.schema([("source", pa.string()), ("target", pa.string()), ("probability", pa.float64()),
                        ("trials", pa.int64())])
    # each adopter's first place in each cascade, then the follow ties
    firsts = (pa.table({"cascade": cascade, "user": pc.cast(adopter, pa.string()),
                        "place": pa.array(np.arange(len(adopter), dtype=np.int64))})
              .group_by(["cascade", "user"], use_threads=False).aggregate([("place", "min")]))
    trials = firsts.group_by("user", use_threads=False).aggregate([("cascade", "count")]).rename_columns(
        {"user": "source", "cascade_count": "trials"})
    ties = pa.table({"target": pc.cast(follower, pa.string()), "source": pc.cast(followed, pa.string())})
    ties = ties.group_by(["source", "target"], use_threads=False).aggregate([])  # each tie once
    edges = ties.join(trials, "source", join_type="inner")
    if edges.num_rows == 0:
        return schema.empty_table()
    # A(u -> v): the cascades in which the follower v first adopted after u did
    earlier = firsts.rename_columns({"user": "source", "place_min": "source_place"})
    later = firsts.rename_columns({"user": "target", "place_min": "target_place"})
    pairs = (earlier.join(ties, "source", join_type="inner")
             .join(later, ["cascade", "target"], join_type="inner"))
    pairs = pairs.filter(pc.less(pairs.column("source_place"), pairs.column("target_place")))
    successes = pairs.group_by(["source", "target"], use_threads=False).aggregate([("cascade", "count")])
    edges = edges.join(successes.rename_columns({"cascade_count": "successes"}), ["source", "target"],
                       join_type="left outer").sort_by([("source", "ascending"), ("target", "ascending")])
    counted = pc.fill_null(edges.column("successes"), 0).to_numpy(zero_copy_only=False)
    tried = edges.column("trials").to_numpy(zero_copy_only=False)
    probability = (counted + prior_a) / (tried + prior_a + prior_b)
    return pa.table([edges.column("source"), edges.column("target"), pa.array(probability, pa.float64()),
                     pc.cast(edges.column("trials"), pa.int64())], schema=schema)


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
    sources, targets = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    distinct = sources != targets
    # each undirected pair once, as sorted codes source * n + target in both directions: a CSR of neighbours
    codes = distinct_codes(np.concatenate([sources[distinct] * n_nodes + targets[distinct],
                                      targets[distinct] * n_nodes + sources[distinct]]))
    neighbour_of, starts = codes % n_nodes, np.searchsorted(codes // n_nodes, np.arange(n_nodes + 1))
    degree = np.diff(starts).astype(np.float64)
    chosen_neighbours = np.zeros(n_nodes)
    score = degree.copy()
    seeds: list[int] = []
    for _ in range(k):
        candidates = np.where(np.isin(np.arange(n_nodes), seeds), -np.inf, score)
        best = int(np.argmax(candidates))
        seeds.append(best)
        neighbours = neighbour_of[starts[best]:starts[best + 1]]
        neighbours = neighbours[~np.isin(neighbours, seeds)]
        chosen_neighbours[neighbours] += 1
        t, d = chosen_neighbours[neighbours], degree[neighbours]
        score[neighbours] = d - 2 * t - (d - t) * t * probability
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
    sources, targets = np.asarray(sources), np.asarray(targets)
    if sources.shape == targets.shape and not _in_order(sources):  # sorted once for every simulation below
        order = np.argsort(sources, kind="stable")
        sources, targets = sources[order], targets[order]
        if np.ndim(probabilities):
            probabilities = np.asarray(probabilities)[order]

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


_NEXT_ADOPTER_FORMAT = "socialfusion.next_adopter/1"
_NEXT_ADOPTER_DOCUMENT = "model.json"
# (transition, social, popularity) weights tried on the held-out tenth of the training cascades.
_NEXT_ADOPTER_WEIGHTS = ((1, 0, 0), (1, 0.5, 0), (1, 1, 0), (1, 0, 1), (1, 0.5, 1), (1, 1, 1), (0, 1, 1), (1, 2, 1))


class NextAdopterModel:
    """Who adopts next in a cascade: what followed the same adopters in past cascades, who follows them, popularity.

    The score of a candidate ``v`` after adopters ``u_1 .. u_i`` is
    ``transition * sum_j decay^(i-j) T[u_j, v] + social * sum_j decay^(i-j) F[u_j, v] + popularity * P[v]``,
    where ``T`` counts, over training cascades, how often ``v`` adopted within ``window`` steps after ``u`` (each
    row scaled to sum 1), ``F`` is 1 when ``v`` follows ``u`` (scaled the same way) and ``P`` is each user's share
    of training adoptions. Users already in the cascade are never predicted. The three weights are chosen on a
    held-out tenth of the training cascades (by MAP@100), then the model is refitted on all of them; a single
    training cascade leaves nothing to hold out, and every term then counts. Without a follower graph the social
    term is left out (its weight is 0).

    Args:
        window: how many later adopters count as following one adopter.
        decay: weight of an adopter one step further back.
        random_state: seed of the held-out tenth.

    Examples:
        >>> model = NextAdopterModel(window=1).fit([["a", "b", "c"], ["a", "b", "d"]] * 5)
        >>> model.predict([["a"]], k=1).to_pylist()
        [{'cascade': 0, 'rank': 1, 'user_id': 'b', 'score': 1.0}]
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

    def fit(self, sequences: Sequence[Sequence[str]], follows: Sequence[tuple[str, str]] | None = None,
            users: Sequence[str] | None = None) -> NextAdopterModel:
        """Learn from training cascades.

        Args:
            sequences: adopters of each training cascade, in time order.
            follows: ``(follower, followed)`` pairs of the social graph; None or empty: no graph, and no social
                term.
            users: every user id that may be predicted; None: the users of ``sequences`` and ``follows``, in
                order of first appearance. Users outside it are dropped from the sequences.

        Returns:
            self, with ``users_``, ``transitions_``, ``social_``, ``popularity_``, ``weights_`` and ``has_graph_``.

        Raises:
            ConfigurationError: a bad ``window`` or ``decay``, or no training cascade with two known adopters.
        """
        from scipy import sparse

        if int(self.window) < 1 or not 0.0 <= float(self.decay) <= 1.0:
            raise ConfigurationError(f"need window >= 1 and 0 <= decay <= 1, got {self.window} and {self.decay}")
        follows = list(follows or [])
        if users is None:
            users = dict.fromkeys(user for sequence in sequences for user in sequence)
            users.update(dict.fromkeys(user for pair in follows for user in pair))
        self.users_ = list(users)
        self.index_ = {user: position for position, user in enumerate(self.users_)}
        self.n_users_ = len(self.users_)
        encoded = [[self.index_[user] for user in sequence if user in self.index_] for sequence in sequences]
        encoded = [sequence for sequence in encoded if len(sequence) > 1]
        if not encoded:
            raise ConfigurationError("need at least one training cascade with two or more known adopters")
        known = [(self.index_[a], self.index_[b]) for a, b in follows if a in self.index_ and b in self.index_]
        follower = np.array([a for a, _ in known], np.int64)
        followed = np.array([b for _, b in known], np.int64)
        self.has_graph_ = bool(known)
        # F[u, v] = 1 when v follows u: influence flows from the followed to the follower.
        self.social_ = _row_normalised(sparse.csr_matrix(
            (np.ones(len(followed)), (followed, follower)), shape=(self.n_users_, self.n_users_)))
        candidates = [weights for weights in _NEXT_ADOPTER_WEIGHTS if self.has_graph_ or weights[1] == 0]
        self.weights_ = candidates[-1]  # one cascade leaves none to hold out: every term, as a neutral choice
        if len(encoded) > 1:
            order = np.random.default_rng(self.random_state).permutation(len(encoded))
            held_out = max(1, len(encoded) // 10)
            tuning, development = [encoded[i] for i in order[held_out:]], [encoded[i] for i in order[:held_out]]
            self.transitions_, self.popularity_ = self._matrices(tuning)
            best = None
            for weights in candidates:
                self.weights_ = weights
                score = self._evaluate(development, (100,))["map@100"]
                if best is None or score > best[0]:
                    best = (score, weights)
            self.weights_ = best[1]
        self.transitions_, self.popularity_ = self._matrices(encoded)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            exceptions = attempt_import("sklearn.exceptions", "graph")
            raise exceptions.NotFittedError("This NextAdopterModel is not fitted yet; call fit(sequences) first.")

    def _steps(self, sequence: Sequence[int]):
        """Per adopter of ``sequence``: the scores of every user before it adopts (adopters at -inf)."""
        transition_weight, social_weight, popularity_weight = self.weights_
        history = np.zeros(self.n_users_)
        social = np.zeros(self.n_users_)
        adopted = np.zeros(self.n_users_, bool)
        for user in sequence:
            scores = transition_weight * history + social_weight * social + popularity_weight * self.popularity_
            yield np.where(adopted, -np.inf, scores)
            history = self.decay * history + self.transitions_[user].toarray().ravel()
            social = self.decay * social + self.social_[user].toarray().ravel()
            adopted[user] = True
        scores = transition_weight * history + social_weight * social + popularity_weight * self.popularity_
        yield np.where(adopted, -np.inf, scores)

    def _ranks(self, sequence: Sequence[int]) -> np.ndarray:
        """For each step i >= 1, the rank (1 = top) of ``sequence[i]`` given ``sequence[:i]``."""
        ranks = []
        for step, scores in enumerate(self._steps(sequence)):
            if 0 < step < len(sequence):
                ranks.append(int(np.sum(scores > scores[sequence[step]])) + 1)
        return np.array(ranks)

    def _evaluate(self, encoded: Sequence[Sequence[int]], ks: Sequence[int]) -> dict[str, float]:
        ranks = np.concatenate([self._ranks(sequence) for sequence in encoded if len(sequence) > 1] or [[]])
        result = {}
        for k in ks:
            result[f"hits@{k}"] = float(np.mean(ranks <= k)) if len(ranks) else float("nan")
            result[f"map@{k}"] = float(np.mean(np.where(ranks <= k, 1.0 / np.maximum(ranks, 1), 0.0))) \
                if len(ranks) else float("nan")
        return result

    def _encode(self, sequences: Sequence[Sequence[str]]) -> list[list[int]]:
        return [[self.index_[user] for user in sequence if user in self.index_] for sequence in sequences]

    def evaluate(self, sequences: Sequence[Sequence[str]], ks: Sequence[int] = (10, 50, 100)) -> dict[str, float]:
        """Hits@k and MAP@k over every prediction step of ``sequences`` (the seed is given, each later adopter is
        predicted from the ones before it). With one true next adopter per step, AP@k is 1/rank within the top k,
        else 0, as in the DyHGCN / MS-HGAT evaluation code. Unknown users are dropped from the sequences; a
        metric over no step at all is NaN (``prediction_steps`` counts them)."""
        self._check_fitted()
        return self._evaluate(self._encode(sequences), ks)

    def prediction_steps(self, sequences: Sequence[Sequence[str]]) -> int:
        """How many adopters ``evaluate`` predicts in ``sequences``: all but the first known one of each."""
        self._check_fitted()
        return sum(max(len(sequence) - 1, 0) for sequence in self._encode(sequences))

    def predict(self, sequences: Sequence[Sequence[str]], k: int = 10) -> pa.Table:
        """The ``k`` likeliest next adopters of each partial cascade.

        Args:
            sequences: the adopters so far of each cascade, in time order (unknown users are ignored).
            k: candidates per cascade.

        Returns:
            Columns ``cascade`` (position in ``sequences``), ``rank`` (1 first), ``user_id`` and ``score``,
            ``k`` rows per cascade (fewer when fewer users remain); users already in a cascade are never listed.
        """
        self._check_fitted()
        if k < 1:
            raise ConfigurationError(f"k must be at least 1, got {k}")
        rows = []
        for position, sequence in enumerate(self._encode(sequences)):
            *_, scores = self._steps(sequence)
            top = np.argsort(-scores, kind="stable")[:k]
            top = top[np.isfinite(scores[top])]
            rows += [{"cascade": position, "rank": rank, "user_id": self.users_[user], "score": float(scores[user])}
                     for rank, user in enumerate(top.tolist(), start=1)]
        schema = pa.schema([("cascade", pa.int64()), ("rank", pa.int32()), ("user_id", pa.string()),
                            ("score", pa.float64())])
        return pa.Table.from_pylist(rows, schema=schema)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one file that loads without running code (JSON + NPZ arrays, no pickle).

        ``model.json`` holds the parameters, the weights and the user ids; each sparse matrix is stored as its
        CSR ``data``, ``indices`` and ``indptr`` arrays, and the popularity vector as one array.

        Returns:
            ``path``.

        Raises:
            NotFittedError: not fitted.
        """
        from socialfusion._model_files import ModelWriter, write_archive

        self._check_fitted()
        writer = ModelWriter()
        state = {"users_": list(self.users_), "weights_": list(self.weights_), "has_graph_": self.has_graph_,
                 "popularity_": self.popularity_,
                 **{name: {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr}
                    for name, matrix in (("transitions_", self.transitions_.tocsr()),
                                         ("social_", self.social_.tocsr()))}}
        document = {"format": _NEXT_ADOPTER_FORMAT,
                    "params": {"window": self.window, "decay": self.decay, "random_state": self.random_state},
                    "state": writer.encode(state, "state")}
        return write_archive(path, documents={_NEXT_ADOPTER_DOCUMENT: document}, arrays=writer.arrays)

    @classmethod
    def load(cls, path: str | Path) -> NextAdopterModel:
        """A model ``save`` wrote; nothing in the file is run or unpickled.

        Raises:
            DataError: the file is absent, not a saved next-adopter model, or inconsistent.
        """
        from scipy import sparse

        from socialfusion._model_files import Archive, ModelReader

        error = ("cannot read a next-adopter model from {path}: {reason}; fit one with: socialfusion graph "
                 "next-adopters fit")
        with Archive(path, "next-adopter model", error=error) as archive:
            document = archive.document(_NEXT_ADOPTER_DOCUMENT)
            if not isinstance(document, dict) or document.get("format") != _NEXT_ADOPTER_FORMAT:
                raise archive.invalid(f"{_NEXT_ADOPTER_DOCUMENT} is not a {_NEXT_ADOPTER_FORMAT} document")
            state = ModelReader(archive).read(document.get("state"))
            try:
                model = cls(**document["params"])
                users = state["users_"]
                if not isinstance(users, list) or not all(isinstance(user, str) for user in users):
                    raise TypeError("users_ must be a list of strings")
                n = len(users)
                matrices = {name: sparse.csr_matrix((state[name]["data"], state[name]["indices"],
                                                     state[name]["indptr"]), shape=(n, n))
                            for name in ("transitions_", "social_")}
                popularity = np.asarray(state["popularity_"], np.float64)
                weights = tuple(float(weight) for weight in state["weights_"])
                if popularity.shape != (n,) or len(weights) != 3:
                    raise ValueError("the popularity vector or the weights do not fit the users")
            except (KeyError, TypeError, ValueError, IndexError) as problem:
                raise archive.invalid(f"its content is malformed ({type(problem).__name__}: {problem})") from None
        model.users_, model.n_users_ = users, n
        model.index_ = {user: position for position, user in enumerate(users)}
        model.transitions_, model.social_ = matrices["transitions_"], matrices["social_"]
        model.popularity_, model.weights_, model.has_graph_ = popularity, weights, bool(state["has_graph_"])
        return model


def _row_normalised(matrix):
    """A CSR matrix with each non-empty row scaled to sum 1."""
    from scipy import sparse

    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix.tocsr()


def adoption_cascades(corpus: Corpus, split: str | None = None) -> pa.Table:
    """Timed trees, as ``reshare_cascades`` returns them, from a corpus's ``share`` interactions.

    Datasets such as the Stack Exchange cascades (``load_diffusion_cascades``) record who adopted each cascade and
    when, with no posts. Each cascade's first adopter is taken as its original (post id = the cascade id), every
    later adoption as a reshare (post id ``"{cascade id}/{rank}"``, rank 1 first, zero-padded) and the tree is built
    with ``reshare_cascades``'s rule: the parent is the latest earlier adopter the adopter follows, else the original.
    A user's repeated adoptions of one cascade count once, at the first.

    Args:
        corpus: a corpus with ``share`` interactions (``post_id`` = the cascade) and its follow edges.
        split: keep only cascades whose ``cascade`` label has this split (``train``/``dev``/``test``); None: all.

    Returns:
        The columns of ``reshare_cascades``; cascades in id order, single adopters included (size 1).

    Examples:
        >>> import datetime as dt
        >>> at = lambda minutes: dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
        >>> corpus = Corpus.from_records(
        ...     interactions=[{"user_id": user, "post_id": "q", "kind": "share", "at": at(minutes)}
        ...                   for user, minutes in [("a", 0), ("b", 5), ("c", 9), ("b", 20)]],
        ...     edges=[{"src": "c", "dst": "b", "kind": "follow"}])
        >>> adoption_cascades(corpus).select(["post_id", "author_id", "parent_post_id"]).to_pylist()[2]
        {'post_id': 'q/2', 'author_id': 'c', 'parent_post_id': 'q/1'}
    """
    allowed = None
    if split is not None:
        allowed = {row["item_id"] for row in corpus.labels.select(["item_id", "task", "split"]).to_pylist()
                   if row["task"] == "cascade" and row["split"] == split}
    events = defaultdict(list)
    for row in corpus.interactions.select(["user_id", "post_id", "kind", "at"]).to_pylist():
        if row["kind"] == "share" and row["at"] is not None and (allowed is None or row["post_id"] in allowed):
            events[row["post_id"]].append((row["at"], row["user_id"]))
    follows = defaultdict(set)
    for edge in corpus.edges.select(["src", "dst", "kind"]).to_pylist():
        if edge["kind"] in ("follow", "friend"):
            follows[edge["src"]].add(edge["dst"])
    rows = []
    for cascade in sorted(events):
        seen, adopters = set(), []
        for moment, user in sorted(events[cascade], key=lambda event: event[0]):  # stable: file order on ties
            if user not in seen:
                seen.add(user)
                adopters.append((user, moment))
        width = len(str(len(adopters) - 1))
        root = {"post_id": cascade, "author_id": adopters[0][0], "created_at": adopters[0][1]}
        timed = [{"post_id": f"{cascade}/{rank:0{width}d}", "author_id": user, "created_at": moment}
                 for rank, (user, moment) in enumerate(adopters[1:], start=1)]
        rows += _timed_tree(root, timed, follows)
    return pa.Table.from_pylist(rows, schema=_CASCADE_SCHEMA)


def count_followers(corpus: Corpus) -> dict[str, int]:
    """Followers per user: the ``users`` table's ``followers_count`` where known, else the ``follow``/``friend``
    edges pointing at the user (``src`` follows ``dst``).

    Examples:
        >>> corpus = Corpus.from_records(edges=[{"src": "b", "dst": "a", "kind": "follow"},
        ...                                     {"src": "c", "dst": "a", "kind": "follow"}])
        >>> count_followers(corpus)
        {'a': 2}
    """
    counts: dict[str, int] = defaultdict(int)
    for edge in corpus.edges.select(["dst", "kind"]).to_pylist():
        if edge["kind"] in ("follow", "friend"):
            counts[edge["dst"]] += 1
    for user in corpus.users.select(["user_id", "followers_count"]).to_pylist():
        if user["followers_count"] is not None:
            counts[user["user_id"]] = user["followers_count"]
    return dict(counts)


_EARLY_FEATURES = (
    ("observed_size", pa.int64()), ("observed_depth", pa.int64()), ("observed_max_breadth", pa.int64()),
    ("observed_structural_virality", pa.float64()), ("adoptions_q1", pa.int64()), ("adoptions_q2", pa.int64()),
    ("adoptions_q3", pa.int64()), ("adoptions_q4", pa.int64()), ("adoption_rate", pa.float64()),
    ("adoption_acceleration", pa.float64()), ("seconds_to_2nd", pa.float64()), ("seconds_to_5th", pa.float64()),
    ("seconds_to_last", pa.float64()),
)
_FOLLOWER_FEATURES = (("root_followers", pa.int64()), ("adopter_followers_sum", pa.int64()),
                      ("adopter_followers_max", pa.int64()))


def _check_window(observation_seconds: float) -> float:
    window = float(observation_seconds)
    if not np.isfinite(window) or window <= 0:
        raise ConfigurationError(f"observation_seconds must be a positive number of seconds (3600.0 for one hour); "
                                 f"got {observation_seconds}")
    return window


def _cascade_trees(cascades: pa.Table) -> dict[str, list[dict]]:
    """Rows per cascade, in order of first appearance (rows keep their order: the original first)."""
    needed = {"cascade_id", "post_id", "author_id", "parent_post_id", "at"}
    missing = sorted(needed - set(cascades.column_names))
    if missing:
        raise DataError(f"cascades lack the columns {missing}; pass the table that reshare_cascades or "
                        f"adoption_cascades returns")
    if cascades.num_rows == 0:
        raise DataError("cascades is empty: there is no cascade to describe (originals without reshares are left "
                        "out of reshare_cascades)")
    if not pa.types.is_timestamp(cascades.schema.field("at").type):
        raise DataError(f"cascades' column at must hold timestamps; got {cascades.schema.field('at').type}")
    table = cascades.select(sorted(needed))
    # Microseconds since the epoch: integers are far cheaper to read into Python than datetimes.
    table = table.set_column(table.column_names.index("at"), "at",
                             table.column("at").cast(pa.timestamp("us"), safe=False).cast(pa.int64()))
    trees: dict[str, list[dict]] = defaultdict(list)
    for row in table.to_pylist():
        trees[row["cascade_id"]].append(row)
    for cascade, tree in trees.items():
        if tree[0]["parent_post_id"] is not None or tree[0]["at"] is None:
            raise DataError(f"cascade {cascade!r} does not start with its original (a row with no parent_post_id "
                            f"and a time); keep the rows in the order reshare_cascades gives them")
    return trees


def early_cascade_features(cascades: pa.Table, observation_seconds: float = 3600.0,
                           follower_counts: Mapping[str, int] | None = None) -> pa.Table:
    """What can be seen of each cascade in the first ``observation_seconds`` after its original.

    A post is observed when it comes at most ``observation_seconds`` after the original (posts without a time are
    not), and so is its parent; the observed posts form the early tree.

    Args:
        cascades: timed trees, as ``reshare_cascades`` or ``adoption_cascades`` return them.
        observation_seconds: the window, in seconds after the original (3600: the first hour).
        follower_counts: followers per user (e.g. ``count_followers(corpus)``); users absent count 0. None leaves
            the follower columns out.

    Returns:
        One row per cascade, in order of first appearance in ``cascades``, with columns:

        - ``cascade_id``;
        - ``observed_size``: observed posts, the original included;
        - ``observed_depth``, ``observed_max_breadth``: the early tree's longest reshare chain and most posts at
          one depth;
        - ``observed_structural_virality``: mean distance between two posts of the early tree (0 for the
          original alone), as in ``cascade_statistics``;
        - ``adoptions_q1`` .. ``adoptions_q4``: observed reshares in each quarter of the window (the last
          quarter includes its end);
        - ``adoption_rate``: observed reshares per hour of window;
        - ``adoption_acceleration``: reshares per hour in the second half of the window minus those in the
          first half, per hour (``(q3 + q4 - q1 - q2) / (window_hours / 2) ** 2``);
        - ``seconds_to_2nd``, ``seconds_to_5th``: seconds from the original to the 2nd and 5th observed post
          (the window length when not reached);
        - ``seconds_to_last``: seconds to the latest observed post (0 when only the original is observed);
        - with ``follower_counts``: ``root_followers`` (the original's author), ``adopter_followers_sum`` and
          ``adopter_followers_max`` (over the observed reshares' authors; 0 when there are none).

    Raises:
        ConfigurationError: ``observation_seconds`` is not a positive number.
        DataError: ``cascades`` is empty, lacks a column, or a cascade does not start with its original.

    Examples:
        >>> import datetime as dt
        >>> at = lambda minutes: dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
        >>> cascades = pa.Table.from_pylist(
        ...     [{"cascade_id": "p", "post_id": post, "author_id": post, "parent_post_id": parent, "depth": depth,
        ...       "at": at(minutes)} for post, parent, depth, minutes in
        ...      [("p", None, 0, 0), ("r1", "p", 1, 10), ("r2", "r1", 2, 40), ("r3", "p", 1, 90)]],
        ...     schema=_CASCADE_SCHEMA)
        >>> row = early_cascade_features(cascades, 3600).to_pylist()[0]
        >>> row["observed_size"], row["observed_depth"], row["seconds_to_2nd"], row["seconds_to_5th"]
        (3, 2, 600.0, 3600.0)
        >>> [row[f"adoptions_q{quarter}"] for quarter in range(1, 5)]
        [1, 0, 1, 0]
    """
    window = _check_window(observation_seconds)
    trees = _cascade_trees(cascades)
    hours = window / 3600
    rows = []
    for cascade, tree in trees.items():
        start = tree[0]["at"]
        index = {row["post_id"]: position for position, row in enumerate(tree)}
        kept: list[int] = []  # positions of observed rows
        new_index: dict[int, int] = {}
        parents: list[int] = []
        depths: list[int] = []
        offsets: list[float] = []
        for position, row in enumerate(tree):
            offset = None if row["at"] is None else max((row["at"] - start) / 1e6, 0.0)
            parent = -1 if row["parent_post_id"] is None else index.get(row["parent_post_id"])
            if offset is None or offset > window or (parent != -1 and parent not in new_index):
                continue
            new_index[position] = len(kept)
            kept.append(position)
            parents.append(-1 if parent == -1 else new_index[parent])
            depths.append(0 if parent == -1 else depths[new_index[parent]] + 1)
            offsets.append(offset)
        times = np.sort(np.array(offsets))
        quarters = np.bincount(np.minimum((times[1:] / (window / 4)).astype(np.int64), 3), minlength=4)
        features = {
            "cascade_id": cascade, "observed_size": len(kept), "observed_depth": max(depths),
            "observed_max_breadth": int(np.bincount(depths).max()),
            "observed_structural_virality": _structural_virality(parents),
            **{f"adoptions_q{quarter + 1}": int(quarters[quarter]) for quarter in range(4)},
            "adoption_rate": (len(kept) - 1) / hours,
            "adoption_acceleration": float(quarters[2:].sum() - quarters[:2].sum()) / (hours / 2) ** 2,
            "seconds_to_2nd": float(times[1]) if len(times) > 1 else window,
            "seconds_to_5th": float(times[4]) if len(times) > 4 else window,
            "seconds_to_last": float(times[-1]),
        }
        if follower_counts is not None:
            adopters = [int(follower_counts.get(tree[position]["author_id"], 0)) for position in kept[1:]]
            features.update(root_followers=int(follower_counts.get(tree[0]["author_id"], 0)),
                            adopter_followers_sum=sum(adopters), adopter_followers_max=max(adopters, default=0))
        rows.append(features)
    fields = [("cascade_id", pa.string()), *_EARLY_FEATURES]
    if follower_counts is not None:
        fields += _FOLLOWER_FEATURES
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def forecast_errors(true_sizes: Sequence[float] | np.ndarray,
                    predicted_sizes: Sequence[float] | np.ndarray) -> dict[str, float]:
    """How far size forecasts are from the true sizes.

    Args:
        true_sizes: ``(n,)`` true final sizes (at least 1).
        predicted_sizes: ``(n,)`` forecasts.

    Returns:
        ``rmsle`` (root mean squared error of ``log1p`` sizes), ``median_ape`` (median of ``|predicted - true| /
        true``) and ``spearman`` (rank correlation; NaN when either side is constant).

    Raises:
        DataError: the two differ in length, are empty, or a size is negative (or a true size zero).

    Examples:
        >>> errors = forecast_errors([10, 100, 4], [10, 50, 12])
        >>> round(errors["median_ape"], 2), errors["spearman"]
        (0.5, 0.5)
    """
    from scipy import stats

    truth, predicted = np.asarray(true_sizes, np.float64), np.asarray(predicted_sizes, np.float64)
    if truth.ndim != 1 or truth.shape != predicted.shape or not len(truth):
        raise DataError(f"true_sizes and predicted_sizes must be non-empty 1-d arrays of one length; got shapes "
                        f"{truth.shape} and {predicted.shape}")
    if (truth <= 0).any() or (predicted < 0).any() or not np.isfinite(predicted).all():
        raise DataError("sizes must be finite, true sizes positive and predicted sizes non-negative")
    constant = np.ptp(truth) == 0 or np.ptp(predicted) == 0
    return {"rmsle": float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(truth)) ** 2))),
            "median_ape": float(np.median(np.abs(predicted - truth) / truth)),
            "spearman": float("nan") if constant else float(stats.spearmanr(truth, predicted)[0])}


class CascadeSizeForecaster:
    """The final size of each cascade from what its first ``observation_seconds`` show.

    ``"hist_gradient_boosting"`` (shallow trees: depth 3, 200 steps of 0.05) learns, from
    ``early_cascade_features``, ``log(final size / observed size)``,
    i.e. ``log(final size)`` with the observed size as offset; ``"log_linear"`` is the Szabo & Huberman (2010)
    baseline ``log(final size) = a + b log(observed size)``, fitted by least squares. Forecasts are never below
    the observed size.

    Args:
        observation_seconds: the window, in seconds after the original.
        estimator: ``"hist_gradient_boosting"`` or ``"log_linear"``.
        random_state: seed of the gradient boosting.

    Attributes:
        feature_names_: the feature columns used (``"observed_size"`` alone for ``log_linear``).
        estimator_: the fitted scikit-learn regressor, or the ``(a, b)`` coefficients for ``log_linear``.

    Examples:
        >>> import datetime as dt
        >>> at = lambda minutes: dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
        >>> # cascade k: k posts in the first hour, as many later (final size = 2 x observed)
        >>> rows = [{"cascade_id": f"c{k}", "post_id": f"c{k}/{rank}", "author_id": "u",
        ...          "parent_post_id": None if rank == 0 else f"c{k}/0", "depth": min(rank, 1),
        ...          "at": at(5 * rank if rank < k else 120 + rank)} for k in range(1, 6) for rank in range(2 * k)]
        >>> cascades = pa.Table.from_pylist(rows, schema=_CASCADE_SCHEMA)
        >>> model = CascadeSizeForecaster(estimator="log_linear").fit(cascades)
        >>> [round(coefficient, 3) for coefficient in model.estimator_]  # a = log 2, b = 1
        [0.693, 1.0]
        >>> model.predict(cascades).round(1)
        array([ 2.,  4.,  6.,  8., 10.])
    """

    def __init__(self, observation_seconds: float = 3600.0, estimator: str = "hist_gradient_boosting",
                 random_state: int | None = 0) -> None:
        self.observation_seconds = observation_seconds
        self.estimator = estimator
        self.random_state = random_state

    def _design(self, cascades: pa.Table, follower_counts: Mapping[str, int] | None) -> tuple[pa.Table, np.ndarray]:
        features = early_cascade_features(cascades, self.observation_seconds, follower_counts)
        names = ["observed_size"] if self.estimator == "log_linear" else features.column_names[1:]
        if hasattr(self, "feature_names_") and names != self.feature_names_:
            raise DataError(f"the forecaster was fitted on the features {self.feature_names_} but got {names}; "
                            f"pass follower_counts to both fit and predict, or to neither")
        matrix = np.column_stack([features.column(name).to_numpy().astype(np.float64) for name in names])
        return features, matrix

    def fit(self, cascades: pa.Table, final_sizes: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
            *, follower_counts: Mapping[str, int] | None = None) -> CascadeSizeForecaster:
        """Learn final sizes from the early features of training cascades.

        Args:
            cascades: timed trees of the training cascades (``reshare_cascades`` / ``adoption_cascades``).
            final_sizes: the size each cascade finally reached, by cascade id or in order of first appearance
                in ``cascades``; None: each cascade's rows in ``cascades`` (the table holds them whole).
            follower_counts: followers per user, for the follower features (then needed by ``predict`` too).

        Returns:
            self.

        Raises:
            ConfigurationError: unknown estimator or a bad window.
            DataError: unusable cascades, a final size missing or below the observed size.
        """
        if self.estimator not in ("hist_gradient_boosting", "log_linear"):
            raise ConfigurationError(f"unknown estimator {self.estimator!r}; choose 'hist_gradient_boosting' or "
                                     f"'log_linear'")
        for attribute in ("feature_names_", "estimator_"):
            self.__dict__.pop(attribute, None)
        features, matrix = self._design(cascades, follower_counts)
        ids = features.column("cascade_id").to_pylist()
        if final_sizes is None:
            totals = defaultdict(int)
            for cascade in cascades.column("cascade_id").to_pylist():
                totals[cascade] += 1
            target = np.array([totals[cascade] for cascade in ids], np.float64)
        elif isinstance(final_sizes, Mapping):
            absent = [cascade for cascade in ids if cascade not in final_sizes]
            if absent:
                raise DataError(f"final_sizes lacks {len(absent)} cascades, e.g. {absent[:3]}")
            target = np.array([final_sizes[cascade] for cascade in ids], np.float64)
        else:
            target = np.asarray(final_sizes, np.float64)
            if target.shape != (len(ids),):
                raise DataError(f"final_sizes has shape {target.shape}; expected ({len(ids)},), one per cascade in "
                                f"order of first appearance, or pass a mapping from cascade id")
        observed = features.column("observed_size").to_numpy().astype(np.float64)
        if not np.isfinite(target).all() or (target < observed).any():
            raise DataError("final_sizes must be finite and at least each cascade's observed size")
        if self.estimator == "log_linear":
            design = np.column_stack([np.ones(len(observed)), np.log(observed)])
            self.estimator_ = tuple(np.linalg.lstsq(design, np.log(target), rcond=None)[0].tolist())
        else:
            ensemble = attempt_import("sklearn.ensemble", "graph")
            # Shallow trees, small steps: real datasets hold a few hundred training cascades.
            regressor = ensemble.HistGradientBoostingRegressor(
                learning_rate=0.05, max_iter=200, max_depth=3, min_samples_leaf=20, l2_regularization=1.0,
                random_state=self.random_state)
            self.estimator_ = regressor.fit(matrix, np.log(target) - np.log(observed))
        self.feature_names_ = ["observed_size"] if self.estimator == "log_linear" else features.column_names[1:]
        return self

    def predict(self, cascades: pa.Table, *, follower_counts: Mapping[str, int] | None = None) -> np.ndarray:
        """Final size of each cascade, from its first ``observation_seconds``.

        Args:
            cascades: timed trees; only what lies in the window is used.
            follower_counts: as given to ``fit``.

        Returns:
            ``(n_cascades,)`` float64, in order of first appearance in ``cascades`` (the rows of
            ``early_cascade_features``), each at least the cascade's observed size.

        Raises:
            NotFittedError: ``fit`` was not called.
            DataError: unusable cascades, or follower counts given to only one of ``fit`` and ``predict``.
        """
        if not hasattr(self, "estimator_"):
            exceptions = attempt_import("sklearn.exceptions", "graph")
            raise exceptions.NotFittedError("This CascadeSizeForecaster is not fitted yet; call fit(cascades) first.")
        features, matrix = self._design(cascades, follower_counts)
        observed = features.column("observed_size").to_numpy().astype(np.float64)
        if self.estimator == "log_linear":
            intercept, slope = self.estimator_
            forecast = np.exp(intercept + slope * np.log(observed))
        else:
            forecast = observed * np.exp(self.estimator_.predict(matrix))
        return np.maximum(forecast, observed)
