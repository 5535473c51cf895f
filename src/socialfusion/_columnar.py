"""Columnar fast path for plain canonical posts in JSONL: Arrow parses and checks whole chunks at C++ speed.

Only rows it can vouch for are accepted here; every doubtful row (a malformed line, an odd timestamp, a blank
id, an empty post...) goes through the record path, which gives the exact same result and the exact same reject
message. A chunk Arrow cannot parse as plain posts at all (media, ``extra``, numeric ids, a broken line) is left
entirely to the record path. Both paths produce identical rows and content hashes, so they can be mixed freely.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from socialfusion.io.tabular import JsonlReader
from socialfusion.privacy import scrub_text
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
# The timestamps both paths read the same way; anything else (naive, dates, epochs) takes the record path.
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_INPUT, unexpected_field_behavior="error")


def _parse(data: bytes) -> pa.Table | None:
    import io

    options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    try:
        return pa_json.read_json(io.BytesIO(data), read_options=options, parse_options=_PARSE_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _is_blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0)


def _trusted_rows(table: pa.Table) -> pa.ChunkedArray:
    """True for the rows whose every field passes the checks the schema's models make."""
    ok = pc.is_valid(table["post_id"])
    for name in _IDS:
        ok = pc.and_(ok, pc.invert(pc.fill_null(_is_blank(table[name]), False)))
    created = table["created_at"]
    ok = pc.and_(ok, pc.or_(pc.is_null(created), pc.fill_null(pc.match_substring_regex(created, _RFC3339), False)))
    for name in _COUNTS:
        ok = pc.and_(ok, pc.fill_null(pc.greater_equal(table[name], 0), True))
    has_text = pc.invert(pc.fill_null(_is_blank(table["text"]), True))
    return pc.and_(ok, pc.or_(has_text, pc.is_valid(table["reshare_of"])))


def _finish(table: pa.Table, cleaner: RecordCleaner) -> pa.Table:
    """Derive missing entities, scrub PII, add media/extra and bookkeeping: the rows the record path would make.

    Only the text and entity columns visit Python; the other columns stay in Arrow.
    """
    from socialfusion.ingestion import entities_of

    columns = {name: table[name] for name in _INPUT.names}
    columns["created_at"] = pc.cast(table["created_at"], pa.timestamp("us", tz="UTC"))
    texts = pc.fill_null(table["text"], "").to_pylist()
    given = [table[name].to_pylist() for name in _ENTITIES]
    derived: list[list[list[str]]] = [[], [], []]
    pii_removed = cleaner.pii_removed
    for row, text in enumerate(texts):
        found = entities_of(text) if text else ([], [], [])
        for index in range(3):
            value = given[index][row]
            derived[index].append(found[index] if value is None else value)
        if cleaner.scrub_pii:
            texts[row], counts = scrub_text(text)
            for kind, count in counts.items():
                pii_removed[kind] = pii_removed.get(kind, 0) + count
    columns["text"] = pa.array(texts, pa.string())
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
        chunk as plain posts; the caller then gives the whole chunk to the record path.
    """
    parsed = _parse(data)
    if parsed is None:
        return None
    lines = [(number, line) for number, line in enumerate(data.split(b"\n"), start=first_line) if line.strip()]
    if len(lines) != parsed.num_rows:
        return None  # Arrow and the line reader disagree about what a record is: trust the line reader
    trusted = _trusted_rows(parsed)
    fast = _finish(parsed.filter(trusted), cleaner)
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
