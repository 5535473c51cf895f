"""Dashboard sessions and jobs across the processes of one server: signed cookies every process recognises,
logouts and cancels seen by all of them, and ``socialfusion serve --workers 2`` end to end."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import socialfusion as sf  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402
from socialfusion.server.dashboard import Sessions  # noqa: E402
from socialfusion.server.dashboard._session import LOGOUTS_TABLE, SESSION_COOKIE  # noqa: E402
from socialfusion.server.jobs import pid_alive  # noqa: E402

from .conftest import Tokens  # noqa: E402
from .test_dashboard_security import _secret, log_in  # noqa: E402
from .test_server import _free_port, _is_zombie, _wait, _worker_pid  # noqa: E402

API = "/api/v1"
KEY = b"k" * 32


def test_a_cookie_is_recognised_by_every_process_with_the_key_and_by_no_other() -> None:
    first, second, stranger = Sessions(KEY), Sessions(KEY), Sessions(b"x" * 32)
    cookie, session = first.create("0123456789abcdef")
    seen = second.parse(cookie)
    assert seen == session and seen.csrf == session.csrf and seen.token_id == "0123456789abcdef"
    assert stranger.parse(cookie) is None
    session_id, token_id, created, last_seen, signature = cookie.split(".")
    for altered in (
        f"{session_id}.fedcba9876543210.{created}.{last_seen}.{signature}",  # another token
        f"{session_id}.{token_id}.{created}.{int(last_seen) + 10**9}.{signature}",  # kept alive by hand
        f"{session_id}x.{token_id}.{created}.{last_seen}.{signature}",
        cookie + ".",
        "",
        "garbage",
    ):
        assert second.parse(altered) is None, altered
    with pytest.raises(ValueError, match="32 bytes"):
        Sessions(b"short")


def test_sessions_expire_when_idle_or_old_and_a_used_one_gets_a_fresh_cookie() -> None:
    idle = Sessions(KEY, idle_seconds=0.05)
    cookie, _ = idle.create("0123456789abcdef")
    time.sleep(0.1)
    assert idle.parse(cookie) is None
    old = Sessions(KEY, max_seconds=0.05, touch_seconds=0.0)
    cookie, session = old.create("0123456789abcdef")
    time.sleep(0.1)
    assert old.parse(old.touched(session)) is None  # used all along, but logged in too long ago

    touching = Sessions(KEY, idle_seconds=0.3, touch_seconds=0.1)
    cookie, session = touching.create("0123456789abcdef")
    assert touching.touched(session) is None  # fresh enough
    time.sleep(0.2)
    fresh = touching.touched(touching.parse(cookie))
    assert fresh is not None and fresh != cookie
    time.sleep(0.2)  # the first cookie is now idle for 0.4 s; the fresh one for 0.2 s
    assert touching.parse(cookie) is None
    renewed = touching.parse(fresh)
    assert renewed is not None and renewed.session_id == session.session_id and renewed.csrf == session.csrf


def test_a_logout_in_one_process_is_refused_by_the_others(tmp_path: Path) -> None:
    path = tmp_path / "store"
    first, second = Sessions(KEY, recheck_seconds=0.0), Sessions(KEY, recheck_seconds=0.0)
    first.attach(sf.connect(path))
    second.attach(sf.connect(path))
    _, leaving = first.create("0123456789abcdef")
    _, staying = first.create("0123456789abcdef")
    first.end(leaving)
    assert first.is_ended(leaving)
    assert second.logouts_stale()
    second.read_logouts()
    assert second.is_ended(leaving) and not second.is_ended(staying)
    # a logout is kept only while its cookie could still be valid
    short = Sessions(KEY, max_seconds=0.0)
    short.attach(sf.connect(path))
    _, expired = short.create("0123456789abcdef")
    short.end(expired)  # already past its lifetime: pruned by the next logout
    first.end(staying)
    kept = set(sf.connect(path).read(LOGOUTS_TABLE).column("session_digest").to_pylist())
    assert kept == {Sessions._digest(leaving.session_id), Sessions._digest(staying.session_id)}


def test_two_processes_with_one_key_share_dashboard_sessions(store_path: Path, tokens: Tokens) -> None:
    key = "s" * 40
    with (
        TestClient(create_app(Settings(store=store_path, job_workers=0, session_key=key))) as one,
        TestClient(create_app(Settings(store=store_path, job_workers=0, session_key=key))) as other,
        TestClient(create_app(Settings(store=store_path, job_workers=0))) as keyless,
    ):
        csrf = log_in(one, _secret(tokens.write))
        cookie = one.cookies.get(SESSION_COOKIE)
        for client in (other, keyless):
            client.cookies.set(SESSION_COOKIE, cookie)
        assert other.get(f"{API}/stats").status_code == 200
        assert other.get("/", follow_redirects=False).status_code == 200
        job = other.post(f"{API}/jobs", json={"kind": "featurize"}, headers={"X-CSRF-Token": csrf})
        assert job.status_code == 202, job.text
        assert keyless.get(f"{API}/stats").status_code == 401  # another key: a cookie it cannot have made
        assert other.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        time.sleep(1.1)  # each process looks at the store's logouts once a second
        assert one.get(f"{API}/stats").status_code == 401
        assert one.get("/", follow_redirects=False).status_code == 303


def test_a_job_cancelled_through_another_process_stops(store_path: Path, tokens: Tokens) -> None:
    store = sf.connect(store_path)
    with (
        TestClient(create_app(Settings(store=store_path, job_workers=1))) as running,
        TestClient(create_app(Settings(store=store_path, job_workers=0))) as other,
    ):
        job = running.post(f"{API}/jobs", json={"kind": "analyze"}, headers=tokens.write).json()
        worker = _wait(lambda: _worker_pid(store, job["job_id"]), 60, "the job's worker to start")
        cancelled = other.post(f"{API}/jobs/{job['job_id']}/cancel", headers=tokens.write)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        _wait(lambda: not pid_alive(worker) or _is_zombie(worker), 30, "the worker to stop")
        assert running.get(f"{API}/jobs/{job['job_id']}", headers=tokens.read).json()["state"] == "cancelled"


def test_serve_with_two_workers(store_path: Path, tokens: Tokens, tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    command = [sys.executable, "-c", "from socialfusion.cli import main; main()", "serve", "--store", str(store_path),
               "--port", str(port), "--workers", "2", "--job-workers", "0"]
    log = tmp_path / "server.log"
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    base = f"http://127.0.0.1:{port}"
    store = sf.connect(store_path)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, 120, f"the server to start: {server.poll()=}, {log.read_text()[-2000:]}")
        _wait(lambda: log.read_text().count("Application startup complete") == 2, 120, "both workers to start")
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/ui/login")
            nonce = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            assert browser.post("/ui/login", data={"token": _secret(tokens.write), "csrf": nonce}).status_code == 303
            cookie = browser.cookies.get(SESSION_COOKIE)
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/").text).group(1)
        # every request on a new connection, so the kernel hands them to either process
        owners: set[int] = set()
        for _ in range(200):
            answer = httpx.post(f"{base}{API}/jobs", json={"kind": "featurize"}, cookies={SESSION_COOKIE: cookie},
                                headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 202, answer.text
            row = store.read("jobs", where=f"job_id = '{answer.json()['job_id']}'", columns=["owner_pid"])
            owners.add(row.column("owner_pid")[0].as_py())
            if len(owners) == 2:
                break
        assert len(owners) == 2, "one process answered every request"
        assert all(pid_alive(pid) for pid in owners) and server.pid not in owners
    finally:
        server.terminate()
        server.wait(30)
