"""Tests for socialfusion._background: a call run in a fresh interpreter beside the caller."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from socialfusion import _background
from socialfusion._background import BACKGROUND_NICENESS, prepare_beside, run_beside, run_beside_at
from socialfusion.exceptions import DataError

# the calls a child runs must be importable by module and name: this module is written to a folder on sys.path
# (which the child inherits); pytest imports test files under names no other process can import
CALLS = """
import os

from socialfusion.exceptions import DataError


def pid_and_sum(values: list[int], *, offset: int = 0) -> tuple[int, int]:
    return os.getpid(), sum(values) + offset


def raise_data_error(message: str) -> None:
    raise DataError(message)


def kill_myself() -> None:
    os.kill(os.getpid(), 9)


def nested_pid():
    from socialfusion._background import run_beside

    return run_beside(pid_and_sum, [0]).result()


def niceness_and_role() -> tuple[int, bool]:
    from socialfusion._background import in_background_process

    return os.nice(0), in_background_process()


def sum_or_die(values: list[int], parent_pid: int) -> int:
    if os.getpid() != parent_pid:  # the background process dies without an answer; the caller runs it itself
        os.kill(os.getpid(), 9)
    return sum(values)


PREPARED = os.path.join(os.path.dirname(__file__), "prepared.txt")


def prepare() -> None:  # what a prepared child does before its call: here, leave a mark
    with open(PREPARED, "w") as mark:
        mark.write(str(os.getpid()))


def fail_to_prepare() -> None:
    raise RuntimeError("no head start")


def read_text(path: str) -> tuple[int, str]:
    with open(path) as file:
        return os.getpid(), file.read()
"""


@pytest.fixture
def calls(tmp_path, monkeypatch):
    (tmp_path / "beside_calls.py").write_text(CALLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "beside_calls", raising=False)
    import importlib

    module = importlib.import_module("beside_calls")
    monkeypatch.setitem(sys.modules, "beside_calls", module)  # removed again after the test
    return module


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr(_background, "usable_cpus", lambda: 2)


def test_the_call_runs_in_another_process_with_its_arguments(two_cpus, calls):
    pid, total = run_beside(calls.pid_and_sum, [1, 2, 3], offset=10).result()
    assert total == 16
    assert pid != os.getpid()


def test_the_calls_exception_is_raised_in_the_caller_with_its_type(two_cpus, calls):
    call = run_beside(calls.raise_data_error, "too few posts")
    with pytest.raises(DataError, match="too few posts"):
        call.result()


def test_a_child_that_dies_without_an_answer_is_logged_and_the_call_runs_here(two_cpus, calls, caplog):
    call = run_beside(calls.sum_or_die, [4, 5], os.getpid())
    with caplog.at_level(logging.WARNING, logger="socialfusion._background"):
        assert call.result() == 9
    assert "no answer" in caplog.text


def test_one_cpu_or_one_thread_asked_for_runs_the_call_here(monkeypatch, calls):
    monkeypatch.setattr(_background, "usable_cpus", lambda: 1)
    assert run_beside(calls.pid_and_sum, [1]).result() == (os.getpid(), 1)
    from socialfusion._threads import usable_cpus

    monkeypatch.setattr(_background, "usable_cpus", usable_cpus)  # the real one, which reads the variable
    monkeypatch.setenv("SOCIALFUSION_NUM_THREADS", "1")
    assert run_beside(calls.pid_and_sum, [2]).result() == (os.getpid(), 2)


def test_the_child_uses_one_thread_and_its_own_calls_run_inline(two_cpus, calls):
    from socialfusion._threads import usable_cpus

    assert run_beside(usable_cpus).result() == 1
    pid, _ = run_beside(calls.nested_pid).result()  # the child's own run_beside ran in the child
    assert pid != os.getpid()


def test_a_child_yields_the_cpu_at_its_niceness_and_knows_it_runs_beside(two_cpus, calls):
    assert run_beside_at(19, calls.niceness_and_role).result() == (19, True)
    if os.nice(0) <= BACKGROUND_NICENESS:  # a child cannot be less nice than its parent (unless run by root)
        assert run_beside(calls.niceness_and_role).result() == (BACKGROUND_NICENESS, True)
    assert not _background.in_background_process()


def test_cancel_stops_the_child_and_removes_its_files(two_cpus, calls):
    call = run_beside(calls.kill_myself)
    folder = call._folder
    call.cancel()
    assert call._process.poll() is not None
    assert not folder.exists()


def wait_for(path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_prepared_child_prepares_at_once_and_runs_its_call_only_after_go(two_cpus, calls, tmp_path):
    inputs = tmp_path / "inputs.txt"
    call = prepare_beside(0, calls.prepare, calls.read_text, str(inputs))
    prepared = Path(calls.PREPARED)
    wait_for(prepared)  # prepare() ran before go(); the call's input does not exist yet
    time.sleep(0.3)
    assert call._process.poll() is None  # and the child waits for go() instead of running the call on
    inputs.write_text("made after the child started")
    call.go()
    pid, text = call.result()
    assert text == "made after the child started"
    assert pid == int(prepared.read_text()) != os.getpid()


def test_a_prepared_call_goes_when_its_result_is_asked_for_even_if_preparing_failed(two_cpus, calls, tmp_path):
    (tmp_path / "inputs.txt").write_text("ready")
    pid, text = prepare_beside(0, calls.fail_to_prepare, calls.read_text, str(tmp_path / "inputs.txt")).result()
    assert text == "ready" and pid != os.getpid()


def test_a_prepared_call_cancelled_before_go_never_runs(two_cpus, calls, tmp_path):
    call = prepare_beside(0, calls.prepare, calls.pid_and_sum, [1])
    wait_for(Path(calls.PREPARED))
    folder = call._folder
    call.cancel()
    assert call._process.poll() is not None and not folder.exists()


def test_one_cpu_runs_a_prepared_call_here_without_preparing(monkeypatch, calls):
    monkeypatch.setattr(_background, "usable_cpus", lambda: 1)
    call = prepare_beside(0, calls.prepare, calls.pid_and_sum, [3])
    call.go()
    assert call.result() == (os.getpid(), 3)
    assert not Path(calls.PREPARED).exists()


def test_a_script_without_a_main_guard_is_not_run_again_by_the_child(tmp_path):
    # multiprocessing's spawn would import this script in the child and run its top level a second time
    marker = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from socialfusion import _background
        _background.usable_cpus = lambda: 2
        with open({str(marker)!r}, "a") as runs:
            runs.write("run\\n")
        print(_background.run_beside(os.getpid).result() != os.getpid())
    """))
    environment = {key: value for key, value in os.environ.items() if key != "SOCIALFUSION_NUM_THREADS"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert marker.read_text().count("run") == 1
