"""Fixtures of the collection tests: fast HTTP settings, the credentials each fake server accepts, a runner."""

from __future__ import annotations

import pytest

from socialfusion.collect import HttpSettings, Source, collect
from socialfusion.collect.testing import FakeBluesky, FakeMastodon, FakeReddit, FakeX
from socialfusion.store import connect

FAST = HttpSettings(timeout=0.5, retries=3, backoff=0.01, backoff_max=0.05, seed=0)
"""Short timeouts and backoffs, so that injected faults cost milliseconds."""

# (fake server class, query, credentials it accepts)
PLATFORMS = {
    "mastodon": (FakeMastodon, "#python", {}),
    "mastodon-account": (FakeMastodon, "@user1@fake.example", {}),
    "mastodon-search": (FakeMastodon, "python tea", {}),
    "bluesky": (FakeBluesky, "python", {}),
    "bluesky-author": (FakeBluesky, "@user1.bsky.social", {}),
    "reddit": (FakeReddit, "r/fake", {"client_id": "fake-client", "client_secret": "fake-secret"}),
    "x": (FakeX, "python lang:en", {"bearer_token": "fake-bearer"}),
    "x-user": (FakeX, "@user1", {"bearer_token": "fake-bearer"}),
}


def run(store, fake, query, credentials, **options):
    """Collect from a running fake server with the fast settings and no language detection."""
    options = {"settings": FAST, "detect_language": False, **options}
    return collect(store, Source(fake.platform, query, fake.base_url), credentials=credentials, **options)


def post_ids(store) -> list[str]:
    """Every post id of the store, one per row (a key stored twice would show twice)."""
    return store.read("posts", columns=["post_id"]).column("post_id").to_pylist()


@pytest.fixture
def store():
    return connect("memory://")
