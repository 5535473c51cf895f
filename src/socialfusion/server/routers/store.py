"""``/api/v1/stats``: rows per table and posts per modality, and why inputs were rejected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from socialfusion import app
from socialfusion.server.deps import ReadToken, StoreDep
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["store"], responses=ERROR_RESPONSES)


@router.get("/stats", response_model=app.StatsResult, summary="Rows per table and posts per modality")
def stats(params: Annotated[app.StatsParams, Query()], store: StoreDep, _token: ReadToken) -> app.StatsResult:
    """Row counts of the canonical tables and how many posts carry each modality; with ``rejects``, the rejected
    inputs grouped by reason, and with ``every_reject`` each one."""
    return app.store_statistics(store, params)
