"""Reader for Mastodon API statuses: toots, boosts, their accounts, media, mentions and replies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from socialfusion.io._base import SourceRecord, register_reader
from socialfusion.io.platforms._common import (
    JsonValue,
    RecordBuilder,
    as_object,
    head_value,
    html_to_text,
    iter_json_values,
    join_location,
    objects_in,
    pick,
)

__all__ = ["MastodonReader"]

_MEDIA_KINDS = {"image": "image", "gifv": "video", "video": "video", "audio": "audio"}
_POST_METRICS = {
    "favourites_count": "like_count",
    "reblogs_count": "share_count",
    "replies_count": "reply_count",
}
_STATUS_EXTRA = (
    "spoiler_text", "sensitive", "visibility", "url", "uri", "edited_at", "in_reply_to_account_id",
)
_ACCOUNT_EXTRA = ("username", "url", "bot", "locked", "statuses_count")


def _is_status(value: Any) -> bool:
    return isinstance(value, dict) and "account" in value


def _is_statuses(value: Any) -> bool:
    """A status, or an array of them (an empty timeline included)."""
    return _is_status(value) or (isinstance(value, list) and (not value or _is_status(value[0])))


def _media_item(attachment: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = _MEDIA_KINDS.get(attachment.get("type"))
    uri = attachment.get("url") or attachment.get("remote_url")
    return {"kind": kind, "uri": uri} if kind and uri else None


def _account_user(account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": account.get("id"),
        "handle": account.get("acct"),
        "display_name": account.get("display_name") or None,
        "created_at": account.get("created_at"),
        "followers_count": account.get("followers_count"),
        "following_count": account.get("following_count"),
        "profile_text": html_to_text(account.get("note")).text or None,
        "extra": pick(account, _ACCOUNT_EXTRA),
    }


@register_reader("mastodon", sniff_priority=35)
class MastodonReader:
    """Mastodon API Status entities: a JSON array (``/api/v1/accounts/:id/statuses``, timelines) or JSONL.

    A JSON array is loaded whole, as the API returns it; JSON Lines (one status, or one array of statuses,
    per line) are streamed. Each status becomes a post and its ``account`` a user (``handle`` is ``acct``:
    ``user`` for accounts of the server that answered, ``user@domain`` for others). The HTML ``content``
    becomes plain text, and its links that are not mentions or hashtags become ``urls``. A boost (``reblog``)
    gives two posts: the boosted status, and the boost itself as a reshare with empty text. A reply gives a
    ``reply`` edge to ``in_reply_to_account_id`` and each mention a ``mention`` edge to the mentioned account.

    Mapping: ``media_attachments`` image/gifv/video/audio (gifv -> video; ``unknown`` ones are skipped) by
    ``url`` (``remote_url`` when the server keeps no copy); ``tags[].name`` -> hashtags; ``mentions[].acct``
    -> mentions; favourites/reblogs/replies counts -> like/share/reply counts; ``spoiler_text``,
    ``sensitive``, ``visibility``, ``url``, ``uri``, ``edited_at`` and ``in_reply_to_account_id`` ->
    ``extra``. ``column_map`` and ``table`` do not apply.
    """

    name = "mastodon"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        records = RecordBuilder(str(path), "mastodon")
        values = iter_json_values(
            path, platform="Mastodon", looks_like=_is_statuses,
            expected='a Mastodon status (an object with "account") or an array of them',
        )
        for value in values:
            if isinstance(value, SourceRecord):
                yield value
            else:
                yield from self.read_page(value, records)

    def read_page(self, value: JsonValue, records: RecordBuilder) -> Iterator[SourceRecord]:
        """The records of one status or one array of statuses (an API page, as the collector receives it)."""
        if isinstance(value.value, dict):
            location = value.location or "status"
            produced = self._read_status(value.value, location, records)
            yield from records.guarded(location, value.value, produced)
            return
        for index, status in enumerate(value.value):
            location = join_location(value.location, f"[{index}]")
            if isinstance(status, dict):
                produced = self._read_status(status, location, records)
                yield from records.guarded(location, status, produced)
            else:
                reason = f"a status must be a JSON object, got {type(status).__name__}"
                yield records.reject(location, reason, status)

    def _read_status(self, status: Mapping[str, Any], location: str,
                     records: RecordBuilder) -> Iterator[SourceRecord]:
        account = as_object(status.get("account"))
        yield from records.user(join_location(location, "account"), _account_user(account))
        post = {
            "post_id": status.get("id"),
            "author_id": account.get("id"),
            "created_at": status.get("created_at"),
            **{field: status.get(count) for count, field in _POST_METRICS.items()},
            "extra": pick(status, _STATUS_EXTRA),
        }
        reblog = status.get("reblog")
        if isinstance(reblog, dict):
            yield from self._read_status(reblog, join_location(location, "reblog"), records)
            yield records.post(location, {**post, "text": "", "reshare_of": reblog.get("id")})
            return
        content = html_to_text(status.get("content"))
        mentions = objects_in(status.get("mentions"))
        post.update(
            text=content.text,
            lang=status.get("language"),
            media=[item for attachment in objects_in(status.get("media_attachments"))
                   if (item := _media_item(attachment))],
            reply_to=status.get("in_reply_to_id"),
            hashtags=[tag["name"] for tag in objects_in(status.get("tags")) if tag.get("name")],
            mentions=[mention["acct"] for mention in mentions if mention.get("acct")],
            urls=content.links,
        )
        yield records.post(location, post)
        yield from records.edge(location, account.get("id"), status.get("in_reply_to_account_id"), "reply",
                                status.get("created_at"))
        for mention in mentions:
            yield from records.edge(location, account.get("id"), mention.get("id"), "mention",
                                    status.get("created_at"))

    def sniff(self, path: Path, head: bytes) -> bool:
        status = head_value(head)
        return _is_status(status) and "content" in status and isinstance(status["account"], dict)
