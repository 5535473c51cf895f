"""Conformance checks every registered reader passes (more registries join as encoders, fusions and tasks land)."""

from __future__ import annotations

from pathlib import Path

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
