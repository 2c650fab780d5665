"""Pricing service throughput: `coverage.row-assessed` in → `pricing.row-priced` out.

Starts embedded Postgres + Tansu (or uses DATABASE_URL + KAFKA_BOOTSTRAP_SERVERS), one
pricing runtime with production defaults, publishes N assessed rows (lists of 5,000 rows,
their `intake.list-checked` first, then their rows in parts of 100 as coverage publishes
them) straight to the broker, and measures until every `pricing.row-priced` part left the
outbox (DB clock). Prints a table; always exits 0.
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

from benchmarks.bench_outbox_inbox import (
    create_database,
    drop_database,
    infrastructure,
)
from contracts.envelope import ROWS_PER_EVENT
from contracts.events.coverage import RowAssessed, RowAssessedPayload, RowsAssessed
from contracts.events.intake import ListChecked
from contracts.events.pricing import RowsPriced
from services.registry import spec_of
from services.runtime.service import Runtime, ensure_topics
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging
from tests.support.events import list_checked
from tests.support.parts import in_parts, outbox_rows

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
LIST_ROWS = 5000


def rows_of_list(upload: uuid.UUID, employer_no: int, n: int) -> list[bytes]:
    """The list's `n` assessed rows in parts of 100 (each part's JSON value)."""
    out: list[RowAssessed] = []
    for i in range(n):
        ahv = f"756.{1000 + i % 9000:04d}.{(i * 7919) % 10000:04d}.{i % 100:02d}"
        hours = Decimal(40 + i % 150)
        event = RowAssessed.new(
            occurred_at=NOW,
            employer_no=employer_no,
            correlation_id=str(upload),
            payload=RowAssessedPayload(
                upload_id=upload,
                period="2025-03",
                row_no=i + 2,
                ahv=ahv,
                insured=True,
                insured_from=date(2025, 3, 1),
                insured_to=date(2025, 3, 31),
                insured_days=31,
                insured_hours=hours,
                rule_in_force="S1",
                birth_date=date(1960 + i % 45, 1 + i % 12, 1 + i % 28),
                sex="F" if i % 2 else "M",
                hours=hours,
                base_wage=(hours * Decimal(12 + i % 40)).quantize(Decimal("0.01")),
                invalidity_degree=0 if i % 20 else 50,
                declared_insured_wage=None,
                declared_premium=None,
            ),
        )
        out.append(event)
    return [part.model_dump_json().encode() for part in in_parts(out)]


def checked(upload: uuid.UUID, employer_no: int, n: int) -> bytes:
    return list_checked(upload, employer_no=employer_no, row_count=n).model_dump_json().encode()


async def run(rows: int, admin_dsn: str, bootstrap: str, description: str) -> None:
    name, dsn = await create_database(admin_dsn)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    runtime = Runtime(
        spec_of("pricing"), Settings(topic_prefix=prefix), dsn=dsn, bootstrap=bootstrap
    )
    try:
        lists = max(1, rows // LIST_ROWS)
        prepared: list[tuple[str, bytes, bytes]] = []
        for k in range(lists):
            upload, employer = uuid.uuid4(), 5000 + k
            key = str(employer).encode()
            prepared.append((ListChecked.TOPIC, key, checked(upload, employer, LIST_ROWS)))
            prepared += [
                (RowsAssessed.TOPIC, key, value)
                for value in rows_of_list(upload, employer, LIST_ROWS)
            ]
        total = lists * LIST_ROWS
        parts = lists * -(-LIST_ROWS // ROWS_PER_EVENT)
        # The backlog is on the broker before the service starts: what is measured is the
        # service alone, not a producer sharing its process.
        await ensure_topics(
            bootstrap,
            [prefix + RowsAssessed.TOPIC, prefix + ListChecked.TOPIC],
            partitions=runtime.settings.topic_partitions,
            replication=1,
            timeout_s=10,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5
        )
        await producer.start()
        t0 = time.perf_counter()
        futures = [
            await producer.send(prefix + topic, value, key=key) for topic, key, value in prepared
        ]
        await asyncio.gather(*futures)
        published_in = time.perf_counter() - t0
        await producer.stop()
        t1 = time.perf_counter()
        await runtime.start()
        assert runtime.pool is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            # parts published, not rows: counting rows would decode every part's JSON ten
            # times a second, on the cores the service needs (rows are counted once, below)
            done = await runtime.pool.fetchval(
                "SELECT count(*) FROM outbox WHERE topic = $1 AND published_at IS NOT NULL",
                RowsPriced.TOPIC,
            )
            if done >= parts:
                break
            await asyncio.sleep(0.1)
        wall = time.perf_counter() - t1
        window = await runtime.pool.fetchrow(
            "SELECT min(created_at), max(published_at), count(*) FROM outbox WHERE topic = $1",
            RowsPriced.TOPIC,
        )
        assert window is not None
        first, last, parts_out = window
        priced = await runtime.pool.fetchval(
            outbox_rows(RowsPriced.TOPIC, "published_at IS NOT NULL")
        )
        lists_done = await runtime.pool.fetchval(
            "SELECT count(*) FROM price_lists WHERE completed_at IS NOT NULL"
        )
        seconds = (last - first).total_seconds()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"infrastructure: {description}")
        print(f"{'metric':58} | {'value':28} | target")
        print("-" * 100)
        print(f"{'rows (lists of 5,000)':58} | {total:<28,} |")
        print(
            f"{'parts of lists in (row-assessed) / out (row-priced)':58} | "
            f"{f'{parts:,} / {parts_out:,}':28} |"
        )
        if priced != total:
            print(f"{'ROWS PRICED (not all of them!)':58} | {priced:<28,} |")
        print(f"{'publish to the broker (producer side)':58} | {published_in:<28.2f} s |")
        rate = priced / seconds
        verdict = "met" if rate >= 5000 else "MISSED"
        print(
            f"{'first row priced -> last row-priced published (DB)':58} | "
            f"{f'{rate:,.0f} rows/s ({seconds:.1f} s)':28} | >= 5,000 rows/s: {verdict}"
        )
        print(
            f"{'  incl. start-up and group join (wall clock)':58} | "
            f"{f'{total / wall:,.0f} rows/s ({wall:.1f} s)':28} |"
        )
        print(f"{'lists priced (list-priced published)':58} | {lists_done:<28} |")
        print(f"{'peak RSS of this process (runtime + producer)':58} | {peak:<28.0f} MiB |")
    finally:
        await runtime.stop()
        await drop_database(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-pricing-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, description),
    ):
        asyncio.run(run(args.rows, admin_dsn, bootstrap, description))


if __name__ == "__main__":
    main()
