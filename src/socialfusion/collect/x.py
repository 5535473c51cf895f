"""X/Twitter API v2 connector: recent search and user timelines with a bearer token."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from socialfusion.collect._base import Connector, Item, Page, parse_time, register_connector
from socialfusion.collect._http import CollectError
from socialfusion.io._base import SourceRecord
from socialfusion.io.platforms._common import JsonValue, as_object
from socialfusion.io.platforms.twitter import TwitterReader

__all__ = ["XConnector"]

_ID_WIDTH = 20
_MIN_RESULTS = {"search": 10, "timeline": 5}
_FIELDS = {
    "expansions": "author_id,attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id,"
    "in_reply_to_user_id,entities.mentions.username",
    "tweet.fields": "id,text,author_id,created_at,lang,public_metrics,entities,attachments,referenced_tweets,"
    "conversation_id,in_reply_to_user_id,note_tweet,withheld,possibly_sensitive",
    "user.fields": "id,name,username,created_at,description,location,public_metrics,verified",
    "media.fields": "media_key,type,url,preview_image_url,variants,duration_ms,width,height,alt_text",
}


def _order(tweet_id: Any) -> str | None:
    return tweet_id.zfill(_ID_WIDTH) if isinstance(tweet_id, str) and tweet_id.isdigit() else None


@register_connector
class XConnector(Connector):
    """X API v2: ``/2/tweets/search/recent`` (a search query) or ``/2/users/:id/tweets`` (``@username``, looked
    up with ``/2/users/by/username/:username``), paged by ``next_token``/``pagination_token``, with ``since_id``
    the high-water mark and the expansions the X reader understands (authors, media, referenced tweets).

    Needs a bearer token (``SOCIALFUSION_X_BEARER_TOKEN``, or ``bearer_token`` in the credentials file).
    Withheld tweets keep their ``withheld`` field in ``extra``; a deleted referenced tweet is named in the
    response's ``errors`` and simply absent.
    """

    platform = "x"
    display_name = "X"
    default_base_url = "https://api.x.com"
    max_page_size = 100
    query_forms = "a search query (X's query syntax) or '@username'"
    required_credentials = ("bearer_token",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._primary_ids: set[str] = set()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['bearer_token']}"}

    def start(self, stop_at: str | None) -> dict[str, Any]:
        query = self.source.query.strip()
        since_id = stop_at.lstrip("0") or "0" if stop_at else None
        if query.startswith("@") and len(query) > 1 and " " not in query:
            answer = self.client.get_json(
                f"{self.base_url}/2/users/by/username/{quote(query[1:], safe='')}", headers=self._headers()
            ).data
            user_id = as_object(as_object(answer).get("data")).get("id")
            if not user_id:
                raise CollectError(f"X knows no user {query} (answered {str(answer)[:150]})")
            return {
                "path": f"/2/users/{quote(str(user_id), safe='')}/tweets",
                "kind": "timeline",
                "params": {"since_id": since_id, **_FIELDS},
            }
        return {
            "path": "/2/tweets/search/recent",
            "kind": "search",
            "params": {"query": query, "since_id": since_id, **_FIELDS},
        }

    def fetch(self, request: dict[str, Any], page_size: int) -> Page:
        size = max(_MIN_RESULTS[request["kind"]], page_size)
        response = self.client.get_json(
            self.base_url + request["path"], params={**request["params"], "max_results": size}, headers=self._headers()
        )
        data = as_object(response.data)
        if not any(key in data for key in ("data", "meta", "includes", "errors")):
            raise CollectError(f"{response.url} did not answer an X API v2 response; is {self.base_url} the X API?")
        tweets = data.get("data") if isinstance(data.get("data"), list) else []
        items = [
            Item(
                tweet,
                tweet.get("id") if _order(tweet.get("id")) else None,
                _order(tweet.get("id")),
                parse_time(tweet.get("created_at")),
            )
            if isinstance(tweet, dict)
            else Item(tweet, None, None, None)
            for tweet in tweets
        ]
        token = as_object(data.get("meta")).get("next_token")
        following = None
        if isinstance(token, str) and token and items:
            name = "pagination_token" if request["kind"] == "timeline" else "next_token"
            following = {**request, "params": {**request["params"], name: token}}
        return Page(items, following, context=as_object(data.get("includes")))

    def records(self, items: Sequence[Item], page: Page, location: str) -> Iterator[SourceRecord]:
        value = JsonValue(location, {"data": [item.value for item in items], "includes": page.context})
        return TwitterReader().read_page(value, self.builder, self._primary_ids)
