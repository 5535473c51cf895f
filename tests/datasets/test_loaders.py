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
    load_forest_cascades,
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
from socialfusion.datasets._shared import (
    canonical_split,
    check_files,
    merge_labels,
    read_label_file,
    read_manifest,
)
from socialfusion.datasets.tweeteval import tweet_match_key, tweet_near_copy_key
from socialfusion.exceptions import ConfigurationError, DataError, DatasetNotFoundError, IntegrityError


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
    # nor near copies (TweetEval dropped links, quotes and "RT @x:" when it copied the tweets): 706 more rows
    near = {tweet_near_copy_key(text) for text in validation.posts.column("text").to_pylist()}
    assert not near & {tweet_near_copy_key(text) for text in pool.posts.column("text").to_pylist()}
    assert pool.counts()["posts"] == 47562
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


# --- files the manifest does not list: checked against a given checksum, or reported unverified --------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_files_verifies_by_manifest_or_checksum_and_reports_the_rest(tmp_path, caplog):
    folder = make_dataset(tmp_path / "toy", {"a.txt": b"alpha\n"})
    (folder / "added.txt").write_bytes(b"added\n")
    outside = tmp_path / "mine.csv"
    outside.write_bytes(b"item_id,label\n")

    with caplog.at_level("WARNING", logger="socialfusion.datasets._shared"):
        checks = check_files([folder / "a.txt", folder / "added.txt", outside], manifest_folder=folder)
    assert checks.by_manifest == ["a.txt"] and checks.by_checksum == []
    assert checks.unverified == {str(folder / "added.txt"): sha256_of(folder / "added.txt"),
                                 str(outside): sha256_of(outside)}
    assert "loaded UNVERIFIED" in caplog.text and "added.txt" in caplog.text

    pinned = check_files([folder / "a.txt", folder / "added.txt", outside], manifest_folder=folder,
                         checksums={"added.txt": sha256_of(folder / "added.txt"), outside: sha256_of(outside)})
    assert pinned.unverified == {} and pinned.by_checksum == [str(folder / "added.txt"), str(outside)]
    assert pinned.metadata() == {"checked": True, "manifest": 1, "unverified": {},
                                 "checksum": [str(folder / "added.txt"), str(outside)]}
    with pytest.raises(IntegrityError, match="does not match the checksum given for it"):
        check_files([outside], manifest_folder=folder, checksums={outside: "0" * 64})
    with pytest.raises(ConfigurationError, match="did not read"):
        check_files([outside], manifest_folder=folder, checksums={outside: sha256_of(outside), "b.txt": "0" * 64})
    with pytest.raises(ConfigurationError, match="not a hex SHA-256"):
        check_files([outside], manifest_folder=folder, checksums={outside: "abc"})
    (folder / "a.txt").write_bytes(b"alphA\n")
    with pytest.raises(IntegrityError, match=r"a\.txt does not match MANIFEST"):
        check_files([folder / "a.txt"], manifest_folder=folder)
    assert check_files([folder / "a.txt"], manifest_folder=folder, verify=False).metadata()["checked"] is False


def test_label_files_read_csv_and_json_and_merge_without_conflicts(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("item_id,label,split\n1,positive,val\n2,negative,\n")
    json_file = tmp_path / "labels.json"
    json_file.write_text('[{"item_id": "3", "label": "neutral"}]')

    rows = read_label_file(csv_file, task="sentiment", classes=("positive", "negative", "neutral"))
    assert [(row["item_id"], row["label"], row["split"]) for row in rows] == [("1", "positive", "dev"),
                                                                             ("2", "negative", None)]
    assert read_label_file(json_file, task="sentiment", split="test")[0]["split"] == "test"
    with pytest.raises(DataError, match=r"labels\.csv row 2: label 'positive' is not one of"):
        read_label_file(csv_file, task="sentiment", classes=("negative",))

    known = [{"item_id": "1", "item_kind": "post", "task": "sentiment", "label": "positive", "split": None}]
    merged = merge_labels(known, rows, "labels.csv")
    assert [(row["item_id"], row["split"]) for row in merged] == [("1", "dev"), ("2", None)]
    with pytest.raises(DataError, match="the dataset labels it 'positive' but other.csv says 'negative'"):
        merge_labels(known, [{**rows[0], "label": "negative"}], "other.csv")
    with pytest.raises(DataError, match="in two splits would leak"):
        merge_labels(merged, [{**rows[0], "split": "test"}], "other.csv")


def toy_mvsa(root: Path) -> Path:
    """A three-item MVSA-Single folder in the shared copy's layout: train and dev split files, no test split."""
    make_dataset(root / "mvsa-single", {
        "labels_all.csv": b"guid,label,clmlf_split,ecnu_split,image_in_staging\n1,positive,train,train,0\n"
                          b"2,negative,train,train,0\n3,neutral,dev,train,0\n",
        "clmlf_split/train.json": b'[{"id": "1", "text": "good", "emotion_label": 0},'
                                  b' {"id": "2", "text": "bad", "emotion_label": 2}]',
        "clmlf_split/dev.json": b'[{"id": "3", "text": "meh", "emotion_label": 1}]',
        "texts/1.txt": b"good day", "texts/2.txt": b"bad day", "texts/3.txt": b"a day",
    })
    test_split = root / "CLMLF-test.json"  # the withheld test split, as CLMLF publishes it
    test_split.write_text('[{"id": "4", "text": "great news", "emotion_label": 0},'
                          ' {"id": "5", "text": "awful", "emotion_label": 2}]')
    return test_split


def test_mvsa_takes_an_extra_split_verified_by_checksum_or_reported_unverified(tmp_path):
    test_split = toy_mvsa(tmp_path)

    plain = load_mvsa_single(tmp_path)
    corpus = load_mvsa_single(tmp_path, extra_splits={"test": test_split})

    assert label_counts(plain) == {"train": 2, "dev": 1}
    assert_canonical(corpus)
    assert label_counts(corpus) == {"train": 2, "dev": 1, "test": 2}
    posts = dict(zip(corpus.posts.column("post_id").to_pylist(), corpus.posts.column("text").to_pylist()))
    assert posts == {"1": "good day", "2": "bad day", "3": "a day", "4": "great news", "5": "awful"}
    assert corpus.metadata["splits_present"] == ["train", "dev", "test"]
    assert corpus.metadata["posts_from_split_json"] == 2
    assert corpus.metadata["verification"] == {"checked": True, "manifest": 6, "checksum": [],
                                               "unverified": {str(test_split): sha256_of(test_split)}}

    pinned = load_mvsa_single(tmp_path, extra_splits={"test": test_split},
                              checksums={test_split: sha256_of(test_split)})
    assert pinned.metadata["verification"]["checksum"] == [str(test_split)]
    assert pinned.metadata["verification"]["unverified"] == {}
    with pytest.raises(IntegrityError, match="CLMLF-test.json does not match the checksum"):
        load_mvsa_single(tmp_path, extra_splits={"test": test_split}, checksums={test_split: "f" * 64})


def test_mvsa_split_file_added_to_the_folder_loads_unverified_instead_of_failing(tmp_path):
    test_split = toy_mvsa(tmp_path)
    shutil.copyfile(test_split, tmp_path / "mvsa-single" / "clmlf_split" / "test.json")

    corpus = load_mvsa_single(tmp_path)

    assert label_counts(corpus) == {"train": 2, "dev": 1, "test": 2}
    assert list(corpus.metadata["verification"]["unverified"]) == [
        str(tmp_path / "mvsa-single" / "clmlf_split" / "test.json")]
    (tmp_path / "mvsa-single" / "texts" / "1.txt").write_bytes(b"good dax")  # a listed file still must match
    with pytest.raises(IntegrityError, match=r"texts/1\.txt does not match MANIFEST"):
        load_mvsa_single(tmp_path)


def test_mvsa_extra_labels_add_items_and_refuse_conflicts(tmp_path):
    toy_mvsa(tmp_path)
    extra = tmp_path / "more.csv"
    extra.write_text("item_id,label,split\n3,neutral,dev\n9,negative,test\n")

    corpus = load_mvsa_single(tmp_path, extra_labels=extra)

    assert label_counts(corpus) == {"train": 2, "dev": 1, "test": 1}
    assert corpus.counts()["posts"] == 3  # a label without a text: no post
    assert str(extra) in corpus.metadata["verification"]["unverified"]
    extra.write_text("item_id,label,split\n1,positive,test\n")
    with pytest.raises(DataError, match="in two splits would leak"):
        load_mvsa_single(tmp_path, extra_labels=[extra])
    with pytest.raises(DatasetNotFoundError, match="absent.csv not found"):
        load_mvsa_single(tmp_path, extra_labels=tmp_path / "absent.csv")


def copy_christianity(shared_data: Path, tmp_path: Path) -> Path:
    source = shared_data / "diffusion-cascades"
    copy = tmp_path / "diffusion-cascades"
    for name in ["MANIFEST.sha256", *(f"christianity/{file}.txt" for file in ("graph", "train", "val", "test"))]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, copy / name)
    return copy / "christianity"


def test_cascade_split_files_the_manifest_lacks_are_reported_or_pinned(shared_data, tmp_path):
    folder = copy_christianity(shared_data, tmp_path)
    manifest = tmp_path / "diffusion-cascades" / "MANIFEST.sha256"  # a copy whose test split was withheld
    manifest.write_text("".join(line for line in manifest.read_text().splitlines(keepends=True)
                                if "christianity/test.txt" not in line))
    (folder / "test.txt").write_text("7 8 10.0 9 20.0\n")  # the user's own test split: not in the manifest

    corpus = load_diffusion_cascades("christianity", root=tmp_path)
    pinned = load_diffusion_cascades("christianity", root=tmp_path,
                                     checksums={folder / "test.txt": sha256_of(folder / "test.txt")})

    assert label_counts(corpus) == {"train": 411, "dev": 59, "test": 1}
    assert corpus.metadata["verification"]["manifest"] == 3
    assert list(corpus.metadata["verification"]["unverified"]) == [str(folder / "test.txt")]
    assert pinned.metadata["verification"]["checksum"] == [str(folder / "test.txt")]


# --- FOREST-style cascade folders -----------------------------------------------------------------------------------


def test_forest_cascades_with_the_length_filter(tmp_path):
    folder = tmp_path / "forest"
    folder.mkdir()
    (folder / "cascade.txt").write_text(
        "a,1286463749 b,1286463809 c,1286467349\n"
        "solo,1286463749\n"
        "\n"
        + " ".join(f"u{index},{1286463749 + index}" for index in range(6)) + "\n")
    (folder / "cascadetest.txt").write_text("b,1300000000.5 a,1300000060\n")
    (folder / "edges.txt").write_text("a,b\nb,c\n")

    corpus = load_forest_cascades(folder, max_length=5)
    truncated = load_forest_cascades(folder, max_length=5, long_cascades="truncate")

    assert_canonical(corpus)
    assert corpus.labels.column("item_id").to_pylist() == ["cascade:train:0", "cascade:test:0"]
    first = corpus.interactions.slice(0, 3).to_pylist()
    assert [row["user_id"] for row in first] == ["a", "b", "c"]
    assert first[0]["at"].isoformat() == "2010-10-07T15:02:29+00:00"  # FOREST timestamps: Unix seconds
    assert corpus.edges.select(["src", "dst"]).to_pylist() == [{"src": "a", "dst": "b"}, {"src": "b", "dst": "c"}]
    assert corpus.users.column("user_id").to_pylist()[:4] == ["a", "b", "c", "solo"]
    meta = corpus.metadata
    assert meta["formats"] == {"train": "forest", "test": "forest"}
    assert (meta["cascades_read"], meta["dropped_short"], meta["dropped_long"]) == (
        {"train": 3, "test": 1}, {"train": 1, "test": 0}, {"train": 1, "test": 0})
    assert list(meta["verification"]["unverified"]) == [str(folder / name) for name in
                                                        ("edges.txt", "cascade.txt", "cascadetest.txt")]
    assert truncated.labels.column("item_id").to_pylist() == ["cascade:train:0", "cascade:train:2",
                                                              "cascade:test:0"]
    assert truncated.metadata["truncated"] == {"train": 1, "test": 0}
    assert truncated.counts()["interactions"] == 3 + 5 + 2

    (folder / "cascadevalid.txt").write_text("a 1286463749\n")
    with pytest.raises(DataError, match=r"cascadevalid\.txt line 1: not a forest cascade line|not a inf-vae"):
        load_forest_cascades(folder)
    with pytest.raises(ConfigurationError, match="long_cascades"):
        load_forest_cascades(folder, long_cascades="cut")
    with pytest.raises(DatasetNotFoundError, match="no cascade file"):
        load_forest_cascades(tmp_path)


@pytest.mark.parametrize(("name", "dropped_long"), [("christianity", 0), ("android", 1)])
def test_forest_loader_reads_the_inf_vae_files_like_their_own_loader(shared_data, name, dropped_long):
    forest = load_forest_cascades(shared_data / "diffusion-cascades" / name)
    own = load_diffusion_cascades(name, shared_data)

    assert forest.metadata["formats"] == {"train": "inf-vae", "dev": "inf-vae", "test": "inf-vae"}
    assert forest.metadata["dropped_long"]["train"] == dropped_long  # Android has one train cascade of 510
    assert forest.metadata["verification"] == {"checked": True, "manifest": 4, "checksum": [], "unverified": {}}
    assert forest.users.column("user_id").to_pylist() == own.users.column("user_id").to_pylist()
    assert forest.edges.equals(own.edges)
    kept = pc.is_in(own.interactions.column("post_id"), forest.labels.column("item_id"))
    assert forest.interactions.equals(own.interactions.filter(kept))


def test_datasets_load_command_passes_extra_splits_and_checksums(tmp_path):
    import json

    from typer.testing import CliRunner

    from socialfusion.cli import app

    test_split = toy_mvsa(tmp_path / "data")
    runner = CliRunner()
    base = ["datasets", "load", "mvsa-single", "--root", str(tmp_path / "data"), "--extra-split", f"test={test_split}"]

    unpinned = runner.invoke(app, [*base, "--store", str(tmp_path / "a"), "--json"])
    pinned = runner.invoke(app, [*base, "--store", str(tmp_path / "b"), "--json",
                                 "--checksum", f"{test_split}={sha256_of(test_split)}"])
    malformed = runner.invoke(app, [*base, "--store", str(tmp_path / "c"), "--checksum", "no-equals-sign"])

    assert unpinned.exit_code == 0 and pinned.exit_code == 0, unpinned.output + pinned.output
    assert json.loads(unpinned.output)["unverified_files"] == {str(test_split): sha256_of(test_split)}
    summary = json.loads(pinned.output)
    assert summary["unverified_files"] == {} and summary["per_table"]["labels"]["ingested"] == 5
    assert malformed.exit_code == 2 and "PATH=SHA256" in malformed.output
