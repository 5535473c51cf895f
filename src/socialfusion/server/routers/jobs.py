"""``/api/v1/jobs``: start a background job, follow it (state, progress, server-sent events), cancel, run again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from socialfusion import app
from socialfusion.exceptions import StoreError
from socialfusion.server.deps import ReadToken, SettingsDep, StoreDep, WriteToken, check_page_size, get_runner
from socialfusion.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=ERROR_RESPONSES)

JobId = Annotated[str, Path(min_length=1, max_length=64, description="The job's id.")]
Runner = Annotated[Any, Depends(get_runner)]
_KEEP_ALIVE_SECONDS = 15.0


@router.post("", response_model=app.Job, status_code=202, summary="Start a job")
def create_job(request: Annotated[app.JobRequest, Body()], store: StoreDep, settings: SettingsDep,
               runner: Runner, _token: WriteToken) -> app.Job:
    """Queue a job (ingest of an upload, featurize, train sentiment, fit topics, analyze) and answer at once; a
    worker process runs it."""
    job = app.create_job(store, request, owner=runner.owner, owner_pid=runner.owner_pid,
                         workspace=settings.workspace_folder())
    runner.wake()
    return job


@router.get("", response_model=list[app.Job], summary="List jobs")
def list_jobs(params: Annotated[app.JobListParams, Query()], store: StoreDep, settings: SettingsDep,
              _token: ReadToken) -> list[app.Job]:
    """Jobs, newest first."""
    check_page_size(settings, params)
    return app.list_jobs(store, params)


@router.get("/{job_id}", response_model=app.Job, summary="A job's state and progress")
def get_job(job_id: JobId, store: StoreDep, _token: ReadToken) -> app.Job:
    """The job as its worker last reported it."""
    return app.get_job(store, job_id)


@router.post("/{job_id}/cancel", response_model=app.Job, summary="Cancel a job")
def cancel_job(job_id: JobId, store: StoreDep, runner: Runner, _token: WriteToken) -> app.Job:
    """Stop a queued or running job (its worker is terminated); 409 when it has already finished."""
    job = app.get_job(store, job_id)
    if not runner.cancel(job_id):
        raise StoreError(f"job {job_id!r} is {app.get_job(store, job_id).state}: only a queued or running "
                                 "job can be cancelled")
    return app.get_job(store, job.job_id)


@router.post("/{job_id}/rerun", response_model=app.Job, status_code=202, summary="Run a job again")
def rerun_job(job_id: JobId, store: StoreDep, runner: Runner, _token: WriteToken) -> app.Job:
    """Queue an interrupted, failed or cancelled job again (its operation is idempotent)."""
    job = app.rerun_job(store, job_id, owner=runner.owner, owner_pid=runner.owner_pid)
    runner.wake()
    return job


@router.get("/{job_id}/events", summary="Follow a job (server-sent events)",
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "'progress' events with the job as JSON while it runs, then one event "
                                            "named after its final state (done, failed, cancelled, interrupted)."}})
async def job_events(job_id: JobId, request: Request, store: StoreDep, settings: SettingsDep,
                     _token: ReadToken) -> StreamingResponse:
    """Server-sent events: the job each time it changes, until it finishes."""
    first = await run_in_threadpool(app.get_job, store, job_id)

    async def events() -> AsyncIterator[str]:
        job, last, quiet = first, None, 0.0
        while True:
            payload = job.model_dump_json()
            if job.state in app.FINAL_STATES:
                yield f"event: {job.state}\ndata: {payload}\n\n"
                return
            if payload != last:
                yield f"event: progress\ndata: {payload}\n\n"
                last, quiet = payload, 0.0
            elif quiet >= _KEEP_ALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(settings.event_poll_seconds)
            quiet += settings.event_poll_seconds
            job = await run_in_threadpool(app.get_job, store, job_id)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
