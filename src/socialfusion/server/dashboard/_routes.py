"""The dashboard's pages (``/`` and ``/ui/...``), its login and logout, its static files, and the thin JSON routes
its pages need beyond the API (``/api/v1/dashboard/...``, left out of the OpenAPI document)."""

from __future__ import annotations

import math
import secrets
import urllib.parse
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

import socialfusion
from socialfusion.app._common import Identifier
from socialfusion.app._tokens import TokenInfo, grants
from socialfusion.server.dashboard import _data
from socialfusion.server.dashboard._session import (
    CHART_CONTENT_SECURITY_POLICY,
    SESSION_COOKIE,
    Session,
    Sessions,
    cookie_value,
    csrf_matches,
)
from socialfusion.server.deps import ReadToken, StoreDep
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["PAGES", "api_router", "page_router", "plotly_js", "static_folder"]

PAGES = {
    "overview": "Overview",
    "posts": "Posts",
    "topics": "Topics and trends",
    "opinion": "Public opinion",
    "network": "Network",
    "users": "Users",
    "jobs": "Jobs",
}
"""The dashboard's pages: ``/`` is the overview, the others are ``/ui/<name>``."""

CHART_PAGES = frozenset({"overview", "topics", "opinion", "network"})
"""The pages that draw Plotly charts (and load plotly.js); the others keep a policy without inline styles."""

LOGIN_COOKIE = "sf_login"
MAX_LOGIN_FORM_BYTES = 4096

page_router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/dashboard", include_in_schema=False, responses=ERROR_RESPONSES)


def static_folder() -> Path:
    """The dashboard's own scripts and styles, inside the package."""
    return Path(str(resources.files("socialfusion.server.dashboard").joinpath("static")))


def plotly_js() -> Path:
    """plotly.js as the installed ``plotly`` package ships it: the full bundle, served once and cached by the
    browser (the HTML report inlines the smaller basic bundle when its figures allow, ``BASIC_PLOTLY_TRACES``)."""
    return Path(str(resources.files("plotly").joinpath("package_data/plotly.min.js")))


@cache
def _templates() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("socialfusion.server.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    page = _templates().get_template(template).render(version=socialfusion.__version__, pages=PAGES, **values)
    return HTMLResponse(page, status_code=status)


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def _cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/") -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="strict", secure=request.url.scheme == "https")


async def _live_session(request: Request) -> tuple[Session, TokenInfo] | None:
    """The request's session and its token's info when the token still works (a revoked token ends the session)."""
    session: Session | None = request.scope.get("state", {}).get("session")
    if session is None:
        return None
    info = await run_in_threadpool(request.app.state.verifier.verify_id, session.token_id)
    return None if info is None else (session, info)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


async def _page(request: Request, name: str) -> Response:
    live = await _live_session(request)
    if live is None:
        return _to_login()
    session, info = live
    response = _render(
        f"{name}.html", page=name, title=PAGES[name], csrf=session.csrf, can_write=grants(info.scopes, "write")
    )
    if name in CHART_PAGES:
        response.headers["Content-Security-Policy"] = CHART_CONTENT_SECURITY_POLICY
    return response


@page_router.get("/")
async def overview(request: Request) -> Response:
    return await _page(request, "overview")


def _login_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(32)
    response = _render("login.html", status=status, page="login", title="Log in", csrf=nonce, message=message)
    _cookie(response, request, LOGIN_COOKIE, nonce, path="/ui/login")
    return response


@page_router.get("/ui/login")
async def login_form(request: Request) -> Response:
    if await _live_session(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


async def _form(request: Request) -> dict[str, str]:
    """An URL-encoded form body (the login and logout forms; a larger body is refused)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_FORM_BYTES:
            return {}
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


@page_router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    if not csrf_matches(cookie_value(request.scope, LOGIN_COOKIE) or "", form.get("csrf")):
        return _login_page(request, "The form expired or came from another site: please log in again.", 403)
    # failed logins are throttled per client address, with the API's failed tokens (the same bucket)
    failures = getattr(request.app.state, "auth_failures", None)
    address = request.client.host if request.client else "unknown"
    wait = failures.wait(address) if failures is not None else 0.0
    if wait > 0:
        response = _login_page(request, f"Too many failed attempts: try again in {math.ceil(wait)} s.", 429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    token = form.get("token", "").strip()
    info = await run_in_threadpool(request.app.state.verifier.verify, token) if token else None
    if info is None:
        if failures is not None:
            failures.acquire(address)
        return _login_page(request, "Invalid or revoked token.", 401)
    value, _ = _sessions(request).create(info.token_id)
    response = RedirectResponse("/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, value)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login", httponly=True, samesite="strict")
    return response


@page_router.post("/ui/logout")
async def logout(request: Request) -> Response:
    session: Session | None = request.scope.get("state", {}).get("session")
    form = await _form(request)
    if session is None:
        return _to_login()
    if not csrf_matches(session.csrf, form.get("csrf")):
        return HTMLResponse("Forbidden: missing or wrong CSRF token.", status_code=403)
    await run_in_threadpool(_sessions(request).end, session)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@page_router.get("/ui/static/plotly.min.js")
def plotly_script() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript")


@page_router.get("/ui/{name}")
async def page(name: str, request: Request) -> Response:
    if name not in PAGES or name == "overview":
        return HTMLResponse("Not found.", status_code=404) if name != "overview" else RedirectResponse("/", 303)
    return await _page(request, name)


# -- JSON the pages need beyond the API ----------------------------------------------------------------------------


@api_router.get("/sections/{key}")
def section(
    key: str, params: Annotated[_data.SectionParams, Query()], store: StoreDep, _token: ReadToken
) -> dict[str, Any]:
    """A report card over the store (optionally of some days and one topic), figures as Plotly JSON."""
    return _data.section_json(store, key, params)


@api_router.get("/topics")
def topic_list(store: StoreDep, _token: ReadToken) -> list[dict[str, Any]]:
    """The store's topics with their labels, sizes and colours."""
    return _data.topics(store)


@api_router.get("/annotations")
def annotations(
    store: StoreDep, _token: ReadToken, post_id: Annotated[list[str], Query(max_length=_data.MAX_ANNOTATED)] = ()
) -> dict[str, Any]:
    """Sentiment and topic of each post id given (``?post_id=a&post_id=b``)."""
    return _data.annotations(store, _data.parse_ids(list(post_id)))


@api_router.get("/media/{post_id}/{index}")
def media(post_id: Identifier, index: int, store: StoreDep, _token: ReadToken) -> Response:
    """A PNG thumbnail of a post's image."""
    return Response(
        _data.thumbnail(store, post_id, index),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@api_router.get("/users/{user_id}")
def user(user_id: Identifier, store: StoreDep, _token: ReadToken) -> dict[str, Any]:
    """A user's profile card."""
    return _data.user_card(store, user_id)
