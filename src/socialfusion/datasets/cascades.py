"""Loaders of diffusion cascades: the Inf-VAE Stack Exchange sets (Android, Christianity), any FOREST-style folder."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    MANIFEST_NAME,
    Checksums,
    canonical_split,
    check_files,
    dataset_corpus,
    dataset_path,
    read_lines,
)
from socialfusion.exceptions import ConfigurationError, DataError, DatasetNotFoundError

__all__ = ["CASCADE_EPOCH", "FOREST_MAX_LENGTH", "FOREST_MIN_LENGTH", "load_diffusion_cascades",
           "load_forest_cascades"]

DATASET = "diffusion-cascades"
FILE_SPLITS = ("train", "val", "test")
# Activation times are seconds after each cascade's seed; they are placed on this arbitrary fixed origin.
CASCADE_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The length filter of the FOREST-family loaders (FOREST, DyHGCN, MS-HGAT): 2 to 500 adopters per cascade.
FOREST_MIN_LENGTH = 2
FOREST_MAX_LENGTH = 500
# Split -> the file names that hold it, FOREST's first, then Inf-VAE's.
_SPLIT_FILES = {"train": ("cascade.txt", "train.txt"), "dev": ("cascadevalid.txt", "valid.txt", "val.txt"),
                "test": ("cascadetest.txt", "test.txt")}
_GRAPH_FILES = ("edges.txt", "graph.txt")

Adoptions = list[tuple[str, float]]


def _parse_cascade(tokens: list[str], style: str, where: str) -> Adoptions:
    """One cascade line as (user, seconds) pairs in file order.

    FOREST: ``user,timestamp`` tokens. Inf-VAE: the seed user, then ``user seconds`` pairs (the seed at 0).
    """
    try:
        if style == "forest":
            pairs = [token.split(",") for token in tokens]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("every token must be user,timestamp")
            return [(user, float(seconds)) for user, seconds in pairs]
        if len(tokens) % 2 != 1 or any("," in token for token in tokens):
            raise ValueError("expected the seed user, then user time pairs")
        return [(tokens[0], 0.0)] + [(tokens[i], float(tokens[i + 1])) for i in range(1, len(tokens), 2)]
    except ValueError as error:
        raise DataError(f"{where}: not a {style} cascade line ({error}): {' '.join(tokens)[:120]!r}") from None


def _read_cascades(path: Path) -> tuple[str, list[Adoptions]]:
    """The format of a cascade file (``forest`` or ``inf-vae``, from its first line) and its cascades in order."""
    lines = [(number, line.split()) for number, line in enumerate(read_lines(path), start=1) if line.strip()]
    style = "forest" if lines and "," in "".join(lines[0][1]) else "inf-vae"
    return style, [_parse_cascade(tokens, style, f"{path} line {number}") for number, tokens in lines]


def _read_graph(path: Path) -> tuple[int | None, list[tuple[str, str]], int | None]:
    """A graph file: ``u v`` or ``u,v`` per line, after an optional ``n_users n_links`` header (Inf-VAE).

    Returns:
        (declared users or None, links, declared links or None).
    """
    rows = [line.replace(",", " ").split() for line in read_lines(path) if line.strip()]
    declared = declared_links = None
    if rows and path.name == "graph.txt" and len(rows[0]) == 2 and all(value.isdigit() for value in rows[0]):
        declared, declared_links = int(rows[0][0]), int(rows[0][1])
        rows = rows[1:]
    bad = next((row for row in rows if len(row) != 2), None)
    if bad is not None:
        raise DataError(f"{path}: expected one 'u v' or 'u,v' link per line, found {' '.join(bad)[:80]!r}")
    return declared, [(src, dst) for src, dst in rows], declared_links


def _activations(cascade_id: str, adoptions: Adoptions, origin: dt.datetime) -> list[dict]:
    return [{"user_id": user, "post_id": cascade_id, "kind": "share", "at": origin + dt.timedelta(seconds=seconds)}
            for user, seconds in adoptions]


def load_diffusion_cascades(name: str = "android", root: str | os.PathLike[str] | None = None, *,
                            verify: bool = True, checksums: Checksums | None = None) -> Corpus:
    """Load one Stack Exchange diffusion dataset released with Inf-VAE (Sankar et al., WSDM 2020).

    - users: ``"0"`` .. ``"n_users - 1"`` as ``graph.txt``'s header declares them (a few users appear only
      in cascades, never in the graph), ``platform`` ``"stackexchange"``;
    - edges: one per ``graph.txt`` line ``u v``, kind ``"follow"``, ``src`` = u, ``dst`` = v. The graph is
      DIRECTED: only about a quarter (Android) to a third (Christianity) of the pairs also appear reversed,
      so the two directions are kept as given, never merged;
    - interactions: one per activation, kind ``"share"``, ``post_id`` = the cascade id
      ``"cascade:{split}:{line index}"`` (standard split names: ``val`` becomes ``dev``). A cascade line is
      the seed user, then ``user time`` pairs with times in seconds after the seed; ``at`` =
      ``CASCADE_EPOCH`` (2000-01-01 UTC) + that offset, the seed at the epoch itself. Only the order and
      the gaps of the times are meaningful, not the dates;
    - labels: one per cascade, ``item_kind`` ``"cascade"``, ``task`` ``"cascade"``, ``label`` and ``split``
      = the standard split (``train``/``dev``/``test``), ``extra`` = ``{"source_split": "val", "seed": ...,
      "size": adopters including the seed}``. There are no posts: a cascade is known by its id only.

    Every cascade is kept, whatever its length; ``load_forest_cascades`` applies FOREST's length filter. A split
    file the manifest does not list (one the user added) is checked against ``checksums`` or loaded and reported
    as unverified (``metadata["verification"]``).

    Args:
        name: the dataset's folder under ``diffusion-cascades/``: ``"android"`` or ``"christianity"`` (any
            other folder in the same format loads too).
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` (or ``checksums``) first.
        checksums: path -> expected SHA-256 (hex) of files the manifest does not list.

    Returns:
        A Corpus with ``users``, ``edges``, ``interactions`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest, the named sub-folder or a listed file is
            absent.
        IntegrityError: a file does not match the manifest or its checksum.
    """
    folder = dataset_path(DATASET, root)
    cascade_folder = folder / name
    if not (cascade_folder / "graph.txt").is_file():
        available = sorted(path.name for path in folder.iterdir() if (path / "graph.txt").is_file())
        raise DatasetNotFoundError(f"no cascade dataset {name!r} in {folder} (no {name}/graph.txt); "
                                   f"available: {available}")
    split_files = {split: cascade_folder / f"{split}.txt" for split in FILE_SPLITS
                   if (cascade_folder / f"{split}.txt").is_file()}
    checks = check_files([cascade_folder / "graph.txt", *split_files.values()], manifest_folder=folder,
                         verify=verify, checksums=checksums)

    n_users, links, declared_links = _read_graph(cascade_folder / "graph.txt")
    activations, cascades = [], []
    for source_split, path in split_files.items():
        split = canonical_split(source_split)
        _, lines = _read_cascades(path)
        for index, adoptions in enumerate(lines):
            cascade_id = f"cascade:{split}:{index}"
            activations += _activations(cascade_id, adoptions, CASCADE_EPOCH)
            cascades.append({"item_id": cascade_id, "item_kind": "cascade", "task": "cascade", "label": split,
                             "split": split,
                             "extra": {"source_split": source_split, "seed": adoptions[0][0],
                                       "size": len(adoptions)}})
    return dataset_corpus(
        f"{DATASET}/{name}",
        cascade_folder,
        users=[{"user_id": str(user), "platform": "stackexchange"} for user in range(n_users or 0)],
        edges=[{"src": src, "dst": dst, "kind": "follow"} for src, dst in links],
        interactions=activations,
        labels=cascades,
        metadata={"declared_links": declared_links,
                  "mean_cascade_size": len(activations) / len(cascades) if cascades else 0.0,
                  "verification": checks.metadata()},
    )


def _manifest_folder(folder: Path) -> Path | None:
    """The nearest of ``folder`` and its parent holding a ``MANIFEST.sha256`` (the shared data keeps it one up)."""
    return next((candidate for candidate in (folder, folder.parent) if (candidate / MANIFEST_NAME).is_file()), None)


def load_forest_cascades(folder: str | os.PathLike[str], *, min_length: int = FOREST_MIN_LENGTH,
                         max_length: int | None = FOREST_MAX_LENGTH, long_cascades: str = "drop",
                         verify: bool = True, checksums: Checksums | None = None) -> Corpus:
    """Load a folder of FOREST-style cascade files, with FOREST's length filter.

    Files, by name (FOREST's, or Inf-VAE's; a split whose file is absent is skipped):

    - train ``cascade.txt`` or ``train.txt``; validation ``cascadevalid.txt``, ``valid.txt`` or ``val.txt``;
      test ``cascadetest.txt`` or ``test.txt``. A line is one cascade, in either format (told apart by the
      file's first line): FOREST's ``user,timestamp user,timestamp ...`` (timestamps in seconds since
      1970-01-01 UTC, as the Twitter and Douban files of FOREST give them), or Inf-VAE's ``seed user seconds
      user seconds ...`` (seconds after the seed, placed on ``CASCADE_EPOCH``);
    - optional social graph ``edges.txt`` (FOREST, ``u,v`` per line) or ``graph.txt`` (Inf-VAE, an
      ``n_users n_links`` header then ``u v``): kind ``"follow"``, ``src`` = u, ``dst`` = v as given.

    The length filter is the one of the released FOREST-family loaders (FOREST, Yang et al. IJCAI 2019;
    DyHGCN, Yuan et al. 2020; MS-HGAT, Sun et al. AAAI 2022): a cascade is kept when it has at least
    ``min_length`` (2) and at most ``max_length`` (500) adoptions, counted as they appear on the line; a longer
    one is dropped (``long_cascades="drop"``, their rule) or cut to its first ``max_length`` adoptions
    (``"truncate"``). It applies to every split. Those loaders also add an end-of-cascade token that their
    models predict and their metrics count; this corpus has none (``NextAdopterModel.evaluate`` scores only
    real adopters).

    The corpus has the shape of ``load_diffusion_cascades``'s: ``share`` interactions per adoption with
    ``post_id`` ``"cascade:{split}:{line index}"`` (the index of the line among the file's non-blank lines,
    before filtering, so ids stay the same whatever the filter), one ``cascade`` label per kept cascade with its
    split, and users: those ``graph.txt``'s header declares (``"0"`` .. ``"n - 1"``), then every other user of
    the graph and the cascades in order of appearance (FOREST indexes the users of all its files the same way).

    Verification: a ``MANIFEST.sha256`` in the folder or its parent (the shared data's layout) checks the files
    it lists; any other file is checked against ``checksums`` or loaded and reported as unverified in
    ``metadata["verification"]`` (a folder of the user's own with no manifest is all unverified, and says so).

    Args:
        folder: the folder of cascade files.
        min_length: fewest adoptions a kept cascade has.
        max_length: most adoptions a kept cascade has; None: no upper limit.
        long_cascades: ``"drop"`` or ``"truncate"`` a cascade longer than ``max_length``.
        verify: check the files read against the manifest (or ``checksums``) first.
        checksums: path -> expected SHA-256 (hex) of files no manifest lists.

    Returns:
        A Corpus with ``users``, ``edges`` (empty without a graph file), ``interactions`` and ``labels``;
        ``metadata`` has ``formats`` (per split), ``length_filter``, ``cascades_read``/``dropped_short``/
        ``dropped_long``/``truncated`` (per split) and ``verification``.

    Raises:
        DatasetNotFoundError: the folder, or every cascade file, is absent.
        ConfigurationError: a bad length setting.
        DataError: a line in neither format.
        IntegrityError: a file does not match the manifest or its checksum.

    Examples:
        >>> from socialfusion.datasets import data_root
        >>> corpus = load_forest_cascades(data_root() / "diffusion-cascades" / "christianity")  # doctest: +SKIP
        >>> corpus.metadata["dropped_long"]  # doctest: +SKIP
        {'train': 0, 'dev': 0, 'test': 0}
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetNotFoundError(f"cascade folder {folder} not found")
    if min_length < 1 or (max_length is not None and max_length < min_length):
        raise ConfigurationError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    if long_cascades not in ("drop", "truncate"):
        raise ConfigurationError(f"long_cascades must be 'drop' or 'truncate', got {long_cascades!r}")
    split_files = {}
    for split, names in _SPLIT_FILES.items():
        found = next((folder / name for name in names if (folder / name).is_file()), None)
        if found is not None:
            split_files[split] = found
    if not split_files:
        expected = sorted(name for names in _SPLIT_FILES.values() for name in names)
        raise DatasetNotFoundError(f"no cascade file in {folder}; expected some of {expected}")
    graph_file = next((folder / name for name in _GRAPH_FILES if (folder / name).is_file()), None)
    checks = check_files([*([graph_file] if graph_file else []), *split_files.values()],
                         manifest_folder=_manifest_folder(folder), verify=verify, checksums=checksums)

    n_declared, links, _ = _read_graph(graph_file) if graph_file else (None, [], None)
    users = dict.fromkeys(str(user) for user in range(n_declared or 0))
    for src, dst in links:
        users.setdefault(src)
        users.setdefault(dst)
    activations, cascades, formats = [], [], {}
    report = {key: {} for key in ("cascades_read", "dropped_short", "dropped_long", "truncated")}
    for split, path in split_files.items():
        style, lines = _read_cascades(path)
        formats[split] = style
        origin = UNIX_EPOCH if style == "forest" else CASCADE_EPOCH
        counts = Counter()
        for index, adoptions in enumerate(lines):
            for user, _ in adoptions:
                users.setdefault(user)
            if len(adoptions) < min_length:
                counts["dropped_short"] += 1
                continue
            if max_length is not None and len(adoptions) > max_length:
                if long_cascades == "drop":
                    counts["dropped_long"] += 1
                    continue
                adoptions = adoptions[:max_length]
                counts["truncated"] += 1
            cascade_id = f"cascade:{split}:{index}"
            activations += _activations(cascade_id, adoptions, origin)
            cascades.append({"item_id": cascade_id, "item_kind": "cascade", "task": "cascade", "label": split,
                             "split": split, "extra": {"source_file": path.name, "seed": adoptions[0][0],
                                                       "size": len(adoptions)}})
        report["cascades_read"][split] = len(lines)
        for key in ("dropped_short", "dropped_long", "truncated"):
            report[key][split] = counts[key]
    return dataset_corpus(
        f"forest-cascades/{folder.name}",
        folder,
        users=[{"user_id": user} for user in users],
        edges=[{"src": src, "dst": dst, "kind": "follow"} for src, dst in links],
        interactions=activations,
        labels=cascades,
        metadata={"formats": formats, "graph": graph_file.name if graph_file else None,
                  "length_filter": {"min_length": min_length, "max_length": max_length,
                                    "long_cascades": long_cascades},
                  **report, "verification": checks.metadata()},
    )
