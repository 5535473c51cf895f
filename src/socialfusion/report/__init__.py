"""The HTML report: analyses contribute ``ReportSection``s; ``write_report`` puts them in one offline file.

Examples:
    >>> from socialfusion import Corpus
    >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "hello #world", "hashtags": ["world"]}])
    >>> page = render_report([overview_section(corpus)], title="My corpus")
    >>> page.count("<script>window.PlotlyConfig")
    1
"""

from socialfusion.report._columns import column_title
from socialfusion.report._render import PAGE_ROWS, render_report, write_report
from socialfusion.report._section import Block, Figure, Metrics, ReportSection, Table, Text
from socialfusion.report.overview import overview_section

__all__ = [
    "PAGE_ROWS",
    "Block",
    "Figure",
    "Metrics",
    "ReportSection",
    "Table",
    "Text",
    "column_title",
    "overview_section",
    "render_report",
    "write_report",
]
