"""The monitor's cycle and loop: collect each source, process the new posts (featurize through the content-hash
cache, predict sentiment, assign topics), evaluate the rules, record alerts by episode and deliver them.

Kill-safety: the ids of collected posts are recorded (``monitor_state``) right after each source and cleared
only once a cycle has processed them; an alert and its episode are one row, written before any delivery, and
each delivery's outcome is written back to that row. A restarted monitor therefore processes what the killed one
had not, opens no episode twice, and re-sends only a delivery whose success it had not recorded yet (webhooks
carry the alert id; the JSONL file is checked for it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from socialfusion.exceptions import ConfigurationError, SocialFusionError, StoreError
from socialfusion.monitor._config import MonitorConfig, SourceConfig
from socialfusion.monitor._deliver import DeliveryError, deliver
from socialfusion.monitor._rules import CONDITION_KINDS, CycleData, Finding, evaluate_rule
from socialfusion.monitor._state import (
    ALERTS_TABLE,
    Alert,
    DeliveryState,
    read_alerts,
    read_state,
    write_alerts,
    write_state,
)
from socialfusion.store import Store, sql_string

__all__ = [
    "Collector",
    "CycleReport",
    "SourceOutcome",
    "collect_source",
    "monitor_lock",
    "run_cycle",
    "run_monitor",
    "stop_on_signals",
]

logger = logging.getLogger(__name__)

PENDING_KEY = "pending_posts"
LAST_CYCLE_KEY = "last_cycle"
MONITOR_LOCK_FILE = ".socialfusion-monitor.lock"

Collector = Callable[[Store, SourceConfig], Any]
"""Collects one source into the store; returns an object with ``new_post_ids`` (and, optionally, ``received``,
``ingested``, ``duplicates``, ``rejects``, ``cursor``, ``stopped_reason``: ``socialfusion.collect.CollectResult``)."""


class SourceOutcome(BaseModel):
    """What collecting one source did this cycle, or why it failed."""

    model_config = ConfigDict(extra="forbid")

    source: str
    ok: bool
    new_posts: int = 0
    received: int | None = None
    ingested: int | None = None
    duplicates: int | None = None
    rejects: int | None = None
    cursor: Any = None
    stopped_reason: str | None = None
    error: str | None = None
    seconds: float = 0.0


class DeliveryOutcome(BaseModel):
    """One delivery of one alert this cycle."""

    alert_id: str
    delivery: str
    state: str
    attempts: int
    error: str | None = None


class CycleReport(BaseModel):
    """What one cycle did, with the seconds each step took."""

    model_config = ConfigDict(extra="forbid")

    started_at: dt.datetime
    seconds: dict[str, float] = Field(
        default_factory=dict,
        description="Per step: collect, featurize, sentiment, topics, rules, alerts, deliver, total.",
    )
    sources: list[SourceOutcome] = Field(default_factory=list)
    new_posts: int = 0
    featurized: dict[str, int] = Field(default_factory=dict, description="Encoder -> items encoded (not cached).")
    predicted: int = 0
    assigned: int = 0
    rules: dict[str, int] = Field(default_factory=dict, description="Rule -> findings.")
    fired: list[Alert] = Field(default_factory=list)
    closed: list[str] = Field(default_factory=list, description="Alerts whose episode ended.")
    deliveries: list[DeliveryOutcome] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Failures of a source, a step or a rule.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def collect_source(store: Store, source: SourceConfig, folder: Path = Path(".")) -> Any:
    """The default collector: ``socialfusion.collect.collect`` from the source's saved cursor, with its platform's
    credentials (``socialfusion.collect.load_credentials``: the source's file, else the environment)."""
    from socialfusion.collect import Source, collect, load_credentials

    file = None
    if source.credentials_file is not None:
        file = Path(source.credentials_file).expanduser()
        file = file if file.is_absolute() else folder / file
    credentials = load_credentials(source.platform, file)
    return collect(
        store,
        Source(platform=source.platform, query=source.query, base_url=source.base_url),
        limit=source.limit,
        credentials=credentials,
        media=source.media,
    )


def _collect(store: Store, config: MonitorConfig, collector: Collector, report: CycleReport) -> None:
    for source in config.sources:
        started = time.perf_counter()
        try:
            result = collector(store, source)
            new_ids = [str(post_id) for post_id in (getattr(result, "new_post_ids", None) or [])]
            outcome = SourceOutcome(
                source=source.label,
                ok=True,
                new_posts=len(new_ids),
                **{
                    name: getattr(result, name, None)
                    for name in ("received", "ingested", "duplicates", "rejects", "stopped_reason")
                },
                cursor=_jsonable(getattr(result, "cursor", None)),
            )
        except Exception as error:  # one failing source never stops the others
            if not isinstance(error, SocialFusionError):
                logger.exception("source %s failed", source.label)
            new_ids = []
            outcome = SourceOutcome(source=source.label, ok=False, error=f"{type(error).__name__}: {error}")
            report.errors.append(f"source {source.label}: {outcome.error}")
        outcome.seconds = time.perf_counter() - started
        report.sources.append(outcome)
        with store.writer_lock():  # the ids join the pending ones before anything else can be lost
            pending = read_state(store, PENDING_KEY, [])
            write_state(
                store,
                {
                    PENDING_KEY: sorted(set(pending) | set(new_ids)),
                    f"source:{source.label}": {**outcome.model_dump(mode="json"), "at": _now()},
                },
            )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _unpredicted(store: Store) -> list[str]:
    """Posts without a stored sentiment prediction."""
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE

    posts = store.read("posts", columns=["post_id"]).column("post_id")
    if PREDICTIONS_TABLE not in store.tables():
        return posts.to_pylist()
    done = store.read(PREDICTIONS_TABLE, columns=["post_id"]).column("post_id")
    return posts.filter(pc.invert(pc.is_in(posts, value_set=done))).to_pylist()


def _sentiment_model(store: Store, config: MonitorConfig):
    """The store's trained sentiment model (``sentiment = "auto"``), else None (the lexicons)."""
    from socialfusion.app._models import _load_model, sentiment_model_path

    path = sentiment_model_path(store) if config.sentiment == "auto" else None
    if path is None:
        return None
    model = _load_model(str(path), (path / "sentiment_model.json").stat().st_mtime)
    return model if model.encoders_ is not None else None


def _topic_model(store: Store, config: MonitorConfig):
    from socialfusion.tasks.topics import MODEL_METADATA_KEY, POST_TOPICS_TABLE, TOPICS_TABLE, load_topic_model

    if (
        config.topics == "off"
        or not {TOPICS_TABLE, POST_TOPICS_TABLE} <= set(store.tables())
        or not store.get_metadata().get(MODEL_METADATA_KEY)
    ):
        return None
    return load_topic_model(store)


def _texts_only(topic_model: Any) -> bool:
    """Whether a topic model embeds post texts alone (then only the new texts are embedded, no cache needed)."""
    return set(topic_model.encoders_) == {"text"} and not topic_model.image_text


def _encoders(config: MonitorConfig, sentiment_model: Any, topic_model: Any) -> list[str]:
    """What the cycle keeps up to date: the encoders of the models it predicts with, and those configured."""
    from socialfusion.featurize import distinct_encoders

    names: list[str] = []
    if config.sentiment != "off":
        names += ["text/lexicon"] if sentiment_model is None else list(sentiment_model.encoders_.values())
    if topic_model is not None and not _texts_only(topic_model):  # fused topics read the feature cache
        names += list(topic_model.encoders_.values())
    return list(dict.fromkeys([*distinct_encoders(names), *config.encoders]))


def _timed(report: CycleReport, step: str, action: Callable[[], Any]) -> Any:
    """Run one step, timing it; a failure is reported (the cycle goes on) and returns None."""
    started = time.perf_counter()
    try:
        return action()
    except Exception as error:  # a failing step is reported; the rules still run on what the store holds
        if not isinstance(error, SocialFusionError):
            logger.exception("monitor step %s failed", step)
        report.errors.append(f"{step}: {type(error).__name__}: {error}")
        return None
    finally:
        report.seconds[step] = report.seconds.get(step, 0.0) + time.perf_counter() - started


def _featurize(store: Store, names: list[str], report: CycleReport) -> bool:
    from socialfusion.app import FeaturizeParams, featurize_store

    if names:
        result = featurize_store(store, FeaturizeParams(encoders=names))
        report.featurized = {run.encoder: run.encoded for run in result.encoders}
    return True


def _predict(store: Store, model: Any, ids: list[str], report: CycleReport) -> bool:
    from socialfusion.tasks.sentiment import LexiconSentiment, write_predictions

    if not ids:
        return True
    if model is None:
        predictions = LexiconSentiment().predict(store, ids)
    else:
        predictions = model.predict(store, ids)
    report.predicted = write_predictions(store, predictions)
    return True


def _assign(store: Store, model: Any, ids: list[str], report: CycleReport) -> bool:
    """Assign the new posts to the stored topics (nearest centre), and store that."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.topics import write_topics

    if model is None or not ids:
        return True
    posts = store.read("posts", columns=["post_id", "text", "lang", "media"])
    chosen = pc.is_in(posts.column("post_id"), value_set=pa.array(ids, pa.string()))
    if _texts_only(model):  # embeds only the new texts
        rows = model.assign(Corpus(posts=posts.filter(chosen)))
    else:  # fused modalities: every post goes through the feature cache, and only the new ones are kept
        rows = model.assign(store)
        rows = rows.filter(pc.is_in(rows.column("post_id"), value_set=pa.array(ids, pa.string())))
    report.assigned = write_topics(store, model, rows) if rows.num_rows else 0
    return True


def _alert_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _cited(alerts: list[Alert]) -> set[str]:
    cited: set[str] = set()
    for alert in alerts:
        cited.update(alert.numbers.get("post_ids") or alert.post_ids)
    return cited


def _new_alert(
    finding: Finding, now: dt.datetime, deliveries: dict[str, DeliveryState], identity: Sequence[str], **changes: Any
) -> Alert:
    """The alert of a finding, its id from the rule, the subject and ``identity``; ``changes`` override fields."""
    values = {
        "alert_id": _alert_id(finding.rule, finding.subject, *identity),
        "rule": finding.rule,
        "kind": finding.kind,
        "subject": finding.subject,
        "name": finding.name,
        "title": finding.title,
        "fired_at": now,
        "numbers": finding.numbers,
        "posts": finding.posts,
        "deliveries": deliveries,
    }
    return Alert(**{**values, **changes})


def _episodes(
    store: Store, config: MonitorConfig, findings: dict[str, list[Finding]], now: dt.datetime
) -> tuple[list[Alert], list[Alert]]:
    """New alerts (an episode that begins, or posts not cited before) and alerts whose episode ends."""
    deliveries = {delivery.name: DeliveryState() for delivery in config.deliveries}
    fired, closed = [], []
    for rule in config.rules:
        if rule.name not in findings:
            continue  # not evaluated (it failed): its episodes stay as they are
        past = read_alerts(store, f"rule = {sql_string(rule.name)}")
        if rule.kind in CONDITION_KINDS:
            open_ones = {alert.subject: alert for alert in past if alert.closed_at is None}
            active = {finding.subject for finding in findings[rule.name]}
            for finding in findings[rule.name]:
                if finding.subject not in open_ones:
                    fired.append(_new_alert(finding, now, deliveries, (now.isoformat(),)))
            closed += [
                alert.model_copy(update={"closed_at": now})
                for subject, alert in open_ones.items()
                if subject not in active
            ]
            continue
        for finding in findings[rule.name]:
            earlier = [alert for alert in past if alert.subject == finding.subject]
            cited = _cited(earlier)
            ids = [post_id for post_id in finding.numbers.get("post_ids", [finding.subject]) if post_id not in cited]
            if not ids or (rule.kind == "reshares" and earlier):
                continue
            numbers = dict(finding.numbers)
            if "post_ids" in numbers:
                numbers.update(post_ids=ids, posts=len(ids))
            posts = [post for post in finding.posts if post.post_id in ids]
            title = (
                finding.title
                if len(ids) == len(finding.numbers.get("post_ids", ids))
                else f"{rule.kind} {finding.subject!r} appeared in {len(ids)} new post{'s' if len(ids) != 1 else ''}"
            )
            fired.append(
                _new_alert(
                    finding, now, deliveries, sorted(ids), title=title, closed_at=now, numbers=numbers, posts=posts
                )
            )
    return fired, closed


def _record_delivery(store: Store, alert_id: str, name: str, state: DeliveryState) -> None:
    """Write one delivery's outcome onto its alert (read-merge-write: the episode may have closed meanwhile)."""
    with store.writer_lock():
        current = read_alerts(store, f"alert_id = {sql_string(alert_id)}")
        if current:
            write_alerts(store, [current[0].model_copy(update={"deliveries": {**current[0].deliveries, name: state}})])


def _deliver_pending(store: Store, config: MonitorConfig, report: CycleReport, sleep: Callable[[float], None]) -> None:
    """Send every alert's pending (or failed, not yet abandoned) deliveries, recording each outcome on the alert's
    row as soon as it is known (a kill in between re-sends that one delivery, with the same alert id)."""
    configured = {delivery.name: delivery for delivery in config.deliveries}
    if not configured or ALERTS_TABLE not in store.tables():
        return
    waiting = read_alerts(store, "deliveries LIKE '%\"pending\"%' OR deliveries LIKE '%\"failed\"%'")
    for alert in reversed(waiting):  # oldest first
        for name, state in alert.deliveries.items():
            if name not in configured or state.state not in ("pending", "failed"):
                continue
            try:
                attempts = deliver(alert, configured[name], folder=config.folder, sleep=sleep)
                outcome = DeliveryState(
                    state="sent", attempts=state.attempts + attempts, cycles=state.cycles + 1, at=_now()
                )
            except (DeliveryError, ConfigurationError) as error:
                cycles = state.cycles + 1
                outcome = DeliveryState(
                    state="abandoned" if cycles > configured[name].retry_cycles else "failed",
                    attempts=state.attempts + configured[name].retries + 1,
                    cycles=cycles,
                    error=str(error),
                    at=_now(),
                )
                report.errors.append(f"delivery {name} of alert {alert.alert_id}: {error}")
            _record_delivery(store, alert.alert_id, name, outcome)
            report.deliveries.append(
                DeliveryOutcome(
                    alert_id=alert.alert_id,
                    delivery=name,
                    state=outcome.state,
                    attempts=outcome.attempts,
                    error=outcome.error,
                )
            )


def run_cycle(
    store: Store,
    config: MonitorConfig,
    *,
    collect: Collector | None = None,
    catch_up: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> CycleReport:
    """One cycle of the monitor.

    Args:
        store: the store.
        config: the monitor's configuration.
        collect: collects one source (default ``collect_source``: ``socialfusion.collect.collect``).
        catch_up: also process the posts that have no sentiment prediction yet (what a monitor does on its
            first cycle: the store's older posts, and any a killed monitor collected without processing).
        sleep: waits between delivery attempts.

    Returns:
        What the cycle did and the seconds per step (``seconds``: collect, featurize, sentiment, topics, rules,
        alerts, deliver and total).
    """
    started = time.perf_counter()
    report = CycleReport(started_at=_now())
    collector = collect or (lambda target, source: collect_source(target, source, config.folder))
    _timed(report, "collect", lambda: _collect(store, config, collector, report))
    pending = read_state(store, PENDING_KEY, [])
    known = store.read("posts", columns=["post_id"]).column("post_id")
    new_ids = pc.filter(known, pc.is_in(known, value_set=pa.array(pending, pa.string()))).to_pylist()
    report.new_posts = len(new_ids)
    todo = new_ids
    if catch_up and config.sentiment != "off":
        todo = list(dict.fromkeys([*new_ids, *(_timed(report, "sentiment", lambda: _unpredicted(store)) or [])]))
    processed = True
    if todo:
        sentiment_model = _timed(report, "sentiment", lambda: _sentiment_model(store, config))
        topic_model = _timed(report, "topics", lambda: _topic_model(store, config))
        names = _encoders(config, sentiment_model, topic_model)
        steps = [("featurize", lambda: _featurize(store, names, report))]
        if config.sentiment != "off":
            steps.append(("sentiment", lambda: _predict(store, sentiment_model, todo, report)))
        steps.append(("topics", lambda: _assign(store, topic_model, todo, report)))
        for step, action in steps:
            processed = bool(_timed(report, step, action)) and processed
    data = CycleData(store, new_ids)
    findings: dict[str, list[Finding]] = {}
    rules_started = time.perf_counter()
    for rule in config.rules:
        try:
            findings[rule.name] = evaluate_rule(rule, data)
            report.rules[rule.name] = len(findings[rule.name])
        except Exception as error:  # one failing rule never stops the others
            if not isinstance(error, SocialFusionError):
                logger.exception("rule %s failed", rule.name)
            report.errors.append(f"rule {rule.name}: {type(error).__name__}: {error}")
    report.seconds["rules"] = time.perf_counter() - rules_started

    def record() -> None:
        with store.writer_lock():  # an episode is opened once, even with another monitor process
            fired, closed = _episodes(store, config, findings, _now())
            write_alerts(store, [*fired, *closed])
        report.fired, report.closed = fired, [alert.alert_id for alert in closed]

    _timed(report, "alerts", record)
    _timed(report, "deliver", lambda: _deliver_pending(store, config, report, sleep))
    if processed and new_ids:
        with store.writer_lock():
            remaining = set(read_state(store, PENDING_KEY, [])) - set(new_ids)
            write_state(store, {PENDING_KEY: sorted(remaining)})
    report.seconds["total"] = time.perf_counter() - started
    write_state(
        store,
        {
            LAST_CYCLE_KEY: {
                "finished_at": _now(),
                "new_posts": report.new_posts,
                "fired": len(report.fired),
                "errors": report.errors[:20],
            }
        },
    )
    return report


@contextlib.contextmanager
def monitor_lock(store: Store) -> Iterator[None]:
    """Hold the store's monitor lock: one monitor per local store (two would deliver every alert twice).

    Raises:
        StoreError: another monitor holds it.
    """
    if "://" in store.uri:
        yield
        return
    import filelock

    lock = filelock.FileLock(str(Path(store.uri) / MONITOR_LOCK_FILE), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise StoreError(
            f"another monitor is running on store {store.uri!r}; stop it first (one monitor per store)"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT (the loop ends after the current step's cycle); a second signal
    interrupts at once. Installs the handlers only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(number: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        logger.warning("%s: stopping after this cycle", signal.Signals(number).name)
        stop.set()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def run_monitor(
    store: Store,
    config: MonitorConfig,
    *,
    cycles: int | None = None,
    collect: Collector | None = None,
    stop: threading.Event | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run cycles every ``config.interval_seconds`` until ``stop`` is set or ``cycles`` have run.

    The first cycle catches up (``run_cycle(catch_up=True)``). The pause between cycles ends early when ``stop``
    is set.

    Args:
        store: the store.
        config: the configuration.
        cycles: how many cycles; None: until stopped.
        collect: the collector (see ``run_cycle``).
        stop: set it to end the loop after the current cycle.
        on_cycle: called with each cycle's report.
        sleep: waits between delivery attempts.

    Returns:
        The number of cycles run.

    Raises:
        StoreError: another monitor runs on this store.
    """
    stop = stop or threading.Event()
    done = 0
    with monitor_lock(store):
        while not stop.is_set() and (cycles is None or done < cycles):
            report = run_cycle(store, config, collect=collect, catch_up=done == 0, sleep=sleep)
            done += 1
            if on_cycle is not None:
                on_cycle(report)
            if cycles is not None and done >= cycles:
                break
            stop.wait(config.interval_seconds)
    return done
