"""Reader for Reddit dumps in Pushshift's NDJSON: submissions and comments, one per line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from socialfusion.io._base import SourceRecord, register_reader
from socialfusion.io.platforms._common import RecordBuilder, as_object, iter_json_values, pick

__all__ = ["RedditReader"]

_REMOVED_TEXTS = frozenset({"[removed]", "[deleted]"})
_DELETED_AUTHOR = "[deleted]"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
_VIDEO_SUFFIXES = (".mp4",)
_EXTRA = ("subreddit", "subreddit_id", "permalink", "link_id", "is_self", "over_18", "score")
_SNIFF_LINES = 20


def _is_reddit_item(value: Any) -> bool:
    return isinstance(value, dict) and ("title" in value or "body" in value)


def _without_kind(fullname: Any) -> Any:
    """``"t3_abc"`` -> ``"abc"``: Reddit fullnames prefix ids with their kind (t1 comment, t3 submission)."""
    if isinstance(fullname, str) and fullname[:1] == "t" and fullname[2:3] == "_":
        return fullname[3:]
    return fullname


def _utc_time(epoch_seconds: Any) -> Any:
    """Epoch seconds (a number or numeric string) as a UTC datetime; anything else is left for validation."""
    try:
        return dt.datetime.fromtimestamp(float(epoch_seconds), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return epoch_seconds


def _visible(text: Any) -> str:
    return "" if not isinstance(text, str) or text.strip() in _REMOVED_TEXTS else text


def _link_media(submission: Mapping[str, Any]) -> dict[str, Any] | None:
    """The image or video a link submission points to, or None for self posts and other links."""
    url = submission.get("url")
    if submission.get("is_self") is True or not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url)
    file_path, host, hint = parsed.path.lower(), parsed.hostname or "", submission.get("post_hint")
    if hint == "hosted:video" or host == "v.redd.it" or file_path.endswith(_VIDEO_SUFFIXES):
        # v.redd.it links are player pages; the MP4 itself is the fallback_url of the reddit_video.
        video_embed = as_object(submission.get("secure_media") or submission.get("media"))
        fallback_url = as_object(video_embed.get("reddit_video")).get("fallback_url")
        return {"kind": "video", "uri": fallback_url or url}
    if hint == "image" or host == "i.redd.it" or file_path.endswith(_IMAGE_SUFFIXES):
        return {"kind": "image", "uri": url}
    return None


def _post(item: Mapping[str, Any]) -> dict[str, Any]:
    score = item.get("score")
    post = {
        "post_id": item.get("id") or _without_kind(item.get("name")),
        "author_id": item.get("author"),
        "created_at": _utc_time(item.get("created_utc")),
        # Reddit's score is upvotes minus downvotes and may be negative; extra keeps it as it is.
        "like_count": max(score, 0) if isinstance(score, int) else score,
        "extra": pick(item, _EXTRA),
    }
    if "body" in item:
        return {**post, "text": _visible(item.get("body")), "reply_to": _without_kind(item.get("parent_id"))}
    title, selftext = item.get("title") or "", _visible(item.get("selftext"))
    media = _link_media(item)
    post.update(
        text=f"{title}\n\n{selftext}" if selftext.strip() else title,
        media=[media] if media else [],
        reply_count=item.get("num_comments"),
    )
    if item.get("is_self") is False and media is None and item.get("url"):
        post["urls"] = [item["url"]]
    return post


def _user(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": item.get("author"),
        "handle": item.get("author"),
        "created_at": _utc_time(item.get("author_created_utc")),
        "extra": pick(item, ("author_fullname",)),
    }


@register_reader("reddit", sniff_priority=45)
class RedditReader:
    """Pushshift-style Reddit NDJSON: one submission (``title``/``selftext``) or comment (``body``) per line.

    Streamed line by line; a line that is not valid JSON, or not a submission or comment, becomes a reject
    with its line number. ``post_id`` is the bare ``id`` (no ``t1_``/``t3_`` prefix) and ``reply_to`` the bare
    ``parent_id``. A submission's text is its title, a blank line and its selftext; a ``[removed]`` or
    ``[deleted]`` body counts as empty, so a comment left with no text is a reject. ``author`` is the author
    id and handle (``[deleted]`` is kept on the post but gets no users row); ``created_utc`` epoch seconds
    become ``created_at``; ``score`` -> ``like_count`` (a negative score counts as 0; ``extra.score`` keeps
    it) and ``num_comments`` -> ``reply_count``. A link to an image or video (i.redd.it, v.redd.it, a .jpg/
    .png/.gif/.webp/.mp4 file, ``post_hint`` image or hosted:video) is a media item; any other link is in
    ``urls``. ``subreddit``, ``subreddit_id``, ``permalink``, ``link_id``, ``is_self``, ``over_18`` and
    ``score`` go to ``extra``. No edges: a line does not say whose comment a comment answers. ``column_map``
    and ``table`` do not apply.
    """

    name = "reddit"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        records = RecordBuilder(str(path), "reddit")
        lines = iter_json_values(
            path, platform="Reddit (Pushshift)", looks_like=_is_reddit_item, lines_only=True,
            expected='a submission (with "title") or a comment (with "body")',
        )
        for line in lines:
            if isinstance(line, SourceRecord):
                yield line
                continue
            produced = self.read_item(line.value, line.location, records)
            yield from records.guarded(line.location, line.value, produced)

    def read_item(self, item: Mapping[str, Any], location: str,
                  records: RecordBuilder) -> Iterator[SourceRecord]:
        """The post of one submission or comment and its author as a user (also what the collector reads the
        ``data`` of listing children with: Pushshift keeps the API's fields)."""
        post = _post(item)
        if not post["text"].strip() and not post.get("media"):
            reason = "nothing to keep: the text was removed or deleted and there is no media"
            yield records.reject(location, reason, item)
            return
        if item.get("author") != _DELETED_AUTHOR:
            yield from records.user(location, _user(item))
        yield records.post(location, post)

    def sniff(self, path: Path, head: bytes) -> bool:
        for line in head.splitlines()[:_SNIFF_LINES]:
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            return isinstance(item, dict) and "subreddit" in item and ("selftext" in item or "body" in item)
        return False
