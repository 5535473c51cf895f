"""Link prediction: hand-checked heuristics, a leak-free split, and AUC on planted and real graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks import (
    LinkPredictor,
    embedding_scores,
    evaluate_link_prediction,
    heuristic_scores,
    split_edges,
)
from socialfusion.tasks.links import HEURISTICS, compare_link_methods, suggest_links

# 0-1, 0-2, 1-2, 1-3, 2-3, 3-4; degrees 2, 3, 3, 3, 1.
FIVE = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4)]


def planted_partition(n_nodes: int, n_communities: int, p_in: float, p_out: float, seed: int):
    """Edges ``(m, 2)`` of a planted-partition random graph and each node's community."""
    rng = np.random.default_rng(seed)
    community = np.arange(n_nodes) % n_communities
    probability = np.where(community[:, None] == community[None, :], p_in, p_out)
    return np.argwhere(np.triu(rng.random((n_nodes, n_nodes)) < probability, k=1)), community


def canonical(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in np.asarray(pairs).tolist()}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # (0, 3): common neighbours {1, 2}; union {1, 2, 4}.  (1, 4): common {3}; union {0, 2, 3}.
        ("common_neighbours", [2.0, 1.0, 0.0]),
        ("jaccard", [2 / 3, 1 / 3, 0.0]),
        ("adamic_adar", [2 / math.log(3), 1 / math.log(3), 0.0]),
        ("resource_allocation", [2 / 3, 1 / 3, 0.0]),
        ("preferential_attachment", [6.0, 3.0, 2.0]),
    ],
)
def test_heuristics_match_hand_computation(method, expected):
    scores = heuristic_scores(FIVE, [(0, 3), (1, 4), (0, 4)], 5, method)
    np.testing.assert_allclose(scores, expected)


def test_heuristics_ignore_direction_and_repeats():
    doubled = FIVE + [(v, u) for u, v in FIVE]
    for method in HEURISTICS:
        np.testing.assert_allclose(heuristic_scores(doubled, [(0, 3), (3, 0)], 5, method),
                                   heuristic_scores(FIVE, [(0, 3), (0, 3)], 5, method))


def test_heuristic_errors():
    with pytest.raises(ConfigurationError, match="unknown heuristic"):
        heuristic_scores(FIVE, [(0, 3)], 5, "katz")
    with pytest.raises(DataError, match="n_nodes is 5"):
        heuristic_scores(FIVE, [(0, 7)], 5, "jaccard")


def test_split_never_leaks_and_negatives_are_non_edges():
    edges, _ = planted_partition(120, 4, 0.3, 0.02, seed=1)
    split = split_edges(edges, test_fraction=0.2, random_state=3)
    train, positive, negative = canonical(split.train_edges), canonical(split.test_positive), canonical(
        split.test_negative)
    full = canonical(edges)
    assert not train & positive
    assert train | positive == full
    assert len(positive) == len(negative) == len(split.test_negative) == round(0.2 * len(full))
    assert not negative & full
    assert all(u != v for u, v in negative)
    assert split.n_nodes == 120


def test_split_is_deterministic_per_seed():
    edges, _ = planted_partition(80, 2, 0.2, 0.05, seed=0)
    first, again, other = (split_edges(edges, random_state=seed) for seed in (7, 7, 8))
    for a, b in zip(first[:3], again[:3]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.test_positive, other.test_positive)


def test_time_split_holds_out_the_latest_edges():
    edges, _ = planted_partition(80, 2, 0.2, 0.05, seed=0)
    times = np.random.default_rng(0).permutation(len(edges)).astype(float)
    split = split_edges(edges, test_fraction=0.25, timestamps=times)
    latest = edges[times >= np.sort(times)[-len(split.test_positive)]]
    assert canonical(split.test_positive) == canonical(latest)


def test_split_cleans_and_validates():
    split = split_edges([(0, 1), (1, 0), (2, 2), (1, 2), (2, 3), (3, 4), (0, 4)], test_fraction=0.2)
    assert len(split.train_edges) + len(split.test_positive) == 5  # the repeat and the self-loop dropped
    with pytest.raises(ConfigurationError, match="test_fraction"):
        split_edges(FIVE, test_fraction=1.0)
    with pytest.raises(DataError, match=r"\(n, 2\)"):
        split_edges(np.arange(6))
    with pytest.raises(DataError, match="non-edges"):
        split_edges([(0, 1), (1, 2), (0, 2)], test_fraction=0.5)


def test_evaluate_checks_length():
    split = split_edges(FIVE, test_fraction=0.2)
    with pytest.raises(DataError, match="one entry per test pair"):
        evaluate_link_prediction(split, [0.5])


def test_planted_communities_are_recovered():
    edges, _ = planted_partition(200, 5, 0.5, 0.01, seed=0)
    split = split_edges(edges, test_fraction=0.1, random_state=0)
    adamic_adar = heuristic_scores(split.train_edges, split.test_pairs, split.n_nodes, "adamic_adar")
    assert evaluate_link_prediction(split, adamic_adar)["auc"] > 0.8
    spectral = embedding_scores(split.train_edges, split.test_pairs, split.n_nodes, n_components=8)
    assert evaluate_link_prediction(split, spectral)["auc"] > 0.8
    for estimator in ("logistic", "hist_gradient_boosting"):
        model = LinkPredictor(estimator, n_repeats=3, random_state=0).fit(split.train_edges, n_nodes=split.n_nodes)
        probability = model.predict_proba(split.test_pairs)
        assert probability.shape == (len(split.test_pairs), 2)
        assert evaluate_link_prediction(split, probability[:, 1])["auc"] > 0.8


def test_node_features_help_when_they_carry_the_signal():
    # 20 groups, sparse inside: structure says little, a noisy one-hot group feature says much.
    edges, group = planted_partition(200, 20, 0.2, 0.005, seed=2)
    split = split_edges(edges, test_fraction=0.2, random_state=0)
    rng = np.random.default_rng(0)
    features = np.eye(20)[group] + 0.1 * rng.standard_normal((200, 20))
    plain = LinkPredictor(validation_fraction=0.3, n_repeats=5).fit(split.train_edges, n_nodes=200)
    informed = LinkPredictor(validation_fraction=0.3, n_repeats=5).fit(split.train_edges, node_features=features)
    auc_plain = evaluate_link_prediction(split, plain.predict_proba(split.test_pairs)[:, 1])["auc"]
    auc_informed = evaluate_link_prediction(split, informed.predict_proba(split.test_pairs)[:, 1])["auc"]
    assert auc_informed > auc_plain + 0.15
    assert auc_informed > 0.7


def test_link_predictor_contract():
    model = LinkPredictor("forest")
    assert model.estimator == "forest"
    with pytest.raises(ConfigurationError, match="unknown estimator"):
        model.fit(FIVE)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LinkPredictor().predict_proba([(0, 1)])
    edges, _ = planted_partition(60, 4, 0.6, 0.02, seed=0)
    first = LinkPredictor(random_state=4).fit(edges).predict_proba([(0, 4), (0, 1)])
    again = LinkPredictor(random_state=4).fit(edges).predict_proba([(0, 4), (0, 1)])
    np.testing.assert_array_equal(first, again)
    with pytest.raises(DataError, match="node_features"):
        LinkPredictor().fit(edges, n_nodes=60, node_features=np.ones((3, 2)))


@pytest.mark.slow
def test_ego_facebook_held_out_auc(shared_data):
    if not (shared_data / "snap-ego-facebook").is_dir():
        pytest.skip(f"ego-Facebook test needs {shared_data / 'snap-ego-facebook'}, not found")
    from socialfusion.datasets import load_snap_ego_facebook

    corpus = load_snap_ego_facebook(shared_data)
    source = corpus.edges.column("src").to_numpy(zero_copy_only=False)
    target = corpus.edges.column("dst").to_numpy(zero_copy_only=False)
    names, codes = np.unique(np.concatenate([source, target]), return_inverse=True)
    split = split_edges(codes.reshape(2, -1).T, test_fraction=0.1, random_state=0)
    results = {}
    for method in HEURISTICS:
        scores = heuristic_scores(split.train_edges, split.test_pairs, split.n_nodes, method)
        results[method] = evaluate_link_prediction(split, scores)
    for similarity in ("dot", "cosine"):
        scores = embedding_scores(split.train_edges, split.test_pairs, split.n_nodes, similarity=similarity)
        results[f"spectral_{similarity}"] = evaluate_link_prediction(split, scores)
    for estimator in ("logistic", "hist_gradient_boosting"):
        model = LinkPredictor(estimator, random_state=0).fit(split.train_edges, n_nodes=split.n_nodes)
        results[f"link_predictor_{estimator}"] = evaluate_link_prediction(
            split, model.predict_proba(split.test_pairs)[:, 1])
    for name, metrics in results.items():
        print(f"{name}: AUC {metrics['auc']:.4f} AP {metrics['average_precision']:.4f}")
    assert max(metrics["auc"] for metrics in results.values()) >= 0.95


def neighbours_of(edges) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for u, v in np.asarray(edges).tolist():
        found.setdefault(u, set()).add(v)
        found.setdefault(v, set()).add(u)
    return found


def test_suggestions_by_hand():
    # FIVE: 0's friends of friends are 3 (via 1 and 2); 4 is three hops away.
    table = suggest_links(FIVE, 5, [0, 4], k=5, model="common_neighbours")
    assert table.to_pylist() == [{"user": 0, "candidate": 3, "score": 2.0, "rank": 1},
                                 {"user": 4, "candidate": 1, "score": 1.0, "rank": 1},
                                 {"user": 4, "candidate": 2, "score": 1.0, "rank": 2}]  # a tie: by index
    farther = suggest_links(FIVE, 5, [0], k=5, model="common_neighbours", max_hops=3)
    assert farther.column("candidate").to_pylist() == [3, 4]
    anyone = suggest_links(FIVE + [(5, 6)], 7, [0], k=5, model="preferential_attachment", max_hops=None)
    assert anyone.column("candidate").to_pylist() == [3, 4, 5, 6]  # 3 has degree 3, then 1, 1, 1 by index
    assert suggest_links(FIVE, 6, [5], model="adamic_adar").num_rows == 0  # an isolated user has no friends' friends


def test_suggestions_are_never_neighbours_and_respect_k():
    edges, _ = planted_partition(80, 4, 0.3, 0.02, seed=0)
    users = [7, 0, 7, 33]
    table = suggest_links(edges, 80, users, k=4, random_state=0)
    known = neighbours_of(edges)
    rows = table.to_pylist()
    assert [row["user"] for row in rows] == [7] * 4 + [0] * 4 + [33] * 4  # given order, repeats dropped
    for row in rows:
        assert row["candidate"] != row["user"] and row["candidate"] not in known[row["user"]]
        assert 0.0 <= row["score"] <= 1.0
    for user in (7, 0, 33):
        mine = [row for row in rows if row["user"] == user]
        assert [row["rank"] for row in mine] == [1, 2, 3, 4]
        assert [row["score"] for row in mine] == sorted((row["score"] for row in mine), reverse=True)
    again = suggest_links(edges, 80, users, k=4, random_state=0)
    assert again.equals(table)


def test_suggestions_take_a_fitted_model_or_node_features():
    edges, group = planted_partition(60, 3, 0.4, 0.03, seed=1)
    features = np.eye(3)[group]
    fitted = LinkPredictor(random_state=2).fit(edges, n_nodes=60, node_features=features)
    given = suggest_links(edges, 60, [5], k=3, model=fitted)
    fitted_here = suggest_links(edges, 60, [5], k=3, node_features=features, random_state=2)
    assert given.equals(fitted_here)
    pairs = np.stack([given.column("user").to_numpy(), given.column("candidate").to_numpy()], axis=1)
    np.testing.assert_allclose(given.column("score").to_numpy(), fitted.predict_proba(pairs)[:, 1])
    with pytest.raises(ConfigurationError, match="node_features"):
        suggest_links(edges, 60, [5], model=fitted, node_features=features)
    with pytest.raises(DataError, match="fitted on 60 nodes"):
        suggest_links(edges, 70, [5], model=fitted)


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [({"k": 0}, ConfigurationError, "k must be"), ({"max_hops": 1}, ConfigurationError, "max_hops"),
     ({"model": "katz"}, ConfigurationError, "unknown heuristic"),
     ({"model": "jaccard", "node_features": np.ones((5, 2))}, ConfigurationError, "node_features"),
     ({"users": [5]}, DataError, r"0 \.\. 4")],
)
def test_suggestion_errors(keywords, error, message):
    arguments = {"users": [0], **keywords}
    with pytest.raises(error, match=message):
        suggest_links(FIVE, 5, **arguments)


def test_compare_link_methods_scores_every_method_on_one_split():
    edges, _ = planted_partition(100, 4, 0.4, 0.02, seed=3)
    split = split_edges(edges, random_state=0)
    table = compare_link_methods(split)
    assert table.column("method").to_pylist() == [*HEURISTICS, "spectral_dot", "link_predictor"]
    row = table.to_pylist()[HEURISTICS.index("jaccard")]
    expected = evaluate_link_prediction(split, heuristic_scores(split.train_edges, split.test_pairs, 100, "jaccard"))
    assert (row["auc"], row["average_precision"]) == (expected["auc"], expected["average_precision"])
    assert table.to_pylist()[-1]["auc"] > 0.8
