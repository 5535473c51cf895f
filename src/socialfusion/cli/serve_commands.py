"""``socialfusion serve`` (the HTTP API over a store) and ``socialfusion tokens`` (its API tokens)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from socialfusion.cli._shared import JsonOption, StoreOption, console, existing_store, fail, parameters, print_rows
from socialfusion.exceptions import SocialFusionError

__all__ = ["register", "tokens_app"]

tokens_app = typer.Typer(help="API tokens of the server: create (shown once), list, revoke.", no_args_is_help=True)

ScopeOption = Annotated[list[str] | None, typer.Option(
    "--scope", help="read (queries), write (uploads and jobs; implies read) or admin (tokens; implies both); "
                    "repeatable. Default: read.")]


def serve(
    store: StoreOption = Path("socialfusion.db"),
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1); any other needs a token.")]
    = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes sharing the port (default 1).")] = None,
    job_workers: Annotated[int | None, typer.Option(help="Jobs run at once, each in a worker process.")] = None,
    monitor_config: Annotated[Path | None, typer.Option(
        help="A socialfusion monitor configuration that 'monitor' jobs run (POST /api/v1/jobs {\"kind\": "
             "\"monitor\"}); checked at start.")] = None,
) -> None:
    """Serve the store's HTTP API (/api/v1, docs at /docs). Limits come from SOCIALFUSION_* variables."""
    from socialfusion.exceptions import attempt_import

    for module in ("fastapi", "uvicorn", "pydantic_settings", "python_multipart"):
        try:
            attempt_import(module, "server")
        except SocialFusionError as error:
            fail(error)
    from socialfusion.server import Settings
    from socialfusion.server import serve as run

    existing_store(store)
    flags = {name: value for name, value in (("host", host), ("port", port), ("workers", workers),
                                             ("job_workers", job_workers),
                                             ("monitor_config", monitor_config)) if value is not None}
    # a bad flag or SOCIALFUSION_* value is a clear error naming it
    variables = {name: f"SOCIALFUSION_{name.upper()}" for name in Settings.model_fields if name not in flags}
    settings = parameters(Settings, variables, store=store, **flags)
    try:
        run(settings)
    except SocialFusionError as error:
        fail(error)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who or what uses the token.")],
    store: StoreOption = Path("socialfusion.db"),
    scope: ScopeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once: the store keeps only a salted hash of it."""
    from pydantic import ValidationError

    from socialfusion.app import TokenParams, create_token

    target = existing_store(store)
    try:
        created = create_token(target, TokenParams(name=name, scopes=scope or ["read"]))
    except ValidationError as error:
        fail(ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())))
    if as_json:
        print(json.dumps(created.model_dump(mode="json")))
        return
    console.print(f"token {created.info.token_id} ({', '.join(created.info.scopes)}) for {name!r}; it is shown "
                  "only now:")
    print(created.token)


@tokens_app.command("list")
def list_(store: StoreOption = Path("socialfusion.db"),
          revoked: Annotated[bool, typer.Option("--revoked", help="Also list revoked tokens.")] = False,
          as_json: JsonOption = False) -> None:
    """The store's tokens (ids, names, scopes; never the secrets)."""
    from socialfusion.app import list_tokens

    rows = [info.model_dump() for info in list_tokens(existing_store(store), include_revoked=revoked)]
    print_rows(rows, "API tokens", as_json)


@tokens_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (as listed).")],
           store: StoreOption = Path("socialfusion.db"), as_json: JsonOption = False) -> None:
    """Revoke a token: requests carrying it answer 401 from the next one on."""
    from socialfusion.app import revoke_token

    try:
        info = revoke_token(existing_store(store), token_id)
    except SocialFusionError as error:
        fail(error)
    if as_json:
        print(json.dumps(info.model_dump(mode="json")))
        return
    console.print(f"revoked token {info.token_id} ({info.name})")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``tokens`` group to the command line."""
    app.command("serve")(serve)
    app.add_typer(tokens_app, name="tokens")
