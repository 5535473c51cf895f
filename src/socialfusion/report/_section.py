"""The HTML report's section interface: a ``ReportSection`` of blocks (figures, tables, text, metrics).

Every analysis contributes one ``ReportSection`` (``Task.report()``); ``render_report`` lays the sections out
as cards. Blocks carry data, never HTML: the renderer escapes every string it is given.

Examples:
    >>> section = ReportSection(
    ...     title="Sentiment", key="sentiment", summary="Mostly positive.",
    ...     blocks=[Metrics({"posts": 1200, "positive share": 0.64}), Text("Scored with the default model.")],
    ... )
    >>> [type(block).__name__ for block in section.blocks]
    ['Metrics', 'Text']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from socialfusion.exceptions import ConfigurationError

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["Block", "Figure", "Metrics", "ReportSection", "Table", "Text"]

_ANCHOR = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _check_anchor(key: str, what: str) -> None:
    """Raise unless ``key`` can serve as an HTML id and URL fragment as it is."""
    if not isinstance(key, str) or not _ANCHOR.fullmatch(key):
        raise ConfigurationError(
            f"{what} {key!r} is not a valid anchor id: use a letter followed by letters, digits, '-' or '_'"
        )


@dataclass(frozen=True)
class Figure:
    """A Plotly figure with a caption.

    Attributes:
        figure: the ``plotly.graph_objects.Figure``; it is rendered as given (set its height in its layout).
        caption: a sentence under the plot.
        key: a short anchor id, unique within the section; the plot's div id is ``"{section.key}-{key}"``
            (``"{section.key}-figure-{n}"`` when None, n counting the section's figures from 1).
    """

    figure: go.Figure
    caption: str = ""
    key: str | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            _check_anchor(self.key, "figure key")


@dataclass(frozen=True)
class Table:
    """A table with a caption, shown up to ``max_rows`` rows followed by an "N more rows" note.

    In the page the table can be sorted by any column, searched, and downloaded as CSV (its raw values, every row
    that matches the search, up to ``socialfusion.report.PAGE_ROWS`` rows).

    Attributes:
        data: an Arrow table, or rows as mappings (columns in order of first appearance).
        caption: a sentence above the table.
        max_rows: how many rows to show.
        key: a short anchor id, unique within the section; the table's id (and its CSV download's name) is
            ``"{section.key}-{key}"`` (``"{section.key}-table-{n}"`` when None, n counting the section's tables
            from 1).
    """

    data: pa.Table | Sequence[Mapping[str, Any]]
    caption: str = ""
    max_rows: int = 50
    key: str | None = None

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ConfigurationError(f"Table.max_rows must be at least 1, got {self.max_rows}")
        if self.key is not None:
            _check_anchor(self.key, "table key")

    def columns(self) -> list[str]:
        """The column names, in order (for rows as mappings: in order of first appearance)."""
        if isinstance(self.data, pa.Table):
            return self.data.column_names
        return list(dict.fromkeys(name for row in self.data for name in row))

    def to_arrow(self) -> pa.Table:
        """All the rows as an Arrow table (rows as mappings are converted; a missing value is null)."""
        if isinstance(self.data, pa.Table):
            return self.data
        columns = self.columns()
        return pa.Table.from_pylist([{name: row.get(name) for name in columns} for row in self.data])

    @property
    def num_rows(self) -> int:
        """Number of rows in ``data``, shown or not."""
        return self.data.num_rows if isinstance(self.data, pa.Table) else len(self.data)

    def head(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The column names and the first ``max_rows`` rows, as Python values."""
        if isinstance(self.data, pa.Table):
            return self.data.column_names, self.data.slice(0, self.max_rows).to_pylist()
        return self.columns(), [dict(row) for row in self.data[: self.max_rows]]


@dataclass(frozen=True)
class Text:
    """Plain text; blank lines separate paragraphs, single line breaks are kept."""

    text: str


@dataclass(frozen=True)
class Metrics:
    """Named values shown as metric cards (ints get thousands separators, floats four significant digits).

    Attributes:
        values: metric name -> value, shown in the mapping's order.
        caption: a sentence under the cards.
    """

    values: Mapping[str, int | float | str | None]
    caption: str = ""


Block = Figure | Table | Text | Metrics
"""One element of a section's body."""


@dataclass(frozen=True)
class ReportSection:
    """One card of the HTML report: what one analysis has to show.

    Attributes:
        title: the card's heading and its entry in the table of contents.
        key: the card's anchor id (``report.html#key``), unique within a report.
        summary: one or two sentences shown under the title and in the table of contents.
        blocks: the card's body, in order; a list is accepted and stored as a tuple.

    Raises:
        ConfigurationError: ``key`` is not a valid anchor id, or a block is not a Figure, Table, Text or
            Metrics.
    """

    title: str
    key: str
    summary: str = ""
    blocks: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        _check_anchor(self.key, "section key")
        blocks = tuple(self.blocks)
        for block in blocks:
            if not isinstance(block, Block):
                raise ConfigurationError(
                    f"section {self.key!r}: a block must be a Figure, Table, Text or Metrics, "
                    f"got {type(block).__name__}"
                )
        object.__setattr__(self, "blocks", blocks)

    def figure_ids(self) -> list[str]:
        """The div id of each Figure block, in order."""
        figures = [block for block in self.blocks if isinstance(block, Figure)]
        return [
            f"{self.key}-{figure.key}" if figure.key else f"{self.key}-figure-{number}"
            for number, figure in enumerate(figures, start=1)
        ]

    def table_ids(self) -> list[str]:
        """The id of each Table block, in order (also the name of its CSV download and of ``export`` files)."""
        tables = [block for block in self.blocks if isinstance(block, Table)]
        return [
            f"{self.key}-{table.key}" if table.key else f"{self.key}-table-{number}"
            for number, table in enumerate(tables, start=1)
        ]
