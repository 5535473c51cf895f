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
    assert "error: --format: unknown input format 'nope'" in message
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


# -- issue 19: from a fresh clone to an answer ----------------------------------------------------------------------


def test_version_and_help_without_type_noise():
    from socialfusion import __version__

    assert invoke("--version").stdout.strip() == f"socialfusion {__version__}"
    help_text = invoke("ingest", "--help").output
    assert "<bool>" not in help_text and "<list[str]>" not in help_text
    assert "FOREIGN=CANONICAL" in help_text and "--media-root" in help_text and "--set" in help_text
    assert "created when absent" in one_line(help_text)
    assert "created when absent" not in one_line(invoke("stats", "--help").output)


def test_every_command_says_what_it_does():
    import typer.main

    group = typer.main.get_command(app)

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    silent = [" ".join(path) for path, command in walk(group, []) if not (command.help or "").strip()]
    assert silent == []


def test_piped_output_is_not_cut_at_80_columns(monkeypatch):
    from socialfusion.cli._shared import PIPED_WIDTH, _console

    monkeypatch.delenv("COLUMNS", raising=False)

    assert _console().width == PIPED_WIDTH > 80


def test_ingesting_a_missing_file_fails_and_creates_no_store(tmp_path):
    result = invoke("ingest", tmp_path / "nothere.jsonl", "--store", tmp_path / "x.db")

    assert result.exit_code != 0
    assert "input not found" in one_line(result.stderr)
    assert not (tmp_path / "x.db").exists()


def test_a_file_whose_every_row_is_rejected_exits_1(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("post_id,created_at\n1,yesterday\n2,last week\n", encoding="utf-8")

    result = invoke("ingest", source, "--store", tmp_path / "db")

    assert result.exit_code == 1
    assert "nothing was ingested" in one_line(result.stderr)
    assert invoke("stats", "--store", tmp_path / "db", "--json").exit_code == 0  # the rejects are there to read


def test_strict_fails_on_any_reject(posts_file, tmp_path):
    assert invoke("ingest", posts_file, "--store", tmp_path / "db").exit_code == 0

    result = invoke("ingest", posts_file, "--store", tmp_path / "strict", "--strict")

    assert result.exit_code == 1 and "--strict: 1 input(s) rejected" in one_line(result.stderr)


def test_a_labels_file_with_constants_and_a_mapped_column(tmp_path):
    source = tmp_path / "labels.csv"
    source.write_text("post_id,sentiment,annotator\np1,positive,ann\np2,negative,bob\n", encoding="utf-8")

    result = invoke("ingest", source, "--store", tmp_path / "db", "--table", "labels", "--map", "sentiment=label",
                    "--set", "task=sentiment", "--set", "split=test")

    assert result.exit_code == 0, result.output
    assert "ingested 2" in one_line(result.stdout) and "kept in extra (no such field): annotator" in result.stdout
    labels = connect(tmp_path / "db").read("labels", columns=["item_id", "task", "label", "split"]).to_pylist()
    assert {"item_id": "p1", "task": "sentiment", "label": "positive", "split": "test"} in labels


def test_set_rejects_a_field_the_table_does_not_have(tmp_path):
    source = tmp_path / "labels.csv"
    source.write_text("item_id,label\np1,positive\n", encoding="utf-8")

    result = invoke("ingest", source, "--store", tmp_path / "db", "--table", "labels", "--set", "tsak=sentiment")

    assert result.exit_code == 2 and "cannot set ['tsak'] on labels" in one_line(result.stderr)
    assert not (tmp_path / "db").exists()


def test_id_from_hash_on_the_command_line(tmp_path):
    source = tmp_path / "no-ids.csv"
    source.write_text("text,followers\nfirst,1\nsecond,2\n", encoding="utf-8")

    result = invoke("ingest", source, "--store", tmp_path / "db", "--id-from", "hash", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ingested"] == 2


def test_refused_media_warn_and_media_root_allows_them(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "posts.jsonl").write_text(json.dumps(
        {"post_id": "p1", "text": "look", "media": [{"kind": "image", "uri": str(tmp_path / "media" / "a.png")}]}))

    refused = invoke("ingest", tmp_path / "export", "--store", tmp_path / "db1")
    strict = invoke("ingest", tmp_path / "export", "--store", tmp_path / "db2", "--strict")
    allowed = invoke("ingest", tmp_path / "export", "--store", tmp_path / "db3", "--strict",
                     "--media-root", tmp_path / "media")

    assert refused.exit_code == 0
    warning = one_line(refused.stderr)
    assert "warning: 1 of 1 image references (100%) were refused" in warning and "--media-root DIR" in warning
    assert strict.exit_code == 1 and "too many media references refused" in one_line(strict.stderr)
    assert allowed.exit_code == 0 and "warning" not in allowed.stderr


def test_stats_summarises_rejects_by_reason_and_lists_them_on_request(tmp_path):
    source = tmp_path / "posts.csv"
    rows = "".join(f"{i},text {i},not a date {i}\n" for i in range(40))
    source.write_text("post_id,text,created_at\n" + rows, encoding="utf-8")
    invoke("ingest", source, "--store", tmp_path / "db")

    summary = invoke("stats", "--store", tmp_path / "db", "--rejects")
    everything = invoke("stats", "--store", tmp_path / "db", "--rejects", "--all")
    as_csv = invoke("stats", "--store", tmp_path / "db", "--rejects", "--csv", tmp_path / "rejects.csv")

    assert summary.exit_code == 0, summary.output
    text = one_line(summary.stdout)
    assert "Rejected inputs by reason (40)" in text and "posts record …: field 'created_at'" in text
    assert text.count("row ") == 3  # three examples, not forty lines
    assert one_line(everything.stdout).count("row ") == 43
    assert as_csv.exit_code == 0 and len((tmp_path / "rejects.csv").read_text().splitlines()) == 41
    reasons = json.loads(invoke("stats", "--store", tmp_path / "db", "--rejects", "--json").stdout)["reject_reasons"]
    assert [group["count"] for group in reasons] == [40]


def test_analyze_says_each_stage_when_not_on_a_terminal(posts_file, tmp_path):
    invoke("ingest", posts_file, "--store", tmp_path / "db")

    result = invoke("analyze", "--store", tmp_path / "db", "--out", tmp_path / "report.html")

    assert result.exit_code == 0, result.output
    stages = result.stderr.splitlines()
    assert "reading the store" in stages[0] and "writing the report" in stages[-1]
    assert any("Social network" in line for line in stages)


def test_analyze_refuses_an_empty_store_in_python(tmp_path):
    from socialfusion.exceptions import DataError, StoreError
    from socialfusion.pipeline import analyze

    with pytest.raises(StoreError, match="no store at"):
        connect(tmp_path / "typo", create=False)
    with pytest.raises(DataError, match="is empty: nothing to analyse"):
        analyze(connect(tmp_path / "typo"), tmp_path / "report.html")


def test_unknown_encoders_are_listed_without_test_only_ones(tmp_path, posts_file):
    invoke("ingest", posts_file, "--store", tmp_path / "db")

    result = invoke("featurize", "--store", tmp_path / "db", "--encoders", "text/nope")

    assert result.exit_code == 2 and "unknown encoder 'text/nope'" in one_line(result.stderr)
    assert "identity/test" not in result.stderr
    assert "identity/test" not in invoke("encoders", "list").stdout


def test_sentiment_train_on_a_text_only_store_uses_text_and_an_impossible_request_fails_at_once(tmp_path):
    import time

    words = ["good", "great", "lovely", "bad", "awful", "sad"]
    source = tmp_path / "posts.jsonl"
    source.write_text("".join(json.dumps({"post_id": f"p{i}", "text": f"a {words[i % 6]} day {i}"}) + "\n"
                              for i in range(48)))
    labels = tmp_path / "labels.csv"
    labels.write_text("post_id,label\n" + "".join(f"p{i},{'positive' if i % 6 < 3 else 'negative'}\n"
                                                   for i in range(48)))
    invoke("ingest", source, "--store", tmp_path / "db")
    invoke("ingest", labels, "--store", tmp_path / "db", "--table", "labels", "--set", "task=sentiment",
           "--set", "split=train")

    trained = invoke("sentiment", "train", "--store", tmp_path / "db", "--model", tmp_path / "model", "--json")
    assert trained.exit_code == 0, trained.output
    assert sorted(json.loads(trained.stdout)["encoders"]) == ["lexicon", "text"]  # the defaults the store can feed

    started = time.perf_counter()
    result = invoke("sentiment", "train", "--store", tmp_path / "db", "--model", tmp_path / "model",
                    "--encoders", "text=text/lexicon,image=image/efficientnet")
    assert result.exit_code == 2
    assert "nothing to encode for image/efficientnet" in one_line(result.stderr)
    assert time.perf_counter() - started < 20  # before any encoder ran (it took minutes)
    assert not [name for name in connect(tmp_path / "db").tables() if name.startswith("features__image")]


def test_topics_fit_takes_a_comma_list_of_encoders():
    import typer

    from socialfusion.app import FitTopicsParams
    from socialfusion.cli.topic_commands import _split_encoders

    text, others = _split_encoders("image/colour-histogram, text/tfidf")
    assert (text, others) == ("text/tfidf", ["image/colour-histogram"])
    assert FitTopicsParams(text_encoder=text, other_encoders=others).encoders() == {
        "text": "text/tfidf", "image": "image/colour-histogram"}
    assert _split_encoders("text=text/tfidf") == ("text/tfidf", [])
    for wrong in ("image/colour-histogram", "text/no-such-encoder"):
        with pytest.raises(typer.BadParameter):
            _split_encoders(wrong)
