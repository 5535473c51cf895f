"""``socialfusion graph``: influence, communities, cascades and reach through Typer's test runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from socialfusion.cli import app
from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect

runner = CliRunner()


@pytest.fixture(scope="module")
def network_and_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph-cli")
    network = generate(n_users=120, n_posts=300, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    ingest_corpus(network.corpus, connect(folder / "store"), scrub_pii=False)
    return network, folder / "store"


def invoke(*args):
    result = runner.invoke(app, [str(arg) for arg in args])
    return result


def test_influence_ranks_planted_influencers_first(network_and_store):
    network, store = network_and_store
    result = invoke("graph", "influence", "--store", store, "--top", 5, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 5 and {"user_id", "pagerank", "betweenness", "bridging"} <= set(rows[0])
    assert [row["pagerank"] for row in rows] == sorted((row["pagerank"] for row in rows), reverse=True)
    assert rows[0]["user_id"] in set(network.truth.influencers)


def test_communities_and_cascades_as_json_and_tables(network_and_store):
    network, store = network_and_store
    found = json.loads(invoke("graph", "communities", "--store", store, "--json").output)
    assert found["method"] == "leiden" and found["modularity"] > 0.3
    assert sum(row["users"] for row in found["communities"]) == 120
    cascades = json.loads(invoke("graph", "cascades", "--store", store, "--top", 3, "--json").output)
    assert cascades and cascades[0]["size"] >= cascades[-1]["size"] >= 2
    table = invoke("graph", "cascades", "--store", store)
    every = json.loads(invoke("graph", "cascades", "--store", store, "--top", 10_000, "--json").output)
    assert table.exit_code == 0 and f"{len(every)} reshare cascades" in table.output


def test_reach_what_if_and_its_errors(network_and_store):
    network, store = network_and_store
    influencer = network.truth.influencers[0]
    result = json.loads(invoke("graph", "reach", influencer, "--store", store, "--probability", 1.0, "--runs", 5,
                               "--json").output)
    assert result["expected_reach"] > 1 and result["p5"] == result["p95"]  # p = 1: every run reaches the same users
    unknown = invoke("graph", "reach", "nobody", "--store", store)
    assert unknown.exit_code == 2 and "unknown users" in unknown.output
    bad_kind = invoke("graph", "influence", "--store", store, "--kinds", "telepathy")
    assert bad_kind.exit_code == 2
    missing = invoke("graph", "cascades", "--store", store.parent / "absent")
    assert missing.exit_code == 2 and "no store" in missing.output
