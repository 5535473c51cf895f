"""``socialfusion monitor``: the continuous monitor (collect, process, alert) and its stored alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, NewStoreOption, StoreOption, console, errors, existing_store, fail
from socialfusion.exceptions import SocialFusionError

__all__ = ["app"]

app = typer.Typer(
    help="The continuous monitor: collect the configured sources, process new posts, evaluate alert "
    "rules, deliver alerts (webhook, JSONL, e-mail)."
)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The monitor's TOML configuration.")]


def _config(path: Path | None):
    from socialfusion.monitor import load_config

    if path is None:
        raise typer.BadParameter("give the configuration: --config monitor.toml", param_hint="--config")
    try:
        return load_config(path)
    except SocialFusionError as error:
        fail(error)


def _print_cycle(number: int, report, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"cycle": number, **report.model_dump(mode="json")}), flush=True)
        return
    failed = [outcome.source for outcome in report.sources if not outcome.ok]
    console.print(
        f"cycle {number}: {report.new_posts:,} new posts · {len(report.fired)} alerts fired · "
        f"{len(report.closed)} episodes ended · {report.seconds.get('total', 0.0):.1f} s"
        + (f" · sources failed: {', '.join(failed)}" if failed else ""),
        highlight=False,
    )
    for alert in report.fired:
        console.print(f"  [bold]alert[/bold] {alert.rule}: {alert.title}", highlight=False)
    for error in report.errors:
        errors.print(f"  [yellow]warning:[/yellow] {error}", highlight=False)


@app.callback(invoke_without_command=True)
def monitor(
    context: typer.Context,
    config: ConfigOption = None,
    store: NewStoreOption = Path("socialfusion.db"),
    cycles: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many cycles (default: run until SIGTERM or Ctrl-C).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the monitor: every interval, collect each source, featurize and predict the new posts, evaluate the
    rules and deliver each alert once per episode. SIGTERM or Ctrl-C stops it after the current cycle; a killed
    monitor resumes from the store (cursors, pending posts, alerts) when started again."""
    if context.invoked_subcommand is not None:
        return
    import threading

    from socialfusion.monitor import run_monitor, stop_on_signals
    from socialfusion.store import connect

    settings = _config(config)
    target = connect(store)
    stop = threading.Event()
    counter = iter(range(1, 1 << 62))
    try:
        with stop_on_signals(stop):
            run_monitor(
                target,
                settings,
                cycles=cycles,
                stop=stop,
                on_cycle=lambda report: _print_cycle(next(counter), report, as_json),
            )
    except SocialFusionError as error:
        fail(error)
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(code=130) from None


@app.command()
def check(config: ConfigOption = None) -> None:
    """Check a configuration file (an unknown key or a bad value names the file, the line and the key)."""
    from socialfusion.monitor._deliver import describe

    settings = _config(config)
    console.print(
        f"{config}: {len(settings.sources)} sources, {len(settings.rules)} rules, "
        f"{len(settings.deliveries)} deliveries; a cycle every {settings.interval_seconds:g} s",
        highlight=False,
    )
    for delivery in settings.deliveries:
        console.print(
            f"  {delivery.kind} {delivery.name!r} -> {describe(delivery, settings.folder)['target']}", highlight=False
        )


@app.command()
def alerts(
    store: StoreOption = Path("socialfusion.db"),
    rule: Annotated[str | None, typer.Option(help="Only this rule's alerts.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts whose episode is still open.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The alerts the monitor fired, newest first, with their evidence and where each was delivered."""
    from socialfusion.app import MonitorAlertsParams, monitor_alerts

    try:
        found = monitor_alerts(existing_store(store), MonitorAlertsParams(rule=rule, open=open_only, limit=limit))
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(found.model_dump_json())
        return
    if not found.alerts:
        console.print("no alert yet")
        return
    for alert in found.alerts:
        state = "open" if alert.closed_at is None else "closed"
        sent = ", ".join(f"{name}: {delivery.state}" for name, delivery in alert.deliveries.items()) or "none"
        console.print(
            f"[bold]{alert.fired_at:%Y-%m-%d %H:%M:%S}[/bold] {alert.rule} ({alert.kind}, {state}) {alert.title}",
            highlight=False,
        )
        console.print(
            f"  posts: {', '.join(alert.post_ids) or '-'} · deliveries: {sent} · id {alert.alert_id}", highlight=False
        )
