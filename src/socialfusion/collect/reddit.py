"""Reddit connector: a subreddit's new submissions and their comment trees, with an OAuth app token."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from socialfusion.collect._base import Connector, Item, Page, register_connector
from socialfusion.collect._http import CollectError, CredentialsError, JsonResponse
from socialfusion.exceptions import ConfigurationError
from socialfusion.io._base import SourceRecord
from socialfusion.io.platforms._common import as_object, join_location, objects_in
from socialfusion.io.platforms.reddit import RedditReader, _utc_time

__all__ = ["RedditConnector"]

_OAUTH_API = "https://oauth.reddit.com"
_TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
_SUBREDDIT = re.compile(r"^/?r/([A-Za-z0-9_]{2,21})/?$")
_MAX_COMMENTS = 500


@register_connector
class RedditConnector(Connector):
    """Reddit API: ``/r/:sub/new`` listings paged by ``after``, and each submission's comment tree
    (``/r/:sub/comments/:id``, up to 500 comments, ``replies`` flattened; "load more" stubs are not expanded).

    Query form: ``r/subreddit``. Needs an app's client id and secret (``SOCIALFUSION_REDDIT_CLIENT_ID``/
    ``SOCIALFUSION_REDDIT_CLIENT_SECRET``; ``SOCIALFUSION_REDDIT_USER_AGENT`` optional), exchanged for an
    application-only OAuth token (client credentials) at ``https://www.reddit.com/api/v1/access_token`` (for
    another base URL: ``{base_url}/api/v1/access_token``). Items are ordered by ``created_utc``.
    """

    platform = "reddit"
    display_name = "Reddit"
    default_base_url = _OAUTH_API
    max_page_size = 100
    query_forms = "'r/subreddit'"
    required_credentials = ("client_id", "client_secret")
    prefetch = False  # records() fetches each submission's comments with the same client

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._token: str | None = None
        self.subreddit = _SUBREDDIT.match(self.source.query.strip()).group(1)

    @classmethod
    def check_query(cls, query: str) -> None:
        if not _SUBREDDIT.match(query.strip()):
            raise ConfigurationError(f"unknown Reddit query form {query!r}; expected {cls.query_forms}, e.g. r/python")

    def start(self, stop_at: str | None) -> dict[str, Any]:
        return {"path": f"/r/{quote(self.subreddit)}/new", "params": {"raw_json": "1"}}

    def fetch(self, request: dict[str, Any], page_size: int) -> Page:
        response = self._get(request["path"], {**request["params"], "limit": page_size})
        listing = as_object(as_object(response.data).get("data"))
        children = listing.get("children")
        if as_object(response.data).get("kind") != "Listing" or not isinstance(children, list):
            raise CollectError(
                f"{response.url} did not answer a Reddit Listing; is {self.base_url} the Reddit "
                "API (https://oauth.reddit.com)?"
            )
        items = [self._item(child) for child in children]
        after = listing.get("after")
        following = None
        if isinstance(after, str) and after and items:
            following = {"path": request["path"], "params": {**request["params"], "after": after}}
        return Page(items, following)

    @staticmethod
    def _item(child: Any) -> Item:
        data = as_object(as_object(child).get("data"))
        created = _utc_time(data.get("created_utc"))
        created = created if hasattr(created, "timestamp") else None
        order = f"{created.timestamp():017.3f}" if created else None
        key = data.get("id") if isinstance(data.get("id"), str) else None
        return Item(data, key, order, created)

    def records(self, items: Sequence[Item], page: Page, location: str) -> Iterator[SourceRecord]:
        reader = RedditReader()
        for index, item in enumerate(items):
            item_location = join_location(location, f"children[{index}]")
            yield from self.builder.guarded(
                item_location, item.value, reader.read_item(item.value, item_location, self.builder)
            )
            if item.key is None or not item.value.get("num_comments"):
                continue
            for position, comment in enumerate(self._comments(item.key)):
                comment_location = join_location(item_location, f"comments[{position}]")
                yield from self.builder.guarded(
                    comment_location, comment, reader.read_item(comment, comment_location, self.builder)
                )

    def _comments(self, submission_id: str) -> list[dict[str, Any]]:
        """The comments of a submission, its tree flattened (parents before replies)."""
        path = f"/r/{quote(self.subreddit)}/comments/{quote(submission_id)}"
        response = self._get(path, {"limit": _MAX_COMMENTS, "sort": "new", "raw_json": "1"})
        listings = response.data if isinstance(response.data, list) else []
        pending = list(
            reversed(
                objects_in(as_object(as_object(listings[1] if len(listings) > 1 else {}).get("data")).get("children"))
            )
        )
        comments = []
        while pending:
            child = pending.pop()
            if child.get("kind") != "t1":  # "more": a stub for comments not sent
                continue
            data = as_object(child.get("data"))
            comments.append(data)
            replies = objects_in(as_object(as_object(data.get("replies")).get("data")).get("children"))
            pending.extend(reversed(replies))
        return comments

    def _get(self, path: str, params: dict[str, Any]) -> JsonResponse:
        """GET an API path with the app token, fetching a new token once when the current one expired."""
        fresh = self._token is None
        try:
            return self.client.get_json(self.base_url + path, params=params, headers=self._headers())
        except CredentialsError:
            if fresh:
                raise
            self._token = None  # application tokens last a day: a long collection outlives one
            return self.client.get_json(self.base_url + path, params=params, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._fetch_token()
        headers = {"Authorization": f"Bearer {self._token}"}
        if agent := self.credentials.get("user_agent"):
            headers["User-Agent"] = agent
        return headers

    def _fetch_token(self) -> str:
        client_id, secret = self.credentials["client_id"], self.credentials["client_secret"]
        url = _TOKEN_URL if self.base_url == _OAUTH_API else f"{self.base_url}/api/v1/access_token"
        answer = self.client.request("POST", url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        token = as_object(answer.data).get("access_token")
        if not isinstance(token, str) or not token:
            raise CredentialsError(
                f"Reddit gave no access token ({str(answer.data)[:100]}); " + self.credentials.hint()
            )
        self.client.add_secret(token)
        return token
