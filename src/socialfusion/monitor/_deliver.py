"""Alert deliveries: a webhook (JSON POST signed with HMAC-SHA256, retried with backoff), a JSONL file, e-mail
over SMTP. Each ``deliver`` raises ``DeliveryError`` when every attempt failed; the loop records that and tries
again in later cycles."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson

from socialfusion.exceptions import ConfigurationError, SocialFusionError
from socialfusion.monitor._config import DeliveryConfig, EmailDelivery, JsonlDelivery, WebhookDelivery
from socialfusion.monitor._state import Alert

__all__ = ["SIGNATURE_HEADER", "DeliveryError", "deliver", "sign", "verify_signature"]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Socialfusion-Signature"
"""The webhook header carrying ``sha256=<hex HMAC-SHA256 of the raw body with the shared secret>``."""

_MAX_BACKOFF_SECONDS = 60.0
_PERMANENT_STATUSES = range(400, 500)
_RETRIED_STATUSES = (408, 425, 429)


class DeliveryError(SocialFusionError):
    """Every attempt of a delivery failed (the message says why, last attempt first)."""


def sign(body: bytes, secret: str | bytes) -> str:
    """The signature header's value of ``body``: ``sha256=`` and the hex HMAC-SHA256 with ``secret``.

    Examples:
        >>> sign(b'{"a":1}', "s3cret")
        'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d'
    """
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str | bytes) -> bool:
    """Whether a webhook's signature header matches its raw body (constant-time comparison): what a receiver runs.

    Examples:
        >>> verify_signature(b"{}", sign(b"{}", "k"), "k"), verify_signature(b"{ }", sign(b"{}", "k"), "k")
        (True, False)
    """
    return header is not None and hmac.compare_digest(header, sign(body, secret))


def _secret(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{what}: the environment variable {name} is not set (it holds the secret)")
    return value


def _retrying(
    attempt: Callable[[], None],
    config: WebhookDelivery | EmailDelivery,
    permanent: Callable[[Exception], bool],
    sleep: Callable[[float], None],
) -> int:
    """Run ``attempt`` until it succeeds, at most ``1 + config.retries`` times, waiting ``backoff_seconds``,
    then twice as long each time; returns the attempts made. Raises DeliveryError with the last error."""
    errors = []
    for number in range(config.retries + 1):
        try:
            attempt()
            return number + 1
        except Exception as error:  # a delivery failure of any kind: retried, then recorded
            errors.append(f"{type(error).__name__}: {error}")
            if permanent(error) or number == config.retries:
                break
            wait = min(config.backoff_seconds * 2**number, _MAX_BACKOFF_SECONDS)
            logger.info("delivery %s failed (%s); retrying in %.1f s", config.name, errors[-1], wait)
            sleep(wait)
    raise DeliveryError(f"{config.kind} {config.name!r} failed after {len(errors)} attempt(s): {errors[-1]}")


class _Status(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}: {text[:200]}")
        self.status = status


def _webhook(alert: Alert, config: WebhookDelivery, sleep: Callable[[float], None]) -> int:
    import httpx

    secret = _secret(config.secret_env, f"webhook {config.name!r}")
    body = orjson.dumps(alert.payload(), option=orjson.OPT_SORT_KEYS)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        "X-Socialfusion-Alert-Id": alert.alert_id,
        "User-Agent": "socialfusion-monitor",
    }

    def post() -> None:
        with httpx.Client(timeout=config.timeout_seconds, follow_redirects=False, trust_env=False) as client:
            response = client.post(config.url, content=body, headers=headers)
        if response.status_code >= 300:
            raise _Status(response.status_code, response.text)

    def permanent(error: Exception) -> bool:  # a refusal that another try will not change
        return (
            isinstance(error, _Status) and error.status in _PERMANENT_STATUSES and error.status not in _RETRIED_STATUSES
        )

    return _retrying(post, config, permanent, sleep)


def _jsonl_path(config: JsonlDelivery, folder: Path) -> Path:
    path = Path(config.path).expanduser()
    return path if path.is_absolute() else folder / path


def _jsonl(alert: Alert, config: JsonlDelivery, folder: Path) -> int:
    """Append the alert as one line, unless a line of it is already there (an append whose record was lost to a
    kill): the file holds each alert once."""
    path = _jsonl_path(config, folder)
    marker = orjson.dumps({"alert_id": alert.alert_id})[1:-1]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            with path.open("rb") as existing:
                if any(marker in line for line in existing):
                    return 1
        line = orjson.dumps({"alert_id": alert.alert_id, **alert.payload()}) + b"\n"
        with path.open("ab") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
    except OSError as error:
        raise DeliveryError(f"jsonl {config.name!r}: cannot append to {path}: {error}") from error
    return 1


def _email_text(alert: Alert) -> str:
    lines = [
        alert.title,
        "",
        f"rule: {alert.rule} ({alert.kind})",
        f"subject: {alert.name or alert.subject}",
        f"fired at: {alert.fired_at.isoformat()}",
        f"alert id: {alert.alert_id}",
        "",
        "numbers:",
    ]
    lines += [f"  {name}: {value}" for name, value in alert.numbers.items()]
    if alert.posts:
        lines += ["", "posts:"] + [f"  {post.post_id}: {post.text or ''}" for post in alert.posts]
    return "\n".join(lines) + "\n"


def _email(alert: Alert, config: EmailDelivery, sleep: Callable[[float], None]) -> int:
    password = _secret(config.password_env, f"email {config.name!r}") if config.password_env else None
    message = EmailMessage()
    message["Subject"] = f"[socialfusion] {alert.title}"[:250]
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message["Message-ID"] = f"<{alert.alert_id}@socialfusion.monitor>"
    message.set_content(_email_text(alert))
    message.add_attachment(
        orjson.dumps(alert.payload(), option=orjson.OPT_INDENT_2),
        maintype="application",
        subtype="json",
        filename=f"alert-{alert.alert_id}.json",
    )

    def send() -> None:
        if config.security == "ssl":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_seconds, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with contextlib.closing(client):
            if config.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.username:
                client.login(config.username, password or "")
            client.send_message(message)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()

    def permanent(error: Exception) -> bool:  # refused recipients or credentials: not a passing fault
        return isinstance(
            error, smtplib.SMTPRecipientsRefused | smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused
        )

    return _retrying(send, config, permanent, sleep)


def deliver(
    alert: Alert, config: DeliveryConfig, *, folder: Path = Path("."), sleep: Callable[[float], None] = time.sleep
) -> int:
    """Deliver one alert; returns the attempts it took.

    Args:
        alert: the alert.
        config: the delivery.
        folder: where a relative JSONL path starts (the configuration file's folder).
        sleep: waits between attempts (tests pass a fake).

    Raises:
        DeliveryError: every attempt failed.
        ConfigurationError: the secret's environment variable is not set.
    """
    kinds: dict[str, Callable[[], int]] = {
        "webhook": lambda: _webhook(alert, config, sleep),
        "jsonl": lambda: _jsonl(alert, config, folder),
        "email": lambda: _email(alert, config, sleep),
    }
    return kinds[config.kind]()


def describe(config: DeliveryConfig, folder: Path = Path(".")) -> dict[str, Any]:
    """Where a delivery goes, for reports (no secret)."""
    target = {
        "webhook": lambda: config.url,
        "jsonl": lambda: str(_jsonl_path(config, folder)),
        "email": lambda: f"{', '.join(config.to)} via {config.host}:{config.port}",
    }[config.kind]()
    return {"name": config.name, "kind": config.kind, "target": target}
