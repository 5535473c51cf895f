"""Mastodon connector: an instance's hashtag timeline, an account's statuses, or status search."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

from socialfusion.collect._base import Connector, Item, Page, parse_time, register_connector
from socialfusion.collect._http import CollectError
from socialfusion.io._base import SourceRecord
from socialfusion.io.platforms._common import JsonValue
from socialfusion.io.platforms.mastodon import MastodonReader

__all__ = ["MastodonConnector"]

_ID_WIDTH = 20  # Mastodon ids are 64-bit integers: zero-padded, their text sorts like their value


def _order(status_id: Any) -> str | None:
    text = str(status_id) if isinstance(status_id, (str, int)) and not isinstance(status_id, bool) else ""
    return text.zfill(_ID_WIDTH) if text.isdigit() else None


@register_connector
class MastodonConnector(Connector):
    """Mastodon REST API (``/api/v1``, ``/api/v2/search``), statuses paged by ``max_id`` with ``since_id``.

    Query forms: ``#tag`` (``GET /api/v1/timelines/tag/:tag``), ``@user`` or ``@user@instance`` (looked up with
    ``/api/v1/accounts/lookup``, then ``/api/v1/accounts/:id/statuses``), anything else is status search
    (``/api/v2/search?type=statuses``; most instances need a token for it). The next page is the ``Link``
    header's ``rel="next"`` (its ``max_id``), else the smallest id of the page; ``since_id`` is the high-water
    mark. An access token (``SOCIALFUSION_MASTODON_TOKEN``, or ``token`` in the credentials file) is sent as a
    bearer token when given.
    """

    platform = "mastodon"
    display_name = "Mastodon"
    default_base_url = "https://mastodon.social"
    max_page_size = 40
    query_forms = "'#tag', '@account' or '@user@instance', or search text"

    def _headers(self) -> dict[str, str]:
        token = self.credentials.get("token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def start(self, stop_at: str | None) -> dict[str, Any]:
        query = self.source.query.strip()
        since_id = stop_at.lstrip("0") or "0" if stop_at else None
        if query.startswith("#") and len(query) > 1:
            path = f"/api/v1/timelines/tag/{quote(query[1:], safe='')}"
            return {"url": self.base_url + path, "params": {"since_id": since_id}}
        if query.startswith("@") and len(query) > 1:
            try:
                account = self.client.get_json(
                    f"{self.base_url}/api/v1/accounts/lookup", params={"acct": query[1:]}, headers=self._headers()
                ).data
            except CollectError as error:
                if error.status != 404 or not isinstance(error.payload, dict):
                    raise
                account = error.payload  # Mastodon's JSON 404: {"error": "Record not found"}
            account_id = account.get("id") if isinstance(account, dict) else None
            if not account_id:
                raise CollectError(
                    f"{self.base_url} knows no account {query} (the lookup answered "
                    f"{str(account)[:100]}); check the handle and the instance"
                )
            path = f"/api/v1/accounts/{quote(str(account_id), safe='')}/statuses"
            return {"url": self.base_url + path, "params": {"since_id": since_id}}
        return {
            "url": f"{self.base_url}/api/v2/search",
            "params": {"q": query, "type": "statuses", "resolve": "false", "since_id": since_id},
        }

    def fetch(self, request: dict[str, Any], page_size: int) -> Page:
        url = request["url"]
        response = self.client.get_json(url, params={**request["params"], "limit": page_size}, headers=self._headers())
        data = response.data
        statuses = data.get("statuses") if isinstance(data, dict) and url.endswith("/api/v2/search") else data
        if not isinstance(statuses, list):
            raise CollectError(
                f"{url} did not answer a list of statuses (got {type(statuses).__name__}); is "
                f"{self.base_url} a Mastodon instance?"
            )
        items = [self._item(status) for status in statuses]
        following = self._next(request, response.links, items)
        problem = None
        if items and following is None:
            problem = (
                f"a page of {url} has no Link header and no status with an id, so there is no next page "
                "to ask for; stopped (the items it had are ingested or rejected)"
            )
        return Page(items, following, problem=problem)

    @staticmethod
    def _item(status: Any) -> Item:
        if not isinstance(status, dict):
            return Item(status, None, None, None)
        status_id = status.get("id")
        order = _order(status_id)
        created = parse_time(status.get("created_at"))
        return Item(status, str(status_id) if order else None, order, created)

    @staticmethod
    def _next(request: dict[str, Any], links: dict[str, str], items: Sequence[Item]) -> dict[str, Any] | None:
        """The next (older) page's request: ``max_id`` from the Link header, else the page's smallest id."""
        if not items:
            return None
        max_id = None
        if "next" in links:
            max_id = parse_qs(urlparse(links["next"]).query).get("max_id", [None])[0]
        elif orders := [item.order for item in items if item.order]:
            max_id = min(orders).lstrip("0") or "0"
        if max_id is None:
            return None
        return {"url": request["url"], "params": {**request["params"], "max_id": max_id}}

    def records(self, items: Sequence[Item], page: Page, location: str) -> Iterator[SourceRecord]:
        value = JsonValue(location, [item.value for item in items])
        return MastodonReader().read_page(value, self.builder)
