"""``socialfusion collect``: collect posts from a platform's API into a store, continuing from its saved cursor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from socialfusion.cli._shared import JsonOption, NewStoreOption, StageProgress, console, errors, fail
from socialfusion.exceptions import SocialFusionError

PLATFORM_HELP = "mastodon, bluesky, reddit or x (twitter)."
QUERY_HELP = (
    "What to collect. mastodon: '#tag' (hashtag timeline), '@user' or '@user@instance' (an account's statuses), "
    "or search text; bluesky: search text, or '@handle' (an author feed); reddit: 'r/subreddit' (new submissions "
    "and their comments); x: a search query (recent search), or '@username' (a user timeline)."
)
BASE_URL_HELP = (
    "The server: a Mastodon instance (default https://mastodon.social), a Bluesky AppView or PDS "
    "(default https://public.api.bsky.app; https://bsky.social with a session), the Reddit or X API."
)
CREDENTIALS_HELP = (
    "TOML file with a [PLATFORM] table of credentials (mastodon: token; bluesky: handle, app_password; reddit: "
    "client_id, client_secret, user_agent; x: bearer_token). Without it they come from SOCIALFUSION_MASTODON_TOKEN, "
    "SOCIALFUSION_BLUESKY_HANDLE / SOCIALFUSION_BLUESKY_APP_PASSWORD, SOCIALFUSION_REDDIT_CLIENT_ID / "
    "SOCIALFUSION_REDDIT_CLIENT_SECRET, SOCIALFUSION_X_BEARER_TOKEN. They are never stored or printed."
)
MEDIA_HELP = (
    "Download media (images, video, audio) into this folder, content-addressed by sha256; posts then "
    "reference the local files."
)


def collect(
    platform: Annotated[str, typer.Argument(help=PLATFORM_HELP)],
    query: Annotated[str, typer.Argument(help=QUERY_HELP)],
    store: NewStoreOption = Path("socialfusion.db"),
    base_url: Annotated[str | None, typer.Option("--base-url", help=BASE_URL_HELP)] = None,
    since: Annotated[str | None, typer.Option(help="Collect nothing posted before this date or time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Collect nothing posted after this date or time (UTC).")] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="Stop after the page on which N items were received; the next run continues.", min=1),
    ] = None,
    credentials: Annotated[
        Path | None, typer.Option("--credentials", help=CREDENTIALS_HELP, exists=True, dir_okay=False)
    ] = None,
    media: Annotated[Path | None, typer.Option("--media", help=MEDIA_HELP, metavar="DIR")] = None,
    media_max_mb: Annotated[float, typer.Option(help="Largest media file downloaded, in MiB.")] = 50.0,
    page_size: Annotated[
        int | None, typer.Option(help="Items per request (default: the API's maximum).", min=1)
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a request after 5xx answers or network errors.")] = 5,
    backoff: Annotated[float, typer.Option(help="First retry delay in seconds (doubled each retry, jittered).")] = 1.0,
    max_wait: Annotated[
        float,
        typer.Option(
            help="Longest rate-limit wait in seconds; a longer one stops the run (run again later to continue)."
        ),
    ] = 900.0,
    reset_cursor: Annotated[
        bool, typer.Option("--reset-cursor", help="Forget the saved cursor and start again from the newest post.")
    ] = False,
    detect_language: Annotated[
        bool,
        typer.Option("--detect-language/--no-detect-language", help="Detect the language of posts that do not say."),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Collect posts from a platform's API into a store (created when absent), continuing where the last run stopped.

    A cursor saved in the store after every page means a run stopped at any point (Ctrl-C, a crash, a kill)
    continues from the next page when run again, with no gap and no duplicate; a later run collects what was posted
    since. Exits with 0 when the run ended normally, 1 when the server failed, or credentials are missing or refused,
    2 on a usage error.
    """
    from socialfusion.collect import CollectError, HttpSettings, Source, check_source
    from socialfusion.collect import collect as run_collect
    from socialfusion.store import connect

    settings = HttpSettings(timeout=timeout, retries=retries, backoff=backoff, max_wait=max_wait)
    source = Source(platform, query, base_url)
    try:
        check_source(source, credentials)  # before connect(), which creates the store: a mistake leaves nothing
        target = connect(store)
        with StageProgress(quiet=as_json) as progress:
            result = run_collect(
                target,
                source,
                since=since,
                until=until,
                limit=limit,
                credentials=credentials,
                media=media or False,
                media_max_bytes=int(media_max_mb * 1024**2),
                page_size=page_size,
                settings=settings,
                reset_cursor=reset_cursor,
                detect_language=detect_language,
                progress=lambda running: progress.update(f"page {running.pages}: {running.received:,} received"),
            )
    except CollectError as error:
        if error.result is not None:
            _print_result(error.result, as_json)
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from None
    except SocialFusionError as error:
        fail(error)
    _print_result(result, as_json)


def _print_result(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), default=str, ensure_ascii=False))
        return
    console.print(
        f"{escape(result.source)}: {result.pages:,} page(s), received {result.received:,} · ingested "
        f"[green]{result.ingested:,}[/green] · duplicate {result.duplicates:,} · updated {result.updated:,} · "
        f"rejected [{'red' if result.rejects else 'green'}]{result.rejects:,}[/]"
        + (f" · outside the time bounds {result.skipped:,}" if result.skipped else "")
        + (f" · media downloaded {result.media_downloaded:,}" if result.media_downloaded else "")
        + (f" · waited {result.waited_seconds:.1f}s for rate limits" if result.waited_seconds else ""),
        highlight=False,
    )
    if result.stopped_reason:
        errors.print(f"[yellow]stopped:[/yellow] {escape(result.stopped_reason)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to the top-level app."""
    app.command()(collect)
