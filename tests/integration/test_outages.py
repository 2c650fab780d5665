"""Faults of the whole-suite issue (9) on one runtime: the database restarted mid-run, and a
slow consumer whose lag builds and then drains. Real Postgres (a server of this test's own, so
that it can be stopped) and the real broker."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import asyncpg

from contracts.envelope import Envelope
from services.runtime import infra
from services.runtime.consumer import Subscription
from services.runtime.outbox import UnitOfWork
from services.runtime.service import Runtime
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_delivery import ping
from tests.support.kafka import eventually
from tests.support.probe import probe_spec


async def publish(runtime: Runtime, numbers: range) -> None:
    async with runtime.unit_of_work() as uow:
        for n in numbers:
            uow.publish(ping(n))


async def effects(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT n) AS distinct_n FROM probe.effects"
        )
        assert row is not None
        return int(row["n"]), int(row["distinct_n"])
    finally:
        await conn.close()


async def test_database_restarted_mid_run_loses_and_doubles_nothing(
    bootstrap: str, prefix: str
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bvg-outage-"))
    server = infra.EmbeddedPostgres(folder / "pg")
    dsn = await asyncio.to_thread(server.start, cleanup=None)
    runtime = Runtime(probe_spec(), fast_settings(prefix), dsn=dsn, bootstrap=bootstrap)
    try:
        await runtime.start()
        await publish(runtime, range(0, 100))

        async def some_done() -> bool:
            return (await effects(dsn))[0] >= 20

        await eventually(some_done, what="the first effects")
        await publish(runtime, range(100, 200))  # in the outbox, partly not yet relayed
        await asyncio.to_thread(server.stop)  # the database goes away mid-run ...
        await asyncio.sleep(2)
        await asyncio.to_thread(server.start, cleanup=None)  # ... and comes back

        async def all_done() -> bool:
            try:
                return (await effects(dsn))[0] >= 200
            except (OSError, asyncpg.PostgresError):
                return False

        await eventually(all_done, timeout=60, what="every event after the restart")
        await asyncio.sleep(1)  # a redelivery would show now
        assert await effects(dsn) == (200, 200)
        assert runtime.pool is not None
        pending = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        assert pending == 0
        dead = runtime.metrics.registry.get_sample_value(
            "bvg_dlq_messages_total", {"service": "probe", "topic": "probe.ping.v1"}
        )
        assert not dead
    finally:
        await runtime.stop()
        await asyncio.to_thread(server.stop)
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_slow_consumer_builds_lag_then_drains_it(
    start_runtime: StartRuntime, dsn: str, prefix: str
) -> None:
    """Lag is what the consumer has not fetched yet: batches of 20, so most of the 300
    events wait on the broker while the slow handler works through the first ones."""
    spec = probe_spec()
    [subscription] = spec.subscriptions

    async def slow(uow: UnitOfWork, event: Envelope) -> None:
        await asyncio.sleep(0.03)  # 30 ms an event: far slower than they arrive
        await subscription.handler(uow, event)

    runtime = await start_runtime(
        replace(spec, subscriptions=(Subscription(subscription.model, slow),)),
        settings=fast_settings(prefix, consumer_max_records=20),
    )
    await publish(runtime, range(0, 300))
    lags: list[float] = []

    async def drained() -> bool:
        lag = sum(
            s.value
            for m in runtime.metrics.registry.collect()
            if m.name == "bvg_consumer_lag"
            for s in m.samples
        )
        lags.append(lag)
        return (await effects(dsn))[0] >= 300 and lag == 0

    await eventually(drained, timeout=90, what="the lag to drain")
    assert max(lags) > 0, "the lag never showed"
    assert await effects(dsn) == (300, 300)
