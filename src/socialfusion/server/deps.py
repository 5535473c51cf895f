"""What routes depend on: the settings, the store, the job runner, the caller's token and its scope, page bounds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from socialfusion.app import TokenInfo
from socialfusion.app._tokens import grants
from socialfusion.server.settings import Settings
from socialfusion.store import Store

__all__ = ["AdminToken", "ReadToken", "SettingsDep", "StoreDep", "WriteToken", "check_page_size", "get_runner",
           "get_settings", "get_store", "require"]

_bearer = HTTPBearer(auto_error=False, description="An API token: socialfusion tokens create --store DIR")


def get_settings(request: Request) -> Settings:
    """The server's settings."""
    return request.app.state.settings


def get_store(request: Request) -> Store:
    """The store the server serves."""
    return request.app.state.store


def get_runner(request: Request) -> Any:
    """The job runner (``socialfusion.server.jobs.JobRunner``)."""
    return request.app.state.runner


def require(scope: str):
    """A dependency that lets a request through when its token grants ``scope`` (else 403).

    The token itself was checked by ``AuthMiddleware`` before anything else (401 without a valid one); the
    ``Security`` parameter declares the bearer scheme in the OpenAPI document.
    """

    def check(request: Request,
              _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> TokenInfo:
        info = request.scope.get("state", {}).get("token")
        if info is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not grants(info.scopes, scope):
            raise HTTPException(403, f"this token has the scopes {info.scopes}; this route needs {scope!r}")
        return info

    return check


ReadToken = Annotated[TokenInfo, Depends(require("read"))]
WriteToken = Annotated[TokenInfo, Depends(require("write"))]
AdminToken = Annotated[TokenInfo, Depends(require("admin"))]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def check_page_size(settings: Settings, params: Any, where: str = "query") -> None:
    """422 when a page size or ``k`` exceeds the server's ``max_page_size`` (the models cap them at 1000)."""
    for name in ("k", "limit"):
        value = getattr(params, name, None)
        if isinstance(value, int) and value > settings.max_page_size:
            raise RequestValidationError([{
                "type": "less_than_equal", "loc": (where, name),
                "msg": f"Input should be less than or equal to {settings.max_page_size} (this server's page size)",
                "input": value}])
