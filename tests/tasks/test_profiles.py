"""User profiles, profile embeddings, similar users through LanceDB, audience segments, on hand-made corpora."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from socialfusion.corpus import Corpus
from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.store import connect
from socialfusion.tasks.profiles import (
    PROFILES_TABLE,
    audience_segments,
    build_profiles,
    post_sentiment_values,
    post_text_vectors,
    profile_embeddings,
    profiles_section,
    similar_users,
    write_profiles,
)


def rhythm_corpus() -> Corpus:
    """Ann posts Mon 08:xx twice and Wed 20:xx once; Bea posts Sat 23:xx and likes Ann's post on Sun 09:xx;
    Cal only views (a view is passive: Cal has no rhythm). 2024-03-04 was a Monday."""
    return Corpus.from_records(
        users=[{"user_id": "ann"}, {"user_id": "bea"}, {"user_id": "cal"}],
        posts=[
            {"post_id": "a1", "author_id": "ann", "text": "Coffee and code #coding", "hashtags": ["coding"],
             "created_at": "2024-03-04T08:05:00Z", "lang": "en"},
            {"post_id": "a2", "author_id": "ann", "text": "More code, more coffee #coding #coffee",
             "hashtags": ["coding", "coffee"], "created_at": "2024-03-11T08:59:00Z", "lang": "en"},
            {"post_id": "a3", "author_id": "ann", "text": "Late bug hunt #coding", "hashtags": ["coding"],
             "created_at": "2024-03-06T20:30:00Z", "lang": "en"},
            {"post_id": "b1", "author_id": "bea", "text": "周末快乐", "created_at": "2024-03-09T23:10:00Z",
             "lang": "zh"},
        ],
        interactions=[{"user_id": "bea", "post_id": "a1", "kind": "like", "at": "2024-03-10T09:00:00Z"},
                      {"user_id": "cal", "post_id": "a1", "kind": "view", "at": "2024-03-10T10:00:00Z"}],
        edges=[{"src": "bea", "dst": "ann", "kind": "follow"}, {"src": "cal", "dst": "ann", "kind": "follow"}],
    )


def one_hot_vectors(corpus: Corpus, rows: dict[str, list[float]]) -> tuple[list[str], Encoded]:
    ids = corpus.posts.column("post_id").to_pylist()
    dim = len(next(iter(rows.values())))
    vectors = np.array([rows.get(post_id, [0.0] * dim) for post_id in ids], np.float32)
    return ids, Encoded(vectors, np.array([post_id not in rows for post_id in ids]), [None] * len(ids))


def test_rhythm_interests_languages_by_hand():
    corpus = rhythm_corpus()
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, {"a1": [1, 0], "a2": [1, 0],
                                                                                  "a3": [0, 1], "b1": [0, 1]}))
    table = build_profiles(corpus, sentiment=None, embeddings=embeddings)
    profiles = {row["user_id"]: row for row in table.to_pylist()}
    ann, bea, cal = profiles["ann"], profiles["bea"], profiles["cal"]
    expected_hours = [0.0] * 24
    expected_hours[8], expected_hours[20] = 2 / 3, 1 / 3
    assert ann["hour_shares"] == pytest.approx(expected_hours)
    assert ann["weekday_shares"] == pytest.approx([2 / 3, 0, 1 / 3, 0, 0, 0, 0])
    assert (ann["peak_hour"], ann["peak_weekday"], ann["n_posts"], ann["n_actions"]) == (8, 0, 3, 3)
    # Bea: a post on Saturday 23:10 and a like on Sunday 09:00; ties go to the earlier hour and day.
    assert bea["hour_shares"][23] == bea["hour_shares"][9] == 0.5
    assert bea["weekday_shares"][5] == bea["weekday_shares"][6] == 0.5
    assert (bea["peak_hour"], bea["peak_weekday"], bea["n_actions"]) == (9, 5, 2)
    assert cal["peak_hour"] is None and sum(cal["hour_shares"]) == 0 and cal["n_actions"] == 0
    assert ann["top_hashtags"] == ["coding", "coffee"] and "code" in ann["top_keywords"]
    assert "coding" not in ann["top_keywords"]
    assert ann["languages"] == ["en"] and bea["languages"] == ["zh"] and cal["languages"] == []
    assert ann["followers"] == 2 and ann["pagerank"] > bea["pagerank"]
    assert ann["sentiment_mean"] is None and ann["top_topics"] == []


def test_topics_and_sentiment_from_tables():
    corpus = rhythm_corpus()
    topics = pa.table({"post_id": ["a1", "a2", "a3"], "topic": ["tech", "tech", "night"]})
    predictions = pa.table({"post_id": ["a1", "a2", "a3", "b1"], "label": ["positive", "positive", "negative",
                                                                            "neutral"]})
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, {"a1": [1.0]}))
    profiles = {row["user_id"]: row for row in build_profiles(corpus, post_topics=topics, sentiment=predictions,
                                                              embeddings=embeddings).to_pylist()}
    assert profiles["ann"]["top_topics"] == ["tech", "night"]
    assert profiles["ann"]["sentiment_mean"] == pytest.approx(1 / 3)
    assert profiles["ann"]["positive_share"] == pytest.approx(2 / 3)
    assert profiles["ann"]["negative_share"] == pytest.approx(1 / 3)
    assert profiles["bea"]["sentiment_mean"] == 0.0
    assert post_sentiment_values(corpus, None) == {}
    with pytest.raises(ConfigurationError, match="sentiment must be"):
        build_profiles(corpus, sentiment="vibes", embeddings=embeddings)
    with pytest.raises(ConfigurationError, match="post_topics"):
        build_profiles(corpus, post_topics=pa.table({"id": ["a1"]}), sentiment=None, embeddings=embeddings)


def test_embeddings_are_normalised_and_missing_users_are_flagged():
    corpus = rhythm_corpus()
    vectors = one_hot_vectors(corpus, {"a1": [3.0, 0.0], "a2": [0.0, 4.0], "b1": [0.0, 2.0]})
    found = profile_embeddings(corpus, post_vectors=vectors)
    assert found.user_ids == ["ann", "bea", "cal"]
    np.testing.assert_allclose(found.vectors[0], [0.6, 0.8], rtol=1e-6)  # the mean [1.5, 2] scaled to length 1
    np.testing.assert_allclose(np.linalg.norm(found.vectors[:2], axis=1), 1.0, rtol=1e-6)
    assert found.missing.tolist() == [False, False, True]
    assert not found.vectors[2].any()
    encoded = profile_embeddings(corpus, text_encoder="text/tfidf")
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors[~encoded.missing], axis=1), 1.0, rtol=1e-5)
    assert encoded.missing.tolist()[2] is True
    at_once = profile_embeddings(corpus, post_vectors=post_text_vectors(corpus, text_encoder="text/tfidf"))
    np.testing.assert_array_equal(encoded.vectors, at_once.vectors)  # a block at a time: the same vectors
    with pytest.raises(DataError, match="one vector per post"):
        profile_embeddings(corpus, post_vectors=(["a1"], vectors[1]))
    with pytest.raises(ConfigurationError, match="not a text encoder"):
        profile_embeddings(corpus, text_encoder="image/hog")


def many_users_corpus(n_per_group: int = 6, seed: int = 0) -> tuple[Corpus, dict[str, list[float]]]:
    """Two obvious audiences: cat people posting #cats in the morning, football fans posting #football at night."""
    rng = np.random.default_rng(seed)
    posts, vectors, interactions = [], {}, []
    for group, (tag, hour) in enumerate((("cats", 8), ("football", 21))):
        for member in range(n_per_group):
            user = f"{tag}_{member}"
            for number in range(3):
                post_id = f"{user}_p{number}"
                posts.append({"post_id": post_id, "author_id": user, "text": f"post about {tag}", "hashtags": [tag],
                              "created_at": f"2024-03-0{number + 1}T{hour:02d}:{member:02d}:00Z", "lang": "en",
                              "media": [{"kind": "image", "uri": "x.png"}] if group == 0 and number == 0 else []})
                direction = np.eye(4)[group] + rng.normal(0, 0.05, 4)
                vectors[post_id] = direction.tolist()
    for member in range(n_per_group):  # cat people view cat posts; they like only those with an image
        for other in range(n_per_group):
            if other != member:
                for number in range(3):
                    post_id = f"cats_{other}_p{number}"
                    interactions.append({"user_id": f"cats_{member}", "post_id": post_id, "kind": "view",
                                         "at": "2024-03-05T08:30:00Z"})
                    if number == 0:
                        interactions.append({"user_id": f"cats_{member}", "post_id": post_id, "kind": "like",
                                             "at": "2024-03-05T08:31:00Z"})
    return Corpus.from_records(posts=posts, interactions=interactions), vectors


def test_segments_recover_two_obvious_groups():
    corpus, vectors = many_users_corpus()
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, vectors))
    profiles = build_profiles(corpus, sentiment=None, embeddings=embeddings)
    segments = audience_segments(profiles, corpus=corpus, random_state=0)
    truth = [user.startswith("cats") for user in segments.assignments.column("user_id").to_pylist()]
    assert adjusted_rand_score(truth, segments.assignments.column("segment").to_pylist()) == 1.0
    assert segments.silhouette > 0.5
    cards = {card["top_interests"][0]: card for card in segments.cards.to_pylist()}
    assert set(cards) == {"cats", "football"}
    assert cards["cats"]["size"] == 6 and cards["cats"]["peak_hours"][0] == 8
    assert cards["football"]["peak_hours"][0] == 21 and cards["football"]["languages"] == ["en"]
    # Cat people liked the posts with an image (1 in 3 of what they saw): lift 3 for images.
    assert cards["cats"]["what_works"][0] == "image x3.00"
    assert cards["football"]["what_works"] == []  # football fans engaged with nothing
    again = audience_segments(profiles, corpus=corpus, random_state=0)
    assert again.assignments.equals(segments.assignments)
    fixed = audience_segments(profiles, n_segments=3, random_state=0)
    assert len(set(fixed.assignments.column("segment").to_pylist())) == 3
    assert all(card["what_works"] == [] for card in fixed.cards.to_pylist())  # no corpus: no lift
    section = profiles_section(profiles, segments)
    assert section.key == "profiles" and section.blocks[0].values["segments"] == 2
    assert "12 users in 2 audience segments" in section.summary


def test_segment_errors():
    corpus, vectors = many_users_corpus(n_per_group=1)
    profiles = build_profiles(corpus, sentiment=None,
                              embeddings=profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, vectors)))
    with pytest.raises(DataError, match="at least 3 users"):
        audience_segments(profiles)
    corpus, vectors = many_users_corpus(n_per_group=2)
    profiles = build_profiles(corpus, sentiment=None,
                              embeddings=profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, vectors)))
    with pytest.raises(ConfigurationError, match="n_segments"):
        audience_segments(profiles, n_segments=5)


def test_profiles_name_interests_with_the_store_topic_model(tmp_path):
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE

    corpus = rhythm_corpus()
    store = connect(tmp_path / "store")
    store.write(POST_TOPICS_TABLE, pa.table({"post_id": ["a1", "a2", "a3"], "topic_id": [1, 1, -1],
                                             "distance": [0.1, 0.2, 0.9]}), mode="overwrite")
    store.write(TOPICS_TABLE, pa.table({"topic_id": [0, 1], "label": ["food, recipe", "ai, chips"]}), mode="overwrite")
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, {"a1": [1.0]}))
    profiles = {row["user_id"]: row for row in build_profiles(corpus, store=store, sentiment=None,
                                                              embeddings=embeddings).to_pylist()}
    assert profiles["ann"]["top_topics"] == ["ai, chips"]  # a3 is an outlier (-1): no topic
    assert profiles["bea"]["top_topics"] == []
    given = build_profiles(corpus, store=store, sentiment=None, embeddings=embeddings,
                           post_topics=pa.table({"post_id": ["a3"], "topic": ["night"]}))
    assert given.column("top_topics").to_pylist()[0] == ["night"]  # given topics win over the store's


def test_similar_users_through_lancedb_match_exact_cosine(tmp_path):
    corpus, _ = many_users_corpus(n_per_group=10, seed=3)
    rng = np.random.default_rng(7)
    vectors = {post_id: rng.normal(size=16).tolist() for post_id in corpus.posts.column("post_id").to_pylist()}
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, vectors))
    profiles = build_profiles(corpus, sentiment=None, embeddings=embeddings)
    store = connect(tmp_path / "store")
    assert write_profiles(store, profiles) == 20 and PROFILES_TABLE in store.tables()
    user = "cats_0"
    found = similar_users(store, user, k=5)
    row = embeddings.user_ids.index(user)
    cosine = embeddings.vectors @ embeddings.vectors[row]
    expected = [embeddings.user_ids[i] for i in np.argsort(-cosine) if embeddings.user_ids[i] != user][:5]
    assert found.column("user_id").to_pylist() == expected
    np.testing.assert_allclose(found.column("similarity").to_numpy(), np.sort(cosine)[::-1][1:6], rtol=1e-5)
    exact = similar_users(store, user, k=5, exact=True)
    assert exact.column("user_id").to_pylist() == expected


def test_similar_users_errors(tmp_path):
    store = connect(tmp_path / "store")
    with pytest.raises(DataError, match="profiles build"):
        similar_users(store, "ann")
    corpus = rhythm_corpus()
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, {"a1": [1.0, 0.0]}))
    write_profiles(store, build_profiles(corpus, sentiment=None, embeddings=embeddings))
    with pytest.raises(DataError, match="no profile"):
        similar_users(store, "nobody")
    with pytest.raises(DataError, match="no text to embed"):
        similar_users(store, "cal")
    with pytest.raises(ConfigurationError, match="k must be"):
        similar_users(store, "ann", k=0)
    assert similar_users(store, "ann").num_rows == 0  # nobody else has an embedding
    with pytest.raises(ConfigurationError, match="user_id"):
        write_profiles(store, pa.table({"x": [1]}))


def test_users_known_only_from_interactions_get_a_profile():
    corpus = rhythm_corpus()
    extra = Corpus.from_records(interactions=[{"user_id": "dan", "post_id": "a1", "kind": "comment",
                                               "at": "2024-03-05T14:20:00Z"}])
    corpus = Corpus(posts=corpus.posts, users=corpus.users, edges=corpus.edges,
                    interactions=pa.concat_tables([corpus.interactions, extra.interactions]))
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, {"a1": [1.0, 0.0]}))
    assert embeddings.user_ids == ["ann", "bea", "cal", "dan"] and embeddings.missing.tolist()[3]
    dan = build_profiles(corpus, sentiment=None, embeddings=embeddings).to_pylist()[3]
    assert (dan["user_id"], dan["peak_hour"], dan["peak_weekday"], dan["n_posts"]) == ("dan", 14, 1, 0)


def date_only(corpus: Corpus) -> Corpus:
    """The same corpus with every timestamp cut to its date (00:00 UTC), as a daily export gives it."""
    import pyarrow.compute as pc

    def to_date(column):
        return pc.cast(pc.cast(pc.cast(column, pa.timestamp("us")), pa.date32()), pa.timestamp("us")).cast(
            column.type)

    posts = corpus.posts.set_column(corpus.posts.column_names.index("created_at"), "created_at",
                                    to_date(corpus.posts.column("created_at")))
    interactions = corpus.interactions.set_column(corpus.interactions.column_names.index("at"), "at",
                                                  to_date(corpus.interactions.column("at")))
    return Corpus(posts=posts, users=corpus.users, interactions=interactions, edges=corpus.edges)


def test_dates_without_times_give_no_hours():
    corpus = date_only(rhythm_corpus())
    profiles = {row["user_id"]: row for row in build_profiles(corpus, text_encoder="text/tfidf",
                                                               sentiment=None).to_pylist()}
    ann, bea = profiles["ann"], profiles["bea"]
    assert ann["peak_hour"] is None and sum(ann["hour_shares"]) == 0  # not "peak hour 0"
    assert (ann["peak_weekday"], ann["n_actions"]) == (0, 3)  # the dates still tell the weekday
    assert ann["weekday_shares"][0] == pytest.approx(2 / 3)
    assert bea["peak_hour"] is None and bea["n_actions"] == 2

    many, vectors = many_users_corpus()
    dated = date_only(many)
    embeddings = profile_embeddings(dated, post_vectors=one_hot_vectors(dated, vectors))
    segments = audience_segments(build_profiles(dated, sentiment=None, embeddings=embeddings), corpus=dated,
                                 random_state=0)
    assert all(card["peak_hours"] == [] for card in segments.cards.to_pylist())
    works = [trait for card in segments.cards.to_pylist() for trait in card["what_works"]]
    assert works and not any("h)" in trait for trait in works)  # no "night (0-6h)" band made up from midnight


def test_a_date_only_platform_gives_no_hours_while_a_timed_one_does():
    corpus = Corpus.from_records(posts=[
        {"post_id": "w1", "author_id": "wen", "text": "a", "created_at": "2020-03-02T00:00:00Z", "platform": "weibo"},
        {"post_id": "w2", "author_id": "wen", "text": "b", "created_at": "2020-03-03T00:00:00Z", "platform": "weibo"},
        {"post_id": "x1", "author_id": "xia", "text": "c", "created_at": "2020-03-02T00:00:00Z", "platform": "x"},
        {"post_id": "x2", "author_id": "xia", "text": "d", "created_at": "2020-03-03T00:00:00Z", "platform": "x"},
        {"post_id": "x3", "author_id": "xia", "text": "e", "created_at": "2020-03-03T07:15:00Z", "platform": "x"}])
    profiles = {row["user_id"]: row for row in build_profiles(corpus, text_encoder="text/tfidf",
                                                               sentiment=None).to_pylist()}
    assert profiles["wen"]["peak_hour"] is None
    assert profiles["xia"]["peak_hour"] == 0 and profiles["xia"]["hour_shares"][7] == pytest.approx(1 / 3)


def noise_profiles(n_users: int = 120, seed: int = 0) -> pa.Table:
    """Profiles whose embeddings, hours and hashtags are drawn at random, independently for every user."""
    rng = np.random.default_rng(seed)
    tags = [f"tag{number}" for number in range(12)]
    return pa.table({
        "user_id": [f"u{index:03d}" for index in range(n_users)],
        "vector": [row.tolist() for row in rng.normal(size=(n_users, 16))],
        "hour_shares": [(row / row.sum()).tolist() for row in rng.random((n_users, 24))],
        "top_hashtags": [sorted(rng.choice(tags, size=3, replace=False).tolist()) for _ in range(n_users)],
        "languages": [["en"]] * n_users,
        "embedding_missing": [False] * n_users,
    })


def test_segments_of_noise_are_refused_and_the_card_says_so():
    profiles = noise_profiles()
    segments = audience_segments(profiles, random_state=0)
    assert segments.rejected_k is not None and segments.cards.num_rows == 1
    assert set(segments.assignments.column("segment").to_pylist()) == {0} and segments.cards["size"][0].as_py() == 120
    line = segments.describe()
    assert line.startswith("no segment structure found (best silhouette ")
    assert line.endswith(f"k={segments.rejected_k})")
    section = profiles_section(profiles, segments)
    assert section.summary == f"120 users; {line}." and section.blocks[0].values["segments"] == 0
    fixed = audience_segments(profiles, n_segments=3, random_state=0)  # a number asked for is given
    assert fixed.rejected_k is None and fixed.cards.num_rows == 3


def test_stratified_sample_is_exact_seeded_and_keeps_each_stratum_share():
    from socialfusion.tasks._clustering import stratified_sample

    strata = np.array([0] * 600 + [1] * 300 + [2] * 100)
    chosen = stratified_sample(strata, 100, random_state=3)
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100 and (np.diff(chosen) > 0).all()
    assert np.bincount(strata[chosen]).tolist() == [60, 30, 10]
    assert stratified_sample(strata, 100, random_state=3).tolist() == chosen.tolist()
    assert stratified_sample(strata, 100, random_state=4).tolist() != chosen.tolist()
    assert stratified_sample(["en", None, "en"], 5).tolist() == [0, 1, 2]  # all rows when the bound is not reached


def test_segments_of_many_users_are_searched_on_a_bounded_sample_and_the_card_says_so():
    corpus, vectors = many_users_corpus(n_per_group=30)
    embeddings = profile_embeddings(corpus, post_vectors=one_hot_vectors(corpus, vectors))
    profiles = build_profiles(corpus, sentiment=None, embeddings=embeddings)
    segments = audience_segments(profiles, corpus=corpus, random_state=0, max_search_users=20)
    full = audience_segments(profiles, corpus=corpus, random_state=0, max_search_users=None)

    assert segments.searched_users == 20 and full.searched_users == 60
    truth = [user.startswith("cats") for user in segments.assignments.column("user_id").to_pylist()]
    assert adjusted_rand_score(truth, segments.assignments.column("segment").to_pylist()) == 1.0  # every user placed
    assert segments.assignments.equals(full.assignments)  # the sample's segments are the full search's
    assert audience_segments(profiles, corpus=corpus, random_state=0, max_search_users=20).assignments.equals(
        segments.assignments)
    notes = [block.text for block in profiles_section(profiles, segments).blocks if hasattr(block, "text")]
    assert any("seeded sample of 20 of 60 users, stratified by activity" in note for note in notes), notes
    assert not any("sample" in getattr(block, "text", "") for block in profiles_section(profiles, full).blocks)


def test_text_vectors_fit_on_a_bounded_sample_and_embed_every_post():
    from socialfusion.datasets.synthetic import generate
    from socialfusion.tasks.profiles import post_text_vectors

    corpus = generate(n_users=60, n_posts=300, seed=0, n_videos=0, n_audio=0, image_fraction=0.0).corpus
    ids, full = post_text_vectors(corpus, text_encoder="text/tfidf")
    samples = []
    sampled_ids, sampled = post_text_vectors(corpus, text_encoder="text/tfidf", max_fit_texts=100,
                                             on_sample=lambda used, total: samples.append((used, total)))
    texts = sum(1 for text in corpus.posts.column("text").to_pylist() if text and text.strip())
    assert samples == [(100, texts)]  # told what it learned from, for the report card's note
    assert sampled_ids == ids and sampled.vectors.shape[0] == corpus.posts.num_rows
    # every post with text is embedded, but for the few whose every word is outside the sample's vocabulary
    assert (sampled.missing >= full.missing).all() and sampled.missing.sum() - full.missing.sum() <= 0.01 * len(ids)
    assert not np.allclose(sampled.vectors, full.vectors)  # a different fit
    again = post_text_vectors(corpus, text_encoder="text/tfidf", max_fit_texts=100)[1]
    np.testing.assert_array_equal(again.vectors, sampled.vectors)  # the sample is seeded
    unbounded = post_text_vectors(corpus, text_encoder="text/tfidf", max_fit_texts=10_000,
                                  on_sample=lambda used, total: samples.append((used, total)))[1]
    assert len(samples) == 1  # no sample, no call
    np.testing.assert_array_equal(unbounded.vectors, full.vectors)  # a bound above the corpus changes nothing


def test_profile_embeddings_sum_posts_a_block_at_a_time(monkeypatch):
    """Authors' means come out the same whether their posts are summed in one block or across many."""
    from socialfusion.tasks import profiles

    rng = np.random.default_rng(0)
    authors = ["a", "b", "c", "a", "b", "a", None, "ghost", "a", "c"]
    corpus = Corpus.from_records(users=[{"user_id": user} for user in ("a", "b", "c", "d")],
                                 posts=[{"post_id": f"p{index}", "author_id": author, "text": "x"}
                                        for index, author in enumerate(authors)])
    vectors = rng.normal(size=(len(authors), 5)).astype(np.float32)
    missing = np.zeros(len(authors), bool)
    missing[3] = True  # a's second post has no vector: it must not count
    encoded = (corpus.posts.column("post_id").to_pylist(), Encoded(vectors, missing, [None] * len(authors)))
    expected = {user: vectors[[i for i, author in enumerate(authors) if author == user and not missing[i]]].sum(0)
                for user in ("a", "b", "c")}
    for block in (3, 65_536):
        monkeypatch.setattr(profiles, "_POST_BLOCK", block)
        found = profiles.profile_embeddings(corpus, post_vectors=encoded)
        assert found.user_ids == ["a", "b", "c", "d", "ghost"]
        assert found.missing.tolist() == [False, False, False, True, False]
        for row, user in enumerate(("a", "b", "c")):
            np.testing.assert_allclose(found.vectors[row], expected[user] / np.linalg.norm(expected[user]), rtol=1e-6)


def test_top_names_per_user_count_rows_break_ties_by_name_and_skip_nobody():
    from socialfusion.tasks.profiles import _top_per_user

    user = np.array([0, 0, 0, 0, 2, 2, -1, 2])
    names = pa.array(["b", "a", "b", "c", "z", "y", "b", "y"])
    assert _top_per_user(user, names, 4, 2).to_pylist() == [["b", "a"], [], ["y", "z"], []]
    counted = _top_per_user(user, names, 4, 5, counts=np.array([1, 5, 1, 1, 3, 1, 9, 1]))
    assert counted.to_pylist() == [["a", "b", "c"], [], ["z", "y"], []]  # a: 5, b: 2, c: 1; z: 3 vs y: 2
