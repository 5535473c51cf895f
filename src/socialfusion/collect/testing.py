"""Fake platform API servers on 127.0.0.1, for tests and benchmarks: real HTTP, documented page shapes, faults.

Each server runs ``http.server`` in a background thread and serves a programmable item set (newest first) in
its API's documented shape, written from the platforms' API documentation: Mastodon statuses with ``Link``
headers, Bluesky ``searchPosts``/``getAuthorFeed`` with cursors and app-password sessions, Reddit listings and
comment trees behind an OAuth client-credentials token, X API v2 search and user timelines with ``next_token``.
Faults are injected by request number (1 = the first API request; auth requests are not counted), so a test
says exactly which request fails and how.

Examples:
    >>> from socialfusion.collect import Source, collect
    >>> from socialfusion.store import connect
    >>> with FakeMastodon(n_items=30, page_size=10) as base_url:
    ...     result = collect(connect("memory://"), Source("mastodon", "#python", base_url), detect_language=False)
    >>> result.ingested
    30
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["Answer", "FakeBluesky", "FakeMastodon", "FakeReddit", "FakeServer", "FakeX", "Faults", "PNG_BYTES"]

_EPOCH = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
_HTML_404 = b"<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>404</h1></body></html>"
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
"""A valid 1x1 PNG image: what the fake servers' media URLs serve."""
BASE_URL_PLACEHOLDER = "http://fake-base.invalid"
"""Items may hold URLs of the server itself before it has a port: this prefix is replaced by its base URL."""
_WORDS = ("coffee", "river", "python", "garden", "music", "rain", "bread", "mountain", "tea", "city", "book", "cat")


@dataclass
class Faults:
    """Faults to inject, by API request number (1-based; authentication requests are not counted).

    Attributes:
        rate_limit: answered 429 with the platform's reset headers, ``reset_seconds`` ahead.
        server_error: answered 500.
        slow: answered after ``slow_seconds`` (set it past the client's timeout).
        truncated: a 200 whose JSON body is cut in half.
        expire_session: (Bluesky) the session's access token has expired when this request arrives.
        repeat: every page after the first starts with the last item of the page before (items repeated).
        reset_seconds: the wait a 429 asks for.
        slow_seconds: how long a slow answer takes.
    """

    rate_limit: set[int] = field(default_factory=set)
    server_error: set[int] = field(default_factory=set)
    slow: set[int] = field(default_factory=set)
    truncated: set[int] = field(default_factory=set)
    expire_session: set[int] = field(default_factory=set)
    repeat: bool = False
    reset_seconds: float = 0.3
    slow_seconds: float = 1.0


@dataclass
class Answer:
    """An HTTP answer of a fake server: a JSON ``body`` (or ``raw`` bytes), status and headers. A test may replace
    a server's ``route`` with its own function returning one."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet: tests read the server's counters instead
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client closed a kept-alive connection
            pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        answer = fake.answer(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        payload = payload.replace(BASE_URL_PLACEHOLDER.encode(), fake.base_url.encode())
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): nothing to answer
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")


class FakeServer:
    """A platform API on ``127.0.0.1`` in a background thread, serving ``items`` (newest first) in pages.

    Use it as a context manager: ``with FakeMastodon(n_items=100) as base_url: ...``. Items may be added
    (``add_items``) or deleted (``delete``) while it runs; ``requests`` counts the API requests served and
    ``expected_post_ids()`` is the set of store post ids a lossless collection ends with.

    Args:
        n_items: items created at the start.
        page_size: the most items a page holds (the API's maximum when None).
        faults: faults to inject.
        delay: seconds every API answer waits (a slow server, to kill a collection mid-run).
        seed: seed of the generated texts.
        media_every: every n-th item carries an image served by this server (0: none).
    """

    platform = ""
    max_page_size = 40

    def __init__(
        self,
        n_items: int = 100,
        *,
        page_size: int | None = None,
        faults: Faults | None = None,
        delay: float = 0.0,
        seed: int = 0,
        media_every: int = 0,
    ):
        self.page_size = min(page_size or self.max_page_size, self.max_page_size)
        self.faults = faults or Faults()
        self.delay = delay
        self.media_every = media_every
        self.requests = 0
        self.paths: list[str] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._entries: list[tuple[int, dict[str, Any]]] = []  # (key, item), newest (largest key) first
        self._negated_keys: list[int] = []
        self._next_key = 1
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.add_items(n_items)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving; returns the base URL (``http://127.0.0.1:PORT``)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fake-{self.platform}", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the item set -------------------------------------------------------------------------------------
    @property
    def items(self) -> list[dict[str, Any]]:
        """The items served, newest first (the dicts themselves: a test may spoil one in place)."""
        with self._lock:
            return [item for _, item in self._entries]

    def add_items(self, n: int) -> list[dict[str, Any]]:
        """Add ``n`` items newer than every item so far; returns them."""
        with self._lock:
            made = []
            for _ in range(n):
                key = self._next_key
                self._next_key += 1
                made.append((key, self.make_item(key)))
            self._entries[:0] = reversed(made)
            self._negated_keys = [-key for key, _ in self._entries]
            return [item for _, item in made]

    def delete(self, keys: Iterable[int]) -> None:
        """Delete the items with these keys (1 = the oldest item ever made), as a deleted post disappears."""
        gone = set(keys)
        with self._lock:
            self._entries = [(key, item) for key, item in self._entries if key not in gone]
            self._negated_keys = [-key for key, _ in self._entries]

    def expected_post_ids(self) -> set[str]:
        """The post ids a collection of every item should store."""
        return {post_id for item in self.items for post_id in self.post_ids_of(item)}

    def make_item(self, key: int) -> dict[str, Any]:
        """The platform object of the item with ``key``."""
        raise NotImplementedError

    def post_ids_of(self, item: dict[str, Any]) -> list[str]:
        """The store post ids an item gives."""
        raise NotImplementedError

    def text_of(self, key: int) -> str:
        words = " ".join(self._random.choice(_WORDS) for _ in range(6))
        return f"Post {key}: {words} #fake{key % 5}"

    def created_at(self, key: int) -> dt.datetime:
        return _EPOCH + dt.timedelta(minutes=key)

    def media_url(self, key: int) -> str | None:
        if self.media_every and key % self.media_every == 0:
            return f"{BASE_URL_PLACEHOLDER}/media/{key}.png"
        return None

    # -- serving ------------------------------------------------------------------------------------------
    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """The answer to one request (with the faults of its number)."""
        url = urlparse(target)
        params = {name: values[-1] for name, values in parse_qs(url.query).items()}
        if url.path.startswith("/media/"):
            return self._media(url.path)
        auth = self.authenticate(method, url.path, headers, body)
        if auth is not None:
            return auth
        with self._lock:
            self.requests += 1
            number = self.requests
            self.paths.append(target)
        faults = self.faults
        if self.delay:
            time.sleep(self.delay)
        if number in faults.slow:
            time.sleep(faults.slow_seconds)
        if number in faults.expire_session:
            self.expire_session()
        refused = self.check_access(headers)
        if refused is not None:
            return refused
        if number in faults.rate_limit:
            return Answer(429, {"error": "Too many requests"}, self.rate_limit_headers(faults.reset_seconds))
        if number in faults.server_error:
            return Answer(500, {"error": "Internal server error"})
        answer = self.route(method, url.path, params)
        if number in faults.truncated and answer.status == 200:
            whole = json.dumps(answer.body).encode()
            return Answer(200, raw=whole[: max(1, len(whole) // 2)], headers=answer.headers)
        return answer

    def _media(self, path: str) -> Answer:
        name = path.rsplit("/", 1)[-1]
        if name.startswith("big"):
            return Answer(200, raw=PNG_BYTES + b"\0" * 200_000, content_type="image/png")
        if name.endswith(".html"):
            return Answer(200, raw=_HTML_404, content_type="text/html")
        return Answer(200, raw=PNG_BYTES, content_type="image/png")

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        """The answer to an authentication request (not counted as an API request), None for others."""
        return None

    def check_access(self, headers: dict[str, str]) -> Answer | None:
        """A 401/400 answer when the request's credentials are wrong, else None."""
        return None

    def expire_session(self) -> None:
        """Make the current session token expire (platforms with sessions)."""

    def rate_limit_headers(self, seconds: float) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(seconds)))}

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer:
        raise NotImplementedError

    def window(
        self, *, below: int | None = None, above: int | None = None, limit: int, oldest_first: bool = False
    ) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` entries with ``above < key < below``, newest first (``oldest_first``: the ``limit``
        oldest of them, still returned newest first); with ``faults.repeat`` a page asked ``below`` a key also
        starts with that key's item again."""
        limit = max(1, min(limit, self.page_size))
        with self._lock:
            # _negated_keys ascends as the entries' keys descend: bisect finds the window (big item sets)
            first = 0 if below is None else bisect.bisect_left(self._negated_keys, -below)
            end = len(self._entries) if above is None else bisect.bisect_left(self._negated_keys, -above)
            repeated = [self._entries[first]] if first < end and self._entries[first][0] == below else []
            first += len(repeated)
            start, stop = (max(first, end - limit), end) if oldest_first else (first, min(end, first + limit))
            chosen = self._entries[start:stop]
        if self.faults.repeat and below is not None and repeated and chosen:
            chosen = repeated + chosen[: limit - 1]
        return chosen


def _number(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class FakeMastodon(FakeServer):
    """Mastodon: ``/api/v1/timelines/tag/:tag``, ``/api/v1/accounts/lookup``, ``/api/v1/accounts/:id/statuses``
    and ``/api/v2/search``, paged by ``max_id``/``since_id``/``min_id`` with ``Link`` headers; an optional token.

    Args:
        token: when given, every request must carry ``Authorization: Bearer <token>``.
        **options: see ``FakeServer``.
    """

    platform = "mastodon"
    max_page_size = 40
    _ID_BASE = 110_000_000_000_000_000

    def __init__(self, n_items: int = 100, *, token: str | None = None, **options: Any):
        self.token = token
        super().__init__(n_items, **options)

    def make_item(self, key: int) -> dict[str, Any]:
        author = key % 7
        created = self.created_at(key)
        status = {
            "id": str(self._ID_BASE + key),
            "created_at": created.isoformat().replace("+00:00", ".000Z"),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"https://fake.example/users/user{author}/statuses/{self._ID_BASE + key}",
            "url": f"https://fake.example/@user{author}/{self._ID_BASE + key}",
            "replies_count": key % 3,
            "reblogs_count": key % 4,
            "favourites_count": key % 5,
            "content": f"<p>{self.text_of(key)}</p>",
            "reblog": None,
            "account": {
                "id": str(1000 + author),
                "username": f"user{author}",
                "acct": f"user{author}",
                "display_name": f"User {author}",
                "note": "<p>A fake account</p>",
                "followers_count": author * 10,
                "following_count": author,
                "created_at": "2022-01-01T00:00:00.000Z",
                "bot": False,
            },
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": f"fake{key % 5}", "url": f"https://fake.example/tags/fake{key % 5}"}],
        }
        if url := self.media_url(key):
            status["media_attachments"] = [{"id": str(key), "type": "image", "url": url, "remote_url": None}]
        return status

    def post_ids_of(self, item: dict[str, Any]) -> list[str]:
        return [item["id"]] if item.get("id") else []

    def check_access(self, headers: dict[str, str]) -> Answer | None:
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return Answer(401, {"error": "The access token is invalid"})
        return None

    def rate_limit_headers(self, seconds: float) -> dict[str, str]:
        reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer:
        if path == "/api/v1/accounts/lookup":
            acct = params.get("acct", "")
            if acct.split("@")[0].startswith("user"):
                return Answer(body={"id": "1001", "username": acct.split("@")[0], "acct": acct})
            return Answer(404, {"error": "Record not found"})
        timeline = path.startswith("/api/v1/timelines/tag/") or (
            path.startswith("/api/v1/accounts/") and path.endswith("/statuses")
        )
        if not timeline and path != "/api/v2/search":
            return Answer(404, raw=_HTML_404, content_type="text/html; charset=utf-8")
        limit = _number(params.get("limit")) or 20
        below = _number(params.get("max_id"))
        min_id, since_id = _number(params.get("min_id")), _number(params.get("since_id"))
        above = max(value for value in (min_id, since_id, 0) if value is not None)
        page = self.window(
            below=None if below is None else below - self._ID_BASE,
            above=above - self._ID_BASE if above else None,
            limit=limit,
            oldest_first=min_id is not None,
        )
        statuses = [item for _, item in page]
        headers = {}
        if page:
            link = f"{self.base_url}{path}"
            newest, oldest = page[0][0] + self._ID_BASE, page[-1][0] + self._ID_BASE
            headers["Link"] = f'<{link}?max_id={oldest}>; rel="next", <{link}?min_id={newest}>; rel="prev"'
        if path == "/api/v2/search":
            return Answer(body={"accounts": [], "statuses": statuses, "hashtags": []})
        return Answer(body=statuses, headers=headers)


class FakeBluesky(FakeServer):
    """Bluesky XRPC: ``app.bsky.feed.searchPosts`` and ``app.bsky.feed.getAuthorFeed`` with cursors, and
    app-password sessions (``com.atproto.server.createSession``/``refreshSession``).

    Args:
        handle, app_password: when given, every request needs a session created with them; an access token
            expires with the ``expire_session`` fault (answered 400 ``ExpiredToken``, as the PDS does).
        **options: see ``FakeServer``.
    """

    platform = "bluesky"
    max_page_size = 100

    def __init__(
        self, n_items: int = 100, *, handle: str | None = None, app_password: str | None = None, **options: Any
    ):
        self.handle = handle
        self.app_password = app_password
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self._access: str | None = None
        self._refresh: str | None = None
        super().__init__(n_items, **options)

    def make_item(self, key: int) -> dict[str, Any]:
        author = key % 6
        did = f"did:plc:fakeauthor{author}"
        created = self.created_at(key).isoformat().replace("+00:00", ".000Z")
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": self.text_of(key),
            "createdAt": created,
            "langs": ["en"],
        }
        if url := self.media_url(key):
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": url, "title": "a link", "description": ""},
            }
        return {
            "uri": f"at://{did}/app.bsky.feed.post/3k{key:010d}",
            "cid": f"bafyfake{key}",
            "author": {"did": did, "handle": f"user{author}.bsky.social", "displayName": f"User {author}"},
            "record": record,
            "replyCount": 0,
            "repostCount": key % 3,
            "likeCount": key % 7,
            "quoteCount": 0,
            "indexedAt": created,
        }

    def post_ids_of(self, item: dict[str, Any]) -> list[str]:
        return [item["uri"]] if item.get("uri") else []

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        if path == "/xrpc/com.atproto.server.createSession" and method == "POST":
            try:
                login = json.loads(body or b"{}")
            except json.JSONDecodeError:
                login = {}
            if login.get("identifier") != self.handle or login.get("password") != self.app_password:
                return Answer(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
            self.sessions_created += 1
            return self._new_session()
        if path == "/xrpc/com.atproto.server.refreshSession" and method == "POST":
            if not self._refresh or headers.get("authorization") != f"Bearer {self._refresh}":
                return Answer(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.sessions_refreshed += 1
            return self._new_session()
        return None

    def _new_session(self) -> Answer:
        with self._lock:
            self._access = f"access-{self._random.getrandbits(64):x}"
            self._refresh = f"refresh-{self._random.getrandbits(64):x}"
        return Answer(
            body={
                "accessJwt": self._access,
                "refreshJwt": self._refresh,
                "handle": self.handle,
                "did": "did:plc:collector",
                "active": True,
            }
        )

    def expire_session(self) -> None:
        with self._lock:
            self._access = None

    def check_access(self, headers: dict[str, str]) -> Answer | None:
        if self.handle is None:
            return None
        given = headers.get("authorization")
        if given is None:
            return Answer(401, {"error": "AuthenticationRequired", "message": "Authentication Required"})
        if given != f"Bearer {self._access}":
            return Answer(400, {"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def rate_limit_headers(self, seconds: float) -> dict[str, str]:
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(time.time() + seconds + 0.999)),
            "ratelimit-policy": "3000;w=300",
        }

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer:
        search = path == "/xrpc/app.bsky.feed.searchPosts"
        if not search and path != "/xrpc/app.bsky.feed.getAuthorFeed":
            return Answer(404, raw=_HTML_404, content_type="text/html")
        if not search and not params.get("actor"):
            return Answer(400, {"error": "InvalidRequest", "message": 'Error: Params must have the property "actor"'})
        page = self.window(below=_number(params.get("cursor")), limit=_number(params.get("limit")) or 25)
        body: dict[str, Any] = (
            {"posts": [item for _, item in page]} if search else {"feed": [{"post": item} for _, item in page]}
        )
        if len(page) and page[-1][0] > 1:
            body["cursor"] = str(page[-1][0])
        return Answer(body=body)


class FakeReddit(FakeServer):
    """Reddit: ``POST /api/v1/access_token`` (client credentials), ``/r/:sub/new`` listings with ``after``,
    and ``/r/:sub/comments/:id`` comment trees (``replies`` nested listings).

    Args:
        client_id, client_secret: the app's credentials the token endpoint accepts.
        comments_per_post: comments under each submission (every third one a reply to the one before).
        deleted_comments_every: every n-th comment is deleted (``[deleted]`` author and body), 0: none.
        **options: see ``FakeServer``.
    """

    platform = "reddit"
    max_page_size = 100

    def __init__(
        self,
        n_items: int = 100,
        *,
        client_id: str = "fake-client",
        client_secret: str = "fake-secret",
        comments_per_post: int = 2,
        deleted_comments_every: int = 0,
        **options: Any,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.comments_per_post = comments_per_post
        self.deleted_comments_every = deleted_comments_every
        self.tokens_issued = 0
        self._token = "fake-reddit-token"
        super().__init__(n_items, **options)

    def _comment(self, key: int, index: int, parent: str) -> dict[str, Any]:
        number = key * 100 + index
        deleted = self.deleted_comments_every and number % self.deleted_comments_every == 0
        return {
            "id": f"c{number:x}",
            "name": f"t1_c{number:x}",
            "parent_id": parent,
            "link_id": f"t3_s{key:x}",
            "author": "[deleted]" if deleted else f"redditor{number % 9}",
            "body": "[deleted]" if deleted else f"Comment {index} on {key}: {self.text_of(key)}",
            "created_utc": self.created_at(key).timestamp() + 30 + index,
            "score": index,
            "subreddit": "fake",
            "permalink": f"/r/fake/comments/s{key:x}/_/c{number:x}/",
            "replies": "",
        }

    def make_item(self, key: int) -> dict[str, Any]:
        submission = {
            "id": f"s{key:x}",
            "name": f"t3_s{key:x}",
            "title": f"Submission {key}",
            "selftext": self.text_of(key),
            "author": f"redditor{key % 9}",
            "subreddit": "fake",
            "subreddit_id": "t5_fake",
            "created_utc": self.created_at(key).timestamp(),
            "score": key % 11,
            "num_comments": self.comments_per_post,
            "is_self": True,
            "over_18": False,
            "permalink": f"/r/fake/comments/s{key:x}/submission_{key}/",
            "url": "",
        }
        if url := self.media_url(key):
            submission.update(is_self=False, url=url, post_hint="image")
        comments: list[dict[str, Any]] = []
        for index in range(self.comments_per_post):
            if index % 3 == 2 and comments:
                reply = self._comment(key, index, comments[-1]["name"])
                comments[-1]["replies"] = {
                    "kind": "Listing",
                    "data": {"children": [{"kind": "t1", "data": reply}], "after": None, "before": None},
                }
                continue
            comments.append(self._comment(key, index, submission["name"]))
        return {"submission": submission, "comments": comments}

    def post_ids_of(self, item: dict[str, Any]) -> list[str]:
        ids = [item["submission"]["id"]] if item["submission"].get("id") else []
        pending = list(item["comments"])
        while pending:
            comment = pending.pop()
            if comment["author"] != "[deleted]":
                ids.append(comment["id"])
            if isinstance(comment.get("replies"), dict):
                pending.extend(child["data"] for child in comment["replies"]["data"]["children"])
        return ids

    def deleted_comments(self) -> int:
        """How many comments of the items are deleted (each one a reject of a full collection)."""
        pending = [comment for item in self.items for comment in item["comments"]]
        count = 0
        while pending:
            comment = pending.pop()
            count += comment["author"] == "[deleted]"
            if isinstance(comment.get("replies"), dict):
                pending.extend(child["data"] for child in comment["replies"]["data"]["children"])
        return count

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        if path != "/api/v1/access_token":
            return None
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = parse_qs(body.decode())
        if headers.get("authorization") != f"Basic {expected}" or form.get("grant_type") != ["client_credentials"]:
            return Answer(401, {"message": "Unauthorized", "error": 401})
        self.tokens_issued += 1
        return Answer(body={"access_token": self._token, "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def check_access(self, headers: dict[str, str]) -> Answer | None:
        if headers.get("authorization") != f"Bearer {self._token}":
            return Answer(401, {"message": "Unauthorized", "error": 401})
        return None

    def rate_limit_headers(self, seconds: float) -> dict[str, str]:
        return {
            "x-ratelimit-remaining": "0.0",
            "x-ratelimit-used": "600",
            "x-ratelimit-reset": str(max(1, round(seconds))),
        }

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer:
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "r" and parts[2] == "new":
            after = params.get("after", "")
            below = int(after[4:], 16) if after.startswith("t3_s") else None
            page = self.window(below=below, limit=_number(params.get("limit")) or 25)
            children = [{"kind": "t3", "data": item["submission"]} for _, item in page]
            following = page[-1][1]["submission"]["name"] if page and page[-1][0] > 1 else None
            return Answer(
                body={
                    "kind": "Listing",
                    "data": {"after": following, "before": None, "dist": len(children), "children": children},
                }
            )
        if len(parts) >= 4 and parts[0] == "r" and parts[2] == "comments":
            with self._lock:
                found = [item for _, item in self._entries if item["submission"]["id"] == parts[3]]
            if not found:
                return Answer(404, {"message": "Not Found", "error": 404})
            item = found[0]
            listing = {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": item["submission"]}]}}
            comments = {
                "kind": "Listing",
                "data": {
                    "after": None,
                    "before": None,
                    "children": [{"kind": "t1", "data": comment} for comment in item["comments"]],
                },
            }
            return Answer(body=[listing, comments])
        return Answer(404, raw=_HTML_404, content_type="text/html")


class FakeX(FakeServer):
    """X API v2: ``/2/tweets/search/recent``, ``/2/users/by/username/:username`` and ``/2/users/:id/tweets``
    with ``since_id``, ``next_token``/``pagination_token`` and ``expansions=author_id`` (``includes.users``).

    Args:
        bearer_token: the token every request must carry.
        withheld_every: every n-th tweet is withheld in some countries (``withheld`` field), 0: none.
        **options: see ``FakeServer``.
    """

    platform = "x"
    max_page_size = 100
    _ID_BASE = 1_790_000_000_000_000_000

    def __init__(
        self, n_items: int = 100, *, bearer_token: str = "fake-bearer", withheld_every: int = 0, **options: Any
    ):
        self.bearer_token = bearer_token
        self.withheld_every = withheld_every
        super().__init__(n_items, **options)

    def make_item(self, key: int) -> dict[str, Any]:
        author = key % 5
        tweet = {
            "id": str(self._ID_BASE + key),
            "text": self.text_of(key),
            "author_id": str(2000 + author),
            "created_at": self.created_at(key).isoformat().replace("+00:00", ".000Z"),
            "lang": "en",
            "conversation_id": str(self._ID_BASE + key),
            "public_metrics": {"retweet_count": key % 3, "reply_count": 0, "like_count": key % 9, "quote_count": 0},
            "entities": {"hashtags": [{"start": 0, "end": 6, "tag": f"fake{key % 5}"}]},
        }
        if self.withheld_every and key % self.withheld_every == 0:
            tweet["withheld"] = {"copyright": False, "country_codes": ["DE", "FR"]}
        return tweet

    def post_ids_of(self, item: dict[str, Any]) -> list[str]:
        return [item["id"]] if item.get("id") else []

    def check_access(self, headers: dict[str, str]) -> Answer | None:
        if headers.get("authorization") != f"Bearer {self.bearer_token}":
            return Answer(
                401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
            )
        return None

    def rate_limit_headers(self, seconds: float) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time() + seconds + 0.999)),
        }

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer:
        if path.startswith("/2/users/by/username/"):
            username = path.rsplit("/", 1)[-1]
            if not username.startswith("user"):
                return Answer(
                    body={
                        "errors": [
                            {
                                "value": username,
                                "detail": f"Could not find user with username: [{username}].",
                                "title": "Not Found Error",
                                "resource_type": "user",
                                "parameter": "username",
                            }
                        ]
                    }
                )
            return Answer(body={"data": {"id": "2001", "name": "User", "username": username}})
        timeline = path.startswith("/2/users/") and path.endswith("/tweets")
        if path != "/2/tweets/search/recent" and not timeline:
            return Answer(404, {"title": "Not Found Error", "type": "about:blank", "status": 404})
        token = params.get("pagination_token" if timeline else "next_token")
        below = int(token.removeprefix("tok-")) - self._ID_BASE if token else None
        since = _number(params.get("since_id"))
        page = self.window(
            below=below, above=since - self._ID_BASE if since else None, limit=_number(params.get("max_results")) or 10
        )
        if not page:
            return Answer(body={"meta": {"result_count": 0}})
        tweets = [item for _, item in page]
        authors = sorted({tweet["author_id"] for tweet in tweets if "author_id" in tweet})
        meta: dict[str, Any] = {
            "result_count": len(tweets),
            "newest_id": tweets[0].get("id"),
            "oldest_id": tweets[-1].get("id"),
        }
        if self.window(below=page[-1][0], above=since - self._ID_BASE if since else None, limit=1):
            meta["next_token"] = f"tok-{page[-1][0] + self._ID_BASE}"
        users = [
            {
                "id": author,
                "username": f"user{int(author) - 2000}",
                "name": f"User {author}",
                "public_metrics": {"followers_count": 10, "following_count": 2},
            }
            for author in authors
        ]
        return Answer(body={"data": tweets, "includes": {"users": users}, "meta": meta})
