"""The monitor's cycle: new posts only, opinion alerts once per episode with their evidence, failing sources and
rules, event rules, deliveries recorded on the alert."""

from __future__ import annotations

import datetime as dt

import pytest

import socialfusion as sf
from socialfusion.monitor import parse_config, read_alerts, run_cycle, run_monitor
from socialfusion.monitor._loop import PENDING_KEY
from socialfusion.monitor._state import read_state
from socialfusion.tasks.sentiment import PREDICTIONS_TABLE

from ._fixtures import START, BatchCollector, angry_posts, calm_posts, ingest_posts

OPINION = """
interval_seconds = 0.01
[[sources]]
name = "stream"
platform = "mastodon"
query = "#transit"

[[rules]]
kind = "opinion"
name = "transit-anger"
by = "hashtag"
freq = "h"
window = 1
baseline = 12
min_posts = 10
examples = 20
"""


@pytest.fixture
def store(tmp_path):
    store = sf.connect(tmp_path / "store")
    ingest_posts(store, calm_posts(hours=24))
    return store


def test_planted_spike_gives_one_alert_with_its_posts_once(store, tmp_path):
    config = parse_config(OPINION + f'\n[[deliveries]]\nkind = "jsonl"\nname = "file"\npath = "{tmp_path}/a.jsonl"')
    planted = angry_posts(12, hour=24)
    collector = BatchCollector({"stream": [calm_posts(hours=1, prefix="more")[:0] or [], planted]})
    first = run_cycle(store, config, collect=collector, catch_up=True)
    assert first.fired == [] and first.errors == []
    assert first.predicted == store.count("posts")  # catch-up: every post gets a sentiment

    second = run_cycle(store, config, collect=collector)
    assert second.errors == []
    assert second.new_posts == 12 and second.predicted == 12
    assert second.featurized == {"text/lexicon": 12}  # only the new posts were encoded
    assert len(second.fired) == 1
    alert = second.fired[0]
    assert (alert.rule, alert.kind, alert.subject) == ("transit-anger", "opinion", "transit")
    assert set(alert.post_ids) == {post["post_id"] for post in planted}
    assert alert.numbers["window_negative"] >= 12 and alert.numbers["adjusted_p"] < 0.01
    assert [line for line in (tmp_path / "a.jsonl").read_text().splitlines() if line].__len__() == 1

    third = run_cycle(store, config, collect=collector)  # the episode is still open: nothing new
    assert third.fired == [] and third.closed == []
    stored = read_alerts(store)
    assert len(stored) == 1 and stored[0].deliveries["file"].state == "sent"
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1


def test_episode_closes_and_a_later_one_fires_again(store):
    config = parse_config(OPINION)
    collector = BatchCollector(
        {
            "stream": [angry_posts(12, hour=24), calm_posts(hours=3, per_hour=12, prefix="calmer")],
        }
    )
    collector.batches["stream"][1] = [
        {**post, "created_at": START + dt.timedelta(hours=25 + i // 12, minutes=i % 12)}
        for i, post in enumerate(collector.batches["stream"][1])
    ]
    assert len(run_cycle(store, config, collect=collector, catch_up=True).fired) == 1
    calmer = run_cycle(store, config, collect=collector)
    assert calmer.fired == [] and len(calmer.closed) == 1
    assert read_alerts(store)[0].closed_at is not None
    ingest_posts(store, angry_posts(12, hour=28, prefix="again"))
    again = run_cycle(store, config, catch_up=True, collect=collector)
    assert len(again.fired) == 1 and len(read_alerts(store)) == 2


def test_a_failing_source_is_reported_and_the_others_go_on(store):
    config = parse_config(OPINION + '\n[[sources]]\nname = "broken"\nplatform = "mastodon"\nquery = "x"\n')

    def collect(target, source):
        if source.label == "broken":
            raise ConnectionError("platform unreachable")
        return good(target, source)

    good = BatchCollector({"stream": [angry_posts(12, hour=24)]})
    report = run_cycle(store, config, collect=collect, catch_up=True)
    outcomes = {outcome.source: outcome for outcome in report.sources}
    assert outcomes["broken"].ok is False and "platform unreachable" in outcomes["broken"].error
    assert outcomes["stream"].ok and outcomes["stream"].new_posts == 12
    assert any("broken" in error for error in report.errors)
    assert len(report.fired) == 1
    assert read_state(store, "source:broken")["ok"] is False


def test_a_failing_rule_is_reported_and_the_others_go_on(store):
    config = parse_config(OPINION + '\n[[rules]]\nkind = "burst"\nname = "topics"\nby = "topic"\n')
    report = run_cycle(store, config, collect=BatchCollector({"stream": [angry_posts(12, hour=24)]}), catch_up=True)
    assert any(error.startswith("rule topics") and "topic" in error for error in report.errors)
    assert [alert.rule for alert in report.fired] == ["transit-anger"]


def test_posts_collected_before_a_kill_are_processed_by_the_next_start(store):
    """A monitor killed after collecting leaves the ids pending; the next cycle processes them."""
    config = parse_config(OPINION)
    run_cycle(store, config, collect=BatchCollector({}), catch_up=True)
    ids = ingest_posts(store, angry_posts(12, hour=24))
    from socialfusion.monitor._state import write_state

    write_state(store, {PENDING_KEY: ids})  # what _collect records before a kill
    report = run_cycle(store, config, collect=BatchCollector({}))
    assert report.new_posts == 12 and len(report.fired) == 1
    assert read_state(store, PENDING_KEY) == []
    assert store.count(PREDICTIONS_TABLE) == store.count("posts")


def test_keyword_reshares_and_volume_rules(tmp_path):
    store = sf.connect(tmp_path / "store")
    ingest_posts(store, calm_posts(hours=4))
    config = parse_config("""
[[sources]]
name = "stream"
platform = "mastodon"
query = "x"
[[rules]]
kind = "keyword"
name = "outage"
terms = ["outage", "#strike"]
[[rules]]
kind = "reshares"
name = "viral"
threshold = 3
accounts = ["@star"]
[[rules]]
kind = "volume"
name = "busy"
threshold = 5
""")
    later = START + dt.timedelta(hours=5)
    batch = [
        {"post_id": "k1", "author_id": "a", "text": "Power OUTAGE downtown", "created_at": later},
        {"post_id": "k2", "author_id": "b", "text": "no outages here", "created_at": later},
        {"post_id": "k3", "author_id": "c", "text": "walking out", "hashtags": ["Strike"], "created_at": later},
        {"post_id": "s1", "author_id": "star", "text": "big news", "created_at": later, "share_count": 2},
        {"post_id": "s2", "author_id": "other", "text": "also news", "created_at": later, "share_count": 50},
    ]
    reshares = [
        {
            "post_id": f"r{i}",
            "author_id": f"f{i}",
            "reshare_of": "s1",
            "text": "",
            "created_at": later + dt.timedelta(minutes=i),
        }
        for i in range(3)
    ]
    collector = BatchCollector({"stream": [batch, reshares, []]})
    first = run_cycle(store, config, collect=collector, catch_up=True)
    by_rule = {(alert.rule, alert.subject): alert for alert in first.fired}
    assert set(by_rule[("outage", "outage")].post_ids) == {"k1"}
    assert set(by_rule[("outage", "#strike")].post_ids) == {"k3"}
    assert by_rule[("busy", "*")].numbers["count"] == 5
    assert ("viral", "s2") not in by_rule  # not a watched account
    second = run_cycle(store, config, collect=collector)
    assert [(alert.rule, alert.subject) for alert in second.fired] == [("viral", "s1")]
    assert second.fired[0].numbers["reshares"] == 3
    third = run_cycle(store, config, collect=collector)
    assert third.fired == []  # nothing fires twice


def test_run_monitor_stops_after_cycles_and_holds_the_monitor_lock(store):
    from socialfusion.exceptions import StoreError
    from socialfusion.monitor import monitor_lock

    config = parse_config(OPINION)
    reports = []
    assert run_monitor(store, config, cycles=2, collect=BatchCollector({}), on_cycle=reports.append) == 2
    assert len(reports) == 2
    with monitor_lock(store), pytest.raises(StoreError, match="another monitor"):
        run_monitor(sf.connect(store.uri), config, cycles=1, collect=BatchCollector({}))


def test_a_failed_delivery_is_tried_again_next_cycle_then_abandoned(store, receiver, secret):
    hook = (
        f'\n[[deliveries]]\nkind = "webhook"\nname = "hook"\nurl = "{receiver.url}"\nsecret_env = "{secret}"\n'
        "retries = 1\nbackoff_seconds = 0\nretry_cycles = 1\n"
    )
    config = parse_config(OPINION + hook)
    receiver.statuses = [503, 503]
    collector = BatchCollector({"stream": [angry_posts(12, hour=24)]})
    first = run_cycle(store, config, collect=collector, catch_up=True)
    assert len(first.fired) == 1 and [d.state for d in first.deliveries] == ["failed"]
    assert any("delivery hook" in error and "HTTP 503" in error for error in first.errors)
    second = run_cycle(store, config, collect=collector)
    assert second.fired == [] and [(d.state, d.attempts) for d in second.deliveries] == [("sent", 3)]
    assert len(receiver.verified) == 3 and {body["alert_id"] for body in receiver.verified} == {first.fired[0].alert_id}
    assert run_cycle(store, config, collect=collector).deliveries == []  # sent: never again

    receiver.statuses = [500] * 10
    ingest_posts(store, calm_posts(hours=3, per_hour=12, prefix="calmer"))  # ends nothing: same hour
    never = parse_config(OPINION.replace("transit-anger", "other-rule") + hook)
    run_cycle(store, never, collect=collector)
    run_cycle(store, never, collect=collector)
    states = {alert.rule: alert.deliveries["hook"].state for alert in read_alerts(store)}
    assert states == {"transit-anger": "sent", "other-rule": "abandoned"}


def test_alerts_through_the_app_layer_and_the_command_line(store, tmp_path):
    import json

    from typer.testing import CliRunner

    from socialfusion import app
    from socialfusion.cli import app as cli

    config_file = tmp_path / "monitor.toml"
    config_file.write_text(
        OPINION.replace('[[sources]]\nname = "stream"\nplatform = "mastodon"\nquery = "#transit"\n', "")
    )
    ingest_posts(store, angry_posts(12, hour=24))
    runner = CliRunner()
    ran = runner.invoke(cli, ["monitor", "--config", str(config_file), "--store", store.uri, "--cycles", "1"])
    assert ran.exit_code == 0, ran.output
    assert "cycle 1: 0 new posts · 1 alerts fired" in ran.output and "alert transit-anger" in ran.output
    found = app.monitor_alerts(store, app.MonitorAlertsParams(open=True))
    assert [(alert.rule, alert.subject) for alert in found.alerts] == [("transit-anger", "transit")]
    assert app.monitor_alerts(store, app.MonitorAlertsParams(rule="nope")).alerts == []
    listed = runner.invoke(cli, ["monitor", "alerts", "--store", store.uri, "--json"])
    assert json.loads(listed.output)["alerts"][0]["posts"][0]["post_id"].startswith("angry")
    checked = runner.invoke(cli, ["monitor", "check", "--config", str(config_file)])
    assert checked.exit_code == 0 and "0 sources, 1 rules" in checked.output
    config_file.write_text(OPINION + "\nwindw = 3\n")
    bad = runner.invoke(cli, ["monitor", "--config", str(config_file), "--store", store.uri])
    assert bad.exit_code == 2 and "line 18: key 'rules[0].windw'" in " ".join(bad.output.split())


@pytest.mark.slow
def test_an_entity_appearing_in_new_posts(tmp_path):
    store = sf.connect(tmp_path / "store")
    config = parse_config(
        'sentiment = "off"\n[[sources]]\nname = "s"\nplatform = "mastodon"\nquery = "x"\n'
        '[[rules]]\nkind = "entity"\nname = "places"\nentities = ["paris", "London"]'
    )
    batch = [
        {
            "post_id": "e1",
            "text": "Flooding reported in Paris this morning, roads closed.",
            "lang": "en",
            "created_at": START,
        },
        {"post_id": "e2", "text": "A quiet day at home, paris is a word here", "lang": "en", "created_at": START},
    ]
    report = run_cycle(store, config, collect=BatchCollector({"s": [batch]}))
    assert report.errors == []
    assert [(alert.subject, alert.post_ids) for alert in report.fired] == [("paris", ["e1"])]
