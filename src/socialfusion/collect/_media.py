"""Optional media download: streamed, size- and type-limited, into a content-addressed folder."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from socialfusion.collect._http import CollectError, HttpClient

__all__ = ["DEFAULT_MEDIA_MAX_BYTES", "MediaFolder", "REMOTE_SCHEMES"]

DEFAULT_MEDIA_MAX_BYTES = 50 * 1024**2
REMOTE_SCHEMES = frozenset({"http", "https", "at-blob"})
"""URI schemes a server's media may use; a local path or ``file://`` URI from a server is refused."""
_ALLOWED_TYPES = ("image/", "video/", "audio/")


class MediaFolder:
    """Downloads the media of posts into ``folder/<sha256[:2]>/<sha256><suffix>`` (one copy per content).

    Args:
        folder: where files go (created when absent).
        client: the HTTP client (its timeouts apply).
        max_bytes: a larger file is not kept; the post keeps the media item with an ``error``.
        types: content-type prefixes accepted (images, video and audio by default).
    """

    def __init__(
        self,
        folder: str | Path,
        client: HttpClient,
        *,
        max_bytes: int = DEFAULT_MEDIA_MAX_BYTES,
        types: Iterable[str] = _ALLOWED_TYPES,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.max_bytes = max_bytes
        self.types = tuple(types)
        self.downloaded = 0
        self.failed = 0

    def localize(self, post: dict[str, Any]) -> None:
        """Replace the ``http(s)`` media URIs of a post record by downloaded files (``extra.media_urls`` keeps
        the URLs); a download that fails leaves the URL and an ``error`` on the item (the post is kept)."""
        items = post.get("media")
        if not isinstance(items, list):
            return
        urls = []
        for item in items:
            uri = item.get("uri") if isinstance(item, dict) else None
            if not isinstance(uri, str) or urlparse(uri).scheme not in ("http", "https"):
                continue
            urls.append(uri)
            try:
                item.update(self._download(uri))
                self.downloaded += 1
            except CollectError as error:
                item["error"] = f"media download failed: {error}"
                self.failed += 1
        if urls:
            extra = post.get("extra") if isinstance(post.get("extra"), dict) else {}
            post["extra"] = {**extra, "media_urls": urls}

    def _download(self, url: str) -> dict[str, Any]:
        digest = hashlib.sha256()
        handle = tempfile.NamedTemporaryFile(dir=self.folder, prefix=".part-", delete=False)
        try:
            with handle:

                def write(chunk: bytes) -> None:
                    digest.update(chunk)
                    handle.write(chunk)

                mime = self.client.stream_to(
                    url, write, max_bytes=self.max_bytes, accept=lambda kind: kind.startswith(self.types)
                )
            sha = digest.hexdigest()
            suffix = mimetypes.guess_extension(mime) or Path(urlparse(url).path).suffix[:8]
            target = self.folder / sha[:2] / f"{sha}{suffix}"
            target.parent.mkdir(exist_ok=True)
            os.replace(handle.name, target)  # atomic: a killed download never leaves a partial file under its hash
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return {"uri": str(target), "sha256": sha, "mime": mime, "size_bytes": target.stat().st_size}
