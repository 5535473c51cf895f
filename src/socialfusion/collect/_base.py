"""The collection loop every connector shares: pages in, lossless ingestion, a cursor saved after each page.

A collection walks a platform's listing from the newest item down (every API here pages that way) in *passes*.
A pass starts at the top and ends where the previous pass started (the high-water mark), at ``since``, or at
the end of the listing. After each page is ingested, the cursor (the next page's request, the pass's top and
where it stops) is written to the store's ``collect_cursors`` table, so a collection killed at any moment and run
again continues with the very next page: nothing is skipped, and a page ingested twice adds nothing (keys are
upserted). Items posted during a pass are newer than its top: the next pass collects them.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from socialfusion.collect._credentials import Credentials, load_credentials
from socialfusion.collect._http import CollectError, CredentialsError, HttpClient, HttpSettings
from socialfusion.collect._media import DEFAULT_MEDIA_MAX_BYTES, REMOTE_SCHEMES, MediaFolder
from socialfusion.exceptions import ConfigurationError
from socialfusion.ingestion import Ingestor
from socialfusion.io._base import SourceRecord
from socialfusion.io.platforms._common import RecordBuilder
from socialfusion.store import Store, StoredKeys, sql_string

__all__ = [
    "CURSOR_TABLE",
    "CollectResult",
    "Connector",
    "Item",
    "Page",
    "Source",
    "check_source",
    "collect",
    "connector_class",
    "load_cursor",
    "order_of_time",
    "platforms",
    "register_connector",
]

CURSOR_TABLE = "collect_cursors"
MAX_STALE_PAGES = 3
"""Pages in a row that bring no item not already received in this call before the collection stops."""

_CONNECTORS: dict[str, type[Connector]] = {}
_ALIASES = {"twitter": "x", "bsky": "bluesky"}


@dataclass(frozen=True)
class Source:
    """What to collect: a platform, a query in one of its forms, and the server.

    Attributes:
        platform: ``mastodon``, ``bluesky``, ``reddit`` or ``x`` (``twitter`` is an alias).
        query: mastodon ``#tag``, ``@account`` / ``@user@instance`` or search text; bluesky search text or
            ``@handle``; reddit ``r/subreddit``; x a search query or ``@username``.
        base_url: the server (a Mastodon instance, a Bluesky AppView/PDS, the Reddit/X API); None: the
            platform's public default.
    """

    platform: str
    query: str
    base_url: str | None = None

    def __str__(self) -> str:
        return f"{self.platform}:{self.query}" + (f"@{self.base_url}" if self.base_url else "")


@dataclass
class CollectResult:
    """What one ``collect`` call did.

    Attributes:
        source: the source, as text.
        pages: pages received.
        received: items the pages held (repeats and items outside ``since``/``until`` included).
        ingested: posts newly added to the store.
        duplicates: posts received that the store already held unchanged (repeated items, a page read again
            after a restart, a second collection).
        updated: posts the store held with other content (counts changed), replaced.
        rejects: ``rejects`` rows written, each with its reason: records that could not be ingested, and media
            references refused (their posts are kept).
        new_post_ids: the store ids of the posts newly added by this call.
        cursor: the high-water mark (the newest item of the last finished pass) as sortable text (a zero-padded
            id, or a UTC time for Bluesky and Reddit); None before a pass finished.
        stopped_reason: why the call stopped before the end of its pass (``limit``, a cursor that does not
            advance, ...), None when the pass finished.
        skipped: items received but outside ``since``/``until`` or below the high-water mark.
        media_downloaded: media files downloaded (with ``media``).
        waited_seconds: time spent waiting for rate limits.
        summary: the ingestion summary (``IngestSummary.to_dict()``), users and edges included.
    """

    source: str
    pages: int = 0
    received: int = 0
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    rejects: int = 0
    new_post_ids: list[str] = field(default_factory=list)
    cursor: str | None = None
    stopped_reason: str | None = None
    skipped: int = 0
    media_downloaded: int = 0
    waited_seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Item:
    """One item of a page.

    Attributes:
        value: the item as the API returned it.
        key: its id on the platform (repeats across pages are recognised by it); None when it has none.
        order: a text that sorts like the listing (newest greatest), e.g. a zero-padded id or a UTC time.
        created_at: when it was posted, for ``since``/``until``.
    """

    value: Any
    key: str | None
    order: str | None
    created_at: dt.datetime | None


@dataclass(frozen=True)
class Page:
    """A page of a listing: its items, what else the page holds (X's ``includes``), the next page's request
    (None at the end of the listing), and ``problem``: why paging cannot go on although the listing may (the
    collection stops there with that message, and the pass stays open)."""

    items: list[Item]
    next: dict[str, Any] | None
    context: Any = None
    problem: str | None = None


def order_of_time(value: Any) -> str | None:
    """A UTC time as fixed-width text that sorts in time order, or None when ``value`` is not a time.

    Examples:
        >>> order_of_time("2024-05-01T12:00:00+02:00")
        '2024-05-01T10:00:00.000000Z'
    """
    moment = parse_time(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 text or a datetime as an aware UTC datetime; None for anything else."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Connector:
    """One platform's API: how a pass starts, how a page is fetched and read, and how items become records.

    Subclasses set ``platform``, ``display_name``, ``default_base_url``, ``max_page_size``, ``query_forms`` and
    implement ``start``, ``fetch``
    and ``records``; they parse items only through the platform's reader (one parsing path per platform).

    Args:
        source: what to collect.
        client: the HTTP client.
        credentials: the platform's credentials (maybe empty).
    """

    platform: ClassVar[str]
    display_name: ClassVar[str]
    default_base_url: ClassVar[str]
    max_page_size: ClassVar[int]
    query_forms: ClassVar[str]
    required_credentials: ClassVar[tuple[str, ...]] = ()
    prefetch: ClassVar[bool] = True
    """Whether the next page may be fetched while this one is ingested (False when ``records`` sends requests)."""

    def __init__(self, source: Source, client: HttpClient, credentials: Credentials):
        self.source = source
        self.client = client
        self.credentials = credentials
        self.base_url = (source.base_url or self.default_base_url).rstrip("/")
        self.builder = RecordBuilder(f"collect:{source.platform}:{self.base_url}:{source.query}", source.platform)

    @classmethod
    def check_query(cls, query: str) -> None:
        """Raise ConfigurationError when ``query`` is in none of the platform's forms."""
        if not query.strip():
            raise ConfigurationError(f"an empty {cls.platform} query; expected {cls.query_forms}")

    def start(self, stop_at: str | None) -> dict[str, Any]:
        """The request of a pass's first page (JSON-ready: it is saved in the cursor); ``stop_at`` is the
        high-water mark, which APIs that can filter by it receive."""
        raise NotImplementedError

    def fetch(self, request: dict[str, Any], page_size: int) -> Page:
        """Send a saved request (asking for ``page_size`` items) and read the page."""
        raise NotImplementedError

    def records(self, items: Sequence[Item], page: Page, location: str) -> Iterator[SourceRecord]:
        """The records of the kept ``items`` of ``page``, read by the platform's reader."""
        raise NotImplementedError


def register_connector(cls: type[Connector]) -> type[Connector]:
    """Class decorator registering a connector under its ``platform``."""
    _CONNECTORS[cls.platform] = cls
    return cls


def platforms() -> list[str]:
    """The platforms that have a connector."""
    _load_connectors()
    return sorted(_CONNECTORS)


def connector_class(platform: str) -> type[Connector]:
    """The connector of ``platform`` (or an alias such as ``twitter``).

    Raises:
        ConfigurationError: an unknown platform; the message lists the known ones.
    """
    _load_connectors()
    name = _ALIASES.get(platform.lower(), platform.lower())
    if name not in _CONNECTORS:
        raise ConfigurationError(f"unknown platform {platform!r}; known platforms: {', '.join(platforms())}")
    return _CONNECTORS[name]


def _load_connectors() -> None:
    from socialfusion.collect import bluesky, mastodon, reddit, x  # noqa: F401  (importing registers them)


# -- cursors --------------------------------------------------------------------------------------------------
def _cursor_key(platform: str, base_url: str, query: str) -> str:
    return f"{platform}|{base_url}|{query}"


def load_cursor(store: Store, source: Source) -> dict[str, Any]:
    """The saved cursor state of ``source`` (``{}`` when it was never collected).

    The state holds ``high_water`` (the newest item of the last finished pass) and, while a pass is under way,
    ``pass``: its ``top``, where it stops (``stop_at``) and the ``next`` page's request.
    """
    cls = connector_class(source.platform)
    base_url = (source.base_url or cls.default_base_url).rstrip("/")
    return _read_cursor(store, _cursor_key(cls.platform, base_url, source.query))


def _read_cursor(store: Store, key: str) -> dict[str, Any]:
    if CURSOR_TABLE not in store.tables():
        return {}
    rows = store.read(CURSOR_TABLE, where=f"cursor_key = {sql_string(key)}", columns=["state"])
    return orjson.loads(rows.column("state")[0].as_py()) if rows.num_rows else {}


def _write_cursor(store: Store, key: str, connector: Connector, state: dict[str, Any]) -> None:
    row = pa.table(
        {
            "cursor_key": [key],
            "platform": [connector.platform],
            "base_url": [connector.base_url],
            "query": [connector.source.query],
            "state": [orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()],
            "updated_at": pa.array([dt.datetime.now(dt.UTC)], pa.timestamp("us", tz="UTC")),
        }
    )
    store.write(CURSOR_TABLE, row, mode="upsert", key="cursor_key")


# -- the loop -------------------------------------------------------------------------------------------------
def _credentials_of(platform: str, credentials: Any) -> Credentials:
    if credentials is None or isinstance(credentials, (str, Path)):
        return load_credentials(platform, credentials)
    if isinstance(credentials, Credentials):
        return credentials
    if isinstance(credentials, Mapping):
        return Credentials(platform, credentials)
    raise ConfigurationError("credentials must be None (environment variables), a TOML file path or a mapping")


def check_source(
    source: Source, credentials: Credentials | Mapping[str, str] | str | Path | None = None
) -> Credentials:
    """Check a source before anything is written: a known platform, a query in one of its forms, and the
    credentials the platform cannot do without; returns the platform's credentials.

    Raises:
        ConfigurationError: an unknown platform or query form, or an unreadable credentials file.
        CredentialsError: a required credential is missing (the message names where it comes from).
    """
    cls = connector_class(source.platform)
    cls.check_query(source.query)
    creds = _credentials_of(cls.platform, credentials)
    missing = [name for name in cls.required_credentials if not creds.get(name)]
    if missing:
        raise CredentialsError(f"{cls.display_name} needs {' and '.join(missing)}; {creds.hint()}")
    return creds


def _media_folder(store: Store, media: bool | str | Path) -> Path | None:
    if media is False or media is None:
        return None
    if media is True:
        if "://" in store.uri:
            raise ConfigurationError("media=True keeps media next to a local store; name a folder: media='DIR'")
        return Path(f"{store.uri.rstrip('/')}.media")
    return Path(media)


def collect(
    store: Store,
    source: Source,
    *,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    limit: int | None = None,
    credentials: Credentials | Mapping[str, str] | str | Path | None = None,
    media: bool | str | Path = False,
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES,
    page_size: int | None = None,
    settings: HttpSettings | None = None,
    reset_cursor: bool = False,
    progress: Callable[[CollectResult], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    **ingest_options: Any,
) -> CollectResult:
    """Collect a source's posts from the platform's API into ``store``, continuing from its saved cursor.

    Args:
        store: the destination (rejects, users and edges go there too).
        source: platform, query and server.
        since: collect nothing posted before this time (a datetime or ISO 8601 text; naive means UTC).
        until: collect nothing posted after this time.
        limit: stop after the page on which this many items have been received (the pass goes on next call).
        credentials: None (environment variables), a TOML file path, or a mapping of credential names.
        media: download media: False, True (into ``<store>.media``) or a folder. Files are content-addressed.
        media_max_bytes: larger media files are not kept (the post keeps the item, flagged).
        page_size: items per request (default and maximum: the API's maximum).
        settings: timeouts, retries and waits.
        reset_cursor: forget the saved cursor and start again from the newest item.
        progress: called with the running result after each page.
        sleep: the waiting function (tests pass a fake clock's); ``clock`` tells the time in Unix seconds.
        **ingest_options: passed to ``Ingestor`` (scrub_pii, pseudonymize_key, detect_language, batch_size).

    Returns:
        What the call did; ``stopped_reason`` says why it stopped before the end of its pass.

    Raises:
        ConfigurationError: an unknown platform or query form, or bad options.
        CredentialsError: the platform refused the credentials, or a required one is missing.
        CollectError: the server is not the platform's API, or kept failing; ``error.result`` holds what was
            collected before (the cursor is saved: running again continues).
    """
    creds = check_source(source, credentials)
    cls = connector_class(source.platform)
    if limit is not None and limit <= 0:
        raise ConfigurationError(f"limit must be positive, got {limit}")
    since_time, until_time = _bound(since, "since"), _bound(until, "until")
    page_size = min(page_size or cls.max_page_size, cls.max_page_size)
    settings = settings or HttpSettings()
    folder = _media_folder(store, media)
    timing = {name: value for name, value in (("sleep", sleep), ("clock", clock)) if value is not None}
    client = HttpClient(
        settings, platform=cls.display_name, secrets=creds.values(), credentials_hint=creds.hint(), **timing
    )
    result = CollectResult(source=str(source))
    with client:
        connector = cls(source, client, creds)
        media_store = MediaFolder(folder, client, max_bytes=media_max_bytes) if folder else None
        run = _Run(store, connector, result, media_store, ingest_options)
        try:
            run.collect(since_time, until_time, limit, page_size, reset_cursor, progress)
        except CollectError as error:
            error.result = result
            raise
        finally:
            run.finish()
            result.waited_seconds = round(sum(client.waited), 3)
    return result


def _bound(value: Any, name: str) -> dt.datetime | None:
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise ConfigurationError(
            f"{name} must be a date or time such as 2024-05-01 or 2024-05-01T12:00:00Z, got {value!r}"
        )
    return moment


class _Run:
    """The state of one ``collect`` call: ingestion, the keys of the posts stored, the cursor."""

    def __init__(
        self,
        store: Store,
        connector: Connector,
        result: CollectResult,
        media: MediaFolder | None,
        ingest_options: Mapping[str, Any],
    ):
        self.store = store
        self.connector = connector
        self.result = result
        self.media = media
        # A page is one batch: the store is written once per page, and every post of a page is seen before it.
        self.ingestor = Ingestor(store, **{"batch_size": 1_000_000, **ingest_options})
        self.ingestor.summary.sources.append({"path": connector.builder.source, "format": connector.platform})
        # Media downloaded here are trusted paths; any other local path a server names is refused.
        root = media.folder if media else Path(store.uri if "://" not in store.uri else ".") / ".no-local-media"
        self.cleaner = self.ingestor.cleaner(media_root=root, base_dir=None)
        self.stored_posts = StoredKeys(store, "posts")
        self.key = _cursor_key(connector.platform, connector.base_url, connector.source.query)
        # Connectors that send requests while reading a page (Reddit's comments), and media downloads, use the
        # client from this thread: then pages are not fetched ahead.
        self.prefetch = connector.prefetch and media is None

    def collect(
        self,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int | None,
        page_size: int,
        reset: bool,
        progress: Callable[[CollectResult], None] | None,
    ) -> None:
        state = {} if reset else _read_cursor(self.store, self.key)
        high_water = state.get("high_water")
        self.result.cursor = high_water
        current = state.get("pass") or {"top": None, "stop_at": high_water, "next": None}
        request = current["next"] or self.connector.start(current["stop_at"])
        seen_keys: set[str] = set()
        requests_seen = {_canonical(request)}
        stale = 0
        # The next page is fetched while this one is ingested (one request at a time still; the cursor is saved
        # only after a page is ingested, so a prefetched page that is never ingested is fetched again next time).
        fetcher = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-fetch")
        prefetched: concurrent.futures.Future[Page] | None = None
        try:
            while True:
                if limit is not None and self.result.received >= limit:
                    self.result.stopped_reason = f"limit of {limit} items reached; the next call continues this pass"
                    return
                page = (
                    prefetched.result()
                    if prefetched
                    else self.connector.fetch(request, _wanted(page_size, limit, self.result))
                )
                prefetched = None
                self.result.pages += 1
                self.result.received += len(page.items)
                kept, ended = self._keep(page.items, current["stop_at"], since, until)
                fresh = {item.key for item in page.items if item.key is not None} - seen_keys
                seen_keys |= fresh
                stale = stale + 1 if page.items and not fresh else 0
                following = None if ended else page.next
                if page.problem is not None and not ended:
                    self._ingest(kept, page, f"page {self.result.pages}")
                    self._save(high_water, {**current, "next": request})
                    self.result.stopped_reason = page.problem
                    return
                looping = following is not None and _canonical(following) in requests_seen
                more = limit is None or self.result.received < limit
                if following is not None and not looping and stale < MAX_STALE_PAGES and more and self.prefetch:
                    prefetched = fetcher.submit(self.connector.fetch, following, _wanted(page_size, limit, self.result))
                self._ingest(kept, page, f"page {self.result.pages}")
                orders = [item.order for item in kept if item.order is not None]
                if orders:
                    current["top"] = max([current["top"], *orders], key=lambda order: order or "")
                if looping:
                    self._save(high_water, {**current, "next": request})
                    self.result.stopped_reason = (
                        f"the {self.connector.platform} server's cursor does not advance (it gives again a page "
                        "already read); stopped instead of looping. Run again later, or with --reset-cursor"
                    )
                    return
                if following is None:  # the pass is over: its top becomes the high-water mark
                    high_water = max(high_water or "", current["top"] or "") or None
                    self._save(high_water, None)
                    self.result.cursor = high_water
                    return
                self._save(high_water, {**current, "next": following})
                if progress is not None:
                    progress(self.result)
                if stale >= MAX_STALE_PAGES:
                    self.result.stopped_reason = (
                        f"{stale} pages in a row repeated items already received; stopped instead of looping (the "
                        "cursor is saved: the next call continues from the following page)"
                    )
                    return
                request = following
                requests_seen.add(_canonical(request))
        finally:  # a page fetched ahead and never ingested is simply fetched again by the next call
            fetcher.shutdown(wait=False, cancel_futures=True)

    def _keep(
        self, items: Sequence[Item], stop_at: str | None, since: dt.datetime | None, until: dt.datetime | None
    ) -> tuple[list[Item], bool]:
        """The items to ingest, and whether the pass ends with this page (an item older than its end)."""
        kept, ended = [], False
        for item in items:
            if item.order is not None and stop_at is not None and item.order < stop_at:
                ended = True
            elif since is not None and item.created_at is not None and item.created_at < since:
                ended = True
            elif until is not None and item.created_at is not None and item.created_at > until:
                pass
            else:
                kept.append(item)
                continue
            self.result.skipped += 1
        return kept, ended

    def _ingest(self, items: Sequence[Item], page: Page, location: str) -> None:
        """Ingest the records of ``items`` and note which posts are new, under the writer lock."""
        for record in self.connector.records(items, page, location):
            if record.table == "posts" and record.data is not None:
                _refuse_local_media(record.data)
                if self.media is not None:
                    self.media.localize(record.data)
            self.ingestor.add(self.cleaner, record)
            self.ingestor.summary.records_read += 1
        candidates = [model.post_id for model in self.cleaner.records["posts"]]
        summary = self.ingestor.summary
        with self.store.writer_lock():
            known = self.stored_posts.sync()
            new = list(dict.fromkeys(key for key in candidates if key not in known))
            self.ingestor.flush(self.cleaner)
            known.update(dict.fromkeys(new))
            self.stored_posts.committed()
        posts = summary.per_table.get("posts", {})
        self.result.ingested = posts.get("ingested", 0)
        self.result.duplicates = posts.get("duplicate", 0) + posts.get("superseded", 0)
        self.result.updated = posts.get("updated", 0)
        self.result.rejects = summary.rejected + summary.media_rejected
        self.result.new_post_ids.extend(new)
        self.result.media_downloaded = self.media.downloaded if self.media else 0

    def _save(self, high_water: str | None, current: dict[str, Any] | None) -> None:
        state = {"high_water": high_water, "pass": current}
        _write_cursor(self.store, self.key, self.connector, state)

    def finish(self) -> None:
        self.result.summary = self.ingestor.finish().to_dict()


def _wanted(page_size: int, limit: int | None, result: CollectResult) -> int:
    """Items to ask for: a full page, or what is left of the limit."""
    return page_size if limit is None else max(1, min(page_size, limit - result.received))


def _canonical(request: Mapping[str, Any]) -> str:
    return orjson.dumps(request, option=orjson.OPT_SORT_KEYS).decode()


def _refuse_local_media(post: dict[str, Any]) -> None:
    """Flag media a server names by a local path or ``file://`` URI: a remote server never names our files."""
    for item in post.get("media") or []:
        if isinstance(item, dict) and isinstance(item.get("uri"), str):
            scheme = item["uri"].split(":", 1)[0].lower() if ":" in item["uri"] else ""
            if scheme not in REMOTE_SCHEMES:
                item["error"] = f"a server's media must be a remote URL, not {item['uri'][:100]!r}"
