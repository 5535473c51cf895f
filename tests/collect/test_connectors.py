"""Every connector against its fake server: exact item sets with and without faults, resumption, bad input."""

from __future__ import annotations

import time

import pytest

from socialfusion.collect import CollectError, CredentialsError, RateLimitError, Source, collect, load_cursor
from socialfusion.collect.testing import Answer, FakeBluesky, FakeMastodon, FakeReddit, FakeX, Faults
from socialfusion.exceptions import ConfigurationError
from socialfusion.store import connect
from tests.collect.conftest import FAST, PLATFORMS, post_ids, run

ALL_FAULTS = dict(
    rate_limit={2}, server_error={3, 7}, truncated={4}, slow={5}, repeat=True, reset_seconds=0.2, slow_seconds=0.8
)


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_a_full_collection_stores_exactly_the_servers_items_and_then_only_new_ones(name, store):
    fake_class, query, credentials = PLATFORMS[name]
    fake = fake_class(27 if fake_class is FakeReddit else 57, page_size=5 if fake_class is FakeReddit else 10)
    with fake:
        result = run(store, fake, query, credentials)
        ids = post_ids(store)
        assert sorted(ids) == sorted(fake.expected_post_ids())  # no loss, and no post stored twice
        assert result.ingested == len(ids) == len(result.new_post_ids)
        assert set(result.new_post_ids) == set(ids)
        assert (result.stopped_reason, result.duplicates, result.rejects) == (None, 0, 0)
        assert result.cursor is not None and result.pages >= 6
        added = fake.add_items(4)
        again = run(store, fake, query, credentials)
    assert sorted(post_ids(store)) == sorted(fake.expected_post_ids())
    assert set(again.new_post_ids) == {post_id for item in added for post_id in fake.post_ids_of(item)}
    assert again.pages <= 2  # it stopped at the high-water mark instead of reading everything again


@pytest.mark.parametrize("name", ["mastodon", "bluesky", "reddit", "x"])
def test_faults_cost_nothing_429_500_timeouts_truncated_json_and_repeated_items(name, store):
    fake_class, query, credentials = PLATFORMS[name]
    fake = fake_class(
        22 if fake_class is FakeReddit else 45,
        page_size=5 if fake_class is FakeReddit else 10,
        faults=Faults(**ALL_FAULTS),
    )
    with fake:
        result = run(store, fake, query, credentials)
    ids = post_ids(store)
    assert sorted(ids) == sorted(fake.expected_post_ids())
    assert result.duplicates >= 4  # each page after the first repeated an item: recognised, not stored twice
    # the 429 was waited out; how long depends on when the client read its reset time (0.2 s ahead, an absolute
    # time on some platforms), so a loaded machine waits less: the two tests below measure the wait itself
    assert result.waited_seconds > 0
    assert fake.requests >= result.pages + 4  # the 500s, the timeout and the truncated page were retried


def test_the_rate_limit_reset_is_waited_for_on_a_fake_clock(store):
    now = [1_700_000_000.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    fake = FakeX(15, page_size=10, faults=Faults(rate_limit={1}, reset_seconds=40))
    with fake:
        # the fake server's reset is a real Unix time 40 s ahead; the client reads it against its own clock
        now[0] = time.time()
        result = run(store, fake, "python", {"bearer_token": "fake-bearer"}, sleep=sleep, clock=lambda: now[0])
    assert len(post_ids(store)) == 15
    assert 39 <= result.waited_seconds <= 42 and waits and 39 <= waits[0] <= 42


def test_a_real_short_reset_is_honoured_in_wall_time(store):
    fake = FakeMastodon(12, page_size=10, faults=Faults(rate_limit={1}, reset_seconds=0.6))
    with fake:
        started = time.monotonic()
        run(store, fake, "#python", {})
        elapsed = time.monotonic() - started
    assert elapsed >= 0.5
    assert len(post_ids(store)) == 12


def test_a_wait_longer_than_allowed_stops_with_the_cursor_kept(store):
    fake = FakeMastodon(30, page_size=10, faults=Faults(rate_limit={2}, reset_seconds=3600))
    with fake:
        with pytest.raises(RateLimitError, match="rate limit") as caught:
            run(store, fake, "#python", {})
        assert caught.value.result.ingested == 10  # the first page is kept
        fake.faults.rate_limit.clear()
        run(store, fake, "#python", {})
    assert sorted(post_ids(store)) == sorted(fake.expected_post_ids())


def test_limit_stops_and_the_next_call_continues_the_pass(store):
    fake = FakeMastodon(50, page_size=10)
    with fake:
        first = run(store, fake, "#python", {}, limit=15)
        assert first.received == 15 and first.stopped_reason.startswith("limit")
        state = load_cursor(store, Source("mastodon", "#python", fake.base_url))
        assert state["pass"]["next"] is not None and state["high_water"] is None
        fake.add_items(3)  # newer than the pass's top: the next pass gets them
        rest = run(store, fake, "#python", {})
        assert rest.stopped_reason is None and rest.duplicates == 0
        last = run(store, fake, "#python", {})
    assert sorted(post_ids(store)) == sorted(fake.expected_post_ids()) and len(post_ids(store)) == 53
    assert len(last.new_post_ids) == 3


def test_since_and_until_bound_what_is_kept(store):
    fake = FakeBluesky(60, page_size=20)  # item k was posted 2024-05-01 + k minutes
    with fake:
        result = run(store, fake, "python", {}, since="2024-05-01T00:20:00Z", until="2024-05-01T00:40:00Z")
    kept = {uri.rsplit("/", 1)[-1] for uri in post_ids(store)}
    assert kept == {f"3k{key:010d}" for key in range(20, 41)}
    assert result.skipped > 0 and result.pages == 3  # it stopped at the page reaching `since`


def test_deleted_items_are_not_collected_and_deleted_comments_are_rejects_with_a_reason(store):
    fake = FakeMastodon(40, page_size=10)
    fake.delete([5, 33])
    with fake:
        run(store, fake, "#python", {})
    assert sorted(post_ids(store)) == sorted(fake.expected_post_ids()) and len(post_ids(store)) == 38

    reddit = FakeReddit(12, page_size=5, comments_per_post=3, deleted_comments_every=4)
    with reddit:
        result = run(store, reddit, "r/fake", PLATFORMS["reddit"][2])
    assert reddit.deleted_comments() > 0
    assert result.rejects == reddit.deleted_comments()
    reasons = store.read("rejects", columns=["reason"]).column("reason").to_pylist()
    assert any("removed or deleted" in reason for reason in reasons)
    assert set(post_ids(store)) >= reddit.expected_post_ids()


def test_withheld_tweets_keep_their_withholding_in_extra(store):
    fake = FakeX(20, page_size=10, withheld_every=5)
    with fake:
        run(store, fake, "python", {"bearer_token": "fake-bearer"})
    rows = store.read("posts", columns=["post_id", "extra"]).to_pylist()
    withheld = [row for row in rows if row["extra"] and "withheld" in row["extra"]]
    assert len(rows) == 20 and len(withheld) == 4


def test_an_expired_bluesky_session_is_refreshed_and_nothing_is_lost(store):
    fake = FakeBluesky(
        35, page_size=10, handle="me.bsky.social", app_password="app-pass-1234", faults=Faults(expire_session={2, 4})
    )
    with fake:
        run(store, fake, "python", {"handle": "me.bsky.social", "app_password": "app-pass-1234"})
    assert sorted(post_ids(store)) == sorted(fake.expected_post_ids())
    assert fake.sessions_created == 1 and fake.sessions_refreshed == 2


def test_the_store_keeps_no_secret(store, tmp_path):
    fake = FakeBluesky(12, page_size=10, handle="me.bsky.social", app_password="app-pass-1234")
    disk = connect(tmp_path / "store")
    with fake:
        run(disk, fake, "python", {"handle": "me.bsky.social", "app_password": "app-pass-1234"})
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert b"app-pass-1234" not in path.read_bytes(), path


# -- bad input --------------------------------------------------------------------------------------------------
def test_a_url_that_is_not_an_instance_is_a_clear_error(store):
    fake = FakeBluesky(3)  # a web server, but no Mastodon: HTML 404 pages
    with fake:
        with pytest.raises(CollectError, match=r"404.*Mastodon API server"):
            collect(store, Source("mastodon", "#python", fake.base_url), settings=FAST)


def test_html_where_json_was_expected_is_a_clear_error(store):
    fake = FakeMastodon(3)
    fake.route = lambda *args: Answer(200, raw=b"<html><body>Welcome to nginx!</body></html>", content_type="text/html")
    with fake:
        with pytest.raises(CollectError, match="expected JSON .* but got HTML"):
            run(store, fake, "#python", {})


def test_truncated_json_every_time_fails_after_the_retries(store):
    fake = FakeMastodon(15, page_size=10, faults=Faults(truncated=set(range(1, 10))))
    with fake:
        with pytest.raises(CollectError, match="cut off"):
            run(store, fake, "#python", {})
    assert fake.requests == FAST.retries + 1


def test_items_without_ids_are_rejects_and_paging_goes_on(store):
    fake = FakeMastodon(25, page_size=10)
    del fake.items[3]["id"], fake.items[12]["id"]
    with fake:
        result = run(store, fake, "#python", {})
    assert len(post_ids(store)) == 23 and result.rejects == 2
    reasons = store.read("rejects", columns=["reason"]).column("reason").to_pylist()
    assert all("post_id" in reason for reason in reasons)


def test_a_cursor_that_never_advances_stops_with_a_message(store):
    fake = FakeBluesky(30, page_size=10)
    original = fake.route

    def stuck(method, path, params):
        answer = original(method, path, {**params, "cursor": ""})
        answer.body["cursor"] = "always-the-same"
        return answer

    fake.route = stuck
    with fake:
        result = run(store, fake, "python", {})
    assert "does not advance" in result.stopped_reason
    assert result.pages == 2 and len(post_ids(store)) == 10


def test_pages_that_only_repeat_items_stop_the_collection(store):
    fake = FakeBluesky(30, page_size=10)
    original = fake.route
    calls = []

    def repeating(method, path, params):
        calls.append(1)
        answer = original(method, path, {**params, "cursor": ""})
        answer.body["cursor"] = f"c{len(calls)}"  # a new cursor every time, the same items every time
        return answer

    fake.route = repeating
    with fake:
        result = run(store, fake, "python", {})
    assert "repeated items" in result.stopped_reason and result.pages == 4


@pytest.mark.parametrize("platform", ["mastodon", "x", "reddit", "bluesky"])
def test_refused_credentials_are_a_clear_error_that_shows_no_secret(platform, store):
    fakes = {
        "mastodon": FakeMastodon(5, token="right-token"),
        "x": FakeX(5),
        "reddit": FakeReddit(5),
        "bluesky": FakeBluesky(5, handle="me.bsky.social", app_password="right-password"),
    }
    wrong = {
        "mastodon": {"token": "wrong-token-123"},
        "x": {"bearer_token": "wrong-token-123"},
        "reddit": {"client_id": "id", "client_secret": "wrong-token-123"},
        "bluesky": {"handle": "me.bsky.social", "app_password": "wrong-token-123"},
    }[platform]
    fake = fakes[platform]
    with fake:
        with pytest.raises(CredentialsError, match="401") as caught:
            run(store, fake, PLATFORMS[platform][1], wrong)
    message = str(caught.value)
    assert "wrong-token-123" not in message and "credentials" in message


def test_missing_credentials_and_unknown_platforms_or_query_forms(store, monkeypatch):
    nowhere = "http://127.0.0.1:9"  # never reached: every mistake is found before a request
    monkeypatch.delenv("SOCIALFUSION_X_BEARER_TOKEN", raising=False)
    monkeypatch.delenv("SOCIALFUSION_REDDIT_CLIENT_SECRET", raising=False)
    with pytest.raises(CredentialsError, match="SOCIALFUSION_X_BEARER_TOKEN"):
        collect(store, Source("x", "python", nowhere))
    with pytest.raises(CredentialsError, match="client_secret.*SOCIALFUSION_REDDIT_CLIENT_SECRET"):
        collect(store, Source("reddit", "r/python", nowhere), credentials={"client_id": "a"})
    with pytest.raises(ConfigurationError, match="unknown platform 'myspace'.*mastodon"):
        collect(store, Source("myspace", "python", nowhere))
    with pytest.raises(ConfigurationError, match="r/subreddit"):
        collect(store, Source("reddit", "python", nowhere))
    with pytest.raises(ConfigurationError, match="empty mastodon query"):
        collect(store, Source("mastodon", "  ", nowhere))
    with pytest.raises(ConfigurationError, match="since must be a date"):
        collect(store, Source("mastodon", "#a", nowhere), since="last tuesday")
    assert store.tables() == []


def test_an_unknown_account_is_a_clear_error(store):
    fake = FakeMastodon(3)
    with fake:
        with pytest.raises(CollectError, match="@nobody"):
            run(store, fake, "@nobody", {})
