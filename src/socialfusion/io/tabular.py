"""Readers for the canonical schema as JSON Lines, CSV and Parquet, with an optional column mapping."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from socialfusion.exceptions import DataError
from socialfusion.io._base import SourceRecord, raw_preview, register_reader
from socialfusion.schema import TABLES

__all__ = ["CsvReader", "JsonlReader", "ParquetReader", "apply_column_map"]

_LIST_FIELDS = frozenset({"hashtags", "mentions", "urls", "media"})
_JSON_FIELDS = frozenset({"extra"})

logger = logging.getLogger(__name__)


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

    Blank lines are skipped, and so is a byte order mark at the start of the file; a line that is not valid
    UTF-8, not valid JSON or not an object becomes a reject with its line number. ``read_range`` lets large
    files be parsed in parallel chunks.
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
        """The records of JSON lines numbered from ``first_line``; bad lines become rejects.

        A UTF-8 byte order mark at the start of the file (line 1) is skipped, as Arrow's reader skips it.
        """
        for number, line in enumerate(lines, start=first_line):
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
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
    """CSV with a header row, one canonical record per row; ``.tsv`` files are read tab-separated.

    List fields (``hashtags``, ``mentions``, ``urls``) may be JSON arrays or space/comma separated; ``media`` and
    ``extra`` are JSON. Empty cells are nulls. A row that is not valid UTF-8, is not well-formed CSV (a quote in
    the wrong place, a quoted cell never closed) or has the wrong number of cells is a reject with its row number.

    The first row must be the header: when none of its cells names a field of the target table (after
    ``column_map``), the file is refused as a whole (``DataError``) rather than its first record being read as
    column names.
    """

    name = "csv"

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        source = str(path)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        csv.field_size_limit(sys.maxsize)
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            rows = csv.reader(handle, delimiter=delimiter, strict=True)
            try:
                header = next(rows)
            except StopIteration:
                return
            except csv.Error as error:
                raise DataError(f"{source}: the header row is not well-formed CSV: {error}") from None
            header = [column_map.get(name, name) if column_map else name for name in header]
            _check_header(source, header, table, delimiter)
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    return
                except csv.Error as error:
                    # The reader goes on at the next line; an unclosed quote has consumed the rest of the file.
                    reason = f"not well-formed CSV: {error}"
                    if "unexpected end of data" in str(error):
                        reason += " (a quoted cell is never closed: the rest of the file was read into it)"
                    yield SourceRecord.rejected(source, f"row {rows.line_num}", reason, None, table)
                    continue
                location = f"row {rows.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                raw = delimiter.join(row)
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


def _check_header(source: str, header: list[str], table: str, delimiter: str) -> None:
    """Refuse a first row that is not a header: it names no field of ``table``, or names one twice.

    Raises:
        DataError: says what the first row holds and how to fix the file.
    """
    fields = TABLES[table].model_fields if table in TABLES else {}
    if not _is_utf8_clean("".join(header)):
        raise DataError(f"{source}: the header row is not valid UTF-8; save the file as UTF-8")
    if not any(name.strip() in fields for name in header):
        shown = delimiter.join(header)[:200]
        raise DataError(
            f"{source}: the first row ({shown!r}) names no {table} field, so the file seems to have no header row; "
            f"add one naming the columns (e.g. {', '.join(list(fields)[:4])}), or map its names with column_map"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{source}: the header names column(s) {repeated} more than once; rename them")


@register_reader("parquet", sniff_priority=10)
class ParquetReader:
    """Parquet files of canonical records, read one row group batch at a time.

    Damage costs only what it touches: a row group that cannot be decoded (corrupt pages, a truncated file)
    makes each of its unread rows a reject naming the row group and the error, and the next row group is read;
    a value that has no Python form (a timestamp past year 9999, invalid UTF-8 in a string column) makes its
    row a reject naming the column.
    """

    name = "parquet"
    batch_rows = 10_000

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = str(path)
        try:
            parquet = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise DataError(f"{source}: not a readable Parquet file: {error}") from error
        index = 0
        for group in range(parquet.num_row_groups):
            group_rows = parquet.metadata.row_group(group).num_rows
            read = 0
            batches = parquet.iter_batches(batch_size=self.batch_rows, row_groups=[group])
            while True:
                try:
                    batch = next(batches, None)
                except (OSError, ValueError, ArithmeticError, pa.ArrowException) as error:
                    reason = f"row group {group} cannot be decoded after {read} of its {group_rows} rows: {error}"
                    for _ in range(group_rows - read):
                        index += 1
                        yield SourceRecord.rejected(source, f"row {index}", reason, None, table)
                    parquet = pq.ParquetFile(path)  # a fresh reader: the failed one may hold a broken state
                    break
                if batch is None:
                    break
                read += batch.num_rows
                for row, problem in _python_rows(batch):
                    index += 1
                    if problem is not None:
                        yield SourceRecord.rejected(source, f"row {index}", problem, None, table)
                        continue
                    try:
                        data = {key: _coerce_cell(key, value)
                                for key, value in apply_column_map(row, column_map).items()}
                    except orjson.JSONDecodeError as error:
                        yield SourceRecord.rejected(source, f"row {index}", f"malformed JSON in a cell: {error}",
                                                    raw_preview(row), table)
                        continue
                    yield SourceRecord(table, data, source, f"row {index}")

    def sniff(self, path: Path, head: bytes) -> bool:
        return head[:4] == b"PAR1"


def _python_rows(batch: Any) -> Iterator[tuple[dict[str, Any], str | None]]:
    """The rows of an Arrow record batch as dicts, each with None or why it has no Python form."""
    import pyarrow as pa

    unreadable = (ValueError, ArithmeticError, pa.ArrowException)
    try:
        rows = batch.to_pylist()
    except unreadable as error:  # a value Python cannot hold: find its rows, one at a time
        logger.debug("batch of %d rows needs per-row conversion: %s", batch.num_rows, error)
    else:
        for row in rows:
            yield row, None
        return
    names, columns = batch.schema.names, batch.columns
    for position in range(batch.num_rows):
        row: dict[str, Any] = {}
        problem = None
        for name, column in zip(names, columns):
            try:
                row[name] = column[position].as_py()
            except unreadable as error:
                problem = f"column {name!r} holds a value that cannot be read: {error}"
                break
        yield row, problem
