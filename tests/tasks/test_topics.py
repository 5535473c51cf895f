"""Topics: c-TF-IDF keywords, tokenisation, NPMI and diversity checked by hand; planted topics recovered; storage."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect
from socialfusion.tasks import topics as topics_module
from socialfusion.tasks.topics import (
    POST_TOPICS_TABLE,
    TOPICS_TABLE,
    TopicModel,
    _fused_in_memory,
    _kept_rows,
    _StoredVectors,
    _unit_in_place,
    class_tfidf,
    load_topic_model,
    read_topics,
    topic_coherence,
    topic_diversity,
    topic_tokens,
    topics_section,
    write_topics,
)

PETS = ["my cat sleeps all day", "the cat chased a mouse", "feeding the cat and the kitten", "a kitten and a cat play",
        "cat food is expensive", "the kitten purrs"]
MARKETS = ["stocks fell on the market today", "the market rallied and stocks rose", "bond yields and stocks",
           "investors sold stocks", "market close: stocks flat", "stocks and the bond market"]


def two_topic_embeddings(rng_seed: int = 0) -> np.ndarray:
    """Six posts around one direction, six around another, with small noise."""
    rng = np.random.default_rng(rng_seed)
    centres = np.repeat(np.eye(4, dtype=np.float32)[:2], 6, axis=0)
    return centres + 0.05 * rng.standard_normal(centres.shape).astype(np.float32)


# -- tokens, c-TF-IDF, NPMI, diversity ----------------------------------------------------------------------------


def test_english_tokens_drop_stop_words_links_mentions_numbers_and_keep_hashtag_words():
    assert topic_tokens(["RT @bob: The #Election results are in!!! https://t.co/abc 2024 vote"], language="en") == [
        ["election", "results", "vote"]]


def test_jieba_splits_chinese_into_words_without_stop_words_or_single_characters():
    tokens = topic_tokens(["我们今天在北京大学参加人工智能会议"], language="zh")[0]

    assert tokens == ["北京大学", "参加", "人工智能", "会议"]
    assert all(len(token) > 1 for token in tokens)


def test_language_is_detected_when_not_given():
    tokens = topic_tokens(["人工智能改变世界", "Artificial intelligence changes the world"])

    assert tokens == [["人工智能", "改变", "世界"], ["artificial", "intelligence", "changes", "world"]]
    with pytest.raises(ConfigurationError, match="2 texts"):
        topic_tokens(["a", "b"], language=["en"])


def test_class_tfidf_follows_the_bertopic_formula_by_hand():
    # Class 0: "cat" x2, "the" x1; class 1: "stock" x3, "the" x1. A = int((3 + 4) / 2) = 3.
    weights = class_tfidf(sp.csr_matrix(np.array([[2, 0, 1], [0, 3, 1]])))

    assert weights[0, 0] == pytest.approx(2 / 3 * math.log(1 + 3 / 2))
    assert weights[0, 2] == pytest.approx(1 / 3 * math.log(1 + 3 / 2))
    assert weights[1, 1] == pytest.approx(3 / 4 * math.log(1 + 3 / 3))
    assert weights[0, 1] == 0.0


def test_keywords_of_two_obvious_topics_are_the_words_a_person_would_pick():
    model = TopicModel(method="kmeans", n_topics=2, top_words=2, reduce_to=None)
    model.fit_texts(PETS + MARKETS, embeddings=two_topic_embeddings(), language="en")

    assert model.labels_.tolist() == [0] * 6 + [1] * 6
    # "cat" is in 5 pet posts, "kitten" in 3; "stocks" in 6 market posts, "market" in 4; none cross over.
    assert model.topics_.column("keywords").to_pylist() == [["cat", "kitten"], ["stocks", "market"]]
    assert model.topics_.column("size").to_pylist() == [6, 6]
    assert model.topics_.column("label").to_pylist() == ["cat, kitten", "stocks, market"]
    assert all(len(ids) == 3 for ids in model.topics_.column("representative_post_ids").to_pylist())


def test_chinese_keywords_are_words_not_characters():
    chinese = ["人工智能改变了医疗行业", "人工智能技术发展很快", "大家都在讨论人工智能", "足球比赛非常精彩",
               "昨晚的足球比赛太激烈了", "我喜欢看足球比赛"]
    model = TopicModel(method="kmeans", n_topics=2, top_words=3, reduce_to=None)
    model.fit_texts(chinese, embeddings=np.repeat(np.eye(2), 3, axis=0), language="zh")

    keywords = model.topics_.column("keywords").to_pylist()
    assert keywords[0][0] == "人工智能" and keywords[1][0] in {"足球", "足球比赛", "比赛"}
    assert all(len(word) > 1 for words in keywords for word in words)


def test_npmi_matches_a_hand_computation():
    documents = ["apple banana", "apple banana cherry", "cherry", "cherry apple", "durian"]
    # P(apple)=3/5, P(banana)=2/5, P(apple,banana)=2/5: NPMI = log((2/5)/(3/5*2/5)) / -log(2/5)
    apple_banana = math.log((2 / 5) / (3 / 5 * 2 / 5)) / -math.log(2 / 5)
    # banana and durian never meet: -1
    assert topic_coherence([["apple", "banana"]], documents) == pytest.approx(apple_banana)
    assert topic_coherence([["banana", "durian"]], documents) == -1.0
    assert topic_coherence([["apple", "banana"], ["banana", "durian"]], documents) == pytest.approx(
        (apple_banana - 1) / 2)
    # a three-word topic averages its three pairs; P(apple,cherry)=2/5, P(banana,cherry)=1/5, P(cherry)=3/5
    apple_cherry = math.log((2 / 5) / (3 / 5 * 3 / 5)) / -math.log(2 / 5)
    banana_cherry = math.log((1 / 5) / (2 / 5 * 3 / 5)) / -math.log(1 / 5)
    assert topic_coherence([["apple", "banana", "cherry"]], documents) == pytest.approx(
        (apple_banana + apple_cherry + banana_cherry) / 3)


def test_npmi_rejects_what_it_cannot_score():
    with pytest.raises(DataError, match="two keywords"):
        topic_coherence([["apple"]], ["apple pie"])
    with pytest.raises(ConfigurationError, match="top_k"):
        topic_coherence([["a", "b"]], ["a b"], top_k=1)


def test_diversity_is_the_share_of_unique_top_words():
    assert topic_diversity([["cat", "dog", "fish"], ["cat", "bird", "fish"]]) == pytest.approx(4 / 6)
    assert topic_diversity([["a", "b", "c"], ["d", "e", "f"]], top_k=2) == 1.0
    with pytest.raises(DataError):
        topic_diversity([[]])


# -- the model ---------------------------------------------------------------------------------------------------


def test_hdbscan_finds_dense_groups_and_marks_far_posts_as_outliers():
    rng = np.random.default_rng(0)
    groups = np.concatenate([rng.normal(centre, 0.02, (15, 4)) for centre in np.eye(4)[:3]])
    far = np.array([[0.0, 0.0, 0.0, 1.0], [-1.0, -1.0, 0.0, 0.0]])  # directions no topic points to
    texts = ["alpha post"] * 15 + ["beta post"] * 15 + ["gamma post"] * 15 + ["odd one", "another odd"]
    model = TopicModel(method="hdbscan", min_topic_size=5, top_words=1, reduce_to=None).fit_texts(
        texts, embeddings=np.concatenate([groups, far]))

    assert len(model.topics_) == 3
    assert normalized_mutual_info_score(np.repeat([0, 1, 2], 15), model.labels_[:45]) == 1.0
    assert model.labels_[45:].tolist() == [-1, -1]
    assert sorted(model.topics_.column("keywords").to_pylist()) == [["alpha"], ["beta"], ["gamma"]]


def test_incremental_assignment_matches_a_full_refit_on_the_same_posts():
    rng = np.random.default_rng(1)
    embeddings = np.concatenate([rng.normal(centre, 0.3, (40, 12)) for centre in np.eye(12)[:4] * 3])
    texts = [f"post {index}" for index in range(len(embeddings))]
    for method, n_topics in (("hdbscan", None), ("kmeans", 4)):
        model = TopicModel(method=method, n_topics=n_topics, min_topic_size=8, reduce_to=5, random_state=0)
        model.fit_texts(texts, embeddings=embeddings)
        assigned = model.assign(texts, embeddings=embeddings)

        assert assigned.column("topic_id").to_pylist() == model.labels_.tolist(), method
        np.testing.assert_allclose(assigned.column("distance").to_numpy(), model.distances_, rtol=1e-5)
        # and a new post near a topic lands in it
        near = model.assign(["new"], embeddings=embeddings[:1] + 0.01).column("topic_id").to_pylist()
        assert near == [model.labels_[0]]


def test_same_seed_same_topics():
    embeddings = two_topic_embeddings(3)
    first = TopicModel(method="kmeans", n_topics=2, reduce_to=2, random_state=7).fit_texts(PETS + MARKETS, embeddings)
    second = TopicModel(method="kmeans", n_topics=2, reduce_to=2, random_state=7).fit_texts(PETS + MARKETS, embeddings)

    assert first.labels_.tolist() == second.labels_.tolist()
    assert first.topics_.equals(second.topics_)


def test_bad_arguments_and_unfitted_use_say_what_to_do():
    with pytest.raises(ConfigurationError, match="n_topics"):
        TopicModel(method="kmeans").fit_texts(PETS, embeddings=np.ones((6, 2)))
    with pytest.raises(ConfigurationError, match="unknown topic method"):
        TopicModel(method="lda").fit_texts(PETS, embeddings=np.ones((6, 2)))
    with pytest.raises(DataError, match="embeddings must be"):
        TopicModel(method="kmeans", n_topics=2).fit_texts(PETS, embeddings=np.ones((5, 2)))
    with pytest.raises(ConfigurationError, match="not fitted"):
        TopicModel().assign(["hello"])
    given = TopicModel(method="kmeans", n_topics=2, reduce_to=None).fit_texts(PETS + MARKETS, two_topic_embeddings())
    with pytest.raises(ConfigurationError, match="fitted on given embeddings"):
        given.assign(Corpus.from_records(posts=[{"post_id": "p1", "text": "a cat"}]))
    with pytest.raises(DataError, match="do not fit this model"):
        given.assign(["a cat"], embeddings=np.ones((1, 3)))
    with pytest.raises(DataError, match="at least 20 posts"):
        TopicModel(min_topic_size=20, reduce_to=None).fit_texts(PETS, embeddings=np.eye(6))
    with pytest.raises(DataError, match="every post is an outlier"):
        TopicModel(min_topic_size=3, reduce_to=None).fit_texts(PETS, embeddings=np.eye(6))


@pytest.fixture(scope="module")
def network():
    return generate(n_users=40, n_posts=120, seed=0, n_videos=0, n_audio=0, image_fraction=0.0,
                    chinese_fraction=0.0)


def test_planted_topics_of_the_synthetic_generator_are_recovered(network):
    corpus = network.corpus
    model = TopicModel({"text": "text/minilm-int8"}, method="kmeans", n_topics=6, reduce_to=None).fit(corpus)

    truth = dict(zip(network.truth.post_ids.tolist(), network.truth.post_topic.tolist()))
    planted = [truth[post_id] for post_id in model.post_ids_]
    # reshares have no text: only posts with text are modelled
    assert len(model.post_ids_) == int(np.sum(network.truth.post_kind != "reshare"))
    assert normalized_mutual_info_score(planted, model.labels_) > 0.7  # text/tfidf: 0.15, too little text


def test_english_and_chinese_posts_on_one_subject_share_a_topic_with_the_multilingual_encoder():
    posts = [
        {"post_id": "e1", "text": "The football match last night was thrilling", "lang": "en"},
        {"post_id": "e2", "text": "What a goal in the soccer final!", "lang": "en"},
        {"post_id": "e3", "text": "Our team won the football championship", "lang": "en"},
        {"post_id": "z1", "text": "昨晚的足球比赛太精彩了", "lang": "zh"},
        {"post_id": "z2", "text": "足球决赛里那个进球太漂亮了", "lang": "zh"},
        {"post_id": "e4", "text": "I baked a chocolate cake with strawberries", "lang": "en"},
        {"post_id": "e5", "text": "This pasta recipe with garlic is delicious", "lang": "en"},
        {"post_id": "z3", "text": "我做了一个草莓巧克力蛋糕", "lang": "zh"},
        {"post_id": "z4", "text": "这个大蒜意大利面的做法很好吃", "lang": "zh"},
    ]
    model = TopicModel({"text": "text/multilingual"}, method="kmeans", n_topics=2, reduce_to=None, top_words=20)
    model.fit(Corpus.from_records(posts=posts))

    topic = dict(zip(model.post_ids_.tolist(), model.labels_.tolist()))
    assert len({topic[post] for post in ("e1", "e2", "e3", "z1", "z2")}) == 1
    assert len({topic[post] for post in ("e4", "e5", "z3", "z4")}) == 1
    assert topic["e1"] != topic["e4"]
    words = {word for keywords in model.topics_.column("keywords").to_pylist() for word in keywords}
    assert {"足球", "football"} <= words


# -- storage and report ------------------------------------------------------------------------------------------


def test_write_read_and_assign_new_posts_from_a_store(network):
    store = connect("memory://")
    ingest_corpus(network.corpus, store)
    model = TopicModel({"text": "text/minilm-int8"}, method="kmeans", n_topics=6, reduce_to=8).fit(store)

    written = write_topics(store, model)
    assigned, topics = read_topics(store)
    assert written == len(model.post_ids_) == assigned.num_rows
    assert assigned.schema.field("topic_id").type == pa.int32()
    assert topics.column("topic_id").to_pylist() == list(range(6))
    assert {POST_TOPICS_TABLE, TOPICS_TABLE} <= set(store.tables())

    loaded = load_topic_model(store)
    again = loaded.assign(store)
    by_post = dict(zip(again.column("post_id").to_pylist(), again.column("topic_id").to_pylist()))
    assert [by_post[post] for post in model.post_ids_] == model.labels_.tolist()
    assert loaded.topics_.equals(model.topics_)


@pytest.mark.parametrize("encoders", [{"text": "text/lexicon"},
                                      {"image": "image/colour-histogram", "text": "text/lexicon"}])
def test_a_store_fit_reads_its_vectors_a_block_at_a_time_and_assigns_as_from_one_matrix(encoders, monkeypatch):
    from socialfusion.store.lance import LanceStore

    network = generate(n_users=30, n_posts=90, seed=2, n_videos=0, n_audio=0, image_fraction=0.5,
                       chinese_fraction=0.0)
    store = connect("memory://")
    ingest_corpus(network.corpus, store)
    original_batches, original_rows, asked = LanceStore.read_batches, _StoredVectors.rows, []

    def small_batches(self, table, *, columns=None, batch_size=65_536):
        return original_batches(self, table, columns=columns, batch_size=16)

    def counted_rows(self, rows):
        asked.append(len(rows))
        return original_rows(self, rows)

    monkeypatch.setattr(LanceStore, "read_batches", small_batches)
    monkeypatch.setattr(_StoredVectors, "rows", counted_rows)
    monkeypatch.setattr(topics_module, "_STREAM_ROWS", 16)
    model = TopicModel(encoders, method="kmeans", n_topics=3, reduce_to=4, max_fit_posts=40).fit(store)

    # the sample's rows, then (several tables) 16 posts at a time; never every post's vectors at once
    n_posts = len(model.post_ids_)
    assert asked[0] == 40 and n_posts > 40
    if len(encoders) == 1:
        assert asked == [40]  # one table: assigned batch by batch, in store order
    else:
        assert asked[1:] == [16] * (n_posts // 16) + ([n_posts % 16] if n_posts % 16 else [])
    # the same posts, labels and distances as from one matrix of every post's fused vectors
    posts = store.read("posts", columns=["post_id", "text"])
    texts = [text or "" for text in posts.column("text").to_pylist()]
    present = np.array([bool(text.strip()) for text in texts])
    keep, matrix = _fused_in_memory(store, encoders, False, posts.column("post_id").to_pylist(), texts, present)
    assert model.post_ids_.tolist() == [posts.column("post_id")[row].as_py() for row in keep]
    labels, distances = model._assign_vectors(matrix)
    assert labels.tolist() == model.labels_.tolist()
    assert np.allclose(distances, model.distances_, atol=1e-6)
    assert len(set(model.labels_.tolist())) == 3


def test_the_posts_with_content_are_kept_in_place_block_by_block():
    vectors = np.random.default_rng(3).standard_normal((50, 3)).astype(np.float32)
    keep = np.flatnonzero(np.random.default_rng(4).random(50) < 0.6)
    expected = vectors[keep].copy()
    kept = _kept_rows(vectors, keep, block=4)  # many blocks, each moved up over rows already done
    assert np.array_equal(kept, expected)
    assert np.shares_memory(kept, vectors)  # no second matrix
    assert _kept_rows(vectors, np.arange(50)) is vectors


def test_post_vectors_are_made_finite_and_unit_length_in_place_block_by_block():
    vectors = np.random.default_rng(5).standard_normal((20, 4)).astype(np.float32)
    vectors[3, 1], vectors[7, 0], vectors[9] = np.nan, np.inf, 0.0
    unit = _unit_in_place(vectors, block=3)
    assert unit is vectors and np.isfinite(unit).all()
    norms = np.linalg.norm(unit, axis=1)
    assert np.allclose(np.delete(norms, [7, 9]), 1.0, atol=1e-6)  # a NaN entry counts as 0
    assert norms[9] == 0.0  # a zero vector stays zero


def test_read_topics_of_a_store_without_topics_says_how_to_make_them():
    with pytest.raises(StoreError, match="socialfusion topics fit"):
        read_topics(connect("memory://"))


def test_report_section_has_a_map_and_a_table_with_representative_texts():
    corpus = Corpus.from_records(posts=[{"post_id": f"p{index}", "text": text}
                                        for index, text in enumerate(PETS + MARKETS)])
    model = TopicModel(method="kmeans", n_topics=2, reduce_to=None).fit_texts(
        PETS + MARKETS, embeddings=two_topic_embeddings(), post_ids=[f"p{index}" for index in range(12)])

    section = topics_section(model, corpus)
    assert section.key == "topics"
    assert section.figure_ids() == ["topics-map", "topics-keywords"]  # undated posts: no topics over time
    table = section.blocks[1]
    columns, rows = table.head()
    assert columns == ["topic", "posts", "keywords", "representative post"]
    assert rows[0]["representative post"] in PETS and rows[1]["representative post"] in MARKETS

    store = connect("memory://")
    write_topics(store, model)
    from_tables = topics_section(read_topics(store), corpus)
    assert from_tables.summary == section.summary == "2 topics over 12 posts; none are outliers."


def test_topic_map_draws_centres_of_one_dimension_on_a_line():
    # a topic table written by another tool: three topics whose centres have a single coordinate
    topics = pa.table({"topic_id": pa.array([0, 1, 2], pa.int32()), "size": [5, 3, 2],
                       "keywords": [["cats"], ["stocks"], ["rain"]], "representative_post_ids": [[], [], []],
                       "centroid": pa.array([[0.0], [1.0], [3.0]], pa.list_(pa.float32()))})
    assigned = pa.table({"post_id": [f"p{index}" for index in range(10)],
                         "topic_id": pa.array([0] * 5 + [1] * 3 + [2] * 2, pa.int32())})

    section = topics_section((assigned, topics))

    assert section.figure_ids()[0] == "topics-map"
    scatter = section.blocks[0].figure.data[0]
    assert np.allclose(np.abs(np.diff(scatter.x)), [1.0, 2.0]) and np.allclose(scatter.y, 0.0)


def test_a_corpus_over_max_fit_posts_is_fitted_on_a_seeded_language_stratified_sample_and_fully_assigned():
    rng = np.random.default_rng(5)
    n_per = 150
    embeddings = np.concatenate([rng.normal(centre, 0.05, (n_per, 6)) for centre in np.eye(6)[:3]]).astype(np.float32)
    texts = [f"{word} story number{index % 7}" for word in ("pets", "stocks", "sport") for index in range(n_per)]
    languages = (["en"] * 3 + ["fr"]) * (len(texts) // 4) + ["en"] * (len(texts) % 4)  # a quarter French
    fitted = {}
    for bound in (100, None):
        model = TopicModel(method="kmeans", n_topics=3, reduce_to=None, max_fit_posts=bound)
        fitted[bound] = model.fit_texts(texts, embeddings, language=languages)

    sampled, full = fitted[100], fitted[None]
    assert len(sampled.fit_rows_) == 100 and len(full.fit_rows_) == len(texts)
    assert sum(languages[row] == "fr" for row in sampled.fit_rows_) == 25  # each language keeps its share
    again = TopicModel(method="kmeans", n_topics=3, reduce_to=None, max_fit_posts=100).fit_texts(
        texts, embeddings, language=languages)
    assert again.fit_rows_.tolist() == sampled.fit_rows_.tolist()  # seeded
    # every post is assigned, by the rule assign applies, and the planted groups come out of the sample's fit
    assert len(sampled.labels_) == len(texts)
    assert sampled.assign(texts, embeddings=embeddings).column("topic_id").to_pylist() == sampled.labels_.tolist()
    assert normalized_mutual_info_score(sampled.labels_, full.labels_) == 1.0
    assert sampled.topics_.column("size").to_pylist() == [n_per] * 3  # sizes count every post, not the sample
    assert sorted(words[0] for words in sampled.topics_.column("keywords").to_pylist()) == ["pets", "sport", "stocks"]
    # the card says which sample the topics were fitted on, from the model and from the store's tables
    store = connect("memory://")
    write_topics(store, sampled)
    for section in (topics_section(sampled), topics_section(read_topics(store), store)):
        notes = [block.text for block in section.blocks if type(block).__name__ == "Text"]
        assert any("seeded sample of 100 of 450 posts" in note for note in notes), notes
    assert not any("sample" in getattr(block, "text", "") for block in topics_section(full).blocks)
    with pytest.raises(ConfigurationError, match="max_fit_posts"):
        TopicModel(method="kmeans", n_topics=3, max_fit_posts=1).fit_texts(texts, embeddings)
