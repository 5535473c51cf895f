"""``/api/v1/sentiment``: the sentiment of a new text."""

from __future__ import annotations

from fastapi import APIRouter

from socialfusion import app
from socialfusion.server.deps import ReadToken, StoreDep
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["sentiment"], responses=ERROR_RESPONSES)


@router.post("/sentiment", response_model=app.SentimentResult, summary="Predict the sentiment of a text")
def predict(params: app.SentimentParams, store: StoreDep, _token: ReadToken) -> app.SentimentResult:
    """The store's trained model when it has one that reads text, else the lexicons (VADER, snownlp)."""
    return app.predict_sentiment(store, params)
