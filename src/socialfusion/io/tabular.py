"""Readers for the canonical schema as JSON Lines, CSV and Parquet, with an optional column mapping."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from socialfusion.exceptions import DataError
from socialfusion.io._base import SourceRecord, register_reader

__all__ = ["CsvReader", "JsonlReader", "ParquetReader", "apply_column_map"]

_LIST_FIELDS = frozenset({"hashtags", "mentions", "urls", "media"})
_JSON_FIELDS = frozenset({"extra"})


def apply_column_map(record: dict[str, Any], column_map: Mapping[str, str] | None) -> dict[str, Any]:
    """Rename foreign keys to canonical field names; keys not in the map are kept as they are.

    Examples:
        >>> apply_column_map({"id": "1", "body": "hi"}, {"id": "post_id", "body": "text"})
        {'post_id': '1', 'text': 'hi'}
    """
    if not column_map:
        return record
    return {column_map.get(key, key): value for key, value in record.items()}


def _coerce_cell(field: str, value: Any) -> Any:
    """Cells of flat formats: '' is null; list and JSON fields may be JSON text or space/comma separated."""
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if field in _LIST_FIELDS or field in _JSON_FIELDS:
        stripped = value.strip()
        if stripped[:1] in "[{":
            return orjson.loads(stripped)
        if field in _LIST_FIELDS and field != "media":
            return [part for part in stripped.replace(",", " ").split() if part]
    return value


def _is_utf8_clean(text: str) -> bool:
    # Rows decoded with surrogateescape carry lone surrogates where the bytes were not UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@register_reader("jsonl", sniff_priority=90)
class JsonlReader:
    """One JSON object per line (``.jsonl``, ``.ndjson``): canonical records of one table.

    Blank lines are skipped; a line that is not valid UTF-8, not valid JSON or not an object becomes a reject
    with its line number. ``read_range`` lets large files be parsed in parallel chunks.
    """

    name = "jsonl"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        with open(path, "rb") as handle:
            yield from self.records(handle, str(path), 1, column_map, table)

    def read_range(self, path: Path, start: int, end: int, first_line: int, *,
                   column_map: Mapping[str, str] | None = None, table: str = "posts") -> Iterator[SourceRecord]:
        """The records of bytes [start, end) of the file, a chunk that starts and ends on line breaks.

        Args:
            first_line: the number of the chunk's first line in the whole file (for reject locations).
        """
        with open(path, "rb") as handle:
            handle.seek(start)
            lines = io.BytesIO(handle.read(end - start))
            yield from self.records(lines, str(path), first_line, column_map, table)

    @staticmethod
    def records(lines: Iterable[bytes], source: str, first_line: int, column_map: Mapping[str, str] | None,
                table: str) -> Iterator[SourceRecord]:
        """The records of JSON lines numbered from ``first_line``; bad lines become rejects."""
        for number, line in enumerate(lines, start=first_line):
            if not line.strip():
                continue
            location = f"line {number}"
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                yield SourceRecord.rejected(source, location, f"malformed JSON: {error}", line, table)
                continue
            if not isinstance(data, dict):
                yield SourceRecord.rejected(
                    source, location, f"expected a JSON object, got {type(data).__name__}", line, table
                )
                continue
            yield SourceRecord(table, apply_column_map(data, column_map), source, location)

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return True
        first = head.lstrip()[:1]
        return first == b"{" and b"\n{" in head.strip()


@register_reader("csv", sniff_priority=95)
class CsvReader:
    """CSV with a header row, one canonical record per row.

    List fields (``hashtags``, ``mentions``, ``urls``) may be JSON arrays or space/comma separated; ``media`` and
    ``extra`` are JSON. Empty cells are nulls. A row that is not valid UTF-8 or has the wrong number of cells is
    a reject with its row number.
    """

    name = "csv"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        source = str(path)
        csv.field_size_limit(sys.maxsize)
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            rows = csv.reader(handle)
            try:
                header = next(rows)
            except StopIteration:
                return
            header = [column_map.get(name, name) if column_map else name for name in header]
            for row in rows:
                location = f"row {rows.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                raw = ",".join(row)
                if not _is_utf8_clean(raw):
                    raw = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
                    yield SourceRecord.rejected(source, location, "row is not valid UTF-8", raw, table)
                    continue
                if len(row) != len(header):
                    yield SourceRecord.rejected(
                        source, location, f"expected {len(header)} cells, found {len(row)}", raw, table
                    )
                    continue
                try:
                    data = {name: _coerce_cell(name, cell) for name, cell in zip(header, row)}
                except orjson.JSONDecodeError as error:
                    yield SourceRecord.rejected(source, location, f"malformed JSON in a cell: {error}", raw, table)
                    continue
                yield SourceRecord(table, data, source, location)

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() in (".csv", ".tsv")


@register_reader("parquet", sniff_priority=10)
class ParquetReader:
    """Parquet files of canonical records, read one row group batch at a time."""

    name = "parquet"
    batch_rows = 10_000

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        import pyarrow.parquet as pq

        source = str(path)
        try:
            parquet = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise DataError(f"{source}: not a readable Parquet file: {error}") from error
        index = 0
        for batch in parquet.iter_batches(batch_size=self.batch_rows):
            for row in batch.to_pylist():
                index += 1
                data = {key: _coerce_cell(key, value) for key, value in apply_column_map(row, column_map).items()}
                yield SourceRecord(table, data, source, f"row {index}")

    def sniff(self, path: Path, head: bytes) -> bool:
        return head[:4] == b"PAR1"
