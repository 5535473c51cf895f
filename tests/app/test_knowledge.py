"""``app`` knowledge-graph and pattern operations on four posts, over the store and over a GraphML file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import socialfusion as sf
from socialfusion import app
from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, NotFoundError

POSTS = [
    {
        "post_id": "p1",
        "author_id": "ann",
        "text": "Visited Berlin today #politics #germany",
        "lang": "en",
        "hashtags": ["politics", "germany"],
    },
    {
        "post_id": "p2",
        "author_id": "ann",
        "text": "More news #germany #politics",
        "lang": "en",
        "hashtags": ["germany", "politics"],
    },
    {"post_id": "p3", "author_id": "bob", "text": "Great pasta tonight #food", "lang": "en", "hashtags": ["food"]},
    {
        "post_id": "p4",
        "author_id": "cat",
        "text": "Cooking again #food #recipes",
        "lang": "en",
        "hashtags": ["food", "recipes"],
    },
]
QUICK = {"entities": False}


@pytest.fixture(scope="module")
def store() -> sf.Store:
    opened = sf.connect("memory://")
    sf.ingest_corpus(Corpus.from_records(posts=POSTS), opened, scrub_pii=False)
    return opened


def test_a_written_graph_answers_as_the_store_does(store, tmp_path):
    written = app.write_knowledge_graph(store, app.GraphFileParams(**QUICK), out=tmp_path / "g.graphml")
    assert written.posts == 4 and written.nodes > 0 and (tmp_path / "g.graphml").is_file()
    params = app.PathParams(source="@bob", target="#recipes", **QUICK)
    hops = app.kg_path(store, params).hops
    assert [hop.relation for hop in hops] == ["posted", "co_occurs"] and hops[-1].target == "hashtag:recipes"
    assert app.kg_path(tmp_path / "g.graphml", params) == app.kg_path(store, params)
    ties = app.kg_node_neighbours(tmp_path / "g.graphml", app.NeighboursParams(node="#germany", relation="co_occurs"))
    assert ties.node == "hashtag:germany" and ties.neighbours[0].node_id == "hashtag:politics"
    assert ties.neighbours[0].weight == 2.0
    top = app.kg_top_nodes(store, app.TopNodesParams(type="hashtag", by="posts", k=1, **QUICK))
    assert [node.node_id for node in top.nodes] == ["hashtag:food"]


def test_graph_errors(store, tmp_path):
    with pytest.raises(ConfigurationError, match=".graphml or .jsonld"):
        app.write_knowledge_graph(store, app.GraphFileParams(**QUICK), out=tmp_path / "g.txt")
    with pytest.raises(NotFoundError, match="kg build"):
        app.kg_top_nodes(tmp_path / "absent.graphml", app.TopNodesParams())
    with pytest.raises(NotFoundError, match="no node 'nobody'"):
        app.kg_path(store, app.PathParams(source="nobody", target="#food", **QUICK))
    with pytest.raises(ValidationError):
        app.TopNodesParams(by="fame")


def test_rules_count_authors_and_segments_split_the_users(store):
    loose = app.mine_rules(store, app.RulesParams(items=["hashtag"], min_support=0.25, min_authors=1))
    pairs = {(tuple(rule.antecedent), tuple(rule.consequent)): rule for rule in loose.rules}
    germany = pairs[(("hashtag:germany",), ("hashtag:politics",))]
    assert (germany.posts, germany.support_authors, germany.confidence) == (2, 1, 1.0)
    assert loose.total == len(loose.rules)
    assert app.mine_rules(store, app.RulesParams(items=["hashtag"], min_support=0.25)).total == 0  # 3 authors
    segments = app.interest_segments(store, app.InterestSegmentsParams(segments=2))
    assert sorted(segment.users for segment in segments.segments) == [1, 2] and segments.rejected_k is None
