"""Operations on the knowledge graph and the hidden patterns of a corpus: write the graph, neighbours, shortest
paths and central nodes (of the store's graph, or of a GraphML file written before), association rules and user
segments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from socialfusion.app._analyses import Neighbour, NeighboursParams, NeighboursResult, kg_neighbours
from socialfusion.app._common import K, Params, Result, cached, clean
from socialfusion.exceptions import ConfigurationError, NotFoundError
from socialfusion.store import Store

__all__ = [
    "GRAPH_SUFFIXES",
    "AssociationRule",
    "GraphFileParams",
    "GraphFileResult",
    "GraphNode",
    "Hop",
    "InterestSegment",
    "InterestSegmentsParams",
    "InterestSegmentsResult",
    "PathParams",
    "PathResult",
    "RulesParams",
    "RulesResult",
    "TopNodesParams",
    "TopNodesResult",
    "interest_segments",
    "kg_node_neighbours",
    "kg_path",
    "kg_top_nodes",
    "mine_rules",
    "write_knowledge_graph",
]

GRAPH_SUFFIXES = (".graphml", ".jsonld")
"""The files ``write_knowledge_graph`` writes; a ``.graphml`` one is read back as a graph source."""

ItemKind = Literal["hashtag", "entity", "mention", "domain"]
Source = Store | Path
"""Where a query's graph comes from: a store (the graph is built from its posts and users, once per version of
them), or a GraphML file written by ``write_knowledge_graph`` (a path chosen by the caller, never by a request)."""


def _knowledge_graph(source: Source, *, entities: bool = True, include_posts: bool = False):
    from socialfusion.tasks.knowledge import KnowledgeGraph, no_entities

    if isinstance(source, Path):
        if not source.is_file():
            raise NotFoundError(
                f"no graph file at {source}; write one with: socialfusion kg build --out {source}", field="graph"
            )
        return KnowledgeGraph.from_graphml(source)

    def build():
        return KnowledgeGraph.build(
            source.read("posts"),
            None if entities else no_entities(),
            include_posts=include_posts,
            users=source.read("users"),
        )

    return cached(source, ["posts", "users"], ("knowledge-graph", entities, include_posts), build)


def _resolved(graph, node: str, field: str) -> str:
    try:
        return graph.resolve(node)
    except ConfigurationError as error:
        raise NotFoundError(str(error), field=field) from None


class GraphFileParams(Params):
    """What the written graph holds."""

    posts: bool = Field(False, description="Add a node per post.")
    entities: bool = Field(True, description="Include named entities (spaCy / LAC NER; slower).")


class GraphFileResult(Result):
    """The file written and the size of the graph."""

    out: str
    posts: int
    nodes: int
    edges: int


def write_knowledge_graph(store: Store, params: GraphFileParams, *, out: Path) -> GraphFileResult:
    """Build the store's knowledge graph and write it as GraphML or JSON-LD (schema.org types), by ``out``'s
    suffix.

    Raises:
        ConfigurationError: ``out`` ends in neither ``.graphml`` nor ``.jsonld``.
    """
    suffix = out.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        raise ConfigurationError(f"the graph file must end in .graphml or .jsonld; got {out.name}")
    graph = _knowledge_graph(store, entities=params.entities, include_posts=params.posts)
    (graph.to_graphml if suffix == ".graphml" else graph.to_jsonld)(out)
    return GraphFileResult(out=str(out), posts=graph.n_posts, nodes=graph.nodes.num_rows, edges=graph.edges.num_rows)


def kg_node_neighbours(source: Source, params: NeighboursParams) -> NeighboursResult:
    """``kg_neighbours`` over a store, or over a GraphML file.

    Raises:
        NotFoundError: no node matches, or no such graph file.
    """
    if isinstance(source, Store):
        return kg_neighbours(source, params)
    graph = _knowledge_graph(source)
    centre = _resolved(graph, params.node, "node")
    return NeighboursResult(
        node=centre,
        neighbours=[
            Neighbour(**row)
            for row in clean(graph.neighbours(centre, k=params.k, relation=params.relation).to_pylist())
        ],
    )


class PathParams(Params):
    """The two nodes to join."""

    source: str = Field(min_length=1, max_length=512, description="Start node.")
    target: str = Field(min_length=1, max_length=512, description="End node.")
    entities: bool = True


class Hop(Result):
    """One hop of a path; ``forward`` is False where the stored edge points the other way."""

    step: int
    source: str
    relation: str
    target: str
    forward: bool


class PathResult(Result):
    """A shortest path (fewest hops, directions ignored); no hops when the nodes are the same or not connected."""

    hops: list[Hop]


def kg_path(source: Source, params: PathParams) -> PathResult:
    """A shortest path between two nodes, with the relation of each hop (``KnowledgeGraph.path``).

    Raises:
        NotFoundError: either node is unknown.
    """
    graph = _knowledge_graph(source, entities=params.entities)
    start, end = _resolved(graph, params.source, "source"), _resolved(graph, params.target, "target")
    return PathResult(hops=graph.path(start, end).to_pylist())


class TopNodesParams(Params):
    """Which nodes, ranked how."""

    type: Literal["person", "organization", "place", "other", "hashtag", "user", "domain", "post"] | None = None
    by: Literal["degree", "pagerank", "posts"] = "degree"
    k: K = 20
    entities: bool = True


class GraphNode(Result):
    """A node and its centrality."""

    node_id: str
    label: str
    type: str
    posts: int
    degree: int
    pagerank: float | None


class TopNodesResult(Result):
    """The most central nodes, best first."""

    nodes: list[GraphNode]


def kg_top_nodes(source: Source, params: TopNodesParams) -> TopNodesResult:
    """The most central nodes, of one type or of all (``KnowledgeGraph.top_nodes``)."""
    graph = _knowledge_graph(source, entities=params.entities)
    return TopNodesResult(nodes=clean(graph.top_nodes(type=params.type, by=params.by, k=params.k).to_pylist()))


class RulesParams(Params):
    """What the rules join, and the thresholds a rule must pass."""

    items: list[ItemKind] = Field(["hashtag", "entity"], min_length=1, max_length=4)
    min_support: float = Field(0.01, gt=0, le=1, description="Smallest share of posts carrying an itemset.")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Smallest confidence of a rule.")
    min_authors: int = Field(3, ge=1, le=1_000_000, description="Fewest distinct authors behind a rule.")
    k: K = 20


class AssociationRule(Result):
    """``antecedent -> consequent``, with its support counted in posts, distinct texts and distinct authors."""

    antecedent: list[str]
    consequent: list[str]
    posts: int
    support_texts: int
    support_authors: int
    support: float | None
    confidence: float | None
    lift: float | None


class RulesResult(Result):
    """The strongest rules by lift, and how many passed the thresholds."""

    total: int
    rules: list[AssociationRule]


def mine_rules(store: Store, params: RulesParams) -> RulesResult:
    """Association rules between what posts carry (``socialfusion.tasks.patterns.association_rules``,
    FP-growth); copies of a post count once."""
    from socialfusion.corpus import resolve_mentions
    from socialfusion.tasks.patterns import association_rules

    found = cached(
        store,
        ["posts", "users"],
        ("rules", params.model_dump(exclude={"k"})),
        lambda: association_rules(
            resolve_mentions(store.read("posts"), store.read("users")),
            items=params.items,
            min_support=params.min_support,
            min_confidence=params.min_confidence,
            min_authors=params.min_authors,
        ),
    )
    fields = set(AssociationRule.model_fields)
    rows = [
        {name: value for name, value in row.items() if name in fields} for row in found.slice(0, params.k).to_pylist()
    ]
    return RulesResult(total=found.num_rows, rules=clean(rows))


class InterestSegmentsParams(Params):
    """What users are grouped by, and how many segments."""

    items: list[ItemKind] = Field(["hashtag"], min_length=1, max_length=4)
    segments: int | None = Field(None, ge=2, le=100, description="Number of segments (default: best silhouette).")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class InterestSegment(Result):
    """A segment: its size and the keys its members post about most."""

    segment: int
    users: int
    top_keys: list[str]


class InterestSegmentsResult(Result):
    """Segments, largest first; none when the data has no segment structure (``rejected_k`` says which partition
    was refused, ``description`` says why)."""

    silhouette: float | None
    rejected_k: int | None
    description: str
    segments: list[InterestSegment]


def interest_segments(store: Store, params: InterestSegmentsParams) -> InterestSegmentsResult:
    """User segments by what users post about (``socialfusion.tasks.patterns.user_segments`` over
    ``post_items``)."""
    from socialfusion.tasks.knowledge import post_items
    from socialfusion.tasks.patterns import user_segments

    posts, users = store.read("posts"), store.read("users")
    found = user_segments(
        posts,
        post_items(posts, kinds=params.items, users=users),
        params.segments,
        key_column="item",
        random_state=params.seed,
    )
    segments = (
        []
        if found.rejected_k is not None
        else [
            InterestSegment(segment=row["segment"], users=row["size"], top_keys=row["top_keys"])
            for row in found.segments.to_pylist()
        ]
    )
    return InterestSegmentsResult(
        silhouette=clean(found.silhouette), rejected_k=found.rejected_k, description=found.describe(), segments=segments
    )
