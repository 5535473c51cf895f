"""Deliveries: a signed webhook on 127.0.0.1 (retried with backoff; a refusal is not retried), a JSONL file that
holds each alert once, e-mail to a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from socialfusion.exceptions import ConfigurationError
from socialfusion.monitor import Alert, DeliveryError, EvidencePost, deliver, parse_config, sign, verify_signature

from ._fixtures import SECRET


def _alert(alert_id: str = "a1") -> Alert:
    return Alert(
        alert_id=alert_id,
        rule="anger",
        kind="opinion",
        subject="transit",
        title="negative share rose",
        fired_at=dt.datetime(2024, 5, 2, 1, tzinfo=dt.UTC),
        numbers={"z": 4.2, "window_posts": 12},
        posts=[EvidencePost(post_id="p1", text="awful delays")],
    )


def _delivery(text: str):
    return parse_config(text).deliveries[0]


def test_webhook_posts_a_signed_body_the_receiver_verifies(receiver, secret):
    config = _delivery(f'[[deliveries]]\nkind="webhook"\nname="hook"\nurl="{receiver.url}"\nsecret_env="{secret}"')
    assert deliver(_alert(), config) == 1
    assert len(receiver.received) == 1 and receiver.received[0]["verified"]
    body = receiver.verified[0]
    assert body["alert_id"] == "a1" and body["posts"] == [{"post_id": "p1", "text": "awful delays"}]
    assert "deliveries" not in body
    assert not verify_signature(b'{"alert_id":"a2"}', sign(b'{"alert_id":"a1"}', SECRET), SECRET)
    assert not verify_signature(b"{}", sign(b"{}", "another secret"), SECRET)


def test_webhook_retries_with_backoff_and_gives_up_on_a_refusal(receiver, secret):
    text = (
        f'[[deliveries]]\nkind="webhook"\nname="hook"\nurl="{receiver.url}"\nsecret_env="{secret}"\n'
        "retries=3\nbackoff_seconds=0.5"
    )
    waits = []
    receiver.statuses = [503, 500]
    assert deliver(_alert(), _delivery(text), sleep=waits.append) == 3
    assert waits == [0.5, 1.0] and len(receiver.verified) == 3
    receiver.statuses = [400]
    with pytest.raises(DeliveryError, match="1 attempt.*HTTP 400"):
        deliver(_alert(), _delivery(text), sleep=waits.append)
    receiver.statuses = [503] * 4
    with pytest.raises(DeliveryError, match="4 attempt.*HTTP 503"):
        deliver(_alert(), _delivery(text), sleep=waits.append)
    assert waits[2:] == [0.5, 1.0, 2.0]


def test_webhook_unreachable_and_secret_missing(monkeypatch):
    config = _delivery(
        '[[deliveries]]\nkind="webhook"\nname="hook"\nurl="http://127.0.0.1:9/x"\n'
        'secret_env="MONITOR_ABSENT_SECRET"\nretries=1\nbackoff_seconds=0'
    )
    monkeypatch.delenv("MONITOR_ABSENT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="MONITOR_ABSENT_SECRET is not set"):
        deliver(_alert(), config)
    monkeypatch.setenv("MONITOR_ABSENT_SECRET", "x")
    with pytest.raises(DeliveryError, match="2 attempt.*ConnectError"):
        deliver(_alert(), config, sleep=lambda seconds: None)


def test_jsonl_holds_each_alert_once(tmp_path):
    config = parse_config(
        '[[deliveries]]\nkind="jsonl"\nname="log"\npath="out/alerts.jsonl"', folder=tmp_path
    ).deliveries[0]
    deliver(_alert("a1"), config, folder=tmp_path)
    deliver(_alert("a1"), config, folder=tmp_path)  # a delivery whose record a kill lost
    deliver(_alert("a2"), config, folder=tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == ["a1", "a2"]
    assert lines[0]["numbers"] == {"z": 4.2, "window_posts": 12}
    blocked = parse_config(
        f'[[deliveries]]\nkind="jsonl"\nname="log"\npath="{tmp_path}/out/alerts.jsonl/x"'
    ).deliveries[0]
    with pytest.raises(DeliveryError, match="cannot append"):
        deliver(_alert(), blocked)


def test_email_reaches_a_local_smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to the given port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = _delivery(
            f'[[deliveries]]\nkind="email"\nname="mail"\nhost="127.0.0.1"\nport={port}\n'
            'sender="monitor@example.org"\nto=["oncall@example.org", "lead@example.org"]'
        )
        assert deliver(_alert(), config) == 1
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Subject"] == "[socialfusion] negative share rose"
    assert message["To"] == "oncall@example.org, lead@example.org"
    parts = list(message.walk())
    text = next(part for part in parts if part.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "p1: awful delays" in text and "window_posts: 12" in text
    attached = next(part for part in parts if part.get_content_type() == "application/json")
    assert json.loads(attached.get_payload(decode=True))["alert_id"] == "a1"
