"""Bluesky connector: post search and author feeds on the public AppView, with an optional app-password session."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from socialfusion.collect._base import Connector, Item, Page, order_of_time, parse_time, register_connector
from socialfusion.collect._http import CollectError, CredentialsError, JsonResponse
from socialfusion.io._base import SourceRecord
from socialfusion.io.platforms._common import JsonValue, as_object
from socialfusion.io.platforms.bluesky import BlueskyReader

__all__ = ["BlueskyConnector"]

logger = logging.getLogger(__name__)

_PUBLIC_APPVIEW = "https://public.api.bsky.app"
_SESSION_HOST = "https://bsky.social"
_SEARCH = "app.bsky.feed.searchPosts"
_AUTHOR_FEED = "app.bsky.feed.getAuthorFeed"
_EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})


@register_connector
class BlueskyConnector(Connector):
    """Bluesky XRPC: ``app.bsky.feed.searchPosts`` (search text, ``sort=latest``) or ``app.bsky.feed.getAuthorFeed``
    (``@handle``), paged by ``cursor``; items ordered by ``indexedAt``.

    Without credentials it reads the public AppView (``https://public.api.bsky.app``). With a handle and an app
    password (``SOCIALFUSION_BLUESKY_HANDLE``/``SOCIALFUSION_BLUESKY_APP_PASSWORD``) it creates a session
    (``com.atproto.server.createSession``) on ``https://bsky.social`` (or the base URL given) and refreshes it
    (``refreshSession``, else a new session) when the server answers ``ExpiredToken``.
    """

    platform = "bluesky"
    display_name = "Bluesky"
    default_base_url = _PUBLIC_APPVIEW
    max_page_size = 100
    query_forms = "search text or '@handle'"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._access: str | None = None
        self._refresh: str | None = None
        if self.credentials.get("handle") or self.credentials.get("app_password"):
            if not (self.credentials.get("handle") and self.credentials.get("app_password")):
                raise CredentialsError(
                    "a Bluesky session needs both a handle and an app password; " + self.credentials.hint()
                )
            if self.source.base_url is None:
                self.base_url = _SESSION_HOST

    def start(self, stop_at: str | None) -> dict[str, Any]:
        query = self.source.query.strip()
        if query.startswith("@") and len(query) > 1:
            return {"method": _AUTHOR_FEED, "params": {"actor": query[1:], "filter": "posts_with_replies"}}
        return {"method": _SEARCH, "params": {"q": query, "sort": "latest"}}

    def fetch(self, request: dict[str, Any], page_size: int) -> Page:
        response = self._call(request["method"], {**request["params"], "limit": page_size})
        data = as_object(response.data)
        search = request["method"] == _SEARCH
        views = data.get("posts") if search else data.get("feed")
        if not isinstance(views, list):
            raise CollectError(
                f"{response.url} did not answer a {'posts' if search else 'feed'} list; is "
                f"{self.base_url} a Bluesky AppView or PDS?"
            )
        items = [self._item({"post": view} if search else view) for view in views]
        cursor = data.get("cursor")
        following = None
        if isinstance(cursor, str) and cursor and items:
            following = {"method": request["method"], "params": {**request["params"], "cursor": cursor}}
        return Page(items, following)

    @staticmethod
    def _item(feed_item: Any) -> Item:
        view = as_object(as_object(feed_item).get("post"))
        reason = as_object(as_object(feed_item).get("reason"))
        uri = view.get("uri") if isinstance(view.get("uri"), str) else None
        key = f"{uri}#{as_object(reason.get('by')).get('did')}" if uri and reason else uri
        order = order_of_time(reason.get("indexedAt") or view.get("indexedAt"))
        created = parse_time(reason.get("indexedAt") or as_object(view.get("record")).get("createdAt"))
        return Item(feed_item, key, order, created)

    def records(self, items: Sequence[Item], page: Page, location: str) -> Iterator[SourceRecord]:
        value = JsonValue(location, {"feed": [item.value for item in items]})
        return BlueskyReader().read_page(value, self.builder)

    # -- sessions -----------------------------------------------------------------------------------------
    def _call(self, method: str, params: dict[str, Any]) -> JsonResponse:
        url = f"{self.base_url}/xrpc/{method}"
        if self.credentials.get("handle") and self._access is None:
            self._create_session()
        for _ in range(3):
            try:
                return self.client.get_json(url, params=params, headers=self._headers())
            except CollectError as error:
                if self._access is None or not _is_expired(error):
                    raise
                logger.info("the Bluesky session expired: refreshing it")
                self._renew_session()
        raise CollectError(f"the Bluesky session kept expiring at {url}; {self.credentials.hint()}")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access}"} if self._access else {}

    def _create_session(self) -> None:
        login = {"identifier": self.credentials["handle"], "password": self.credentials["app_password"]}
        answer = self.client.request("POST", f"{self.base_url}/xrpc/com.atproto.server.createSession", json=login)
        self._take_session(answer.data)

    def _renew_session(self) -> None:
        try:
            answer = self.client.request(
                "POST",
                f"{self.base_url}/xrpc/com.atproto.server.refreshSession",
                headers={"Authorization": f"Bearer {self._refresh}"},
            )
            self._take_session(answer.data)
        except CollectError:  # the refresh token expired too: log in again
            self._create_session()

    def _take_session(self, data: Any) -> None:
        data = as_object(data)
        access, refresh = data.get("accessJwt"), data.get("refreshJwt")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise CredentialsError(f"{self.base_url} answered a session without tokens; is it a Bluesky PDS?")
        self.client.add_secret(access)
        self.client.add_secret(refresh)
        self._access, self._refresh = access, refresh


def _is_expired(error: CollectError) -> bool:
    """Whether an error is the server saying the access token expired (``400 ExpiredToken``)."""
    return as_object(error.payload).get("error") in _EXPIRED
