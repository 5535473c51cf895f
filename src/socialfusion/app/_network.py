"""Operations on the social network beyond centrality and communities: reshare cascades, diffusion what-ifs and
link suggestions."""

from __future__ import annotations

from pydantic import Field

from socialfusion.app._analyses import _GRAPH_TABLES, GraphKind, _graph
from socialfusion.app._common import Identifier, K, Params, Result, cached, clean
from socialfusion.exceptions import NotFoundError
from socialfusion.store import Store

__all__ = [
    "DEFAULT_LINK_USERS",
    "Cascade",
    "CascadesParams",
    "CascadesResult",
    "LinkMethodScore",
    "LinkSuggestion",
    "LinksParams",
    "LinksResult",
    "ReachParams",
    "ReachResult",
    "cascades",
    "reach",
    "suggest_ties",
]

DEFAULT_LINK_USERS = 5
"""Users that ``suggest_ties`` suggests ties for when none are named: the most active authors."""


class CascadesParams(Params):
    """How many cascades to return."""

    k: K = 20


class Cascade(Result):
    """A reshare cascade rebuilt as a tree (``socialfusion.tasks.propagation.cascade_statistics``)."""

    cascade_id: str
    size: int
    depth: int
    max_breadth: int
    structural_virality: float | None
    duration_hours: float | None
    reshares_per_hour: float | None


class CascadesResult(Result):
    """The largest cascades, and how many there are in all."""

    total: int
    cascades: list[Cascade]


def cascades(store: Store, params: CascadesParams) -> CascadesResult:
    """Reshare cascades, largest first: size, depth, breadth, structural virality and speed."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.propagation import cascade_statistics, reshare_cascades

    table = cached(
        store, _GRAPH_TABLES, "cascades", lambda: cascade_statistics(reshare_cascades(Corpus.from_store(store)))
    )
    return CascadesResult(total=table.num_rows, cascades=clean(table.slice(0, params.k).to_pylist()))


def _known(store: Store, graph, users: list[str]) -> tuple[list[str], dict[str, int]]:
    """The graph's vertex names and their positions; NotFoundError naming the users the graph lacks."""
    names = graph.vs["name"] if graph.vcount() else []
    index = {name: position for position, name in enumerate(names)}
    unknown = [user for user in users if user not in index]
    if unknown:
        raise NotFoundError(
            f"unknown users {unknown}; see: socialfusion graph influence --store {store.uri}", field="users"
        )
    return names, index


def _edges(graph):
    import numpy as np

    return np.array(graph.get_edgelist(), dtype=np.int64).reshape(-1, 2)


class ReachParams(Params):
    """Who is seeded, over which ties, and the simulation."""

    seeds: list[Identifier] = Field(min_length=1, max_length=1000, description="The seed users.")
    kinds: list[GraphKind] = Field(["follow"], min_length=1, max_length=5)
    probability: float = Field(0.05, gt=0, le=1, description="Chance that a user passes it to each follower.")
    runs: int = Field(1000, ge=1, le=100_000, description="Simulations.")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class ReachResult(Result):
    """The expected reach of the seeds, with the 5th and 95th percentiles of the runs."""

    seeds: list[str]
    probability: float
    runs: int
    expected_reach: float
    p5: float
    p95: float
    users: int


def reach(store: Store, params: ReachParams) -> ReachResult:
    """Diffusion what-if: the reach of seeding these users under the independent cascade model
    (``socialfusion.tasks.propagation.independent_cascade_reach``).

    Raises:
        NotFoundError: a seed is not in the graph.
    """
    import numpy as np

    from socialfusion.tasks.propagation import independent_cascade_reach

    graph = _graph(store, params.kinds)
    seeds = list(dict.fromkeys(params.seeds))
    names, index = _known(store, graph, seeds)
    edges = _edges(graph)
    # An edge a -> b means a follows b: what b posts reaches a.
    sizes = independent_cascade_reach(
        edges[:, 1],
        edges[:, 0],
        params.probability,
        len(names),
        [index[seed] for seed in seeds],
        runs=params.runs,
        random_state=params.seed,
    )
    return ReachResult(
        seeds=seeds,
        probability=params.probability,
        runs=params.runs,
        expected_reach=float(sizes.mean()),
        p5=float(np.percentile(sizes, 5)),
        p95=float(np.percentile(sizes, 95)),
        users=len(names),
    )


class LinksParams(Params):
    """Whose ties to suggest, over which ties, and whether to evaluate the methods on held-out ties."""

    users: list[Identifier] = Field(
        [],
        max_length=1000,
        description=f"Users to suggest ties for; none: the {DEFAULT_LINK_USERS} most active authors.",
    )
    kinds: list[GraphKind] = Field(["follow"], min_length=1, max_length=5)
    k: int = Field(10, ge=1, le=100, description="Suggestions per user.")
    evaluate: bool = Field(False, description="Also hold out 10% of the ties and score every method on them.")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class LinkSuggestion(Result):
    """A tie suggested to a user, with LinkPredictor's probability."""

    user_id: str
    suggested: str
    rank: int
    probability: float | None


class LinkMethodScore(Result):
    """How well a method ranks held-out ties above non-ties."""

    method: str
    auc: float | None
    average_precision: float | None


class LinksResult(Result):
    """Suggestions per user, best first; with ``evaluate``, the scores of every method on held-out ties."""

    suggestions: list[LinkSuggestion]
    evaluation: list[LinkMethodScore] | None = None
    held_out: int | None = Field(None, description="Held-out ties (directions merged), with ``evaluate``.")
    ties: int | None = Field(None, description="All ties (directions merged), with ``evaluate``.")


def _most_active(store: Store, names: list[str], degrees: list[int]) -> list[str]:
    """The ``DEFAULT_LINK_USERS`` users of the graph with the most posts, then the most ties (ties by id)."""
    from collections import Counter

    posts = Counter(store.read("posts", columns=["author_id"]).column("author_id").to_pylist())
    ranked = sorted(range(len(names)), key=lambda vertex: (-posts[names[vertex]], -degrees[vertex], names[vertex]))
    return [names[vertex] for vertex in ranked[:DEFAULT_LINK_USERS]]


def suggest_ties(store: Store, params: LinksParams) -> LinksResult:
    """Who should connect with whom: each user's likeliest new ties among the non-neighbours within two hops
    (``socialfusion.tasks.links.suggest_links``), and optionally a held-out comparison of the methods
    (``compare_link_methods``).

    Raises:
        NotFoundError: a user is not in the graph.
    """
    from socialfusion.tasks.links import compare_link_methods, split_edges, suggest_links

    graph = _graph(store, params.kinds)
    names, index = _known(store, graph, list(dict.fromkeys(params.users)))
    wanted = list(dict.fromkeys(params.users)) or _most_active(store, names, graph.degree())
    edges = _edges(graph)
    suggested = suggest_links(edges, len(names), [index[name] for name in wanted], k=params.k, random_state=params.seed)
    rows = [
        LinkSuggestion(
            user_id=names[row["user"]],
            suggested=names[row["candidate"]],
            rank=row["rank"],
            probability=clean(row["score"]),
        )
        for row in suggested.to_pylist()
    ]
    if not params.evaluate:
        return LinksResult(suggestions=rows)
    split = split_edges(edges, n_nodes=len(names), random_state=params.seed)
    evaluation = clean(compare_link_methods(split, random_state=params.seed).to_pylist())
    held_out = len(split.test_positive)
    return LinksResult(
        suggestions=rows, evaluation=evaluation, held_out=held_out, ties=held_out + len(split.train_edges)
    )
