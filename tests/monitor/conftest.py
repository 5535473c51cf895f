"""Fixtures of the monitor tests (see ``_fixtures``)."""

from ._fixtures import receiver, secret

__all__ = ["receiver", "secret"]
