"""The section types and the HTML renderer: escaping, truncation, offline-ness, ids, atomic writes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import re

import plotly.graph_objects as go
import pyarrow as pa
import pytest

import socialfusion.report
from socialfusion.exceptions import ConfigurationError
from socialfusion.report import (
    PAGE_ROWS,
    Figure,
    Metrics,
    ReportSection,
    Table,
    Text,
    column_title,
    overview_section,
    render_report,
    write_report,
)

from ._small_corpus import HOSTILE_HASHTAG, HOSTILE_REASON, HOSTILE_TEXT

HOSTILE = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def _page_rows(page: str) -> list[dict]:
    """The JSON of every table's data-rows attribute in a page, in order."""
    return [json.loads(html.unescape(value)) for value in re.findall(r"data-rows='([^']*)'", page)]


def _bar(n: int = 3) -> go.Figure:
    return go.Figure(go.Bar(x=[str(i) for i in range(n)], y=list(range(n))))


def test_exports_are_sorted():
    # ruff's RUF022 order, as tests/test_public_api.py checks: CONSTANTS, then Classes, then functions, each A-Z
    names = socialfusion.report.__all__
    assert names == sorted(names, key=lambda name: (0 if name.isupper() else 1 if name[:1].isupper() else 2, name))
    assert all(hasattr(socialfusion.report, name) for name in socialfusion.report.__all__)


@pytest.mark.parametrize("key", ["", "1st", "with space", 'quote"', "a#b", None])
def test_section_key_must_be_an_anchor(key):
    with pytest.raises(ConfigurationError, match="anchor id"):
        ReportSection(title="t", key=key)


def test_section_accepts_a_list_and_rejects_non_blocks():
    section = ReportSection(title="t", key="t", blocks=[Text("a")])
    assert section.blocks == (Text("a"),)
    with pytest.raises(ConfigurationError, match="got str"):
        ReportSection(title="t", key="t", blocks=["<p>raw html</p>"])


def test_figure_ids_are_stable():
    blocks = [Figure(_bar()), Text("x"), Figure(_bar(), key="top"), Figure(_bar())]
    section = ReportSection("t", "trends", blocks=blocks)
    assert section.figure_ids() == ["trends-figure-1", "trends-top", "trends-figure-3"]
    assert render_report([section], title="r") == render_report([section], title="r")
    assert 'id="trends-top"' in render_report([section], title="r")


def test_duplicate_ids_are_refused():
    with pytest.raises(ConfigurationError, match="'same' .* used twice"):
        render_report([ReportSection("a", "same"), ReportSection("b", "same")], title="r")
    twice = ReportSection("a", "a", blocks=[Figure(_bar(), key="x"), Figure(_bar(), key="x")])
    with pytest.raises(ConfigurationError, match="'a-x'"):
        render_report([twice], title="r")


def test_every_user_string_is_escaped():
    section = ReportSection(
        title=HOSTILE,
        key="hostile",
        summary=HOSTILE,
        blocks=(
            Text(HOSTILE),
            Metrics({HOSTILE: HOSTILE}, caption=HOSTILE),
            Table([{HOSTILE: HOSTILE}], caption=HOSTILE),
            Figure(_bar(), caption=HOSTILE),
        ),
    )
    page = render_report([section], title=HOSTILE, subtitle=HOSTILE)
    assert HOSTILE not in page
    # <title>, <h1>, subtitle, contents, section title, summary, text, metric name, value and caption,
    # table caption, header and cell, figure caption; and in the table's data-rows: header, shown and raw cell.
    assert page.count(ESCAPED) == 17
    assert page.count("<script") == 4  # PlotlyConfig, plotly.js, the table script, the one figure


def test_overview_escapes_hostile_text_hashtags_and_reasons(small_corpus):
    page = render_report([overview_section(small_corpus)], title="Overview")
    for hostile in (HOSTILE_HASHTAG, HOSTILE_TEXT, HOSTILE_REASON, "alert(1)</"):
        assert hostile not in page
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in page  # in both rejects tables
    assert page.count("<script") == 2 + 1 + 5  # PlotlyConfig, plotly.js, the table script, five figures


def test_table_truncates_with_a_note():
    rows = pa.table({"n": list(range(120)), "name": [f"row{n}" for n in range(120)]})
    page = render_report([ReportSection("t", "t", blocks=[Table(rows, max_rows=50)])], title="r")
    assert page.count("<tr>") == 51  # header + 50 rows
    listed = re.search(r"<tbody>(.*?)</tbody>", page).group(1)
    assert "row49" in listed and "row50" not in listed
    assert len(_page_rows(page)[0]["rows"]) == 120  # every row is in the page, to sort, search and download
    assert "70 more rows not shown." in page
    one_more = render_report([ReportSection("t", "t", blocks=[Table(rows[:51], max_rows=50)])], title="r")
    assert "1 more row not shown." in one_more


def test_table_from_dicts_formats_values():
    rows = [{"name": "a", "count": 1234567}, {"name": "b", "share": 0.123456, "tags": ["x", "y"]}]
    page = render_report([ReportSection("t", "t", blocks=[Table(rows)])], title="r")
    header = re.search(r"<thead>(.*?)</thead>", page).group(1)
    assert re.findall(r"<th[^>]*>(.*?)</th>", header) == ["Name", "Count", "Share", "Tags"]
    assert '<td class="num">1,234,567</td>' in page
    assert '<td class="num">0.1235</td>' in page
    assert "<td>x, y</td>" in page
    assert '<td class="null">—</td>' in page


def test_empty_table_and_empty_report():
    page = render_report([ReportSection("t", "t", blocks=[Table([], caption="Nothing")])], title="r")
    assert "No rows." in page
    assert "No sections." in render_report([], title="r")


def test_table_max_rows_must_be_positive():
    with pytest.raises(ConfigurationError, match="max_rows"):
        Table([], max_rows=0)


def test_plotly_is_inlined_once_and_nothing_comes_from_the_network(small_corpus):
    sections = [overview_section(small_corpus), ReportSection("More", "more", blocks=[Figure(_bar())])]
    page = render_report(sections, title="r")
    assert page.count("window.PlotlyConfig") == 1
    assert len(re.findall(r"plotly\.js (?:\(basic - minified\) )?v\d", page)) == 1  # the library's banner
    assert page.index("window.PlotlyConfig") < page.index("</head>")
    remote_tag = r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//"
    assert re.findall(remote_tag, page, re.IGNORECASE) == []
    assert "@import" not in page and "fonts.googleapis" not in page
    assert "Content-Security-Policy" in page


def test_plotly_is_the_basic_bundle_when_every_trace_allows_it_and_the_full_one_otherwise(monkeypatch):
    import plotly.offline

    shipped = re.search(r"plotly\.js \(basic - minified\) v(\S+)", socialfusion.report._render._asset(
        "plotly-basic.min.js")[:500]).group(1)
    monkeypatch.setattr(plotly.offline, "get_plotlyjs_version", lambda: shipped)
    scatter = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    basic_traces = [ReportSection("a", "a", blocks=[Figure(_bar()), Figure(scatter), Figure(go.Figure(go.Pie()))])]
    basic = render_report(basic_traces, title="r")
    assert basic.count(f"plotly.js (basic - minified) v{shipped}") == 1 and "plotly.js v" not in basic
    assert len(basic) < 1_500_000  # the full bundle alone is 4.8 MB
    heatmap = ReportSection("h", "h", blocks=[Figure(go.Figure(go.Heatmap(z=[[1, 2]])))])
    full = render_report([*basic_traces, heatmap], title="r")  # one trace the basic bundle cannot draw
    assert full.count("plotly.js v") == 1 and "basic - minified" not in full and len(full) > 4_000_000
    # plotly.py of another version made the figures' JSON: its own full bundle draws them
    monkeypatch.setattr(plotly.offline, "get_plotlyjs_version", lambda: "0.0.0")
    assert "basic - minified" not in render_report(basic_traces, title="r")


def test_table_of_contents_links_every_section(small_corpus):
    sections = [overview_section(small_corpus), ReportSection("Notes", "notes", blocks=[Text("a\n\nb")])]
    page = render_report(sections, title="r")
    assert re.findall(r'<nav.*?</nav>', page, re.S)[0].count("<a href=") == 2
    assert 'href="#overview"' in page and 'href="#notes"' in page
    assert '<section class="card" id="notes">' in page
    assert "<p>a</p><p>b</p>" in page


def test_write_report_is_atomic_and_creates_folders(tmp_path, small_corpus):
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    written = write_report([overview_section(small_corpus)], target, title="Corpus", subtitle="today")
    assert written == target
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Corpus</title>" in page
    assert [path.name for path in target.parent.iterdir()] == ["report.html"]  # no temporary file left
    assert write_report([], tmp_path / "new" / "deeper" / "r.html", title="r").is_file()


def test_write_report_leaves_no_temporary_file_on_failure(tmp_path):
    with pytest.raises(ConfigurationError):
        write_report([ReportSection("a", "a"), ReportSection("a", "a")], tmp_path / "r.html", title="r")
    assert list(tmp_path.iterdir()) == []


def test_table_rows_in_the_page_keep_raw_values_for_sorting_and_download():
    when = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    rows = [{"post_count": 1234567, "share": 0.123456, "tags": ["x", "y"], "at": when, "gone": None,
             "odd": float("nan"), "quote": "it's <b>"}]
    page = render_report([ReportSection("t", "t", blocks=[Table(rows, key="posts")])], title="r")
    (data,) = _page_rows(page)
    assert data["columns"] == ["Posts", "Share", "Tags", "At", "Gone", "Odd", "Quote"]
    assert data["total"] == 1
    assert data["rows"] == [[["1,234,567", 1234567], ["0.1235", 0.123456], ["x, y", "x, y"],
                             ["2024-05-01 09:30:00+00:00", "2024-05-01T09:30:00+00:00"], ["", None],
                             ["nan", None], ["it's <b>", "it's <b>"]]]
    assert 'id="t-posts"' in page and 'data-filename="t-posts.csv"' in page
    assert "<b>" not in page


def test_a_large_table_holds_page_rows_rows_and_the_total():
    rows = pa.table({"n": list(range(PAGE_ROWS + 7))})
    (data,) = _page_rows(render_report([ReportSection("t", "t", blocks=[Table(rows)])], title="r"))
    assert len(data["rows"]) == PAGE_ROWS and data["total"] == PAGE_ROWS + 7


def test_a_table_of_long_texts_embeds_at_most_page_bytes_and_says_how_many_rows_it_has():
    from socialfusion.report._render import PAGE_BYTES

    rows = pa.table({"text": [f"{index} " + "long post text " * 30 for index in range(3000)]})
    page = render_report([ReportSection("t", "t", blocks=[Table(rows)])], title="r")
    (attribute,) = re.findall(r"data-rows='([^']*)'", page)
    (data,) = _page_rows(page)
    assert len(attribute) <= PAGE_BYTES * 1.1 and 0 < len(data["rows"]) < 3000 and data["total"] == 3000
    assert data["rows"][0][0][1] == rows.column("text")[0].as_py()  # whole rows, in order
    assert "2,950 more rows not shown" in page


def test_table_ids_are_stable_and_unique():
    blocks = [Table([{"a": 1}]), Table([{"a": 2}], key="top"), Text("x"), Table([{"a": 3}])]
    assert ReportSection("t", "trends", blocks=blocks).table_ids() == ["trends-table-1", "trends-top", "trends-table-3"]
    with pytest.raises(ConfigurationError, match="'a-x'"):
        render_report([ReportSection("a", "a", blocks=[Table([{"a": 1}], key="x"), Figure(_bar(), key="x")])],
                      title="r")
    with pytest.raises(ConfigurationError, match="table key"):
        Table([], key="not an id")


def test_the_table_script_is_inlined_once_and_only_with_tables():
    with_tables = render_report([ReportSection("t", "t", blocks=[Table([{"a": 1}]), Table([{"b": 2}])])],
                                title="r")
    assert with_tables.count("socialfusion report tables") == 1
    assert "socialfusion report tables" not in render_report([ReportSection("t", "t", blocks=[Text("x")])],
                                                             title="r")


def test_scripts_run_by_hash_only(small_corpus):
    page = render_report([overview_section(small_corpus)], title="r")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    script_sources = re.search(r"script-src ([^;]*);", policy).group(1).split()
    assert "'unsafe-inline'" not in script_sources and "'unsafe-eval'" in script_sources
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S)
    expected = {"'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
                for script in scripts}
    assert set(script_sources) - {"'unsafe-eval'"} == expected
    assert len(expected) == len(scripts) == 2 + 1 + 5
    assert re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", page) is None  # no inline event handler
    no_script = render_report([ReportSection("t", "t", blocks=[Text("x")])], title="r")
    assert "script-src 'none'" in no_script


def test_column_titles_read_like_words():
    assert [column_title(name) for name in ("post_count", "recall@20", "duration_hours", "members", "k-core")] == [
        "Posts", "Recall@20", "Duration (hours)", "Members", "k-core"]
