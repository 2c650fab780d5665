"""Outbox → broker → inbox through the probe service, against the real servers."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from tests.conftest import StartRuntime
from tests.support.kafka import eventually
from tests.support.probe import Ping, PingPayload, probe_spec

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def ping(n: int, *, employer_no: int = 1001, poison: bool = False) -> Ping:
    return Ping.new(
        occurred_at=NOW,
        employer_no=employer_no,
        correlation_id=f"test:{n}",
        payload=PingPayload(n=n, poison=poison),
    )


async def count(pool: asyncpg.Pool, sql: str) -> int:
    value = await pool.fetchval(sql)
    return int(value)


async def test_events_flow_from_outbox_to_handler_once(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(probe_spec())
    assert runtime.pool is not None
    async with runtime.unit_of_work() as uow:
        for n in range(20):
            uow.publish(ping(n, employer_no=1000 + n % 4))

    async def all_handled() -> bool:
        return await count(runtime.pool, "SELECT count(*) FROM effects") == 20  # type: ignore[arg-type]

    await eventually(all_handled, what="20 effects")
    assert await count(runtime.pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert await count(runtime.pool, "SELECT count(*) FROM inbox") == 20
