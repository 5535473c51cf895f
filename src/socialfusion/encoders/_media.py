"""Where an encoder gets media from: a post's media item, a path, or bytes; every problem is a MediaError reason."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from socialfusion.exceptions import MediaError

__all__ = ["MAX_DECODE_BYTES", "media_source", "open_media", "read_media_bytes"]

MAX_DECODE_BYTES = 512 * 1024**2


def media_source(item: Any) -> bytes | Path:
    """The bytes or the local file an item refers to.

    Args:
        item: a media mapping as stored in ``posts.media`` (``uri`` or ``data``, maybe an ``error`` from ingest),
            a path (str or Path) or raw bytes.

    Raises:
        MediaError: no item, an ingest error, a remote URI (never fetched), a missing or empty file.
    """
    if item is None:
        raise MediaError("no media")
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if not data:
            raise MediaError("empty media (0 bytes)")
        return data
    if isinstance(item, Mapping):
        if item.get("error"):
            raise MediaError(str(item["error"]))
        if item.get("data") is not None:
            return media_source(item["data"])
        item = item.get("uri")
        if not item:
            raise MediaError("media item has neither uri nor data")
    if isinstance(item, str):
        parsed = urlparse(item)
        if parsed.scheme == "file":
            item = unquote(parsed.path)
        elif parsed.scheme and len(parsed.scheme) > 1:
            raise MediaError(f"remote media is referenced, not fetched: {item}")
    if "\x00" in str(item):
        raise MediaError(f"media path contains a NUL character: {str(item)!r}")
    path = Path(item)
    try:
        size = path.stat().st_size
    except OSError:
        raise MediaError(f"media file not found: {path}") from None
    if size == 0:
        raise MediaError(f"empty media file (0 bytes): {path}")
    return path


def read_media_bytes(item: Any, max_bytes: int = MAX_DECODE_BYTES) -> bytes:
    """The whole content of a media item, refusing more than ``max_bytes``.

    Raises:
        MediaError: as ``media_source``, or the item is larger than ``max_bytes``.
    """
    source = media_source(item)
    if isinstance(source, bytes):
        data = source
    else:
        if source.stat().st_size > max_bytes:
            raise MediaError(f"media too large to decode: {source.stat().st_size} bytes > {max_bytes}")
        data = source.read_bytes()
    if len(data) > max_bytes:
        raise MediaError(f"media too large to decode: {len(data)} bytes > {max_bytes}")
    return data


def open_media(item: Any) -> BinaryIO:
    """A binary file object over a media item (a real file when it is one, so decoders can seek and stream).

    Raises:
        MediaError: as ``media_source``.
    """
    source = media_source(item)
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
