"""The outbox relay against the real broker: what lands where, in which order."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.runtime.outbox import OutboxRelay
from services.runtime.service import ensure_topics
from tests.conftest import StartRuntime
from tests.support.kafka import read_topic
from tests.support.probe import Ping, PingPayload, probe_spec

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BIG = "probe.big.v1"


def _traced(n: int) -> otel_context.Context:
    span = NonRecordingSpan(
        SpanContext(trace_id=n + 1, span_id=n + 1, is_remote=True, trace_flags=TraceFlags(1))
    )
    return trace.set_span_in_context(span)


@pytest.mark.parametrize("record_spans", [False, True], ids=["no spans", "spans"])
async def test_relay_publishes_each_row_to_its_key_partition_in_id_order(
    start_runtime: StartRuntime, bootstrap: str, prefix: str, record_spans: bool
) -> None:
    runtime = await start_runtime(probe_spec(), run_relay=False)
    assert runtime.pool is not None
    await ensure_topics(bootstrap, [prefix + BIG], partitions=3, replication=1, timeout_s=10)
    # Many keys, several record batches per partition, trace headers on some rows, and rows
    # larger than a record batch.
    for tx in range(3):
        async with runtime.unit_of_work() as uow:
            for i in range(400):
                n = tx * 400 + i
                event = Ping.new(
                    occurred_at=NOW,
                    employer_no=1000 + n % 37,
                    correlation_id=f"test:{n}",
                    payload=PingPayload(n=n),
                )
                token = otel_context.attach(_traced(n // 3)) if n % 2 else None
                try:
                    uow.publish(event)
                finally:
                    if token is not None:
                        otel_context.detach(token)
    async with runtime.pool.acquire() as conn:
        for size in (40_000, 10, 70_000):
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, key, value) VALUES ($1, $2, $3, $4)",
                uuid.uuid4(),
                BIG,
                f"k{size}",
                b"x" * size,
            )
        rows = await conn.fetch("SELECT id, topic, key, value, headers FROM outbox ORDER BY id")
    pings = [Ping.model_validate_json(r["value"]) for r in rows if r["topic"] == Ping.TOPIC]
    assert [ping.payload.n for ping in pings] == list(range(1200))  # ids in publish order

    assert runtime.producer is not None
    relay = OutboxRelay(
        dsn=runtime.dsn,
        schema=runtime.schema,
        service="probe",
        producer=runtime.producer,
        topic_name=runtime.topic_name,
        metrics=runtime.metrics,
        tracer=runtime.tracer,
        batch_size=500,  # three relay batches
        record_spans=record_spans,
    )
    relay_conn = await relay._connect()
    try:
        while await relay.publish_pending(relay_conn):
            pass
    finally:
        await relay_conn.close()

    for topic in (Ping.TOPIC, BIG):
        expected = [r for r in rows if r["topic"] == topic]
        found = await read_topic(bootstrap, prefix + topic)
        assert len(found) == len(expected)
        partitions = [0, 1, 2]
        by_partition: dict[int, list[tuple[bytes, bytes, str]]] = {}
        for r in expected:
            key = r["key"].encode()
            partition = DefaultPartitioner()(key, partitions, partitions)
            by_partition.setdefault(partition, []).append((key, r["value"], r["headers"]))
        published: dict[int, list[tuple[bytes, bytes, str]]] = {}
        for record in sorted(found, key=lambda r: (r.partition, r.offset)):
            assert record.key is not None and record.value is not None
            headers = {k: bytes(v).decode() for k, v in record.headers}
            published.setdefault(record.partition, []).append(
                (record.key, record.value, json.dumps(headers))
            )
        if record_spans:  # each row's publish span: its own span id, a new trace if none
            by_partition = _traces_only(by_partition, keep_new_traces_of=published)
            published = _traces_only(published)
        assert published == by_partition


Published = dict[int, list[tuple[bytes, bytes, str]]]


def _traces_only(rows: Published, keep_new_traces_of: Published | None = None) -> Published:
    """The trace id of each row's traceparent; a row without one (a new trace) takes the
    trace of the matching row in `keep_new_traces_of`."""
    out: Published = {}
    for partition, found in rows.items():
        for i, (key, value, headers) in enumerate(found):
            traceparent = json.loads(headers).get("traceparent")
            if traceparent is None and keep_new_traces_of is not None:
                traceparent = json.loads(keep_new_traces_of[partition][i][2])["traceparent"]
            trace_id = traceparent.split("-")[1] if traceparent else ""
            out.setdefault(partition, []).append((key, value, trace_id))
    return out
