"""A collection SIGKILLed at random points and started again ends with the same posts, none lost, none twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from socialfusion.cli import app
from socialfusion.collect import Source, load_cursor
from socialfusion.collect.testing import FakeMastodon, FakeX
from socialfusion.store import connect
from tests.collect.conftest import post_ids, run

_CLI = [sys.executable, "-c", "from socialfusion.cli import main; main()"]

# A process that imports socialfusion once and then forks one `socialfusion collect` child per trial: the
# children are real processes running the CLI (killed with SIGKILL), without paying the imports each time.
_FORKER = """
import json, os, sys
from socialfusion.cli import main
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1), os.dup2(null, 2)
        sys.argv = ["socialfusion", *json.loads(line)]
        try:
            main()
        except SystemExit as end:
            os._exit(end.code if isinstance(end.code, int) else 1)
        os._exit(0)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:  # it ended (and the forker reaped it)
        return False
    return True


def _arguments(base_url: str, store_path) -> list[str]:
    return [
        "collect",
        "mastodon",
        "#python",
        "--store",
        str(store_path),
        "--base-url",
        base_url,
        "--page-size",
        "10",
        "--timeout",
        "5",
        "--backoff",
        "0.01",
        "--no-detect-language",
        "--json",
    ]


def test_a_collection_killed_at_random_points_and_restarted_loses_and_repeats_nothing(tmp_path):
    rng = random.Random(14)
    store_path = tmp_path / "store"
    fake = FakeMastodon(240, page_size=10, delay=0.03)  # slow enough to be killed mid-run
    kills = 0
    forker = subprocess.Popen([sys.executable, "-c", _FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with fake:
            for trial in range(5):
                forker.stdin.write(json.dumps(_arguments(fake.base_url, store_path)) + "\n")
                forker.stdin.flush()
                child = int(forker.stdout.readline())
                target = fake.requests + rng.randint(2, 4)  # the next page is fetched while one is ingested
                deadline = time.monotonic() + 60
                while fake.requests < target and time.monotonic() < deadline and _alive(child):
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, 0.15))  # anywhere: waiting for the server, ingesting, saving the cursor
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:  # it had finished
                    pass
                status = int(forker.stdout.readline())
                kills += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                if trial == 2:
                    fake.add_items(5)  # new posts while a pass is half done: a later pass collects them
            store = connect(store_path)
            assert 0 < store.count("posts") < 240  # the kills did stop it half-way
            # started again (in this process) until a pass brings nothing new
            while run(store, fake, "#python", {}, page_size=10).new_post_ids:
                pass
    finally:
        forker.stdin.close()
        forker.wait(timeout=60)
    assert kills == 5
    ids = post_ids(store)
    assert len(ids) == len(set(ids)) == 245  # nothing stored twice
    assert set(ids) == fake.expected_post_ids()  # nothing lost
    assert store.count("rejects") == 0


def test_the_cli_collects_prints_json_and_fails_clearly(tmp_path, monkeypatch):
    runner = CliRunner()
    store_path = tmp_path / "store"
    fake = FakeX(23, page_size=10)
    credentials = tmp_path / "creds.toml"
    credentials.write_text('[x]\nbearer_token = "fake-bearer"\n')
    monkeypatch.delenv("SOCIALFUSION_X_BEARER_TOKEN", raising=False)
    with fake:
        common = [
            "collect",
            "x",
            "python",
            "--store",
            str(store_path),
            "--base-url",
            fake.base_url,
            "--no-detect-language",
            "--backoff",
            "0.01",
        ]
        done = runner.invoke(app, [*common, "--credentials", str(credentials), "--json", "--limit", "12"])
        assert done.exit_code == 0, done.output
        first = json.loads(done.stdout)
        assert first["received"] == 20 and first["stopped_reason"].startswith("limit")  # X pages are 10 or more
        done = runner.invoke(app, [*common, "--credentials", str(credentials)])
        assert done.exit_code == 0 and "ingested 3" in done.stdout
        state = load_cursor(connect(store_path), Source("x", "python", fake.base_url))
        assert state["pass"] is None and state["high_water"].lstrip("0") == fake.items[0]["id"]

        refused = runner.invoke(app, common)  # no token anywhere
        assert refused.exit_code == 1 and "SOCIALFUSION_X_BEARER_TOKEN" in refused.stderr
        monkeypatch.setenv("SOCIALFUSION_X_BEARER_TOKEN", "not-the-token")
        refused = runner.invoke(app, common)
        assert refused.exit_code == 1 and "401" in refused.stderr and "not-the-token" not in refused.output
    unknown = runner.invoke(app, ["collect", "friendster", "x", "--store", str(tmp_path / "new")])
    assert unknown.exit_code == 2 and "unknown platform" in unknown.stderr
    monkeypatch.delenv("SOCIALFUSION_X_BEARER_TOKEN")
    no_token = runner.invoke(app, ["collect", "x", "python", "--store", str(tmp_path / "new")])
    assert no_token.exit_code == 1 and "SOCIALFUSION_X_BEARER_TOKEN" in no_token.stderr
    assert not (tmp_path / "new").exists()  # a mistake creates no store
    assert len(post_ids(connect(store_path))) == 23
