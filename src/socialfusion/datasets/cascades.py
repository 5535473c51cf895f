"""Loader of the Inf-VAE diffusion cascades (Android, Christianity): a social graph and timed activations."""

from __future__ import annotations

import datetime as dt
import os

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    canonical_split,
    dataset_corpus,
    dataset_path,
    read_delimited,
    verify_manifest,
)
from socialfusion.exceptions import DatasetNotFoundError

__all__ = ["CASCADE_EPOCH", "load_diffusion_cascades"]

DATASET = "diffusion-cascades"
FILE_SPLITS = ("train", "val", "test")
# Activation times are seconds after each cascade's seed; they are placed on this arbitrary fixed origin.
CASCADE_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def load_diffusion_cascades(name: str = "android", root: str | os.PathLike[str] | None = None, *,
                            verify: bool = True) -> Corpus:
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

    Args:
        name: the dataset's folder under ``diffusion-cascades/``: ``"android"`` or ``"christianity"`` (any
            other folder in the same format loads too).
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``users``, ``edges``, ``interactions`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest, the named sub-folder or a listed file is
            absent.
        IntegrityError: a file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    cascade_folder = folder / name
    if not (cascade_folder / "graph.txt").is_file():
        available = sorted(path.name for path in folder.iterdir() if (path / "graph.txt").is_file())
        raise DatasetNotFoundError(f"no cascade dataset {name!r} in {folder} (no {name}/graph.txt); "
                                   f"available: {available}")
    split_files = {split: cascade_folder / f"{split}.txt" for split in FILE_SPLITS
                   if (cascade_folder / f"{split}.txt").is_file()}
    if verify:
        read_files = [cascade_folder / "graph.txt", *split_files.values()]
        verify_manifest(folder, [path.relative_to(folder) for path in read_files])

    header, *links = read_delimited(cascade_folder / "graph.txt", separator=None, header=False)
    n_users = int(header[0])
    activations, cascades = [], []
    for source_split, path in split_files.items():
        split = canonical_split(source_split)
        for index, (seed, *pairs) in enumerate(read_delimited(path, separator=None, header=False)):
            cascade_id = f"cascade:{split}:{index}"
            adopters = [(seed, 0.0)] + [(pairs[i], float(pairs[i + 1])) for i in range(0, len(pairs), 2)]
            activations += [
                {"user_id": user, "post_id": cascade_id, "kind": "share",
                 "at": CASCADE_EPOCH + dt.timedelta(seconds=seconds)}
                for user, seconds in adopters
            ]
            cascades.append({"item_id": cascade_id, "item_kind": "cascade", "task": "cascade", "label": split,
                             "split": split,
                             "extra": {"source_split": source_split, "seed": seed, "size": len(adopters)}})
    return dataset_corpus(
        f"{DATASET}/{name}",
        cascade_folder,
        users=[{"user_id": str(user), "platform": "stackexchange"} for user in range(n_users)],
        edges=[{"src": src, "dst": dst, "kind": "follow"} for src, dst in links],
        interactions=activations,
        labels=cascades,
        metadata={"declared_links": int(header[1]),
                  "mean_cascade_size": len(activations) / len(cascades) if cascades else 0.0},
    )
