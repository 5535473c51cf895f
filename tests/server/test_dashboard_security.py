"""The dashboard's access control without a browser: logging in, forged session cookies, CSRF on every form and
state-changing route, the Content-Security-Policy of its pages, its data routes, and a pseudonymised store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import socialfusion as sf  # noqa: E402
from socialfusion import app  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402
from socialfusion.server.dashboard import PAGES, Sessions  # noqa: E402

from .conftest import Tokens, bearer, make_tokens  # noqa: E402

API = "/api/v1"
PAGE_PATHS = ["/" if name == "overview" else f"/ui/{name}" for name in PAGES]


def _secret(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _login_nonce(client: TestClient) -> str:
    page = client.get("/ui/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def log_in(client: TestClient, token: str) -> str:
    """Log in through the form; returns the session's CSRF token (from the page's meta tag)."""
    answer = client.post("/ui/login", data={"token": token, "csrf": _login_nonce(client)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


@pytest.fixture(scope="module")
def dashboard_app(store_path: Path, tokens: Tokens) -> Iterator[object]:
    # job_workers=0: jobs are queued, never run (these tests check who may start them, not what they do)
    with TestClient(create_app(Settings(store=store_path, job_workers=0))) as client:
        yield client.app


@pytest.fixture
def browser(dashboard_app) -> Iterator[TestClient]:
    """A client with its own cookie jar (a browser), over the module's server."""
    yield TestClient(dashboard_app, base_url="http://127.0.0.1")  # no `with`: the module's client ran the lifespan


def test_pages_send_you_to_log_in(browser: TestClient) -> None:
    for path in PAGE_PATHS:
        answer = browser.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login", path
    assert browser.get(f"{API}/stats").status_code == 401
    assert browser.get("/ui/nowhere").status_code == 404


def test_login_sets_a_strict_httponly_session_cookie(browser: TestClient, tokens: Tokens) -> None:
    token = _secret(tokens.read)
    answer = browser.post("/ui/login", data={"token": token, "csrf": _login_nonce(browser)}, follow_redirects=False)
    cookie = next(value for value in answer.headers.get_list("set-cookie") if value.startswith("sf_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    # the token stays server-side: neither it nor its secret (after "sf_<id>_"; it may hold "_" itself) is in it
    assert token not in cookie and token.split("_", 2)[2] not in cookie
    assert browser.get("/").status_code == 200
    assert browser.get(f"{API}/stats").json()["tables"]["posts"] > 0  # the cookie works on the API


def test_bad_logins_are_refused(browser: TestClient, tokens: Tokens) -> None:
    token = _secret(tokens.read)
    nonce = _login_nonce(browser)
    assert browser.post("/ui/login", data={"token": token}).status_code == 403  # no CSRF field
    assert browser.post("/ui/login", data={"token": token, "csrf": "guess"}).status_code == 403
    browser.cookies.clear()  # a form posted from another site carries no login cookie
    assert browser.post("/ui/login", data={"token": token, "csrf": nonce}).status_code == 403
    for bad in (_secret(tokens.revoked), "sf_0123456789abcdef_" + "A" * 43, "not a token", ""):
        answer = browser.post("/ui/login", data={"token": bad, "csrf": _login_nonce(browser)}, follow_redirects=False)
        assert answer.status_code == 401 and "Invalid or revoked token." in answer.text, bad
        assert "sf_session" not in answer.headers.get("set-cookie", "")
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_failed_logins_are_throttled(store_path: Path, tokens: Tokens) -> None:
    settings = Settings(store=store_path, job_workers=0, auth_failure_burst=2, auth_failures_per_minute=1)
    with TestClient(create_app(settings)) as client:
        codes = [
            client.post(
                "/ui/login", data={"token": "sf_0123456789abcdef_" + "A" * 43, "csrf": _login_nonce(client)}
            ).status_code
            for _ in range(3)
        ]
        assert codes == [401, 401, 429]
        refused = client.post("/ui/login", data={"token": _secret(tokens.read), "csrf": _login_nonce(client)})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # even a good token waits
        assert client.get(f"{API}/stats", headers=tokens.read).status_code == 429  # one bucket with the API's


def _forgeries(dashboard_app, tokens: Tokens) -> list[str]:
    """Cookie values an attacker might try, all for the admin token: junk, a valid-looking session with no or a
    wrong signature, a real session of another server (signed with its key), and a real session of this one with
    one character of its signature changed or another field altered."""
    token_id = _secret(tokens.admin).split("_")[1]
    real = Sessions().create(token_id)[0]  # another server's key
    ours = dashboard_app.state.sessions.create(token_id)[0]
    body, _, signature = ours.rpartition(".")
    session_id, _, created, seen = body.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        "junk",
        session_id,
        f"{body}.",
        f"{body}",
        f"{body}.{'A' * len(signature)}",
        real,
        f"{body}.{flipped}",
        f"x{body}.{signature}",
        f"{session_id}.{token_id}.{created}.{int(seen) + 1}.{signature}",
        "",
    ]


def test_forged_session_cookies_are_refused(browser: TestClient, dashboard_app, tokens: Tokens) -> None:
    for value in _forgeries(dashboard_app, tokens):
        browser.cookies.set("sf_session", value, domain="127.0.0.1", path="/")
        page = browser.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/ui/login", value
        assert browser.get(f"{API}/stats").status_code == 401, value
        assert browser.post(
            f"{API}/tokens", json={"name": "evil", "scopes": ["admin"]}, headers={"X-CSRF-Token": "x"}
        ).status_code in (401, 403), value
    assert [info.name for info in app.list_tokens(sf.connect(dashboard_app.state.settings.store))].count("evil") == 0


def _state_changing(client: TestClient, tokens: Tokens) -> list[tuple[str, str, dict]]:
    """Every state-changing route the dashboard can call, with a valid request body."""
    job = client.post(f"{API}/jobs", json={"kind": "featurize"}, headers=tokens.write).json()["job_id"]
    done = client.post(f"{API}/jobs", json={"kind": "analyze"}, headers=tokens.write).json()["job_id"]
    client.post(f"{API}/jobs/{done}/cancel", headers=tokens.write)
    victim = app.create_token(sf.connect(client.app.state.settings.store), app.TokenParams(name="victim")).info.token_id
    return [
        ("POST", f"{API}/search", {"json": {"query": "music", "mode": "keyword"}}),
        ("POST", f"{API}/sentiment", {"json": {"text": "I love it"}}),
        ("POST", f"{API}/uploads", {"files": {"file": ("posts.jsonl", b'{"post_id": "z1", "text": "hi"}\n')}}),
        ("POST", f"{API}/jobs", {"json": {"kind": "fit_topics"}}),
        ("POST", f"{API}/jobs/{job}/cancel", {}),
        ("POST", f"{API}/jobs/{done}/rerun", {}),
        ("POST", f"{API}/tokens", {"json": {"name": "made-by-dashboard", "scopes": ["read"]}}),
        ("DELETE", f"{API}/tokens/{victim}", {}),
    ]


def test_csrf_is_checked_on_every_state_changing_request(browser: TestClient, tokens: Tokens) -> None:
    csrf = log_in(browser, _secret(tokens.admin))
    store = sf.connect(browser.app.state.settings.store)
    for method, path, body in _state_changing(browser, tokens):
        tokens_before = len(app.list_tokens(store))
        jobs_before = len(app.list_jobs(store, app.JobListParams(limit=1000)))
        for sent in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
            answer = browser.request(method, path, headers=sent, **body)
            assert answer.status_code == 403 and "CSRF" in answer.json()["error"]["message"], (method, path, sent)
        assert (
            len(app.list_tokens(store)) == tokens_before
            and len(app.list_jobs(store, app.JobListParams(limit=1000))) == jobs_before
        ), (method, path)
        answer = browser.request(method, path, headers={"X-CSRF-Token": csrf}, **body)
        assert answer.status_code < 300, (method, path, answer.text)
    # the logout form checks its hidden field
    assert browser.post("/ui/logout", data={}).status_code == 403
    assert browser.post("/ui/logout", data={"csrf": "wrong"}).status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 200  # still logged in
    answer = browser.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert browser.get(f"{API}/stats").status_code == 401


def test_api_clients_with_a_bearer_token_need_no_csrf(browser: TestClient, tokens: Tokens) -> None:
    log_in(browser, _secret(tokens.read))  # a session cookie is there too, with the read scope
    answer = browser.post(f"{API}/search", json={"query": "music", "mode": "keyword"}, headers=tokens.write)
    assert answer.status_code == 200
    job = browser.post(f"{API}/jobs", json={"kind": "featurize"}, headers=tokens.write)
    assert job.status_code == 202  # the bearer token's scope counts, not the cookie's


def test_a_read_session_cannot_write(browser: TestClient, tokens: Tokens) -> None:
    csrf = log_in(browser, _secret(tokens.read))
    answer = browser.post(f"{API}/jobs", json={"kind": "featurize"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403 and "'write'" in answer.json()["error"]["message"]
    assert 'id="upload-form"' not in browser.get("/ui/jobs").text


def test_revoking_the_token_ends_its_sessions(browser: TestClient, tokens: Tokens) -> None:
    made = app.create_token(sf.connect(browser.app.state.settings.store), app.TokenParams(name="short-lived"))
    log_in(browser, made.token)
    assert browser.get(f"{API}/stats").status_code == 200
    assert browser.delete(f"{API}/tokens/{made.info.token_id}", headers=tokens.admin).status_code == 200
    assert browser.get(f"{API}/stats").status_code == 401
    answer = browser.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"


def test_pages_allow_only_the_servers_own_scripts(browser: TestClient, tokens: Tokens) -> None:
    log_in(browser, _secret(tokens.read))
    for path in [*PAGE_PATHS, "/ui/login"]:
        answer = browser.get(path)
        policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'", path
        assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'", path
        assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script\b[^>]*>", answer.text)
        assert all(re.search(r'\bsrc="/ui/static/[a-z.]+"', script) for script in scripts), path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", answer.text), f"{path}: an inline event handler"
    plotly = browser.get("/ui/static/plotly.min.js")
    assert plotly.status_code == 200 and plotly.content.startswith(b"/**\n* plotly.js v")
    assert "no-store" not in plotly.headers.get("cache-control", "")


def test_dashboard_data_routes(browser: TestClient, tokens: Tokens) -> None:
    log_in(browser, _secret(tokens.read))
    overview = browser.get(f"{API}/dashboard/sections/overview").json()
    figures = [block for block in overview["blocks"] if block["type"] == "figure"]
    assert overview["key"] == "overview" and figures and all(block["figure"]["data"] for block in figures)
    assert "overview-activity" in {block["id"] for block in figures}
    narrow = browser.get(f"{API}/dashboard/sections/overview?since=2099-01-01").json()
    assert narrow["blocks"][0]["type"] == "metrics" and ["posts", "0"] in narrow["blocks"][0]["values"]
    assert browser.get(f"{API}/dashboard/sections/knowledge").status_code == 422
    assert browser.get(f"{API}/dashboard/sections/trends?since=2024-05-02&until=2024-05-01").status_code == 422
    assert browser.get(f"{API}/dashboard/sections/trends?topic_id=1").status_code == 404  # no topics in this store
    assert browser.get(f"{API}/dashboard/sections/overview", headers=tokens.read).status_code == 200  # bearer too
    posts = browser.get(f"{API}/posts?limit=200").json()["posts"]
    with_image = next(post for post in posts if any(item["kind"] == "image" for item in post["media"]))
    index = next(i for i, item in enumerate(with_image["media"]) if item["kind"] == "image")
    thumb = browser.get(f"{API}/dashboard/media/{with_image['post_id']}/{index}")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    assert browser.get(f"{API}/dashboard/media/{with_image['post_id']}/99").status_code == 404
    assert browser.get(f"{API}/dashboard/media/no-such-post/0").status_code == 404
    with_other = next((post for post in posts if any(item["kind"] != "image" for item in post["media"])), None)
    if with_other is not None:
        other = next(i for i, item in enumerate(with_other["media"]) if item["kind"] != "image")
        assert browser.get(f"{API}/dashboard/media/{with_other['post_id']}/{other}").status_code == 422
    ids = [post["post_id"] for post in posts[:3]]
    notes = browser.get(f"{API}/dashboard/annotations", params={"post_id": ids}).json()
    assert set(notes) == set(ids)  # no sentiment or topics in this store: empty notes, every id answered
    too_many = browser.get(f"{API}/dashboard/annotations", params={"post_id": [f"p{i}" for i in range(201)]})
    assert too_many.status_code == 422
    author = posts[0]["author_id"]
    card = browser.get(f"{API}/dashboard/users/{author}").json()
    assert card["user"]["user_id"] == author and card["posts"] >= 1 and card["recommenders"] == []
    assert browser.get(f"{API}/dashboard/users/nobody-at-all").status_code == 404


def test_a_pseudonymised_store_shows_no_raw_id(tmp_path: Path) -> None:
    network = sf.generate(n_users=15, n_posts=40, seed=3)
    store = sf.connect(tmp_path / "pseudo")
    sf.ingest_corpus(network.corpus, store, pseudonymize_key="a secret key of the data owner")
    token = _secret(make_tokens(store).read)
    users = network.corpus.users.to_pylist()
    raw = {user["user_id"] for user in users} | {user["handle"] for user in users if user["handle"]}
    with TestClient(create_app(Settings(store=tmp_path / "pseudo", job_workers=0))) as client:
        log_in(client, token)
        answers = [client.get(f"{API}/dashboard/sections/{key}").text for key in ("overview", "network")]
        posts = client.get(f"{API}/posts?limit=100").json()["posts"]
        author = posts[0]["author_id"]
        answers += [
            json.dumps(posts),
            client.get(f"{API}/dashboard/users/{author}").text,
            client.get(f"{API}/dashboard/annotations", params={"post_id": [p["post_id"] for p in posts]}).text,
        ]
    assert author.startswith("anon_")
    leaked = {value for value in raw for text in answers if re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text)}
    assert leaked == set()


def test_bearer_header_is_unchanged_for_api_clients(browser: TestClient, tokens: Tokens) -> None:
    assert browser.get(f"{API}/stats", headers=tokens.read).status_code == 200
    assert browser.get(f"{API}/stats", headers=bearer("sf_0123456789abcdef_" + "A" * 43)).status_code == 401
    assert browser.get(f"{API}/stats", headers=tokens.revoked).status_code == 401
