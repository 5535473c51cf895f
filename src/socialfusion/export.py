"""Export what socialfusion holds to files other tools read: tables and report cards' data as CSV or Parquet,
networks as GEXF or GraphML (Gephi, Cytoscape, networkx).

Three kinds of things can be exported, each by name (``exportable`` lists them for a store):

- a **table** of the store (``posts``, ``users``, ``topics``, ``sentiment_predictions``, ...), without the store's
  bookkeeping columns (``record_key``, ``record_hash``);
- a **card** of the report, ``card:KEY`` (``card:network``, ``card:topics``, ...): the data of each of its tables,
  one file per table, named by the table's id in the report (``network-influencers.csv``), which is also the name
  of the CSV the report page downloads;
- a **graph**, ``graph:social`` (users and their ties, ``socialfusion.tasks.influence.social_graph``) or
  ``graph:knowledge`` (``socialfusion.tasks.KnowledgeGraph``).

In CSV, nested values (lists, structs: ``hashtags``, ``media``, embeddings) are written as JSON text and bytes as
base64; Parquet keeps every type as it is.

Examples:
    >>> import tempfile, pyarrow.csv
    >>> folder = Path(tempfile.mkdtemp())
    >>> table = pa.table({"post_id": ["p1"], "hashtags": [["ai", "ml"]]})
    >>> path = write_table(table, folder / "posts.csv")
    >>> pyarrow.csv.read_csv(path).to_pylist()
    [{'post_id': 'p1', 'hashtags': '["ai", "ml"]'}]
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, StoreError, attempt_import

if TYPE_CHECKING:
    import networkx

    from socialfusion.store import Store

__all__ = [
    "CARD_PREFIX",
    "GRAPHS",
    "GRAPH_FORMATS",
    "GRAPH_PREFIX",
    "TABLE_FORMATS",
    "card_tables",
    "export",
    "exportable",
    "knowledge_graph_networkx",
    "social_graph_networkx",
    "to_networkx",
    "write_graph",
    "write_table",
]

TABLE_FORMATS = ("csv", "parquet")
"""Formats of tables and cards' data."""

GRAPH_FORMATS = ("gexf", "graphml")
"""Formats of graphs."""

CARD_PREFIX = "card:"
"""``card:KEY`` names the data of a report card (``card:network``)."""

GRAPH_PREFIX = "graph:"
"""``graph:NAME`` names a graph (``graph:social``, ``graph:knowledge``)."""

GRAPHS = ("social", "knowledge")
"""The graphs that can be exported."""

_BOOKKEEPING = ("record_key", "record_hash")  # the store's upsert keys and content hashes: not data


def _check_format(format: str | None, path: Path, allowed: Sequence[str], what: str) -> str:
    """The format asked for, else the one the file's suffix names."""
    chosen = (format or path.suffix.lstrip(".")).lower()
    if chosen not in allowed:
        hint = f"got {format!r}" if format else f"cannot tell from the file name {path.name!r}"
        raise ConfigurationError(f"{what} can be written as {' or '.join(allowed)}; {hint} (use --format, or a "
                                 f"file name ending in .{allowed[0]})")
    return chosen


def _replace_atomically(path: Path, write: Any) -> Path:
    """Call ``write(temporary_path)``, then rename the file over ``path`` (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def _flat_for_csv(table: pa.Table) -> pa.Table:
    """The table with nested columns as JSON text and binary columns as base64, which CSV can hold."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        kind = field.type
        if pa.types.is_nested(kind) or pa.types.is_dictionary(kind):
            values = [None if value is None else json.dumps(value, ensure_ascii=False, default=_json_default)
                      for value in column.to_pylist()]
            columns.append(pa.array(values, pa.string()))
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            columns.append(pa.array([None if value is None else base64.b64encode(value).decode("ascii")
                                     for value in column.to_pylist()], pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_table(table: pa.Table, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    """Write an Arrow table as CSV or Parquet, atomically (missing folders are created).

    Args:
        table: the table.
        path: the file to write.
        format: ``"csv"`` or ``"parquet"``; None: from the file's suffix.

    Returns:
        The path written.

    Raises:
        ConfigurationError: an unknown format, or none given and none in the file name.
    """
    path = Path(path)
    chosen = _check_format(format, path, TABLE_FORMATS, "a table")
    if chosen == "csv":
        import pyarrow.csv

        flat = _flat_for_csv(table)
        return _replace_atomically(path, lambda target: pyarrow.csv.write_csv(flat, target))
    import pyarrow.parquet

    return _replace_atomically(path, lambda target: pyarrow.parquet.write_table(table, target))


# -- graphs --------------------------------------------------------------------------------------------------------


def _attribute(value: Any) -> Any:
    """A value GEXF and GraphML can hold (str, int, float, bool), or None to leave the attribute out."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # a NumPy scalar
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple | set):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = {str(name): _attribute(value) for name, value in attributes.items()}
    return {name: value for name, value in cleaned.items() if value is not None}


def to_networkx(graph: Any) -> networkx.Graph:
    """An igraph graph as a networkx graph; a networkx graph is returned as it is.

    Nodes are named by the igraph ``"name"`` vertex attribute (the vertex index without one); the other vertex and
    edge attributes are copied; a directed graph stays directed, and parallel edges make a multigraph.

    Examples:
        >>> import igraph
        >>> graph = igraph.Graph(edges=[(0, 1)], directed=True)
        >>> graph.vs["name"] = ["a", "b"]
        >>> graph.es["weight"] = [2.0]
        >>> list(to_networkx(graph).edges(data=True))
        [('a', 'b', {'weight': 2.0})]
    """
    nx = attempt_import("networkx", "graph")
    if isinstance(graph, nx.Graph):
        return graph
    if not (hasattr(graph, "vs") and hasattr(graph, "es") and hasattr(graph, "is_directed")):
        raise ConfigurationError(f"expected a networkx or igraph graph; got {type(graph).__name__}")
    multiple = graph.has_multiple()
    kind = {(False, False): nx.Graph, (True, False): nx.DiGraph, (False, True): nx.MultiGraph,
            (True, True): nx.MultiDiGraph}[(graph.is_directed(), multiple)]
    converted = kind()
    converted.graph.update({name: graph[name] for name in graph.attributes()})
    names = graph.vs["name"] if "name" in graph.vs.attributes() else list(range(graph.vcount()))
    for vertex, name in zip(graph.vs, names):
        converted.add_node(name, **{key: value for key, value in vertex.attributes().items() if key != "name"})
    for edge in graph.es:
        converted.add_edge(names[edge.source], names[edge.target], **edge.attributes())
    return converted


def write_graph(graph: Any, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    """Write a graph (networkx, or igraph: converted by ``to_networkx``) as GEXF or GraphML, atomically.

    Attribute values are made ones both formats hold: a list becomes comma-separated text, a date ISO text, a
    missing or non-finite value is left out. Gephi shows a node's ``label`` attribute as its name.

    Args:
        graph: the graph.
        path: the file to write.
        format: ``"gexf"`` or ``"graphml"``; None: from the file's suffix.

    Returns:
        The path written.

    Raises:
        ConfigurationError: an unknown format, or not a graph.
    """
    nx = attempt_import("networkx", "graph")
    path = Path(path)
    chosen = _check_format(format, path, GRAPH_FORMATS, "a graph")
    source = to_networkx(graph)
    clean = source.__class__()
    clean.graph.update(_clean(source.graph))
    clean.add_nodes_from((node, _clean(data)) for node, data in source.nodes(data=True))
    if source.is_multigraph():
        clean.add_edges_from((a, b, key, _clean(data)) for a, b, key, data in source.edges(keys=True, data=True))
    else:
        clean.add_edges_from((a, b, _clean(data)) for a, b, data in source.edges(data=True))
    writer = nx.write_gexf if chosen == "gexf" else nx.write_graphml
    return _replace_atomically(path, lambda target: writer(clean, str(target)))


def social_graph_networkx(corpus: Corpus, kinds: Sequence[str] = ("follow",)) -> networkx.DiGraph:
    """The social graph (``socialfusion.tasks.influence.social_graph``) as networkx, its users labelled.

    Nodes are user ids with ``label`` (``@handle`` where the users table has one, else the id) and ``handle``;
    edges ``a -> b`` (a follows, mentions, replies to or reshares b) carry ``weight``.

    Args:
        corpus: the corpus.
        kinds: the tie kinds (``GRAPH_KINDS``).
    """
    from socialfusion.tasks._network_report import user_handles
    from socialfusion.tasks.influence import social_graph

    graph = to_networkx(social_graph(corpus, kinds=kinds))
    handles = user_handles(corpus.users)
    for node, data in graph.nodes(data=True):
        data["label"] = handles.get(node, node)
        if node in handles:
            data["handle"] = handles[node]
    graph.graph["kinds"] = ", ".join(kinds)
    return graph


def knowledge_graph_networkx(corpus: Corpus) -> networkx.MultiDiGraph:
    """The knowledge graph of a corpus's posts (``KnowledgeGraph.build``: entities, hashtags, users, domains) as
    networkx (``KnowledgeGraph.to_networkx``)."""
    from socialfusion.tasks.knowledge import KnowledgeGraph, extract_entities

    return KnowledgeGraph.build(corpus.posts, extract_entities(corpus.posts), users=corpus.users).to_networkx()


# -- what a store offers --------------------------------------------------------------------------------------------


def exportable(store: Store) -> dict[str, list[str]]:
    """What can be exported from a store, by kind: ``{"tables": [...], "cards": [...], "graphs": [...]}``.

    Tables are the store's tables; cards are ``card:KEY`` for every report section
    (``socialfusion.pipeline.REPORT_SECTIONS``); graphs are ``graph:social`` and ``graph:knowledge``.
    """
    from socialfusion.pipeline import REPORT_SECTIONS

    return {"tables": store.tables(), "cards": [f"{CARD_PREFIX}{key}" for key in REPORT_SECTIONS],
            "graphs": [f"{GRAPH_PREFIX}{name}" for name in GRAPHS]}


def card_tables(store: Store | Corpus, key: str) -> dict[str, pa.Table]:
    """The data of a report card: each of its tables, by its id in the report (``network-influencers``).

    The card is built as ``analyze`` builds it (``socialfusion.pipeline.report_sections``).

    Args:
        store: the store (or a corpus).
        key: the card's key (``REPORT_SECTIONS``), with or without ``card:``.

    Returns:
        Table id -> Arrow table (every row, not only the rows the page shows); empty when the card has no table
        (it may have only figures, or say why it was skipped).

    Raises:
        ConfigurationError: an unknown card.
    """
    from socialfusion.pipeline import check_sections, report_sections
    from socialfusion.report import Table
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, read_predictions

    key = key.removeprefix(CARD_PREFIX)
    check_sections([key])
    if isinstance(store, Corpus):
        corpus, source, predictions = store, None, None
    else:
        corpus, source = Corpus.from_store(store), store
        predictions = read_predictions(store) if PREDICTIONS_TABLE in store.tables() else None
    tables: dict[str, pa.Table] = {}
    for section in report_sections(corpus, store=source, sentiment_predictions=predictions, sections=[key]):
        blocks = [block for block in section.blocks if isinstance(block, Table)]
        tables.update({table_id: block.to_arrow() for table_id, block in zip(section.table_ids(), blocks)})
    return tables


def export(store: Store, name: str, out: str | os.PathLike[str], *, format: str | None = None,
           kinds: Sequence[str] = ("follow",)) -> list[Path]:
    """Export a table, a card's data or a graph of a store (see the module docstring for the names).

    Args:
        store: the store.
        name: a table name, ``card:KEY`` or ``graph:NAME``.
        out: the file to write; for a card, the folder that gets one file per table (``{table id}.{format}``).
        format: ``csv`` or ``parquet`` (tables and cards; default: the suffix of ``out``, csv for a card), ``gexf``
            or ``graphml`` (graphs; default: the suffix of ``out``).
        kinds: the tie kinds of ``graph:social``.

    Returns:
        The files written.

    Raises:
        StoreError: no such table in the store.
        ConfigurationError: an unknown card, graph or format.
    """
    out = Path(out)
    if name.startswith(GRAPH_PREFIX):
        graph_name = name.removeprefix(GRAPH_PREFIX)
        if graph_name not in GRAPHS:
            raise ConfigurationError(f"unknown graph {graph_name!r}; choose graph:social or graph:knowledge")
        chosen = _check_format(format, out, GRAPH_FORMATS, "a graph")
        corpus = Corpus.from_store(store)
        graph = social_graph_networkx(corpus, kinds) if graph_name == "social" else knowledge_graph_networkx(corpus)
        return [write_graph(graph, out, format=chosen)]
    if name.startswith(CARD_PREFIX):
        chosen = _check_format(format or "csv", out, TABLE_FORMATS, "a card's data")
        tables = card_tables(store, name)
        return [write_table(table, out / f"{table_id}.{chosen}", format=chosen) for table_id, table in tables.items()]
    if name not in store.tables():
        raise StoreError(f"no table {name!r} in {store.uri!r}; its tables: {', '.join(store.tables()) or 'none'} "
                         "(see: socialfusion export list)")
    chosen = _check_format(format, out, TABLE_FORMATS, "a table")
    table = store.read(name)
    return [write_table(table.drop_columns([column for column in _BOOKKEEPING if column in table.column_names]), out,
                        format=chosen)]
