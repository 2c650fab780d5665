"""asyncpg pool pinned to one service's schema, and the migration runner."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection of its own or one lent by a pool: both run the same SQL.
Connection = asyncpg.Connection | PoolConnectionProxy

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MigrationError(Exception):
    """A migration cannot be applied (edited after it was applied, or failed)."""


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def quote_ident(name: str) -> str:
    """A schema name checked against a strict pattern, safe to splice into SQL."""
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"not a valid schema name: {name!r}")
    return f'"{name}"'


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 5.0
) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (search_path), created if missing."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        # Look first: a least-privilege role may use its schema but not create schemas.
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    except asyncpg.UniqueViolationError:  # a concurrent creator won
        pass
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        server_settings={"search_path": schema, "application_name": f"bvgconnect-{schema}"},
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    """One `.sql` file; `name` is unique within a schema (`<source>/<file>`)."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(sources: dict[str, Path]) -> list[Migration]:
    """Migrations from each folder in the given order, each folder sorted by file name."""
    found: list[Migration] = []
    for source, folder in sources.items():
        for path in sorted(folder.glob("*.sql")):
            found.append(Migration(f"{source}/{path.name}", path.read_text(encoding="utf-8")))
    return found


async def migrate(conn: Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is new, in order, under an advisory lock; refuse edited applied files.

    Returns the names applied now.
    """
    ident = quote_ident(schema)
    applied_now: list[str] = []
    async with conn.transaction():
        # One migrator per schema at a time, across processes.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"migrate:{schema}"
        )
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
        await conn.execute(f"SET LOCAL search_path TO {ident}")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
        done = {r["name"]: r["checksum"] for r in rows}
        for migration in migrations:
            known = done.get(migration.name)
            if known is not None:
                if known != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} of schema {schema} was edited after it "
                        "was applied; add a new migration instead"
                    )
                continue
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
            applied_now.append(migration.name)
    return applied_now
