"""Fixtures of the monitor tests: a store with hourly posts about #transit, a collector that ingests planted
batches cycle by cycle, and a webhook receiver on 127.0.0.1 that checks signatures."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from types import SimpleNamespace

import pytest

import socialfusion as sf
from socialfusion.monitor import SIGNATURE_HEADER, verify_signature

START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
SECRET = "test-webhook-secret"
CALM = [
    "Lovely ride on the #transit today, great service",
    "The #transit line was on time, happy commute",
    "Bus came, took the #transit to work",
    "Nice and clean #transit carriage, thanks",
]
ANGRY = "Terrible #transit again, broken trains and awful delays, I hate this mess ({})"


def calm_posts(hours: int = 24, per_hour: int = 3, prefix: str = "calm") -> list[dict]:
    """Mostly positive or neutral #transit posts, ``per_hour`` in each of ``hours`` hours from ``START``."""
    return [
        {
            "post_id": f"{prefix}{hour:03d}-{k}",
            "author_id": f"u{k}",
            "text": CALM[(hour + k) % len(CALM)],
            "created_at": START + dt.timedelta(hours=hour, minutes=k),
            "hashtags": ["transit"],
            "lang": "en",
        }
        for hour in range(hours)
        for k in range(per_hour)
    ]


def angry_posts(n: int, hour: int, prefix: str = "angry") -> list[dict]:
    """``n`` negative #transit posts in hour ``hour`` (the planted spike)."""
    return [
        {
            "post_id": f"{prefix}{i:03d}",
            "author_id": f"v{i}",
            "text": ANGRY.format(i),
            "created_at": START + dt.timedelta(hours=hour, minutes=i),
            "hashtags": ["transit"],
            "lang": "en",
        }
        for i in range(n)
    ]


def ingest_posts(store, posts: list[dict]) -> list[str]:
    sf.ingest_corpus(sf.Corpus.from_records(posts=posts), store)
    return [post["post_id"] for post in posts]


class BatchCollector:
    """Collects by ingesting the next planted batch of each source (empty once a source's batches run out)."""

    def __init__(self, batches: dict[str, list[list[dict]]]):
        self.batches = {name: list(items) for name, items in batches.items()}
        self.calls: list[str] = []

    def __call__(self, store, source):
        self.calls.append(source.label)
        queue = self.batches.get(source.label, [])
        batch = queue.pop(0) if queue else []
        ids = ingest_posts(store, batch) if batch else []
        return SimpleNamespace(
            new_post_ids=ids,
            received=len(batch),
            ingested=len(ids),
            duplicates=0,
            rejects=0,
            cursor=f"after-{len(ids)}",
            stopped_reason="end",
        )


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1: keeps each request's body and whether its signature verified; answers
    the queued statuses first, then 204."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict] = []
        self.statuses: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    @property
    def verified(self) -> list[dict]:
        return [item["body"] for item in self.received if item["verified"]]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.server.received.append(
            {
                "body": json.loads(body),
                "status": status,
                "verified": verify_signature(body, self.headers[SIGNATURE_HEADER], SECRET),
            }
        )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("MONITOR_TEST_SECRET", SECRET)
    return "MONITOR_TEST_SECRET"
