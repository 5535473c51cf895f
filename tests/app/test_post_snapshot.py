"""The posts held in memory for the server (``socialfusion.query.PostSnapshot``): the same answers as the store,
and set aside as soon as the table changes."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import socialfusion as sf
from socialfusion import query


@pytest.fixture()
def store(tmp_path) -> sf.Store:
    store = sf.connect(tmp_path / "store")
    sf.ingest_corpus(sf.generate(n_users=30, n_posts=120, seed=2).corpus, store)
    return store


def _pages(store: sf.Store) -> list:
    posts = store.read("posts", columns=["post_id", "author_id", "hashtags", "created_at", "lang"]).to_pylist()
    tag = next(tag for post in posts for tag in post["hashtags"] or [])
    times = sorted(post["created_at"] for post in posts if post["created_at"])
    asked = [
        {"author_id": posts[0]["author_id"]},
        {"hashtag": f"#{tag.upper()}"},
        {"has": "image"},
        {"since": times[len(times) // 3], "until": times[2 * len(times) // 3], "limit": 7},
        {"lang": posts[0]["lang"] or "en", "limit": 5},
        {"has": "text", "limit": 3},
        {"limit": 1000},
    ]
    pages = []
    for filters in asked:
        page = query.find_posts(store, **filters)
        pages.append((page.posts.to_pylist(), page.next_cursor))
        if page.next_cursor:
            following = query.find_posts(store, **filters, after=page.next_cursor)
            pages.append((following.posts.to_pylist(), following.next_cursor))
    ids = [post["post_id"] for post in posts[::7]] + ["no-such-post"]
    pages.append((query.posts_by_id(store, ids).to_pylist(), None))
    pages.append((query.posts_by_id(store, ids[:3], columns=["post_id", "text"]).to_pylist(), None))
    return pages


def test_the_snapshot_answers_as_the_store_does(store):
    from_store = _pages(store)
    snapshot = query.keep_posts_in_memory(store)
    try:
        assert snapshot.current() is not None  # the queries below read memory
        assert _pages(store) == from_store
        assert query.post_details(store, from_store[0][0][0]["post_id"])["post"] == from_store[0][0][0]
    finally:
        snapshot.close()


def test_a_write_sets_the_snapshot_aside_until_it_is_rebuilt(store):
    snapshot = query.keep_posts_in_memory(store, check_seconds=0)
    try:
        new = sf.Corpus.from_records(
            posts=[
                {
                    "post_id": "fresh",
                    "author_id": "newcomer",
                    "text": "just in",
                    "created_at": dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
                }
            ]
        )
        sf.ingest_corpus(new, store)
        assert snapshot.current() is None  # stale: queries go to the store, which has the new post
        assert query.find_posts(store, author_id="newcomer").posts.column("post_id").to_pylist() == ["fresh"]
        assert query.posts_by_id(store, ["fresh"]).num_rows == 1
        deadline = time.monotonic() + 60
        while snapshot.current() is None and time.monotonic() < deadline:  # rebuilt in the background
            time.sleep(0.05)
        state = snapshot.current()
        assert state is not None and "fresh" in state.rows
        assert query.find_posts(store, limit=1).posts.column("post_id").to_pylist() == ["fresh"]
    finally:
        snapshot.close()
