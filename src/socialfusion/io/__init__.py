"""Input: readers for the canonical schema (JSONL, CSV, Parquet) and platform exports, and safe media handling."""

from socialfusion.io._base import Reader, SourceRecord, available_formats, get_reader, register_reader, sniff_format

__all__ = ["Reader", "SourceRecord", "available_formats", "get_reader", "register_reader", "sniff_format"]
