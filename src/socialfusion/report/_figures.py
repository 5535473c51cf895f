"""Plotly charts in the report's house style, for sections that plot counts (bars) and series (lines).

Single-series charts use the accent colour; charts of several series (one per class, say) show a legend and take
their colours from ``colors`` or Plotly's default sequence. A topic has one colour in every card, keyed by its id
(``topic_colors``). ``day_bins`` and ``date_axis`` put dated values on a time axis of at most
``MAX_TIMELINE_POINTS`` points. A None in a line's values is a gap (a period not observed): the line breaks there.

Plotly.js reads a subset of HTML in every label (``<b>``, ``<a href>``, entities), so category labels that
come from user data are entity-escaped here: a hashtag ``#<b>x</b>`` shows as typed, never as markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa

__all__ = ["MAX_TIMELINE_POINTS", "OUTLIER_COLOR", "TOPIC_PALETTE", "bar_chart", "date_axis", "day_bins",
           "house_layout", "line_chart", "line_segments", "lines_chart", "node_link_layout", "stacked_bar_chart",
           "topic_colors"]

MAX_TIMELINE_POINTS = 3660
"""Above this many days (about ten years) a time axis counts per bin of several days."""

FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
ACCENT = "#3b6fd8"
_HEIGHT_PX = 320
_BAR_HEIGHT_PX = 26
_MIN_HORIZONTAL_HEIGHT_PX = 220
_MAX_MARKER_POINTS = 60  # beyond this a line's markers only add clutter
_DATE_TICKS_MAX = 14
_MILLISECONDS_PER_DAY = 86_400_000

TOPIC_PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
                 "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
                 "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038")
"""Topic colours (Plotly's Dark24): topic ``i`` is ``TOPIC_PALETTE[i % 24]`` in every card."""

OUTLIER_COLOR = "#9e9e9e"
"""The colour of the outlier topic (-1, posts no topic claims)."""


def topic_colors(topic_ids: Iterable[Any]) -> dict[str, str]:
    """One colour per topic, keyed by topic id, the same in every card (trends, opinion, the topic map, ...).

    Args:
        topic_ids: topic ids, as ints or the strings of ints that trend and opinion keys are; other values (keys
            that are not topic ids) get no colour.

    Returns:
        ``str(topic_id)`` -> CSS colour.

    Examples:
        >>> topic_colors([0, "1", -1, "cats"])
        {'0': '#2E91E5', '1': '#E15F99', '-1': '#9e9e9e'}
    """
    colours = {}
    for topic in topic_ids:
        try:
            number = int(str(topic))
        except ValueError:
            continue
        colours[str(topic)] = OUTLIER_COLOR if number < 0 else TOPIC_PALETTE[number % len(TOPIC_PALETTE)]
    return colours


def _present(values: Sequence[Any]) -> list[float]:
    """The values that are numbers: a None or NaN is a gap."""
    return [float(value) for value in values if value is not None and not math.isnan(float(value))]


def _count_ticks(values: Sequence[float | None]) -> dict[str, Any]:
    """Axis settings that keep ticks on whole numbers when all values are small counts (no "0.5 posts")."""
    present = _present(values)
    small_whole = all(value.is_integer() for value in present) and max(present, default=0) <= 10
    return {"dtick": 1, "tick0": 0} if small_whole else {}


def _line_mode(n_points: int, series: Iterable[Sequence[Any]]) -> str:
    """Markers while there are few points, and wherever a gap leaves a point alone (a line cannot show it)."""
    if n_points <= _MAX_MARKER_POINTS:
        return "lines+markers"
    for values in series:
        gap = [value is None or (isinstance(value, float) and math.isnan(value)) for value in values]
        padded = [True, *gap, True]
        if any(not padded[i] and padded[i - 1] and padded[i + 1] for i in range(1, len(padded) - 1)):
            return "lines+markers"
    return "lines"


def house_layout(figure: go.Figure, *, height: int, x_title: str, y_title: str) -> go.Figure:
    """The report's look for any Plotly figure: white template, house font, tight margins, no legend."""
    figure.update_layout(
        template="plotly_white",
        height=height,
        autosize=True,
        margin={"l": 10, "r": 20, "t": 10, "b": 10},
        font={"family": FONT_FAMILY, "size": 13, "color": "#222"},
        hoverlabel={"font": {"family": FONT_FAMILY}},
        showlegend=False,
        bargap=0.3,
        xaxis={"title": {"text": x_title}, "automargin": True},
        yaxis={"title": {"text": y_title}, "automargin": True},
    )
    return figure


def line_segments(xy: np.ndarray, pairs: Sequence[Sequence[int]] | np.ndarray) -> tuple[list, list]:
    """``x`` and ``y`` lists that draw each ``(a, b)`` pair of rows of ``xy`` as its own line in one Scatter trace
    (a None after each pair breaks the line): the edges of a node-link drawing.

    Examples:
        >>> line_segments(np.array([[0.0, 0.0], [1.0, 2.0]]), [(0, 1)])
        ([0.0, 1.0, None], [0.0, 2.0, None])
    """
    x: list[float | None] = []
    y: list[float | None] = []
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        x += [float(xy[a, 0]), float(xy[b, 0]), None]
        y += [float(xy[a, 1]), float(xy[b, 1]), None]
    return x, y


def node_link_layout(figure: go.Figure, *, height: int, equal_aspect: bool = False) -> go.Figure:
    """The house style for a node-link drawing: no axes (positions carry no units), optionally equal x/y scales."""
    house_layout(figure, height=height, x_title="", y_title="")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, **({"scaleanchor": "x"} if equal_aspect else {}))
    return figure


def bar_chart(
    labels: Sequence[Any],
    values: Sequence[float],
    *,
    value_title: str,
    label_title: str = "",
    horizontal: bool = False,
) -> go.Figure:
    """A single-series bar chart; horizontal bars list the labels top-down in the given order.

    Args:
        labels: one category per bar (shown as text, entity-escaped).
        values: one value per bar.
        value_title: the value axis title (e.g. ``"posts"``).
        label_title: the category axis title.
        horizontal: draw horizontal bars (better for long labels such as hashtags).

    Returns:
        A figure with one ``Bar`` trace of ``len(labels)`` bars.
    """
    categories = [html.escape(str(label), quote=False) for label in labels]
    hover = "%{y}: %{x:,}<extra></extra>" if horizontal else "%{x}: %{y:,}<extra></extra>"
    bar = go.Bar(
        x=list(values) if horizontal else categories,
        y=categories if horizontal else list(values),
        orientation="h" if horizontal else "v",
        marker={"color": ACCENT},
        hovertemplate=hover,
    )
    if horizontal:
        height = max(_MIN_HORIZONTAL_HEIGHT_PX, 70 + _BAR_HEIGHT_PX * len(categories))
        figure = house_layout(go.Figure(bar), height=height, x_title=value_title, y_title=label_title)
        figure.update_yaxes(autorange="reversed", type="category")
        figure.update_xaxes(**_count_ticks(values))
    else:
        figure = house_layout(go.Figure(bar), height=_HEIGHT_PX, x_title=label_title, y_title=value_title)
        figure.update_xaxes(type="category")
        figure.update_yaxes(**_count_ticks(values))
    return figure


def line_chart(x: Sequence[Any], y: Sequence[float | None], *, x_title: str, y_title: str) -> go.Figure:
    """A single-series line chart (markers shown while there are few points, and on points a gap isolates).

    Args:
        x: the x values (numbers or dates, e.g. a ``datetime64[D]`` array).
        y: one value per x; None is a gap (the line breaks).
        x_title: the x axis title.
        y_title: the y axis title.

    Returns:
        A figure with one ``Scatter`` trace.
    """
    mode = _line_mode(len(x), [y])
    line = go.Scatter(
        x=x, y=list(y), mode=mode, line={"color": ACCENT, "width": 2}, hovertemplate="%{x}: %{y:,}<extra></extra>"
    )
    figure = house_layout(go.Figure(line), height=_HEIGHT_PX, x_title=x_title, y_title=y_title)
    return figure.update_yaxes(rangemode="tozero", **_count_ticks(y))


def _legend(figure: go.Figure) -> go.Figure:
    """A legend above the plot, listing the series in the order given (Plotly reverses stacked bars')."""
    return figure.update_layout(showlegend=True, legend={"orientation": "h", "yanchor": "bottom", "y": 1.02,
                                                         "xanchor": "left", "x": 0, "traceorder": "normal"})


def lines_chart(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    *,
    x_title: str,
    y_title: str,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """A line chart of several series over the same x values, with a legend.

    Args:
        x: the x values (numbers or dates).
        series: series name -> one value per x (None: a gap), drawn in the mapping's order (names
            entity-escaped).
        x_title: the x axis title.
        y_title: the y axis title.
        colors: series name -> CSS colour; series not named take Plotly's default colours.

    Returns:
        A figure with one ``Scatter`` trace per series.
    """
    mode = _line_mode(len(x), series.values())
    figure = go.Figure()
    for name, values in series.items():
        label = html.escape(str(name), quote=False)
        line = {"width": 2, **({"color": colors[name]} if colors and name in colors else {})}
        figure.add_trace(go.Scatter(x=x, y=list(values), mode=mode, name=label, line=line,
                                    hovertemplate=f"{label} %{{x}}: %{{y:,}}<extra></extra>"))
    figure = house_layout(figure, height=_HEIGHT_PX, x_title=x_title, y_title=y_title)
    return _legend(figure).update_yaxes(rangemode="tozero")


def stacked_bar_chart(
    labels: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    *,
    value_title: str,
    label_title: str = "",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Horizontal stacked bars: one bar per label (top-down in the given order), one segment per series.

    Args:
        labels: one category per bar (entity-escaped).
        series: series name -> one value per label, stacked in the mapping's order (names entity-escaped).
        value_title: the value axis title (e.g. ``"share of posts"``).
        label_title: the category axis title.
        colors: series name -> CSS colour; series not named take Plotly's default colours.

    Returns:
        A figure with one ``Bar`` trace per series.
    """
    categories = [html.escape(str(label), quote=False) for label in labels]
    figure = go.Figure()
    for name, values in series.items():
        segment = html.escape(str(name), quote=False)
        marker = {"color": colors[name]} if colors and name in colors else {}
        figure.add_trace(go.Bar(x=list(values), y=categories, orientation="h", name=segment, marker=marker,
                                hovertemplate=f"%{{y}} {segment}: %{{x:,}}<extra></extra>"))
    height = max(_MIN_HORIZONTAL_HEIGHT_PX, 100 + _BAR_HEIGHT_PX * len(categories))
    figure = house_layout(figure, height=height, x_title=value_title, y_title=label_title)
    figure.update_layout(barmode="stack")
    figure.update_yaxes(autorange="reversed", type="category")
    return _legend(figure)


def day_bins(created_at: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int]:
    """Group timestamps by UTC day, in bins of several days when they span more than ``MAX_TIMELINE_POINTS`` days.

    Args:
        created_at: timestamps without nulls (drop them first).

    Returns:
        ``(bin_of_each, bin_starts, bin_days)``: ``(n,)`` int64 bin index of each timestamp, ``(bins,)``
        ``datetime64[D]`` first day of each bin (every bin from the first to the last), and the days per bin.

    Examples:
        >>> import datetime as dt
        >>> times = pa.array([dt.datetime(2024, 5, 3, 8), dt.datetime(2024, 5, 1, 9)], pa.timestamp("us", "UTC"))
        >>> bins, starts, days = day_bins(times)
        >>> bins.tolist(), [str(start) for start in starts], days
        ([2, 0], ['2024-05-01', '2024-05-02', '2024-05-03'], 1)
    """
    if isinstance(created_at, pa.ChunkedArray):
        created_at = created_at.combine_chunks()
    days = created_at.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    if not len(days):
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), 1
    first_day = int(days.min())
    bin_days = max(1, math.ceil((int(days.max()) - first_day + 1) / MAX_TIMELINE_POINTS))
    bins = (days - first_day) // bin_days
    starts = (first_day + np.arange(int(bins.max()) + 1) * bin_days).astype("datetime64[D]")
    return bins, starts, bin_days


def date_axis(figure: go.Figure, n_bins: int, bin_days: int) -> go.Figure:
    """Tick every bin on a short time axis (Plotly would tick every 6 hours over a few days); dates as YYYY-MM-DD."""
    if n_bins <= _DATE_TICKS_MAX:
        figure.update_xaxes(dtick=bin_days * _MILLISECONDS_PER_DAY, tickformat="%Y-%m-%d")
    return figure
