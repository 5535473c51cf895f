"""A small featurized store, API tokens and a client, shared by the server tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import socialfusion as sf  # noqa: E402
from socialfusion import app  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402

TEXT_ENCODER = "text/minilm-int8"


class Tokens(NamedTuple):
    """One token per scope, and a revoked one (each as ``{"Authorization": "Bearer ..."}``)."""

    admin: dict[str, str]
    write: dict[str, str]
    read: dict[str, str]
    revoked: dict[str, str]


def build_store(path: Path) -> sf.Store:
    """A synthetic network of 40 users and ~150 posts, with MiniLM text features."""
    from socialfusion.featurize import featurize

    store = sf.connect(path)
    sf.ingest_corpus(sf.generate(n_users=40, n_posts=120, seed=0).corpus, store)
    featurize(store, [TEXT_ENCODER])
    return store


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_tokens(store: sf.Store) -> Tokens:
    made = {scope: app.create_token(store, app.TokenParams(name=scope, scopes=[scope])).token
            for scope in ("admin", "write", "read")}
    revoked = app.create_token(store, app.TokenParams(name="old", scopes=["admin"]))
    app.revoke_token(store, revoked.info.token_id)
    return Tokens(**{scope: bearer(token) for scope, token in made.items()}, revoked=bearer(revoked.token))


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("served") / "store"
    build_store(path)
    return path


@pytest.fixture(scope="module")
def tokens(store_path: Path) -> Tokens:
    return make_tokens(sf.connect(store_path))


@pytest.fixture(scope="module")
def client(store_path: Path, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=store_path, event_poll_seconds=0.1))) as test_client:
        yield test_client
