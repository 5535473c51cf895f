"""The Reader interface and registry: a reader turns one input file into a stream of SourceRecords."""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from socialfusion.exceptions import ConfigurationError

__all__ = [
    "Reader",
    "SourceRecord",
    "available_formats",
    "get_reader",
    "raw_preview",
    "register_reader",
    "sniff_format",
]

logger = logging.getLogger(__name__)

RAW_PREVIEW_CHARS = 2000

_PREVIEW_REPR = reprlib.Repr()
_PREVIEW_REPR.maxlevel, _PREVIEW_REPR.maxstring, _PREVIEW_REPR.maxother = 8, RAW_PREVIEW_CHARS, 200


def raw_preview(value: Any) -> str:
    """A record as JSON text for the ``raw`` column of a reject, at most ``RAW_PREVIEW_CHARS`` long; never raises.

    A value that JSON cannot hold (nested more than 254 levels, an integer beyond 64 bits) is shown as its
    depth-limited Python ``repr`` instead: a reject's preview must never be what stops a run.

    Examples:
        >>> raw_preview({"id": 1})
        '{"id":1}'
        >>> raw_preview({"id": 2**70})
        "{'id': 1180591620717411303424}"
    """
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = _PREVIEW_REPR.repr(value)
    return text if len(text) <= RAW_PREVIEW_CHARS else text[:RAW_PREVIEW_CHARS] + "…"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record read from a source, in the canonical shape of its target table, before validation.

    Attributes:
        table: the target table (``posts``, ``users``, ``interactions``, ``edges``, ``labels``).
        data: the record as a dict of canonical field names; None when the reader could not parse it.
        source: the file it came from.
        location: where in the file (``line 12``, ``row 5``, ``data[3]``), for rejects and error messages.
        error: why the record could not be read; a record with an error becomes a ``rejects`` row.
        raw: the raw text of an unreadable record (truncated), kept in the ``rejects`` row.
    """

    table: str
    data: dict[str, Any] | None
    source: str
    location: str
    error: str | None = None
    raw: str | None = None

    @classmethod
    def rejected(cls, source: str, location: str, error: str, raw: str | bytes | None = None,
                 table: str | None = None) -> SourceRecord:
        """A record that could not be read, with the reason and a preview of its raw text."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if raw is not None and len(raw) > RAW_PREVIEW_CHARS:
            raw = raw[:RAW_PREVIEW_CHARS] + "…"
        return cls(table=table or "", data=None, source=source, location=location, error=error, raw=raw)


class Reader(Protocol):
    """Reads one file into SourceRecords.

    A reader never raises for a bad record: it yields ``SourceRecord.rejected(...)`` and goes on. It raises
    ``DataError`` only when the whole file is unusable (not the format it claims to be), and it streams:
    memory stays bounded whatever the file's size.
    """

    name: str

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        """Yield the file's records.

        Args:
            path: the input file.
            column_map: foreign column name -> canonical field name (tabular formats).
            table: the target table for tabular formats that hold one table per file.
        """

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when the file (whose first bytes are ``head``) looks like this reader's format."""


_READERS: dict[str, Callable[[], Reader]] = {}
_SNIFF_ORDER: list[str] = []


def register_reader(name: str, *, sniff_priority: int = 100):
    """Class decorator registering a reader under ``name``; ``sniff_format`` tries lower priorities first."""

    def decorate(cls):
        cls.name = name
        cls.sniff_priority = sniff_priority
        _READERS[name] = cls
        if name not in _SNIFF_ORDER:
            _SNIFF_ORDER.append(name)
        _SNIFF_ORDER.sort(key=lambda known: (_READERS[known].sniff_priority, known))
        return cls

    return decorate


def available_formats() -> list[str]:
    """Registered format names."""
    _load_builtin_readers()
    return sorted(_READERS)


def get_reader(name: str) -> Reader:
    """An instance of the reader registered as ``name``.

    Raises:
        ConfigurationError: unknown format; the message lists the known ones.
    """
    _load_builtin_readers()
    if name not in _READERS:
        raise ConfigurationError(f"unknown input format {name!r}; known formats: {', '.join(available_formats())}")
    return _READERS[name]()


SNIFF_BYTES = 64 * 1024


def sniff_format(path: Path) -> str:
    """Guess the format of ``path`` from its first bytes and its suffix.

    Raises:
        ConfigurationError: no reader recognises the file; the message says how to name the format.
    """
    _load_builtin_readers()
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    for name in _SNIFF_ORDER:
        try:
            recognised = _READERS[name]().sniff(path, head)
        except (ValueError, TypeError, LookupError, RecursionError) as error:
            # A sniffer looks at untrusted bytes: if one trips over them, the file is simply not its format.
            logger.warning("the %s reader could not examine %s: %s: %s", name, path, type(error).__name__, error)
            continue
        if recognised:
            return name
    raise ConfigurationError(
        f"cannot tell the format of {str(path)!r}; pass --format with one of: {', '.join(available_formats())}"
    )


def _load_builtin_readers() -> None:
    # Importing the modules registers their readers.
    from socialfusion.io import platforms, tabular  # noqa: F401
