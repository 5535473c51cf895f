"""One router per resource; ``API_ROUTERS`` are mounted under ``/api/v1``."""

from __future__ import annotations

from socialfusion.server.routers import (
    analyses,
    health,
    jobs,
    knowledge,
    posts,
    search,
    sentiment,
    store,
    tokens,
    uploads,
    users,
)

__all__ = ["API_ROUTERS", "health"]

API_ROUTERS = [store.router, posts.router, search.router, sentiment.router, analyses.router, users.router,
               knowledge.router, uploads.router, jobs.router, tokens.router]
