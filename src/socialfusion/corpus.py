"""Corpus: the in-memory view of one store (posts, users, interactions, edges, labels, rejects) that tasks consume."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.schema import MEDIA_KINDS, TABLES, arrow_schema, empty_table, records_to_table

if TYPE_CHECKING:
    from socialfusion.store import Store

__all__ = ["Corpus", "resolve_mentions"]


def _empty(table: str):
    return field(default_factory=lambda: empty_table(table))


@dataclass
class Corpus:
    """Arrow tables of one corpus, each with the schema of ``socialfusion.schema.arrow_schema(name)``.

    Examples:
        >>> corpus = Corpus.from_records(posts=[{"post_id": "p1", "author_id": "u1", "text": "hello",
        ...                                     "created_at": "2024-01-01T00:00:00Z"}])
        >>> corpus.counts()["posts"]
        1
    """

    posts: pa.Table = _empty("posts")
    users: pa.Table = _empty("users")
    interactions: pa.Table = _empty("interactions")
    edges: pa.Table = _empty("edges")
    labels: pa.Table = _empty("labels")
    rejects: pa.Table = _empty("rejects")
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def table_names(cls) -> list[str]:
        """The names of the corpus's tables, in storage order."""
        return [f.name for f in fields(cls) if f.name in TABLES]

    @classmethod
    def from_records(cls, metadata: Mapping[str, Any] | None = None, **records: Iterable[Any]) -> Corpus:
        """Build a corpus from records (mappings or schema models), validated here.

        Args:
            metadata: free-form metadata (dataset name, privacy settings, ...).
            **records: one iterable per table name, e.g. ``posts=[...]``.

        Raises:
            SchemaValidationError: a record does not validate.
            ConfigurationError: unknown table name.
        """
        tables = {name: records_to_table(name, rows) for name, rows in records.items()}
        return cls(**tables, metadata=dict(metadata or {}))

    @classmethod
    def from_store(cls, store: Store) -> Corpus:
        """Read every table of ``store`` into memory."""
        tables = {name: store.read(name) for name in cls.table_names()}
        return cls(**tables, metadata=store.get_metadata())

    def table(self, name: str) -> pa.Table:
        """The table called ``name``."""
        if name not in self.table_names():
            from socialfusion.exceptions import ConfigurationError

            raise ConfigurationError(f"unknown table {name!r}; expected one of {self.table_names()}")
        return getattr(self, name)

    def counts(self) -> dict[str, int]:
        """Row counts per table."""
        return {name: self.table(name).num_rows for name in self.table_names()}

    def modality_counts(self) -> dict[str, int]:
        """Number of posts carrying each modality: ``text`` (non-blank text) and each media kind."""
        return modality_counts(self.posts)

    def validate(self) -> Corpus:
        """Check every table has its canonical schema; returns self for chaining."""
        for name in self.table_names():
            expected = arrow_schema(name)
            actual = self.table(name).schema
            if not actual.equals(expected, check_metadata=False):
                from socialfusion.exceptions import DataError

                raise DataError(f"corpus table {name!r} has schema\n{actual}\nexpected\n{expected}")
        return self


def modality_counts(posts: pa.Table) -> dict[str, int]:
    """Posts per modality in a posts table: ``text`` (non-blank) and each media kind (image, video, audio).

    A post with two images counts once for ``image``.
    """
    counts = {"text": 0, **{kind: 0 for kind in MEDIA_KINDS}}
    if posts.num_rows == 0:
        return counts
    text = pc.utf8_trim_whitespace(posts.column("text").fill_null(""))
    counts["text"] = int(pc.sum(pc.greater(pc.utf8_length(text), 0)).as_py() or 0)
    media = posts.column("media").combine_chunks()
    parents = pc.list_parent_indices(media)
    kinds = pc.struct_field(pc.list_flatten(media), "kind")
    for kind in MEDIA_KINDS:
        owners = pc.filter(parents, pc.equal(kinds, kind))
        counts[kind] = len(pc.unique(owners))
    return counts


def _handle_key(value: str) -> str:
    """How a handle is compared: case-insensitive, without spaces or a leading ``@`` (ASCII or full-width)."""
    return value.strip().lstrip("@＠").strip().casefold()


def resolve_mentions(posts: pa.Table, users: pa.Table) -> pa.Table:
    """Posts whose ``mentions`` name users by ``user_id``: each handle resolved through the users table.

    Posts mention users by handle (``@happy_tiger119``) while authors, follows and interactions name them by id
    (``u0119``); without this, one user is counted as two. A mention matches a user whose ``handle`` is the same
    ignoring case and a leading ``@``; a mention that matches no handle, or the handles of several users, stays as
    it is (it may already be an id, or name someone outside the corpus).

    Args:
        posts: posts with a ``mentions`` list column (other columns are kept as they are).
        users: the users table (``user_id``, ``handle``).

    Returns:
        ``posts`` with ``mentions`` replaced; the same table when there is nothing to resolve.

    Examples:
        >>> posts = pa.table({"post_id": ["p1"], "mentions": [["@Happy_Tiger119", "stranger", "u7"]]})
        >>> users = pa.table({"user_id": ["u0119", "u7"], "handle": ["happy_tiger119", "sky"]})
        >>> resolve_mentions(posts, users).column("mentions").to_pylist()
        [['u0119', 'stranger', 'u7']]
    """
    if "mentions" not in posts.column_names or "handle" not in users.column_names or users.num_rows == 0:
        return posts
    owners: dict[str, set[str]] = {}
    for user_id, handle in zip(users.column("user_id").to_pylist(), users.column("handle").to_pylist()):
        if user_id is not None and handle and _handle_key(handle):
            owners.setdefault(_handle_key(handle), set()).add(user_id)
    user_of = {handle: next(iter(ids)) for handle, ids in owners.items() if len(ids) == 1}
    if not user_of:
        return posts
    resolved = [None if mentions is None else [user_of.get(_handle_key(value), value) if value else value
                                               for value in mentions]
                for mentions in posts.column("mentions").to_pylist()]
    position = posts.column_names.index("mentions")
    return posts.set_column(position, posts.schema.field("mentions"),
                            pa.array(resolved, posts.schema.field("mentions").type))
