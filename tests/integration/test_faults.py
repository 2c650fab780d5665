"""The faults of the runnable-suite issue, each injected against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.auth.demo import DEMO_EMPLOYER, DEMO_EMPLOYER_NO
from services.auth.store import save_employer
from services.registry import spec_of
from services.runtime import dlq
from services.runtime.outbox import RelayCrash, RelayFaults
from services.runtime.service import Runtime
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_delivery import NOW, count, ping
from tests.support.cli import run_cli
from tests.support.kafka import eventually, read_topic
from tests.support.probe import Ping, probe_spec


def crash() -> None:
    raise RelayCrash("killed")


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def pool_of(runtime: Runtime) -> asyncpg.Pool:
    assert runtime.pool is not None
    return runtime.pool


async def wait_effects(runtime: Runtime, n: int) -> None:
    async def enough() -> bool:
        return await count(pool_of(runtime), "SELECT count(*) FROM effects") >= n

    await eventually(enough, what=f"{n} effects")


async def test_relay_dies_after_commit_before_publish(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    first = await start_runtime(probe_spec(), relay_faults=RelayFaults(before_publish=crash))
    event = ping(1)
    async with first.unit_of_work() as uow:
        uow.publish(event)
    assert first.relay is not None and first.relay.task is not None
    await eventually(lambda: _done(first), what="the relay to die")
    await first.stop()
    assert await read_topic(bootstrap, prefix + Ping.TOPIC) == []

    restarted = await start_runtime(probe_spec())
    await wait_effects(restarted, 1)
    published = await read_topic(bootstrap, prefix + Ping.TOPIC)
    assert [json.loads(r.value or b"")["event_id"] for r in published] == [str(event.event_id)]
    assert (
        await count(pool_of(restarted), "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        == 0
    )


async def test_relay_dies_after_publish_before_marking_sent(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    first = await start_runtime(probe_spec(), relay_faults=RelayFaults(after_publish=crash))
    async with first.unit_of_work() as uow:
        uow.publish(ping(1))
    await eventually(lambda: _done(first), what="the relay to die")
    await wait_effects(first, 1)
    await first.stop()

    restarted = await start_runtime(probe_spec())
    await eventually(
        lambda: _published_twice(bootstrap, prefix), what="the row to be published again"
    )
    await asyncio.sleep(0.5)  # give the consumer time to see the second copy
    assert await count(pool_of(restarted), "SELECT count(*) FROM effects") == 1
    assert (
        sample(
            restarted,
            "bvg_events_consumed_total",
            service="probe",
            topic=Ping.TOPIC,
            outcome="duplicate",
        )
        >= 0
    )


async def _done(runtime: Runtime) -> bool:
    return (
        runtime.relay is not None and runtime.relay.task is not None and runtime.relay.task.done()
    )


async def _published_twice(bootstrap: str, prefix: str) -> bool:
    return len(await read_topic(bootstrap, prefix + Ping.TOPIC)) == 2


async def test_same_event_twice_and_concurrently_has_one_effect(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    one = await start_runtime(probe_spec("one"))
    two = await start_runtime(probe_spec("two"), run_relay=False)
    event = ping(7)
    value = event.model_dump_json().encode()
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Ping.TOPIC,
        0,
        0,
        0,
        0,
        event.partition_key().encode(),
        value,
        None,
        len(value),
        len(value),
        (),
    )
    # The same event handed to two consumers at the same moment (two instances, a redelivery).
    await asyncio.gather(
        one.consumers[0].handle_batch([record]), two.consumers[0].handle_batch([record, record])
    )
    assert await count(pool_of(one), "SELECT count(*) FROM effects") == 1

    # And the same event published twice on the broker.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        again = ping(8)
        for _ in range(2):
            await producer.send_and_wait(
                prefix + Ping.TOPIC, again.model_dump_json().encode(), key=b"1001"
            )
    finally:
        await producer.stop()
    await wait_effects(one, 2)
    await asyncio.sleep(0.5)
    assert await count(pool_of(one), "SELECT count(*) FROM effects") == 2


async def test_poison_message_is_retried_then_dead_lettered_and_replayed_once(
    start_runtime: StartRuntime, bootstrap: str, prefix: str, dsn: str
) -> None:
    settings = fast_settings(prefix, retry_attempts=3, retry_backoff_ms=20)
    runtime = await start_runtime(probe_spec(), settings=settings)
    poison = ping(1, poison=True)
    async with runtime.unit_of_work() as uow:
        uow.publish(ping(0))
        uow.publish(poison)  # same key, same partition: the ones after it must still flow
        for n in range(2, 6):
            uow.publish(ping(n))
    await wait_effects(runtime, 5)
    labels = {"service": "probe", "topic": Ping.TOPIC}
    assert sample(runtime, "bvg_events_consumed_total", **labels, outcome="retried") == 2
    assert sample(runtime, "bvg_dlq_messages_total", **labels) == 1

    entries = await dlq.list_entries(bootstrap, prefix)
    assert len(entries) == 1 and not entries[0].replayed
    assert entries[0].attempts == 3 and entries[0].error_type == "PoisonError"
    assert entries[0].original_topic == Ping.TOPIC

    # The operator's commands, as an operator runs them.
    env = {**os.environ, "DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    env["BVG_TOPIC_PREFIX"] = prefix
    listed = _cli(env, "dlq", "list", "--json")
    assert json.loads(listed)[0]["dlq_id"] == entries[0].dlq_id

    await pool_of(runtime).execute("INSERT INTO repaired (event_id) VALUES ($1)", poison.event_id)
    assert "replayed 1 message(s)" in _cli(env, "dlq", "replay", "--all")
    await wait_effects(runtime, 6)
    assert "replayed 0 message(s)" in _cli(env, "dlq", "replay", "--all")
    assert (await dlq.list_entries(bootstrap, prefix))[0].replayed
    await asyncio.sleep(0.5)
    assert await count(pool_of(runtime), "SELECT count(*) FROM effects") == 6


def _cli(env: dict[str, str], *args: str) -> str:
    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_two_instances_split_the_partitions(start_runtime: StartRuntime, prefix: str) -> None:
    a = await start_runtime(probe_spec("a"))
    b = await start_runtime(probe_spec("b"))

    async def both_assigned() -> bool:
        return all(_assigned(r) for r in (a, b))

    await eventually(both_assigned, timeout=30, what="both instances to get partitions")
    async with a.unit_of_work() as uow:
        for n in range(300):
            uow.publish(ping(n, employer_no=2000 + n % 60))
    await wait_effects(a, 300)
    await asyncio.sleep(0.5)
    pool = pool_of(a)
    assert await count(pool, "SELECT count(*) FROM effects") == 300
    assert await count(pool, "SELECT count(DISTINCT n) FROM effects") == 300
    by_instance = {
        r["instance"]: r["n"]
        for r in await pool.fetch("SELECT instance, count(*) AS n FROM effects GROUP BY instance")
    }
    assert set(by_instance) == {"a", "b"}, by_instance


def _assigned(runtime: Runtime) -> bool:
    kafka = getattr(runtime._subscriber, "consumer", None)
    return kafka is not None and len(kafka.assignment()) > 0


async def test_one_trace_spans_auth_and_intake(start_runtime: StartRuntime) -> None:
    exporter = InMemorySpanExporter()
    auth = await start_runtime(spec_of("auth"), span_exporter=exporter)
    intake = await start_runtime(spec_of("intake"), span_exporter=exporter)
    with auth.tracer.start_as_current_span("affiliate employer") as root:
        async with auth.unit_of_work() as uow:
            await save_employer(uow, DEMO_EMPLOYER_NO, DEMO_EMPLOYER, now=NOW)
    trace_id = root.get_span_context().trace_id

    async def projected() -> bool:
        return await count(pool_of(intake), "SELECT count(*) FROM employers") == 1

    await eventually(projected, what="the employer in intake's projection")
    services = {
        str(span.resource.attributes.get("service.name"))
        for span in exporter.get_finished_spans()
        if span.context is not None and span.context.trace_id == trace_id
    }
    assert {"bvgconnect-auth", "bvgconnect-intake"} <= services
    handled = [
        s for s in exporter.get_finished_spans() if s.name.endswith("employer-changed.v1 handle")
    ]
    assert handled and all(
        s.context is not None and s.context.trace_id == trace_id for s in handled
    )


async def test_stop_drains_the_outbox(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(probe_spec())
    async with runtime.unit_of_work() as uow:
        for n in range(500):
            uow.publish(ping(n))
    await runtime.stop()  # the SIGTERM path
    assert len(await read_topic(bootstrap, prefix + Ping.TOPIC)) == 500


Check = Callable[[], bool]
