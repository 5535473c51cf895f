"""The report's corpus overview: table sizes, modalities, activity, hashtags, mentions, languages, rejects.

Everything is computed with ``pyarrow.compute`` and NumPy over whole columns, so a corpus of a million posts
is summarised in a couple of seconds.

Examples:
    >>> from socialfusion import Corpus
    >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "hi #AI", "hashtags": ["AI"]}])
    >>> overview_section(corpus).summary
    '1 post (authors unknown), none dated; no input rejected.'
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus, modality_counts
from socialfusion.report._figures import MAX_TIMELINE_POINTS as MAX_TIMELINE_POINTS  # the activity line's limit
from socialfusion.report._figures import bar_chart, date_axis, day_bins, line_chart
from socialfusion.report._format import plural
from socialfusion.report._section import Block, Figure, Metrics, ReportSection, Table, Text

__all__ = ["overview_section"]

TOP_TAGS = 20
"""How many hashtags, mentions and languages the bar charts show."""

REJECTS_SHOWN = 50
"""How many rejected inputs the rejects table lists."""


def _ranked(values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Distinct values, counted (columns ``value``, ``count``), most frequent first, then by value."""
    counts = pc.value_counts(values)
    ranked = pa.table({"value": counts.field("values"), "count": counts.field("counts")})
    return ranked.sort_by([("count", "descending"), ("value", "ascending")])


def post_tag_pairs(tag_lists: pa.ChunkedArray | pa.ListArray, prefix: str) -> pa.Table:
    """Each post's tags lower-cased without leading ``prefix``: one row per (post, tag), blanks dropped.

    Args:
        tag_lists: one list of tags per post (the ``hashtags`` or ``mentions`` column).
        prefix: the characters stripped from the start of every tag (``"#"``, ``"@"``).

    Returns:
        Columns ``post`` (the post's row number in ``tag_lists``) and ``tag``; a tag appears once per post.

    Examples:
        >>> pairs = post_tag_pairs(pa.chunked_array([[["AI", "#ai", "Python"], [], ["#"]]]), "#")
        >>> sorted(pairs.to_pylist(), key=lambda row: row["tag"])
        [{'post': 0, 'tag': 'ai'}, {'post': 0, 'tag': 'python'}]
    """
    if isinstance(tag_lists, pa.ChunkedArray):
        tag_lists = tag_lists.combine_chunks()
    posts = pc.list_parent_indices(tag_lists)
    tags = pc.utf8_ltrim(pc.utf8_lower(pc.list_flatten(tag_lists)), characters=prefix)
    pairs = pa.table({"post": posts, "tag": tags}).filter(pc.greater(pc.utf8_length(tags), 0))
    return pairs.group_by(["post", "tag"]).aggregate([])


def _tags_once_per_post(tag_lists: pa.ChunkedArray, prefix: str) -> pa.Array:
    """Every post's tags lower-cased without leading ``prefix``; each tag once per post, blanks dropped."""
    return post_tag_pairs(tag_lists, prefix).column("tag")


def _top_chart(ranked: pa.Table, *, key: str, noun: str, label_title: str, what: str) -> Block:
    """A horizontal bar chart of the ``TOP_TAGS`` first rows of ``ranked``, or a note when it is empty."""
    if ranked.num_rows == 0:
        return Text(f"No {noun}s in the corpus.")
    top = ranked.slice(0, TOP_TAGS)
    shown = f"the {top.num_rows} most frequent" if ranked.num_rows > top.num_rows else "all"
    figure = bar_chart(
        top.column("value").to_pylist(),
        top.column("count").to_pylist(),
        value_title="posts",
        label_title=label_title,
        horizontal=True,
    )
    caption = f"{what.capitalize()}: {shown} of {plural(ranked.num_rows, f'distinct {noun}')}."
    return Figure(figure, caption=caption, key=key)


def _modalities(posts: pa.Table) -> Block:
    counts = modality_counts(posts)
    figure = bar_chart(list(counts), list(counts.values()), value_title="posts", label_title="modality")
    caption = "Posts carrying each modality (text: non-blank text); a post can count in several."
    return Figure(figure, caption=caption, key="modalities")


def _activity(created_at: pa.ChunkedArray) -> Block:
    """Posts per day (per bin of days for long spans) as a line; posts without ``created_at`` are counted.

    A day without any post was not observed (``observed_periods``): the line breaks there instead of dropping to
    0, and the caption names those days.
    """
    from socialfusion.tasks._periods import describe_unobserved, observed_periods

    undated = created_at.null_count
    undated_note = (
        f" {plural(undated, 'post')} without created_at {'is' if undated == 1 else 'are'} not shown."
        if undated
        else ""
    )
    if undated == len(created_at):
        return Text(f"No post has a created_at, so there is no activity over time to show.{undated_note}")
    bins, bin_starts, bin_days = day_bins(pc.drop_null(created_at))
    counts = np.bincount(bins, minlength=len(bin_starts))
    observed = observed_periods(bin_starts, counts)
    unit = "day" if bin_days == 1 else f"{bin_days} days"
    values = [int(count) if seen else None for count, seen in zip(counts, observed)]
    figure = line_chart(bin_starts, values, x_title="date (UTC)", y_title=f"posts per {unit}")
    date_axis(figure, len(counts), bin_days)
    gaps = describe_unobserved(bin_starts, observed, period_days=bin_days)
    gap_note = f" Gaps: {gaps}" if gaps else ""
    return Figure(figure, caption=f"Posts per {unit} (UTC).{gap_note}{undated_note}", key="activity")


def _languages(lang: pa.ChunkedArray) -> Block:
    """Posts per language (``lang`` lower-cased; null or blank shown as ``unknown``)."""
    codes = pc.utf8_lower(pc.utf8_trim_whitespace(lang.fill_null("")))
    codes = pc.if_else(pc.equal(pc.utf8_length(codes), 0), "unknown", codes)
    return _top_chart(
        _ranked(codes), key="languages", noun="language", label_title="language",
        what="posts per language (null as unknown)",
    )


def _rejects(rejects: pa.Table) -> list[Block]:
    if rejects.num_rows == 0:
        return [Text("No inputs were rejected.")]
    by_reason = _ranked(rejects.column("reason")).rename_columns(["reason", "rejected inputs"])
    listed = rejects.select(["source", "location", "table", "reason"])
    return [
        Table(by_reason, caption="Rejected inputs per reason", max_rows=TOP_TAGS),
        Table(listed, caption="Rejected inputs", max_rows=REJECTS_SHOWN),
    ]


def _summary(corpus: Corpus) -> str:
    posts = corpus.posts
    if posts.num_rows == 0:
        text = "No posts"
    else:
        authors = pc.count_distinct(posts.column("author_id")).as_py()
        by = f"by {plural(authors, 'author')}" if authors else "(authors unknown)"
        text = f"{plural(posts.num_rows, 'post')} {by}"
        dates = pc.min_max(posts.column("created_at")).as_py()
        text += f", {dates['min']:%Y-%m-%d} to {dates['max']:%Y-%m-%d}" if dates["min"] else ", none dated"
    rejected = corpus.rejects.num_rows
    return text + (f"; {plural(rejected, 'input')} rejected." if rejected else "; no input rejected.")


def overview_section(corpus: Corpus) -> ReportSection:
    """The corpus overview: what is in the corpus and what could not be ingested.

    Shows the row count of every table, posts per modality, posts per day, the top hashtags and mentions
    (lower-cased, ``#``/``@`` stripped, each counted once per post), the language mix and the rejected inputs
    with their reasons. An empty table yields a "no data" note instead of its chart.

    Args:
        corpus: the corpus to describe.

    Returns:
        A ``ReportSection`` with key ``"overview"``; its figures have the div ids ``overview-modalities``,
        ``overview-activity``, ``overview-hashtags``, ``overview-mentions`` and ``overview-languages``
        (those that have data).
    """
    posts = corpus.posts
    blocks: list[Block] = [Metrics(corpus.counts(), caption="Rows per table.")]
    if posts.num_rows == 0:
        blocks.append(Text("The corpus has no posts: no modality, activity, hashtag or language to show."))
    else:
        hashtags = _ranked(_tags_once_per_post(posts.column("hashtags"), "#"))
        mentions = _ranked(_tags_once_per_post(posts.column("mentions"), "@"))
        blocks += [
            _modalities(posts),
            _activity(posts.column("created_at")),
            _top_chart(
                hashtags, key="hashtags", noun="hashtag", label_title="hashtag",
                what="posts per hashtag (case-insensitive, # stripped)",
            ),
            _top_chart(
                mentions, key="mentions", noun="mention", label_title="mentioned account",
                what="posts per mentioned account (case-insensitive, @ stripped)",
            ),
            _languages(posts.column("lang")),
        ]
    blocks += _rejects(corpus.rejects)
    return ReportSection(title="Corpus overview", key="overview", summary=_summary(corpus), blocks=blocks)
