"""``app.fit_recommender`` and ``app.recommend_items``: fit, save in the store's folder, recommend."""

from __future__ import annotations

import pytest

import socialfusion as sf
from socialfusion import app
from socialfusion.exceptions import ConfigurationError, DataError


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> sf.Store:
    opened = sf.connect(tmp_path_factory.mktemp("recommend") / "store")
    sf.ingest_corpus(
        sf.generate(n_users=40, n_posts=150, seed=0, n_videos=0, n_audio=0, image_fraction=0.0).corpus, opened
    )
    return opened


def test_fit_then_recommend_unseen_items_to_known_and_unknown_users(store):
    fitted = app.fit_recommender(store, app.FitRecommenderParams(model="als", kind="like"))
    assert fitted.path == str(app.recommender_path(store, "als")) and fitted.users > 0 and fitted.weights is None
    found = app.recommend_items(store, "u0001", app.RecommendationsParams(model="als", k=5))
    assert found.known_user and [item.rank for item in found.items] == [1, 2, 3, 4, 5]
    seen = set(store.read("interactions", where="user_id = 'u0001' AND kind = 'like'").column("post_id").to_pylist())
    assert not seen & {item.item for item in found.items}
    assert found == app.recommendations(store, "u0001", app.RecommendationsParams(model="als", k=5))
    stranger = app.recommend_items(store, "stranger", app.RecommendationsParams(model="als", k=3))
    assert not stranger.known_user and len(stranger.items) == 3  # the most popular items


def test_errors_say_what_to_do(store):
    with pytest.raises(DataError, match="cannot read a recommender"):
        app.recommend_items(store, "u0001", app.RecommendationsParams(model="bpr"))
    with pytest.raises(ConfigurationError, match="local folder"):
        app.fit_recommender(sf.connect("memory://"), app.FitRecommenderParams(model="popularity"))
