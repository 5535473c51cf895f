"""The FastAPI application (``create_app``) and ``serve``, which runs it on uvicorn."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import socialfusion
from socialfusion.app import has_tokens, interrupt_orphans, set_monitor_config
from socialfusion.exceptions import ConfigurationError
from socialfusion.privacy import KEY_ENV_VAR
from socialfusion.query import keep_posts_in_memory
from socialfusion.server.dashboard import SessionMiddleware, Sessions, install_dashboard
from socialfusion.server.errors import install_error_handlers
from socialfusion.server.jobs import JobRunner, pid_alive
from socialfusion.server.middleware import (
    API_PREFIX,
    AuthMiddleware,
    BodyLimitMiddleware,
    RateLimiter,
    TimeoutMiddleware,
    TokenVerifier,
)
from socialfusion.server.routers import API_ROUTERS, health
from socialfusion.server.settings import Settings
from socialfusion.store import connect

__all__ = ["check_bind", "create_app", "docs_assets", "serve"]

logger = logging.getLogger(__name__)

DOCS_ASSETS_PACKAGE = "fastapi_offline"
"""The installed package whose ``static/`` folder holds Swagger UI's files (the docs load nothing from a CDN)."""


def docs_assets() -> Path:
    """The folder of Swagger UI's JavaScript and CSS, inside an installed package.

    Raises:
        MissingDependencyError: the ``server`` extra is not installed.
    """
    from socialfusion.exceptions import MissingDependencyError

    spec = importlib.util.find_spec(DOCS_ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"{DOCS_ASSETS_PACKAGE!r} (Swagger UI's files) is required for /docs; install "
            "it with: pip install 'socialfusion[server]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _open_store(settings: Settings):
    if not settings.store.is_dir():
        raise ConfigurationError(
            f"no store at {settings.store}; create one with: socialfusion ingest PATH --store {settings.store}"
        )
    return connect(settings.store)


@contextlib.asynccontextmanager
async def _lifespan(application: FastAPI) -> AsyncIterator[None]:
    settings: Settings = application.state.settings
    os.environ.pop(KEY_ENV_VAR, None)  # the server never holds the pseudonymisation key: no route can un-pseudonymise
    store = _open_store(settings)
    owner = secrets.token_hex(8)
    workspace = settings.workspace_folder()
    (workspace / "uploads").mkdir(parents=True, exist_ok=True)
    set_monitor_config(workspace, settings.monitor_config)
    interrupted = interrupt_orphans(store, owner, pid_alive)
    if interrupted:
        logger.warning("%d jobs of a server that stopped are marked interrupted: %s", len(interrupted), interrupted)
    runner = JobRunner(store, workspace, owner, workers=settings.job_workers)
    posts = keep_posts_in_memory(store) if settings.posts_in_memory else None
    application.state.store = store
    key = settings.session_key.get_secret_value().encode() if settings.session_key is not None else None
    application.state.sessions = Sessions(key)
    application.state.sessions.attach(store)
    application.state.verifier = TokenVerifier(store)
    application.state.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    application.state.auth_failures = RateLimiter(settings.auth_failures_per_minute / 60, settings.auth_failure_burst)
    application.state.runner = runner
    runner.start()
    try:
        yield
    finally:
        runner.stop()
        if posts is not None:
            posts.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The socialfusion API over one store: ``/api/v1/...``, ``/health``, and the docs at ``/docs``.

    Args:
        settings: limits and the store; default: from SOCIALFUSION_* variables.
    """
    settings = settings or Settings()
    application = FastAPI(
        title="socialfusion",
        version=socialfusion.__version__,
        lifespan=_lifespan,
        description="Multimodal social-media analysis over one store. Every route but /health needs a bearer token "
        "(socialfusion tokens create).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    application.state.settings = settings
    install_error_handlers(application)
    application.include_router(health.router)
    for router in API_ROUTERS:
        application.include_router(router, prefix=API_PREFIX)
    application.mount("/docs/assets", StaticFiles(directory=docs_assets()), name="docs-assets")
    install_dashboard(application)

    @application.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=application.openapi_url,
            title="socialfusion API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
        )

    # added last is outermost: time limit, then who is calling, then how large the body is
    state = application.state  # read at each request: the settings may be replaced before the server starts
    application.add_middleware(BodyLimitMiddleware, limit=lambda: state.settings.max_json_bytes)
    application.add_middleware(
        AuthMiddleware,
        verifier=lambda: state.verifier,
        limiter=lambda: state.limiter,
        failures=lambda: state.auth_failures,
    )
    application.add_middleware(TimeoutMiddleware, timeout=lambda: state.settings.request_timeout_seconds)
    # outermost: the dashboard's session cookie stands in for the bearer token (with CSRF checks)
    application.add_middleware(SessionMiddleware, sessions=lambda: state.sessions)
    return application


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """Refuse to bind beyond this machine (any address but a loopback one) while the store has no API token.

    Raises:
        ConfigurationError: a non-loopback host and no token; or no store at ``settings.store``.
    """
    store = _open_store(settings)
    if not _is_loopback(settings.host) and not has_tokens(store):
        raise ConfigurationError(
            f"refusing to listen on {settings.host}: the store has no API token, so the API would be reachable "
            f"from other machines without one being possible; create one first (socialfusion tokens create --store "
            f"{settings.store}) or bind to 127.0.0.1"
        )


def serve(settings: Settings) -> None:
    """Run the API on uvicorn until interrupted (see ``check_bind`` for where it may listen).

    With ``settings.workers`` above 1, uvicorn starts that many processes on one port; each builds the application
    from the settings, passed as SOCIALFUSION_* variables, with one dashboard session key for all of them (drawn
    now unless ``settings.session_key`` is set).
    """
    import uvicorn
    from pydantic import SecretStr

    check_bind(settings)
    options = {"host": settings.host, "port": settings.port, "log_level": "info", "timeout_graceful_shutdown": 10}
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    key = settings.session_key or SecretStr(secrets.token_urlsafe(32))
    os.environ.update(settings.model_copy(update={"session_key": key}).environment())
    uvicorn.run(f"{__name__}:create_app", factory=True, workers=settings.workers, **options)
