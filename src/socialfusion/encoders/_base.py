"""The Encoder interface and registry: every modality becomes ``(n, dim)`` float32 vectors plus a missing mask.

An encoder never raises for one bad item: an empty text, a corrupt image, a truncated video or a zero-byte audio
file becomes a row of zeros flagged missing, with the reason, and the rest of the batch is encoded.

Examples:
    >>> encoder = get_encoder("identity/test")
    >>> encoded = encoder.encode([[1.0, 2.0], None])
    >>> encoded.vectors.shape, encoded.missing.tolist(), encoded.reasons
    ((2, 2), [False, True], [None, 'no input'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from socialfusion.exceptions import ConfigurationError, SocialFusionError

__all__ = [
    "MODALITIES",
    "Encoded",
    "Encoder",
    "IdentityEncoder",
    "available_encoders",
    "encoder_info",
    "get_encoder",
    "register_encoder",
]

MODALITIES = ("text", "image", "video", "audio", "graph", "tabular")


class Encoded(NamedTuple):
    """What ``Encoder.encode`` returns.

    Attributes:
        vectors: ``(n, dim)`` float32; all zeros on missing rows.
        missing: ``(n,)`` bool; True where the item was absent or could not be decoded.
        reasons: ``n`` entries: why each missing row is missing, None for the others.
    """

    vectors: np.ndarray
    missing: np.ndarray
    reasons: list[str | None]

    @classmethod
    def empty(cls, dim: int) -> Encoded:
        """No rows."""
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, bool), [])


@runtime_checkable
class Encoder(Protocol):
    """Turns items of one modality into vectors.

    Attributes:
        name: the registry key, e.g. ``"text/minilm"``.
        modality: one of ``MODALITIES``.
        dim: the vector size.
        version: part of the feature-cache key; changes whenever the vectors for the same input would change
            (another model, other weights, other settings, another fitted vocabulary).
    """

    name: str
    modality: str
    dim: int
    version: str

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode ``items``; bad items become missing rows with a reason, never an exception for the batch."""


class RowCollector:
    """Collects per-item results into an ``Encoded``: the one place that fills vectors, the mask and reasons.

    Args:
        n: number of items.
        dim: vector size.

    Examples:
        >>> rows = RowCollector(2, 3)
        >>> rows.put(0, [1, 2, 3]); rows.skip(1, "empty text")
        >>> rows.result().reasons
        [None, 'empty text']
    """

    def __init__(self, n: int, dim: int):
        self.vectors = np.zeros((n, dim), np.float32)
        self.missing = np.ones(n, bool)
        self.reasons: list[str | None] = ["not encoded"] * n

    def put(self, index: int, vector: Any) -> None:
        """Set row ``index``; a vector with NaN or infinity makes the row missing instead."""
        self.put_rows([index], np.asarray(vector, np.float32).reshape(1, -1))

    def put_rows(self, indices: Sequence[int], vectors: np.ndarray, *, empty_reason: str | None = None) -> None:
        """Set row ``indices[i]`` to ``vectors[i]`` for every ``i`` at once; a vector with NaN or infinity makes its
        row missing instead, and so does an all-zero one when ``empty_reason`` (its reason) is given."""
        indices = np.asarray(indices, np.int64)
        finite = np.isfinite(vectors).all(axis=1)
        empty = ~vectors.any(axis=1) if empty_reason is not None else np.zeros(len(indices), bool)
        self.vectors[indices] = vectors
        for rows, reason in ((~finite, "the encoder produced NaN or infinite values"), (finite & empty, empty_reason)):
            for index in indices[rows].tolist():
                self.skip(index, reason)
        kept = indices[finite & ~empty]
        self.missing[kept] = False
        for index in kept.tolist():
            self.reasons[index] = None

    def skip(self, index: int, reason: str) -> None:
        """Mark row ``index`` missing because of ``reason``."""
        self.vectors[index] = 0.0
        self.missing[index] = True
        self.reasons[index] = reason

    def result(self) -> Encoded:
        """The collected rows."""
        return Encoded(self.vectors, self.missing, self.reasons)


def local_files_identity(path: Path) -> list[tuple[str, int, int]]:
    """Names, sizes and modification times of a local model's file or folder: part of an encoder's version, so
    replaced weights (even of the same size) give a new version."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(item for item in path.rglob("*") if item.is_file())
    root = path.parent if path.is_file() else path
    return [(str(item.relative_to(root)), item.stat().st_size, int(item.stat().st_mtime)) for item in files]


def settings_version(*parts: Any) -> str:
    """A short version string from an encoder's name, model and settings (for the feature-cache key)."""
    text = "|".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


_ENCODERS: dict[str, tuple[Callable[..., Encoder], str, str]] = {}
_HIDDEN: set[str] = set()  # test-only entries: buildable by name, never listed to users


def register_encoder(name: str, *, modality: str, extra: str | None = None, hidden: bool = False):
    """Register an encoder class or factory under ``name``.

    Args:
        name: registry key, ``"<modality>/<what>"``.
        modality: one of ``MODALITIES``.
        extra: the socialfusion extra its dependencies come from (for the install hint), None if none.
        hidden: a test-only entry: ``get_encoder`` builds it, but listings and error messages leave it out.
    """
    if modality not in MODALITIES:
        raise ConfigurationError(f"unknown modality {modality!r}; expected one of {MODALITIES}")

    def decorate(factory):
        _ENCODERS[name] = (factory, modality, extra or "")
        if hidden:
            _HIDDEN.add(name)
        return factory

    return decorate


def _load_builtin_encoders() -> None:
    import importlib

    for module in ("text", "image", "video", "audio", "graph", "tabular"):
        try:
            importlib.import_module(f"socialfusion.encoders.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"socialfusion.encoders.{module}":
                raise


def available_encoders(modality: str | None = None) -> list[str]:
    """Registered encoder names, optionally of one modality (test-only entries such as ``identity/test`` left out)."""
    _load_builtin_encoders()
    return sorted(name for name, (_, kind, _) in _ENCODERS.items() if modality in (None, kind) and name not in _HIDDEN)


def encoder_info(name: str) -> dict[str, str]:
    """The modality and the extra of a registered encoder, without building it."""
    _load_builtin_encoders()
    if name not in _ENCODERS:
        raise ConfigurationError(f"unknown encoder {name!r}; known encoders: {', '.join(available_encoders())}")
    _, modality, extra = _ENCODERS[name]
    return {"name": name, "modality": modality, "extra": extra}


def get_encoder(name: str, **options: Any) -> Encoder:
    """Build the encoder registered as ``name``.

    Args:
        name: a registry key (see ``available_encoders``).
        **options: passed to the encoder (e.g. ``model=`` a local path or hub id for a user-supplied model).

    Raises:
        ConfigurationError: unknown name.
        MissingDependencyError: its extra is not installed (the message names the pip install).
    """
    info = encoder_info(name)
    factory = _ENCODERS[name][0]
    encoder = factory(**options)
    if encoder.modality != info["modality"]:
        raise SocialFusionError(
            f"encoder {name!r} reports modality {encoder.modality!r}, registered as {info['modality']!r}"
        )
    return encoder


@register_encoder("identity/test", modality="tabular", hidden=True)
class IdentityEncoder:
    """The no-op encoder: items are already vectors (lists or arrays of ``dim`` numbers); None is missing.

    Args:
        dim: the vector size; inferred from the first item when None.
    """

    name = "identity/test"
    modality = "tabular"

    def __init__(self, dim: int | None = None):
        self.dim = dim or 0
        self.version = settings_version(self.name)

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        if not self.dim:
            self.dim = next((len(item) for item in items if item is not None), 1)
        rows = RowCollector(len(items), self.dim)
        for index, item in enumerate(items):
            if item is None:
                rows.skip(index, "no input")
            elif len(item) != self.dim:
                rows.skip(index, f"expected {self.dim} numbers, got {len(item)}")
            else:
                rows.put(index, item)
        return rows.result()
