"""Operations on the store as a whole: ingest files, statistics, featurize, analyze into an HTML report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from socialfusion.app._common import Params, Result
from socialfusion.store import Store

__all__ = [
    "AnalyzeParams",
    "AnalyzeResult",
    "EncoderRunResult",
    "FeaturizeParams",
    "FeaturizeResult",
    "IngestParams",
    "IngestResult",
    "StatsResult",
    "analyze_store",
    "featurize_store",
    "ingest_files",
    "store_statistics",
]

Progress = Callable[[float | None, str], None]
"""``progress(fraction done in [0, 1] or None when unknown, message)``."""

_TABLES = ("posts", "users", "interactions", "edges", "labels")
_FORMATS = ("auto", "jsonl", "csv", "parquet", "twitter", "mastodon", "reddit", "bluesky")


def _quiet(fraction: float | None, message: str) -> None:
    """The progress callback of a caller that does not follow progress."""


def _check_encoder_names(names: list[str]) -> list[str]:
    from socialfusion.encoders import encoder_info

    for name in names:
        encoder_info(name)  # ConfigurationError naming the known encoders
    return names


class IngestParams(Params):
    """What to ingest (trusted server-side paths: the HTTP API ingests uploaded files only)."""

    paths: list[str] = Field(min_length=1, max_length=1000, description="Files or folders to read.")
    format: Literal[_FORMATS] = Field("auto", description="Input format; auto detects it per file.")
    table: Literal[_TABLES] = Field("posts", description="Target table of canonical tabular files.")
    column_map: dict[str, str] | None = Field(None, description="Foreign column name -> canonical field name.")
    media_root: str | None = Field(None, description="Folder media paths must stay inside (default: each file's).")
    scrub_pii: bool = Field(True, description="Scrub e-mails, phones, card numbers and IPs from text.")


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
    records_read: int
    per_table: dict[str, dict[str, int]]
    media: dict[str, dict[str, int]] = {}
    media_refusals: dict[str, int] = {}
    languages: dict[str, int] = {}
    pii_removed: dict[str, int]
    sources: list[dict[str, Any]]
    seconds: float


def ingest_files(store: Store, params: IngestParams, *, pseudonymize_key: bytes | None = None,
                 progress: Progress = _quiet) -> IngestResult:
    """Ingest files into the store (``socialfusion.ingestion.ingest``): idempotent, every bad record a reject.

    Args:
        store: the destination.
        params: what to read.
        pseudonymize_key: the pseudonymisation key, from the caller's environment or key file; never a parameter
            (parameters are recorded, for example in the job table). A server never has one.
        progress: called as records are read.

    Raises:
        ConfigurationError: a bad option, or a key other than the one the store was ingested with.
    """
    from socialfusion.ingestion import ingest

    summary = ingest(params.paths, store, format=params.format, table=params.table, column_map=params.column_map,
                     media_root=params.media_root, scrub_pii=params.scrub_pii, pseudonymize_key=pseudonymize_key,
                     progress=lambda read: progress(None, f"{read:,} records read"))
    return IngestResult(**summary.to_dict())


class StatsResult(Result):
    """Rows per table and posts per modality."""

    tables: dict[str, int]
    modalities: dict[str, int]


def store_statistics(store: Store) -> StatsResult:
    """Rows per table and posts per modality (``socialfusion.pipeline.store_stats``)."""
    from socialfusion.app._common import cached
    from socialfusion.pipeline import store_stats

    return StatsResult(**cached(store, ["posts", *_TABLES[1:], "rejects"], "stats", lambda: store_stats(store)))


class FeaturizeParams(Params):
    """Which encoders to run."""

    encoders: list[str] | None = Field(
        None, min_length=1, max_length=32,
        description="Registered encoder names (socialfusion encoders list); default: one fast encoder per modality.")
    batch_size: int = Field(32, ge=1, le=1024, description="Items per forward pass.")

    @field_validator("encoders")
    @classmethod
    def _known(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else _check_encoder_names(names)


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


def featurize_store(store: Store, params: FeaturizeParams, *, progress: Progress = _quiet) -> FeaturizeResult:
    """Encode the store's posts and users (``socialfusion.featurize.featurize``; cached by content hash), then
    bring the search index of each query text encoder up to date (``socialfusion.search.ensure_vector_index``).

    Raises:
        ConfigurationError: an unknown encoder.
        MissingDependencyError: an encoder's extra is not installed.
    """
    from socialfusion.featurize import DEFAULT_ENCODERS, featurize
    from socialfusion.search import QUERY_ENCODERS, ensure_vector_index

    names = list(params.encoders or DEFAULT_ENCODERS)

    def report(name: str, done: int, total: int) -> None:
        position = names.index(name)
        progress((position + (done / total if total else 1.0)) / len(names), f"{name}: {done:,} of {total:,}")

    summary = featurize(store, names, batch_size=params.batch_size, progress=report)
    runs = []
    for run in summary.runs:
        built = ensure_vector_index(store, run.encoder) if run.encoder in QUERY_ENCODERS else False
        runs.append(EncoderRunResult(**run.__dict__, index_built=built))
    return FeaturizeResult(encoders=runs)


class AnalyzeParams(Params):
    """The report's title."""

    title: str = Field("socialfusion report", min_length=1, max_length=200)


class AnalyzeResult(Result):
    """Where the report was written."""

    report: str
    bytes: int


def analyze_store(store: Store, params: AnalyzeParams, *, out: Path, progress: Progress = _quiet) -> AnalyzeResult:
    """Analyse the store and write the self-contained HTML report (``socialfusion.pipeline.analyze``).

    Args:
        store: the store.
        params: the title.
        out: the report's path, chosen by the caller (never by a request: it is a place on the server's disk).
        progress: told when the analysis starts.
    """
    from socialfusion.pipeline import analyze

    progress(None, "analysing")
    path = analyze(store, out, title=params.title)
    return AnalyzeResult(report=str(path), bytes=path.stat().st_size)
