"""Loader of MVSA-Single: tweets with an optional image, labelled positive/neutral/negative (CLMLF split)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    canonical_split,
    dataset_corpus,
    dataset_path,
    numeric_order,
    read_manifest,
    verify_manifest,
)
from socialfusion.exceptions import DataError

__all__ = ["load_mvsa_single"]

DATASET = "mvsa-single"
TASK = "sentiment"
# CLMLF's emotion_label 0, 1, 2.
CLMLF_LABELS = ("positive", "neutral", "negative")
CLMLF_SPLITS = ("train", "dev", "test")


def _decode_tweet(raw: bytes) -> tuple[str, bool]:
    """The text of a raw tweet file and whether undecodable bytes had to be replaced."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def _image_media(folder: Path, guid: str, image_hashes: dict[str, str]) -> list[dict]:
    name = f"images/{guid}.jpg"
    try:
        size = (folder / name).stat().st_size
    except FileNotFoundError:
        return []
    return [{"kind": "image", "uri": str(folder / name), "sha256": image_hashes.get(name),
             "mime": "image/jpeg", "size_bytes": size}]


def _clmlf_labels(split_files: dict[str, Path], labels: dict[str, str]) -> dict[str, str]:
    """Add the CLMLF items' labels to ``labels`` (guid -> label) and return guid -> standard split."""
    splits = {}
    for split, path in split_files.items():
        for item in json.loads(path.read_text(encoding="utf-8")):
            guid, label = str(item["id"]), CLMLF_LABELS[int(item["emotion_label"])]
            if labels.setdefault(guid, label) != label:
                raise DataError(f"MVSA-Single item {guid}: labels_all.csv says {labels[guid]!r} but "
                                f"{path.name} says {label!r}")
            splits[guid] = canonical_split(split)
    return splits


def load_mvsa_single(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load MVSA-Single (Niu et al. 2016, cleaned per Xu & Mao 2017) with the CLMLF standard split.

    Posts: one per tweet text in ``texts/`` (labelled or not), ``post_id`` = the MVSA guid, author and time
    unknown (None). Texts are raw bytes, some not UTF-8: they are decoded as UTF-8 with undecodable bytes
    replaced by U+FFFD, and ``metadata["texts_with_replaced_bytes"]`` says how many needed it. A post carries
    an image ``Media`` item (absolute path, SHA-256 from the manifest, size) only when ``images/<guid>.jpg``
    exists: the shared copy has one for every train and dev item (4,061; the train images added later are
    downscaled to a 256 px short side), and a post without one is a normal missing modality.

    Labels: task ``"sentiment"``, label ``positive``/``neutral``/``negative``. Items in ``clmlf_split/*.json``
    get that split (``train``, ``dev``, and ``test`` when present: the CLMLF test split is withheld from the
    shared copy); items only in ``labels_all.csv`` get no split. A label that differs between the two files is
    an error.

    Verification hashes ``labels_all.csv``, the split files and the texts (what is read), not the images:
    their hashes are passed on in ``Media.sha256`` for whoever reads them.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` first (either way, image hashes are taken
            from the manifest when there is one).

    Returns:
        A Corpus with ``posts`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or a listed file is absent.
        IntegrityError: a file does not match the manifest, or is not listed in it (e.g. a split file added
            later: list it, or pass ``verify=False``).
        DataError: the two label files disagree on an item.
    """
    folder = dataset_path(DATASET, root)
    text_files = sorted((folder / "texts").glob("*.txt"), key=lambda path: numeric_order(path.stem))
    split_paths = {split: folder / "clmlf_split" / f"{split}.json" for split in CLMLF_SPLITS}
    split_files = {split: path for split, path in split_paths.items() if path.is_file()}
    read_files = [folder / "labels_all.csv", *split_files.values(), *text_files]
    if verify:
        hashes = verify_manifest(folder, [path.relative_to(folder) for path in read_files])
    else:
        hashes = read_manifest(folder)

    with (folder / "labels_all.csv").open(encoding="utf-8", newline="") as stream:
        labels = {row["guid"]: row["label"] for row in csv.DictReader(stream)}
    splits = _clmlf_labels(split_files, labels)

    posts = []
    replaced = 0
    for path in text_files:
        text, had_bad_bytes = _decode_tweet(path.read_bytes())
        replaced += had_bad_bytes
        posts.append({"post_id": path.stem, "text": text.strip(), "platform": "twitter",
                      "media": _image_media(folder, path.stem, hashes)})
    label_rows = [
        {"item_id": guid, "task": TASK, "label": label, "split": splits.get(guid)}
        for guid, label in sorted(labels.items(), key=lambda item: numeric_order(item[0]))
    ]
    return dataset_corpus(
        DATASET,
        folder,
        posts=posts,
        labels=label_rows,
        metadata={
            "task": TASK,
            "classes": list(CLMLF_LABELS),
            "splits_present": [canonical_split(split) for split in split_files],
            "texts_with_replaced_bytes": replaced,
            "posts_with_image": sum(1 for post in posts if post["media"]),
        },
    )
