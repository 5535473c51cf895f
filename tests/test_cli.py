"""The command line: ingest, stats, analyze and demo through Typer's test runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialfusion.cli import app
from socialfusion.store import connect

runner = CliRunner()

POSTS_JSONL = (
    '{"post_id": "p1", "author_id": "u1", "text": "hello #a", "created_at": "2024-05-01T12:00:00Z"}\n'
    '{"post_id": "p2", "author_id": "u2", "text": "world", "media": [{"kind": "image", "uri": "cat.png"}]}\n'
    '{"post_id": "p3", "author_id": "u1", "text": "cut off\n'
)


def invoke(*args: str):
    return runner.invoke(app, [str(arg) for arg in args])


def one_line(text: str) -> str:
    """Rich wraps long messages at the terminal width: join them back for matching."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def posts_file(tmp_path) -> Path:
    (tmp_path / "cat.png").write_bytes(b"\x89PNG not really")
    path = tmp_path / "posts.jsonl"
    path.write_text(POSTS_JSONL, encoding="utf-8")
    return path


def test_ingest_prints_one_json_object(posts_file, tmp_path):
    result = invoke("ingest", posts_file, "--store", tmp_path / "db", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the whole output is one JSON object
    assert list(summary)[:3] == ["ingested", "duplicate", "rejected"]
    assert (summary["ingested"], summary["duplicate"], summary["rejected"]) == (2, 0, 1)
    assert summary["records_read"] == 3
    assert summary["sources"] == [{"path": str(posts_file.resolve()), "format": "jsonl"}]


def test_ingesting_again_reports_duplicates(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db", "--json")

    result = invoke("ingest", posts_file, "--store", tmp_path / "db", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["ingested"], summary["duplicate"], summary["rejected"], summary["updated"]) == (0, 2, 1, 0)
    store = connect(tmp_path / "db")
    assert (store.count("posts"), store.count("rejects")) == (2, 1)


def test_ingest_without_json_prints_a_sentence_and_a_hint(posts_file, tmp_path):
    result = invoke("ingest", posts_file, "--store", tmp_path / "db")

    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert "ingested 2 · duplicate 0 · updated 0 · rejected 1" in text
    assert f"socialfusion stats --store {tmp_path / 'db'} --rejects" in text


def test_ingest_maps_columns_of_a_csv(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("id,body,who\nq1,first row,u1\nq2,second row,u2\n", encoding="utf-8")

    result = invoke("ingest", source, "--store", tmp_path / "db", "--json",
                    "--map", "id=post_id", "--map", "body=text", "--map", "who=author_id")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ingested"] == 2
    rows = connect(tmp_path / "db").read("posts", columns=["post_id", "text", "author_id"]).to_pylist()
    assert sorted(rows, key=lambda row: row["post_id"]) == [
        {"post_id": "q1", "text": "first row", "author_id": "u1"},
        {"post_id": "q2", "text": "second row", "author_id": "u2"},
    ]


def test_a_bad_map_is_a_usage_error(posts_file, tmp_path):
    result = invoke("ingest", posts_file, "--store", tmp_path / "db", "--map", "no-equals-sign")

    assert result.exit_code == 2
    assert "expected FOREIGN=canonical" in one_line(result.output)


def test_an_unknown_format_exits_2_listing_the_known_ones(posts_file, tmp_path):
    result = invoke("ingest", posts_file, "--store", tmp_path / "db", "--format", "nope")

    assert result.exit_code == 2
    message = one_line(result.stderr)
    assert "error: unknown input format 'nope'" in message
    assert "known formats: bluesky, csv, jsonl, mastodon, parquet, reddit, twitter" in message
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_failed_ingest_creates_no_store(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db", "--format", "nope")

    assert not (tmp_path / "db").exists()


def test_stats_counts_tables_and_modalities(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db")

    result = invoke("stats", "--store", tmp_path / "db", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "tables": {"posts": 2, "users": 0, "interactions": 0, "edges": 0, "labels": 0, "rejects": 1},
        "modalities": {"text": 2, "image": 1, "video": 0, "audio": 0},
    }


def test_stats_lists_rejects_on_request(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db")

    result = invoke("stats", "--store", tmp_path / "db", "--rejects", "--json")

    rejects = json.loads(result.stdout)["rejects"]
    assert [(row["location"], row["table"]) for row in rejects] == [("line 3", "posts")]
    assert rejects[0]["reason"].startswith("malformed JSON")


def test_stats_as_tables(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db")

    result = invoke("stats", "--store", tmp_path / "db")

    assert result.exit_code == 0, result.output
    assert "Rows per table" in result.stdout
    assert "Posts per modality" in result.stdout


@pytest.mark.parametrize("command", ["stats", "analyze"])
def test_a_missing_store_exits_2_with_a_hint(command, tmp_path):
    missing = tmp_path / "nowhere"

    result = invoke(command, "--store", missing)

    assert result.exit_code == 2
    assert f"no store at {missing}; create one with: socialfusion ingest PATH --store {missing}" in one_line(
        result.stderr)
    assert "Traceback" not in result.output
    assert not missing.exists()


def test_analyze_writes_an_html_report(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db")
    out = tmp_path / "out" / "report.html"

    result = invoke("analyze", "--store", tmp_path / "db", "--out", out)

    assert result.exit_code == 0, result.output
    assert "report written to" in result.stdout
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "Corpus overview" in page


def test_demo_writes_a_report_and_a_store_with_images(tmp_path):
    out = tmp_path / "demo"

    result = invoke("demo", "--out", out, "--users", "30", "--posts", "80")

    assert result.exit_code == 0, result.output
    assert "report written to" in one_line(result.stdout)
    assert "Corpus overview" in (out / "report.html").read_text(encoding="utf-8")
    stats = json.loads(invoke("stats", "--store", out / "store", "--json").stdout)
    assert stats["tables"]["users"] == 30
    assert stats["tables"]["posts"] >= 80
    assert stats["tables"]["rejects"] == 0
    assert stats["modalities"]["image"] > 0


def test_no_arguments_shows_help():
    result = invoke()

    assert "ingest" in result.output and "demo" in result.output


def test_datasets_list_says_which_folders_are_present(tmp_path):
    (tmp_path / "lastfm-hetrec2011").mkdir()

    result = invoke("datasets", "list", "--root", tmp_path, "--json")

    rows = {row["name"]: row for row in json.loads(result.output)}
    assert result.exit_code == 0
    assert set(rows) == {"diffusion-cascades", "lastfm-hetrec2011", "mvsa-single", "snap-ego-facebook",
                         "tweeteval", "weibo-covid19"}
    assert rows["lastfm-hetrec2011"]["present"] is True
    assert rows["mvsa-single"]["present"] is False and "mvsa-single" in rows["mvsa-single"]["path"]


def test_datasets_load_rejects_an_unknown_name_without_a_traceback(tmp_path):
    result = invoke("datasets", "load", "nope", "--store", tmp_path / "db")

    assert result.exit_code == 2
    assert "unknown dataset 'nope'" in one_line(result.output) and "snap-ego-facebook" in one_line(result.output)
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_datasets_load_ingests_a_shared_dataset_once(tmp_path, shared_data):
    first = invoke("datasets", "load", "snap-ego-facebook", "--store", tmp_path / "db", "--root", shared_data,
                   "--json")
    again = invoke("datasets", "load", "snap-ego-facebook", "--store", tmp_path / "db", "--root", shared_data,
                   "--json")

    summary, repeat = json.loads(first.output), json.loads(again.output)
    assert summary["per_table"]["edges"]["ingested"] == 88_234 and summary["per_table"]["users"]["ingested"] == 4_039
    assert summary["sources"] == [{"path": "dataset:snap-ego-facebook", "format": "corpus"}]
    assert repeat["ingested"] == 0 and repeat["duplicate"] == summary["ingested"]
