"""Columnar fast path for plain canonical posts in JSONL: Arrow parses and checks whole chunks at C++ speed.

Only rows it can vouch for are accepted here; every doubtful row (a malformed line, an odd or impossible
timestamp, a blank id, an empty post, a null inside a list...) goes through the record path, which gives the exact
same result and the exact same reject message. A chunk Arrow cannot parse as plain posts at all (media, ``extra``,
numeric ids, a number beyond 64 bits, a broken line, a line holding two objects or half of one), or that fails
here in any way Arrow reports, is left entirely to the record path. Both paths produce identical rows and content
hashes, so they can be mixed freely.
"""

from __future__ import annotations

import codecs
import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from socialfusion.io.tabular import JsonlReader
from socialfusion.privacy import may_hold_pii, scrub_record
from socialfusion.schema import arrow_schema, with_bookkeeping

if TYPE_CHECKING:
    from socialfusion.ingestion import RecordCleaner

__all__ = ["clean_jsonl_posts"]

logger = logging.getLogger(__name__)

_POSTS = arrow_schema("posts")
_NOT_FAST = {"media", "extra", "record_key", "record_hash"}  # need per-item work: left to the record path
_INPUT = pa.schema(
    [
        pa.field(field.name, pa.string() if field.name == "created_at" else field.type)
        for field in _POSTS
        if field.name not in _NOT_FAST
    ]
)
_IDS = ("post_id", "author_id", "reply_to", "reshare_of", "quote_of")
_COUNTS = ("like_count", "share_count", "reply_count", "view_count")
_ENTITIES = ("hashtags", "mentions", "urls")
# The timestamps both paths read the same way; anything else (naive, dates, epochs, hour 24, offsets past 23:59,
# years whose UTC form may leave 1..9999) takes the record path. Days past the end of their month match it too:
# _NO_SUCH_DAY finds them (April 31, February 30 and 31, and February 29 of the years 1900-2199 that are not leap
# years: last two digits not a multiple of 4, or 1900 and 2100).
_RFC3339 = (
    r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_NO_SUCH_DAY = (
    r"^\d{4}-((0[469]|11)-31|02-3[01])|^(\d\d([02468][1235679]|[13579][01345789])|1900|2100)-02-29"
)
# What Arrow may raise on data it was not made for; any of them sends the chunk to the record path.
_ARROW_TROUBLE = (pa.ArrowException, ValueError, TypeError, OverflowError)
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_INPUT, unexpected_field_behavior="error")


def _parse(data: bytes) -> pa.Table | None:
    import io

    options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    try:
        return pa_json.read_json(io.BytesIO(data), read_options=options, parse_options=_PARSE_OPTIONS)
    except _ARROW_TROUBLE:
        return None


def _one_object_per_line(data: bytes, first_line: int) -> list[tuple[int, bytes]] | None:
    """The non-blank lines of a chunk with their numbers, or None when a line is not one whole ``{...}``.

    Arrow reads a stream of objects and does not care where lines end, so an object cut over two lines next to
    a line holding two objects would pair rows with the wrong line numbers. Fields here are flat (a nested
    object is a parse error), so a line that starts with ``{`` and ends with ``}`` ends the object it starts;
    with as many rows as such lines, each line is one row.
    """
    lines = []
    for number, line in enumerate(data.split(b"\n"), start=first_line):
        stripped = line.strip()
        if stripped:
            if stripped[:1] != b"{" or stripped[-1:] != b"}":
                return None
            lines.append((number, line))
    return lines


def _is_blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0)


def _no_null_items(column: pa.ChunkedArray) -> pa.Array:
    """True for the rows whose list has no null item (the record path refuses ``["a", null]``)."""
    lists = column.combine_chunks()
    items = pc.list_flatten(lists)
    if items.null_count == 0:
        return pa.array(np.ones(len(lists), bool))
    bad = np.zeros(len(lists), bool)
    bad[pc.list_parent_indices(lists).filter(pc.is_null(items)).to_numpy(zero_copy_only=False)] = True
    return pa.array(~bad)


def _trusted_rows(table: pa.Table) -> pa.ChunkedArray:
    """True for the rows whose every field passes the checks the schema's models make."""
    ok = pc.is_valid(table["post_id"])
    for name in _IDS:
        ok = pc.and_(ok, pc.invert(pc.fill_null(_is_blank(table[name]), False)))
    created = table["created_at"]
    real_day = pc.invert(pc.match_substring_regex(created, _NO_SUCH_DAY))
    good_time = pc.fill_null(pc.and_(pc.match_substring_regex(created, _RFC3339), real_day), False)
    ok = pc.and_(ok, pc.or_(pc.is_null(created), good_time))
    for name in _COUNTS:
        ok = pc.and_(ok, pc.fill_null(pc.greater_equal(table[name], 0), True))
    for name in _ENTITIES:
        ok = pc.and_(ok, _no_null_items(table[name]))
    has_text = pc.invert(pc.fill_null(_is_blank(table["text"]), True))
    return pc.and_(ok, pc.or_(has_text, pc.is_valid(table["reshare_of"])))


def _finish(table: pa.Table, cleaner: RecordCleaner) -> pa.Table:
    """Derive missing entities, scrub PII, detect languages, add media/extra and bookkeeping: the rows the record
    path would make.

    Only the text and entity columns visit Python; the other columns stay in Arrow.
    """
    from socialfusion.ingestion import entities_of

    columns = {name: table[name] for name in _INPUT.names}
    columns["created_at"] = pc.cast(table["created_at"], pa.timestamp("us", tz="UTC"))
    texts = pc.fill_null(table["text"], "").to_pylist()
    given = [table[name].to_pylist() for name in _ENTITIES]
    derived: list[list[list[str]]] = [[], [], []]
    pii_removed = cleaner.pii_removed
    # Entities derived from a text are pieces of it, so the text and the given lists decide which rows may hold
    # PII; the others (most rows) skip the scrubber.
    candidates = np.zeros(table.num_rows, bool)
    if cleaner.scrub_pii:
        for name in ("text", *_ENTITIES):
            candidates |= may_hold_pii(table[name]).to_numpy(zero_copy_only=False)
    for row, text in enumerate(texts):
        found = entities_of(text) if text else ([], [], [])
        for index in range(3):
            value = given[index][row]
            derived[index].append(found[index] if value is None else value)
        if candidates[row]:  # the text and the entity lists, as scrub_record does on the record path
            fields = {"text": text, **{name: derived[index][row] for index, name in enumerate(_ENTITIES)}}
            for kind, count in scrub_record("posts", fields).items():
                pii_removed[kind] = pii_removed.get(kind, 0) + count
            texts[row] = fields["text"]
            for index, name in enumerate(_ENTITIES):
                derived[index][row] = fields[name]
    columns["text"] = pa.array(texts, pa.string())
    if cleaner.detect_language and table["lang"].null_count:  # as the record path does, on the scrubbed text
        columns["lang"] = pa.array(cleaner.languages(table["lang"].to_pylist(), texts), pa.string())
    for name, values in zip(_ENTITIES, derived):
        columns[name] = pa.array(values, pa.list_(pa.string()))
    columns["media"] = pa.array([[]] * table.num_rows, _POSTS.field("media").type)
    columns["extra"] = pa.nulls(table.num_rows, pa.string())
    fields = [field for field in _POSTS if field.name not in ("record_key", "record_hash")]
    rows = pa.Table.from_arrays([columns[field.name] for field in fields], schema=pa.schema(fields))
    return with_bookkeeping("posts", rows)


def clean_jsonl_posts(data: bytes, first_line: int, source: str, cleaner: RecordCleaner) -> pa.Table | None:
    """Clean the posts of a JSONL chunk column-wise.

    Args:
        data: whole lines of a canonical posts JSONL file.
        first_line: the number of the chunk's first line in the file.
        source: the file's name, for rejects.
        cleaner: takes the doubtful rows through the record path (its rejects and PII counts grow).

    Returns:
        The chunk's posts (canonical schema with bookkeeping) in line order, or None when Arrow cannot parse the
        chunk as plain posts or cannot vouch for it; the caller then gives the whole chunk to the record path,
        and ``cleaner`` is as it was.
    """
    if first_line == 1:
        data = data.removeprefix(codecs.BOM_UTF8)  # as the record path does; line numbers are unchanged
    parsed = _parse(data)
    if parsed is None:
        return None
    lines = _one_object_per_line(data, first_line)
    if lines is None or len(lines) != parsed.num_rows:
        return None  # Arrow and the line reader disagree about what a record is: trust the line reader
    pii_before = dict(cleaner.pii_removed)
    try:
        trusted = _trusted_rows(parsed)
        fast = _finish(parsed.filter(trusted), cleaner)
    except _ARROW_TROUBLE as error:
        logger.debug("columnar path gives up on a chunk of %s at line %d: %s", source, first_line, error)
        cleaner.pii_removed.clear()
        cleaner.pii_removed.update(pii_before)
        return None
    fast_lines = [number for (number, _), keep in zip(lines, trusted.to_pylist()) if keep]
    slow_lines: list[int] = []
    for (number, line), keep in zip(lines, trusted.to_pylist()):
        if keep:
            continue
        before = len(cleaner.records["posts"])
        for record in JsonlReader.records([line], source, number, None, "posts"):
            cleaner.add(record)
        if len(cleaner.records["posts"]) > before:
            slow_lines.append(number)
    slow = cleaner.take("posts")
    if slow is None:
        return fast
    # Rows leave in line order, so that the last occurrence of a repeated id wins as on the record path.
    merged = pa.concat_tables([fast, slow])
    return merged.take(pc.sort_indices(pa.array(fast_lines + slow_lines)))
