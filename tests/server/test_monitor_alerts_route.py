"""GET /api/v1/monitor/alerts: the monitor's alerts through the API, filtered, with their evidence."""

from __future__ import annotations

import datetime as dt

import socialfusion as sf
from socialfusion.monitor._state import Alert, EvidencePost, write_alerts


def test_alerts_fired_by_the_monitor_are_served_newest_first(client, store_path, tokens):
    assert client.get("/api/v1/monitor/alerts", headers=tokens.read).json() == {"alerts": []}  # none fired yet
    fired = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    write_alerts(sf.connect(store_path), [
        Alert(alert_id="a1", rule="anger-rising", kind="opinion", subject="transit", title="negative share rose",
              fired_at=fired, closed_at=fired + dt.timedelta(hours=2), numbers={"z": 4.2},
              posts=[EvidencePost(post_id="p1", text="<script>alert(1)</script> late again")]),
        Alert(alert_id="a2", rule="incidents", kind="keyword", subject="outage", title="'outage' appeared",
              fired_at=fired + dt.timedelta(hours=3)),
    ])

    everything = client.get("/api/v1/monitor/alerts", headers=tokens.read).json()["alerts"]
    still_open = client.get("/api/v1/monitor/alerts?open=true", headers=tokens.read).json()["alerts"]
    one_rule = client.get("/api/v1/monitor/alerts?rule=anger-rising", headers=tokens.read).json()["alerts"]

    assert [alert["alert_id"] for alert in everything] == ["a2", "a1"]
    assert [alert["alert_id"] for alert in still_open] == ["a2"]
    assert one_rule[0]["numbers"] == {"z": 4.2}
    assert one_rule[0]["posts"][0]["text"] == "<script>alert(1)</script> late again"
    assert client.get("/api/v1/monitor/alerts").status_code == 401
    assert client.get("/api/v1/monitor/alerts?limit=0", headers=tokens.read).status_code == 422
