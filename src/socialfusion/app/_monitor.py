"""The monitor's alerts as an operation: what the dashboard, the API and ``socialfusion monitor alerts`` show."""

from __future__ import annotations

from pydantic import Field

from socialfusion.app._common import Identifier, K, Params, Result
from socialfusion.monitor._state import Alert, read_alerts
from socialfusion.store import Store, sql_string

__all__ = ["MonitorAlertsParams", "MonitorAlertsResult", "monitor_alerts"]


class MonitorAlertsParams(Params):
    """Which alerts."""

    rule: Identifier | None = Field(None, description="Only this rule's alerts.")
    open: bool = Field(False, description="Only the alerts whose episode is still open.")
    limit: K = 50


class MonitorAlertsResult(Result):
    """Alerts, newest first (``socialfusion.monitor.Alert``: rule, subject, title, numbers, evidence posts,
    episode and deliveries)."""

    alerts: list[Alert]


def monitor_alerts(store: Store, params: MonitorAlertsParams) -> MonitorAlertsResult:
    """The alerts the store's monitor fired (``socialfusion.monitor.read_alerts``), newest first."""
    conditions = [f"rule = {sql_string(params.rule)}"] if params.rule is not None else []
    if params.open:
        conditions.append("closed_at IS NULL")
    return MonitorAlertsResult(alerts=read_alerts(store, " AND ".join(conditions) or None)[: params.limit])
