"""The corpus overview: counts checked by eye against the small corpus, empty and edge cases, speed."""

from __future__ import annotations

import html
import time

import numpy as np
import pyarrow as pa
import pytest

from socialfusion import Corpus
from socialfusion.report import Figure, Metrics, Table, Text, overview_section, render_report
from socialfusion.report.overview import MAX_TIMELINE_POINTS, TOP_TAGS
from socialfusion.schema import arrow_schema

from ._small_corpus import (
    EXPECTED_HASHTAGS,
    EXPECTED_LANGUAGES,
    EXPECTED_MENTIONS,
    EXPECTED_MODALITIES,
    EXPECTED_POSTS_PER_DAY,
    HOSTILE_HASHTAG,
    HOSTILE_REASON,
)


def _figure(section, key: str) -> Figure:
    (figure,) = [block for block in section.blocks if isinstance(block, Figure) and block.key == key]
    return figure


def _bars(section, key: str) -> dict[str, int]:
    """Label -> value of a bar chart, labels unescaped to what the reader sees."""
    (bar,) = _figure(section, key).figure.data
    labels, values = (bar.y, bar.x) if bar.orientation == "h" else (bar.x, bar.y)
    return {html.unescape(label): value for label, value in zip(labels, values, strict=True)}


def _tables(section) -> dict[str, Table]:
    return {block.caption: block for block in section.blocks if isinstance(block, Table)}


def _texts(section) -> str:
    return " ".join(block.text for block in section.blocks if isinstance(block, Text))


def test_row_counts_per_table(small_corpus):
    metrics = next(block for block in overview_section(small_corpus).blocks if isinstance(block, Metrics))
    assert dict(metrics.values) == {
        "posts": 5, "users": 2, "interactions": 1, "edges": 1, "labels": 0, "rejects": 3,
    }


def test_summary(small_corpus):
    assert overview_section(small_corpus).summary == (
        "5 posts by 3 authors, 2024-05-01 to 2024-05-03; 3 inputs rejected."
    )


def test_hashtags_case_insensitive_stripped_once_per_post(small_corpus):
    section = overview_section(small_corpus)
    assert _bars(section, "hashtags") == EXPECTED_HASHTAGS
    assert list(_bars(section, "hashtags")) == ["ai", "python", HOSTILE_HASHTAG]  # most frequent first
    assert "all of 3 distinct hashtags" in _figure(section, "hashtags").caption


def test_mentions_case_insensitive_at_stripped(small_corpus):
    assert _bars(overview_section(small_corpus), "mentions") == EXPECTED_MENTIONS


def test_languages_null_and_blank_as_unknown(small_corpus):
    assert _bars(overview_section(small_corpus), "languages") == EXPECTED_LANGUAGES


def test_modalities(small_corpus):
    assert _bars(overview_section(small_corpus), "modalities") == EXPECTED_MODALITIES


def test_posts_per_day_says_how_many_are_undated(small_corpus):
    activity = _figure(overview_section(small_corpus), "activity")
    (line,) = activity.figure.data
    assert dict(zip(map(str, line.x), line.y, strict=True)) == EXPECTED_POSTS_PER_DAY
    assert "1 post without created_at is not shown" in activity.caption


def test_rejects_listed_and_counted_per_reason(small_corpus):
    tables = _tables(overview_section(small_corpus))
    per_reason = tables["Rejected inputs per reason"].data
    assert per_reason.to_pylist() == [
        {"reason": "invalid JSON", "rejected inputs": 2},
        {"reason": HOSTILE_REASON, "rejected inputs": 1},
    ]
    listed = tables["Rejected inputs"].data
    assert listed.column_names == ["source", "location", "table", "reason"]
    assert listed.num_rows == 3


def test_empty_corpus_gives_notes_not_charts():
    section = overview_section(Corpus())
    assert not section.figure_ids()
    assert "The corpus has no posts" in _texts(section)
    assert "No inputs were rejected." in _texts(section)
    assert section.summary == "No posts; no input rejected."
    page = render_report([section], title="Empty")
    assert "Plotly" not in page  # no figure, so no 4.8 MB of plotly.js either


def test_posts_without_hashtags_mentions_or_dates_give_notes():
    corpus = Corpus.from_records(posts=[{"post_id": "p1", "text": "plain"}, {"post_id": "p2", "text": "x"}])
    section = overview_section(corpus)
    assert section.figure_ids() == ["overview-modalities", "overview-languages"]
    notes = _texts(section)
    assert "No hashtags in the corpus." in notes
    assert "No mentions in the corpus." in notes
    assert "No post has a created_at" in notes and "2 posts without created_at are not shown." in notes
    assert section.summary == "2 posts (authors unknown), none dated; no input rejected."


def test_top_hashtags_are_capped():
    posts = [{"post_id": f"p{n}", "text": "x", "hashtags": [f"tag{n:02d}", "common"]} for n in range(25)]
    section = overview_section(Corpus.from_records(posts=posts))
    bars = _bars(section, "hashtags")
    assert len(bars) == TOP_TAGS
    assert bars["common"] == 25
    assert "the 20 most frequent of 26 distinct hashtags" in _figure(section, "hashtags").caption


def test_long_spans_are_binned():
    posts = [
        {"post_id": "old", "text": "x", "created_at": "1990-01-01T00:00:00Z"},
        {"post_id": "new", "text": "y", "created_at": "2024-06-30T12:00:00Z"},
    ]
    activity = _figure(overview_section(Corpus.from_records(posts=posts)), "activity")
    (line,) = activity.figure.data
    assert len(line.y) <= MAX_TIMELINE_POINTS
    assert sum(value for value in line.y if value is not None) == 2  # the bins with no post are gaps (None)
    assert activity.caption.startswith("Posts per 4 days")


def test_days_without_any_post_are_gaps_not_zeros():
    days = ["2020-03-19", "2020-03-20", "2020-04-01", "2020-04-02"]  # 21-31 March: not collected
    posts = [{"post_id": f"p{n}", "text": "x", "created_at": f"{day}T00:00:00Z"} for n, day in enumerate(days)]
    activity = _figure(overview_section(Corpus.from_records(posts=posts)), "activity")
    (line,) = activity.figure.data
    per_day = dict(zip(map(str, line.x), line.y, strict=True))
    assert per_day["2020-03-20"] == 1 and per_day["2020-04-01"] == 1
    assert all(per_day[f"2020-03-{day}"] is None for day in range(21, 32))
    assert "11 days not observed" in activity.caption and "21–31 Mar 2020" in activity.caption


def _million_posts() -> pa.Table:
    """One million posts built column by column (validating records one by one would take minutes)."""
    rows = 1_000_000
    rng = np.random.default_rng(0)
    schema = arrow_schema("posts")
    tags = np.array([f"Tag{n}" for n in range(5_000)])

    def tag_lists() -> pa.ListArray:
        offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 4, rows))]).astype(np.int32)
        values = tags[rng.integers(0, len(tags), offsets[-1])]
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))

    seconds = rng.integers(0, 365 * 86_400, rows).astype("timedelta64[s]")
    created_at = pa.array(np.datetime64("2023-01-01T00:00:00", "us") + seconds)
    created_at = created_at.cast(schema.field("created_at").type)
    columns = {field.name: pa.nulls(rows, field.type) for field in schema}
    columns |= {
        "post_id": pa.array(np.arange(rows).astype(str)),
        "author_id": pa.array(rng.integers(0, 50_000, rows).astype(str)),
        "text": pa.array(np.where(rng.random(rows) < 0.9, "some text", "")),
        "created_at": pa.array(np.where(rng.random(rows) < 0.99, created_at, None)),
        "lang": pa.array(rng.choice(["en", "fr", "de", None], rows)),
        "hashtags": tag_lists(),
        "mentions": tag_lists(),
        "media": pa.array([[]] * rows, type=schema.field("media").type),
    }
    columns["record_key"] = columns["post_id"]
    return pa.table(columns, schema=schema)


@pytest.mark.slow
def test_a_million_posts_in_a_few_seconds():
    corpus = Corpus(posts=_million_posts())
    started = time.process_time()  # CPU time: wall time swings with whatever else the machine runs
    section = overview_section(corpus)
    cpu_seconds = time.process_time() - started
    assert section.summary.startswith("1,000,000 posts by 50,000 authors")
    assert cpu_seconds < 10, f"overview of 1,000,000 posts took {cpu_seconds:.1f} s of CPU"  # about 2 s
