"""Recommenders, splits, ranking metrics and vector retrieval on toy data small enough to check by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.model_selection import KFold

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.store import connect
from socialfusion.tasks.recommend import (
    ALSRecommender,
    BPRRecommender,
    ContentRecommender,
    DLAERecommender,
    EASERecommender,
    GFCFRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    LightGCNRecommender,
    PopularityRecommender,
    RP3betaRecommender,
    SocialRecommender,
    evaluate_recommender,
    exact_top_k,
    interaction_table,
    load_recommender,
    ranking_metrics,
    recommendation_section,
    retrieve,
    save_recommender,
    split_interactions,
    write_item_vectors,
)


def table(pairs, times=None):
    users, items = zip(*pairs)
    columns = {"user": list(users), "item": list(items)}
    if times is not None:
        columns["time"] = pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=hour)
                                    for hour in times], pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def block_interactions(seed=0, n_blocks=4, users_per_block=30, items_per_block=25, density=0.3, noise=0.01):
    """Users of block b consume items of block b with probability ``density`` (else ``noise``)."""
    rng = np.random.default_rng(seed)
    user_block = np.repeat(np.arange(n_blocks), users_per_block)
    item_block = np.repeat(np.arange(n_blocks), items_per_block)
    probability = np.where(user_block[:, None] == item_block[None, :], density, noise)
    rows, columns = np.nonzero(rng.random(probability.shape) < probability)
    return table([(f"u{row}", f"i{column}") for row, column in zip(rows, columns)])


# -- metrics --------------------------------------------------------------------------------------------------

def test_recall_and_ndcg_match_a_hand_computed_ranking():
    recommended = pa.table({"user": ["a"] * 4 + ["b"] * 2, "item": ["w", "x", "y", "z", "p", "q"],
                            "rank": [1, 2, 3, 4, 1, 2]})
    held = table([("a", "x"), ("a", "z"), ("a", "v"), ("b", "p")])
    scores = ranking_metrics(recommended, held, k=(2, 4))
    # a: hits at ranks 2 and 4 of 3 relevant; b: hit at rank 1 of 1 relevant.
    assert scores["recall@2"] == pytest.approx((1 / 3 + 1) / 2)
    assert scores["recall@4"] == pytest.approx((2 / 3 + 1) / 2)
    ideal_a = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    ndcg_a = (1 / math.log2(3) + 1 / math.log2(5)) / ideal_a
    assert scores["ndcg@4"] == pytest.approx((ndcg_a + 1.0) / 2)
    assert scores["ndcg@2"] == pytest.approx(((1 / math.log2(3)) / (1 + 1 / math.log2(3)) + 1.0) / 2)
    assert scores["users"] == 2


def test_recall_divides_by_all_relevant_items_and_excluded_pairs_do_not_count():
    recommended = pa.table({"user": ["a"], "item": ["x"], "rank": [1]})
    held = table([("a", "x")] + [("a", f"r{index}") for index in range(19)])
    assert ranking_metrics(recommended, held, k=10)["recall@10"] == pytest.approx(1 / 20)
    excluded = table([("a", f"r{index}") for index in range(19)])
    assert ranking_metrics(recommended, held, k=10, exclude=excluded)["recall@10"] == 1.0


def test_a_held_out_user_without_recommendations_scores_zero():
    recommended = pa.table({"user": ["a"], "item": ["x"], "rank": [1]})
    assert ranking_metrics(recommended, table([("a", "x"), ("b", "y")]), k=1)["recall@1"] == 0.5


def test_ranking_metrics_rejects_bad_cutoffs_and_columns():
    recommended = pa.table({"user": ["a"], "item": ["x"], "rank": [1]})
    with pytest.raises(ConfigurationError, match="cut-offs"):
        ranking_metrics(recommended, table([("a", "x")]), k=0)
    with pytest.raises(DataError, match="rank"):
        ranking_metrics(recommended.drop(["rank"]), table([("a", "x")]))


# -- splits ---------------------------------------------------------------------------------------------------

def test_time_split_puts_no_future_interaction_in_training():
    rng = np.random.default_rng(0)
    hours = rng.permutation(200).tolist()
    interactions = table([(f"u{index % 7}", f"i{index % 11}") for index in range(200)], times=hours)
    split = split_interactions(interactions, ratios=(0.7, 0.15, 0.15), by="time")
    latest_train = max(split.train.column("time").to_pylist())
    assert latest_train < min(split.validation.column("time").to_pylist())
    assert max(split.validation.column("time").to_pylist()) < min(split.test.column("time").to_pylist())
    assert [part.num_rows for part in split] == [140, 30, 30]


def test_random_split_is_seeded_and_never_shares_a_pair():
    interactions = table([(f"u{index % 5}", f"i{index % 13}") for index in range(130)])  # each pair twice
    first = split_interactions(interactions, random_state=1)
    again = split_interactions(interactions, random_state=1)
    assert first.test.equals(again.test)
    pairs = [set(zip(part.column("user").to_pylist(), part.column("item").to_pylist())) for part in first]
    assert sum(len(part) for part in pairs) == 65 and not (pairs[0] & pairs[2]) and not (pairs[0] & pairs[1])
    assert set(first.train.column("weight").to_pylist()) == {2.0}
    rng = np.random.default_rng(0)  # the same rows cut into other chunks (as another reader cuts them): same split
    many = table([(f"u{rng.integers(300)}", f"i{rng.integers(900)}") for _ in range(20_000)])
    for size in (7, 1024, 5000):
        rechunked = pa.Table.from_batches(many.to_batches(max_chunksize=size))
        assert rechunked.column("user").num_chunks > 1
        assert split_interactions(rechunked, random_state=1).test.equals(split_interactions(many, random_state=1).test)


def test_split_errors_name_the_problem():
    with pytest.raises(ConfigurationError, match="summing to 1"):
        split_interactions(table([("a", "x")]), ratios=(0.5, 0.1, 0.1))
    with pytest.raises(DataError, match="no time"):
        split_interactions(table([("a", "x")]), by="time")


# -- recommenders ---------------------------------------------------------------------------------------------

def test_popularity_ranks_by_users_and_excludes_seen_items_unless_asked():
    interactions = table([("a", "x"), ("b", "x"), ("c", "x"), ("b", "y"), ("c", "y"), ("c", "z")])
    model = PopularityRecommender().fit(interactions)
    assert model.recommend(["a"], k=5).column("item").to_pylist() == ["y", "z"]
    assert model.recommend(["a"], k=5, exclude_seen=False).column("item").to_pylist() == ["x", "y", "z"]
    assert model.recommend(["new user"], k=2).column("item").to_pylist() == ["x", "y"]
    assert model.recommend(["a"], k=5, candidates=["z", "unknown"]).column("item").to_pylist() == ["z"]
    result = model.recommend("c", k=3, exclude_seen=False)
    assert result.column("rank").to_pylist() == [1, 2, 3] and result.column("score").to_pylist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("make", [lambda: ALSRecommender(16, iterations=10, random_state=0),
                                  lambda: BPRRecommender(16, iterations=60, random_state=0)], ids=["als", "bpr"])
def test_factor_models_beat_popularity_on_a_planted_block_structure(make):
    split = split_interactions(block_interactions(), random_state=0)
    factor = evaluate_recommender(make().fit(split.train), split.test, k=10)["recall@10"]
    popular = evaluate_recommender(PopularityRecommender().fit(split.train), split.test, k=10)["recall@10"]
    assert factor > popular + 0.2


def test_als_is_deterministic_with_a_seed():
    interactions = block_interactions(n_blocks=2, users_per_block=10, items_per_block=10)
    first = ALSRecommender(8, iterations=5, random_state=3).fit(interactions).score(["u0"], ["i0", "i15"])
    second = ALSRecommender(8, iterations=5, random_state=3).fit(interactions).score(["u0"], ["i0", "i15"])
    np.testing.assert_array_equal(first, second)


def test_lightgcn_beats_popularity_on_a_planted_block_structure_and_stops_early():
    split = split_interactions(block_interactions(), random_state=0)
    model = LightGCNRecommender(16, learning_rate=0.01, batch_size=256, epochs=60, patience=5, random_state=0).fit(
        split.train, validation=split.validation)
    lightgcn = evaluate_recommender(model, split.test, k=10)["recall@10"]
    popular = evaluate_recommender(PopularityRecommender().fit(split.train), split.test, k=10)["recall@10"]
    assert lightgcn > popular + 0.2
    # Early stopping keeps the epoch with the best validation Recall@20 and stops `patience` epochs later.
    recalls = [recall for _, _, recall in model.history_]
    assert model.epochs_ == 1 + int(np.argmax(recalls))
    assert len(model.history_) == model.epochs_ + 5 < 60
    assert evaluate_recommender(model, split.validation, k=20)["recall@20"] == pytest.approx(max(recalls))


def test_lightgcn_is_deterministic_with_a_seed_and_propagates_over_friendships():
    interactions = block_interactions(n_blocks=2, users_per_block=10, items_per_block=10)
    make = lambda seed: LightGCNRecommender(8, epochs=3, batch_size=64, random_state=seed)  # noqa: E731
    first = make(3).fit(interactions).score(["u0"], ["i0", "i15"])
    np.testing.assert_array_equal(first, make(3).fit(interactions).score(["u0"], ["i0", "i15"]))
    assert not np.array_equal(first, make(4).fit(interactions).score(["u0"], ["i0", "i15"]))
    # The noise of the contrastive term comes from the seed too; without the term the noise setting is unused.
    contrastive = lambda seed: LightGCNRecommender(8, epochs=3, batch_size=64, contrastive_weight=0.2,  # noqa: E731
                                                   random_state=seed)
    noisy = contrastive(3).fit(interactions).score(["u0"], ["i0", "i15"])
    np.testing.assert_array_equal(noisy, contrastive(3).fit(interactions).score(["u0"], ["i0", "i15"]))
    assert not np.array_equal(noisy, first)
    unused = LightGCNRecommender(8, epochs=3, batch_size=64, noise=5.0, random_state=3).fit(interactions)
    np.testing.assert_array_equal(first, unused.score(["u0"], ["i0", "i15"]))
    # "new" consumed nothing and only a friendship links them to the graph: without the social edges their
    # embedding never moves from its initial value (no neighbour, no gradient); with them it trains along with u0's.
    edges = pa.table({"src": ["new"], "dst": ["u0"], "kind": ["friend"]})

    def new_user_vector(epochs, social_weight):
        model = LightGCNRecommender(8, epochs=epochs, social_weight=social_weight, random_state=0)
        model.fit(interactions, edges=edges)
        return model.user_factors_[model.user_index_["new"]]

    np.testing.assert_array_equal(new_user_vector(1, 0.0), new_user_vector(3, 0.0))
    assert not np.allclose(new_user_vector(1, 1.0), new_user_vector(3, 1.0))


def uniformity(vectors):
    """Wang & Isola's (2020) uniformity loss of the unit vectors: log mean exp(-2 |x - y|^2); lower is more even."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    distances = ((unit[:, None] - unit[None]) ** 2).sum(axis=-1)[np.triu_indices(len(unit), 1)]
    return float(np.log(np.exp(-2 * distances).mean()))


def test_lightgcn_with_xsimgcls_contrastive_term_spreads_the_item_embeddings_and_still_ranks():
    split = split_interactions(block_interactions(), random_state=0)

    def fitted(contrastive_weight):
        return LightGCNRecommender(16, learning_rate=0.01, batch_size=256, epochs=30, patience=30,
                                   contrastive_weight=contrastive_weight, noise=0.1, random_state=0).fit(
            split.train, validation=split.validation)

    plain, contrastive = fitted(0.0), fitted(0.1)
    # The InfoNCE term spreads the embeddings over the sphere (XSimGCL's point) yet keeps the planted blocks:
    # items of one block stay closer to each other than to the other blocks' items.
    assert uniformity(contrastive.item_factors_) < uniformity(plain.item_factors_) - 1.0
    unit = contrastive.item_factors_ / np.linalg.norm(contrastive.item_factors_, axis=1, keepdims=True)
    block = np.array([int(item[1:]) // 25 for item in contrastive.items_])
    same = block[:, None] == block[None, :]
    np.fill_diagonal(same, False)
    different = block[:, None] != block[None, :]
    assert (unit @ unit.T)[same].mean() > (unit @ unit.T)[different].mean() + 0.3
    popular = evaluate_recommender(PopularityRecommender().fit(split.train), split.test, k=10)["recall@10"]
    assert evaluate_recommender(contrastive, split.test, k=10)["recall@10"] > popular + 0.2
    # The loss recorded includes the term; the noise only trains: the embeddings kept are the noiseless ones whose
    # validation Recall@20 picked the epoch.
    assert contrastive.history_[0][1] > plain.history_[0][1] + 0.2
    recalls = [recall for _, _, recall in contrastive.history_]
    assert evaluate_recommender(contrastive, split.validation, k=20)["recall@20"] == pytest.approx(max(recalls))


def test_lightgcn_rejects_bad_arguments():
    interactions = table([("a", "x"), ("b", "y")])
    for arguments in ({"factors": 0}, {"layers": -1}, {"learning_rate": 0.0}, {"batch_size": 0}, {"epochs": 0},
                      {"social_weight": -1.0}, {"n_jobs": 0}, {"temperature": 0.0}, {"noise": -0.1},
                      {"contrastive_weight": -1.0}, {"contrastive_weight": 0.1, "contrastive_layer": 0},
                      {"contrastive_weight": 0.1, "layers": 2, "contrastive_layer": 3}):
        with pytest.raises(ConfigurationError, match="LightGCN needs"):
            LightGCNRecommender(**arguments).fit(interactions)
    with pytest.raises(DataError, match="social_weight > 0 needs edges"):
        LightGCNRecommender(social_weight=1.0).fit(interactions)


def test_rp3beta_similarity_matches_the_hand_computed_walk():
    # a: x y; b: x z; c: x. Walk item -> user (1 / users of the item) -> item (1 / items of the user).
    interactions = table([("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("c", "x")])
    model = RP3betaRecommender(alpha=1.0, beta=0.5).fit(interactions)
    root3 = math.sqrt(3)
    expected = [[0, 1 / 6, 1 / 6],  # x -> {a, b, c} -> y via a (1/3 * 1/2), z via b; x itself on the diagonal: 0
                [0.5 / root3, 0, 0],  # y -> a -> x (1/2), divided by popularity(x) ** 0.5
                [0.5 / root3, 0, 0]]
    np.testing.assert_allclose(model.similarity_.toarray(), expected)
    squared = RP3betaRecommender(alpha=2.0, beta=0.0).fit(interactions)
    assert squared.similarity_.toarray()[0].tolist() == pytest.approx([0, 0.25 / 9, 0.25 / 9])
    assert RP3betaRecommender(neighbours=1, beta=0.0).fit(interactions).similarity_.nnz == 3


def test_rp3beta_popularity_penalty_lets_a_niche_item_win():
    # s is co-consumed with popular p by two users and with niche n by one; p has 8 users, n has 1.
    pairs = [("u1", "s"), ("u1", "p"), ("u2", "s"), ("u2", "p"), ("u3", "s"), ("u3", "n"), ("t", "s")]
    interactions = table(pairs + [(f"fan{index}", "p") for index in range(6)])
    # W[s, p] = 1/4 * 1/2 * 2 = 0.25 against W[s, n] = 0.125; divided by 8 ** beta and 1 ** beta.
    assert RP3betaRecommender(beta=0.0).fit(interactions).recommend(["t"], k=1).column("item").to_pylist() == ["p"]
    assert RP3betaRecommender(beta=0.5).fit(interactions).recommend(["t"], k=1).column("item").to_pylist() == ["n"]
    with pytest.raises(ConfigurationError, match="beta >= 0"):
        RP3betaRecommender(beta=-1.0).fit(interactions)


def test_gfcf_linear_filter_matches_the_hand_computed_propagation():
    # a: x y; b: x y; c: x. Degrees: users 2, 2, 1; items x 3, y 2. R = D_u^-1/2 X D_i^-1/2:
    # rows a and b (1/sqrt(6), 1/2), row c (1/sqrt(3), 0); R^T R = [[2/3, 1/sqrt(6)], [1/sqrt(6), 1/2]].
    interactions = table([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x")])
    model = GFCFRecommender().fit(interactions)
    np.testing.assert_allclose(model.score(["c", "a"], ["x", "y"]),
                               [[2 / 3, 1 / math.sqrt(6)], [2 / 3 + 1 / math.sqrt(6), 1 / math.sqrt(6) + 1 / 2]])
    assert model.item_basis_ is None
    assert model.recommend(["c"], k=1).column("item").to_pylist() == ["y"]


def test_gfcf_ideal_filter_adds_the_top_singular_vector_projection():
    interactions = table([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x")])
    model = GFCFRecommender(0.5, factors=1).fit(interactions)
    normalised = np.diag([2 ** -0.5, 2 ** -0.5, 1.0]) @ np.array([[1, 1], [1, 1], [1, 0]]) @ np.diag(
        [3 ** -0.5, 2 ** -0.5])
    top = np.linalg.svd(normalised)[2][0]  # the first right singular vector (its sign cancels out)
    ideal = (np.array([1.0, 0.0]) * [3 ** -0.5, 2 ** -0.5]) @ np.outer(top, top) * [3 ** 0.5, 2 ** 0.5]
    linear = np.array([2 / 3, 1 / math.sqrt(6)])
    np.testing.assert_allclose(model.score(["c"], ["x", "y"])[0], linear + 0.5 * ideal)
    with pytest.raises(ConfigurationError, match="ideal_weight >= 0"):
        GFCFRecommender(-1.0).fit(interactions)


def test_ease_and_dlae_match_their_closed_forms():
    interactions = block_interactions(n_blocks=2, users_per_block=6, items_per_block=5, density=0.6, seed=2)
    ease = EASERecommender(2.0, min_users=1).fit(interactions)
    matrix = ease.seen_.toarray()[:, ease.modelled_]
    gram = matrix.T @ matrix
    inverse = np.linalg.inv(gram + 2.0 * np.eye(len(gram)))
    expected = np.eye(len(gram)) - inverse / np.diag(inverse)  # Steck 2019: B = I - P diagMat(1 / diag(P))
    np.testing.assert_allclose(ease.weights_, expected, atol=1e-5)
    assert np.allclose(np.diag(ease.weights_), 0.0)
    dlae = DLAERecommender(2.0, dropout=0.25, min_users=1).fit(interactions)
    penalty = np.diag(1 / 3 * np.diag(gram) + 2.0)  # dropout / (1 - dropout) * diag(G) + l2
    np.testing.assert_allclose(dlae.weights_, np.linalg.solve(gram + penalty, gram), atol=1e-5)
    scores = dlae.score(["u0"], list(dlae.items_))[0]
    np.testing.assert_allclose(scores, matrix[0] @ np.linalg.solve(gram + penalty, gram), atol=1e-5)
    with pytest.raises(ConfigurationError, match="dropout"):
        DLAERecommender(dropout=1.0).fit(interactions)


def test_dlae_with_a_zero_diagonal_is_ease_under_the_item_dependent_penalty():
    interactions = block_interactions(n_blocks=2, users_per_block=6, items_per_block=5, density=0.6, seed=2)
    model = DLAERecommender(2.0, dropout=0.25, min_users=1, zero_diagonal=True).fit(interactions)
    matrix = model.seen_.toarray()[:, model.modelled_]
    gram = matrix.T @ matrix
    inverse = np.linalg.inv(gram + np.diag(1 / 3 * np.diag(gram) + 2.0))
    np.testing.assert_allclose(model.weights_, np.eye(len(gram)) - inverse / np.diag(inverse), atol=1e-5)
    assert np.allclose(np.diag(model.weights_), 0.0)
    plain = DLAERecommender(2.0, dropout=0.25, min_users=1).fit(interactions)
    assert not np.allclose(np.diag(plain.weights_), 0.0)  # without the constraint the diagonal is free
    # dropout 0 gives EASE itself
    ease = EASERecommender(2.0, min_users=1).fit(interactions)
    same = DLAERecommender(2.0, dropout=0.0, min_users=1, zero_diagonal=True).fit(interactions)
    np.testing.assert_allclose(same.weights_, ease.weights_, atol=1e-5)


def test_dlae_beats_popularity_on_a_planted_block_structure():
    split = split_interactions(block_interactions(), random_state=0)
    dlae = evaluate_recommender(DLAERecommender(10.0).fit(split.train), split.test, k=10)["recall@10"]
    popular = evaluate_recommender(PopularityRecommender().fit(split.train), split.test, k=10)["recall@10"]
    assert dlae > popular + 0.2


def test_content_model_recommends_a_new_item_like_the_consumed_ones():
    features = np.array([[1.0, 0.0, 0.1], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.1, 0.9, 0.1],
                         [0.95, 0.05, 0.05], [0.0, 0.95, 0.1]])
    ids = ["jazz1", "jazz2", "rock1", "rock2", "jazz-new", "rock-new"]
    interactions = table([("a", "jazz1"), ("a", "jazz2"), ("b", "rock1"), ("b", "rock2"), ("c", "rock1")])
    model = ContentRecommender().fit(interactions, item_features=features, item_ids=ids)
    assert model.recommend(["a"], k=1).column("item").to_pylist() == ["jazz-new"]
    assert model.recommend(["b"], k=1).column("item").to_pylist() == ["rock-new"]
    assert PopularityRecommender().fit(interactions, items=ids).score(["a"], ["jazz-new"]).tolist() == [[0.0]]


def test_content_model_needs_features():
    with pytest.raises(DataError, match="item_features"):
        ContentRecommender().fit(table([("a", "x")]))


def test_social_model_recommends_what_friends_consumed_even_to_a_new_user():
    interactions = table([("a", "x"), ("b", "y"), ("b", "z"), ("c", "w"), ("d", "w"), ("e", "w")])
    edges = pa.table({"src": ["a", "newbie", "a"], "dst": ["b", "b", "c"], "kind": ["friend", "follow", "follow"],
                      "weight": [1.0, 1.0, 0.5]})
    model = SocialRecommender(tie_strength="uniform").fit(interactions, edges=edges)
    # a: y and z via b (tie 1), w via c (tie 0.5) though w is the most popular item.
    assert model.recommend(["a"], k=3).column("item").to_pylist() == ["y", "z", "w"]
    assert model.recommend(["newbie"], k=2).column("item").to_pylist() == ["y", "z"]
    # b follows nobody and its friend a consumed x: friend ties go both ways.
    assert model.recommend(["b"], k=1).column("item").to_pylist() == ["x"]


def test_mmr_diversity_changes_the_order_as_expected():
    # Items a1..a3 nearly identical and best liked, b1 slightly less relevant but different.
    interactions = table([(f"u{index}", item) for index, item in enumerate(["a1"] * 5 + ["a2"] * 4 + ["a3"] * 4
                                                                          + ["b1"] * 3)])
    features = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, 0.02], [0.0, 1.0]])
    model = PopularityRecommender().fit(interactions, item_features=features, item_ids=["a1", "a2", "a3", "b1"])
    plain = model.recommend(["new"], k=3).column("item").to_pylist()
    diverse = model.recommend(["new"], k=3, diversity=0.5).column("item").to_pylist()
    assert plain == ["a1", "a2", "a3"]
    assert diverse[:2] == ["a1", "b1"]
    with pytest.raises(ConfigurationError, match="item vectors"):
        PopularityRecommender().fit(interactions).recommend(["new"], diversity=0.5)


def test_freshness_boosts_recent_items():
    interactions = table([("u1", "old"), ("u2", "old"), ("u3", "new")], times=[0, 1, 24 * 30])
    model = PopularityRecommender().fit(interactions)
    assert model.recommend(["x"], k=2).column("item").to_pylist() == ["old", "new"]
    assert model.recommend(["x"], k=2, freshness=7).column("item").to_pylist() == ["new", "old"]


def test_hybrid_tunes_weights_towards_the_useful_component():
    data = block_interactions(seed=1)
    split = split_interactions(data, random_state=0)
    hybrid = HybridRecommender({"als": ALSRecommender(16, iterations=10), "popularity": PopularityRecommender()},
                               grid_step=0.25).fit(split.train, validation=split.validation)
    assert hybrid.weights_["als"] > hybrid.weights_["popularity"]
    als_only = evaluate_recommender(ALSRecommender(16, iterations=10).fit(split.train), split.test, k=10)
    assert evaluate_recommender(hybrid, split.test, k=10)["recall@10"] >= als_only["recall@10"] - 0.02
    # The tuning Recall is evaluate_recommender's, a held-out item unknown to training counting as a miss.
    validation = pa.concat_tables([split.validation, interaction_table(table([("u0", "never-trained")]))])
    hybrid = HybridRecommender({"als": ALSRecommender(16, iterations=10), "popularity": PopularityRecommender()},
                               weights=None, grid_step=0.5, tune_k=10).fit(split.train, validation=validation)
    tuned = hybrid.validation_[tuple(hybrid.weights_[name] for name in sorted(hybrid.weights_))]
    known = validation.filter(pc.is_in(validation.column("user"), value_set=split.train.column("user")))
    assert known.num_rows < validation.num_rows  # the split left one validation user out of training
    assert tuned == pytest.approx(evaluate_recommender(hybrid, known, k=10)["recall@10"])
    refitted = HybridRecommender({"popularity": PopularityRecommender()}, refit=True).fit(
        split.train, validation=split.validation)
    assert refitted.seen_.nnz == split.train.num_rows + split.validation.num_rows


def test_a_blends_cross_validated_recall_scores_each_folds_chosen_weights_on_the_other_users():
    split = split_interactions(block_interactions(seed=3, users_per_block=20, noise=0.05), random_state=0)
    components = {"als": ALSRecommender(8, iterations=5), "itemknn": ItemKNNRecommender(5),
                  "popularity": PopularityRecommender()}
    components = {name: component.fit(split.train) for name, component in components.items()}

    def blend(validation, weights=None):
        return HybridRecommender(components, weights=weights, grid_step=0.25, tune_k=5, prefitted=True).fit(
            split.train, validation=validation)

    def rows_of(users):
        return split.validation.filter(pc.is_in(split.validation.column("user"), value_set=pa.array(users)))

    hybrid = blend(split.validation)
    users = np.array(sorted(set(split.validation.column("user").to_pylist())))
    assert hybrid.tune_users_ == len(users)
    # By hand: the weights each fold's other users choose, scored with evaluate_recommender on that fold's users.
    expected, chosen = 0.0, set()
    for train, test in KFold(5, shuffle=True, random_state=0).split(users):
        weights = blend(rows_of(users[train])).weights_
        chosen.add(tuple(weights.values()))
        held = rows_of(users[test])
        expected += evaluate_recommender(blend(None, weights), held, k=5)["recall@5"] * len(test)
    assert len(chosen) > 1  # the folds disagree: the figure is not the in-sample search's best again
    assert hybrid.cross_validated_ == pytest.approx(expected / len(users))
    assert hybrid.cross_validated_ < max(hybrid.validation_.values())
    assert blend(None, hybrid.weights_).cross_validated_ is None  # fixed weights: nothing was chosen


def test_hybrid_tunes_on_a_bounded_seeded_sample_of_validation_users_with_the_same_weights():
    split = split_interactions(block_interactions(seed=1, users_per_block=60), random_state=0)

    def hybrid(max_tune_users):
        return HybridRecommender({"als": ALSRecommender(16, iterations=10), "popularity": PopularityRecommender()},
                                 grid_step=0.25, max_tune_users=max_tune_users).fit(split.train,
                                                                                    validation=split.validation)

    full, sampled = hybrid(None), hybrid(60)
    assert full.tune_users_ > 60 and sampled.tune_users_ == 60
    assert sampled.weights_ == full.weights_
    assert hybrid(60).validation_ == sampled.validation_  # seeded


def test_hybrid_searches_the_whole_weight_grid_for_up_to_six_components():
    split = split_interactions(block_interactions(seed=1), random_state=0)
    components = {f"popularity{index}": PopularityRecommender() for index in range(4)}
    components["als"] = ALSRecommender(16, iterations=10)
    hybrid = HybridRecommender(components, grid_step=0.25).fit(split.train, validation=split.validation)
    assert len(hybrid.validation_) == math.comb(4 + 5 - 1, 5 - 1)  # every point of the simplex at step 0.25
    assert hybrid.weights_["als"] > 0
    components.update({f"popularity{index}": PopularityRecommender() for index in range(4, 7)})
    coarse = HybridRecommender(components, grid_step=0.1).fit(split.train, validation=split.validation)
    assert len(coarse.validation_) < math.comb(10 + 8 - 1, 8 - 1)  # 19,448 points: coordinate ascent instead
    assert coarse.weights_["als"] > 0


def test_a_stacked_hybrid_learns_which_component_to_trust_and_scores_it_honestly():
    split = split_interactions(block_interactions(seed=1, users_per_block=60), random_state=0)
    als = ALSRecommender(16, iterations=10).fit(split.train)
    popularity = PopularityRecommender().fit(split.train)

    def stacked(components):
        return HybridRecommender(components, prefitted=True, combiner="stacked", depth=20, tune_k=10).fit(
            split.train, validation=split.validation)

    both, popular = stacked({"als": als, "popularity": popularity}), stacked({"popularity": popularity})
    recall = {name: evaluate_recommender(model, split.test, k=10)["recall@10"]
              for name, model in {"both": both, "popular": popular, "als": als, "popularity": popularity}.items()}
    assert recall["both"] >= recall["als"] - 0.04 and recall["both"] > recall["popularity"] + 0.2
    assert recall["popular"] == pytest.approx(recall["popularity"], abs=0.02)  # nothing to learn beyond popularity
    assert both.stack_["features"] == ["als standardised score", "als log rank", "popularity standardised score",
                                       "popularity log rank", "log popularity"]
    weight = dict(zip(both.stack_["features"], both.stack_["coef"]))
    assert weight["als standardised score"] > max(abs(value) for name, value in weight.items() if "als" not in name)
    assert both.weights_ == {} and both.tune_users_ == len(set(split.validation.column("user").to_pylist()))
    # Cross-validated over the tuning users: near the fitted model's own validation figure, never above 1.
    in_sample = evaluate_recommender(both, split.validation, k=10)["recall@10"]
    assert 0.2 < both.cross_validated_ <= in_sample + 0.02
    # Candidates (some component's 20 best unseen items) score 1 + their probability, every other item 0.
    scores = both.score(["u0"], list(both.items_))[0]
    candidates = scores > 0
    assert 20 <= candidates.sum() <= 40 and np.all(scores[candidates] > 1) and np.all(scores[candidates] < 2)
    assert set(both.recommend(["u0"], k=10).column("item").to_pylist()) <= set(both.items_[candidates])
    with pytest.raises(ConfigurationError, match="combiner must be one of"):
        HybridRecommender({"als": als}, prefitted=True, combiner="vote").fit(split.train, validation=split.validation)
    with pytest.raises(ConfigurationError, match="weights must be None"):
        HybridRecommender({"als": als}, prefitted=True, combiner="stacked", weights={"als": 1.0}).fit(split.train)


def test_hybrid_uses_prefitted_components_as_given():
    split = split_interactions(block_interactions(seed=1), random_state=0)
    als = ALSRecommender(16, iterations=10).fit(split.train)
    hybrid = HybridRecommender({"als": als, "popularity": PopularityRecommender().fit(split.train)}, grid_step=0.5,
                               prefitted=True).fit(split.train, validation=split.validation)
    assert hybrid.components_["als"] is als
    with pytest.raises(ConfigurationError, match="other users or items"):
        HybridRecommender({"als": als}, prefitted=True).fit(split.validation, validation=split.test)
    with pytest.raises(ConfigurationError, match="cannot be refitted"):
        HybridRecommender({"als": als}, prefitted=True).fit(split.train)


def test_save_and_load_give_the_same_recommendations(tmp_path):
    model = ALSRecommender(8, iterations=5).fit(block_interactions(n_blocks=2, users_per_block=8))
    path = save_recommender(model, tmp_path / "model.pkl")
    assert load_recommender(path).recommend(["u0"], k=5).equals(model.recommend(["u0"], k=5))
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read a recommender"):
        load_recommender(tmp_path / "bad.pkl")


def test_unfitted_and_bad_arguments_fail_clearly():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="fit"):
        PopularityRecommender().recommend(["a"])
    model = PopularityRecommender().fit(table([("a", "x")]))
    with pytest.raises(ConfigurationError, match="k must be"):
        model.recommend(["a"], k=0)
    with pytest.raises(DataError, match="unknown items"):
        model.score(["a"], ["nope"])
    with pytest.raises(DataError, match="user and item"):
        PopularityRecommender().fit(pa.table({"who": ["a"]}))


# -- retrieval ------------------------------------------------------------------------------------------------

def test_retrieval_through_a_lancedb_store_returns_the_exact_top_k(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    ids = [f"item{index}" for index in range(300)]
    store = connect(tmp_path / "store")
    assert write_item_vectors(store, ids, vectors) == 300
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for query in rng.normal(size=(5, 8)):
        expected, expected_scores = exact_top_k(normalised, query / np.linalg.norm(query), 10)
        found = retrieve(store, query, 10)
        assert found.column("item").to_pylist() == [ids[index] for index in expected]
        np.testing.assert_allclose(found.column("score").to_numpy(), expected_scores, atol=1e-4)
        assert retrieve(store, query, 10, exact=True).column("item").to_pylist() == found.column("item").to_pylist()


def test_retrieval_through_a_store_index_recovers_the_exact_top_k_with_nprobes_and_refine():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(8, 16))
    vectors = (centres[rng.integers(0, 8, 800)] + 0.3 * rng.normal(size=(800, 16))).astype(np.float32)
    ids = [f"item{index}" for index in range(800)]
    store = connect("memory://")
    write_item_vectors(store, ids, vectors, index="IVF_PQ", index_options={"num_partitions": 8,
                                                                            "num_sub_vectors": 2})
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for query in centres[:3] + 0.3 * rng.normal(size=(3, 16)):
        expected, scores = exact_top_k(normalised, query / np.linalg.norm(query), 10)
        coarse = retrieve(store, query, 10, nprobes=8)
        refined = retrieve(store, query, 10, nprobes=8, refine_factor=20)
        assert refined.column("item").to_pylist() == [ids[index] for index in expected]
        np.testing.assert_allclose(refined.column("score").to_numpy(), scores, atol=1e-4)
        # 2 PQ sub-vectors of 8 dims: the unrefined scores are approximate.
        assert np.abs(coarse.column("score").to_numpy() - scores).max() > 1e-3
    with pytest.raises(ConfigurationError, match="unknown index_type"):
        write_item_vectors(store, ids, vectors, index="ANNOY")


# -- report ---------------------------------------------------------------------------------------------------

def test_recommendation_section_shows_the_quality_table_and_examples_with_text():
    from socialfusion.corpus import Corpus
    from socialfusion.report import Metrics, Table, Text

    corpus = Corpus.from_records(posts=[{"post_id": "x", "text": "jazz night"}])
    examples = pa.table({"user": ["a"], "item": ["x"], "score": [1.0], "rank": [1]})
    evaluation = {"popularity": {"recall@20": 0.1, "ndcg@20": 0.05}, "als": {"recall@20": 0.3, "ndcg@20": 0.2}}
    section = recommendation_section(evaluation, examples, data=corpus)
    assert section.key == "recommend"
    metrics, quality, shown = section.blocks
    assert isinstance(metrics, Metrics) and metrics.values["best method"] == "als"
    assert isinstance(quality, Table) and [row["method"] for row in quality.head()[1]] == ["popularity", "als"]
    assert shown.head()[1][0]["text"] == "jazz night"
    assert isinstance(recommendation_section({}).blocks[0], Text)


def test_the_report_card_scores_a_bounded_activity_stratified_sample_of_test_users_and_says_so():
    from socialfusion.datasets.synthetic import generate
    from socialfusion.pipeline import _recommendation, _users_sample

    activity = {"a": 1, "b": 1, "c": 1, "d": 1, "e": 4, "f": 4}  # four light users, two heavy ones
    held = pa.table({"user": [user for user, count in activity.items() for _ in range(count)],
                     "item": [f"i{index}" for index in range(sum(activity.values()))]})
    sampled = _users_sample(held, 3)
    chosen = set(sampled.column("user").to_pylist())
    assert len(chosen) == 3 and len(chosen & {"e", "f"}) == 1  # each activity level keeps its share
    assert sampled.num_rows == sum(activity[user] for user in chosen)  # every interaction of a chosen user
    assert _users_sample(held, 3).equals(sampled) and _users_sample(held, 6).equals(held)

    corpus = generate(n_users=80, n_posts=300, seed=0).corpus
    notes = {}
    for bound in (20, None):
        quality = _recommendation(corpus, max_users=bound).blocks[1]
        notes[bound] = quality.caption
        users = quality.head()[1][0]["users"]
        assert users == 20 if bound else users > 20
    assert "seeded sample of 20 of" in notes[20] and "tuned on 20 validation users" in notes[20]
    assert "sample" not in notes[None]


def test_small_score_blocks_and_row_blocks_change_no_result(monkeypatch):
    """Scoring a few users at a time, and sparse work a few rows at a time, give what one big block gives."""
    from socialfusion.tasks import recommend

    split = split_interactions(block_interactions(seed=2), random_state=0)

    def results():
        models = {"als": ALSRecommender(8, iterations=5), "knn": ItemKNNRecommender(neighbours=5, shrink=1.0)}
        fitted = {name: model.fit(split.train) for name, model in models.items()}
        hybrid = HybridRecommender(fitted, prefitted=True, grid_step=0.5).fit(split.train,
                                                                              validation=split.validation)
        stacked = HybridRecommender(fitted, prefitted=True, combiner="stacked", depth=10).fit(
            split.train, validation=split.validation)
        users = sorted(set(split.test.column("user").to_pylist()))
        lists = {name: model.recommend(users, k=5)
                 for name, model in {**fitted, "hybrid": hybrid, "stacked": stacked}.items()}
        return ({name: table.drop_columns(["score"]).to_pylist() for name, table in lists.items()},
                {name: table.column("score").to_numpy() for name, table in lists.items()},
                hybrid.weights_, fitted["knn"].similarity_.toarray())

    whole = results()
    monkeypatch.setattr(recommend, "_BLOCK_SCORES", 7)  # one user per block; sparse rows a few at a time
    monkeypatch.setattr(recommend._row_blocks, "__defaults__", (7,))
    blocked = results()
    assert blocked[0] == whole[0] and blocked[2] == whole[2]  # the same items in the same order, the same weights
    for name, scores in whole[1].items():  # BLAS may round the last bit differently for another block shape
        np.testing.assert_allclose(blocked[1][name], scores, rtol=1e-12)
    assert np.array_equal(blocked[3], whole[3])
    assert (whole[3] > 0).sum(axis=1).max() == 5  # the kNN kept 5 neighbours per item: the cut was exercised


def test_keep_top_per_row_keeps_the_largest_values_first_stored_on_ties():
    from scipy import sparse

    from socialfusion.tasks.recommend import _keep_top_per_row

    matrix = sparse.csr_array(np.array([[0.5, 0.2, 0.5, 0.9, 0.0], [0.1, 0.0, 0.0, 0.0, 0.0],
                                        [0.3, 0.3, 0.3, 0.3, 0.3]]))
    kept = _keep_top_per_row(matrix, 2).toarray()
    assert kept.tolist() == [[0.5, 0.0, 0.0, 0.9, 0.0], [0.1, 0.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.0, 0.0, 0.0]]
