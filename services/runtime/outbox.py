"""Transactional outbox: state and events in one transaction; a relay publishes in order.

A crash anywhere loses nothing: an event is in the outbox once its transaction commits,
and stays unpublished until the broker acknowledged it. A crash between the broker's
acknowledgement and marking the row may publish it again; consumers deduplicate (inbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import struct
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from contracts import Envelope
from contracts.catalogue import PACKED
from contracts.envelope import RowsEvent, part_of

from .db import Connection
from .telemetry import Metrics, extract, inject

log = logging.getLogger("bvgconnect.outbox")


_DERIVED = uuid.UUID("6f1c1d2e-4b0a-4c52-9d4e-8a3b7e5f0c11")


def derived_event_id(service: str, kind: str, *parts: object) -> uuid.UUID:
    """A stable id for an event derived from others (uuid5 of what it is about).

    Deriving the same fact again gives the same id, and the outbox writes an id once: a
    redelivered or replayed input publishes nothing new.
    """
    name = ":".join([service, kind, *map(str, parts)]).encode()
    # uuid.uuid5(_DERIVED, name) without its per-call import and checks: the same bits, in
    # less than half the time (derived events are the bulk of what coverage and pricing
    # publish). The namespace is hashed once; the UUID is filled as its __init__ would.
    digest = _SHA1_OF_NAMESPACE.copy()
    digest.update(name)
    value = int.from_bytes(digest.digest()[:16]) & _NOT_VERSION_BITS | _VERSION_5_BITS
    event_id = _new_uuid(uuid.UUID)
    _set_slot(event_id, "int", value)
    _set_slot(event_id, "is_safe", uuid.SafeUUID.unknown)
    return event_id


_SHA1_OF_NAMESPACE = hashlib.sha1(_DERIVED.bytes, usedforsecurity=False)
_new_uuid = object.__new__
_set_slot = object.__setattr__

# RFC 4122 §4.3: version 5 in bits 76-79, variant 10 in bits 62-63.
_NOT_VERSION_BITS = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5_BITS = (5 << 76) | (0x8000 << 48)


#: Marks a statement deferred with `UnitOfWork.defer_rows` (one array per argument).
_ROWS = "-- rows\n"

#: How often the active relay forgets what is past its retention.
PURGE_EVERY_S = 3600.0


def channel(schema: str) -> str:
    """LISTEN/NOTIFY channel that wakes the relay of one schema."""
    return f"outbox_{schema}"


@dataclass
class UnitOfWork:
    """One transaction of one service: its own rows plus the events it publishes."""

    conn: Connection
    schema: str
    _pending: list[tuple[Any, ...]] = field(default_factory=list)
    _deferred: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    #: Values a handler may keep for the rest of this transaction (one batch of events),
    #: e.g. a lookup shared by many rows of one employer.
    memo: dict[Any, Any] = field(default_factory=dict)
    _after: dict[Hashable, tuple[Callable[[], Awaitable[None]], otel_context.Context]] = field(
        default_factory=dict
    )
    _committed: list[Callable[[Metrics], None]] = field(default_factory=list)
    #: Row events to be written as parts of their list (`RowsEvent`), by part: the trace
    #: headers of the part's first row, and its rows by id.
    _parts: dict[
        tuple[type[RowsEvent], int, uuid.UUID, int], tuple[str, dict[uuid.UUID, Envelope]]
    ] = field(default_factory=dict)
    _context: otel_context.Context | None = None
    _headers: str = "{}"
    #: Records the work's own spans (`span`); None when nothing exports spans.
    tracer: trace.Tracer | None = None

    def defer(self, sql: str, *args: Any) -> None:
        """Run `sql` with `args` at the end of the transaction, batched with the other rows
        of the same statement (one round trip for a whole batch of events).

        For writes whose result the handler does not need; they run in the order their
        statements were first deferred, before the outbox rows.
        """
        self._deferred.setdefault(sql, []).append(args)

    def defer_rows(self, sql: str, *args: Any) -> None:
        """Like `defer`, but the whole batch's rows go to Postgres as one statement: `sql`
        takes one array per argument (`unnest($1::uuid[], $2::int[], ...)`), holding the
        deferred rows' values in order. One statement instead of one per row: for the rows
        of parts of lists (a hundred rows an event), the per-statement cost in Postgres
        was most of the write."""
        self._deferred.setdefault(_ROWS + sql, []).append(args)

    def after_writes(self, key: Hashable, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` once per `key` at the end of the transaction, after the deferred
        writes (e.g. one completeness check per list for a whole batch of its rows).

        The step runs in the trace context of the handler that first asked for it, so the
        events it publishes (e.g. billing's invoice once a list's last row is in) continue
        that event's trace instead of starting none.
        """
        if key not in self._after:
            self._after[key] = (step, otel_context.get_current())

    def span(
        self,
        name: str,
        *,
        links: Sequence[trace.Link] = (),
        attributes: dict[str, str | int] | None = None,
    ) -> contextlib.AbstractContextManager[object]:
        """A span of this work in the current trace (nothing when spans are not recorded);
        the events published inside it are its children. Attributes carry ids only."""
        if self.tracer is None:
            return contextlib.nullcontext()
        return self.tracer.start_as_current_span(
            name, kind=SpanKind.INTERNAL, links=links, attributes=attributes
        )

    def on_commit(self, count: Callable[[Metrics], None]) -> None:
        """Call `count(metrics)` once this transaction has committed (never if it rolls
        back): where business counters are incremented.

        Counting guarantee: once per committed transaction of this process. An event
        handled again after a crash between the commit and the broker's offset commit is a
        duplicate for the inbox and counts nothing; a crash right after the commit loses the
        count (counters restart at zero with the process anyway). A batch that fails and is
        handled again event by event counts only in the transactions that commit.
        """
        self._committed.append(count)

    def committed(self, metrics: Metrics | None) -> None:
        """The transaction committed: run the `on_commit` counters (errors only logged)."""
        counts, self._committed = self._committed, []
        if metrics is None:
            return
        for count in counts:
            try:
                count(metrics)
            except Exception as exc:  # metrics must never fail a committed transaction
                log.warning("a business counter failed: %s", type(exc).__name__)

    def publish(self, event: Envelope) -> None:
        """Publish `event` when (and only if) this transaction commits.

        An event whose id is in the outbox already is not written again: an event derived
        with a deterministic id is published at most once.
        """
        context = otel_context.get_current()
        if context is not self._context:  # events of one cause share its trace headers
            self._context, self._headers = context, json.dumps(inject(context))
        packed = PACKED.get(type(event))
        if packed is not None:
            # A row of a list travels in its part (`RowsEvent`): one event per part of a
            # list, whichever rows of it this transaction publishes; the first trace wins.
            p = event.payload
            key = (packed, event.employer_no, p.upload_id, part_of(p.row_no))
            if key not in self._parts:
                self._parts[key] = (self._headers, {})
            self._parts[key][1].setdefault(event.event_id, event)
            return
        self._pending.append(
            (
                event.event_id,
                event.TOPIC,
                event.partition_key(),
                # model_dump_json() without the round trip through str: the same bytes.
                event.__pydantic_serializer__.to_json(event),
                self._headers,
            )
        )

    async def flush(self) -> int:
        """Run the deferred writes and write the collected events into the outbox.

        A step of `after_writes` may defer writes (or ask for other steps): they run too,
        round after round; a key runs once per flush.
        """
        ran: set[Hashable] = set()
        while self._deferred or self._after:
            deferred, self._deferred = self._deferred, {}
            for sql, rows in deferred.items():
                if sql.startswith(_ROWS):
                    await self.conn.execute(sql[len(_ROWS) :], *map(list, zip(*rows, strict=True)))
                else:
                    await self.conn.executemany(sql, rows)
            after, self._after = self._after, {}
            for key, (step, context) in after.items():
                if key not in ran:
                    ran.add(key)
                    token = otel_context.attach(context)
                    try:
                        await step()
                    finally:
                        otel_context.detach(token)
        part_rows = self._write_parts()
        if not self._pending:
            return 0
        rows, self._pending = self._pending, []
        # One statement for all rows (unnest keeps their order, so ids follow it) and the
        # relay's wake-up call, sent when the transaction commits.
        written = await self.conn.fetchval(
            "WITH written AS (INSERT INTO outbox (event_id, topic, key, value, headers) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id) "
            "SELECT array(SELECT event_id FROM written) FROM pg_notify($6, '')",
            *zip(*rows, strict=True),
            channel(self.schema),
        )
        if part_rows:
            await self._check_parts_not_split(part_rows, set(written))
        return len(rows)

    async def _check_parts_not_split(
        self, part_rows: dict[uuid.UUID, set[int]], written: set[uuid.UUID]
    ) -> None:
        """A part the outbox had already (its derived id) must be the same rows again (a
        redelivered cause). Rows of one part published in two transactions would otherwise
        be dropped without a word: fail instead (the event is retried, then dead-lettered)."""
        again = [part_id for part_id in part_rows if part_id not in written]
        if not again:
            return
        for stored in await self.conn.fetch(
            "SELECT event_id, value FROM outbox WHERE event_id = ANY($1::uuid[])", again
        ):
            known = {row["row_no"] for row in json.loads(stored["value"])["payload"]["rows"]}
            if not part_rows[stored["event_id"]] <= known:
                raise PartSplitError(
                    f"rows {sorted(part_rows[stored['event_id']] - known)[:5]} of a part of a "
                    "list came in a transaction after the part was written: the rows of one "
                    "part must be published in one transaction"
                )

    def _write_parts(self) -> dict[uuid.UUID, set[int]]:
        """The parts of lists whose rows were published, after the other events: each
        with an id derived from its list and part, so that publishing a part again (a
        redelivered cause) writes nothing new. Returns each part's row numbers."""
        parts, self._parts = self._parts, {}
        part_rows: dict[uuid.UUID, set[int]] = {}
        for (model, _, upload_id, part_no), (headers, rows) in parts.items():
            event = model.pack(
                derived_event_id("parts", model.TOPIC, upload_id, part_no), list(rows.values())
            )
            part_rows[event.event_id] = {row.row_no for row in event.payload.rows}
            self._pending.append(
                (
                    event.event_id,
                    event.TOPIC,
                    event.partition_key(),
                    event.__pydantic_serializer__.to_json(event),
                    headers,
                )
            )
        return part_rows


class PartSplitError(Exception):
    """Rows of one part of a list were published in two transactions (a defect)."""


@contextlib.asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool,
    schema: str,
    *,
    metrics: Metrics | None = None,
    tracer: trace.Tracer | None = None,
) -> AsyncIterator[UnitOfWork]:
    """Open a transaction; on success write the outbox and commit, else roll back.

    After the commit, the counters the work asked for (`UnitOfWork.on_commit`) count.
    """
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, schema, tracer=tracer)
        yield uow
        await uow.flush()
    uow.committed(metrics)


class RelayCrash(Exception):
    """Raised by a fault hook: the relay dies there, as a killed process would."""


@dataclass
class RelayFaults:
    """Fault injection points for tests: raise `RelayCrash` to die at that point."""

    before_publish: Callable[[], None] | None = None
    after_publish: Callable[[], None] | None = None


class OutboxRelay:
    """Publishes outbox rows of one schema in id order; one active relay per schema.

    The relay holds a session advisory lock on its own connection, so two instances of a
    service never publish the same schema's rows in parallel (which would reorder keys).
    """

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        service: str,
        producer: AIOKafkaProducer,
        topic_name: Callable[[str], str],
        metrics: Metrics,
        tracer: trace.Tracer,
        batch_size: int = 1000,
        poll_ms: int = 1000,
        faults: RelayFaults | None = None,
        record_spans: bool = True,
        outbox_retention_h: float = 168,
        inbox_retention_h: float = 720,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.service = service
        self.producer = producer
        self.topic_name = topic_name
        self.metrics = metrics
        self.tracer = tracer
        self.batch_size = batch_size
        self.poll_s = poll_ms / 1000
        self.faults = faults or RelayFaults()
        self.record_spans = record_spans
        self.outbox_retention_h = outbox_retention_h
        self.inbox_retention_h = inbox_retention_h
        self._next_purge = 0.0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._partitioner = KeyPartitioner()
        self.active = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self, drain_s: float = 10.0) -> None:
        """Stop after publishing what is pending (at most `drain_s` seconds)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None and self._task.done():
            if not self._task.cancelled() and self._task.exception() is not None:
                log.warning("outbox relay had died: %s", type(self._task.exception()).__name__)
            self._task = None  # nothing to drain from here; the next start publishes
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=drain_s)
            except TimeoutError:
                log.warning("outbox drain timed out; rows stay for the next start")
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self._task = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        await conn.add_listener(channel(self.schema), self._on_notify)
        return conn

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                    self.active = False
                if not self.active:
                    self.active = bool(
                        await self._conn.fetchval(
                            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                            f"relay:{self.schema}",
                        )
                    )
                if self.active and time.monotonic() >= self._next_purge:
                    await self.purge(self._conn)
                    self._next_purge = time.monotonic() + PURGE_EVERY_S
                if self.active:
                    published = await self.publish_pending(self._conn)
                    backoff = 0.1
                    if published:
                        continue  # more may be waiting
                if self._stopping.is_set():
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except asyncio.CancelledError:
                raise
            except RelayCrash:
                await self._close_conn()  # a dead process's connections close, and its lock
                raise
            except Exception as exc:
                if self._stopping.is_set():
                    log.warning("outbox relay stopped with rows pending: %s", type(exc).__name__)
                    break
                log.warning("outbox relay error, retrying: %s", type(exc).__name__)
                await self._close_conn()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        await self._close_conn()

    async def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None
        self.active = False

    async def purge(self, conn: Connection) -> tuple[int, int]:
        """Forget published outbox rows and handled event ids past their retention.

        Safe for derived events too: were one derived again after its row is gone, it would
        carry the same id, and every consumer's inbox still knows that id.
        """
        outbox = await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
            self.outbox_retention_h * 3600,
        )
        inbox = await conn.execute(
            "DELETE FROM inbox WHERE handled_at < now() - make_interval(secs => $1)",
            self.inbox_retention_h * 3600,
        )
        return int(outbox.split()[-1]), int(inbox.split()[-1])

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        rows = await conn.fetch(
            "SELECT id, topic, key, value, headers FROM outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            self.metrics.outbox_pending.labels(self.service).set(0)
            return 0
        if self.faults.before_publish is not None:
            self.faults.before_publish()
        spans = []
        # Rows go into record batches per topic partition, in id order, the next batch when
        # one is full: one send per batch instead of one per row.
        batches: dict[tuple[str, int], list[BatchBuilder]] = {}
        partitions: dict[str, tuple[int, ...]] = {}
        raw_headers: object = None
        stored: dict[str, str] = {}
        stored_headers: list[tuple[str, bytes]] = []
        for row in rows:
            if row["headers"] != raw_headers:  # rows of one cause share their trace headers
                raw_headers = row["headers"]
                stored = json.loads(raw_headers) if isinstance(raw_headers, str) else {}
                stored_headers = [(k, v.encode()) for k, v in stored.items()]
            headers = stored_headers
            if self.record_spans:
                span = self.tracer.start_span(
                    f"{row['topic']} publish",
                    context=extract(stored),
                    kind=SpanKind.PRODUCER,
                    attributes={"messaging.system": "kafka", "messaging.destination": row["topic"]},
                )
                spans.append(span)
                traced = inject(trace.set_span_in_context(span))
                headers = [(k, v.encode()) for k, v in traced.items()]
            topic = self.topic_name(row["topic"])
            of_topic = partitions.get(topic)
            if of_topic is None:
                of_topic = partitions[topic] = tuple(
                    sorted(await self.producer.partitions_for(topic))
                )
            key = row["key"].encode()
            tp = (topic, of_topic[self._partitioner.index(key, len(of_topic))])
            builders = batches.get(tp)
            if builders is None:
                builders = batches[tp] = [self.producer.create_batch()]
            value = row["value"]
            if builders[-1].append(timestamp=None, key=key, value=value, headers=headers) is None:
                builders.append(self.producer.create_batch())  # full: the row opens the next
                if (
                    builders[-1].append(timestamp=None, key=key, value=value, headers=headers)
                    is None
                ):
                    raise RuntimeError(f"outbox row {row['id']} fits in no record batch")
        try:
            sent = await asyncio.gather(*(self._send(tp, b) for tp, b in batches.items()))
            await asyncio.gather(*(future for futures in sent for future in futures))
        finally:
            for span in spans:
                span.end()
        if self.faults.after_publish is not None:
            self.faults.after_publish()
        ids = [row["id"] for row in rows]
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids
        )
        for topic, n in Counter(row["topic"] for row in rows).items():
            self.metrics.published.labels(self.service, topic).inc(n)
        if len(rows) < self.batch_size:
            pending = 0  # drained (rows written meanwhile wake the relay again)
        else:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        self.metrics.outbox_pending.labels(self.service).set(pending)
        return len(rows)

    async def _send(
        self, tp: tuple[str, int], builders: list[BatchBuilder]
    ) -> list[Awaitable[Any]]:
        """Queue one partition's batches in order: the producer sends a partition's batches
        one after another."""
        topic, partition = tp
        futures = []
        for builder in builders:
            builder.close()  # nothing else may be appended to it
            futures.append(await self.producer.send_batch(builder, topic, partition=partition))
        return futures


class KeyPartitioner:
    """Where Kafka's default partitioner puts a key (murmur2, as aiokafka's
    `DefaultPartitioner` and the Java client do), remembering recently seen keys."""

    def __init__(self, remember: int = 10_000) -> None:
        self.remember = remember
        self._known: dict[tuple[bytes, int], int] = {}

    def index(self, key: bytes, partitions: int) -> int:
        """Index of `key`'s partition among `partitions` partitions sorted by id."""
        known = self._known.get((key, partitions))
        if known is None:
            if len(self._known) >= self.remember:
                self._known.clear()  # cheaper than an LRU, and keys of a batch come together
            known = self._known[(key, partitions)] = (murmur2(key) & 0x7FFFFFFF) % partitions
        return known


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = [struct.Struct(f"<{n}I") for n in range(64)]


def murmur2(data: bytes) -> int:
    """MurmurHash2 of `data` as Kafka computes it (Utils.murmur2), a word at a time: twice
    as fast as `aiokafka.partitioner.murmur2`, same result."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    unpack = _WORDS[words] if words < len(_WORDS) else struct.Struct(f"<{words}I")
    for k in unpack.unpack_from(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:
        tail = length - rest
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)
