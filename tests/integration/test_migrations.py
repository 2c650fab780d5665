"""The migration runner: in order, once, under a lock, and edited files refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from services.registry import all_specs
from services.runtime.db import MigrationError, load_migrations, migrate


async def test_every_service_migrates_and_a_second_run_applies_nothing(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for spec in all_specs():
            migrations = load_migrations(spec.migration_sources())
            assert await migrate(conn, spec.name, migrations) == [m.name for m in migrations]
            assert await migrate(conn, spec.name, migrations) == []
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_name IN ('outbox', 'inbox', 'schema_migrations')"
        )
        assert len(tables) == 3 * len(all_specs())
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_file_once(dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_b.sql").write_text("CREATE TABLE b (x int);")
    migrations = load_migrations({"t": tmp_path})
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, "lockcheck", migrations) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 2]
    finally:
        for c in conns:
            await c.close()


async def test_an_applied_migration_that_was_edited_is_refused(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_text("CREATE TABLE a (x int);")
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, "edits", load_migrations({"t": tmp_path}))
        path.write_text("CREATE TABLE a (x bigint);")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            await migrate(conn, "edits", load_migrations({"t": tmp_path}))
    finally:
        await conn.close()


async def test_a_failing_migration_applies_nothing(dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x nonsense_type);")
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
            await migrate(conn, "failing", load_migrations({"t": tmp_path}))
        assert await conn.fetchval("SELECT to_regclass('failing.a')") is None
    finally:
        await conn.close()
