"""Dunning: one clock day over 10,000 open cases (≤ 5 s).

Starts embedded Postgres + Tansu (or uses DATABASE_URL + KAFKA_BOOTSTRAP_SERVERS) and one
dunning runtime with production defaults. `--cases` employers (default 10,000), each with an
open data case for the list of 2025-03 (due 2025-04-15), are in dunning's tables (COPY, as
the handlers leave them). Then `clock.day-started` 2025-04-25 is published through the real
service path (broker → consumer → handler → outbox), and every case takes its 1st reminder:
one `dunning.reminder-escalated` and one `dunning.fee-charged` per case. Measured from
publishing the day to the handler's commit (inbox row, DB clock) and to the last event leaving
the outbox.

Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_outbox_inbox import create_database, drop_database, infrastructure
from contracts.events.clock import DayStarted, DayStartedPayload
from services.registry import spec_of
from services.runtime.service import Runtime
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging
from tests.support.kafka import eventually

DAY = date(2025, 4, 25)
ADDRESS = '{"street": "BAHNHOFSTRASSE", "house_no": "1", "postcode": "8001", "town": "ZURICH", "country": "CH"}'  # noqa: E501


async def preload(runtime: Runtime, cases: int) -> None:
    assert runtime.pool is not None
    now = datetime(2025, 4, 1, tzinfo=UTC)
    employers = [
        (
            10_000 + i,
            f"EMPLOYER {i}",
            ADDRESS,
            "ZH",
            "de",
            ["messages", "reminders"],
            "affiliated",
            date(2025, 3, 1),
            None,
            Decimal("0.5"),
            now,
        )
        for i in range(cases)
    ]
    rows = [
        (uuid.uuid4(), 10_000 + i, "data", date(2025, 4, 16), "2025-03", date(2025, 4, 15), DAY)
        for i in range(cases)
    ]
    async with runtime.pool.acquire() as conn:
        await conn.copy_records_to_table(
            "employers",
            columns=(
                "employer_no",
                "name",
                "address",
                "canton",
                "language",
                "enabled_topics",
                "status",
                "affiliated_from",
                "affiliated_until",
                "employer_share",
                "changed_at",
            ),
            records=employers,
        )
        await conn.copy_records_to_table(
            "cases",
            columns=(
                "case_id",
                "employer_no",
                "track",
                "opened_on",
                "period",
                "anchor",
                "next_step_on",
            ),
            records=rows,
        )
        await conn.execute("INSERT INTO watch (first_day) VALUES ('2025-04-01')")
        await conn.execute("ANALYZE")


async def run(args: argparse.Namespace, admin_dsn: str, bootstrap: str, where: str) -> None:
    name, dsn = await create_database(admin_dsn)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    runtime = Runtime(
        spec_of("dunning"), Settings(topic_prefix=prefix), dsn=dsn, bootstrap=bootstrap
    )
    try:
        await runtime.start()
        assert runtime.pool is not None
        pool = runtime.pool
        await preload(runtime, args.cases)
        event = DayStarted.new(
            occurred_at=datetime(2025, 4, 25, 4, tzinfo=UTC),
            employer_no=0,
            correlation_id="bench",
            payload=DayStartedPayload(business_date=DAY),
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        started_db = await pool.fetchval("SELECT clock_timestamp()")
        started = time.perf_counter()
        await producer.send_and_wait(
            prefix + event.TOPIC, event.model_dump_json().encode(), key=b"0"
        )
        await producer.stop()

        async def handled() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM inbox") >= 1)

        await eventually(handled, timeout=120, what="the clock day")
        # the inbox row is visible once the handler's transaction committed
        handled_s = time.perf_counter() - started
        want: int = args.cases * 2

        async def drained() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            return int(n) >= want

        await eventually(drained, timeout=300, what="the outbox")
        total = time.perf_counter() - started
        published_s = (
            await pool.fetchval("SELECT max(published_at) FROM outbox") - started_db
        ).total_seconds()
        steps = await pool.fetchval("SELECT count(*) FROM case_steps")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"dunning: one clock day over {args.cases:,} open cases ({where})")
        print(f"{'measure':<40} {'value':>12}")
        print(f"{'steps taken':<40} {steps:>12,}")
        print(f"{'day handled (publish → commit seen), s':<40} {handled_s:>12.2f}")
        print(f"{'cases/s (handled)':<40} {args.cases / handled_s:>12,.0f}")
        print(f"{'events published (→ last outbox row), s':<40} {published_s:>12.2f}")
        print(f"{'wall clock until drained, s':<40} {total:>12.2f}")
        print(f"{'peak RSS, MB':<40} {peak_mb:>12.0f}")
        print(f"{'target ≤ 5 s (handled)':<40} {'met' if handled_s <= 5 else 'MISSED':>12}")
    finally:
        await runtime.stop()
        await drop_database(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-dunning-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, description),
    ):
        asyncio.run(run(args, admin_dsn, bootstrap, description))


if __name__ == "__main__":
    main()
