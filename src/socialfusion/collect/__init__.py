"""Live collection from platform APIs (Mastodon, Bluesky, Reddit, X) into a store, resumable and lossless.

Examples:
    >>> from socialfusion.collect import Source, collect
    >>> from socialfusion.collect.testing import FakeMastodon
    >>> from socialfusion.store import connect
    >>> store = connect("memory://")
    >>> with FakeMastodon(n_items=25, page_size=10) as base_url:
    ...     first = collect(store, Source("mastodon", "#python", base_url), detect_language=False)
    ...     again = collect(store, Source("mastodon", "#python", base_url), detect_language=False)
    >>> first.ingested, first.pages, again.received
    (25, 4, 0)
"""

from socialfusion.collect._base import (
    CollectResult,
    Connector,
    Item,
    Page,
    Source,
    check_source,
    collect,
    load_cursor,
    platforms,
)
from socialfusion.collect._credentials import CREDENTIAL_VARIABLES, Credentials, load_credentials
from socialfusion.collect._http import CollectError, CredentialsError, HttpSettings, RateLimitError
from socialfusion.collect._media import DEFAULT_MEDIA_MAX_BYTES

__all__ = [
    "CREDENTIAL_VARIABLES",
    "DEFAULT_MEDIA_MAX_BYTES",
    "CollectError",
    "CollectResult",
    "Connector",
    "Credentials",
    "CredentialsError",
    "HttpSettings",
    "Item",
    "Page",
    "RateLimitError",
    "Source",
    "check_source",
    "collect",
    "load_credentials",
    "load_cursor",
    "platforms",
]
