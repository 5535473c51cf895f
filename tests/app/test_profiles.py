"""``app`` user operations: build profiles, audience segments, engagement fit and predict."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import socialfusion as sf
from socialfusion import app
from socialfusion.exceptions import ConfigurationError, StoreError


@pytest.fixture(scope="module")
def store() -> sf.Store:
    opened = sf.connect("memory://")
    sf.ingest_corpus(
        sf.generate(n_users=50, n_posts=250, seed=4, n_videos=0, n_audio=0, image_fraction=0.0).corpus,
        opened,
        scrub_pii=False,
    )
    return opened


def test_segments_need_profiles_then_profiles_build(store):
    with pytest.raises(StoreError, match="profiles build"):
        app.audience_segments(store, app.AudienceSegmentsParams())
    built = app.build_user_profiles(store, app.BuildProfilesParams(text_encoder="text/tfidf", sentiment="none"))
    assert built.written == store.count(built.table) == 50
    segments = app.audience_segments(store, app.AudienceSegmentsParams(segments=3))
    if segments.rejected_k is None:
        assert len(segments.segments) == 3 and sum(card["size"] for card in segments.segments) == 50
    else:  # no structure: the result says so and lists no segment
        assert segments.segments == [] and "silhouette" in segments.description
    with pytest.raises(ValidationError):
        app.BuildProfilesParams(sentiment="mood")


def test_engagement_fit_and_predict(store):
    params = app.EngagementParams(learner="logistic", k=3)
    fitted = app.fit_engagement(store, params)
    assert fitted.auc > 0.5 and fitted.n > 0 and len(fitted.drivers) == 3
    assert [driver.importance for driver in fitted.drivers] == sorted(
        (d.importance for d in fitted.drivers), reverse=True
    )
    predicted = app.predict_engagement(store, params)
    stored = store.read(app.ENGAGEMENT_PREDICTIONS_TABLE)
    assert predicted.written == stored.num_rows > 0 and len(predicted.top) == 3
    assert predicted.top[0].probability == pytest.approx(max(stored.column("probability").to_pylist()))
    with pytest.raises(ConfigurationError, match="kinds"):
        app.fit_engagement(store, app.EngagementParams(kind="view"))
