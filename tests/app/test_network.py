"""``app.cascades``, ``app.reach`` and ``app.suggest_ties`` on a small synthetic network."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import socialfusion as sf
from socialfusion import app
from socialfusion.exceptions import NotFoundError


@pytest.fixture(scope="module")
def network():
    generated = sf.generate(n_users=60, n_posts=200, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    store = sf.connect("memory://")
    sf.ingest_corpus(generated.corpus, store)
    return generated, store


def test_cascades_are_largest_first_with_the_total(network):
    _, store = network
    every = app.cascades(store, app.CascadesParams(k=app.MAX_K))
    first = app.cascades(store, app.CascadesParams(k=2))
    assert first.total == every.total == len(every.cascades) > 2
    assert first.cascades == every.cascades[:2] and first.cascades[0].size >= first.cascades[1].size >= 2


def test_reach_with_certain_passing_is_the_same_every_run(network):
    generated, store = network
    seed = generated.truth.influencers[0]
    found = app.reach(store, app.ReachParams(seeds=[seed, seed], probability=1.0, runs=5))
    assert found.seeds == [seed] and found.p5 == found.p95 == found.expected_reach > 1
    assert found.users == 60
    with pytest.raises(NotFoundError, match="unknown users"):
        app.reach(store, app.ReachParams(seeds=["nobody"]))
    with pytest.raises(ValidationError):
        app.ReachParams(seeds=[])


def test_ties_suggested_are_not_ties_yet(network):
    generated, store = network
    found = app.suggest_ties(store, app.LinksParams(users=["u0001"], k=3))
    ties = {(edge["src"], edge["dst"]) for edge in generated.corpus.edges.to_pylist() if edge["kind"] == "follow"}
    assert [row.rank for row in found.suggestions] == [1, 2, 3] and found.evaluation is None
    assert all(
        ("u0001", row.suggested) not in ties and (row.suggested, "u0001") not in ties for row in found.suggestions
    )
    default = app.suggest_ties(store, app.LinksParams(k=1, evaluate=True))
    assert len({row.user_id for row in default.suggestions}) == app.DEFAULT_LINK_USERS
    assert {score.method for score in default.evaluation} >= {"adamic_adar", "link_predictor"}
    assert 0 < default.held_out < default.ties
    with pytest.raises(NotFoundError):
        app.suggest_ties(store, app.LinksParams(users=["nobody"]))
