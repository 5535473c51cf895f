"""Operations on the social network beyond centrality and communities: reshare cascades, diffusion what-ifs and
link suggestions."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from socialfusion.app._analyses import _GRAPH_TABLES, GraphKind, _graph
from socialfusion.app._common import MAX_K, Identifier, K, Params, Result, cached, clean, local_folder
from socialfusion.exceptions import DataError, NotFoundError, StoreError
from socialfusion.store import Store

__all__ = [
    "DEFAULT_LINK_USERS",
    "NEXT_ADOPTER_FILE",
    "Cascade",
    "CascadesParams",
    "CascadesResult",
    "LinkMethodScore",
    "LinkSuggestion",
    "LinksParams",
    "LinksResult",
    "NextAdopter",
    "NextAdoptersEvaluation",
    "NextAdoptersEvaluationParams",
    "NextAdoptersFitParams",
    "NextAdoptersFitResult",
    "NextAdoptersParams",
    "NextAdoptersResult",
    "ReachParams",
    "ReachResult",
    "cascades",
    "evaluate_next_adopters",
    "fit_next_adopters",
    "next_adopter_model_path",
    "next_adopters",
    "predict_next_adopters",
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


# -- next adopters ------------------------------------------------------------------------------------------------

NEXT_ADOPTER_FILE = "next-adopters.npz"
"""The store's next-adopter model, inside its ``models/`` folder."""

CascadeSplit = Literal["train", "dev", "test", "all"]


def next_adopter_model_path(store: Store) -> Path | None:
    """Where the store's next-adopter model is saved (``models/next-adopters.npz``); None for a non-local store."""
    folder = local_folder(store)
    return None if folder is None else folder / "models" / NEXT_ADOPTER_FILE


def _cascade_sequences(corpus: Any, split: str) -> list[list[str]]:
    """The adopters of each cascade of ``split`` (``all``: every cascade), in time order, cascades by id.

    Raises:
        DataError: the corpus has no cascade splits (and ``split`` is not ``all``), or no cascade in ``split``.
    """
    from socialfusion.tasks.propagation import cascade_sequences

    has_splits = "cascade" in set(corpus.labels.column("task").to_pylist())
    if split != "all" and not has_splits:
        raise DataError("the data has no cascade splits (no 'cascade' labels); use every cascade: --split all")
    sequences = cascade_sequences(corpus, None if split == "all" else split)
    if not sequences:
        raise DataError(f"no cascade in split {split!r} (cascades are 'share' interactions)")
    return [sequences[cascade] for cascade in sorted(sequences)]


class NextAdoptersFitParams(Params):
    """The cascades a next-adopter model learns from, and its settings."""

    split: CascadeSplit = Field("train", description="Cascades to learn from.")
    graph: bool = Field(True, description="Use the follow (and friend) edges, where there are any.")
    window: int = Field(10, ge=1, le=10_000, description="Later adopters that count as following one adopter.")
    decay: float = Field(0.8, gt=0, le=1, description="Weight of an adopter one step further back.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed (the held-out tenth that picks the weights).")


class NextAdoptersFitResult(Result):
    """Where the model went and what it learned from."""

    path: str
    cascades: int
    users: int
    graph: bool
    weights: list[float] = Field(description="Weights of the transition, social and popularity scores.")


def fit_next_adopters(corpus: Any, params: NextAdoptersFitParams, path: Path) -> NextAdoptersFitResult:
    """Fit a ``NextAdopterModel`` on the corpus's cascades of a split and save it at ``path`` (JSON + NPZ).

    Args:
        corpus: a ``Corpus`` (``Corpus.from_store``, or FOREST cascade files by
            ``socialfusion.datasets.load_forest_cascades``).

    Raises:
        DataError: no cascade in the split, or too few adopters to learn from.
    """
    from socialfusion.tasks.propagation import NextAdopterModel

    sequences = _cascade_sequences(corpus, params.split)
    follows = None
    if params.graph:
        columns = (corpus.edges.column(name).to_pylist() for name in ("src", "dst", "kind"))
        follows = [(src, dst) for src, dst, kind in zip(*columns) if kind in ("follow", "friend")]
    users = corpus.users.column("user_id").to_pylist() or None
    if users is not None:  # users of the cascades that the users table lacks are candidates too
        users = list(dict.fromkeys([*users, *(user for sequence in sequences for user in sequence)]))
    fitted = NextAdopterModel(window=params.window, decay=params.decay, random_state=params.seed).fit(
        sequences, follows, users
    )
    saved = fitted.save(path)
    return NextAdoptersFitResult(
        path=str(saved),
        cascades=len(sequences),
        users=fitted.n_users_,
        graph=fitted.has_graph_,
        weights=[float(value) for value in fitted.weights_],
    )


class NextAdoptersEvaluationParams(Params):
    """The cascades a saved model is scored on, and the cut-offs."""

    split: CascadeSplit = "dev"
    ks: list[Annotated[int, Field(ge=1, le=MAX_K)]] = Field(
        [10, 50, 100], min_length=1, max_length=20, description="Cut-offs k of Hits@k and MAP@k."
    )


class NextAdoptersEvaluation(Result):
    """Hits@k and MAP@k over the predicted adopters of a split."""

    split: str
    cascades: int
    steps: int = Field(description="Adopters predicted (every adopter after a cascade's first).")
    scores: dict[str, float]


def evaluate_next_adopters(corpus: Any, params: NextAdoptersEvaluationParams, path: Path) -> NextAdoptersEvaluation:
    """Score the model saved at ``path``: each adopter after the first predicted from the ones before it.

    Raises:
        DataError: no model at ``path`` (or not one ``fit_next_adopters`` saved).
        DataError: no cascade in the split.
    """
    from socialfusion.tasks.propagation import NextAdopterModel

    fitted = NextAdopterModel.load(path)
    sequences = _cascade_sequences(corpus, params.split)
    scores = fitted.evaluate(sequences, tuple(params.ks))
    return NextAdoptersEvaluation(
        split=params.split, cascades=len(sequences), steps=fitted.prediction_steps(sequences), scores=clean(scores)
    )


class NextAdoptersParams(Params):
    """A cascade's adopters so far, in order, and how many candidates to return."""

    adopters: list[Identifier] = Field(min_length=1, max_length=1000, description="Adopters so far, in order.")
    k: K = 10


class NextAdopter(Result):
    """A likely next adopter."""

    rank: int
    user_id: str
    score: float


class NextAdoptersResult(Result):
    """The likeliest next adopters; ``unknown`` adopters (not in the model) were ignored."""

    adopters: list[str]
    unknown: list[str]
    next: list[NextAdopter]


def predict_next_adopters(path: Path, params: NextAdoptersParams) -> NextAdoptersResult:
    """The likeliest next adopters of a cascade by the model saved at ``path`` (``fit_next_adopters``).

    Raises:
        DataError: no model at ``path`` (or not one ``fit_next_adopters`` saved).
    """

    fitted = _saved_next_adopter_model(path)
    table = fitted.predict([params.adopters], k=params.k)
    return NextAdoptersResult(
        adopters=params.adopters,
        unknown=[user for user in params.adopters if user not in fitted.index_],
        next=[
            NextAdopter(rank=row["rank"], user_id=row["user_id"], score=clean(row["score"]) or 0.0)
            for row in table.to_pylist()
        ],
    )


def _saved_next_adopter_model(path: Path):
    """The ``NextAdopterModel`` saved at ``path``, loaded again only when the file changed."""
    from socialfusion.tasks.propagation import NextAdopterModel

    try:
        stamp = path.stat()
    except OSError:
        return NextAdopterModel.load(path)  # its own error names the missing file
    return _load_next_adopters(str(path), stamp.st_mtime_ns, stamp.st_size)


@functools.lru_cache(maxsize=4)
def _load_next_adopters(path: str, modified: int, size: int):
    from socialfusion.tasks.propagation import NextAdopterModel

    return NextAdopterModel.load(path)


def next_adopters(store: Store, params: NextAdoptersParams) -> NextAdoptersResult:
    """The likeliest next adopters by the store's next-adopter model (``next_adopter_model_path``).

    Raises:
        StoreError: the store has no next-adopter model (the message says how to fit one).
    """
    path = next_adopter_model_path(store)
    if path is None or not path.is_file():
        raise StoreError(
            f"no next-adopter model in {store.uri!r}; fit one with: socialfusion graph next-adopters fit "
            f"--store {store.uri}"
        )
    return predict_next_adopters(path, params)
