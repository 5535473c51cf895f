"""``/api/v1/search``: semantic, keyword or hybrid search over the posts."""

from __future__ import annotations

from fastapi import APIRouter

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)


@router.post("/search", response_model=app.SearchResult, summary="Search the posts")
def search(params: app.SearchParams, store: StoreDep, settings: SettingsDep, _token: ReadToken) -> app.SearchResult:
    """Semantic (nearest text vectors), keyword (BM25) or hybrid (both, fused by reciprocal rank)."""
    check_page_size(settings, params, "body")
    return app.search_posts(store, params)
