"""Reader for Bluesky author feeds (app.bsky.feed.getAuthorFeed): posts, reposts, authors, facets, embeds."""

from __future__ import annotations

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
    objects_in,
    pick,
)

__all__ = ["BlueskyReader"]

_POST_COLLECTION = "app.bsky.feed.post"
_REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
_FACET_MENTION = "app.bsky.richtext.facet#mention"
_FACET_LINK = "app.bsky.richtext.facet#link"
_FACET_TAG = "app.bsky.richtext.facet#tag"
_EMBED_IMAGES = "app.bsky.embed.images"
_EMBED_VIDEO = "app.bsky.embed.video"
_EMBED_RECORD = "app.bsky.embed.record"
_EMBED_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"
_EMBED_EXTERNAL = "app.bsky.embed.external"
_POST_EXTRA = ("cid", "indexedAt", "quoteCount")


def _is_feed_page(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("feed"), list)


def _is_post_view(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return isinstance(value.get("uri"), str) and isinstance(value.get("record"), dict)


def _did_of(at_uri: Any) -> str | None:
    """The repository (author) DID of an ``at://did/collection/rkey`` URI."""
    if isinstance(at_uri, str) and at_uri.startswith("at://"):
        return at_uri.removeprefix("at://").split("/", 1)[0] or None
    return None


def _is_post_uri(at_uri: Any) -> bool:
    return isinstance(at_uri, str) and at_uri.startswith("at://") and f"/{_POST_COLLECTION}/" in at_uri


def _blob_media(kind: str, blob: Any, did: str | None) -> dict[str, Any] | None:
    """A media item referencing a blob of the author's repository (``at-blob://did/cid``), never fetched."""
    blob = as_object(blob)
    # Current blobs carry {"ref": {"$link": cid}}; records written before 2023 carry {"cid": cid}.
    cid = as_object(blob.get("ref")).get("$link") or blob.get("cid")
    if not cid or not did:
        return None
    uri = f"at-blob://{did}/{cid}"
    return {"kind": kind, "uri": uri, "mime": blob.get("mimeType"), "size_bytes": blob.get("size")}


def _add_embed(post: dict[str, Any], embed: Any, did: str | None) -> None:
    """Put what a record's embed holds into ``post``: media, the quoted post or the linked page."""
    embed = as_object(embed)
    kind = embed.get("$type")
    if kind == _EMBED_IMAGES:
        images = (_blob_media("image", image.get("image"), did) for image in objects_in(embed.get("images")))
        post["media"].extend(image for image in images if image)
    elif kind == _EMBED_VIDEO:
        if video := _blob_media("video", embed.get("video"), did):
            post["media"].append(video)
    elif kind == _EMBED_RECORD:
        embedded_uri = as_object(embed.get("record")).get("uri")
        if _is_post_uri(embedded_uri):
            post["quote_of"] = embedded_uri
        elif embedded_uri:
            post["extra"]["embedded_record"] = embedded_uri  # a feed generator, list or starter pack
    elif kind == _EMBED_RECORD_WITH_MEDIA:
        _add_embed(post, embed.get("record"), did)
        _add_embed(post, embed.get("media"), did)
    elif kind == _EMBED_EXTERNAL:
        if link := as_object(embed.get("external")).get("uri"):
            post["urls"].append(link)


def _mentioned_handle(text_bytes: bytes, index: Mapping[str, Any]) -> str | None:
    """The ``@handle`` a facet covers (facet offsets count UTF-8 bytes), without its ``@``."""
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    try:
        return text_bytes[start:end].decode("utf-8").removeprefix("@") or None
    except UnicodeDecodeError:
        return None


def _post_view_post(view: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The post of a PostView and the DIDs it mentions."""
    record = as_object(view.get("record"))
    author_did = as_object(view.get("author")).get("did")
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    langs = as_array(record.get("langs"))
    reply = as_object(record.get("reply"))
    post = {
        "post_id": view.get("uri"),
        "author_id": author_did,
        "created_at": record.get("createdAt"),
        "text": text,
        "lang": langs[0] if langs else None,
        "media": [],
        "reply_to": as_object(reply.get("parent")).get("uri"),
        "hashtags": [],
        "mentions": [],
        "urls": [],
        "like_count": view.get("likeCount"),
        "share_count": view.get("repostCount"),
        "reply_count": view.get("replyCount"),
        "extra": pick(view, _POST_EXTRA),
    }
    if thread_root := as_object(reply.get("root")).get("uri"):
        post["extra"]["reply_root"] = thread_root
    mentioned_dids = []
    text_bytes = text.encode("utf-8")
    for facet in objects_in(record.get("facets")):
        for feature in objects_in(facet.get("features")):
            kind = feature.get("$type")
            if kind == _FACET_MENTION and feature.get("did"):
                mentioned_dids.append(feature["did"])
                handle = _mentioned_handle(text_bytes, as_object(facet.get("index")))
                post["mentions"].append(handle or feature["did"])
            elif kind == _FACET_LINK and feature.get("uri"):
                post["urls"].append(feature["uri"])
            elif kind == _FACET_TAG and feature.get("tag"):
                post["hashtags"].append(feature["tag"])
    _add_embed(post, record.get("embed"), author_did)
    return post, mentioned_dids


def _profile_user(profile: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": profile.get("did"),
        "handle": profile.get("handle"),
        "display_name": profile.get("displayName") or None,
        "created_at": profile.get("createdAt"),
        "profile_text": profile.get("description"),
        "followers_count": profile.get("followersCount"),
        "following_count": profile.get("followsCount"),
        "extra": pick(profile, ("avatar",)),
    }


@register_reader("bluesky", sniff_priority=40)
class BlueskyReader:
    """Bluesky ``app.bsky.feed.getAuthorFeed`` responses: ``{"feed": [{"post", "reply", "reason"}], ...}``.

    The file is one response (loaded whole, as the API returns it) or JSON Lines with one response page per
    line (streamed). Each feed item's ``post`` becomes a post whose id is its ``at://`` URI, and its author a
    user (id = DID). The posts of the item's ``reply`` context (parent, and root when it differs) are posts
    too. A ``reasonRepost`` item adds the repost itself: a reshare with id
    ``"{post uri}#repost-by-{reposter did}"``, author the reposter and ``created_at`` the repost's
    ``indexedAt``.

    Mapping: ``record.text``/``createdAt``/``langs[0]``; facets: mention -> ``mentions`` (the handle as
    written, and a ``mention`` edge to the DID), link -> ``urls``, tag -> ``hashtags``;
    ``record.reply.parent.uri`` -> ``reply_to`` (and a ``reply`` edge to the DID in that URI); embeds: images
    and video -> media referencing the blob as ``at-blob://{author did}/{blob cid}`` (a reference: the blob is
    never downloaded), a quoted post -> ``quote_of``, an external link -> ``urls``; like/repost/reply counts;
    ``cid``, ``indexedAt``, ``quoteCount`` and the thread root URI (``reply_root``) -> ``extra``.
    ``column_map`` and ``table`` do not apply.
    """

    name = "bluesky"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        records = RecordBuilder(str(path), "bluesky")
        pages = iter_json_values(
            path, platform="Bluesky", looks_like=_is_feed_page,
            expected='an app.bsky.feed.getAuthorFeed response (an object with a "feed" array)',
        )
        for page in pages:
            if isinstance(page, SourceRecord):
                yield page
            else:
                yield from self.read_page(page, records)

    def read_page(self, page: JsonValue, records: RecordBuilder) -> Iterator[SourceRecord]:
        """The records of one response page (``{"feed": [...]}``; the collector reads API pages with it)."""
        for index, item in enumerate(page.value["feed"]):
            location = join_location(page.location, f"feed[{index}]")
            if not _is_post_view(as_object(item).get("post")):
                yield records.reject(location, 'a feed item must be an object with a "post" view', item)
                continue
            yield from records.guarded(location, item, self._read_feed_item(item, location, records))

    def _read_feed_item(self, item: Mapping[str, Any], location: str,
                        records: RecordBuilder) -> Iterator[SourceRecord]:
        """The item's post, the posts of its reply context and, for a repost, the repost itself."""
        view = item["post"]
        yield from self._read_post_view(view, location, "post.author", records)
        uris_read = {view["uri"]}
        for part in ("parent", "root"):
            context = as_object(item.get("reply")).get(part)
            if _is_post_view(context) and context["uri"] not in uris_read:
                uris_read.add(context["uri"])
                context_location = join_location(location, f"reply.{part}")
                yield from self._read_post_view(context, context_location, "author", records)
        yield from self._read_repost(as_object(item.get("reason")), view["uri"], location, records)

    def _read_repost(self, reason: Mapping[str, Any], post_uri: str, location: str,
                     records: RecordBuilder) -> Iterator[SourceRecord]:
        """The repost that a feed item's ``reason`` records, if it is one, and the reposter as a user."""
        if reason.get("$type") != _REASON_REPOST:
            return
        reposter = as_object(reason.get("by"))
        if not reposter.get("did"):
            reason_location = join_location(location, "reason")
            yield records.reject(reason_location, "a repost must name its reposter's did", reason)
            return
        yield from records.user(join_location(location, "reason.by"), _profile_user(reposter))
        repost = {
            "post_id": f"{post_uri}#repost-by-{reposter['did']}",
            "author_id": reposter["did"],
            "created_at": reason.get("indexedAt"),
            "text": "",
            "reshare_of": post_uri,
        }
        yield records.post(join_location(location, "reason"), repost)

    def _read_post_view(self, view: Mapping[str, Any], location: str, author_part: str,
                        records: RecordBuilder) -> Iterator[SourceRecord]:
        author = as_object(view.get("author"))
        yield from records.user(join_location(location, author_part), _profile_user(author))
        post, mentioned_dids = _post_view_post(view)
        yield records.post(location, post)
        replied_did = _did_of(post["reply_to"])
        yield from records.edge(location, author.get("did"), replied_did, "reply", post["created_at"])
        for did in mentioned_dids:
            yield from records.edge(location, author.get("did"), did, "mention", post["created_at"])

    def sniff(self, path: Path, head: bytes) -> bool:
        item = head_value(head, "feed")
        return isinstance(item, dict) and str(as_object(item.get("post")).get("uri", "")).startswith("at://")
