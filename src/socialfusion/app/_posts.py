"""Operations on posts: filtered, paginated queries; one post in detail; search; more like this post."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator

from socialfusion.app._common import Identifier, K, Params, Result, cached, clean, parse_extra
from socialfusion.search import QUERY_ENCODERS, lookup_upkeep
from socialfusion.store import Store

__all__ = [
    "FeaturePresence",
    "MediaReference",
    "Post",
    "PostDetail",
    "PostPage",
    "PostQuery",
    "PostSentiment",
    "PostTopic",
    "SearchHit",
    "SearchParams",
    "SearchResult",
    "SimilarPostsParams",
    "SimilarPostsResult",
    "get_post",
    "query_posts",
    "search_posts",
    "similar_posts",
]


class MediaReference(Result):
    """A media item of a post (its bytes are never returned)."""

    kind: str
    uri: str | None = None
    sha256: str | None = None
    mime: str | None = None
    size_bytes: int | None = None
    error: str | None = None


class Post(Result):
    """A stored post."""

    post_id: str
    author_id: str | None = None
    created_at: dt.datetime | None = None
    text: str | None = None
    lang: str | None = None
    media: list[MediaReference] = []
    reply_to: str | None = None
    reshare_of: str | None = None
    quote_of: str | None = None
    hashtags: list[str] = []
    mentions: list[str] = []
    urls: list[str] = []
    platform: str | None = None
    like_count: int | None = None
    share_count: int | None = None
    reply_count: int | None = None
    view_count: int | None = None
    extra: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Post:
        """A post from a row of the posts table (``socialfusion.query.posts_by_id``)."""
        values = {name: value for name, value in row.items() if name in cls.model_fields}
        for name in ("media", "hashtags", "mentions", "urls"):
            values[name] = values.get(name) or []
        values["extra"] = parse_extra(row.get("extra"))
        return cls(**values)


class PostQuery(Params):
    """Filters of a post query (all optional; every one given must hold) and the page wanted."""

    since: dt.datetime | None = Field(None, description="Created at or after (ISO 8601; no zone means UTC).")
    until: dt.datetime | None = Field(None, description="Created before.")
    author_id: Identifier | None = None
    hashtag: str | None = Field(None, min_length=1, max_length=200, description="With or without #.")
    lang: str | None = Field(None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    topic_id: int | None = Field(None, ge=-1, le=1_000_000, description="Topic of the store's topic model.")
    sentiment: str | None = Field(None, min_length=1, max_length=64, description="Stored predicted label.")
    has: Literal["text", "image", "video", "audio"] | None = Field(None, description="A modality the post has.")
    limit: K = 50
    cursor: str | None = Field(None, max_length=1024, description="The next_cursor of the previous page.")

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            from socialfusion.query import decode_cursor

            decode_cursor(value)
        return value


class PostPage(Result):
    """One page of posts, newest first; ``next_cursor`` is None on the last page."""

    posts: list[Post]
    next_cursor: str | None


def query_posts(store: Store, params: PostQuery) -> PostPage:
    """Posts matching the filters, newest first, one page at a time (``socialfusion.query.find_posts``)."""
    from socialfusion.query import find_posts

    lookup_upkeep(store)
    page = find_posts(
        store,
        since=params.since,
        until=params.until,
        author_id=params.author_id,
        hashtag=params.hashtag,
        lang=params.lang,
        topic_id=params.topic_id,
        sentiment=params.sentiment,
        has=params.has,
        limit=params.limit,
        after=params.cursor,
    )
    return PostPage(posts=[Post.from_row(row) for row in page.posts.to_pylist()], next_cursor=page.next_cursor)


class FeaturePresence(Result):
    """Whether an encoder's features hold the post, and why it is missing if so."""

    encoder: str
    missing: bool
    reason: str | None = None


class PostSentiment(Result):
    """A stored sentiment prediction."""

    label: str
    confidence: float | None = None
    model: str | None = None
    probabilities: dict[str, float] | None = None


class PostTopic(Result):
    """The topic the store's topic model assigned."""

    topic_id: int
    label: str | None = None
    distance: float | None = None


class PostDetail(Result):
    """A post with its features, predicted sentiment and topic."""

    post: Post
    features: list[FeaturePresence]
    sentiment: PostSentiment | None = None
    topic: PostTopic | None = None


def get_post(store: Store, post_id: str) -> PostDetail:
    """One post with what the store knows of it (``socialfusion.query.post_details``).

    Raises:
        NotFoundError: no post has this id.
    """
    from socialfusion.query import post_details

    lookup_upkeep(store)
    details = clean(post_details(store, post_id))
    return PostDetail(
        post=Post.from_row(details["post"]),
        features=details["features"],
        sentiment=details["sentiment"],
        topic=details["topic"],
    )


class SearchParams(Params):
    """A search over the posts."""

    query: str = Field(min_length=1, max_length=1000, description="Words to look for.")
    mode: Literal["semantic", "keyword", "hybrid"] = Field(
        "hybrid", description="semantic: nearest text vectors; keyword: BM25; hybrid: both, fused by rank."
    )
    k: K = 10
    encoder: Literal[QUERY_ENCODERS] | None = Field(
        None, description="Text encoder of the semantic part; default: the first the store has features of."
    )


class SearchHit(Result):
    """A post found, with its rank and score (cosine similarity, BM25, or fused reciprocal-rank score)."""

    rank: int
    score: float
    post: Post


class SearchResult(Result):
    """Posts found, best first."""

    mode: str
    hits: list[SearchHit]


def _hits(store: Store, ranked) -> list[SearchHit]:
    from socialfusion.query import posts_by_id

    lookup_upkeep(store)
    posts = {row["post_id"]: row for row in posts_by_id(store, ranked.column("post_id").to_pylist()).to_pylist()}
    return [
        SearchHit(rank=rank, score=clean(score) or 0.0, post=Post.from_row(posts[post_id]))
        for rank, (post_id, score) in enumerate(
            zip(ranked.column("post_id").to_pylist(), ranked.column("score").to_pylist()), start=1
        )
        if post_id in posts
    ]


def search_posts(store: Store, params: SearchParams) -> SearchResult:
    """Semantic, keyword or hybrid search (``socialfusion.search``).

    Raises:
        DataError: a blank query.
        StoreError: no text features to search semantically (the message says how to make them).
    """
    from socialfusion import search

    if params.mode == "semantic":
        ranked = search.semantic_search(store, params.query, k=params.k, encoder=params.encoder)
    elif params.mode == "keyword":
        ranked = search.keyword_search(store, params.query, k=params.k)
    else:
        ranked = search.hybrid_search(store, params.query, k=params.k, encoder=params.encoder)
    return SearchResult(mode=params.mode, hits=_hits(store, ranked))


class SimilarPostsParams(Params):
    """How many posts like it, by which vector."""

    k: K = 10
    by: Literal["auto", "fused", "text"] = Field(
        "auto",
        description="fused: the post's vectors of every modality the store holds, side by side; text: its "
        "text vector; auto: fused when the store holds post vectors of two modalities or more.",
    )
    encoder: Literal[QUERY_ENCODERS] | None = Field(
        None, description="The text encoder; default: the first the store has features of."
    )


class SimilarPostsResult(SearchResult):
    """Posts like the post, best first, and the vector they were found by."""

    vector: Literal["fused", "text"] = Field(description="Which vector of the post was compared.")
    encoders: dict[str, str] = Field(description="Modality -> encoder of the vectors compared.")


def similar_posts(store: Store, post_id: str, params: SimilarPostsParams) -> SimilarPostsResult:
    """The posts nearest to this one by its fused vector (``socialfusion.search.more_like_this_fused``: exact, over
    every post's vectors held in memory until the features change) or its text vector
    (``socialfusion.search.more_like_this``: through the vector index).

    Raises:
        NotFoundError: no post has this id.
        DataError: the post has no vector.
        StoreError: no features to compare (``by="fused"``: fewer than two modalities).
    """
    from socialfusion import search
    from socialfusion.exceptions import StoreError
    from socialfusion.featurize import feature_table

    encoders = search.post_encoders(store)
    if params.encoder is not None:
        search.search_encoder(store, params.encoder)  # the store has its features, or a StoreError says so
        encoders["text"] = params.encoder
    fused = params.by == "fused" or (params.by == "auto" and len(encoders) > 1)
    if not fused:
        ranked = search.more_like_this(store, post_id, k=params.k, encoder=params.encoder)
        encoders = {"text": search.search_encoder(store, params.encoder)}
    else:
        if len(encoders) < 2:
            raise StoreError(
                f"no fused vectors in {store.uri!r}: it holds post features of {sorted(encoders) or 'no'} "
                "modality; featurize an image, video or audio encoder too, or ask by='text'"
            )
        tables = ["posts", *(feature_table(name) for name in encoders.values())]
        ids, vectors = cached(
            store, tables, ("fused-posts", encoders), lambda: search.fused_post_vectors(store, encoders)
        )
        ranked = search.more_like_this_fused(ids, vectors, post_id, k=params.k)
    return SimilarPostsResult(
        mode="semantic", hits=_hits(store, ranked), vector="fused" if fused else "text", encoders=encoders
    )
