"""The HTTP client every connector shares: timeouts, retries with backoff and jitter, rate limits, clear errors."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from socialfusion.exceptions import SocialFusionError, attempt_import

__all__ = [
    "CollectError",
    "CredentialsError",
    "HttpClient",
    "HttpSettings",
    "JsonResponse",
    "RateLimitError",
    "seconds_until_reset",
]

logger = logging.getLogger(__name__)

_RESET_HEADERS = ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")
_REMAINING_HEADERS = ("x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining")
_EPOCH_THRESHOLD = 1e9  # a reset above this many seconds is a Unix time, below it a delay (Reddit sends a delay)
_EXCERPT_CHARS = 200


class CollectError(SocialFusionError):
    """A collection could not go on: the server is not the platform's API, or kept failing.

    Attributes:
        result: the CollectResult of what was collected before the error (set by ``collect``), else None.
        status: the HTTP status that caused it, if one did.
        payload: the decoded JSON body of that answer, if it had one (e.g. ``{"error": "ExpiredToken"}``).
    """

    result: Any = None
    status: int | None = None
    payload: Any = None

    def with_answer(self, status: int, payload: Any) -> CollectError:
        """This error, carrying the status and JSON body of the answer that caused it."""
        self.status, self.payload = status, payload
        return self


class CredentialsError(CollectError):
    """The platform refused the credentials (401/403), or a credential the request needs is missing."""


class RateLimitError(CollectError):
    """The platform asked for a wait longer than the longest wait allowed (``HttpSettings.max_wait``)."""


@dataclass(frozen=True)
class HttpSettings:
    """How a connector talks HTTP; every duration is in seconds, so tests can make them short.

    Attributes:
        timeout: connect/read/write timeout of one request.
        retries: attempts after the first one for 5xx answers, network errors, timeouts and truncated JSON.
        backoff: the first retry's delay; each retry doubles it (up to ``backoff_max``), with jitter: a random
            wait between half the delay and the whole delay.
        backoff_max: the longest delay between retries.
        max_wait: the longest rate-limit wait honoured; a longer one stops the collection (RateLimitError, the
            cursor kept) instead of holding the process for hours.
        rate_limit_retries: how many 429 answers in a row one request may get before giving up.
        user_agent: the User-Agent header (Reddit refuses generic ones).
        seed: seed of the jitter (None: unpredictable).
    """

    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0
    max_wait: float = 900.0
    rate_limit_retries: int = 20
    user_agent: str = "socialfusion-collect/1.0 (+https://pypi.org/project/socialfusion/)"
    seed: int | None = None


@dataclass(frozen=True)
class JsonResponse:
    """A decoded JSON answer: ``data``, the response headers (lower-case names), its URL and its Link targets."""

    data: Any
    headers: Mapping[str, str]
    url: str
    links: Mapping[str, str]


def seconds_until_reset(value: str, now: float) -> float | None:
    """Seconds to wait from a rate-limit header value, or None when it cannot be read.

    A number is a delay in seconds (``Retry-After: 30``, Reddit's ``x-ratelimit-reset``) or, above 10^9, a Unix
    time (X, Bluesky); otherwise an ISO 8601 time (Mastodon) or an HTTP date (``Retry-After``).

    Examples:
        >>> seconds_until_reset("30", now=0.0)
        30.0
        >>> seconds_until_reset("1700000060", now=1700000000.0)
        60.0
        >>> seconds_until_reset("2023-11-14T22:14:20.000Z", now=1700000000.0)
        60.0
        >>> seconds_until_reset("soon", now=0.0) is None
        True
    """
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number != number:  # NaN
            return None
        return max(0.0, number - now) if number > _EPOCH_THRESHOLD else max(0.0, number)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, moment.timestamp() - now)


class HttpClient:
    """GET and POST JSON with timeouts, retries, rate-limit waits and errors that never show a secret.

    Args:
        settings: timeouts, retries and waits.
        platform: the platform's name, for messages.
        secrets: values (tokens, passwords) that must never appear in an error message: they are replaced by
            ``***`` in any text quoted from a response.
        credentials_hint: what to tell the user on a 401/403 (which variables or file hold the credentials).
        sleep: the function that waits (a fake clock's in tests).
        clock: the function that tells the time in Unix seconds (a fake clock's in tests).
        transport: an httpx transport (tests), else a real network one.
    """

    def __init__(
        self,
        settings: HttpSettings,
        *,
        platform: str,
        secrets: Iterable[str] = (),
        credentials_hint: str = "",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: Any = None,
    ):
        httpx = attempt_import("httpx", "server")
        self.settings = settings
        self.platform = platform
        self.secrets = [secret for secret in secrets if secret]
        self.credentials_hint = credentials_hint
        self.sleep = sleep
        self.clock = clock
        self.waited: list[float] = []  # every rate-limit wait, in seconds (what tests and reports read)
        self._random = random.Random(settings.seed)
        self._blocked_until = 0.0
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=settings.timeout,
            follow_redirects=True,
            transport=transport,
            headers={"User-Agent": settings.user_agent, "Accept": "application/json"},
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_secret(self, secret: str | None) -> None:
        """Also keep ``secret`` (a session token received later) out of every message."""
        if secret:
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    # -- requests -----------------------------------------------------------------------------------------
    def get_json(
        self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> JsonResponse:
        """GET ``url`` and decode its JSON (see ``request``)."""
        return self.request("GET", url, params=params, headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        auth: Any = None,
    ) -> JsonResponse:
        """Send a request and decode its JSON answer, retrying what may pass and waiting out rate limits.

        Retried: 5xx answers, network errors, timeouts and JSON cut off in the middle (up to
        ``settings.retries`` times, with exponential backoff and jitter). A 429 waits for ``Retry-After`` or the
        rate-limit reset header and tries again; a response saying no request is left also waits before the
        next one.

        Raises:
            CredentialsError: 401 or 403.
            RateLimitError: the platform asks for a wait longer than ``settings.max_wait``.
            CollectError: HTML or other non-JSON where JSON was expected, another 4xx, or failures that lasted
                through every retry.
        """
        params = {key: value for key, value in (params or {}).items() if value is not None}
        failures = rate_limited = 0
        while True:
            self._wait_for_quota()
            problem = None
            try:
                response = self._client.request(
                    method, url, params=params, headers=headers, data=data, json=json, auth=auth
                )
            except self._httpx.TimeoutException:
                problem = f"timed out after {self.settings.timeout:g}s"
            except self._httpx.TransportError as error:
                problem = f"network error ({type(error).__name__}: {error})"
            if problem is None:
                self._note_quota(response)
                status = response.status_code
                if status == 429:
                    rate_limited += 1
                    self._wait_rate_limit(response, url, rate_limited)
                    continue
                if status in (401, 403):
                    raise CredentialsError(
                        f"{self.platform} refused the request to {url} with {status} "
                        f"({self._excerpt(response)}): {self.credentials_hint}".rstrip(": ")
                    ).with_answer(status, _json_or_none(response))
                if status >= 500:
                    problem = f"server error {status} ({self._excerpt(response)})"
                elif status >= 400:
                    error = CollectError(self._client_error(response, url))
                    raise error.with_answer(status, _json_or_none(response))
                else:
                    decoded = self._decode(response, url)
                    if decoded is not None:
                        links = {name: link["url"] for name, link in response.links.items() if link.get("url")}
                        return JsonResponse(
                            decoded, {k.lower(): v for k, v in response.headers.items()}, str(response.url), links
                        )
                    problem = "the JSON of the answer was cut off (truncated)"
            failures += 1
            if failures > self.settings.retries:
                raise CollectError(
                    self.redact(
                        f"{method} {url} failed {failures} times, last: {problem}; the {self.platform} server may be "
                        "down: run the same command again later (it continues where it stopped)"
                    )
                )
            delay = min(self.settings.backoff_max, self.settings.backoff * 2 ** (failures - 1))
            delay = delay / 2 + self._random.uniform(0, delay / 2)
            logger.info("%s %s: %s; retrying in %.2fs", method, url, self.redact(problem), delay)
            self.sleep(delay)

    def stream_to(
        self, url: str, write: Callable[[bytes], None], *, max_bytes: int, accept: Callable[[str], bool]
    ) -> str:
        """GET ``url`` and pass its body to ``write`` chunk by chunk; returns the content type.

        Raises:
            CollectError: an error status, a content type ``accept`` refuses, or more than ``max_bytes``.
        """
        try:
            return self._stream_to(url, write, max_bytes, accept)
        except self._httpx.HTTPError as error:
            raise CollectError(f"GET {url} failed: {type(error).__name__}: {self.redact(str(error))}") from None

    def _stream_to(
        self, url: str, write: Callable[[bytes], None], max_bytes: int, accept: Callable[[str], bool]
    ) -> str:
        with self._client.stream("GET", url, headers={"Accept": "*/*"}) as response:
            if response.status_code >= 400:
                raise CollectError(f"GET {url} answered {response.status_code}")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not accept(content_type):
                raise CollectError(f"media type {content_type or 'unknown'!r} is not allowed: {url}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise CollectError(f"media too large: {declared} bytes > limit {max_bytes}: {url}")
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise CollectError(f"media too large: more than {max_bytes} bytes: {url}")
                write(chunk)
            return content_type

    # -- helpers ------------------------------------------------------------------------------------------
    def _decode(self, response: Any, url: str) -> Any:
        """The JSON of a 2xx answer; None when it is cut off (worth a retry). Raises for HTML and other text."""
        body = response.content
        content_type = response.headers.get("content-type", "").lower()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            stripped = body.lstrip()[:1]
            if stripped in (b"{", b"[") and "html" not in content_type:
                logger.info("truncated JSON from %s: %s", url, error)
                return None
            kind = "HTML" if "html" in content_type or stripped == b"<" else f"{content_type or 'untyped'} text"
            raise CollectError(
                self.redact(
                    f"expected JSON from {url} but got {kind} ({self._excerpt(response)}); is this a {self.platform} "
                    "API server? Check the base URL"
                )
            ) from None

    def _client_error(self, response: Any, url: str) -> str:
        hint = ""
        if response.status_code == 404:
            hint = f"; is this a {self.platform} API server, and does what the query names exist? Check both"
        return self.redact(
            f"{self.platform} answered {response.status_code} to {url} ({self._excerpt(response)}){hint}"
        )

    def _excerpt(self, response: Any) -> str:
        text = response.text.strip().replace("\n", " ")
        if len(text) > _EXCERPT_CHARS:
            text = text[:_EXCERPT_CHARS] + "…"
        return self.redact(text) or "empty body"

    def _reset_wait(self, headers: Mapping[str, str]) -> float | None:
        now = self.clock()
        for name in _RESET_HEADERS:
            value = headers.get(name)
            if value is not None and (wait := seconds_until_reset(value, now)) is not None:
                return wait
        return None

    def _wait_rate_limit(self, response: Any, url: str, times: int) -> None:
        if times > self.settings.rate_limit_retries:
            raise RateLimitError(
                f"{self.platform} kept answering 429 (rate limited) to {url} after {times - 1} "
                "waits; run the same command again later (it continues where it stopped)"
            )
        wait = self._reset_wait(response.headers)
        if wait is None:
            wait = min(self.settings.backoff_max, self.settings.backoff * 2 ** (times - 1))
        self._pause(wait, url)

    def _note_quota(self, response: Any) -> None:
        """Remember when requests may resume when a response says that none is left."""
        for name in _REMAINING_HEADERS:
            remaining = response.headers.get(name)
            if remaining is None:
                continue
            try:
                exhausted = float(remaining) < 1
            except ValueError:
                return
            if exhausted and response.status_code != 429 and (wait := self._reset_wait(response.headers)):
                self._blocked_until = self.clock() + wait
            return

    def _wait_for_quota(self) -> None:
        if self._blocked_until:
            wait, self._blocked_until = self._blocked_until - self.clock(), 0.0
            if wait > 0:
                self._pause(wait, "the next request")

    def _pause(self, wait: float, what: str) -> None:
        if wait > self.settings.max_wait:
            raise RateLimitError(
                f"{self.platform} asks to wait {wait:.0f}s before {what} (rate limit), longer than the "
                f"{self.settings.max_wait:.0f}s allowed; run the same command again later (it continues where "
                "it stopped)"
            )
        logger.info("rate limited by %s: waiting %.2fs", self.platform, wait)
        self.waited.append(wait)
        self.sleep(wait)


def _json_or_none(response: Any) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
