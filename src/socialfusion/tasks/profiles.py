"""What each user is like: interests, sentiment, activity rhythm, influence, language, embedding; audience segments.

``build_profiles`` turns a corpus into one row per user:

- **interests**: the user's most used hashtags and keywords (and most frequent topics when a ``post_topics``
  table, columns ``post_id, topic``, is given);
- **sentiment tendency**: the mean of the user's posts' sentiment (-1 negative, 0 neutral, +1 positive) and the
  positive and negative shares, from a predictions table (``post_id, label``) or the lexicons;
- **activity rhythm**: the share of the user's actions (posts written, and likes, comments, shares, clicks) in each
  hour of the day (24 shares, UTC) and each weekday (7 shares, Monday first), the peak hour and weekday; actions
  whose source gives dates only (every timestamp at 00:00 UTC, ``_periods.time_of_day_known``) count for the
  weekday but not for an hour, so that such data shows no peak hour rather than a made-up hour 0;
- **influence and community**: PageRank and Leiden community of the follow graph (``tasks.influence``), followers;
- **languages**: the languages of the user's posts, most frequent first;
- **embedding**: the mean of the user's posts' text vectors, L2-normalised (``profile_embeddings``); users with no
  text have a zero vector flagged ``embedding_missing``.

``write_profiles`` stores them in the ``user_profiles`` table (vector column ``vector``) where ``similar_users``
finds nearest users through the store's vector search. ``audience_segments`` clusters users into segments and
describes each one, including what content works best with it; ``profiles_section`` shows the segments in the report.

Examples:
    >>> from socialfusion.corpus import Corpus
    >>> corpus = Corpus.from_records(posts=[
    ...     {"post_id": "p1", "author_id": "ann", "text": "Morning run #fitness", "hashtags": ["fitness"],
    ...      "created_at": "2024-03-04T07:10:00Z", "lang": "en"},
    ...     {"post_id": "p2", "author_id": "ann", "text": "Another run #fitness", "hashtags": ["fitness"],
    ...      "created_at": "2024-03-05T07:50:00Z", "lang": "en"}])
    >>> row = build_profiles(corpus, text_encoder="text/tfidf", sentiment=None).to_pylist()[0]
    >>> row["user_id"], row["top_hashtags"], row["peak_hour"], row["hour_shares"][7]
    ('ann', ['fitness'], 7, 1.0)
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.store._base import sql_string
from socialfusion.tasks._clustering import kmeans_by_silhouette, no_structure_message
from socialfusion.tasks._ids import cell_sums, distinct_codes, positions
from socialfusion.tasks._periods import time_of_day_known
from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE, named_post_topics, read_topics

if TYPE_CHECKING:
    from socialfusion.corpus import Corpus
    from socialfusion.report import ReportSection
    from socialfusion.store import Store
    from socialfusion.tasks.influence import GraphCommunities

__all__ = [
    "ACTIVE_KINDS",
    "MAX_SEGMENT_SEARCH_USERS",
    "PROFILES_TABLE",
    "AudienceSegments",
    "PostTexts",
    "ProfileEmbeddings",
    "audience_segments",
    "build_profiles",
    "post_sentiment_array",
    "post_sentiment_values",
    "post_text_vectors",
    "profile_embeddings",
    "profiles_section",
    "similar_users",
    "write_profiles",
]

logger = logging.getLogger(__name__)

PROFILES_TABLE = "user_profiles"
"""The store table ``write_profiles`` writes: one row per user, the embedding in the ``vector`` column."""

ACTIVE_KINDS = ("like", "comment", "share", "click")
"""Interaction kinds that count as a user's own actions (a view is passive)."""

_SENTIMENT_VALUE = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
_WORD = re.compile(r"[^\W\d_][\w']{2,}", re.UNICODE)
_HOUR_BANDS = (("night (0-6h)", 0, 6), ("morning (6-12h)", 6, 12), ("afternoon (12-18h)", 12, 18),
               ("evening (18-24h)", 18, 24))
_MAX_SEGMENTS = 8
_POST_BLOCK = 65_536  # posts whose vectors are summed into their authors' profiles at a time

MAX_SEGMENT_SEARCH_USERS = 2000
"""``audience_segments`` searches the number of segments (k-means for each k, silhouettes, the null comparison) on
at most this many users, a seeded sample stratified by activity (the power of two of each user's actions); every
user then joins the nearest segment centre. The search grows faster than the users; the assignment grows with them."""


class ProfileEmbeddings(NamedTuple):
    """One text embedding per user.

    Attributes:
        user_ids: ``n`` user ids, sorted.
        vectors: ``(n, dim)`` float32, L2-normalised rows; all zeros where ``missing``.
        missing: ``(n,)`` bool, True for users with no post text to embed.
    """

    user_ids: list[str]
    vectors: np.ndarray
    missing: np.ndarray


class AudienceSegments(NamedTuple):
    """Audience segments.

    Attributes:
        assignments: columns ``user_id``, ``segment`` (int, 0 for the largest segment, then by size).
        cards: one row per segment: ``segment``, ``size``, ``top_interests``, ``languages``, ``peak_hours``,
            ``what_works`` (content features with the highest engagement lift in the segment, e.g.
            ``"image x1.8"``).
        silhouette: the silhouette of the best clustering tried, also when it was refused (NaN when no clustering
            could be formed).
        rejected_k: None, or the number of segments of the best clustering when it was refused as no structure
            (see ``audience_segments``): then every user is in segment 0, described by one card.
        searched_users: how many users the number of segments was chosen on: a seeded sample when fewer than
            the users (``kmeans_by_silhouette``'s ``max_search_rows``); None when not recorded.
    """

    assignments: pa.Table
    cards: pa.Table
    silhouette: float
    rejected_k: int | None = None
    searched_users: int | None = None

    def describe(self) -> str:
        """What the segmentation found, in a line: ``"no segment structure found (best silhouette 0.02 at k=2)"``
        or ``"3 audience segments (silhouette 0.41)"``."""
        if self.rejected_k is not None:
            return no_structure_message(self.silhouette, self.rejected_k)
        silhouette = "" if np.isnan(self.silhouette) else f" (silhouette {self.silhouette:.3f})"
        return f"{self.cards.num_rows} audience segment{'s' if self.cards.num_rows != 1 else ''}{silhouette}"


# -- embeddings ----------------------------------------------------------------------------------------------------


class PostTexts:
    """The text vectors of a corpus's posts, embedded when asked: the text encoder is fitted once (or the store's
    feature cache is read), then any posts are embedded a block or a subset at a time, so that no analysis needs
    every post's vector in memory at once (2M posts x 256 dimensions are 2 GB of float32).

    Args:
        corpus: the posts to embed.
        store: a store whose ``featurize`` cache is read when it holds ``text_encoder``'s features; None (or no
            cache) embeds the texts here (an encoder that learns from the corpus, like ``text/tfidf``, is fitted
            on these posts' texts first).
        text_encoder: a registered text encoder.
        max_fit_texts: an encoder that learns from the corpus learns from at most this many of its non-blank
            texts, a seeded random sample (its vocabulary and SVD: at 200,000 posts the SVD alone took 21 s); every
            post can still be embedded. None: every text.
        random_state: the sample's seed.
        on_sample: called as ``on_sample(texts learned from, texts in all)`` when the encoder learned from a
            sample (a report card says so).

    Raises:
        ConfigurationError: ``text_encoder`` is unknown or not a text encoder.

    Examples:
        >>> from socialfusion.corpus import Corpus
        >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "cats purr"},
        ...                                     {"post_id": "p2", "text": "dogs bark"},
        ...                                     {"post_id": "p3", "reshare_of": "p1"}])
        >>> texts = PostTexts(corpus, text_encoder="text/tfidf")
        >>> len(texts), texts.encode(np.array([2, 0])).missing.tolist()
        (3, [True, False])
    """

    def __init__(self, corpus: Corpus, *, store: Store | None = None, text_encoder: str = "text/minilm-int8",
                 max_fit_texts: int | None = None, random_state: int = 0,
                 on_sample: Callable[[int, int], None] | None = None):
        from socialfusion.encoders import encoder_info, get_encoder
        from socialfusion.featurize import feature_table

        if encoder_info(text_encoder)["modality"] != "text":
            raise ConfigurationError(f"{text_encoder!r} is not a text encoder; use e.g. 'text/minilm-int8' or "
                                     "'text/tfidf'")
        self.text_encoder = text_encoder
        self.post_ids = pc.cast(corpus.posts.column("post_id"), pa.string()).combine_chunks()
        self._texts = pc.fill_null(corpus.posts.column("text"), "").combine_chunks()
        self._store = store if store is not None and feature_table(text_encoder) in store.tables() else None
        self._encoder = None
        if self._store is not None:
            return
        self._encoder = get_encoder(text_encoder)
        if hasattr(self._encoder, "fit"):
            texts = [text for text in self._texts.to_pylist() if text.strip()]
            if max_fit_texts is not None and len(texts) > max_fit_texts:
                chosen = np.random.default_rng(random_state).choice(len(texts), max_fit_texts, replace=False)
                if on_sample is not None:
                    on_sample(max_fit_texts, len(texts))
                texts = [texts[index] for index in np.sort(chosen)]
            if texts:
                self._encoder.fit(texts)

    def __len__(self) -> int:
        return len(self.post_ids)

    @property
    def block_rows(self) -> int:
        """How many posts to ask ``encode`` for at a time: a block (``_POST_BLOCK``) when the encoder embeds them
        here; every post when they come from the store's cache, whose each read is one pass over its table."""
        return max(len(self), 1) if self._store is not None else _POST_BLOCK

    def encode(self, rows: np.ndarray | None = None) -> Encoded:
        """The ``Encoded`` vectors of the posts at ``rows`` (positions in the corpus's posts table; None: every
        post), with the missing mask (blank texts, reshares without text)."""
        if self._store is not None:
            from socialfusion.featurize import load_features

            ids = self.post_ids if rows is None else self.post_ids.take(pa.array(rows, pa.int64()))
            return load_features(self._store, self.text_encoder, ids.to_pylist())
        texts = self._texts if rows is None else self._texts.take(pa.array(rows, pa.int64()))
        if rows is None:
            logger.info("encoding %d post texts with %s (not in a feature cache)", len(texts), self.text_encoder)
        return self._encoder.encode(texts.to_pylist())


def post_text_vectors(corpus: Corpus, *, store: Store | None = None, text_encoder: str = "text/minilm-int8",
                      max_fit_texts: int | None = None, random_state: int = 0,
                      on_sample: Callable[[int, int], None] | None = None) -> tuple[list[str], Encoded]:
    """Text vectors of every post of a corpus at once, from the store's feature cache when it has them
    (``PostTexts``, whose arguments these are, embeds them a block at a time instead).

    Returns:
        The post ids (the posts table's order) and their ``Encoded`` vectors ``(n_posts, dim)`` with the missing
        mask (blank texts, reshares without text).

    Raises:
        ConfigurationError: ``text_encoder`` is unknown or not a text encoder.
    """
    texts = PostTexts(corpus, store=store, text_encoder=text_encoder, max_fit_texts=max_fit_texts,
                      random_state=random_state, on_sample=on_sample)
    return texts.post_ids.to_pylist(), texts.encode()


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _user_ids(corpus: Corpus) -> list[str]:
    """Every user of the users table, every post author and every user who interacted, sorted."""
    authors = pc.drop_null(pc.unique(corpus.posts.column("author_id"))).to_pylist()
    actors = pc.unique(corpus.interactions.column("user_id")).to_pylist()
    return sorted(set(corpus.users.column("user_id").to_pylist()) | set(authors) | set(actors))


def profile_embeddings(corpus: Corpus, *, store: Store | None = None, text_encoder: str = "text/minilm-int8",
                       post_vectors: tuple[Sequence[str], Encoded] | PostTexts | None = None) -> ProfileEmbeddings:
    """Each user's profile embedding: the mean of their posts' text vectors, L2-normalised.

    Link prediction and recommendation reuse it to compare users with users, or users with posts.

    Args:
        corpus: the corpus (users and posts).
        store: read cached text features from this store (see ``PostTexts``).
        text_encoder: the text encoder.
        post_vectors: ready post ids and their ``Encoded`` vectors (skips encoding), or a ``PostTexts`` of the
            corpus's posts, which embeds them a block at a time (never every vector at once).

    Returns:
        ``ProfileEmbeddings(user_ids, vectors (n_users, dim), missing (n_users,))``; a user with no text is a zero
        row flagged missing, never a silent zero.

    Examples:
        >>> from socialfusion.corpus import Corpus
        >>> from socialfusion.encoders import Encoded
        >>> corpus = Corpus.from_records(users=[{"user_id": "a"}, {"user_id": "b"}],
        ...                              posts=[{"post_id": "p1", "author_id": "a", "text": "x"}])
        >>> vectors = Encoded(np.array([[3.0, 4.0]], np.float32), np.array([False]), [None])
        >>> found = profile_embeddings(corpus, post_vectors=(["p1"], vectors))
        >>> found.user_ids, found.vectors.tolist(), found.missing.tolist()
        (['a', 'b'], [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]], [False, True])
    """
    if post_vectors is None:
        post_vectors = PostTexts(corpus, store=store, text_encoder=text_encoder)
    users = _user_ids(corpus)
    author = positions(corpus.posts.column("author_id"), pa.array(users, pa.string()))  # per corpus post
    if isinstance(post_vectors, PostTexts):
        n_posts, step = len(post_vectors), post_vectors.block_rows
        rows = author if n_posts == len(author) else np.full(n_posts, -1, np.int64)

        def block(start: int) -> Encoded:
            return post_vectors.encode(np.arange(start, min(start + step, n_posts)))
    else:
        post_ids, encoded = post_vectors
        if len(post_ids) != len(encoded.vectors):
            raise DataError(f"{len(post_ids)} post ids for {len(encoded.vectors)} vectors; give one vector per post")
        n_posts, step = len(post_ids), max(len(post_ids), 1)
        at = positions(pa.array(list(post_ids), pa.string()), corpus.posts.column("post_id").combine_chunks())
        rows = np.where(at >= 0, author[np.maximum(at, 0)], -1)

        def block(start: int) -> Encoded:
            return encoded  # every post's vectors, already at hand
    sums = None
    counts = np.zeros(len(users), np.int64)
    for start in range(0, max(n_posts, 1), step):
        found = block(start)
        if sums is None:
            sums = np.zeros((len(users), found.vectors.shape[1]))
        missing = np.asarray(found.missing, bool)
        for offset in range(0, len(missing), _POST_BLOCK):  # summed a block at a time: no float64 copy of them all
            authors = rows[start + offset:start + offset + _POST_BLOCK]
            kept = (authors >= 0) & ~missing[offset:offset + _POST_BLOCK]
            _add_by_group(sums, authors[kept], found.vectors[offset:offset + _POST_BLOCK][kept])
            counts += np.bincount(authors[kept], minlength=len(users))
    matrix = _normalise_rows(sums).astype(np.float32)
    missing = (counts == 0) | (np.linalg.norm(matrix, axis=1) == 0)
    return ProfileEmbeddings(users, matrix, missing)


def _add_by_group(sums: np.ndarray, groups: np.ndarray, values: np.ndarray) -> None:
    """``sums[g] += values[i]`` (in float64) for every row ``i`` of group ``g``: one sparse product over the groups
    present (``np.add.at`` and ``np.add.reduceat`` along rows were several times slower)."""
    import scipy.sparse as sp

    distinct, inverse = np.unique(groups, return_inverse=True)
    members = sp.csr_array((np.ones(len(groups)), (inverse, np.arange(len(groups)))),
                           shape=(len(distinct), len(groups)))
    sums[distinct] += members @ np.asarray(values, np.float64)


# -- profiles ------------------------------------------------------------------------------------------------------


def _top_per_user(user: np.ndarray, names: pa.Array | pa.ChunkedArray, n_users: int, k: int,
                  counts: np.ndarray | None = None) -> pa.Array:
    """Each user's ``k`` most frequent names, most first and ties by name, as a list per user ([] for none).

    Args:
        user: ``(n,)`` the user code of each row (-1: nobody's, left out).
        names: ``(n,)`` the name of each row.
        n_users: users (lists).
        k: names per user.
        counts: ``(n,)`` how many times each row counts; None: once.
    """
    mine = user >= 0
    rows = pa.table({"user": pa.array(user[mine], pa.int64()), "name": pc.cast(names, pa.string()).filter(
        pa.array(mine)), "count": pa.array(np.ones(int(mine.sum()), np.int64) if counts is None else counts[mine])})
    counted = rows.group_by(["user", "name"], use_threads=False).aggregate([("count", "sum")]).sort_by(
        [("user", "ascending"), ("count_sum", "descending"), ("name", "ascending")])
    owner = counted.column("user").to_numpy()
    rank = np.arange(len(owner)) - np.searchsorted(owner, owner)  # place within the user's names
    kept = rank < k
    offsets = np.concatenate([[0], np.cumsum(np.bincount(owner[kept], minlength=n_users))]).astype(np.int32)
    values = counted.column("name").filter(pa.array(kept)).combine_chunks()
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=pa.list_(pa.string()))


def _keyword_counts(posts: pa.Table, author: np.ndarray, tag_pairs: pa.Table) -> pa.Table:
    """``(user, word, count)``: the words of each user's posts (``_WORD``, lower-cased), English stop words and
    each post's own hashtags left out. Texts are split a block of ``_POST_BLOCK`` posts at a time, so only one
    block's words are ever held as Python strings."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    stop_words = pa.array(sorted(ENGLISH_STOP_WORDS), pa.string())
    texts = pc.fill_null(posts.column("text"), "")
    tag_pairs = tag_pairs.cast(pa.schema([("post", pa.int64()), ("word", pa.string())]))
    tag_post = tag_pairs.column("post").to_numpy()
    parts = []
    for start in range(0, posts.num_rows, _POST_BLOCK):
        end = min(start + _POST_BLOCK, posts.num_rows)
        block = np.arange(start, end)
        block = block[author[block] >= 0]
        words = pa.array([[word.lower() for word in _WORD.findall(text)]
                          for text in texts.take(pa.array(block)).to_pylist()], pa.list_(pa.string()))
        found = pa.table({"post": pa.array(block[pc.list_parent_indices(words).to_numpy()], pa.int64()),
                          "word": pc.list_flatten(words)})
        found = found.filter(pc.invert(pc.is_in(found.column("word"), value_set=stop_words)))
        own_tags = tag_pairs.filter(pa.array((tag_post >= start) & (tag_post < end)))
        found = found.join(own_tags, ["post", "word"], join_type="left anti")  # a post's own hashtag is no keyword
        parts.append(pa.table({"user": pa.array(author[found.column("post").to_numpy()], pa.int64()),
                               "word": found.column("word")})
                     .group_by(["user", "word"], use_threads=False).aggregate([("word", "count")]))
    if not parts:
        return pa.table({"user": pa.array([], pa.int64()), "word": pa.array([], pa.string()),
                         "count": pa.array([], pa.int64())})
    summed = pa.concat_tables(parts).group_by(["user", "word"], use_threads=False).aggregate([("word_count", "sum")])
    return summed.rename_columns({"word_count_sum": "count"})


def _top(counter: Counter[str], k: int) -> list[str]:
    return [name for name, _ in sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:k]]


def post_sentiment_values(corpus: Corpus, sentiment: pa.Table | str | None) -> dict[str, float]:
    """The tone of a corpus's posts: post id -> -1 (negative), 0 (neutral) or +1 (positive), for the posts scored
    (``post_sentiment_array`` as a dict; the arrays are what the analyses use, a dict per post is for small inputs).

    Examples:
        >>> from socialfusion.corpus import Corpus
        >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "x"}, {"post_id": "p2", "text": "y"}])
        >>> post_sentiment_values(corpus, pa.table({"post_id": ["p2", "p9"], "label": ["negative", "positive"]}))
        {'p2': -1.0}
    """
    values = post_sentiment_array(corpus, sentiment)
    scored = np.flatnonzero(~np.isnan(values))
    ids = corpus.posts.column("post_id").take(pa.array(scored)).to_pylist()
    return dict(zip(ids, values[scored].tolist()))


def post_sentiment_array(corpus: Corpus, sentiment: pa.Table | str | None, *, missing: float = np.nan) -> np.ndarray:
    """The tone of each of a corpus's posts, in the posts table's order: -1 (negative), 0 (neutral), +1 (positive).

    Args:
        corpus: the posts.
        sentiment: ``"lexicon"`` (``lexicon_sentiment`` on each non-blank text, in its ``lang``), a predictions
            table with ``post_id`` and ``label`` (``read_predictions``; mapped by Arrow positions, not a lookup per
            post; a post listed twice takes its last known label), or None.
        missing: the value of a post with no score (every post, when ``sentiment`` is None).

    Returns:
        ``(n_posts,)`` float64.

    Raises:
        ConfigurationError: any other ``sentiment``.
    """
    posts = corpus.posts
    values = np.full(posts.num_rows, missing, np.float64)
    if sentiment is None:
        return values
    if isinstance(sentiment, pa.Table):
        if not {"post_id", "label"} <= set(sentiment.column_names):
            raise ConfigurationError("sentiment must be a table with columns post_id and label (e.g. from "
                                     f"read_predictions), 'lexicon' or None; got columns {sentiment.column_names}")
        names = pa.array(list(_SENTIMENT_VALUE), pa.string())
        label = pc.fill_null(pc.index_in(pc.cast(sentiment.column("label"), pa.string()), value_set=names), -1)
        label = label.to_numpy(zero_copy_only=False)
        rows = positions(pc.cast(sentiment.column("post_id"), pa.string()), posts.column("post_id").combine_chunks())
        known = (rows >= 0) & (label >= 0)
        values[rows[known]] = np.array(list(_SENTIMENT_VALUE.values()))[label[known]]
        return values
    if sentiment != "lexicon":
        raise ConfigurationError(f"sentiment must be 'lexicon', a predictions table or None; got {sentiment!r}")
    from socialfusion.tasks.sentiment import lexicon_sentiment

    texts = pc.fill_null(posts.column("text"), "").to_pylist()
    has_text = [index for index, text in enumerate(texts) if text.strip()]
    if has_text:
        languages = posts.column("lang").to_pylist()
        labels = lexicon_sentiment([texts[i] for i in has_text], language=[languages[i] for i in has_text])
        values[has_text] = [_SENTIMENT_VALUE[str(label)] for label in labels]
    return values


def _post_hours_known(posts: pa.Table) -> np.ndarray:
    """``(n,)`` bool: the posts whose ``created_at`` carries a time of day (not a date-only platform's midnight)."""
    platform = posts.column("platform") if "platform" in posts.column_names else None
    return time_of_day_known(posts.column("created_at"), platform)


def _activity_times(corpus: Corpus, users: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user positions among ``users``, times as datetime64[us], whether each time has a time of day) of each
    user's own actions: posts written and active interactions."""
    posts = corpus.posts.select([name for name in ("author_id", "created_at", "platform")
                                 if name in corpus.posts.column_names])  # filters copy only what is read
    posts = posts.filter(pc.and_(pc.is_valid(posts.column("created_at")), pc.is_valid(posts.column("author_id"))))
    interactions = corpus.interactions.select(["user_id", "kind", "at"])
    interactions = interactions.filter(pc.and_(pc.is_in(interactions.column("kind"), pa.array(ACTIVE_KINDS)),
                                               pc.is_valid(interactions.column("at"))))
    actors = np.concatenate([positions(posts.column("author_id"), users),
                             positions(interactions.column("user_id"), users)])
    times = np.concatenate([_datetimes(posts.column("created_at")), _datetimes(interactions.column("at"))])
    known = np.concatenate([_post_hours_known(posts), time_of_day_known(interactions.column("at"))])
    kept = actors >= 0
    return actors[kept], times[kept], known[kept]


def _datetimes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A UTC timestamp column as naive ``datetime64[us]`` (UTC)."""
    values = pc.cast(column, pa.timestamp("us")) if len(column) else pa.array([], pa.timestamp("us"))
    return np.asarray(values.to_numpy(zero_copy_only=False), "datetime64[us]")


def _rhythm(rows: np.ndarray, times: np.ndarray, hour_known: np.ndarray,
            n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user: (n, 24) hour shares (of the actions with a time of day) and (n, 7) weekday shares (of all,
    Monday first); zero rows for users without such actions. ``rows``: each action's user position."""
    hours = np.zeros((n_users, 24))
    weekdays = np.zeros((n_users, 7))
    if len(times):
        hour = (times.astype("datetime64[h]").astype(np.int64) % 24)
        weekday = (times.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        hours = cell_sums(rows[hour_known], hour[hour_known], (n_users, 24)).astype(np.float64)
        weekdays = cell_sums(rows, weekday, (n_users, 7)).astype(np.float64)
    hour_totals = hours.sum(axis=1, keepdims=True)
    day_totals = weekdays.sum(axis=1, keepdims=True)
    return (np.divide(hours, hour_totals, out=np.zeros_like(hours), where=hour_totals > 0),
            np.divide(weekdays, day_totals, out=np.zeros_like(weekdays), where=day_totals > 0))


def _influence(corpus: Corpus, users: list[str], random_state: int, follow_graph: GraphCommunities | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PageRank, community (-1 without follow ties) and followers of each user."""
    from socialfusion.tasks.influence import graph_communities

    follow_graph = graph_communities(corpus, random_state=random_state, given=follow_graph)
    graph = follow_graph.graph
    names = graph.vs["name"] if graph.vcount() else []
    position = {name: vertex for vertex, name in enumerate(names)}
    pagerank = graph.pagerank(weights="weight" if graph.ecount() else None) if graph.vcount() else []
    in_degree = graph.degree(mode="in") if graph.vcount() else []
    counts = dict(zip(corpus.users.column("user_id").to_pylist(), corpus.users.column("followers_count").to_pylist()))
    rank = np.array([pagerank[position[user]] if user in position else 0.0 for user in users])
    community = follow_graph.membership(pa.array(users, pa.string()))
    followers = np.array([counts.get(user) if counts.get(user) is not None
                          else (in_degree[position[user]] if user in position else 0) for user in users], np.int64)
    return rank, community, followers


def build_profiles(corpus: Corpus, *, store: Store | None = None, text_encoder: str = "text/minilm-int8",
                   post_topics: pa.Table | None = None, sentiment: pa.Table | str | None = "lexicon",
                   top_k: int = 5, random_state: int = 0,
                   embeddings: ProfileEmbeddings | None = None,
                   follow_graph: GraphCommunities | None = None) -> pa.Table:
    """One profile per user: interests, sentiment tendency, activity rhythm, influence, languages, embedding.

    Args:
        corpus: the corpus.
        store: read cached text features from this store (see ``post_text_vectors``), and its topics.
        text_encoder: the text encoder of the profile embedding.
        post_topics: a table ``post_id, topic`` (topic names) for ``top_topics``; None uses the store's topic
            model (``post_topics`` named by the ``topics`` labels, ``named_post_topics``) when it has one.
        sentiment: ``"lexicon"`` (score the posts' texts), a predictions table with ``post_id, label``
            (``read_predictions``), or None to leave the sentiment columns null.
        top_k: how many hashtags, keywords and topics to keep.
        random_state: seed of the communities.
        embeddings: ready embeddings from ``profile_embeddings`` (skips encoding).
        follow_graph: the follow graph and its communities (``graph_communities(corpus,
            random_state=random_state)``) when the caller has them; None builds them here.

    Returns:
        One row per user (sorted by id): ``user_id``, ``n_posts``, ``n_actions`` (posts plus active interactions),
        ``top_hashtags``, ``top_keywords``, ``top_topics`` (empty lists without ``post_topics``),
        ``sentiment_mean``, ``positive_share``, ``negative_share`` (null without scored posts), ``hour_shares``
        (24 floats; all 0 when no action has a time of day, e.g. a source of dates only), ``weekday_shares``
        (7 floats, Monday first), ``peak_hour`` (null when inactive or no action has a time of day),
        ``peak_weekday`` (null when inactive), ``pagerank``, ``followers``, ``community`` (-1 without follow
        ties), ``languages``, ``vector`` (the embedding, fixed-size float32) and ``embedding_missing``.

    Raises:
        ConfigurationError: bad ``sentiment``, ``post_topics`` without ``post_id``/``topic``, ``top_k`` < 1, or
            a ``follow_graph`` of other kinds or another seed.
        DataError: the corpus has no users and no posts.
    """
    if top_k < 1:
        raise ConfigurationError(f"top_k must be at least 1; got {top_k}")
    users = _user_ids(corpus)
    if not users:
        raise DataError("the corpus has no users and no post authors to profile; ingest users or posts first")
    posts = corpus.posts
    if post_topics is None and store is not None and {POST_TOPICS_TABLE, TOPICS_TABLE} <= set(store.tables()):
        post_topics = named_post_topics(*read_topics(store))
    if post_topics is not None and not {"post_id", "topic"} <= set(post_topics.column_names):
        raise ConfigurationError(f"post_topics needs columns post_id and topic; got {post_topics.column_names}")
    # every count below is columnar: (user, name) rows counted by Arrow, each user's top names picked by a sort
    user_array = pa.array(users, pa.string())
    author = positions(posts.column("author_id"), user_array)  # -1: no author
    n_posts = np.bincount(author[author >= 0], minlength=len(users)).astype(np.int64)
    tags = posts.column("hashtags").combine_chunks()
    tag_pairs = pa.table({"post": pc.list_parent_indices(tags), "word": pc.utf8_lower(pc.list_flatten(tags))})
    tag_pairs = tag_pairs.group_by(["post", "word"], use_threads=False).aggregate([])  # a tag once per post
    tag_owner = author[tag_pairs.column("post").to_numpy()]
    top_hashtags = _top_per_user(tag_owner, tag_pairs.column("word"), len(users), top_k)
    keyword_counts = _keyword_counts(posts, author, tag_pairs)
    top_keywords = _top_per_user(keyword_counts.column("user").to_numpy(), keyword_counts.column("word"),
                                 len(users), top_k, keyword_counts.column("count").to_numpy())
    lang = posts.column("lang")
    spoken = pc.fill_null(pc.not_equal(lang, ""), False).to_numpy(zero_copy_only=False) & (author >= 0)
    languages = _top_per_user(author[spoken], lang.filter(pa.array(spoken)), len(users), 3)
    topic_rows = np.full(posts.num_rows, -1, np.int64)
    if post_topics is not None:  # a post listed twice takes its last topic
        last_first = post_topics.take(pa.array(np.arange(post_topics.num_rows - 1, -1, -1, dtype=np.int64)))
        topic_rows = positions(posts.column("post_id"), last_first.column("post_id").combine_chunks())
        topic_names = pc.cast(last_first.column("topic"), pa.string())
    topical = (topic_rows >= 0) & (author >= 0)
    top_topics = _top_per_user(author[topical], topic_names.take(pa.array(topic_rows[topical])), len(users),
                               top_k) if topical.any() else pa.array([[] for _ in users], pa.list_(pa.string()))
    polarity = post_sentiment_array(corpus, sentiment)
    scored = ~np.isnan(polarity) & (author >= 0)
    n_scored = np.bincount(author[scored], minlength=len(users))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, positive, negative = (np.bincount(author[scored], weights=values, minlength=len(users)) / n_scored
                                    for values in (polarity[scored], polarity[scored] > 0, polarity[scored] < 0))
    action_users, action_times, hour_known = _activity_times(corpus, user_array)
    hour_shares, weekday_shares = _rhythm(action_users, action_times, hour_known, len(users))
    n_actions = np.bincount(action_users, minlength=len(users)).astype(np.int64)
    active = n_actions > 0
    timed = hour_shares.sum(axis=1) > 0
    pagerank, community, followers = _influence(corpus, users, random_state, follow_graph)
    if embeddings is None:
        embeddings = profile_embeddings(corpus, store=store, text_encoder=text_encoder)
    if list(embeddings.user_ids) != users:
        raise DataError("the embeddings are of other users than the corpus's; compute them with "
                        "profile_embeddings(corpus)")
    dim = embeddings.vectors.shape[1]
    return pa.table({
        "user_id": pa.array(users, pa.string()),
        "n_posts": n_posts,
        "n_actions": n_actions,
        "top_hashtags": top_hashtags,
        "top_keywords": top_keywords,
        "top_topics": top_topics,
        "sentiment_mean": pa.array(mean, pa.float64(), mask=n_scored == 0),
        "positive_share": pa.array(positive, pa.float64(), mask=n_scored == 0),
        "negative_share": pa.array(negative, pa.float64(), mask=n_scored == 0),
        "hour_shares": pa.FixedSizeListArray.from_arrays(pa.array(hour_shares.ravel(), pa.float64()), 24),
        "weekday_shares": pa.FixedSizeListArray.from_arrays(pa.array(weekday_shares.ravel(), pa.float64()), 7),
        "peak_hour": pa.array(np.where(timed, hour_shares.argmax(axis=1), 0), pa.int64(), mask=~timed),
        "peak_weekday": pa.array(np.where(active, weekday_shares.argmax(axis=1), 0), pa.int64(), mask=~active),
        "pagerank": pagerank,
        "followers": followers,
        "community": community,
        "languages": languages,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.vectors.ravel(), pa.float32()), dim),
        "embedding_missing": pa.array(embeddings.missing, pa.bool_()),
    })


# -- stored profiles and nearest users -----------------------------------------------------------------------------


def write_profiles(store: Store, profiles: pa.Table) -> int:
    """Replace the store's ``user_profiles`` table with ``profiles`` (from ``build_profiles``).

    Returns:
        The number of rows written.

    Raises:
        ConfigurationError: ``profiles`` lacks ``user_id``, ``vector`` or ``embedding_missing``.
    """
    needed = {"user_id", "vector", "embedding_missing"}
    if not needed <= set(profiles.column_names):
        raise ConfigurationError(f"profiles need columns {sorted(needed)} (from build_profiles); "
                                 f"got {profiles.column_names}")
    return store.write(PROFILES_TABLE, profiles, mode="overwrite")


def similar_users(store: Store, user_id: str, k: int = 10, *, exact: bool = False) -> pa.Table:
    """The ``k`` users whose profile embeddings are closest (cosine) to ``user_id``'s.

    Runs through ``store.search`` (LanceDB's vector search over ``user_profiles``); with ``exact=True``, or when
    the store cannot search, every profile vector is compared instead. Users without an embedding are skipped.

    Args:
        store: a store that ``write_profiles`` wrote to.
        user_id: the user to match.
        k: how many users to return.
        exact: compare with every profile instead of searching the index.

    Returns:
        Columns ``user_id``, ``similarity`` (cosine), most similar first; the user is not among them.

    Raises:
        ConfigurationError: ``k`` < 1.
        DataError: no ``user_profiles`` table, the user has no profile, or their embedding is missing.
    """
    if k < 1:
        raise ConfigurationError(f"k must be at least 1; got {k}")
    if PROFILES_TABLE not in store.tables():
        raise DataError(f"store {store.uri!r} has no {PROFILES_TABLE} table; build it with: "
                        f"socialfusion profiles build --store {store.uri}")
    rows = store.read(PROFILES_TABLE, where=f"user_id = {sql_string(user_id)}", columns=["vector", "embedding_missing"])
    if rows.num_rows == 0:
        raise DataError(f"user {user_id!r} has no profile in {store.uri!r}; check the id")
    if rows.column("embedding_missing")[0].as_py():
        raise DataError(f"user {user_id!r} has no text to embed, so no similar users can be found by content")
    query = np.asarray(rows.column("vector")[0].as_py(), np.float32)
    where = f"embedding_missing = false AND user_id != {sql_string(user_id)}"
    if not exact:
        try:
            found = store.search(PROFILES_TABLE, query, k=k, where=where)
            vectors = np.asarray(found.column("vector").to_pylist(), np.float32).reshape(found.num_rows, len(query))
            return _ranked(found.column("user_id").to_pylist(), vectors @ query, k)
        except StoreError as error:
            logger.warning("vector search failed (%s); comparing with every profile instead", error)
    every = store.read(PROFILES_TABLE, where=where, columns=["user_id", "vector"])
    vectors = np.asarray(every.column("vector").to_pylist(), np.float32).reshape(every.num_rows, len(query))
    return _ranked(every.column("user_id").to_pylist(), vectors @ query, k)


def _ranked(user_ids: list[str], similarity: np.ndarray, k: int) -> pa.Table:
    order = sorted(range(len(user_ids)), key=lambda row: (-float(similarity[row]), user_ids[row]))[:k]
    return pa.table({"user_id": pa.array([user_ids[row] for row in order], pa.string()),
                     "similarity": pa.array([float(similarity[row]) for row in order], pa.float64())})


# -- segments ------------------------------------------------------------------------------------------------------


def _fixed_size_rows(column: pa.ChunkedArray | pa.Array, dtype: Any) -> np.ndarray:
    """A list column of equal-length rows as an ``(n, size)`` array (columnar for a fixed-size list)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.to_pylist(), dtype).reshape(len(column), -1)
    size = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).astype(dtype).reshape(len(column), size)


def _segment_features(profiles: pa.Table, top_interests: int = 30) -> np.ndarray:
    """Per user: embedding, hour shares and a bag of the most common hashtags, each block scaled to unit norm."""
    vectors = _fixed_size_rows(profiles.column("vector"), np.float64)
    hours = _fixed_size_rows(profiles.column("hour_shares"), np.float64)
    tags = profiles.column("top_hashtags").to_pylist()
    vocabulary = _top(Counter(tag for row in tags for tag in row), top_interests)
    bag = np.array([[tag in row for tag in vocabulary] for row in tags], np.float64).reshape(len(tags), -1)
    return np.hstack([_normalise_rows(vectors), _normalise_rows(hours), _normalise_rows(bag)])


def _content_traits(corpus: Corpus, sentiment: np.ndarray) -> tuple[list[str], Any]:
    """The content traits of each post, columnar: media kinds (or text only), hashtags or not, posting hour band
    (only for posts whose time has a time of day), sentiment tone (``sentiment``: each post's, from
    ``post_sentiment_array``; NaN for a post not scored).

    Returns:
        The trait names and a ``(n_posts, n_traits)`` binary CSR matrix, rows in the posts table's order.
    """
    import scipy.sparse as sp

    posts = corpus.posts
    n_posts = posts.num_rows
    found: dict[str, np.ndarray] = {}  # trait -> rows of the posts that have it
    media = posts.column("media").combine_chunks()
    kinds = pc.list_flatten(media).field("kind") if n_posts else pa.array([], pa.string())
    parents = pc.list_parent_indices(media).to_numpy() if n_posts else np.zeros(0, np.int64)
    kind_values = np.asarray(kinds.to_numpy(zero_copy_only=False), dtype=object)
    for kind in sorted({value for value in kind_values if value is not None}):
        found[kind] = np.unique(parents[kind_values == kind])
    has_media = pc.fill_null(pc.greater(pc.list_value_length(media), 0), False).to_numpy(zero_copy_only=False)
    found["text only"] = np.flatnonzero(~has_media)
    tagged = pc.fill_null(pc.greater(pc.list_value_length(posts.column("hashtags")), 0), False)
    tagged = tagged.to_numpy(zero_copy_only=False)
    found["hashtags"], found["no hashtags"] = np.flatnonzero(tagged), np.flatnonzero(~tagged)
    valid = np.flatnonzero(_post_hours_known(posts))
    hours = _datetimes(posts.column("created_at"))[valid].astype("datetime64[h]").astype(np.int64) % 24
    for name, low, high in _HOUR_BANDS:
        found[name] = valid[(hours >= low) & (hours < high)]
    for tone, value in _SENTIMENT_VALUE.items():  # no tone trait when no post is scored (all NaN)
        found[f"{tone} tone"] = np.flatnonzero(sentiment == value)
    names = [name for name, rows in found.items() if len(rows)]
    rows = np.concatenate([found[name] for name in names]) if names else np.zeros(0, np.int64)
    columns = np.repeat(np.arange(len(names)), [len(found[name]) for name in names])
    matrix = sp.csr_array((np.ones(len(rows), np.int64), (rows, columns)), shape=(n_posts, len(names)))
    return names, matrix


def _what_works(corpus: Corpus, users: list[str], segment: np.ndarray, traits: tuple[list[str], Any],
                min_support: int, top: int = 3) -> list[list[str]]:
    """Per segment, the traits whose engagement rate among the members' exposures beats the members' average rate,
    by lift (columnar: one pass over the interactions for every segment).

    With views among a segment's interactions an exposure is a viewed post and engagement is any active
    interaction (each distinct user and post once); without views, the lift compares the traits of engaged posts
    with those of all posts.
    """
    names, matrix = traits
    n_segments = int(segment.max()) + 1 if len(segment) else 0
    interactions = corpus.interactions
    if interactions.num_rows == 0 or not names:
        return [[] for _ in range(n_segments)]
    user_row = pc.fill_null(pc.index_in(interactions.column("user_id"), value_set=pa.array(users, pa.string())), -1)
    user_row = user_row.to_numpy(zero_copy_only=False)
    member_of = np.where(user_row >= 0, segment[np.maximum(user_row, 0)], -1)
    posts = pc.dictionary_encode(interactions.column("post_id").combine_chunks())  # one code per distinct post id
    codes = posts.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    row_of_code = pc.fill_null(pc.index_in(posts.dictionary, value_set=corpus.posts.column("post_id")), -1)
    row_of_code = np.append(row_of_code.to_numpy(zero_copy_only=False), -1)  # code -1 (no post id): no traits
    kind = interactions.column("kind")
    active = pc.fill_null(pc.is_in(kind, value_set=pa.array(ACTIVE_KINDS)), False).to_numpy(zero_copy_only=False)
    viewed = pc.fill_null(pc.equal(kind, "view"), False).to_numpy(zero_copy_only=False)
    pair = user_row * (len(posts.dictionary) + 1) + (codes + 1)  # a distinct (user, post) pair
    all_posts = np.asarray(matrix.sum(axis=0)).ravel()
    n_all = matrix.shape[0]

    def trait_counts(pairs: np.ndarray) -> np.ndarray:
        rows = row_of_code[pairs % (len(posts.dictionary) + 1) - 1]
        return np.asarray(matrix[rows[rows >= 0]].sum(axis=0)).ravel() if (rows >= 0).any() else np.zeros(len(names))

    found = []
    for number in range(n_segments):
        members = member_of == number
        engaged = distinct_codes(pair[members & active])
        seen = distinct_codes(pair[members & viewed])
        if len(seen):
            exposures = np.union1d(seen, engaged)
            base = len(engaged) / len(exposures)
            shown, hit = trait_counts(exposures), trait_counts(engaged)
            lifts = {names[t]: (int(hit[t]) / int(shown[t])) / base for t in range(len(names))
                     if shown[t] > 0 and shown[t] >= min_support and base}
        else:
            engaged_posts = trait_counts(engaged)
            lifts = {names[t]: (int(engaged_posts[t]) / len(engaged)) / (int(all_posts[t]) / n_all)
                     for t in range(len(names)) if engaged_posts[t] > 0 and engaged_posts[t] >= min_support}
        best = sorted((item for item in lifts.items() if item[1] > 1.0), key=lambda item: (-item[1], item[0]))[:top]
        found.append([f"{trait} x{lift:.2f}" for trait, lift in best])
    return found


def audience_segments(profiles: pa.Table, n_segments: int | None = None, random_state: int = 0, *,
                      corpus: Corpus | None = None, sentiment: pa.Table | str | None = None,
                      min_support: int = 5,
                      max_search_users: int | None = MAX_SEGMENT_SEARCH_USERS) -> AudienceSegments:
    """Cluster users into audience segments (KMeans) and describe each segment.

    Each user is the concatenation of three blocks, each scaled to unit length so that none dominates: the profile
    embedding, the 24 hour shares and a bag of the 30 most common hashtags. ``n_segments=None`` picks the number
    of segments (2 to 8) with the best silhouette, and refuses it when the users show no structure: a silhouette
    below 0.1, or less than 0.03 above the same clustering of the features shuffled column by column across users
    (``socialfusion.tasks._clustering``). A refused clustering leaves every user in one segment and sets
    ``rejected_k``.

    Args:
        profiles: from ``build_profiles``.
        n_segments: the number of segments, or None to choose it.
        random_state: KMeans seed.
        corpus: the corpus the profiles came from; needed for ``what_works`` (left empty otherwise).
        sentiment: how to score posts' tone for ``what_works`` (see ``build_profiles``); None leaves tone out.
        min_support: exposures (or engaged posts) a trait needs before its lift counts.
        max_search_users: search the number of segments on at most this many users (``MAX_SEGMENT_SEARCH_USERS``),
            a seeded sample stratified by activity (``n_actions``, when the profiles have it); None searches on all.

    Returns:
        ``AudienceSegments(assignments, cards, silhouette, rejected_k)``.

    Raises:
        ConfigurationError: ``n_segments`` below 1 or above the number of users.
        DataError: fewer than 3 users to segment.
    """
    if profiles.num_rows < 3:
        raise DataError(f"segmenting needs at least 3 users; the profiles have {profiles.num_rows}")
    if n_segments is not None and not 1 <= n_segments <= profiles.num_rows:
        raise ConfigurationError(f"n_segments must be between 1 and {profiles.num_rows} (users); got {n_segments}")
    activity = (np.log2(profiles.column("n_actions").to_numpy(zero_copy_only=False) + 1).astype(np.int64)
                if "n_actions" in profiles.column_names else None)
    found = kmeans_by_silhouette(_segment_features(profiles), n_segments, max_clusters=_MAX_SEGMENTS,
                                 random_state=random_state, max_search_rows=max_search_users, strata=activity)
    labels = found.labels
    sizes = Counter(labels.tolist())
    rename = {label: rank for rank, label in enumerate(sorted(sizes, key=lambda label: (-sizes[label], label)))}
    segment = np.array([rename[label] for label in labels], np.int64)
    users = profiles.column("user_id").to_pylist()
    assignments = pa.table({"user_id": pa.array(users, pa.string()), "segment": segment})
    works = (_what_works(corpus, users, segment, _content_traits(corpus, post_sentiment_array(corpus, sentiment)),
                         min_support) if corpus is not None else [[] for _ in sizes])
    tags = profiles.column("top_hashtags").to_pylist()
    langs = profiles.column("languages").to_pylist()
    hours = _fixed_size_rows(profiles.column("hour_shares"), np.float64)
    cards: list[dict[str, Any]] = []
    for number in range(len(sizes)):
        rows = np.flatnonzero(segment == number)
        hour_mass = hours[rows].sum(axis=0)
        cards.append({
            "segment": number,
            "size": len(rows),
            "top_interests": _top(Counter(tag for row in rows for tag in tags[row]), 5),
            "languages": _top(Counter(lang for row in rows for lang in langs[row]), 3),
            "peak_hours": [int(hour) for hour in np.argsort(-hour_mass, kind="stable")[:3] if hour_mass[hour] > 0],
            "what_works": works[number],
        })
    return AudienceSegments(assignments, pa.Table.from_pylist(cards, schema=_CARD_SCHEMA), found.silhouette,
                            found.k if found.rejected else None, found.searched_rows)


_CARD_SCHEMA = pa.schema([("segment", pa.int64()), ("size", pa.int64()), ("top_interests", pa.list_(pa.string())),
                          ("languages", pa.list_(pa.string())), ("peak_hours", pa.list_(pa.int64())),
                          ("what_works", pa.list_(pa.string()))])


def profiles_section(profiles: pa.Table, segments: AudienceSegments, *, note: str | None = None) -> ReportSection:
    """The report's "profiles" card: how many users were profiled and one row per audience segment; ``note`` (on
    a sample the embeddings came from, say) is shown under them.

    Examples:
        >>> cards = pa.table({"segment": [0], "size": [3], "top_interests": [["a"]], "languages": [["en"]],
        ...                   "peak_hours": [[9]], "what_works": [["image x1.50"]]})
        >>> profiles = pa.table({"user_id": ["x", "y", "z"], "embedding_missing": [False, False, True]})
        >>> section = profiles_section(profiles, AudienceSegments(pa.table({"user_id": ["x"]}), cards, float("nan")))
        >>> section.key, section.blocks[0].values["segments"]
        ('profiles', 1)
    """
    from socialfusion.report import Metrics, ReportSection, Table, Text

    missing = int(pc.sum(profiles.column("embedding_missing")).as_py() or 0)
    rows = [{**row, **{name: ", ".join(str(value) for value in row[name])
                       for name in ("top_interests", "languages", "peak_hours", "what_works")}}
            for row in segments.cards.to_pylist()]
    largest = rows[0] if rows else None
    silhouette = None if np.isnan(segments.silhouette) else round(segments.silhouette, 4)
    sampled = [] if not segments.searched_users or segments.searched_users >= profiles.num_rows else [Text(
        f"The number of segments and the silhouette come from a seeded sample of {segments.searched_users:,} of "
        f"{profiles.num_rows:,} users, stratified by activity; every user then joins the nearest segment centre.")]
    sampled += [Text(note)] if note else []
    if segments.rejected_k is not None:
        found = segments.describe()
        return ReportSection(
            title="User profiles and audience segments", key="profiles",
            summary=f"{profiles.num_rows:,} users; {found}.",
            blocks=[Metrics({"users": profiles.num_rows, "without text embedding": missing, "segments": 0,
                             "best silhouette": silhouette}),
                    Text(f"{found[0].upper()}{found[1:]}: the users' embeddings, active hours and hashtags do not "
                         "fall into groups any better than the same features shuffled across users, so no audience "
                         "segments are shown."),
                    Table(rows, caption="All users together: interests, languages, peak hours (UTC) and the "
                                        "content traits with the highest engagement lift."), *sampled],
        )
    summary = (f"{profiles.num_rows:,} users in {len(rows)} audience segments; the largest ({largest['size']:,} users) "
               f"is into {largest['top_interests'] or 'no hashtags'}." if largest else "No segments.")
    return ReportSection(
        title="User profiles and audience segments", key="profiles", summary=summary,
        blocks=[Metrics({"users": profiles.num_rows, "without text embedding": missing, "segments": len(rows),
                         "silhouette": silhouette}),
                Table(rows, caption="Segments: interests, languages, peak hours (UTC; none where the data gives dates "
                                    "only) and the content traits with the highest engagement lift among the "
                                    "segment's members."), *sampled],
    )
