"""Intake latency: a 5,000-row xlsx uploaded over HTTP → `intake.list-checked` on the broker.

Starts embedded Postgres + Tansu (or uses DATABASE_URL + KAFKA_BOOTSTRAP_SERVERS), one intake
service under uvicorn on a local port with production defaults, and uploads N distinct
5,000-row lists one after the other through a real HTTP connection with a bearer token.
For each: from the start of the request to the moment a Kafka consumer sees the list's
`intake.list-checked`, and to the last of its `intake.row-validated` parts (100 rows each)
leaving the outbox. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_outbox_inbox import create_database, drop_database, infrastructure
from contracts.envelope import ROWS_PER_EVENT
from contracts.events.intake import ListChecked, RowsValidated
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging
from tests.support.kafka import eventually
from tests.support.parts import outbox_rows
from tests.support.tokens import TokenMint
from tests.support.xlsx import EMPLOYER_NO, sample_row, write_big_list

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lists(n: int, rows: int) -> list[bytes]:
    """N distinct lists (each a different file: its own sha256)."""

    def make(k: int) -> bytes:
        return write_big_list(rows, row=lambda i: sample_row(i + k * rows))

    return [make(k) for k in range(n)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(n: int, rows: int, admin_dsn: str, bootstrap: str, description: str) -> None:
    name, dsn = await create_database(admin_dsn)
    prefix = f"b{uuid.uuid4().hex[:8]}."
    folder = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    mint = TokenMint(clock=FixedClock(NOW))
    (folder / "jwks.json").write_text(json.dumps(mint.jwks()))
    settings = Settings(topic_prefix=prefix, auth_jwks_file=folder / "jwks.json")
    runtime = Runtime(
        spec_of("intake"), settings, dsn=dsn, bootstrap=bootstrap, clock=FixedClock(NOW)
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    files = lists(n, rows)
    consumer = AIOKafkaConsumer(
        prefix + ListChecked.TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    seen: dict[str, float] = {}

    async def watch() -> None:
        async for record in consumer:
            upload = json.loads(record.value or b"")["payload"]["upload_id"]
            seen[upload] = time.perf_counter()

    try:

        async def serving_now() -> bool:
            return bool(server.started)

        await eventually(serving_now, timeout=60, what="the HTTP server")
        await consumer.start()
        watcher = asyncio.create_task(watch())
        token = mint.mint(employer_no=EMPLOYER_NO)
        to_checked: list[float] = []
        to_rows: list[float] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for content in files:
                started = time.perf_counter()
                wall = datetime.now(UTC)
                answer = await client.post(
                    f"/employers/{EMPLOYER_NO}/lists/2025-03",
                    content=content,
                    headers={"Content-Type": XLSX, "Authorization": f"Bearer {token}"},
                )
                answer.raise_for_status()
                upload_id = answer.json()["upload_id"]

                async def checked(upload_id: str = upload_id) -> bool:
                    return upload_id in seen

                await eventually(checked, timeout=120, what="list-checked")
                to_checked.append(seen[upload_id] - started)
                assert runtime.pool is not None
                # the parts of every list so far (counting parts, not the rows inside them:
                # that would decode every part's JSON twenty times a second)
                expected = -(-rows // ROWS_PER_EVENT) * len(to_checked)
                published: list[datetime] = []

                async def rows_out(
                    expected: int = expected, published: list[datetime] = published
                ) -> bool:
                    last = await _rows_published(runtime, expected)
                    published[:] = [] if last is None else [last]
                    return bool(published)

                await eventually(rows_out, timeout=120, what="the rows")
                to_rows.append((published[0] - wall).total_seconds())
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        assert runtime.pool is not None
        sent = await runtime.pool.fetchrow(
            "SELECT count(*) AS parts, max(jsonb_array_length((convert_from(value, 'UTF8')"
            "::jsonb) -> 'payload' -> 'rows')) AS most FROM outbox WHERE topic = $1",
            RowsValidated.TOPIC,
        )
        assert sent is not None
        rows_sent = await runtime.pool.fetchval(outbox_rows(RowsValidated.TOPIC))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"infrastructure: {description}")
        print(f"{'metric':56} | {'value':30} | target")
        print("-" * 104)
        print(f"{'uploads (distinct xlsx files) x rows':56} | {f'{n} x {rows:,}':30} |")
        print(f"{'xlsx size':56} | {f'{len(files[0]) / 1024:,.0f} KiB':30} |")
        in_parts = f"{rows_sent:,} rows in {sent['parts']:,} parts"
        print(f"{'row-validated published (<= 100 rows a part)':56} | {in_parts:30} |")
        if sent["most"] > ROWS_PER_EVENT or rows_sent != n * rows:
            print(
                f"{'NOT AS UPLOADED: rows / most rows in a part':56} | {rows_sent} / {sent['most']}"
            )
        p50, p95 = statistics.median(to_checked), pct(to_checked, 0.95)
        verdict = ("met" if p95 <= 2.0 else "MISSED") if rows == 5000 else "(for 5,000 rows)"
        print(
            f"{'upload -> list-checked consumed: p50 / p95 / max':56} | "
            f"{f'{p50:.2f} / {p95:.2f} / {max(to_checked):.2f} s':30} | <= 2 s (p95): {verdict}"
        )
        print(
            f"{'upload -> last row-validated published: p50 / max':56} | "
            f"{f'{statistics.median(to_rows):.2f} / {max(to_rows):.2f} s':30} |"
        )
        print(f"{'peak RSS (service + client + file builder)':56} | {peak:<30.0f} MiB |")
    finally:
        await consumer.stop()
        server.should_exit = True
        await serving
        await runtime.stop()
        await drop_database(admin_dsn, name)


async def _rows_published(runtime: Runtime, expected: int) -> datetime | None:
    """When the last row-validated part left the outbox, once `expected` of them have."""
    assert runtime.pool is not None
    record = await runtime.pool.fetchrow(
        "SELECT count(published_at) AS sent, max(published_at) AS last FROM outbox "
        "WHERE topic = $1",
        RowsValidated.TOPIC,
    )
    if record is None or record["sent"] < expected:
        return None
    last: datetime = record["last"]
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, description),
    ):
        asyncio.run(run(args.uploads, args.rows, admin_dsn, bootstrap, description))


if __name__ == "__main__":
    main()
