"""Engagement at scale: examples of a bounded, seeded sample of users stratified by activity (``max_examples``),
whose features mean what they mean on the whole corpus, and a card that states the sample."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError
from socialfusion.report import Metrics
from socialfusion.tasks.engagement import (
    MAX_EXAMPLES,
    EngagementModel,
    engagement_examples,
    engagement_section,
    time_split,
)

# features read from every user's actions (not from the examples): identical for a sampled user's rows
HISTORY_FEATURES = (
    "interest_match",
    "hashtag_match",
    "follows_author",
    "same_community",
    "past_interactions_with_author",
    "post_engagement_so_far",
    "user_activity",
    "topic_share",
    "topic_interest",
    "community_topic_share",
    "hours_since_post",
    "author_followers_log",
)


def random_vectors(corpus: Corpus) -> tuple[list[str], Encoded]:
    n_posts = corpus.posts.num_rows
    return corpus.posts.column("post_id").to_pylist(), Encoded(
        np.random.default_rng(0).random((n_posts, 8)).astype(np.float32), np.zeros(n_posts, bool), [None] * n_posts
    )


@pytest.fixture(scope="module")
def corpus():
    return generate(n_users=150, n_posts=800, seed=1, n_videos=0, n_audio=0, image_fraction=0.0).corpus


@pytest.fixture(scope="module")
def full(corpus):
    return engagement_examples(corpus, post_vectors=random_vectors(corpus), max_examples=None)


def examples_of(corpus, **options):
    return engagement_examples(corpus, post_vectors=random_vectors(corpus), **options)


def test_the_default_bound_leaves_a_demo_size_corpus_whole(corpus, full):
    assert full.num_rows < MAX_EXAMPLES
    assert examples_of(corpus).equals(full)
    assert json.loads(full.schema.metadata[b"example_sample"]) is None


def test_more_examples_than_the_bound_keep_every_example_of_a_sample_of_users(corpus, full):
    bound = full.num_rows // 3

    sampled = examples_of(corpus, max_examples=bound)

    assert 0.7 * bound < sampled.num_rows < 1.3 * bound
    sample = json.loads(sampled.schema.metadata[b"example_sample"])
    users = pc.unique(sampled.column("user_id"))
    all_users = pc.unique(full.column("user_id"))
    assert sample == {"users": len(users), "of_users": len(all_users), "of_examples": full.num_rows}
    # every example of a sampled user, and nobody else's; the features read from the history are unchanged
    theirs = full.filter(pc.is_in(full.column("user_id"), value_set=users))
    assert sampled.num_rows == theirs.num_rows
    key = [("user_id", "ascending"), ("post_id", "ascending")]
    sampled, theirs = sampled.sort_by(key), theirs.sort_by(key)
    for name in ("user_id", "post_id", "at", "label", "label_at"):
        assert sampled.column(name).equals(theirs.column(name)), name
    for name in HISTORY_FEATURES:
        np.testing.assert_allclose(sampled.column(name).to_numpy(), theirs.column(name).to_numpy(), err_msg=name)


def test_the_user_sample_is_stratified_by_activity(corpus, full):
    counts = full.group_by("user_id").aggregate([("label", "count")])
    activity = dict(zip(counts.column("user_id").to_pylist(), counts.column("label_count").to_pylist()))
    values = np.array(list(activity.values()))
    quiet, busy = np.quantile(values, 0.25), np.quantile(values, 0.75)

    sampled = examples_of(corpus, max_examples=full.num_rows // 4)

    chosen = np.array([activity[user] for user in pc.unique(sampled.column("user_id")).to_pylist()])
    share = len(chosen) / len(values)
    # the quiet and the busy quarters of the users are both represented in proportion (to within 2 users)
    assert abs((chosen <= quiet).sum() - share * (values <= quiet).sum()) <= 2
    assert abs((chosen >= busy).sum() - share * (values >= busy).sum()) <= 2


def test_the_user_sample_is_seeded(corpus, full):
    bound = full.num_rows // 3

    first, again = examples_of(corpus, max_examples=bound), examples_of(corpus, max_examples=bound)
    other = examples_of(corpus, max_examples=bound, random_state=7)

    assert first.equals(again)
    assert set(pc.unique(first.column("user_id")).to_pylist()) != set(pc.unique(other.column("user_id")).to_pylist())


def test_sampled_negatives_are_bounded_too(corpus):
    interactions = corpus.interactions
    no_views = Corpus(
        posts=corpus.posts,
        users=corpus.users,
        edges=corpus.edges,
        interactions=interactions.filter(pc.not_equal(interactions.column("kind"), "view")),
    )
    whole = examples_of(no_views, max_examples=None)

    sampled = examples_of(no_views, max_examples=whole.num_rows // 3)

    assert sampled.schema.metadata[b"negatives"] == b"sampled"
    assert 0.6 * whole.num_rows / 3 < sampled.num_rows < 1.4 * whole.num_rows / 3
    sample = json.loads(sampled.schema.metadata[b"example_sample"])
    assert sample["users"] == len(pc.unique(sampled.column("user_id")))
    assert sample["of_examples"] >= whole.num_rows  # one positive and up to one negative per engagement


@pytest.mark.parametrize("bound", [0, -1, 2.5, "many", True])
def test_a_bad_bound_is_refused(corpus, bound):
    with pytest.raises(ConfigurationError, match="max_examples must be a positive integer"):
        examples_of(corpus, max_examples=bound)


def test_the_card_states_the_sample(corpus, full):
    sampled = examples_of(corpus, max_examples=full.num_rows // 2)
    sample = json.loads(sampled.schema.metadata[b"example_sample"])
    train, test = time_split(sampled)

    section = engagement_section(EngagementModel(learner="logistic").fit(train), test)

    (metrics,) = [block for block in section.blocks if isinstance(block, Metrics)]
    assert f"seeded sample of {sample['users']:,} of the {sample['of_users']:,} users" in metrics.caption
    assert "stratified by activity" in metrics.caption
    whole_train, whole_test = time_split(full)
    unsampled = engagement_section(EngagementModel(learner="logistic").fit(whole_train), whole_test)
    assert "sample" not in [block for block in unsampled.blocks if isinstance(block, Metrics)][0].caption
