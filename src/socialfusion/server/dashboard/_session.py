"""Dashboard sessions: a token exchanged once for a signed, HttpOnly, SameSite=Strict cookie, and CSRF tokens.

The cookie carries the session (its random id, the id of the API token it logged in with, when it logged in and
was last seen) under an HMAC-SHA256 signature by a key every process of the server shares, so any of them
recognises it and a forged or altered cookie is refused before any lookup. The API token itself is kept nowhere:
``AuthMiddleware`` checks the session's token by its id at each request (revocation, scopes, rate limits), exactly
as it checks a bearer token. A state-changing request (anything but GET, HEAD, OPTIONS) made with the cookie must
carry the session's CSRF token in ``X-CSRF-Token``, else it is refused with 403. A request that sends its own
``Authorization`` header is left as it is: API clients are not affected by the cookie. Logging out is recorded in
the store, so every process refuses the cookie afterwards.

Responses of the dashboard's own paths get a Content-Security-Policy that allows scripts, styles, images and
requests from the server itself only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

import pyarrow as pa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialfusion.server.errors import error_response
from socialfusion.server.middleware import API_PREFIX
from socialfusion.store import Store, sql_timestamp

__all__ = [
    "CHART_CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY",
    "CSRF_HEADER",
    "LOGOUTS_TABLE",
    "SESSION_COOKIE",
    "Session",
    "SessionMiddleware",
    "Sessions",
    "is_dashboard_path",
    "session_cookie_header",
]

SESSION_COOKIE = "sf_session"
CSRF_HEADER = "x-csrf-token"
DASHBOARD_PREFIX = "/ui"
STATIC_PREFIX = f"{DASHBOARD_PREFIX}/static/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGOUTS_TABLE = "dashboard_logouts"
_LOGOUTS_SCHEMA = pa.schema([("session_digest", pa.string()), ("expires_at", pa.timestamp("us", tz="UTC"))])

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""Only the server's own files run or load; no inline script, no inline event handler, no other origin."""

CHART_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""The policy of pages with Plotly charts: plotly.js sets ``style`` attributes on the SVG it draws and injects a
stylesheet, which a policy without ``'unsafe-inline'`` styles blocks; scripts stay the server's own files only
(plotly.min.js needs no ``eval``)."""

_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def is_dashboard_path(path: str) -> bool:
    """Whether a path is the dashboard's (its pages, login, static files) rather than the API's."""
    return path == "/" or path == DASHBOARD_PREFIX or path.startswith(f"{DASHBOARD_PREFIX}/")


@dataclass(frozen=True)
class Session:
    """A logged-in dashboard user, as its cookie says: the id of the API token they logged in with (never the token
    itself), when they logged in and were last seen (Unix milliseconds), and the session's CSRF token."""

    session_id: str
    token_id: str
    created_ms: int
    seen_ms: int
    csrf: str


def _now_ms() -> int:
    return int(time.time() * 1000)


class Sessions:
    """The dashboard's sessions, carried by signed cookies so that every process of a server recognises them.

    A cookie reads ``<session id>.<token id>.<login ms>.<last seen ms>.<signature>``: HMAC-SHA256 under ``key``,
    which every process of one server shares (``Settings.session_key``; drawn at start when unset, so a restart
    logs everyone out). A cookie forged, altered, idle for ``idle_seconds`` or older than ``max_seconds`` is
    refused without touching the store. The middleware sends a fresh cookie (its "last seen" moved on) once the old
    one is ``touch_seconds`` old. The token's scopes and revocation are checked by the caller, through the token id.

    Logging out is recorded in the store (``LOGOUTS_TABLE``: the SHA-256 of ended session ids until their cookies
    would expire anyway), so a session ended in one process is refused by all of them within ``recheck_seconds``.

    Args:
        key: the signing key (at least 32 bytes); default: a random one.
        idle_seconds: a session unused this long is over.
        max_seconds: a session is over this long after login, used or not.
        touch_seconds: how stale a cookie's "last seen" may be before a fresh cookie is sent.
        recheck_seconds: how often the store's logouts are looked at.
    """

    def __init__(self, key: bytes | None = None, *, idle_seconds: float = 8 * 3600, max_seconds: float = 24 * 3600,
                 touch_seconds: float = 300.0, recheck_seconds: float = 1.0):
        if key is not None and len(key) < 32:
            raise ValueError(f"a session key needs at least 32 bytes, got {len(key)}")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.touch_seconds = touch_seconds
        self.recheck_seconds = recheck_seconds
        self.store: Store | None = None
        self._key = key or secrets.token_bytes(32)
        self._ended: set[str] = set()
        self._ended_version: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def attach(self, store: Store) -> None:
        """Record and read logouts in ``store`` (without one, a logout is known to this process only)."""
        self.store = store
        self._checked = float("-inf")

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _cookie(self, session_id: str, token_id: str, created_ms: int, seen_ms: int) -> str:
        body = f"{session_id}.{token_id}.{created_ms}.{seen_ms}"
        return f"{body}.{self._mac(body)}"

    def create(self, token_id: str) -> tuple[str, Session]:
        """A new session for a verified token; returns the cookie value and the session."""
        session_id, now = secrets.token_urlsafe(32), _now_ms()
        return self._cookie(session_id, token_id, now, now), self._session(session_id, token_id, now, now)

    def _session(self, session_id: str, token_id: str, created_ms: int, seen_ms: int) -> Session:
        return Session(session_id, token_id, created_ms, seen_ms, csrf=self._mac(f"csrf.{session_id}"))

    def parse(self, cookie: str | None) -> Session | None:
        """The session a cookie value carries when it is signed by this server's key and neither idle nor too old,
        else None. Never touches the store: ``is_ended`` says whether it was logged out."""
        parts = (cookie or "").split(".")
        if len(parts) != 5 or not all(parts) or not parts[2].isdigit() or not parts[3].isdigit():
            return None
        session_id, token_id, created, seen, signature = parts
        if not hmac.compare_digest(signature, self._mac(".".join(parts[:4]))):
            return None
        now = _now_ms()
        if now - int(seen) > self.idle_seconds * 1000 or now - int(created) > self.max_seconds * 1000:
            return None
        return self._session(session_id, token_id, int(created), int(seen))

    def touched(self, session: Session) -> str | None:
        """A fresh cookie for a session whose cookie's "last seen" is ``touch_seconds`` old, else None."""
        now = _now_ms()
        if now - session.seen_ms < self.touch_seconds * 1000:
            return None
        return self._cookie(session.session_id, session.token_id, session.created_ms, now)

    @staticmethod
    def _digest(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def is_ended(self, session: Session) -> bool:
        """Whether the session was logged out (as of the last look at the store; see ``logouts_stale``)."""
        with self._lock:
            return self._digest(session.session_id) in self._ended

    def logouts_stale(self) -> bool:
        """Whether the store's logouts are due for a look (``read_logouts``)."""
        return self.store is not None and time.monotonic() - self._checked >= self.recheck_seconds

    def read_logouts(self) -> None:
        """Read the store's logouts when their table changed (blocking: call it off the event loop)."""
        store = self.store
        if store is None:
            return
        version = store.version(LOGOUTS_TABLE)
        with self._lock:
            unchanged = version == self._ended_version
            self._checked = time.monotonic()
        if unchanged or version is None:
            return
        ended = store.read(LOGOUTS_TABLE, columns=["session_digest"]).column("session_digest").to_pylist()
        with self._lock:
            self._ended.update(ended)
            self._ended_version = version

    def end(self, session: Session) -> None:
        """Log out: the session is refused from now on, by every process of the server (blocking: it writes)."""
        digest = self._digest(session.session_id)
        with self._lock:
            self._ended.add(digest)
        if self.store is None:
            return
        now = dt.datetime.now(dt.UTC)
        expires = dt.datetime.fromtimestamp(session.created_ms / 1000 + self.max_seconds, dt.UTC)
        row = pa.Table.from_pylist([{"session_digest": digest, "expires_at": expires}], schema=_LOGOUTS_SCHEMA)
        self.store.write(LOGOUTS_TABLE, row, mode="upsert", key="session_digest")
        # a cookie past its lifetime is refused anyway: its logout need not be kept
        self.store.delete(LOGOUTS_TABLE, f"expires_at < {sql_timestamp(now)}")


def cookie_value(scope: Scope, name: str) -> str | None:
    """The value of the cookie ``name`` of a request, or None."""
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            try:
                jar = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            if name in jar:
                return jar[name].value
    return None


def csrf_matches(expected: str, given: str | None) -> bool:
    """Whether a CSRF token sent equals the expected one (compared in constant time)."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def session_cookie_header(value: str, *, secure: bool) -> bytes:
    """A ``Set-Cookie`` header value for the session cookie: HttpOnly, SameSite=Strict, for the whole site."""
    jar = SimpleCookie()
    jar[SESSION_COOKIE] = value
    jar[SESSION_COOKIE].update({"path": "/", "httponly": True, "samesite": "Strict", "secure": secure})
    return jar.output(header="").strip().encode("latin-1")


class SessionMiddleware:
    """Outermost middleware: the session cookie as a login on API routes (with CSRF on state-changing ones), the
    session in ``scope["state"]["session"]`` (``AuthMiddleware`` checks its token), a fresh cookie when the old
    one's "last seen" is stale, and security headers on the dashboard's responses.

    Args:
        app: the application.
        sessions: the server's ``Sessions``, looked up at each request (the lifespan makes them).
    """

    def __init__(self, app: ASGIApp, sessions: Callable[[], Sessions]):
        self.app = app
        self.sessions = sessions

    async def _session(self, scope: Scope) -> Session | None:
        cookie = cookie_value(scope, SESSION_COOKIE)
        if cookie is None:
            return None
        sessions = self.sessions()
        session = sessions.parse(cookie)
        if session is None:
            return None
        if sessions.logouts_stale():
            await asyncio.to_thread(sessions.read_logouts)
        return None if sessions.is_ended(session) else session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        has_bearer = any(key == b"authorization" for key, _ in headers)
        session = None if has_bearer else await self._session(scope)
        path = scope["path"]
        added: list[tuple[bytes, bytes]] = []
        if session is not None:
            scope.setdefault("state", {})["session"] = session
            if path.startswith(f"{API_PREFIX}/") and scope["method"] not in SAFE_METHODS:
                sent = dict(headers).get(CSRF_HEADER.encode(), b"").decode("latin-1")
                if not csrf_matches(session.csrf, sent):
                    await error_response(
                        403,
                        "missing or wrong CSRF token: a request made with the dashboard's "
                        f"session cookie must send its token in {CSRF_HEADER}",
                    )(scope, receive, send)
                    return
            fresh = self.sessions().touched(session)
            if fresh is not None:
                added.append((b"set-cookie", session_cookie_header(fresh, secure=scope.get("scheme") == "https")))
        if is_dashboard_path(path):
            # static files may be cached (plotly.js is 4.6 MB); pages and their data may not
            added += [
                (name, value)
                for name, value in _SECURITY_HEADERS
                if name != b"cache-control" or not path.startswith(STATIC_PREFIX)
            ]
        if not added:
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}  # a page's own policy wins
                ours = [(key, value) for key, value in added if key not in present or key == b"set-cookie"]
                if any(key.lower() == b"set-cookie" and value.startswith(f"{SESSION_COOKIE}=".encode())
                       for key, value in message.get("headers", [])):  # a login or logout sets its own cookie
                    ours = [(key, value) for key, value in ours if key != b"set-cookie"]
                message = {**message, "headers": [*message.get("headers", []), *ours]}
            await send(message)

        await self.app(scope, receive, secured)
