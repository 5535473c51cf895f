"""The monitor as a background job of the service: ``serve --monitor-config`` names the configuration (a request never
does), ``POST /api/v1/jobs {"kind": "monitor"}`` runs its cycles, and the alerts are served by the API."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

import socialfusion as sf
from socialfusion import app
from socialfusion.exceptions import ConfigurationError
from socialfusion.server import Settings, create_app

from .test_end_to_end import CALM_ITEMS, PLANTED, TransitMastodon, _config, _planted

API = "/api/v1"


def _final(client: TestClient, job_id: str, headers: dict, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"{API}/jobs/{job_id}", headers=headers).json()
        if job["state"] in app.FINAL_STATES:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_monitor_cycles_run_as_a_job_and_their_alerts_are_served(tmp_path, receiver, secret):
    store = sf.connect(tmp_path / "store")
    sf.ingest_corpus(sf.Corpus.from_records(posts=[{"post_id": "seed", "text": "hello"}]), store)
    token = {"Authorization": f"Bearer {app.create_token(store, app.TokenParams(name='ops', scopes=['write'])).token}"}
    server = TransitMastodon(n_items=CALM_ITEMS)
    with server as base_url:
        config = _config(tmp_path, base_url, receiver.url, secret)
        settings = Settings(store=tmp_path / "store", monitor_config=config, event_poll_seconds=0.1)
        with TestClient(create_app(settings)) as client:
            first = client.post(f"{API}/jobs", json={"kind": "monitor"}, headers=token).json()
            assert _final(client, first["job_id"], token)["result"]["fired"] == []  # the calm day: no alert
            planted = _planted(server)
            second = client.post(f"{API}/jobs", json={"kind": "monitor", "params": {"cycles": 1}}, headers=token)
            result = _final(client, second.json()["job_id"], token)
            assert result["state"] == "done", result
            assert result["result"]["new_posts"] == PLANTED and len(result["result"]["fired"]) == 1
            alerts = client.get(f"{API}/monitor/alerts", headers=token).json()["alerts"]
    assert [alert["alert_id"] for alert in alerts] == result["result"]["fired"]
    assert {post["post_id"] for post in alerts[0]["posts"]} == planted
    assert len(receiver.verified) == 1  # the operator's webhook, signed


def test_a_server_without_a_monitor_configuration_refuses_monitor_jobs(tmp_path):
    store = sf.connect(tmp_path / "store")
    sf.ingest_corpus(sf.Corpus.from_records(posts=[{"post_id": "seed", "text": "hello"}]), store)
    token = {"Authorization": f"Bearer {app.create_token(store, app.TokenParams(name='ops', scopes=['write'])).token}"}
    with TestClient(create_app(Settings(store=tmp_path / "store", event_poll_seconds=0.1))) as client:
        job = client.post(f"{API}/jobs", json={"kind": "monitor"}, headers=token).json()
        final = _final(client, job["job_id"], token)
        assert final["state"] == "failed" and "--monitor-config" in final["error"]
        extra = client.post(f"{API}/jobs", json={"kind": "monitor", "params": {"config": "/etc/evil.toml"}},
                            headers=token)
        assert extra.status_code == 422  # a request cannot name a configuration
    bad = tmp_path / "bad.toml"
    bad.write_text("interval_seconds = 'soon'\n")
    with pytest.raises(ConfigurationError, match="interval_seconds"), \
            TestClient(create_app(Settings(store=tmp_path / "store", monitor_config=bad))):
        pass
