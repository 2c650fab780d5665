"""A batch handled in parts by key (`Subscription.parallel_by_key`, coverage's rows): every
event once, one key's events in order, a failing event costing only itself, on the real
database and broker."""

from __future__ import annotations

import zlib

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.runtime.consumer import dlq_topic
from services.runtime.service import Runtime
from tests.conftest import StartRuntime
from tests.integration.test_delivery import ping
from tests.support.kafka import eventually, read_topic
from tests.support.probe import Ping, probe_spec

KEYS = (1001, 1002, 1003, 1004, 1005, 1006, 1007)


def pool_of(runtime: Runtime) -> asyncpg.Pool:
    assert runtime.pool is not None
    return runtime.pool


def records(events: list[Ping]) -> list[ConsumerRecord[bytes, bytes]]:
    out: list[ConsumerRecord[bytes, bytes]] = []
    for offset, event in enumerate(events):
        value = event.model_dump_json().encode()
        key = event.partition_key().encode()
        out.append(
            ConsumerRecord(Ping.TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value), ())
        )
    return out


def interleaved(per_key: int, *, poison: tuple[int, int] | None = None) -> list[Ping]:
    """`per_key` events of each key, the keys taking turns; n counts up within a key."""
    return [
        ping(i, employer_no=key, poison=(key, i) == poison) for i in range(per_key) for key in KEYS
    ]


async def effects_by_key(runtime: Runtime, events: list[Ping]) -> dict[int, list[int]]:
    """The `n` of each key's effects, in the order they were written."""
    key_of = {e.event_id: e.employer_no for e in events}
    out: dict[int, list[int]] = {}
    for row in await pool_of(runtime).fetch("SELECT event_id, n FROM effects ORDER BY seq"):
        out.setdefault(key_of[row["event_id"]], []).append(row["n"])
    return out


async def test_parts_of_a_batch_run_in_their_own_transactions_keys_in_order(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(probe_spec(parallel_by_key=3), run_relay=False)
    consumer = runtime.consumers[0]
    events = interleaved(30)
    await consumer.handle(records(events))

    by_key = await effects_by_key(runtime, events)
    assert sorted(by_key) == sorted(KEYS)
    assert all(ns == list(range(30)) for ns in by_key.values())  # each once, in order
    transactions = await pool_of(runtime).fetchval("SELECT count(DISTINCT xmin::text) FROM effects")
    parts = {zlib.crc32(str(key).encode()) % 3 for key in KEYS}
    assert transactions == len(parts) > 1  # one per part, at the same time

    await consumer.handle(records(events))  # the batch redelivered: nothing changes
    assert await pool_of(runtime).fetchval("SELECT count(*) FROM effects") == len(events)


async def test_a_failing_event_costs_only_itself_not_its_part(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(probe_spec(parallel_by_key=3), run_relay=False)
    runtime.consumers[0].retry_backoff_s = 0.01
    events = interleaved(20, poison=(1003, 5))
    await runtime.consumers[0].handle(records(events))

    by_key = await effects_by_key(runtime, events)
    assert by_key[1003] == [n for n in range(20) if n != 5]
    assert all(by_key[key] == list(range(20)) for key in KEYS if key != 1003)
    dead = await read_topic(bootstrap, prefix + dlq_topic(Ping.TOPIC))
    assert [r.value for r in dead] == [events[5 * len(KEYS) + 2].model_dump_json().encode()]


async def test_through_the_broker_every_event_once_and_in_order(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(probe_spec(parallel_by_key=2))
    events = interleaved(100)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for event in events:
            await producer.send(
                prefix + Ping.TOPIC,
                event.model_dump_json().encode(),
                key=event.partition_key().encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()

    async def all_in() -> bool:
        n = await pool_of(runtime).fetchval("SELECT count(*) FROM effects")
        return int(n) >= len(events)

    await eventually(all_in, timeout=30, what="every event handled")
    by_key = await effects_by_key(runtime, events)
    assert all(by_key[key] == list(range(100)) for key in KEYS)
