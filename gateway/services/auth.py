"""Bearer tokens: `gw_<id>_<secret>`; only a SHA-256 of the secret is stored. A token
expires (`expires_at`, or never), and the names of active tokens are unique."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from gateway.core.aliases import Conn
from gateway.core.errors import TokenExpired, Unavailable
from gateway.store.postgres import UNREACHABLE

Role = Literal["dialer", "supervisor", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("dialer", "supervisor", "auditor", "admin")
# The roles that see phone numbers in full: a dialer dials them, supervisors and admins
# act on them. Every other role (the auditor) reads them masked (rule 13).
FULL_NUMBER_ROLES: frozenset[str] = frozenset({"dialer", "supervisor", "admin"})
DEFAULT_EXPIRY_DAYS = 365
MAX_EXPIRY_DAYS = 36_500


class NameTaken(ValueError):
    """An active token already has the name."""


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class _StoredToken:
    principal: Principal
    secret_hash: bytes
    expires_at: float | None  # epoch seconds; None: never


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _split(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "gw" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create_token(
    conn: Conn,
    role: str,
    name: str,
    *,
    expires_in_days: int = DEFAULT_EXPIRY_DAYS,
    replace: bool = False,
) -> str:
    """A new token, expiring `expires_in_days` from now (0: never). An active token of the
    same name is NameTaken, unless `replace` revokes it; an expired one is revoked (at its
    expiry) to free the name."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("name must not be empty")
    if not 0 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"expiry must be 0 (never) to {MAX_EXPIRY_DAYS} days")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    async with conn.transaction():
        freed = await conn.fetch(
            "UPDATE api_tokens SET revoked_at = CASE WHEN expires_at <= now() THEN expires_at "
            "ELSE now() END WHERE name = $1 AND revoked_at IS NULL "
            "AND ($2 OR expires_at <= now()) RETURNING token_id",
            name,
            replace,
        )
        try:
            await conn.execute(
                "INSERT INTO api_tokens (token_id, name, role, secret_hash, expires_at) "
                "VALUES ($1, $2, $3, $4, CASE WHEN $5::int = 0 THEN NULL "
                "ELSE now() + make_interval(days => $5::int) END)",
                token_id,
                name,
                role,
                _hash(secret),
                expires_in_days,
            )
        except asyncpg.UniqueViolationError:
            raise NameTaken(
                f"an active token is named {name!r}; revoke it first or choose another name"
            ) from None
        for row in freed:
            await conn.execute("SELECT pg_notify('gateway_tokens', $1)", row["token_id"])
        await conn.execute("SELECT pg_notify('gateway_tokens', $1)", token_id)
    return f"gw_{token_id}_{secret}"


async def revoke_tokens(conn: Conn, token_id_or_name: str) -> list[str]:
    """Revoke by token id or by name (every token of that name); every process forgets it
    at once. Returns the ids revoked."""
    rows = await conn.fetch(
        "UPDATE api_tokens SET revoked_at = now() WHERE (token_id = $1 OR name = $1) "
        "AND revoked_at IS NULL RETURNING token_id",
        token_id_or_name,
    )
    for row in rows:
        await conn.execute("SELECT pg_notify('gateway_tokens', $1)", row["token_id"])
    return [r["token_id"] for r in rows]


async def list_tokens(conn: Conn) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT token_id, name, role, created_at, expires_at, revoked_at, "
            "expires_at <= now() AS expired FROM api_tokens "
            "ORDER BY created_at"
        )
    )


class TokenVerifier:
    """Resolves bearer tokens to principals, caching rows so the hot path reads no table."""

    def __init__(self, pool: asyncpg.Pool, now: Callable[[], float] = time.time) -> None:
        self._pool = pool
        self._now = now  # wall-clock seconds: expiry is real time, whatever else is tested
        self._cache: dict[str, _StoredToken | None] = {}
        # Tokens already verified against the row now cached for their id: a dialer sends
        # the same token with every check, and hashing it each time was a per-check cost.
        # An entry counts only while its row is the one cached, so forgetting (revoking)
        # the id undoes it.
        self._accepted: dict[str, _StoredToken] = {}

    def forget(self, token_id: str | None = None) -> None:
        if token_id is None:
            self._cache.clear()
            self._accepted.clear()
        else:
            self._cache.pop(token_id, None)

    async def verify(self, token: str) -> Principal | None:
        """The token's principal; None for one unknown, revoked or not matching its
        secret; TokenExpired for a true token past its expiry (cached or not)."""
        accepted = self._accepted.get(token)
        if accepted is not None and self._cache.get(accepted.principal.token_id) is accepted:
            return self._unexpired(accepted)
        split = _split(token)
        if split is None:
            return None
        token_id, secret = split
        if token_id in self._cache:
            stored = self._cache[token_id]
        else:
            try:
                row = await self._pool.fetchrow(
                    "SELECT token_id, name, role, secret_hash, expires_at FROM api_tokens "
                    "WHERE token_id = $1 AND revoked_at IS NULL",
                    token_id,
                )
            except UNREACHABLE as e:
                raise Unavailable("tokens cannot be checked: the database is unreachable") from e
            stored = None
            if row is not None:
                stored = _StoredToken(
                    Principal(row["token_id"], row["name"], row["role"]),
                    bytes(row["secret_hash"]),
                    _epoch(row["expires_at"]),
                )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token_id] = stored
        if stored is None:
            return None
        if not hmac.compare_digest(stored.secret_hash, _hash(secret)):
            return None
        if len(self._accepted) > 10_000:
            self._accepted.clear()
        self._accepted[token] = stored
        return self._unexpired(stored)

    def _unexpired(self, stored: _StoredToken) -> Principal:
        if stored.expires_at is not None and self._now() >= stored.expires_at:
            raise TokenExpired(
                f"token {stored.principal.token_id} ({stored.principal.name}) has expired"
            )
        return stored.principal
