"""Cross-cutting request handling, as plain ASGI middleware: who is calling (tokens) and how often (rate limit),
how large a JSON body may be, and how long a request may run."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import math
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialfusion.app import TokenInfo, active_token, verify_token
from socialfusion.app._tokens import TOKENS_TABLE
from socialfusion.server.errors import error_response
from socialfusion.store import Store

__all__ = ["AuthMiddleware", "BodyLimitMiddleware", "RateLimiter", "TimeoutMiddleware", "TokenVerifier"]

API_PREFIX = "/api/v1"
# the dashboard's pages ("/", "/ui/...") log in with a session cookie and check it themselves (server/dashboard)
# The API's documents (/docs, its assets, the OpenAPI document) need a token like the API itself; in a browser the
# dashboard's session stands in for it (server/dashboard's SessionMiddleware puts it in scope["state"]["session"]).
PUBLIC_PATHS = frozenset({"/health", "/"})
PUBLIC_PREFIXES = ("/ui/",)
STREAMING_SUFFIXES = ("/events",)
_REVOKED_SESSION = "the token this dashboard session logged in with was revoked: log in again"
UPLOAD_PATH = f"{API_PREFIX}/uploads"


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _respond(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    await error_response(status, message, headers=headers)(scope, receive, send)


class TokenVerifier:
    """``verify_token`` (and ``active_token`` for a dashboard session's token id) with a cache: a token's scrypt
    hash is computed once, not on every request.

    The cache holds the SHA-256 of tokens (and the ids) already verified and is emptied whenever the token table
    changes (a token created or revoked by this server, the CLI or anyone else). The table's version is looked at
    most every ``recheck_seconds``, so a token revoked elsewhere stops working within that time; one revoked
    through this server stops at once (``forget``).
    """

    def __init__(self, store: Store, recheck_seconds: float = 1.0):
        self.store = store
        self.recheck_seconds = recheck_seconds
        self._cache: dict[str, TokenInfo] = {}
        self._version: int | None = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Empty the cache (after a token was revoked)."""
        with self._lock:
            self._cache.clear()
            self._checked = float("-inf")

    @staticmethod
    def _token_key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def _id_key(token_id: str) -> str:
        return f"id:{token_id}"

    def _cached(self, key: str) -> TokenInfo | None:
        with self._lock:
            if time.monotonic() - self._checked < self.recheck_seconds:
                return self._cache.get(key)
        return None

    def cached(self, token: str) -> TokenInfo | None:
        """The token's info when it was verified within ``recheck_seconds`` of the token table's last look, else
        None (then ``verify`` decides); never touches the store, so the event loop may call it."""
        return self._cached(self._token_key(token))

    def cached_id(self, token_id: str) -> TokenInfo | None:
        """``cached`` for a token given by its id (a dashboard session's)."""
        return self._cached(self._id_key(token_id))

    def _verified(self, key: str, look: Callable[[], TokenInfo | None]) -> TokenInfo | None:
        now = time.monotonic()
        with self._lock:
            fresh = now - self._checked < self.recheck_seconds
        if not fresh:
            version = self.store.version(TOKENS_TABLE)
            with self._lock:
                if version != self._version:
                    self._cache.clear()
                    self._version = version
                self._checked = now
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            version = self._version
        info = look()
        if info is not None:
            with self._lock:
                if version == self._version:
                    self._cache[key] = info
        return info

    def verify(self, token: str) -> TokenInfo | None:
        """The token's info when it is valid and not revoked, else None (blocking: call it off the event loop)."""
        return self._verified(self._token_key(token), lambda: verify_token(self.store, token))

    def verify_id(self, token_id: str) -> TokenInfo | None:
        """The info of the token with this id when it is not revoked, else None (blocking)."""
        return self._verified(self._id_key(token_id), lambda: active_token(self.store, token_id))


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, then ``rate`` per second on average.

    At most ``max_keys`` buckets are kept (the least recently used is dropped first, and it comes back full), so
    many distinct keys (client addresses) cannot grow the memory without bound.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def acquire(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens = self._level(key, now)
            if tokens >= 1.0:
                self._store(key, tokens - 1.0, now)
                return 0.0
            self._store(key, tokens, now)
            return (1.0 - tokens) / self.rate

    def wait(self, key: str) -> float:
        """The seconds before ``key`` may take one request (0 when it may now), without taking it."""
        now = time.monotonic()
        with self._lock:
            if key not in self._buckets:
                return 0.0
            return max(0.0, (1.0 - self._level(key, now)) / self.rate)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


class AuthMiddleware:
    """Every path but the public ones (``/health`` and the dashboard's own pages) needs a valid bearer token (401
    otherwise; the dashboard's session counts as one), checked before the request body is read; each token's
    requests are rate-limited (429 with Retry-After). The token's info goes to ``scope["state"]["token"]`` for the
    routes' scope checks (403).

    Failed attempts are throttled per client address (``failures``: each invalid or revoked token takes one
    request from the address's bucket): once a client has spent its allowance, every request it makes that needs a
    token is answered 429 with Retry-After, before any token is checked, so tokens cannot be guessed at speed (nor
    scrypt be made to run for every guess). A valid token does not reset the count: only time does.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Callable[[], TokenVerifier],
        limiter: Callable[[], RateLimiter],
        failures: Callable[[], RateLimiter | None] = lambda: None,
    ):
        self.app = app
        self.verifier = verifier
        self.limiter = limiter
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        failures, address = self.failures(), _client_address(scope)
        if failures is not None:
            wait = failures.wait(address)
            if wait > 0:
                await _respond(
                    scope,
                    receive,
                    send,
                    429,
                    f"too many failed authentications from {address}; retry in {wait:.0f} s",
                    _retry_after(wait),
                )
                return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        session = scope.get("state", {}).get("session")
        verifier = self.verifier()
        challenge = {"WWW-Authenticate": "Bearer"}
        if not header and session is not None:  # the dashboard's session (SessionMiddleware checked its cookie)
            info = verifier.cached_id(session.token_id) or await asyncio.to_thread(verifier.verify_id,
                                                                                    session.token_id)
            refusal = _REVOKED_SESSION
        else:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await _respond(
                    scope,
                    receive,
                    send,
                    401,
                    "missing bearer token: send 'Authorization: Bearer <token>' "
                    "(create one with: socialfusion tokens create)",
                    challenge,
                )
                return
            info = verifier.cached(token.strip()) or await asyncio.to_thread(verifier.verify, token.strip())
            refusal = "invalid or revoked token"
        if info is None:
            if failures is not None and refusal != _REVOKED_SESSION:  # a signed cookie is no guess
                failures.acquire(address)
            await _respond(scope, receive, send, 401, refusal, challenge)
            return
        wait = self.limiter().acquire(info.token_id)
        if wait > 0:
            await _respond(
                scope,
                receive,
                send,
                429,
                f"too many requests with this token; retry in {wait:.2f} s",
                _retry_after(wait),
            )
            return
        scope.setdefault("state", {})["token"] = info
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse a request body larger than ``limit()`` bytes with 413: by its Content-Length before reading it, and
    by counting as it streams (for chunked bodies). Uploads have their own, larger limit."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _respond(
                scope,
                receive,
                send,
                413,
                f"request body of {int(length):,} bytes is larger than the {limit:,} bytes accepted",
            )
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _respond(scope, receive, send, 413, f"request body is larger than the {limit:,} bytes accepted")


class _TooLarge(Exception):
    pass


class TimeoutMiddleware:
    """Answer 504 when a request runs longer than ``timeout()`` seconds (event streams and uploads excepted)."""

    def __init__(self, app: ASGIApp, timeout: Callable[[], float]):
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.endswith(STREAMING_SUFFIXES) or path == UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        timeout = self.timeout()
        try:
            await asyncio.wait_for(self.app(scope, receive, tracked), timeout)
        except TimeoutError:
            if not started:
                await _respond(scope, receive, send, 504, f"the request took longer than {timeout:g} s")
