"""Report tables in real headless Chromium: sort, search, download as CSV; topic-map labels that do not overlap."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import pytest

from socialfusion.report import ReportSection, Table, write_report
from socialfusion.tasks._network_report import network_section
from socialfusion.tasks.topics import topics_section

from ._browser import CHROMIUM_ARGS, VIEWPORT, chromium
from ._topics_corpus import topics_corpus

pytestmark = pytest.mark.browser

N_ROWS = 120
SHOWN = 20
HEADER = ["Posts", "Name", "Share", "Note"]


def _rows() -> list[dict]:
    """120 rows in a shuffled order: post_count is a permutation of 0..119 times 1,000 (thousands separators on the
    page, plain numbers in the CSV); every seventh share is missing; notes hold commas, quotes and Chinese."""
    order = [(index * 37) % N_ROWS for index in range(N_ROWS)]
    return [{"post_count": number * 1000, "name": f"row-{number:03d}",
             "share": None if number % 7 == 0 else number / N_ROWS,
             "note": f'says "hi", 你好 {number}' if number % 2 else "plain"} for number in order]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from socialfusion import Corpus

    model, corpus = topics_corpus(16)
    edges = [{"src": fan, "dst": "h", "kind": "follow"} for fan in "abcd"]
    network = network_section(Corpus.from_records(edges=edges, users=[{"user_id": "h", "handle": "hub"}]), runs=10)
    sections = [ReportSection("Rows", "rows", blocks=[Table(_rows(), caption="Rows", max_rows=SHOWN, key="list")]),
                topics_section(model, corpus), network]
    return write_report(sections, tmp_path_factory.mktemp("tables") / "report.html", title="Tables")


@pytest.fixture(scope="module")
def browser_page(report):
    """The report open in Chromium from disk, the network cut; yields (page, errors, network requests)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []

    def cut_the_network(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
            page.route("**/*", cut_the_network)
            page.on("console", lambda message: errors.append(f"console: {message.text}")
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.goto(report.as_uri(), wait_until="load")
            yield page, errors, requests
        finally:
            browser.close()


@pytest.fixture
def page(browser_page):
    """The page as loaded: each test starts from an unsorted, unsearched table."""
    page, _, _ = browser_page
    page.reload(wait_until="load")
    page.wait_for_selector("#rows-list thead button.sort")
    return page


def _column(page, index: int) -> list[str]:
    return page.eval_on_selector_all(f"#rows-list tbody tr td:nth-child({index + 1})",
                                     "cells => cells.map(cell => cell.textContent)")


def _download(page) -> tuple[str, list[list[str]]]:
    with page.expect_download() as waiting:
        page.click("#rows .table-download")
    download = waiting.value
    text = Path(download.path()).read_bytes().decode("utf-8")
    return download.suggested_filename, list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_headers_read_like_words_and_sort_both_ways(page):
    headers = page.eval_on_selector_all("#rows-list thead th", "cells => cells.map(cell => cell.textContent)")
    assert headers == HEADER
    assert len(_column(page, 0)) == SHOWN

    page.click("#rows-list thead th:nth-child(1) button")
    assert page.get_attribute("#rows-list thead th:nth-child(1)", "aria-sort") == "ascending"
    assert _column(page, 0)[:3] == ["0", "1,000", "2,000"]
    page.click("#rows-list thead th:nth-child(1) button")
    assert page.get_attribute("#rows-list thead th:nth-child(1)", "aria-sort") == "descending"
    assert _column(page, 0)[:3] == ["119,000", "118,000", "117,000"]  # numbers, not text: 119,000 above 99,000

    page.click("#rows-list thead th:nth-child(3) button")  # share, with missing values
    shares = _column(page, 2)
    assert shares[0] == "0.008333"  # 1/120: the smallest present share
    page.click("#rows-list thead th:nth-child(3) button")
    assert _column(page, 2)[0] == "0.9833"  # 118/120 (119 is a multiple of seven: missing)
    assert page.get_attribute("#rows-list thead th:nth-child(1)", "aria-sort") == "none"


def test_search_filters_rows_and_says_how_many(page):
    page.fill("#rows .table-search", "ROW-01")
    assert sorted(_column(page, 1)) == [f"row-{number:03d}" for number in range(10, 20)]
    assert page.text_content("#rows .table-count") == "10 matching rows"
    assert page.is_hidden("#rows .more-rows")
    page.fill("#rows .table-search", "你好 11")  # the Chinese note of rows 11, 110..119 with odd numbers
    assert sorted(_column(page, 1)) == ["row-011", "row-111", "row-113", "row-115", "row-117", "row-119"]
    page.fill("#rows .table-search", "")
    assert len(_column(page, 0)) == SHOWN
    assert page.text_content("#rows .more-rows") == f"{N_ROWS - SHOWN} more rows not shown."


def test_csv_download_holds_the_raw_values_of_every_matching_row_in_order(page):
    name, rows = _download(page)
    assert name == "rows-list.csv"
    assert rows[0] == HEADER and len(rows) - 1 == N_ROWS  # all rows, not only the 20 shown
    expected = _rows()
    assert rows[1] == ["0", "row-000", "", "plain"]  # a missing share is an empty field
    assert rows[2] == [str(expected[1]["post_count"]), expected[1]["name"], repr(expected[1]["share"]),
                       expected[1]["note"]]  # full precision, as in Python
    assert sum(row[2] == "" for row in rows[1:]) == sum(row["share"] is None for row in expected)

    page.click("#rows-list thead th:nth-child(1) button")
    page.click("#rows-list thead th:nth-child(1) button")  # descending
    page.fill("#rows .table-search", "hi")  # the notes with quotes and commas: odd numbers
    _, rows = _download(page)
    assert rows[0] == HEADER and len(rows) - 1 == N_ROWS // 2
    assert [int(row[0]) for row in rows[1:]] == sorted((n * 1000 for n in range(1, N_ROWS, 2)), reverse=True)
    assert rows[1][3] == 'says "hi", 你好 119'  # quoted and escaped in the file, read back whole


def test_topic_map_labels_do_not_overlap(page):
    boxes = page.eval_on_selector_all(
        "#topics-map .textpoint text",
        "texts => texts.filter(text => text.textContent).map(text => { const r = text.getBoundingClientRect(); "
        "return [r.left, r.top, r.right, r.bottom]; })")
    plot = page.eval_on_selector("#topics-map .nsewdrag", "area => { const r = area.getBoundingClientRect(); "
                                 "return [r.left, r.top, r.right, r.bottom]; }")
    assert len(boxes) >= 8
    for a, b in itertools.combinations(boxes, 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert all(box[0] >= plot[0] - 1 and box[2] <= plot[2] + 1 and box[1] >= plot[1] - 1 and box[3] <= plot[3] + 1
               for box in boxes)


def test_every_figure_renders_and_the_network_card_shows_handles(page):
    page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')].every("
                           "div => div.querySelector('.main-svg'))", timeout=15_000)
    ids = page.eval_on_selector_all(".plotly-graph-div", "divs => divs.map(div => div.id)")
    assert {"topics-map", "topics-keywords", "topics-over-time", "topics-hierarchy"} <= set(ids)
    assert page.text_content("#network-influencers tbody tr td:nth-child(2)") == "@hub"


def test_no_errors_and_no_network_requests(browser_page, page):
    page.click("#rows-list thead th:nth-child(2) button")
    page.fill("#rows .table-search", "row")
    _download(page)
    _, errors, requests = browser_page
    assert errors == []  # a script the Content Security Policy blocked would show here
    assert requests == []
