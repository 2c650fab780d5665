"""The embedded PostgreSQL server starts with the suite's settings (`infra.SERVER_SETTINGS`),
again when its folder is reused."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg

from services.runtime import infra


async def _shown(dsn: str, names: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in names}
    finally:
        await conn.close()


def test_the_server_runs_with_the_suites_settings_on_every_start() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bvg-test-pg-settings-"))
    expected = dict(infra.SERVER_SETTINGS)
    try:
        for _ in range(2):  # a new folder, then the same folder again
            server = infra.EmbeddedPostgres(folder / "pg")
            dsn = server.start(cleanup="stop")
            try:
                assert asyncio.run(_shown(dsn, list(expected))) == expected
            finally:
                server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
