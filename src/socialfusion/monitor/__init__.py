"""The continuous monitor: each cycle collects the configured sources, processes the new posts (features through
the content-hash cache, sentiment, topics), evaluates alert rules and delivers each alert once per episode to a
signed webhook, a JSONL file or e-mail.

Examples:
    >>> import socialfusion as sf
    >>> from socialfusion.monitor import parse_config, run_cycle
    >>> store = sf.connect("memory://")
    >>> _ = sf.ingest_corpus(sf.generate(n_users=20, n_posts=80, seed=1).corpus, store)
    >>> config = parse_config('[[rules]]\\nkind = "volume"\\nname = "busy"\\nthreshold = 1\\nfreq = "D"')
    >>> report = run_cycle(store, config)
    >>> [(alert.rule, alert.subject) for alert in report.fired]
    [('busy', '*')]
    >>> run_cycle(store, config).fired   # the same episode: no second alert
    []
"""

from __future__ import annotations

from socialfusion.monitor._config import (
    BurstRule,
    DeliveryConfig,
    EmailDelivery,
    EntityRule,
    JsonlDelivery,
    KeywordRule,
    MonitorConfig,
    OpinionRule,
    ResharesRule,
    RuleConfig,
    SourceConfig,
    VolumeRule,
    WebhookDelivery,
    load_config,
    parse_config,
)
from socialfusion.monitor._deliver import SIGNATURE_HEADER, DeliveryError, deliver, sign, verify_signature
from socialfusion.monitor._loop import (
    Collector,
    CycleReport,
    SourceOutcome,
    collect_source,
    monitor_lock,
    run_cycle,
    run_monitor,
    stop_on_signals,
)
from socialfusion.monitor._rules import Finding, evaluate_rule
from socialfusion.monitor._state import (
    ALERTS_TABLE,
    STATE_TABLE,
    Alert,
    DeliveryState,
    EvidencePost,
    open_alerts,
    read_alerts,
)

__all__ = [
    "ALERTS_TABLE",
    "SIGNATURE_HEADER",
    "STATE_TABLE",
    "Alert",
    "BurstRule",
    "Collector",
    "CycleReport",
    "DeliveryConfig",
    "DeliveryError",
    "DeliveryState",
    "EmailDelivery",
    "EntityRule",
    "EvidencePost",
    "Finding",
    "JsonlDelivery",
    "KeywordRule",
    "MonitorConfig",
    "OpinionRule",
    "ResharesRule",
    "RuleConfig",
    "SourceConfig",
    "SourceOutcome",
    "VolumeRule",
    "WebhookDelivery",
    "collect_source",
    "deliver",
    "evaluate_rule",
    "load_config",
    "monitor_lock",
    "open_alerts",
    "parse_config",
    "read_alerts",
    "run_cycle",
    "run_monitor",
    "sign",
    "stop_on_signals",
    "verify_signature",
]
