"""The live dashboard at ``/``: pages for an analyst over the same API and the same figure builders as the report.

``install_dashboard(app)`` mounts it on the FastAPI application: the pages and their login (a token exchanged for
a signed, HttpOnly, SameSite=Strict session cookie), the scripts and styles it serves itself (plotly.js from the
installed ``plotly`` package), a Content-Security-Policy that lets nothing else run or load, and the few JSON
routes the pages need beyond the API (``/api/v1/dashboard/...``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from socialfusion.server.dashboard._routes import PAGES, api_router, page_router, static_folder
from socialfusion.server.dashboard._session import CONTENT_SECURITY_POLICY, SessionMiddleware, Sessions
from socialfusion.server.middleware import API_PREFIX

__all__ = ["CONTENT_SECURITY_POLICY", "PAGES", "SessionMiddleware", "Sessions", "install_dashboard"]


def install_dashboard(application: FastAPI) -> None:
    """Add the dashboard's routes and static files; the caller adds ``SessionMiddleware`` outermost and puts the
    server's ``Sessions`` in ``application.state.sessions``."""
    application.include_router(page_router)
    application.include_router(api_router, prefix=API_PREFIX)
    application.mount("/ui/static", StaticFiles(directory=static_folder()), name="dashboard-static")
