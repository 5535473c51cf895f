"""The monitor's configuration: a TOML file read with tomllib and checked by closed pydantic models, so an unknown
key or a bad value is an error that names the file, the line and the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from socialfusion.exceptions import ConfigurationError

__all__ = [
    "BurstRule",
    "DeliveryConfig",
    "EmailDelivery",
    "EntityRule",
    "JsonlDelivery",
    "KeywordRule",
    "MonitorConfig",
    "OpinionRule",
    "ResharesRule",
    "RuleConfig",
    "SourceConfig",
    "VolumeRule",
    "WebhookDelivery",
    "load_config",
    "parse_config",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:#@/+-]{0,99}$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
Name = Annotated[str, Field(pattern=_NAME, description="A short name: letters, digits and _.:#@/+- (100 at most).")]
EnvName = Annotated[str, Field(pattern=_ENV, description="The name of an environment variable holding a secret.")]
Examples = Annotated[int, Field(ge=0, le=100, description="Posts quoted as the alert's evidence.")]


class _Closed(BaseModel):
    """A table of the file: every key known, every value checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Closed):
    """A platform search to collect each cycle (``socialfusion.collect``); credentials come from the environment."""

    name: Name | None = Field(None, description="Default: 'PLATFORM:QUERY'.")
    platform: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
    query: str = Field(min_length=1, max_length=1000)
    base_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2000)
    limit: int | None = Field(None, ge=1, le=1_000_000, description="Most items per cycle.")
    media: bool = Field(False, description="Download the posts' media too.")
    credentials_file: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="A TOML file of credentials (relative to this file); default: the SOCIALFUSION_* variables.",
    )

    @property
    def label(self) -> str:
        """The source's name in reports, state and errors."""
        return self.name or f"{self.platform}:{self.query}"


class _Rule(_Closed):
    name: Name
    examples: Examples = 10


class OpinionRule(_Rule):
    """A key's negative share rising: the two-proportion test of ``socialfusion.tasks.opinion.opinion_alerts``
    on the last observed period."""

    kind: Literal["opinion"]
    by: Literal["hashtag", "topic"] = "hashtag"
    freq: Literal["D", "h"] = "h"
    window: int = Field(3, ge=1, le=1000)
    baseline: int = Field(24, ge=1, le=10_000)
    alpha: float = Field(0.01, gt=0, lt=1)
    min_posts: int = Field(10, ge=1, le=1_000_000)


class BurstRule(_Rule):
    """A key's volume bursting now: ``socialfusion.tasks.trends.emerging_topics`` (a burst that runs at the last
    observed period and began within ``within`` periods)."""

    kind: Literal["burst"]
    by: Literal["hashtag", "topic"] = "hashtag"
    freq: Literal["D", "h"] = "h"
    method: Literal["negative_binomial", "poisson", "kleinberg"] = "negative_binomial"
    within: int = Field(3, ge=1, le=1000)
    alpha: float = Field(0.001, gt=0, lt=1)
    window: int = Field(14, ge=1, le=10_000)
    min_count: int = Field(3, ge=0, le=1_000_000)


class KeywordRule(_Rule):
    """A word or phrase appearing in new posts: in the text (whole words, any case), as a hashtag or a mention."""

    kind: Literal["keyword"]
    terms: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000)


class EntityRule(_Rule):
    """A named entity appearing in new posts (``socialfusion.tasks.knowledge.extract_entities``: spaCy, LAC)."""

    kind: Literal["entity"]
    entities: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000)


class ResharesRule(_Rule):
    """A post reaching ``threshold`` reshares (its ``share_count``, or the reshares of it in the store)."""

    kind: Literal["reshares"]
    threshold: int = Field(ge=1, le=10**12)
    accounts: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        [], max_length=10_000, description="Author ids or handles to watch; empty: every account."
    )


class VolumeRule(_Rule):
    """Posts in the last observed period (of one key, or all) at or above ``threshold``."""

    kind: Literal["volume"]
    threshold: int = Field(ge=1, le=10**12)
    by: Literal["all", "hashtag", "topic"] = "all"
    key: str | None = Field(None, min_length=1, max_length=200, description="Only this key; default: every key.")
    freq: Literal["D", "h"] = "h"


RuleConfig = Annotated[
    OpinionRule | BurstRule | KeywordRule | EntityRule | ResharesRule | VolumeRule, Field(discriminator="kind")
]


class _Delivery(_Closed):
    name: Name
    retries: int = Field(3, ge=0, le=20, description="Retries after a failed attempt, within a cycle.")
    backoff_seconds: float = Field(1.0, ge=0, le=600, description="Wait before the first retry; doubled each time.")
    timeout_seconds: float = Field(10.0, gt=0, le=600)
    retry_cycles: int = Field(3, ge=0, le=1000, description="Later cycles that try a failed delivery again.")


class WebhookDelivery(_Delivery):
    """A JSON POST signed with HMAC-SHA256 over the body (``X-Socialfusion-Signature: sha256=<hex>``)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    secret_env: EnvName = Field(description="The variable holding the signing secret (never the file).")


class JsonlDelivery(_Delivery):
    """One JSON line per alert appended to a file (a path relative to the configuration file's folder)."""

    kind: Literal["jsonl"]
    path: str = Field(min_length=1, max_length=4096)


class EmailDelivery(_Delivery):
    """An e-mail over SMTP (the standard library's smtplib)."""

    kind: Literal["email"]
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]] = Field(min_length=1, max_length=100)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = Field(None, min_length=1, max_length=320)
    password_env: EnvName | None = None


DeliveryConfig = Annotated[WebhookDelivery | JsonlDelivery | EmailDelivery, Field(discriminator="kind")]


class MonitorConfig(_Closed):
    """The whole file: cycle interval, sources, what to predict, alert rules and deliveries."""

    interval_seconds: float = Field(300.0, gt=0, le=7 * 86_400, description="Pause between two cycles.")
    sentiment: Literal["auto", "lexicon", "off"] = Field(
        "auto", description="auto: the store's trained model, else the lexicons; off: no prediction."
    )
    topics: Literal["auto", "off"] = Field("auto", description="auto: assign new posts to the store's topics.")
    encoders: list[str] = Field([], max_length=32, description="More encoders to keep up to date each cycle.")
    sources: list[SourceConfig] = Field([], max_length=1000)
    rules: list[RuleConfig] = Field([], max_length=1000)
    deliveries: list[DeliveryConfig] = Field([], max_length=100)
    folder: Path = Field(Path("."), exclude=True, description="The configuration file's folder (relative paths).")

    @field_validator("encoders")
    @classmethod
    def _known_encoders(cls, names: list[str]) -> list[str]:
        from socialfusion.encoders import encoder_info

        for name in names:
            encoder_info(name)
        return names

    @model_validator(mode="after")
    def _unique_names(self) -> MonitorConfig:
        for what, names in (
            ("source", [source.label for source in self.sources]),
            ("rule", [rule.name for rule in self.rules]),
            ("delivery", [delivery.name for delivery in self.deliveries]),
        ):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"two {what}s are named {repeated[0]!r}; give each its own name")
        return self


# -- reading the file, with the line of each key -------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*)*=""")


def _dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"""\s*("[^"]*"|'[^']*'|[^.]+)\s*\.?""", text)]


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """The line (1-based) of every table header and key of a TOML text, by its path: ``("rules", 1, "window")``
    for the key ``window`` of the second ``[[rules]]`` table."""
    lines: dict[tuple[Any, ...], int] = {}
    counts: dict[tuple[Any, ...], int] = {}
    current: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts = _dotted(header.group(2))
            resolved: list[Any] = []
            for end, part in enumerate(parts, start=1):
                raw = tuple(parts[:end])
                resolved.append(part)
                if end == len(parts) and header.group(1) == "[[":
                    counts[raw] = counts.get(raw, 0) + 1
                if raw in counts:  # a table inside an array of tables belongs to its last element
                    resolved.append(counts[raw] - 1)
            current = tuple(resolved)
            lines.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*current, *_dotted(line.split("=", 1)[0]))
            lines.setdefault(path, number)
    return lines


def _locate(loc: tuple[Any, ...], data: Any, lines: dict[tuple[Any, ...], int]) -> tuple[str, int | None]:
    """The key path as the user wrote it (``rules[1].window``) and its line, from a pydantic error location
    (which also holds the tag of a union: skipped where the data has no such key)."""
    path: list[Any] = []
    for part in loc:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            path.append(part)
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict) and part in data:
            path.append(part)
            data = data[part]
        elif isinstance(part, str) and not (isinstance(data, dict) and data.get("kind") == part):
            path.append(part)  # a missing key: named, located at its table
            data = None
    spelled = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
    for end in range(len(path), -1, -1):
        if tuple(path[:end]) in lines:
            return spelled, lines[tuple(path[:end])]
    return spelled, None


def parse_config(text: str, *, source: str = "<config>", folder: Path | None = None) -> MonitorConfig:
    """A ``MonitorConfig`` from TOML text.

    Args:
        text: the TOML.
        source: the file name that errors name.
        folder: where relative paths (a JSONL delivery's file) start; default: the current folder.

    Raises:
        ConfigurationError: bad TOML, an unknown key or a bad value: ``FILE line N: key 'K': what is wrong``.

    Examples:
        >>> parse_config('interval_seconds = 60').interval_seconds
        60.0
        >>> parse_config('[[rules]]\\nkind = "volume"\\nname = "busy"\\nthreshold = 5\\nfreq = "m"',
        ...              source="monitor.toml")
        Traceback (most recent call last):
        ...
        socialfusion.exceptions.ConfigurationError: monitor.toml line 5: key 'rules[0].freq': Input should be 'D' or 'h'
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{source}: not valid TOML: {error}") from None
    try:
        config = MonitorConfig.model_validate({**data, "folder": folder or Path(".")})
    except ValidationError as error:
        lines = key_lines(text)
        problems = []
        for item in error.errors(include_url=False):
            key, line = _locate(tuple(item["loc"]), data, lines)
            where = f"{source} line {line}" if line is not None else source
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: key {key!r}: {message}" if key else f"{where}: {message}")
        raise ConfigurationError("; ".join(problems)) from None
    return config


def load_config(path: str | Path) -> MonitorConfig:
    """Read and check a monitor configuration file (see ``parse_config``).

    Raises:
        ConfigurationError: the file cannot be read, or it is not a valid configuration (file, line and key named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read the monitor configuration {path}: {error}") from None
    return parse_config(text, source=str(path), folder=path.resolve().parent)
