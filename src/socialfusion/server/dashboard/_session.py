"""Dashboard sessions: a token exchanged once for a signed, HttpOnly, SameSite=Strict cookie, and CSRF tokens.

A session lives in the server's memory (a restart logs everyone out): the cookie holds a random session id and its
HMAC-SHA256 under a key drawn when the server starts, so a forged or altered cookie is refused before any lookup.
``SessionMiddleware`` lets the cookie stand in for the bearer token on the API routes the dashboard calls: it adds
``Authorization: Bearer`` with the session's token, so ``AuthMiddleware`` checks it exactly as for any API client
(revocation, scopes, rate limits). A state-changing request (anything but GET, HEAD, OPTIONS) made with the cookie
must carry the session's CSRF token in ``X-CSRF-Token``, else it is refused with 403. A request that sends its own
``Authorization`` header is left as it is: API clients are not affected by the cookie.

Responses of the dashboard's own paths get a Content-Security-Policy that allows scripts, styles, images and
requests from the server itself only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialfusion.server.errors import error_response
from socialfusion.server.middleware import API_PREFIX

__all__ = [
    "CHART_CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Session",
    "SessionMiddleware",
    "Sessions",
    "is_dashboard_path",
]

SESSION_COOKIE = "sf_session"
CSRF_HEADER = "x-csrf-token"
DASHBOARD_PREFIX = "/ui"
STATIC_PREFIX = f"{DASHBOARD_PREFIX}/static/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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


@dataclass
class Session:
    """A logged-in dashboard user: the API token they logged in with (kept in memory only) and its CSRF token."""

    token: str
    token_id: str
    scopes: list[str]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The server's dashboard sessions, keyed by random ids signed with a per-process key.

    Args:
        idle_seconds: a session unused this long is over.
        max_seconds: a session is over this long after login, used or not.
        max_sessions: the most sessions kept; the least recently used goes first.
    """

    def __init__(self, idle_seconds: float = 8 * 3600, max_seconds: float = 24 * 3600, max_sessions: int = 10_000):
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.max_sessions = max_sessions
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _sign(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def create(self, token: str, token_id: str, scopes: list[str]) -> tuple[str, Session]:
        """A new session; returns the cookie value and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(token=token, token_id=token_id, scopes=list(scopes))
        with self._lock:
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                oldest = min(self._sessions, key=lambda key: self._sessions[key].seen)
                del self._sessions[oldest]
        return f"{session_id}.{self._sign(session_id)}", session

    def _session_id(self, cookie: str | None) -> str | None:
        session_id, _, signature = (cookie or "").partition(".")
        if not session_id or not signature or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        return session_id

    def get(self, cookie: str | None) -> Session | None:
        """The live session a cookie value names, or None (unsigned, altered, unknown, expired)."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > self.idle_seconds or now - session.created > self.max_seconds:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, cookie: str | None) -> None:
        """Log out: forget the session a cookie names."""
        session_id = self._session_id(cookie)
        if session_id is not None:
            with self._lock:
                self._sessions.pop(session_id, None)


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


class SessionMiddleware:
    """Outermost middleware: the session cookie as a bearer token on API routes (with CSRF on state-changing
    ones), the session in ``scope["state"]["session"]``, and security headers on the dashboard's responses."""

    def __init__(self, app: ASGIApp, sessions: Sessions):
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        has_bearer = any(key == b"authorization" for key, _ in headers)
        session = None if has_bearer else self.sessions.get(cookie_value(scope, SESSION_COOKIE))
        path = scope["path"]
        if session is not None:
            scope.setdefault("state", {})["session"] = session
            if path.startswith(f"{API_PREFIX}/"):
                if scope["method"] not in SAFE_METHODS:
                    sent = dict(headers).get(CSRF_HEADER.encode(), b"").decode("latin-1")
                    if not csrf_matches(session.csrf, sent):
                        await error_response(
                            403,
                            "missing or wrong CSRF token: a request made with the dashboard's "
                            f"session cookie must send its token in {CSRF_HEADER}",
                        )(scope, receive, send)
                        return
                scope = {**scope, "headers": [*headers, (b"authorization", f"Bearer {session.token}".encode())]}
        if not is_dashboard_path(path):
            await self.app(scope, receive, send)
            return

        # static files may be cached (plotly.js is 4.6 MB); pages and their data may not
        added = [
            (name, value)
            for name, value in _SECURITY_HEADERS
            if name != b"cache-control" or not path.startswith(STATIC_PREFIX)
        ]

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}  # a page's own policy wins
                headers = [*message.get("headers", []), *((k, v) for k, v in added if k not in present)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
