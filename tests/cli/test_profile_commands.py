"""``socialfusion profiles`` and ``socialfusion engagement`` through Typer's test runner (sub-apps mounted here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from socialfusion.cli.profile_commands import PREDICTIONS_TABLE, engagement_app, profiles_app
from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect
from socialfusion.tasks.profiles import PROFILES_TABLE

runner = CliRunner()
app = typer.Typer()
app.add_typer(profiles_app, name="profiles")
app.add_typer(engagement_app, name="engagement")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profiles-cli")
    network = generate(n_users=80, n_posts=300, seed=4, n_videos=0, n_audio=0, image_fraction=0.2)
    ingest_corpus(network.corpus, connect(folder / "store"), scrub_pii=False)
    return folder / "store"


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def test_profiles_build_similar_and_segments(store_path):
    built = invoke("profiles", "build", "--store", store_path, "--text-encoder", "text/tfidf", "--sentiment", "none")
    assert built.exit_code == 0, built.output
    assert "80 user profiles written" in built.output
    profiles = connect(store_path).read(PROFILES_TABLE)
    assert profiles.num_rows == 80
    user = next(row["user_id"] for row in profiles.to_pylist() if not row["embedding_missing"])
    similar = json.loads(invoke("profiles", "similar", user, "--store", store_path, "--k", 3, "--json").output)
    assert len(similar) == 3 and user not in [row["user_id"] for row in similar]
    similarities = [row["similarity"] for row in similar]
    assert similarities == sorted(similarities, reverse=True)
    exact = json.loads(invoke("profiles", "similar", user, "--store", store_path, "--k", 3, "--exact", "--json").output)
    assert [row["user_id"] for row in exact] == [row["user_id"] for row in similar]
    segments = json.loads(invoke("profiles", "segments", "--store", store_path, "--n-segments", 3, "--json").output)
    assert len(segments["segments"]) == 3 and sum(card["size"] for card in segments["segments"]) == 80
    table = invoke("profiles", "segments", "--store", store_path)
    assert table.exit_code == 0 and "audience segments" in table.output
    found = json.loads(invoke("profiles", "segments", "--store", store_path, "--json").output)
    if found["rejected_k"] is not None:  # the demo's users may show no structure: then the command says so
        assert found["segments"] == [] and "no segment structure found (best silhouette" in table.output


def test_engagement_fit_and_predict(store_path):
    fitted = invoke("engagement", "fit", "--store", store_path, "--learner", "logistic", "--json")
    assert fitted.exit_code == 0, fitted.output
    result = json.loads(fitted.output)
    assert result["auc"] > 0.55 and result["kind"] == "like" and len(result["drivers"]) == 10
    text = invoke("engagement", "fit", "--store", store_path, "--learner", "logistic", "--top", 3)
    assert "held-out AUC" in text.output and "Drivers" in text.output
    predicted = json.loads(
        invoke("engagement", "predict", "--store", store_path, "--learner", "logistic", "--top", 5, "--json").output
    )
    stored = connect(store_path).read(PREDICTIONS_TABLE)
    assert predicted["written"] == stored.num_rows > 0 and len(predicted["top"]) == 5
    probabilities = stored.column("probability").to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert predicted["top"][0]["probability"] == pytest.approx(np.max(probabilities))
    again = invoke("engagement", "predict", "--store", store_path, "--learner", "logistic", "--new-only")
    assert again.exit_code == 0, again.output
    assert f"0 like probabilities written to {PREDICTIONS_TABLE} ({stored.num_rows:,} pairs already scored)" in (
        " ".join(again.output.split())
    )
    assert connect(store_path).count(PREDICTIONS_TABLE) == stored.num_rows


def test_engagement_model_saved_by_fit_scores_like_a_fresh_fit(tmp_path, store_path):
    saved = tmp_path / "engagement.npz"
    fitted = invoke("engagement", "fit", "--store", store_path, "--learner", "logistic", "--model", saved, "--json")
    assert fitted.exit_code == 0, fitted.output
    assert saved.is_file()
    fresh = json.loads(invoke("engagement", "predict", "--store", store_path, "--learner", "logistic", "--json").output)
    reused = invoke("engagement", "predict", "--store", store_path, "--model", saved, "--json")
    assert reused.exit_code == 0, reused.output
    assert json.loads(reused.output)["top"] == fresh["top"]  # the same model, loaded instead of fitted again
    other_kind = invoke("engagement", "predict", "--store", store_path, "--model", saved, "--kind", "share")
    assert other_kind.exit_code == 2 and "predicts 'like'" in " ".join(other_kind.output.split())
    missing = invoke("engagement", "predict", "--store", store_path, "--model", tmp_path / "none.npz")
    assert missing.exit_code == 2 and "engagement model" in " ".join(missing.output.split())


def test_errors_are_clear(tmp_path, store_path):
    missing = invoke("profiles", "segments", "--store", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "no store" in missing.output
    unknown = invoke("profiles", "similar", "nobody", "--store", store_path)
    assert unknown.exit_code == 2 and "no user 'nobody'" in unknown.output  # the app layer checks the user first
    bad_kind = invoke("engagement", "fit", "--store", store_path, "--kind", "view")
    assert bad_kind.exit_code == 2 and "kinds" in bad_kind.output
    stray = invoke("engagement", "predict", "--store", store_path, "--ray-workers", 2)
    assert stray.exit_code == 2 and "need --engine ray" in stray.output
    unknown_engine = invoke("engagement", "predict", "--store", store_path, "--engine", "spark")
    assert unknown_engine.exit_code == 2 and "unknown engine 'spark'" in unknown_engine.output
