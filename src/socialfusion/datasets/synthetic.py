"""A synthetic multimodal social network with planted ground truth, for the demo and for testing analyses.

``generate`` plants one mechanism per step, each with its own random stream split from ``seed`` (so the same
seed gives identical tables and media bytes):

1. **Users**: communities of uneven sizes; topic interests peaked on each community's two favourite topics
   (Dirichlet); a few influencers; heavy-tailed (Pareto) posting activity; a language (English, or Chinese for
   ``chinese_fraction`` of users); a sentiment tendency; a preferred posting hour.
2. **Follow graph**: a stochastic block model (follows inside a community are far likelier than across), in
   which a user's chance of being followed scales with their attractiveness (log-normal with mean 1; 15-30 for
   influencers), plus reciprocal follow-backs.
3. **Topic bursts**: ``n_bursts`` (topic, first day, 1-3 days) during which the topic's post rate is 4-8 times
   higher.
4. **Original posts**: ``n_posts`` posts; (topic, day) cells are drawn with weight
   ``sum_u activity_u * interest_u,topic * weekday rhythm * burst factor`` and the author given the topic with
   weight ``activity * interest`` (exactly "authors post on topics they care about"). The sentiment comes from
   the author's tendency plus the topic's mood plus logistic noise, cut at +/-0.5.
5. **Media**: ``image_fraction`` of original posts carry a PNG whose palette and shapes encode the topic
   and whose brightness, warm/cold tint and face glyph encode the sentiment; ``n_videos`` carry a short MP4
   (H.264) of shapes moving faster when positive; ``n_audio`` carry a WAV whose pitch, chirp direction and
   tempo encode the sentiment (and harmonics the topic). Each (kind, topic, sentiment) has a bounded number of
   distinct renders (1,000 images, 24 videos, 64 clips), which later posts reuse: a small corpus has distinct
   media everywhere, a million posts render and write a few thousand files.
6. **Sarcasm**: in ``disagreement_fraction`` of image posts the text is written with another sentiment than
   the image shows. **The true sentiment of a post is the image's** (positive text over a negative image is
   sarcasm); text-only models get those posts wrong, fusion can get them right.
7. **Engagement**: each post is seen by some of the author's followers and by a few interested non-followers;
   a seen post is liked with probability ``sigmoid(-5 + 5 interest + 1 follows_author + 0.35 log1p(author
   followers) - 0.08 hours_since_post)``; likers comment sometimes, and half the comments are reply posts.
8. **Reshare cascades**: an independent-cascade process from every original post over the follow graph (a
   follower reshares with a probability that grows with their interest in the topic); each reshare is a post
   with ``reshare_of`` the original and a ``share`` interaction, later than its parent.

Activity times (posts, interactions, mention and reply edges) lie in ``[start, start + n_days)``; accounts and
follow edges are created before ``start``. Sentiments are coded ``0, 1, 2`` (``SENTIMENTS``), ``-1``: none.

Examples:
    >>> network = generate(n_users=40, n_posts=60, seed=1, n_videos=0, n_audio=0)
    >>> network.corpus.counts()["users"], int((network.truth.post_kind == "original").sum())
    (40, 60)
"""

from __future__ import annotations

import colorsys
import datetime as dt
import hashlib
import io
import os
import threading
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from socialfusion.corpus import Corpus
from socialfusion.datasets._text_templates import (
    ASIDES,
    EMOJI,
    FILLERS,
    GENERIC_TEMPLATES,
    GIVEN_NAME_CHARS_ZH,
    HANDLE_WORDS,
    PROFILE_TEMPLATES,
    REPLY_OPENERS,
    SURNAMES_ZH,
    TOPICS,
)
from socialfusion.exceptions import ConfigurationError, attempt_import
from socialfusion.schema import TABLES, arrow_schema, with_bookkeeping

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "IMAGE_SIZE",
    "POST_KINDS",
    "SENTIMENTS",
    "VIDEO_FRAMES",
    "Burst",
    "CascadeNode",
    "EngagementSample",
    "GroundTruth",
    "SyntheticNetwork",
    "generate",
    "planted_follow_graph",
]

SENTIMENTS = ("negative", "neutral", "positive")
POST_KINDS = ("original", "reply", "reshare")
IMAGE_SIZE = 64
VIDEO_FRAMES = 12
VIDEO_FPS = 8
AUDIO_SAMPLE_RATE = 8000
AUDIO_SECONDS = 0.75
PLATFORM = "synthetic"

_DAY = 86_400.0
_HOUR = 3_600.0
_MEDIA_MIME = {"image": "image/png", "video": "video/mp4", "audio": "audio/wav"}
_MEDIA_FOLDER = {"image": ("images", "png"), "video": ("videos", "mp4"), "audio": ("audio", "wav")}
# Distinct renders per (kind, topic, sentiment) at most: media cost stays bounded however many posts carry them.
_MEDIA_VARIANTS = {"image": 1000, "video": 24, "audio": 64}

# The planted model's knobs. They are constants rather than arguments: tests and docs quote them.
_MEAN_FOLLOWS_INSIDE = 10.0  # expected follows of an average user inside their community
_MEAN_FOLLOWS_ACROSS = 2.0  # ... and towards all other communities together
_FOLLOW_BACK = {"inside": 0.3, "across": 0.1}  # chance to follow back (influencers follow back 10x less)
_INFLUENCER_SHARE = 0.02
_CHRONOTYPE_HOURS = (8.0, 12.5, 19.0, 22.5)  # morning, lunch, evening, night people
_WEEKEND_BOOST = 1.2
_SENTIMENT_CUT = 0.5
_CHINESE_USERS_POSTING_IN_ENGLISH = 0.1
_MENTION_RATE = 0.15
_SEE_FOLLOWED_POST = 0.35  # chance that a follower sees a given post of the author
_DISCOVERIES_PER_POST = 2.0  # mean non-followers shown the post, drawn by interest in its topic
_FOLLOWER_DELAY_HOURS = 3.0
_DISCOVERY_DELAY_HOURS = 10.0
_ENGAGEMENT_INTERCEPT = -5.0
_ENGAGEMENT_FEATURES = ("interest", "follows_author", "author_influence", "hours_since_post")
_ENGAGEMENT_COEFFICIENTS = np.array([5.0, 1.0, 0.35, -0.08])
_ENGAGEMENT_SAMPLE_SIZE = 5_000
_COMMENT_GIVEN_LIKE = 0.3
_REPLY_GIVEN_COMMENT = 0.5
_RESHARE_BASE = 0.004  # reshare chance of a follower with average interest in the topic
_RESHARE_EMOTION_BOOST = 1.5  # positive and negative posts spread more than neutral ones
_RESHARE_DELAY_HOURS = 3.0
_SPLIT_SHARES = (("train", 70), ("dev", 85), ("test", 100))  # cumulative percent of a stable hash of the id
_TOPIC_SHAPES = (
    "squares",
    "circles",
    "dots",
    "triangles",
    "bars",
    "waves",
    "strips",
    "crosses",
    "rings",
    "steps",
)
_SENTIMENT_BRIGHTNESS = (0.5, 0.75, 1.0)
_SENTIMENT_TINT = ((-25.0, -5.0, 35.0), (0.0, 0.0, 0.0), (35.0, 15.0, -25.0))  # cold, plain, warm
_SENTIMENT_SPEED = (1, 3, 6)  # pixels per video frame
_SENTIMENT_PITCH = (220.0, 330.0, 523.0)  # Hz
_SENTIMENT_CHIRP = (-0.4, 0.0, 0.4)  # relative pitch change over the clip: falling, flat, rising
_SENTIMENT_PULSES = (2, 3, 5)  # beeps per clip


class Burst(NamedTuple):
    """A planted topic burst: the topic's post rate is ``multiplier`` times higher on ``n_days`` days."""

    topic: int
    start_day: int
    n_days: int
    multiplier: float


class CascadeNode(NamedTuple):
    """One post of a reshare cascade: the root (``parent_post_id`` None) or a reshare of its parent."""

    post_id: str
    parent_post_id: str | None
    user_id: str
    time: dt.datetime


@dataclass(frozen=True)
class EngagementSample:
    """The planted engagement model evaluated on a random sample of ``n`` exposures (a user shown a post).

    ``probability = sigmoid(intercept + features @ coefficients)`` is the chance the user likes the post;
    ``engaged`` is what was drawn (a ``like`` interaction exists exactly when it is True).

    Attributes:
        user_ids: (n,) viewer ids.
        post_ids: (n,) original post ids.
        features: (n, 4) float, columns ``feature_names``: interest of the viewer in the post's topic (0-1),
            1.0 when the viewer follows the author, log1p(author's followers), hours from post to view.
        feature_names: the column names of ``features``.
        intercept: the model's intercept.
        coefficients: (4,) the model's coefficients.
        probability: (n,) the planted like probability.
        engaged: (n,) bool, whether the user liked the post.
    """

    user_ids: np.ndarray
    post_ids: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    intercept: float
    coefficients: np.ndarray
    probability: np.ndarray
    engaged: np.ndarray


@dataclass(frozen=True)
class GroundTruth:
    """What ``generate`` planted. Per-user arrays follow ``user_ids``, per-post arrays follow ``post_ids``.

    Attributes:
        parameters: the arguments ``generate`` ran with (``start`` as ISO text, media counts resolved).
        topic_names: (n_topics,) topic labels, index = topic code.
        user_ids: (n_users,) str, the users table's order.
        community: (n_users,) int community of each user.
        favourite_topics: (n_communities, 2) int, the topics each community's interests peak on.
        interests: (n_users, n_topics) float, each row a distribution over topics.
        block_probability: (n_communities, n_communities) base follow probability from a user in the row
            community to one in the column community, before scaling by the followed user's attractiveness
            (``P(u follows v) = min(0.95, block[c_u, c_v] * attractiveness_v)``, before follow-backs).
        attractiveness: (n_users,) how followable each user is (log-normal, mean 1; influencers 15-30).
        activity: (n_users,) relative posting rate (Pareto; influencers x4).
        influencers: ids of the planted influencers.
        language: (n_users,) ``"en"`` or ``"zh"``.
        sentiment_tendency: (n_users,) float, > 0 leans positive.
        preferred_hour: (n_users,) float in [0, 24), the hour around which the user posts (UTC).
        topic_mood: (n_topics,) float, each topic's sentiment lean.
        post_ids: (n_all_posts,) str, the posts table's order (originals, replies and reshares by time).
        post_kind: (n_all_posts,) str in ``POST_KINDS``.
        post_topic: (n_all_posts,) int topic (replies and reshares: their original's).
        post_sentiment: (n_all_posts,) int, the true sentiment (the image's when the post has one).
        text_sentiment: (n_all_posts,) int, the sentiment the text was written with (-1: reshares, no text).
        image_sentiment: (n_all_posts,) int, the sentiment the image shows (-1: no image).
        disagree: (n_all_posts,) bool, image and text sentiments differ (sarcasm-like).
        bursts: the planted topic bursts.
        cascades: root post id -> the cascade's nodes ordered by time, root first; only roots reshared at
            least once.
        engagement: the planted engagement model on a sample of exposures.
    """

    parameters: dict[str, Any]
    topic_names: tuple[str, ...]
    user_ids: np.ndarray
    community: np.ndarray
    favourite_topics: np.ndarray
    interests: np.ndarray
    block_probability: np.ndarray
    attractiveness: np.ndarray
    activity: np.ndarray
    influencers: tuple[str, ...]
    language: np.ndarray
    sentiment_tendency: np.ndarray
    preferred_hour: np.ndarray
    topic_mood: np.ndarray
    post_ids: np.ndarray
    post_kind: np.ndarray
    post_topic: np.ndarray
    post_sentiment: np.ndarray
    text_sentiment: np.ndarray
    image_sentiment: np.ndarray
    disagree: np.ndarray
    bursts: tuple[Burst, ...]
    cascades: dict[str, list[CascadeNode]]
    engagement: EngagementSample


@dataclass(frozen=True)
class SyntheticNetwork:
    """A generated corpus (validated tables) and the ground truth planted in it."""

    corpus: Corpus
    truth: GroundTruth


@dataclass(frozen=True)
class _Settings:
    n_users: int
    n_posts: int
    seed: int
    media_dir: Path | None
    n_topics: int
    n_communities: int
    start: dt.datetime
    n_days: int
    n_videos: int
    n_audio: int
    image_fraction: float
    chinese_fraction: float
    disagreement_fraction: float
    n_bursts: int

    @property
    def end_seconds(self) -> float:
        return self.n_days * _DAY

    def as_parameters(self) -> dict[str, Any]:
        parameters = asdict(self)
        parameters["start"] = self.start.isoformat()
        parameters["media_dir"] = None if self.media_dir is None else str(self.media_dir)
        return parameters


@dataclass(frozen=True)
class _Population:
    community: np.ndarray
    favourite_topics: np.ndarray
    interests: np.ndarray
    influencers: np.ndarray
    attractiveness: np.ndarray
    activity: np.ndarray
    language: np.ndarray
    tendency: np.ndarray
    preferred_hour: np.ndarray
    created_seconds: np.ndarray  # negative: seconds before start
    handles: list[str]
    display_names: list[str]


@dataclass(frozen=True)
class _FollowGraph:
    """Directed follow edges ``src -> dst`` (src follows dst), sorted by (src, dst), with lookups."""

    n_users: int
    src: np.ndarray
    dst: np.ndarray
    created_seconds: np.ndarray  # negative: when each follow was made, after both accounts, before the window
    block_probability: np.ndarray

    @property
    def codes(self) -> np.ndarray:
        return self.src * self.n_users + self.dst

    @property
    def follower_counts(self) -> np.ndarray:
        return np.bincount(self.dst, minlength=self.n_users)

    @property
    def following_counts(self) -> np.ndarray:
        return np.bincount(self.src, minlength=self.n_users)

    def follows(self, users: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(n,) bool: ``users[i]`` follows ``targets[i]``."""
        return _contains(self.codes, users * self.n_users + targets)

    def followers(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of followers: ``members[offsets[v]:offsets[v + 1]]`` are the users following ``v``."""
        order = np.argsort(self.dst, kind="stable")
        offsets = np.concatenate([[0], np.cumsum(self.follower_counts)])
        return offsets, self.src[order]

    def followees(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of followees: ``members[offsets[u]:offsets[u + 1]]`` are the users ``u`` follows."""
        offsets = np.concatenate([[0], np.cumsum(self.following_counts)])
        return offsets, self.dst


@dataclass
class _Posts:
    """Post columns; ``parent``: the replied-to post of a reply, the reshared post of a reshare, else -1."""

    kind: np.ndarray
    author: np.ndarray
    seconds: np.ndarray
    topic: np.ndarray
    sentiment: np.ndarray
    text_sentiment: np.ndarray
    image_sentiment: np.ndarray
    disagree: np.ndarray
    has_video: np.ndarray
    has_audio: np.ndarray
    parent: np.ndarray
    root: np.ndarray  # the original a reshare spreads, else -1
    lang: np.ndarray
    mentions: list[list[int]]

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(frozen=True)
class _Exposures:
    """Users shown an original post: who, which post, when, the planted like probability and what they did."""

    viewer: np.ndarray
    post: np.ndarray
    view_seconds: np.ndarray
    dwell_seconds: np.ndarray
    features: np.ndarray
    probability: np.ndarray
    engaged: np.ndarray
    like_seconds: np.ndarray
    commented: np.ndarray
    comment_seconds: np.ndarray


def generate(
    n_users: int = 300,
    n_posts: int = 2000,
    seed: int = 0,
    *,
    media_dir: str | Path | None = None,
    n_topics: int = 6,
    n_communities: int = 4,
    start: str | dt.date | dt.datetime = "2024-03-01",
    n_days: int = 30,
    n_videos: int | None = None,
    n_audio: int | None = None,
    image_fraction: float = 0.4,
    chinese_fraction: float = 0.15,
    disagreement_fraction: float = 0.1,
    n_bursts: int = 2,
) -> SyntheticNetwork:
    """Generate a social network with planted communities, influencers, bursts, sarcasm and cascades.

    Args:
        n_users: number of users.
        n_posts: number of original posts; replies and reshares come on top.
        seed: seeds every random draw; the same seed gives identical tables and media bytes.
        media_dir: write media files under this folder (``images/``, ``videos/``, ``audio/``; ``Media.uri`` is
            the absolute path); None carries media inline as bytes (``Media.data``).
        n_topics: number of topics (at most ``len(TOPICS)``, 10).
        n_communities: number of communities.
        start: first day of the activity window (UTC).
        n_days: length of the activity window in days.
        n_videos: posts carrying a video; None for one per 100 original posts.
        n_audio: posts carrying an audio clip; None for one per 100 original posts.
        image_fraction: share of original posts carrying an image.
        chinese_fraction: share of users who write in Chinese.
        disagreement_fraction: share of image posts whose text sentiment differs from the image's.
        n_bursts: number of topic bursts.

    Returns:
        The corpus (posts, users, interactions, edges, labels; canonical schemas) and its ground truth.

    Raises:
        ConfigurationError: an argument is out of range.
        MissingDependencyError: videos were asked for and PyAV is not installed.
    """
    settings = _check_settings(
        n_users=n_users,
        n_posts=n_posts,
        seed=seed,
        media_dir=media_dir,
        n_topics=n_topics,
        n_communities=n_communities,
        start=start,
        n_days=n_days,
        n_videos=n_videos,
        n_audio=n_audio,
        image_fraction=image_fraction,
        chinese_fraction=chinese_fraction,
        disagreement_fraction=disagreement_fraction,
        n_bursts=n_bursts,
    )
    mechanisms = (
        "users",
        "graph",
        "bursts",
        "posts",
        "media_plan",
        "engagement",
        "engagement_sample",
        "replies",
        "cascades",
        "text",
        "media",
    )
    streams = dict(zip(mechanisms, np.random.default_rng(seed).spawn(len(mechanisms))))
    topic_mood = np.array([topic.mood for topic in TOPICS[:n_topics]])
    population = _plant_population(streams["users"], settings)
    graph = _plant_follow_graph(streams["graph"], population, settings)
    bursts = _plant_bursts(streams["bursts"], settings)
    originals = _plant_original_posts(streams["posts"], population, graph, topic_mood, bursts, settings)
    _plant_media_and_sarcasm(streams["media_plan"], originals, settings)
    exposures = _simulate_exposures(streams["engagement"], population, graph, originals, settings)
    replies = _plant_replies(streams["replies"], exposures, population, originals, topic_mood)
    reshares = _simulate_cascades(streams["cascades"], population, graph, originals, settings)
    posts, order = _merge_posts(originals, replies, reshares)
    exposures = _renumber_exposures(exposures, order)
    post_ids = np.array([f"p{rank + 1:0{max(6, len(str(len(posts))))}d}" for rank in range(len(posts))])
    user_ids = np.array([f"u{index + 1:0{max(4, len(str(n_users)))}d}" for index in range(n_users)])
    texts, hashtags = _write_texts(streams["text"], posts, population)
    media = _render_media(streams["media"], posts, settings)
    post_id_column, user_id_column = pa.array(post_ids, pa.string()), pa.array(user_ids, pa.string())
    corpus = Corpus(
        posts=_post_table(
            posts, post_id_column, user_id_column, population, texts, hashtags, media, exposures, settings
        ),
        users=_user_table(population, graph, user_id_column, settings),
        interactions=_interaction_table(exposures, posts, post_id_column, user_id_column, settings),
        edges=_edge_table(graph, posts, user_id_column, settings),
        labels=_label_table(posts, post_ids, population, user_ids, n_topics),
        metadata={"name": PLATFORM, "generator": __name__, "parameters": settings.as_parameters()},
    ).validate()
    truth = GroundTruth(
        parameters=settings.as_parameters(),
        topic_names=tuple(topic.name for topic in TOPICS[:n_topics]),
        user_ids=user_ids,
        community=population.community,
        favourite_topics=population.favourite_topics,
        interests=population.interests,
        block_probability=graph.block_probability,
        attractiveness=population.attractiveness,
        activity=population.activity,
        influencers=tuple(user_ids[population.influencers]),
        language=population.language,
        sentiment_tendency=population.tendency,
        preferred_hour=population.preferred_hour,
        topic_mood=topic_mood,
        post_ids=post_ids,
        post_kind=np.array(POST_KINDS)[posts.kind],
        post_topic=posts.topic,
        post_sentiment=posts.sentiment,
        text_sentiment=posts.text_sentiment,
        image_sentiment=posts.image_sentiment,
        disagree=posts.disagree,
        bursts=tuple(bursts),
        cascades=_cascade_trees(posts, post_ids, user_ids, settings.start),
        engagement=_engagement_sample(streams["engagement_sample"], exposures, post_ids, user_ids),
    )
    return SyntheticNetwork(corpus=corpus, truth=truth)


def _check_settings(**arguments: Any) -> _Settings:
    """Validate the arguments of ``generate`` and resolve defaults (start as UTC midnight, media counts)."""
    counts = {"n_users": 1, "n_posts": 1, "n_topics": 2, "n_communities": 1, "n_days": 1, "n_bursts": 0}
    for name, minimum in counts.items():
        if int(arguments[name]) < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}, got {arguments[name]}")
    if arguments["n_topics"] > len(TOPICS):
        raise ConfigurationError(
            f"n_topics must be at most {len(TOPICS)} (the phrase banks), got {arguments['n_topics']}"
        )
    if arguments["n_users"] < 2 * arguments["n_communities"]:
        raise ConfigurationError(
            f"n_users ({arguments['n_users']}) must be at least twice n_communities ({arguments['n_communities']})"
        )
    for name in ("image_fraction", "chinese_fraction", "disagreement_fraction"):
        if not 0.0 <= arguments[name] <= 1.0:
            raise ConfigurationError(f"{name} must be between 0 and 1, got {arguments[name]}")
    for name in ("n_videos", "n_audio"):
        if arguments[name] is None:
            arguments[name] = arguments["n_posts"] // 100
        if not 0 <= arguments[name] <= arguments["n_posts"]:
            raise ConfigurationError(f"{name} must be between 0 and n_posts, got {arguments[name]}")
    arguments["start"] = _utc_midnight(arguments["start"])
    if arguments["media_dir"] is not None:
        arguments["media_dir"] = Path(arguments["media_dir"]).resolve()
    return _Settings(**arguments)


def _utc_midnight(start: str | dt.date | dt.datetime) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(start[:10]) if isinstance(start, str) else start
    except ValueError:
        raise ConfigurationError(f"start must be an ISO date such as '2024-03-01', got {start!r}") from None
    if isinstance(day, dt.datetime):
        day = day.astimezone(dt.UTC).date() if day.tzinfo else day.date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


Draw = Callable[[], float]  # the next uniform number in [0, 1) of a seeded stream


def _uniform_draws(rng: np.random.Generator, batch: int = 65_536) -> Draw:
    """The next-uniform function of ``rng``: numbers drawn by batches, for loops that draw a few per item."""

    def uniforms() -> Iterator[float]:
        while True:
            yield from rng.random(batch).tolist()

    return uniforms().__next__


def _pick(draw: Draw, options: Sequence[Any]) -> Any:
    """One element of a sequence, uniformly."""
    return options[int(draw() * len(options))]


# ---------------------------------------------------------------------------------------------------- users


def _plant_population(rng: np.random.Generator, settings: _Settings) -> _Population:
    """Communities, interests, influencers, activity, language, sentiment, rhythm and names of users."""
    community = _plant_communities(rng, settings.n_users, settings.n_communities)
    favourite_topics, interests = _plant_interests(rng, community, settings.n_topics, settings.n_communities)
    influencers, attractiveness, activity = _plant_popularity(rng, settings.n_users)
    language = _plant_languages(rng, settings.n_users, settings.chinese_fraction)
    handles, display_names = _plant_names(rng, language)
    return _Population(
        community=community,
        favourite_topics=favourite_topics,
        interests=interests,
        influencers=influencers,
        attractiveness=attractiveness,
        activity=activity,
        language=language,
        tendency=rng.normal(0.0, 0.6, settings.n_users),
        preferred_hour=_plant_preferred_hours(rng, settings.n_users),
        created_seconds=-np.floor(rng.uniform(30, 1500, settings.n_users) * _DAY),
        handles=handles,
        display_names=display_names,
    )


def _plant_preferred_hours(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """(n_users,) the hour around which each user posts: a chronotype (morning ... night) plus a shift."""
    return (rng.choice(_CHRONOTYPE_HOURS, n_users) + rng.normal(0.0, 1.0, n_users)) % 24


def _plant_communities(rng: np.random.Generator, n_users: int, n_communities: int) -> np.ndarray:
    """(n_users,) community of each user; uneven sizes (Dirichlet shares above a floor), members shuffled."""
    floor = max(2, n_users // (4 * n_communities))
    shares = rng.dirichlet(np.full(n_communities, 2.0))
    sizes = floor + rng.multinomial(n_users - floor * n_communities, shares)
    return rng.permutation(np.repeat(np.arange(n_communities), sizes))


def _plant_interests(
    rng: np.random.Generator, community: np.ndarray, n_topics: int, n_communities: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each community's two favourite topics (n_communities, 2) and user interests (n_users, n_topics).

    Favourite topics rotate over the topics so that communities differ; interests are Dirichlet draws whose
    concentration is 3.0 on the community's favourites and 0.3 elsewhere.
    """
    first = np.arange(n_communities) % n_topics
    second = (first + 1 + rng.integers(0, n_topics - 1, n_communities)) % n_topics
    favourite_topics = np.stack([first, second], axis=1)
    concentration = np.full((n_communities, n_topics), 0.3)
    np.put_along_axis(concentration, favourite_topics, 3.0, axis=1)
    weights = rng.standard_gamma(concentration[community])  # Dirichlet draws, all users at once
    return favourite_topics, weights / weights.sum(axis=1, keepdims=True)


def _plant_popularity(rng: np.random.Generator, n_users: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Influencer indices, attractiveness (n_users,) and posting activity (n_users,).

    Everyone else's attractiveness is log-normal with mean 1; influencers' is 15-30. Activity is Pareto (a
    power law with exponent 2), four times higher for influencers.
    """
    n_influencers = max(1, round(_INFLUENCER_SHARE * n_users))
    influencers = np.sort(rng.choice(n_users, n_influencers, replace=False))
    attractiveness = rng.lognormal(-0.125, 0.5, n_users)  # mean exp(mu + sigma^2 / 2) = 1
    attractiveness[influencers] = rng.uniform(15, 30, n_influencers)
    activity = rng.pareto(2.0, n_users) + 1.0
    activity[influencers] *= 4.0
    return influencers, attractiveness, activity


def _plant_languages(rng: np.random.Generator, n_users: int, chinese_fraction: float) -> np.ndarray:
    """(n_users,) ``"en"`` or ``"zh"``; exactly ``round(chinese_fraction * n_users)`` users write Chinese."""
    language = np.full(n_users, "en")
    language[rng.choice(n_users, round(chinese_fraction * n_users), replace=False)] = "zh"
    return language


def _plant_names(rng: np.random.Generator, language: np.ndarray) -> tuple[list[str], list[str]]:
    """Unique handles (word_word + number, ASCII so that @mentions parse) and display names per user."""
    draw = _uniform_draws(rng)
    handles, display_names = [], []
    for number, lang in enumerate(language.tolist(), start=1):
        first_words, second_words = HANDLE_WORDS[lang]
        first, second = _pick(draw, first_words), _pick(draw, second_words)
        if lang == "zh":
            handles.append(f"{first}{second}_{number}")
            given = "".join(_pick(draw, GIVEN_NAME_CHARS_ZH) for _ in range(1 + int(draw() * 2)))
            display_names.append(_pick(draw, SURNAMES_ZH) + given)
        else:
            handles.append(f"{first}_{second}{number}")
            display_names.append(f"{first.title()} {second.title()}")
    return handles, display_names


# ---------------------------------------------------------------------------------------------------- graph


def _plant_follow_graph(rng: np.random.Generator, population: _Population, settings: _Settings) -> _FollowGraph:
    """Follow edges from a degree-corrected stochastic block model, plus follow-backs."""
    community = population.community
    sizes = np.bincount(community, minlength=settings.n_communities)
    inside = np.minimum(0.95, _MEAN_FOLLOWS_INSIDE / np.maximum(sizes - 1, 1))
    across = _MEAN_FOLLOWS_ACROSS / np.maximum(settings.n_users - sizes, 1)
    block_probability = np.where(np.eye(settings.n_communities, dtype=bool), inside[:, None], across[:, None])
    src, dst = _sample_block_model(rng, community, block_probability, population.attractiveness)
    src, dst = _add_follow_backs(rng, src, dst, community, population.influencers, settings.n_users)
    latest_account = np.maximum(population.created_seconds[src], population.created_seconds[dst])
    return _FollowGraph(
        n_users=settings.n_users,
        src=src,
        dst=dst,
        created_seconds=np.floor(latest_account * rng.uniform(0.0, 1.0, len(src))),
        block_probability=block_probability,
    )


def _sample_block_model(
    rng: np.random.Generator, community: np.ndarray, block_probability: np.ndarray, attractiveness: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Edges u -> v, each present with ``min(0.95, block[c_u, c_v] * attractiveness_v)``, in time linear in edges.

    The chance depends on the follower only through their community. So for each user v and community a, the
    number of followers v gets from a is Binomial(members of a other than v, chance), and who they are is a
    uniformly random subset of those members: the same distribution as one coin per pair, without the
    n_users x n_users matrix of coins.
    """
    n_users, n_communities = len(community), len(block_probability)
    members = np.argsort(community, kind="stable")  # users grouped by community
    sizes = np.bincount(community, minlength=n_communities)
    first_member = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(n_users, dtype=np.int64)  # each user's place among their community's members
    rank[members] = np.arange(n_users) - first_member[community[members]]
    target = np.repeat(np.arange(n_users), n_communities)
    source_community = np.tile(np.arange(n_communities), n_users)
    own = community[target] == source_community
    candidates = sizes[source_community] - own
    chance = np.minimum(0.95, block_probability[source_community, community[target]] * attractiveness[target])
    group, position = _distinct_positions(rng, candidates, rng.binomial(candidates, chance))
    position += own[group] & (position >= rank[target[group]])  # skip v itself among its own community
    return members[first_member[source_community[group]] + position], target[group]


def _distinct_positions(
    rng: np.random.Generator, sizes: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(group, position): for each group g, ``counts[g]`` distinct positions drawn uniformly from ``range(sizes[g])``.

    Positions are drawn with replacement until enough distinct ones are seen (which leaves every subset equally
    likely); a group asking for more than half its positions draws the ones it leaves out instead.
    """
    flip = counts > sizes // 2
    wanted = np.where(flip, sizes - counts, counts)
    span = int(sizes.max(initial=0)) + 1
    chosen = np.zeros(0, dtype=np.int64)  # group * span + position, sorted
    missing = wanted
    while missing.any():
        group = np.repeat(np.arange(len(sizes)), missing)
        fresh = _sorted_unique(group * span + rng.integers(0, sizes[group]))
        fresh = fresh[~_contains(chosen, fresh)]
        chosen = np.insert(chosen, np.searchsorted(chosen, fresh), fresh)
        missing = missing - np.bincount(fresh // span, minlength=len(sizes))
    if flip.any():
        flipped = np.flatnonzero(flip)
        every = np.repeat(flipped, sizes[flipped]) * span + _ranges(sizes[flipped])
        chosen = np.sort(np.concatenate([chosen[~flip[chosen // span]], every[~_contains(chosen, every)]]))
    return chosen // span, chosen % span


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (what ``np.unique`` gives; a sort is far faster than NumPy 2's hash path)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


def _contains(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n,) bool: ``values[i]`` is in ``sorted_values`` (sorted ascending)."""
    if not len(sorted_values):
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[position] == values


def _row_chunks(counts: np.ndarray, budget: int = 2_000_000) -> Iterator[slice]:
    """Consecutive row ranges whose ``counts`` add up to about ``budget`` (a single row may exceed it)."""
    ends = np.searchsorted(np.cumsum(counts), np.arange(budget, int(counts.sum()) + budget, budget), side="right")
    start = 0
    for end in [*np.unique(ends).tolist(), len(counts)]:
        if end > start:
            yield slice(start, end)
            start = end


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """``0 .. lengths[i] - 1`` for each i, concatenated."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _add_follow_backs(
    rng: np.random.Generator,
    src: np.ndarray,
    dst: np.ndarray,
    community: np.ndarray,
    influencers: np.ndarray,
    n_users: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Add v -> u for some u -> v (likelier inside a community, rare for influencers); sorted edges."""
    codes = src * n_users + dst
    reverse = dst * n_users + src
    probability = np.where(community[src] == community[dst], _FOLLOW_BACK["inside"], _FOLLOW_BACK["across"])
    probability = np.where(np.isin(dst, influencers), probability / 10, probability)
    back = ~_contains(np.sort(codes), reverse) & (rng.random(len(codes)) < probability)
    all_codes = _sorted_unique(np.concatenate([codes, reverse[back]]))
    return all_codes // n_users, all_codes % n_users


# ------------------------------------------------------------------------------------------- posts and time


def _plant_bursts(rng: np.random.Generator, settings: _Settings) -> list[Burst]:
    """``n_bursts`` bursts on distinct topics where possible, 1-3 days inside the window, 4-8x the rate."""
    topics = rng.choice(settings.n_topics, settings.n_bursts, replace=settings.n_bursts > settings.n_topics)
    bursts = []
    for topic in topics:
        n_days = int(rng.integers(1, min(3, settings.n_days) + 1))
        start_day = int(rng.integers(0, settings.n_days - n_days + 1))
        bursts.append(Burst(int(topic), start_day, n_days, float(rng.uniform(4.0, 8.0))))
    return bursts


def _plant_original_posts(
    rng: np.random.Generator,
    population: _Population,
    graph: _FollowGraph,
    topic_mood: np.ndarray,
    bursts: Sequence[Burst],
    settings: _Settings,
) -> _Posts:
    """Original posts by time: (topic, day) cells, then authors, times, sentiment, language, mentions."""
    weekday_weight = np.array(
        [
            _WEEKEND_BOOST if (settings.start + dt.timedelta(days=day)).weekday() >= 5 else 1.0
            for day in range(settings.n_days)
        ]
    )
    burst_factor = np.ones((settings.n_topics, settings.n_days))
    for burst in bursts:
        burst_factor[burst.topic, burst.start_day : burst.start_day + burst.n_days] *= burst.multiplier
    topic_mass = population.activity @ population.interests
    cell_weight = (topic_mass[:, None] * weekday_weight[None, :] * burst_factor).ravel()
    topic, day = np.divmod(
        rng.choice(cell_weight.size, settings.n_posts, p=cell_weight / cell_weight.sum()), settings.n_days
    )
    author = np.empty(settings.n_posts, dtype=np.int64)
    for t in range(settings.n_topics):
        on_topic = np.flatnonzero(topic == t)
        weight = population.activity * population.interests[:, t]
        author[on_topic] = rng.choice(len(weight), len(on_topic), p=weight / weight.sum())
    hour = (population.preferred_hour[author] + rng.normal(0.0, 1.5, settings.n_posts)) % 24
    seconds = np.floor(day * _DAY + hour * _HOUR)
    order = np.argsort(seconds, kind="stable")
    author, topic, seconds = author[order], topic[order], seconds[order]
    sentiment = _draw_sentiment(rng, population.tendency[author] + topic_mood[topic])
    n_posts = settings.n_posts
    return _Posts(
        kind=np.zeros(n_posts, dtype=np.int64),
        author=author,
        seconds=seconds,
        topic=topic,
        sentiment=sentiment,
        text_sentiment=sentiment.copy(),
        image_sentiment=np.full(n_posts, -1),
        disagree=np.zeros(n_posts, dtype=bool),
        has_video=np.zeros(n_posts, dtype=bool),
        has_audio=np.zeros(n_posts, dtype=bool),
        parent=np.full(n_posts, -1),
        root=np.full(n_posts, -1),
        lang=_post_languages(rng, population.language[author]),
        mentions=_plant_mentions(rng, author, graph),
    )


def _draw_sentiment(rng: np.random.Generator, lean: np.ndarray) -> np.ndarray:
    """(n,) sentiment codes: ``lean`` plus logistic noise, negative below -0.5, positive above +0.5."""
    latent = lean + rng.logistic(0.0, 0.5, len(lean))
    return np.digitize(latent, [-_SENTIMENT_CUT, _SENTIMENT_CUT])


def _post_languages(rng: np.random.Generator, author_language: np.ndarray) -> np.ndarray:
    """Posts are in the author's language, except that Chinese writers sometimes post in English."""
    coin = rng.random(len(author_language))
    switch = (author_language == "zh") & (coin < _CHINESE_USERS_POSTING_IN_ENGLISH)
    return np.where(switch, "en", author_language)


def _plant_mentions(rng: np.random.Generator, author: np.ndarray, graph: _FollowGraph) -> list[list[int]]:
    """Per post, the users it @mentions: one or two (distinct) of the author's followees in some posts."""
    offsets, followees = graph.followees()
    n_followees = np.diff(offsets)[author]
    mentioning = np.flatnonzero((rng.random(len(author)) < _MENTION_RATE) & (n_followees > 0))
    available = n_followees[mentioning]
    first = rng.integers(0, available)
    second = (first + 1 + rng.integers(0, np.maximum(available - 1, 1))) % available
    two = (rng.random(len(mentioning)) < 0.3) & (available > 1)
    base = offsets[author[mentioning]]
    mentions: list[list[int]] = [[] for _ in author]
    for index, one, other, both in zip(
        mentioning.tolist(), followees[base + first].tolist(), followees[base + second].tolist(), two.tolist()
    ):
        mentions[index] = [one, other] if both else [one]
    return mentions


def _plant_media_and_sarcasm(rng: np.random.Generator, originals: _Posts, settings: _Settings) -> None:
    """Choose image, video and audio posts; in some image posts write the text with another sentiment."""
    n_posts = len(originals)
    image_posts = np.flatnonzero(rng.random(n_posts) < settings.image_fraction)
    originals.image_sentiment[image_posts] = originals.sentiment[image_posts]
    n_sarcastic = round(settings.disagreement_fraction * len(image_posts))
    sarcastic = rng.choice(image_posts, n_sarcastic, replace=False)
    originals.text_sentiment[sarcastic] = _contradict(rng, originals.sentiment[sarcastic])
    originals.disagree[sarcastic] = True
    originals.has_video[rng.choice(n_posts, settings.n_videos, replace=False)] = True
    originals.has_audio[rng.choice(n_posts, settings.n_audio, replace=False)] = True


def _contradict(rng: np.random.Generator, sentiment: np.ndarray) -> np.ndarray:
    """The text sentiment of sarcastic posts: the opposite polarity; neutral images get either polarity."""
    either = np.where(rng.random(len(sentiment)) < 0.5, 0, 2)
    return np.where(sentiment == 1, either, 2 - sentiment)


# ----------------------------------------------------------------------------------------------- engagement


def _simulate_exposures(
    rng: np.random.Generator,
    population: _Population,
    graph: _FollowGraph,
    originals: _Posts,
    settings: _Settings,
) -> _Exposures:
    """Who sees each original post and what they do: view, like (planted logistic model), comment."""
    viewer, post, delay = _draw_exposures(rng, population, graph, originals)
    view_seconds = originals.seconds[post] + np.floor(delay)
    keep = view_seconds < settings.end_seconds - _HOUR  # reactions come within the hour, inside the window
    viewer, post, view_seconds, delay = viewer[keep], post[keep], view_seconds[keep], delay[keep]
    author = originals.author[post]
    features = np.column_stack(
        [
            population.interests[viewer, originals.topic[post]],
            graph.follows(viewer, author).astype(float),
            np.log1p(graph.follower_counts[author]),
            delay / _HOUR,
        ]
    )
    probability = 1.0 / (1.0 + np.exp(-(_ENGAGEMENT_INTERCEPT + features @ _ENGAGEMENT_COEFFICIENTS)))
    engaged = rng.random(len(viewer)) < probability
    commented = engaged & (rng.random(len(viewer)) < _COMMENT_GIVEN_LIKE)
    return _Exposures(
        viewer=viewer,
        post=post,
        view_seconds=view_seconds,
        dwell_seconds=np.round(rng.lognormal(np.log(4.0), 0.6, len(viewer)) * np.where(engaged, 3.0, 1.0), 1),
        features=features,
        probability=probability,
        engaged=engaged,
        like_seconds=view_seconds + rng.integers(5, 600, len(viewer)),
        commented=commented,
        comment_seconds=view_seconds + rng.integers(60, 3000, len(viewer)),
    )


def _draw_exposures(
    rng: np.random.Generator, population: _Population, graph: _FollowGraph, originals: _Posts
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(viewer, post, delay in seconds) of each exposure: followers seeing the post, then discoveries.

    A user sees a post at most once; authors do not see their own posts.
    """
    offsets, members = graph.followers()
    n_followers = np.diff(offsets)[originals.author]
    # each follower sees the post with the same chance: a binomial count, then which ones (uniformly)
    follower_post, place = _distinct_positions(rng, n_followers, rng.binomial(n_followers, _SEE_FOLLOWED_POST))
    follower_viewer = members[offsets[originals.author[follower_post]] + place]
    follower_delay = rng.exponential(_FOLLOWER_DELAY_HOURS * _HOUR, len(follower_post))

    n_discoveries = rng.poisson(_DISCOVERIES_PER_POST, len(originals))
    discovery_post = np.repeat(np.arange(len(originals)), n_discoveries)
    discovery_viewer = np.empty(len(discovery_post), dtype=np.int64)
    for topic in np.unique(originals.topic):
        on_topic = originals.topic[discovery_post] == topic
        weight = population.interests[:, topic]
        discovery_viewer[on_topic] = rng.choice(len(weight), on_topic.sum(), p=weight / weight.sum())
    discovery_delay = rng.exponential(_DISCOVERY_DELAY_HOURS * _HOUR, len(discovery_post))

    viewer = np.concatenate([follower_viewer, discovery_viewer])
    post = np.concatenate([follower_post, discovery_post])
    delay = np.concatenate([follower_delay, discovery_delay])
    _, first = np.unique(post * len(population.community) + viewer, return_index=True)
    first = first[viewer[first] != originals.author[post[first]]]
    return viewer[first], post[first], delay[first]


def _plant_replies(
    rng: np.random.Generator,
    exposures: _Exposures,
    population: _Population,
    originals: _Posts,
    topic_mood: np.ndarray,
) -> _Posts:
    """Reply posts for half the comments: on the post's topic, sentiment leaning towards the post's."""
    chosen = np.flatnonzero(exposures.commented & (rng.random(len(exposures.viewer)) < _REPLY_GIVEN_COMMENT))
    author = exposures.viewer[chosen]
    parent = exposures.post[chosen]
    topic = originals.topic[parent]
    lean = population.tendency[author] + topic_mood[topic] + 0.8 * (originals.sentiment[parent] - 1)
    sentiment = _draw_sentiment(rng, lean)
    n_replies = len(chosen)
    return _Posts(
        kind=np.full(n_replies, 1),
        author=author,
        seconds=exposures.comment_seconds[chosen],
        topic=topic,
        sentiment=sentiment,
        text_sentiment=sentiment.copy(),
        image_sentiment=np.full(n_replies, -1),
        disagree=np.zeros(n_replies, dtype=bool),
        has_video=np.zeros(n_replies, dtype=bool),
        has_audio=np.zeros(n_replies, dtype=bool),
        parent=parent,
        root=np.full(n_replies, -1),
        lang=_post_languages(rng, population.language[author]),
        mentions=[[int(originals.author[p])] for p in parent],
    )


def _simulate_cascades(
    rng: np.random.Generator,
    population: _Population,
    graph: _FollowGraph,
    originals: _Posts,
    settings: _Settings,
) -> _Posts:
    """Independent cascades from every original post over the follow graph; one reshare post per activation.

    A user who reshares (or wrote) the post gives each follower one chance to reshare it, with probability
    ``_RESHARE_BASE * n_topics * interest`` (x1.5 for non-neutral posts), after an exponential delay; reshares
    that would fall after the window are dropped, and a user reshares a post at most once. All cascades
    advance together, one generation at a time. ``parent`` indexes the reshare's parent among originals +
    reshares (reshares numbered after the originals), ``root`` the original.
    """
    offsets, members = graph.followers()
    n_users, n_originals = settings.n_users, len(originals)
    boost = np.where(originals.sentiment != 1, _RESHARE_EMOTION_BOOST, 1.0)
    active = np.sort(np.arange(n_originals) * n_users + originals.author)  # root * n_users + user, sorted
    frontier = (originals.author, np.arange(n_originals), originals.seconds.astype(float), np.arange(n_originals))
    found: list[tuple[np.ndarray, ...]] = []
    n_reshares = 0
    while len(frontier[0]):
        generation = []
        for rows in _row_chunks(offsets[frontier[0] + 1] - offsets[frontier[0]]):  # bounded memory
            user, node, time, root = (column[rows] for column in frontier)
            n_followers = offsets[user + 1] - offsets[user]
            spreader = np.repeat(np.arange(len(user)), n_followers)
            follower = members[np.repeat(offsets[user], n_followers) + _ranges(n_followers)]
            post = root[spreader]
            chance = _RESHARE_BASE * settings.n_topics * population.interests[follower, originals.topic[post]]
            hit = rng.random(len(follower)) < np.minimum(0.9, chance * boost[post])
            spreader, follower, post = spreader[hit], follower[hit], post[hit]
            reshare_time = time[spreader] + 60 + np.floor(rng.exponential(_RESHARE_DELAY_HOURS * _HOUR, hit.sum()))
            code = post * n_users + follower
            keep = (reshare_time < settings.end_seconds) & ~_contains(active, code)
            _, first = np.unique(code[keep], return_index=True)  # two spreaders reaching one user: the first wins
            chosen = np.flatnonzero(keep)[np.sort(first)]
            active = np.insert(active, np.searchsorted(active, code[chosen]), code[chosen])
            new_nodes = n_originals + n_reshares + np.arange(len(chosen))
            generation.append((follower[chosen], new_nodes, reshare_time[chosen], post[chosen]))
            found.append((follower[chosen], reshare_time[chosen], node[spreader[chosen]], post[chosen]))
            n_reshares += len(chosen)
        frontier = tuple(np.concatenate([part[field] for part in generation]) for field in range(4))
    authors, seconds, parents, roots = (
        np.concatenate([np.zeros(0, dtype)] + [part[field] for part in found])
        for field, dtype in enumerate((np.int64, float, np.int64, np.int64))
    )
    return _Posts(
        kind=np.full(n_reshares, 2),
        author=authors,
        seconds=seconds,
        topic=originals.topic[roots],
        sentiment=originals.sentiment[roots],
        text_sentiment=np.full(n_reshares, -1),
        image_sentiment=np.full(n_reshares, -1),
        disagree=np.zeros(n_reshares, dtype=bool),
        has_video=np.zeros(n_reshares, dtype=bool),
        has_audio=np.zeros(n_reshares, dtype=bool),
        parent=parents,
        root=roots,
        lang=np.full(n_reshares, ""),
        mentions=[[] for _ in range(n_reshares)],
    )


def _merge_posts(originals: _Posts, replies: _Posts, reshares: _Posts) -> tuple[_Posts, np.ndarray]:
    """All posts in time order, with parents renumbered; also the rank of each original in the merged order.

    Replies' parents index originals; reshares' parents index originals + reshares (``_simulate_cascades``).
    """
    n_originals, n_replies = len(originals), len(replies)
    reshare_parent = np.where(reshares.parent < n_originals, reshares.parent, reshares.parent + n_replies)
    columns = {}
    for name in (
        "kind",
        "author",
        "seconds",
        "topic",
        "sentiment",
        "text_sentiment",
        "image_sentiment",
        "disagree",
        "has_video",
        "has_audio",
        "lang",
    ):
        columns[name] = np.concatenate([getattr(part, name) for part in (originals, replies, reshares)])
    parent = np.concatenate([originals.parent, replies.parent, reshare_parent])
    root = np.concatenate([originals.root, replies.root, reshares.root])
    mentions = originals.mentions + replies.mentions + reshares.mentions
    order = np.lexsort((np.arange(len(parent)), columns["seconds"]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    merged = _Posts(
        **{name: values[order] for name, values in columns.items()},
        parent=_renumbered(parent, rank)[order],
        root=_renumbered(root, rank)[order],
        mentions=[mentions[index] for index in order],
    )
    return merged, rank[:n_originals]


def _renumbered(index: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Post indices mapped to their merged rank; -1 (no post) stays -1."""
    return np.where(index >= 0, rank[np.maximum(index, 0)], -1)


def _renumber_exposures(exposures: _Exposures, original_rank: np.ndarray) -> _Exposures:
    """The exposures with post indices pointing into the merged posts."""
    return replace(exposures, post=original_rank[exposures.post])


def _engagement_sample(
    rng: np.random.Generator, exposures: _Exposures, post_ids: np.ndarray, user_ids: np.ndarray
) -> EngagementSample:
    """The planted like probability on a uniform sample of at most ``_ENGAGEMENT_SAMPLE_SIZE`` exposures."""
    sample = np.sort(
        rng.choice(len(exposures.viewer), min(_ENGAGEMENT_SAMPLE_SIZE, len(exposures.viewer)), replace=False)
    )
    return EngagementSample(
        user_ids=user_ids[exposures.viewer[sample]],
        post_ids=post_ids[exposures.post[sample]],
        features=exposures.features[sample],
        feature_names=_ENGAGEMENT_FEATURES,
        intercept=_ENGAGEMENT_INTERCEPT,
        coefficients=_ENGAGEMENT_COEFFICIENTS.copy(),
        probability=exposures.probability[sample],
        engaged=exposures.engaged[sample],
    )


def _cascade_trees(
    posts: _Posts, post_ids: np.ndarray, user_ids: np.ndarray, start: dt.datetime
) -> dict[str, list[CascadeNode]]:
    """Root post id -> cascade nodes by time (root first), for originals reshared at least once."""
    trees: dict[str, list[CascadeNode]] = {}
    for index in np.flatnonzero(posts.kind == 2):  # merged posts are in time order: parents come first
        root = posts.root[index]
        if post_ids[root] not in trees:
            trees[post_ids[root]] = [
                CascadeNode(post_ids[root], None, user_ids[posts.author[root]], _at(start, posts.seconds[root]))
            ]
        trees[post_ids[root]].append(
            CascadeNode(
                post_ids[index],
                post_ids[posts.parent[index]],
                user_ids[posts.author[index]],
                _at(start, posts.seconds[index]),
            )
        )
    return dict(sorted(trees.items()))


def _at(start: dt.datetime, seconds: float) -> dt.datetime:
    return start + dt.timedelta(seconds=float(seconds))


# ----------------------------------------------------------------------------------------------------- text


def _write_texts(rng: np.random.Generator, posts: _Posts, population: _Population) -> tuple[list[str], list[list[str]]]:
    """Text and hashtags of every post (reshares have none)."""
    draw = _uniform_draws(rng)
    texts, hashtags = [], []
    for kind, lang, topic, sentiment, mentioned in zip(
        posts.kind.tolist(), posts.lang.tolist(), posts.topic.tolist(), posts.text_sentiment.tolist(), posts.mentions
    ):
        if kind == 2:
            texts.append("")
            hashtags.append([])
            continue
        handles = [population.handles[user] for user in mentioned]
        text, tags = _compose_text(draw, lang, topic, SENTIMENTS[sentiment], handles, is_reply=kind == 1)
        texts.append(text)
        hashtags.append(tags)
    return texts, hashtags


def _compose_text(
    draw: Draw, lang: str, topic: int, sentiment: str, mention_handles: Sequence[str], *, is_reply: bool
) -> tuple[str, list[str]]:
    """One post's text: [reply opener] topic sentence [second sentence] [aside] [emoji] #tags, with @mentions.

    Returns:
        The text and its hashtags (without ``#``, as ``socialfusion.ingestion`` would extract them).
    """
    parts = [_pick(draw, REPLY_OPENERS[lang][sentiment])] if is_reply else []
    parts.append(_topic_sentence(draw, lang, topic, sentiment))
    if draw() < 0.35:
        on_topic = draw() < 0.6
        parts.append(_topic_sentence(draw, lang, topic, sentiment) if on_topic else _pick(draw, FILLERS[lang]))
    if draw() < 0.08:
        other = TOPICS[(topic + 1 + int(draw() * (len(TOPICS) - 1))) % len(TOPICS)]
        parts.append(_pick(draw, ASIDES[lang]).format(thing=_pick(draw, other.things[lang])))
    text = (" " if lang == "en" else "").join(parts)
    if lang == "en":
        text = _with_typo(draw, text) if draw() < 0.06 else text
        text = text.lower() if draw() < 0.1 else text
    if draw() < 0.2:
        text += " " + _pick(draw, EMOJI[sentiment] if draw() < 0.85 else EMOJI[_pick(draw, SENTIMENTS)])
    tags = _pick_hashtags(draw, lang, topic)
    if tags:
        text += " " + " ".join(f"#{tag}#" if lang == "zh" else f"#{tag}" for tag in tags)
    mentions = " ".join(f"@{handle}" for handle in mention_handles)
    if mentions:
        text = f"{mentions} {text}" if is_reply or draw() < 0.5 else f"{text} {mentions}"
    return text, tags


def _topic_sentence(draw: Draw, lang: str, topic: int, sentiment: str) -> str:
    """A topic-specific sentence, or a generic sentiment template filled with one of the topic's things."""
    phrases = TOPICS[topic]
    if draw() < 0.55:
        return _pick(draw, phrases.sentences[lang][sentiment])
    sentence = _pick(draw, GENERIC_TEMPLATES[lang][sentiment]).format(thing=_pick(draw, phrases.things[lang]))
    return sentence[0].upper() + sentence[1:]


def _with_typo(draw: Draw, text: str) -> str:
    """Swap two neighbouring letters inside one word of four letters or more."""
    words = text.split(" ")
    candidates = [index for index, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return text
    index = _pick(draw, candidates)
    word = words[index]
    position = 1 + int(draw() * (len(word) - 3))
    words[index] = word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    return " ".join(words)


def _pick_hashtags(draw: Draw, lang: str, topic: int) -> list[str]:
    """Zero to two (distinct) of the topic's hashtags; one post in twenty adds another topic's tag."""
    own = TOPICS[topic].hashtags[lang]
    tags = []
    n_own = _pick(draw, (0, 1, 1, 2))
    if n_own:
        first = int(draw() * len(own))
        tags.append(own[first])
        if n_own == 2:
            tags.append(own[(first + 1 + int(draw() * (len(own) - 1))) % len(own)])
    if draw() < 0.05:
        tags.append(_pick(draw, _pick(draw, TOPICS).hashtags[lang]))
    return list(dict.fromkeys(tags))


# ---------------------------------------------------------------------------------------------------- media


def _render_media(rng: np.random.Generator, posts: _Posts, settings: _Settings) -> list[list[dict[str, Any]]]:
    """Media items of every post: images, videos and audio rendered from (topic, sentiment).

    Each (kind, topic, sentiment) cell has at most ``_MEDIA_VARIANTS[kind]`` distinct renders: the first posts
    of a cell (in time order) each get their own, later ones reuse them in turn. A corpus of a million posts so
    renders and writes a bounded number of files, while every post of a small corpus has media of its own.
    """
    media: list[list[dict[str, Any]]] = [[] for _ in range(len(posts))]
    renderers = (
        ("image", posts.image_sentiment >= 0, _render_image),
        ("video", posts.has_video, _render_video),
        ("audio", posts.has_audio, _render_audio),
    )
    for kind, carries, render in renderers:
        carriers = np.flatnonzero(carries)
        cell = posts.topic[carriers] * len(SENTIMENTS) + posts.sentiment[carriers]
        order = np.argsort(cell, kind="stable")
        rank = np.empty(len(carriers), dtype=np.int64)
        rank[order] = np.arange(len(carriers)) - np.searchsorted(cell[order], cell[order])
        variant = cell * _MEDIA_VARIANTS[kind] + rank % _MEDIA_VARIANTS[kind]
        rendered = {}
        for code in np.unique(variant).tolist():
            topic, sentiment = divmod(code // _MEDIA_VARIANTS[kind], len(SENTIMENTS))
            rendered[code] = _media_item(kind, render(rng, topic, sentiment), settings.media_dir)
        for index, code in zip(carriers.tolist(), variant.tolist()):
            media[index].append(rendered[code])
    return media


def _media_item(kind: str, data: bytes, media_dir: Path | None) -> dict[str, Any]:
    """A ``Media`` mapping: bytes inline, or written once to ``media_dir/<kind folder>/<sha256>.<ext>``.

    Files are named by their content, so a file already there is the same file: concurrent or repeated runs
    into one folder leave it as it is, and a new file appears whole (written aside, then renamed).
    """
    digest = hashlib.sha256(data).hexdigest()
    item = {"kind": kind, "sha256": digest, "mime": _MEDIA_MIME[kind], "size_bytes": len(data)}
    if media_dir is None:
        return {**item, "data": data}
    folder, extension = _MEDIA_FOLDER[kind]
    path = media_dir / folder / f"{digest}.{extension}"
    if not (path.is_file() and path.stat().st_size == len(data)):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return {**item, "uri": str(path)}


def _topic_colours(topic: int) -> tuple[np.ndarray, np.ndarray]:
    """The topic's background and (complementary) accent colours, RGB 0-255; hues spread round the wheel."""
    hue = topic / len(TOPICS)
    background = np.array(colorsys.hsv_to_rgb(hue, 0.55, 0.85)) * 255
    accent = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.8, 0.95)) * 255
    return background, accent


def _toned(colour: np.ndarray, sentiment: int) -> tuple[int, int, int]:
    """A colour made darker and colder for negative, brighter and warmer for positive."""
    toned = np.clip(colour * _SENTIMENT_BRIGHTNESS[sentiment] + _SENTIMENT_TINT[sentiment], 0, 255)
    return tuple(int(value) for value in toned)


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, size: float, colour: tuple[int, int, int]
) -> None:
    """One of the topic's shapes centred at (x, y)."""
    half = size / 2
    box = (x - half, y - half, x + half, y + half)
    if shape == "squares":
        draw.rectangle(box, fill=colour)
    elif shape == "circles":
        draw.ellipse(box, fill=colour)
    elif shape == "dots":
        for dx in (-half, 0, half):
            draw.ellipse((x + dx - 2, y - 2, x + dx + 2, y + 2), fill=colour)
    elif shape == "triangles":
        draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=colour)
    elif shape == "bars":
        draw.rectangle((x - 2, y - half, x + 2, y + half), fill=colour)
    elif shape == "waves":
        draw.line([(x - half + i, y + 3 * np.sin(i / 2)) for i in range(int(size) + 1)], fill=colour, width=2)
    elif shape == "strips":
        draw.rectangle((x - half, y - 2, x + half, y + 2), fill=colour)
    elif shape == "crosses":
        draw.line((x - half, y - half, x + half, y + half), fill=colour, width=3)
        draw.line((x - half, y + half, x + half, y - half), fill=colour, width=3)
    elif shape == "rings":
        draw.ellipse(box, outline=colour, width=3)
    else:  # steps
        step = size / 3
        draw.polygon(
            [
                (x - half, y + half),
                (x - half, y + half - step),
                (x - half + step, y + half - step),
                (x - half + step, y + half - 2 * step),
                (x + half - step, y + half - 2 * step),
                (x + half - step, y - half),
                (x + half, y - half),
                (x + half, y + half),
            ],
            fill=colour,
        )


def _draw_face(draw: ImageDraw.ImageDraw, x: float, y: float, sentiment: int) -> None:
    """A small face: smiling (positive), straight mouth (neutral) or frowning (negative)."""
    draw.ellipse((x - 9, y - 9, x + 9, y + 9), fill=(250, 215, 60), outline=(40, 30, 0))
    draw.ellipse((x - 5, y - 4, x - 2, y - 1), fill=(40, 30, 0))
    draw.ellipse((x + 2, y - 4, x + 5, y - 1), fill=(40, 30, 0))
    if sentiment == 2:
        draw.arc((x - 6, y - 4, x + 6, y + 6), 20, 160, fill=(40, 30, 0), width=2)
    elif sentiment == 0:
        draw.arc((x - 6, y + 2, x + 6, y + 10), 200, 340, fill=(40, 30, 0), width=2)
    else:
        draw.line((x - 5, y + 4, x + 5, y + 4), fill=(40, 30, 0), width=2)


def _frame(
    positions: np.ndarray, topic: int, sentiment: int, shift: float, face_at: tuple[float, float]
) -> Image.Image:
    """One picture: toned background, the topic's shapes at ``positions`` (x, y, size) moved right, a face."""
    background, accent = _topic_colours(topic)
    picture = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), _toned(background, sentiment))
    draw = ImageDraw.Draw(picture)
    shape = _TOPIC_SHAPES[topic]
    for x, y, size in positions:
        _draw_shape(draw, shape, (x + shift) % IMAGE_SIZE, y, size, _toned(accent, sentiment))
    _draw_face(draw, *face_at, sentiment)
    return picture


def _shape_positions(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) x, y, size of shapes."""
    return np.column_stack(
        [rng.uniform(4, IMAGE_SIZE - 4, count), rng.uniform(4, IMAGE_SIZE - 4, count), rng.uniform(8, 18, count)]
    )


def _render_image(rng: np.random.Generator, topic: int, sentiment: int) -> bytes:
    """A 64x64 PNG: topic palette and shapes, sentiment brightness, tint and face, plus pixel noise."""
    face_at = (float(rng.uniform(12, IMAGE_SIZE - 12)), float(rng.uniform(12, IMAGE_SIZE - 12)))
    picture = _frame(_shape_positions(rng, int(rng.integers(4, 8))), topic, sentiment, 0.0, face_at)
    noisy = np.asarray(picture, dtype=np.float64) + rng.normal(0.0, 5.0, (IMAGE_SIZE, IMAGE_SIZE, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _render_video(rng: np.random.Generator, topic: int, sentiment: int) -> bytes:
    """A 64x64 MP4 (H.264) of ``VIDEO_FRAMES`` frames: the topic's shapes drift right, faster if positive."""
    av = attempt_import("av", "media")
    positions = _shape_positions(rng, 3)
    face_at = (float(rng.uniform(12, IMAGE_SIZE - 12)), float(rng.uniform(12, IMAGE_SIZE - 12)))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width = stream.height = IMAGE_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.codec_context.thread_count = 1  # one thread: byte-identical output for the same frames
        for index in range(VIDEO_FRAMES):
            picture = _frame(positions, topic, sentiment, index * _SENTIMENT_SPEED[sentiment], face_at)
            container.mux(stream.encode(av.VideoFrame.from_image(picture)))
        container.mux(stream.encode())
    return buffer.getvalue()


def _render_audio(rng: np.random.Generator, topic: int, sentiment: int) -> bytes:
    """A mono 16-bit WAV: beeps whose pitch, chirp and tempo encode the sentiment and harmonics the topic."""
    time = np.arange(int(AUDIO_SAMPLE_RATE * AUDIO_SECONDS)) / AUDIO_SAMPLE_RATE
    pitch = _SENTIMENT_PITCH[sentiment] * rng.uniform(0.97, 1.03)
    frequency = pitch * (1.0 + _SENTIMENT_CHIRP[sentiment] * time / AUDIO_SECONDS)
    phase = 2 * np.pi * np.cumsum(frequency) / AUDIO_SAMPLE_RATE
    second, third = (topic % 5) / 5 * 0.5, (topic // 5) * 0.3
    tone = np.sin(phase) + second * np.sin(2 * phase) + third * np.sin(3 * phase)
    pulses = np.sin(np.pi * _SENTIMENT_PULSES[sentiment] * time / AUDIO_SECONDS) ** 2
    signal = 0.6 * tone * pulses / (1 + second + third) + rng.normal(0.0, 0.01, len(time))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(AUDIO_SAMPLE_RATE)
        clip.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------- tables


_BOOKKEEPING_CHUNK = 1_000_000  # rows whose keys and hashes are computed at once (bounds the peak memory)


def _table(name: str, columns: dict[str, Any], n_rows: int) -> pa.Table:
    """The canonical table ``name`` from Arrow-convertible columns; absent fields take the schema default.

    Keys and hashes are added by chunks of rows, so that a table of millions of rows never holds all their
    joined texts at once.
    """
    model = TABLES[name]
    arrays = []
    fields = [field for field in arrow_schema(name) if field.name not in ("record_key", "record_hash")]
    for field in fields:
        if field.name in columns:
            arrays.append(pa.array(columns[field.name], field.type))
        elif model.model_fields[field.name].get_default(call_default_factory=True) == []:
            arrays.append(
                pa.ListArray.from_arrays(pa.array(np.zeros(n_rows + 1, np.int32)), pa.array([], field.type.value_type))
            )
        else:
            arrays.append(pa.nulls(n_rows, field.type))
    rows = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    if n_rows <= _BOOKKEEPING_CHUNK:
        return with_bookkeeping(name, rows)
    return pa.concat_tables(
        [
            with_bookkeeping(name, rows.slice(first, _BOOKKEEPING_CHUNK))
            for first in range(0, n_rows, _BOOKKEEPING_CHUNK)
        ]
    )


def _timestamps(start: dt.datetime, seconds: np.ndarray) -> pa.Array:
    """UTC timestamps ``start + seconds`` (whole microseconds) as an Arrow column."""
    micros = round(start.timestamp() * 1_000_000) + np.round(np.asarray(seconds, float) * 1_000_000)
    return pa.array(micros.astype(np.int64), pa.timestamp("us", tz="UTC"))


def _indexed(ids: pa.Array, index: np.ndarray) -> pa.Array:
    """``ids[index]``, null where ``index`` is -1."""
    return ids.take(pa.array(np.maximum(index, 0), mask=index < 0))


def _post_table(
    posts: _Posts,
    post_ids: pa.Array,
    user_ids: pa.Array,
    population: _Population,
    texts: list[str],
    hashtags: list[list[str]],
    media: list[list[dict[str, Any]]],
    exposures: _Exposures,
    settings: _Settings,
) -> pa.Table:
    """The posts table, with engagement counts consistent with interactions, replies and reshares."""
    n_posts = len(posts)
    handles = population.handles
    return _table(
        "posts",
        {
            "post_id": post_ids,
            "author_id": user_ids.take(posts.author),
            "created_at": _timestamps(settings.start, posts.seconds),
            "text": texts,
            "lang": pa.array(posts.lang, pa.string(), mask=posts.lang == ""),
            "media": media,
            "reply_to": _indexed(post_ids, np.where(posts.kind == 1, posts.parent, -1)),
            "reshare_of": _indexed(post_ids, np.where(posts.kind == 2, posts.root, -1)),
            "hashtags": hashtags,
            "mentions": [[handles[user] for user in mentioned] for mentioned in posts.mentions],
            "platform": pa.array(np.full(n_posts, PLATFORM)),
            "like_count": np.bincount(exposures.post[exposures.engaged], minlength=n_posts),
            "share_count": np.bincount(posts.root[posts.kind == 2], minlength=n_posts),
            "reply_count": np.bincount(posts.parent[posts.kind == 1], minlength=n_posts),
            "view_count": np.bincount(exposures.post, minlength=n_posts),
        },
        n_posts,
    )


def _user_table(population: _Population, graph: _FollowGraph, user_ids: pa.Array, settings: _Settings) -> pa.Table:
    """The users table: handle, names, creation time, follow counts (from the edges), bio."""
    favourites = np.argsort(-population.interests, axis=1, kind="stable")[:, :2]
    bios = []
    for index, (lang, (favourite, second)) in enumerate(zip(population.language.tolist(), favourites.tolist())):
        bio = PROFILE_TEMPLATES[lang][index % len(PROFILE_TEMPLATES[lang])].format(
            a=TOPICS[favourite].names[lang], b=TOPICS[second].names[lang]
        )
        bios.append(bio[0].upper() + bio[1:])
    n_users = len(user_ids)
    return _table(
        "users",
        {
            "user_id": user_ids,
            "handle": population.handles,
            "display_name": population.display_names,
            "created_at": _timestamps(settings.start, population.created_seconds),
            "followers_count": graph.follower_counts,
            "following_count": graph.following_counts,
            "profile_text": bios,
            "platform": pa.array(np.full(n_users, PLATFORM)),
            "extra": pa.array(np.char.add(np.char.add('{"lang":"', population.language.astype(str)), '"}')),
        },
        n_users,
    )


_INTERACTION_KINDS = ("comment", "like", "share", "view")  # alphabetical: rows are sorted by kind last


def _interaction_table(
    exposures: _Exposures, posts: _Posts, post_ids: pa.Array, user_ids: pa.Array, settings: _Settings
) -> pa.Table:
    """The interactions table by (time, user, post, kind): views (value: dwell seconds), likes, comments, shares.

    A comment that became a reply post has the reply's time (``_plant_replies`` uses the comment's time).
    """
    code = {kind: _INTERACTION_KINDS.index(kind) for kind in _INTERACTION_KINDS}
    liked, commented, shared = exposures.engaged, exposures.commented, posts.kind == 2
    parts = [  # (seconds, user, post, kind code, value)
        (exposures.view_seconds, exposures.viewer, exposures.post, code["view"], exposures.dwell_seconds),
        (exposures.like_seconds[liked], exposures.viewer[liked], exposures.post[liked], code["like"], None),
        (
            exposures.comment_seconds[commented],
            exposures.viewer[commented],
            exposures.post[commented],
            code["comment"],
            None,
        ),
        (posts.seconds[shared], posts.author[shared], posts.root[shared], code["share"], None),
    ]
    seconds, user, post = (np.concatenate([part[field] for part in parts]) for field in range(3))
    kind = np.concatenate([np.full(len(part[0]), part[3]) for part in parts])
    value = np.concatenate(
        [np.asarray(part[4], float) if part[4] is not None else np.full(len(part[0]), np.nan) for part in parts]
    )
    order = np.lexsort((kind, post, user, seconds))
    seconds, user, post, kind, value = seconds[order], user[order], post[order], kind[order], value[order]
    return _table(
        "interactions",
        {
            "user_id": user_ids.take(user),
            "post_id": post_ids.take(post),
            "kind": pa.array(_INTERACTION_KINDS).take(kind),
            "at": _timestamps(settings.start, seconds),
            "value": pa.array(value, pa.float64(), mask=np.isnan(value)),
        },
        len(order),
    )


def _edge_table(graph: _FollowGraph, posts: _Posts, user_ids: pa.Array, settings: _Settings) -> pa.Table:
    """Follow edges, then mention and reply edges.

    Mention and reply edges aggregate posts: ``weight`` counts them and ``created_at`` is the first one.
    """
    n_mentions = np.array([len(mentioned) for mentioned in posts.mentions], dtype=np.int64)
    mentioned = np.fromiter((user for users in posts.mentions for user in users), np.int64, int(n_mentions.sum()))
    replies = np.flatnonzero(posts.kind == 1)
    groups = [("follow", graph.src, graph.dst, graph.created_seconds, np.full(len(graph.src), np.nan))]
    for kind, src, dst, seconds in (
        ("mention", np.repeat(posts.author, n_mentions), mentioned, np.repeat(posts.seconds, n_mentions)),
        ("reply", posts.author[replies], posts.author[posts.parent[replies]], posts.seconds[replies]),
    ):
        pairs, which = np.unique(src * graph.n_users + dst, return_inverse=True)
        first = np.full(len(pairs), np.inf)
        np.minimum.at(first, which, seconds)
        count = np.bincount(which, minlength=len(pairs)).astype(float)
        groups.append((kind, pairs // graph.n_users, pairs % graph.n_users, first, count))
    src, dst, seconds, weight = (np.concatenate([group[field] for group in groups]) for field in range(1, 5))
    return _table(
        "edges",
        {
            "src": user_ids.take(src),
            "dst": user_ids.take(dst),
            "kind": pa.array(np.repeat([group[0] for group in groups], [len(group[1]) for group in groups])),
            "created_at": _timestamps(settings.start, seconds),
            "weight": pa.array(weight, pa.float64(), mask=np.isnan(weight)),
        },
        len(src),
    )


def _label_table(
    posts: _Posts, post_ids: np.ndarray, population: _Population, user_ids: np.ndarray, n_topics: int
) -> pa.Table:
    """Sentiment and topic of originals and replies, community of users; split by a stable hash of the id."""
    with_text = np.flatnonzero(posts.kind != 2)
    n_labelled = len(with_text)
    post_splits = np.array([_split_of(post_id) for post_id in post_ids[with_text].tolist()])
    user_splits = np.array([_split_of(user_id) for user_id in user_ids.tolist()])
    topic_names = np.array([topic.name for topic in TOPICS[:n_topics]])
    post_labels = np.column_stack(
        [np.array(SENTIMENTS)[posts.sentiment[with_text]], topic_names[posts.topic[with_text]]]
    ).ravel()  # sentiment, topic per post
    return _table(
        "labels",
        {
            "item_id": np.concatenate([np.repeat(post_ids[with_text], 2), user_ids]),
            "item_kind": np.concatenate([np.full(2 * n_labelled, "post"), np.full(len(user_ids), "user")]),
            "task": np.concatenate([np.tile(["sentiment", "topic"], n_labelled), np.full(len(user_ids), "community")]),
            "label": np.concatenate([post_labels, np.char.add("community_", population.community.astype(str))]),
            "split": np.concatenate([np.repeat(post_splits, 2), user_splits]),
        },
        2 * n_labelled + len(user_ids),
    )


def _split_of(item_id: str) -> str:
    """train (70%), dev (15%) or test (15%) from a hash of the id: an id always lands in the same split."""
    bucket = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "big") % 100
    return next(name for name, upper in _SPLIT_SHARES if bucket < upper)


def planted_follow_graph(
    n_users: int, n_edges: int, n_communities: int, *, inside_fraction: float = 0.8, seed: int = 0
) -> tuple[Corpus, np.ndarray]:
    """A large follow graph with planted communities, built column-wise (for scale tests and benchmarks).

    Each edge starts at a uniformly random user; with probability ``inside_fraction`` it ends inside the
    starting user's community, otherwise at any user. Users are ``"u0"``, ``"u1"``, ...; repeated pairs may occur.

    Args:
        n_users: number of users.
        n_edges: number of directed follow edges.
        n_communities: number of planted communities.
        inside_fraction: share of edges drawn inside the source's community.
        seed: random seed.

    Returns:
        A corpus holding only ``edges``, and the community of each user ``(n_users,)`` (user ``u{i}`` at row i).
    """
    rng = np.random.default_rng(seed)
    community = rng.integers(0, n_communities, n_users)
    members = [np.flatnonzero(community == c) for c in range(n_communities)]
    src, dst = rng.integers(0, n_users, n_edges), rng.integers(0, n_users, n_edges)
    inside = rng.random(n_edges) < inside_fraction
    for c in range(n_communities):
        chosen = np.flatnonzero(inside & (community[src] == c))
        dst[chosen] = rng.choice(members[c], len(chosen))
    ids = np.char.add("u", np.arange(n_users).astype(str))
    edges = _table("edges", {"src": ids[src], "dst": ids[dst], "kind": np.full(n_edges, "follow")}, n_edges)
    return Corpus(edges=edges), community
