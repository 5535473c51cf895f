"""``/health``: whether the server is up (the one route that needs no token)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

import socialfusion

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The server is up."""

    status: str
    version: str


@router.get("/health", response_model=Health, summary="Liveness (no token needed)")
def health() -> Health:
    """Answers while the server runs."""
    return Health(status="ok", version=socialfusion.__version__)
