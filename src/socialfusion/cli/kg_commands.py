"""``socialfusion kg``: build and query the knowledge graph of a store; mine association rules and user segments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion import app as app_layer
from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, parameters, print_rows, run

app = typer.Typer(
    help="Knowledge graph (entities, hashtags, users, domains) and hidden patterns (rules, segments).",
    no_args_is_help=True,
)

GraphOption = Annotated[
    Path | None,
    typer.Option(
        "--graph",
        "-g",
        help="A GraphML file written by 'kg build' (faster); without it the graph is built from --store.",
    ),
]
TopOption = Annotated[int, typer.Option("--top", "-k", help="Rows to show.")]
ItemsOption = Annotated[str, typer.Option(help="Item kinds, comma-separated: hashtag, entity, mention, domain.")]
NoEntitiesOption = Annotated[bool, typer.Option("--no-entities", help="Skip named-entity recognition (faster).")]


def _kinds(text: str) -> list[str]:
    return [kind.strip() for kind in text.split(",") if kind.strip()]


def _source(graph: Path | None, store: Path):
    """The graph file when one is given, else the store (its graph built by the application layer)."""
    return graph if graph is not None else existing_store(store)


@app.command()
def build(
    store: StoreOption = Path("socialfusion.db"),
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .graphml or .jsonld.")] = Path(
        "graph.graphml"
    ),
    posts: Annotated[bool, typer.Option("--posts", help="Add a node per post.")] = False,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Build the knowledge graph of a store and write it as GraphML or JSON-LD (schema.org types)."""
    params = app_layer.GraphFileParams(posts=posts, entities=not no_entities)
    result = run(app_layer.write_knowledge_graph, existing_store(store), params, out=out)
    if as_json:
        print(json.dumps(result.model_dump()))
        return
    console.print(f"wrote {out}: {result.nodes:,} nodes and {result.edges:,} edges from {result.posts:,} posts")


@app.command()
def neighbours(
    node: Annotated[str, typer.Argument(help="A node id (person:Ada Lovelace), #hashtag, @user or a label.")],
    store: StoreOption = Path("socialfusion.db"),
    graph: GraphOption = None,
    relation: Annotated[
        str | None, typer.Option(help="Only this relation: co_occurs, posted, mentions, links_to, wrote, contains.")
    ] = None,
    top: TopOption = 10,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """The strongest ties of a node."""
    params = parameters(
        app_layer.NeighboursParams,
        {"node": "NODE", "k": "--top"},
        node=node,
        relation=relation,
        k=min(top, app_layer.MAX_K),
        entities=not no_entities,
    )
    found = run(app_layer.kg_node_neighbours, _source(graph, store), params)
    print_rows([row.model_dump() for row in found.neighbours], f"Neighbours of {found.node}", as_json)


@app.command()
def path(
    source: Annotated[str, typer.Argument(help="Start node.")],
    target: Annotated[str, typer.Argument(help="End node.")],
    store: StoreOption = Path("socialfusion.db"),
    graph: GraphOption = None,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """A shortest path between two nodes, with the relation of each hop."""
    params = parameters(
        app_layer.PathParams,
        {"source": "SOURCE", "target": "TARGET"},
        source=source,
        target=target,
        entities=not no_entities,
    )
    hops = run(app_layer.kg_path, _source(graph, store), params).hops
    if as_json:
        print(json.dumps([hop.model_dump() for hop in hops]))
        return
    if not hops:
        console.print(f"no path between {source} and {target}")
        return
    walk = "".join(f" -[{hop.relation}]{'->' if hop.forward else '<-'} {hop.target}" for hop in hops)
    console.print(f"{len(hops)} hops: {hops[0].source}{walk}", highlight=False, markup=False)


@app.command()
def top(
    store: StoreOption = Path("socialfusion.db"),
    graph: GraphOption = None,
    node_type: Annotated[
        str | None,
        typer.Option(
            "--type", help="Only nodes of this type: person, organization, place, other, hashtag, user, domain, post."
        ),
    ] = None,
    by: Annotated[str, typer.Option(help="degree, pagerank or posts.")] = "degree",
    k: TopOption = 20,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """The most central nodes."""
    params = parameters(
        app_layer.TopNodesParams, type=node_type, by=by, k=min(k, app_layer.MAX_K), entities=not no_entities
    )
    found = run(app_layer.kg_top_nodes, _source(graph, store), params)
    print_rows([node.model_dump() for node in found.nodes], f"Top {k} {node_type or 'node'}s by {by}", as_json)


@app.command()
def rules(
    store: StoreOption = Path("socialfusion.db"),
    items: ItemsOption = "hashtag,entity",
    min_support: Annotated[float, typer.Option(help="Smallest share of posts carrying an itemset.")] = 0.01,
    min_confidence: Annotated[float, typer.Option(help="Smallest confidence of a rule.")] = 0.5,
    min_authors: Annotated[int, typer.Option(help="Fewest distinct authors behind a rule.")] = 3,
    top: TopOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Association rules between what posts carry (FP-growth), by lift; copies of a post count once."""
    params = parameters(
        app_layer.RulesParams,
        {"k": "--top"},
        items=_kinds(items),
        min_support=min_support,
        min_confidence=min_confidence,
        min_authors=min_authors,
        k=min(top, app_layer.MAX_K),
    )
    found = run(app_layer.mine_rules, existing_store(store), params)
    rows = [
        {**rule.model_dump(), "antecedent": " + ".join(rule.antecedent), "consequent": " + ".join(rule.consequent)}
        for rule in found.rules
    ]
    print_rows(
        rows,
        f"{found.total:,} association rules (support >= {min_support}, confidence >= {min_confidence}, "
        f"authors >= {min_authors})",
        as_json,
    )


@app.command()
def segments(
    store: StoreOption = Path("socialfusion.db"),
    items: ItemsOption = "hashtag",
    n_segments: Annotated[
        int | None, typer.Option("--segments", help="Number of segments (default: best silhouette).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """User segments by what users post about (the items of their posts)."""
    params = parameters(app_layer.InterestSegmentsParams, items=_kinds(items), segments=n_segments, seed=seed)
    found = run(app_layer.interest_segments, existing_store(store), params)
    rows = [{"segment": row.segment, "users": row.users, "top keys": ", ".join(row.top_keys)} for row in found.segments]
    if as_json:
        print(json.dumps({"silhouette": found.silhouette, "rejected_k": found.rejected_k, "segments": rows}))
        return
    if found.rejected_k is not None:
        console.print(f"{found.description}; no user segments shown", highlight=False)
        return
    print_rows(rows, found.description, False)
