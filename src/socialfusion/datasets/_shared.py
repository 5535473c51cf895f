"""Finding the shared data, checking files against MANIFEST.sha256, and the parsing the dataset loaders share.

The public datasets live beside the project in ``../shared/data`` (one folder per dataset, each with a
``SOURCE.txt`` and a ``MANIFEST.sha256`` in ``sha256sum`` format). They are never copied into the repository.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DatasetNotFoundError, IntegrityError

__all__ = [
    "DATA_ENV_VAR",
    "MANIFEST_NAME",
    "canonical_split",
    "data_root",
    "dataset_corpus",
    "dataset_path",
    "file_sha256",
    "numeric_order",
    "read_delimited",
    "read_lines",
    "read_manifest",
    "undirected_pairs",
    "verify_manifest",
]

logger = logging.getLogger(__name__)

DATA_ENV_VAR = "SOCIALFUSION_DATA"
MANIFEST_NAME = "MANIFEST.sha256"

_HASH_CHUNK_BYTES = 1 << 20
_REPO_ROOT = Path(__file__).resolve().parents[3]
_MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_SPLIT_NAMES = {
    "train": "train", "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "test": "test",
}

# (manifest path, manifest mtime_ns, manifest size) -> {file: (size, mtime_ns) when it last matched its hash}
_verified_files: dict[tuple[str, int, int], dict[str, tuple[int, int]]] = {}


def _how_to_point() -> str:
    return f"set the environment variable {DATA_ENV_VAR}=/path/to/data or pass root=/path/to/data"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the shared datasets.

    Looked for, in order: the ``root`` argument, the ``SOCIALFUSION_DATA`` environment variable, then the
    first of ``<cwd>/../shared/data`` and ``<repo root>/../shared/data`` that exists. An explicit ``root`` or
    environment variable that points nowhere is an error, not a reason to look elsewhere.

    Args:
        root: the data folder; None to look it up as above.

    Returns:
        The data folder (absolute).

    Raises:
        DatasetNotFoundError: the folder named by ``root`` or the environment variable does not exist, or no
            default location exists.
    """
    if root is not None:
        candidates = [(Path(root), "the root argument")]
    elif os.environ.get(DATA_ENV_VAR):
        candidates = [(Path(os.environ[DATA_ENV_VAR]), f"${DATA_ENV_VAR}")]
    else:
        candidates = [
            (Path.cwd() / ".." / "shared" / "data", "<cwd>/../shared/data"),
            (_REPO_ROOT / ".." / "shared" / "data", "<repo root>/../shared/data"),
        ]
    for path, _ in candidates:
        if path.is_dir():
            return path.resolve()
    looked = "; ".join(f"{path} ({how})" for path, how in candidates)
    raise DatasetNotFoundError(
        f"shared data folder not found; looked at: {looked}. To fix it, {_how_to_point()}"
    )


def dataset_path(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of one dataset, e.g. ``dataset_path("mvsa-single")``.

    Args:
        name: the dataset's folder name under the data root.
        root: the data folder; None to look it up as ``data_root`` does.

    Returns:
        The dataset folder (absolute).

    Raises:
        DatasetNotFoundError: the data root or the dataset folder does not exist; the message names the folder
            expected, where it looked and how to point at another location.
    """
    try:
        folder = data_root(root) / name
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(f"dataset folder {name!r} not found: {error}") from None
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {name!r} not found: expected {folder}. To load it from elsewhere, "
            f"{_how_to_point()} (the folder that holds {name}/)"
        )
    return folder


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_name(file: str | os.PathLike[str]) -> str:
    return Path(file).as_posix()  # "./texts/1.txt" -> "texts/1.txt"


def read_manifest(folder: Path) -> dict[str, str]:
    """The hashes listed in a dataset's ``MANIFEST.sha256``.

    Args:
        folder: the dataset folder.

    Returns:
        Relative file path (``texts/1.txt``, no leading ``./``) -> lowercase hex SHA-256; empty when the
        folder has no manifest.

    Raises:
        IntegrityError: a line of the manifest is not in ``sha256sum`` format.
    """
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    hashes = {}
    for number, line in enumerate(read_lines(manifest), start=1):
        match = _MANIFEST_LINE.match(line)
        if match is None:
            raise IntegrityError(f"{manifest} line {number} is not '<sha256>  <path>': {line[:200]!r}")
        hashes[_relative_name(match.group(2))] = match.group(1).lower()
    return hashes


def verify_manifest(folder: Path, files: Iterable[str | os.PathLike[str]] | None = None) -> dict[str, str]:
    """Check files of a dataset against its ``MANIFEST.sha256``.

    Files that matched earlier in this process, and have not changed size or modification time since, are not
    hashed again, so that loading a dataset twice costs one hashing pass.

    Args:
        folder: the dataset folder.
        files: paths relative to ``folder`` to check (e.g. the files a loader reads); None checks every file
            the manifest lists.

    Returns:
        The manifest: relative path -> SHA-256, as ``read_manifest`` returns it.

    Raises:
        DatasetNotFoundError: the manifest, or a file to check, is absent.
        IntegrityError: a file's hash differs from the manifest (the message names the file, the expected and
            the actual hash), or a file to check is not listed in the manifest.
    """
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise DatasetNotFoundError(
            f"{manifest} not found, so {folder} cannot be verified; restore it, or pass verify=False to load "
            "the files unchecked"
        )
    hashes = read_manifest(folder)
    names = sorted(hashes) if files is None else [_relative_name(file) for file in files]
    unlisted = [name for name in names if name not in hashes]
    if unlisted:
        raise IntegrityError(
            f"{len(unlisted)} file(s) of {folder} are not listed in {MANIFEST_NAME}, e.g. {unlisted[0]!r}; "
            "add them to the manifest, or pass verify=False to load the files unchecked"
        )
    manifest_stat = manifest.stat()
    verified = _verified_files.setdefault(
        (str(manifest.resolve()), manifest_stat.st_mtime_ns, manifest_stat.st_size), {}
    )
    hashed = 0
    for name in names:
        path = folder / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DatasetNotFoundError(
                f"{path} is listed in {manifest} but absent; restore it from the source named in SOURCE.txt"
            ) from None
        signature = (stat.st_size, stat.st_mtime_ns)
        if verified.get(name) == signature:
            continue
        actual = file_sha256(path)
        if actual != hashes[name]:
            raise IntegrityError(
                f"{path} does not match {MANIFEST_NAME}: expected sha256 {hashes[name]}, got {actual}; the "
                "file was changed or is corrupt: restore it from the source named in SOURCE.txt"
            )
        verified[name] = signature
        hashed += 1
    logger.debug("verified %d file(s) of %s (%d hashed now)", len(names), folder, hashed)
    return hashes


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file without their ``\\n`` or ``\\r\\n`` ends, and without a trailing empty line.

    Only ``\\n`` ends a line: Unicode line separators inside a tweet stay part of it.
    """
    lines = path.read_text(encoding=encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_delimited(path: Path, *, separator: str | None = "\t", encoding: str = "utf-8", header: bool = True,
                   max_fields: int | None = None) -> list[list[str]]:
    """Rows of a delimited text file with no quoting (HetRec ``.dat``, SNAP edge lists, cascade files).

    Args:
        path: the file.
        separator: the field separator; None splits on runs of whitespace.
        encoding: the file's text encoding.
        header: drop the first line.
        max_fields: split each line into at most this many fields (the last keeps any further separators);
            None splits at every separator.

    Returns:
        One list of fields per non-blank line.
    """
    lines = read_lines(path, encoding)[1 if header else 0:]
    max_split = -1 if max_fields is None else max_fields - 1
    return [line.split(separator, max_split) for line in lines if line.strip()]


def canonical_split(name: str) -> str:
    """The standard name of a dataset split: ``train``, ``dev`` (for val/validation) or ``test``.

    Raises:
        ConfigurationError: not a split name this knows.
    """
    try:
        return _SPLIT_NAMES[name.lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown split name {name!r}; expected one of {sorted(_SPLIT_NAMES)}"
        ) from None


def numeric_order(identifier: str) -> tuple[int, str]:
    """A sort key putting digit-string ids in numeric order (``"9"`` before ``"10"``): shorter ones first."""
    return len(identifier), identifier


def undirected_pairs(pairs: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """Each undirected pair once, as ``(smaller, larger)`` in string order, in order of first appearance.

    Self-loops are kept (as ``(a, a)``); both directions of a pair, or repeats, collapse to one.
    """
    seen: dict[tuple[str, str], None] = {}
    for first, second in pairs:
        seen.setdefault((first, second) if first <= second else (second, first))
    return list(seen)


def dataset_corpus(dataset: str, folder: Path, *, metadata: Mapping[str, Any] | None = None,
                   **records: Iterable[Any]) -> Corpus:
    """Build a dataset's Corpus with metadata naming the dataset, its source folder and its table counts.

    Args:
        dataset: the dataset's short name, e.g. ``"mvsa-single"``.
        folder: the folder it was read from.
        metadata: dataset-specific metadata, merged after the common keys.
        **records: one iterable of records per table name, as ``Corpus.from_records`` takes them.

    Returns:
        The corpus; ``metadata`` holds ``dataset``, ``source`` (the folder), ``counts`` (rows per table),
        ``labels_per_split`` (label rows per standard split, ``"none"`` for unsplit ones) and the given
        metadata.
    """
    corpus = Corpus.from_records(**records)
    splits = Counter(corpus.labels.column("split").to_pylist())
    corpus.metadata = {
        "dataset": dataset,
        "source": str(folder),
        "counts": corpus.counts(),
        "labels_per_split": {str(split or "none"): count for split, count in sorted(splits.items(), key=str)},
        **(metadata or {}),
    }
    return corpus
