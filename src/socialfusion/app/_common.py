"""What every application operation shares: the parameter and result base models, bounds, and a result cache
keyed by the versions of the tables a result was computed from."""

from __future__ import annotations

import collections
import concurrent.futures
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from socialfusion.exceptions import NotFoundError
from socialfusion.store import Store, sql_string

__all__ = [
    "MAX_K",
    "Identifier",
    "K",
    "Params",
    "Progress",
    "Result",
    "cached",
    "check_encoder_names",
    "check_user",
    "clean",
    "encoding_progress",
    "local_folder",
    "quiet",
]

MAX_K = 1000
"""The most rows any one operation returns (page sizes and ``k``)."""

K = Annotated[int, Field(ge=1, le=MAX_K, description=f"How many rows to return (1 to {MAX_K}).")]
Identifier = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\x00]+$",
                                  description="An id as the store holds it (a pseudonym in a pseudonymised store).")]

T = TypeVar("T")


Progress = Callable[[float | None, str], None]
"""``progress(fraction done in [0, 1] or None when unknown, message)``: how an operation says how far it is."""


def quiet(fraction: float | None, message: str) -> None:
    """The progress callback of a caller that does not follow progress."""


def encoding_progress(names: Sequence[str], progress: Progress, share: float = 1.0) -> Callable[[str, int, int], None]:
    """``featurize``'s progress callback (``encoder, done, total``) as ``progress`` over the first ``share`` of an
    operation: each of ``names`` (the encoders, in the order they run) an equal part of it."""

    def report(name: str, done: int, total: int) -> None:
        position = names.index(name) + (done / total if total else 1.0)
        progress(share * position / len(names), f"{name}: {done:,} of {total:,}")

    return report


def check_encoder_names(names: Sequence[str], *, joined: bool = False) -> list[str]:
    """``names`` as a list when each is a registered encoder (with ``joined``, each part of a joined name such as
    ``text/minilm-int8+text/lexicon``, whose features lie side by side).

    Raises:
        ConfigurationError: an unknown encoder, naming the known ones.
    """
    from socialfusion.encoders import encoder_info
    from socialfusion.featurize import distinct_encoders

    for name in distinct_encoders(names) if joined else names:
        encoder_info(name)
    return list(names)


class Params(BaseModel):
    """Parameters of an operation: typed, validated, and closed (an unknown field is an error, never ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Result(BaseModel):
    """What an operation returns: plain JSON-ready data."""

    model_config = ConfigDict(extra="forbid")


def clean(value: Any) -> Any:
    """A value fit for JSON: NaN and infinities become None (recursively through lists and dicts)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    return value


def parse_extra(value: str | None) -> dict[str, Any] | None:
    """A stored ``extra`` JSON string as a dict (a non-object value is wrapped as ``{"value": ...}``)."""
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {"value": value}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def local_folder(store: Store) -> Path | None:
    """The store's folder when it is a local directory (models, uploads and reports live there), else None."""
    return None if "://" in store.uri else Path(store.uri)


def check_user(store: Store, user_id: str) -> None:
    """Raise NotFoundError unless the store knows ``user_id`` (as a user, an author or an interacting user)."""
    quoted = sql_string(user_id)
    if store.count("users", where=f"user_id = {quoted}") or store.count("posts", where=f"author_id = {quoted}") \
            or store.count("interactions", where=f"user_id = {quoted}"):
        return
    raise NotFoundError(f"no user {user_id!r} in {store.uri!r}", field="user_id")


_CACHE: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
_COMPUTING: dict[tuple, concurrent.futures.Future] = {}  # key -> the answer one caller is computing now
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def cached(store: Store, tables: Sequence[str], key: Any, compute: Callable[[], T]) -> T:
    """``compute()``, reused while none of ``tables`` changed (any writer's commit changes a table's version).

    Analyses over a whole corpus (influence, communities, bursts, the knowledge graph) take seconds; a service
    asked the same question again answers from this cache until the data moves. Callers asking at once for an
    answer not cached yet wait for the one that computes it (single flight): a burst of dashboard requests after a
    write costs one computation, not one per request. If it raises, they all raise its error.
    """
    identity = store.uri if "://" not in store.uri else f"{store.uri}#{id(store)}"
    full_key = (identity, orjson.dumps(key, default=str, option=orjson.OPT_SORT_KEYS),
                tuple(store.version(table) for table in tables))
    with _CACHE_LOCK:
        if full_key in _CACHE:
            _CACHE.move_to_end(full_key)
            return _CACHE[full_key]
        computing = _COMPUTING.get(full_key)
        if computing is None:
            answer = _COMPUTING[full_key] = concurrent.futures.Future()
    if computing is not None:
        return computing.result()
    try:
        value = compute()
    except BaseException as error:
        with _CACHE_LOCK:
            del _COMPUTING[full_key]
        answer.set_exception(error)
        raise
    with _CACHE_LOCK:
        _CACHE[full_key] = value
        del _COMPUTING[full_key]
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    answer.set_result(value)
    return value
