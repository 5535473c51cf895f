"""Hidden patterns: association rules checked by hand on five posts and counted once per copied text, user segments
recovering planted groups and refusing noise."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.report import render_report
from socialfusion.tasks._clustering import MIN_SILHOUETTE, MIN_SILHOUETTE_GAIN, kmeans_by_silhouette, shuffled_columns
from socialfusion.tasks.knowledge import post_items
from socialfusion.tasks.patterns import RULE_SCHEMA, association_rules, patterns_section, text_key, user_segments

# Five transactions over hashtags a, b, c: {a,b,c} {a,b} {a,c} {b} {a,b,c}.
# Supports: a 4/5, b 4/5, c 3/5, ab 3/5, ac 3/5, bc 2/5, abc 2/5.
FIVE = pa.table({"post_id": [f"t{index}" for index in range(1, 6)], "text": [""] * 5,
                 "hashtags": [["a", "b", "c"], ["a", "b"], ["a", "c"], ["b"], ["a", "b", "c"]]})


def rule_map(rules: pa.Table) -> dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[float, float, float, int]]:
    return {(tuple(row["antecedent"]), tuple(row["consequent"])):
            (row["support"], row["confidence"], row["lift"], row["posts"]) for row in rules.to_pylist()}


def test_association_rules_match_hand_computation():
    rules = association_rules(FIVE, items=["hashtag"], min_support=0.4, min_confidence=0.6)
    assert rules.schema.equals(RULE_SCHEMA)
    found = rule_map(rules)
    a, b, c = "hashtag:a", "hashtag:b", "hashtag:c"
    expected = {
        ((c,), (a,)): (0.6, 1.0, 1.0 / 0.8, 3),  # conf = ac / c = 0.6 / 0.6; lift = 1 / a
        ((a,), (c,)): (0.6, 0.75, 0.75 / 0.6, 3),
        ((a,), (b,)): (0.6, 0.75, 0.75 / 0.8, 3),
        ((b, c), (a,)): (0.4, 1.0, 1.0 / 0.8, 2),
        ((a, b), (c,)): (0.4, 0.4 / 0.6, (0.4 / 0.6) / 0.6, 2),
        ((c,), (a, b)): (0.4, 0.4 / 0.6, (0.4 / 0.6) / 0.6, 2),
        ((c,), (b,)): (0.4, 0.4 / 0.6, (0.4 / 0.6) / 0.8, 2),
    }
    for key, values in expected.items():
        assert found[key] == pytest.approx(values), key
    assert ((b,), (c,)) not in found  # confidence 0.4 / 0.8 = 0.5 < 0.6
    assert ((a,), (b, c)) not in found
    lifts = rules.column("lift").to_pylist()
    assert lifts == sorted(lifts, reverse=True)
    assert association_rules(FIVE, items=["hashtag"], min_support=0.4, min_confidence=0.6, max_len=2).num_rows == 5


def test_extra_items_add_kinds_such_as_image_tags():
    extra = pa.table({"post_id": ["t1", "t2", "t5", "t3"], "item": ["cat", "cat", "cat", "tree"],
                      "kind": ["image_tag", "image_tag", "image_tag", "topic"]})
    rules = rule_map(association_rules(FIVE, items=["hashtag", "image_tag"], extra_items=extra, min_support=0.6,
                                       min_confidence=0.9))
    # cat in t1 t2 t5 (3/5); b in all three: cat -> b with confidence 1, lift 1 / 0.8; "tree" has another kind.
    assert rules[(("image_tag:cat",), ("hashtag:b",))] == pytest.approx((0.6, 1.0, 1.25, 3))
    assert not any("topic:tree" in side for key in rules for side in key)
    untyped = pa.table({"post_id": ["t1", "t2", "t5"], "item": ["x", "x", "x"]})
    assert (("x",), ("hashtag:b",)) in rule_map(association_rules(FIVE, items=["hashtag"], extra_items=untyped,
                                                                  min_support=0.6, min_confidence=0.9))


def test_association_rules_on_nothing_and_bad_arguments():
    assert association_rules(FIVE.slice(0, 0), items=["hashtag"]).num_rows == 0
    assert association_rules(FIVE, items=["domain"]).num_rows == 0
    assert association_rules(FIVE, items=["hashtag"], min_support=0.9).num_rows == 0
    with pytest.raises(ConfigurationError, match="min_support"):
        association_rules(FIVE, min_support=0)
    with pytest.raises(ConfigurationError, match="min_confidence"):
        association_rules(FIVE, min_confidence=1.5)
    with pytest.raises(ConfigurationError, match="max_len"):
        association_rules(FIVE, max_len=1)
    with pytest.raises(DataError, match="extra_items needs"):
        association_rules(FIVE, items=["hashtag"], extra_items=pa.table({"post_id": ["t1"]}))


def two_groups(seed: int = 0) -> pa.Table:
    """Users p0..p5 post about pets (#pets and #cats or #dogs), m0..m5 about motors (#motors and #cars or #bikes);
    everyone's first post also carries #news."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, tags in (("p", ["pets", "cats", "dogs"]), ("m", ["motors", "cars", "bikes"])):
        for user in range(6):
            for post in range(5):
                hashtags = [tags[0], tags[1 + int(rng.integers(2))]] + (["news"] if post == 0 else [])
                rows.append({"post_id": f"{group}{user}-{post}", "author_id": f"{group}{user}", "text": "",
                             "hashtags": hashtags})
    return pa.Table.from_pylist(rows)


def test_user_segments_recover_two_obvious_groups():
    posts = two_groups()
    keys = post_items(posts, kinds=["hashtag"]).select(["post_id", "item"])
    found = user_segments(posts, keys)
    assert found.n_segments == 2 and found.silhouette > 0.5
    segment = dict(zip(found.users.column("user_id").to_pylist(), found.users.column("segment").to_pylist(),
                       strict=True))
    assert len({segment[f"p{user}"] for user in range(6)}) == 1 and len({segment[f"m{user}"] for user in range(6)}) == 1
    assert segment["p0"] != segment["m0"]
    rows = found.segments.to_pylist()
    assert [row["size"] for row in rows] == [6, 6]
    pets = rows[segment["p0"]]
    assert pets["top_keys"][0] == "hashtag:pets" and pets["top_shares"][0] == pytest.approx(5 / 11)
    assert set(pets["top_keys"][1:3]) == {"hashtag:cats", "hashtag:dogs"} and pets["top_keys"][3] == "hashtag:news"
    assert sum(pets["top_shares"]) == pytest.approx(1.0)  # every key a pet lover uses is listed
    again = user_segments(posts, keys)
    assert again.users.equals(found.users) and again.silhouette == found.silhouette


def test_user_segments_take_any_key_column_and_fixed_k():
    posts = two_groups()
    post_ids = posts.column("post_id").to_pylist()
    topics = pa.table({"post_id": post_ids, "topic_id": [0 if post_id.startswith("p") else 1 for post_id in post_ids]})
    found = user_segments(posts, topics, n_segments=2)
    assert sorted(map(tuple, found.segments.column("top_keys").to_pylist())) == [("0",), ("1",)]
    one = user_segments(posts, topics, n_segments=1)
    assert one.n_segments == 1 and math.isnan(one.silhouette) and one.segments.column("size").to_pylist() == [12]
    empty = user_segments(posts, topics.slice(0, 0))
    assert empty.n_segments == 0 and empty.users.num_rows == 0


def test_user_segment_errors():
    posts = two_groups()
    with pytest.raises(ConfigurationError, match="more than the 12 users"):
        user_segments(posts, post_items(posts, kinds=["hashtag"]).select(["post_id", "item"]), n_segments=13)
    with pytest.raises(ConfigurationError, match="key_column"):
        user_segments(posts, post_items(posts, kinds=["hashtag"]))
    with pytest.raises(DataError, match="author_id"):
        user_segments(posts.drop_columns(["author_id"]), post_items(posts, kinds=["hashtag"]), key_column="item")


def test_patterns_section_shows_rules_and_segments():
    posts = two_groups()
    rules = association_rules(posts, items=["hashtag"], min_support=0.05, min_confidence=0.1)
    segments = user_segments(posts, post_items(posts, kinds=["hashtag"]), key_column="item")
    section = patterns_section(rules, segments)
    assert section.key == "patterns" and section.figure_ids() == ["patterns-segments"]
    assert section.summary == f"{rules.num_rows} association rules and 2 user segments."
    page = render_report([section], title="patterns")
    assert "#cats" in page and "it also has" in page.lower() and "distinct texts" in page.lower()
    quiet = patterns_section(rules.slice(0, 0))
    assert "No association rule reaches" in render_report([quiet], title="patterns")
    with pytest.raises(ConfigurationError, match="top must be"):
        patterns_section(rules, top=0)


def test_copies_of_a_post_make_no_rule_and_rules_need_several_authors():
    """Five near-identical copies of one post by one author carry #spam and #scam together; three authors really
    post #tea with #cake. Copies count once (support in distinct texts), and a rule needs three authors."""
    copies = [{"post_id": f"c{index}", "author_id": "bot", "hashtags": ["spam", "scam"],
               "text": text} for index, text in enumerate([
                   "Win a FREE phone!! https://t.co/abc", "win a free phone!! https://t.co/xyz",
                   "RT @bot: Win a FREE   phone!!", "@ann Win a free phone!!", "WIN A FREE PHONE!!"])]
    real = [{"post_id": f"r{index}", "author_id": author, "hashtags": ["tea", "cake"],
             "text": f"Afternoon tea number {index}"} for index, author in enumerate(["ann", "bob", "cy", "ann"])]
    other = [{"post_id": f"o{index}", "author_id": "dee", "hashtags": ["run"], "text": f"run {index}"}
             for index in range(6)]
    posts = pa.Table.from_pylist(copies + real + other)
    assert len({text_key(row["text"]) for row in copies}) == 1
    rules = association_rules(posts, items=["hashtag"], min_support=0.05, min_confidence=0.5)
    sides = {(tuple(row["antecedent"]), tuple(row["consequent"])): row for row in rules.to_pylist()}
    assert set(sides) == {(("hashtag:cake",), ("hashtag:tea",)), (("hashtag:tea",), ("hashtag:cake",))}
    tea = sides[("hashtag:tea",), ("hashtag:cake",)]
    assert (tea["posts"], tea["support_texts"], tea["support_authors"]) == (4, 4, 3)
    # 11 distinct texts: the five copies are one; support and lift count texts, not copies.
    assert tea["support"] == pytest.approx(4 / 11) and tea["lift"] == pytest.approx(11 / 4)
    # With one author enough, the copies give their rule, supported by one text and one author.
    spam = {(tuple(row["antecedent"]), tuple(row["consequent"])): row for row in association_rules(
        posts, items=["hashtag"], min_support=0.05, min_confidence=0.5, min_authors=1).to_pylist()}
    scam = spam[("hashtag:scam",), ("hashtag:spam",)]
    assert (scam["posts"], scam["support_texts"], scam["support_authors"]) == (5, 1, 1)
    # Without authors the author test cannot be made: rules stay, support_authors is null.
    anonymous = association_rules(posts.drop_columns(["author_id"]), items=["hashtag"], min_support=0.05)
    assert anonymous.num_rows == 4 and anonymous.column("support_authors").null_count == 4
    with pytest.raises(ConfigurationError, match="min_authors"):
        association_rules(posts, min_authors=0)


def interests(n_users: int, posts_per_user: int, groups: int, share: float, seed: int) -> tuple[pa.Table, pa.Table]:
    """Users posting about 30 keys at random; with ``groups``, a share of each user's posts goes to their group's
    three keys instead."""
    rng = np.random.default_rng(seed)
    posts, keys = [], []
    for user in range(n_users):
        for number in range(posts_per_user):
            planted = groups and rng.random() < share
            key = f"g{user % groups}-{rng.integers(3)}" if planted else f"k{rng.integers(30)}"
            posts.append({"post_id": f"{user}-{number}", "author_id": f"u{user}"})
            keys.append({"post_id": f"{user}-{number}", "key": key})
    return pa.Table.from_pylist(posts), pa.Table.from_pylist(keys)


@pytest.mark.parametrize("posts_per_user", [1, 5, 20])
def test_noise_makes_no_segments_and_planted_groups_do(posts_per_user):
    """Noise scores a best silhouette of about 0.4 (one post a user) to 0.08 (twenty): no fixed threshold tells it from
    structure, but it never beats its own shuffled keys by more than 0.012; three planted groups do, by 0.36 or
    more, wherever a user's posts show their group."""
    noise = user_segments(*interests(150, posts_per_user, 0, 0.0, seed=posts_per_user), max_segments=6)
    assert noise.rejected_k is not None and noise.n_segments == 1
    assert set(noise.users.column("segment").to_pylist()) == {0} and noise.segments.column("size").to_pylist() == [150]
    assert noise.describe().startswith("no segment structure found (best silhouette ")
    assert noise.describe().endswith(f" at k={noise.rejected_k})")
    planted = user_segments(*interests(150, posts_per_user, 3, 0.8, seed=posts_per_user), max_segments=6)
    if posts_per_user == 1:  # one post says nothing about its author's group: nothing to find
        assert planted.rejected_k is not None
        return
    assert planted.rejected_k is None and planted.n_segments == 3 and planted.silhouette > MIN_SILHOUETTE
    groups = {}
    for user, segment in zip(planted.users.column("user_id").to_pylist(), planted.users.column("segment").to_pylist(),
                             strict=True):
        groups.setdefault(int(user[1:]) % 3, Counter())[segment] += 1
    assert all(max(counts.values()) >= 0.9 * sum(counts.values()) for counts in groups.values())
    forced = user_segments(*interests(150, posts_per_user, 0, 0.0, seed=1), n_segments=3)
    assert forced.rejected_k is None and forced.n_segments == 3  # a k asked for is given


def test_kmeans_refuses_dense_noise_and_keeps_blobs():
    rng = np.random.default_rng(0)
    noise = rng.random((200, 12))
    refused = kmeans_by_silhouette(noise, max_clusters=5)
    assert refused.rejected and set(refused.labels.tolist()) == {0}
    assert refused.silhouette < MIN_SILHOUETTE or refused.silhouette - refused.null_silhouette < MIN_SILHOUETTE_GAIN
    blobs = rng.normal(size=(3, 12))[rng.integers(3, size=200)] + rng.normal(scale=0.3, size=(200, 12))
    kept = kmeans_by_silhouette(blobs, max_clusters=5)
    assert not kept.rejected and kept.k == 3 and kept.silhouette - kept.null_silhouette > 0.3
    shuffled = shuffled_columns(blobs, random_state=1)
    assert sorted(shuffled[:, 0]) == sorted(blobs[:, 0]) and not np.array_equal(shuffled, blobs)


def test_patterns_section_says_when_there_is_no_segment_structure():
    noise = user_segments(*interests(150, 5, 0, 0.0, seed=5), max_segments=4)
    section = patterns_section(segments=noise)
    page = render_report([section], title="patterns")
    assert section.summary == "no user segments." and section.figure_ids() == []
    assert "No segment structure found (best silhouette" in page


def test_kmeans_searches_k_on_a_bounded_sample_and_agrees_with_the_full_search():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 5))
    blobs = np.repeat(centres, 600, axis=0) + rng.normal(0, 1, (2400, 5))
    full = kmeans_by_silhouette(blobs, max_search_rows=None)
    sampled = kmeans_by_silhouette(blobs, max_search_rows=300)
    assert (full.k, sampled.k) == (4, 4) and full.searched_rows == 2400 and sampled.searched_rows == 300
    assert len(sampled.labels) == 2400 and not sampled.rejected
    assert sampled.silhouette == pytest.approx(full.silhouette, abs=0.05)
    # every row joins a cluster, and the two partitions are the same up to names
    pairs = set(zip(full.labels.tolist(), sampled.labels.tolist(), strict=True))
    assert len(pairs) == 4
    assert kmeans_by_silhouette(blobs, max_search_rows=300).labels.tolist() == sampled.labels.tolist()  # seeded
