"""Plotly charts in the report's house style, for sections that plot counts (bars) and series (lines).

Plotly.js reads a subset of HTML in every label (``<b>``, ``<a href>``, entities), so category labels that
come from user data are entity-escaped here: a hashtag ``#<b>x</b>`` shows as typed, never as markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["bar_chart", "line_chart"]

FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
ACCENT = "#3b6fd8"
_HEIGHT_PX = 320
_BAR_HEIGHT_PX = 26
_MIN_HORIZONTAL_HEIGHT_PX = 220
_MAX_MARKER_POINTS = 60  # beyond this a line's markers only add clutter


def _count_ticks(values: Sequence[float]) -> dict[str, Any]:
    """Axis settings that keep ticks on whole numbers when all values are small counts (no "0.5 posts")."""
    small_whole = all(float(value).is_integer() for value in values) and max(values, default=0) <= 10
    return {"dtick": 1, "tick0": 0} if small_whole else {}


def _house_layout(figure: go.Figure, *, height: int, x_title: str, y_title: str) -> go.Figure:
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
        figure = _house_layout(go.Figure(bar), height=height, x_title=value_title, y_title=label_title)
        figure.update_yaxes(autorange="reversed", type="category")
        figure.update_xaxes(**_count_ticks(values))
    else:
        figure = _house_layout(go.Figure(bar), height=_HEIGHT_PX, x_title=label_title, y_title=value_title)
        figure.update_xaxes(type="category")
        figure.update_yaxes(**_count_ticks(values))
    return figure


def line_chart(x: Sequence[Any], y: Sequence[float], *, x_title: str, y_title: str) -> go.Figure:
    """A single-series line chart (markers shown while there are few points).

    Args:
        x: the x values (numbers or dates, e.g. a ``datetime64[D]`` array).
        y: one value per x.
        x_title: the x axis title.
        y_title: the y axis title.

    Returns:
        A figure with one ``Scatter`` trace.
    """
    mode = "lines+markers" if len(x) <= _MAX_MARKER_POINTS else "lines"
    line = go.Scatter(
        x=x, y=y, mode=mode, line={"color": ACCENT, "width": 2}, hovertemplate="%{x}: %{y:,}<extra></extra>"
    )
    figure = _house_layout(go.Figure(line), height=_HEIGHT_PX, x_title=x_title, y_title=y_title)
    return figure.update_yaxes(rangemode="tozero", **_count_ticks(y))
