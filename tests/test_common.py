"""Conformance checks every registered reader and encoder passes (fusions and tasks join as they land)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from socialfusion.exceptions import DataError
from socialfusion.io import available_formats, get_reader

GARBAGE = {
    "binary.bin": b"\x00\xff\x13\x37" * 64,
    "text.txt": b"just some words\nand another line\n",
    "half.json": b'{"data": [{"id": "1", "text": "cut off',
    "latin1.jsonl": '{"text": "caf\xe9"}\n'.encode("latin-1"),
}


@pytest.mark.parametrize("name", available_formats())
def test_reader_is_registered_under_its_name(name):
    reader = get_reader(name)
    assert reader.name == name
    assert isinstance(reader.sniff(Path("x"), b""), bool)


@pytest.mark.parametrize("name", available_formats())
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_reader_never_raises_anything_but_data_error_on_garbage(name, garbage, tmp_path):
    path = tmp_path / garbage
    path.write_bytes(GARBAGE[garbage])
    reader = get_reader(name)
    assert isinstance(reader.sniff(path, GARBAGE[garbage]), bool)
    try:
        records = list(reader.read(path))
    except DataError as error:
        assert str(error).startswith(str(path)), "a whole-file error names the file first"
        return
    for record in records:
        assert record.source == str(path) and record.location
        assert (record.error is None) != (record.data is None)


@pytest.mark.parametrize("name", available_formats())
def test_reader_reads_an_empty_file_as_nothing_or_a_data_error(name, tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    try:
        assert [record for record in get_reader(name).read(path) if record.error is None] == []
    except DataError:
        pass


# -- encoders ---------------------------------------------------------------------------------------------------
# Every registered encoder, fed the items featurization would give it from a small synthetic corpus (text, inline
# PNG images, H.264 videos, WAV audio, users, post rows) plus one item it cannot use.

_BAD_INPUT = {"text": None, "image": b"not an image", "video": b"not a video", "audio": b"",
              "graph": "no-such-user", "tabular": None}


@pytest.fixture(scope="module")
def small_corpus():
    from socialfusion.datasets.synthetic import generate

    return generate(n_users=30, n_posts=60, seed=7, n_videos=2, n_audio=2).corpus


def _encoder_inputs(name: str, corpus):
    from socialfusion.encoders import encoder_info, get_encoder
    from socialfusion.featurize import fit_encoder, items_for
    from socialfusion.schema import MEDIA_KINDS

    modality = encoder_info(name)["modality"]
    encoder = get_encoder(name)
    items = items_for(name, modality, corpus)
    fit_encoder(encoder, modality, items, corpus)
    inputs = [media[0] for media in items.inputs] if modality in MEDIA_KINDS else list(items.inputs)
    return encoder, modality, inputs[:3] + [_BAD_INPUT[modality]]


def _encoders():
    from socialfusion.encoders import available_encoders

    # The user-supplied-model encoders need a model the user names: their own tests cover them.
    return [name for name in available_encoders() if not name.startswith("identity/")
            and name not in ("text/sentence-transformer", "image/open-clip", "image/transformers")]


@pytest.mark.slow
@pytest.mark.parametrize("name", _encoders())
def test_encoder_conformance(name, small_corpus):
    from socialfusion.encoders import MODALITIES, Encoded

    encoder, modality, inputs = _encoder_inputs(name, small_corpus)

    assert encoder.name == name and encoder.modality == modality in MODALITIES
    assert isinstance(encoder.dim, int) and encoder.dim > 0 and isinstance(encoder.version, str) and encoder.version
    encoded = encoder.encode(inputs, batch_size=2)
    assert isinstance(encoded, Encoded)
    assert encoded.vectors.shape == (len(inputs), encoder.dim) and encoded.vectors.dtype == np.float32
    assert encoded.missing.shape == (len(inputs),) and encoded.missing.dtype == bool
    assert [reason is None for reason in encoded.reasons] == [not missing for missing in encoded.missing]
    assert encoded.missing[-1] and encoded.reasons[-1], "an unusable item is a missing row with a reason"
    assert not encoded.vectors[encoded.missing].any(), "missing rows are zeros"
    assert np.isfinite(encoded.vectors).all()
    again = encoder.encode(inputs, batch_size=3)
    np.testing.assert_allclose(again.vectors, encoded.vectors, atol=1e-4, err_msg="deterministic, whatever the batch")
    alone = encoder.encode(inputs[:1])
    np.testing.assert_allclose(alone.vectors[0], encoded.vectors[0], atol=1e-3,
                               err_msg="rows do not depend on the batch")
