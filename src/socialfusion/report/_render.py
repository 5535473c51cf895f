"""Render report sections into one self-contained HTML file that works offline (Plotly inlined once, no CDN).

The page is a header, a table of contents and one card per section. Every string that comes from a section is
HTML-escaped; Plotly figure data is embedded as JSON that Plotly itself escapes for ``<script>`` use. A
Content Security Policy forbids every network request, so a report opened from disk never reaches out, and it
runs only the page's own scripts: each is allowed by its SHA-256 hash, so an injected script or an inline event
handler would not run.

Tables can be sorted, searched and downloaded as CSV in the page: ``assets/tables.js`` (vanilla JavaScript shipped
in the package, inlined once when the page has a table) reads each table's rows from its ``data-rows`` attribute
(JSON of every row's shown text and raw value, up to ``PAGE_ROWS`` rows).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import math
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import plotly.offline
import pyarrow as pa

from socialfusion import __version__
from socialfusion.exceptions import ConfigurationError
from socialfusion.report._columns import column_title
from socialfusion.report._format import format_value, is_number, plural
from socialfusion.report._section import Figure, Metrics, ReportSection, Table, Text

__all__ = ["BASIC_PLOTLY_TRACES", "PAGE_ROWS", "render_report", "write_report"]

PAGE_ROWS = 5_000
"""At most this many rows of a table are embedded in the page for sorting, searching and the CSV download
(``socialfusion export`` writes every row)."""

PAGE_BYTES = 250_000
"""And at most about this many bytes of them per table (rows of long texts stop sooner), so that a report's size
does not grow with the corpus: its tables are a fixed set, each embedding at most this much."""

_PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}

# Scripts by hash only ('unsafe-eval': Plotly compiles some functions at run time); inline styles (Plotly sets
# them); data:/blob: for Plotly's "download as PNG"; nothing from the network.
_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src {script_sources}; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)

_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.S)

_CSS = """
:root { --ink: #1f2430; --muted: #5b6472; --line: #e3e6ec; --page: #f4f6f9; --card: #fff; --accent: #3b6fd8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.report-header { background: #1f2a44; color: #fff; padding: 28px 32px; }
header.report-header h1 { margin: 0; font-size: 26px; font-weight: 600; }
header.report-header p { margin: 6px 0 0; color: #c9d3e8; }
.layout { display: grid; grid-template-columns: 240px minmax(0, 1fr); gap: 24px; max-width: 1280px;
  margin: 0 auto; padding: 24px 32px 48px; }
nav.toc { position: sticky; top: 16px; align-self: start; background: var(--card);
  border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; }
nav.toc h2 { margin: 0 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .06em;
  color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 20px; }
nav.toc li { margin: 4px 0; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { min-width: 0; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 22px 26px; margin-bottom: 24px; box-shadow: 0 1px 2px rgba(20, 30, 50, .04); }
section.card > h2 { margin: 0; font-size: 21px; }
section.card > p.summary { margin: 4px 0 14px; color: var(--muted); }
.block { margin: 20px 0 0; }
.block h3, figure.block figcaption { font-size: 14px; font-weight: 600; margin: 0 0 8px; color: var(--ink); }
figure.block { margin-left: 0; margin-right: 0; }
figure.block figcaption { font-weight: 400; color: var(--muted); margin: 6px 0 0; }
.plot { width: 100%; }
.text p { margin: 0 0 10px; white-space: pre-line; }
.metrics { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 12px; }
.metric { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fafbfd; }
.metric .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums;
  overflow-wrap: break-word; }
.metric .value.words { font-size: 16px; padding-top: 5px; }
.metric .name { font-size: 13px; color: var(--muted); }
.caption { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid var(--line);
  max-width: 480px; overflow-wrap: break-word; }
th { background: #f7f8fb; font-weight: 600; position: sticky; top: 0; }
tr:last-child td { border-bottom: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.null { color: #a0a7b3; }
.more-rows, .empty { color: var(--muted); font-size: 13px; font-style: italic; }
.table-tools { display: flex; align-items: center; gap: 10px; margin: 0 0 8px; }
.table-search { font: inherit; font-size: 13px; padding: 4px 8px; border: 1px solid var(--line);
  border-radius: 6px; min-width: 200px; }
.table-count { color: var(--muted); font-size: 13px; flex: 1; }
.table-download { font: inherit; font-size: 13px; padding: 4px 10px; border: 1px solid var(--line);
  border-radius: 6px; background: #fafbfd; color: var(--accent); cursor: pointer; }
.table-download:hover { background: #eef2fb; }
th button.sort { all: unset; cursor: pointer; font-weight: 600; }
th button.sort:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
/* a no-break space keeps the arrow with the last word of the header */
th button.sort::after { content: "\\00a0\\2195"; color: #a0a7b3; font-weight: 400; }
th[aria-sort="ascending"] button.sort::after { content: "\\00a0\\25B2"; color: var(--accent); }
th[aria-sort="descending"] button.sort::after { content: "\\00a0\\25BC"; color: var(--accent); }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 0 0 32px; }
@media (max-width: 900px) {
  .layout { grid-template-columns: minmax(0, 1fr); padding: 16px; }
  nav.toc { position: static; }
}
"""


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _render_figure(block: Figure, div_id: str) -> str:
    height = block.figure.layout.height
    plot = block.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=_PLOTLY_CONFIG,
        default_height=f"{height}px" if height else "450px",
    )
    caption = f"<figcaption>{_escape(block.caption)}</figcaption>" if block.caption else ""
    return f'<figure class="block"><div class="plot">{plot}</div>{caption}</figure>'


@cache
def _asset(name: str) -> str:
    """A script shipped in the package (``report/assets/<name>``)."""
    return resources.files("socialfusion.report").joinpath(f"assets/{name}").read_text(encoding="utf-8")


BASIC_PLOTLY_TRACES = frozenset({"bar", "pie", "scatter"})
"""The trace types of ``assets/plotly-basic.min.js``: plotly.js's "basic" partial bundle (npm
``plotly.js-basic-dist-min``, MIT, its licence beside it), 1.2 MB against the 4.8 MB of the full bundle that
plotly.py ships. A page whose figures are all of these types inlines it instead of the full bundle: a third of the
size, and the page opens about a second sooner in Chromium. To update it with plotly.py, take the bundle of the
version ``plotly.offline.get_plotlyjs_version()`` names (``npm pack plotly.js-basic-dist-min@VERSION``)."""

_BUNDLE_VERSION = re.compile(r"plotly\.js \(basic - minified\) v(\S+)")


def _plotly_script(sections: Sequence[ReportSection]) -> str:
    """Plotly's JavaScript for the page: the basic partial bundle when every figure's traces are among
    ``BASIC_PLOTLY_TRACES`` and it is the version of plotly.py's own bundle (which made the figures' JSON), else
    plotly.py's full bundle."""
    traces = {trace.type for section in sections for block in section.blocks if isinstance(block, Figure)
              for trace in block.figure.data}
    basic = _asset("plotly-basic.min.js")
    version = _BUNDLE_VERSION.search(basic[:500])
    if traces <= BASIC_PLOTLY_TRACES and version and version.group(1) == plotly.offline.get_plotlyjs_version():
        return basic
    return plotly.offline.get_plotlyjs()


def _raw_value(value: Any) -> Any:
    """A cell's value for sorting and for the CSV download: JSON numbers, booleans and strings, or null."""
    if value is None or isinstance(value, bool | str):
        return value
    if is_number(value):
        number = float(value)
        if not math.isfinite(number):
            return None
        return int(value) if isinstance(value, int) else number
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return format_value(value)


def _page_rows(block: Table, columns: list[str]) -> str:
    """The table's ``data-rows`` attribute value: up to ``PAGE_ROWS`` rows and ``PAGE_BYTES``, each cell
    ``[shown, raw]``, as JSON."""
    if isinstance(block.data, pa.Table):
        rows = block.data.slice(0, PAGE_ROWS).to_pylist()
    else:
        rows = [dict(row) for row in block.data[:PAGE_ROWS]]
    encoded, size = [], 0
    for row in rows:  # rows up to PAGE_BYTES of JSON; the page says how many more the table has
        cells = json.dumps([[format_value(row.get(name)), _raw_value(row.get(name))] for name in columns],
                           ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size += len(cells) + 1
        if size > PAGE_BYTES and encoded:
            break
        encoded.append(cells)
    header = json.dumps([column_title(name) for name in columns], ensure_ascii=False, separators=(",", ":"))
    text = f'{{"columns":{header},"rows":[{",".join(encoded)}],"total":{block.num_rows}}}'
    return text.replace("&", "&amp;").replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;")


def _render_table(block: Table, table_id: str) -> str:
    caption = f"<h3>{_escape(block.caption)}</h3>" if block.caption else ""
    if block.num_rows == 0:
        return f'<div class="block">{caption}<p class="empty">No rows.</p></div>'
    columns, rows = block.head()
    header = "".join(f'<th scope="col">{_escape(column_title(name))}</th>' for name in columns)
    body = []
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name)
            kind = "null" if value is None else "num" if is_number(value) else ""
            shown = "—" if value is None else _escape(format_value(value))
            cells.append(f'<td class="{kind}">{shown}</td>' if kind else f"<td>{shown}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    hidden = block.num_rows - len(rows)
    more = f'<p class="more-rows">{plural(hidden, "more row")} not shown.</p>' if hidden else ""
    # The attribute is single-quoted: the JSON's double quotes stay as they are, and &, ', < and > are escaped.
    return (
        f'<div class="block">{caption}<div class="table-wrap"><table class="data-table" id="{table_id}" '
        f'data-filename="{table_id}.csv" data-max-rows="{block.max_rows}" '
        f"data-rows='{_page_rows(block, columns)}'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>{more}</div>"
    )


def _render_text(block: Text) -> str:
    paragraphs = [part.strip() for part in block.text.split("\n\n") if part.strip()]
    return '<div class="block text">' + "".join(f"<p>{_escape(part)}</p>" for part in paragraphs) + "</div>"


def _render_metrics(block: Metrics) -> str:
    cards = "".join(
        f'<div class="metric"><div class="value{"" if is_number(value) else " words"}">'
        f'{_escape(format_value(value) or "—")}</div>'
        f'<div class="name">{_escape(name)}</div></div>'
        for name, value in block.values.items()
    )
    caption = f'<p class="caption">{_escape(block.caption)}</p>' if block.caption else ""
    return f'<div class="block"><div class="metrics">{cards}</div>{caption}</div>'


def _render_section(section: ReportSection) -> str:
    figure_ids = iter(section.figure_ids())
    table_ids = iter(section.table_ids())
    parts = [f'<section class="card" id="{section.key}"><h2>{_escape(section.title)}</h2>']
    if section.summary:
        parts.append(f'<p class="summary">{_escape(section.summary)}</p>')
    for block in section.blocks:
        if isinstance(block, Figure):
            parts.append(_render_figure(block, next(figure_ids)))
        elif isinstance(block, Table):
            parts.append(_render_table(block, next(table_ids)))
        elif isinstance(block, Text):
            parts.append(_render_text(block))
        else:
            parts.append(_render_metrics(block))
    parts.append("</section>")
    return "".join(parts)


def _check_unique_ids(sections: Sequence[ReportSection]) -> None:
    seen: set[str] = set()
    for section in sections:
        for anchor in (section.key, *section.figure_ids(), *section.table_ids()):
            if anchor in seen:
                raise ConfigurationError(
                    f"id {anchor!r} (section {section.key!r}) is used twice in the report; "
                    "give each section and each figure and table within a section its own key"
                )
            seen.add(anchor)


def render_report(sections: Iterable[ReportSection], *, title: str, subtitle: str | None = None) -> str:
    """Render sections into one self-contained HTML page.

    Plotly's JavaScript (the basic bundle when every trace allows it, ``BASIC_PLOTLY_TRACES``) is inlined once in
    ``<head>``, and only when a section has a figure; the page loads nothing from the network (a Content Security
    Policy forbids it).

    Args:
        sections: the report's cards, in order.
        title: the page title and main heading.
        subtitle: a line under the heading (dataset name, date of the run, ...).

    Returns:
        The HTML document as a string.

    Raises:
        ConfigurationError: two sections share a key, or two figures of a section share a key.

    Examples:
        >>> page = render_report([ReportSection("Notes", "notes", blocks=[Text("a < b")])], title="Demo")
        >>> "<p>a &lt; b</p>" in page and 'href="#notes"' in page
        True
    """
    sections = list(sections)
    _check_unique_ids(sections)
    has_figures = any(section.figure_ids() for section in sections)
    plotly_js = (
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script>{_plotly_script(sections)}</script>\n"
        if has_figures
        else ""
    )
    has_tables = any(section.table_ids() for section in sections)
    tables_js = f"<script>{_asset('tables.js')}</script>\n" if has_tables else ""
    toc = "".join(f'<li><a href="#{section.key}">{_escape(section.title)}</a></li>' for section in sections)
    subtitle_html = f"<p>{_escape(subtitle)}</p>" if subtitle else ""
    cards = "\n".join(_render_section(section) for section in sections) or '<p class="empty">No sections.</p>'
    scripts = f"{plotly_js}{tables_js}"
    body = (
        f'<header class="report-header"><h1>{_escape(title)}</h1>{subtitle_html}</header>\n'
        '<div class="layout">\n'
        f'<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>\n'
        f"<main>\n{cards}\n</main>\n</div>\n"
        f"<footer>Made with socialfusion {__version__}: a self-contained file that works offline.</footer>\n"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_content_security_policy(scripts + body)}">\n'
        f'<meta name="generator" content="socialfusion {__version__}">\n'
        f"<title>{_escape(title)}</title>\n<style>{_CSS}</style>\n{scripts}</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )


def _content_security_policy(html_with_scripts: str) -> str:
    """The page's Content Security Policy, allowing exactly its inline scripts by their SHA-256 hashes.

    Every ``<script>`` in the page is one the renderer wrote (section strings are escaped, and Plotly escapes
    ``<`` in figure JSON), so the hashes cover the page's own scripts and nothing else.
    """
    hashes = dict.fromkeys(
        "'sha256-" + base64.b64encode(hashlib.sha256(match.group(1).encode("utf-8")).digest()).decode("ascii") + "'"
        for match in _INLINE_SCRIPT.finditer(html_with_scripts)
    )
    sources = " ".join([*hashes, "'unsafe-eval'"]) if hashes else "'none'"
    return _CONTENT_SECURITY_POLICY.format(script_sources=sources)


def write_report(
    sections: Iterable[ReportSection],
    path: str | os.PathLike[str],
    *,
    title: str,
    subtitle: str | None = None,
) -> Path:
    """Render sections (see ``render_report``) and write the page to ``path`` atomically.

    The page is written to a temporary file beside ``path`` and renamed over it, so a reader never sees half a
    report; missing parent folders are created.

    Args:
        sections: the report's cards, in order.
        path: where to write the ``.html`` file.
        title: the page title and main heading.
        subtitle: a line under the heading.

    Returns:
        The path written.
    """
    path = Path(path)
    page = render_report(sections, title=title, subtitle=subtitle)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("x", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
