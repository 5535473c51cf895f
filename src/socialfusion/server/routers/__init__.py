"""One router per resource; ``API_ROUTERS`` are mounted under ``/api/v1``."""

from __future__ import annotations

from socialfusion.server.routers import (
    analyses,
    health,
    jobs,
    knowledge,
    network,
    posts,
    search,
    sentiment,
    store,
    tokens,
    topics,
    uploads,
    users,
)

__all__ = ["API_ROUTERS", "health"]

API_ROUTERS = [
    store.router,
    posts.router,
    search.router,
    sentiment.router,
    topics.router,
    analyses.router,
    network.router,
    users.router,
    knowledge.router,
    uploads.router,
    jobs.router,
    tokens.router,
]
