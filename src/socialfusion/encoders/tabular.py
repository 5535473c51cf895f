"""Metadata encoders: fixed-size numeric features of posts (when, how long, what it carries, how it did) and users.

Every feature is finite: an absent value becomes 0 and sets an indicator column (``..._missing``), so that a
downstream model can tell "zero likes" from "like count unknown". Times are read in UTC; hours and weekdays are
cyclic (sin, cos), counts that grow without bound are ``log1p``-scaled. ``feature_names`` names the columns.

- ``tabular/post-metadata``: one row per post (a mapping as in ``posts.to_pylist()``, or the rows of a posts
  Arrow table). Needs no fitting; ``fit`` on a corpus (or a users table) adds the authors' follower and
  following counts.
- ``tabular/user-metadata``: one row per user id. ``fit`` on a corpus computes each user's aggregates: account
  age, follow counts, posting rate, posting hours, languages, profile length.

Examples:
    >>> encoder = PostMetadataEncoder()
    >>> encoded = encoder.encode([{"post_id": "p1", "text": "hi #a", "created_at": "2024-05-06T06:00:00Z",
    ...                            "hashtags": ["a"], "like_count": 3}])
    >>> features = dict(zip(encoder.feature_names, encoded.vectors[0].astype(float).round(3).tolist()))
    >>> features["hour_sin"], features["hour_cos"], features["hashtag_count"], features["share_count_missing"]
    (1.0, 0.0, 1.0, 1.0)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.encoders._base import Encoded, RowCollector, register_encoder, settings_version
from socialfusion.exceptions import ConfigurationError
from socialfusion.schema import MEDIA_KINDS

if TYPE_CHECKING:
    from socialfusion.corpus import Corpus

__all__ = ["PostMetadataEncoder", "UserMetadataEncoder"]

_PUBLIC_COUNTS = ("like_count", "share_count", "reply_count", "view_count")
_POST_COLUMNS = (
    "created_at", "text", "media", "reply_to", "reshare_of", "quote_of", "hashtags", "mentions", "urls",
    "author_id", *_PUBLIC_COUNTS,
)
_SECONDS_PER_DAY = 86_400.0
_HOUR_BINS = 6  # four-hour slices of the UTC day: night, early morning, morning, afternoon, evening, late evening


def _as_utc(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime from a datetime or an ISO 8601 string; None when absent or unreadable."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _cyclic(position: float, period: float) -> tuple[float, float]:
    """``(sin, cos)`` of ``position`` on a circle of ``period``."""
    angle = 2.0 * math.pi * position / period
    return math.sin(angle), math.cos(angle)


def _count_or_none(value: Any) -> float | None:
    """A non-negative count as float, or None when absent; raises ValueError for anything else."""
    if value is None:
        return None
    count = float(value)
    if not count >= 0.0 or math.isinf(count):
        raise ValueError(f"a count must be a non-negative number, got {value!r}")
    return count


def _length(values: Any) -> int:
    """The number of items of a list field (None: 0)."""
    return 0 if values is None else len(values)


def _follow_counts(users: pa.Table) -> dict[str, tuple[int | None, int | None]]:
    """user id -> (followers, following) from a users table (columns it lacks count as unknown)."""
    ids = users.column("user_id").to_pylist()
    columns = [users.column(name).to_pylist() if name in users.column_names else [None] * len(ids)
               for name in ("followers_count", "following_count")]
    return dict(zip(ids, zip(*columns)))


@register_encoder("tabular/post-metadata", modality="tabular")
class PostMetadataEncoder:
    """Numeric features of a post's metadata, with missing-value indicators.

    Columns (``feature_names``): posting hour and weekday as (sin, cos) in UTC (hour 6 -> (1, 0)) and
    ``created_at_missing``; ``log1p`` of the text length in characters; hashtag, mention and url counts;
    ``has_image``, ``has_video``, ``has_audio``; ``is_reply``, ``is_reshare``, ``is_quote``; ``log1p`` of the
    like, share, reply and view counts, each with a ``..._missing`` indicator; ``log1p`` of the author's
    follower and following counts (known after ``fit``), each with an indicator.

    A row that is not a mapping, or whose fields have the wrong type (a like count of ``"many"``), is a missing
    row with the reason.

    Examples:
        >>> from socialfusion.encoders import get_encoder
        >>> encoder = get_encoder("tabular/post-metadata")
        >>> encoder.dim == len(encoder.feature_names)
        True
    """

    name = "tabular/post-metadata"
    modality = "tabular"
    feature_names: tuple[str, ...] = (
        "hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "created_at_missing",
        "text_length_log1p", "hashtag_count", "mention_count", "url_count",
        *(f"has_{kind}" for kind in MEDIA_KINDS),
        "is_reply", "is_reshare", "is_quote",
        *(f"{count}_log1p" for count in _PUBLIC_COUNTS),
        *(f"{count}_missing" for count in _PUBLIC_COUNTS),
        "author_followers_log1p", "author_following_log1p", "author_followers_missing", "author_following_missing",
    )
    dim = len(feature_names)

    @property
    def version(self) -> str:
        """Changes with the feature set and with the follower counts learned by ``fit``."""
        return settings_version(self.name, self.feature_names, getattr(self, "users_fingerprint_", "no users"))

    def fit(self, data: Corpus | pa.Table) -> PostMetadataEncoder:
        """Learn the authors' follower and following counts.

        Args:
            data: a corpus (its ``users`` table is used) or a users Arrow table with ``user_id`` and, when known,
                ``followers_count`` and ``following_count``.

        Returns:
            self, with ``author_counts_`` (user id -> (followers, following), None where unknown) and
            ``users_fingerprint_`` set.

        Raises:
            ConfigurationError: ``data`` has no users table or no ``user_id`` column.
        """
        users = data if isinstance(data, pa.Table) else getattr(data, "users", None)
        if not isinstance(users, pa.Table) or "user_id" not in users.column_names:
            raise ConfigurationError(
                f"{self.name}.fit needs a corpus or a users table with a user_id column, got {type(data).__name__}"
            )
        self.author_counts_ = _follow_counts(users)
        digest = hashlib.blake2b(repr(sorted(self.author_counts_.items())).encode(), digest_size=8)
        self.users_fingerprint_ = digest.hexdigest()
        return self

    def encode(self, items: Sequence[Any] | pa.Table, *, batch_size: int = 32) -> Encoded:
        """Features of each post.

        Args:
            items: post mappings (fields of ``socialfusion.schema.Post``; absent fields count as missing), or a
                posts Arrow table.
            batch_size: unused (no model); part of the Encoder signature.

        Returns:
            ``Encoded`` with vectors ``(n_posts, dim)`` float32, columns ``feature_names``.
        """
        posts = _post_rows(items)
        author_counts = getattr(self, "author_counts_", {})
        rows = RowCollector(len(posts), self.dim)
        for index, post in enumerate(posts):
            if not isinstance(post, Mapping):
                rows.skip(index, f"not a post record: expected a mapping, got {type(post).__name__}")
                continue
            try:
                rows.put(index, self._features(post, author_counts))
            except (TypeError, ValueError) as error:
                rows.skip(index, f"unreadable post metadata: {error}")
        return rows.result()

    @staticmethod
    def _features(post: Mapping[str, Any], author_counts: Mapping[str, tuple[Any, Any]]) -> list[float]:
        """The ``feature_names`` values of one post, in order."""
        created_at = _as_utc(post.get("created_at"))
        if created_at is None:
            timing = [0.0, 0.0, 0.0, 0.0, 1.0]
        else:
            hour = created_at.hour + created_at.minute / 60 + created_at.second / 3600
            timing = [*_cyclic(hour, 24.0), *_cyclic(created_at.weekday(), 7.0), 0.0]
        media_kinds = {item.get("kind") for item in post.get("media") or () if isinstance(item, Mapping)}
        content = [
            math.log1p(len(post.get("text") or "")),
            *(float(_length(post.get(field))) for field in ("hashtags", "mentions", "urls")),
            *(float(kind in media_kinds) for kind in MEDIA_KINDS),
            *(float(post.get(field) is not None) for field in ("reply_to", "reshare_of", "quote_of")),
        ]
        counts = [_count_or_none(post.get(field)) for field in _PUBLIC_COUNTS]
        followers, following = author_counts.get(post.get("author_id"), (None, None))
        author = [_count_or_none(followers), _count_or_none(following)]
        return [
            *timing, *content,
            *(0.0 if count is None else math.log1p(count) for count in counts),
            *(float(count is None) for count in counts),
            *(0.0 if count is None else math.log1p(count) for count in author),
            *(float(count is None) for count in author),
        ]


def _post_rows(items: Sequence[Any] | pa.Table | pa.RecordBatch) -> list[Any]:
    """Post mappings from a sequence (as is) or an Arrow table (its metadata columns; media reduced to kinds)."""
    if not isinstance(items, (pa.Table, pa.RecordBatch)):
        return list(items)
    names = [name for name in _POST_COLUMNS if name in items.column_names and name != "media"]
    rows = items.select(names).to_pylist()
    if "media" in items.column_names:
        # Only the kinds matter: leave the media bytes in Arrow rather than copying them into Python.
        media = items.column("media")
        media = media.combine_chunks() if isinstance(media, pa.ChunkedArray) else media
        kinds = pa.ListArray.from_arrays(
            pc.subtract(media.offsets, media.offsets[0]), pc.struct_field(media.flatten(), "kind"),
            mask=media.is_null(),
        ).to_pylist()
        for row, row_kinds in zip(rows, kinds):
            row["media"] = [{"kind": kind} for kind in row_kinds or ()]
    return rows


@register_encoder("tabular/user-metadata", modality="tabular")
class UserMetadataEncoder:
    """Numeric features of a user's account and activity, aggregated over a corpus by ``fit``.

    Columns (``feature_names``):

    - ``account_age_days_log1p`` at ``reference_time`` and ``account_age_missing``;
    - ``followers_log1p``, ``following_log1p``, their ``..._missing`` indicators and ``follow_ratio_log``
      (``log((followers + 1) / (following + 1))``, 0 when either is unknown);
    - ``posts_per_day_log1p``: the user's posts over the corpus's span of post times (at least one day);
    - ``hour_share_00_04`` ... ``hour_share_20_24``: the shares of their timed posts in each four-hour slice of
      the UTC day, and ``no_posts`` for users without any post;
    - ``lang_share_<code>``: the shares of their posts in each of the ``n_languages`` languages commonest in the
      corpus (``lang_share_unused_<k>`` slots stay 0 when the corpus has fewer), and ``lang_share_other`` (other
      and unknown languages);
    - ``profile_text_length_log1p`` and ``profile_text_missing``.

    A user is known when the ``users`` table lists them or they wrote a post; other ids are missing rows.

    Args:
        reference_time: the time account ages are measured at (datetime or ISO string, UTC); None: the latest
            post time of the corpus (else the latest account creation), so that the features do not depend on
            when ``fit`` runs.
        n_languages: the number of language slots.

    Examples:
        >>> from socialfusion.corpus import Corpus
        >>> corpus = Corpus.from_records(users=[{"user_id": "u1", "followers_count": 9}],
        ...                              posts=[{"post_id": "p1", "author_id": "u1", "text": "hi", "lang": "en",
        ...                                      "created_at": "2024-01-01T09:30:00Z"}])
        >>> encoder = UserMetadataEncoder(n_languages=1).fit(corpus)
        >>> vector = encoder.encode(["u1"]).vectors[0].astype(float).round(2)
        >>> features = dict(zip(encoder.feature_names, vector.tolist()))
        >>> features["followers_log1p"], features["following_missing"], features["hour_share_08_12"]
        (2.3, 1.0, 1.0)
        >>> features["lang_share_en"], features["account_age_missing"]
        (1.0, 1.0)
    """

    name = "tabular/user-metadata"
    modality = "tabular"
    _LEADING = (
        "account_age_days_log1p", "account_age_missing",
        "followers_log1p", "following_log1p", "followers_missing", "following_missing", "follow_ratio_log",
        "posts_per_day_log1p",
        *(f"hour_share_{start:02d}_{start + 24 // _HOUR_BINS:02d}" for start in range(0, 24, 24 // _HOUR_BINS)),
        "no_posts",
    )
    _TRAILING = ("lang_share_other", "profile_text_length_log1p", "profile_text_missing")

    def __init__(self, reference_time: dt.datetime | str | None = None, n_languages: int = 5):
        self.reference_time = reference_time
        self.n_languages = n_languages

    @property
    def dim(self) -> int:
        """The number of columns (fixed by ``n_languages``, so known before ``fit``)."""
        return len(self._LEADING) + int(self.n_languages) + len(self._TRAILING)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names; the language columns are named after ``fit``."""
        languages = getattr(self, "languages_", ())
        slots = [f"lang_share_{code}" for code in languages]
        slots += [f"lang_share_unused_{k}" for k in range(len(languages) + 1, int(self.n_languages) + 1)]
        return (*self._LEADING, *slots, *self._TRAILING)

    @property
    def version(self) -> str:
        """Changes with the settings and with the aggregates learned by ``fit``."""
        return settings_version(self.name, self.feature_names, self.reference_time,
                                getattr(self, "features_fingerprint_", "unfitted"))

    def fit(self, corpus: Corpus) -> UserMetadataEncoder:
        """Compute every known user's features from the corpus's ``users`` and ``posts`` tables.

        Args:
            corpus: the corpus.

        Returns:
            self, with ``user_ids_`` ``(n_users,)``, ``features_`` ``(n_users, dim)`` float32, ``languages_``,
            ``reference_time_`` (None when the corpus has no times) and ``features_fingerprint_`` set.

        Raises:
            ConfigurationError: ``n_languages`` is negative or ``reference_time`` is not a time.
        """
        if int(self.n_languages) < 0:
            raise ConfigurationError(f"{self.name}: n_languages must be 0 or more, got {self.n_languages!r}")
        users, posts = corpus.users, corpus.posts
        authors = posts.column("author_id")
        known = pc.unique(pa.chunked_array(users.column("user_id").chunks + authors.chunks, pa.string()).drop_null())
        user_ids = pc.take(known, pc.array_sort_indices(known))
        reference = self._reference_time(users, posts)
        in_users = pc.index_in(user_ids, value_set=users.column("user_id").combine_chunks())
        user_rows = users.take(pc.fill_null(in_users, 0)).to_pydict() if users.num_rows else None
        listed = pc.is_valid(in_users).to_numpy(zero_copy_only=False)

        def account_column(name: str) -> list[Any]:
            if user_rows is None:
                return [None] * len(user_ids)
            return [value if is_listed else None for value, is_listed in zip(user_rows[name], listed)]

        author_code = pc.fill_null(pc.index_in(authors, value_set=user_ids), -1).to_numpy()
        languages = self._commonest_languages(posts)
        self.languages_ = languages
        features = np.column_stack([
            self._account_features(account_column("created_at"), account_column("followers_count"),
                                   account_column("following_count"), reference),
            self._activity_features(posts, author_code, len(user_ids), languages, int(self.n_languages)),
            self._profile_features(account_column("profile_text")),
        ]).astype(np.float32)
        self.user_ids_ = np.asarray(user_ids.to_pylist(), dtype=object)
        self.features_ = features
        self.reference_time_ = reference
        digest = hashlib.blake2b("\x1f".join(self.user_ids_.tolist()).encode() + features.tobytes(), digest_size=8)
        self.features_fingerprint_ = digest.hexdigest()
        self._row_of = {user_id: row for row, user_id in enumerate(self.user_ids_.tolist())}
        return self

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Features of each user.

        Args:
            items: user ids (str); None and ids the corpus does not know become missing rows.
            batch_size: unused (a lookup); part of the Encoder signature.

        Returns:
            ``Encoded`` with vectors ``(n_users, dim)`` float32, columns ``feature_names``.

        Raises:
            ConfigurationError: the encoder is not fitted.
        """
        if not hasattr(self, "features_"):
            raise ConfigurationError(f"{self.name} is not fitted: call fit(corpus) before encode")
        rows = RowCollector(len(items), self.dim)
        for index, user_id in enumerate(items):
            row = None if user_id is None else self._row_of.get(str(user_id))
            if user_id is None:
                rows.skip(index, "no input")
            elif row is None:
                rows.skip(index, "user not in the corpus")
            else:
                rows.put(index, self.features_[row])
        return rows.result()

    def _reference_time(self, users: pa.Table, posts: pa.Table) -> dt.datetime | None:
        if self.reference_time is not None:
            reference = _as_utc(self.reference_time)
            if reference is None:
                raise ConfigurationError(
                    f"{self.name}: reference_time must be a datetime or an ISO 8601 string, got {self.reference_time!r}"
                )
            return reference
        for table in (posts, users):
            latest = pc.max(table.column("created_at")).as_py()
            if latest is not None:
                return _as_utc(latest)
        return None

    def _commonest_languages(self, posts: pa.Table) -> tuple[str, ...]:
        """The ``n_languages`` commonest post languages, ties broken by code."""
        counts = pc.value_counts(posts.column("lang").drop_null()).to_pylist()
        ranked = sorted(counts, key=lambda entry: (-entry["counts"], entry["values"]))
        return tuple(entry["values"] for entry in ranked[:int(self.n_languages)])

    @staticmethod
    def _account_features(created_at: list[Any], followers: list[Any], following: list[Any],
                          reference: dt.datetime | None) -> np.ndarray:
        """``(n_users, 7)``: account age, follow counts with indicators, follow ratio."""
        rows = []
        for created, follower_count, following_count in zip(created_at, followers, following):
            created = _as_utc(created)
            if created is None or reference is None:
                age = [0.0, 1.0]
            else:
                age = [math.log1p(max(0.0, (reference - created).total_seconds() / _SECONDS_PER_DAY)), 0.0]
            scaled = [0.0 if count is None else math.log1p(count) for count in (follower_count, following_count)]
            unknown = [float(count is None) for count in (follower_count, following_count)]
            ratio = 0.0 if any(unknown) else scaled[0] - scaled[1]
            rows.append([*age, *scaled, *unknown, ratio])
        return np.array(rows, np.float64).reshape(len(created_at), 7)

    @staticmethod
    def _activity_features(posts: pa.Table, author_code: np.ndarray, n_users: int, languages: tuple[str, ...],
                           n_languages: int) -> np.ndarray:
        """``(n_users, 8 + n_languages + 1)``: posting rate, hour shares, no-posts flag, language shares.

        Args:
            posts: the posts table.
            author_code: ``(n_posts,)`` the row of each post's author, -1 for posts without a known author.
            n_users: the number of users.
            languages: the languages of the first language slots; the remaining slots stay 0.
            n_languages: the number of language slots (the "other" share comes after them).
        """
        authored = author_code >= 0
        code = author_code[authored]
        post_counts = np.bincount(code, minlength=n_users).astype(np.float64)

        timed = np.asarray(posts.column("created_at").is_valid())
        microseconds = pc.fill_null(pc.cast(posts.column("created_at"), pa.int64()), 0).to_numpy()
        seconds = microseconds / 1e6
        span_days = max(1.0, np.ptp(seconds[timed]) / _SECONDS_PER_DAY) if timed.any() else 1.0
        posts_per_day = np.log1p(post_counts / span_days)

        slice_of_day = ((seconds % _SECONDS_PER_DAY) // (_SECONDS_PER_DAY / _HOUR_BINS)).astype(np.int64)
        counted = authored & timed
        hours = np.bincount(author_code[counted] * _HOUR_BINS + slice_of_day[counted],
                            minlength=n_users * _HOUR_BINS).reshape(n_users, _HOUR_BINS)
        hour_shares = hours / np.maximum(hours.sum(axis=1, keepdims=True), 1)

        slots = n_languages + 1  # the last one: other or unknown languages
        language_slot = pc.fill_null(pc.index_in(posts.column("lang"), value_set=pa.array(languages, pa.string())),
                                     n_languages).to_numpy()[authored]
        language_counts = np.bincount(code * slots + language_slot, minlength=n_users * slots).reshape(n_users, slots)
        language_shares = language_counts / np.maximum(post_counts, 1.0)[:, None]
        return np.column_stack([posts_per_day, hour_shares, (post_counts == 0).astype(np.float64), language_shares])

    @staticmethod
    def _profile_features(profile_texts: list[Any]) -> np.ndarray:
        """``(n_users, 2)``: log1p of the profile text length and the missing indicator."""
        return np.array([[0.0, 1.0] if not text else [math.log1p(len(text)), 0.0] for text in profile_texts],
                        np.float64).reshape(len(profile_texts), 2)
