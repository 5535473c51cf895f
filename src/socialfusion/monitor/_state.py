"""The monitor's memory in the store: ``monitor_alerts`` (every alert, its episode and its deliveries) and
``monitor_state`` (posts collected but not yet processed, and each source's last collection).

An alert's row is also its episode: an alert stays *open* while its rule's condition holds for its subject, and
no second alert fires for that subject until the episode closes. Both tables are written through ``Store.write``
(upsert by key) under the store's writer lock, read-merge-write where a row changes, so a monitor killed at any
point leaves rows that the next start reads back: no alert is recorded twice and none sent twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from socialfusion.store import Store, sql_string

__all__ = [
    "ALERTS_TABLE",
    "STATE_TABLE",
    "Alert",
    "DeliveryState",
    "EvidencePost",
    "open_alerts",
    "read_alerts",
    "read_state",
    "write_alerts",
    "write_state",
]

ALERTS_TABLE = "monitor_alerts"
STATE_TABLE = "monitor_state"

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_ALERT_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("rule", pa.string()),
        ("kind", pa.string()),
        ("subject", pa.string()),
        ("name", pa.string()),
        ("title", pa.string()),
        ("fired_at", _TIMESTAMP),
        ("closed_at", _TIMESTAMP),
        ("numbers", pa.string()),
        ("posts", pa.string()),
        ("post_ids", pa.list_(pa.string())),
        ("deliveries", pa.string()),
    ]
)
_STATE_SCHEMA = pa.schema([("state_key", pa.string()), ("value", pa.string()), ("updated_at", _TIMESTAMP)])
_JSON_COLUMNS = ("numbers", "posts", "deliveries")


class EvidencePost(BaseModel):
    """A post behind an alert."""

    model_config = ConfigDict(extra="forbid")

    post_id: str
    text: str | None = None


class DeliveryState(BaseModel):
    """Where one delivery of an alert stands."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["pending", "sent", "failed", "abandoned"] = "pending"
    attempts: int = 0
    cycles: int = Field(0, description="Cycles that tried it.")
    error: str | None = None
    at: dt.datetime | None = None


class Alert(BaseModel):
    """An alert: which rule fired about what, the numbers and the posts behind it, its episode and deliveries."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str
    rule: str
    kind: str
    subject: str = Field(description="What the rule fired about: a key, a term, a post id, or '*' for all posts.")
    name: str | None = Field(None, description="The subject's display name (a topic's label).")
    title: str
    fired_at: dt.datetime
    closed_at: dt.datetime | None = Field(None, description="When its condition stopped holding (the episode's end).")
    numbers: dict[str, Any] = Field(default_factory=dict)
    posts: list[EvidencePost] = Field(default_factory=list)
    deliveries: dict[str, DeliveryState] = Field(default_factory=dict)

    @property
    def post_ids(self) -> list[str]:
        """The ids of the evidence posts."""
        return [post.post_id for post in self.posts]

    def payload(self) -> dict[str, Any]:
        """What deliveries send: the alert without its delivery bookkeeping, JSON-ready."""
        return self.model_dump(mode="json", exclude={"deliveries"})


def _alert_row(alert: Alert) -> dict[str, Any]:
    row = alert.model_dump(mode="python")
    for name in _JSON_COLUMNS:
        row[name] = orjson.dumps(row[name], default=str).decode()
    row["post_ids"] = alert.post_ids
    return row


def _alert(row: dict[str, Any]) -> Alert:
    for name in _JSON_COLUMNS:
        row[name] = orjson.loads(row[name]) if row.get(name) else None
    row.pop("post_ids", None)
    return Alert(**{name: value for name, value in row.items() if value is not None or name == "closed_at"})


def _read(store: Store, table: str, **options: Any) -> pa.Table | None:
    """``store.read(table, ...)``, or None while the table does not exist yet (``Store.tables`` leaves out a table
    another process is still creating)."""
    return store.read(table, **options) if table in store.tables() else None


def read_alerts(store: Store, where: str | None = None) -> list[Alert]:
    """Alerts of the store (matching the SQL ``where``), newest first."""
    rows = _read(store, ALERTS_TABLE, where=where)
    alerts = [] if rows is None else [_alert(row) for row in rows.to_pylist()]
    alerts.sort(key=lambda alert: (alert.fired_at, alert.alert_id), reverse=True)
    return alerts


def open_alerts(store: Store, rules: Iterable[str] | None = None) -> list[Alert]:
    """The alerts whose episode is open (of ``rules`` only, when given)."""
    where = "closed_at IS NULL"
    if rules is not None:
        names = list(rules)
        if not names:
            return []
        where += f" AND rule IN ({', '.join(sql_string(name) for name in names)})"
    return read_alerts(store, where)


def write_alerts(store: Store, alerts: Sequence[Alert]) -> int:
    """Upsert alerts by id (one atomic write); returns how many."""
    if not alerts:
        return 0
    rows = pa.Table.from_pylist([_alert_row(alert) for alert in alerts], schema=_ALERT_SCHEMA)
    store.write(ALERTS_TABLE, rows, mode="upsert", key="alert_id")
    return len(alerts)


def read_state(store: Store, key: str, default: Any = None, *, table: str = STATE_TABLE) -> Any:
    """The JSON value stored under ``key`` in ``monitor_state`` (or another key-value ``table``, such as the
    incremental analysis's ``analysis_state``); ``default`` when absent."""
    rows = _read(store, table, where=f"state_key = {sql_string(key)}", columns=["value"])
    return orjson.loads(rows.column("value")[0].as_py()) if rows is not None and rows.num_rows else default


def write_state(store: Store, values: dict[str, Any], *, table: str = STATE_TABLE) -> None:
    """Upsert JSON values by key into ``monitor_state`` (or another key-value ``table``; one atomic write)."""
    if not values:
        return
    now = dt.datetime.now(dt.UTC)
    rows = pa.Table.from_pylist(
        [
            {"state_key": key, "value": orjson.dumps(value, default=str).decode(), "updated_at": now}
            for key, value in values.items()
        ],
        schema=_STATE_SCHEMA,
    )
    store.write(table, rows, mode="upsert", key="state_key")
