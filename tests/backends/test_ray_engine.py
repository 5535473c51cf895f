"""The Ray engine against the local one, on a real multi-node Ray cluster (a head and two one-CPU workers).

Each test builds its own small store in a local folder and compares what the Ray engine stores with what the
local engine stores for the same input: same keys, same row sets, vectors equal within 1e-5.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from socialfusion.backends import RayOptions
from socialfusion.backends.ray_engine import start_ray
from socialfusion.cli import app
from socialfusion.exceptions import ConfigurationError, MissingDependencyError
from socialfusion.featurize import feature_table, featurize
from socialfusion.ingestion import ingest
from socialfusion.store import connect

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ENCODERS = ["text/lexicon", "image/colour-histogram"]
WORDS = (
    "great happy love awful sad terrible news today city team game music film rain sun night "
    "bonne journée merci mauvais très bien gracias malo"
).split()


def write_corpus(folder: Path, posts: int = 240, images: int = 30, seed: int = 0) -> Path:
    """A JSONL file of posts (some without text, some duplicated, some invalid) and the PNGs some reference
    (one of them corrupt)."""
    rng = random.Random(seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(posts):
        post = {"post_id": f"p{index}", "author_id": f"u{index % 17}", "text": " ".join(rng.choices(WORDS, k=8))}
        if index < images:
            name = f"img/{index}.png"
            if index == 3:
                (folder / name).write_bytes(b"not a png at all")
            else:
                buffer = io.BytesIO()
                Image.new("RGB", (16, 16), (index * 8 % 256, 40, 200 - index)).save(buffer, format="PNG")
                (folder / name).write_bytes(buffer.getvalue())
            post["media"] = [{"kind": "image", "uri": name}]
            if index % 5 == 0:
                post["text"] = ""
        lines.append(json.dumps(post))
    lines += [lines[7], '{"post_id": "bad", "text": 5', json.dumps({"post_id": "empty", "text": ""})]
    path = folder / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_same_features(local_store, ray_store, encoder: str) -> None:
    local, remote = (store.read(feature_table(encoder)).sort_by("item_id") for store in (local_store, ray_store))
    assert remote.column("item_id").to_pylist() == local.column("item_id").to_pylist()
    assert len(set(remote.column("item_id").to_pylist())) == remote.num_rows  # every row exactly once
    for column in ("content_hash", "version", "missing", "reason", "item_kind", "modality"):
        assert remote.column(column).to_pylist() == local.column(column).to_pylist(), column
    dim = local.schema.field("vector").type.list_size
    vectors = [
        table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, dim) for table in (local, remote)
    ]
    np.testing.assert_allclose(vectors[1], vectors[0], atol=1e-5)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def local_store(path: Path, corpus_file: Path):
    store = connect(path)
    ingest(corpus_file, store, workers=1, detect_language=False)
    return store


def lexicon_stores(tmp_path, corpus_file, monkeypatch, *, chunk_items: int, block_items: int):
    """Two stores of the corpus, the first featurized locally with the lexicon; Ray writes in small chunks."""
    from socialfusion.backends import ray_engine

    here, there = local_store(tmp_path / "local", corpus_file), local_store(tmp_path / "ray", corpus_file)
    featurize(here, ["text/lexicon"])
    monkeypatch.setattr(ray_engine, "CHUNK_ITEMS", chunk_items)
    monkeypatch.setattr(ray_engine, "TEXT_BLOCK_ITEMS", block_items)
    return here, there


def test_featurize_on_ray_stores_what_the_local_engine_stores(ray_cluster, corpus_file, tmp_path, monkeypatch):
    from socialfusion.backends import ray_engine

    cluster = ray_cluster
    monkeypatch.setattr(ray_engine, "TEXT_BLOCK_ITEMS", 64)  # several blocks over the two workers
    here, there = local_store(tmp_path / "local", corpus_file), local_store(tmp_path / "ray", corpus_file)

    featurize(here, ENCODERS)
    summary = featurize(there, ENCODERS, engine="ray", ray_options=RayOptions(address=cluster.address, workers=2))

    for encoder in ENCODERS:
        assert_same_features(here, there, encoder)
    image_run = summary.runs[1]
    assert image_run.encoded == 30 and image_run.missing == 1  # the corrupt PNG: a masked row with its reason
    assert "3" in [
        key.removeprefix("p")
        for key in there.read(feature_table(ENCODERS[1]), where="missing").column("item_id").to_pylist()
    ]
    again = featurize(there, ENCODERS, engine="ray", ray_options=RayOptions(address=cluster.address))
    assert [(run.encoded, run.cached) for run in again.runs] == [(0, run.items) for run in again.runs]


def test_an_interrupted_ray_job_is_completed_by_running_it_again(ray_cluster, corpus_file, tmp_path, monkeypatch):
    cluster = ray_cluster
    here, there = lexicon_stores(tmp_path, corpus_file, monkeypatch, chunk_items=64, block_items=32)
    written = []

    def interrupt(name, done, total):
        written.append(done)
        if len(written) == 3:  # after two chunks are stored
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        featurize(
            there,
            ["text/lexicon"],
            engine="ray",
            progress=interrupt,
            ray_options=RayOptions(address=cluster.address, workers=2),
        )
    assert 0 < there.count(feature_table("text/lexicon")) < here.count(feature_table("text/lexicon"))

    run = featurize(there, ["text/lexicon"], engine="ray", ray_options=RayOptions(address=cluster.address)).runs[0]

    assert run.cached == written[-1] and run.encoded == run.items - run.cached
    assert_same_features(here, there, "text/lexicon")


def test_an_unreachable_cluster_is_a_clear_error_within_the_timeout():
    with pytest.raises(ConfigurationError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:9'"):
        start_ray(RayOptions(address="127.0.0.1:9", connect_timeout=2))
    with pytest.raises(ConfigurationError, match="is not HOST:PORT"):
        start_ray(RayOptions(address="no-port-here"))


def test_an_encoder_missing_on_the_workers_names_its_extra(ray_cluster, corpus_file, tmp_path):
    cluster = ray_cluster
    shadow = tmp_path / "shadow" / "vaderSentiment"  # the lexicon encoder's dependency, hidden on the workers
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('vaderSentiment is not installed on this worker')\n")
    store = local_store(tmp_path / "ray", corpus_file)
    options = RayOptions(
        address=cluster.address, workers=1, runtime_env={"env_vars": {"PYTHONPATH": str(shadow.parent)}}
    )

    with pytest.raises(MissingDependencyError, match=r"pip install 'socialfusion\[text\]'"):
        featurize(store, ["text/lexicon"], engine="ray", ray_options=options)
    assert feature_table("text/lexicon") not in store.tables()


def test_a_worker_node_lost_mid_featurize_changes_nothing_in_the_result(
    ray_cluster, corpus_file, tmp_path, monkeypatch
):
    cluster = ray_cluster
    here, there = lexicon_stores(tmp_path, corpus_file, monkeypatch, chunk_items=32, block_items=16)
    lost = []

    def kill_a_node_once_started(name, done, total):
        if done and not lost:
            lost.append(done)
            cluster.kill_worker()

    try:
        run = featurize(
            there,
            ["text/lexicon"],
            engine="ray",
            progress=kill_a_node_once_started,
            batch_size=16,
            ray_options=RayOptions(address=cluster.address),
        ).runs[0]
    finally:
        if lost:  # the next tests get two worker nodes again
            cluster.add_worker()
    assert lost and run.encoded == run.items
    assert_same_features(here, there, "text/lexicon")


def test_ingest_on_ray_stores_what_the_local_engine_stores(ray_cluster, tmp_path, monkeypatch):
    from socialfusion import ingestion

    monkeypatch.setattr(ingestion, "_CHUNK_BYTES", 2048)  # a large file is split in byte ranges
    big = write_corpus(tmp_path / "big", posts=400, images=10, seed=1)
    second = write_corpus(tmp_path / "second", posts=60, images=0, seed=2)  # overlaps big's ids: upserts
    (tmp_path / "second" / "broken.jsonl").write_bytes(b"\xff\xfe{not utf-8")
    monkeypatch.chdir(tmp_path)  # relative paths: the Ray tasks read them from the driver's folder
    inputs = [big.relative_to(tmp_path), second.relative_to(tmp_path), Path("second/broken.jsonl")]
    here, there = connect(tmp_path / "local"), connect(tmp_path / "ray")

    local = ingest(inputs, here, workers=1, detect_language=False)
    remote = ingest(
        inputs, there, engine="ray", ray_options=RayOptions(address=ray_cluster.address), detect_language=False
    )

    assert (remote.ingested, remote.rejected, remote.updated) == (local.ingested, local.rejected, local.updated)
    for table in ("posts", "users", "rejects"):
        when = ["at"] if table == "rejects" else []  # the time a reject was recorded
        local_rows, ray_rows = (
            sorted(store.read(table).drop_columns(when).to_pylist(), key=str) for store in (here, there)
        )
        assert ray_rows == local_rows, table
    assert there.count("rejects", where="location = 'line 402'") == 1  # source and line of the bad record


def test_sentiment_predict_on_ray_writes_what_the_local_engine_writes(ray_cluster, corpus_file, tmp_path, monkeypatch):
    from socialfusion.backends import ray_engine
    from socialfusion.tasks.sentiment import SentimentModel, read_predictions, write_predictions

    monkeypatch.setattr(ray_engine, "PREDICT_BLOCK_ITEMS", 50)  # several blocks over the two workers

    here, there = local_store(tmp_path / "local", corpus_file), local_store(tmp_path / "ray", corpus_file)
    labels = [
        {
            "item_id": f"p{index}",
            "task": "sentiment",
            "split": "train",
            "label": ("positive", "negative", "neutral")[index % 3],
        }
        for index in range(60)
    ]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(label) for label in labels))
    for store in (here, there):
        ingest(tmp_path / "labels.jsonl", store, table="labels", workers=1, detect_language=False)
    model = SentimentModel(encoders={"lexicon": "text/lexicon"}).fit(here)

    write_predictions(here, model.predict(here))
    options = RayOptions(address=ray_cluster.address, workers=2)
    write_predictions(there, model.predict(there, engine="ray", ray_options=options))

    local, remote = (read_predictions(store).sort_by("post_id") for store in (here, there))
    assert remote.num_rows == local.num_rows > 200
    assert remote.to_pylist() == local.to_pylist()

    model.save(tmp_path / "model")  # the command: the same rows again (an upsert by post)
    command = invoke(
        "sentiment",
        "predict",
        "--model",
        tmp_path / "model",
        "--store",
        tmp_path / "ray",
        "--json",
        "--engine",
        "ray",
        "--ray-address",
        ray_cluster.address,
    )
    assert command.exit_code == 0, command.output
    # the summary is the last line: Ray may print a notice about the node the lost-node test killed before it
    assert json.loads(command.stdout.strip().splitlines()[-1])["written"] == local.num_rows
    assert read_predictions(there).sort_by("post_id").to_pylist() == local.to_pylist()


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_ingest_and_featurize_with_engine_ray(ray_cluster, tmp_path):
    corpus = write_corpus(tmp_path / "corpus", posts=80, images=5)
    ray = ["--engine", "ray", "--ray-address", ray_cluster.address, "--ray-workers", 2]
    for name, engine in (("local", []), ("ray", ray)):
        store = tmp_path / name
        ingested = invoke("ingest", corpus, "--store", store, "--no-detect-language", "--json", *engine)
        assert ingested.exit_code == 0, ingested.output
        featurized = invoke("featurize", "--store", store, "--encoders", "text/lexicon", "--json", *engine)
        assert featurized.exit_code == 0, featurized.output
        assert json.loads(featurized.stdout)["encoders"][0]["encoded"] == 80

    assert_same_features(connect(tmp_path / "local"), connect(tmp_path / "ray"), "text/lexicon")


def test_an_unreachable_cluster_or_a_stray_option_is_a_usage_error(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", posts=10, images=0)

    unreachable = invoke(
        "ingest", corpus, "--store", tmp_path / "store", "--engine", "ray", "--ray-address", "127.0.0.1:9"
    )
    stray = invoke("ingest", corpus, "--store", tmp_path / "store", "--ray-address", "127.0.0.1:9")
    unknown = invoke("featurize", "--store", tmp_path / "store", "--engine", "spark")

    assert unreachable.exit_code == 2 and "cannot reach the Ray cluster at '127.0.0.1:9'" in unreachable.output
    assert stray.exit_code == 2 and "need --engine ray" in stray.output
    assert unknown.exit_code == 2 and "unknown engine 'spark'" in unknown.output


def test_topics_assign_on_ray_stores_what_the_local_engine_stores(ray_cluster, corpus_file, tmp_path):
    from socialfusion.tasks.topics import read_topics

    rng = random.Random(3)
    new_posts = [
        {"post_id": f"n{index}", "author_id": "u_new", "text": " ".join(rng.choices(WORDS, k=8))} for index in range(40)
    ]
    (tmp_path / "new.jsonl").write_text("\n".join(json.dumps(post) for post in new_posts) + "\n")
    ray = ["--engine", "ray", "--ray-address", ray_cluster.address, "--ray-workers", 2]
    assigned = {}
    for name, engine in (("local", []), ("ray", ray)):
        store = local_store(tmp_path / name, corpus_file)
        fitted = invoke(
            "topics",
            "fit",
            "--store",
            tmp_path / name,
            "--method",
            "kmeans",
            "-k",
            3,
            "--encoders",
            "text/lexicon",
            "--reduce-to",
            0,
            "--json",
        )
        assert fitted.exit_code == 0, fitted.output
        ingest(tmp_path / "new.jsonl", store, workers=1, detect_language=False)
        result = invoke("topics", "assign", "--store", tmp_path / name, "--json", *engine)
        assert result.exit_code == 0, result.output
        assigned[name] = json.loads(result.stdout.strip().splitlines()[-1])["assigned"]
    here, there = connect(tmp_path / "local"), connect(tmp_path / "ray")

    assert assigned == {"local": 40, "ray": 40}
    assert_same_features(here, there, "text/lexicon")  # the new posts were encoded on the Ray workers
    local, remote = (read_topics(store)[0].sort_by("post_id") for store in (here, there))
    assert remote.num_rows == local.num_rows and remote.to_pylist() == local.to_pylist()
    again = invoke("topics", "assign", "--store", tmp_path / "ray", "--json", *ray)
    assert again.exit_code == 0 and json.loads(again.stdout.strip().splitlines()[-1])["assigned"] == 0


def test_engagement_scoring_on_ray_writes_what_the_local_engine_writes(ray_cluster, tmp_path, monkeypatch):
    from socialfusion import app as operations
    from socialfusion.backends import ray_engine
    from socialfusion.datasets.synthetic import generate
    from socialfusion.ingestion import ingest_corpus

    monkeypatch.setattr(ray_engine, "PREDICT_BLOCK_ITEMS", 40)  # several blocks over the two workers
    corpus = generate(n_users=40, n_posts=160, seed=4, n_videos=0, n_audio=0, image_fraction=0.0).corpus
    here, there = connect(tmp_path / "local"), connect(tmp_path / "ray")
    for store in (here, there):
        ingest_corpus(corpus, store, scrub_pii=False)
    params = operations.EngagementParams(learner="logistic", k=3)  # the quickest fit: four fits in this test
    table = operations.ENGAGEMENT_PREDICTIONS_TABLE

    local = operations.predict_engagement(here, params)
    remote = operations.predict_engagement(
        there, params, engine="ray", ray_options=RayOptions(address=ray_cluster.address, workers=2)
    )

    assert remote.written == local.written > 80  # more than two blocks
    expected, stored = (store.read(table).sort_by("key") for store in (here, there))
    for column in ("key", "user_id", "post_id", "at", "kind"):
        assert stored.column(column).to_pylist() == expected.column(column).to_pylist(), column
    np.testing.assert_allclose(
        stored.column("probability").to_numpy(), expected.column("probability").to_numpy(), atol=1e-6
    )
    assert [row.post_id for row in remote.top] == [row.post_id for row in local.top]

    lost = expected.column("key").to_pylist()[::7]  # scores lost since: only those are computed again
    there.delete(table, "key IN (" + ", ".join(f"'{key}'" for key in lost) + ")")
    ray = ["--engine", "ray", "--ray-address", ray_cluster.address, "--ray-workers", 2, "--learner", "logistic"]
    refill = invoke("engagement", "predict", "--store", tmp_path / "ray", "--new-only", "--json", *ray)
    again = invoke("engagement", "predict", "--store", tmp_path / "ray", "--new-only", "--json", *ray)

    assert refill.exit_code == 0, refill.output
    refilled, unchanged = (json.loads(result.stdout.strip().splitlines()[-1]) for result in (refill, again))
    assert (refilled["written"], refilled["already_scored"]) == (len(lost), local.written - len(lost))
    assert (unchanged["written"], unchanged["already_scored"]) == (0, local.written)
    np.testing.assert_allclose(
        there.read(table).sort_by("key").column("probability").to_numpy(),
        expected.column("probability").to_numpy(),
        atol=1e-6,
    )


PLATFORM_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "platforms"


def write_mixed_folder(folder: Path) -> Path:
    """A folder of small inputs in mixed formats: JSONL files (one split in several chunks, one with a malformed
    line), CSV files (one with a row of the wrong width), two platform exports, a UTF-16 file that cannot be read and
    an image; posts recur across files, some identical (duplicates) and some changed (updates)."""
    folder.mkdir(parents=True)
    write_corpus(folder / "big", posts=120, images=0, seed=3)  # several byte ranges of 2 KiB
    for index in range(6):
        posts = [
            {"post_id": f"p{(part * 7 + offset) % 50}", "author_id": f"u{offset}", "text": f"post {offset} of {part}"}
            for part in [1 if index == 5 else index]  # part5.jsonl repeats part1.jsonl: duplicates
            for offset in range(10)
        ]
        lines = [json.dumps(post) for post in posts]
        if index == 2:
            lines.insert(4, '{"post_id": "broken", "text": ')  # malformed: line 5
        (folder / f"part{index}.jsonl").write_text("\n".join(lines) + "\n")
    for index in range(3):
        rows = ["post_id,author_id,text,topic"] + [
            f"c{offset % 12},u{offset},csv post {offset},t{index}" for offset in range(index * 4, index * 4 + 8)
        ]
        if index == 1:
            rows.append("c99,u1,too,many,cells")
        (folder / f"table{index}.csv").write_text("\n".join(rows) + "\n")
    for name in ("mastodon_statuses.json", "reddit_pushshift.ndjson"):
        (folder / name).write_bytes((PLATFORM_FIXTURES / name).read_bytes())
    (folder / "utf16.jsonl").write_bytes('{"post_id": "x"}\n'.encode("utf-16"))
    Image.new("RGB", (4, 4)).save(folder / "photo.png")
    return folder


def test_many_files_are_cleaned_at_once_on_ray_and_stored_as_locally(ray_cluster, tmp_path, monkeypatch):
    import itertools

    from socialfusion import ingestion
    from socialfusion.backends import ray_engine

    clock = itertools.count()
    spans: list[list] = []  # [file, submitted, result taken] of each task, in the driver's order of events

    class RecordingExecutor(ray_engine.RayExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future, span = super().submit(fn, *args, **kwargs), [args[1], next(clock), None]
            spans.append(span)
            taken = future.result

            def result(timeout=None):
                try:
                    return taken(timeout)
                finally:
                    span[2] = next(clock)

            future.result = result
            return future

    monkeypatch.setattr(ray_engine, "RayExecutor", RecordingExecutor)
    monkeypatch.setattr(ingestion, "_CHUNK_BYTES", 2048)
    write_mixed_folder(tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)  # a relative folder: the Ray tasks read it from the driver's folder
    here, there = connect(tmp_path / "local"), connect(tmp_path / "ray")

    local = ingest("inputs", here, workers=1, detect_language=False, batch_size=50)
    options = RayOptions(address=ray_cluster.address, workers=2)
    remote = ingest("inputs", there, engine="ray", ray_options=options, detect_language=False, batch_size=50)

    expected = {key: value for key, value in local.to_dict().items() if key != "seconds"}
    assert {key: value for key, value in remote.to_dict().items() if key != "seconds"} == expected
    assert local.updated > 0 and local.duplicate > 0 and local.files_rejected == 1 and local.media_files_skipped == 1
    assert {source["format"] for source in local.sources} == {"jsonl", "csv", "mastodon", "reddit"}
    for table in ("posts", "users", "edges", "interactions", "rejects"):
        when = ["at"] if table == "rejects" else []  # the time a reject was recorded
        local_rows, ray_rows = (
            sorted(store.read(table).drop_columns(when).to_pylist(), key=str) for store in (here, there)
        )
        assert ray_rows == local_rows, table
    bad = [row for row in there.read("rejects").to_pylist() if row["source"].endswith("part2.jsonl")]
    assert [(row["location"], row["reason"][:14]) for row in bad] == [("line 5", "malformed JSON")]  # source, line
    assert there.count("rejects", where="location = 'row 10'") == 1  # the CSV row of the wrong width

    files = {span[0] for span in spans}
    assert len(files) == 12 and len(spans) > 12  # every readable input is a task; the big JSONL file several
    in_flight = [
        [file for file, submitted, taken in spans if submitted <= moment < taken] for moment in range(next(clock))
    ]
    assert max(len(set(files)) for files in in_flight) >= 3  # the chunks of several files in flight at once
    assert max(len(files) for files in in_flight) == 4  # never more than 2 per worker: memory stays bounded
