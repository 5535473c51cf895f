"""How long a report takes to open in Chromium: to the page's load event, and until every chart is drawn.

Opens each report given in Debian's headless Chromium through Playwright, from ``file://`` with every other request
refused (as the report tests do), ``--runs`` times, each in a new page of one browser (the first run also pays the
browser's cold caches). Prints per report its size, charts, tables and DOM elements, and the median and the slowest
of: the load event (the navigation timing's ``loadEventEnd``) and the moment the last Plotly chart had drawn its SVG
(polled every animation frame from the start of the navigation). The report's charts are drawn eagerly by the
scripts in the page, so the second figure is when the whole page is ready.

    python benchmarks/report_open.py demo-output/report.html benchmarks/.cache/report-scale-1000000.html
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

CHARTS_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')].every(
    div => div.classList.contains('js-plotly-plot') && !!div.querySelector('.main-svg'))"""
PAGE_COUNTS = """() => ({
    charts: document.querySelectorAll('.plotly-graph-div').length,
    tables: document.querySelectorAll('table').length,
    elements: document.getElementsByTagName('*').length,
    load_ms: performance.getEntriesByType('navigation')[0].loadEventEnd,
})"""


def open_times(path: Path, runs: int) -> tuple[dict, list[float], list[float]]:
    """The page's counts, and per run the seconds to the load event and to every chart drawn."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("Chromium is not installed: `make system-deps` installs Debian's chromium")
    loads, drawn, counts = [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox"])
        try:
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                           else route.abort())
                started = time.perf_counter()
                page.goto(path.resolve().as_uri(), wait_until="load", timeout=120_000)
                page.wait_for_function(CHARTS_DRAWN, polling="raf", timeout=120_000)
                drawn.append(time.perf_counter() - started)
                counts = page.evaluate(PAGE_COUNTS)
                loads.append(counts.pop("load_ms") / 1000)
                page.close()
        finally:
            browser.close()
    return counts, loads, drawn


def main(arguments: argparse.Namespace) -> None:
    print(f"{'report':<48}{'MB':>7}{'charts':>8}{'tables':>8}{'elements':>10}"
          f"{'load s (median / max)':>24}{'charts drawn s (median / max)':>32}")
    for name in arguments.reports:
        path = Path(name)
        counts, loads, drawn = open_times(path, arguments.runs)
        print(f"{path.name:<48}{path.stat().st_size / 1024**2:>7.2f}{counts['charts']:>8}{counts['tables']:>8}"
              f"{counts['elements']:>10,}{statistics.median(loads):>15.2f} / {max(loads):.2f}"
              f"{statistics.median(drawn):>23.2f} / {max(drawn):.2f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="report HTML files")
    parser.add_argument("--runs", type=int, default=5, help="openings per report (default 5)")
    main(parser.parse_args())
