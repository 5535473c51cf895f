"""``app.check_store_keys`` and ``app.repair_store_keys``: a key held twice is found, then repaired."""

from __future__ import annotations

import socialfusion as sf
from socialfusion import app
from socialfusion.corpus import Corpus


def test_check_finds_a_key_held_twice_and_repair_keeps_one(tmp_path):
    store = sf.connect(tmp_path / "store")
    posts = [
        {"post_id": f"p{n}", "author_id": "u", "text": f"post {n}", "created_at": "2024-03-01T10:00:00Z"}
        for n in range(3)
    ]
    sf.ingest_corpus(Corpus.from_records(posts=posts), store)
    assert app.check_store_keys(store).surplus_rows == 0
    store.write("posts", store.read("posts", where="post_id = 'p1'"), mode="append")  # as older versions could
    found = app.check_store_keys(store)
    posts_health = next(table for table in found.tables if table.table == "posts")
    assert found.surplus_rows == posts_health.surplus_rows == posts_health.duplicate_keys == 1
    assert posts_health.rows == 4 and posts_health.examples == ["p1"]
    repaired = app.repair_store_keys(store)
    assert next(table for table in repaired.tables if table.table == "posts").removed == 1
    assert app.check_store_keys(store).surplus_rows == 0 and store.count("posts") == 3
