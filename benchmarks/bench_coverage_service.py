"""Coverage service throughput: `intake.row-validated` in → `coverage.row-assessed` out,
with 100,000 workers' history in the database.

Seeds the coverage schema with 100,000 workers (an assignment each since 2024, insured by
S1), puts N rows of the next lists (March 2025, one list per employer: half continuing
workers, some exits, some new assignments) on the broker in parts of 100 rows, as intake
publishes them, starts one coverage runtime (production defaults, no OTLP) and measures on
the database clock from the first row assessed to the last `row-assessed` part published.
Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_outbox_inbox import create_database, drop_database, infrastructure
from contracts.events.coverage import CoverageChanges, RowsAssessed
from contracts.events.intake import RowsValidated, RowValidated, RowValidatedPayload
from services.registry import spec_of
from services.runtime import infra
from services.runtime.db import create_pool
from services.runtime.service import Runtime, ensure_topics
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging
from tests.support.parts import in_parts, outbox_rows

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parent.parent / "contracts/examples/intake.row-validated.v1"


def ahv_of(i: int) -> str:
    digits = f"{i:09d}"
    return f"756.{digits[:4]}.{digits[4:8]}.{digits[8]}0"


async def seed_history(dsn: str, workers: int) -> float:
    """100,000 workers with one assignment each, as if earlier lists had been judged."""
    started = time.perf_counter()
    runtime_spec = spec_of("coverage")
    pool = await create_pool(dsn, "coverage", min_size=1, max_size=2)
    try:
        from services.runtime.db import load_migrations, migrate

        async with pool.acquire() as conn:
            await migrate(conn, "coverage", load_migrations(runtime_spec.migration_sources()))
            await conn.copy_records_to_table(
                "workers",
                records=[
                    (4000 + i % 50, ahv_of(i), date(1970 + i % 35, 1 + i % 12, 1), "MF"[i % 2], 0,
                     "2025-02")
                    for i in range(workers)
                ],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "assignments",
                columns=["employer_no", "ahv", "starts_on", "ends_on", "expected_over_13_weeks",
                         "extension_accepted_on", "requested", "children", "ends_with_exit",
                         "reported_in"],
                records=[
                    (4000 + i % 50, ahv_of(i), date(2024, 1 + i % 12, 1), None, True, None,
                     False, False, False, "2025-02")
                    for i in range(workers)
                ],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "declarations",  # each entry was declared in the list of its month
                records=[
                    (4000 + i % 50, ahv_of(i), f"2024-{1 + i % 12:02d}", 1,
                     date(2024, 1 + i % 12, 1))
                    for i in range(workers)
                ],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "coverage_periods",
                records=[
                    (4000 + i % 50, ahv_of(i), date(2024, 1 + i % 12, 1), None, "S1", None)
                    for i in range(workers)
                ],
            )
    finally:
        await pool.close()
    return time.perf_counter() - started


def rows(n: int, workers: int, seed: int = 5) -> list[tuple[bytes, bytes]]:
    """The March lists' rows in parts of 100 (key, value); with the same seed, the same
    events (ids included)."""
    base: dict[str, Any] = json.loads((EXAMPLE / "entry.json").read_text())["payload"]
    out: list[RowValidated] = []
    rng = random.Random(seed)

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    uploads = {e: new_id() for e in range(50)}
    listed = dict.fromkeys(uploads, 0)  # rows of each list so far
    for k in range(n):
        i = (k * 2) % workers  # every second worker of the history, then new ones
        employer = 4000 + i % 50
        listed[i % 50] += 1
        values = {
            **base,
            "upload_id": str(uploads[i % 50]),
            "period": "2025-03",
            "row_no": 1 + listed[i % 50],  # rows 2, 3, ... of the employer's list
            "employer_no": employer,
            "ahv": ahv_of(i if k < workers // 2 else workers + k),
            "birth_date": f"{1970 + i % 35}-{1 + i % 12:02d}-01",
            "mutation_code": None,
            "entry_date": None,
            "assignment_start": f"2024-{1 + i % 12:02d}-01",
        }
        if k % 10 == 0:  # an exit in March
            values |= {"mutation_code": 2, "exit_date": "2025-03-14", "assignment_end": None}
        if k % 7 == 0:  # a newcomer on a short assignment
            values |= {
                "ahv": ahv_of(workers + n + k),
                "assignment_start": "2025-03-10",
                "expected_over_13_weeks": False,
                "mutation_code": None,
                "exit_date": None,
            }
        event = RowValidated.new(
            occurred_at=NOW,
            employer_no=employer,
            correlation_id=str(uploads[i % 50]),
            payload=RowValidatedPayload.model_validate(values),
            event_id=new_id(),
        )
        out.append(event)
    return [(e.partition_key().encode(), e.model_dump_json().encode()) for e in in_parts(out)]


async def run(
    n: int,
    workers: int,
    instances: int,
    admin_dsn: str,
    bootstrap: str,
    description: str,
    seed: int = 5,
    dump: Path | None = None,
    parts: int | None = None,
) -> None:
    name, dsn = await create_database(admin_dsn)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    spec = spec_of("coverage")
    if parts is not None:  # to compare: the batch in `parts` parts at once (the service: 2)
        spec = replace(
            spec,
            subscriptions=tuple(replace(s, parallel_by_key=parts) for s in spec.subscriptions),
        )
    runtime = Runtime(spec, Settings(topic_prefix=prefix), dsn=dsn, bootstrap=bootstrap)
    children: list[subprocess.Popen[bytes]] = []
    try:
        seeded = await seed_history(dsn, workers)
        prepared = rows(n, workers, seed)
        await ensure_topics(
            bootstrap, [prefix + RowsValidated.TOPIC], partitions=6, replication=1, timeout_s=10
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5
        )
        await producer.start()
        futures = [
            await producer.send(prefix + RowsValidated.TOPIC, value, key=key)
            for key, value in prepared
        ]
        parts = len(prepared)
        await asyncio.gather(*futures)
        await producer.stop()
        del futures, prepared  # a service process holds none of this (nor its GC cost)
        t1, cpu1 = time.perf_counter(), time.process_time()
        if instances == 1:
            await runtime.start()
        else:  # separate processes, as `bvgconnect run coverage` runs in production
            runtime.run_relay = False
            runtime.spec = replace(runtime.spec, subscriptions=())
            await runtime.start()
            env = {
                **os.environ,
                "DATABASE_URL": dsn,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "BVG_TOPIC_PREFIX": prefix,
                "BVG_LOG_LEVEL": "WARNING",
            }
            for _ in range(instances):
                children.append(
                    subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited on)
                        [sys.executable, "-m", "services.cli", "run", "coverage", "--port",
                         str(infra.free_port())],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )  # fmt: skip
        assert runtime.pool is not None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            # Every part handled (its events are in the outbox), then none of them pending:
            # two index scans, where counting the published events would scan the whole
            # outbox five times a second, on the cores the service needs.
            handled = await runtime.pool.fetchval("SELECT count(*) FROM inbox")
            if handled >= parts and not await runtime.pool.fetchval(
                "SELECT EXISTS (SELECT FROM outbox WHERE published_at IS NULL)"
            ):
                break
            await asyncio.sleep(0.2)
        wall, cpu = time.perf_counter() - t1, time.process_time() - cpu1
        window: asyncpg.Record | None = await runtime.pool.fetchrow(
            "SELECT min(created_at), max(published_at), count(*) FROM outbox WHERE topic = $1",
            RowsAssessed.TOPIC,
        )
        assert window is not None
        first, last, parts_out = window
        assessed = await runtime.pool.fetchval(outbox_rows(RowsAssessed.TOPIC))
        changes = await runtime.pool.fetchval(outbox_rows(CoverageChanges.TOPIC))
        findings = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'coverage.finding.v1'"
        )
        workers_now = await runtime.pool.fetchval("SELECT count(*) FROM workers")
        seconds = (last - first).total_seconds()
        rate = assessed / seconds
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"infrastructure: {description}; history seeded in {seeded:.1f} s")
        print(f"{'metric':56} | {'value':30} | target")
        print("-" * 104)
        print(f"{'workers in the database (history + new)':56} | {workers_now:<30,} |")
        print(f"{'rows of the March lists (one list per employer)':56} | {n:<30,} |")
        print(
            f"{'parts of lists in (row-validated) / out (row-assessed)':56} | "
            f"{f'{parts:,} / {parts_out:,}':30} |"
        )
        if assessed != n:
            print(f"{'ROWS ASSESSED (not all of them!)':56} | {assessed:<30,} |")
        print(f"{'service processes (one consumer-group member each)':56} | {instances:<30} |")
        in_parts = runtime.spec.subscriptions[0].parallel_by_key if instances == 1 else "-"
        print(f"{'parts of a batch handled at once (parallel_by_key)':56} | {in_parts:<30} |")
        verdict = "met" if rate >= 5000 else "MISSED"
        print(
            f"{'first row assessed -> last row-assessed published (DB)':56} | "
            f"{f'{rate:,.0f} rows/s ({seconds:.1f} s)':30} | >= 5,000 rows/s: {verdict}"
        )
        print(
            f"{'  incl. start-up and group join (wall clock)':56} | "
            f"{f'{n / wall:,.0f} rows/s ({wall:.1f} s)':30} |"
        )
        found = f"{changes:,} / {findings:,}"
        print(f"{'coverage.changed rows / coverage.finding events':56} | {found:<30} |")
        if instances == 1:
            print(
                f"{'CPU of this process per row (start-up included)':56} | "
                f"{f'{cpu / n * 1e6:.0f} µs ({cpu / wall:.0%} of the wall clock)':30} |"
            )
        print(f"{'peak RSS of this process':56} | {peak:<26.0f} MiB |")
        if dump is not None:  # to compare two versions of the code: same seed, same file
            published = await runtime.pool.fetch(
                "SELECT event_id, topic, key, convert_from(value, 'UTF8') AS value, headers "
                "FROM outbox ORDER BY event_id"
            )
            text = "".join(json.dumps([str(r[0]), *r[1:]]) + "\n" for r in published)
            await asyncio.to_thread(dump.write_text, text)
            print(f"{'events written to':56} | {dump} ({len(published):,})")
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)
        await runtime.stop()
        await drop_database(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=100_000)
    parser.add_argument(
        "--instances", type=int, default=1, help="service processes (1: in this process)"
    )
    parser.add_argument("--seed", type=int, default=5, help="ids of the list's rows and events")
    parser.add_argument(
        "--parts", type=int, help="parts of a batch at once (default: the service's setting)"
    )
    parser.add_argument(
        "--dump", type=Path, help="write the published events here (JSON lines, by event id)"
    )
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-coverage-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, description),
    ):
        asyncio.run(
            run(
                args.rows,
                args.workers,
                args.instances,
                admin_dsn,
                bootstrap,
                description,
                args.seed,
                args.dump,
                args.parts,
            )
        )


if __name__ == "__main__":
    main()
