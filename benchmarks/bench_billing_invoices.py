"""Billing throughput: invoices for 1,000 employers x 100 rows from priced lists (≤ 10 s),
and a camt.054 file of 10,000 entries booked (≤ 5 s).

Starts embedded Postgres + Tansu (or uses DATABASE_URL + KAFKA_BOOTSTRAP_SERVERS) and one
billing runtime with production defaults.

1. Invoicing: the priced January lists of `--employers` employers (`--rows` rows each) are in
   billing's tables (written with COPY, as the handlers leave them); the cut-off day of the
   collective invoice starts (`clock.day-started` 30 April), and the daily run issues every
   invoice. Measured from publishing the day to the last `billing.invoice-issued` leaving
   the outbox (DB clock).
2. Payments: a camt.054 file with one credit per invoice (`--payments`, default 10,000; more
   invoices are made for it) is booked through `import_notification` (parse + book +
   outbox), as `POST /payments/camt054` and `bvgconnect payments import` do.

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
from services.billing.handlers import import_notification
from services.registry import spec_of
from services.runtime.service import Runtime
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging
from tests.support.camt import write_camt054
from tests.support.kafka import eventually
from tests.support.xlsx import ahv_number

PRICED_AT = datetime(2025, 2, 10, 8, tzinfo=UTC)


async def preload(
    runtime: Runtime, employers: int, rows: int, period: str, *, first_employer: int = 10_000
) -> None:
    """Priced, complete, uninvoiced lists of `period`, as billing's handlers store them."""
    assert runtime.pool is not None
    lists, row_records, periods = [], [], []
    for e in range(employers):
        employer, upload = first_employer + e, uuid.uuid4()
        lists.append((upload, employer, period, rows, PRICED_AT, True))
        periods.append((employer, period, upload, PRICED_AT))
        for r in range(rows):
            premium = Decimal(100 + (e + r) % 400).quantize(Decimal("0.01"))
            amounts = (premium * 10, premium, premium / 2, premium / 2)
            row_records.append((upload, r + 2, employer, period, ahv_number(r + 1), *amounts))
    async with runtime.pool.acquire() as conn:
        await conn.copy_records_to_table(
            "priced_lists",
            columns=("upload_id", "employer_no", "period", "row_count", "priced_at", "complete"),
            records=lists,
        )
        await conn.copy_records_to_table(
            "priced_rows",
            columns=(
                "upload_id",
                "row_no",
                "employer_no",
                "period",
                "worker",
                "insured_wage",
                "premium_total",
                "employer_share",
                "employee_share",
            ),
            records=row_records,
        )
        await conn.copy_records_to_table(
            "periods", columns=("employer_no", "period", "upload_id", "priced_at"), records=periods
        )


async def start_day(bootstrap: str, prefix: str, day: date) -> None:
    event = DayStarted.new(
        occurred_at=datetime(day.year, day.month, day.day, 4, tzinfo=UTC),
        employer_no=0,
        correlation_id=f"clock-{day}",
        payload=DayStartedPayload(business_date=day),
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            prefix + event.TOPIC, event.model_dump_json().encode(), key=b"0"
        )
    finally:
        await producer.stop()


async def issued(runtime: Runtime) -> int:
    assert runtime.pool is not None
    count: int = await runtime.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = 'billing.invoice-issued.v1' "
        "AND published_at IS NOT NULL"
    )
    return count


async def until_issued(runtime: Runtime, n: int) -> None:
    async def enough() -> bool:
        return await issued(runtime) >= n

    await eventually(enough, timeout=600, what=f"{n} invoices")


async def run(args: argparse.Namespace, admin_dsn: str, bootstrap: str, description: str) -> None:
    name, dsn = await create_database(admin_dsn)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    runtime = Runtime(
        spec_of("billing"), Settings(topic_prefix=prefix), dsn=dsn, bootstrap=bootstrap
    )
    try:
        await runtime.start()
        assert runtime.pool is not None
        extra = max(args.payments - args.employers, 0)
        await preload(runtime, args.employers, args.rows, "2025-01")
        started = time.perf_counter()
        await start_day(bootstrap, prefix, date(2025, 4, 30))
        await until_issued(runtime, args.employers)
        wall = time.perf_counter() - started
        window = await runtime.pool.fetchrow(
            "SELECT min(created_at), max(published_at) FROM outbox "
            "WHERE topic = 'billing.invoice-issued.v1'"
        )
        assert window is not None
        lines = await runtime.pool.fetchval("SELECT count(*) FROM invoice_lines")

        # more invoices for the payment file: one per employer of a second batch
        if extra:
            await preload(runtime, extra, 1, "2025-02", first_employer=100_000)
            await start_day(bootstrap, prefix, date(2025, 5, 1))
            await until_issued(runtime, args.employers + extra)
        references = [
            r["qr_reference"]
            for r in await runtime.pool.fetch("SELECT qr_reference FROM invoices ORDER BY 1")
        ]
        credits = [
            {
                "amount": "50.00",
                "reference": ref,
                "reference_type": "QRR",
                "value_date": date(2025, 5, 5),
            }
            for ref in references[: args.payments]
        ]
        camt = write_camt054(credits, batched=True)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        result = await import_notification(
            runtime.unit_of_work, camt, now=datetime(2025, 5, 6, 8, tzinfo=UTC)
        )
        booking = time.perf_counter() - t0

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        seconds = (window[1] - window[0]).total_seconds()
        print(f"infrastructure: {description}")
        print(f"{'metric':58} | {'value':30} | target")
        print("-" * 110)
        print(
            f"{'employers x rows (January lists, priced)':58} | "
            f"{f'{args.employers:,} x {args.rows}':30} |"
        )
        verdict = "met" if wall <= 10 else "MISSED"
        print(
            f"{'day started -> every invoice-issued published (wall)':58} | "
            f"{f'{wall:.2f} s ({args.employers / wall:,.0f} invoices/s)':30} | <= 10 s: {verdict}"
        )
        print(f"{'  first invoice written -> last published (DB)':58} | {seconds:<30.2f} |")
        print(f"{'invoice lines written':58} | {lines:<30,} |")
        verdict = "met" if booking <= 5 else "MISSED"
        n = result["entries"]
        print(
            f"{'camt.054 with ' + f'{n:,}' + ' credits: parse + book (one tx)':58} | "
            f"{f'{booking:.2f} s ({n / booking:,.0f} credits/s)':30} | <= 5 s: {verdict}"
        )
        outcome = f"{result['booked']} / {result['duplicates']} / {result['unmatched']}"
        print(f"{'  booked / duplicates / unmatched':58} | {outcome:30} |")
        print(f"{'peak RSS of this process':58} | {f'{peak:.0f} MiB':30} |")
    finally:
        await runtime.stop()
        await drop_database(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employers", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--payments", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, description),
    ):
        asyncio.run(run(args, admin_dsn, bootstrap, description))


if __name__ == "__main__":
    main()
