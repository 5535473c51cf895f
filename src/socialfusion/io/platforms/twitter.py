"""Reader for X/Twitter API v2 responses: tweets, their authors, their media and the tweets they reference."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from socialfusion.io._base import SourceRecord, register_reader
from socialfusion.io.platforms._common import (
    JsonValue,
    RecordBuilder,
    as_array,
    as_object,
    head_value,
    iter_json_values,
    join_location,
    leftovers,
    objects_in,
)

__all__ = ["TwitterReader"]

_PAGE_KEYS = ("data", "includes", "meta", "errors")
_REFERENCE_FIELDS = {"replied_to": "reply_to", "retweeted": "reshare_of", "quoted": "quote_of"}
_MEDIA_KINDS = {"photo": "image", "video": "video", "animated_gif": "video"}
_POST_METRICS = {
    "like_count": "like_count",
    "retweet_count": "share_count",
    "reply_count": "reply_count",
    "impression_count": "view_count",
}
_TWEET_FIELDS_MAPPED = frozenset(
    {"id", "author_id", "created_at", "text", "note_tweet", "lang", "entities", "attachments",
     "referenced_tweets", "public_metrics"}
)
_ENTITIES_MAPPED = frozenset({"hashtags", "mentions", "urls"})
_USER_FIELDS = {
    "id": "user_id",
    "username": "handle",
    "name": "display_name",
    "created_at": "created_at",
    "description": "profile_text",
    "location": "location",
    "verified": "verified",
}
_USER_METRICS = ("followers_count", "following_count")
_INCLUDES_OBJECT = re.compile(rb'"includes"\s*:\s*\{\s*"(users|tweets|media|places|polls)"\s*:\s*\[')


def _id_text(tweet: Mapping[str, Any]) -> str | None:
    """A tweet's id as text, to match copies of it; None when the id is an array or object (validation names it).

    ``str()`` of a value nested a thousand levels deep raises RecursionError, and this runs outside the guard
    that turns one bad tweet into one reject.
    """
    tweet_id = tweet.get("id")
    return None if isinstance(tweet_id, (list, dict)) else str(tweet_id)


def _is_response_page(value: Any) -> bool:
    return isinstance(value, dict) and any(key in value for key in _PAGE_KEYS)


def _media_item(media: Mapping[str, Any]) -> dict[str, Any] | None:
    """A photo by its url; a video or GIF by its best MP4 variant, else by its preview image (as an image)."""
    kind = _MEDIA_KINDS.get(media.get("type"))
    if kind == "image" and media.get("url"):
        return {"kind": "image", "uri": media["url"]}
    if kind == "video":
        mp4s = [variant for variant in objects_in(media.get("variants"))
                if variant.get("content_type") == "video/mp4" and variant.get("url")]
        if mp4s:
            best = max(mp4s, key=lambda variant: variant.get("bit_rate") or 0)
            return {"kind": "video", "uri": best["url"], "mime": "video/mp4"}
        if media.get("preview_image_url"):
            return {"kind": "image", "uri": media["preview_image_url"]}
    return None


def _entities(tweet: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entities of the full text (a long tweet's ``note_tweet``), None when the response has none."""
    note_entities = as_object(tweet.get("note_tweet")).get("entities")
    entities = note_entities if isinstance(note_entities, dict) else tweet.get("entities")
    return entities if isinstance(entities, dict) else None


def _tweet_post(tweet: Mapping[str, Any], media_by_key: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    text = as_object(tweet.get("note_tweet")).get("text") or tweet.get("text")
    entities = _entities(tweet)
    references = {
        _REFERENCE_FIELDS[reference["type"]]: reference.get("id")
        for reference in objects_in(tweet.get("referenced_tweets"))
        if reference.get("type") in _REFERENCE_FIELDS
    }
    metrics = as_object(tweet.get("public_metrics"))
    extra = leftovers(tweet, _TWEET_FIELDS_MAPPED)
    if metrics_left := leftovers(metrics, _POST_METRICS):
        extra["public_metrics"] = metrics_left
    post = {
        "post_id": tweet.get("id"),
        "author_id": tweet.get("author_id"),
        "created_at": tweet.get("created_at"),
        "text": text,
        "lang": tweet.get("lang"),
        "media": [],
        **references,
        **{field: metrics.get(metric) for metric, field in _POST_METRICS.items()},
        "extra": extra,
    }
    if "reshare_of" in references:
        # A retweet's text is "RT @author: " and a truncated copy of the original: keep it out of the corpus.
        extra["retweet_text"] = text
        post.update(text="", hashtags=[], mentions=[], urls=[])
        return post
    if entities is not None:
        if entities_left := leftovers(entities, _ENTITIES_MAPPED):
            extra["entities"] = entities_left
        post["hashtags"] = [tag["tag"] for tag in objects_in(entities.get("hashtags")) if tag.get("tag")]
        post["mentions"] = [mention["username"] for mention in objects_in(entities.get("mentions"))
                            if mention.get("username")]
        # Links to the tweet's own photos and videos (pic.x.com) carry a media_key: they are media, not urls.
        post["urls"] = [url.get("expanded_url") or url["url"] for url in objects_in(entities.get("urls"))
                        if (url.get("expanded_url") or url.get("url")) and "media_key" not in url]
    for media_key in as_array(as_object(tweet.get("attachments")).get("media_keys")):
        if media_key in media_by_key and (item := _media_item(media_by_key[media_key])):
            post["media"].append(item)
    return post


def _user(user: Mapping[str, Any]) -> dict[str, Any]:
    metrics = as_object(user.get("public_metrics"))
    extra = leftovers(user, {*_USER_FIELDS, "public_metrics"})
    if metrics_left := leftovers(metrics, _USER_METRICS):
        extra["public_metrics"] = metrics_left
    return {
        **{field: user.get(key) for key, field in _USER_FIELDS.items()},
        **{metric: metrics.get(metric) for metric in _USER_METRICS},
        "extra": extra,
    }


@register_reader("twitter", sniff_priority=30)
class TwitterReader:
    """X/Twitter API v2 responses (``{"data": [...], "includes": {...}, "meta": {...}}``).

    The file is one response (loaded whole, as the API returns it) or JSON Lines with one response page per
    line (paginated dumps, streamed). Tweets in ``data`` and ``includes.tweets`` become posts,
    ``includes.users`` become users, and each tweet gives a ``reply`` edge to the user it answers and a
    ``mention`` edge to each mentioned user whose id is given. A referenced tweet may come without its media
    in ``includes.tweets``, so the copy in ``data`` wins: an ``includes`` copy of a tweet already read from
    ``data`` is skipped, and a ``data`` copy read later is emitted after it (the store keeps the last). The
    ids of the tweets read from ``data`` and of the users emitted are kept in memory for the whole file.

    Mapping: ``note_tweet.text`` wins over the truncated ``text``; ``referenced_tweets`` replied_to/
    retweeted/quoted -> ``reply_to``/``reshare_of``/``quote_of``; media from ``includes.media`` (photo ->
    image by ``url``, video and animated_gif -> video by the highest-bit-rate MP4 variant, or their preview
    image when no variant is given); ``public_metrics`` like/retweet/reply/impression counts -> like/share/
    reply/view counts. Every other tweet field (``conversation_id``, ``in_reply_to_user_id``,
    ``quote_count``, ...) goes to ``extra``. A retweet is a pure reshare: empty text and no entities, its
    "RT @..." text kept in ``extra.retweet_text``. ``column_map`` and ``table`` do not apply: the tables
    come from the response.
    """

    name = "twitter"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        records = RecordBuilder(str(path), "twitter")
        primary_ids: set[str] = set()
        pages = iter_json_values(
            path, platform="X/Twitter API v2", looks_like=_is_response_page,
            expected='an API v2 response object with "data" or "includes"',
        )
        for page in pages:
            if isinstance(page, SourceRecord):
                yield page
            else:
                yield from self.read_page(page, records, primary_ids)

    def read_page(self, page: JsonValue, records: RecordBuilder,
                  primary_ids: set[str]) -> Iterator[SourceRecord]:
        """Records of one response page; ``primary_ids``: ids of the tweets read from ``data`` so far (the
        collector reads API pages with it)."""
        includes = as_object(page.value.get("includes"))
        media_by_key = {media["media_key"]: media for media in objects_in(includes.get("media"))
                        if isinstance(media.get("media_key"), str)}
        data = page.value.get("data")
        # A single-tweet lookup (GET /2/tweets/:id) answers {"data": {tweet}}.
        tweets = [("data", data)] if isinstance(data, dict) else [
            (f"data[{index}]", tweet) for index, tweet in enumerate(as_array(data))
        ]
        primary_ids.update(key for _, tweet in tweets if isinstance(tweet, dict) and (key := _id_text(tweet)))
        tweets += [
            (f"includes.tweets[{index}]", tweet)
            for index, tweet in enumerate(as_array(includes.get("tweets")))
            if not (isinstance(tweet, dict) and _id_text(tweet) in primary_ids)
        ]
        for path_in_page, tweet in tweets:
            location = join_location(page.location, path_in_page)
            if not isinstance(tweet, dict):
                reason = f"a tweet must be a JSON object, got {type(tweet).__name__}"
                yield records.reject(location, reason, tweet)
                continue
            produced = self._read_tweet(tweet, location, media_by_key, records)
            yield from records.guarded(location, tweet, produced)
        for index, user in enumerate(as_array(includes.get("users"))):
            location = join_location(page.location, f"includes.users[{index}]")
            if not isinstance(user, dict):
                reason = f"a user must be a JSON object, got {type(user).__name__}"
                yield records.reject(location, reason, user, "users")
                continue
            yield from records.user(location, _user(user))

    def _read_tweet(self, tweet: Mapping[str, Any], location: str, media_by_key: Mapping[str, dict[str, Any]],
                    records: RecordBuilder) -> Iterator[SourceRecord]:
        """The post of one tweet and its reply and mention edges."""
        post = _tweet_post(tweet, media_by_key)
        yield records.post(location, post)
        author_id, created_at = tweet.get("author_id"), tweet.get("created_at")
        yield from records.edge(location, author_id, tweet.get("in_reply_to_user_id"), "reply", created_at)
        if "reshare_of" not in post:
            for mention in objects_in(as_object(_entities(tweet)).get("mentions")):
                yield from records.edge(location, author_id, mention.get("id"), "mention", created_at)

    def sniff(self, path: Path, head: bytes) -> bool:
        first_tweet = head_value(head, "data")
        if isinstance(first_tweet, dict) and "id" in first_tweet and "text" in first_tweet:
            return True
        return _INCLUDES_OBJECT.search(head) is not None
