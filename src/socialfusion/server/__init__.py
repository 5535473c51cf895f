"""The socialfusion service: a versioned JSON API (``/api/v1``) over one store, background jobs in worker
processes, API tokens with scopes, and offline docs at ``/docs``. Needs the ``server`` extra.

Examples:
    >>> from socialfusion.server import Settings
    >>> Settings(store="my.db").max_upload_bytes
    1073741824
"""

from __future__ import annotations

from socialfusion.server._server import check_bind, create_app, serve
from socialfusion.server.settings import Settings

__all__ = ["Settings", "check_bind", "create_app", "serve"]
