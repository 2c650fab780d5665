"""One service process: pool, migrations, broker, consumers, outbox relay, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.envelope import Envelope, RowsEvent

from .access import (
    PROCESS_REVOCATIONS,
    KeySet,
    TokenVerifier,
    build_token_verifier,
    install_token_verifier,
)
from .clock import Clock, SystemClock
from .consumer import Consumer, Subscription, dlq_topic
from .db import create_pool, load_migrations, migrate, quote_ident
from .errors import install_error_handlers
from .handlers import REVOCATION_MIGRATIONS, load_revocations, purge_revocations
from .outbox import OutboxRelay, RelayFaults, UnitOfWork, unit_of_work
from .settings import Settings
from .telemetry import Metrics, extract, make_tracer_provider

log = logging.getLogger("bvgconnect.runtime")

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
#: Allocations between two collections of the youngest generation once a runtime has started
#: (CPython's default: 700).
YOUNG_COLLECTION_AFTER = 50_000

#: Gauges read from the database are refreshed at most this often (seconds) ...
METRICS_REFRESH_S = 5.0
#: ... and a refresh that takes longer is given up (the gauges keep their last values).
METRICS_REFRESH_TIMEOUT_S = 2.0


class StartupError(Exception):
    """The process cannot start; the message is one line for the operator."""


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service: its name, migrations, subscriptions, topics and HTTP routes."""

    name: str
    migrations: Path
    subscriptions: tuple[Subscription, ...] = ()
    produces: tuple[type[Envelope], ...] = ()
    routers: tuple[APIRouter, ...] = ()
    title: str = ""
    extra_migrations: tuple[tuple[str, Path], ...] = ()
    #: Background loops of the service (e.g. intake's checker), run while it runs.
    workers: tuple[Callable[[Runtime], Awaitable[None]], ...] = ()
    #: Gauges read from the service's database, refreshed when /metrics is scraped (at most
    #: once per `METRICS_REFRESH_S`, bounded by `METRICS_REFRESH_TIMEOUT_S`), e.g. billing's
    #: open balance.
    metrics_refresh: tuple[Callable[[Runtime], Awaitable[None]], ...] = ()

    def migration_sources(self) -> dict[str, Path]:
        sources = {"runtime": RUNTIME_MIGRATIONS}
        sources.update(dict(self.extra_migrations))
        sources[self.name] = self.migrations
        return sources


@dataclass
class Runtime:
    """Everything one running service holds; started and stopped as one."""

    spec: ServiceSpec
    settings: Settings
    dsn: str
    bootstrap: str
    clock: Clock = field(default_factory=SystemClock)
    span_exporter: SpanExporter | None = None
    schema: str = ""
    relay_faults: RelayFaults | None = None
    run_relay: bool = True
    run_workers: bool = True

    def __post_init__(self) -> None:
        self.schema = self.schema or self.spec.name
        quote_ident(self.schema)
        self.metrics = Metrics.create()
        self.tracer_provider = make_tracer_provider(
            self.spec.name, otlp_endpoint=self.settings.otlp_endpoint, exporter=self.span_exporter
        )
        self.tracer = self.tracer_provider.get_tracer("bvgconnect.runtime")
        #: Spans are recorded only when something exports them (telemetry.make_tracer_provider).
        self.exporting = self.span_exporter is not None or bool(self.settings.otlp_endpoint)
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[Consumer] = []
        self._subscriber: Any = None
        self._lag_task: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._metrics_refreshed_at = -METRICS_REFRESH_S
        self.started = False

    # -- naming -------------------------------------------------------------------------
    def topic_name(self, logical: str) -> str:
        return f"{self.settings.topic_prefix}{logical}"

    @property
    def group_id(self) -> str:
        return f"{self.settings.topic_prefix}bvgconnect.{self.spec.name}"

    def topics(self) -> list[str]:
        names = {s.topic for s in self.spec.subscriptions}
        names |= {dlq_topic(s.topic) for s in self.spec.subscriptions}
        names |= {m.TOPIC for m in self.spec.produces}
        return sorted(names)

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Topic settings that differ from the broker's defaults, by full topic name."""
        models = [s.model for s in self.spec.subscriptions] + list(self.spec.produces)
        return {
            self.topic_name(m.TOPIC): {"max.message.bytes": str(m.MAX_MESSAGE_BYTES)}
            for m in models
            if m.MAX_MESSAGE_BYTES
        }

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        try:
            self.pool = await create_pool(
                self.dsn,
                self.schema,
                min_size=s.db_pool_min,
                max_size=max(s.db_pool_max, s.db_pool_min),
                timeout=s.db_connect_timeout_s,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StartupError(
                f"cannot reach the database at DATABASE_URL={_safe(self.dsn)} "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if s.migrate_on_start:
            await self.migrate()
        if REVOCATION_MIGRATIONS[0] in self.spec.migration_sources():
            await self._load_revocations()
        await ensure_topics(
            self.bootstrap,
            [self.topic_name(t) for t in self.topics()],
            partitions=s.topic_partitions,
            replication=s.topic_replication,
            timeout_s=s.kafka_connect_timeout_s,
            configs=self.topic_configs(),
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=False,
            acks="all",
            linger_ms=2,
            # a part of a list (`RowsEvent`) may exceed Kafka's default 1 MiB
            max_request_size=RowsEvent.MAX_MESSAGE_BYTES or 1048576,
            client_id=f"bvgconnect-{self.spec.name}",
        )
        await self.producer.start()
        self.broker = KafkaBroker(
            self.bootstrap,
            enable_idempotence=False,
            client_id=f"bvgconnect-{self.spec.name}",
            middlewares=[
                KafkaTelemetryMiddleware(tracer_provider=self.tracer_provider),
                KafkaPrometheusMiddleware(
                    registry=self.metrics.registry, app_name=f"bvgconnect-{self.spec.name}"
                ),
            ],
            logger=logging.getLogger("faststream"),
        )
        if self.spec.subscriptions:
            self._subscribe(self.spec.subscriptions)
        await self.broker.start()
        if self.run_relay:
            self.relay = OutboxRelay(
                dsn=self.dsn,
                schema=self.schema,
                service=self.spec.name,
                producer=self.producer,
                topic_name=self.topic_name,
                metrics=self.metrics,
                tracer=self.tracer,
                batch_size=s.outbox_batch_size,
                poll_ms=s.outbox_poll_ms,
                faults=self.relay_faults,
                record_spans=self.exporting,
                outbox_retention_h=s.outbox_retention_h,
                inbox_retention_h=s.inbox_retention_h,
            )
            self.relay.start()
        self._lag_task = asyncio.create_task(self._watch_lag(), name="consumer-lag")
        # What start-up made (modules, models, clients) lives as long as the process: keep it
        # out of the cycle collector's walks (15-18 % of a busy consumer's CPU otherwise).
        gc.collect()
        gc.freeze()
        # A batch of events allocates tens of thousands of objects that live until the batch
        # ends and form no cycles: at the default 700 allocations the collector walked them
        # (and promoted them to walk them again) about 2,500 times per 50,000 events, 13-17 %
        # of a busy consumer's CPU, to collect nothing. They die by reference counting
        # first now; cycles are still collected, every YOUNG_COLLECTION_AFTER allocations.
        young, middle, old = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_COLLECTION_AFTER), middle, old)
        if self.run_workers:
            self._workers = [
                asyncio.create_task(_logged(worker(self), worker), name=worker.__name__)
                for worker in self.spec.workers
            ]
        self.started = True

    def _subscribe(self, subscriptions: tuple[Subscription, ...]) -> None:
        """One Kafka consumer (one group member) for all of the service's topics.

        One member per process, not one per topic: every member that joins a group makes
        the whole group rebalance, so fewer members start and scale faster.
        """
        assert self.broker is not None and self.pool is not None and self.producer is not None
        by_topic: dict[str, Consumer] = {}
        for subscription in subscriptions:
            consumer = Consumer(
                service=self.spec.name,
                schema=self.schema,
                pool=self.pool,
                subscription=subscription,
                producer=self.producer,
                topic_name=self.topic_name,
                tracer=self.tracer,
                metrics=self.metrics,
                retry_attempts=self.settings.retry_attempts,
                retry_backoff_s=self.settings.retry_backoff_ms / 1000,
                record_spans=self.exporting,
            )
            self.consumers.append(consumer)
            by_topic[self.topic_name(subscription.topic)] = consumer
        s = self.settings
        subscriber = self.broker.subscriber(
            *by_topic,
            group_id=self.group_id,
            batch=True,
            max_records=s.consumer_max_records,
            batch_timeout_ms=s.consumer_batch_timeout_ms,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            heartbeat_interval_ms=s.consumer_heartbeat_ms,
            session_timeout_ms=s.consumer_session_timeout_ms,
            ack_policy=AckPolicy.MANUAL,
            decoder=_skip_decoding,
        )

        async def on_batch(body: Any, msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            per_topic: dict[str, list[Any]] = {}
            for record in records:  # order within each partition is kept
                per_topic.setdefault(record.topic, []).append(record)
            for topic, batch in per_topic.items():
                await by_topic[topic].handle(batch)
            await msg.ack()

        subscriber(on_batch)
        self._subscriber = subscriber

    async def stop(self) -> None:
        """Stop consuming, drain the outbox, close everything (SIGTERM path)."""
        for consumer in self.consumers:
            consumer.stopping = True
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
        if self.relay is not None:
            await self.relay.stop(self.settings.shutdown_drain_s)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), timeout=5)
        self.tracer_provider.shutdown()
        self.started = False

    async def _load_revocations(self) -> None:
        """The token revocations of the last token lifetime, which the group offset has put
        behind this process (`handlers.feed_revocations` keeps them); old rows are purged."""
        assert self.pool is not None
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            purged = await purge_revocations(conn, now=now)
            loaded = await load_revocations(conn, PROCESS_REVOCATIONS, now=now)
        log.debug("token revocations: %d loaded, %d old rows purged", loaded, purged)

    async def migrate(self) -> list[str]:
        assert self.pool is not None
        migrations = load_migrations(self.spec.migration_sources())
        async with self.pool.acquire() as conn:
            return await migrate(conn, self.schema, migrations)

    # -- work ---------------------------------------------------------------------------
    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """A transaction whose published events go out through the outbox."""
        assert self.pool is not None, "runtime not started"
        return unit_of_work(
            self.pool,
            self.schema,
            metrics=self.metrics,
            tracer=self.tracer if self.exporting else None,
        )

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            assert self.pool is not None
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable ({type(exc).__name__})"
        producer_ok = self.producer is not None and not self.producer._closed
        checks["broker"] = "ok" if producer_ok else "unavailable"
        relay_ok = self.relay is None or (
            self.relay.task is not None and not self.relay.task.done()
        )
        checks["outbox_relay"] = "ok" if relay_ok else "stopped"
        for task in self._workers:
            checks[task.get_name()] = "stopped" if task.done() else "ok"
        return checks

    async def refresh_metrics(self) -> None:
        """Run the service's `metrics_refresh` steps, unless they ran a moment ago (several
        Prometheus servers scraping must not multiply the queries). A step that fails or is
        slow leaves its gauges as they were: /metrics always answers."""
        now = time.monotonic()
        if not self.spec.metrics_refresh or now - self._metrics_refreshed_at < METRICS_REFRESH_S:
            return
        self._metrics_refreshed_at = now
        for refresh in self.spec.metrics_refresh:
            try:
                await asyncio.wait_for(refresh(self), timeout=METRICS_REFRESH_TIMEOUT_S)
            except Exception as exc:  # metrics must never take the service down
                log.warning("metrics refresh failed: %s", type(exc).__name__)

    async def _watch_lag(self) -> None:
        while True:
            await asyncio.sleep(5)
            kafka = getattr(self._subscriber, "consumer", None)
            if kafka is None:
                continue
            prefix = len(self.settings.topic_prefix)
            try:
                for tp in kafka.assignment():
                    end = kafka.highwater(tp)
                    if end is None:
                        continue
                    position = await kafka.position(TopicPartition(tp.topic, tp.partition))
                    self.metrics.consumer_lag.labels(
                        self.spec.name, tp.topic[prefix:], str(tp.partition)
                    ).set(max(end - position, 0))
            except Exception as exc:  # metrics must never take the service down
                log.debug("lag check failed: %s", type(exc).__name__)
            try:
                await self._measure_dlq(kafka)
            except Exception as exc:  # metrics must never take the service down
                log.debug("DLQ size check failed: %s", type(exc).__name__)

    async def _measure_dlq(self, kafka: Any) -> None:
        """`bvg_dlq_size`: messages kept on the DLQ topic of each subscription (end minus
        start offset; replayed messages count until retention removes them). A topic's DLQ
        is shared by all services consuming the topic, so each of them reports its size."""
        assert self.producer is not None
        partitions: dict[str, list[TopicPartition]] = {}
        for subscription in self.spec.subscriptions:
            name = self.topic_name(dlq_topic(subscription.topic))
            numbers = await self.producer.partitions_for(name)
            partitions[subscription.topic] = [TopicPartition(name, p) for p in sorted(numbers)]
        every = [tp for tps in partitions.values() for tp in tps]
        if not every:
            return
        ends = await kafka.end_offsets(every)
        starts = await kafka.beginning_offsets(every)
        for topic, tps in partitions.items():
            size = sum(max(ends[tp] - starts[tp], 0) for tp in tps)
            self.metrics.dlq_size.labels(self.spec.name, topic).set(size)


async def _logged(loop: Awaitable[None], worker: Callable[..., Awaitable[None]]) -> None:
    """A worker that dies is logged (readiness reports it), never silently lost."""
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("worker %s stopped: %s", worker.__name__, type(exc).__name__)
        raise


async def _skip_decoding(message: Any) -> None:
    """The consumer validates raw bytes with the contract model itself; FastStream need not."""
    return None


def _safe(dsn: str) -> str:
    from .db import redact_dsn

    return redact_dsn(dsn)


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    *,
    partitions: int,
    replication: int,
    timeout_s: float,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create missing topics (existing ones are left as they are)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout_s)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await admin.close()
        raise StartupError(
            f"cannot reach the broker at KAFKA_BOOTSTRAP_SERVERS={bootstrap} ({type(exc).__name__})"
        ) from None
    try:
        if names:
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                await admin.create_topics(
                    [
                        NewTopic(n, partitions, replication, topic_configs=(configs or {}).get(n))
                        for n in missing
                    ]
                )
    finally:
        await admin.close()


def create_app(runtime: Runtime) -> FastAPI:
    """The service's HTTP face: its routers plus /healthz, /readyz and /metrics."""
    spec = runtime.spec

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not runtime.started:
            await runtime.start()
            if spec.routers and not _keys_configured(runtime.settings):
                log.warning(
                    "no auth keys configured (BVG_AUTH_JWKS_URL or BVG_AUTH_JWKS_FILE): "
                    "the HTTP API of %s refuses every token",
                    spec.name,
                )
            try:
                yield
            finally:
                await runtime.stop()
        else:
            yield

    app = FastAPI(title=spec.title or f"bvgconnect {spec.name}", version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    if spec.routers:
        install_token_verifier(app, _token_verifier(runtime))

    @app.middleware("http")
    async def trace_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """A server span per API request, continuing the caller's trace (W3C headers)."""
        if request.url.path in _UNTRACED:
            return await call_next(request)
        with runtime.tracer.start_as_current_span(
            f"{request.method} {request.url.path}",
            context=extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.url.path},
        ) as span:
            response = await call_next(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": spec.name}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """The database, the broker and the outbox relay are usable."""
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics of this service."""
        await runtime.refresh_metrics()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in spec.routers:
        app.include_router(router)
    return app


_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


def _keys_configured(settings: Settings) -> bool:
    return bool(settings.auth_jwks_url) or settings.auth_jwks_file is not None


def _token_verifier(runtime: Runtime) -> TokenVerifier:
    """Tokens are checked against auth's keys (BVG_AUTH_JWKS_URL or _FILE). Without either,
    every token fails (401), which is safer than an API that cannot tell who calls it; a
    configured source that cannot be used stops the start (JwksError)."""
    s = runtime.settings
    if not _keys_configured(s):
        return TokenVerifier(
            KeySet({}),
            issuer=s.auth_issuer,
            audience=s.auth_audience,
            clock=runtime.clock,
            revocations=PROCESS_REVOCATIONS,
        )
    return build_token_verifier(s, runtime.clock, PROCESS_REVOCATIONS)


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the runtime of the service answering the request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeFactory = Callable[[Settings], Runtime]
