"""The outbox's own fast paths give what the libraries they replace give."""

from __future__ import annotations

import json
import random
import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.runtime.outbox import _DERIVED, KeyPartitioner, derived_event_id, murmur2


def test_murmur2_and_partitions_match_aiokafka() -> None:
    rnd = random.Random(7)
    keys = [rnd.randbytes(rnd.randrange(0, 300)) for _ in range(3000)]
    keys += [
        f"{4000 + i % 50}:756.{i:04d}.{i * 7 % 10000:04d}.{i % 100:02d}".encode()
        for i in range(500)
    ]
    partitioner = KeyPartitioner(remember=100)
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key)
        for count in (1, 3, 6, 7):
            partitions = list(range(count))
            expected = DefaultPartitioner()(key, partitions, partitions)
            assert partitioner.index(key, count) == expected
            assert partitioner.index(key, count) == expected  # remembered


def test_derived_event_id_is_uuid5_of_what_the_event_is_about() -> None:
    rnd = random.Random(11)
    for _ in range(5000):
        parts = (
            rnd.randbytes(rnd.randrange(0, 60)).hex(),
            rnd.randrange(-(10**12), 10**12),
            uuid.UUID(int=rnd.getrandbits(128)),
            "é☃ Zürich",
        )[: rnd.randrange(0, 5)]
        name = ":".join(["coverage", "row-assessed", *map(str, parts)])
        assert derived_event_id("coverage", "row-assessed", *parts) == uuid.uuid5(_DERIVED, name)


class _RecordingConnection:
    """The calls `UnitOfWork.flush` makes, recorded (a hand-written fake)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[object, ...]]]] = []

    async def executemany(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        self.calls.append((sql, rows))

    async def execute(self, sql: str, *args: object) -> None:
        self.calls.append((sql, [args]))

    async def fetchval(self, sql: str, *args: object) -> list[object]:
        self.calls.append((sql, [args]))
        return list(args[0]) if args and isinstance(args[0], list | tuple) else []


async def test_writes_deferred_by_an_after_writes_step_still_run() -> None:
    from typing import Any, cast

    from services.runtime.outbox import UnitOfWork

    conn = _RecordingConnection()
    uow = UnitOfWork(cast(Any, conn), "test")
    uow.defer("INSERT first", 1)
    steps: list[str] = []

    async def step() -> None:
        steps.append("step")
        uow.defer("INSERT later", 2)
        uow.after_writes("again", step)  # the same key twice in one flush runs once

    uow.after_writes("again", step)
    await uow.flush()
    assert [sql for sql, _ in conn.calls] == ["INSERT first", "INSERT later"]
    assert steps == ["step"]


async def test_published_events_are_written_as_model_dump_json_with_their_trace() -> None:
    from datetime import UTC, datetime
    from typing import Any, cast

    from opentelemetry import context as otel_context

    from contracts.events.clock import DayStarted
    from services.runtime.outbox import UnitOfWork
    from services.runtime.telemetry import extract

    traced = extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    conn = _RecordingConnection()
    uow = UnitOfWork(cast(Any, conn), "test")
    events = [
        DayStarted.new(
            occurred_at=datetime(2025, 4, 25, 4, tzinfo=UTC),
            employer_no=0,
            correlation_id=f"day-{n}",
            payload={"business_date": f"2025-04-{25 + n}"},
        )
        for n in range(3)
    ]
    for event, context in zip(events, (traced, traced, otel_context.Context()), strict=True):
        token = otel_context.attach(context)
        try:
            uow.publish(event)
        finally:
            otel_context.detach(token)
    await uow.flush()
    (_, [args]) = conn.calls[0]
    ids, _topics, _keys, values, headers = cast(Any, args)[:5]
    assert list(ids) == [e.event_id for e in events]
    assert list(values) == [e.model_dump_json().encode() for e in events]
    assert [json.loads(h) for h in headers] == [
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {},
    ]


def test_records_with_the_same_trace_headers_share_one_extracted_context() -> None:
    from typing import Any, cast

    from opentelemetry import trace

    from contracts.events.clock import DayStarted
    from services.runtime.consumer import Consumer, Subscription

    async def handler(*_: object) -> None:
        return None

    consumer = Consumer(
        service="test",
        schema="test",
        pool=cast(Any, None),
        subscription=Subscription(DayStarted, handler),
        producer=cast(Any, None),
        topic_name=str,
        tracer=trace.get_tracer("test"),
        metrics=cast(Any, None),
    )

    class Record:
        def __init__(self, headers: tuple[tuple[str, bytes], ...]) -> None:
            self.headers = headers

    def trace_id(record: Record) -> int:
        context = consumer._context_of(cast(Any, record))
        return trace.get_current_span(context).get_span_context().trace_id

    one = (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)
    other = (("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),)
    first = consumer._context_of(cast(Any, Record(one)))
    assert consumer._context_of(cast(Any, Record(one))) is first
    assert trace_id(Record(one)) == 0x0AF7651916CD43DD8448EB211C80319C
    assert trace_id(Record(other)) == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert trace_id(Record(())) == 0  # no headers: no trace
    assert trace_id(Record(one)) == 0x0AF7651916CD43DD8448EB211C80319C
