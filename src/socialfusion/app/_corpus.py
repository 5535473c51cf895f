"""Operations on the store as a whole: ingest files, statistics, featurize, analyze into an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from socialfusion.app._common import Params, Progress, Result, check_encoder_names, encoding_progress, quiet
from socialfusion.store import Store

if TYPE_CHECKING:
    from socialfusion.backends import RayOptions

__all__ = [
    "AnalyzeParams",
    "AnalyzeResult",
    "EncoderRunResult",
    "FeaturizeParams",
    "FeaturizeResult",
    "IngestParams",
    "IngestResult",
    "RejectExample",
    "RejectGroup",
    "RejectedInput",
    "StatsParams",
    "StatsResult",
    "analyze_store",
    "featurize_store",
    "ingest_files",
    "store_statistics",
]


_TABLES = ("posts", "users", "interactions", "edges", "labels")


class IngestParams(Params):
    """What to ingest (trusted server-side paths: the HTTP API ingests uploaded files only)."""

    paths: list[str] = Field(min_length=1, description="Files or folders to read (a shell glob can name thousands).")
    format: str = Field("auto", max_length=64, description="A registered input format (jsonl, csv, parquet, "
                                                         "twitter, mastodon, reddit, bluesky), or auto: per file.")
    table: Literal[_TABLES] = Field("posts", description="Target table of canonical tabular files.")
    column_map: dict[str, str] | None = Field(None, description="Foreign column name -> canonical field name.")
    constants: dict[str, str] | None = Field(
        None, description="Field -> value for every record without a value of its own (e.g. task=sentiment).")
    id_from: str | None = Field(
        None, min_length=1, description="For posts and users without an id: the column to take it from, or 'hash'.")
    media_root: str | None = Field(None, description="Folder media paths must stay inside (default: each file's).")
    media_roots: list[str] = Field(default_factory=list, description="More folders media paths may point into.")
    scrub_pii: bool = Field(True, description="Scrub e-mails, phones, card numbers and IPs from text.")
    detect_language: bool = Field(True, description="Detect the language of posts whose source gives none.")
    batch_size: int = Field(10_000, ge=1, le=1_000_000, description="Records per write.")

    @field_validator("format")
    @classmethod
    def _known_format(cls, name: str) -> str:
        from socialfusion.io import get_reader

        if name != "auto":
            get_reader(name)  # ConfigurationError listing the known formats
        return name


class IngestResult(Result):
    """What one ingest did (``IngestSummary.to_dict``); ingested + updated + duplicate + superseded + rejected =
    records_read. Counts the summary gains later pass through as they are."""

    model_config = ConfigDict(extra="allow")

    ingested: int
    duplicate: int
    rejected: int
    updated: int
    superseded: int
    media_rejected: int
    files_rejected: int
    media_files_skipped: int = 0
    records_read: int
    per_table: dict[str, dict[str, int]]
    media: dict[str, dict[str, int]] = {}
    media_refusals: dict[str, int] = {}
    languages: dict[str, int] = {}
    pii_removed: dict[str, int]
    sources: list[dict[str, Any]]
    seconds: float
    warnings: list[str] = Field([], description="More than a fifth of a media kind's references were refused.")
    failed: bool = Field(False, description="Errors kept everything out: inputs refused, nothing stored.")


def ingest_files(store: Store, params: IngestParams, *, pseudonymize_key: bytes | None = None,
                 engine: str = "local", ray_options: RayOptions | None = None,
                 progress: Progress = quiet) -> IngestResult:
    """Ingest files into the store (``socialfusion.ingestion.ingest``): idempotent, every bad record a reject.

    Args:
        store: the destination.
        params: what to read.
        pseudonymize_key: the pseudonymisation key, from the caller's environment or key file; never a parameter
            (parameters are recorded, for example in the job table). A server never has one.
        engine: ``local`` or ``ray``; like ``ray_options`` (where the Ray cluster is), the caller's own choice,
            never a request's.
        ray_options: the Ray cluster to use with ``engine="ray"``.
        progress: called as records are read.

    Raises:
        ConfigurationError: a bad option, or a key other than the one the store was ingested with.
    """
    from socialfusion.ingestion import ingest

    summary = ingest(params.paths, store, format=params.format, table=params.table, column_map=params.column_map,
                     constants=params.constants, id_from=params.id_from, media_root=params.media_root,
                     media_roots=params.media_roots, scrub_pii=params.scrub_pii,
                     detect_language=params.detect_language, batch_size=params.batch_size,
                     pseudonymize_key=pseudonymize_key, engine=engine, ray_options=ray_options,
                     progress=lambda read: progress(None, f"{read:,} records read"))
    return IngestResult(**summary.to_dict(), warnings=summary.media_warnings(), failed=summary.failed)


class StatsParams(Params):
    """Whether to say why inputs were rejected, as well as the row counts."""

    rejects: bool = Field(False, description="Also group the rejected inputs by reason, with counts and examples.")
    every_reject: bool = Field(False, description="Also list every rejected input (source, location, table, reason).")


class RejectExample(Result):
    """One rejected input: where it came from and why."""

    source: str | None
    location: str | None
    reason: str | None


class RejectGroup(Result):
    """Rejected inputs of one table with one reason (numbers and names in the reason generalised)."""

    table: str | None
    reason: str
    count: int
    examples: list[RejectExample]


class RejectedInput(RejectExample):
    """One rejected input, with the table it was meant for."""

    table: str | None


class StatsResult(Result):
    """Rows per table and posts per modality, and (when asked) why inputs were rejected."""

    tables: dict[str, int]
    modalities: dict[str, int]
    reject_reasons: list[RejectGroup] | None = None
    rejects: list[RejectedInput] | None = None


_REJECT_COLUMNS = ["source", "location", "table", "reason"]


def store_statistics(store: Store, params: StatsParams | None = None) -> StatsResult:
    """Rows per table and posts per modality (``socialfusion.pipeline.store_stats``); with ``params``, the rejected
    inputs grouped by reason (``socialfusion.ingestion.summarize_rejects``) and listed."""
    from socialfusion.app._common import cached
    from socialfusion.ingestion import summarize_rejects
    from socialfusion.pipeline import store_stats

    params = params or StatsParams()
    tables = ["posts", *_TABLES[1:], "rejects"]
    counts = cached(store, tables, "stats", lambda: store_stats(store))
    if not (params.rejects or params.every_reject):
        return StatsResult(**counts)
    listed = cached(store, ["rejects"], "rejects", lambda: store.read("rejects", columns=_REJECT_COLUMNS))
    return StatsResult(**counts, reject_reasons=summarize_rejects(listed) if params.rejects else None,
                       rejects=listed.to_pylist() if params.every_reject else None)


class FeaturizeParams(Params):
    """Which encoders to run."""

    encoders: list[str] | None = Field(
        None, min_length=1, max_length=32,
        description="Registered encoder names (socialfusion encoders list); default: one fast encoder per modality.")
    batch_size: int = Field(32, ge=1, le=1024, description="Items per forward pass.")

    @field_validator("encoders")
    @classmethod
    def _known(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else check_encoder_names(names)


class EncoderRunResult(Result):
    """What featurize did with one encoder (``EncoderRun``; fields it gains later pass through)."""

    model_config = ConfigDict(extra="allow")

    encoder: str
    version: str
    items: int
    encoded: int
    cached: int
    missing: int
    reasons: dict[str, int]
    seconds: float
    index_built: bool = False


class FeaturizeResult(Result):
    """What featurize did, per encoder."""

    encoders: list[EncoderRunResult]


def featurize_store(store: Store, params: FeaturizeParams, *, engine: str = "local",
                    ray_options: RayOptions | None = None, progress: Progress = quiet) -> FeaturizeResult:
    """Encode the store's posts and users (``socialfusion.featurize.featurize``; cached by content hash), then
    bring the search index of each query text encoder up to date (``socialfusion.search.ensure_vector_index``).

    ``engine`` (``local`` or ``ray``) and ``ray_options`` are the caller's own choice (as for ``ingest_files``).

    Raises:
        ConfigurationError: an unknown encoder.
        MissingDependencyError: an encoder's extra is not installed.
    """
    from socialfusion.featurize import DEFAULT_ENCODERS, featurize
    from socialfusion.search import QUERY_ENCODERS, ensure_vector_index

    names = list(params.encoders or DEFAULT_ENCODERS)
    summary = featurize(store, names, batch_size=params.batch_size, progress=encoding_progress(names, progress),
                        engine=engine, ray_options=ray_options)
    runs = []
    for run in summary.runs:
        built = ensure_vector_index(store, run.encoder) if run.encoder in QUERY_ENCODERS else False
        runs.append(EncoderRunResult(**run.__dict__, index_built=built))
    return FeaturizeResult(encoders=runs)


class AnalyzeParams(Params):
    """What the report covers (its title, sections and posts), and whether it updates the store's incremental
    analysis state (``socialfusion.pipeline.analyze``)."""

    title: str = Field("socialfusion report", min_length=1, max_length=200)
    sections: list[str] | None = Field(
        None, min_length=1, max_length=32,
        description="Report sections to build (overview, sentiment, network, topics, trends, opinion, knowledge, "
                    "patterns, profiles, engagement, recommend); default: every section the data allows.")
    since: str | None = Field(None, max_length=64, description="Only posts from this date (YYYY-MM-DD) or time on.")
    until: str | None = Field(None, max_length=64,
                              description="Only posts up to this date (through its end) or time.")
    where: list[str] = Field(
        default_factory=list, max_length=16,
        description="Only posts meeting every condition: FIELD=VALUE, FIELD~VALUE (contains), FIELD!=VALUE, "
                    "FIELD!~VALUE; FIELD: hashtag, mention, text, lang, platform, author, media.")
    incremental: bool = Field(False, description="Update the store's analysis state from the new posts only and "
                                                 "build the trends and opinion cards from it.")
    reuse_cards: bool = Field(False, description="Reuse the last run's cards that need every post (implies "
                                                 "incremental).")

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, keys: list[str] | None) -> list[str] | None:
        from socialfusion.pipeline import check_sections

        return None if keys is None else check_sections(keys)

    @field_validator("since", "until")
    @classmethod
    def _readable_time(cls, value: str | None) -> str | None:
        from socialfusion.pipeline import check_time

        return None if value is None else check_time(value)

    @field_validator("where")
    @classmethod
    def _readable_conditions(cls, conditions: list[str]) -> list[str]:
        from socialfusion.pipeline import post_filter

        for condition in conditions:
            post_filter(condition)  # ConfigurationError naming what is wrong with it
        return conditions


class AnalyzeResult(Result):
    """Where the report was written, and what an incremental run updated."""

    report: str
    bytes: int
    incremental: str | None = None


def analyze_store(store: Store, params: AnalyzeParams, *, out: Path, progress: Progress = quiet) -> AnalyzeResult:
    """Analyse the store and write the self-contained HTML report (``socialfusion.pipeline.analyze``).

    Args:
        store: the store.
        params: the title, sections, posts and incremental options.
        out: the report's path, chosen by the caller (never by a request: it is a place on the server's disk).
        progress: told as each stage (reading, each analysis, writing) starts.

    Raises:
        NothingToAnalyse: ``since`` is later than every post (no report is written).
        DataError: the store is empty.
    """
    from socialfusion.app._incremental import last_update
    from socialfusion.pipeline import analyze

    path = analyze(store, out, title=params.title, sections=params.sections, since=params.since, until=params.until,
                   where=params.where, incremental=params.incremental, reuse_cards=params.reuse_cards,
                   progress=lambda stage, done, total: progress(done / total, stage))
    update = last_update(store) if params.incremental or params.reuse_cards else None
    return AnalyzeResult(report=str(path), bytes=path.stat().st_size,
                         incremental=update.describe() if update is not None else None)
