"""``/api/v1/topics``: the store's fitted topics, and the topics of new texts under its topic model."""

from __future__ import annotations

from fastapi import APIRouter

from socialfusion import app
from socialfusion.server.deps import ReadToken, StoreDep
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/topics", tags=["topics"], responses=ERROR_RESPONSES)


@router.get("", response_model=app.StoredTopicsResult, summary="The store's topics")
def topics(store: StoreDep, _token: ReadToken) -> app.StoredTopicsResult:
    """The topics last fitted on the store (fit them with a fit_topics job, or: socialfusion topics fit --store
    DIR): each one's size, keywords, label and most representative posts, and how many posts have a topic."""
    return app.stored_topics(store)


@router.post("/assign", response_model=app.AssignTopicsResult, summary="Assign new texts to the fitted topics")
def assign(params: app.AssignTopicsParams, store: StoreDep, _token: ReadToken) -> app.AssignTopicsResult:
    """Each text's nearest topic (or -1, an outlier), embedded by the topic model's own text encoder (fit one with:
    socialfusion topics fit --store DIR)."""
    return app.assign_topics(store, params)
