"""Featurization: the content-hash cache, versions, masks for absent and undecodable media, and the CLI."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from socialfusion.corpus import Corpus
from socialfusion.encoders._base import RowCollector, register_encoder, settings_version
from socialfusion.encoders._media import read_media_bytes
from socialfusion.exceptions import ConfigurationError, DataError, MediaError, StoreError
from socialfusion.featurize import feature_table, featurize, load_features, stored_missing
from socialfusion.ingestion import ingest_corpus
from socialfusion.store import connect


@register_encoder("text/test-counting", modality="text")
class CountingTextEncoder:
    """Length and vowel count of a text; counts every text it encodes (to check the cache)."""

    name = "text/test-counting"
    modality = "text"
    dim = 2
    seen: list[str] = []

    def __init__(self, flavour: str = "plain"):
        self.version = settings_version(self.name, flavour)

    def encode(self, items, *, batch_size=32):
        rows = RowCollector(len(items), self.dim)
        for index, text in enumerate(items):
            CountingTextEncoder.seen.append(text)
            if not text or not text.strip():
                rows.skip(index, "empty text")
            else:
                rows.put(index, [len(text), sum(char in "aeiou" for char in text)])
        return rows.result()


@register_encoder("image/test-mean-colour", modality="image")
class MeanColourEncoder:
    """The mean RGB colour of an image, 0..1."""

    name = "image/test-mean-colour"
    modality = "image"
    dim = 3
    version = "1"

    def encode(self, items, *, batch_size=32):
        rows = RowCollector(len(items), self.dim)
        for index, item in enumerate(items):
            try:
                image = Image.open(io.BytesIO(read_media_bytes(item))).convert("RGB")
                rows.put(index, np.asarray(image, np.float32).mean(axis=(0, 1)) / 255)
            except MediaError as error:
                rows.skip(index, str(error))
            except OSError as error:
                rows.skip(index, f"cannot decode image: {error}")
        return rows.result()


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_store(texts: dict[str, str], media: dict[str, list[dict]] | None = None):
    media = media or {}
    posts = [{"post_id": post_id, "text": text, "media": media.get(post_id, [])} for post_id, text in texts.items()]
    store = connect("memory://")
    ingest_corpus(Corpus.from_records(posts=posts), store, scrub_pii=False)
    return store


@pytest.fixture(autouse=True)
def _reset_counter():
    CountingTextEncoder.seen.clear()


def test_unchanged_items_are_never_encoded_twice():
    store = make_store({"p1": "hello", "p2": "world", "p3": "again"})

    first = featurize(store, ["text/test-counting"])
    second = featurize(store, ["text/test-counting"])

    assert (first.runs[0].encoded, first.runs[0].cached) == (3, 0)
    assert (second.runs[0].encoded, second.runs[0].cached) == (0, 3)
    assert sorted(CountingTextEncoder.seen) == ["again", "hello", "world"]


def test_a_changed_item_is_the_only_one_encoded_again():
    store = make_store({"p1": "hello", "p2": "world"})
    featurize(store, ["text/test-counting"])
    ingest_corpus(Corpus.from_records(posts=[{"post_id": "p2", "text": "brave new world"}]), store, scrub_pii=False)
    CountingTextEncoder.seen.clear()

    run = featurize(store, ["text/test-counting"]).runs[0]

    assert CountingTextEncoder.seen == ["brave new world"]
    assert (run.encoded, run.cached) == (1, 1)
    features = load_features(store, "text/test-counting", ["p1", "p2"])
    assert features.vectors.tolist() == [[5, 2], [15, 4]]


def test_a_store_already_featurized_is_checked_without_loading_every_stored_key_into_python(monkeypatch):
    from socialfusion.store import StoredKeys

    store = make_store({"p1": "hello", "p2": "world"})
    featurize(store, ["text/test-counting"])
    loads = []
    original = StoredKeys._load
    monkeypatch.setattr(StoredKeys, "_load", lambda self: loads.append(self.table) or original(self))
    table = feature_table("text/test-counting")

    run = featurize(store, ["text/test-counting"]).runs[0]
    assert (run.encoded, run.cached) == (0, 2) and table not in loads  # nothing to write: no dict of keys
    ingest_corpus(Corpus.from_records(posts=[{"post_id": "p3", "text": "new"}]), store, scrub_pii=False)
    run = featurize(store, ["text/test-counting"]).runs[0]
    assert (run.encoded, run.cached) == (1, 2) and loads.count(table) == 1  # loaded to write, once
    assert store.count(table) == 3


def test_a_new_encoder_version_re_encodes_only_that_encoders_table():
    store = make_store({"p1": "hello", "p2": "world"})
    featurize(store, ["text/test-counting"])
    CountingTextEncoder.seen.clear()

    run = featurize(store, ["text/test-counting"], encoder_options={"text/test-counting": {"flavour": "new"}}).runs[0]

    assert run.encoded == 2 and sorted(CountingTextEncoder.seen) == ["hello", "world"]
    assert store.count(feature_table("text/test-counting")) == 2  # replaced, not duplicated
    versions = set(store.read(feature_table("text/test-counting")).column("version").to_pylist())
    assert versions == {settings_version("text/test-counting", "new")}


def test_missing_text_is_a_masked_row_with_its_reason():
    image_only = [{"kind": "image", "data": png((0, 0, 0))}]
    store = make_store({"p1": "hello", "p2": "", "p3": "   "}, {"p2": image_only, "p3": image_only})

    run = featurize(store, ["text/test-counting"]).runs[0]
    features = load_features(store, "text/test-counting", ["p1", "p2", "p3"])

    assert features.missing.tolist() == [False, True, True]
    assert features.reasons == [None, "empty text", "empty text"]
    assert run.missing == 2 and run.reasons == {"empty text": 2}


def test_media_posts_are_averaged_absent_media_is_masked_and_bad_media_has_a_reason(tmp_path):
    media = {
        "red": [{"kind": "image", "data": png((255, 0, 0))}],
        "mixed": [{"kind": "image", "data": png((255, 0, 0))}, {"kind": "image", "data": png((0, 0, 255))}],
        "broken": [{"kind": "image", "data": b"\x89PNG but not really"}],
        "gone": [{"kind": "image", "uri": str(tmp_path / "missing.png")}],
    }
    store = make_store({"red": "r", "mixed": "m", "broken": "b", "gone": "g", "text-only": "t"}, media)

    run = featurize(store, ["image/test-mean-colour"]).runs[0]
    features = load_features(store, "image/test-mean-colour", ["red", "mixed", "broken", "gone", "text-only"])

    assert run.items == 4  # the text-only post has no image row at all
    np.testing.assert_allclose(features.vectors[0], [1, 0, 0])
    np.testing.assert_allclose(features.vectors[1], [0.5, 0, 0.5])
    assert features.missing.tolist() == [False, False, True, True, True]
    assert features.reasons[2].startswith("cannot decode image")
    assert "media file not found" in features.reasons[3]
    assert features.reasons[4] == "no image"


def test_unknown_encoders_fail_before_any_work():
    store = make_store({"p1": "hello"})
    with pytest.raises(ConfigurationError, match="unknown encoder 'text/nope'"):
        featurize(store, ["text/test-counting", "text/nope"])
    assert CountingTextEncoder.seen == []


def test_loading_features_that_were_never_computed_says_how_to_compute_them():
    with pytest.raises(StoreError, match="socialfusion featurize --encoders text/test-counting"):
        load_features(connect("memory://"), "text/test-counting")


def test_default_encoders_follow_the_modalities_the_store_has():
    from socialfusion.featurize import DEFAULT_ENCODERS, default_encoders

    text_only = make_store({"p1": "hello", "p2": "world"})
    with_images = make_store({"p1": "hello"}, {"p1": [{"kind": "image", "data": png((255, 0, 0))}]})

    assert default_encoders(text_only) == ["text/minilm-int8", "text/lexicon", "graph/spectral",
                                           "tabular/post-metadata"]
    assert "image/efficientnet" in default_encoders(with_images)
    assert default_encoders(with_images) == [name for name in DEFAULT_ENCODERS
                                             if not name.startswith(("video/", "audio/"))]


def test_an_encoder_with_nothing_to_encode_fails_before_any_work():
    store = make_store({"p1": "hello", "p2": "world"})

    with pytest.raises(DataError, match="nothing to encode for image/efficientnet.*no item of modality image"):
        featurize(store, ["text/test-counting", "image/efficientnet"])

    assert CountingTextEncoder.seen == [] and feature_table("text/test-counting") not in store.tables()


def test_progress_moves_every_few_batches_not_every_chunk():
    store = make_store({f"p{i}": f"text {i}" for i in range(600)})
    reports = []

    featurize(store, ["text/test-counting"], batch_size=16, progress=lambda name, done, total: reports.append(done))

    assert reports[0] == 0 and reports[-1] == 600
    assert [256, 512] == [done for done in reports if done not in (0, 600)][:2]


def test_load_features_reads_in_batches_and_answers_any_order_repeats_and_unknown_ids(monkeypatch):
    from socialfusion.store.lance import LanceStore

    texts = {f"p{index}": "word " * (index + 1) if index % 4 else "" for index in range(11)}
    store = make_store(texts, {post_id: [{"kind": "image", "data": png((0, 0, 0))}]  # no text: an image post
                               for post_id, text in texts.items() if not text})
    featurize(store, ["text/test-counting"])
    whole = load_features(store, "text/test-counting")  # every stored row, in store order
    stored_ids = store.read(feature_table("text/test-counting"), columns=["item_id"]).column("item_id").to_pylist()
    by_id = {item_id: row for row, item_id in enumerate(stored_ids)}
    batches = []
    original = LanceStore.read_batches

    def small_batches(self, table, *, columns=None, batch_size=65_536):
        batches.append(table)
        return original(self, table, columns=columns, batch_size=3)  # 11 rows: four batches

    monkeypatch.setattr(LanceStore, "read_batches", small_batches)
    asked = ["p7", "p0", "nobody", "p7", "p10", "p3"]
    features = load_features(store, "text/test-counting", asked)
    assert batches == [feature_table("text/test-counting")]
    for row, item_id in enumerate(asked):
        if item_id == "nobody":
            assert features.missing[row] and features.reasons[row] == "not featurized"
            assert not features.vectors[row].any()
            continue
        stored = by_id[item_id]
        assert features.vectors[row].tolist() == whole.vectors[stored].tolist()
        assert features.missing[row] == whole.missing[stored] and features.reasons[row] == whole.reasons[stored]
    assert features.reasons[1] == "empty text" and features.missing[1]  # p0 has no text: a stored masked row


def test_stored_missing_reads_the_flags_not_the_vectors_and_counts_an_unstored_item_missing(monkeypatch):
    from socialfusion.store.lance import LanceStore

    store = make_store({"p0": "", "p1": "word", "p2": "two words"}, {"p0": [{"kind": "image", "data": png((0, 0, 0))}]})
    featurize(store, ["text/test-counting"])
    read_columns = []
    original = LanceStore.read_batches

    def recorded(self, table, *, columns=None, batch_size=65_536):
        read_columns.append(columns)
        return original(self, table, columns=columns, batch_size=1)

    monkeypatch.setattr(LanceStore, "read_batches", recorded)
    missing = stored_missing(store, "text/test-counting", ["p2", "nobody", "p0", "p1"])
    assert missing.tolist() == [False, True, True, False]  # p0 (image, no text): a masked row
    assert read_columns == [["item_id", "missing"]]
    with pytest.raises(StoreError, match="socialfusion featurize --encoders text/lexicon"):
        stored_missing(store, "text/lexicon", ["p1"])
