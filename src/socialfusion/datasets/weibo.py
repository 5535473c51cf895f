"""Loaders of the COVID-19 Weibo data: emotion-labelled posts, daily post samples, hashtag-by-day counts."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import re

import pyarrow as pa
import pyarrow.csv as pa_csv

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import dataset_corpus, dataset_path, verify_manifest

__all__ = [
    "WEIBO_EMOTIONS",
    "load_weibo_covid_daily",
    "load_weibo_covid_emotions",
    "load_weibo_hashtag_counts",
]

DATASET = "weibo-covid19"
LABELLED_FILE = "labeledData.csv"
DAILY_SAMPLE_FILE = "unlabeled_daily_sample.csv.gz"
HASHTAG_COUNTS_FILE = "hashtag_daily_counts_full.csv.gz"
# labeledData.csv's label 0..6 (README of the source repository).
WEIBO_EMOTIONS = ("fear", "disgust", "optimism", "surprise", "gratitude", "sadness", "anger")
# The rule that built hashtag_daily_counts_full.csv.gz (SOURCE.txt), so post hashtags match those counts.
_HASHTAG = re.compile(r"#([^#\s]{1,40})#")


def _weibo_post(post_id: str, text: str, **fields) -> dict:
    hashtags = list(dict.fromkeys(_HASHTAG.findall(text)))  # each once, in order of appearance
    return {"post_id": post_id, "text": text, "hashtags": hashtags, "lang": "zh", "platform": "weibo", **fields}


def load_weibo_covid_emotions(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load the 21,173 emotion-labelled Weibo posts of Lyu et al. (NLPCC 2020).

    Posts: ``post_id`` = ``"labeled:{row index}"`` (the file has no ids), author and time unknown, hashtags
    ``#...#`` extracted. Labels: task ``"emotion"``, label one of ``WEIBO_EMOTIONS``, no split (the dataset
    publishes none). Many posts are generic Weibo posts rather than COVID-specific ones (see SOURCE.txt).

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the file read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``posts`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or the file is absent.
        IntegrityError: the file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    if verify:
        verify_manifest(folder, [LABELLED_FILE])
    posts, labels = [], []
    with (folder / LABELLED_FILE).open(encoding="utf-8-sig", newline="") as stream:
        for index, row in enumerate(csv.DictReader(stream)):
            post_id = f"labeled:{index}"
            posts.append(_weibo_post(post_id, row["review"].strip()))
            labels.append({"item_id": post_id, "task": "emotion", "label": WEIBO_EMOTIONS[int(row["label"])]})
    return dataset_corpus(DATASET, folder, posts=posts, labels=labels,
                          metadata={"task": "emotion", "classes": list(WEIBO_EMOTIONS)})


def load_weibo_covid_daily(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load the daily sample of COVID-19 Weibo posts (2020-01-19..2020-05-30; up to 1,500 posts per day).

    Posts: ``post_id`` = ``"{date}:{index within the day}"``, ``author_id`` = the pseudonymised ``userid``
    (None on the days whose source file had no user column), ``created_at`` = that date at 00:00 UTC (the
    source gives the day only, a China-time date), hashtags ``#...#`` extracted. Daily volume reflects how the
    posts were crawled (per hot-search hashtag), not Weibo's volume: use ``load_weibo_hashtag_counts`` or
    ``unlabeled_daily_counts.csv`` for counts.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the file read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``posts``; ``metadata["days"]`` is the number of days sampled.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or the file is absent.
        IntegrityError: the file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    if verify:
        verify_manifest(folder, [DAILY_SAMPLE_FILE])
    posts = []
    index_in_day: dict[str, int] = {}
    with gzip.open(folder / DAILY_SAMPLE_FILE, "rt", encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            day = row["date"]
            index = index_in_day[day] = index_in_day.get(day, -1) + 1
            created_at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
            posts.append(_weibo_post(f"{day}:{index}", row["text"].strip(), author_id=row["userid"] or None,
                                     created_at=created_at))
    return dataset_corpus(DATASET, folder, posts=posts, metadata={"days": len(index_in_day)})


def load_weibo_hashtag_counts(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> pa.Table:
    """Load how many posts carried each hashtag on each day, over all the daily source posts with text.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the file read against ``MANIFEST.sha256`` first.

    Returns:
        A table ``date`` (date32), ``hashtag`` (string, without the ``#``), ``n_posts`` (int64), one row per
        (date, hashtag) with at least one post.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or the file is absent.
        IntegrityError: the file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    if verify:
        verify_manifest(folder, [HASHTAG_COUNTS_FILE])
    table = pa_csv.read_csv(
        folder / HASHTAG_COUNTS_FILE,
        convert_options=pa_csv.ConvertOptions(
            include_columns=["date", "hashtag", "n_posts_with_tag"],
            column_types={"date": pa.date32(), "hashtag": pa.string(), "n_posts_with_tag": pa.int64()},
            strings_can_be_null=False,  # a hashtag spelled "NA" or "null" is a hashtag
        ),
    )
    return table.rename_columns(["date", "hashtag", "n_posts"])
