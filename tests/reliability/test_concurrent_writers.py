"""Several processes writing one store at once: nothing lost, nothing duplicated, every summary true."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from socialfusion.exceptions import ConfigurationError, StoreError
from socialfusion.ingestion import Ingestor, ingest
from socialfusion.store import check_store, connect, repair_store

CLI = [str(Path(sys.executable).parent / "socialfusion")]


def write_posts(path: Path, ids: range, *, bad_every: int = 0, tag: str = "") -> Path:
    """A JSONL file of posts ``p<i>``; every ``bad_every``-th line is malformed (a reject)."""
    with open(path, "w", encoding="utf-8") as handle:
        for i in ids:
            if bad_every and i % bad_every == 0:
                handle.write(f'{{"post_id": "bad{tag}{i}", broken\n')
                continue
            post = {"post_id": f"p{i}", "author_id": f"u{i % 50}", "created_at": "2024-03-01T10:00:00Z",
                    "text": f"post {i} about #topic{i % 9}"}
            handle.write(json.dumps(post) + "\n")
    return path


def run_writers(store: Path, files: list[Path], batch_size: int = 400) -> list[dict]:
    """Start one ``socialfusion ingest`` per file at the same time; their JSON summaries."""
    children = [
        subprocess.Popen([*CLI, "ingest", str(path), "--store", str(store), "--json", "--batch-size", str(batch_size)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for path in files
    ]
    summaries = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        summaries.append(json.loads(out))
    return summaries


def assert_summary_accounts_for_every_record(summary: dict) -> None:
    outcomes = ("ingested", "updated", "duplicate", "superseded", "rejected")
    assert sum(summary[name] for name in outcomes) == summary["records_read"], summary


def keys_of(store, table: str) -> list[str]:
    return store.read(table, columns=["record_key"]).column("record_key").to_pylist()


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-tables"])
def test_two_writers_of_different_files_lose_nothing(tmp_path, existing):
    store_path = tmp_path / "store.db"
    if existing:
        ingest(write_posts(tmp_path / "base.jsonl", range(100_000, 100_050), bad_every=10, tag="base"),
               connect(store_path))
    first = write_posts(tmp_path / "a.jsonl", range(0, 6000), bad_every=97, tag="a")
    second = write_posts(tmp_path / "b.jsonl", range(6000, 12000), bad_every=89, tag="b")

    summaries = run_writers(store_path, [first, second])

    store = connect(store_path)
    posts = keys_of(store, "posts")
    expected_bad = sum(1 for i in range(0, 6000) if i % 97 == 0) + sum(1 for i in range(6000, 12000) if i % 89 == 0)
    base = 45 if existing else 0
    assert len(posts) == len(set(posts)) == 12000 - expected_bad + base
    assert [s["ingested"] for s in summaries] == [6000 - sum(1 for i in range(6000) if i % 97 == 0),
                                                  6000 - sum(1 for i in range(6000, 12000) if i % 89 == 0)]
    rejects = keys_of(store, "rejects")
    assert len(rejects) == len(set(rejects)) == expected_bad + (5 if existing else 0)
    for summary in summaries:
        assert_summary_accounts_for_every_record(summary)
    assert not any(check.surplus_rows for check in check_store(store))


@pytest.mark.slow
def test_four_writers_same_and_different_files_keep_each_key_once(tmp_path):
    store_path = tmp_path / "store.db"
    shared = write_posts(tmp_path / "shared.jsonl", range(0, 4000), bad_every=101, tag="s")
    own = write_posts(tmp_path / "own.jsonl", range(3000, 7000))  # overlaps the shared file by 1,000 posts

    summaries = run_writers(store_path, [shared, shared, own, shared], batch_size=300)

    store = connect(store_path)
    posts = keys_of(store, "posts")
    bad = sum(1 for i in range(4000) if i % 101 == 0)
    assert len(posts) == len(set(posts)) == 7000 - sum(1 for i in range(3000) if i % 101 == 0)
    # Each post was ingested by exactly one writer; the others saw it as a duplicate.
    assert sum(s["ingested"] for s in summaries) == len(posts)
    assert sum(s["duplicate"] for s in summaries) == 3 * (4000 - bad) + 4000 - len(posts)
    for summary in summaries:
        assert_summary_accounts_for_every_record(summary)
    rejects = keys_of(store, "rejects")
    assert len(rejects) == len(set(rejects)) == bad
    assert not any(check.surplus_rows for check in check_store(store))


def test_store_check_finds_and_repair_removes_duplicate_keys(tmp_path):
    """A store made by an older version (plain appends, no lock) holds some keys twice."""
    store_path = tmp_path / "old.db"
    store = connect(store_path)
    ingest(write_posts(tmp_path / "a.jsonl", range(0, 30)), store)
    older = store.read("posts", where="post_id IN ('p1', 'p2')")
    edited = older.set_column(older.schema.get_field_index("text"), "text", pa.array(["p1 edited", "p2 edited"]))
    store.write("posts", edited, mode="append")

    check = subprocess.run([*CLI, "store", "check", "--store", str(store_path), "--json"], capture_output=True,
                           text=True)
    assert check.returncode == 1
    posts_row = next(row for row in json.loads(check.stdout) if row["table"] == "posts")
    assert posts_row["duplicate keys"] == 2 and posts_row["surplus rows"] == 2

    repaired = repair_store(connect(store_path))

    assert next(c for c in repaired if c.table == "posts").removed == 2
    store = connect(store_path)
    texts = dict(zip(*store.read("posts", columns=["post_id", "text"]).to_pydict().values()))
    assert len(texts) == 30 and store.count("posts") == 30
    assert texts["p1"] == "p1 edited" and texts["p2"] == "p2 edited"  # the last-written version is kept
    again = subprocess.run([*CLI, "store", "check", "--store", str(store_path)], capture_output=True, text=True)
    assert again.returncode == 0, again.stdout


def test_a_second_writer_waits_for_the_lock_and_says_so(tmp_path, caplog):
    store_path = tmp_path / "locked.db"
    connect(store_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from socialfusion.store import connect
            store = connect({str(store_path)!r})
            with store.writer_lock():
                print("locked", flush=True)
                time.sleep(4)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    store = connect(store_path)
    started = time.monotonic()
    with caplog.at_level("WARNING"):
        store.write("notes", pa.table({"id": ["a"]}), mode="append")
    waited = time.monotonic() - started
    holder.wait()
    assert waited > 1.5, "the write should have waited for the other process's lock"
    assert "waiting for another writer" in caplog.text and f"pid {holder.pid}" in caplog.text
    assert store.count("notes") == 1


def test_a_lock_held_too_long_is_a_clear_error(tmp_path, monkeypatch):
    store_path = tmp_path / "busy.db"
    connect(store_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from socialfusion.store import connect
            with connect({str(store_path)!r}).writer_lock():
                print("locked", flush=True)
                time.sleep(8)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    store = connect(store_path)
    store.writer_lock.timeout = 2.5
    with pytest.raises(StoreError, match="is busy: another writer"):
        store.write("notes", pa.table({"id": ["a"]}), mode="append")
    holder.kill()
    holder.wait()


def test_a_full_disk_is_one_clear_error(tmp_path, monkeypatch):
    store = connect(tmp_path / "full.db")
    store.write("notes", pa.table({"id": ["a"]}), mode="append")

    def no_space(*args, **kwargs):
        raise RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), /x/y.rs:12")

    monkeypatch.setattr(store, "_write_locked", no_space)
    with pytest.raises(StoreError, match="no space left .* the store is unchanged") as raised:
        store.write("notes", pa.table({"id": ["b"]}), mode="append")
    assert "\n" not in str(raised.value)
    monkeypatch.undo()
    assert store.count("notes") == 1


def test_the_pseudonym_key_binds_every_table_and_survives_a_crash(tmp_path):
    store = connect(tmp_path / "users.db")
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": "alice", "handle": "alice_w"}\n{"user_id": "bob", "handle": "bob_b"}\n')

    ingest(users, store, table="users", pseudonymize_key="the first key of sixteen+")
    for other in ("the second key of sixteen+", None):
        with pytest.raises(ConfigurationError, match="different pseudonymisation"):
            ingest(users, store, table="users", pseudonymize_key=other)
    assert store.count("users") == 2

    # A run killed before it finished has still bound a new store to its key.
    crashed = connect(tmp_path / "crashed.db")
    Ingestor(crashed, pseudonymize_key="a first key, long enough")  # records the setting, then "dies" before writing
    ingest(users, crashed, table="users", pseudonymize_key="a first key, long enough")
    with pytest.raises(ConfigurationError, match="different pseudonymisation"):
        ingest(users, crashed, table="users", pseudonymize_key="a second key, long enough")


@pytest.mark.slow
def test_ingest_workers_die_with_a_killed_parent(tmp_path):
    path = write_posts(tmp_path / "big.jsonl", range(0, 60_000))
    script = textwrap.dedent(f"""
        import socialfusion.ingestion as module
        from socialfusion.store import connect
        module.PARALLEL_MIN_BYTES, module._CHUNK_BYTES = 1, 100_000
        module.ingest({str(path)!r}, connect({str(tmp_path / "killed.db")!r}), batch_size=500, workers=2,
                      progress=lambda n: print(n, flush=True))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    process = psutil.Process(parent.pid)
    deadline = time.monotonic() + 120
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = [child for child in process.children(recursive=True) if "resource_tracker" not in
                   " ".join(child.cmdline())]
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool's workers never started"
    descendants = process.children(recursive=True)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"processes outlived their killed parent: {[p.cmdline()[:3] for p in alive]}"


FEATURIZE_AT_THE_SIGNAL = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from socialfusion.featurize import featurize
    from socialfusion.store import connect
    store, folder = connect(sys.argv[1]), Path(sys.argv[2])
    (folder / f"ready-{sys.argv[3]}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    run = featurize(store, ["text/lexicon"]).runs[0]
    print(json.dumps({"encoded": run.encoded, "cached": run.cached}))
""")


@pytest.mark.slow
def test_three_featurize_runs_started_together_store_each_item_once(tmp_path):
    """Three processes featurize one store from the same instant: each plans before any has written, so each
    encodes every post and writes it in chunks of 2,048 while the others write theirs. Each post's features are
    stored once (a writer that finds rows another wrote since it planned upserts them), and a later run finds every
    post cached."""
    store_path = tmp_path / "store.db"
    ingest(write_posts(tmp_path / "posts.jsonl", range(6000)), connect(store_path))
    children = [subprocess.Popen([sys.executable, "-c", FEATURIZE_AT_THE_SIGNAL, str(store_path), str(tmp_path),
                                  str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for index in range(3)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    runs = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        runs.append(json.loads(out))

    assert sum(run["encoded"] for run in runs) > 6000, runs  # they raced: more than one encoded posts
    store = connect(store_path)
    items = store.read("features__text_lexicon", columns=["item_id"]).column("item_id").to_pylist()
    assert len(items) == len(set(items)) == 6000
    assert not any(check.surplus_rows for check in check_store(store))
    again = subprocess.run([sys.executable, "-c", FEATURIZE_AT_THE_SIGNAL, str(store_path), str(tmp_path), "3"],
                           capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(again.stdout) == {"encoded": 0, "cached": 6000}
