"""Uploads streamed to disk: a multipart body is parsed as it arrives and its file written chunk by chunk, so memory
stays flat whatever the size; a file over the limit is refused (413) as soon as it passes it, and a file name that
could leave the upload folder (``..``, a slash, an absolute or drive path) is refused (422) before anything is
written."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import shutil
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["UploadResult", "check_file_name", "receive_upload"]

_MAX_NAME_BYTES = 255
_MAX_FIELD_BYTES = 64 * 1024  # other form fields are read and ignored, up to this size
_MULTIPART_OVERHEAD = 1024 * 1024  # Content-Length may exceed the file's size by this much (headers, boundaries)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadResult(BaseModel):
    """A stored upload: give its ``upload_id`` to an ingest job."""

    upload_id: str
    name: str
    bytes: int
    sha256: str


def _invalid(field: str, reason: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": reason, "input": None}])


def check_file_name(name: str) -> str:
    """``name`` when it is a plain file name that stays inside a folder; raises a 422 error naming why not.

    Examples:
        >>> check_file_name("posts.jsonl")
        'posts.jsonl'
        >>> check_file_name("../../etc/passwd")
        Traceback (most recent call last):
        ...
        fastapi.exceptions.RequestValidationError: ...
    """
    reason = None
    if not name or not name.strip():
        reason = "the file name is empty"
    elif len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        reason = f"the file name is longer than {_MAX_NAME_BYTES} bytes"
    elif _CONTROL.search(name):
        reason = "the file name holds a control character"
    elif name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        reason = "the file name is an absolute path; send the file's own name"
    elif ".." in re.split(r"[/\\]", name):
        reason = "the file name holds '..' (a path out of the upload folder)"
    elif "/" in name or "\\" in name:
        reason = "the file name holds a folder; send the file's own name"
    elif name.startswith("."):
        reason = "the file name starts with a dot (a hidden file, which ingest skips)"
    if reason is not None:
        raise _invalid("file.filename", f"{reason}: {name[:100]!r}")
    return name


_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition(value: bytes) -> dict[str, str]:
    """The parameters of a part's Content-Disposition, file names exactly as sent (``parse_options_header`` cuts
    a Windows path down to its last part, which would hide a path the client tried)."""
    options = {}
    for match in _PARAMETER.finditer(value.decode("latin-1")):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if "*" in key:  # RFC 7578 forbids the extended syntax in multipart/form-data
            continue
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        options[key] = raw.encode("latin-1").decode("utf-8", "replace")
    return options


class _Receiver:
    """Multipart callbacks: the ``file`` part goes to disk; other parts are counted and dropped."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False
        self.field_bytes = 0
        self.pending: list[bytes] = []
        self.name: str | None = None
        self.size = 0
        self.digest = hashlib.sha256()
        self.files = 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_part_data": self.part_data, "on_header_field": self.field,
                "on_header_value": self.value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished}

    def part_begin(self) -> None:
        self.headers, self.in_file, self.field_bytes = {}, False, 0

    def field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        options = _disposition(self.headers.get(b"content-disposition", b""))
        if options.get("name") != "file":
            return
        if self.files:
            raise _invalid("file", "send one file per upload")
        if options.get("filename") is None:
            raise _invalid("file", "the file part has no file name")
        self.name = check_file_name(options["filename"])
        self.in_file = True
        self.files += 1

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self.in_file:
            self.field_bytes += len(chunk)
            if self.field_bytes > _MAX_FIELD_BYTES:
                raise HTTPException(413, f"a form field is larger than {_MAX_FIELD_BYTES:,} bytes")
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise HTTPException(413, f"the file is larger than the {self.max_bytes:,} bytes accepted "
                                     "(SOCIALFUSION_MAX_UPLOAD_BYTES)")
        self.digest.update(chunk)
        self.pending.append(chunk)


async def receive_upload(request: Request, uploads: Path, max_bytes: int) -> UploadResult:
    """Stream a ``multipart/form-data`` body's ``file`` part to ``uploads/<upload id>/<file name>``.

    Raises:
        HTTPException: 413 when the body or the file is larger than ``max_bytes``; 415 when it is not multipart.
        RequestValidationError: no file part, or a file name that could leave the folder.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(415, "send the file as multipart/form-data with a 'file' field "
                                 "(curl -F file=@posts.jsonl ...)")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes + _MULTIPART_OVERHEAD:
        raise HTTPException(413, f"the upload of {int(length):,} bytes is larger than the {max_bytes:,} bytes "
                                 "accepted (SOCIALFUSION_MAX_UPLOAD_BYTES)")
    upload_id = secrets.token_hex(16)
    folder = uploads / upload_id
    receiver = _Receiver(folder, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    part_file = folder / ".receiving"
    handle = None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if receiver.pending:
                if handle is None:
                    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
                    handle = await asyncio.to_thread(open, part_file, "wb")
                data, receiver.pending = b"".join(receiver.pending), []
                await asyncio.to_thread(handle.write, data)
        parser.finalize()
        if receiver.name is None:
            raise _invalid("file", "no file: send it as the multipart field 'file'")
        if handle is None:  # an empty file
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            handle = await asyncio.to_thread(open, part_file, "wb")
        await asyncio.to_thread(handle.close)
        handle = None
        await asyncio.to_thread(part_file.rename, folder / receiver.name)
    except MultipartParseError as error:
        if handle is not None:
            await asyncio.to_thread(handle.close)
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise _invalid("file", f"the multipart body is malformed: {error}") from None
    except BaseException:
        if handle is not None:
            await asyncio.to_thread(handle.close)
        await asyncio.to_thread(shutil.rmtree, folder, True)
        raise
    return UploadResult(upload_id=upload_id, name=receiver.name, bytes=receiver.size,
                        sha256=receiver.digest.hexdigest())
