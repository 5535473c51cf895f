"""Loader of MVSA-Single: tweets with an optional image, labelled positive/neutral/negative (CLMLF split)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    Checksums,
    canonical_split,
    check_files,
    dataset_corpus,
    dataset_path,
    merge_labels,
    numeric_order,
    read_label_file,
)
from socialfusion.exceptions import DataError, DatasetNotFoundError

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


def _clmlf_labels(split_files: Iterable[tuple[str, Path]], labels: dict[str, str],
                  texts: dict[str, str]) -> dict[str, str]:
    """Add the CLMLF items' labels to ``labels`` (guid -> label) and their texts to ``texts`` (guid -> text, the
    first file's); return guid -> standard split."""
    splits = {}
    for split, path in split_files:
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
            pairs = [(str(item["id"]), CLMLF_LABELS[int(item["emotion_label"])], item.get("text")) for item in items]
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, IndexError, ValueError) as error:
            raise DataError(f"{path} is not a CLMLF split file (a JSON list of objects with id, text and "
                            f"emotion_label 0/1/2): {type(error).__name__}: {error}") from None
        for guid, label, text in pairs:
            if labels.setdefault(guid, label) != label:
                raise DataError(f"MVSA-Single item {guid}: labels_all.csv says {labels[guid]!r} but "
                                f"{path.name} says {label!r}")
            standard = canonical_split(split)
            if splits.setdefault(guid, standard) != standard:
                raise DataError(f"MVSA-Single item {guid} is in the {splits[guid]!r} split and in {path} "
                                f"({standard!r}): one item in two splits would leak between them")
            if isinstance(text, str) and text.strip():
                texts.setdefault(guid, text)
    return splits


def load_mvsa_single(root: str | os.PathLike[str] | None = None, *, verify: bool = True,
                     extra_splits: Mapping[str, str | os.PathLike[str]] | None = None,
                     extra_labels: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
                     checksums: Checksums | None = None) -> Corpus:
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

    Extra labelled files. The CLMLF test split is withheld from the shared copy; whoever has it (CLMLF's
    ``dataset/data/MVSA-single/10-flod-1/test.json``, a JSON list of ``{"id", "text", "emotion_label"}``) passes
    it as ``extra_splits={"test": path}`` or copies it to ``clmlf_split/test.json``. Its items get that split,
    and an item without a ``texts/<id>.txt`` becomes a post with the JSON's text (no image). Other labels go in
    ``extra_labels``: CSV or JSON files of ``item_id,label[,split]`` rows (see ``read_label_file``). An extra
    label must agree with the dataset's label of the same item, and may not move an item to another split.
    Files that ``MANIFEST.sha256`` does not list are checked against ``checksums`` (path -> SHA-256) when given
    one; otherwise they are loaded but reported as unverified, never as verified: a logged warning names them and
    ``metadata["verification"]["unverified"]`` holds their SHA-256, to pin them next time.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` (or ``checksums``) first (either way, image
            hashes are taken from the manifest when there is one).
        extra_splits: split name (``train``, ``dev``/``val``, ``test``) -> a CLMLF-format JSON file.
        extra_labels: one or more labels files (``.csv``/``.json``) of ``item_id,label[,split]``.
        checksums: path -> expected SHA-256 (hex) of files the manifest does not list; a relative path is
            taken from the working directory or the dataset folder.

    Returns:
        A Corpus with ``posts`` and ``labels``; ``metadata["verification"]`` says how each file was checked.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest, a listed file or an extra file is absent.
        IntegrityError: a file does not match the manifest or its checksum.
        ConfigurationError: an unknown split name, a malformed checksum, or a checksum for a file not read.
        DataError: two label files disagree on an item's label or split, or an extra file is malformed.

    Examples:
        >>> corpus = load_mvsa_single(extra_splits={"test": "CLMLF/test.json"},
        ...                           checksums={"CLMLF/test.json": "<its sha256>"})  # doctest: +SKIP
        >>> corpus.metadata["verification"]["checksum"]  # doctest: +SKIP
        ['/home/me/CLMLF/test.json']
    """
    folder = dataset_path(DATASET, root)
    text_files = sorted((folder / "texts").glob("*.txt"), key=lambda path: numeric_order(path.stem))
    split_paths = {split: folder / "clmlf_split" / f"{split}.json" for split in CLMLF_SPLITS}
    split_files = {split: path for split, path in split_paths.items() if path.is_file()}
    added_splits = {canonical_split(split): Path(path).expanduser() for split, path in (extra_splits or {}).items()}
    label_files = [extra_labels] if isinstance(extra_labels, str | os.PathLike) else list(extra_labels or [])
    label_files = [Path(path).expanduser() for path in label_files]
    for path in [*added_splits.values(), *label_files]:
        if not path.is_file():
            raise DatasetNotFoundError(f"extra MVSA-Single file {path} not found")
    read_files = [folder / "labels_all.csv", *split_files.values(), *text_files, *added_splits.values(),
                  *label_files]
    checks = check_files(read_files, manifest_folder=folder, verify=verify, checksums=checksums)

    with (folder / "labels_all.csv").open(encoding="utf-8", newline="") as stream:
        labels = {row["guid"]: row["label"] for row in csv.DictReader(stream)}
    json_texts: dict[str, str] = {}
    splits = _clmlf_labels([*split_files.items(), *added_splits.items()], labels, json_texts)

    posts = []
    replaced = 0
    for path in text_files:
        text, had_bad_bytes = _decode_tweet(path.read_bytes())
        replaced += had_bad_bytes
        posts.append({"post_id": path.stem, "text": text.strip(), "platform": "twitter",
                      "media": _image_media(folder, path.stem, checks.manifest)})
    with_text_file = {path.stem for path in text_files}
    from_json = sorted((guid for guid in json_texts if guid not in with_text_file), key=numeric_order)
    posts += [{"post_id": guid, "text": json_texts[guid].strip(), "platform": "twitter", "media": []}
              for guid in from_json]
    label_rows = [
        {"item_id": guid, "task": TASK, "label": label, "split": splits.get(guid)}
        for guid, label in sorted(labels.items(), key=lambda item: numeric_order(item[0]))
    ]
    for path in label_files:
        label_rows = merge_labels(label_rows, read_label_file(path, task=TASK, classes=CLMLF_LABELS), str(path))
    return dataset_corpus(
        DATASET,
        folder,
        posts=posts,
        labels=label_rows,
        metadata={
            "task": TASK,
            "classes": list(CLMLF_LABELS),
            "splits_present": sorted({canonical_split(split) for split in [*split_files, *added_splits]},
                                     key=["train", "dev", "test"].index),
            "texts_with_replaced_bytes": replaced,
            "posts_with_image": sum(1 for post in posts if post["media"]),
            "posts_from_split_json": len(from_json),
            "verification": checks.metadata(),
        },
    )
