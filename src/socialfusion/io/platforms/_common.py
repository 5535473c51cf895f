"""Helpers the platform readers share: JSON pages with rejects, record building, sniffing, HTML to text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from json.decoder import scanstring
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from socialfusion.exceptions import DataError
from socialfusion.io._base import SourceRecord, raw_preview

__all__ = [
    "HtmlText",
    "JsonValue",
    "RecordBuilder",
    "as_array",
    "as_object",
    "head_value",
    "html_to_text",
    "iter_json_values",
    "join_location",
    "leftovers",
    "objects_in",
    "pick",
]

_BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()
_JSON_STRUCTURE = re.compile(r'["{}\[\]]')
_KEY_COLON = re.compile(r"\s*:\s*")
_ARRAY_OPENING = re.compile(r"\s*(\[\s*)?")


@dataclass(frozen=True, slots=True)
class JsonValue:
    """One top-level JSON value of an input file.

    Attributes:
        location: ``""`` for a file holding one JSON document, ``"line N"`` for a line of JSON Lines.
        value: the parsed value.
    """

    location: str
    value: Any


def join_location(*parts: str) -> str:
    """Join the non-empty parts of a location: ``join_location("line 3", "data[0]") == "line 3 data[0]"``."""
    return " ".join(part for part in parts if part)


def _raw(value: Any) -> str:
    return raw_preview(value)


def _first_line_parses(handle: BinaryIO) -> bool:
    """True when the first non-blank line is a JSON value on its own (JSON Lines), or there is none."""
    for line in handle:
        if line.strip():
            try:
                orjson.loads(line.removeprefix(_BOM))
            except orjson.JSONDecodeError:
                return False
            return True
    return True


def iter_json_values(
    path: Path,
    *,
    platform: str,
    looks_like: Callable[[Any], bool],
    expected: str,
    lines_only: bool = False,
) -> Iterator[JsonValue | SourceRecord]:
    """The top-level JSON values of a file that is either one JSON document or JSON Lines.

    A file whose first non-blank line is valid JSON on its own is read as JSON Lines, streaming, one line at a
    time: a line that is not valid JSON becomes a reject with its line number. Any other file is one JSON
    document and is loaded whole (platform APIs return pages that way). The first value decides whether the
    file is in the platform's format at all; a later value that does not look like it becomes a reject.

    Args:
        path: the input file.
        platform: the platform's name, for error messages.
        looks_like: True for a value in the platform's shape (a response page, a status, ...).
        expected: what ``looks_like`` accepts, in words, for error messages and rejects.
        lines_only: always read JSON Lines (formats that have no single-document variant).

    Yields:
        ``JsonValue`` for each value in the platform's shape; ``SourceRecord`` rejects for the others.

    Raises:
        DataError: the file is neither JSON nor JSON Lines, or its first value is not in the platform's shape.
    """
    source = str(path)
    recognised = False

    def check(item: JsonValue) -> JsonValue | SourceRecord:
        nonlocal recognised
        if looks_like(item.value):
            recognised = True
            return item
        if not recognised:
            preview = _raw(item.value)[:200]
            raise DataError(
                f"{source} is not a {platform} export: expected {expected}, but its first record is "
                f"{preview}; pick the format that matches the file"
            )
        return SourceRecord.rejected(source, item.location, f"expected {expected}", _raw(item.value), "posts")

    with open(path, "rb") as handle:
        if not lines_only and not _first_line_parses(handle):
            handle.seek(0)
            try:
                document = orjson.loads(handle.read().removeprefix(_BOM))
            except orjson.JSONDecodeError as error:
                raise DataError(f"{source} is neither one JSON document nor JSON Lines: {error}") from None
            yield check(JsonValue("", document))
            return
        handle.seek(0)
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            location = f"line {number}"
            try:
                value = orjson.loads(line.removeprefix(_BOM))
            except orjson.JSONDecodeError as error:
                yield SourceRecord.rejected(source, location, f"malformed JSON: {error}", line, "posts")
                continue
            yield check(JsonValue(location, value))


def _top_level_key_end(text: str, key: str) -> int | None:
    """Where the value of ``key`` starts in the first top-level object of ``text`` that has it, else None.

    Only keys directly inside a top-level object count: ``{"extra": {"data": 1}}`` has no top-level ``data``.
    """
    depth = 0
    position = 0
    while match := _JSON_STRUCTURE.search(text, position):
        char = match.group()
        if char == '"':
            try:
                string, position = scanstring(text, match.end())
            except ValueError:  # cut off inside a string
                return None
            if depth == 1 and string == key:
                after = _KEY_COLON.match(text, position)
                if after:
                    return after.end()
            continue
        depth += 1 if char in "{[" else -1
        position = match.end()
    return None


def head_value(head: bytes, key: str | None = None) -> Any:
    """The first complete JSON value in the first bytes of a file, for sniffing.

    Args:
        head: the file's first bytes (maybe cut in the middle of a value).
        key: look at the value of the top-level key ``key`` (of the first object that has one) instead of the
            value at the start of ``head``.

    Returns:
        That value or, when it is an array, its first element; None when there is none or it is cut off.

    Examples:
        >>> head_value(b'{"feed": [{"post": 1}, {"post": 2', "feed")
        {'post': 1}
        >>> head_value(b'{"extra": {"feed": [1]}}', "feed") is None
        True
        >>> head_value(b'[{"id": "1"}, {"id"')
        {'id': '1'}
    """
    text = head.removeprefix(_BOM).decode("utf-8", errors="replace")
    start = 0 if key is None else _top_level_key_end(text, key)
    if start is None:
        return None
    start = _ARRAY_OPENING.match(text, start).end()
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):  # cut off, not JSON, or nested deeper than Python's stack (a hostile file)
        return None
    return value


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional fields of untrusted input)."""
    return value if isinstance(value, dict) else {}


def as_array(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one (for optional lists of untrusted input)."""
    return value if isinstance(value, list) else []


def objects_in(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in ``value`` when it is an array, else none (for untrusted optional lists)."""
    return [item for item in as_array(value) if isinstance(item, dict)]


def pick(mapping: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``mapping`` under ``keys`` that are present and neither None nor an empty string.

    Examples:
        >>> pick({"a": 1, "b": None, "c": 3, "d": "", "e": False}, ["a", "b", "d", "e", "x"])
        {'a': 1, 'e': False}
    """
    return {key: mapping[key] for key in keys if mapping.get(key) not in (None, "")}


def leftovers(mapping: Mapping[str, Any], consumed: Iterable[str]) -> dict[str, Any]:
    """The entries of ``mapping`` not under ``consumed`` and not None: what goes into ``extra``.

    Examples:
        >>> leftovers({"id": "1", "source": "web", "geo": None}, {"id"})
        {'source': 'web'}
    """
    consumed = set(consumed)
    return {key: value for key, value in mapping.items() if key not in consumed and value is not None}


class RecordBuilder:
    """Makes the SourceRecords of one file of one platform.

    Posts and users are stamped with the platform; each distinct user and each distinct edge is emitted once
    per file (the first time it is seen); an edge from a user to themself is not a tie and is left out.

    Args:
        source: the file the records come from.
        platform: the platform's name, stored in the ``platform`` field of posts and users.
    """

    def __init__(self, source: str, platform: str):
        self.source = source
        self.platform = platform
        self._seen_users: set[str] = set()
        self._seen_edges: set[tuple[str, str, str]] = set()

    def post(self, location: str, data: dict[str, Any]) -> SourceRecord:
        """A posts record (``extra`` dropped when empty)."""
        return SourceRecord("posts", self._finish(data), self.source, location)

    def user(self, location: str, data: dict[str, Any]) -> Iterator[SourceRecord]:
        """A users record, unless this user has no id or was emitted already."""
        user_id = data.get("user_id")
        if user_id is None or str(user_id) in self._seen_users:
            return
        self._seen_users.add(str(user_id))
        yield SourceRecord("users", self._finish(data), self.source, location)

    def edge(self, location: str, src: Any, dst: Any, kind: str,
             created_at: Any = None) -> Iterator[SourceRecord]:
        """An edges record, unless an end is missing, the edge is a self-loop or it was emitted already."""
        if src is None or dst is None or str(src) == str(dst):
            return
        key = (str(src), str(dst), kind)
        if key in self._seen_edges:
            return
        self._seen_edges.add(key)
        data = {"src": key[0], "dst": key[1], "kind": kind, "created_at": created_at}
        yield SourceRecord("edges", data, self.source, location)

    def guarded(self, location: str, item: Any,
                produced: Iterator[SourceRecord]) -> Iterator[SourceRecord]:
        """The records ``produced`` from ``item``, ending in a reject if a field has an unusable type.

        Platform exports are untrusted: a list where an id belongs must cost one reject, not the whole file.
        """
        try:
            yield from produced
        except (TypeError, AttributeError, KeyError) as error:
            reason = f"a field has an unusable type ({type(error).__name__}: {error})"
            yield self.reject(location, reason, item)
        except (ValueError, ArithmeticError, RecursionError) as error:
            reason = f"a field has an unusable value ({type(error).__name__}: {error})"
            yield self.reject(location, reason, item)

    def reject(self, location: str, reason: str, value: Any, table: str = "posts") -> SourceRecord:
        """A reject for an item that cannot be read, with its JSON as the raw preview."""
        return SourceRecord.rejected(self.source, location, reason, _raw(value), table)

    def _finish(self, data: dict[str, Any]) -> dict[str, Any]:
        data["platform"] = self.platform
        if not data.get("extra"):
            data["extra"] = None
        return data


class HtmlText(NamedTuple):
    """Plain text of an HTML fragment and the links it holds (mention and hashtag links left out)."""

    text: str
    links: list[str]


_PARAGRAPH_TAGS = frozenset({"p", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})
_LINK_CLASSES_NOT_URLS = frozenset({"mention", "hashtag"})


class _HtmlTextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            attributes = dict(attrs)
            classes = set((attributes.get("class") or "").split())
            if attributes.get("href") and not classes & _LINK_CLASSES_NOT_URLS:
                self.links.append(attributes["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag == "li":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str | None) -> HtmlText:
    """Plain text of an HTML fragment such as a Mastodon status: tags stripped, entities unescaped.

    ``<br>`` becomes a newline and paragraphs are separated by a blank line. Links that are mentions or
    hashtags (``class="mention"``/``"hashtag"``, as Mastodon writes them) are not listed in ``links``.

    Examples:
        >>> html_to_text('<p>Tea &amp; cake<br>at <a href="https://x.org/a">x.org/a</a></p><p>Bye</p>')
        HtmlText(text='Tea & cake\\nat x.org/a\\n\\nBye', links=['https://x.org/a'])
    """
    if not html:
        return HtmlText("", [])
    parser = _HtmlTextParser()
    parser.feed(html)
    parser.close()
    text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()
    return HtmlText(text, parser.links)
