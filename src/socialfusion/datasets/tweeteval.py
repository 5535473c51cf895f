"""Loaders of TweetEval (seven English tweet-classification tasks) and the SemEval-2017 4A sentiment pool."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    Checksums,
    canonical_split,
    check_files,
    dataset_corpus,
    dataset_path,
    read_delimited,
    read_lines,
    verify_manifest,
)
from socialfusion.exceptions import ConfigurationError, DataError

__all__ = [
    "TWEETEVAL_TASKS",
    "decode_json_escapes",
    "load_semeval2017_pool",
    "load_tweeteval",
    "tweet_match_key",
    "tweet_near_copy_key",
]

DATASET = "tweeteval"
STANCE_TARGETS = ("abortion", "atheism", "climate", "feminist", "hillary")
TWEETEVAL_TASKS = (
    "emoji", "emotion", "hate", "irony", "offensive", "sentiment", "stance",
    *(f"stance_{target}" for target in STANCE_TARGETS),
)
FILE_SPLITS = ("train", "val", "test")
POOL_FOLDER = "semeval2017-task4A/downloaded"
SENTIMENT_VAL_TEXT = "datasets/sentiment/val_text.txt"

_JSON_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")
_MENTION = re.compile(r"@\w+")


def _subtasks(task: str) -> list[str]:
    if task not in TWEETEVAL_TASKS:
        raise ConfigurationError(f"unknown TweetEval task {task!r}; expected one of {list(TWEETEVAL_TASKS)}")
    return [f"stance_{target}" for target in STANCE_TARGETS] if task == "stance" else [task]


def _task_folder(datasets: Path, task: str) -> Path:
    if task.startswith("stance_"):
        return datasets / "stance" / task.removeprefix("stance_")
    return datasets / task


def _mapping_file(task_folder: Path) -> Path:
    """The task's ``mapping.txt``; the stance targets share their parent folder's."""
    own = task_folder / "mapping.txt"
    return own if own.is_file() else task_folder.parent / "mapping.txt"


def _class_names(mapping: Path) -> dict[str, str]:
    """Label index -> class name from a ``mapping.txt``.

    Emoji classes are named by their description without the surrounding underscores (``red_heart``).
    """
    names = {}
    for index, *descriptions in read_delimited(mapping, header=False):
        names[index] = [description for description in descriptions if description.strip()][-1].strip("_ ")
    return names


def decode_json_escapes(text: str) -> str:
    """Decode JSON-style ``\\uXXXX`` escapes (surrogate pairs included), as in the SemEval-2017 downloads.

    Examples:
        >>> decode_json_escapes(r"Plus\\u002c I\\u2019m in")
        'Plus, I’m in'
    """
    return _JSON_ESCAPES.sub(lambda match: json.loads(f'"{match.group(0)}"'), text)


def tweet_match_key(text: str) -> str:
    """The form in which two copies of a tweet compare equal.

    ``\\uXXXX`` escapes are decoded, @mentions become ``@user`` (TweetEval's anonymisation) and runs of
    whitespace become one space.

    Examples:
        >>> tweet_match_key("  @jack   said\\u002c hi ")
        '@user said, hi'
    """
    return " ".join(_MENTION.sub("@user", decode_json_escapes(text)).split())


def load_tweeteval(task: str = "sentiment", root: str | os.PathLike[str] | None = None, *,
                   verify: bool = True, checksums: Checksums | None = None) -> Corpus:
    """Load one TweetEval task (Barbieri et al. 2020) with its standard split.

    Posts: one per line of ``{train,val,test}_text.txt``, ``post_id`` = ``"{task}:{split}:{line index}"``
    (standard split names: ``val`` becomes ``dev``), text stripped, ``lang`` ``"en"``, author and time
    unknown. Labels: task = the TweetEval task name, label = the class name from ``mapping.txt`` (e.g.
    ``"joy"``, ``"against"``, ``"red_heart"`` for emoji), split ``train``/``dev``/``test``. A split whose
    texts are absent is skipped and listed in ``metadata["skipped"]``: the sentiment train texts are missing
    from the shared copy (use ``load_semeval2017_pool`` instead) and its test split is withheld. A blank line
    of a text file (hate has 8) becomes a ``rejects`` row, and its label is dropped.

    An extra split: whoever has a split the shared copy lacks (the sentiment test split, say) copies TweetEval's
    ``{split}_text.txt`` and ``{split}_labels.txt`` into the task's folder. ``MANIFEST.sha256`` does not list
    them, so they are checked against ``checksums`` (path -> SHA-256) when given, else loaded but reported as
    unverified: a logged warning names them and ``metadata["verification"]["unverified"]`` holds their SHA-256.

    Args:
        task: one of ``TWEETEVAL_TASKS``: ``emoji``, ``emotion``, ``hate``, ``irony``, ``offensive``,
            ``sentiment``, ``stance_<target>`` for a target in ``STANCE_TARGETS``, or ``stance`` for all five
            stance targets in one corpus (each labelled under its own ``stance_<target>`` task).
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` (or ``checksums``) first.
        checksums: path -> expected SHA-256 (hex) of files the manifest does not list (absolute, or relative to
            the working directory or the dataset folder, e.g. ``datasets/sentiment/test_text.txt``).

    Returns:
        A Corpus with ``posts``, ``labels`` and ``rejects``; ``metadata["verification"]`` says how each file
        was checked.

    Raises:
        ConfigurationError: unknown task, a malformed checksum, or a checksum for a file not read.
        DatasetNotFoundError: the dataset folder, its manifest or a listed file is absent.
        IntegrityError: a file does not match the manifest or its checksum.
        DataError: a split's text and label files differ in length.
    """
    subtasks = _subtasks(task)
    folder = dataset_path(DATASET, root)
    datasets = folder / "datasets"
    plan: list[tuple[str, str, Path, Path | None]] = []  # (subtask, file split, texts, labels or None)
    skipped: list[str] = []
    mappings = {subtask: _mapping_file(_task_folder(datasets, subtask)) for subtask in subtasks}
    read_files = list(mappings.values())
    for subtask in subtasks:
        task_folder = _task_folder(datasets, subtask)
        for split in FILE_SPLITS:
            texts, labels = task_folder / f"{split}_text.txt", task_folder / f"{split}_labels.txt"
            if not texts.is_file():
                skipped.append(f"{subtask}/{split}" + (" (labels without texts)" if labels.is_file() else ""))
                continue
            plan.append((subtask, split, texts, labels if labels.is_file() else None))
            read_files += [texts] + ([labels] if labels.is_file() else [])
    checks = check_files(read_files, manifest_folder=folder, verify=verify, checksums=checksums)

    posts, label_rows, rejects = [], [], []
    seen_at = dt.datetime.now(dt.UTC)
    classes = {subtask: _class_names(mapping) for subtask, mapping in mappings.items()}
    for subtask, split, texts_path, labels_path in plan:
        texts = read_lines(texts_path)
        labels = read_lines(labels_path) if labels_path else []
        if labels_path and len(labels) != len(texts):
            raise DataError(f"{labels_path} has {len(labels)} labels for {len(texts)} texts in {texts_path}")
        standard_split = canonical_split(split)
        for index, text in enumerate(texts):
            post_id = f"{subtask}:{standard_split}:{index}"
            if not text.strip():
                rejects.append({"source": str(texts_path), "location": f"line {index + 1}", "table": "posts",
                                "reason": "empty tweet text; its label is dropped too", "raw": text,
                                "at": seen_at})
                continue
            posts.append({"post_id": post_id, "text": text.strip(), "lang": "en", "platform": "twitter"})
            if labels:
                label_rows.append({"item_id": post_id, "task": subtask, "split": standard_split,
                                   "label": classes[subtask][labels[index].strip()]})
    return dataset_corpus(
        DATASET,
        folder,
        posts=posts,
        labels=label_rows,
        rejects=rejects,
        metadata={
            "task": task,
            "classes": {subtask: sorted(set(names.values())) for subtask, names in classes.items()},
            "skipped": skipped,
            "verification": checks.metadata(),
        },
    )


def tweet_near_copy_key(text: str) -> str:
    """``tweet_match_key`` made blind to what TweetEval changed when it copied SemEval tweets: case, links, a leading
    "RT", quotes and other punctuation.

    Examples:
        >>> tweet_near_copy_key('RT @bob: "Dark Souls 3" launch date... https://t.co/V3rM') == \\
        ...     tweet_near_copy_key("Dark Souls 3 launch date")
        True
    """
    text = re.sub(r"https?://\S+|@user|&\w+;", " ", tweet_match_key(text).lower())
    words = re.sub(r"[^\w]+", " ", text).split()
    return " ".join(words[1:] if words[:1] == ["rt"] else words)


def load_semeval2017_pool(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load the SemEval-2017 Task 4A English tweets (2013-2016) as a training pool for TweetEval sentiment.

    TweetEval's sentiment train texts are missing from the shared copy; these tweets, from which TweetEval
    drew that task, stand in for them. Many TweetEval sentiment validation tweets are among them, so every
    pool row whose ``tweet_near_copy_key`` equals that of a validation tweet is removed: TweetEval changed
    the tweets it copied (@mentions became ``@user``, links, quotes and a leading "RT" were dropped), so an
    exact match leaves near copies of about a third of the validation tweets in the pool. A tweet id
    that recurs (the same tweet in several SemEval files) is kept once: its first occurrence in file-name
    order.

    Posts: ``post_id`` = the tweet id, text with ``\\uXXXX`` escapes decoded (mentions kept as written),
    ``extra.source_file`` = the SemEval file. Labels: task ``"sentiment"``, ``positive``/``neutral``/
    ``negative``, split ``train``. ``metadata`` reports ``rows_read``, ``removed_matching_val`` (rows),
    ``val_tweets_in_pool`` (validation tweets that had a match) and ``duplicate_ids_dropped``.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``posts`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or a listed file is absent.
        IntegrityError: a file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    pool_files = sorted((folder / POOL_FOLDER).glob("*.tsv"))
    if verify:
        verify_manifest(folder, [SENTIMENT_VAL_TEXT, *(path.relative_to(folder) for path in pool_files)])
    val_keys = [tweet_near_copy_key(text) for text in read_lines(folder / SENTIMENT_VAL_TEXT)]
    held_out = set(val_keys)

    posts, labels = [], []
    pool_keys: set[str] = set()
    kept_ids: set[str] = set()
    rows_read = removed = duplicates = 0
    for path in pool_files:
        for tweet_id, label, raw_text in read_delimited(path, header=False, max_fields=3):
            rows_read += 1
            text = decode_json_escapes(raw_text).strip()
            key = tweet_near_copy_key(text)
            pool_keys.add(key)
            if key in held_out:
                removed += 1
            elif tweet_id in kept_ids:
                duplicates += 1
            else:
                kept_ids.add(tweet_id)
                posts.append({"post_id": tweet_id, "text": text, "lang": "en", "platform": "twitter",
                              "extra": {"source_file": path.stem}})
                labels.append({"item_id": tweet_id, "task": "sentiment", "label": label, "split": "train"})
    return dataset_corpus(
        "semeval2017-task4a",
        folder / POOL_FOLDER,
        posts=posts,
        labels=labels,
        metadata={
            "task": "sentiment",
            "classes": sorted({row["label"] for row in labels}),
            "rows_read": rows_read,
            "removed_matching_val": removed,
            "val_tweets_in_pool": sum(1 for key in val_keys if key in pool_keys),
            "duplicate_ids_dropped": duplicates,
        },
    )
