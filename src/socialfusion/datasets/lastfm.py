"""Loader of HetRec 2011 Last.fm: users, artists, user-artist play counts and the friend graph."""

from __future__ import annotations

import os

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import (
    dataset_corpus,
    dataset_path,
    numeric_order,
    read_delimited,
    undirected_pairs,
    verify_manifest,
)

__all__ = ["load_lastfm"]

DATASET = "lastfm-hetrec2011"
FILES = ("artists.dat", "tags.dat", "user_artists.dat", "user_friends.dat")


def load_lastfm(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Corpus:
    """Load HetRec 2011 Last.fm (Cantador, Brusilovsky & Kuflik, RecSys 2011 workshop).

    - users: every user of ``user_artists.dat`` or ``user_friends.dat`` (``user_id`` = the HetRec id);
    - posts: one per artist, ``post_id`` = ``"artist:{id}"``, text = the artist's name, ``extra`` = its
      Last.fm ``url`` and ``picture_url`` (remote links, not fetched);
    - interactions: one per user-artist row, kind ``"view"`` (a listening), ``value`` = the play count, time
      unknown;
    - edges: friendships are undirected (the file lists each in both directions), so each pair is stored ONCE
      as kind ``"friend"`` with ``src < dst`` compared as strings.

    ``tags.dat`` (ISO-8859-1) is only counted (``metadata["tags"]``): the files assigning tags to artists are
    absent from the shared copy. There is no standard split.

    Args:
        root: the shared data folder; None looks it up (see ``data_root``).
        verify: check the files read against ``MANIFEST.sha256`` first.

    Returns:
        A Corpus with ``users``, ``posts``, ``interactions`` and ``edges``.

    Raises:
        DatasetNotFoundError: the dataset folder, its manifest or a listed file is absent.
        IntegrityError: a file does not match the manifest.
    """
    folder = dataset_path(DATASET, root)
    if verify:
        verify_manifest(folder, FILES)
    artists = read_delimited(folder / "artists.dat")
    plays = read_delimited(folder / "user_artists.dat")
    friendships = undirected_pairs(read_delimited(folder / "user_friends.dat"))
    tags = read_delimited(folder / "tags.dat", encoding="iso-8859-1")
    users = sorted({user for user, _, _ in plays} | {user for pair in friendships for user in pair},
                   key=numeric_order)
    return dataset_corpus(
        DATASET,
        folder,
        users=[{"user_id": user, "platform": "lastfm"} for user in users],
        posts=[
            {"post_id": f"artist:{artist_id}", "text": name, "platform": "lastfm",
             "extra": {"url": url, "picture_url": picture_url or None}}
            for artist_id, name, url, picture_url in artists
        ],
        interactions=[
            {"user_id": user, "post_id": f"artist:{artist_id}", "kind": "view", "value": float(play_count)}
            for user, artist_id, play_count in plays
        ],
        edges=[{"src": src, "dst": dst, "kind": "friend"} for src, dst in friendships],
        metadata={"tags": len(tags)},
    )
