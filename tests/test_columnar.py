"""The columnar fast path gives exactly what the record path gives: same rows, hashes, rejects and order."""

from __future__ import annotations

import json

from socialfusion._columnar import clean_jsonl_posts
from socialfusion.ingestion import RecordCleaner
from socialfusion.io.media import MediaResolver
from socialfusion.io.tabular import JsonlReader

LINES = [
    {"post_id": "1", "author_id": "a", "created_at": "2024-03-01T10:00:00Z", "text": "plain #tag @bob https://x.io/a"},
    {"post_id": "2", "created_at": "2024-03-01T12:00:00+02:00", "text": "offset time", "hashtags": ["given"]},
    {"post_id": "3", "text": "mail ann@example.org now", "like_count": 4, "lang": "en", "platform": "web"},
    {"post_id": "4", "created_at": "2024-03-01 10:00:00", "text": "naive time takes the record path"},
    {"post_id": " ", "text": "blank id is rejected"},
    {"post_id": "5", "text": "   "},
    {"post_id": "6", "text": "", "reshare_of": "1", "hashtags": None},
    {"post_id": "7", "text": "negative", "like_count": -1},
    {"post_id": "1", "author_id": "a", "text": "repeated id: the later line wins"},
    {"post_id": "8", "text": "中文 #话题# 内容 电话13812345678", "created_at": "2024-03-02T00:00:00.5Z"},
]


def _cleaner() -> RecordCleaner:
    return RecordCleaner(scrub_pii=True, pseudonymize_key=None, media=MediaResolver(), base_dir=None)


def _record_path(data: bytes):
    cleaner = _cleaner()
    for record in JsonlReader.records(data.split(b"\n"), "src", 1, None, "posts"):
        cleaner.add(record)
    return cleaner


def test_columnar_rows_equal_record_rows():
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in LINES).encode()
    expected = _record_path(data)
    cleaner = _cleaner()

    rows = clean_jsonl_posts(data, 1, "src", cleaner)

    assert rows is not None
    assert rows.equals(expected.take("posts"))
    # Both paths keep a repeated id; writing resolves it (the later line wins).
    assert rows.column("post_id").to_pylist() == ["1", "2", "3", "4", "6", "1", "8"]
    reasons = [(r.location, r.reason) for r in cleaner.records["rejects"]]
    assert reasons == [(r.location, r.reason) for r in expected.records["rejects"]]
    assert [location for location, _ in reasons] == ["line 5", "line 6", "line 8"]
    assert cleaner.pii_removed == expected.pii_removed == {"email": 1, "phone": 1}


def test_chunks_arrow_cannot_read_are_left_to_the_record_path():
    with_media = json.dumps({"post_id": "1", "text": "x", "media": [{"kind": "image", "uri": "a.png"}]})
    broken = json.dumps({"post_id": "2", "text": "y"}) + "\n{broken"
    numeric_id = json.dumps({"post_id": 3, "text": "z"})

    for data in (with_media, broken, numeric_id):
        assert clean_jsonl_posts((data + "\n").encode(), 1, "src", _cleaner()) is None


def test_rows_the_fast_path_cannot_vouch_for_take_the_record_path_and_the_chunk_goes_on():
    lines = [
        {"post_id": "1", "text": "fine", "created_at": "2024-03-01T10:00:00Z"},
        {"post_id": "2", "text": "no such day", "created_at": "2024-02-30T10:00:00Z"},
        {"post_id": "3", "text": "hour 25", "created_at": "2024-03-01T25:00:00Z"},
        {"post_id": "4", "text": "offset", "created_at": "2024-03-01T10:00:00+99:99"},
        {"post_id": "5", "text": "year 0 in UTC", "created_at": "0001-01-01T00:00:00+01:00"},
        {"post_id": "6", "text": "null tag", "hashtags": ["a", None]},
        {"post_id": "7", "text": "leap day", "created_at": "2024-02-29T23:59:59.999999-01:00"},
        {"post_id": "8", "text": "2000 is a leap year", "created_at": "2000-02-29T00:00:00Z"},
        {"post_id": "9", "text": "1900 is not", "created_at": "1900-02-29T00:00:00Z"},
        {"post_id": "10", "text": "nor 2100", "created_at": "2100-02-29T00:00:00Z"},
        {"post_id": "11", "text": "april has 30 days", "created_at": "2023-04-31T00:00:00Z"},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    expected = _record_path(data)
    cleaner = _cleaner()

    rows = clean_jsonl_posts(data, 1, "src", cleaner)

    assert rows is not None and rows.equals(expected.take("posts"))
    assert rows.column("post_id").to_pylist() == ["1", "7", "8"]
    reasons = {r.location: r.reason for r in cleaner.records["rejects"]}
    assert reasons == {r.location: r.reason for r in expected.records["rejects"]}
    assert all("field 'created_at'" in reasons[f"line {n}"] for n in (2, 3, 4, 9, 10, 11))
    assert "out of range once converted to UTC" in reasons["line 5"]
    assert "field 'hashtags.1'" in reasons["line 6"]


def test_lines_that_are_not_one_object_each_are_left_to_the_record_path():
    two_on_a_line = '{"post_id": "1", "text": "a"}{"post_id": "2", "text": "b"}\n'
    cut_in_two = '{"post_id": "3",\n"text": "c"}\n'
    # Together they hold three objects on three lines: only the line check tells them apart.
    for data in (two_on_a_line + cut_in_two, two_on_a_line, cut_in_two):
        cleaner = _cleaner()
        assert clean_jsonl_posts(data.encode(), 1, "src", cleaner) is None
        assert cleaner.records["rejects"] == [] and cleaner.pii_removed == {}


def test_a_byte_order_mark_opens_only_the_first_chunk():
    line = json.dumps({"post_id": "1", "text": "a"}).encode() + b"\n"

    assert clean_jsonl_posts(b"\xef\xbb\xbf" + line, 1, "src", _cleaner()).num_rows == 1
    assert clean_jsonl_posts(b"\xef\xbb\xbf" + line, 7, "src", _cleaner()) is None  # mid-file: the record path
