"""Model files that load without running code: parameters in JSON, arrays in NPZ members, paths kept in the folder.

A model archive is a ZIP laid out as NumPy's NPZ: one ``<key>.npy`` member per array, read back with
``np.load(..., allow_pickle=False)`` (an object array, which would need pickle, is refused), beside JSON documents
(``model.json``, ...) and, where a format needs one, another named member (``model.pt``, read by its own safe
loader). Nothing in it is unpickled.

``ModelWriter`` turns a tree of plain values (None, booleans, numbers, strings, lists, tuples, dicts), NumPy arrays
and the types its hooks know (a fitted recommender, a scikit-learn scaler, ...) into a JSON document plus the arrays
it names; ``ModelReader`` builds the same tree back and nothing else: each tagged node (``{"__type__": "array",
"key": ...}``) is one of the listed types, and a hook decides what its own tag may build. ``file_inside`` keeps a file
that a model folder's JSON names inside that folder.

Examples:
    >>> import tempfile
    >>> writer = ModelWriter()
    >>> document = writer.encode({"weights": np.arange(3.0), "labels": ("a", "b")}, "model")
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = write_archive(folder / "model.npz", documents={"model.json": document}, arrays=writer.arrays)
    >>> with Archive(path, "a toy model") as archive:
    ...     ModelReader(archive).read(archive.document("model.json"))
    {'weights': array([0., 1., 2.]), 'labels': ('a', 'b')}
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError

__all__ = ["TYPE", "Archive", "ModelReader", "ModelWriter", "file_inside", "write_archive"]

TYPE = "__type__"
"""The key that marks a tagged node of a model document (``{"__type__": "array", "key": "seen_/data"}``)."""

_STRING_DTYPE = re.compile(r"[<>|=]?U\d+")
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_./-]+")

WriteHook = Callable[["ModelWriter", Any, str], Any]
ReadHook = Callable[["ModelReader", dict], Any]


# -- the archive ----------------------------------------------------------------------------------------------------


def write_archive(path: str | Path, *, documents: Mapping[str, Any] | None = None,
                  arrays: Mapping[str, np.ndarray] | None = None, members: Mapping[str, bytes] | None = None) -> Path:
    """Write a model archive: JSON ``documents`` (name -> JSON-ready value), ``<key>.npy`` arrays, raw ``members``.

    Raises:
        ConfigurationError: a document is not JSON-writable, or an array holds Python objects.
    """
    path = Path(path)
    texts = {}
    for name, document in (documents or {}).items():
        try:
            texts[name] = json.dumps(document, indent=1)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"cannot write {name} of {path}: {error}") from error
    for key, array in (arrays or {}).items():
        if np.asarray(array).dtype.hasobject:
            raise ConfigurationError(f"cannot write the array {key!r} of {path}: it holds Python objects, which only "
                                     "pickle could store")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in texts.items():
            archive.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in (members or {}).items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        for key, array in (arrays or {}).items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)
    return path


class Archive:
    """The members of a model archive, read with ``np.load(..., allow_pickle=False)``; use it as a context manager.

    Args:
        path: the archive.
        what: what it should hold, for messages (``"a recommender"``).
        error: the message of every ``DataError`` it raises, with ``{path}`` and ``{reason}`` fields.

    Raises:
        DataError: the file is absent or not a ZIP (a pickle, say).
    """

    def __init__(self, path: str | Path, what: str, *, error: str = "{path} is not a saved {what}: {reason}"):
        self.path = Path(path)
        self._error = error
        self._what = what
        try:
            content = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as problem:
            raise self.invalid(str(problem)) from problem
        if not isinstance(content, np.lib.npyio.NpzFile):
            raise self.invalid("it is a single array, not an archive")
        self._content = content

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._content.close()

    def invalid(self, reason: str) -> DataError:
        """The ``DataError`` that says this archive cannot be used, and why."""
        return DataError(self._error.format(path=self.path, what=self._what, reason=reason))

    def __contains__(self, name: str) -> bool:
        return name in self._content.zip.namelist()

    def member(self, name: str) -> bytes:
        """The raw bytes of a member that is not an array."""
        try:
            data = self._content[name]
        except KeyError:
            raise self.invalid(f"it has no {name}") from None
        except (OSError, zipfile.BadZipFile) as problem:
            raise self.invalid(f"{name} cannot be read ({problem})") from problem
        if not isinstance(data, bytes):
            raise self.invalid(f"{name} is an array, not a document")
        return data

    def document(self, name: str) -> Any:
        """A JSON member, parsed."""
        try:
            return json.loads(self.member(name))
        except (UnicodeDecodeError, json.JSONDecodeError) as problem:
            raise self.invalid(f"{name} is not JSON ({problem})") from problem

    def array(self, key: str) -> np.ndarray:
        """The array ``<key>.npy``; an object array is refused (it would need pickle)."""
        if f"{key}.npy" not in self:
            raise self.invalid(f"it has no array {key!r}")
        try:
            array = self._content[f"{key}.npy"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as problem:
            raise self.invalid(f"the array {key!r} cannot be read without pickle ({problem})") from problem
        if not isinstance(array, np.ndarray):
            raise self.invalid(f"{key}.npy is not an array")
        return array


# -- documents: a tree of values and the arrays it names ------------------------------------------------------------


class ModelWriter:
    """Turns a tree of values into a JSON-ready document; its arrays collect in ``arrays`` (each stored once).

    Args:
        hooks: functions ``hook(writer, value, name)`` that encode the values the writer does not know (a tagged
            dict), or return ``NotImplemented``.

    Attributes:
        arrays: key -> array, the members to write beside the document.
    """

    def __init__(self, hooks: Sequence[WriteHook] = ()):
        self.arrays: dict[str, np.ndarray] = {}
        self._hooks = tuple(hooks)
        self._keys: dict[int, str] = {}

    def array(self, value: np.ndarray, name: str) -> dict[str, Any]:
        """A node naming ``value`` stored as ``<key>.npy`` (an array met twice is stored once)."""
        key = self._keys.get(id(value))
        if key is None:
            if value.dtype.hasobject:
                raise ConfigurationError(f"cannot save {name}: an array of Python objects needs pickle; give it a "
                                         "numeric or string dtype")
            key = base = _UNSAFE_KEY.sub("-", name).strip("/") or "array"
            copies = 1
            while key in self.arrays:
                key, copies = f"{base}~{copies}", copies + 1
            self.arrays[key] = value
            self._keys[id(value)] = key
        return {TYPE: "array", "key": key}

    def encode(self, value: Any, name: str) -> Any:
        """``value`` as a JSON-ready document; ``name`` (a path such as ``model/state/seen_``) names its arrays.

        Raises:
            ConfigurationError: a value of a type a model file does not hold.
        """
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.generic) and not isinstance(value, np.object_ | np.datetime64 | np.timedelta64):
            return self.encode(value.item(), name)
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "UO":
                return self._strings(value, name)
            return self.array(value, name)
        if isinstance(value, list):
            return [self.encode(item, f"{name}/{index}") for index, item in enumerate(value)]
        if isinstance(value, tuple):
            return {TYPE: "tuple", "items": [self.encode(item, f"{name}/{index}") for index, item in enumerate(value)]}
        if isinstance(value, Mapping):
            if all(isinstance(key, str) and key != TYPE for key in value):
                return {key: self.encode(item, f"{name}/{key}") for key, item in value.items()}
            pairs = [[self.encode(key, f"{name}/key{index}"), self.encode(item, f"{name}/{index}")]
                     for index, (key, item) in enumerate(value.items())]
            return {TYPE: "dict", "items": pairs}
        for hook in self._hooks:
            encoded = hook(self, value, name)
            if encoded is not NotImplemented:
                return encoded
        raise ConfigurationError(f"cannot save {name}: a {type(value).__name__} is not a value a model file holds "
                                 "(numbers, strings, lists, dicts, arrays)")

    def _strings(self, value: np.ndarray, name: str) -> dict[str, Any]:
        items = value.ravel().tolist()
        if not all(isinstance(item, str) for item in items):
            raise ConfigurationError(f"cannot save {name}: an object array must hold only strings to be saved")
        return {TYPE: "strings", "dtype": "object" if value.dtype.hasobject else value.dtype.str,
                "shape": list(value.shape), "values": items}


class ModelReader:
    """Builds a document that ``ModelWriter`` wrote back into values, reading its arrays from ``archive``.

    Args:
        archive: where the arrays are.
        hooks: tag -> ``hook(reader, node)`` building the value of a tagged node the reader does not know itself.
    """

    def __init__(self, archive: Archive, hooks: Mapping[str, ReadHook] | None = None):
        self.archive = archive
        self._hooks = dict(hooks or {})
        self._arrays: dict[str, np.ndarray] = {}

    def read(self, document: Any) -> Any:
        """The value of ``document``.

        Raises:
            DataError: the document is malformed, or a node has an unknown type.
        """
        try:
            return self.decode(document)
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as problem:
            raise self.archive.invalid(f"its content is malformed ({type(problem).__name__}: {problem})") from problem

    def array(self, node: Any) -> np.ndarray:
        """The array an ``{"__type__": "array"}`` node names."""
        key = node["key"] if isinstance(node, dict) and node.get(TYPE) == "array" else None
        if not isinstance(key, str):
            raise self.archive.invalid(f"expected an array node, found {node!r:.80}")
        if key not in self._arrays:
            self._arrays[key] = self.archive.array(key)
        return self._arrays[key]

    def decode(self, node: Any) -> Any:
        """The value of one node (see ``read``, which also turns malformed content into a ``DataError``)."""
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            raise self.archive.invalid(f"unexpected {type(node).__name__} in the document")
        kind = node.get(TYPE)
        if kind is None:
            return {key: self.decode(value) for key, value in node.items()}
        if kind == "array":
            return self.array(node)
        if kind == "strings":
            return _strings(node, self.archive)
        if kind == "tuple":
            return tuple(self.decode(item) for item in node["items"])
        if kind == "dict":
            return {self.decode(key): self.decode(value) for key, value in node["items"]}
        if kind in self._hooks:
            return self._hooks[kind](self, node)
        raise self.archive.invalid(f"a value of unknown type {kind!r}")


def _strings(node: dict, archive: Archive) -> np.ndarray:
    dtype, values, shape = node["dtype"], node["values"], node["shape"]
    if not (dtype == "object" or (isinstance(dtype, str) and _STRING_DTYPE.fullmatch(dtype))):
        raise archive.invalid(f"a string array of dtype {dtype!r}; expected 'object' or a unicode dtype")
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise archive.invalid("a string array holding something other than strings")
    result = np.empty(len(values), dtype=object if dtype == "object" else np.dtype(dtype))
    result[:] = values
    return result.reshape([int(size) for size in shape])


# -- folders --------------------------------------------------------------------------------------------------------


def file_inside(folder: str | Path, name: Any, *, what: str) -> Path:
    """The path of the file ``name`` that a model folder's JSON names, refused unless it stays inside ``folder``.

    Args:
        folder: the model folder.
        name: a relative file name from its JSON.
        what: what names it, for the message (``"sentiment_model.json's classifier"``).

    Raises:
        DataError: ``name`` is not a string, is absolute, climbs out with ``..``, or leads out through a link.

    Examples:
        >>> file_inside("model", "classifier.npz", what="the classifier").as_posix()
        'model/classifier.npz'
        >>> file_inside("model", "../secret", what="the classifier")
        Traceback (most recent call last):
        ...
        socialfusion.exceptions.DataError: the classifier names '../secret', which is not a file inside model: ...
    """
    folder = Path(folder)
    parts = Path(name).parts if isinstance(name, str) and name else ()
    if (not parts or Path(name).is_absolute() or PureWindowsPath(name).drive or PureWindowsPath(name).root
            or ".." in parts or ".." in PureWindowsPath(name).parts):
        raise DataError(f"{what} names {name!r}, which is not a file inside {folder}: a model folder's files must "
                        "stay in it (a relative name, no absolute path, no '..')")
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DataError(f"{what} names {name!r}, which leads out of {folder} through a link: a model folder's "
                        "files must stay in it")
    return path
