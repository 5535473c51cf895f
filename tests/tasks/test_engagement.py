"""Engagement examples, the time split, the engagement model and its relatives, on hand-made and synthetic corpora."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from sklearn.exceptions import NotFittedError

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks.engagement import (
    ENGAGEMENT_FEATURES,
    EngagementModel,
    ExpectedEngagementModel,
    NextActionModel,
    engagement_examples,
    engagement_section,
    expected_engagement,
    next_action_examples,
    post_features,
    time_split,
)

UTC = dt.UTC


def at(day: int, hour: int = 0, minute: int = 0) -> str:
    return dt.datetime(2024, 3, day, hour, minute, tzinfo=UTC).isoformat()


def small_corpus() -> Corpus:
    """Bea follows Ann; Ann posts p1 (day 1, 10:00) and p2 (day 2, 10:00); Bea views both and likes p1 only;
    Cal (no follow) views p2 and likes it."""
    return Corpus.from_records(
        users=[{"user_id": "ann", "followers_count": 1}, {"user_id": "bea", "followers_count": 0},
               {"user_id": "cal", "followers_count": 0}],
        edges=[{"src": "bea", "dst": "ann", "kind": "follow"}],
        posts=[{"post_id": "p1", "author_id": "ann", "text": "cats #cats", "hashtags": ["cats"],
                "created_at": at(1, 10)},
               {"post_id": "p2", "author_id": "ann", "text": "dogs and more dogs #dogs", "hashtags": ["dogs"],
                "created_at": at(2, 10)}],
        interactions=[{"user_id": "bea", "post_id": "p1", "kind": "view", "at": at(1, 12)},
                      {"user_id": "bea", "post_id": "p1", "kind": "like", "at": at(1, 12, 5)},
                      {"user_id": "bea", "post_id": "p2", "kind": "view", "at": at(2, 13)},
                      {"user_id": "cal", "post_id": "p2", "kind": "view", "at": at(2, 11)},
                      {"user_id": "cal", "post_id": "p2", "kind": "like", "at": at(2, 11, 1)}],
    )


def fixed_vectors(corpus: Corpus) -> tuple[list[str], Encoded]:
    """One-hot "text vectors": p1 -> [1, 0], p2 -> [0, 1] (no encoder involved)."""
    ids = corpus.posts.column("post_id").to_pylist()
    return ids, Encoded(np.eye(2, dtype=np.float32)[: len(ids)], np.zeros(len(ids), bool), [None] * len(ids))


def random_vectors(corpus: Corpus) -> tuple[list[str], Encoded]:
    """Random 8-d "text vectors" for every post (no encoder involved)."""
    n_posts = corpus.posts.num_rows
    return corpus.posts.column("post_id").to_pylist(), Encoded(
        np.random.default_rng(0).random((n_posts, 8)).astype(np.float32), np.zeros(n_posts, bool), [None] * n_posts)


@pytest.fixture(scope="module")
def network():
    return generate(n_users=150, n_posts=800, seed=1, n_videos=0, n_audio=0, image_fraction=0.0)


@pytest.fixture(scope="module")
def split(network):
    return time_split(engagement_examples(network.corpus, text_encoder="text/tfidf"))


def test_examples_on_a_hand_made_corpus():
    corpus = small_corpus()
    examples = engagement_examples(corpus, post_vectors=fixed_vectors(corpus))
    rows = {(row["user_id"], row["post_id"]): row for row in examples.to_pylist()}
    assert examples.schema.metadata[b"negatives"] == b"exposures"
    assert set(rows) == {("bea", "p1"), ("bea", "p2"), ("cal", "p2")}  # one example per view, by time
    assert examples.column("user_id").to_pylist() == ["bea", "cal", "bea"]
    bea1, bea2, cal2 = rows["bea", "p1"], rows["bea", "p2"], rows["cal", "p2"]
    assert (bea1["label"], bea2["label"], cal2["label"]) == (1, 0, 1)
    assert bea1["label_at"] == dt.datetime(2024, 3, 1, 12, 5, tzinfo=UTC)
    assert bea1["follows_author"] == 1.0 and cal2["follows_author"] == 0.0
    assert bea1["hours_since_post"] == pytest.approx(2.0) and cal2["hours_since_post"] == pytest.approx(1.0)
    assert bea1["author_followers_log"] == pytest.approx(np.log(2))
    # Bea had liked one of Ann's posts before meeting p2, none before p1; Cal's like of p2 came after Bea's view.
    assert bea1["past_interactions_with_author"] == 0.0
    assert bea2["past_interactions_with_author"] == pytest.approx(np.log(2))
    assert bea2["post_engagement_so_far"] == pytest.approx(np.log(2)) and cal2["post_engagement_so_far"] == 0.0
    # Bea's history before p2 is p1 (vector [1, 0]); p2 is [0, 1]: no match. Before p1 she had no history.
    assert bea2["interest_match"] == 0.0 and bea1["interest_match"] == 0.0
    assert bea2["hashtag_match"] == 0.0 and bea2["user_activity"] == pytest.approx(np.log(2))
    assert bea1["post_hour"] == 10.0 and bea1["post_weekday"] == 4.0  # 2024-03-01 was a Friday


def test_interest_match_uses_only_the_past():
    corpus = small_corpus()
    # p3, about cats like p1, comes later; Bea sees it after her like of p1.
    extra = Corpus.from_records(
        posts=[{"post_id": "p3", "author_id": "cal", "text": "cats again", "created_at": at(3, 9)}],
        interactions=[{"user_id": "bea", "post_id": "p3", "kind": "view", "at": at(3, 10)}])
    merged = Corpus(posts=pa.concat_tables([corpus.posts, extra.posts]), users=corpus.users, edges=corpus.edges,
                    interactions=pa.concat_tables([corpus.interactions, extra.interactions]))
    ids = merged.posts.column("post_id").to_pylist()
    vectors = Encoded(np.array([[1, 0], [0, 1], [1, 0]], np.float32), np.zeros(3, bool), [None] * 3)
    examples = engagement_examples(merged, post_vectors=(ids, vectors))
    rows = {(row["user_id"], row["post_id"]): row for row in examples.to_pylist()}
    assert rows["bea", "p3"]["interest_match"] == pytest.approx(1.0)  # she liked p1 (cats) before
    assert rows["bea", "p3"]["label"] == 0


def test_features_of_earlier_rows_do_not_change_when_the_future_is_removed(network):
    corpus = network.corpus
    vectors = random_vectors(corpus)
    full = engagement_examples(corpus, post_vectors=vectors)
    cut = dt.datetime(2024, 3, 20, tzinfo=UTC)
    past = Corpus(posts=corpus.posts, users=corpus.users, edges=corpus.edges,
                  interactions=corpus.interactions.filter(pa.compute.less(corpus.interactions.column("at"), cut)))
    truncated = engagement_examples(past, post_vectors=vectors)
    train_full, _ = time_split(full, cut)
    train_past, _ = time_split(truncated, dt.datetime(2024, 3, 19, 23, tzinfo=UTC))
    assert train_full.num_rows > 1000
    keys_full = list(zip(train_full.column("user_id").to_pylist(), train_full.column("post_id").to_pylist()))
    index = {key: row for row, key in enumerate(zip(truncated.column("user_id").to_pylist(),
                                                     truncated.column("post_id").to_pylist()))}
    rows = [index[key] for key in keys_full]
    for name in ENGAGEMENT_FEATURES:
        np.testing.assert_allclose(truncated.column(name).to_numpy()[rows], train_full.column(name).to_numpy(),
                                   err_msg=name)
    assert np.array_equal(truncated.column("label").to_numpy()[rows], train_full.column("label").to_numpy())
    assert train_past.num_rows <= train_full.num_rows


def test_time_split_leaks_nothing(split):
    train, test = split
    first_test = min(test.column("at").to_pylist())
    cut = first_test.replace(hour=0, minute=0, second=0, microsecond=0)  # the default cut is a UTC midnight
    assert max(train.column("at").to_pylist()) < cut
    assert max(train.column("label_at").to_pylist()) < cut  # every training outcome was known before the cut
    days = {moment.date() for moment in train.column("at").to_pylist()} | {first_test.date()}
    assert (cut.date() - min(days)).days == round(0.8 * 30)  # the synthetic window is 30 days
    train_keys = set(zip(train.column("user_id").to_pylist(), train.column("post_id").to_pylist()))
    test_keys = set(zip(test.column("user_id").to_pylist(), test.column("post_id").to_pylist()))
    assert not train_keys & test_keys


def test_time_split_by_hand():
    days = [dt.datetime(2024, 3, day, 12, tzinfo=UTC) for day in (1, 2, 3, 4, 5)]
    outcome = days[:3] + [days[3] + dt.timedelta(days=2), days[4]]  # row 3's outcome is known only on day 6
    table = pa.table({"at": days, "label_at": outcome, "label": [0, 1, 0, 1, 0]})
    train, test = time_split(table, dt.datetime(2024, 3, 5, tzinfo=UTC))
    assert train.column("label").to_pylist() == [0, 1, 0]  # row 3 straddles the cut: in neither side
    assert test.num_rows == 1
    with pytest.raises(DataError, match="time split leaves"):
        time_split(table, dt.datetime(2024, 4, 1, tzinfo=UTC))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        time_split(table, dt.datetime(2024, 3, 3))
    with pytest.raises(ConfigurationError, match="train_fraction"):
        time_split(table, train_fraction=1.0)


def test_model_beats_chance_and_finds_the_planted_drivers(split):
    train, test = split
    model = EngagementModel(learner="logistic", random_state=0).fit(train)
    scores = model.evaluate(test)
    assert scores["auc"] > 0.62 and 0 < scores["positive_rate"] < 1
    drivers = model.explain(test, n_repeats=3).column("feature").to_pylist()
    assert "hours_since_post" in drivers[:4]
    assert {"interest_match", "hashtag_match"} & set(drivers[:4])
    assert {"follows_author", "author_followers_log", "same_community"} & set(drivers[:6])
    again = EngagementModel(learner="logistic", random_state=0).fit(train)
    np.testing.assert_array_equal(again.predict_proba(test), model.predict_proba(test))
    assert model.predict(test).shape == (test.num_rows,)


def test_contributions_add_up_to_the_log_odds(split):
    train, test = split
    model = EngagementModel(learner="logistic").fit(train)
    contributions = model.contributions(test.slice(0, 20))
    log_odds = np.column_stack(contributions.columns).sum(axis=1) + model.estimator_[-1].intercept_[0]
    probability = model.predict_proba(test.slice(0, 20))[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), probability, rtol=1e-9)
    with pytest.raises(ConfigurationError, match="logistic"):
        EngagementModel(learner="random_forest").fit(train.slice(0, 400)).contributions(test)


def test_model_errors(split):
    train, test = split
    with pytest.raises(NotFittedError):
        EngagementModel().predict_proba(test)
    with pytest.raises(ConfigurationError, match="unknown learner"):
        EngagementModel(learner="magic").fit(train)
    with pytest.raises(ConfigurationError, match="built for kinds"):
        EngagementModel(kind="share").fit(train)
    with pytest.raises(ConfigurationError, match="ENGAGEMENT_FEATURES"):
        EngagementModel(features=["shoe_size"]).fit(train)
    model = EngagementModel(learner="logistic").fit(train)
    with pytest.raises(DataError, match="before the end of the training window"):
        model.evaluate(train)
    with pytest.raises(DataError, match="one class"):
        EngagementModel(learner="logistic").fit(train.filter(pa.compute.equal(train.column("label"), 1)))


@pytest.mark.parametrize("learner, options", [("gradient_boosting", {"max_iter": 20}), ("logistic", None),
                                               ("random_forest", {"n_estimators": 10})])
def test_a_saved_model_loads_without_pickle_and_predicts_the_same(split, tmp_path, learner, options):
    import zipfile

    train, test = split
    model = EngagementModel(learner=learner, learner_options=options,
                            features=["hours_since_post", "interest_match", "follows_author"]).fit(train.slice(0, 3000))
    path = model.save(tmp_path / "engagement.npz")
    assert not [name for name in zipfile.ZipFile(path).namelist() if name.endswith((".pkl", ".pickle"))]
    loaded = EngagementModel.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))
    assert loaded.features_ == model.features_ and loaded.trained_until_ == model.trained_until_
    assert loaded.evaluate(test) == model.evaluate(test)
    with pytest.raises(DataError, match="before the end of the training window"):
        loaded.evaluate(train)  # the training window came back too


def test_loading_refuses_what_save_did_not_write(split, tmp_path):
    import zipfile

    (tmp_path / "nothing.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="engagement model"):
        EngagementModel.load(tmp_path / "nothing.npz")
    with pytest.raises(NotFittedError):
        EngagementModel().save(tmp_path / "unfitted.npz")
    train, _ = split
    path = EngagementModel(learner="logistic").fit(train.slice(0, 2000)).save(tmp_path / "model.npz")
    tampered = tmp_path / "tampered.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "engagement_model.json":
                data = data.replace(b'"hours_since_post"', b'"shoe_size"')
            target.writestr(item, data)
    with pytest.raises(DataError, match="shoe_size"):
        EngagementModel.load(tampered)


def test_sampled_negatives_without_views():
    corpus = small_corpus()
    no_views = Corpus(posts=corpus.posts, users=corpus.users, edges=corpus.edges,
                      interactions=corpus.interactions.filter(pa.compute.not_equal(corpus.interactions.column("kind"),
                                                                                   "view")))
    examples = engagement_examples(no_views, post_vectors=fixed_vectors(corpus))
    assert examples.schema.metadata[b"negatives"] == b"sampled"
    rows = examples.to_pylist()
    positives = [(row["user_id"], row["post_id"]) for row in rows if row["label"] == 1]
    negatives = [(row["user_id"], row["post_id"], row["at"]) for row in rows if row["label"] == 0]
    assert sorted(positives) == [("bea", "p1"), ("cal", "p2")]
    # Cal liked p2 on day 2 at 11:01; p1 (day 1, 10:00) is the only other post published in the 72 h before.
    assert negatives == [("cal", "p1", dt.datetime(2024, 3, 2, 11, 1, tzinfo=UTC))]
    with pytest.raises(ConfigurationError, match="no view"):
        engagement_examples(no_views, negatives="exposures", post_vectors=fixed_vectors(corpus))
    with pytest.raises(ConfigurationError, match="kinds"):
        engagement_examples(corpus, kinds=("view",))
    with pytest.raises(DataError, match="no engagement examples"):
        engagement_examples(corpus, kinds=("share",), post_vectors=fixed_vectors(corpus))


def test_post_features_and_expected_engagement(network):
    corpus = network.corpus
    table = post_features(corpus)
    assert table.num_rows == int((network.truth.post_kind != "reshare").sum())
    earliest = table.sort_by("created_at").slice(0, 1).to_pylist()[0]
    assert earliest["author_posts_before"] == 0.0 and earliest["author_engagement_before"] == 0.0
    train, test = time_split(table, time_column="created_at")
    cut = min(test.column("created_at").to_pylist())
    assert max(train.column("label_at").to_pylist()) < cut  # engagement of training posts was final at the cut
    model = ExpectedEngagementModel(learner="logistic").fit(train)
    scores = model.evaluate(test)
    assert scores["spearman"] > 0.3 and scores["n"] == test.num_rows
    assert model.explain(test, n_repeats=2).column("feature")[0].as_py() in ("author_followers_log",
                                                                             "author_engagement_before")
    new = Corpus.from_records(posts=[{"post_id": "new", "author_id": network.truth.influencers[0], "text": "hi",
                                      "created_at": "2024-04-01T12:00:00Z"}]).posts
    fresh = post_features(corpus, new)
    assert fresh.column("engagement").null_count == 1 and fresh.column("author_posts_before")[0].as_py() > 0
    assert model.predict(fresh)[0] > np.median(model.predict(test))
    expected = expected_engagement(corpus, new, learner="logistic")
    assert expected.column("post_id").to_pylist() == ["new"] and expected.column("expected_engagement")[0].as_py() > 0


def test_next_action_model_beats_the_majority_guess(network):
    examples = next_action_examples(network.corpus)
    assert set(examples.column("label").to_pylist()) <= {"post", "like", "comment", "share", "click"}
    train, test = time_split(examples)
    scores = NextActionModel(learner="logistic").fit(train).evaluate(test)
    assert scores["accuracy"] > scores["majority_accuracy"]
    assert 0 <= scores["habit_accuracy"] <= 1 and scores["n"] == test.num_rows


def test_next_action_examples_by_hand():
    examples = next_action_examples(small_corpus()).to_pylist()
    # Ann: post, post; Bea: like; Cal: like -> only Ann's second post has a history.
    assert [(row["user_id"], row["label"]) for row in examples] == [("ann", "post")]
    row = examples[0]
    assert row["last_post"] == 1.0 and row["share_post"] == 1.0 and row["hour"] == 10.0
    assert row["hours_since_last"] == pytest.approx(np.log1p(24.0))


def test_engagement_section(split):
    train, test = split
    model = EngagementModel(learner="logistic").fit(train)
    section = engagement_section(model, test, top=5)
    assert section.key == "engagement" and "Held-out AUC" in section.summary
    assert section.blocks[0].values["held-out AUC"] == pytest.approx(model.evaluate(test)["auc"])
    assert section.blocks[1].num_rows == 5


def test_topic_features_by_hand():
    corpus = small_corpus()
    topics = pa.table({"post_id": ["p1", "p2"], "topic_id": [7, 3]})  # renumbered: p2 -> 0, p1 -> 1
    examples = engagement_examples(corpus, post_vectors=fixed_vectors(corpus), post_topics=topics)
    rows = {(row["user_id"], row["post_id"]): row for row in examples.to_pylist()}
    bea1, bea2 = rows["bea", "p1"], rows["bea", "p2"]
    # Before p1 Bea had done nothing and no outcome was known: the smoothed share is 1/2 topics, the rates 1/2.
    assert bea1["topic_share"] == pytest.approx(0.5)
    assert bea1["user_engagement_rate"] == pytest.approx(0.5) and bea1["topic_engagement_rate"] == pytest.approx(0.5)
    # Before p2 (day 2, 13:00) Bea had liked p1 (the other topic); two outcomes were known, both likes:
    # everyone's rate (2 + 1) / (2 + 2), Bea's (1 + 5 * 0.75) / (1 + 5), none on p2's topic yet.
    assert bea2["topic_share"] == pytest.approx((0 + 0.5) / (1 + 1))
    assert bea2["user_engagement_rate"] == pytest.approx((1 + 5 * 0.75) / 6)
    assert bea2["topic_engagement_rate"] == pytest.approx(bea2["user_engagement_rate"])


def test_topic_features_need_the_topic_columns():
    corpus = small_corpus()
    with pytest.raises(ConfigurationError, match="topic_id"):
        engagement_examples(corpus, post_vectors=fixed_vectors(corpus), post_topics=pa.table({"post_id": ["p1"]}))


def test_topic_share_tracks_the_planted_interests(network):
    """With the generator's own topics, the share of a user's past activity on a post's topic separates likes."""
    from sklearn.metrics import roc_auc_score

    truth = network.truth
    topics = pa.table({"post_id": list(truth.post_ids), "topic_id": truth.post_topic.astype(np.int64)})
    examples = engagement_examples(network.corpus, post_vectors=random_vectors(network.corpus), post_topics=topics)
    labels = examples.column("label").to_numpy()
    assert roc_auc_score(labels, examples.column("topic_share").to_numpy()) > 0.6
    assert roc_auc_score(labels, examples.column("topic_engagement_rate").to_numpy()) > 0.6


def test_text_embedded_on_demand_gives_the_examples_of_every_vector_at_once(network, monkeypatch):
    """A ``PostTexts`` embeds only the posts the features read (when topics are given), block-independent: the
    examples are the same as from every post's vectors encoded at once, with fewer posts embedded."""
    import socialfusion.tasks.profiles as profiles
    from socialfusion.tasks.profiles import PostTexts, post_text_vectors

    corpus = network.corpus
    topics = pa.table({"post_id": list(network.truth.post_ids), "topic_id": network.truth.post_topic.astype(np.int64)})
    every = engagement_examples(corpus, post_vectors=post_text_vectors(corpus, text_encoder="text/tfidf"),
                                post_topics=topics, max_examples=2000)
    embedded = []
    encode = PostTexts.encode
    monkeypatch.setattr(profiles.PostTexts, "encode", lambda self, rows=None: embedded.append(
        len(self) if rows is None else len(rows)) or encode(self, rows))
    on_demand = engagement_examples(corpus, post_vectors=PostTexts(corpus, text_encoder="text/tfidf"),
                                    post_topics=topics, max_examples=2000)
    assert on_demand.equals(every)
    assert len(embedded) == 1 and 0 < embedded[0] < corpus.posts.num_rows  # the sampled users' posts only


def test_interest_features_by_hand():
    corpus = small_corpus()  # Leiden puts Ann and Bea (Bea follows Ann) in one community, Cal in another
    topics = pa.table({"post_id": ["p1", "p2"], "topic_id": [7, 3]})  # renumbered: p2 -> 0, p1 -> 1
    examples = engagement_examples(corpus, post_vectors=fixed_vectors(corpus), post_topics=topics)
    rows = {(row["user_id"], row["post_id"]): row for row in examples.to_pylist()}
    bea1, cal2, bea2 = rows["bea", "p1"], rows["cal", "p2"], rows["bea", "p2"]
    # Before Bea meets p1 (day 1, 12:00) her community had done one thing, Ann writing p1 (p1's topic):
    # share (1 + 1) / (1 + 2 topics); Bea herself nothing, so her interest is the community's.
    assert bea1["community_topic_share"] == pytest.approx(2 / 3) and bea1["topic_interest"] == pytest.approx(2 / 3)
    # Before day 2, 13:00: Ann wrote p1 and p2, Bea liked p1: one of three on p2's topic -> (1 + 1) / (3 + 2);
    # Bea's own: one action (the like of p1), none on p2's topic -> (0 + 5 * 0.4) / (1 + 5).
    assert bea2["community_topic_share"] == pytest.approx(0.4)
    assert bea2["topic_interest"] == pytest.approx(2 / 6)
    # Cal's view of p2 (he does not follow Ann) counts for later rows only, not for its own.
    assert cal2["community_topic_share"] == pytest.approx(0.5) and cal2["topic_interest"] == pytest.approx(0.5)
    # The lift: Bea liked p1 when 0.5 was expected (no earlier outcome: everyone's prior rate (0 + 1) / (0 + 2)),
    # so her ratio is (1 + 5) / (0.5 + 5); none of her earlier rows was on p2's topic, which falls back to it.
    assert bea1["topic_engagement_lift"] == 1.0 and cal2["topic_engagement_lift"] == 1.0
    assert bea2["topic_engagement_lift"] == pytest.approx(6 / 5.5)
    one_topic = engagement_examples(corpus, post_vectors=fixed_vectors(corpus),
                                    post_topics=pa.table({"post_id": ["p1", "p2"], "topic_id": [4, 4]}))
    bea2 = {(row["user_id"], row["post_id"]): row for row in one_topic.to_pylist()}["bea", "p2"]
    # On one shared topic the like of p1 counts on p2's topic too: (1 + 5 * 6 / 5.5) / (0.5 + 5).
    assert bea2["topic_engagement_lift"] == pytest.approx((1 + 5 * 6 / 5.5) / 5.5)


def test_topic_interest_tracks_the_planted_interests(network):
    """With the generator's topics, the estimated interest follows the planted one and separates the likes far
    better than the same values shuffled over the rows."""
    from sklearn.metrics import roc_auc_score

    truth = network.truth
    topics = pa.table({"post_id": list(truth.post_ids), "topic_id": truth.post_topic.astype(np.int64)})
    examples = engagement_examples(network.corpus, post_vectors=random_vectors(network.corpus), post_topics=topics)
    labels = examples.column("label").to_numpy()
    user_row = {user: row for row, user in enumerate(truth.user_ids)}
    post_row = {post: row for row, post in enumerate(truth.post_ids)}
    users = [user_row[user] for user in examples.column("user_id").to_pylist()]
    posts = [post_row[post] for post in examples.column("post_id").to_pylist()]
    planted = truth.interests[users, truth.post_topic[posts]]
    rng = np.random.default_rng(0)
    for name in ("topic_interest", "community_topic_share", "topic_engagement_lift"):
        values = examples.column(name).to_numpy()
        shuffled = roc_auc_score(labels, rng.permutation(values))
        assert roc_auc_score(labels, values) > shuffled + 0.08, name
    assert np.corrcoef(examples.column("topic_interest").to_numpy(), planted)[0, 1] > 0.6


def test_text_topics_keep_small_topics_apart():
    """One big and two small topics: k-means with three clusters would split the big one; the merged fine
    clusters find the three."""
    from sklearn.metrics import adjusted_rand_score

    from socialfusion.tasks.engagement import _kmeans_topics

    rng = np.random.default_rng(0)
    centres = np.eye(3, 16)
    planted = np.repeat([0, 1, 2], [600, 40, 40])
    vectors = centres[planted] + 0.25 * rng.normal(size=(len(planted), 16))
    missing = np.zeros(len(planted), bool)
    missing[:5] = True
    topic = _kmeans_topics(vectors, missing, 3, 0)
    assert (topic[:5] == -1).all()
    assert adjusted_rand_score(planted[5:], topic[5:]) > 0.95


def date_only_corpus() -> Corpus:
    """The small corpus with every post time at midnight on a platform that gives dates only."""
    corpus = small_corpus()
    posts = corpus.posts
    days = [moment.replace(hour=0) for moment in posts.column("created_at").to_pylist()]
    posts = posts.set_column(posts.schema.get_field_index("created_at"), posts.schema.field("created_at"),
                             pa.array(days, posts.schema.field("created_at").type))
    posts = posts.set_column(posts.schema.get_field_index("platform"), posts.schema.field("platform"),
                             pa.array(["daily"] * posts.num_rows, pa.string()))
    return Corpus(posts=posts, users=corpus.users, edges=corpus.edges, interactions=corpus.interactions)


def test_date_only_posts_have_no_hour():
    corpus = date_only_corpus()
    examples = engagement_examples(corpus, post_vectors=fixed_vectors(corpus))
    assert np.isnan(examples.column("post_hour").to_numpy()).all()
    assert examples.column("post_weekday").to_pylist() == [4.0, 5.0, 5.0]  # Friday 1 and Saturday 2 March: kept
    posts = post_features(corpus)
    assert np.isnan(posts.column("post_hour").to_numpy()).all()
    # A post at midnight on a platform that also gives times of day keeps its hour 0.
    mixed = small_corpus()
    extra = Corpus.from_records(posts=[{"post_id": "p3", "author_id": "ann", "text": "night", "created_at": at(3, 0)}])
    mixed = Corpus(posts=pa.concat_tables([mixed.posts, extra.posts]), users=mixed.users, edges=mixed.edges,
                   interactions=mixed.interactions)
    assert post_features(mixed).column("post_hour").to_pylist() == [10.0, 10.0, 0.0]


def test_next_action_hour_of_a_date_only_source_is_missing():
    corpus = date_only_corpus()
    interactions = corpus.interactions
    field = interactions.schema.field("at")
    days = [moment.replace(hour=0, minute=0) for moment in interactions.column("at").to_pylist()]
    interactions = interactions.set_column(interactions.schema.get_field_index("at"), field,
                                           pa.array(days, field.type))
    corpus = Corpus(posts=corpus.posts, users=corpus.users, edges=corpus.edges, interactions=interactions)
    row = next_action_examples(corpus).to_pylist()[0]  # Ann's second post, after her first (date only)
    assert row["user_id"] == "ann" and np.isnan(row["hour"])


@pytest.mark.parametrize("learner", ["gradient_boosting", "logistic", "random_forest"])
def test_learners_accept_a_missing_hour(split, learner):
    train, test = split
    train = train.slice(0, 3000)
    hour = train.column("post_hour").to_numpy().copy()
    hour[::3] = np.nan  # a third of the posts from a date-only source
    train = train.set_column(train.schema.get_field_index("post_hour"), "post_hour", pa.array(hour))
    model = EngagementModel(learner=learner, random_state=0).fit(train)
    probability = model.predict_proba(test)[:, 1]
    assert np.isfinite(probability).all()
    if learner == "logistic":
        contributions = model.contributions(train.slice(0, 3))
        assert np.isfinite(np.column_stack(contributions.columns)).all()


def test_learner_options(split):
    train, test = split
    model = EngagementModel(learner_options={"max_iter": 20, "learning_rate": 0.2}, random_state=0).fit(train)
    assert model.estimator_.max_iter == 20 and model.evaluate(test)["auc"] > 0.6
    with pytest.raises(ConfigurationError, match="learner_options"):
        EngagementModel(learner_options={"shoe_size": 3}).fit(train)
