"""Keyword search in Chinese, the full-text index's tokenizer and index upkeep off the request path."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

import socialfusion as sf
from socialfusion import search


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> sf.Store:
    """A store of English and Chinese posts (half of them Chinese), no features."""
    store = sf.connect(tmp_path_factory.mktemp("search") / "store")
    network = sf.generate(n_users=20, n_posts=150, seed=1, chinese_fraction=0.5, image_fraction=0, n_videos=0,
                          n_audio=0)
    sf.ingest_corpus(network.corpus, store)
    return store


def _texts(store: sf.Store, ranked: pa.Table) -> list[str]:
    from socialfusion.query import posts_by_id

    return posts_by_id(store, ranked.column("post_id").to_pylist(), columns=["post_id", "text"]).column(
        "text").to_pylist()


@pytest.mark.parametrize("word", ["旅行", "做饭", "饺子", "超市"])
def test_keyword_search_finds_chinese_words(mixed, word):
    holding = mixed.count("posts", where=f"text LIKE '%{word}%'")
    assert holding > 0  # the generator wrote the word somewhere
    found = search.keyword_search(mixed, word, k=100)
    texts = _texts(mixed, found)
    assert texts and all(word in text for text in texts)
    assert len(texts) >= holding * 0.8  # segmentation may glue a rare neighbour on, but most are found


def test_keyword_search_still_stems_english(mixed):
    texts = _texts(mixed, search.keyword_search(mixed, "beaches", k=20))
    assert texts and all("beach" in text.lower() for text in texts)


def test_an_index_of_another_tokenizer_is_rebuilt(tmp_path):
    store = sf.connect(tmp_path / "store")
    sf.ingest_corpus(sf.generate(n_users=10, n_posts=30, seed=2, chinese_fraction=0.6).corpus, store)
    store.create_index("posts", "text", index_type="FTS")  # LanceDB's default tokenizer: a Chinese clause is a word
    before = store.search_text("posts", "旅行", k=100, column="text").num_rows  # only the hashtags #旅行#
    assert search.ensure_text_index(store) is True
    assert store.get_metadata()["text_index_tokenizer"] == search.TEXT_TOKENIZER
    assert search.ensure_text_index(store) is False  # up to date now
    after = store.search_text("posts", "旅行", k=100, column="text").num_rows
    assert after == store.count("posts", where="text LIKE '%旅行%'") > before


def test_a_stale_index_is_refreshed_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "CHECK_SECONDS", 0.0)
    store = sf.connect(tmp_path / "store")
    network = sf.generate(n_users=10, n_posts=30, seed=3)
    sf.ingest_corpus(network.corpus, store)
    assert search.keyword_search(store, "beach", k=5) is not None  # builds the missing index before answering
    indexed = store.index_stats("posts", "text")["indexed_rows"]
    more = network.corpus.posts.slice(0, 20)
    more = more.set_column(more.schema.get_field_index("post_id"), "post_id",
                           pa.array([f"new{i}" for i in range(20)]))
    more = more.set_column(more.schema.get_field_index("text"), "text", pa.array(["zebra crossing"] * 20))
    more = more.set_column(more.schema.get_field_index("record_key"), "record_key",
                           pa.array([f"new{i}" for i in range(20)]))
    store.write("posts", more)
    found = search.keyword_search(store, "zebra", k=50)  # answers at once: the new rows are scanned
    assert sorted(found.column("post_id").to_pylist()) == sorted(f"new{i}" for i in range(20))
    deadline = time.monotonic() + 60
    while store.index_stats("posts", "text")["unindexed_rows"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.index_stats("posts", "text")["indexed_rows"] == indexed + 20
