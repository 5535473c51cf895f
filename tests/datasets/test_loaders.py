"""Dataset loaders: the counts each SOURCE.txt documents, canonical tables, manifest checks, clear errors."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from socialfusion import Corpus
from socialfusion.datasets import (
    DATASETS,
    _shared,
    data_root,
    dataset_path,
    load_diffusion_cascades,
    load_lastfm,
    load_mvsa_single,
    load_semeval2017_pool,
    load_snap_ego_facebook,
    load_tweeteval,
    load_weibo_covid_daily,
    load_weibo_covid_emotions,
    load_weibo_hashtag_counts,
    verify_manifest,
)
from socialfusion.datasets._shared import canonical_split, read_manifest
from socialfusion.datasets.tweeteval import tweet_match_key
from socialfusion.exceptions import DatasetNotFoundError, IntegrityError


def assert_canonical(corpus: Corpus) -> None:
    """Every table has its canonical schema and no two rows share a key."""
    corpus.validate()
    for name in corpus.table_names():
        keys = corpus.table(name).column("record_key")
        assert len(pc.unique(keys)) == len(keys), f"duplicate keys in {name}"


def label_counts(corpus: Corpus, column: str = "split") -> dict[str, int]:
    return dict(Counter(corpus.labels.column(column).to_pylist()))


# --- finding the data and checking the manifest (no real data needed) ---------------------------------------


def make_dataset(folder: Path, files: dict[str, bytes]) -> Path:
    """A dataset folder holding ``files`` and a MANIFEST.sha256 that lists them."""
    folder.mkdir(parents=True)
    lines = []
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
        lines.append(f"{hashlib.sha256(content).hexdigest()}  ./{name}\n")
    (folder / "MANIFEST.sha256").write_text("".join(lines))
    return folder


def test_verify_manifest_checks_the_listed_files_once(tmp_path, monkeypatch):
    folder = make_dataset(tmp_path / "toy", {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"})
    hashed = []
    real_sha256 = _shared.file_sha256
    monkeypatch.setattr(_shared, "file_sha256", lambda path: hashed.append(path.name) or real_sha256(path))

    manifest = verify_manifest(folder)
    verify_manifest(folder, ["sub/b.txt"])

    assert manifest == read_manifest(folder)
    assert sorted(manifest) == ["a.txt", "sub/b.txt"]
    assert sorted(hashed) == ["a.txt", "b.txt"]  # the second call found both verified already


def test_verify_manifest_names_a_changed_file_and_both_hashes(tmp_path):
    folder = make_dataset(tmp_path / "toy", {"a.txt": b"alpha\n", "b.txt": b"beta\n"})
    (folder / "b.txt").write_bytes(b"betA\n")

    with pytest.raises(IntegrityError, match=r"b\.txt does not match") as error:
        verify_manifest(folder)

    assert hashlib.sha256(b"beta\n").hexdigest() in str(error.value)
    assert hashlib.sha256(b"betA\n").hexdigest() in str(error.value)


def test_verify_manifest_reports_absent_and_unlisted_files(tmp_path):
    folder = make_dataset(tmp_path / "toy", {"a.txt": b"alpha\n", "b.txt": b"beta\n"})
    (folder / "b.txt").unlink()

    with pytest.raises(DatasetNotFoundError, match=r"b\.txt is listed .* but absent"):
        verify_manifest(folder)
    with pytest.raises(IntegrityError, match="not listed in MANIFEST.sha256, e.g. 'c.txt'"):
        verify_manifest(folder, ["c.txt"])
    (folder / "MANIFEST.sha256").unlink()
    with pytest.raises(DatasetNotFoundError, match="verify=False"):
        verify_manifest(folder)


def test_missing_dataset_folder_says_where_it_looked_and_how_to_point_elsewhere(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_lastfm(root=tmp_path)

    message = str(error.value)
    assert "'lastfm-hetrec2011'" in message
    assert str(tmp_path / "lastfm-hetrec2011") in message
    assert "SOCIALFUSION_DATA" in message and "root=" in message


def test_data_root_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALFUSION_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()

    monkeypatch.setenv("SOCIALFUSION_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match=r"nowhere \(\$SOCIALFUSION_DATA\)"):
        dataset_path("mvsa-single")


def test_canonical_split_names():
    assert [canonical_split(name) for name in ("train", "val", "validation", "dev", "test")] == [
        "train", "dev", "dev", "dev", "test"]


def test_datasets_registry_names_each_shared_folder():
    assert sorted(DATASETS) == [
        "diffusion-cascades", "lastfm-hetrec2011", "mvsa-single", "snap-ego-facebook", "tweeteval",
        "weibo-covid19",
    ]


# --- real data: the counts documented in each SOURCE.txt --------------------------------------------------


def test_tampered_file_fails_verification(shared_data, tmp_path):
    source = shared_data / "diffusion-cascades"
    copy = tmp_path / "diffusion-cascades"
    christianity_files = [f"christianity/{file}.txt" for file in ("graph", "train", "val", "test")]
    for name in ["MANIFEST.sha256", *christianity_files]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, copy / name)
    tampered = bytearray((copy / "christianity/val.txt").read_bytes())
    tampered[0] = ord("0") + (tampered[0] - ord("0") + 1) % 10  # another digit: the file still parses
    (copy / "christianity/val.txt").write_bytes(bytes(tampered))

    with pytest.raises(IntegrityError, match=r"christianity/val\.txt does not match MANIFEST\.sha256"):
        load_diffusion_cascades("christianity", root=tmp_path)
    assert load_diffusion_cascades("christianity", root=tmp_path, verify=False).counts()["labels"] == 589


def test_mvsa_single(shared_data):
    corpus = load_mvsa_single(shared_data)

    assert_canonical(corpus)
    withheld_test = 450  # the CLMLF test split: its labels, texts and images are not in the shared copy
    assert corpus.counts()["labels"] == 4511 - withheld_test
    assert label_counts(corpus) == {"train": 3611, "dev": 450}
    assert corpus.counts()["posts"] == 4869 - withheld_test  # 358 texts are not in the labelled set
    assert corpus.counts()["posts"] - corpus.counts()["labels"] == 358
    assert corpus.modality_counts()["image"] == 4061  # an image for every train and dev post (SOURCE.txt)
    assert corpus.metadata["texts_with_replaced_bytes"] == 1017
    labels = dict(zip(corpus.labels.column("item_id").to_pylist(), corpus.labels.column("split").to_pylist()))
    with_image = [post for post in corpus.posts.to_pylist() if post["media"]]
    assert Counter(labels[post["post_id"]] for post in with_image) == {"dev": 450, "train": 3611}
    manifest = read_manifest(shared_data / "mvsa-single")
    assert sum(1 for name in manifest if name.startswith("images/")) == 4061
    image = with_image[0]["media"][0]
    assert Path(image["uri"]).is_file() and image["kind"] == "image"
    assert image["sha256"] == manifest[f"images/{with_image[0]['post_id']}.jpg"]
    assert image["size_bytes"] == Path(image["uri"]).stat().st_size
    assert set(corpus.labels.column("label").to_pylist()) == {"positive", "neutral", "negative"}


TWEETEVAL_COUNTS = {  # train / dev (val) / test, from SOURCE.txt; sentiment has val only here
    "emoji": (45000, 5000, 50000),
    "emotion": (3257, 374, 1421),
    "hate": (9000, 1000, 2970),
    "irony": (2862, 955, 784),
    "offensive": (11916, 1324, 860),
    "sentiment": (0, 2000, 0),
    "stance_abortion": (587, 66, 280),
    "stance_atheism": (461, 52, 220),
    "stance_climate": (355, 40, 169),
    "stance_feminist": (597, 67, 285),
    "stance_hillary": (620, 69, 295),
}


@pytest.mark.parametrize(
    "task",
    [pytest.param(task, marks=pytest.mark.slow) if task == "emoji" else task for task in TWEETEVAL_COUNTS],
)
def test_tweeteval(shared_data, task):
    corpus = load_tweeteval(task, shared_data)

    assert_canonical(corpus)
    # Blank lines of the text files (8 in hate) are rejected; with them, each split has its documented size.
    per_split = Counter(corpus.labels.column("split").to_pylist())
    rejected_files = corpus.rejects.column("source").to_pylist()
    per_split.update(canonical_split(Path(source).name.split("_")[0]) for source in rejected_files)
    expected = dict(zip(("train", "dev", "test"), TWEETEVAL_COUNTS[task]))
    assert per_split == {split: count for split, count in expected.items() if count}
    assert corpus.counts()["posts"] == corpus.counts()["labels"]
    assert set(corpus.labels.column("task").to_pylist()) == {task}


def test_tweeteval_class_names_and_all_stance_targets(shared_data):
    assert load_tweeteval("emotion", shared_data).metadata["classes"] == {
        "emotion": ["anger", "joy", "optimism", "sadness"]}

    stance = load_tweeteval("stance", shared_data)

    assert Counter(stance.labels.column("task").to_pylist()) == {
        task: sum(counts) for task, counts in TWEETEVAL_COUNTS.items() if task.startswith("stance_")}
    assert set(stance.labels.column("label").to_pylist()) == {"none", "against", "favor"}


@pytest.mark.slow
def test_semeval2017_pool_excludes_the_sentiment_validation_tweets(shared_data):
    pool = load_semeval2017_pool(shared_data)
    validation = load_tweeteval("sentiment", shared_data)

    assert_canonical(pool)
    meta = pool.metadata
    # SOURCE.txt counts 50,333 lines with wc -l; the last file has no final newline, so 50,334 rows.
    assert meta["rows_read"] == 50334
    assert meta["val_tweets_in_pool"] >= 926  # documented: at least 926 by exact match, more once normalised
    dropped = meta["removed_matching_val"] + meta["duplicate_ids_dropped"]
    assert pool.counts()["posts"] == meta["rows_read"] - dropped
    val_keys = {tweet_match_key(text) for text in validation.posts.column("text").to_pylist()}
    assert not val_keys & {tweet_match_key(text) for text in pool.posts.column("text").to_pylist()}
    assert label_counts(pool) == {"train": pool.counts()["posts"]}
    assert set(pool.labels.column("label").to_pylist()) == {"positive", "neutral", "negative"}


def test_weibo_covid_emotions(shared_data):
    corpus = load_weibo_covid_emotions(shared_data)

    assert_canonical(corpus)
    assert corpus.counts()["posts"] == 21173
    assert label_counts(corpus, "label") == {
        "fear": 3227, "disgust": 2203, "optimism": 3595, "surprise": 3145, "gratitude": 3072, "sadness": 2756,
        "anger": 3175}


@pytest.mark.slow
def test_weibo_covid_daily_sample(shared_data):
    corpus = load_weibo_covid_daily(shared_data)

    assert_canonical(corpus)
    assert corpus.counts()["posts"] == 83213
    with (shared_data / "weibo-covid19" / "unlabeled_daily_counts.csv").open(encoding="utf-8") as stream:
        sampled = {row["date"]: int(row["n_in_sample"]) for row in csv.DictReader(stream)}
    dates = pc.cast(corpus.posts.column("created_at"), pa.date32()).to_pylist()
    days = Counter(day.isoformat() for day in dates)
    assert days == {date: count for date, count in sampled.items() if count} and len(days) == 57
    assert set(pc.hour(corpus.posts.column("created_at")).to_pylist()) == {0}
    assert "冠状病毒" in corpus.posts.column("hashtags")[0].as_py()


def test_weibo_hashtag_counts(shared_data):
    counts = load_weibo_hashtag_counts(shared_data)

    expected_schema = pa.schema([("date", pa.date32()), ("hashtag", pa.string()), ("n_posts", pa.int64())])
    assert counts.schema == expected_schema
    assert counts.num_rows == 91987
    assert counts.column("hashtag").null_count == 0 and pc.min(counts.column("n_posts")).as_py() >= 1


def test_snap_ego_facebook(shared_data):
    corpus = load_snap_ego_facebook(shared_data)

    assert_canonical(corpus)
    assert corpus.counts()["users"] == 4039
    assert corpus.counts()["edges"] == 88234
    assert pc.all(pc.less(corpus.edges.column("src"), corpus.edges.column("dst"))).as_py()
    assert len(pc.unique(corpus.labels.column("task"))) == corpus.metadata["circles"] == 193
    assert len(corpus.metadata["egos"]) == 10
    assert corpus.users.column("extra").null_count < 10  # nearly everyone has profile features


def test_lastfm(shared_data):
    corpus = load_lastfm(shared_data)

    assert_canonical(corpus)
    counts = corpus.counts()
    tables = (counts["users"], counts["posts"], counts["interactions"], counts["edges"])
    assert tables == (1892, 17632, 92834, 12717)
    assert corpus.metadata["tags"] == 11946
    assert pc.all(pc.less(corpus.edges.column("src"), corpus.edges.column("dst"))).as_py()
    assert set(corpus.interactions.column("kind").to_pylist()) == {"view"}


@pytest.mark.parametrize(
    ("name", "users", "links", "splits", "mean_size"),
    [
        ("android", 9958, 48573, {"train": 475, "dev": 68, "test": 136}, 42.7),
        ("christianity", 2897, 35624, {"train": 411, "dev": 59, "test": 119}, 26.0),
    ],
)
def test_diffusion_cascades(shared_data, name, users, links, splits, mean_size):
    corpus = load_diffusion_cascades(name, shared_data)

    assert_canonical(corpus)
    assert (corpus.counts()["users"], corpus.counts()["edges"]) == (users, links)
    assert label_counts(corpus) == splits
    assert corpus.counts()["interactions"] / corpus.counts()["labels"] == pytest.approx(mean_size, abs=0.05)
    first = corpus.interactions.slice(0, 1).to_pylist()[0]
    assert first["post_id"] == "cascade:train:0" and first["at"].isoformat() == "2000-01-01T00:00:00+00:00"
