"""Who will engage with what: engagement examples, a time-split engagement model, expected engagement, next actions.

``engagement_examples`` turns a corpus into (user, post, time, label) rows: every post a user viewed (an exposure)
is a row, labelled 1 when the user then liked it (or did any of the ``kinds`` asked for); without views, each
engagement is a positive row and other recent posts are sampled as negatives. Each row carries features of the
pair known at that time, and only then (every count and profile uses the history strictly before the row's time):

- the tie: ``follows_author``, ``same_community`` (Leiden on the follow graph), ``past_interactions_with_author``;
- the author: ``author_followers_log``;
- the match: ``interest_match``, the cosine between the user's interest profile (mean text vector of the posts
  they wrote or engaged with before) and the post's text vector; ``hashtag_match``, the same over bags of the
  1,000 most used hashtags; ``topic_share``, the share of what the user wrote or engaged with before that was on
  the post's topic (topics from a topic model's ``post_topics``, else clusters of the text vectors: fine k-means
  clusters merged into ``n_topics``), smoothed;
- the user's interest in the post's topic: ``community_topic_share``, the share of everything the members of the
  user's community did before (posts written, likes, comments, shares, clicks, and views of posts by authors they
  do not follow, which a platform shows by interest) that was on the post's topic, smoothed;
  ``topic_interest``, the same share over the user's own earlier actions, shrunk to the community's share;
- the user's track record: ``user_engagement_rate``, the share of the user's earlier examples (outcome known
  before this one) that were engaged, shrunk to the rate of everyone's; ``topic_engagement_rate``, the same on the
  post's topic, shrunk to the user's own rate; ``topic_engagement_lift``, the user's earlier engagements on the
  post's topic over the number expected from how each of those posts was met (followed author or not, hours
  since the post, the author's followers: the rate of that setting among still earlier outcomes), shrunk to the
  same ratio over all topics;
- the post: ``hours_since_post``, ``post_hour`` (NaN when the source gives dates only), ``post_weekday``,
  ``text_length``, ``hashtag_count``, ``mention_count``, ``has_image``, ``has_video``, ``has_audio``,
  ``sentiment`` (-1/0/+1), ``post_engagement_so_far``;
- the user: ``user_activity``.

``time_split`` cuts examples at a time (the first 80% of days by default): training rows whose outcome was known
before the cut, test rows after it. ``EngagementModel`` learns from the training rows and is scored on the later
window; ``explain`` measures which features drive it (permutation importance). ``ExpectedEngagementModel``
predicts how much engagement (likes + comments + shares) a new post will get from its content, author and posting
time; ``NextActionModel`` predicts what kind of action a user will take next. ``engagement_section`` reports the
held-out AUC and the drivers.

Examples:
    >>> from socialfusion.datasets.synthetic import generate
    >>> network = generate(n_users=80, n_posts=300, seed=0, n_videos=0, n_audio=0, image_fraction=0.0)
    >>> examples = engagement_examples(network.corpus, text_encoder="text/tfidf")
    >>> train, test = time_split(examples)
    >>> model = EngagementModel(learner="logistic").fit(train)
    >>> model.evaluate(test)["auc"] > 0.6
    True
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.tasks._ids import distinct_codes, positions, sorted_distinct
from socialfusion.tasks._periods import time_of_day_known
from socialfusion.tasks.topics import POST_TOPICS_TABLE

if TYPE_CHECKING:
    import datetime as dt

    from socialfusion.corpus import Corpus
    from socialfusion.encoders import Encoded
    from socialfusion.report import ReportSection
    from socialfusion.store import Store
    from socialfusion.tasks.influence import GraphCommunities
    from socialfusion.tasks.profiles import PostTexts

__all__ = [
    "ENGAGEMENT_FEATURES",
    "LEARNERS",
    "MAX_EXAMPLES",
    "NEGATIVE_MODES",
    "NEXT_ACTION_FEATURES",
    "POST_FEATURES",
    "EngagementModel",
    "ExpectedEngagementModel",
    "NextActionModel",
    "engagement_examples",
    "engagement_section",
    "expected_engagement",
    "next_action_examples",
    "post_features",
    "time_split",
]

logger = logging.getLogger(__name__)

POST_FEATURES = (
    "author_followers_log", "author_posts_before", "author_engagement_before", "post_hour", "post_weekday",
    "text_length", "hashtag_count", "mention_count", "has_image", "has_video", "has_audio", "sentiment",
)
"""Features of a post known when it is published (``post_features``, ``ExpectedEngagementModel``)."""

ENGAGEMENT_FEATURES = (
    "interest_match", "hashtag_match", "topic_share", "user_engagement_rate", "topic_engagement_rate",
    "topic_interest", "community_topic_share", "topic_engagement_lift", "follows_author", "same_community",
    "past_interactions_with_author", "author_followers_log", "hours_since_post", "post_hour", "post_weekday",
    "text_length", "hashtag_count", "mention_count", "has_image", "has_video", "has_audio", "sentiment",
    "post_engagement_so_far", "user_activity",
)
"""Features of a (user, post) example, in column order (``engagement_examples``)."""

NEXT_ACTION_FEATURES = (
    "last_post", "last_like", "last_comment", "last_share", "last_click", "share_post", "share_like", "share_comment",
    "share_share", "share_click", "history_log", "hours_since_last", "hour",
)
"""Features of a user's next action (``next_action_examples``)."""

LEARNERS = ("gradient_boosting", "logistic", "random_forest")
"""The learners ``EngagementModel``, ``ExpectedEngagementModel`` and ``NextActionModel`` accept."""

NEGATIVE_MODES = ("auto", "exposures", "sampled")
"""Where negative examples come from: views (``exposures``), sampled posts, or views when there are any."""

_ACTIVE_KINDS = ("like", "comment", "share", "click")
_ACTION_KINDS = ("post", *_ACTIVE_KINDS)
_US_PER_HOUR = 3_600_000_000
_SAMPLE_WINDOW_HOURS = 72.0
_MAX_HASHTAGS = 1000
_RATE_PRIOR_WEIGHT = 5.0  # pseudo-examples of the broader rate that an engagement rate is shrunk to
_TOPIC_DIMENSIONS = 512  # wider text vectors (TF-IDF) are reduced to this many dimensions before k-means;
# sentence embeddings keep theirs (cutting 512-d embeddings to 64 merged the planted topics less well)
_FINE_CLUSTERS_PER_TOPIC = 10  # k-means clusters per topic before they are merged into topics
_INTEREST_PRIOR_WEIGHT = 5.0  # pseudo-actions of the community's topic shares that a user's interest is shrunk to
_EXPECTED_PRIOR_WEIGHT = 10.0  # pseudo-examples of everyone's rate that a setting's engagement rate is shrunk to
_HOUR_BINS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # hours since the post, bins of the expected engagement rate
_FOLLOWER_BINS = (10.0, 30.0, 100.0, 300.0, 1000.0)  # author followers, bins of the expected engagement rate

MAX_EXAMPLES = 200_000
"""The report's engagement card builds about this many examples at most (``engagement_examples(max_examples=...)``):
beyond it, the examples of a seeded sample of users stratified by activity. The features' counts of the past still
read every interaction, but the examples' features, the model and its permutation importance then cost the same at
any corpus size."""


# -- time-ordered history ------------------------------------------------------------------------------------------


def _microseconds(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as int64 microseconds since the epoch (nulls as the smallest int64)."""
    values = pc.cast(column, pa.timestamp("us", tz="UTC")) if len(column) else pa.array([], pa.timestamp("us"))
    return np.asarray(pc.fill_null(pc.cast(values, pa.int64()), np.iinfo(np.int64).min).to_numpy(zero_copy_only=False),
                      np.int64)


class _History:
    """Events (group, time) sorted so that "events of this group strictly before this time" is two binary searches.

    Groups are non-negative int64 codes (a user, a post, a user-author pair); times are int64 microseconds.
    """

    def __init__(self, groups: np.ndarray, times: np.ndarray, query_times: np.ndarray) -> None:
        # Dense time ranks keep group * n_ranks + rank inside int64 for any realistic corpus.
        self._times = distinct_codes(np.concatenate([times, query_times]))
        self._n_ranks = len(self._times) + 1
        keys = np.asarray(groups, np.int64) * self._n_ranks + np.searchsorted(self._times, times)
        self.order = np.argsort(keys, kind="stable")
        self._keys = keys[self.order]

    def bounds(self, groups: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in sorted order) of the first event of each query's group and of its first event at or after
        the query time: ``end - start`` events of that group happened strictly before."""
        base = np.asarray(groups, np.int64) * self._n_ranks
        start = np.searchsorted(self._keys, base, side="left")
        end = np.searchsorted(self._keys, base + np.searchsorted(self._times, times), side="left")
        return start, end

    def count_before(self, groups: np.ndarray, times: np.ndarray) -> np.ndarray:
        start, end = self.bounds(groups, times)
        return (end - start).astype(np.float64)


class _CorpusView:
    """What the features need from a corpus, as arrays: posts, authors, followers, follows, communities, events."""

    def __init__(self, corpus: Corpus, sentiment: pa.Table | str | None, random_state: int,
                 follow_graph: GraphCommunities | None = None) -> None:
        from socialfusion.tasks.profiles import post_sentiment_array

        posts = corpus.posts
        self.post_id_array = pc.cast(posts.column("post_id"), pa.string()).combine_chunks()
        self.n_posts = len(self.post_id_array)
        interactions = corpus.interactions
        every_user = pa.chunked_array([chunk for column in (
            corpus.users.column("user_id"), posts.column("author_id"), interactions.column("user_id"))
            for chunk in pc.cast(column, pa.string()).chunks], pa.string())  # a table with no rows has no chunks
        self.user_array = sorted_distinct(every_user)
        self.n_users = len(self.user_array)
        self.post_author = positions(posts.column("author_id"), self.user_array)
        self.created = _microseconds(posts.column("created_at"))
        self.has_time = pc.is_valid(posts.column("created_at")).to_numpy(zero_copy_only=False)
        self.is_reshare = pc.is_valid(posts.column("reshare_of")).to_numpy(zero_copy_only=False)
        texts = pc.fill_null(posts.column("text"), "")
        self.text_length = np.log1p(pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.float64))
        self.hashtag_count = pc.fill_null(pc.list_value_length(posts.column("hashtags")), 0).to_numpy(
            zero_copy_only=False).astype(np.float64)
        self.mention_count = pc.fill_null(pc.list_value_length(posts.column("mentions")), 0).to_numpy(
            zero_copy_only=False).astype(np.float64)
        media = posts.column("media").combine_chunks()
        media_kind, media_post = pc.struct_field(pc.list_flatten(media), "kind"), pc.list_parent_indices(media)
        self.media = {kind: np.bincount(media_post.filter(pc.fill_null(pc.equal(media_kind, kind), False)).to_numpy(),
                                        minlength=self.n_posts).clip(0, 1).astype(np.float64)
                      for kind in ("image", "video", "audio")}
        # A date-only source's midnight is no hour (NaN: the learners treat it as missing); its weekday is known.
        platform = posts.column("platform") if "platform" in posts.column_names else None
        self.hour_known = time_of_day_known(posts.column("created_at"), platform)
        hours = np.where(self.has_time, self.created // _US_PER_HOUR, 0)
        self.post_hour = np.where(self.hour_known, hours % 24, np.nan)
        self.post_weekday = np.where(self.has_time, (hours // 24 + 3) % 7, np.nan)  # 1970-01-01 was a Thursday
        self.sentiment = post_sentiment_array(corpus, sentiment, missing=0.0)
        self.followers = self._followers(corpus)
        edges = corpus.edges
        ties = pc.is_in(edges.column("kind"), value_set=pa.array(["follow", "friend"])).to_numpy(zero_copy_only=False)
        src, dst = (positions(edges.column(end), self.user_array)[ties] for end in ("src", "dst"))
        known = (src >= 0) & (dst >= 0)
        self._follow_codes = distinct_codes(src[known] * self.n_users + dst[known])
        self._communities_of = (corpus, random_state, follow_graph)  # found when a feature first reads them
        # the kind of each interaction as a code into a few names (one byte or two each, not a string)
        kinds = pc.fill_null(pc.cast(interactions.column("kind"), pa.string()), "").combine_chunks().dictionary_encode()
        self._kind_names = kinds.dictionary.to_pylist()
        self._kind_codes = kinds.indices.to_numpy(zero_copy_only=False).astype(
            np.min_scalar_type(max(len(self._kind_names) - 1, 0)))
        self._action_kinds = np.array([_ACTION_KINDS.index(name) if name in _ACTION_KINDS else -1
                                       for name in self._kind_names], np.int64)  # kind code -> action kind
        self.actor = positions(interactions.column("user_id"), self.user_array)
        self.target = positions(interactions.column("post_id"), self.post_id_array)
        self.at = _microseconds(interactions.column("at"))
        self.at_hour_known = time_of_day_known(interactions.column("at"))

    def follows(self, users: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: ``users[i]`` follows (or is a friend of) ``targets[i]`` (user codes; -1 follows no one)."""
        codes = np.asarray(users, np.int64) * self.n_users + np.asarray(targets, np.int64)
        return np.isin(codes, self._follow_codes) & (np.asarray(users) >= 0) & (np.asarray(targets) >= 0)

    def _followers(self, corpus: Corpus) -> np.ndarray:
        """Each user's ``followers_count``, else the follow edges pointing at them."""
        edges = corpus.edges
        follow = pc.fill_null(pc.equal(edges.column("kind"), "follow"), False).to_numpy(zero_copy_only=False)
        dst = positions(edges.column("dst"), self.user_array)[follow]
        followers = np.bincount(dst[dst >= 0], minlength=self.n_users).astype(np.float64)
        users = corpus.users
        counted = pc.is_valid(users.column("followers_count")).to_numpy(zero_copy_only=False)
        rows = positions(users.column("user_id"), self.user_array)
        followers[rows[counted]] = users.column("followers_count").to_numpy(zero_copy_only=False)[counted]
        return followers

    @functools.cached_property
    def community(self) -> np.ndarray:
        """``(n_users,)`` each user's Leiden community in the follow graph; -1 without follow ties."""
        from socialfusion.tasks.influence import graph_communities

        corpus, random_state, follow_graph = self._communities_of
        return graph_communities(corpus, random_state=random_state, given=follow_graph).membership(self.user_array)

    def of_kind(self, *kinds: str) -> np.ndarray:
        """``(n_interactions,)`` bool: the interactions whose kind is one of ``kinds``."""
        return np.isin(self._kind_codes, [code for code, name in enumerate(self._kind_names) if name in kinds])

    def active(self) -> np.ndarray:
        """Rows of active interactions (like, comment, share, click) on known posts with a time."""
        return np.flatnonzero(self.of_kind(*_ACTIVE_KINDS) & (self.target >= 0) & (self.actor >= 0)
                              & (self.at != np.iinfo(np.int64).min))

    @functools.cached_property
    def actions(self) -> _Actions:
        """Everything users did with posts: each post written (with a time), then each active interaction."""
        written = np.flatnonzero((self.post_author >= 0) & self.has_time)
        active = self.active()
        return _Actions(
            user=np.concatenate([self.post_author[written], self.actor[active]]),
            at=np.concatenate([self.created[written], self.at[active]]),
            post=np.concatenate([written, self.target[active]]),
            kind=np.concatenate([np.zeros(len(written), np.int64),
                                 self._action_kinds[self._kind_codes[active]]]),
            hour_known=np.concatenate([self.hour_known[written], self.at_hour_known[active]]))

    @functools.cached_property
    def discoveries(self) -> _Actions:
        """Views of posts by authors the viewer does not follow (what the platform showed beyond their follows)."""
        rows = np.flatnonzero(self.of_kind("view") & (self.actor >= 0) & (self.target >= 0)
                              & (self.at != np.iinfo(np.int64).min))
        author = self.post_author[self.target[rows]]
        rows = rows[(author != self.actor[rows]) & ~self.follows(self.actor[rows], author)]
        return _Actions(user=self.actor[rows], at=self.at[rows], post=self.target[rows],
                        kind=np.full(len(rows), -1, np.int64), hour_known=self.at_hour_known[rows])


class _Actions(NamedTuple):
    """Users' actions on posts, as parallel arrays: who, when (int64 microseconds), which post, the kind (an
    index into ``_ACTION_KINDS``; 0 is writing the post; -1 a view) and whether the time carries an hour."""

    user: np.ndarray
    at: np.ndarray
    post: np.ndarray
    kind: np.ndarray
    hour_known: np.ndarray


# -- examples ------------------------------------------------------------------------------------------------------


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(kinds))
    if not kinds or any(kind not in _ACTIVE_KINDS for kind in kinds):
        raise ConfigurationError(f"kinds must be a non-empty selection of {_ACTIVE_KINDS}; got {kinds!r}")
    return kinds


def _exposure_rows(view: _CorpusView, kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray, np.ndarray]:
    """(user, post, time, label, label time) of each first view of a post by someone other than its author."""
    rows = np.flatnonzero(view.of_kind("view") & (view.actor >= 0) & (view.target >= 0)
                          & (view.at != np.iinfo(np.int64).min))
    rows = rows[np.lexsort((view.at[rows], view.target[rows], view.actor[rows]))]
    pair = view.actor[rows] * view.n_posts + view.target[rows]
    first = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(rows) else np.zeros(0, bool)
    rows = rows[first]
    rows = rows[view.post_author[view.target[rows]] != view.actor[rows]]
    user, post, at = view.actor[rows], view.target[rows], view.at[rows]
    # each (user, post) pair engaged, with its first engagement's time
    engagements = np.flatnonzero(view.of_kind(*kinds) & (view.actor >= 0) & (view.target >= 0))
    pairs = view.actor[engagements] * view.n_posts + view.target[engagements]
    order = np.lexsort((view.at[engagements], pairs))
    pairs, first = np.unique(pairs[order], return_index=True)
    first_at = view.at[engagements][order][first]
    codes = user * view.n_posts + post
    found = np.minimum(np.searchsorted(pairs, codes), max(len(pairs) - 1, 0))
    label = (pairs[found] == codes).astype(np.int8) if len(pairs) else np.zeros(len(codes), np.int8)
    label_at = np.where(label == 1, first_at[found] if len(pairs) else at, at)
    return user, post, at, label, np.maximum(label_at, at)


def _sampled_rows(view: _CorpusView, kinds: tuple[str, ...], n_negatives: int, random_state: int,
                  max_examples: int | None = None) -> tuple[np.ndarray, ...]:
    """Each engagement of ``kinds`` as a positive and ``n_negatives`` posts published in the 72 hours before it,
    which the user did not engage with, as negatives at the same time; with ``max_examples``, only the engagements
    of the users ``_example_users`` keeps. Returns the five columns and the sample (see ``_user_sample``)."""
    rng = np.random.default_rng(random_state)
    rows = np.flatnonzero(view.of_kind(*kinds) & (view.actor >= 0) & (view.target >= 0)
                          & (view.at != np.iinfo(np.int64).min))
    kept = _example_users(view.actor[rows], max_examples, random_state, per_row=1 + n_negatives)
    sample = _user_sample(view.actor[rows], kept, per_row=1 + n_negatives)
    if kept is not None:
        rows = rows[np.isin(view.actor[rows], kept)]
    rows = rows[np.lexsort((view.target[rows], view.actor[rows], view.at[rows]))]
    engaged = distinct_codes(view.actor[rows] * view.n_posts + view.target[rows])  # sorted (user, post) codes
    candidates = np.flatnonzero(view.has_time & ~view.is_reshare)
    candidates = candidates[np.argsort(view.created[candidates], kind="stable")]
    created = view.created[candidates]
    users, posts, times, labels = [], [], [], []
    for row in rows:
        user, post, at = int(view.actor[row]), int(view.target[row]), int(view.at[row])
        users.append(user), posts.append(post), times.append(at), labels.append(1)
        low = np.searchsorted(created, at - int(_SAMPLE_WINDOW_HOURS * _US_PER_HOUR))
        high = np.searchsorted(created, at, side="right")
        pool = candidates[low:high]
        pool = pool[(view.post_author[pool] != user)]
        if len(pool):
            codes = user * view.n_posts + pool
            found = np.minimum(np.searchsorted(engaged, codes), len(engaged) - 1)
            pool = pool[engaged[found] != codes]
        for negative in rng.choice(pool, min(n_negatives, len(pool)), replace=False) if len(pool) else []:
            users.append(user), posts.append(int(negative)), times.append(at), labels.append(0)
    times_array = np.array(times, np.int64)
    return (np.array(users, np.int64), np.array(posts, np.int64), times_array, np.array(labels, np.int8),
            times_array.copy(), sample)


def _example_users(user: np.ndarray, max_examples: int | None, random_state: int,
                   per_row: int = 1) -> np.ndarray | None:
    """The users whose examples are kept when ``user`` (one entry per example, times ``per_row`` examples each)
    holds more than ``max_examples``: a seeded sample of the users, stratified by their number of examples (ten
    activity bands), about ``max_examples / per_row`` rows' worth; None keeps every user."""
    if max_examples is None or len(user) * per_row <= max_examples:
        return None
    from socialfusion.tasks._clustering import stratified_sample

    users, counts = np.unique(user, return_counts=True)
    size = max(1, round(len(users) * max_examples / (len(user) * per_row)))
    bands = np.searchsorted(np.quantile(counts, np.linspace(0.1, 0.9, 9)), counts, side="right")
    return users[stratified_sample(bands, size, random_state)]


def _user_sample(user: np.ndarray, kept: np.ndarray | None, per_row: int = 1) -> dict[str, int] | None:
    """What ``_example_users`` kept: ``users`` sampled ``of_users`` with examples, ``of_examples`` in all."""
    if kept is None:
        return None
    return {"users": len(kept), "of_users": len(np.unique(user)), "of_examples": len(user) * per_row}


_PROFILE_CHUNK_ROWS = 32_768  # history rows summed at a time by _interest_match: bounds its memory at any size


def _unit_rows(vectors: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of a dense or scipy-sparse matrix, dense float64, scaled to unit length (zero rows stay zero)."""
    picked = vectors[rows]
    picked = np.asarray(picked.todense() if hasattr(picked, "todense") else picked, np.float64)
    return picked / np.maximum(np.linalg.norm(picked, axis=1, keepdims=True), 1e-12)


def _interest_match(view: _CorpusView, vectors: Any, missing: np.ndarray, user: np.ndarray,
                    post: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Cosine between the mean vector of what each user wrote or engaged with before ``at`` and the post's vector.

    ``vectors`` (one row per post) may be dense or scipy-sparse. The users' histories are summed a block of users at
    a time (about ``_PROFILE_CHUNK_ROWS`` history rows), so memory stays bounded whatever the corpus size.
    """
    actions = view.actions
    # only the histories of the users asked about are summed (all of them, or a sample's: engagement_examples)
    keep = ~missing[actions.post] & np.isin(actions.user, np.unique(user))
    items = actions.post[keep]
    history = _History(actions.user[keep], actions.at[keep], at)
    start, end = history.bounds(user, at)
    sorted_users = actions.user[keep][history.order]
    # block edges on user boundaries: each example's history [start, end) lies inside one user's rows, so one block
    boundaries = np.flatnonzero(np.diff(sorted_users)) + 1
    edges = [0]
    for boundary in boundaries:
        if boundary - edges[-1] >= _PROFILE_CHUNK_ROWS:
            edges.append(int(boundary))
    edges.append(len(sorted_users))
    similarity = np.zeros(len(user))
    block_of = np.searchsorted(edges, start, side="right") - 1
    for block, (low, high) in enumerate(itertools.pairwise(edges)):
        examples = np.flatnonzero((block_of == block) & (end > start))
        if high <= low or not len(examples):
            continue
        summed = np.vstack([np.zeros((1, vectors.shape[1])),
                            np.cumsum(_unit_rows(vectors, items[history.order[low:high]]), axis=0)])
        profile = summed[end[examples] - low] - summed[start[examples] - low]
        norms = np.linalg.norm(profile, axis=1)
        cosine = np.einsum("ij,ij->i", profile, _unit_rows(vectors, post[examples])) / np.maximum(norms, 1e-12)
        similarity[examples] = np.where((norms > 0) & ~missing[post[examples]], cosine, 0.0)
    return similarity


def engagement_examples(
    corpus: Corpus,
    kinds: Sequence[str] = ("like",),
    *,
    negatives: str = "auto",
    n_negatives: int = 1,
    store: Store | None = None,
    text_encoder: str = "text/tfidf",
    post_vectors: tuple[Sequence[str], Encoded] | PostTexts | None = None,
    post_topics: pa.Table | None = None,
    n_topics: int = 8,
    sentiment: pa.Table | str | None = None,
    random_state: int = 0,
    max_examples: int | None = None,
    follow_graph: GraphCommunities | None = None,
) -> pa.Table:
    """(user, post, time, label) examples of engagement, with features known at that time.

    With ``max_examples`` (the report uses ``MAX_EXAMPLES``), a corpus with more examples than that gives the
    examples of a seeded sample of its users, stratified by activity: every example of a sampled user is kept, so
    the features that read a user's earlier examples (``user_engagement_rate``, the topic rates,
    ``topic_engagement_lift``) mean the same as on the whole corpus, and every count of the past (engagement so
    far, communities' topics, ties) still reads every user's history.

    Args:
        corpus: posts, users, interactions (views, likes, ...) and follow edges.
        kinds: the interaction kinds that count as engaging (``like``, ``comment``, ``share``, ``click``).
        negatives: ``"exposures"``: every first view of a post is an example, labelled 1 when the viewer engaged
            with it (pairs engaged without a recorded view are left out); ``"sampled"``: every engagement is a
            positive and ``n_negatives`` other posts published in the 72 hours before it are negatives at the same
            time; ``"auto"``: exposures when the corpus has views, else sampled.
        n_negatives: negatives per positive when sampling.
        store: read cached post text features from this store (``featurize``) for ``interest_match``.
        text_encoder: the text encoder of ``interest_match`` (``text/tfidf`` is fitted on the corpus in memory
            when no cache has it).
        post_vectors: ready post ids and ``Encoded`` text vectors (skips encoding), or a ``PostTexts`` of the
            corpus's posts, which embeds only the posts the features read (those the examples' users acted on, and
            the examples' posts) when the topics come from ``post_topics``.
        post_topics: each post's topic for the topic features (``topic_share``, ``topic_interest``,
            ``community_topic_share``, ``topic_engagement_rate``, ``topic_engagement_lift``): a ``post_id, topic_id``
            table (a topic model's ``post_topics``; -1 or null: no topic). None reads the store's ``post_topics``
            table when there is one, else clusters the text vectors into ``n_topics`` topics (fine k-means
            clusters merged by their centres).
        n_topics: topics found in the text vectors when no ``post_topics`` are given.
        sentiment: post tone: ``"lexicon"``, a predictions table (``post_id, label``) or None (all 0).
        random_state: seed of the negative sample, the user sample, the communities and the k-means topics.
        max_examples: build the examples of a sample of users when there would be more than this many (about this
            many rows); None builds every example.
        follow_graph: the follow graph and its communities (``graph_communities(corpus,
            random_state=random_state)``) when the caller has them, for ``same_community`` and
            ``community_topic_share``; None builds them here.

    Returns:
        One row per example, sorted by time: ``user_id``, ``post_id``, ``author_id``, ``at`` (when the user met
        the post: the view, or the engagement), ``label_at`` (when the outcome was known), ``label`` (int8), then
        the ``ENGAGEMENT_FEATURES`` (float64). The schema metadata records the kinds and the negative mode, and
        (``example_sample``, JSON) the users sampled: ``{"users", "of_users", "of_examples"}``, or null.

    Raises:
        ConfigurationError: unknown kinds or negative mode, ``n_negatives`` or ``n_topics`` < 1, ``max_examples``
            < 1, exposures asked for a corpus without views, ``post_topics`` without ``post_id`` and ``topic_id``
            columns, or a ``follow_graph`` of other kinds or another seed.
        DataError: no example could be built (no interactions of ``kinds``).
    """
    kinds = _check_kinds(kinds)
    if negatives not in NEGATIVE_MODES:
        raise ConfigurationError(f"negatives must be one of {NEGATIVE_MODES}; got {negatives!r}")
    if n_negatives < 1 or n_topics < 1:
        raise ConfigurationError(f"n_negatives and n_topics must be at least 1; got {n_negatives} and {n_topics}")
    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int | np.integer)
                                     or max_examples < 1):
        raise ConfigurationError(f"max_examples must be a positive integer, or None for every example; got "
                                 f"{max_examples!r}")
    if post_topics is not None and not {"post_id", "topic_id"} <= set(post_topics.column_names):
        raise ConfigurationError(f"post_topics needs columns post_id and topic_id; got {post_topics.column_names}")
    view = _CorpusView(corpus, sentiment, random_state, follow_graph)
    has_views = bool(np.any(view.of_kind("view")))
    if negatives == "exposures" and not has_views:
        raise ConfigurationError("the corpus has no view interactions to use as exposures; use negatives='sampled'")
    mode = "exposures" if negatives == "auto" and has_views else ("sampled" if negatives == "auto" else negatives)
    if mode == "exposures":
        user, post, at, label, label_at = _exposure_rows(view, kinds)
        kept = _example_users(user, max_examples, random_state)
        sample = _user_sample(user, kept)
        if kept is not None:
            rows = np.isin(user, kept)
            user, post, at, label, label_at = user[rows], post[rows], at[rows], label[rows], label_at[rows]
    else:
        user, post, at, label, label_at, sample = _sampled_rows(view, kinds, n_negatives, random_state, max_examples)
    if len(user) == 0 or not label.any():
        raise DataError(f"no engagement examples: the corpus has no {'/'.join(kinds)} interactions on known posts "
                        f"({mode} mode); check the interactions table")
    order = np.lexsort((post, user, at))
    user, post, at, label, label_at = user[order], post[order], at[order], label[order], label_at[order]
    author = view.post_author[post]
    if post_topics is None and store is not None and POST_TOPICS_TABLE in store.tables():
        post_topics = store.read(POST_TOPICS_TABLE, columns=["post_id", "topic_id"])
    # topics clustered from the text vectors need every post's; the interest match, only these posts'
    read = None if post_topics is None else distinct_codes(np.concatenate([
        view.actions.post[np.isin(view.actions.user, distinct_codes(user))], post]))
    vectors, missing = _post_vectors(view, corpus, store, text_encoder, post_vectors, read)
    features = _pair_features(view, corpus, user, post, at, vectors, missing)
    topic = (_stored_topics(view, post_topics) if post_topics is not None
             else _kmeans_topics(vectors, missing, n_topics, random_state))
    features.update(_topic_features(view, topic, user, post, at, label, label_at))
    features.update(_interest_features(view, topic, user, post, at))
    features["topic_engagement_lift"] = _engagement_lift(topic, user, post, at, label, label_at, features)
    columns: dict[str, Any] = {
        "user_id": view.user_array.take(pa.array(user)),
        "post_id": view.post_id_array.take(pa.array(post)),
        "author_id": view.user_array.take(pa.array(author, mask=author < 0)),
        "at": pa.array(at, pa.timestamp("us", tz="UTC")),
        "label_at": pa.array(label_at, pa.timestamp("us", tz="UTC")),
        "label": pa.array(label, pa.int8()),
        **{name: features[name] for name in ENGAGEMENT_FEATURES},
    }
    table = pa.table(columns)
    return table.replace_schema_metadata({"kinds": ",".join(kinds), "negatives": mode,
                                          "example_sample": json.dumps(sample)})


def _hashtag_bags(corpus: Corpus) -> tuple[Any, np.ndarray]:
    """``(n_posts, n_tags)`` sparse 0/1 bags of the ``_MAX_HASHTAGS`` most used hashtags (lower-cased; posts
    carrying the tag, ties by first use), and which posts have none."""
    from scipy import sparse

    lists = corpus.posts.column("hashtags").combine_chunks()
    written = pa.table({"row": pc.list_parent_indices(lists), "tag": pc.utf8_lower(pc.list_flatten(lists))})
    written = written.append_column("order", pa.array(np.arange(written.num_rows))).filter(
        pc.is_valid(written.column("tag")))
    pairs = written.group_by(["row", "tag"], use_threads=False).aggregate([("order", "min")])  # (post, tag) once
    per_tag = pairs.group_by("tag", use_threads=False).aggregate([("row", "count"), ("order_min", "min")])
    vocabulary = per_tag.sort_by([("row_count", "descending"), ("order_min_min", "ascending")]).column("tag")[
        :_MAX_HASHTAGS]
    column = pc.index_in(pairs.column("tag"), vocabulary)
    found = pc.is_valid(column)
    rows = pairs.column("row").filter(found).to_numpy()
    bags = sparse.csr_matrix((np.ones(len(rows)), (rows, column.filter(found).to_numpy())),
                             shape=(corpus.posts.num_rows, max(len(vocabulary), 1)))
    return bags, np.diff(bags.indptr) == 0


class _SomePosts(NamedTuple):
    """The text vectors of some posts only, indexed by post code like the matrix of every post's
    (``vectors[codes]``, ``shape``): the other posts' rows are never asked for (they are marked missing)."""

    matrix: np.ndarray
    row_of: np.ndarray  # (n_posts,) each post's row of ``matrix`` (0 for the posts not embedded)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_of), self.matrix.shape[1]

    def __getitem__(self, codes: np.ndarray) -> np.ndarray:
        return self.matrix[self.row_of[codes]]


def _post_vectors(view: _CorpusView, corpus: Corpus, store: Store | None, text_encoder: str,
                  post_vectors: tuple[Sequence[str], Encoded] | PostTexts | None,
                  read: np.ndarray | None = None) -> tuple[np.ndarray | _SomePosts, np.ndarray]:
    """Text vectors in the view's post order (float32, as encoders give them: no float64 copy of a matrix that
    grows with the corpus) and which posts have none. Embedded here (``PostTexts``), only the posts of ``read``
    (view post codes; None: every post) are embedded, and the others are marked missing."""
    from socialfusion.tasks.profiles import PostTexts

    if post_vectors is None:
        post_vectors = PostTexts(corpus, store=store, text_encoder=text_encoder)
    if isinstance(post_vectors, PostTexts):
        wanted = np.arange(view.n_posts) if read is None else np.asarray(read, np.int64)
        rows = positions(view.post_id_array.take(pa.array(wanted)), post_vectors.post_ids)
        wanted, rows = wanted[rows >= 0], rows[rows >= 0]
        encoded = post_vectors.encode(rows)
        missing = np.ones(view.n_posts, bool)
        missing[wanted] = np.asarray(encoded.missing, bool)
        matrix = np.asarray(encoded.vectors, np.float32)
        if read is None:  # every post's row, in the view's order
            if len(wanted) == view.n_posts:
                return matrix, missing
            every = np.zeros((view.n_posts, matrix.shape[1]), np.float32)
            every[wanted] = matrix
            return every, missing
        row_of = np.zeros(view.n_posts, np.int64)
        row_of[wanted] = np.arange(len(wanted))
        return _SomePosts(matrix, row_of), missing
    ids, encoded = post_vectors
    ids = pc.cast(ids, pa.string()) if isinstance(ids, pa.Array | pa.ChunkedArray) else pa.array(list(ids), pa.string())
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if len(ids) == view.n_posts and view.post_id_array.equals(ids):
        return np.asarray(encoded.vectors, np.float32), np.asarray(encoded.missing, bool)  # already in order
    rows = pc.index_in(view.post_id_array, ids)
    known = pc.is_valid(rows).to_numpy(zero_copy_only=False)
    source = rows.filter(pc.is_valid(rows)).to_numpy()
    vectors = np.zeros((view.n_posts, encoded.vectors.shape[1]), np.float32)
    missing = np.ones(view.n_posts, bool)
    vectors[known] = encoded.vectors[source]
    missing[known] = np.asarray(encoded.missing, bool)[source]
    return vectors, missing


def _pair_features(view: _CorpusView, corpus: Corpus, user: np.ndarray, post: np.ndarray, at: np.ndarray,
                   vectors: np.ndarray, missing: np.ndarray) -> dict[str, np.ndarray]:
    n_users = view.n_users
    author = view.post_author[post]
    active = view.active()
    active_author = view.post_author[view.target[active]]
    known = active_author >= 0
    pair_history = _History(view.actor[active][known] * n_users + active_author[known], view.at[active][known], at)
    post_history = _History(view.target[active], view.at[active], at)
    user_history = _History(view.actions.user, view.actions.at, at)
    safe_author = np.maximum(author, 0)
    hours_since = np.where(view.has_time[post], (at - view.created[post]) / _US_PER_HOUR, 0.0)
    return {
        "interest_match": _interest_match(view, vectors, missing, user, post, at),
        "hashtag_match": _interest_match(view, *_hashtag_bags(corpus), user, post, at),
        "follows_author": view.follows(user, author).astype(np.float64),
        "same_community": ((view.community[user] == view.community[safe_author]) & (author >= 0)
                           & (view.community[user] >= 0)).astype(np.float64),
        "past_interactions_with_author": np.log1p(pair_history.count_before(user * n_users + safe_author, at)),
        "author_followers_log": np.where(author >= 0, np.log1p(view.followers[safe_author]), 0.0),
        "hours_since_post": np.maximum(hours_since, 0.0),
        "post_hour": view.post_hour[post],
        "post_weekday": view.post_weekday[post],
        "text_length": view.text_length[post],
        "hashtag_count": view.hashtag_count[post],
        "mention_count": view.mention_count[post],
        "has_image": view.media["image"][post],
        "has_video": view.media["video"][post],
        "has_audio": view.media["audio"][post],
        "sentiment": view.sentiment[post],
        "post_engagement_so_far": np.log1p(post_history.count_before(post, at)),
        "user_activity": np.log1p(user_history.count_before(user, at)),
    }


def _stored_topics(view: _CorpusView, post_topics: pa.Table) -> np.ndarray:
    """Each post's topic code from a ``post_id, topic_id`` table (-1: none), renumbered 0..k-1."""
    topic = np.full(view.n_posts, -1, np.int64)
    rows = positions(post_topics.column("post_id"), view.post_id_array)
    topic_ids = pc.fill_null(post_topics.column("topic_id"), -1).to_numpy(zero_copy_only=False)
    kept = (rows >= 0) & (topic_ids >= 0)
    topic[rows[kept]] = topic_ids[kept]
    found = topic >= 0
    topic[found] = np.unique(topic[found], return_inverse=True)[1]
    return topic


def _kmeans_topics(vectors: np.ndarray, missing: np.ndarray, n_topics: int, random_state: int) -> np.ndarray:
    """Topic codes from the text vectors; -1 for no text.

    The unit-length vectors (reduced by truncated SVD) are cut by k-means into ``_FINE_CLUSTERS_PER_TOPIC`` times
    more clusters than topics, which are nearly pure, and those are merged into ``n_topics`` by average-linkage
    clustering of their centres (cosine). K-means alone with ``n_topics`` clusters splits the big topics and
    lumps the small ones together.
    """
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.decomposition import TruncatedSVD

    topic = np.full(len(vectors), -1, np.int64)
    rows = np.flatnonzero(~missing)
    norms = np.linalg.norm(vectors[rows], axis=1, keepdims=True)
    unit = vectors[rows] / np.maximum(norms, 1e-12)
    n_distinct = len(np.unique(np.round(unit, 6), axis=0))
    n_clusters = min(n_topics, n_distinct)
    if n_clusters < 2:
        return topic
    if unit.shape[1] > _TOPIC_DIMENSIONS:
        unit = TruncatedSVD(_TOPIC_DIMENSIONS, random_state=random_state).fit_transform(unit)
    n_fine = min(_FINE_CLUSTERS_PER_TOPIC * n_clusters, n_distinct)
    fine = KMeans(n_fine, n_init=4, random_state=random_state).fit(unit)
    if n_fine == n_clusters:
        topic[rows] = fine.labels_
        return topic
    merged = AgglomerativeClustering(n_clusters, metric="cosine", linkage="average").fit_predict(
        fine.cluster_centers_)
    topic[rows] = merged[fine.labels_]
    return topic


def _topic_features(view: _CorpusView, topic: np.ndarray, user: np.ndarray, post: np.ndarray, at: np.ndarray,
                    label: np.ndarray, label_at: np.ndarray) -> dict[str, np.ndarray]:
    """``topic_share``, ``user_engagement_rate`` and ``topic_engagement_rate`` of each example (see the module)."""
    n_topics = max(int(topic.max()) + 1, 1)
    has_topic = topic[post] >= 0
    user_topic = user * n_topics + np.maximum(topic[post], 0)
    actions = view.actions
    keep = topic[actions.post] >= 0
    authors, times = actions.user[keep], actions.at[keep]
    activity = _History(authors, times, at).count_before(user, at)
    on = _History(authors * n_topics + topic[actions.post[keep]], times, at).count_before(user_topic, at)
    share = (on + 1.0 / n_topics) / (activity + 1.0)
    # engagement rates from the earlier examples whose outcome was known before this one: global -> user -> topic
    positive = label == 1
    everyone = ((np.searchsorted(np.sort(label_at[positive]), at) + 1.0)
                / (np.searchsorted(np.sort(label_at), at) + 2.0))
    seen = _History(user, label_at, at).count_before(user, at)
    liked = _History(user[positive], label_at[positive], at).count_before(user, at)
    user_rate = (liked + _RATE_PRIOR_WEIGHT * everyone) / (seen + _RATE_PRIOR_WEIGHT)
    on_topic = has_topic & positive
    seen_on = _History(user_topic[has_topic], label_at[has_topic], at).count_before(user_topic, at)
    liked_on = _History(user_topic[on_topic], label_at[on_topic], at).count_before(user_topic, at)
    topic_rate = (liked_on + _RATE_PRIOR_WEIGHT * user_rate) / (seen_on + _RATE_PRIOR_WEIGHT)
    return {
        "topic_share": np.where(has_topic, share, 1.0 / n_topics),
        "user_engagement_rate": user_rate,
        "topic_engagement_rate": np.where(has_topic, topic_rate, user_rate),
    }


def _interest_features(view: _CorpusView, topic: np.ndarray, user: np.ndarray, post: np.ndarray,
                       at: np.ndarray) -> dict[str, np.ndarray]:
    """``community_topic_share`` and ``topic_interest`` of each example (see the module).

    Both count what users did before ``at``: posts written, likes, comments, shares, clicks, and views of posts by
    authors they do not follow (a platform shows those by interest, where a followed author's posts come anyway).
    """
    n_topics = max(int(topic.max()) + 1, 1)
    has_topic = topic[post] >= 0
    post_topic = np.maximum(topic[post], 0)
    actions, discoveries = view.actions, view.discoveries
    actor = np.concatenate([actions.user, discoveries.user])
    moment = np.concatenate([actions.at, discoveries.at])
    acted_on = topic[np.concatenate([actions.post, discoveries.post])]
    keep = acted_on >= 0
    actor, moment, acted_on = actor[keep], moment[keep], acted_on[keep]

    def share(groups: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Actions of each query's group on the post's topic, and in all, strictly before ``at``."""
        return (_History(groups * n_topics + acted_on, moment, at).count_before(queries * n_topics + post_topic, at),
                _History(groups, moment, at).count_before(queries, at))

    everyone_on, everyone = share(np.zeros(len(actor), np.int64), np.zeros(len(user), np.int64))
    community = view.community
    member = community[user] >= 0
    community_on, community_all = share(np.maximum(community[actor], 0) + 1,
                                        np.where(member, community[user] + 1, 0))
    on, total = share(actor, user)
    community_on = np.where(member, community_on, everyone_on)
    community_all = np.where(member, community_all, everyone)
    community_share = (community_on + 1.0) / (community_all + n_topics)
    interest = (on + _INTEREST_PRIOR_WEIGHT * community_share) / (total + _INTEREST_PRIOR_WEIGHT)
    return {
        "topic_interest": np.where(has_topic, interest, 1.0 / n_topics),
        "community_topic_share": np.where(has_topic, community_share, 1.0 / n_topics),
    }


def _engagement_lift(topic: np.ndarray, user: np.ndarray, post: np.ndarray, at: np.ndarray, label: np.ndarray,
                     label_at: np.ndarray, features: dict[str, np.ndarray]) -> np.ndarray:
    """``topic_engagement_lift`` of each example (see the module).

    Each example's expected engagement is the rate among the earlier outcomes (known before it) of its setting:
    followed author or not, hours since the post (``_HOUR_BINS``) and author followers (``_FOLLOWER_BINS``), shrunk
    to everyone's earlier rate.
    """
    setting = ((features["follows_author"].astype(np.int64) * (len(_HOUR_BINS) + 1)
                + np.digitize(features["hours_since_post"], _HOUR_BINS)) * (len(_FOLLOWER_BINS) + 1)
               + np.digitize(features["author_followers_log"], np.log1p(_FOLLOWER_BINS)))
    positive = label == 1
    everyone = ((np.searchsorted(np.sort(label_at[positive]), at) + 1.0)
                / (np.searchsorted(np.sort(label_at), at) + 2.0))
    seen = _History(setting, label_at, at).count_before(setting, at)
    engaged = _History(setting[positive], label_at[positive], at).count_before(setting, at)
    expected = (engaged + _EXPECTED_PRIOR_WEIGHT * everyone) / (seen + _EXPECTED_PRIOR_WEIGHT)

    def summed(groups: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over the earlier examples (outcome known before ``at``) of each example's group."""
        history = _History(groups[rows], label_at[rows], at)
        cumulative = np.concatenate([[0.0], np.cumsum(values[rows][history.order])])
        start, end = history.bounds(groups, at)
        return cumulative[end] - cumulative[start]

    n_topics = max(int(topic.max()) + 1, 1)
    has_topic = topic[post] >= 0
    user_topic = user * n_topics + np.maximum(topic[post], 0)
    every = np.ones(len(user), bool)
    user_lift = ((summed(user, label.astype(np.float64), every) + _RATE_PRIOR_WEIGHT)
                 / (summed(user, expected, every) + _RATE_PRIOR_WEIGHT))
    topic_lift = ((summed(user_topic, label.astype(np.float64), has_topic) + _RATE_PRIOR_WEIGHT * user_lift)
                  / (summed(user_topic, expected, has_topic) + _RATE_PRIOR_WEIGHT))
    return np.where(has_topic, topic_lift, user_lift)


# -- time split ----------------------------------------------------------------------------------------------------


def time_split(examples: pa.Table, at: dt.datetime | None = None, *, train_fraction: float = 0.8,
               time_column: str = "at") -> tuple[pa.Table, pa.Table]:
    """Split examples in time: train on what was known before ``at``, test on what came after.

    Training rows are those whose time and outcome (``label_at``, when present) are both before ``at``; test rows
    are those at or after ``at``. Rows that started before the cut but whose outcome came after it are in neither
    (their label was unknown at the cut). Features of ``engagement_examples`` only look at the past of each row, so
    nothing after the cut reaches the training rows.

    Args:
        examples: a table with an ``at`` timestamp column (and optionally ``label_at``).
        at: the cut (a timezone-aware datetime); None cuts after the first ``train_fraction`` of the days spanned
            (UTC midnights).
        train_fraction: share of days in training when ``at`` is None.
        time_column: the column holding each row's time (``created_at`` for ``post_features``).

    Returns:
        ``(train, test)`` tables with the input's columns.

    Raises:
        ConfigurationError: ``train_fraction`` not strictly between 0 and 1, or no ``at`` column.
        DataError: one side of the split is empty.

    Examples:
        >>> import datetime as dt
        >>> days = [dt.datetime(2024, 3, day, 12, tzinfo=dt.timezone.utc) for day in range(1, 11)]
        >>> train, test = time_split(pa.table({"at": days, "label": [0, 1] * 5}))
        >>> train.num_rows, test.num_rows, test.column("at")[0].as_py().day
        (8, 2, 9)
    """
    if time_column not in examples.column_names:
        raise ConfigurationError(f"examples need a {time_column!r} timestamp column; got {examples.column_names}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigurationError(f"train_fraction must be strictly between 0 and 1; got {train_fraction}")
    times = _microseconds(examples.column(time_column))
    if at is None:
        if len(times) == 0:
            raise DataError("no examples to split")
        day = 86_400 * 1_000_000
        first, last = times.min() // day, times.max() // day
        cut = int((first + max(1, round(train_fraction * (last - first + 1)))) * day)
    else:
        if at.tzinfo is None:
            raise ConfigurationError(f"at must be timezone-aware (UTC); got {at!r}")
        cut = int(pa.scalar(at, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py())
    outcome = _microseconds(examples.column("label_at")) if "label_at" in examples.column_names else times
    train = examples.filter(pa.array((times < cut) & (outcome < cut)))
    test = examples.filter(pa.array(times >= cut))
    if train.num_rows == 0 or test.num_rows == 0:
        raise DataError(f"the time split leaves {train.num_rows} training and {test.num_rows} test rows; choose a cut "
                        "inside the examples' time span")
    return train, test


# -- models --------------------------------------------------------------------------------------------------------


def _learner(name: str, random_state: int, *, regression: bool = False,
             options: Mapping[str, Any] | None = None) -> Any:
    """A scikit-learn estimator for ``name``; ``options`` override its settings. Missing values (NaN, e.g. the hour
    of a date-only post) are handled natively by the trees and mean-imputed before the linear models."""
    if name not in LEARNERS:
        raise ConfigurationError(f"unknown learner {name!r}; choose one of {LEARNERS}")
    from sklearn import ensemble, impute, linear_model, pipeline, preprocessing

    options = dict(options or {})
    try:
        if name == "gradient_boosting":
            settings = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 40,
                        "random_state": random_state, **options}
            if regression:
                return ensemble.HistGradientBoostingRegressor(**settings)
            return ensemble.HistGradientBoostingClassifier(**settings)
        if name == "logistic":
            model = (linear_model.Ridge(**options) if regression
                     else linear_model.LogisticRegression(**{"max_iter": 2000, **options}))
            return pipeline.make_pipeline(impute.SimpleImputer(keep_empty_features=True),
                                          preprocessing.StandardScaler(), model)
        forest = ensemble.RandomForestRegressor if regression else ensemble.RandomForestClassifier
        return forest(**{"n_estimators": 200, "min_samples_leaf": 10, "n_jobs": 1, "random_state": random_state,
                         **options})
    except TypeError as error:
        raise ConfigurationError(f"learner_options {options!r} do not fit learner {name!r}: {error}") from None


def _matrix(table: pa.Table, features: Sequence[str]) -> np.ndarray:
    absent = [name for name in features if name not in table.column_names]
    if absent:
        raise DataError(f"the table lacks feature columns {absent}; build it with the matching *_examples function")
    if table.num_rows == 0:
        return np.zeros((0, len(features)))
    return np.column_stack([table.column(name).to_numpy(zero_copy_only=False) for name in features]).astype(np.float64)


def _not_fitted(model: Any, attribute: str) -> None:
    if not hasattr(model, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(model).__name__} is not fitted yet; call fit first.")


def _permutation_table(estimator: Any, matrix: np.ndarray, target: np.ndarray, features: Sequence[str],
                       scoring: str, n_repeats: int, random_state: int) -> pa.Table:
    from sklearn.inspection import permutation_importance

    result = permutation_importance(estimator, matrix, target, scoring=scoring, n_repeats=n_repeats,
                                    random_state=random_state, n_jobs=1)
    order = np.argsort(-result.importances_mean, kind="stable")
    return pa.table({"feature": pa.array([features[i] for i in order], pa.string()),
                     "importance": result.importances_mean[order], "importance_std": result.importances_std[order]})


_MODEL_FORMAT = "socialfusion.engagement-model/1"


class EngagementModel:
    """Predicts whether a user engages with a post they meet, from ``engagement_examples`` features.

    Fit it on the training side of ``time_split`` and score it on the later window with ``evaluate``: it refuses
    test rows that start before the end of its training window. ``save`` writes it to one file without pickle
    (JSON and skops) and ``EngagementModel.load`` reads it back.

    Args:
        kind: the engagement the model is about (recorded; ``fit`` checks the examples were built for it).
        learner: one of ``LEARNERS``: ``"gradient_boosting"`` (histogram gradient boosting), ``"logistic"``
            (standardised logistic regression) or ``"random_forest"``.
        features: the feature columns to use; None for ``ENGAGEMENT_FEATURES``.
        learner_options: settings passed to the scikit-learn estimator, over the defaults (e.g.
            ``{"learning_rate": 0.03, "max_iter": 500}`` for gradient boosting); choose them on time-ordered folds
            of the training window, never on the test window.
        random_state: seed of the learner and of permutation importance.

    Attributes:
        estimator_: the fitted scikit-learn estimator.
        features_: the feature columns used.
        trained_until_: the latest time (``at`` or ``label_at``) among the training rows.
        classes_: ``array([0, 1])``.
    """

    def __init__(self, kind: str = "like", learner: str = "gradient_boosting", *,
                 features: Sequence[str] | None = None, learner_options: Mapping[str, Any] | None = None,
                 random_state: int = 0) -> None:
        self.kind = kind
        self.learner = learner
        self.features = features
        self.learner_options = learner_options
        self.random_state = random_state

    def fit(self, examples: pa.Table) -> EngagementModel:
        """Learn from training examples (the first part of ``time_split``).

        Raises:
            ConfigurationError: unknown learner or features, or examples built for other kinds.
            DataError: a single class among the labels.
        """
        _check_kinds([self.kind])
        built_for = (examples.schema.metadata or {}).get(b"kinds")
        if built_for is not None and self.kind not in built_for.decode().split(","):
            raise ConfigurationError(f"the examples were built for kinds {built_for.decode()!r}, not {self.kind!r}; "
                                     f"build them with engagement_examples(corpus, kinds=({self.kind!r},))")
        features = tuple(ENGAGEMENT_FEATURES if self.features is None else self.features)
        unknown = [name for name in features if name not in ENGAGEMENT_FEATURES]
        if unknown or not features:
            raise ConfigurationError(f"features must be a non-empty selection of ENGAGEMENT_FEATURES; got {unknown}")
        estimator = _learner(self.learner, self.random_state, options=self.learner_options)
        labels = examples.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
        if len(np.unique(labels)) < 2:
            raise DataError(f"the {len(labels)} training examples are all of one class; engagement needs both "
                            "engaged and not engaged examples")
        started = time.perf_counter()
        self.estimator_ = estimator.fit(_matrix(examples, features), labels)
        self.fit_seconds_ = time.perf_counter() - started
        self.features_ = features
        self.classes_ = np.array([0, 1])
        outcome = "label_at" if "label_at" in examples.column_names else "at"
        self.trained_until_ = max(pc.max(examples.column("at")).as_py(), pc.max(examples.column(outcome)).as_py())
        return self

    def predict_proba(self, examples: pa.Table) -> np.ndarray:
        """``(n, 2)`` probabilities of not engaging / engaging."""
        _not_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(_matrix(examples, self.features_)), np.float64)

    def predict(self, examples: pa.Table) -> np.ndarray:
        """``(n,)`` int: 1 where the engagement probability is at least 0.5."""
        return (self.predict_proba(examples)[:, 1] >= 0.5).astype(np.int64)

    def _check_later(self, examples: pa.Table) -> None:
        earliest = pc.min(examples.column("at")).as_py()
        if earliest is not None and earliest < self.trained_until_:
            raise DataError(f"test examples start at {earliest}, before the end of the training window "
                            f"({self.trained_until_}); evaluate on the later side of time_split")

    def evaluate(self, examples: pa.Table) -> dict[str, float]:
        """Scores on held-out examples from after the training window.

        Returns:
            ``auc`` (ROC AUC), ``average_precision``, ``n`` and ``positive_rate``.

        Raises:
            DataError: the examples start before the training window ends, or hold one class only.
        """
        from sklearn.metrics import average_precision_score, roc_auc_score

        self._check_later(examples)
        labels = examples.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
        if len(np.unique(labels)) < 2:
            raise DataError("the held-out examples are all of one class; AUC is undefined")
        probability = self.predict_proba(examples)[:, 1]
        return {"auc": float(roc_auc_score(labels, probability)),
                "average_precision": float(average_precision_score(labels, probability)),
                "n": int(len(labels)), "positive_rate": float(labels.mean())}

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one file: its settings, features and training window as JSON, and the
        scikit-learn estimator in skops' format (``learner.skops``). Nothing in the file is a pickle.

        Raises:
            ConfigurationError: not fitted, or ``learner_options`` that cannot be written as JSON.
        """
        from socialfusion._model_files import write_archive
        from socialfusion.learn._sklearn_files import skops_bytes

        _not_fitted(self, "estimator_")
        document = {"format": _MODEL_FORMAT, "kind": self.kind, "learner": self.learner,
                    "features": list(self.features_), "learner_options": self.learner_options,
                    "random_state": self.random_state, "trained_until": self.trained_until_.isoformat()}
        try:
            json.dumps(document)
        except TypeError as error:
            raise ConfigurationError(f"cannot save the engagement model: {error}; use plain numbers, strings, "
                                     "lists and dicts in learner_options") from error
        return write_archive(path, documents={"engagement_model.json": document},
                             members={"learner.skops": skops_bytes(self.estimator_)})

    @classmethod
    def load(cls, path: str | Path) -> EngagementModel:
        """Read a model ``save`` wrote; its predictions equal the saved model's. Nothing in the file is run or
        unpickled (skops builds scikit-learn's own types only).

        Raises:
            DataError: not a file written by ``save``, or damaged.
        """
        import datetime as dt

        from socialfusion._model_files import Archive
        from socialfusion.learn._sklearn_files import skops_model

        with Archive(path, "engagement model") as archive:
            document = archive.document("engagement_model.json")
            if not isinstance(document, dict) or document.get("format") != _MODEL_FORMAT:
                raise archive.invalid(f"engagement_model.json is not a {_MODEL_FORMAT} document")
            try:
                model = cls(kind=document["kind"], learner=document["learner"], features=document["features"],
                            learner_options=document["learner_options"], random_state=document["random_state"])
                model.features_ = tuple(str(name) for name in document["features"])
                model.trained_until_ = dt.datetime.fromisoformat(document["trained_until"])
            except (KeyError, TypeError, ValueError) as error:
                raise archive.invalid(f"engagement_model.json is malformed ({type(error).__name__}: {error})"
                                      ) from error
            unknown = [name for name in model.features_ if name not in ENGAGEMENT_FEATURES]
            if unknown or model.learner not in LEARNERS:
                raise archive.invalid(f"it names an unknown learner {model.learner!r} or features {unknown}")
            model.estimator_ = skops_model(archive.member("learner.skops"), f"the learner of {archive.path}")
        if getattr(model.estimator_, "n_features_in_", len(model.features_)) != len(model.features_):
            raise DataError(f"{path}: its learner reads {model.estimator_.n_features_in_} features, not the "
                            f"{len(model.features_)} its JSON names")
        model.classes_ = np.array([0, 1])
        return model

    def explain(self, examples: pa.Table, *, n_repeats: int = 5) -> pa.Table:
        """Feature importances: the drop in ROC AUC when a feature's values are shuffled (permutation importance).

        Args:
            examples: labelled examples to measure on (preferably held-out ones).
            n_repeats: shuffles per feature.

        Returns:
            Columns ``feature``, ``importance`` (mean AUC drop), ``importance_std``, most important first.
        """
        _not_fitted(self, "estimator_")
        labels = examples.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
        return _permutation_table(self.estimator_, _matrix(examples, self.features_), labels, self.features_,
                                  "roc_auc", n_repeats, self.random_state)

    def contributions(self, examples: pa.Table) -> pa.Table:
        """Per-prediction contributions to the log-odds (logistic learner only: coefficient times standardised value).

        Returns:
            One column per feature, one row per example; the row sums plus the intercept give the log-odds.

        Raises:
            ConfigurationError: the learner is not ``"logistic"`` (contributions would not be cheap or exact).
        """
        _not_fitted(self, "estimator_")
        if self.learner != "logistic":
            raise ConfigurationError("contributions are exact and cheap only for learner='logistic'; use explain() "
                                     f"for {self.learner!r}")
        logistic = self.estimator_[-1]
        scaled = self.estimator_[:-1].transform(_matrix(examples, self.features_))  # imputed, then standardised
        values = scaled * logistic.coef_[0]
        return pa.table({name: values[:, column] for column, name in enumerate(self.features_)})


# -- expected engagement of a post ---------------------------------------------------------------------------------


def post_features(corpus: Corpus, posts: pa.Table | None = None, *, sentiment: pa.Table | str | None = None,
                  horizon_hours: float = 72.0) -> pa.Table:
    """Features of posts known when they are published, and the engagement each got within ``horizon_hours``.

    The author's history (``author_posts_before``, ``author_engagement_before``: mean log1p engagement of their
    earlier posts in ``corpus``) only counts posts published, and engagement received, before the post.

    Args:
        corpus: the history: posts, interactions, users and edges.
        posts: the posts to describe (e.g. new, unpublished ones, with ``author_id`` and ``created_at``); None for
            the corpus's posts that are not reshares.
        sentiment: post tone: ``"lexicon"``, a predictions table or None (all 0).
        horizon_hours: the window after publishing in which engagement is counted.

    Returns:
        ``post_id``, ``created_at``, ``label_at`` (``created_at`` plus the horizon: when the engagement is final;
        ``time_split(table, time_column="created_at")`` keeps posts whose outcome was unknown at the cut out of
        training), ``engagement`` (likes + comments + shares within the horizon; null for posts not in
        ``corpus``), then the ``POST_FEATURES`` (float64).
    """
    from socialfusion.corpus import Corpus as CorpusClass

    history = _CorpusView(corpus, None, 0)
    if posts is None:
        posts = corpus.posts.filter(pc.invert(pc.is_valid(corpus.posts.column("reshare_of"))))
    target = _CorpusView(CorpusClass(posts=posts, users=corpus.users, edges=corpus.edges), sentiment, 0)
    author = positions(posts.column("author_id"), history.user_array)
    created = target.created
    horizon = int(horizon_hours * _US_PER_HOUR)
    engaging = np.flatnonzero(history.of_kind("like", "comment", "share") & (history.target >= 0))
    delay = history.at[engaging] - history.created[history.target[engaging]]
    counted = engaging[(delay >= 0) & (delay <= horizon)]
    engagement = np.bincount(history.target[counted], minlength=history.n_posts).astype(np.float64)
    # The author's earlier posts count once their horizon has passed, so their engagement is final.
    originals = np.flatnonzero((history.post_author >= 0) & history.has_time & ~history.is_reshare)
    done = history.created[originals] + horizon
    authors_history = _History(history.post_author[originals], done, created)
    cumulative = np.concatenate([[0.0], np.cumsum(np.log1p(engagement[originals][authors_history.order]))])
    safe = np.maximum(author, 0)
    start, end = authors_history.bounds(safe, created)
    before = np.where(author >= 0, end - start, 0).astype(np.float64)
    mean_before = np.divide(cumulative[end] - cumulative[start], before, out=np.zeros(len(before)), where=before > 0)
    followers = np.where(author >= 0, history.followers[safe], 0.0)
    own = positions(posts.column("post_id"), history.post_id_array)
    return pa.table({
        "post_id": posts.column("post_id"),
        "created_at": pa.array(created, pa.timestamp("us", tz="UTC"), mask=~target.has_time),
        "label_at": pa.array(created + horizon, pa.timestamp("us", tz="UTC"), mask=~target.has_time),
        "engagement": pa.array(np.where(own >= 0, engagement[np.maximum(own, 0)], 0.0), pa.float64(), mask=own < 0),
        "author_followers_log": np.log1p(followers),
        "author_posts_before": np.log1p(before),
        "author_engagement_before": mean_before,
        "post_hour": target.post_hour,
        "post_weekday": target.post_weekday,
        "text_length": target.text_length,
        "hashtag_count": target.hashtag_count,
        "mention_count": target.mention_count,
        "has_image": target.media["image"],
        "has_video": target.media["video"],
        "has_audio": target.media["audio"],
        "sentiment": target.sentiment,
    })


class ExpectedEngagementModel:
    """Expected engagement (likes + comments + shares) of a post from its content, author and posting time.

    A regression of ``log1p(engagement)`` on ``post_features``; ``predict`` returns the expected count
    (``expm1`` of the prediction).

    Args:
        learner: one of ``LEARNERS`` (``"logistic"`` means a standardised ridge regression here).
        random_state: seed of the learner.

    Attributes:
        estimator_: the fitted regressor.
        trained_until_: the latest ``created_at`` among the training posts.

    Examples:
        >>> from socialfusion.datasets.synthetic import generate
        >>> corpus = generate(n_users=60, n_posts=200, seed=2, n_videos=0, n_audio=0).corpus
        >>> table = post_features(corpus)
        >>> model = ExpectedEngagementModel(learner="logistic").fit(table)
        >>> bool((model.predict(table) >= 0).all())
        True
    """

    def __init__(self, learner: str = "gradient_boosting", *, random_state: int = 0) -> None:
        self.learner = learner
        self.random_state = random_state

    def fit(self, posts: pa.Table) -> ExpectedEngagementModel:
        """Learn from ``post_features`` rows with a known ``engagement``.

        Raises:
            DataError: no post with a known engagement.
        """
        known = posts.filter(pc.is_valid(posts.column("engagement")))
        if known.num_rows == 0:
            raise DataError("no post with a known engagement to learn from; pass post_features(corpus)")
        target = np.log1p(known.column("engagement").to_numpy(zero_copy_only=False))
        self.estimator_ = _learner(self.learner, self.random_state, regression=True).fit(
            _matrix(known, POST_FEATURES), target)
        self.trained_until_ = pc.max(known.column("created_at")).as_py()
        return self

    def predict(self, posts: pa.Table) -> np.ndarray:
        """``(n,)`` expected engagement count of each post (from ``post_features``)."""
        _not_fitted(self, "estimator_")
        return np.maximum(np.expm1(self.estimator_.predict(_matrix(posts, POST_FEATURES))), 0.0)

    def evaluate(self, posts: pa.Table) -> dict[str, float]:
        """Held-out ``rmse_log1p``, ``mae`` (counts) and ``spearman`` on posts with a known engagement."""
        from scipy.stats import spearmanr

        _not_fitted(self, "estimator_")
        known = posts.filter(pc.is_valid(posts.column("engagement")))
        truth = known.column("engagement").to_numpy(zero_copy_only=False)
        predicted = self.predict(known)
        return {"rmse_log1p": float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(truth)) ** 2))),
                "mae": float(np.mean(np.abs(predicted - truth))),
                "spearman": float(spearmanr(predicted, truth).statistic), "n": int(known.num_rows)}

    def explain(self, posts: pa.Table, *, n_repeats: int = 5) -> pa.Table:
        """Permutation importance (drop in R^2 on log1p engagement), most important first."""
        _not_fitted(self, "estimator_")
        known = posts.filter(pc.is_valid(posts.column("engagement")))
        target = np.log1p(known.column("engagement").to_numpy(zero_copy_only=False))
        return _permutation_table(self.estimator_, _matrix(known, POST_FEATURES), target, POST_FEATURES, "r2",
                                  n_repeats, self.random_state)


def expected_engagement(corpus: Corpus, posts: pa.Table, *, learner: str = "gradient_boosting",
                        sentiment: pa.Table | str | None = None, random_state: int = 0) -> pa.Table:
    """Expected engagement of new posts, from a model fitted on the corpus's posts (``ExpectedEngagementModel``).

    Args:
        corpus: the history: its non-reshare posts with their engagement are the training data.
        posts: the posts to score (``post_id``, ``author_id``, ``created_at``, ``text``, ``hashtags``, ``media``...;
            e.g. ``Corpus.from_records(posts=[...]).posts``).
        learner: one of ``LEARNERS``.
        sentiment: post tone (see ``post_features``).
        random_state: seed of the learner.

    Returns:
        Columns ``post_id`` and ``expected_engagement`` (expected likes + comments + shares in 72 hours).

    Examples:
        >>> from socialfusion.corpus import Corpus
        >>> from socialfusion.datasets.synthetic import generate
        >>> network = generate(n_users=60, n_posts=200, seed=2, n_videos=0, n_audio=0)
        >>> new = Corpus.from_records(posts=[{"post_id": "draft", "author_id": network.truth.influencers[0],
        ...                                   "text": "Big news #tech", "created_at": "2024-04-01T18:00:00Z"}])
        >>> expected_engagement(network.corpus, new.posts, learner="logistic").column_names
        ['post_id', 'expected_engagement']
    """
    model = ExpectedEngagementModel(learner, random_state=random_state).fit(
        post_features(corpus, sentiment=sentiment))
    return pa.table({"post_id": posts.column("post_id"),
                     "expected_engagement": model.predict(post_features(corpus, posts, sentiment=sentiment))})


# -- next action ---------------------------------------------------------------------------------------------------


def next_action_examples(corpus: Corpus) -> pa.Table:
    """Each user action (a post written, a like, comment, share or click) as the target of the user's history before it.

    Returns:
        One row per action after a user's first, sorted by time: ``user_id``, ``at``, ``label`` (the action's kind:
        ``post``, ``like``, ``comment``, ``share`` or ``click``), then ``NEXT_ACTION_FEATURES``: one-hot of the
        previous action, the share of each kind in the history, ``history_log`` (log1p of the history length),
        ``hours_since_last`` (log1p) and the ``hour`` (UTC) of the previous action (NaN when its source gives
        dates only, ``time_of_day_known``).

    Raises:
        DataError: no user has two actions.
    """
    view = _CorpusView(corpus, None, 0)
    actions = view.actions
    order = np.lexsort((actions.kind, actions.at, actions.user))
    users, times, kinds = actions.user[order], actions.at[order], actions.kind[order]
    hour_known = actions.hour_known[order]
    same = np.concatenate([[False], users[1:] == users[:-1]])
    rows = np.flatnonzero(same)
    if len(rows) == 0:
        raise DataError("no user has two actions (posts or likes, comments, shares, clicks); nothing to predict")
    one_hot = np.eye(len(_ACTION_KINDS))[kinds]
    # counts[i] = actions of each kind among the user's actions before row i
    cumulative = np.cumsum(one_hot, axis=0) - one_hot
    first_of_user = np.maximum.accumulate(np.where(~same, np.arange(len(users)), 0))
    counts = cumulative - cumulative[first_of_user]
    history = counts.sum(axis=1, keepdims=True)
    previous = rows - 1
    columns = {"user_id": view.user_array.take(users[rows]),
               "at": pa.array(times[rows], pa.timestamp("us", tz="UTC")),
               "label": pa.array([_ACTION_KINDS[k] for k in kinds[rows]], pa.string())}
    for index, kind in enumerate(_ACTION_KINDS):
        columns[f"last_{kind}"] = one_hot[previous, index]
    shares = counts[rows] / np.maximum(history[rows], 1)
    for index, kind in enumerate(_ACTION_KINDS):
        columns[f"share_{kind}"] = shares[:, index]
    columns["history_log"] = np.log1p(history[rows, 0])
    columns["hours_since_last"] = np.log1p(np.maximum(times[rows] - times[previous], 0) / _US_PER_HOUR)
    columns["hour"] = np.where(hour_known[previous], (times[previous] // _US_PER_HOUR) % 24, np.nan)
    table = pa.table(columns)
    return table.take(pa.array(np.argsort(times[rows], kind="stable")))


class NextActionModel:
    """Predicts the kind of a user's next action (post, like, comment, share, click) from their history.

    Fit on the training side of ``time_split(next_action_examples(corpus))`` and ``evaluate`` on the later side,
    where it is compared with always predicting the user's most frequent past action.

    Args:
        learner: one of ``LEARNERS`` (logistic by default: gradient boosting grows one tree per kind and round).
        random_state: seed of the learner.

    Attributes:
        estimator_: the fitted classifier.
        classes_: the action kinds seen in training.
        trained_until_: the latest ``at`` among the training rows.

    Examples:
        >>> from socialfusion.datasets.synthetic import generate
        >>> corpus = generate(n_users=60, n_posts=200, seed=2, n_videos=0, n_audio=0).corpus
        >>> train, test = time_split(next_action_examples(corpus))
        >>> scores = NextActionModel(random_state=0).fit(train).evaluate(test)
        >>> scores["accuracy"] > scores["majority_accuracy"]
        True
    """

    def __init__(self, learner: str = "logistic", *, random_state: int = 0) -> None:
        self.learner = learner
        self.random_state = random_state

    def fit(self, examples: pa.Table) -> NextActionModel:
        """Learn from ``next_action_examples`` rows.

        Raises:
            DataError: fewer than two kinds of action.
        """
        labels = np.array(examples.column("label").to_pylist(), dtype=object).astype(str)
        if len(np.unique(labels)) < 2:
            raise DataError("the training actions are all of one kind; there is nothing to predict")
        self.estimator_ = _learner(self.learner, self.random_state).fit(_matrix(examples, NEXT_ACTION_FEATURES),
                                                                         labels)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.majority_ = str(max(set(labels.tolist()), key=labels.tolist().count))
        self.trained_until_ = pc.max(examples.column("at")).as_py()
        return self

    def predict_proba(self, examples: pa.Table) -> np.ndarray:
        """``(n, len(classes_))`` probabilities of each kind."""
        _not_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(_matrix(examples, NEXT_ACTION_FEATURES)), np.float64)

    def predict(self, examples: pa.Table) -> np.ndarray:
        """``(n,)`` the most probable next kind."""
        return self.classes_[np.argmax(self.predict_proba(examples), axis=1)]

    def evaluate(self, examples: pa.Table) -> dict[str, float]:
        """``accuracy``, ``macro_f1``, and two baselines: ``majority_accuracy`` (the most common training kind) and
        ``habit_accuracy`` (each user's most frequent past kind).

        Raises:
            DataError: the examples start before the training window ends.
        """
        from sklearn.metrics import f1_score

        _not_fitted(self, "estimator_")
        earliest = pc.min(examples.column("at")).as_py()
        if earliest is not None and earliest <= self.trained_until_:
            raise DataError(f"test actions start at {earliest}, not after the training window ({self.trained_until_})")
        truth = np.array(examples.column("label").to_pylist(), dtype=object).astype(str)
        predicted = self.predict(examples).astype(str)
        shares = _matrix(examples, [f"share_{kind}" for kind in _ACTION_KINDS])
        habit = np.array(_ACTION_KINDS)[np.argmax(shares, axis=1)]
        return {"accuracy": float(np.mean(predicted == truth)),
                "macro_f1": float(f1_score(truth, predicted, average="macro")),
                "majority_accuracy": float(np.mean(truth == self.majority_)),
                "habit_accuracy": float(np.mean(habit == truth)), "n": int(len(truth))}


# -- report --------------------------------------------------------------------------------------------------------


def engagement_section(model: EngagementModel, test: pa.Table, *, drivers: pa.Table | None = None,
                       top: int = 10) -> ReportSection:
    """The report's "engagement" card: held-out AUC of the model and of an author-followers baseline, and drivers.

    Args:
        model: a fitted ``EngagementModel``.
        test: held-out examples from after its training window (``time_split``).
        drivers: ready ``model.explain(test)``; computed when None.
        top: how many drivers to show.
    """
    from sklearn.metrics import roc_auc_score

    from socialfusion.report import Metrics, ReportSection, Table

    scores = model.evaluate(test)
    sample = json.loads((test.schema.metadata or {}).get(b"example_sample", b"null"))
    sampled = "" if not sample else (
        f" Examples of a seeded sample of {sample['users']:,} of the {sample['of_users']:,} users with examples, "
        f"stratified by activity (about {sample['of_examples']:,} examples in all; engagement_examples "
        "max_examples).")
    labels = test.column("label").to_numpy(zero_copy_only=False)
    baseline = float(roc_auc_score(labels, test.column("author_followers_log").to_numpy(zero_copy_only=False)))
    drivers = model.explain(test) if drivers is None else drivers
    rows = [{"feature": row["feature"], "importance (AUC drop)": round(row["importance"], 4),
             "std": round(row["importance_std"], 4)} for row in drivers.slice(0, top).to_pylist()]
    leading = ", ".join(row["feature"] for row in rows[:3])
    return ReportSection(
        title="Engagement prediction", key="engagement",
        summary=f"Held-out AUC {scores['auc']:.3f} on the later time window ({scores['n']:,} examples) against "
                f"{baseline:.3f} for author followers alone; the main drivers are {leading}.",
        blocks=[Metrics({"held-out AUC": scores["auc"], "average precision": scores["average_precision"],
                         "author-followers AUC": baseline, "test examples": scores["n"],
                         "engagement rate": scores["positive_rate"]},
                        caption=f"{model.kind} prediction with {model.learner}, trained on the earlier window."
                                + sampled),
                Table(rows, caption="Drivers: how much the held-out AUC drops when each feature is shuffled.")],
    )
