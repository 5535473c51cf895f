"""One bad value never ends a run: planted in a large file, it becomes a reject and the rest of the file goes on.

Each case comes from a run that used to die on it (issue 18): an impossible date on the columnar path, an integer
beyond 64 bits, a file nested 2,000 levels deep in a folder, a NUL in a media path, a Parquet file corrupted half-
way. The large files are sized so that the parallel chunked path (two workers) and the columnar path both run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import socialfusion.ingestion as ingest_module
from socialfusion.exceptions import DataError
from socialfusion.ingestion import ingest
from socialfusion.store import connect

LINES = 20_000


def post(index: int, **fields) -> dict:
    return {"post_id": f"p{index}", "author_id": f"u{index % 7}", "created_at": "2024-03-01T10:00:00Z",
            "text": f"post number {index} about #topic{index % 5}", **fields}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def rejects_by_location(store) -> dict[str, str]:
    return {row["location"]: row["reason"] for row in store.read("rejects").to_pylist()}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of ~200 KB, parallel from the first byte: a 2 MB file is ten chunks over two workers."""
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ingest_module, "_CHUNK_BYTES", 200_000)


PLANTED = {  # line number -> (the bad post, what its reject must name)
    1_001: (post(1_000, created_at="2024-02-30T10:00:00Z"), "field 'created_at'"),
    7_001: (post(7_000, created_at="2024-03-01T25:00:00Z"), "field 'created_at'"),
    9_001: (post(9_000, created_at="2024-03-01T10:00:00+99:99"), "field 'created_at'"),
    12_001: (post(12_000, created_at="0001-01-01T00:00:00+01:00"), "out of range once converted to UTC"),
    15_001: (post(15_000, like_count=9223372036854775808), "field 'like_count'"),
    16_001: (post(16_000, share_count=99999999999999999999), "field 'share_count'"),
    18_001: (post(18_000, extra=json.loads("[" * 300 + "]" * 300)), "field 'extra'"),
    19_001: (post(19_000, extra={"deep": json.loads("[" * 300 + "]" * 300)}), "cannot be stored as JSON"),
}


@pytest.mark.parametrize("workers", [1, 2])
def test_values_planted_in_a_large_jsonl_file_are_rejects_and_every_other_line_is_stored(tmp_path, small_chunks,
                                                                                         workers):
    records = [post(index) for index in range(LINES)]
    for line, (bad, _) in PLANTED.items():
        records[line - 1] = bad
    path = write_jsonl(tmp_path / "posts.jsonl", records)
    store = connect(tmp_path / "db")

    summary = ingest(path, store, workers=workers)

    rejects = rejects_by_location(store)
    assert store.count("posts") + len(rejects) == LINES
    assert summary.records_read == LINES and summary.rejected == len(PLANTED)
    assert set(rejects) == {f"line {line}" for line in PLANTED}
    for line, (_, named) in PLANTED.items():
        assert named in rejects[f"line {line}"], (line, rejects[f"line {line}"])
    assert "9223372036854775808" in rejects["line 15001"]  # the value, not only the field


def test_the_same_file_gives_the_same_store_through_the_record_path(tmp_path, small_chunks, monkeypatch):
    records = [post(index) for index in range(3_000)]
    records[100] = post(100, created_at="2024-02-30T10:00:00Z")
    records[2_000] = post(2_000, like_count=9223372036854775808)
    path = write_jsonl(tmp_path / "posts.jsonl", records)
    fast, exact = connect(tmp_path / "fast"), connect(tmp_path / "exact")

    ingest(path, fast, workers=1)
    monkeypatch.setattr(ingest_module, "clean_jsonl_posts", lambda *args: None)
    ingest(path, exact, workers=1)

    columns = ["record_key", "record_hash"]
    for table in ("posts", "rejects"):
        assert sorted(fast.read(table, columns=columns).to_pylist(), key=str) == sorted(
            exact.read(table, columns=columns).to_pylist(), key=str)


def test_huge_integers_in_csv_are_rejects_naming_the_field(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("post_id,text,like_count\n1,a,5\n2,b,99999999999999999999\n3,c,-1\n4,d,9223372036854775807\n")
    store = connect("memory://")

    summary = ingest(path, store)

    rejects = rejects_by_location(store)
    assert summary.ingested == 2 and summary.rejected == 2
    assert "field 'like_count'" in rejects["row 3"] and "99999999999999999999" in rejects["row 3"]
    assert "field 'like_count'" in rejects["row 4"]


def test_a_deeply_nested_file_in_a_folder_is_a_file_reject_and_the_files_after_it_are_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_deep.json").write_text("[" * 2000 + "]" * 2000)
    (folder / "b_deep_object.json").write_text('{"a":' * 2000 + "1" + "}" * 2000)
    write_jsonl(folder / "c_posts.jsonl", [post(index) for index in range(5)])
    store = connect("memory://")

    summary = ingest(folder, store)

    assert store.count("posts") == 5 and summary.files_rejected == 2
    reasons = store.read("rejects").column("reason").to_pylist()
    assert all("cannot tell the format" in reason for reason in reasons)


def test_a_nul_in_a_media_path_flags_the_media_and_keeps_the_post(tmp_path):
    records = [post(0), post(1, media=[{"kind": "image", "uri": "a\u0000b.png"},
                                       {"kind": "image", "uri": "file:///tmp/a%00b.png"}]), post(2)]
    store = connect("memory://")

    summary = ingest(write_jsonl(tmp_path / "posts.jsonl", records), store)

    assert store.count("posts") == 3 and summary.media_rejected == 2
    media = store.read("posts", where="post_id = 'p1'").column("media").to_pylist()[0]
    assert all("NUL character" in item["error"] for item in media)


def test_a_parquet_file_corrupted_half_way_loses_only_its_damaged_row_group_and_says_so(tmp_path):
    rows = 5_000
    table = pa.table({"post_id": [f"p{i}" for i in range(rows)],
                      "text": [f"text number {i} " * 3 for i in range(rows)]})
    path = tmp_path / "posts.parquet"
    pq.write_table(table, path, row_group_size=1_000, compression="snappy")
    column = pq.ParquetFile(path).metadata.row_group(2).column(1)
    damaged = bytearray(path.read_bytes())
    middle = (column.dictionary_page_offset or column.data_page_offset) + column.total_compressed_size // 2
    damaged[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    store = connect("memory://")

    summary = ingest(path, store)

    rejects = rejects_by_location(store)
    assert store.count("posts") + len(rejects) == rows
    assert store.count("posts") == 4_000 and summary.records_read == rows
    assert set(rejects) == {f"row {index}" for index in range(2_001, 3_001)}
    assert "row group 2 cannot be decoded" in rejects["row 2001"]


def test_a_byte_order_mark_is_skipped_by_both_paths(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(post(i)) + "\n" for i in range(3)).encode())
    fast, exact = connect("memory://"), connect("memory://")

    ingest(path, fast)
    ingest(path, exact, pseudonymize_key="a key of at least sixteen bytes")  # the record path

    assert fast.count("posts") == exact.count("posts") == 3
    assert fast.count("rejects") == exact.count("rejects") == 0


def test_a_tsv_file_is_read_tab_separated(tmp_path):
    path = tmp_path / "posts.tsv"
    path.write_text("post_id\ttext\thashtags\n1\thello, world\ta b\n2\tsecond\t\n", encoding="utf-8")
    store = connect("memory://")

    summary = ingest(path, store)

    assert summary.ingested == 2 and summary.rejected == 0
    assert store.read("posts", where="post_id = '1'").to_pylist()[0]["text"] == "hello, world"


def test_a_csv_without_a_header_is_refused_as_a_file_instead_of_losing_its_first_row(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("1,hello\n2,world\n", encoding="utf-8")
    store = connect("memory://")

    summary = ingest(path, store)

    assert store.count("posts") == 0 and summary.files_rejected == 1
    (reason,) = store.read("rejects").column("reason").to_pylist()
    assert "names no posts field" in reason and "header" in reason and "'1,hello'" in reason


def test_broken_links_fifos_and_links_to_folders_are_file_rejects_and_nothing_blocks(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "good.jsonl", [post(0)])
    (folder / "dangling.jsonl").symlink_to(folder / "gone.jsonl")
    os.mkfifo(folder / "pipe.jsonl")  # opening it for reading would wait for a writer forever
    (tmp_path / "elsewhere").mkdir()
    (folder / "linked").symlink_to(tmp_path / "elsewhere")
    (folder / "loop_a").symlink_to(folder / "loop_b")
    (folder / "loop_b").symlink_to(folder / "loop_a")
    (folder / ".hidden.jsonl").write_text("{oops\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config.jsonl").write_text("{oops\n")
    store = connect("memory://")

    summary = ingest(folder, store)

    assert store.count("posts") == 1 and summary.files_rejected == 5
    reasons = {Path(row["source"]).name: row["reason"] for row in store.read("rejects").to_pylist()}
    assert "broken symbolic link" in reasons["dangling.jsonl"]
    assert "FIFO" in reasons["pipe.jsonl"]
    assert "symbolic link to a folder" in reasons["linked"]
    assert "loop of symbolic links" in reasons["loop_a"]


def test_nan_and_infinity_in_numbers_are_rejects_naming_the_field(tmp_path):
    path = tmp_path / "interactions.csv"
    path.write_text("user_id,post_id,kind,value\na,p1,view,1.5\na,p2,view,nan\na,p3,view,inf\na,p4,view,-Infinity\n")
    parquet = tmp_path / "edges.parquet"
    pq.write_table(pa.table({"src": ["a", "b"], "dst": ["b", "c"], "kind": ["follow"] * 2,
                             "weight": [1.0, float("nan")]}), parquet)
    store = connect("memory://")

    interactions = ingest(path, store, table="interactions")
    edges = ingest(parquet, store, table="edges")

    assert (interactions.ingested, interactions.rejected) == (1, 3)
    assert (edges.ingested, edges.rejected) == (1, 1)
    reasons = store.read("rejects").column("reason").to_pylist()
    assert sum("field 'value'" in reason and "finite" in reason for reason in reasons) == 3
    assert sum("field 'weight'" in reason for reason in reasons) == 1


def test_a_utf16_file_is_refused_with_the_encoding_named(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(json.dumps(post(0)).encode("utf-16"))
    store = connect("memory://")

    ingest(path, store)

    (reason,) = store.read("rejects").column("reason").to_pylist()
    assert "UTF-16" in reason and "UTF-8" in reason


def test_a_very_long_line_is_one_record(tmp_path, small_chunks):
    long_text = "word " * 1_000_000  # 5 MB on one line, far past a chunk
    records = [post(0), post(1, text=long_text), "{" + "x" * 3_000_000, post(2)]
    store = connect(tmp_path / "db")

    summary = ingest(write_jsonl(tmp_path / "posts.jsonl", records), store, workers=2)

    assert summary.records_read == 4 and store.count("posts") == 3
    raw = store.read("rejects").column("raw").to_pylist()[0]
    assert len(raw) <= 2001  # the preview is cut, not the whole line


def test_a_malformed_graphml_file_is_a_data_error(tmp_path):
    from socialfusion.tasks.knowledge import KnowledgeGraph

    cases = {
        "cut.graphml": '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph',
        "text.graphml": "not xml at all",
        "types.graphml": (
            '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
            '<key id="p" for="node" attr.name="posts" attr.type="int"/><graph edgedefault="directed">'
            '<node id="n0"><data key="p">many</data></node></graph></graphml>'),
        "unknown_key.graphml": (
            '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">'
            '<node id="n0"><data key="zz">1</data></node></graph></graphml>'),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            KnowledgeGraph.from_graphml(tmp_path / name)


def test_kg_path_with_a_malformed_graph_prints_an_error_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from socialfusion.cli import app

    graph = tmp_path / "broken.graphml"
    graph.write_text("<graphml><graph")

    result = CliRunner().invoke(app, ["kg", "path", "a", "b", "--graph", str(graph), "--store", str(tmp_path / "db")])

    assert result.exit_code != 0
    assert "Traceback" not in result.output and "not well-formed GraphML" in result.output
