"""The synthetic social network: determinism, requested counts, each planted mechanism seen in the data."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import wave
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from socialfusion.datasets import synthetic
from socialfusion.datasets.synthetic import (
    AUDIO_SAMPLE_RATE,
    AUDIO_SECONDS,
    IMAGE_SIZE,
    SENTIMENTS,
    VIDEO_FRAMES,
    generate,
)
from socialfusion.exceptions import ConfigurationError
from socialfusion.ingestion import derive_entities
from socialfusion.schema import records_to_table

N_USERS, N_POSTS, N_DAYS, N_VIDEOS, N_AUDIO = 150, 1200, 14, 4, 4


@pytest.fixture(scope="module")
def network():
    return generate(n_users=N_USERS, n_posts=N_POSTS, seed=3, n_days=N_DAYS, n_videos=N_VIDEOS, n_audio=N_AUDIO)


@pytest.fixture(scope="module")
def posts(network):
    return network.corpus.posts.to_pylist()


def _small(seed: int, **options):
    return generate(n_users=40, n_posts=150, seed=seed, n_days=7, n_videos=2, n_audio=2, **options)


def _media_of(posts, kind):
    """(post index, media item) for every media item of ``kind``."""
    return [(index, item) for index, post in enumerate(posts) for item in post["media"] if item["kind"] == kind]


def test_same_seed_gives_identical_tables_and_media_and_another_seed_differs():
    first, again, other = _small(7), _small(7), _small(8)
    for name in first.corpus.table_names():
        assert first.corpus.table(name).equals(again.corpus.table(name)), name
    assert np.array_equal(first.truth.interests, again.truth.interests)
    assert first.truth.cascades == again.truth.cascades
    assert not first.corpus.posts.equals(other.corpus.posts)
    assert not first.corpus.edges.equals(other.corpus.edges)


def test_counts_requested_are_respected(network, posts):
    truth = network.truth
    counts = network.corpus.counts()
    assert counts["users"] == N_USERS
    assert Counter(truth.post_kind)["original"] == N_POSTS
    assert counts["posts"] == len(truth.post_ids) > N_POSTS  # replies and reshares on top
    modalities = network.corpus.modality_counts()
    assert modalities["video"] == N_VIDEOS and modalities["audio"] == N_AUDIO
    assert abs(modalities["image"] / N_POSTS - 0.4) < 0.05
    topic_labels = {row["label"] for row in network.corpus.labels.to_pylist() if row["task"] == "topic"}
    assert topic_labels == set(truth.topic_names)


def test_truth_has_documented_shapes(network):
    truth = network.truth
    n_all = len(truth.post_ids)
    assert truth.user_ids.shape == truth.community.shape == truth.language.shape == (N_USERS,)
    assert truth.interests.shape == (N_USERS, 6)
    assert np.allclose(truth.interests.sum(axis=1), 1.0)
    assert truth.favourite_topics.shape == (4, 2)
    assert truth.block_probability.shape == (4, 4)
    per_post = ("post_kind", "post_topic", "post_sentiment", "text_sentiment", "image_sentiment", "disagree")
    for name in per_post:
        assert getattr(truth, name).shape == (n_all,), name
    assert list(truth.post_ids) == network.corpus.posts.column("post_id").to_pylist()
    assert list(truth.user_ids) == network.corpus.users.column("user_id").to_pylist()
    assert len(truth.bursts) == 2 and all(1 <= burst.n_days <= 3 for burst in truth.bursts)
    sample = truth.engagement
    assert sample.features.shape == (len(sample.user_ids), len(sample.feature_names))
    assert sample.probability.shape == sample.engaged.shape == sample.post_ids.shape
    assert truth.parameters["n_posts"] == N_POSTS and truth.parameters["n_videos"] == N_VIDEOS


def test_corpus_validates_and_activity_lies_inside_the_window(network):
    corpus = network.corpus.validate()
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=N_DAYS)
    for table, column in (("posts", "created_at"), ("interactions", "at")):
        times = corpus.table(table).column(column).to_pylist()
        assert min(times) >= start and max(times) < end, table
    edges = corpus.edges.to_pylist()
    assert all(edge["created_at"] < start for edge in edges if edge["kind"] == "follow")
    users = {user["user_id"]: user for user in corpus.users.to_pylist()}
    followers = Counter(edge["dst"] for edge in edges if edge["kind"] == "follow")
    assert all(users[user_id]["followers_count"] == followers[user_id] for user_id in users)


def test_follow_graph_is_denser_inside_communities(network):
    truth = network.truth
    community = dict(zip(truth.user_ids, truth.community))
    follows = [(e["src"], e["dst"]) for e in network.corpus.edges.to_pylist() if e["kind"] == "follow"]
    inside = sum(community[src] == community[dst] for src, dst in follows)
    sizes = np.bincount(truth.community)
    inside_pairs = float((sizes * (sizes - 1)).sum())
    across_pairs = float((sizes * (N_USERS - sizes)).sum())
    ratio = (inside / inside_pairs) / ((len(follows) - inside) / across_pairs)
    assert ratio > 4.0
    assert sizes.max() > 1.3 * sizes.min()  # uneven community sizes


def test_influencers_have_far_more_followers_than_the_median_user(network):
    followers = dict(
        zip(
            network.corpus.users.column("user_id").to_pylist(),
            network.corpus.users.column("followers_count").to_pylist(),
        )
    )
    median = np.median(list(followers.values()))
    assert min(followers[user] for user in network.truth.influencers) > 3 * median


def test_burst_days_multiply_the_topics_daily_count(network):
    truth = network.truth
    originals = truth.post_kind == "original"
    days = np.array(
        [
            (post["created_at"] - dt.datetime(2024, 3, 1, tzinfo=dt.UTC)).days
            for post in network.corpus.posts.to_pylist()
        ]
    )
    for burst in truth.bursts:
        daily = np.bincount(days[originals & (truth.post_topic == burst.topic)], minlength=N_DAYS)
        burst_days = np.arange(burst.start_day, burst.start_day + burst.n_days)
        quiet_median = np.median(np.delete(daily, burst_days))
        assert daily[burst_days].mean() > 3 * quiet_median, burst


def test_cascades_are_trees_in_time_order_along_follow_edges(network, posts):
    by_id = {post["post_id"]: post for post in posts}
    follows = {(e["src"], e["dst"]) for e in network.corpus.edges.to_pylist() if e["kind"] == "follow"}
    shares = {
        (row["user_id"], row["post_id"]) for row in network.corpus.interactions.to_pylist() if row["kind"] == "share"
    }
    assert len(network.truth.cascades) > 10
    for root_id, nodes in network.truth.cascades.items():
        root = nodes[0]
        assert root.post_id == root_id and root.parent_post_id is None
        seen = {root.post_id: root}
        for node in nodes[1:]:
            parent = seen[node.parent_post_id]  # parents come first: a tree
            assert node.time > parent.time
            assert (node.user_id, parent.user_id) in follows
            assert by_id[node.post_id]["reshare_of"] == root_id
            assert (node.user_id, root_id) in shares
            seen[node.post_id] = node
        assert len({node.user_id for node in nodes}) == len(nodes)


def test_images_encode_topic_in_colour_and_sentiment_in_brightness(network, posts):
    truth = network.truth
    colours: dict[int, list[np.ndarray]] = {}
    brightness: dict[int, list[float]] = {}
    for index, item in _media_of(posts, "image"):
        pixels = np.asarray(Image.open(io.BytesIO(item["data"])).convert("RGB"), dtype=float)
        assert pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        colours.setdefault(int(truth.post_topic[index]), []).append(pixels.mean(axis=(0, 1)))
        brightness.setdefault(int(truth.image_sentiment[index]), []).append(pixels.mean())
    topic_colour = np.array([np.mean(colours[topic], axis=0) for topic in sorted(colours)])
    distances = np.linalg.norm(topic_colour[:, None] - topic_colour[None, :], axis=-1)
    assert len(topic_colour) == 6 and distances[np.triu_indices(6, 1)].min() > 10
    negative, neutral, positive = (np.mean(brightness[code]) for code in range(3))
    assert negative + 15 < neutral < positive - 15


def test_videos_decode_with_the_expected_frames(posts):
    videos = _media_of(posts, "video")
    assert len(videos) == N_VIDEOS
    for _, item in videos:
        with av.open(io.BytesIO(item["data"])) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(frames) == VIDEO_FRAMES
        assert frames[0].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert not np.array_equal(frames[0], frames[-1])  # the shapes move


def test_audio_clips_read_back_with_wave(posts):
    clips = _media_of(posts, "audio")
    assert len(clips) == N_AUDIO
    for _, item in clips:
        with wave.open(io.BytesIO(item["data"])) as clip:
            channels, sample_width, rate = clip.getnchannels(), clip.getsampwidth(), clip.getframerate()
            assert (channels, sample_width, rate) == (1, 2, AUDIO_SAMPLE_RATE)
            assert clip.getnframes() == int(AUDIO_SAMPLE_RATE * AUDIO_SECONDS)
        assert item["sha256"] == hashlib.sha256(item["data"]).hexdigest()


def test_both_languages_are_present_with_consistent_entities(posts):
    languages = Counter(post["lang"] for post in posts if post["text"])
    assert languages["zh"] > 0.05 * sum(languages.values()) and languages["en"] > languages["zh"]
    chinese_text = "".join(post["text"] for post in posts if post["lang"] == "zh")
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese_text)
    for post in posts:
        if post["text"]:
            derived = {"text": post["text"], "hashtags": None, "mentions": None}
            derive_entities(derived)
            assert derived["hashtags"] == post["hashtags"], post["text"]
            assert derived["mentions"] == post["mentions"], post["text"]


def test_sarcastic_posts_follow_the_image_and_match_the_requested_fraction(network):
    truth = network.truth
    with_image = truth.image_sentiment >= 0
    assert abs(truth.disagree[with_image].mean() - 0.1) < 0.01
    assert not truth.disagree[~with_image].any()
    assert np.array_equal(truth.post_sentiment[with_image], truth.image_sentiment[with_image])
    text_differs = truth.text_sentiment[with_image] != truth.image_sentiment[with_image]
    assert np.array_equal(truth.disagree[with_image], text_differs)
    labels = {row["item_id"]: row["label"] for row in network.corpus.labels.to_pylist() if row["task"] == "sentiment"}
    disagreeing = truth.post_ids[truth.disagree]
    assert all(
        labels[post_id] == SENTIMENTS[truth.post_sentiment[truth.post_ids == post_id][0]] for post_id in disagreeing
    )


def test_engagement_sample_matches_the_planted_model_and_the_likes(network):
    sample = network.truth.engagement
    logit = sample.intercept + sample.features @ sample.coefficients
    assert np.allclose(sample.probability, 1 / (1 + np.exp(-logit)))
    likes = {
        (row["user_id"], row["post_id"]) for row in network.corpus.interactions.to_pylist() if row["kind"] == "like"
    }
    liked = np.array([(user, post) in likes for user, post in zip(sample.user_ids, sample.post_ids)])
    assert np.array_equal(liked, sample.engaged)
    assert sample.probability[sample.engaged].mean() > sample.probability[~sample.engaged].mean()


def test_labels_cover_posts_and_users_with_stable_splits(network):
    labels = network.corpus.labels.to_pylist()
    tasks = Counter((row["item_kind"], row["task"]) for row in labels)
    n_text_posts = int((network.truth.post_kind != "reshare").sum())
    assert tasks == {
        ("post", "sentiment"): n_text_posts,
        ("post", "topic"): n_text_posts,
        ("user", "community"): N_USERS,
    }
    splits = Counter(row["split"] for row in labels)
    assert set(splits) == {"train", "dev", "test"} and splits["train"] > splits["dev"] + splits["test"]


def test_media_dir_mode_writes_files_whose_sha256_matches(tmp_path: Path):
    network = _small(5, media_dir=tmp_path)
    items = [item for post in network.corpus.posts.to_pylist() for item in post["media"]]
    assert {item["kind"] for item in items} == {"image", "video", "audio"}
    for item in items:
        path = Path(item["uri"])
        assert item["data"] is None and path.is_absolute() and path.is_relative_to(tmp_path)
        content = path.read_bytes()
        assert hashlib.sha256(content).hexdigest() == item["sha256"] and len(content) == item["size_bytes"]


@pytest.mark.parametrize(
    "options",
    [{"n_topics": 11}, {"n_users": 5, "n_communities": 4}, {"disagreement_fraction": 1.5}, {"start": "March"}],
)
def test_bad_arguments_are_refused(options):
    with pytest.raises(ConfigurationError):
        generate(**{"n_users": 40, "n_posts": 50, **options})


def test_tables_hold_exactly_what_record_validation_gives(network):
    """The generator builds its tables column by column; validating every row as a record changes nothing."""
    for name in network.corpus.table_names():
        table = network.corpus.table(name)
        rows = table.drop_columns(["record_key", "record_hash"]).to_pylist()
        for row in rows:
            if isinstance(row.get("extra"), str):
                row["extra"] = json.loads(row["extra"])
        assert records_to_table(name, rows).equals(table.combine_chunks()), name


def test_media_renders_are_bounded_per_topic_and_sentiment_and_files_are_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "_MEDIA_VARIANTS", {"image": 2, "video": 1, "audio": 1})
    network = generate(n_users=60, n_posts=400, seed=2, n_days=7, n_videos=12, n_audio=12, media_dir=tmp_path)
    truth = network.truth
    variants: dict[tuple[str, int, int], set[str]] = {}
    carriers: Counter = Counter()
    for index, post in enumerate(network.corpus.posts.to_pylist()):
        for item in post["media"]:
            cell = (item["kind"], int(truth.post_topic[index]), int(truth.post_sentiment[index]))
            variants.setdefault(cell, set()).add(item["uri"])
            carriers[cell] += 1
            assert Path(item["uri"]).name.startswith(item["sha256"])  # named by content
    limit = {"image": 2, "video": 1, "audio": 1}
    assert all(len(uris) == min(limit[cell[0]], carriers[cell]) for cell, uris in variants.items())
    assert any(carriers[cell] > len(uris) for cell, uris in variants.items())  # some posts share a file
    on_disk = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    assert on_disk == sorted({Path(uri) for uris in variants.values() for uri in uris})
    again = generate(n_users=60, n_posts=400, seed=2, n_days=7, n_videos=12, n_audio=12, media_dir=tmp_path)
    assert again.corpus.posts.equals(network.corpus.posts)  # a second run into the folder reuses the files
    assert sorted(path for path in tmp_path.rglob("*") if path.is_file()) == on_disk


def test_small_corpora_keep_distinct_media_for_every_post(posts):
    for kind in ("image", "video", "audio"):
        digests = [item["sha256"] for _, item in _media_of(posts, kind)]
        assert len(set(digests)) == len(digests), kind


def test_distinct_positions_are_exact_distinct_and_uniform():
    rng = np.random.default_rng(0)
    sizes = np.array([0, 1, 5, 5, 1000] + [4] * 6000)
    counts = np.array([0, 1, 2, 4, 30] + [2] * 3000 + [3] * 3000)  # 4 of 5 and 3 of 4 take the flipped path
    group, position = synthetic._distinct_positions(rng, sizes, counts)
    assert np.array_equal(np.bincount(group, minlength=len(sizes)), counts)
    assert (position >= 0).all() and (position < sizes[group]).all()
    assert len(set(zip(group.tolist(), position.tolist()))) == len(group)
    for first, count in ((5, 2), (3005, 3)):  # every subset of {0..3} of that size is about equally frequent
        pairs = Counter(tuple(position[group == g]) for g in range(first, first + 3000))
        expected = 3000 / len(pairs)
        assert len(pairs) == (6 if count == 2 else 4)
        assert all(abs(seen - expected) < 5 * np.sqrt(expected) for seen in pairs.values()), pairs


def test_block_model_draws_each_pair_with_its_planted_probability():
    rng = np.random.default_rng(1)
    community = rng.integers(0, 3, 600)
    block = np.array([[0.05, 0.004, 0.004], [0.004, 0.08, 0.004], [0.01, 0.004, 0.03]])
    attractiveness = rng.lognormal(-0.125, 0.5, 600)
    attractiveness[:6] = 25.0  # capped at 0.95
    src, dst = synthetic._sample_block_model(rng, community, block, attractiveness)
    assert not (src == dst).any() and len(set(zip(src.tolist(), dst.tolist()))) == len(src)
    probability = np.minimum(0.95, block[community][:, community] * attractiveness[None, :])
    np.fill_diagonal(probability, 0.0)
    observed = np.zeros((3, 3))
    np.add.at(observed, (community[src], community[dst]), 1)
    for a in range(3):
        for b in range(3):
            cell = probability[np.ix_(community == a, community == b)]
            assert abs(observed[a, b] - cell.sum()) < 4 * np.sqrt((cell * (1 - cell)).sum()) + 1, (a, b)
    in_degree = np.bincount(dst, minlength=600)
    assert abs(in_degree[:6].sum() - probability[:, :6].sum()) < 4 * np.sqrt(probability[:, :6].sum())
