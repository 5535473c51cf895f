"""MediaResolver flags a media reference it cannot use instead of raising: the post is kept, the modality missing."""

from __future__ import annotations

import hashlib

from socialfusion.io.media import MediaResolver


def test_paths_the_operating_system_cannot_name_are_flagged(tmp_path):
    resolver = MediaResolver(root=tmp_path)

    for uri in ("a\x00b.png", "file:///tmp/a%00b.png"):
        item = resolver.resolve({"kind": "image", "uri": uri}, tmp_path)
        assert "NUL character" in item["error"], uri

    item = resolver.resolve({"kind": "image", "uri": "http://[::1/broken"}, tmp_path)
    assert "malformed" in item["error"]

    item = resolver.resolve({"kind": "image", "uri": "x" * 5000 + ".png"}, tmp_path)
    assert "not found" in item["error"]


def test_inline_data_given_as_text_is_hashed_as_the_bytes_it_is_stored_as():
    item = MediaResolver().resolve({"kind": "audio", "data": "abc"}, None)

    assert item["data"] == b"abc" and item["size_bytes"] == 3
    assert item["sha256"] == hashlib.sha256(b"abc").hexdigest()


def test_inline_data_of_another_type_is_left_for_validation_to_name():
    item = MediaResolver().resolve({"kind": "audio", "data": 12}, None)

    assert item == {"kind": "audio", "data": 12}
