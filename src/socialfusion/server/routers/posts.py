"""``/api/v1/posts``: filtered, paginated queries; one post in detail; more like this post."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from socialfusion import app
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, check_page_size
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/posts", tags=["posts"], responses=ERROR_RESPONSES)

PostId = Annotated[str, Path(min_length=1, max_length=512, description="The post's id.")]


@router.get("", response_model=app.PostPage, summary="Posts matching filters, newest first")
def query_posts(
    params: Annotated[app.PostQuery, Query()], store: StoreDep, settings: SettingsDep, _token: ReadToken
) -> app.PostPage:
    """Every filter given must hold; pass ``next_cursor`` back as ``cursor`` for the next page."""
    check_page_size(settings, params)
    return app.query_posts(store, params)


@router.get("/{post_id}", response_model=app.PostDetail, summary="One post, its features, sentiment and topic")
def get_post(post_id: PostId, store: StoreDep, _token: ReadToken) -> app.PostDetail:
    """The post with which encoders hold it, its predicted sentiment and its topic."""
    return app.get_post(store, post_id)


@router.get("/{post_id}/similar", response_model=app.SimilarPostsResult, summary="More like this post")
def similar_posts(
    post_id: PostId,
    params: Annotated[app.SimilarPostsParams, Query()],
    store: StoreDep,
    settings: SettingsDep,
    _token: ReadToken,
) -> app.SimilarPostsResult:
    """The posts nearest to this one by its fused vector (every modality the store has vectors of) or by its text
    vector; ``vector`` in the answer says which."""
    check_page_size(settings, params)
    return app.similar_posts(store, post_id, params)
