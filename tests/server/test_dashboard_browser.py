"""The dashboard in real headless Chromium against a running server: log in with a token, open every page, filter,
drill down, search, upload a file and watch its job, and open a post planted with script payloads.

Every page must show no console error, no failed request and no request to anything but the server itself (a
route aborts those and records them). A failing test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")

import socialfusion as sf  # noqa: E402
from socialfusion import app  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402

from .conftest import TEXT_ENCODER  # noqa: E402


def _report_browser_helpers():
    """tests/report/_browser.py (Chromium's path and flags), shared with the report's browser tests."""
    import importlib.util

    path = Path(__file__).parents[1] / "report" / "_browser.py"
    spec = importlib.util.spec_from_file_location("report_browser", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HELPERS = _report_browser_helpers()
CHROMIUM_ARGS, VIEWPORT, chromium = _HELPERS.CHROMIUM_ARGS, _HELPERS.VIEWPORT, _HELPERS.chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAGES = {
    "overview": "/",
    "posts": "/ui/posts",
    "topics": "/ui/topics",
    "opinion": "/ui/opinion",
    "network": "/ui/network",
    "users": "/ui/users",
    "jobs": "/ui/jobs",
}
# what each page shows once its data is in: a selector that must match
PAGE_CONTENT = {
    "overview": "#card-overview .plot .main-svg",
    "posts": "#posts tr.post-row",
    "topics": "#card-trends .plot .main-svg",
    "opinion": "#card-opinion .plot .main-svg",
    "network": "#influencers tbody tr",
    "users": "#profile dd",
    "jobs": "#counts .metric",
}
HOSTILE_TEXT = "<script>window.__pwned = 1; alert('script')</script><img src=x onerror=\"alert('img')\"> hello"
HOSTILE_HASHTAG = "<img src=x onerror=alert(2)>"
HOSTILE_HANDLE = "<b onmouseover=alert(3)>bold</b>"


def _hostile_corpus() -> sf.Corpus:
    """One user and one post whose text, hashtag and handle carry markup and script."""
    return sf.Corpus.from_records(
        posts=[
            {
                "post_id": "hostile-1",
                "author_id": "hostile-user",
                "text": HOSTILE_TEXT,
                "hashtags": [HOSTILE_HASHTAG],
                "created_at": "2024-03-10T12:00:00Z",
                "lang": "en",
            }
        ],
        users=[{"user_id": "hostile-user", "handle": HOSTILE_HANDLE, "display_name": "<i>x</i>"}],
    )


def _build_store(path: Path) -> None:
    """60 users, ~300 posts and a hostile post; MiniLM features, a sentiment model, 5 topics, profiles and a
    popularity recommender."""
    from typer.testing import CliRunner

    from socialfusion.cli import app as cli
    from socialfusion.featurize import featurize
    from socialfusion.monitor._state import Alert, EvidencePost, write_alerts

    store = sf.connect(path)
    sf.ingest_corpus(sf.generate(n_users=60, n_posts=300, seed=3).corpus, store)
    sf.ingest_corpus(_hostile_corpus(), store)
    featurize(store, [TEXT_ENCODER, "text/lexicon"])
    app.train_sentiment(store, app.TrainSentimentParams(encoders={"lexicon": "text/lexicon"}))
    app.fit_topics(store, app.FitTopicsParams(text_encoder=TEXT_ENCODER, n_topics=5))
    fired = dt.datetime(2024, 3, 10, 13, tzinfo=dt.UTC)  # an alert of socialfusion monitor, with the hostile post
    write_alerts(store, [Alert(alert_id="m1", rule="anger-rising", kind="opinion", subject="transit",
                               title="negative share rose", fired_at=fired, numbers={"z": 4.21},
                               posts=[EvidencePost(post_id="hostile-1", text=HOSTILE_TEXT)])])
    runner = CliRunner()
    for command in (
        ["profiles", "build", "--store", str(path), "--text-encoder", TEXT_ENCODER],
        ["recommend", "fit", "--store", str(path), "--model", "popularity"],
    ):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, result.output


@dataclass
class Served:
    """A running server: its address, a read token and a write token."""

    url: str
    read: str
    write: str
    store: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn

    path = tmp_path_factory.mktemp("dashboard") / "store"
    _build_store(path)
    store = sf.connect(path)
    read = app.create_token(store, app.TokenParams(name="analyst", scopes=["read"])).token
    write = app.create_token(store, app.TokenParams(name="pipeline", scopes=["write"])).token
    port = _free_port()
    settings = Settings(store=path, port=port, event_poll_seconds=0.1)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield Served(url=f"http://127.0.0.1:{port}", read=read, write=write, store=path)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and everything that went wrong on it."""

    page: object
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {
            name: values
            for name, values in (
                ("console errors", self.errors),
                ("failed requests", self.failed),
                ("requests leaving the server", self.outside),
                ("dialogs", self.dialogs),
            )
            if values
        }


@pytest.fixture
def watched(browser, served: Served, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A fresh browser context (no cookies) whose page records errors, failed and outside requests, and dialogs;
    a screenshot goes to test-artifacts/ when the test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    found = Watched(page=page)

    def guard(route) -> None:
        if route.request.url.startswith(served.url + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            found.outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("console", lambda message: found.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: found.errors.append(f"page error: {error}"))
    # a request to the server cut short by leaving the page (ERR_ABORTED) is not a failure; any other is
    page.on(
        "requestfailed",
        lambda req: (
            found.failed.append(f"{req.method} {req.url}: {req.failure}")
            if req.url.startswith(served.url) and "ERR_ABORTED" not in (req.failure or "")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: found.failed.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )
    page.on("dialog", lambda dialog: (found.dialogs.append(dialog.message), dialog.dismiss()))
    failed_before = request.session.testsfailed
    yield found
    if request.session.testsfailed > failed_before:  # this test's call failed (counted before its teardown)
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
    context.close()


def _log_in(watched: Watched, served: Served, token: str) -> None:
    page = watched.page
    page.goto(served.url + "/", wait_until="load")
    assert page.url == served.url + "/ui/login"  # not logged in: sent to the login form
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(served.url + "/")


def _open(watched: Watched, served: Served, name: str) -> None:
    page = watched.page
    page.goto(served.url + PAGES[name], wait_until="load")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.wait_for_selector(PAGE_CONTENT[name], timeout=30_000)


def _on_page(watched: Watched, served: Served, token: str, name: str):
    """Log in with ``token`` and open the page ``name``; returns the Playwright page."""
    _log_in(watched, served, token)
    _open(watched, served, name)
    return watched.page


def _drilled_days(watched: Watched) -> list[str]:
    """The days of the posts the drill-down panel lists, once it lists some."""
    watched.page.wait_for_selector("#drill-body tr.post-row", timeout=15_000)
    assert watched.page.is_visible("#drill")
    cells = watched.page.eval_on_selector_all(
        "#drill-body tr.post-row td:nth-child(2)", "nodes => nodes.map(node => node.textContent)"
    )
    return [cell[:10] for cell in cells]


def test_log_in_and_open_every_page(watched: Watched, served: Served) -> None:
    page = watched.page
    page.goto(served.url + "/ui/login", wait_until="load")
    page.fill("#token", "sf_0000000000000000_" + "x" * 43)
    page.click("#login-form button[type=submit]")
    assert page.text_content("#login-error") == "Invalid or revoked token."
    watched.failed.clear()  # the refused login answered 401, as it should, and the console said so
    watched.errors.clear()
    _log_in(watched, served, served.read)
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["sf_session"]["httpOnly"] and cookies["sf_session"]["sameSite"] == "Strict"
    for name in PAGES:
        _open(watched, served, name)
        assert page.eval_on_selector_all(".error", "nodes => nodes.map(node => node.textContent)") == [], name
        assert not page.query_selector_all("script:not([src])"), f"{name}: an inline script"
        assert (
            page.evaluate(
                "() => [...document.querySelectorAll('*')].some(node => [...node.attributes]"
                ".some(attribute => attribute.name.startsWith('on')))"
            )
            is False
        ), name
        assert watched.problems() == {}, name
    # the read token sees no job forms
    assert page.query_selector("#upload-form") is None


def test_filter_by_topic_and_date(watched: Watched, served: Served) -> None:
    page = _on_page(watched, served, served.read, "topics")
    summary = page.text_content("#card-trends .summary")
    assert not summary.startswith("1 key ")
    options = page.eval_on_selector_all("#topic option", "nodes => nodes.map(node => [node.value, node.textContent])")
    topic_id, label = options[1]
    page.select_option("#topic", topic_id)
    page.fill("#since", "2024-03-05")
    page.fill("#until", "2024-03-20")
    with page.expect_response(lambda response: "/dashboard/sections/trends?" in response.url) as answered:
        page.click("#trend-filters button[type=submit]")
    assert f"topic_id={topic_id}" in answered.value.url and "since=2024-03-05" in answered.value.url
    page.wait_for_function(
        "() => document.querySelector('#sections').dataset.loaded === 'true' && "
        "document.querySelector('#card-trends .summary')"
    )
    assert page.text_content("#card-trends .summary").startswith("1 key ")
    legend = page.eval_on_selector_all("#card-trends .legendtext", "nodes => nodes.map(node => node.textContent)")
    assert legend == [label]
    days = page.evaluate(
        "() => [...document.querySelectorAll('#card-trends .js-plotly-plot')].flatMap(plot => "
        "plot.data.flatMap(trace => Array.from(trace.x || [], String)))"
    )
    assert days and all("2024-03-05" <= day[:10] <= "2024-03-20" for day in days)
    assert watched.problems() == {}


def test_click_a_burst_and_see_its_posts(watched: Watched, served: Served) -> None:
    page = _on_page(watched, served, served.read, "topics")
    burst = page.wait_for_selector("#bursts button.burst")
    text = burst.text_content()
    start, end = re.search(r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})", text).groups()
    topic = text.split(": ")[0]
    burst.click()
    days = _drilled_days(watched)
    assert days and all(start <= day <= end for day in days)
    chips = page.eval_on_selector_all("#drill-body tr.post-row .chip.topic", "ns => ns.map(n => n.textContent)")
    assert chips and set(chips) == {topic}
    assert watched.problems() == {}


def test_click_a_chart_point_drills_down(watched: Watched, served: Served) -> None:
    page = _on_page(watched, served, served.read, "overview")
    point = page.wait_for_selector("#overview-activity .trace .point")
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.wait_for_selector("#overview-activity .hoverlayer .hovertext")  # Plotly picked the point under the mouse
    page.mouse.click(x, y)
    days = _drilled_days(watched)
    day = re.search(r"\d{4}-\d{2}-\d{2}", page.text_content("#drill-title")).group(0)
    assert days and set(days) == {day}
    assert watched.problems() == {}


def test_search(watched: Watched, served: Served) -> None:
    page = _on_page(watched, served, served.read, "posts")
    page.fill("#query", "recipe")
    with page.expect_response(lambda response: response.url.endswith("/api/v1/search")) as answered:
        page.click("#post-filters button[type=submit]")
    assert answered.value.status == 200
    page.wait_for_function("() => document.querySelector('#posts tr.post-row') !== null")
    first = page.text_content("#posts tr.post-row")
    assert "recipe" in first.lower()
    page.click("#posts tr.post-row")
    page.wait_for_selector("#detail-text")
    assert page.is_visible("#detail")
    assert watched.problems() == {}


def test_upload_a_file_and_watch_its_job(watched: Watched, served: Served, tmp_path: Path) -> None:
    page = _on_page(watched, served, served.write, "jobs")
    before = int(page.text_content("#counts .metric[data-name=posts] .value").replace(",", ""))
    lines = [
        json.dumps(
            {
                "post_id": f"uploaded-{i}",
                "author_id": "u0001",
                "text": f"fresh post {i} #new",
                "created_at": (dt.datetime(2024, 4, 1, 12) + dt.timedelta(hours=i)).isoformat() + "Z",
            }
        )
        for i in range(5)
    ]
    upload = tmp_path / "new-posts.jsonl"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-form button[type=submit]")
    row = page.wait_for_selector("#jobs tr.job[data-state]")
    page.wait_for_selector("#jobs tr.job[data-state=done]", timeout=90_000)
    assert row.eval_on_selector("progress", "bar => bar.value") == 1
    page.wait_for_function(
        f"() => document.querySelector('#counts .metric[data-name=posts] .value').textContent"
        f".replace(/,/g, '') === '{before + 5}'",
        timeout=15_000,
    )
    assert watched.problems() == {}


def test_monitor_alerts_are_listed_with_their_posts(watched: Watched, served: Served) -> None:
    page = _on_page(watched, served, served.read, "opinion")
    page.wait_for_selector("#monitor-alerts li.alert")
    assert "anger-rising: negative share rose" in page.text_content("#monitor-alerts li.alert strong")
    assert "z 4.21" in page.text_content("#monitor-alerts li.alert")
    page.click("#monitor-alerts li.alert button.link")
    page.wait_for_selector("#detail-text")
    assert page.text_content("#detail-text") == HOSTILE_TEXT  # the evidence post, shown as text
    assert page.evaluate("() => window.__pwned") is None and watched.dialogs == []
    assert watched.problems() == {}


def test_a_hostile_post_is_shown_inert(watched: Watched, served: Served) -> None:
    page = watched.page
    _log_in(watched, served, served.read)
    page.goto(served.url + "/ui/posts", wait_until="load")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#post-filters input[name=hashtag]", HOSTILE_HASHTAG)
    page.click("#post-filters button[type=submit]")
    page.wait_for_selector("#posts tr.post-row[data-post-id=hostile-1]")
    assert page.text_content("#posts tr.post-row .tags") == f"#{HOSTILE_HASHTAG}"
    page.click("#posts tr.post-row")
    page.wait_for_selector("#detail-text")
    assert page.text_content("#detail-text") == HOSTILE_TEXT
    page.goto(served.url + "/ui/users#hostile-user", wait_until="load")
    page.wait_for_selector("#profile dd")
    assert HOSTILE_HANDLE in page.text_content("#profile")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__pwned") is None
    assert page.query_selector("img[src=x]") is None and page.query_selector("#detail b, #profile b") is None
    assert watched.dialogs == []
    assert watched.problems() == {}
