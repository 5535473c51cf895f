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


def test_links_suggests_non_neighbours_for_the_given_users(network_and_store):
    network, store = network_and_store
    result = invoke("graph", "links", "--store", store, "--user", "u0001", "--user", "u0002", "--top", 3, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["suggestions"]
    edges = network.corpus.edges.select(["src", "dst", "kind"]).to_pylist()
    ties = {(edge["src"], edge["dst"]) for edge in edges if edge["kind"] == "follow"}
    assert [(row["user_id"], row["rank"]) for row in rows] == [("u0001", 1), ("u0001", 2), ("u0001", 3),
                                                               ("u0002", 1), ("u0002", 2), ("u0002", 3)]
    for row in rows:
        assert row["suggested"] != row["user_id"] and 0.0 <= row["probability"] <= 1.0
        assert (row["user_id"], row["suggested"]) not in ties and (row["suggested"], row["user_id"]) not in ties


def test_links_defaults_to_the_most_active_authors_and_evaluates(network_and_store):
    network, store = network_and_store
    result = json.loads(invoke("graph", "links", "--store", store, "--top", 1, "--evaluate", "--json").output)
    authors = network.corpus.posts.column("author_id").to_pylist()
    chosen = [row["user_id"] for row in result["suggestions"]]
    most = sorted((authors.count(author) for author in set(authors)), reverse=True)[:5]
    assert len(set(chosen)) == 5 and [authors.count(author) for author in chosen] == most  # ties: most follow ties
    scores = {row["method"]: row for row in result["evaluation"]}
    assert set(scores) == {"adamic_adar", "common_neighbours", "jaccard", "preferential_attachment",
                           "resource_allocation", "spectral_dot", "link_predictor"}
    assert scores["link_predictor"]["auc"] > 0.7 and scores["adamic_adar"]["auc"] > 0.7  # planted communities
    table = invoke("graph", "links", "--store", store, "--user", "u0001", "--top", 2, "--evaluate")
    assert table.exit_code == 0 and "Held-out link prediction" in table.output and "link_predictor" in table.output
    unknown = invoke("graph", "links", "--store", store, "--user", "nobody")
    assert unknown.exit_code == 2 and "unknown users" in unknown.output


# -- next-adopter prediction ----------------------------------------------------------------------------------------


def forest_folder(folder):
    """A FOREST-style folder, no graph: 'a' is always followed by 'b' then 'c', 'x' by 'y' then 'z'."""
    folder.mkdir()
    orders = [["a", "b", "c"], ["x", "y", "z"]]

    def lines(repeats: int, start: int) -> str:
        rows = []
        for repeat in range(repeats):
            for order in orders:
                base = start + repeat * 1000
                rows.append(" ".join(f"{user},{base + 60 * step}" for step, user in enumerate(order)))
        rows.append("lonely,1286463749")  # one adopter: FOREST's length filter drops it
        return "\n".join(rows) + "\n"

    (folder / "cascade.txt").write_text(lines(10, 1_286_000_000))
    (folder / "cascadevalid.txt").write_text(lines(2, 1_287_000_000))
    (folder / "cascadetest.txt").write_text(lines(2, 1_288_000_000))
    return folder


def test_next_adopters_fit_evaluate_predict_on_forest_files_without_a_graph(tmp_path):
    import numpy as np

    folder = forest_folder(tmp_path / "toy")
    model = tmp_path / "model.npz"
    fitted = invoke("graph", "next-adopters", "fit", "--cascades", folder, "--model", model, "--window", 1, "--json")
    assert fitted.exit_code == 0, fitted.output
    result = json.loads(fitted.output)
    assert result["cascades"] == 20 and result["graph"] is False and result["weights"][1] == 0
    with np.load(model, allow_pickle=False) as archive:  # a ZIP of JSON and plain arrays: nothing to unpickle
        assert "model.json" in archive.files

    for split in ("dev", "test"):
        scores = json.loads(invoke("graph", "next-adopters", "evaluate", "--cascades", folder, "--model", model,
                                   "--split", split, "--ks", "1,2", "--json").output)
        assert (scores["cascades"], scores["steps"]) == (4, 8)
        assert scores["hits@1"] == 1.0 and scores["map@2"] == 1.0

    predicted = json.loads(invoke("graph", "next-adopters", "predict", "a,b", "--model", model, "--k", 2,
                                  "--json").output)
    assert predicted["next"][0]["user_id"] == "c" and "a" not in {row["user_id"] for row in predicted["next"]}
    table = invoke("graph", "next-adopters", "predict", "a,nobody", "--model", model)
    assert table.exit_code == 0 and "unknown to the model" in table.output


def test_next_adopters_from_a_store_and_its_errors(network_and_store, tmp_path):
    network, store = network_and_store
    no_split = invoke("graph", "next-adopters", "fit", "--store", store)
    assert no_split.exit_code == 2 and "--split all" in no_split.output
    fitted = invoke("graph", "next-adopters", "fit", "--store", store, "--split", "all", "--json")
    if fitted.exit_code == 0:  # the synthetic network's shares: cascades with two adopters, if any
        assert (store / "models" / "next-adopters.npz").is_file()
    else:
        assert "two or more known adopters" in fitted.output
    both = invoke("graph", "next-adopters", "fit", "--store", store, "--cascades", tmp_path)
    neither = invoke("graph", "next-adopters", "evaluate")
    assert both.exit_code == neither.exit_code == 2
    assert "exactly one of" in both.output and "exactly one of" in neither.output
    pickled = tmp_path / "model.npz"
    pickled.write_bytes(b"\x80\x04K\x01.")  # a pickle, never loaded
    refused = invoke("graph", "next-adopters", "predict", "a", "--model", pickled)
    assert refused.exit_code == 2 and "cannot read a next-adopter model" in refused.output
