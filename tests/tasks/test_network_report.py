"""The social-network report section on a network small enough to check by hand, on empty corpora, and its errors."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError
from socialfusion.report import Figure, Metrics, Table, Text, render_report
from socialfusion.tasks._network_report import network_section

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return START + dt.timedelta(hours=hours)


def follow(src: str, dst: str) -> dict:
    return {"src": src, "dst": dst, "kind": "follow"}


@pytest.fixture(scope="module")
def two_groups() -> Corpus:
    """Group A: a, b, c, d all follow the hub h and each other in a ring (a -> b -> c -> d -> a); group B: the
    triangle x, y, z (everyone follows everyone) plus w, who follows x and y; x and y also follow h. Cascade "news":
    h's post reshared by a, b and x; cascade "gossip": x's post reshared by y."""
    edges = [follow(fan, "h") for fan in "abcd"] + [follow(u, v) for u, v in ("ab", "bc", "cd", "da")]
    edges += [follow(u, v) for u in "xyz" for v in "xyz" if u != v] + [follow("w", "x"), follow("w", "y")]
    edges += [follow("x", "h"), follow("y", "h")]
    posts = [{"post_id": "news", "author_id": "h", "created_at": at(0), "text": "big news"},
             {"post_id": "gossip", "author_id": "x", "created_at": at(0), "text": "psst"}]
    posts += [{"post_id": f"news-{user}", "author_id": user, "created_at": at(hour), "reshare_of": "news"}
              for hour, user in enumerate("abx", start=1)]
    posts += [{"post_id": "gossip-y", "author_id": "y", "created_at": at(2), "reshare_of": "gossip"}]
    return Corpus.from_records(posts=posts, edges=edges)


def block(section, kind, containing: str):
    """The first block of ``kind`` whose caption (or text) contains ``containing``."""
    for candidate in section.blocks:
        text = candidate.text if isinstance(candidate, Text) else getattr(candidate, "caption", "")
        if isinstance(candidate, kind) and containing in text:
            return candidate
    raise AssertionError(f"no {kind.__name__} block mentioning {containing!r}")


def rows(table: Table) -> list[dict]:
    return table.head()[1]


def test_the_hub_leads_the_influencers_with_its_reasons(two_groups):
    section = network_section(two_groups, top=3, runs=50)
    influencers = rows(block(section, Table, "highest PageRank"))
    assert len(influencers) == 3
    hub = influencers[0]
    assert hub["user"] == "h"
    assert (hub["followers"], hub["reshares received"], hub["communities reached"]) == (6, 3, 2)
    # 2 of h's 6 contacts (x and y) lie in the other community: 33% >= the 25% that makes a bridge.
    assert hub["why"] == ("highest PageRank, 6 followers (the most), bridges 2 communities (33% of contacts outside "
                          "their own), 3 reshares received")
    assert [row["PageRank"] for row in influencers] == sorted((row["PageRank"] for row in influencers), reverse=True)


def test_metrics_and_community_table(two_groups):
    section = network_section(two_groups, runs=50)
    metrics = next(candidate for candidate in section.blocks if isinstance(candidate, Metrics)).values
    assert metrics["users"] == 9 and metrics["ties"] == 18 and metrics["communities"] == 2
    assert metrics["reshare cascades"] == 2 and metrics["modularity"] > 0.2
    communities = rows(block(section, Table, "Communities (Leiden"))
    assert [(row["community"], row["members"]) for row in communities] == [(0, 5), (1, 4)]
    assert communities[0]["most central members"].startswith("h")
    # 8 ties inside A (4 to h, 4 in the ring), 8 inside B (6 in the triangle, w's 2); x -> h and y -> h between.
    assert [(row["ties inside"], row["ties to other communities"]) for row in communities] == [(8, 2), (8, 2)]
    assert section.figure_ids() == ["network-communities", "network-cascades"]


def test_what_if_reach_orders_and_states_its_probability(two_groups):
    section = network_section(two_groups, seed_count=2, runs=300)
    what_if = {row["method"].split(" (")[0]: row for row in rows(block(section, Table, "Seed these users"))}
    assert set(what_if) == {"CELF", "degree discount", "top PageRank"}
    assert all(len(row["seed these users"].split(", ")) == 2 for row in what_if.values())
    assert what_if["CELF"]["expected reach"] >= what_if["degree discount"]["expected reach"] >= 2
    assert what_if["CELF"]["5th percentile"] <= what_if["CELF"]["expected reach"] <= what_if["CELF"]["95th percentile"]
    # Adopters' follow ties, each tried once per cascade its source adopted in: h's 6 followers (1 cascade; a, b
    # and x reshared after h), a's and b's single followers (d, a: never after them), x's 3 followers in 2 cascades
    # (y after x once), y's 3 followers (none after y): 4 successes in 6 + 1 + 1 + 6 + 3 = 17 trials.
    assert f"p = {4 / 17:.3g}, learned from 2 reshare cascades" in block(section, Text, "Diffusion what-if").text


def test_section_is_deterministic_and_renders(two_groups):
    first, again = (network_section(two_groups, runs=100, random_state=3) for _ in range(2))
    for one, other in zip(first.blocks, again.blocks, strict=True):
        if isinstance(one, Table):
            assert rows(one) == rows(other)
        if isinstance(one, Figure):
            assert one.figure.to_json() == other.figure.to_json()
    page = render_report([first], title="Network")
    assert 'id="network-communities"' in page and 'id="network-cascades"' in page
    assert "Seed these users: expected reach" in page and "Social network" in page


def test_cascade_trees_place_posts_by_hours_since_the_original(two_groups):
    figure = next(candidate for candidate in network_section(two_groups, runs=10).blocks
                  if isinstance(candidate, Figure) and candidate.key == "cascades").figure
    dots = [trace for trace in figure.data if trace.mode == "markers"]
    assert [trace.name for trace in dots] == ["news (4 posts)", "gossip (2 posts)"]
    assert list(dots[0].x) == [0.0, 1.0, 2.0, 3.0] and list(dots[1].x) == [0.0, 2.0]


def test_empty_corpus_and_corpus_without_ties_say_so():
    empty = network_section(Corpus.from_records())
    assert empty.key == "network" and not empty.figure_ids()
    assert empty.summary == "No follow ties between users; no reshare cascades."
    notes = " ".join(candidate.text for candidate in empty.blocks if isinstance(candidate, Text))
    assert "no follow ties" in notes and "no reshares" in notes
    render_report([empty], title="empty")
    loners = Corpus.from_records(posts=[
        {"post_id": "p", "author_id": "a", "created_at": at(0), "text": "hi"},
        {"post_id": "r", "author_id": "b", "created_at": at(1), "text": "", "reshare_of": "p"}])
    section = network_section(loners, runs=10)
    assert section.figure_ids() == ["network-cascades"]
    assert section.summary == "No follow ties between users; 1 reshare cascade."
    undated = Corpus.from_records(posts=[{"post_id": "p", "author_id": "a", "text": "hi"},
                                         {"post_id": "r", "author_id": "b", "text": "", "reshare_of": "p"}])
    notes = [candidate.text for candidate in network_section(undated, runs=10).blocks if isinstance(candidate, Text)]
    assert any("No reshare cascade has times" in note for note in notes)


def test_mention_graphs_name_in_degree_rather_than_followers():
    corpus = Corpus.from_records(posts=[{"post_id": f"p{user}", "author_id": user, "text": "hi @s", "mentions": ["s"]}
                                        for user in "abc"])
    influencers = rows(block(network_section(corpus, kinds=("mention",), runs=10), Table, "highest PageRank"))
    assert influencers[0]["user"] == "s" and influencers[0]["in-degree"] == 3
    assert "3 in-degree (the most)" in influencers[0]["why"]


@pytest.mark.parametrize("keyword", ["top", "seed_count", "runs"])
def test_bad_arguments_are_refused(two_groups, keyword):
    with pytest.raises(ConfigurationError, match=f"{keyword} must be at least 1"):
        network_section(two_groups, **{keyword: 0})
    with pytest.raises(ConfigurationError, match="kinds"):
        network_section(two_groups, kinds=("telepathy",))


def test_demo_network_builds_in_a_few_seconds():
    network = generate(n_users=300, n_posts=2000, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    started = time.perf_counter()
    section = network_section(network.corpus)
    assert time.perf_counter() - started < 10
    top_users = {row["user"] for row in rows(block(section, Table, "highest PageRank"))[:5]}
    assert top_users <= set(network.truth.influencers)
