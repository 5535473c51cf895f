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


def test_media_roots_allow_paths_outside_the_input_folder(tmp_path):
    inputs, media = tmp_path / "inputs", tmp_path / "media"
    inputs.mkdir()
    media.mkdir()
    (media / "a.png").write_bytes(b"png")
    item = {"kind": "image", "uri": str(media / "a.png")}

    refused = MediaResolver(root=inputs).resolve(item, inputs)
    allowed = MediaResolver(root=inputs, extra_roots=(media,)).resolve(item, inputs)

    assert "escapes the input folder" in refused["error"] and "--media-root" in refused["error"]
    assert allowed.get("error") is None and allowed["size_bytes"] == 3


def test_media_files_are_known_by_suffix_or_by_their_first_bytes(tmp_path):
    from socialfusion.io.media import is_media_file

    (tmp_path / "clip").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(8))
    (tmp_path / "notes.txt").write_text("ID card numbers are scrubbed")

    assert is_media_file(tmp_path / "photo.WEBP") and is_media_file(tmp_path / "song.flac")
    assert is_media_file(tmp_path / "clip")
    assert not is_media_file(tmp_path / "notes.txt") and not is_media_file(tmp_path / "missing.bin")
