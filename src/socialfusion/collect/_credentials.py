"""Platform credentials from environment variables or a TOML file the user names; never stored or shown."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from socialfusion.exceptions import ConfigurationError

__all__ = ["CREDENTIAL_VARIABLES", "Credentials", "load_credentials"]

CREDENTIAL_VARIABLES: dict[str, dict[str, str]] = {
    "mastodon": {"token": "SOCIALFUSION_MASTODON_TOKEN"},
    "bluesky": {"handle": "SOCIALFUSION_BLUESKY_HANDLE", "app_password": "SOCIALFUSION_BLUESKY_APP_PASSWORD"},
    "reddit": {
        "client_id": "SOCIALFUSION_REDDIT_CLIENT_ID",
        "client_secret": "SOCIALFUSION_REDDIT_CLIENT_SECRET",
        "user_agent": "SOCIALFUSION_REDDIT_USER_AGENT",
    },
    "x": {"bearer_token": "SOCIALFUSION_X_BEARER_TOKEN"},
}
"""Per platform: credential name -> the environment variable that holds it (the TOML file uses the names)."""


class Credentials(Mapping[str, str]):
    """A platform's credentials (name -> value); ``repr`` and ``str`` never show a value.

    Examples:
        >>> Credentials("x", {"bearer_token": "s3cret"})
        Credentials('x', bearer_token=***)
    """

    def __init__(self, platform: str, values: Mapping[str, str]):
        self.platform = platform
        self._values = {name: str(value) for name, value in values.items() if value not in (None, "")}

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}=***" for name in self._values)
        return f"Credentials({self.platform!r}{', ' if shown else ''}{shown})"

    __str__ = __repr__

    def hint(self) -> str:
        """Where this platform's credentials come from, in words, for error messages."""
        variables = " and ".join(CREDENTIAL_VARIABLES.get(self.platform, {}).values())
        return (
            f"check the credentials in {variables or 'the environment'} or in the [{self.platform}] table of "
            "the file given with --credentials"
        )


def load_credentials(
    platform: str, file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Credentials:
    """The credentials of ``platform``: the ``[platform]`` table of a TOML file, else environment variables.

    Args:
        platform: ``mastodon``, ``bluesky``, ``reddit`` or ``x``.
        file: a TOML file such as ``[x]\\nbearer_token = "..."``; its values win over the environment's.
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigurationError: the file cannot be read or is not TOML, or names an unknown credential.
    """
    names = CREDENTIAL_VARIABLES.get(platform, {})
    environ = os.environ if environ is None else environ
    values = {name: environ.get(variable) for name, variable in names.items()}
    if file is not None:
        try:
            table = tomllib.loads(Path(file).read_text(encoding="utf-8")).get(platform, {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            # The message names the file and the problem, never its content.
            raise ConfigurationError(f"cannot read the credentials file {file}: {type(error).__name__}") from None
        if not isinstance(table, dict):
            raise ConfigurationError(f'[{platform}] in {file} must be a table of name = "value" lines')
        unknown = sorted(set(table) - set(names))
        if unknown:
            raise ConfigurationError(
                f"unknown {platform} credential(s) in {file}: {', '.join(unknown)}; known: {', '.join(names)}"
            )
        values.update({name: value for name, value in table.items() if value not in (None, "")})
    return Credentials(platform, values)
