"""The shared HTTP client: rate-limit headers, retries, errors without secrets; credentials; media download."""

from __future__ import annotations

import hashlib

import pytest

from socialfusion.collect import CollectError, Credentials, HttpSettings, load_credentials
from socialfusion.collect._http import HttpClient, seconds_until_reset
from socialfusion.collect.testing import PNG_BYTES, Answer, FakeMastodon, Faults
from socialfusion.exceptions import ConfigurationError
from tests.collect.conftest import FAST, post_ids, run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),  # Retry-After seconds, Reddit's x-ratelimit-reset
        ("1700000090", 90.0),  # X and Bluesky: a Unix time
        ("2023-11-14T22:14:50.000Z", 90.0),  # Mastodon: an ISO 8601 time
        ("Tue, 14 Nov 2023 22:14:50 GMT", 90.0),  # Retry-After as an HTTP date
        ("2023-11-14T22:00:00Z", 0.0),  # already past
    ],
)
def test_reset_headers_of_every_platform_are_read(value, expected):
    assert seconds_until_reset(value, now=1_700_000_000.0) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["", "soon", "nan", "12 seconds"])
def test_unreadable_reset_headers_are_none(value):
    assert seconds_until_reset(value, now=0.0) is None


def test_backoff_doubles_with_jitter_and_stops_after_the_retries():
    waits = []
    fake = FakeMastodon(5, faults=Faults(server_error=set(range(1, 20))))
    settings = HttpSettings(timeout=1, retries=4, backoff=1.0, backoff_max=5.0, seed=1)
    with fake, HttpClient(settings, platform="Mastodon", sleep=waits.append) as client:
        with pytest.raises(CollectError, match="failed 5 times, last: server error 500"):
            client.get_json(f"{fake.base_url}/api/v1/timelines/tag/a")
    assert fake.requests == 5
    # each wait is between half and all of its delay: 1, 2, 4, then 5 (the cap)
    for wait, delay in zip(waits, [1, 2, 4, 5], strict=True):
        assert delay / 2 <= wait <= delay


def test_a_response_saying_no_request_is_left_waits_before_the_next_one():
    waits = []
    fake = FakeMastodon(5)
    original = fake.route

    def last_request_of_the_window(*args):
        answer = original(*args)
        answer.headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2099-01-01T00:00:00Z"})
        return answer

    fake.route = last_request_of_the_window
    settings = HttpSettings(max_wait=10**10)
    with fake, HttpClient(settings, platform="Mastodon", sleep=waits.append, clock=lambda: 4_000_000_000.0) as client:
        client.get_json(f"{fake.base_url}/api/v1/timelines/tag/a")
        assert waits == []
        client.get_json(f"{fake.base_url}/api/v1/timelines/tag/a")
    assert waits == [pytest.approx(4_070_908_800 - 4_000_000_000)]


def test_error_messages_never_show_a_secret_even_when_the_server_echoes_it():
    fake = FakeMastodon(5)
    fake.route = lambda *args: Answer(400, {"error": "bad token tok-SECRET-42 given"})
    with fake, HttpClient(FAST, platform="Mastodon", secrets=["tok-SECRET-42"]) as client:
        with pytest.raises(CollectError) as caught:
            client.get_json(f"{fake.base_url}/api/v1/timelines/tag/a")
    assert "tok-SECRET-42" not in str(caught.value) and "***" in str(caught.value)
    assert caught.value.status == 400


def test_credentials_come_from_a_toml_file_or_the_environment_and_never_show(tmp_path):
    environ = {"SOCIALFUSION_REDDIT_CLIENT_ID": "env-id", "SOCIALFUSION_REDDIT_CLIENT_SECRET": "env-secret"}
    assert dict(load_credentials("reddit", environ=environ)) == {"client_id": "env-id", "client_secret": "env-secret"}
    file = tmp_path / "creds.toml"
    file.write_text('[reddit]\nclient_secret = "file-secret"\n[x]\nbearer_token = "b"\n')
    creds = load_credentials("reddit", file, environ=environ)
    assert dict(creds) == {"client_id": "env-id", "client_secret": "file-secret"}
    assert "secret" not in repr(creds).replace("client_secret", "") and "env-id" not in str(creds)
    file.write_text('[reddit]\npassword = "oops"\n')
    with pytest.raises(ConfigurationError, match="unknown reddit credential.*password"):
        load_credentials("reddit", file, environ={})
    file.write_text('[reddit\nclient_secret = "do-not-print"')
    with pytest.raises(ConfigurationError) as caught:
        load_credentials("reddit", file, environ={})
    assert "do-not-print" not in str(caught.value)
    assert repr(Credentials("x", {"bearer_token": "zzz"})) == "Credentials('x', bearer_token=***)"


def test_media_are_downloaded_content_addressed_within_limits(store, tmp_path):
    fake = FakeMastodon(20, page_size=10, media_every=5)
    with fake:
        fake.items[0]["media_attachments"] = [{"type": "image", "url": f"{fake.base_url}/media/big.png"}]
        fake.items[1]["media_attachments"] = [{"type": "image", "url": f"{fake.base_url}/media/page.html"}]
        fake.items[2]["media_attachments"] = [{"type": "image", "url": "/etc/passwd"}]
        result = run(store, fake, "#python", {}, media=tmp_path / "media", media_max_bytes=100_000)
    assert len(post_ids(store)) == 20
    files = sorted(path for path in (tmp_path / "media").rglob("*") if path.is_file())
    sha = hashlib.sha256(PNG_BYTES).hexdigest()
    assert [path.name for path in files] == [f"{sha}.png"]  # three posts (keys 15, 10, 5), one image: stored once
    assert result.media_downloaded == 3
    media = [item for row in store.read("posts", columns=["media"]).column("media").to_pylist() for item in row]
    local = [item for item in media if item["sha256"] == sha]
    assert len(local) == 3 and all(item["uri"] == str(files[0]) and item["error"] is None for item in local)
    refused = [item["error"] for item in media if item["error"]]
    assert len(refused) == 3
    assert any("too large" in error for error in refused) and any("not allowed" in error for error in refused)
    assert any("remote URL" in error or "escapes" in error for error in refused)
    assert not any(path.name.startswith(".part-") for path in (tmp_path / "media").iterdir())
