"""API tokens: create (the secret is shown once), list, revoke, verify. Only salted scrypt hashes are stored.

A token reads ``sf_<token id>_<secret>``. The store's ``api_tokens`` table keeps, per token, its id, name, scopes,
a random salt and ``scrypt(secret, salt)``; verifying recomputes the hash and compares it in constant time
(``hmac.compare_digest``). Scopes: ``read`` (queries), ``write`` (uploads, ingest and other jobs; implies read),
``admin`` (tokens; implies write and read).

Examples:
    >>> from socialfusion.store import connect
    >>> store = connect("memory://")
    >>> created = create_token(store, TokenParams(name="ci", scopes=["read"]))
    >>> verify_token(store, created.token).scopes
    ['read']
    >>> _ = revoke_token(store, created.info.token_id)
    >>> verify_token(store, created.token) is None
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from socialfusion.app._common import Params, Result
from socialfusion.exceptions import NotFoundError
from socialfusion.store import Store, sql_string

__all__ = ["SCOPES", "TOKENS_TABLE", "CreatedToken", "TokenInfo", "TokenParams", "active_token", "create_token",
           "grants", "has_tokens", "list_tokens", "revoke_token", "verify_token"]

TOKENS_TABLE = "api_tokens"
SCOPES = ("read", "write", "admin")
_IMPLIED = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_TOKEN = re.compile(r"^sf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
_SCHEMA = pa.schema([("token_id", pa.string()), ("name", pa.string()), ("scopes", pa.list_(pa.string())),
                     ("salt", pa.string()), ("hash", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
                     ("revoked_at", pa.timestamp("us", tz="UTC"))])

Scope = Literal["read", "write", "admin"]


def grants(scopes: list[str], needed: str) -> bool:
    """Whether a token with ``scopes`` may do what needs ``needed`` (admin implies write, write implies read)."""
    return any(needed in _IMPLIED.get(scope, set()) for scope in scopes)


class TokenParams(Params):
    """A new token's name and scopes."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$", description="Who or what uses it.")
    scopes: list[Scope] = Field(["read"], min_length=1, max_length=3)

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[str]) -> list[str]:
        return sorted(set(scopes), key=SCOPES.index)


class TokenInfo(Result):
    """A token as listed: never its secret."""

    token_id: str
    name: str
    scopes: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class CreatedToken(Result):
    """A new token: ``token`` is shown this once and stored only as a salted hash."""

    token: str
    info: TokenInfo


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def _rows(store: Store, where: str | None = None) -> list[dict]:
    if TOKENS_TABLE not in store.tables():
        return []
    return store.read(TOKENS_TABLE, where=where).to_pylist()


def _info(row: dict) -> TokenInfo:
    return TokenInfo(**{name: row[name] for name in TokenInfo.model_fields})


def create_token(store: Store, params: TokenParams) -> CreatedToken:
    """Create a token; the returned ``token`` is the only copy of its secret."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = {"token_id": token_id, "name": params.name, "scopes": list(params.scopes), "salt": salt.hex(),
           "hash": _hash(secret, salt).hex(), "created_at": dt.datetime.now(dt.UTC), "revoked_at": None}
    store.write(TOKENS_TABLE, pa.Table.from_pylist([row], schema=_SCHEMA), mode="upsert", key="token_id")
    return CreatedToken(token=f"sf_{token_id}_{secret}", info=_info(row))


def list_tokens(store: Store, *, include_revoked: bool = False) -> list[TokenInfo]:
    """The store's tokens, oldest first (revoked ones only with ``include_revoked``)."""
    rows = sorted(_rows(store), key=lambda row: (row["created_at"], row["token_id"]))
    return [_info(row) for row in rows if include_revoked or row["revoked_at"] is None]


def has_tokens(store: Store) -> bool:
    """Whether the store has at least one token that is not revoked."""
    return bool(_rows(store, where="revoked_at IS NULL"))


def revoke_token(store: Store, token_id: str) -> TokenInfo:
    """Revoke a token by its id (the part after ``sf_``); revoking twice keeps the first time.

    Raises:
        NotFoundError: no token has this id.
    """
    with store.writer_lock():
        rows = _rows(store, where=f"token_id = {sql_string(token_id)}")
        if not rows:
            raise NotFoundError(f"no token {token_id!r} in {store.uri!r}", field="token_id")
        row = rows[0]
        if row["revoked_at"] is None:
            row["revoked_at"] = dt.datetime.now(dt.UTC)
            store.write(TOKENS_TABLE, pa.Table.from_pylist([row], schema=_SCHEMA), mode="upsert", key="token_id")
    return _info(row)


def active_token(store: Store, token_id: str) -> TokenInfo | None:
    """The info of the token with this id when it exists and is not revoked, else None (a dashboard session holds
    only its token's id: this is how its login is checked at each request)."""
    if _TOKEN_ID.match(token_id or "") is None:
        return None
    rows = _rows(store, where=f"token_id = {sql_string(token_id)}")
    return _info(rows[0]) if rows and rows[0]["revoked_at"] is None else None


def verify_token(store: Store, token: str) -> TokenInfo | None:
    """The token's info when ``token`` is a valid, unrevoked token of this store, else None."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    token_id, secret = match.groups()
    rows = _rows(store, where=f"token_id = {sql_string(token_id)}")
    if not rows or rows[0]["revoked_at"] is not None:
        return None
    row = rows[0]
    if not hmac.compare_digest(_hash(secret, bytes.fromhex(row["salt"])), bytes.fromhex(row["hash"])):
        return None
    return _info(row)
