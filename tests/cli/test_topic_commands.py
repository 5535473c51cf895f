"""``socialfusion topics``: fit, show and assign through Typer's test runner, on a small synthetic store."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest
import typer
from typer.testing import CliRunner

from socialfusion.cli.topic_commands import app as topics_app
from socialfusion.corpus import Corpus
from socialfusion.datasets.synthetic import generate
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect
from socialfusion.tasks.topics import read_topics

runner = CliRunner()
app = typer.Typer()
app.add_typer(topics_app, name="topics")  # the lead registers it on the main app; here it stands alone
ENCODER = "text/minilm-int8"


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def network():
    return generate(n_users=30, n_posts=80, seed=2, n_videos=0, n_audio=0, image_fraction=0.0, chinese_fraction=0.0)


@pytest.fixture
def store_path(network, tmp_path):
    ingest_corpus(network.corpus, connect(tmp_path / "store"))
    return tmp_path / "store"


def test_fit_writes_the_tables_and_prints_the_topics_as_json(store_path):
    result = invoke("topics", "fit", "--store", store_path, "--method", "kmeans", "--topics", 4, "--encoder", ENCODER,
                    "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [topic["topic_id"] for topic in summary["topics"]] == [0, 1, 2, 3]
    assert sum(topic["size"] for topic in summary["topics"]) == summary["posts"]
    assert all(topic["keywords"] for topic in summary["topics"])
    assigned, topics = read_topics(connect(store_path))
    assert assigned.num_rows == summary["posts"] and topics.num_rows == 4


def test_show_prints_what_fit_stored_and_assign_handles_only_new_posts(store_path):
    assert invoke("topics", "fit", "--store", store_path, "--method", "kmeans", "-k", 3, "--encoder",
                  ENCODER).exit_code == 0
    shown = invoke("topics", "show", "--store", store_path)
    assert shown.exit_code == 0, shown.output
    assert "3 topics over" in shown.stdout

    nothing = invoke("topics", "assign", "--store", store_path, "--json")
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.stdout)["assigned"] == 0

    store = connect(store_path)
    new_posts = Corpus.from_records(posts=[
        {"post_id": "new1", "author_id": "u_new", "text": "Checking the league standings before the weekend match"},
        {"post_id": "new2", "author_id": "u_new", "text": "This pasta recipe is delicious"},
    ])
    ingest_corpus(new_posts, store)
    result = invoke("topics", "assign", "--store", store_path, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["assigned"] == 2
    assigned, _ = read_topics(store)
    new_rows = assigned.filter(pc.is_in(assigned.column("post_id"), value_set=pc.cast(["new1", "new2"], "string")))
    assert new_rows.num_rows == 2
    assert sorted(json.loads(invoke("topics", "show", "--store", store_path, "--json").stdout)["topics"][0]) == [
        "keywords", "label", "representative_post_ids", "size", "topic_id"]


def test_commands_fail_with_a_message_not_a_traceback(store_path, tmp_path):
    missing = invoke("topics", "show", "--store", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "no store at" in missing.output

    no_topics = invoke("topics", "show", "--store", store_path)
    assert no_topics.exit_code == 2 and "socialfusion topics fit" in no_topics.output

    bad = invoke("topics", "fit", "--store", store_path, "--method", "kmeans", "--encoder", ENCODER)
    assert bad.exit_code == 2 and "--topics: method 'kmeans' needs the number of topics" in bad.output
