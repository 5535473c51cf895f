"""Background jobs: each runs in its own worker process (multiprocessing, spawn), never in a request.

A ``JobRunner`` thread, alive as long as the server, starts queued jobs up to ``job_workers`` at a time, watches
their processes and cancels them on request. A worker process dies with the server even when the server is killed
(``socialfusion._background.die_with_parent``); a restarted server finds its predecessor's jobs still marked running
and marks them interrupted (``socialfusion.app.interrupt_orphans``), ready to be run again. A server with several
processes has a runner in each: a job runs in the process that queued it, and a cancel that reaches another process
is seen in the jobs table within ``CANCEL_CHECK_SECONDS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

from socialfusion.app import (
    ACTIVE_STATES,
    JOBS_TABLE,
    JobReporter,
    execute_job,
    get_job,
    update_job,
)
from socialfusion.store import Store, connect, sql_string

__all__ = ["JobRunner", "pid_alive", "run_worker"]

logger = logging.getLogger(__name__)

_TERMINATE_GRACE_SECONDS = 5.0
CANCEL_CHECK_SECONDS = 1.0
"""How often a runner looks whether a job it runs was cancelled through another process of the server."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_worker(store_uri: str, job_id: str, workspace: str, parent_pid: int) -> None:
    """The body of a worker process: run one job and record its result or error (never a traceback)."""
    from socialfusion._background import die_with_parent
    from socialfusion.exceptions import SocialFusionError

    die_with_parent(parent_pid)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s [job " + job_id + "]: %(message)s")
    store = connect(store_uri)
    job = get_job(store, job_id)
    try:
        result = execute_job(store, job, workspace=Path(workspace), progress=JobReporter(store, job_id))
    except SocialFusionError as error:
        update_job(store, job_id, only_if=("running",), state="failed", error=str(error), finished_at=_now())
        return
    except Exception as error:  # a fault: the job fails with its message, the traceback goes to the log
        logger.exception("job %s failed", job_id)
        update_job(store, job_id, only_if=("running",), state="failed", finished_at=_now(),
                   error=f"internal error ({type(error).__name__}: {error}); the server's log has the details")
        raise SystemExit(1) from None
    update_job(store, job_id, only_if=("running",), state="done", result=result, progress=1.0, message="done",
               finished_at=_now())


class JobRunner:
    """Starts queued jobs in worker processes and watches them; one per server.

    Args:
        store: the store (its ``jobs`` table).
        workspace: the folder of uploads and reports.
        owner: this server's id; it runs the queued jobs it owns.
        workers: jobs run at once (0: none is started).
        poll_seconds: how often the runner looks for queued jobs and finished workers.
    """

    def __init__(self, store: Store, workspace: Path, owner: str, workers: int = 1, poll_seconds: float = 0.2):
        self.store = store
        self.workspace = workspace
        self.owner = owner
        self.owner_pid = os.getpid()
        self.workers = workers
        self.poll_seconds = poll_seconds
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = multiprocessing.get_context("spawn")
        self._cancel_checked = float("-inf")

    def start(self) -> None:
        """Start the runner thread (the parent of every worker, so that they die with this server)."""
        self._thread = threading.Thread(target=self._loop, name="socialfusion-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for queued jobs now."""
        self._wake.set()

    def running(self) -> list[str]:
        """Ids of the jobs whose workers are alive."""
        with self._lock:
            return list(self._processes)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job: its worker is terminated. Returns False when it was not active."""
        with self._lock:
            process = self._processes.get(job_id)
            self._cancelled.add(job_id)
        if process is not None:
            self._terminate(process)
        job = update_job(self.store, job_id, only_if=ACTIVE_STATES, state="cancelled", finished_at=_now(),
                         message="cancelled")
        return job is not None

    def stop(self) -> None:
        """Stop the runner; jobs still running are terminated and marked interrupted (they can be run again)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            processes = dict(self._processes)
            self._processes.clear()
        for job_id, process in processes.items():
            self._terminate(process)
            with contextlib.suppress(Exception):
                update_job(self.store, job_id, only_if=ACTIVE_STATES, state="interrupted", finished_at=_now(),
                           error="the server stopped before this job finished; run it again")

    # -- the runner thread ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._stop_cancelled_elsewhere()
                self._start_queued()
            except Exception:  # the runner must outlive any one failure (a busy store, a full disk)
                logger.exception("the job runner failed a round; trying again")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _reap(self) -> None:
        with self._lock:
            finished = {job_id: process for job_id, process in self._processes.items() if not process.is_alive()}
            for job_id in finished:
                del self._processes[job_id]
        for job_id, process in finished.items():
            process.join(timeout=1)
            if job_id in self._cancelled:
                continue
            update_job(self.store, job_id, only_if=("running",), state="failed", finished_at=_now(),
                       error=f"the worker process ended unexpectedly (exit code {process.exitcode})")

    def _stop_cancelled_elsewhere(self) -> None:
        """Terminate the workers of jobs cancelled through another process of the server (looked at most every
        ``CANCEL_CHECK_SECONDS`` while jobs run)."""
        now = time.monotonic()
        with self._lock:
            running = [job_id for job_id in self._processes if job_id not in self._cancelled]
        if not running or now - self._cancel_checked < CANCEL_CHECK_SECONDS:
            return
        self._cancel_checked = now
        listed = ", ".join(sql_string(job_id) for job_id in running)
        cancelled = self.store.read(JOBS_TABLE, where=f"state = 'cancelled' AND job_id IN ({listed})",
                                    columns=["job_id"]).column("job_id").to_pylist()
        for job_id in cancelled:
            with self._lock:
                process = self._processes.get(job_id)
                self._cancelled.add(job_id)
            if process is not None:
                self._terminate(process)

    def _start_queued(self) -> None:
        if self.workers <= len(self._processes) or JOBS_TABLE not in self.store.tables():
            return
        queued = self.store.read(JOBS_TABLE, where="state = 'queued'", columns=["job_id", "owner", "created_at"])
        rows = sorted((row for row in queued.to_pylist() if row["owner"] == self.owner),
                      key=lambda row: (row["created_at"], row["job_id"]))
        for row in rows[: self.workers - len(self._processes)]:
            job_id = row["job_id"]
            job = get_job(self.store, job_id)
            started = update_job(self.store, job_id, only_if=("queued",), state="running", started_at=_now(),
                                 attempts=job.attempts + 1, message="starting", progress=None)
            if started is None:  # cancelled meanwhile
                continue
            process = self._context.Process(target=run_worker, name=f"socialfusion-job-{job_id}",
                                            args=(self.store.uri, job_id, str(self.workspace), os.getpid()))
            process.start()
            with self._lock:
                self._processes[job_id] = process
                self._cancelled.discard(job_id)
            update_job(self.store, job_id, only_if=("running",), worker_pid=process.pid)

    @staticmethod
    def _terminate(process: multiprocessing.process.BaseProcess) -> None:
        process.terminate()
        process.join(_TERMINATE_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(1)
