"""Idempotent consumption: inbox and effects in one transaction; retries, then the DLQ.

A batch from the broker is handled in one transaction (fast path). If anything in it
fails, the batch is handled again one event at a time (slow path): a failing event is
retried with backoff, then sent to `<topic>.dlq` with the error in its headers, and the
events after it still flow. Database or broker outages are not the event's fault: they
are retried until the infrastructure is back, without counting towards the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from contracts.envelope import Envelope, RowsEvent

from .outbox import UnitOfWork
from .telemetry import Metrics, extract, redact

log = logging.getLogger("bvgconnect.consumer")

Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A service handles events of `model` (published on `model.TOPIC`) with `handler`.

    The handler is given each row of an event that carries a part of a list (`RowsEvent`):
    a `RowsValidated` subscription's handler sees `RowValidated` events, one per row.
    """

    model: type[Envelope]
    handler: Handler
    #: The handler's state is per event key (coverage: one worker at one employer): a batch
    #: is split by key into up to this many parts, handled at the same time, each in its own
    #: transaction. One key's events stay in one part, in order; while one part waits for
    #: the database, another computes.
    parallel_by_key: int = 1
    #: The handler is given each row of a part of a list (`RowsEvent.unpack`); False: the
    #: part as it came (e.g. to keep it whole).
    per_row: bool = True

    @property
    def topic(self) -> str:
        return self.model.TOPIC

    @property
    def max_per_transaction(self) -> int:
        """Most events handled in one transaction (then the next): 50 parts of lists (5,000
        rows: a backlog does not become one transaction of 50,000 rows), as many events as
        the broker gives otherwise. Ten parts cost a month of lists 20 % more CPU."""
        return 50 if issubclass(self.model, RowsEvent) else 1_000_000


class UndecodableEvent(Exception):
    """The message is not a valid event of its topic; retrying cannot help."""


_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble (retry until it passes), not a fault of the event."""
    if isinstance(
        exc,
        OSError
        | ConnectionError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError,
    ):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    return False


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class Consumer:
    """Handles the batches of one subscription for one service."""

    def __init__(
        self,
        *,
        service: str,
        schema: str,
        pool: asyncpg.Pool,
        subscription: Subscription,
        producer: AIOKafkaProducer,
        topic_name: Callable[[str], str],
        tracer: trace.Tracer,
        metrics: Metrics,
        retry_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        record_spans: bool = True,
    ) -> None:
        self.service = service
        self.schema = schema
        self.pool = pool
        self.subscription = subscription
        self.producer = producer
        self.topic_name = topic_name
        self.tracer = tracer
        self.record_spans = record_spans
        #: Handlers record spans of their own (`UnitOfWork.span`) only when spans are exported.
        self._work_tracer = tracer if record_spans else None
        self.metrics = metrics
        self.retry_attempts = retry_attempts
        self.retry_backoff_s = retry_backoff_s
        self.stopping = False
        self._raw_headers: object = None
        self._context = otel_context.Context()

    @property
    def topic(self) -> str:
        return self.subscription.topic

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> Envelope:
        try:
            return self.subscription.model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            raise UndecodableEvent(
                f"not a valid {self.topic} event: {exc.error_count()} errors"
            ) from exc

    async def handle(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Handle a batch of the broker's records of this subscription's topic, in slices of
        at most `Subscription.max_per_transaction`, each in parts by key where the
        subscription allows it (`Subscription.parallel_by_key`); returns once every part is
        handled (so that offsets commit), raising the first part's error."""
        limit = self.subscription.max_per_transaction
        if len(records) > limit:
            # e.g. a backlog of parts of lists: a transaction of at most 5,000 rows
            for start in range(0, len(records), limit):
                await self.handle(records[start : start + limit])
            return
        parts = self.subscription.parallel_by_key
        if parts <= 1 or len(records) < 2 * parts:
            await self.handle_batch(records)
            return
        split: list[list[ConsumerRecord[bytes, bytes]]] = [[] for _ in range(parts)]
        for record in records:
            split[zlib.crc32(record.key or b"") % parts].append(record)
        outcomes = await asyncio.gather(
            *(self.handle_batch(part) for part in split if part), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # not acknowledged: the whole batch comes again (inbox dedups)

    async def handle_batch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Handle `records` exactly once each (effects), then return so offsets commit."""
        if not records:
            return
        started = time.perf_counter()
        try:
            events = [(record, self._decode(record)) for record in records]
        except UndecodableEvent:
            await self._one_by_one(records)
            return
        backoff = self.retry_backoff_s
        while True:
            try:
                handled = await self._in_one_transaction(events)
                break
            except Exception as exc:
                if is_transient(exc) and self.stopping:
                    raise  # not acknowledged: redelivered after the restart
                if is_transient(exc):
                    log.warning(
                        "infrastructure unavailable, retrying batch: %s", type(exc).__name__
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                await self._one_by_one(records)
                return
        elapsed = time.perf_counter() - started
        labels = (self.service, self.topic)
        self.metrics.handler_seconds.labels(*labels).observe(elapsed / len(records))
        self.metrics.consumed.labels(*labels, "handled").inc(handled)
        if len(records) > handled:
            self.metrics.consumed.labels(*labels, "duplicate").inc(len(records) - handled)

    async def _in_one_transaction(
        self, events: list[tuple[ConsumerRecord[bytes, bytes], Envelope]]
    ) -> int:
        handled, uow = await self._batch_transaction(events)
        uow.committed(self.metrics)
        return handled

    async def _batch_transaction(
        self, events: list[tuple[ConsumerRecord[bytes, bytes], Envelope]]
    ) -> tuple[int, UnitOfWork]:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = {
                row["event_id"]
                for row in await conn.fetch(
                    "INSERT INTO inbox (event_id, topic) SELECT unnest($1::uuid[]), $2 "
                    "ON CONFLICT DO NOTHING RETURNING event_id",
                    [event.event_id for _, event in events],
                    self.topic,
                )
            }
            uow = UnitOfWork(conn, self.schema, tracer=self._work_tracer)
            handled = 0
            for record, event in events:
                if event.event_id not in fresh:
                    continue
                fresh.discard(event.event_id)  # the same event twice in one batch: once
                await self._call_handler(uow, record, event)
                handled += 1
            await uow.flush()
        return handled, uow

    async def _call_handler(
        self, uow: UnitOfWork, record: ConsumerRecord[bytes, bytes], event: Envelope
    ) -> None:
        context = self._context_of(record)
        if not self.record_spans:
            # Nothing exports spans: carry the caller's trace on (for the outbox rows this
            # handler writes, and the logs) without the cost of a span per event.
            token = otel_context.attach(context)
            try:
                await self._handle(uow, event)
            finally:
                otel_context.detach(token)
            return
        with self.tracer.start_as_current_span(
            f"{self.topic} handle",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination": self.topic,
                "messaging.message.id": str(event.event_id),
                "bvg.employer_no": event.employer_no,
                "bvg.correlation_id": event.correlation_id,
            },
        ):
            await self._handle(uow, event)

    async def _handle(self, uow: UnitOfWork, event: Envelope) -> None:
        """The handler, given each row of a part of a list (`RowsEvent`) unless the
        subscription takes it whole (`Subscription.per_row`)."""
        for one in event.unpack() if self.subscription.per_row else [event]:
            await self.subscription.handler(uow, one)

    def _context_of(self, record: ConsumerRecord[bytes, bytes]) -> otel_context.Context:
        """The trace context of the record's headers. Consecutive events of one cause (the
        rows of one list) carry the same headers: they share one extracted context, which
        also lets the outbox serialise their events' trace headers once."""
        raw = record.headers or ()
        if raw != self._raw_headers:
            self._raw_headers = raw
            self._context = extract({k: v.decode(errors="replace") for k, v in raw})
        return self._context

    async def _one_by_one(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self._one(record)

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        labels = (self.service, self.topic)
        attempt = 0
        infra_backoff = self.retry_backoff_s
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                event = self._decode(record)
                async with self.pool.acquire() as conn, conn.transaction():
                    fresh = await conn.fetchval(
                        "INSERT INTO inbox (event_id, topic) VALUES ($1, $2) "
                        "ON CONFLICT DO NOTHING RETURNING true",
                        event.event_id,
                        self.topic,
                    )
                    uow = UnitOfWork(conn, self.schema, tracer=self._work_tracer)
                    if fresh:
                        await self._call_handler(uow, record, event)
                        await uow.flush()
                uow.committed(self.metrics)
                self.metrics.handler_seconds.labels(*labels).observe(time.perf_counter() - started)
                self.metrics.consumed.labels(*labels, "handled" if fresh else "duplicate").inc()
                return
            except UndecodableEvent as exc:
                await self._to_dlq(record, exc, attempt)
                return
            except Exception as exc:
                if is_transient(exc) and self.stopping:
                    raise  # not acknowledged: redelivered after the restart
                if is_transient(exc):
                    attempt -= 1  # not the event's fault
                    log.warning("infrastructure unavailable, retrying: %s", type(exc).__name__)
                    await asyncio.sleep(infra_backoff)
                    infra_backoff = min(infra_backoff * 2, 5.0)
                    continue
                if attempt >= self.retry_attempts:
                    await self._to_dlq(record, exc, attempt)
                    return
                self.metrics.consumed.labels(*labels, "retried").inc()
                log.warning(
                    "handler failed (attempt %d of %d): %s",
                    attempt,
                    self.retry_attempts,
                    type(exc).__name__,
                    extra={"topic": self.topic},
                )
                await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))

    async def _to_dlq(
        self, record: ConsumerRecord[bytes, bytes], exc: BaseException, attempts: int
    ) -> None:
        message = redact(f"{type(exc).__name__}: {exc}")[:1000]
        headers = [
            *(record.headers or ()),
            ("x-dlq-id", str(uuid.uuid4()).encode()),
            ("x-error", message.encode()),
            ("x-error-type", type(exc).__name__.encode()),
            ("x-original-topic", self.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-attempts", str(attempts).encode()),
            ("x-consumer", self.service.encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        while True:
            try:
                await self.producer.send_and_wait(
                    self.topic_name(dlq_topic(self.topic)),
                    value=record.value,
                    key=record.key,
                    headers=headers,
                )
                break
            except Exception as send_exc:
                if self.stopping:
                    raise
                log.warning("DLQ publish failed, retrying: %s", type(send_exc).__name__)
                await asyncio.sleep(1.0)
        self.metrics.dlq.labels(self.service, self.topic).inc()
        self.metrics.consumed.labels(self.service, self.topic, "dlq").inc()
        log.error(
            "event sent to the DLQ after %d attempts: %s",
            attempts,
            type(exc).__name__,
            extra={"topic": self.topic, "outcome": "dlq"},
        )
