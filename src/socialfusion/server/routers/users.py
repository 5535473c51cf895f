"""``/api/v1/users/{user_id}/...``: similar users and recommendations for a user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)

UserId = Annotated[str, Path(min_length=1, max_length=512, description="The user's id.")]


@router.get("/{user_id}/similar", response_model=app.SimilarUsersResult, summary="Users most like this one")
def similar(user_id: UserId, params: Annotated[app.SimilarUsersParams, Query()], store: StoreDep,
            settings: SettingsDep, _token: ReadToken) -> app.SimilarUsersResult:
    """Users whose profile embeddings are closest (needs: socialfusion profiles build)."""
    check_page_size(settings, params)
    return app.similar_users(store, user_id, params)


@router.get("/{user_id}/recommendations", response_model=app.RecommendationsResult,
            summary="Posts to recommend to this user")
def recommendations(user_id: UserId, params: Annotated[app.RecommendationsParams, Query()], store: StoreDep,
                    settings: SettingsDep, _token: ReadToken) -> app.RecommendationsResult:
    """Items from a recommender fitted with: socialfusion recommend fit."""
    check_page_size(settings, params)
    return app.recommendations(store, user_id, params)
