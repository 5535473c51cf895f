"""The README's command-line tour runs as written: every command, in order, against a small demo, exits 0."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialfusion.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
DEMO_USERS, DEMO_POSTS = 60, 300  # the tour names users up to u0042; small enough for a few minutes in all


def tour_commands() -> list[str]:
    """The lines of the tour's ```bash block, comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A five-minute tour"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the tour has no ```bash block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def smaller_demo(command: str) -> str:
    """The tour's demo command at the test's size (the same seed, so the same ids)."""
    command = re.sub(r"--users \d+", f"--users {DEMO_USERS}", command)
    return re.sub(r"--posts \d+", f"--posts {DEMO_POSTS}", command)


def run(command: str, folder: Path) -> tuple[int, str]:
    """Run one tour line in ``folder``: socialfusion commands through the CLI in this process, shell lines in bash."""
    words = shlex.split(command, comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if words and words[0] == "socialfusion":
        result = CliRunner().invoke(app, words[1:], env=env)
        output = result.output + (f"\n{result.exception!r}" if result.exception and result.exit_code != 0 else "")
        return result.exit_code, output
    done = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def test_the_tour_is_one_bash_block_that_starts_with_the_demo():
    commands = tour_commands()

    assert commands[0].startswith("socialfusion demo --out demo-output")
    assert len(commands) > 40
    assert not [command for command in commands if "u17" in command or "Greta" in command]


@pytest.mark.slow
def test_every_tour_command_runs_as_written(tmp_path, monkeypatch, shared_data):
    # shared_data: the tour loads two shared datasets; without ../shared/data the test says it is skipped, and why
    monkeypatch.chdir(tmp_path)  # the tour's relative paths (demo-output/, my.db, exports/) land here
    monkeypatch.setenv("SOCIALFUSION_DATA", str(shared_data))
    failures, timings = [], []
    for command in tour_commands():
        line = smaller_demo(command) if command.startswith("socialfusion demo") else command
        started = time.perf_counter()
        code, output = run(line, tmp_path)
        timings.append((time.perf_counter() - started, line))
        if code != 0:
            failures.append(f"$ {line}\nexit {code}\n{output[-1500:]}")
        if line.startswith("socialfusion demo") and code != 0:
            break  # nothing else can run without the demo's store
    slowest = "\n".join(f"{seconds:6.1f}s  {line}" for seconds, line in sorted(timings, reverse=True)[:8])
    print(f"slowest tour commands:\n{slowest}")  # shown with -s, and on failure
    assert not failures, "\n\n".join(failures) + f"\n\nslowest commands:\n{slowest}"
