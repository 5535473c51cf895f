"""Safe media references at ingest: resolve paths inside the input folder, check size, hash by streaming.

A media file is never loaded whole into memory here: it is hashed in 1 MiB chunks. Remote URIs (``https://``,
``at-blob://``, ``s3://``) are kept as references and not fetched. A file that cannot be used keeps its entry with
an ``error`` that the encoders later report as the reason the modality is missing.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = ["DEFAULT_MAX_MEDIA_BYTES", "MEDIA_SUFFIXES", "MediaResolver", "is_media_file"]

DEFAULT_MAX_MEDIA_BYTES = 2 * 1024**3
_CHUNK = 1024 * 1024

MEDIA_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic",
    ".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v",
    ".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac",
})
"""File name suffixes of images, videos and audio: inside an input folder such files are referenced media."""

# (offset, signature) of the formats above, for files whose name does not say what they are.
_MAGIC = (
    (0, b"\xff\xd8\xff"), (0, b"\x89PNG\r\n\x1a\n"), (0, b"GIF87a"), (0, b"GIF89a"),
    (0, b"II*\x00"), (0, b"MM\x00*"), (0, b"\x1a\x45\xdf\xa3"), (0, b"OggS"), (0, b"fLaC"), (0, b"ID3"),
    (4, b"ftyp"),
)


def is_media_file(path: Path, head: bytes | None = None) -> bool:
    """Whether ``path`` is an image, video or audio file, by its suffix or else by its first bytes.

    Args:
        path: the file.
        head: its first bytes when already read (at least 12); read here when None.

    Examples:
        >>> is_media_file(Path("images/cat.JPG"))
        True
        >>> is_media_file(Path("export.bin"), b"RIFF1234WEBPVP8 ")
        True
        >>> is_media_file(Path("posts.jsonl"), b'{"post_id": "1"}')
        False
    """
    if path.suffix.lower() in MEDIA_SUFFIXES:
        return True
    if head is None:
        try:
            with open(path, "rb") as handle:
                head = handle.read(16)
        except OSError:
            return False
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return True
    if head[:2] == b"\xff\xfb" or head[:2] == b"\xff\xf3":  # an MPEG audio frame (an MP3 without ID3 tag)
        return True
    return any(head[offset : offset + len(signature)] == signature for offset, signature in _MAGIC)


def _local_path(uri: str) -> str | None:
    """The filesystem path a URI names, or None for remote URIs (Windows drive letters count as local)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        return None
    return uri


def sha256_of_file(path: Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class MediaResolver:
    """Checks and fingerprints the media items of posts.

    Args:
        max_bytes: larger files are flagged ``error="too large"`` instead of hashed.
        root: media paths must resolve inside this folder (or one of ``extra_roots``); None allows any local path
            (trusted sources such as the dataset loaders). File ingestion sets it to the input file's folder.
        extra_roots: more folders media paths may resolve inside, named by the user (``--media-root``).
    """

    max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    root: Path | None = None
    extra_roots: tuple[Path, ...] = ()
    _hash_cache: dict[tuple[str, int, int], str] = field(default_factory=dict, repr=False)

    def resolve(self, item: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
        """Return ``item`` completed with sha256, size_bytes and mime, or with an ``error`` saying why not.

        Args:
            item: a media mapping with ``kind`` and ``uri`` or ``data``.
            base_dir: the folder relative paths are resolved against (the input file's folder).
        """
        item = dict(item)
        if item.get("data") is not None:
            data = item["data"]
            if isinstance(data, str):
                data = item["data"] = data.encode("utf-8")  # what validation would make of it; hashed as stored
            if not isinstance(data, (bytes, bytearray)):
                return item  # validation names the field
            item.setdefault("sha256", None)
            item["sha256"] = item["sha256"] or hashlib.sha256(data).hexdigest()
            item["size_bytes"] = len(data)
            return item
        uri = item.get("uri")
        if not isinstance(uri, str) or not uri:
            return item
        try:
            local = _local_path(uri)
        except ValueError as error:  # a malformed URI, e.g. an unclosed IPv6 bracket
            item["error"] = f"media URI is malformed ({error}): {uri!r}"
            return item
        if local is None:
            if item.get("mime") is None:
                item["mime"] = mimetypes.guess_type(urlparse(uri).path)[0]
            return item
        if "\x00" in local:
            # The operating system cannot name such a file; os.path would raise ValueError.
            item["error"] = f"media path contains a NUL character: {uri!r}"
            return item
        path = Path(local)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            path = Path(os.path.realpath(path))
        except (OSError, ValueError) as error:
            item["error"] = f"media path cannot be resolved ({error}): {uri!r}"
            return item
        item["uri"] = str(path)
        item["mime"] = item.get("mime") or mimetypes.guess_type(path.name)[0]
        if self.root is not None and not any(
            path.is_relative_to(os.path.realpath(root)) for root in (self.root, *self.extra_roots)
        ):
            allowed = "" if not self.extra_roots else f" or the media roots {', '.join(map(str, self.extra_roots))}"
            item["error"] = (f"media path escapes the input folder {self.root}{allowed}: {uri} "
                             f"(allow its folder with --media-root DIR, or media_roots=[...] in Python)")
            return item
        try:
            stat = path.stat()
        except (OSError, ValueError):
            item["error"] = f"media file not found: {path}"
            return item
        if not path.is_file():
            item["error"] = f"media path is not a regular file: {path}"
            return item
        item["size_bytes"] = stat.st_size
        if stat.st_size > self.max_bytes:
            item["error"] = f"media file too large: {stat.st_size} bytes > limit {self.max_bytes}"
            return item
        if not item.get("sha256"):
            cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
            if cache_key not in self._hash_cache:
                try:
                    self._hash_cache[cache_key] = sha256_of_file(path)
                except OSError as error:  # unreadable (permissions, an I/O error): the post keeps a flagged item
                    item["error"] = f"media file cannot be read ({error.strerror or error}): {path}"
                    return item
            item["sha256"] = self._hash_cache[cache_key]
        return item
