"""``/api/v1/uploads``: a file streamed to the server's disk, for an ingest job."""

from __future__ import annotations

from fastapi import APIRouter, Request

from socialfusion.server.deps import SettingsDep, WriteToken
from socialfusion.server.errors import ERROR_RESPONSES, ErrorBody
from socialfusion.server.uploads import UploadResult, receive_upload

__all__ = ["router"]

router = APIRouter(tags=["uploads"], responses={**ERROR_RESPONSES, 415: {"model": ErrorBody,
                                                                          "description": "Not multipart/form-data."}})

_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "The file to ingest."}}}}}}}


@router.post("/uploads", response_model=UploadResult, status_code=201, openapi_extra=_BODY,
             summary="Upload a file to ingest")
async def upload(request: Request, settings: SettingsDep, _token: WriteToken) -> UploadResult:
    """Stream the multipart field ``file`` to disk (413 past the upload limit); then start an ingest job with the
    ``upload_id`` this answers."""
    return await receive_upload(request, settings.workspace_folder() / "uploads", settings.max_upload_bytes)
