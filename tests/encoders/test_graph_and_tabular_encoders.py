"""Graph encoders (spectral, random walk) and metadata encoders (posts, users): planted truth, inputs checked by eye."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate, planted_follow_graph
from socialfusion.encoders import Encoder, encoder_info, get_encoder
from socialfusion.encoders.graph import (
    NO_TIES,
    NOT_IN_GRAPH,
    RandomWalkGraphEncoder,
    SpectralGraphEncoder,
    build_user_graph,
)
from socialfusion.encoders.tabular import PostMetadataEncoder, UserMetadataEncoder
from socialfusion.exceptions import ConfigurationError

FOLLOWS_ONLY = {"edge_weights": {"follow": 1.0}, "interaction_weights": {}}
# Two triangles a-b-c and d-e-f joined by the edge c-d.
TWO_TRIANGLES = [("a", "b"), ("b", "c"), ("a", "c"), ("d", "e"), ("e", "f"), ("d", "f"), ("c", "d")]


@pytest.fixture(scope="module")
def network():
    return generate(n_users=200, n_posts=600, seed=7, n_videos=0, n_audio=0)


def _edges_corpus(pairs, kind="friend", **tables) -> Corpus:
    return Corpus.from_records(edges=[{"src": src, "dst": dst, "kind": kind} for src, dst in pairs], **tables)


def _community_ari(encoder, network) -> float:
    encoded = encoder.encode(list(network.truth.user_ids))
    assert not encoded.missing.any()
    n_communities = len(np.unique(network.truth.community))
    clusters = KMeans(n_communities, n_init=10, random_state=0).fit_predict(encoded.vectors)
    return adjusted_rand_score(network.truth.community, clusters)


# ------------------------------------------------------------------------------------------------ graph


@pytest.mark.parametrize(
    "encoder",
    [
        SpectralGraphEncoder(**FOLLOWS_ONLY),
        SpectralGraphEncoder(),
        SpectralGraphEncoder(symmetric=False, **FOLLOWS_ONLY),
        RandomWalkGraphEncoder(**FOLLOWS_ONLY),
        RandomWalkGraphEncoder(),
    ],
    ids=["spectral-follows", "spectral-all-ties", "spectral-directed", "random-walk-follows", "random-walk-all-ties"],
)
def test_planted_communities_are_recovered_from_the_embedding(encoder, network):
    # Observed ARI 0.97-1.00 over seeds 0-9 for every variant: the planted blocks are strong (10 follows inside
    # a community per user against 2 across).
    ari = _community_ari(encoder.fit(network.corpus), network)
    assert ari >= 0.9, f"{encoder.name}: adjusted Rand index {ari:.2f}"


@pytest.mark.parametrize("encoder_type", [SpectralGraphEncoder, RandomWalkGraphEncoder])
def test_the_same_seed_gives_the_same_embedding(encoder_type, network):
    users = list(network.truth.user_ids)
    first = encoder_type(dim=16, random_state=3).fit(network.corpus).encode(users).vectors
    second = encoder_type(dim=16, random_state=3).fit(network.corpus).encode(users).vectors
    np.testing.assert_array_equal(first, second)
    other_seed = encoder_type(dim=16, random_state=4).fit(network.corpus).encode(users).vectors
    assert other_seed.shape == first.shape and np.isfinite(other_seed).all()


@pytest.mark.parametrize("encoder_type", [SpectralGraphEncoder, RandomWalkGraphEncoder])
def test_unknown_isolated_and_absent_users_are_missing_rows_with_the_reason(encoder_type):
    corpus = _edges_corpus(TWO_TRIANGLES, users=[{"user_id": "loner"}, {"user_id": "a"}])
    encoder = encoder_type(dim=4).fit(corpus)
    encoded = encoder.encode(["a", "stranger", "loner", None])
    assert encoded.vectors.shape == (4, 4) and encoded.vectors.dtype == np.float32
    assert encoded.missing.tolist() == [False, True, True, True]
    assert encoded.reasons == [None, NOT_IN_GRAPH, NO_TIES, "no input"]
    assert not encoded.vectors[1:].any()


@pytest.mark.parametrize("encoder", [SpectralGraphEncoder(dim=2), RandomWalkGraphEncoder(dim=2)],
                         ids=["spectral", "random-walk"])
def test_users_of_the_same_triangle_are_closer_than_users_across_the_bridge(encoder):
    users = list("abcdef")
    vectors = encoder.fit(_edges_corpus(TWO_TRIANGLES)).encode(users).vectors
    distance = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    triangle = {user: set("abc") if user in "abc" else set("def") for user in users}
    for i, user in enumerate(users):
        mates = [users.index(other) for other in triangle[user] - {user}]
        strangers = [users.index(other) for other in set(users) - triangle[user]]
        assert distance[i, mates].max() < distance[i, strangers].min(), (user, distance.round(2))


@pytest.mark.parametrize("encoder_type", [SpectralGraphEncoder, RandomWalkGraphEncoder])
def test_version_follows_the_graph_and_the_settings(encoder_type):
    unfitted = encoder_type(dim=2)
    assert unfitted.version.endswith("-unfitted")
    fitted = encoder_type(dim=2).fit(_edges_corpus(TWO_TRIANGLES))
    assert fitted.version == encoder_type(dim=2).fit(_edges_corpus(TWO_TRIANGLES[::-1])).version
    assert fitted.version.split("-")[1] == "14t"  # 7 friend edges, symmetrised
    with_one_more_edge = encoder_type(dim=2).fit(_edges_corpus([*TWO_TRIANGLES, ("a", "f")]))
    assert with_one_more_edge.version != fitted.version
    other_settings = encoder_type(dim=3).fit(_edges_corpus(TWO_TRIANGLES))
    assert other_settings.version != fitted.version
    assert other_settings.version.split("-", 1)[1] == fitted.version.split("-", 1)[1]


def test_graph_encoders_are_registered_and_refuse_to_encode_before_fit():
    for name, encoder_type in (("graph/spectral", SpectralGraphEncoder), ("graph/random-walk", RandomWalkGraphEncoder)):
        assert encoder_info(name) == {"name": name, "modality": "graph", "extra": "graph"}
        encoder = get_encoder(name, dim=8)
        assert isinstance(encoder, encoder_type) and isinstance(encoder, Encoder) and encoder.dim == 8
        with pytest.raises(ConfigurationError, match="fit"):
            encoder.encode(["a"])


def test_user_graph_weighs_edges_and_interactions_by_kind():
    corpus = Corpus.from_records(
        posts=[{"post_id": "p1", "author_id": "a", "text": "hi"}, {"post_id": "p2", "author_id": "c", "text": "yo"}],
        edges=[{"src": "a", "dst": "b", "kind": "follow"}, {"src": "a", "dst": "b", "kind": "mention", "weight": 3.0}],
        interactions=[
            {"user_id": "c", "post_id": "p1", "kind": "like"},
            {"user_id": "c", "post_id": "p1", "kind": "view"},  # weight 0: no tie
            {"user_id": "c", "post_id": "p2", "kind": "share"},  # own post: no self-tie
            {"user_id": "b", "post_id": "gone", "kind": "like"},  # post not in the corpus: no tie
        ],
    )
    graph = build_user_graph(corpus, edge_weights={"follow": 1.0, "mention": 0.5}, symmetric=False)
    assert graph.user_ids.tolist() == ["a", "b", "c"]
    assert graph.adjacency.toarray().tolist() == [[0.0, 2.5, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    symmetric = build_user_graph(corpus, edge_weights={"follow": 1.0, "mention": 0.5})
    assert symmetric.adjacency.toarray()[1, 0] == 2.5 and symmetric.n_ties == 4
    with pytest.raises(ConfigurationError, match="unknown kinds"):
        build_user_graph(corpus, edge_weights={"poke": 1.0})
    with pytest.raises(ConfigurationError, match="non-negative"):
        build_user_graph(corpus, interaction_weights={"like": -1.0})


def test_both_encoders_fit_a_planted_partition_of_10k_users():
    corpus, _ = planted_follow_graph(10_000, 100_000, 20, seed=0)
    for encoder in (SpectralGraphEncoder(), RandomWalkGraphEncoder()):
        encoder.fit(corpus)
        assert encoder.embedding_.shape == (10_000, 64)
        assert np.isfinite(encoder.embedding_).all()


# --------------------------------------------------------------------------------------------- metadata


def _post_features(encoder, posts):
    encoded = encoder.encode(posts)
    return encoded, [dict(zip(encoder.feature_names, row.astype(float))) for row in encoded.vectors]


def test_post_metadata_by_eye():
    monday_6am = {
        "post_id": "p1", "author_id": "u1", "created_at": dt.datetime(2024, 5, 6, 6, 0, tzinfo=dt.UTC),
        "text": "Sunrise #run #morning @coach", "hashtags": ["run", "morning"], "mentions": ["coach"],
        "urls": [], "media": [{"kind": "image", "uri": "x.png"}], "reply_to": "p0",
        "like_count": 0, "share_count": None, "reply_count": 4, "view_count": 99,
    }
    thursday_6pm = {"post_id": "p2", "created_at": "2024-05-09T18:00:00+00:00", "text": "", "reshare_of": "p1",
                    "media": [{"kind": "video", "uri": "v.mp4"}, {"kind": "audio", "uri": "a.wav"}]}
    encoder = PostMetadataEncoder()
    encoded, (first, second) = _post_features(encoder, [monday_6am, thursday_6pm])
    assert not encoded.missing.any()
    assert first["hour_sin"] == pytest.approx(1.0) and first["hour_cos"] == pytest.approx(0.0, abs=1e-6)
    assert first["weekday_sin"] == pytest.approx(0.0) and first["weekday_cos"] == pytest.approx(1.0)
    assert first["text_length_log1p"] == pytest.approx(math.log1p(len(monday_6am["text"])))
    assert (first["hashtag_count"], first["mention_count"], first["url_count"]) == (2.0, 1.0, 0.0)
    assert (first["has_image"], first["has_video"], first["has_audio"]) == (1.0, 0.0, 0.0)
    assert (first["is_reply"], first["is_reshare"], first["is_quote"]) == (1.0, 0.0, 0.0)
    assert first["like_count_log1p"] == 0.0 and first["like_count_missing"] == 0.0
    assert first["share_count_log1p"] == 0.0 and first["share_count_missing"] == 1.0
    assert first["view_count_log1p"] == pytest.approx(math.log(100))
    assert first["author_followers_missing"] == 1.0  # not fitted: author counts unknown
    assert second["hour_sin"] == pytest.approx(-1.0) and second["hour_cos"] == pytest.approx(0.0, abs=1e-6)
    assert second["weekday_sin"] == pytest.approx(math.sin(2 * math.pi * 3 / 7), abs=1e-6)
    assert (second["has_image"], second["has_video"], second["has_audio"]) == (0.0, 1.0, 1.0)
    assert (second["is_reply"], second["is_reshare"], second["text_length_log1p"]) == (0.0, 1.0, 0.0)


def test_post_metadata_turns_absent_fields_into_indicators_and_bad_rows_into_missing_rows():
    encoder = PostMetadataEncoder()
    encoded, features = _post_features(encoder, [{"post_id": "bare"}, None, "text", {"like_count": "many"},
                                                 {"created_at": "not a time", "view_count": -1}])
    assert np.isfinite(encoded.vectors).all()
    assert encoded.missing.tolist() == [False, True, True, True, True]
    assert encoded.reasons[1] == "not a post record: expected a mapping, got NoneType"
    assert encoded.reasons[3].startswith("unreadable post metadata")
    bare = features[0]
    assert bare["created_at_missing"] == 1.0 and bare["hour_sin"] == bare["hour_cos"] == 0.0
    assert all(bare[f"{count}_missing"] == 1.0 for count in ("like_count", "share_count", "reply_count", "view_count"))
    assert encoder.dim == len(encoder.feature_names) == len(set(encoder.feature_names)) == encoded.vectors.shape[1]


def test_post_metadata_reads_an_arrow_table_like_its_rows_and_learns_author_counts(network):
    posts = network.corpus.posts
    encoder = PostMetadataEncoder()
    unfitted_version = encoder.version
    from_table = encoder.encode(posts)
    from_rows = encoder.encode(posts.to_pylist())
    np.testing.assert_array_equal(from_table.vectors, from_rows.vectors)
    assert not from_table.missing.any() and np.isfinite(from_table.vectors).all()
    has_image = encoder.feature_names.index("has_image")
    assert from_table.vectors[:, has_image].sum() > 0

    fitted = encoder.fit(network.corpus).encode(posts.slice(0, 1))
    assert encoder.version != unfitted_version
    users = network.corpus.users.to_pylist()
    author = next(user for user in users if user["user_id"] == posts.column("author_id")[0].as_py())
    features = dict(zip(encoder.feature_names, fitted.vectors[0]))
    assert features["author_followers_log1p"] == pytest.approx(math.log1p(author["followers_count"]))
    assert features["author_following_missing"] == 0.0


def test_user_metadata_by_eye():
    corpus = Corpus.from_records(
        users=[
            {"user_id": "u1", "created_at": "2024-01-01T00:00:00Z", "followers_count": 9, "following_count": 0,
             "profile_text": "Runner."},
            {"user_id": "u2"},
        ],
        posts=[
            {"post_id": "p1", "author_id": "u1", "text": "a", "lang": "en", "created_at": "2024-01-03T09:30:00Z"},
            {"post_id": "p2", "author_id": "u1", "text": "b", "lang": "zh", "created_at": "2024-01-05T21:00:00Z"},
            {"post_id": "p3", "author_id": "u3", "text": "c", "lang": "en", "created_at": "2024-01-11T00:00:00Z"},
            {"post_id": "p4", "author_id": "u3", "text": "d", "created_at": "2024-01-11T00:00:00Z"},
        ],
    )
    encoder = UserMetadataEncoder(n_languages=3).fit(corpus)
    assert encoder.reference_time_ == dt.datetime(2024, 1, 11, tzinfo=dt.UTC)  # the latest post
    assert encoder.feature_names[-6:] == ("lang_share_en", "lang_share_zh", "lang_share_unused_3",
                                          "lang_share_other", "profile_text_length_log1p", "profile_text_missing")
    encoded = encoder.encode(["u1", "u2", "u3", "nobody"])
    assert encoded.missing.tolist() == [False, False, False, True]
    assert encoded.reasons[3] == "user not in the corpus"
    u1, u2, u3 = (dict(zip(encoder.feature_names, row.astype(float))) for row in encoded.vectors[:3])
    assert u1["account_age_days_log1p"] == pytest.approx(math.log1p(10))
    assert u1["followers_log1p"] == pytest.approx(math.log(10)) and u1["following_log1p"] == 0.0
    assert u1["follow_ratio_log"] == pytest.approx(math.log(10))
    span_days = (dt.datetime(2024, 1, 11) - dt.datetime(2024, 1, 3, 9, 30)).total_seconds() / 86_400
    assert u1["posts_per_day_log1p"] == pytest.approx(math.log1p(2 / span_days))  # over the corpus's span
    assert (u1["hour_share_08_12"], u1["hour_share_20_24"], u1["no_posts"]) == (0.5, 0.5, 0.0)
    assert (u1["lang_share_en"], u1["lang_share_zh"], u1["lang_share_other"]) == (0.5, 0.5, 0.0)
    assert u1["profile_text_length_log1p"] == pytest.approx(math.log1p(7)) and u1["profile_text_missing"] == 0.0
    assert (u2["no_posts"], u2["account_age_missing"], u2["followers_missing"], u2["follow_ratio_log"]) == (
        1.0, 1.0, 1.0, 0.0)
    assert (u3["account_age_missing"], u3["hour_share_00_04"], u3["lang_share_en"], u3["lang_share_other"]) == (
        1.0, 1.0, 0.5, 0.5)


def test_user_metadata_on_the_synthetic_network(network):
    encoder = UserMetadataEncoder()
    with pytest.raises(ConfigurationError, match="fit"):
        encoder.encode(["u0001"])
    encoder.fit(network.corpus)
    encoded = encoder.encode(list(network.truth.user_ids))
    assert encoder.dim == len(encoder.feature_names) == encoded.vectors.shape[1]
    assert not encoded.missing.any() and np.isfinite(encoded.vectors).all()
    hour_shares = encoded.vectors[:, [name.startswith("hour_share") for name in encoder.feature_names]]
    posted = encoded.vectors[:, encoder.feature_names.index("no_posts")] == 0.0
    np.testing.assert_allclose(hour_shares[posted].sum(axis=1), 1.0, rtol=1e-5)
    assert {"lang_share_en", "lang_share_zh"} <= set(encoder.feature_names)
    assert encoder_info("tabular/user-metadata")["modality"] == "tabular"
    assert encoder.version != UserMetadataEncoder(reference_time="2030-01-01").fit(network.corpus).version
