"""Loader of SNAP ego-Facebook: 4,039 users, their friendships, circles and anonymised profile features."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    dataset_corpus,
    dataset_path,
    numeric_order,
    read_delimited,
    undirected_pairs,
    verify_manifest,
)

__all__ = ["load_snap_ego_facebook"]

DATASET = "snap-ego-facebook"
COMBINED_FILE = "facebook_combined.txt"
EGO_FILE_KINDS = ("circles", "feat", "egofeat", "featnames")


def _profile_features(ego_folder: Path, ego: str) -> dict[str, set[str]]:
    """User -> names of the profile features set to 1 in one ego network (its members and the ego)."""
    names = [name for _, name in read_delimited(ego_folder / f"{ego}.featnames", separator=" ", header=False,
                                                max_fields=2)]
    rows = read_delimited(ego_folder / f"{ego}.feat", separator=None, header=False)
    ego_rows = read_delimited(ego_folder / f"{ego}.egofeat", separator=None, header=False)
    rows += [[ego, *bits] for bits in ego_rows]
    return {user: {names[index] for index, bit in enumerate(bits) if bit == "1"} for user, *bits in rows}


def load_snap_ego_facebook(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load SNAP ego-Facebook (McAuley & Leskovec, NIPS 2012): the combined friendship graph and the circles.

    Users: every node of ``facebook_combined.txt`` (``user_id`` = the SNAP node id), ``platform``
    ``"facebook"``, ``extra.profile_features`` = the names of the anonymised binary profile features set for
    the user in any ego network it belongs to (e.g. ``"education;school;id;anonymized feature 50"``; SNAP
    numbers the anonymised values consistently across ego networks).

    Edges: friendships are undirected, so each pair is stored ONCE as kind ``"friend"`` with ``src < dst``
    compared as strings (``("10", "9")``, not ``("9", "10")``); a consumer that needs both directions adds
    the reverse.

    Labels: circles overlap (a user can be in several circles of one ego), so each membership is one row:
    ``item_kind`` ``"user"``, ``task`` = ``"circle:{ego}:{circle name}"`` (e.g. ``"circle:0:circle3"``),
    ``label`` ``"member"``, no split. ``metadata["circles"]`` counts the circles.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``users``, ``edges`` and ``labels``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or a listed file is absent.
        IntegrityError: a file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    ego_folder = folder / "facebook"
    egos = sorted((path.stem for path in ego_folder.glob("*.circles")), key=numeric_order)
    if verify:
        ego_files = [f"facebook/{ego}.{kind}" for ego in egos for kind in EGO_FILE_KINDS]
        verify_manifest(folder, [COMBINED_FILE, *ego_files])

    friendships = undirected_pairs(read_delimited(folder / COMBINED_FILE, separator=None, header=False))
    features: dict[str, set[str]] = defaultdict(set)
    memberships, circles = [], 0
    for ego in egos:
        for user, names in _profile_features(ego_folder, ego).items():
            features[user] |= names
        for circle, *members in read_delimited(ego_folder / f"{ego}.circles", header=False):
            circles += 1
            memberships += [
                {"item_id": member, "item_kind": "user", "task": f"circle:{ego}:{circle}", "label": "member"}
                for member in members
            ]
    nodes = sorted({node for pair in friendships for node in pair}, key=numeric_order)
    return dataset_corpus(
        DATASET,
        folder,
        users=[
            {"user_id": node, "platform": "facebook",
             "extra": {"profile_features": sorted(features[node])} if features.get(node) else None}
            for node in nodes
        ],
        edges=[{"src": src, "dst": dst, "kind": "friend"} for src, dst in friendships],
        labels=memberships,
        metadata={"egos": egos, "circles": circles},
    )
