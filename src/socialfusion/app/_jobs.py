"""Background jobs as store rows: create, read, update, cancel, re-run, mark the orphans of a dead server, and run
one (``execute_job``, called in a worker process by ``socialfusion.server``).

The ``jobs`` table lives in the store and is written through ``Store.write`` under ``store.writer_lock()`` (every
update reads the row, merges and writes it back), so the server, its workers and a restarted server agree on every
job. Every operation a job runs is idempotent (ingest upserts by key, featurize skips cached items, models and
reports are replaced), so an interrupted job can simply be run again.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import pyarrow as pa
from pydantic import Field, TypeAdapter

from socialfusion.app._common import K, Params, Result
from socialfusion.app._corpus import (
    AnalyzeParams,
    FeaturizeParams,
    IngestParams,
    analyze_store,
    featurize_store,
    ingest_files,
)
from socialfusion.app._knowledge import GraphFileParams, write_knowledge_graph
from socialfusion.app._models import FitTopicsParams, TrainSentimentParams, fit_topics, train_sentiment
from socialfusion.app._network import NextAdoptersFitParams, fit_next_adopters, next_adopter_model_path
from socialfusion.app._profiles import BuildProfilesParams, EngagementParams, build_user_profiles, predict_engagement
from socialfusion.app._recommend import FitRecommenderParams, fit_recommender
from socialfusion.corpus import Corpus
from socialfusion.exceptions import NotFoundError, StoreError
from socialfusion.store import Store, sql_string

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JOBS_TABLE",
    "JOB_STATES",
    "AnalyzeJob",
    "BuildProfilesJob",
    "FeaturizeJob",
    "FitRecommenderJob",
    "FitTopicsJob",
    "IngestJob",
    "IngestUploadParams",
    "Job",
    "JobListParams",
    "JobReporter",
    "JobRequest",
    "KnowledgeGraphJob",
    "MonitorJob",
    "MonitorJobParams",
    "TrainSentimentJob",
    "create_job",
    "execute_job",
    "get_job",
    "interrupt_orphans",
    "list_jobs",
    "rerun_job",
    "set_monitor_config",
    "update_job",
    "upload_path",
]

JOBS_TABLE = "jobs"
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
_UPLOAD_ID = r"^[0-9a-f]{32}$"
_SCHEMA = pa.schema([
    ("job_id", pa.string()), ("kind", pa.string()), ("params", pa.string()), ("state", pa.string()),
    ("progress", pa.float64()), ("message", pa.string()), ("result", pa.string()), ("error", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")), ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")), ("attempts", pa.int64()), ("owner", pa.string()),
    ("owner_pid", pa.int64()), ("worker_pid", pa.int64()),
])
_JSON_COLUMNS = ("params", "result")


class IngestUploadParams(Params):
    """Ingest a file uploaded earlier (``POST /api/v1/uploads``)."""

    upload_id: str = Field(pattern=_UPLOAD_ID, description="The id the upload answered with.")
    format: Literal["auto", "jsonl", "csv", "parquet", "twitter", "mastodon", "reddit", "bluesky"] = "auto"
    table: Literal["posts", "users", "interactions", "edges", "labels"] = "posts"


class IngestJob(Params):
    """Ingest an uploaded file."""

    kind: Literal["ingest"]
    params: IngestUploadParams


class FeaturizeJob(Params):
    """Encode the store's posts and users."""

    kind: Literal["featurize"]
    params: FeaturizeParams = FeaturizeParams()


class TrainSentimentJob(Params):
    """Train the store's sentiment model (and predict every post)."""

    kind: Literal["train_sentiment"]
    params: TrainSentimentParams = TrainSentimentParams()


class FitTopicsJob(Params):
    """Fit the store's topic model."""

    kind: Literal["fit_topics"]
    params: FitTopicsParams = FitTopicsParams()


class AnalyzeJob(Params):
    """Write the HTML report of the store."""

    kind: Literal["analyze"]
    params: AnalyzeParams = AnalyzeParams()


class KnowledgeGraphJob(Params):
    """Build the store's knowledge graph and write it as GraphML (in the server's workspace)."""

    kind: Literal["build_knowledge_graph"]
    params: GraphFileParams = GraphFileParams()


class BuildProfilesJob(Params):
    """Build one profile per user into the store's ``user_profiles`` table."""

    kind: Literal["build_profiles"]
    params: BuildProfilesParams = BuildProfilesParams()


class FitRecommenderJob(Params):
    """Fit the store's recommender (saved in the store's folder, where recommendations find it)."""

    kind: Literal["fit_recommender"]
    params: FitRecommenderParams = FitRecommenderParams()


class FitNextAdoptersJob(Params):
    """Fit the store's next-adopter model on its reshare cascades (saved in the store's folder, where
    ``/network/next-adopters`` finds it)."""

    kind: Literal["fit_next_adopters"]
    params: NextAdoptersFitParams = NextAdoptersFitParams()


class PredictEngagementJob(Params):
    """Score the later days' (user, post) pairs with an engagement model trained on the earlier days, into
    ``engagement_predictions``."""

    kind: Literal["predict_engagement"]
    params: EngagementParams = EngagementParams()


class MonitorJobParams(Params):
    """How many monitor cycles to run (each one ``interval_seconds`` after the last, as the configuration says)."""

    cycles: int = Field(1, ge=1, le=1000, description="Cycles to run; cancel the job to stop earlier.")


class MonitorJob(Params):
    """Run ``socialfusion monitor`` cycles with the configuration the server was started with
    (``socialfusion serve --monitor-config FILE``; a request never chooses it)."""

    kind: Literal["monitor"]
    params: MonitorJobParams = MonitorJobParams()


JobRequest = Annotated[IngestJob | FeaturizeJob | TrainSentimentJob | FitTopicsJob | AnalyzeJob | KnowledgeGraphJob
                       | BuildProfilesJob | FitRecommenderJob | FitNextAdoptersJob | PredictEngagementJob
                       | MonitorJob, Field(discriminator="kind")]
"""A job to start: its kind and that kind's parameters."""

_REQUEST = TypeAdapter(JobRequest)


class Job(Result):
    """A job: what it runs, its state and progress, and its result or error."""

    job_id: str
    kind: str
    params: dict[str, Any]
    state: Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
    progress: float | None = Field(None, description="Fraction done, when known.")
    message: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0


class JobListParams(Params):
    """Which jobs to list."""

    state: Literal["queued", "running", "done", "failed", "cancelled", "interrupted"] | None = None
    limit: K = 50


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _to_row(record: dict[str, Any]) -> pa.Table:
    row = {name: record.get(name) for name in _SCHEMA.names}
    for name in _JSON_COLUMNS:
        if row[name] is not None and not isinstance(row[name], str):
            row[name] = orjson.dumps(row[name], default=str).decode()
    return pa.Table.from_pylist([row], schema=_SCHEMA)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON_COLUMNS:
        if row.get(name) is not None:
            row[name] = orjson.loads(row[name])
    return row


def _job(row: dict[str, Any]) -> Job:
    return Job(**{name: row[name] for name in Job.model_fields if name in row})


def _read(store: Store, job_id: str) -> dict[str, Any]:
    rows = store.read(JOBS_TABLE, where=f"job_id = {sql_string(job_id)}").to_pylist() \
        if JOBS_TABLE in store.tables() else []
    if not rows:
        raise NotFoundError(f"no job {job_id!r} in {store.uri!r}", field="job_id")
    return _record(rows[0])


def create_job(store: Store, request: IngestJob | FeaturizeJob | TrainSentimentJob | FitTopicsJob | AnalyzeJob, *,
               owner: str, owner_pid: int, workspace: Path | None = None) -> Job:
    """Record a new queued job (a worker runs it later).

    Args:
        store: the store.
        request: the kind and its parameters.
        owner: the id of the server instance that will run it.
        owner_pid: that server's process id (to tell, after a crash, whether it is still alive).
        workspace: the server's folder of uploads; an ingest job's upload must be there.

    Raises:
        NotFoundError: an ingest job names an upload that does not exist.
    """
    if isinstance(request, IngestJob) and workspace is not None:
        upload_path(workspace, request.params.upload_id)
    record = {"job_id": secrets.token_hex(8), "kind": request.kind, "params": request.params.model_dump(mode="json"),
              "state": "queued", "created_at": _now(), "attempts": 0, "owner": owner, "owner_pid": owner_pid}
    store.write(JOBS_TABLE, _to_row(record), mode="upsert", key="job_id")
    return _job(record)


def get_job(store: Store, job_id: str) -> Job:
    """A job by id.

    Raises:
        NotFoundError: no job has this id.
    """
    return _job(_read(store, job_id))


def list_jobs(store: Store, params: JobListParams) -> list[Job]:
    """Jobs, newest first."""
    if JOBS_TABLE not in store.tables():
        return []
    where = None if params.state is None else f"state = {sql_string(params.state)}"
    rows = store.read(JOBS_TABLE, where=where).to_pylist()
    rows.sort(key=lambda row: (row["created_at"], row["job_id"]), reverse=True)
    return [_job(_record(row)) for row in rows[: params.limit]]


def update_job(store: Store, job_id: str, *, only_if: tuple[str, ...] | None = None, **changes: Any) -> Job | None:
    """Merge ``changes`` into a job's row (read, merge and write under the writer lock).

    Args:
        store: the store.
        job_id: the job.
        only_if: change the job only while its state is one of these; None: always.
        **changes: columns and their new values.

    Returns:
        The job as written, or None when ``only_if`` did not hold (nothing was written).

    Raises:
        NotFoundError: no job has this id.
    """
    with store.writer_lock():
        record = _read(store, job_id)
        if only_if is not None and record["state"] not in only_if:
            return None
        record.update(changes)
        store.write(JOBS_TABLE, _to_row(record), mode="upsert", key="job_id")
    return _job(record)


def rerun_job(store: Store, job_id: str, *, owner: str, owner_pid: int) -> Job:
    """Queue a finished job again (interrupted, failed or cancelled); its operation is idempotent.

    Raises:
        NotFoundError: no job has this id.
        StoreError: the job is queued, running or done.
    """
    job = update_job(store, job_id, only_if=("interrupted", "failed", "cancelled"), state="queued", progress=None,
                     message=None, result=None, error=None, started_at=None, finished_at=None, owner=owner,
                     owner_pid=owner_pid, worker_pid=None)
    if job is None:
        raise StoreError(f"job {job_id!r} is {get_job(store, job_id).state}: only an interrupted, failed or "
                                 "cancelled job can be run again")
    return job


def interrupt_orphans(store: Store, owner: str, alive: Callable[[int], bool]) -> list[str]:
    """Mark as interrupted the queued and running jobs of servers that are gone (another owner whose process is
    not alive): a server killed mid-job leaves its jobs so.

    Args:
        store: the store.
        owner: this server's id (its own jobs are left alone).
        alive: whether a process id is alive.

    Returns:
        The ids of the jobs marked.
    """
    if JOBS_TABLE not in store.tables():
        return []
    marked = []
    rows = store.read(JOBS_TABLE, where="state IN ('queued', 'running')").to_pylist()
    for row in rows:
        if row["owner"] == owner or (row["owner_pid"] is not None and alive(row["owner_pid"])):
            continue
        job = update_job(store, row["job_id"], only_if=ACTIVE_STATES, state="interrupted", finished_at=_now(),
                         error="the server running this job stopped before it finished; run it again "
                               f"(POST /api/v1/jobs/{row['job_id']}/rerun)")
        if job is not None:
            marked.append(row["job_id"])
    return marked


def upload_path(workspace: Path, upload_id: str) -> Path:
    """The file of an upload in a server's workspace.

    Raises:
        NotFoundError: no such upload.
    """
    if not re.match(_UPLOAD_ID, upload_id):
        raise NotFoundError(f"no upload {upload_id!r}", field="upload_id")
    folder = workspace / "uploads" / upload_id
    files = [path for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []
    if len(files) != 1:
        raise NotFoundError(f"no upload {upload_id!r}: upload the file first (POST /api/v1/uploads)",
                            field="upload_id")
    return files[0]


class JobReporter:
    """The progress callback of a running job: writes progress to its row at most every ``interval`` seconds."""

    def __init__(self, store: Store, job_id: str, interval: float = 0.5):
        self.store = store
        self.job_id = job_id
        self.interval = interval
        self._last = 0.0

    def __call__(self, fraction: float | None, message: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        update_job(self.store, self.job_id, only_if=("running",),
                   progress=None if fraction is None else max(0.0, min(1.0, float(fraction))), message=message[:500])


def execute_job(store: Store, job: Job, *, workspace: Path,
                progress: Callable[[float | None, str], None]) -> dict[str, Any]:
    """Run a job's operation and return its result as JSON-ready data (a worker process calls this).

    Args:
        store: the store.
        job: the job (its kind and parameters).
        workspace: the server's folder of uploads (read) and reports (written).
        progress: called as the operation goes.
    """
    request = _REQUEST.validate_python({"kind": job.kind, "params": job.params})
    params = request.params
    if isinstance(request, IngestJob):
        path = upload_path(workspace, params.upload_id)
        result = ingest_files(store, IngestParams(paths=[str(path)], format=params.format, table=params.table,
                                                  media_root=str(path.parent)), progress=progress)
    elif isinstance(request, FeaturizeJob):
        result = featurize_store(store, params, progress=progress)
    elif isinstance(request, TrainSentimentJob):
        progress(None, "featurizing and training")
        result = train_sentiment(store, params)
    elif isinstance(request, FitTopicsJob):
        progress(None, "embedding and clustering")
        result = fit_topics(store, params)
    elif isinstance(request, KnowledgeGraphJob):
        progress(None, "extracting entities and building the graph")
        graphs = workspace / "graphs"
        graphs.mkdir(parents=True, exist_ok=True)
        result = write_knowledge_graph(store, params, out=graphs / f"graph-{job.job_id}.graphml")
    elif isinstance(request, BuildProfilesJob):
        progress(None, "building profiles")
        result = build_user_profiles(store, params)
    elif isinstance(request, FitRecommenderJob):
        progress(None, "fitting the recommender")
        result = fit_recommender(store, params)
    elif isinstance(request, FitNextAdoptersJob):
        progress(None, "reading the cascades and fitting the model")
        path = next_adopter_model_path(store)
        if path is None:
            raise StoreError(f"the next-adopter model is saved in the store's folder; {store.uri!r} is not local")
        result = fit_next_adopters(Corpus.from_store(store), params, path)
    elif isinstance(request, PredictEngagementJob):
        progress(None, "building examples, training and scoring")
        result = predict_engagement(store, params)
    elif isinstance(request, MonitorJob):
        return _run_monitor(store, workspace, params.cycles, progress)
    else:
        reports = workspace / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        result = analyze_store(store, params, out=reports / f"report-{job.job_id}.html", progress=progress)
    return result.model_dump(mode="json")


_MONITOR_POINTER = "monitor-config.path"  # in the workspace: the configuration file that monitor jobs run


def set_monitor_config(workspace: Path, config: Path | None) -> None:
    """Record (or clear) the monitor configuration that ``monitor`` jobs of this workspace run, after checking it.

    Raises:
        ConfigurationError: the file is not a valid monitor configuration (file, line and key named).
    """
    pointer = workspace / _MONITOR_POINTER
    if config is None:
        pointer.unlink(missing_ok=True)
        return
    from socialfusion.monitor import load_config

    load_config(config)
    pointer.write_text(str(Path(config).resolve()), encoding="utf-8")


def _run_monitor(store: Store, workspace: Path, cycles: int,
                 progress: Callable[[float | None, str], None]) -> dict[str, Any]:
    from socialfusion.exceptions import ConfigurationError
    from socialfusion.monitor import load_config, run_monitor

    pointer = workspace / _MONITOR_POINTER
    if not pointer.is_file():
        raise ConfigurationError("this server has no monitor configuration; start it with: socialfusion serve "
                                 "--monitor-config monitor.toml")
    config = load_config(pointer.read_text(encoding="utf-8"))
    reports = []

    def on_cycle(report: Any) -> None:
        reports.append(report)
        progress(len(reports) / cycles, f"cycle {len(reports)} of {cycles}: {len(report.fired)} alert(s) fired")

    run_monitor(store, config, cycles=cycles, on_cycle=on_cycle)
    return {"cycles": len(reports), "new_posts": sum(report.new_posts for report in reports),
            "fired": [alert.alert_id for report in reports for alert in report.fired],
            "errors": [error for report in reports for error in report.errors]}
