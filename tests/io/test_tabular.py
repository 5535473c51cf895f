"""The canonical readers turn every bad row into a reject and go on; only an unusable file is a DataError."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.io import sniff_format
from socialfusion.io.tabular import CsvReader, JsonlReader, ParquetReader


def outcomes(records) -> list[tuple[str, str | None]]:
    return [(record.location, record.error) for record in records]


def test_jsonl_skips_a_byte_order_mark_only_at_the_start_of_the_file(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"post_id": "1", "text": "a"}\n\xef\xbb\xbf{"post_id": "2", "text": "b"}\n')

    records = list(JsonlReader().read(path))

    assert records[0].error is None and records[0].data["post_id"] == "1"
    assert records[1].location == "line 2" and "malformed JSON" in records[1].error


def test_csv_rows_that_are_not_well_formed_are_rejects_and_the_next_rows_are_read(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('post_id,text\n1,fine\n2,"closed"then more"\n3,also fine\n4,"never closed\n5,swallowed\n')

    records = list(CsvReader().read(path))

    assert [record.location for record in records if record.error is None] == ["row 2", "row 4"]
    errors = {record.location: record.error for record in records if record.error}
    assert "not well-formed CSV" in errors["row 3"]
    (unclosed,) = [error for location, error in errors.items() if location != "row 3"]
    assert "never closed" in unclosed


@pytest.mark.parametrize(("content", "expected"), [
    ("1,hello\n2,world\n", "names no posts field"),
    ("post_id,text,text\n1,a,b\n", "more than once"),
    ("\n1,a\n", "names no posts field"),
])
def test_a_csv_whose_first_row_is_not_a_header_is_refused(tmp_path, content, expected):
    path = tmp_path / "posts.csv"
    path.write_text(content)

    with pytest.raises(DataError, match=expected):
        list(CsvReader().read(path))


def test_a_column_map_makes_a_foreign_header_valid(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,body\n1,hello\n")

    (record,) = CsvReader().read(path, column_map={"id": "post_id", "body": "text"})

    assert record.data == {"post_id": "1", "text": "hello"}


def test_a_tsv_file_splits_on_tabs(tmp_path):
    path = tmp_path / "users.tsv"
    path.write_text("user_id\tdisplay_name\nu1\tAnn, the first\n")

    (record,) = CsvReader().read(path, table="users")

    assert record.data == {"user_id": "u1", "display_name": "Ann, the first"}


def test_parquet_values_python_cannot_hold_and_bad_json_cells_cost_their_row_only(tmp_path):
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({
        "post_id": ["1", "2", "3", "4"],
        "text": ["a", "b", "c", "d"],
        "created_at": pa.array([0, 400_000_000_000, 1_700_000_000, 0], pa.timestamp("s", tz="UTC")),
        "extra": ['{"a": 1}', None, "{bad", None],
    }), path)

    records = list(ParquetReader().read(path))

    assert [record.location for record in records] == ["row 1", "row 2", "row 3", "row 4"]
    assert records[0].error is None and records[0].data["extra"] == {"a": 1}
    assert "column 'created_at'" in records[1].error
    assert "malformed JSON in a cell" in records[2].error
    assert records[3].error is None


def test_sniffing_never_raises_on_hostile_bytes(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"account": ' * 3000 + "1" + "}" * 3000)

    with pytest.raises(ConfigurationError, match="cannot tell the format"):
        sniff_format(deep)


def test_csv_columns_that_name_no_field_go_to_extra_and_are_listed(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('post_id,text,followers,extra\n1,hi,12,"{""a"": 1}"\n2,yo,,\n')
    reader = CsvReader()

    first, second = reader.read(path)

    assert first.data == {"post_id": "1", "text": "hi", "extra": {"followers": "12", "a": 1}}
    assert second.data == {"post_id": "2", "text": "yo", "extra": None}
    assert reader.kept_in_extra == ["followers"]


def test_a_labels_csv_may_name_its_items_post_id(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("post_id,label\np1,positive\n")

    (record,) = CsvReader().read(path, table="labels")

    assert record.data == {"label": "positive", "item_id": "p1"}


def test_parquet_columns_that_name_no_field_go_to_extra(tmp_path):
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"post_id": ["1"], "text": ["hi"], "score": [0.5]}), path)
    reader = ParquetReader()

    (record,) = reader.read(path)

    assert record.data == {"post_id": "1", "text": "hi", "extra": {"score": 0.5}}
    assert reader.kept_in_extra == ["score"]


def test_frames_are_read_row_by_row_with_zero_based_locations():
    from socialfusion.io.tabular import frame_records, is_frame

    table = pa.table({"id": ["a", "b"], "text": ["x", "y"]})

    records = list(frame_records(table, source="frame", column_map={"id": "post_id"}))

    assert is_frame(table) and not is_frame("posts.csv") and not is_frame([{"post_id": "a"}])
    assert [(record.location, record.data) for record in records] == [
        ("row 0", {"post_id": "a", "text": "x"}), ("row 1", {"post_id": "b", "text": "y"})]


def test_a_frame_with_a_repeated_column_after_the_map_is_refused():
    from socialfusion.io.tabular import frame_records

    with pytest.raises(DataError, match="more than once"):
        list(frame_records(pa.table({"id": ["a"], "post_id": ["b"]}), source="frame", column_map={"id": "post_id"}))
