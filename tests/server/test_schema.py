"""Property-based run over the whole OpenAPI schema: whatever schemathesis sends (valid and invalid), the API never
answers 5xx and every answer matches its documented status codes, content type, headers and schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import socialfusion as sf  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402

from .conftest import make_tokens  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


APPLICATION = create_app(Settings(store="not-yet"))  # the store is set before the lifespan starts, below
schema = schemathesis.openapi.from_dict(APPLICATION.openapi())
schema.app = APPLICATION  # calls go to the app in process (its lifespan is started by the fixture below)


@pytest.fixture(scope="module")
def admin(store_path) -> Iterator[dict[str, str]]:
    """The app's lifespan running over the test store (jobs are queued, never started); an admin token."""
    headers = make_tokens(sf.connect(store_path)).admin
    APPLICATION.state.settings = Settings(store=store_path, job_workers=0, rate_limit_per_second=1e6,
                                          rate_limit_burst=10**6, max_upload_bytes=1024**2)
    with TestClient(APPLICATION):
        yield headers


@schema.parametrize()
@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_violation(case, admin):
    if case.path.endswith("/events"):  # a stream that lasts as long as its job: the job tests read it
        return
    # a generous timeout: the first call of an analysis computes it (seconds on a busy 2-CPU machine)
    case.call_and_validate(headers=admin, checks=CHECKS, timeout=120)
