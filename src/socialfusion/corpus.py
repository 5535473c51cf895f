"""Corpus: the in-memory view of one store (posts, users, interactions, edges, labels, rejects) that tasks consume."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from itertools import chain
from operator import attrgetter, methodcaller
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.schema import (
    INT64_MAX,
    MEDIA_KINDS,
    TABLES,
    arrow_schema,
    empty_table,
    records_to_table,
    with_bookkeeping,
)

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

        Plain ``dict`` records are checked and converted to Arrow column by column; only the rows those checks
        cannot vouch for (a string where a time belongs, a blank id, an unknown field, media, schema models...)
        are validated one by one. The tables, keys, hashes and the first error raised are the same as
        ``socialfusion.schema.records_to_table`` gives record by record.

        Args:
            metadata: free-form metadata (dataset name, privacy settings, ...).
            **records: one iterable per table name, e.g. ``posts=[...]``.

        Raises:
            SchemaValidationError: a record does not validate.
            ConfigurationError: unknown table name.
        """
        tables = {name: _records_table(name, rows) for name, rows in records.items()}
        return cls(**tables, metadata=dict(metadata or {}))

    @classmethod
    def from_store(cls, store: Store, *, bookkeeping: bool = True) -> Corpus:
        """Read every table of ``store`` into memory.

        Args:
            store: the store.
            bookkeeping: also read the store's ``record_key`` and ``record_hash`` columns. Analyses never use
                them, and they are half of a corpus's memory (interactions' keys and hashes: 145 of 238 MB at
                200,000 posts); without them the tables are not canonical (``validate`` refuses them).
        """
        tables = {name: store.read(name, columns=None if bookkeeping else [
            column for column in arrow_schema(name).names if column not in _BOOKKEEPING]) for name in cls.table_names()}
        return cls(**tables, metadata=store.get_metadata())

    def table(self, name: str) -> pa.Table:
        """The table called ``name``."""
        if name not in self.table_names():
            from socialfusion.exceptions import ConfigurationError

            raise ConfigurationError(f"unknown table {name!r}; expected one of {self.table_names()}")
        return getattr(self, name)

    def __repr__(self) -> str:
        """One line: the row count of each table and the corpus's name (not every column of every table).

        Examples:
            >>> Corpus.from_records(posts=[{"post_id": "p1", "text": "hi"}], metadata={"name": "toy"})
            Corpus('toy': 1 posts, 0 users, 0 interactions, 0 edges, 0 labels, 0 rejects)
        """
        name = self.metadata.get("name") or self.metadata.get("dataset")
        counts = ", ".join(f"{count:,} {table}" for table, count in self.counts().items())
        return f"Corpus({name!r}: {counts})" if name else f"Corpus({counts})"

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
    mentions = posts.column("mentions").combine_chunks()
    if not isinstance(mentions, pa.ListArray):
        mentions = mentions.cast(pa.list_(pa.string()))
    first, last = mentions.offsets[0].as_py(), mentions.offsets[-1].as_py()
    values = mentions.values.slice(first, last - first)  # each distinct handle resolved once
    distinct = pc.unique(values)
    resolved = pa.array([user_of.get(_handle_key(value), value) if value else value for value in distinct.to_pylist()],
                        pa.string()).take(pc.index_in(values, distinct))
    offsets = pc.subtract(mentions.offsets, mentions.offsets[0])
    resolved = pa.ListArray.from_arrays(offsets, resolved, mask=mentions.is_null())
    position = posts.column_names.index("mentions")
    return posts.set_column(position, posts.schema.field("mentions"),
                            resolved.cast(posts.schema.field("mentions").type))


# -- building tables column by column ------------------------------------------------------------------------------

# A character that neither Python's ``str.isspace`` nor Unicode's White_Space (pydantic's ``\S``) counts as space:
# a value holding one is not blank under either rule.
_NOT_SPACE = r"[^\pZ\t-\r\x{1c}-\x{1f}\x{85}]"
_BOOKKEEPING = ("record_key", "record_hash")
_MISSING = object()


@dataclass(frozen=True)
class _FieldCheck:
    """What a value of one schema field must be for the columnar path to vouch for it (else the record path)."""

    name: str
    arrow_field: pa.Field
    kind: str  # string, timestamp, count, float, bool, json, strings (list of str), media
    required: bool
    nullable: bool
    default: Any
    not_blank: bool = False
    choices: tuple[str, ...] | None = None


def _constraints(annotation: Any, metadata: Sequence[Any]) -> list[Any]:
    """The validation metadata of a pydantic field, however deeply its annotation nests it."""
    from pydantic.fields import FieldInfo

    found = list(metadata)
    if get_origin(annotation) is Literal:
        return found
    for part in get_args(annotation):
        if isinstance(part, FieldInfo):
            found += part.metadata
        elif get_origin(part) is Annotated or get_args(part):
            found += _constraints(part, ())
        elif not isinstance(part, type) and part is not None:
            found.append(part)
    return found


@cache
def _field_checks(table: str) -> tuple[_FieldCheck, ...] | None:
    """The checks of every field of ``table``, or None when a field carries a rule the columnar path does not know."""
    import annotated_types
    from pydantic import AfterValidator, AllowInfNan, StringConstraints
    from pydantic.fields import FieldInfo

    from socialfusion import schema

    model = TABLES[table]
    checks = []
    for arrow_field in arrow_schema(table):
        if arrow_field.name in _BOOKKEEPING:
            continue
        info: FieldInfo = model.model_fields[arrow_field.name]
        kind_of = arrow_field.type
        if arrow_field.name == "extra":
            kind = "json"
        elif pa.types.is_timestamp(kind_of):
            kind = "timestamp"
        elif pa.types.is_int64(kind_of):
            kind = "count"
        elif pa.types.is_float64(kind_of):
            kind = "float"
        elif pa.types.is_boolean(kind_of):
            kind = "bool"
        elif pa.types.is_string(kind_of):
            kind = "string"
        elif pa.types.is_list(kind_of) and pa.types.is_string(kind_of.value_type):
            kind = "strings"
        elif arrow_field.name == "media":
            kind = "media"
        else:
            return None
        not_blank = False
        for rule in _constraints(info.annotation, info.metadata):
            if isinstance(rule, StringConstraints) and rule.min_length == 1 and rule.pattern == r"\S":
                not_blank = True
            elif isinstance(rule, annotated_types.Ge) and rule.ge == 0 and kind == "count":
                pass
            elif isinstance(rule, annotated_types.Le) and rule.le == INT64_MAX and kind == "count":
                pass
            elif isinstance(rule, AllowInfNan) and not rule.allow_inf_nan and kind == "float":
                pass
            elif isinstance(rule, AfterValidator) and rule.func in (schema._as_utc, schema._json_storable):
                pass
            else:
                return None
        if kind == "count" and not any(isinstance(rule, annotated_types.Ge)
                                       for rule in _constraints(info.annotation, info.metadata)):
            return None
        required = info.is_required()
        checks.append(_FieldCheck(
            name=arrow_field.name, arrow_field=arrow_field, kind=kind, required=required,
            nullable=type(None) in get_args(info.annotation),
            default=None if required else info.get_default(call_default_factory=True), not_blank=not_blank,
            choices=get_args(info.annotation) if get_origin(info.annotation) is Literal else None))
    return tuple(checks)


_PYTHON_TYPES = {"string": (str,), "timestamp": (dt.datetime,), "count": (int,), "float": (float, int),
                 "bool": (bool,), "json": (dict,), "strings": (list,), "media": (list,)}


def _python_values(check: _FieldCheck, rows: list[dict], doubtful: set[int]) -> list[Any]:
    """One field's values over ``rows`` (defaults filled in), adding to ``doubtful`` the rows whose value the
    columnar path cannot vouch for by its Python type (exact types only: a subclass takes the record path)."""
    values = list(map(methodcaller("get", check.name, _MISSING), rows))
    allowed = set(_PYTHON_TYPES[check.kind]) | ({type(None)} if check.nullable else set())
    found = set(map(type, values))
    if _MISSING.__class__ in found:
        if check.required:
            doubtful.update(index for index, value in enumerate(values) if value is _MISSING)
        else:
            values = [check.default if value is _MISSING else value for value in values]
            found = set(map(type, values))
    if not found <= allowed | {_MISSING.__class__}:
        doubtful.update(index for index, value in enumerate(values) if type(value) not in allowed)
    present = [value for value in values if value is not None and type(value) in allowed] \
        if check.kind in ("timestamp", "strings", "media", "json") else []
    if check.kind == "timestamp":  # naive (taken as UTC) or UTC: other zones are converted by the record path
        if not set(map(attrgetter("tzinfo"), present)) <= {None, dt.UTC}:
            doubtful.update(index for index, value in enumerate(values) if type(value) is dt.datetime
                            and value.tzinfo is not None and value.tzinfo is not dt.UTC)
    elif check.kind == "strings":
        if not set(map(type, chain.from_iterable(present))) <= {str}:
            doubtful.update(index for index, value in enumerate(values)
                            if type(value) is list and not all(type(item) is str for item in value))
    elif check.kind == "media":
        if any(present):
            doubtful.update(index for index, value in enumerate(values) if type(value) is list and value)
    elif check.kind == "json" and present:
        for index, value in enumerate(values):
            if type(value) is dict:
                try:
                    if not all(type(key) is str for key in value):
                        raise TypeError("a key that is not a string")
                    values[index] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
                except TypeError:  # not storable as JSON: the record path says why
                    doubtful.add(index)
    return values


def _vouched_rows(check: _FieldCheck, column: pa.Array) -> pa.Array | None:
    """Which rows of a converted column pass the field's value rules (None: all of them)."""
    if check.not_blank:
        return pc.fill_null(pc.match_substring_regex(column, _NOT_SPACE), True)
    if check.choices is not None:
        return pc.fill_null(pc.is_in(column, pa.array(check.choices, pa.string())), True)
    if check.kind == "count":
        return pc.fill_null(pc.greater_equal(column, 0), True)
    if check.kind == "float":
        return pc.fill_null(pc.is_finite(column), True)
    return None


def _records_table(table: str, records: Iterable[Any]) -> pa.Table:
    """``records_to_table``'s table built column by column: the rows this cannot vouch for take the record path."""
    if table not in TABLES:
        from socialfusion.exceptions import ConfigurationError

        raise ConfigurationError(f"unknown table {table!r}; expected one of {sorted(TABLES)}")
    checks = _field_checks(table)
    rows = list(records)
    if checks is None or not rows:
        return records_to_table(table, rows)
    known = frozenset(check.name for check in checks)
    doubtful = {index for index, row in enumerate(rows) if type(row) is not dict or not known.issuperset(row)}
    plain = [row if type(row) is dict else {} for row in rows]
    values = {check.name: _python_values(check, plain, doubtful) for check in checks}
    if table == "posts":  # Post's own rule: a post needs text, media or a reshared post
        text, reshare = values["text"], values["reshare_of"]
        for index in range(len(rows)):
            if text[index] is None:
                text[index] = ""
            if reshare[index] is None and type(text[index]) is str and not text[index].strip():
                doubtful.add(index)
    try:
        columns, vouched = _arrow_columns(checks, values, doubtful, len(rows))
    except (pa.ArrowException, OverflowError, ValueError, TypeError):  # a value Arrow will not take as it is
        return records_to_table(table, rows)
    good = [index for index in range(len(rows)) if index not in doubtful]
    fields = pa.schema([check.arrow_field for check in checks])
    checked = pa.Table.from_arrays(columns, schema=fields)
    if vouched is not None:
        keep = vouched.to_numpy(zero_copy_only=False)
        doubtful.update(index for index, ok in zip(good, keep) if not ok)
        good = [index for index, ok in zip(good, keep) if ok]
        checked = checked.filter(vouched)
    result = with_bookkeeping(table, checked)
    if doubtful:
        order = sorted(doubtful)
        result = pa.concat_tables([result, records_to_table(table, [rows[index] for index in order])])
        position = {index: place for place, index in enumerate(good + order)}
        result = result.take(pa.array([position[index] for index in range(len(rows))], pa.int64()))
    return result.combine_chunks()


def _arrow_columns(checks: Sequence[_FieldCheck], values: Mapping[str, list], doubtful: set[int],
                   n_rows: int) -> tuple[list[pa.Array], pa.Array | None]:
    """The Arrow columns of the rows not yet doubtful, and which of them pass the value rules (None: all)."""
    if doubtful:
        good = [index for index in range(n_rows) if index not in doubtful]
        values = {name: [column[index] for index in good] for name, column in values.items()}
    columns, vouched = [], None
    for check in checks:
        column = values[check.name]
        if check.kind == "float":
            column = [None if value is None else float(value) for value in column]
        array = pa.array(column, pa.string() if check.kind == "json" else check.arrow_field.type)
        columns.append(array)
        passes = _vouched_rows(check, array)
        if passes is not None:
            vouched = passes if vouched is None else pc.and_(vouched, passes)
    if vouched is not None and pc.all(vouched).as_py() is not False:
        vouched = None
    return columns, vouched
