"""Property: whatever a JSONL line holds, it is stored or rejected, never lost, and both cleaning paths agree.

Hypothesis mutates valid post records (types, ranges, encodings, nesting, dates, huge integers, NaN and infinity,
NUL characters, Unicode, BOMs, broken and merged lines) and feeds each file through the columnar fast path and
through the exact record path. Runs are bounded and derandomised so that CI sees the same examples every time.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import socialfusion.ingestion as ingest_module
from socialfusion.ingestion import RecordCleaner, ingest
from socialfusion.io.media import MediaResolver
from socialfusion.store import connect

BOUNDED = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Raw(str):
    """JSON text written into a line as it is (``NaN``, ``1e400``, a number beyond 64 bits, a duplicated key)."""


def to_line(record: dict, ensure_ascii: bool) -> bytes:
    parts = []
    for key, value in record.items():
        text = value if isinstance(value, Raw) else json.dumps(value, ensure_ascii=ensure_ascii)
        parts.append(f"{json.dumps(key, ensure_ascii=ensure_ascii)}:{text}")
    return ("{" + ",".join(parts) + "}").encode("utf-8", errors="surrogatepass")


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


WHITESPACE = [" ", "\t", "\u3000", "\u00a0", "\x1c", "\u2028", "\u200b", "\x85"]
DATES = [
    "2024-02-30T10:00:00Z", "2023-02-29T10:00:00Z", "2024-02-29T10:00:00Z", "2024-03-01T25:00:00Z",
    "2024-03-01T24:00:00Z", "2024-03-01T10:60:00Z", "2024-03-01T10:00:60Z", "2024-03-01T10:00:00+99:99",
    "2024-03-01T10:00:00+23:59", "2024-03-01T10:00:00-00:00", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:00:00-05:00", "2024-13-01T00:00:00Z", "2024-03-00T00:00:00Z", "2024-03-01T10:00:00.1234567Z",
    "2024-03-01T10:00:00.5Z", "2024-03-01", "2024-03-01 10:00:00", "2024-03-01T10:00:00", "1712000000",
    "2024-03-01t10:00:00z", "yesterday", "", "１９９９-01-01T00:00:00Z",
]
WEIRD_STRINGS = st.one_of(
    st.sampled_from(DATES),
    st.sampled_from(WHITESPACE).map(lambda space: space * 3),
    st.sampled_from([Raw('"\\u0000"'), Raw('"a\\u0000b"'), Raw('"\\ud800"'), Raw('"\\udc00x"'),
                     Raw('"\\ud83d\\ude00"'), "#tag @who https://x.org", "ann@example.org", "é\u0301"]),
    st.text(max_size=12),
)
WEIRD_NUMBERS = st.one_of(
    st.sampled_from([Raw("9223372036854775807"), Raw("9223372036854775808"), Raw("18446744073709551615"),
                     Raw("18446744073709551616"), Raw("99999999999999999999"), Raw("-9223372036854775809"),
                     Raw("-1"), Raw("-0"), Raw("0"), Raw("1.0"), Raw("1.5"), Raw("1e20"), Raw("1e400"), Raw("-1e400"),
                     Raw("NaN"), Raw("Infinity"), Raw("true"), Raw('"7"')]),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda number: Raw(str(number))),
)
WEIRD_LISTS = st.one_of(
    st.sampled_from([Raw("[]"), Raw("[null]"), Raw('["a", null]'), Raw("[1, 2]"), Raw('[["a"]]'), Raw('"a b"')]),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=3),
)
WEIRD_ANYTHING = st.sampled_from([Raw("null"), Raw("{}"), Raw('{"a": {"b": {"c": 1}}}'), nested(20), nested(300),
                                  nested(1100), Raw('{"kind": "image", "uri": "a\\u0000b.png"}')])
STRING_FIELDS = ["post_id", "author_id", "created_at", "text", "lang", "reply_to", "reshare_of", "quote_of",
                 "platform"]
NUMBER_FIELDS = ["like_count", "share_count", "reply_count", "view_count"]
LIST_FIELDS = ["hashtags", "mentions", "urls"]
OTHER_FIELDS = ["extra", "media", "colour"]


@st.composite
def weird_field(draw) -> tuple[str, object]:
    """A field and a value for it: mostly of the field's own JSON type (the fast path parses those), else anything."""
    kind = draw(st.sampled_from(["string", "string", "date", "number", "list", "other"]))
    if kind == "date":
        return "created_at", draw(st.sampled_from(DATES))
    if kind == "string":
        return draw(st.sampled_from(STRING_FIELDS)), draw(WEIRD_STRINGS)
    if kind == "number":
        return draw(st.sampled_from(NUMBER_FIELDS)), draw(WEIRD_NUMBERS)
    if kind == "list":
        return draw(st.sampled_from(LIST_FIELDS)), draw(WEIRD_LISTS)
    field = draw(st.sampled_from(STRING_FIELDS + NUMBER_FIELDS + LIST_FIELDS + OTHER_FIELDS))
    return field, draw(st.one_of(WEIRD_ANYTHING, WEIRD_STRINGS, WEIRD_NUMBERS, WEIRD_LISTS))


@st.composite
def valid_post(draw, index: int) -> dict:
    post = {"post_id": f"p{index}", "text": draw(st.text(min_size=1, max_size=30).filter(str.strip))}
    if draw(st.booleans()):
        post["author_id"] = draw(st.sampled_from(["u1", "ü2", "用户3"]))
    if draw(st.booleans()):
        moment = draw(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)))
        post["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(["Z", "+02:00", ".25Z"]))
    if draw(st.booleans()):
        post["like_count"] = draw(st.integers(min_value=0, max_value=10**6))
    if draw(st.booleans()):
        post["hashtags"] = draw(st.lists(st.text(min_size=1, max_size=6), max_size=2))
    return post


LINE_MUTATIONS = ["bom", "bad_utf8", "truncate", "merge_with_next", "split", "blank", "crlf", "duplicate_key",
                  "nul_byte", "array", "number", "indent"]


@st.composite
def jsonl_file(draw) -> bytes:
    """A JSONL file of mostly valid posts, some with a field set to a weird value, some lines damaged."""
    count = draw(st.integers(min_value=1, max_value=12))
    records = [draw(valid_post(index)) for index in range(count)]
    odds = draw(st.sampled_from([2, 4, 8]))  # one record in ``odds`` gets a weird field
    for record in records:
        if draw(st.integers(1, odds)) == 1:
            field, value = draw(weird_field())
            record[field] = value
    if draw(st.booleans()):  # a repeated id: both paths keep every occurrence in line order
        records.append({**records[0], "text": "second version"})
    ascii_only = draw(st.booleans())
    lines = [to_line(record, ascii_only) for record in records]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        position = draw(st.integers(0, len(lines) - 1))
        line, mutation = lines[position], draw(st.sampled_from(LINE_MUTATIONS))
        if mutation == "bom":
            lines[position] = b"\xef\xbb\xbf" + line
        elif mutation == "bad_utf8":
            lines[position] = line[:-2] + b"\xff\xfe" + line[-2:]
        elif mutation == "truncate":
            lines[position] = line[: draw(st.integers(1, max(1, len(line) - 1)))]
        elif mutation == "merge_with_next" and position + 1 < len(lines):
            lines[position : position + 2] = [line + lines[position + 1]]
        elif mutation == "split":
            cut = line.find(b",")
            if cut > 0:
                lines[position : position + 1] = [line[: cut + 1], line[cut + 1 :]]
        elif mutation == "blank":
            lines[position] = draw(st.sampled_from([b"", b"   ", b"\t", b"\x0c", b"\xef\xbb\xbf"]))
        elif mutation == "crlf":
            lines[position] = line + b"\r"
        elif mutation == "duplicate_key":
            lines[position] = line[:-1] + b',"post_id":"again"}'
        elif mutation == "nul_byte":
            lines[position] = line.replace(b'"text":"', b'"text":"\x00', 1)
        elif mutation == "array":
            lines[position] = b"[" + line + b"]"
        elif mutation == "number":
            lines[position] = b"42"
        elif mutation == "indent":
            lines[position] = b"  " + line + b"  "
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))


def non_blank_records(data: bytes) -> int:
    """How many records a file holds by the rule both paths follow: non-blank lines, a leading BOM skipped."""
    lines = data.split(b"\n")
    lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    return sum(1 for line in lines if line.strip())


def cleaner() -> RecordCleaner:
    return RecordCleaner(scrub_pii=True, pseudonymize_key=None, media=MediaResolver(), base_dir=None)


def clean_file(path: Path, *, columnar: bool) -> tuple[dict[str, pa.Table], dict, int]:
    arguments = ("jsonl", str(path), 0, path.stat().st_size, 1, "posts", None, cleaner())
    if columnar:
        return ingest_module._clean_chunk(*arguments)
    with mock.patch.object(ingest_module, "clean_jsonl_posts", lambda *args: None):
        return ingest_module._clean_chunk(*arguments)


def rejects_of(tables: dict[str, pa.Table]) -> list[tuple]:
    if "rejects" not in tables:
        return []
    rows = tables["rejects"].select(["location", "table", "reason", "raw"]).to_pylist()
    return sorted(tuple(row.values()) for row in rows)


@BOUNDED
@given(jsonl_file())
def test_every_record_is_stored_or_rejected_and_both_paths_agree(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        path.write_bytes(data)

        fast_tables, fast_pii, fast_count = clean_file(path, columnar=True)
        exact_tables, exact_pii, exact_count = clean_file(path, columnar=False)

    expected = non_blank_records(data)
    assert fast_count == exact_count == expected
    stored = exact_tables["posts"].num_rows if "posts" in exact_tables else 0
    record_rejects = [row for row in rejects_of(exact_tables) if row[1] != "media"]
    assert stored + len(record_rejects) == expected, "a record was neither stored nor rejected"
    assert ("posts" in fast_tables) == ("posts" in exact_tables)
    if "posts" in exact_tables:
        assert fast_tables["posts"].equals(exact_tables["posts"])
    assert rejects_of(fast_tables) == rejects_of(exact_tables)
    assert fast_pii == exact_pii


@settings(BOUNDED, max_examples=8)
@given(jsonl_file())
def test_a_whole_ingest_stores_the_same_through_either_path(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "posts.jsonl"
        path.write_bytes(data)
        fast, exact = connect("memory://"), connect("memory://")

        fast_summary = ingest(path, fast, workers=1)
        with mock.patch.object(ingest_module, "clean_jsonl_posts", lambda *args: None):
            exact_summary = ingest(path, exact, workers=1)

    assert fast_summary.records_read == exact_summary.records_read == non_blank_records(data)
    for table in ("posts", "rejects"):
        columns = ["record_key", "record_hash"]
        assert sorted(map(tuple, fast.read(table, columns=columns).to_pylist())) == sorted(
            map(tuple, exact.read(table, columns=columns).to_pylist())), table
