"""``/api/v1/tokens``: create, list and revoke API tokens (admin scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from socialfusion import app
from socialfusion.server.deps import AdminToken, StoreDep
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[app.TokenInfo], summary="List tokens")
def list_tokens(store: StoreDep, _token: AdminToken) -> list[app.TokenInfo]:
    """Tokens that are not revoked (never their secrets)."""
    return app.list_tokens(store)


@router.post("", response_model=app.CreatedToken, status_code=201, summary="Create a token")
def create_token(params: app.TokenParams, store: StoreDep, _token: AdminToken) -> app.CreatedToken:
    """The new token's secret is in this answer only; the store keeps a salted hash."""
    return app.create_token(store, params)


@router.delete("/{token_id}", response_model=app.TokenInfo, summary="Revoke a token")
def revoke_token(token_id: Annotated[str, Path(min_length=1, max_length=64)], request: Request, store: StoreDep,
                 _token: AdminToken) -> app.TokenInfo:
    """Requests with the token answer 401 from now on."""
    revoked = app.revoke_token(store, token_id)
    request.app.state.verifier.forget()
    return revoked
