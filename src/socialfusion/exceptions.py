"""The one exception tree of socialfusion.

::

    SocialFusionError
    ├── ConfigurationError        bad argument or option (unknown format, bad key, ...)
    │   └── MissingDependencyError  an optional extra is not installed (message names the pip install)
    ├── DataError                 input data is wrong
    │   ├── SchemaValidationError   a record breaks the schema (names the field and the record)
    │   ├── DatasetNotFoundError    a dataset folder or file is absent (names what is expected)
    │   ├── IntegrityError          a file does not match its MANIFEST.sha256
    │   └── NotFoundError           an id the caller named (a post, a user, a job) is not in the store
    ├── MediaError                a media file cannot be used (missing, too large, outside the input folder)
    └── StoreError                the store cannot do what was asked (unknown table, bad query)
"""

from __future__ import annotations


class SocialFusionError(Exception):
    """Base class of every error raised on purpose by socialfusion."""


class ConfigurationError(SocialFusionError, ValueError):
    """An argument or option is invalid."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra that brings it."""


class DataError(SocialFusionError, ValueError):
    """Input data is invalid."""


class SchemaValidationError(DataError):
    """A record does not match the schema.

    Attributes:
        table: the table the record was meant for.
        record_id: the record's id when it has one, else None.
        field: the offending field, dotted for nested fields (``media.0.kind``); None for a rule over the whole
            record (an empty post).
    """

    def __init__(self, message: str, *, table: str, record_id: str | None = None, field: str | None = None):
        super().__init__(message)
        self.table = table
        self.record_id = record_id
        self.field = field


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset folder or one of its files is absent."""


class IntegrityError(DataError):
    """A dataset file does not match its recorded checksum."""


class NotFoundError(DataError, LookupError):
    """An id the caller named (a post, a user, a job, a token) is not in the store.

    Attributes:
        field: the parameter that held the id (``post_id``, ``user_id``), or None.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class MediaError(SocialFusionError):
    """A media file cannot be used."""


class StoreError(SocialFusionError):
    """A store operation failed (unknown table, invalid query, ...)."""


def attempt_import(module: str, extra: str):
    """Import an optional dependency or raise an error that says how to install it.

    Args:
        module: the module to import, e.g. ``"av"``.
        extra: the socialfusion extra that brings it, e.g. ``"media"``.

    Raises:
        MissingDependencyError: the module is not installed.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_dependency(module, extra) from exc


def missing_dependency(module: str, extra: str) -> MissingDependencyError:
    """The error that says ``module`` is missing and which socialfusion extra brings it (``attempt_import``'s)."""
    return MissingDependencyError(
        f"{module!r} is required for this feature; install it with: pip install 'socialfusion[{extra}]'"
    )
