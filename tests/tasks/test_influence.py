"""Influence analysis on graphs small enough to check by hand, and on the synthetic network's planted truth."""

from __future__ import annotations

import warnings

import igraph
import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import normalized_mutual_info_score

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError
from socialfusion.tasks.influence import (
    COMMUNITY_METHODS,
    SCORE_COLUMNS,
    Communities,
    communities,
    ego_network,
    graph_communities,
    influence_scores,
    social_graph,
)


def named_graph(n_vertices: int, edges: list[tuple[int, int]], *, directed: bool = False) -> igraph.Graph:
    graph = igraph.Graph(n=n_vertices, edges=edges, directed=directed)
    graph.vs["name"] = [f"u{index}" for index in range(n_vertices)]
    return graph


def random_graph(n_vertices: int, edge_probability: float, seed: int) -> igraph.Graph:
    """A seeded Erdos-Renyi graph (igraph's own generator would draw from the global ``random`` module)."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n_vertices, n_vertices)) < edge_probability, k=1)
    return named_graph(n_vertices, [tuple(pair) for pair in np.argwhere(upper).tolist()])


def two_cliques_and_a_bridge() -> igraph.Graph:
    """Cliques u0..u4 and u5..u9, joined by the single edge u4 - u5."""
    left = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    right = [(a + 5, b + 5) for a, b in left]
    return named_graph(10, [*left, *right, (4, 5)])


def weighted_edges(graph: igraph.Graph) -> dict[tuple[str, str], float]:
    names = graph.vs["name"]
    return {(names[edge.source], names[edge.target]): edge["weight"] for edge in graph.es}


def by_user(table) -> dict[str, dict]:
    return {row["user_id"]: row for row in table.to_pylist()}


@pytest.fixture
def hand_corpus() -> Corpus:
    return Corpus.from_records(
        users=[{"user_id": user} for user in ("a", "b", "c", "d", "loner")],
        edges=[
            {"src": "a", "dst": "b", "kind": "follow"},
            {"src": "a", "dst": "b", "kind": "follow", "weight": 2.0},
            {"src": "b", "dst": "a", "kind": "follow"},
            {"src": "c", "dst": "a", "kind": "friend"},
            {"src": "d", "dst": "c", "kind": "mention"},  # ignored: the posts carry mentions
        ],
        posts=[
            {"post_id": "p1", "author_id": "a", "text": "hi @c @d", "mentions": ["c", "d"]},
            {"post_id": "p2", "author_id": "b", "text": "hey @c", "mentions": ["c"]},
            {"post_id": "p3", "author_id": "b", "text": "and @c again, and me @b", "mentions": ["c", "b"]},
            {"post_id": "p4", "author_id": "c", "text": "reply to a", "reply_to": "p1"},
            {"post_id": "p5", "author_id": "c", "text": "reply to b", "reply_to": "p2"},
            {"post_id": "p6", "author_id": "d", "text": "reply to c", "reply_to": "p4"},
            {"post_id": "p7", "author_id": "d", "text": "reply to the unknown", "reply_to": "gone"},
            {"post_id": "p8", "author_id": "d", "reshare_of": "p1"},
            {"post_id": "p9", "author_id": "d", "reshare_of": "p2"},
            {"post_id": "p10", "author_id": "b", "reshare_of": "p1"},
        ],
    )


# social_graph ------------------------------------------------------------------------------------------------------


def test_follow_graph_sums_weights_and_keeps_every_user(hand_corpus):
    graph = social_graph(hand_corpus)

    assert graph.is_directed()
    assert graph.vs["name"] == ["a", "b", "c", "d", "loner"]
    assert weighted_edges(graph) == {("a", "b"): 3.0, ("b", "a"): 1.0}


def test_each_kind_gives_the_expected_weighted_edges(hand_corpus):
    assert weighted_edges(social_graph(hand_corpus, ["friend"])) == {("c", "a"): 1.0}
    assert weighted_edges(social_graph(hand_corpus, ["mention"])) == {("a", "c"): 1.0, ("a", "d"): 1.0,
                                                                       ("b", "c"): 2.0}
    assert weighted_edges(social_graph(hand_corpus, ["reply"])) == {("c", "a"): 1.0, ("c", "b"): 1.0,
                                                                     ("d", "c"): 1.0}
    assert weighted_edges(social_graph(hand_corpus, ["reshare"])) == {("d", "a"): 1.0, ("d", "b"): 1.0,
                                                                       ("b", "a"): 1.0}


def test_kinds_combine_into_one_weighted_edge(hand_corpus):
    graph = social_graph(hand_corpus, ["follow", "friend", "mention", "reply", "reshare"])

    assert weighted_edges(graph) == {
        ("a", "b"): 3.0, ("a", "c"): 1.0, ("a", "d"): 1.0, ("b", "a"): 2.0, ("b", "c"): 2.0,
        ("c", "a"): 2.0, ("c", "b"): 1.0, ("d", "a"): 1.0, ("d", "b"): 1.0, ("d", "c"): 1.0,
    }


def test_undirected_graph_merges_reciprocal_ties(hand_corpus):
    graph = social_graph(hand_corpus, ["follow"], directed=False)

    assert not graph.is_directed()
    assert weighted_edges(graph) == {("a", "b"): 4.0}


def test_unweighted_graph_merges_parallel_ties_without_weights(hand_corpus):
    graph = social_graph(hand_corpus, ["mention"], weighted=False)

    assert "weight" not in graph.es.attributes()
    assert graph.ecount() == 3


def test_edge_table_mentions_are_used_when_posts_carry_none():
    corpus = Corpus.from_records(edges=[{"src": "x", "dst": "y", "kind": "mention"}])

    assert weighted_edges(social_graph(corpus, ["mention"])) == {("x", "y"): 1.0}


@pytest.mark.parametrize("kinds", [[], ["like"], ("follow", "retweet")])
def test_unknown_or_no_kinds_are_refused(hand_corpus, kinds):
    with pytest.raises(ConfigurationError, match="kinds"):
        social_graph(hand_corpus, kinds)


# influence_scores --------------------------------------------------------------------------------------------------


def test_star_centre_ranks_first():
    star = named_graph(6, [(leaf, 0) for leaf in range(1, 6)], directed=True)  # every leaf follows u0

    scores = influence_scores(star)
    centre = by_user(scores)["u0"]

    assert scores.column_names == ["user_id", "in_degree", "out_degree", "pagerank", "hub", "authority", "core",
                                   "betweenness", "bridging"]
    assert scores.column("user_id")[0].as_py() == "u0"
    assert (centre["in_degree"], centre["out_degree"]) == (5, 0)
    assert centre["authority"] == pytest.approx(1.0)
    assert all(row["pagerank"] < centre["pagerank"] for row in scores.to_pylist()[1:])
    assert sum(scores.column("pagerank").to_pylist()) == pytest.approx(1.0)


def test_path_betweenness_by_hand():
    path = named_graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)])

    scores = by_user(influence_scores(path))

    # u2 lies on the paths u0-u3, u0-u4, u1-u3, u1-u4; u1 on u0-u2, u0-u3, u0-u4.
    assert [scores[f"u{index}"]["betweenness"] for index in range(5)] == [0.0, 3.0, 4.0, 3.0, 0.0]
    assert [scores[f"u{index}"]["core"] for index in range(5)] == [1] * 5


def test_directed_path_betweenness_counts_ordered_pairs():
    path = named_graph(4, [(0, 1), (1, 2), (2, 3)], directed=True)

    scores = by_user(influence_scores(path))

    assert [scores[f"u{index}"]["betweenness"] for index in range(4)] == [0.0, 2.0, 2.0, 0.0]


def test_bridge_endpoints_have_top_betweenness_and_bridging():
    scores = influence_scores(two_cliques_and_a_bridge())
    rows = by_user(scores)

    top_betweenness = scores.sort_by([("betweenness", "descending")]).column("user_id").to_pylist()[:2]
    assert set(top_betweenness) == {"u4", "u5"}
    # Each endpoint has 5 neighbours, one of them across the bridge; everyone else has none across.
    assert rows["u4"]["bridging"] == pytest.approx(0.2)
    assert rows["u5"]["bridging"] == pytest.approx(0.2)
    assert all(rows[f"u{index}"]["bridging"] == 0.0 for index in (0, 1, 2, 3, 6, 7, 8, 9))
    assert rows["u0"]["core"] == 4


def test_sampled_betweenness_with_every_source_is_exact_and_is_deterministic():
    graph = random_graph(60, 0.08, seed=1)

    exact = influence_scores(graph).column("betweenness").to_pylist()
    every_source = influence_scores(graph, betweenness_samples=60).column("betweenness").to_pylist()
    sampled = influence_scores(graph, betweenness_samples=20, random_state=3)

    assert every_source == pytest.approx(exact)
    assert sampled.equals(influence_scores(graph, betweenness_samples=20, random_state=3))
    # The estimate is unbiased, so the totals agree roughly.
    assert sum(sampled.column("betweenness").to_pylist()) == pytest.approx(sum(exact), rel=0.3)


def test_non_positive_samples_are_refused():
    with pytest.raises(ConfigurationError, match="betweenness_samples"):
        influence_scores(two_cliques_and_a_bridge(), betweenness_samples=0)


def test_bridging_counts_distinct_neighbours_in_either_direction_and_ignores_self_loops():
    # a -> b twice and b -> a: b is one neighbour of a; c's self-loop does not make c its own neighbour
    graph = named_graph(4, [(0, 1), (0, 1), (1, 0), (1, 2), (2, 2), (3, 2)], directed=True)
    found = Communities(pa.table({"user_id": ["u0", "u1", "u2", "u3"], "community": [0, 0, 1, 1]}), 0.0, "leiden")

    rows = by_user(influence_scores(graph, found=found))

    assert [rows[f"u{index}"]["bridging"] for index in range(4)] == pytest.approx([0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("measures", [("bridging",), ("in_degree", "core"), ("betweenness", "hub"), ()])
def test_asked_measures_equal_the_full_tables_columns(measures):
    graph = two_cliques_and_a_bridge()
    full = influence_scores(graph, betweenness_samples=4, random_state=2)

    some = influence_scores(graph, betweenness_samples=4, random_state=2, measures=measures)

    expected = ["user_id", *[name for name in SCORE_COLUMNS if name in measures or name == "pagerank"]]
    assert some.column_names == expected
    assert some.equals(full.select(expected))
    assert influence_scores(igraph.Graph(), measures=measures).column_names == expected


def test_unknown_measures_and_bad_samples_are_refused_even_when_betweenness_is_not_asked():
    with pytest.raises(ConfigurationError, match="unknown influence measures"):
        influence_scores(two_cliques_and_a_bridge(), measures=["pagerank", "fame"])
    with pytest.raises(ConfigurationError, match="betweenness_samples"):
        influence_scores(two_cliques_and_a_bridge(), betweenness_samples=-1, measures=["core"])


def test_graph_communities_are_the_corpus_graph_and_its_leiden_partition(hand_corpus):
    built = graph_communities(hand_corpus, random_state=4)

    assert weighted_edges(built.graph) == weighted_edges(social_graph(hand_corpus))
    assert built.found == communities(social_graph(hand_corpus), random_state=4)
    assert (built.kinds, built.random_state) == (("follow",), 4)
    built.check(["follow"], 4)
    for kinds, seed in ((("follow", "friend"), 4), (("follow",), 0)):
        with pytest.raises(ConfigurationError, match="built with kinds"):
            built.check(kinds, seed)


def test_membership_maps_users_to_communities_and_outsiders_to_minus_one(hand_corpus):
    built = graph_communities(hand_corpus)
    table = built.found.table
    found = dict(zip(table.column("user_id").to_pylist(), table.column("community").to_pylist(), strict=True))

    membership = built.membership(pa.array(["b", "stranger", "a", None]))

    assert membership.tolist() == [found["b"], -1, found["a"], -1]
    no_ties = graph_communities(Corpus.from_records(users=[{"user_id": "a"}, {"user_id": "b"}]))
    assert no_ties.membership(pa.array(["a", "b"])).tolist() == [-1, -1]


def test_given_graph_communities_are_returned_after_the_check(hand_corpus):
    built = graph_communities(hand_corpus, random_state=4)

    assert graph_communities(hand_corpus, random_state=4, given=built) is built
    with pytest.raises(ConfigurationError, match="built with kinds"):
        graph_communities(hand_corpus, random_state=5, given=built)


def test_graph_without_edges_or_vertices():
    lonely = named_graph(3, [])

    scores = influence_scores(lonely)

    assert scores.column("pagerank").to_pylist() == pytest.approx([1 / 3] * 3)
    assert scores.column("hub").to_pylist() == [0.0] * 3
    assert influence_scores(igraph.Graph()).num_rows == 0


# communities -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", COMMUNITY_METHODS)
def test_two_cliques_are_found(method):
    found = communities(two_cliques_and_a_bridge(), method=method)

    assert isinstance(found, Communities)
    assert found.method == method
    assert found.table.column_names == ["user_id", "community"]
    assert found.table.column("community").to_pylist() == [0] * 5 + [1] * 5
    # Modularity by hand: m = 21 edges, each clique holds 10 edges and degree total 21.
    assert found.modularity == pytest.approx(2 * (10 / 21 - (21 / 42) ** 2))


@pytest.mark.parametrize("method", COMMUNITY_METHODS)
def test_communities_are_deterministic_with_a_seed(method):
    graph = random_graph(80, 0.06, seed=2)

    first = communities(graph, method=method, random_state=7)
    second = communities(graph, method=method, random_state=7)

    assert first.table.equals(second.table)
    assert first.modularity == second.modularity


def test_higher_resolution_splits_more():
    graph = two_cliques_and_a_bridge()

    coarse = communities(graph, resolution=0.05).table.column("community").to_pylist()
    fine = communities(graph, resolution=5.0).table.column("community").to_pylist()

    assert len(set(coarse)) == 1
    assert len(set(fine)) > 2


def test_directed_graph_uses_the_undirected_view():
    graph = two_cliques_and_a_bridge()
    directed = named_graph(10, [edge.tuple for edge in graph.es], directed=True)

    assert communities(directed).table.equals(communities(graph).table)


@pytest.mark.parametrize(("keywords", "message"), [({"method": "girvan"}, "method"), ({"resolution": 0}, "resolution")])
def test_bad_community_arguments_are_refused(keywords, message):
    with pytest.raises(ConfigurationError, match=message):
        communities(two_cliques_and_a_bridge(), **keywords)


# ego_network -------------------------------------------------------------------------------------------------------


def test_ego_network_radius():
    graph = two_cliques_and_a_bridge()

    assert ego_network(graph, "u0", radius=0).vs["name"] == ["u0"]
    assert ego_network(graph, "u0").vs["name"] == ["u0", "u1", "u2", "u3", "u4"]
    assert ego_network(graph, "u0", radius=2).vs["name"] == ["u0", "u1", "u2", "u3", "u4", "u5"]
    assert ego_network(graph, "u0", radius=2).ecount() == 11


def test_ego_network_ignores_direction_and_keeps_weights(hand_corpus):
    graph = social_graph(hand_corpus, ["follow", "friend"])

    ego = ego_network(graph, "a")

    assert ego.is_directed()
    assert weighted_edges(ego) == {("a", "b"): 3.0, ("b", "a"): 1.0, ("c", "a"): 1.0}


@pytest.mark.parametrize(("user_id", "radius", "message"), [("nobody", 1, "nobody"), ("u0", -1, "radius")])
def test_ego_network_refuses_bad_arguments(user_id, radius, message):
    with pytest.raises(ConfigurationError, match=message):
        ego_network(two_cliques_and_a_bridge(), user_id, radius=radius)


# planted truth of the synthetic network ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    return generate(n_users=300, n_posts=600, seed=0)


@pytest.mark.parametrize("method", COMMUNITY_METHODS)
def test_planted_communities_are_recovered(synthetic, method):
    planted = dict(zip(synthetic.truth.user_ids, synthetic.truth.community, strict=True))
    found = communities(social_graph(synthetic.corpus), method=method)

    users = found.table.column("user_id").to_pylist()
    score = normalized_mutual_info_score([planted[user] for user in users], found.table.column("community"))

    assert score >= 0.9  # measured 1.0 with both methods


@pytest.mark.parametrize("column", ["pagerank", "in_degree"])
def test_planted_influencers_are_found(synthetic, column):
    influencers = set(synthetic.truth.influencers)  # 6 of 300 users, so precision@10 can reach 0.6 at most
    scores = influence_scores(social_graph(synthetic.corpus))

    ranked = scores.sort_by([(column, "descending"), ("user_id", "ascending")]).column("user_id").to_pylist()
    precision_at_10 = sum(user in influencers for user in ranked[:10]) / 10
    k = len(influencers)
    precision_at_k = sum(user in influencers for user in ranked[:k]) / k

    assert precision_at_10 == len(influencers) / 10  # every influencer in the top 10 (measured 0.6, the ceiling)
    assert precision_at_k >= 0.8  # measured 1.0


def test_disconnected_graph_scores_without_warnings(hand_corpus):
    graph = social_graph(hand_corpus)  # a <-> b, and c, d, loner without ties

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = by_user(influence_scores(graph))
        undirected_scores = by_user(influence_scores(social_graph(hand_corpus, directed=False)))

    assert scores["loner"]["hub"] == pytest.approx(0.0, abs=1e-9)
    assert undirected_scores["a"]["hub"] == pytest.approx(1.0)


def test_mentions_by_handle_and_follows_by_id_are_one_user(synthetic):
    corpus = synthetic.corpus
    handles = {handle.casefold() for handle in corpus.users.column("handle").to_pylist()}
    mentioned = {value for values in corpus.posts.column("mentions").to_pylist() for value in values or []}
    assert mentioned and all(value.lstrip("@").casefold() in handles for value in mentioned)  # posts name handles

    graph = social_graph(corpus, kinds=["follow", "mention"])
    user_ids = set(corpus.users.column("user_id").to_pylist())
    assert set(graph.vs["name"]) == user_ids  # no vertex is a handle: each mention found its user
    only_mentions = social_graph(corpus, kinds=["mention"])
    assert only_mentions.ecount() > 0 and set(only_mentions.vs["name"]) == user_ids
    ranked = influence_scores(graph).column("user_id").to_pylist()
    assert len(ranked) == len(set(ranked)) == len(user_ids)


def test_a_mention_resolves_by_handle_case_insensitively_and_unknown_ones_stay():
    corpus = Corpus.from_records(
        users=[{"user_id": "u1", "handle": "Happy_Tiger1"}, {"user_id": "u2", "handle": "sky"}],
        posts=[{"post_id": "p1", "author_id": "u2", "text": "hi", "mentions": ["@happy_tiger1", "Stranger"]}],
        edges=[{"src": "u2", "dst": "u1", "kind": "follow"}])
    assert weighted_edges(social_graph(corpus, ["follow", "mention"])) == {("u2", "u1"): 2.0,
                                                                          ("u2", "Stranger"): 1.0}
