"""Readers for the canonical schema as JSON Lines, CSV, Parquet and in-memory frames, with an optional column mapping.

Tabular sources (CSV, Parquet, DataFrames, Arrow tables) keep a column that names no field of the target table in
the record's ``extra`` (JSON) instead of refusing the row; the reader's ``kept_in_extra`` lists those columns.
"""

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

__all__ = ["CsvReader", "JsonlReader", "ParquetReader", "apply_aliases", "apply_column_map", "frame_records",
           "is_frame"]

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


def apply_aliases(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """Accept the names people give some fields: a labels file's ``post_id`` (or ``user_id``) is its ``item_id``.

    A ``user_id`` column makes the labels' ``item_kind`` ``user`` unless the record says otherwise.

    Examples:
        >>> apply_aliases("labels", {"post_id": "p1", "label": "positive"})
        {'label': 'positive', 'item_id': 'p1'}
        >>> apply_aliases("posts", {"post_id": "p1"})
        {'post_id': 'p1'}
    """
    if table != "labels" or "item_id" in record:
        return record
    for alias, kind in (("post_id", "post"), ("user_id", "user")):
        if alias in record:
            record = dict(record)
            record["item_id"] = record.pop(alias)
            if kind != "post" and record.get("item_kind") is None:
                record["item_kind"] = kind
            return record
    return record


def _aliased_names(table: str, names: list[str]) -> list[str]:
    """Column names in place, with the alias ``apply_aliases`` would replace renamed."""
    renamed = list(apply_aliases(table, dict.fromkeys(names)))
    gone = [name for name in names if name not in renamed]
    return [("item_id" if name in gone else name) for name in names]


def _unknown_columns(table: str, names: list[str]) -> list[str]:
    """The columns that name no field of ``table`` (after mapping and aliases): they go to ``extra``."""
    fields = TABLES[table].model_fields if table in TABLES else {}
    return [name for name in _aliased_names(table, names) if name not in fields] if fields else []


def _fold_into_extra(data: dict[str, Any], unknown: list[str]) -> dict[str, Any]:
    """Move the ``unknown`` columns of a record into its ``extra`` object (empty cells are left out).

    An ``extra`` column that holds a JSON object keeps its keys; an ``extra`` that is not an object is left for
    validation to name.
    """
    if not unknown:
        return data
    kept = {name: data.pop(name) for name in unknown if name in data}
    kept = {name: value for name, value in kept.items() if value is not None}
    if not kept:
        return data
    extra = data.get("extra")
    if extra is None:
        data["extra"] = kept
    elif isinstance(extra, dict):
        data["extra"] = {**kept, **extra}
    return data


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

    def __init__(self) -> None:
        self.kept_in_extra: list[str] = []

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
            _check_header(source, _aliased_names(table, header), table, delimiter)
            unknown = self.kept_in_extra = _unknown_columns(table, header)
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
                yield SourceRecord(table, _fold_into_extra(apply_aliases(table, data), unknown), source, location)

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

    def __init__(self) -> None:
        self.kept_in_extra: list[str] = []

    def read(self, path: Path, *, column_map: Mapping[str, str] | None = None,
             table: str = "posts") -> Iterator[SourceRecord]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = str(path)
        try:
            parquet = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several types for a bad file
            raise DataError(f"{source}: not a readable Parquet file: {error}") from error
        names = [column_map.get(name, name) if column_map else name for name in parquet.schema_arrow.names]
        self.kept_in_extra = _unknown_columns(table, names)
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
                yield from _batch_records(batch, index, source, table, column_map, self.kept_in_extra)
                index += batch.num_rows

    def sniff(self, path: Path, head: bytes) -> bool:
        return head[:4] == b"PAR1"


def _batch_records(batch: Any, first: int, source: str, table: str, column_map: Mapping[str, str] | None,
                   unknown: list[str], zero_based: bool = False) -> Iterator[SourceRecord]:
    """The records of an Arrow record batch whose first row is row ``first`` (0-based) of its source.

    Locations read ``row N`` counting from 1 (files), or from 0 with ``zero_based`` (frames, as ``df.iloc``).
    """
    for position, (row, problem) in enumerate(_python_rows(batch), start=first):
        location = f"row {position if zero_based else position + 1}"
        if problem is not None:
            yield SourceRecord.rejected(source, location, problem, None, table)
            continue
        try:
            data = {key: _coerce_cell(key, value)
                    for key, value in apply_aliases(table, apply_column_map(row, column_map)).items()}
        except orjson.JSONDecodeError as error:
            yield SourceRecord.rejected(source, location, f"malformed JSON in a cell: {error}", raw_preview(row),
                                        table)
            continue
        yield SourceRecord(table, _fold_into_extra(data, unknown), source, location)


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a table in memory that ``frame_records`` reads: a pandas or polars DataFrame, an Arrow
    table or record batch, or any object exporting the Arrow C stream interface."""
    import pyarrow as pa

    if isinstance(value, (pa.Table, pa.RecordBatch)) or hasattr(value, "__arrow_c_stream__"):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _as_arrow(frame: Any) -> Any:
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(frame, pandas.DataFrame):
        # Without the index: a DataFrame's row labels are not a field (a filtered frame's would land in extra).
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.table(frame)  # polars and others, through the Arrow C stream interface


def frame_records(frame: Any, *, source: str, table: str = "posts", column_map: Mapping[str, str] | None = None,
                  batch_rows: int = 10_000, kept_in_extra: list[str] | None = None) -> Iterator[SourceRecord]:
    """The records of a DataFrame or Arrow table, validated downstream exactly like a file's rows.

    Args:
        frame: a pandas or polars DataFrame, an Arrow table or record batch (see ``is_frame``).
        source: the name rejects give as the source.
        table: the target table.
        column_map: foreign column name -> canonical field name.
        batch_rows: rows converted to Python at a time (memory stays bounded by it).
        kept_in_extra: when given, the columns kept in ``extra`` are appended to it.

    Yields:
        One SourceRecord per row, located ``row N`` counting from 0 (as ``df.iloc``).

    Raises:
        DataError: the object cannot be turned into an Arrow table.

    Examples:
        >>> import pyarrow as pa
        >>> rows = pa.table({"post_id": ["p1"], "text": ["hi"], "followers": [12]})
        >>> [(r.location, r.data) for r in frame_records(rows, source="frame")]
        [('row 0', {'post_id': 'p1', 'text': 'hi', 'extra': {'followers': 12}})]
    """
    import pyarrow as pa

    try:
        arrow = _as_arrow(frame)
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise DataError(f"{source}: cannot be read as a table ({type(error).__name__}: {error})") from error
    names = [column_map.get(name, name) if column_map else name for name in arrow.column_names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{source}: column(s) {repeated} appear more than once (after the column map); rename them")
    unknown = _unknown_columns(table, names)
    if kept_in_extra is not None:
        kept_in_extra.extend(unknown)
    first = 0
    for batch in arrow.to_batches(max_chunksize=batch_rows):
        yield from _batch_records(batch, first, source, table, column_map, unknown, zero_based=True)
        first += batch.num_rows


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
