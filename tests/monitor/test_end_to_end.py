"""The monitor end to end against the fake Mastodon server: a planted spike of negative posts about #transit gives
exactly one opinion alert within one cycle, with the planted posts as its evidence; a webhook receiver on
127.0.0.1 verifies its signature; a monitor killed (SIGKILL) and started again sends no alert twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import socialfusion as sf
from socialfusion.collect.testing import FakeMastodon
from socialfusion.monitor import load_config, read_alerts, run_cycle

from ._fixtures import ANGRY, CALM, START

CALM_ITEMS = 72  # three an hour for a day
PLANTED = 12


class TransitMastodon(FakeMastodon):
    """Calm #transit statuses, three an hour; the items added later are the planted angry ones, in the next hour."""

    def text_of(self, key: int) -> str:
        return CALM[key % len(CALM)] if key <= CALM_ITEMS else ANGRY.format(key)

    def created_at(self, key: int) -> dt.datetime:
        if key <= CALM_ITEMS:
            return START + dt.timedelta(minutes=20 * (key - 1))
        return START + dt.timedelta(hours=24, minutes=key - CALM_ITEMS)

    def make_item(self, key: int) -> dict:
        item = super().make_item(key)
        item["tags"] = [{"name": "transit", "url": "https://fake.example/tags/transit"}]
        return item


def _config(tmp_path, base_url: str, hook_url: str, secret: str, interval: float = 0.2):
    path = tmp_path / "monitor.toml"
    path.write_text(f"""
interval_seconds = {interval}
[[sources]]
name = "transit"
platform = "mastodon"
query = "#transit"
base_url = "{base_url}"

[[rules]]
kind = "opinion"
name = "transit-anger"
freq = "h"
window = 1
baseline = 12
min_posts = 10
examples = 20

[[deliveries]]
kind = "webhook"
name = "hook"
url = "{hook_url}"
secret_env = "{secret}"
backoff_seconds = 0.1

[[deliveries]]
kind = "jsonl"
name = "log"
path = "alerts.jsonl"
""")
    return path


def _planted(server: TransitMastodon) -> set[str]:
    return {post_id for item in server.add_items(PLANTED) for post_id in server.post_ids_of(item)}


def test_a_planted_spike_fires_one_signed_alert_with_its_posts(tmp_path, receiver, secret):
    server = TransitMastodon(n_items=CALM_ITEMS)
    with server as base_url:
        config = load_config(_config(tmp_path, base_url, receiver.url, secret))
        store = sf.connect(tmp_path / "store")
        first = run_cycle(store, config, catch_up=True)
        assert first.errors == [] and first.sources[0].new_posts == CALM_ITEMS and first.fired == []
        planted = _planted(server)
        second = run_cycle(store, config)
        third = run_cycle(store, config)
    assert second.errors == [] and second.new_posts == PLANTED
    assert len(second.fired) == 1
    alert = second.fired[0]
    assert (alert.kind, alert.subject) == ("opinion", "transit") and set(alert.post_ids) == planted
    assert alert.numbers["window_negative"] == PLANTED and alert.numbers["baseline_posts"] >= 30
    assert [body["alert_id"] for body in receiver.verified] == [alert.alert_id]
    assert len(receiver.received) == 1
    assert third.fired == [] and third.new_posts == 0
    assert read_alerts(store)[0].deliveries["hook"].state == "sent"


def _delivered(store) -> bool:
    alerts = read_alerts(sf.connect(store)) if store.is_dir() else []
    return bool(alerts) and all(state.state == "sent" for state in alerts[0].deliveries.values())


def _monitor(config, store, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from socialfusion.cli import main; main()",
            "monitor",
            "--config",
            str(config),
            "--store",
            str(store),
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _wait(condition, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the monitor exited with {process.returncode}: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the monitor")
        time.sleep(0.05)


def test_a_killed_monitor_restarts_without_sending_any_alert_twice_and_stops_on_sigterm(tmp_path, receiver, secret):
    server = TransitMastodon(n_items=CALM_ITEMS)
    store = tmp_path / "store"
    with server as base_url:
        config = _config(tmp_path, base_url, receiver.url, secret)
        running = _monitor(config, store)
        try:
            _wait(lambda: sf.connect(store).count("sentiment_predictions") >= CALM_ITEMS, 90, running)
            planted = _planted(server)
            # killed once the alert is delivered and recorded: a kill between a receiver's answer and that record
            # would send the same alert (same id) again, which a receiver ignores by its X-Socialfusion-Alert-Id
            _wait(lambda: _delivered(store), 60, running)
        finally:
            running.send_signal(signal.SIGKILL)
            running.wait(10)
        again = _monitor(config, store)  # runs until SIGTERM, which ends it after its cycle
        lines = [again.stdout.readline(), again.stdout.readline()]
        again.send_signal(signal.SIGTERM)
        output, failure = again.communicate(timeout=60)
    assert again.returncode == 0, failure[-2000:]
    cycles = [json.loads(line) for line in lines + output.splitlines()]
    assert len(cycles) >= 2 and all(cycle["fired"] == [] and cycle["errors"] == [] for cycle in cycles)
    assert len(receiver.received) == 1 and receiver.received[0]["verified"]
    alerts = read_alerts(sf.connect(store))
    assert len(alerts) == 1 and set(alerts[0].post_ids) == planted
    assert {name: state.state for name, state in alerts[0].deliveries.items()} == {"hook": "sent", "log": "sent"}
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1
