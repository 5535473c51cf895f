"""The report in real headless Chromium, opened from disk: every figure renders, offline, without errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from socialfusion.report import overview_section, write_report

from ._browser import CHROMIUM_ARGS, VIEWPORT, chromium
from ._small_corpus import (
    EXPECTED_HASHTAGS,
    EXPECTED_LANGUAGES,
    EXPECTED_MENTIONS,
    EXPECTED_MODALITIES,
    EXPECTED_POSTS_PER_DAY,
    HOSTILE_HASHTAG,
    small_corpus,
)

pytestmark = pytest.mark.browser

# Figure div id -> number of points (bars, or markers of the line) it must draw; each has one trace.
EXPECTED_POINTS = {
    "overview-modalities": len(EXPECTED_MODALITIES),
    "overview-activity": len(EXPECTED_POSTS_PER_DAY),
    "overview-hashtags": len(EXPECTED_HASHTAGS),
    "overview-mentions": len(EXPECTED_MENTIONS),
    "overview-languages": len(EXPECTED_LANGUAGES),
}

# Each Plotly div by id: did Plotly draw its SVG, and how many traces and points (bars, markers) it has.
FIGURES_DRAWN = """() => Object.fromEntries([...document.querySelectorAll('.plotly-graph-div')].map(div => [
    div.id,
    {
        rendered: div.classList.contains('js-plotly-plot') && !!div.querySelector('.main-svg'),
        traces: div.querySelectorAll('.trace').length,
        points: div.querySelectorAll('.trace .point').length,
    },
]))"""


@dataclass
class LoadedReport:
    """What happened while Chromium showed the report."""

    figures: dict[str, dict]
    hashtag_labels: list[str]
    page_width: int
    title: str
    screenshot: Path
    network_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def loaded_report(tmp_path_factory) -> LoadedReport:
    """Write the small corpus's report, open it via file:// with the network cut, read the rendered page."""
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("browser")
    path = write_report([overview_section(small_corpus())], folder / "report.html", title="Small corpus")
    network_requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def cut_the_network(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            network_requests.append(route.request.url)
            route.abort()

    def record_console_error(message) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.route("**/*", cut_the_network)
            page.on("console", record_console_error)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                "ids => ids.every(id => document.querySelector(`#${id}.js-plotly-plot .main-svg`))",
                arg=list(EXPECTED_POINTS),
                timeout=15_000,
            )
            figures = page.evaluate(FIGURES_DRAWN)
            hashtag_labels = page.eval_on_selector_all(
                "#overview-hashtags .ytick text", "texts => texts.map(text => text.textContent)"
            )
            page_width = page.evaluate("() => document.documentElement.scrollWidth")
            title = page.title()
            screenshot = folder / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return LoadedReport(
        figures, hashtag_labels, page_width, title, screenshot, network_requests, errors, dialogs
    )


def test_report_makes_no_network_request(loaded_report):
    assert loaded_report.network_requests == []


def test_report_has_no_console_or_page_errors(loaded_report):
    assert loaded_report.errors == []
    assert loaded_report.dialogs == []  # the hostile <script> strings did not run


def test_every_figure_is_rendered_with_the_right_number_of_points(loaded_report):
    assert loaded_report.figures == {
        div_id: {"rendered": True, "traces": 1, "points": points}
        for div_id, points in EXPECTED_POINTS.items()
    }


def test_hostile_hashtag_shows_as_text(loaded_report):
    assert sorted(loaded_report.hashtag_labels) == sorted(EXPECTED_HASHTAGS)
    assert HOSTILE_HASHTAG in loaded_report.hashtag_labels


def test_page_fits_the_viewport(loaded_report):
    assert loaded_report.title == "Small corpus"
    assert loaded_report.page_width <= VIEWPORT["width"]


def test_screenshot_is_saved(loaded_report):
    assert loaded_report.screenshot.stat().st_size > 10_000
