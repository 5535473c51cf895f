"""Export: tables and cards' data to CSV and Parquet, graphs to GEXF and GraphML, each read back."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
from typer.testing import CliRunner

from socialfusion import Corpus
from socialfusion.cli import app
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError, StoreError
from socialfusion.export import (
    card_tables,
    export,
    exportable,
    social_graph_networkx,
    to_networkx,
    write_graph,
    write_table,
)
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect
from socialfusion.tasks.influence import social_graph
from socialfusion.tasks.knowledge import KnowledgeGraph, extract_entities
from socialfusion.tasks.topics import TopicModel, write_topics

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The synthetic network (40 users, about 235 posts) with KMeans topics fitted on one-hot planted topics."""
    network = generate(n_users=40, n_posts=200, seed=0)
    target = connect(tmp_path_factory.mktemp("export") / "store")
    ingest_corpus(network.corpus, target)
    posts = network.corpus.posts
    planted = {row["item_id"]: row["label"] for row in network.corpus.labels.to_pylist() if row["task"] == "topic"}
    names = sorted(set(planted.values()))
    embeddings = np.zeros((posts.num_rows, len(names) + 1))
    for row, post in enumerate(posts.column("post_id").to_pylist()):
        embeddings[row, names.index(planted[post]) if post in planted else len(names)] = 1.0
    model = TopicModel(method="kmeans", n_topics=len(names), reduce_to=None).fit_texts(
        posts.column("text").to_pylist(), embeddings=embeddings, post_ids=posts.column("post_id").to_pylist())
    write_topics(target, model)
    return target


def test_write_table_round_trips_nested_values_through_csv_and_parquet(tmp_path):
    table = pa.table({
        "post_id": ["p1", "p2"],
        "hashtags": pa.array([["ai", "ml"], []], pa.list_(pa.string())),
        "media": pa.array([[{"kind": "image", "data": b"\x00\x01"}], None],
                          pa.list_(pa.struct([("kind", pa.string()), ("data", pa.binary())]))),
        "vector": pa.array([[0.5, 1.0], [0.0, -1.0]], pa.list_(pa.float32(), 2)),
        "likes": pa.array([3, None], pa.int64()),
        "text": ["comma, \"quote\"\nnew line", "中文"],
    })
    written = write_table(table, tmp_path / "deep" / "posts.csv")
    back = pyarrow.csv.read_csv(written)
    assert back.column_names == table.column_names and back.num_rows == 2
    assert [json.loads(value) for value in back.column("hashtags").to_pylist()] == [["ai", "ml"], []]
    assert json.loads(back.column("media")[0].as_py()) == [{"kind": "image", "data": "AAE="}]  # base64
    assert back.column("media")[1].as_py() == ""  # a null is an empty field
    assert json.loads(back.column("vector")[1].as_py()) == [0.0, -1.0]
    assert back.column("likes").to_pylist() == [3, None]
    assert back.column("text").to_pylist() == table.column("text").to_pylist()

    parquet = write_table(table, tmp_path / "posts.parquet")
    assert pyarrow.parquet.read_table(parquet).equals(table)
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["deep", "posts.csv", "posts.parquet"]  # no temp


def test_write_table_needs_a_known_format(tmp_path):
    with pytest.raises(ConfigurationError, match="csv or parquet"):
        write_table(pa.table({"a": [1]}), tmp_path / "table.xlsx")
    with pytest.raises(ConfigurationError, match="got 'json'"):
        write_table(pa.table({"a": [1]}), tmp_path / "table.csv", format="json")


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_every_table_of_the_store_round_trips(store, tmp_path, format):
    for name in store.tables():
        (path,) = export(store, name, tmp_path / f"{name}.{format}")
        stored = store.read(name)
        stored = stored.drop_columns([column for column in ("record_key", "record_hash") if column in
                                      stored.column_names])
        back = pyarrow.csv.read_csv(path) if format == "csv" else pyarrow.parquet.read_table(path)
        assert (back.num_rows, back.column_names) == (stored.num_rows, stored.column_names), name
        if format == "parquet":
            assert back.equals(stored), name
    posts = (pyarrow.csv.read_csv if format == "csv" else pyarrow.parquet.read_table)(tmp_path / f"posts.{format}")
    assert posts.column("post_id").to_pylist() == store.read("posts").column("post_id").to_pylist()


def test_an_unknown_table_names_the_ones_there_are(store, tmp_path):
    with pytest.raises(StoreError, match="no table 'tweets'.*posts"):
        export(store, "tweets", tmp_path / "tweets.csv")


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_card_exports_every_row_of_each_of_its_tables(store, tmp_path, format):
    tables = card_tables(store, "network")
    assert list(tables) == ["network-influencers", "network-communities-table", "network-what-if",
                            "network-cascades-table"]
    written = export(store, "card:network", tmp_path / "network", format=format)
    assert [path.name for path in written] == [f"{table_id}.{format}" for table_id in tables]
    for path, (table_id, table) in zip(written, tables.items()):
        back = pyarrow.csv.read_csv(path) if format == "csv" else pyarrow.parquet.read_table(path)
        assert (back.num_rows, back.column_names) == (table.num_rows, table.column_names), table_id
    influencers = tables["network-influencers"]
    assert influencers.column_names[:2] == ["user", "handle"]  # the users' handles beside their ids
    assert all(handle.startswith("@") for handle in influencers.column("handle").to_pylist())


def test_card_data_has_all_rows_even_where_the_page_shows_some(store):
    (topics,) = card_tables(store, "card:topics").values()
    assert topics.num_rows == store.count("topics")
    with pytest.raises(ConfigurationError, match="unknown report section"):
        card_tables(store, "card:nope")


@pytest.mark.parametrize("format", ["gexf", "graphml"])
def test_the_social_graph_round_trips_through_networkx(store, tmp_path, format):
    corpus_graph = social_graph(Corpus.from_store(store))
    (path,) = export(store, "graph:social", tmp_path / f"social.{format}")
    back = nx.read_gexf(path) if format == "gexf" else nx.read_graphml(path)
    assert back.is_directed()
    assert (back.number_of_nodes(), back.number_of_edges()) == (corpus_graph.vcount(), corpus_graph.ecount())
    node, data = next(iter(back.nodes(data=True)))
    assert data["label"].startswith("@")  # Gephi shows the handle


@pytest.mark.parametrize("format", ["gexf", "graphml"])
def test_the_knowledge_graph_round_trips_through_networkx(store, tmp_path, format):
    posts = store.read("posts")
    graph = KnowledgeGraph.build(posts, extract_entities(posts), users=store.read("users"))
    (path,) = export(store, "graph:knowledge", tmp_path / f"knowledge.{format}")
    back = nx.read_gexf(path) if format == "gexf" else nx.read_graphml(path)
    assert (back.number_of_nodes(), back.number_of_edges()) == (graph.nodes.num_rows, graph.edges.num_rows)
    types = {data["type"] for _, data in back.nodes(data=True)}
    assert {"hashtag", "user"} <= types


def test_igraph_converts_and_unwritable_attributes_are_made_writable(tmp_path):
    import igraph

    graph = igraph.Graph(edges=[(0, 1), (1, 2), (1, 2)], directed=True)
    graph.vs["name"] = ["a", "b", "c"]
    graph.vs["tags"] = [["x", "y"], None, []]
    graph.es["weight"] = [1.0, float("nan"), 2.0]
    converted = to_networkx(graph)
    assert isinstance(converted, nx.MultiDiGraph) and converted.number_of_edges() == 3
    for format in ("gexf", "graphml"):
        path = write_graph(graph, tmp_path / f"g.{format}")
        back = nx.read_gexf(path) if format == "gexf" else nx.read_graphml(path)
        assert (back.number_of_nodes(), back.number_of_edges()) == (3, 3)
        assert back.nodes["a"]["tags"] == "x, y" and "tags" not in back.nodes["b"]
    with pytest.raises(ConfigurationError, match="gexf or graphml"):
        write_graph(graph, tmp_path / "g.csv")
    with pytest.raises(ConfigurationError, match="networkx or igraph"):
        to_networkx({"a": ["b"]})


def test_social_graph_takes_the_tie_kinds(store):
    corpus = Corpus.from_store(store)
    follows = social_graph_networkx(corpus)
    mentions = social_graph_networkx(corpus, kinds=("mention",))
    assert follows.graph["kinds"] == "follow" and mentions.graph["kinds"] == "mention"
    assert follows.number_of_edges() != mentions.number_of_edges()


def test_exportable_lists_tables_cards_and_graphs(store):
    offered = exportable(store)
    assert {"posts", "users", "topics", "post_topics"} <= set(offered["tables"])
    assert "card:network" in offered["cards"] and "card:overview" in offered["cards"]
    assert offered["graphs"] == ["graph:social", "graph:knowledge"]


def test_cli_lists_and_exports(store, tmp_path):
    folder = store.uri
    listed = runner.invoke(app, ["export", "list", "--store", folder, "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == exportable(store)

    out = tmp_path / "users.parquet"
    result = runner.invoke(app, ["export", "users", "--store", folder, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"written": [str(out)]}
    assert pyarrow.parquet.read_table(out).num_rows == store.count("users")

    result = runner.invoke(app, ["export", "graph:social", "--store", folder, "--out", str(tmp_path / "g.graphml"),
                                 "--kinds", "follow,mention"])
    assert result.exit_code == 0, result.output
    assert nx.read_graphml(tmp_path / "g.graphml").graph["kinds"] == "follow, mention"

    missing_out = runner.invoke(app, ["export", "users", "--store", folder])
    assert missing_out.exit_code != 0 and "--out" in missing_out.output
    bad_format = runner.invoke(app, ["export", "users", "--store", folder, "--out", str(tmp_path / "u.txt")])
    assert bad_format.exit_code == 2 and "csv or parquet" in bad_format.output
