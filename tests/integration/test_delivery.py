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


async def test_events_of_one_key_are_handled_in_commit_order(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime(probe_spec())
    assert runtime.pool is not None
    for batch in range(5):  # several transactions, interleaving five keys
        async with runtime.unit_of_work() as uow:
            for i in range(40):
                n = batch * 40 + i
                uow.publish(ping(n, employer_no=3000 + n % 5))

    async def all_handled() -> bool:
        return await count(runtime.pool, "SELECT count(*) FROM effects") == 200  # type: ignore[arg-type]

    await eventually(all_handled, what="200 effects")
    rows = await runtime.pool.fetch("SELECT n FROM effects ORDER BY seq")
    by_key: dict[int, list[int]] = {}
    for row in rows:
        by_key.setdefault(row["n"] % 5, []).append(row["n"])
    for key, sequence in by_key.items():
        assert sequence == sorted(sequence), f"key {key} out of order"


async def test_published_rows_and_old_event_ids_are_purged_after_their_retention(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(probe_spec())
    assert runtime.pool is not None and runtime.relay is not None
    async with runtime.unit_of_work() as uow:
        for n in range(3):
            uow.publish(ping(n))

    async def handled() -> bool:
        return await count(runtime.pool, "SELECT count(*) FROM effects") == 3  # type: ignore[arg-type]

    await eventually(handled, what="3 effects")
    pending = ping(99)
    async with runtime.pool.acquire() as conn, conn.transaction():
        # An unpublished row stays whatever its age; published ones go after retention.
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, value) VALUES ($1, 'x', 'k', '')",
            pending.event_id,
        )
        await conn.execute("UPDATE outbox SET created_at = now() - interval '400 days'")
        await conn.execute(
            "UPDATE outbox SET published_at = now() - interval '8 days' WHERE topic <> 'x'"
        )
        await conn.execute("UPDATE inbox SET handled_at = now() - interval '31 days'")
        purged = await runtime.relay.purge(conn)
        await conn.execute("DELETE FROM outbox WHERE topic = 'x'")  # not for the relay to send
    assert purged == (3, 3)
