"""Tests for cascade reconstruction, cascade statistics and independent-cascade simulation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from sklearn.exceptions import NotFittedError

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks.propagation import (
    CascadeSizeForecaster,
    NextAdopterModel,
    adoption_cascades,
    cascade_sequences,
    cascade_statistics,
    celf_seeds,
    count_followers,
    degree_discount_seeds,
    early_cascade_features,
    forecast_errors,
    independent_cascade_reach,
    learn_cascade_probabilities,
    learned_probabilities,
    linear_threshold_reach,
    reshare_cascades,
    sir_outbreak,
)

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def chain_and_star() -> Corpus:
    """Cascade "chain": a <- b <- c <- d (each follows the previous); cascade "star": e reshared by f, g, h."""
    posts = [{"post_id": "chain", "author_id": "a", "created_at": at(0), "text": "x"},
             {"post_id": "star", "author_id": "e", "created_at": at(0), "text": "y"},
             {"post_id": "lonely", "author_id": "a", "created_at": at(1), "text": "z"}]
    posts += [{"post_id": f"c{i}", "author_id": user, "created_at": at(10 * (i + 1)), "reshare_of": "chain"}
              for i, user in enumerate("bcd")]
    posts += [{"post_id": f"s{i}", "author_id": user, "created_at": at(60 * (i + 1)), "reshare_of": "star"}
              for i, user in enumerate("fgh")]
    edges = [{"src": "b", "dst": "a", "kind": "follow"}, {"src": "c", "dst": "b", "kind": "follow"},
             {"src": "d", "dst": "c", "kind": "follow"}, {"src": "d", "dst": "a", "kind": "follow"}]
    return Corpus.from_records(posts=posts, edges=edges)


def test_trees_follow_the_latest_followed_adopter_or_fall_back_on_the_original():
    cascades = reshare_cascades(chain_and_star())
    parents = dict(zip(cascades.column("post_id").to_pylist(), cascades.column("parent_post_id").to_pylist()))
    assert parents == {"chain": None, "c0": "chain", "c1": "c0", "c2": "c1",  # d follows a and c: c is later
                       "star": None, "s0": "star", "s1": "star", "s2": "star"}
    assert "lonely" not in parents


def test_statistics_by_hand():
    stats = {row["cascade_id"]: row for row in cascade_statistics(reshare_cascades(chain_and_star())).to_pylist()}
    chain, star = stats["chain"], stats["star"]
    assert (chain["size"], chain["depth"], chain["max_breadth"]) == (4, 3, 1)
    assert (star["size"], star["depth"], star["max_breadth"]) == (4, 1, 3)
    assert chain["structural_virality"] == pytest.approx(5 / 3)  # a chain of n: (n + 1) / 3
    assert star["structural_virality"] == pytest.approx(2 * 3 / 4)  # a star of k reshares: 2k / (k + 1)
    assert chain["duration_hours"] == pytest.approx(0.5) and chain["reshares_per_hour"] == pytest.approx(6.0)


def test_synthetic_cascades_are_trees_in_time_order():
    network = generate(n_users=120, n_posts=300, seed=2, n_videos=0, n_audio=0, image_fraction=0.0)
    cascades = reshare_cascades(network.corpus).to_pylist()
    assert cascades, "the generator plants reshare cascades"
    seen = {}
    for row in cascades:
        if row["parent_post_id"] is None:
            assert row["depth"] == 0 and row["post_id"] == row["cascade_id"]
        else:
            parent = seen[row["parent_post_id"]]  # parents come first
            assert parent["cascade_id"] == row["cascade_id"] and parent["at"] <= row["at"]
            assert row["depth"] == parent["depth"] + 1
        seen[row["post_id"]] = row
    reshares = sum(post is not None for post in network.corpus.posts.column("reshare_of").to_pylist())
    assert len(cascades) - len({row["cascade_id"] for row in cascades}) == reshares


def test_independent_cascade_extremes_and_determinism():
    sources, targets = np.array([0, 0, 0, 1]), np.array([1, 2, 3, 4])
    assert independent_cascade_reach(sources, targets, 1.0, 6, [0], runs=5).tolist() == [5] * 5
    assert independent_cascade_reach(sources, targets, 0.0, 6, [0, 5], runs=3).tolist() == [2] * 3
    first = independent_cascade_reach(sources, targets, 0.5, 6, [0], runs=50, random_state=1)
    np.testing.assert_array_equal(first, independent_cascade_reach(sources, targets, 0.5, 6, [0], runs=50,
                                                                   random_state=1))
    with pytest.raises(ConfigurationError, match="probabilities"):
        independent_cascade_reach(sources, targets, 1.5, 6, [0])
    with pytest.raises(ConfigurationError, match="seeds"):
        independent_cascade_reach(sources, targets, 0.5, 6, [9])


def naive_reach(sources, targets, probability, n_nodes, seeds, rng) -> int:
    """The textbook per-run loop."""
    neighbours = [[] for _ in range(n_nodes)]
    for source, target in zip(sources, targets):
        neighbours[source].append(target)
    active, frontier = set(seeds), list(seeds)
    while frontier:
        fresh = []
        for node in frontier:
            for target in neighbours[node]:
                if target not in active and rng.random() < probability:
                    active.add(target)
                    fresh.append(target)
        frontier = fresh
    return len(active)


def test_vectorised_simulation_agrees_with_a_per_run_loop_in_distribution():
    rng = np.random.default_rng(0)
    sources, targets = rng.integers(0, 300, 1500), rng.integers(0, 300, 1500)
    fast = independent_cascade_reach(sources, targets, 0.15, 300, [0, 1, 2], runs=2000, random_state=0)
    slow = [naive_reach(sources, targets, 0.15, 300, [0, 1, 2], rng) for _ in range(2000)]
    assert fast.mean() == pytest.approx(np.mean(slow), rel=0.05)
    assert np.median(fast) == pytest.approx(np.median(slow), rel=0.15)


def two_stars_sharing_a_hub_neighbour():
    """Hub 0 -> 1..10 and hub 11 -> 12..16; node 1 also points to 0's leaves 2..6 (a hub next to hub 0)."""
    sources = [0] * 10 + [11] * 5 + [1] * 5
    targets = list(range(1, 11)) + list(range(12, 17)) + list(range(2, 7))
    return np.array(sources), np.array(targets), 17


def test_celf_picks_the_two_hubs_and_beats_a_random_pair():
    sources, targets, n = two_stars_sharing_a_hub_neighbour()
    seeds = celf_seeds(sources, targets, 0.9, n, 2, runs=300)
    assert sorted(seeds) == [0, 11]
    best = independent_cascade_reach(sources, targets, 0.9, n, seeds, runs=300).mean()
    assert best > independent_cascade_reach(sources, targets, 0.9, n, [5, 6], runs=300).mean() + 5


def test_degree_discount_skips_a_hub_next_to_a_chosen_seed():
    sources, targets, n = two_stars_sharing_a_hub_neighbour()
    # Node 1 has degree 6 (hub 0 and leaves 2..6), more than hub 11's 5, but once 0 is chosen its discounted
    # degree is 6 - 2 - 5 * 0.1 = 3.5.
    assert degree_discount_seeds(sources, targets, n, 2, 0.1) == [0, 11]
    with pytest.raises(ConfigurationError, match="k must be"):
        degree_discount_seeds(sources, targets, n, n + 1, 0.1)


def test_next_adopter_model_learns_a_repeated_order_and_never_predicts_an_adopter():
    users = list("abcdefgh")
    train = [["a", "b", "c"], ["a", "b", "c", "d"], ["e", "f", "g"], ["e", "f", "g", "h"]] * 5
    model = NextAdopterModel(window=1).fit(train, follows=[("h", "g")], users=users)
    scores = model.evaluate([["a", "b", "c", "d"], ["e", "f", "g", "h"]], ks=(1, 3))
    assert scores["hits@1"] == 1.0 and scores["map@1"] == 1.0
    encoded = [model.index_[user] for user in ["a", "b", "a"]]  # "a" again: already adopted, never ranked first
    assert model._ranks(encoded)[-1] > 1


def test_a_single_training_cascade_still_fits_and_predicts_its_order():
    model = NextAdopterModel(window=1).fit([["a", "b", "c"]], follows=[("b", "c")])
    assert model.weights_ == (1, 2, 1)  # nothing to hold out: every term counts
    assert model.predict([["a"]], k=1).column("user_id").to_pylist() == ["b"]


def test_hits_and_map_follow_their_definitions():
    model = NextAdopterModel().fit([["a", "b"], ["a", "b"], ["c", "d"]] * 4, follows=[], users=list("abcd"))
    model._ranks = lambda sequence: np.array([1, 4, 20])  # ranks of three prediction steps
    scores = model._evaluate([[0, 1, 2, 3]], ks=(1, 5))
    assert scores["hits@1"] == pytest.approx(1 / 3) and scores["hits@5"] == pytest.approx(2 / 3)
    assert scores["map@5"] == pytest.approx((1 + 1 / 4) / 3)


def test_cascade_sequences_read_adopters_in_time_order_per_split(shared_data):
    folder = shared_data / "diffusion-cascades"
    if not folder.is_dir():
        pytest.skip(f"needs {folder}, not found")
    from socialfusion.datasets import load_diffusion_cascades

    corpus = load_diffusion_cascades("christianity", shared_data)
    dev = cascade_sequences(corpus, "dev")
    assert len(dev) == 59 and all(len(set(users)) == len(users) for users in dev.values())
    train = cascade_sequences(corpus, "train")
    model = NextAdopterModel().fit(list(train.values()), list(zip(corpus.edges.column("src").to_pylist(),
                                                                    corpus.edges.column("dst").to_pylist())),
                                   corpus.users.column("user_id").to_pylist())
    assert model.evaluate(list(dev.values()))["map@100"] > 0.09  # measured 0.111; published best 0.0965


def test_linear_threshold_activates_when_the_weights_reach_the_threshold():
    sources, targets = np.array([0, 1]), np.array([2, 2])
    half = linear_threshold_reach(sources, targets, 0.5, 3, [0], runs=4000, random_state=0)
    assert set(half.tolist()) <= {1, 2} and np.mean(half == 2) == pytest.approx(0.5, abs=0.03)
    assert linear_threshold_reach(sources, targets, 0.5, 3, [0, 1], runs=10).tolist() == [3] * 10
    # The default weight 1/in-degree: node 2 has two in-neighbours.
    assert np.mean(linear_threshold_reach(sources, targets, None, 3, [1], runs=4000) == 2) == pytest.approx(0.5,
                                                                                                           abs=0.03)
    with pytest.raises(ConfigurationError, match="weights"):
        linear_threshold_reach(sources, targets, 2.0, 3, [0])


def test_sir_with_certain_recovery_is_the_independent_cascade_and_its_curve_adds_up():
    rng = np.random.default_rng(3)
    sources, targets = rng.integers(0, 200, 1000), rng.integers(0, 200, 1000)
    sir, curve = sir_outbreak(sources, targets, 0.2, 1.0, 200, [0, 1], runs=3000, random_state=1)
    cascade = independent_cascade_reach(sources, targets, 0.2, 200, [0, 1], runs=3000, random_state=2)
    assert sir.mean() == pytest.approx(cascade.mean(), rel=0.05)
    np.testing.assert_array_equal(curve.sum(axis=0), sir)  # recovery 1: everyone is infected for one step
    assert curve[0].tolist() == [2] * 3000
    none, _ = sir_outbreak(sources, targets, 0.0, 0.5, 200, [0, 1], runs=5)
    assert none.tolist() == [2] * 5
    slow, slow_curve = sir_outbreak(sources, targets, 0.2, 0.3, 200, [0, 1], runs=500)
    assert slow.mean() > sir.mean() and len(slow_curve) > len(curve)  # staying infected longer spreads further
    with pytest.raises(ConfigurationError, match="recovery"):
        sir_outbreak(sources, targets, 0.2, 1.5, 200, [0])


def test_learned_cascade_probabilities_recover_the_planted_ones_on_a_tree():
    rng = np.random.default_rng(0)
    planted = {("r", "a"): 0.5, ("r", "b"): 0.2, ("a", "c"): 0.4}  # (followed, follower): probability
    sequences = []
    for _ in range(4000):
        adopted = ["r"]
        for (source, target), probability in planted.items():  # parents come before children in this order
            if source in adopted and rng.random() < probability:
                adopted.append(target)
        sequences.append(adopted)
    follows = [(follower, followed) for followed, follower in planted]
    rows = learn_cascade_probabilities(sequences, follows).to_pylist()
    learned = {(row["source"], row["target"]): row for row in rows}
    for edge, probability in planted.items():
        assert learned[edge]["probability"] == pytest.approx(probability, abs=0.03)
    assert learned[("r", "a")]["trials"] == 4000
    smoothed = learn_cascade_probabilities([["r"]], [("a", "r")], prior=(1, 1)).to_pylist()
    assert smoothed[0]["probability"] == pytest.approx(1 / 3)  # no success in one trial, Beta(1, 1) prior
    with pytest.raises(ConfigurationError, match="prior"):
        learn_cascade_probabilities([], [], prior=(-1, 0))


def test_learned_probabilities_from_columns_with_cascades_interleaved():
    """The columnar form takes adoptions as rows keyed by cascade (rows of different cascades mixed, a repeated
    adopter counting once) and gives what the per-cascade lists give."""
    sequences = {"x": ["a", "b", "a", "c"], "y": ["b", "a"], "z": ["c", "b", "d"]}
    rows = [("x", "a"), ("y", "b"), ("z", "c"), ("x", "b"), ("z", "b"), ("y", "a"), ("x", "a"), ("z", "d"),
            ("x", "c")]  # each cascade's own rows stay in time order
    follows = [("b", "a"), ("c", "a"), ("a", "b"), ("d", "c"), ("b", "c"), ("b", "a")]
    columnar = learned_probabilities(pa.array([cascade for cascade, _ in rows]), pa.array([user for _, user in rows]),
                                     pa.array([pair[0] for pair in follows]), pa.array([pair[1] for pair in follows]))
    expected = learn_cascade_probabilities(list(sequences.values()), follows)
    assert columnar.to_pylist() == expected.to_pylist()
    assert {(row["source"], row["target"]): row["probability"] for row in expected.to_pylist()} == {
        ("a", "b"): 1 / 2, ("a", "c"): 1 / 2, ("b", "a"): 1 / 3, ("c", "b"): 1 / 2, ("c", "d"): 1 / 2}


def hand_cascade() -> Corpus:
    """Original p by a at 0; b at 10 min (follows a), c at 20 (follows b), d at 50 (follows nobody), e at 70
    (follows c): the tree p -> r1 -> r2 -> r4 and p -> r3."""
    posts = [{"post_id": "p", "author_id": "a", "created_at": at(0), "text": "x"}]
    posts += [{"post_id": post, "author_id": user, "created_at": at(minutes), "reshare_of": "p"}
              for post, user, minutes in [("r1", "b", 10), ("r2", "c", 20), ("r3", "d", 50), ("r4", "e", 70)]]
    edges = [{"src": "b", "dst": "a", "kind": "follow"}, {"src": "c", "dst": "b", "kind": "follow"},
             {"src": "e", "dst": "c", "kind": "follow"}]
    return Corpus.from_records(posts=posts, edges=edges)


def test_early_features_by_hand_with_the_window_cutting_the_cascade():
    cascades = reshare_cascades(hand_cascade())
    row = early_cascade_features(cascades, 3600.0, {"a": 100, "b": 5, "d": 7, "e": 1000}).to_pylist()[0]
    # Observed in the hour: p, r1 (10 min), r2 (20 min), r3 (50 min); r4 (70 min) is cut off.
    assert (row["observed_size"], row["observed_depth"], row["observed_max_breadth"]) == (4, 2, 2)
    assert [row[f"adoptions_q{quarter}"] for quarter in range(1, 5)] == [1, 1, 0, 1]  # 15-minute quarters
    assert row["seconds_to_2nd"] == 600.0 and row["seconds_to_5th"] == 3600.0  # the 5th is outside: the window
    assert row["seconds_to_last"] == 3000.0 and row["adoption_rate"] == pytest.approx(3.0)
    assert row["adoption_acceleration"] == pytest.approx((1 - 2) / 0.5**2)
    assert row["observed_structural_virality"] == pytest.approx(10 / 6)  # path lengths 1, 2, 1, 1, 2, 3
    assert (row["root_followers"], row["adopter_followers_sum"], row["adopter_followers_max"]) == (100, 12, 7)
    longer = early_cascade_features(cascades, 7200.0).to_pylist()[0]
    assert (longer["observed_size"], longer["observed_depth"], longer["seconds_to_5th"]) == (5, 3, 4200.0)
    assert "root_followers" not in longer


def test_adoption_cascades_build_trees_from_timed_adoptions_per_split():
    shares = [("s0", "a", 0), ("s0", "b", 5), ("s0", "c", 9), ("s0", "b", 30), ("s1", "x", 0), ("s1", "y", 3)]
    corpus = Corpus.from_records(
        interactions=[{"user_id": user, "post_id": cascade, "kind": "share", "at": at(minutes)}
                      for cascade, user, minutes in shares],
        edges=[{"src": "c", "dst": "b", "kind": "follow"}],
        labels=[{"item_id": cascade, "item_kind": "cascade", "task": "cascade", "label": split, "split": split}
                for cascade, split in [("s0", "train"), ("s1", "dev")]])
    rows = adoption_cascades(corpus).to_pylist()
    assert [(row["post_id"], row["author_id"], row["parent_post_id"], row["depth"]) for row in rows] == [
        ("s0", "a", None, 0), ("s0/1", "b", "s0", 1), ("s0/2", "c", "s0/1", 2),  # b's second share counts once
        ("s1", "x", None, 0), ("s1/1", "y", "s1", 1)]
    assert adoption_cascades(corpus, "dev").column("cascade_id").to_pylist() == ["s1", "s1"]
    assert count_followers(corpus) == {"b": 1}


def speed_driven_cascades(n: int, seed: int):
    """Cascades adopted at the rate ``a exp(g t)`` per hour for 4 hours, with ``g`` uniform in [-1.5, 0.5]: those
    speeding up in the first hour grow far more than those slowing down with as many early adopters. Returns
    (timed trees, final sizes)."""
    rng = np.random.default_rng(seed)
    rows, sizes = [], []
    for cascade in range(n):
        scale, growth = rng.lognormal(np.log(15.0), 0.5), rng.uniform(-1.5, 0.5)
        total = np.expm1(4 * growth) / growth  # integral of exp(g t) over 4 hours
        hours = np.sort(np.log1p(rng.random(rng.poisson(scale * total)) * np.expm1(4 * growth)) / growth)
        root = f"c{cascade}"
        rows.append({"cascade_id": root, "post_id": root, "author_id": "u0", "parent_post_id": None, "depth": 0,
                     "at": START})
        rows += [{"cascade_id": root, "post_id": f"{root}/{rank}", "author_id": f"u{rank}", "parent_post_id": root,
                  "depth": 1, "at": START + dt.timedelta(hours=float(hour))} for rank, hour in enumerate(hours)]
        sizes.append(len(hours) + 1)
    return pa.Table.from_pylist(rows, schema=reshare_cascades(chain_and_star()).schema), np.array(sizes)


@pytest.fixture
def one_thread():
    """Gradient boosting on one OpenMP thread: on a shared machine, more threads than cores is far slower."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


def test_forecaster_beats_no_growth_and_log_linear_on_speed_driven_cascades_and_is_deterministic(one_thread):
    train, train_sizes = speed_driven_cascades(400, seed=0)
    test, truth = speed_driven_cascades(200, seed=1)
    observed = early_cascade_features(test).column("observed_size").to_numpy()
    model = CascadeSizeForecaster(random_state=3).fit(train)
    predicted = model.predict(test)
    assert (predicted >= observed).all()
    linear = CascadeSizeForecaster(estimator="log_linear").fit(train).predict(test)
    no_growth, baseline, forecast = (forecast_errors(truth, sizes)["rmsle"] for sizes in (observed, linear, predicted))
    # Growth hides in the early trend, which the log-linear baseline (observed size only) cannot see.
    assert forecast < 0.6 * no_growth and forecast < baseline < no_growth
    np.testing.assert_array_equal(predicted, CascadeSizeForecaster(random_state=3).fit(train).predict(test))
    explicit = CascadeSizeForecaster(random_state=3).fit(train, {f"c{i}": size for i, size in enumerate(train_sizes)})
    np.testing.assert_array_equal(explicit.predict(test), predicted)  # the default final sizes: the whole table


def test_forecast_errors_by_hand():
    errors = forecast_errors([1, 3, 7], [1, 1, 15])
    assert errors["rmsle"] == pytest.approx(np.sqrt((np.log(2) ** 2 + np.log(2) ** 2) / 3))
    assert errors["median_ape"] == pytest.approx(2 / 3) and errors["spearman"] == pytest.approx(0.8660254)
    assert np.isnan(forecast_errors([1, 2], [3, 3])["spearman"])
    with pytest.raises(DataError, match="length"):
        forecast_errors([1, 2], [1])


def test_forecasting_rejects_bad_input(one_thread):
    cascades = reshare_cascades(hand_cascade())
    with pytest.raises(ConfigurationError, match="observation_seconds"):
        early_cascade_features(cascades, -60.0)
    with pytest.raises(ConfigurationError, match="observation_seconds"):
        CascadeSizeForecaster(observation_seconds=0).fit(cascades)
    with pytest.raises(DataError, match="empty"):
        early_cascade_features(cascades.slice(0, 0))
    with pytest.raises(DataError, match="lack the columns"):
        early_cascade_features(cascades.drop_columns(["at"]))
    with pytest.raises(NotFittedError, match="not fitted"):
        CascadeSizeForecaster().predict(cascades)
    with pytest.raises(ConfigurationError, match="unknown estimator"):
        CascadeSizeForecaster(estimator="prophet").fit(cascades)
    with pytest.raises(DataError, match="at least each cascade's observed size"):
        CascadeSizeForecaster().fit(cascades, [2])  # 4 posts are already seen in the first hour
    fitted = CascadeSizeForecaster().fit(cascades, follower_counts={"a": 3})
    with pytest.raises(DataError, match="follower_counts"):
        fitted.predict(cascades)
