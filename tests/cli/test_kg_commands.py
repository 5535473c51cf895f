"""``socialfusion kg``: build, neighbours, path, top, rules and segments through Typer's test runner."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from socialfusion.cli import kg_commands
from socialfusion.corpus import Corpus
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect

runner = CliRunner()
root = typer.Typer()
root.add_typer(kg_commands.app, name="kg")


@root.callback()
def _root() -> None:
    """Stands in for the ``socialfusion`` app, which registers ``kg`` the same way."""


POSTS = [
    {"post_id": "p1", "author_id": "ann", "text": "Angela Merkel visited Berlin today #politics #germany",
     "lang": "en", "hashtags": ["politics", "germany"], "mentions": ["bob"]},
    {"post_id": "p2", "author_id": "ann", "text": "More news from Berlin #germany #politics", "lang": "en",
     "hashtags": ["germany", "politics"], "urls": ["https://www.dw.com/story"]},
    {"post_id": "p3", "author_id": "bob", "text": "Great pasta tonight #food", "lang": "en", "hashtags": ["food"]},
    {"post_id": "p4", "author_id": "cat", "text": "Cooking again #food #recipes", "lang": "en",
     "hashtags": ["food", "recipes"]},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kg-cli") / "store"
    ingest_corpus(Corpus.from_records(posts=POSTS), connect(folder), scrub_pii=False)
    return folder


def invoke(*args):
    return runner.invoke(root, ["kg", *(str(arg) for arg in args)])


def test_build_writes_graphml_and_jsonld(store, tmp_path):
    result = invoke("build", "--store", store, "--out", tmp_path / "graph.graphml", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["posts"] == 4 and summary["nodes"] > 0
    graph = nx.read_graphml(tmp_path / "graph.graphml", force_multigraph=True)
    assert graph.nodes["hashtag:germany"]["type"] == "hashtag" and graph.nodes["place:Berlin"]["posts"] == 2
    assert graph.number_of_nodes() == summary["nodes"] and graph.number_of_edges() == summary["edges"]
    jsonld = invoke("build", "--store", store, "--out", tmp_path / "graph.jsonld", "--no-entities")
    assert jsonld.exit_code == 0 and "wrote" in jsonld.output
    assert "@context" in json.loads((tmp_path / "graph.jsonld").read_text(encoding="utf-8"))
    wrong = invoke("build", "--store", store, "--out", tmp_path / "graph.txt")
    assert wrong.exit_code == 2 and ".graphml or .jsonld" in wrong.output


def test_queries_from_a_graph_file_and_from_the_store(store, tmp_path):
    saved = tmp_path / "graph.graphml"
    invoke("build", "--store", store, "--out", saved)
    rows = json.loads(invoke("neighbours", "#germany", "--graph", saved, "--relation", "co_occurs", "--json").output)
    assert rows[0] == {**rows[0], "node_id": "hashtag:politics", "weight": 2.0}
    hops = json.loads(invoke("path", "@bob", "#recipes", "--store", store, "--no-entities", "--json").output)
    assert [hop["relation"] for hop in hops] == ["posted", "co_occurs"]
    assert hops[0]["source"] == "user:bob" and hops[-1]["target"] == "hashtag:recipes"
    text = invoke("path", "@bob", "#recipes", "--graph", saved)
    assert text.exit_code == 0 and "2 hops: user:bob -[posted]-> hashtag:food -[co_occurs]" in text.output
    best = json.loads(invoke("top", "--graph", saved, "--type", "hashtag", "--by", "posts", "-k", 1, "--json").output)
    assert [row["node_id"] for row in best] == ["hashtag:food"]
    assert invoke("top", "--graph", saved).exit_code == 0


def test_query_errors(store, tmp_path):
    unknown = invoke("neighbours", "nobody", "--store", store, "--no-entities")
    assert unknown.exit_code == 2 and "no node 'nobody'" in unknown.output
    missing = invoke("top", "--graph", tmp_path / "absent.graphml")
    assert missing.exit_code == 2 and "kg build" in missing.output
    bad = invoke("top", "--store", store, "--no-entities", "--by", "fame")
    assert bad.exit_code == 2 and "by must be" in bad.output


def test_rules_and_segments(store):
    rules = json.loads(invoke("rules", "--store", store, "--items", "hashtag", "--min-support", 0.25,
                              "--min-authors", 1, "--json").output)
    pairs = {(row["antecedent"], row["consequent"]): row for row in rules}
    germany = pairs[("hashtag:germany", "hashtag:politics")]
    assert germany["confidence"] == 1.0
    assert (germany["posts"], germany["support_texts"], germany["support_authors"]) == (2, 2, 1)  # both ann's
    assert pairs[("hashtag:recipes", "hashtag:food")]["lift"] == 2.0  # confidence 1 / support of #food 0.5
    # By default a rule needs three authors: every pair here comes from one.
    strict = invoke("rules", "--store", store, "--items", "hashtag", "--min-support", 0.25)
    assert strict.exit_code == 0 and "0 association rules" in strict.output and "authors >= 3" in strict.output
    segments = json.loads(invoke("segments", "--store", store, "--segments", 2, "--json").output)
    assert sorted(row["users"] for row in segments["segments"]) == [1, 2] and segments["rejected_k"] is None
    table = invoke("segments", "--store", store)
    assert table.exit_code == 0 and "user segments" in table.output


def test_segments_say_when_there_is_no_structure(tmp_path):
    """Thirty users posting hashtags at random: no segment structure, and the command says so."""
    rng = np.random.default_rng(0)
    tags = [f"t{number}" for number in range(20)]
    posts = [{"post_id": f"u{user}-{number}", "author_id": f"u{user}", "text": f"post {user} {number}", "lang": "en",
              "hashtags": [str(rng.choice(tags))]} for user in range(30) for number in range(4)]
    folder = tmp_path / "store"
    ingest_corpus(Corpus.from_records(posts=posts), connect(folder), scrub_pii=False)
    found = json.loads(invoke("segments", "--store", folder, "--json").output)
    assert found["rejected_k"] is not None and found["segments"] == []
    text = invoke("segments", "--store", folder)
    assert text.exit_code == 0 and "no segment structure found (best silhouette" in text.output
