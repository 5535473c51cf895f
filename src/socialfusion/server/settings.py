"""The server's one ``Settings`` class: every limit, from ``socialfusion serve`` flags or SOCIALFUSION_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialfusion.app import MAX_K

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Server settings: a flag of ``socialfusion serve`` wins over the environment variable ``SOCIALFUSION_<NAME>``
    (``SOCIALFUSION_MAX_UPLOAD_BYTES=...``), which wins over the default.

    Attributes:
        store: the store folder served.
        host: the address to bind; anything but a loopback address needs at least one API token.
        port: the TCP port.
        workers: server processes answering requests (uvicorn workers sharing the port); each holds its own copy
            of the posts in memory, its own rate limits and its own job runner.
        workspace: where uploads and reports go; default: ``uploads/`` and ``reports/`` inside the store folder.
        max_upload_bytes: the largest upload (streamed to disk; a larger one is refused with 413).
        max_json_bytes: the largest JSON request body (413 above).
        max_page_size: the most rows a page or a ``k`` may ask for (at most 1000).
        rate_limit_per_second: requests each token may make per second, on average (429 with Retry-After above).
        rate_limit_burst: requests a token may make at once before the average applies.
        auth_failure_burst: invalid tokens one client address may send before it is throttled (429 with
            Retry-After on every request that needs a token).
        auth_failures_per_minute: invalid tokens a throttled address may then send per minute, on average.
        request_timeout_seconds: a request running longer is answered 504 (event streams and uploads excepted).
        job_workers: jobs run at once, each in its own worker process (0: jobs are queued, never started).
        event_poll_seconds: how often an event stream looks at its job.
        posts_in_memory: hold the posts (without media bytes) in memory, refreshed when the table changes, so that
            post lookups and filters read memory (``socialfusion.query.keep_posts_in_memory``).
        session_key: the key signing dashboard session cookies (at least 32 characters), shared by the server's
            processes; unset: a random one per start, so a restart logs everyone out.
        monitor_config: the ``socialfusion monitor`` configuration that ``monitor`` jobs run (chosen by whoever starts
            the server, never by a request: its webhooks and files are the operator's); None: no monitor jobs.
    """

    model_config = SettingsConfigDict(env_prefix="SOCIALFUSION_", extra="forbid")

    store: Path = Field(Path("socialfusion.db"))
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    workspace: Path | None = None
    max_upload_bytes: int = Field(1024**3, ge=1)
    max_json_bytes: int = Field(1024**2, ge=1024)
    max_page_size: int = Field(MAX_K, ge=1, le=MAX_K)
    rate_limit_per_second: float = Field(50.0, gt=0)
    rate_limit_burst: int = Field(100, ge=1)
    auth_failure_burst: int = Field(10, ge=1)
    auth_failures_per_minute: float = Field(6.0, gt=0)
    request_timeout_seconds: float = Field(60.0, gt=0)
    job_workers: int = Field(1, ge=0, le=64)
    event_poll_seconds: float = Field(0.25, gt=0, le=10)
    posts_in_memory: bool = True
    session_key: SecretStr | None = Field(None, min_length=32)
    monitor_config: Path | None = None

    def environment(self) -> dict[str, str]:
        """These settings as SOCIALFUSION_* variables, which ``Settings()`` reads back (in a server's worker
        processes)."""
        variables = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            variables[f"SOCIALFUSION_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return variables

    def workspace_folder(self) -> Path:
        """The folder of uploads and reports."""
        return self.workspace if self.workspace is not None else self.store
