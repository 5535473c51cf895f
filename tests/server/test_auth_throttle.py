"""Failed authentications are throttled per client address: 429 with Retry-After, bounded memory."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialfusion.server import Settings, create_app
from socialfusion.server.middleware import RateLimiter

from .conftest import bearer

API = "/api/v1"
WRONG = bearer("sf_0000000000000000_" + "B" * 43)


def test_repeated_bad_tokens_from_one_address_answer_429(store_path, tokens):
    settings = Settings(store=store_path, auth_failure_burst=3, auth_failures_per_minute=1)
    with TestClient(create_app(settings), client=("192.0.2.1", 4000)) as attacker:
        for _ in range(5):  # a missing token is no guess: it does not count
            assert attacker.get(f"{API}/stats").status_code == 401
        assert [attacker.get(f"{API}/stats", headers=WRONG).status_code for _ in range(3)] == [401] * 3
        throttled = attacker.get(f"{API}/stats", headers=WRONG)
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        # the address is refused before any token is checked: a valid token does not get through either
        assert attacker.get(f"{API}/stats", headers=tokens.read).status_code == 429
        assert attacker.get("/health").status_code == 200
        other = TestClient(attacker.app, client=("192.0.2.2", 4000))  # the same server, another address
        assert other.get(f"{API}/stats", headers=tokens.read).status_code == 200
        assert other.get(f"{API}/stats", headers=WRONG).status_code == 401


def test_the_throttle_lets_an_address_retry_after_the_wait(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("socialfusion.server.middleware.time.monotonic", lambda: now[0])
    limiter = RateLimiter(rate=0.5, burst=2)
    assert limiter.wait("a") == 0.0
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") == 0.0
    assert limiter.wait("a") == 2.0
    now[0] += 1.0
    assert limiter.wait("a") == 1.0
    now[0] += 1.0
    assert limiter.wait("a") == 0.0 and limiter.acquire("a") == 0.0


def test_the_throttle_keeps_a_bounded_number_of_addresses():
    limiter = RateLimiter(rate=0.1, burst=1, max_keys=100)
    for index in range(10_000):
        limiter.acquire(f"10.0.{index // 256}.{index % 256}")
    assert len(limiter) == 100
    assert limiter.wait("10.0.39.15") > 0  # the most recent addresses are kept
    assert limiter.wait("10.0.0.0") == 0.0  # the oldest were dropped


def test_a_verified_token_is_answered_from_memory_until_the_table_is_looked_at_again(store_path, monkeypatch):
    import socialfusion as sf
    from socialfusion import app
    from socialfusion.server.middleware import TokenVerifier

    now = [1000.0]
    monkeypatch.setattr("socialfusion.server.middleware.time.monotonic", lambda: now[0])
    store = sf.connect(store_path)
    created = app.create_token(store, app.TokenParams(name="cached", scopes=["read"]))
    verifier = TokenVerifier(store, recheck_seconds=1.0)
    assert verifier.cached(created.token) is None  # never verified: the caller must verify (scrypt, in a thread)
    assert verifier.verify(created.token).token_id == created.info.token_id
    assert verifier.cached(created.token).token_id == created.info.token_id
    assert verifier.cached(created.token + "x") is None
    app.revoke_token(store, created.info.token_id)
    now[0] += 1.5  # past the recheck: the cache no longer answers, and verify sees the revocation
    assert verifier.cached(created.token) is None and verifier.verify(created.token) is None
    verifier.forget()
    assert verifier.cached(created.token) is None
