"""Errors as JSON: every failure answers ``{"error": {"status", "code", "message", "fields"}}``, never a traceback.

Library errors map to statuses by kind: an unknown id is 404, a bad parameter or bad data 422, a store that lacks
what the operation needs (no features, no model yet) 409, a missing optional extra 503; anything unforeseen is a
500 whose body says only that (the traceback goes to the server's log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from socialfusion.exceptions import (
    ConfigurationError,
    DataError,
    MediaError,
    MissingDependencyError,
    NotFoundError,
    SocialFusionError,
    StoreError,
)

__all__ = ["ERROR_RESPONSES", "ErrorBody", "ErrorDetail", "FieldError", "error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
          429: "rate_limited", 500: "internal_error", 503: "unavailable", 504: "timeout"}


class FieldError(BaseModel):
    """What is wrong with one field (dotted path: ``body.k``, ``query.limit``, ``path.post_id``)."""

    field: str
    reason: str


class ErrorDetail(BaseModel):
    """The error: HTTP status, a short code, a message for people, and the fields at fault."""

    status: int
    code: str
    message: str
    fields: list[FieldError] = []


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description} for status, description in (
        (401, "No valid token (missing, malformed, unknown or revoked)."),
        (403, "The token lacks the scope this route needs."),
        (404, "An id (post, user, job, upload, node) that the store does not have."),
        (409, "The store lacks what the operation needs (features, a model, profiles), or the job's state forbids it."),
        (413, "The request body is larger than the server accepts."),
        (422, "Malformed JSON, a wrong type, an unknown field or an out-of-range value (the fields are named)."),
        (429, "Too many requests with this token; retry after the Retry-After header's seconds."),
        (503, "An optional extra the operation needs is not installed."),
        (504, "The request took longer than the server's request timeout."),
    )
}
"""The error responses every API route documents (OpenAPI), so that clients and schema checks know them."""


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response."""
    body = ErrorBody(error=ErrorDetail(status=status, code=_CODES.get(status, "error"), message=message,
                                       fields=[FieldError(**field) for field in fields or []]))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _reason(error: dict) -> str:
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", "?"))[-1]
        return f"malformed JSON at character {position}: {error.get('ctx', {}).get('error', error.get('msg'))}"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"field": "body" if error.get("type") == "json_invalid" else _location(tuple(error.get("loc", ()))),
               "reason": _reason(error)} for error in exc.errors()]
    first = fields[0] if fields else {"field": "body", "reason": "invalid request"}
    return error_response(422, f"invalid {first['field']}: {first['reason']}", fields)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400:  # FastAPI's "error parsing the body": bytes that are not JSON text at all
        reason = "not JSON text (undecodable bytes)"
        return error_response(422, f"invalid body: {reason}", [{"field": "body", "reason": reason}])
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


def _status(error: SocialFusionError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, MissingDependencyError):
        return 503
    if isinstance(error, ConfigurationError | DataError | MediaError):
        return 422
    if isinstance(error, StoreError):
        return 409
    return 422


async def _library_error(request: Request, exc: SocialFusionError) -> JSONResponse:
    field = getattr(exc, "field", None)
    fields = [{"field": field, "reason": str(exc)}] if isinstance(field, str) else []
    return error_response(_status(exc), str(exc), fields)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error: the server's log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SocialFusionError, _library_error)
    app.add_exception_handler(Exception, _unexpected)
