"""``socialfusion kg``: build and query the knowledge graph of a store; mine association rules and user segments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, console, fail, load_corpus, print_rows
from socialfusion.exceptions import SocialFusionError

app = typer.Typer(help="Knowledge graph (entities, hashtags, users, domains) and hidden patterns (rules, segments).",
                  no_args_is_help=True)

GraphOption = Annotated[Path | None, typer.Option(
    "--graph", "-g", help="A GraphML file written by 'kg build' (faster); without it the graph is built from --store.")]
TopOption = Annotated[int, typer.Option("--top", "-k", help="Rows to show.")]
ItemsOption = Annotated[str, typer.Option(help="Item kinds, comma-separated: hashtag, entity, mention, domain.")]
NoEntitiesOption = Annotated[bool, typer.Option("--no-entities", help="Skip named-entity recognition (faster).")]


def _kinds(text: str) -> list[str]:
    return [kind.strip() for kind in text.split(",") if kind.strip()]


def _build(store: Path, *, entities: bool = True, include_posts: bool = False):
    from socialfusion.tasks.knowledge import KnowledgeGraph, no_entities

    try:
        corpus = load_corpus(store)
        return KnowledgeGraph.build(corpus.posts, None if entities else no_entities(), include_posts=include_posts,
                                    users=corpus.users)
    except SocialFusionError as error:
        fail(error)


def _graph(graph: Path | None, store: Path, entities: bool = True):
    from socialfusion.tasks.knowledge import KnowledgeGraph

    if graph is None:
        return _build(store, entities=entities)
    if not graph.is_file():
        fail(FileNotFoundError(f"no graph file at {graph}; write one with: socialfusion kg build --out {graph}"))
    try:
        return KnowledgeGraph.from_graphml(graph)
    except SocialFusionError as error:
        fail(error)


@app.command()
def build(
    store: StoreOption = Path("socialfusion.db"),
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .graphml or .jsonld.")] = Path(
        "graph.graphml"),
    posts: Annotated[bool, typer.Option("--posts", help="Add a node per post.")] = False,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Build the knowledge graph of a store and write it as GraphML or JSON-LD (schema.org types)."""
    if out.suffix.lower() not in (".graphml", ".jsonld"):
        fail(ValueError(f"--out must end in .graphml or .jsonld; got {out.name}"))
    graph = _build(store, entities=not no_entities, include_posts=posts)
    if out.suffix.lower() == ".graphml":
        graph.to_graphml(out)
    else:
        graph.to_jsonld(out)
    result = {"out": str(out), "posts": graph.n_posts, "nodes": graph.nodes.num_rows, "edges": graph.edges.num_rows}
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"wrote {out}: {result['nodes']:,} nodes and {result['edges']:,} edges from {result['posts']:,} "
                  "posts")


@app.command()
def neighbours(
    node: Annotated[str, typer.Argument(help="A node id (person:Ada Lovelace), #hashtag, @user or a label.")],
    store: StoreOption = Path("socialfusion.db"),
    graph: GraphOption = None,
    relation: Annotated[str | None, typer.Option(help="Only this relation: co_occurs, posted, mentions, links_to, "
                                                      "wrote, contains.")] = None,
    top: TopOption = 10,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """The strongest ties of a node."""
    knowledge = _graph(graph, store, not no_entities)
    try:
        rows = knowledge.neighbours(node, k=top, relation=relation).to_pylist()
        centre = knowledge.resolve(node)
    except SocialFusionError as error:
        fail(error)
    print_rows(rows, f"Neighbours of {centre}", as_json)


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
    knowledge = _graph(graph, store, not no_entities)
    try:
        rows = knowledge.path(source, target).to_pylist()
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print(f"no path between {source} and {target}")
        return
    walk = "".join(f" -[{row['relation']}]{'->' if row['forward'] else '<-'} {row['target']}" for row in rows)
    console.print(f"{len(rows)} hops: {rows[0]['source']}{walk}", highlight=False, markup=False)


@app.command()
def top(
    store: StoreOption = Path("socialfusion.db"),
    graph: GraphOption = None,
    node_type: Annotated[str | None, typer.Option("--type", help="Only nodes of this type: person, organization, "
                                                                 "place, other, hashtag, user, domain, post.")] = None,
    by: Annotated[str, typer.Option(help="degree, pagerank or posts.")] = "degree",
    k: TopOption = 20,
    no_entities: NoEntitiesOption = False,
    as_json: JsonOption = False,
) -> None:
    """The most central nodes."""
    knowledge = _graph(graph, store, not no_entities)
    try:
        rows = knowledge.top_nodes(type=node_type, by=by, k=k).to_pylist()
    except SocialFusionError as error:
        fail(error)
    print_rows(rows, f"Top {k} {node_type or 'node'}s by {by}", as_json)


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
    from socialfusion.corpus import resolve_mentions
    from socialfusion.tasks.patterns import association_rules

    try:
        corpus = load_corpus(store)
        found = association_rules(resolve_mentions(corpus.posts, corpus.users), items=_kinds(items),
                                  min_support=min_support, min_confidence=min_confidence, min_authors=min_authors)
    except SocialFusionError as error:
        fail(error)
    rows = [{"antecedent": " + ".join(row["antecedent"]), "consequent": " + ".join(row["consequent"]),
             **{name: row[name] for name in ("posts", "support_texts", "support_authors", "support", "confidence",
                                             "lift")}}
            for row in found.slice(0, top).to_pylist()]
    print_rows(rows, f"{found.num_rows:,} association rules (support >= {min_support}, confidence >= {min_confidence}, "
                     f"authors >= {min_authors})", as_json)


@app.command()
def segments(
    store: StoreOption = Path("socialfusion.db"),
    items: ItemsOption = "hashtag",
    n_segments: Annotated[int | None, typer.Option("--segments", help="Number of segments (default: best "
                                                                      "silhouette).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """User segments by what users post about (the items of their posts)."""
    from socialfusion.tasks.knowledge import post_items
    from socialfusion.tasks.patterns import user_segments

    try:
        corpus = load_corpus(store)
        found = user_segments(corpus.posts, post_items(corpus.posts, kinds=_kinds(items), users=corpus.users),
                              n_segments, key_column="item", random_state=seed)
    except SocialFusionError as error:
        fail(error)
    rows = [{"segment": row["segment"], "users": row["size"], "top keys": ", ".join(row["top_keys"])}
            for row in found.segments.to_pylist()]
    if as_json:
        silhouette = None if found.silhouette != found.silhouette else found.silhouette  # NaN is not JSON
        print(json.dumps({"silhouette": silhouette, "rejected_k": found.rejected_k,
                          "segments": [] if found.rejected_k is not None else rows}))
        return
    if found.rejected_k is not None:
        console.print(f"{found.describe()}; no user segments shown", highlight=False)
        return
    print_rows(rows, found.describe(), False)
