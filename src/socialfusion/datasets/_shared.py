"""Finding the shared data, checking files against MANIFEST.sha256, and the parsing the dataset loaders share.

The public datasets live beside the project in ``../shared/data`` (one folder per dataset, each with a
``SOURCE.txt`` and a ``MANIFEST.sha256`` in ``sha256sum`` format). They are never copied into the repository.

A file a loader reads that the manifest does not list (a split the user added, a labels file passed in) is checked
against the SHA-256 the user gives for it in ``checksums``, or else loaded and reported as unverified: named, with
its hash, in ``corpus.metadata["verification"]`` and in a logged warning. It is never counted as verified.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError, DatasetNotFoundError, IntegrityError

__all__ = [
    "DATA_ENV_VAR",
    "MANIFEST_NAME",
    "FileChecks",
    "canonical_split",
    "check_files",
    "data_root",
    "dataset_corpus",
    "dataset_path",
    "file_sha256",
    "merge_labels",
    "numeric_order",
    "read_delimited",
    "read_label_file",
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


Checksums = Mapping[str | os.PathLike[str], str]


@dataclass
class FileChecks:
    """How each file a loader read was checked (see ``check_files``).

    Attributes:
        manifest: the dataset's manifest (relative path -> SHA-256); empty when there is none.
        by_manifest: files that matched the manifest.
        by_checksum: files that matched the SHA-256 given for them in ``checksums``.
        unverified: files checked against nothing -> their SHA-256 now (pass it in ``checksums`` to pin it).
        checked: False when the loader was called with ``verify=False`` (nothing was hashed).
    """

    manifest: dict[str, str] = field(default_factory=dict)
    by_manifest: list[str] = field(default_factory=list)
    by_checksum: list[str] = field(default_factory=list)
    unverified: dict[str, str] = field(default_factory=dict)
    checked: bool = True

    def metadata(self) -> dict[str, Any]:
        """The report a loader puts in ``corpus.metadata["verification"]``."""
        return {"checked": self.checked, "manifest": len(self.by_manifest), "checksum": list(self.by_checksum),
                "unverified": dict(self.unverified)}


def _checksum_for(path: Path, folder: Path | None, checksums: dict[Path, str]) -> tuple[Path, str] | None:
    for key, digest in checksums.items():
        candidates = [key] if key.is_absolute() else [Path.cwd() / key] + ([folder / key] if folder else [])
        for candidate in candidates:
            if candidate.exists() and candidate.resolve() == path.resolve():
                return key, digest
    return None


def check_files(files: Iterable[Path], *, manifest_folder: Path | None, verify: bool = True,
                checksums: Checksums | None = None, require_manifest: bool = True) -> FileChecks:
    """Check the files a loader reads: against the manifest where it lists them, else against ``checksums``.

    A file neither lists nor has a checksum for is not refused: it is loaded, reported as unverified (with its
    hash, to pin it next time) and named in a logged warning.

    Args:
        files: the files (absolute, or relative to the working directory).
        manifest_folder: the folder holding ``MANIFEST.sha256`` (paths in it are relative to this folder); None:
            no manifest.
        verify: False hashes nothing (the report says ``checked: False``).
        checksums: path -> expected SHA-256 (hex) of files the manifest does not list; a relative path is taken
            from the working directory or from ``manifest_folder``.
        require_manifest: refuse to go on when ``manifest_folder`` has no manifest.

    Returns:
        What was checked how; ``manifest`` holds the manifest's hashes (even with ``verify=False``).

    Raises:
        DatasetNotFoundError: the manifest is required but absent, or a listed file is absent.
        IntegrityError: a file differs from the manifest or from its checksum.
        ConfigurationError: a checksum is not 64 hex digits, or names a file the loader did not read.
    """
    files = [Path(path) for path in files]
    manifest = read_manifest(manifest_folder) if manifest_folder is not None else {}
    if not verify:
        return FileChecks(manifest=manifest, checked=False)
    if manifest_folder is not None and require_manifest and not (manifest_folder / MANIFEST_NAME).is_file():
        verify_manifest(manifest_folder, [])  # raises the usual "manifest not found" error
    expected = {}
    for key, digest in (checksums or {}).items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise ConfigurationError(f"the checksum given for {key} is not a hex SHA-256 (64 hex digits): {digest!r}")
        expected[Path(key).expanduser()] = digest.lower()
    folder = manifest_folder.resolve() if manifest_folder is not None else None
    checks = FileChecks(manifest=manifest)
    listed, used = [], set()
    for path in files:
        resolved = path.resolve()
        relative = resolved.relative_to(folder).as_posix() if folder and resolved.is_relative_to(folder) else None
        given = _checksum_for(path, manifest_folder, expected)
        if relative in manifest:
            listed.append(relative)
        if given is not None:
            used.add(given[0])
            actual = file_sha256(path)
            if actual != given[1]:
                raise IntegrityError(f"{path} does not match the checksum given for it: expected sha256 {given[1]}, "
                                     f"got {actual}; the file was changed, or the checksum is for another file")
            checks.by_checksum.append(str(path.absolute()))
        elif relative not in manifest:
            checks.unverified[str(path.absolute())] = file_sha256(path)
    if listed:
        verify_manifest(manifest_folder, listed)
        checks.by_manifest = listed
    unused = [str(key) for key in expected if key not in used]
    if unused:
        raise ConfigurationError(f"checksums were given for files the loader did not read: {unused}; give the path "
                                 "of a file the loader reads (absolute, or relative to the dataset folder)")
    if checks.unverified:
        logger.warning(
            "%d file(s) not listed in %s and without a checksum were loaded UNVERIFIED: %s; to verify them, pass "
            "checksums={path: sha256} (their sha256 now is in corpus.metadata['verification']['unverified'])",
            len(checks.unverified), MANIFEST_NAME, ", ".join(list(checks.unverified)[:5])
            + (" ..." if len(checks.unverified) > 5 else ""))
    return checks


def read_label_file(path: str | os.PathLike[str], *, task: str, classes: Sequence[str] | None = None,
                    split: str | None = None, item_kind: str = "post") -> list[dict[str, Any]]:
    """Label rows from a user's labels file: CSV with a header, or a JSON list of objects.

    Each row has ``item_id`` and ``label``, and optionally ``split`` (``train``, ``dev``/``val``, ``test``). For
    example a CSV::

        item_id,label,split
        4511,positive,test

    Args:
        path: a ``.csv`` or ``.json`` file.
        task: the task of every row (the loader's, e.g. ``"sentiment"``).
        classes: the labels allowed; None: any.
        split: the split of rows that name none (None: no split).
        item_kind: the kind of item labelled.

    Returns:
        Rows for ``Corpus.from_records(labels=...)``, in file order, ``split`` in its standard name.

    Raises:
        DatasetNotFoundError: the file is absent.
        DataError: not a CSV/JSON labels file, a row without ``item_id`` or ``label``, or a label outside
            ``classes``; the message names the file and the row.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"labels file {path} not found")
    where = f"labels file {path}"
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as stream:
            rows = list(csv.DictReader(stream))
        first_row = 2  # after the header
    elif path.suffix.lower() == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"{where} is not JSON: {error}") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise DataError(f"{where} must hold a JSON list of objects with item_id and label")
        first_row = 1
    else:
        raise DataError(f"{where}: expected a .csv (item_id,label[,split] header) or a .json list of objects")
    labels = []
    for number, row in enumerate(rows, start=first_row):
        item, label = row.get("item_id"), row.get("label")
        if item in (None, "") or label in (None, ""):
            raise DataError(f"{where} row {number}: needs item_id and label, got {dict(row)!r:.200}")
        label = str(label).strip()
        if classes is not None and label not in classes:
            raise DataError(f"{where} row {number}: label {label!r} is not one of {list(classes)}")
        row_split = row.get("split") or split
        try:
            row_split = canonical_split(str(row_split)) if row_split else None
        except ConfigurationError as error:
            raise DataError(f"{where} row {number}: {error}") from None
        labels.append({"item_id": str(item).strip(), "item_kind": item_kind, "task": task, "label": label,
                       "split": row_split})
    return labels


def merge_labels(labels: list[dict[str, Any]], extra: Iterable[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """``labels`` with ``extra`` rows added: a new item is appended, a known one may only gain a missing split.

    Raises:
        DataError: an extra row gives a known item another label, or another split than it has (a leak).
    """
    merged = [dict(row) for row in labels]
    position = {(row.get("item_kind", "post"), row["item_id"], row["task"]): index
                for index, row in enumerate(merged)}
    for row in extra:
        key = (row.get("item_kind", "post"), row["item_id"], row["task"])
        if key not in position:
            position[key] = len(merged)
            merged.append(dict(row))
            continue
        known = merged[position[key]]
        if known["label"] != row["label"]:
            raise DataError(f"item {row['item_id']}: the dataset labels it {known['label']!r} but {source} says "
                            f"{row['label']!r}")
        if row.get("split") and known.get("split") not in (None, row["split"]):
            raise DataError(f"item {row['item_id']} is in the {known['split']!r} split but {source} puts it in "
                            f"{row['split']!r}: one item in two splits would leak between them")
        known["split"] = known.get("split") or row.get("split")
    return merged


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
