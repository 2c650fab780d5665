"""Outbox → broker → inbox: throughput, idle latency and peak memory of one service.

One `Runtime` of the probe service (tests/support/probe.py) runs in this process: its
outbox relay publishes what this script writes through `runtime.unit_of_work()`, and its
consumer handles each event in the inbox transaction that writes the event's effect row.
So writer, relay and consumer share one process and one event loop, as in a service that
publishes and consumes its own events.

Infrastructure: an embedded Postgres (temporary folder, deleted at the end) and a Tansu
broker, or the servers of `DATABASE_URL` + `KAFKA_BOOTSTRAP_SERVERS` when both are set.
Either way the benchmark runs in a fresh database (dropped at the end) and under a topic
prefix of its own. A measurement, not a test: exits 0 whatever the figures.

    .venv/bin/python benchmarks/bench_outbox_inbox.py [--events 50000] [--latency-events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.runtime import infra  # noqa: E402
from services.runtime.service import Runtime  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.telemetry import configure_logging  # noqa: E402
from tests.support.probe import Ping, PingPayload, probe_spec  # noqa: E402

TARGET_RATE = 5000.0  # events/s, sustained
TARGET_P95_MS = 50.0  # idle end-to-end latency
LATENCY_N_BASE = 10_000_000  # `n` of latency events, apart from the throughput ones
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@dataclass
class Report:
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, metric: str, value: str, target: str = "") -> None:
        self.rows.append((metric, value, target))

    def print(self) -> None:
        header = ("metric", "value", "target")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(3)]
        line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        print()
        print(line)
        print("-+-".join("-" * w for w in widths))
        for row in self.rows:
            print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        for note in self.notes:
            print(note)


def ping(n: int, employers: int) -> Ping:
    return Ping.new(
        occurred_at=NOW,
        employer_no=1000 + n % employers,
        correlation_id=f"bench:{n}",
        payload=PingPayload(n=n),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- infrastructure -----------------------------------------------------------------------
@contextlib.contextmanager
def infrastructure(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(admin DSN, bootstrap servers, description): existing servers, else embedded ones."""
    dsn, bootstrap = os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if dsn and bootstrap:
        yield dsn, bootstrap, "DATABASE_URL + KAFKA_BOOTSTRAP_SERVERS"
        return
    pg = infra.EmbeddedPostgres(folder / "pg")
    kafka = infra.EmbeddedKafka()
    try:
        started = time.perf_counter()
        pg.start(cleanup="delete")
        kafka.start(log_path=folder / "broker.log")
        took = time.perf_counter() - started
        yield pg.server.get_uri(), kafka.bootstrap, f"embedded Postgres + Tansu ({took:.1f} s)"
    finally:
        kafka.stop()
        pg.stop()


async def create_database(admin_dsn: str) -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, infra.database_uri(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def one_row(pool: asyncpg.Pool, sql: str, *args: object) -> asyncpg.Record:
    row = await pool.fetchrow(sql, *args)
    assert row is not None
    return row


# -- phases -------------------------------------------------------------------------------
async def count_effects(pool: asyncpg.Pool, low: int, high: int) -> int:
    value = await pool.fetchval("SELECT count(*) FROM effects WHERE n >= $1 AND n < $2", low, high)
    return int(value)


async def wait_for_effects(
    pool: asyncpg.Pool, low: int, high: int, *, timeout_s: float, interval_s: float
) -> int:
    deadline = time.monotonic() + timeout_s
    want = high - low
    seen = await count_effects(pool, low, high)
    while seen < want and time.monotonic() < deadline:
        await asyncio.sleep(interval_s)
        seen = await count_effects(pool, low, high)
    return seen


async def warm_up(runtime: Runtime, pool: asyncpg.Pool, employers: int) -> float:
    """Until the consumer is assigned its partitions and handles events (not measured)."""
    started = time.perf_counter()
    low = LATENCY_N_BASE * 2
    async with runtime.unit_of_work() as uow:
        for i in range(50):
            uow.publish(ping(low + i, employers))
    await wait_for_effects(pool, low, low + 50, timeout_s=60, interval_s=0.05)
    return time.perf_counter() - started


async def measure_latency(
    runtime: Runtime,
    pool: asyncpg.Pool,
    count: int,
    employers: int,
    budget_s: float,
    report: Report,
) -> None:
    """One event at a time: commit, then wait until its effect row exists."""
    polled_ms: list[float] = []
    db_ms: list[float] = []
    deadline = time.monotonic() + budget_s
    for i in range(count):
        if time.monotonic() > deadline:
            report.notes.append(f"latency: stopped after {i} events (time budget {budget_s:.0f} s)")
            break
        event = ping(LATENCY_N_BASE + i, employers)
        async with runtime.unit_of_work() as uow:
            uow.publish(event)
        committed = time.perf_counter()
        committed_at: datetime = await pool.fetchval("SELECT clock_timestamp()")
        handled_at: datetime | None = None
        while handled_at is None:
            handled_at = await pool.fetchval(
                "SELECT handled_at FROM effects WHERE event_id = $1", event.event_id
            )
            if handled_at is None:
                if time.monotonic() > deadline + 10:
                    report.notes.append(f"latency: event {i} not handled within the budget")
                    break
                await asyncio.sleep(0.001)
        if handled_at is None:
            break
        polled_ms.append((time.perf_counter() - committed) * 1000)
        db_ms.append((handled_at - committed_at).total_seconds() * 1000)
    if not polled_ms:
        report.add("idle latency", "no samples", f"p95 <= {TARGET_P95_MS:.0f} ms")
        return

    def stats(values: list[float]) -> str:
        return (
            f"p50 {percentile(values, 50):.1f} / p95 {percentile(values, 95):.1f} / "
            f"p99 {percentile(values, 99):.1f} / max {max(values):.1f} ms"
        )

    p95 = percentile(db_ms, 95)
    report.add(
        f"idle latency, commit -> effects.handled_at (DB clock, n={len(db_ms)})",
        stats(db_ms),
        f"p95 <= {TARGET_P95_MS:.0f} ms: {verdict(p95 <= TARGET_P95_MS)}",
    )
    p95 = percentile(polled_ms, 95)
    report.add(
        f"idle latency, commit -> effect row visible (polled 1 ms, n={len(polled_ms)})",
        stats(polled_ms),
        f"p95 <= {TARGET_P95_MS:.0f} ms: {verdict(p95 <= TARGET_P95_MS)}",
    )
    report.add("idle latency, mean (DB clock)", f"{statistics.fmean(db_ms):.1f} ms")
    # Where the time goes: the relay's UPDATE sets published_at after the broker's ack.
    split = await one_row(
        pool,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY relay) AS relay, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY consume) AS consume "
        "FROM (SELECT extract(epoch FROM o.published_at - o.created_at) * 1000 AS relay, "
        "             extract(epoch FROM e.handled_at - o.published_at) * 1000 AS consume "
        "      FROM effects e JOIN outbox o USING (event_id) WHERE e.n >= $1 AND e.n < $2) t",
        LATENCY_N_BASE,
        LATENCY_N_BASE + count,
    )
    report.add(
        "  of which: tx start -> published (relay) | published -> handled (consumer), p50",
        f"{split['relay']:.1f} ms | {split['consume']:.1f} ms",
    )


async def measure_throughput(
    runtime: Runtime,
    pool: asyncpg.Pool,
    events: int,
    tx_size: int,
    employers: int,
    timeout_s: float,
    report: Report,
) -> None:
    """`events` events written in transactions of `tx_size`, then wait for every effect."""
    first_id = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))
    first_commit: datetime | None = None
    writing = time.perf_counter()
    for start in range(0, events, tx_size):
        async with runtime.unit_of_work() as uow:
            for n in range(start, min(start + tx_size, events)):
                uow.publish(ping(n, employers))
        if first_commit is None:
            first_commit = await pool.fetchval("SELECT clock_timestamp()")
    written = time.perf_counter() - writing
    last_commit: datetime = await pool.fetchval("SELECT clock_timestamp()")
    assert first_commit is not None
    handled = await wait_for_effects(pool, 0, events, timeout_s=timeout_s, interval_s=0.1)
    waited = time.perf_counter() - writing

    outbox = await one_row(
        pool,
        "SELECT count(*) AS n, count(published_at) AS published, max(published_at) AS last "
        "FROM outbox WHERE id > $1",
        first_id,
    )
    effects = await one_row(
        pool, "SELECT max(handled_at) AS last FROM effects WHERE n >= 0 AND n < $1", events
    )
    under_load = await one_row(
        pool,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95, max(ms) AS max "
        "FROM (SELECT extract(epoch FROM e.handled_at - o.created_at) * 1000 AS ms "
        "      FROM effects e JOIN outbox o USING (event_id) WHERE o.id > $1) t",
        first_id,
    )

    def since_first(ts: datetime | None) -> float:
        return (ts - first_commit).total_seconds() if ts is not None else float("nan")

    t_write = since_first(last_commit)
    t_relay = since_first(outbox["last"])
    t_end = since_first(effects["last"])
    report.add(
        f"events (transactions of {tx_size}, {employers} keys)",
        f"{events:,} written, {outbox['published']:,} published, {handled:,} handled",
    )
    if handled < events:
        report.notes.append(
            f"throughput: only {handled} of {events} handled within {timeout_s:.0f} s "
            f"(waited {waited:.1f} s); the end-to-end figure counts what was handled"
        )
    rate = handled / t_end if t_end > 0 else float("nan")
    report.add(
        "end-to-end throughput (first commit -> last effects.handled_at)",
        f"{rate:,.0f} events/s ({t_end:.2f} s)",
        f">= {TARGET_RATE:,.0f} events/s: {verdict(rate >= TARGET_RATE)}",
    )
    report.add(
        "  outbox writes (writer, concurrent with relay+consumer)",
        f"{events / written:,.0f} events/s (last commit at +{t_write:.2f} s)",
    )
    report.add(
        "  relay publish (first commit -> last published_at)",
        f"{outbox['published'] / t_relay:,.0f} events/s (last at +{t_relay:.2f} s)",
    )
    report.add(
        "  under load: outbox.created_at -> handled_at",
        f"p50 {under_load['p50']:.0f} / p95 {under_load['p95']:.0f} / "
        f"max {under_load['max']:.0f} ms",
    )


# -- main ---------------------------------------------------------------------------------
async def run(args: argparse.Namespace, admin_dsn: str, bootstrap: str, report: Report) -> None:
    name, dsn = await create_database(admin_dsn)
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}.")
    runtime = Runtime(probe_spec(), settings, dsn=dsn, bootstrap=bootstrap)
    try:
        started = time.perf_counter()
        await runtime.start()
        assert runtime.pool is not None
        pool = runtime.pool
        warm = await warm_up(runtime, pool, args.employers)
        report.notes.append(
            f"runtime started in {time.perf_counter() - started - warm:.1f} s, "
            f"warm-up (group join + 50 events) {warm:.1f} s"
        )
        await measure_latency(
            runtime, pool, args.latency_events, args.employers, args.latency_budget, report
        )
        await measure_throughput(
            runtime, pool, args.events, args.tx_size, args.employers, args.timeout, report
        )
    finally:
        await runtime.stop()
        await drop_database(admin_dsn, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=50_000, help="throughput events")
    parser.add_argument("--tx-size", type=int, default=1_000, help="events per transaction")
    parser.add_argument("--latency-events", type=int, default=200, help="idle latency samples")
    parser.add_argument("--latency-budget", type=float, default=60.0, help="seconds, at most")
    parser.add_argument("--employers", type=int, default=1_000, help="distinct partition keys")
    parser.add_argument("--timeout", type=float, default=90.0, help="throughput drain, seconds")
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")

    report = Report()
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bvg-bench-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, where),
    ):
        print(f"infrastructure: {where}; {os.cpu_count()} CPUs", flush=True)
        try:
            asyncio.run(run(args, admin_dsn, bootstrap, report))
        except Exception as exc:  # a measurement: report and exit 0
            report.notes.append(f"benchmark failed: {type(exc).__name__}: {exc}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report.add("peak RSS of this process (writer + relay + consumer)", f"{peak_kib / 1024:.0f} MiB")
    report.add("RSS now", f"{psutil.Process().memory_info().rss / 2**20:.0f} MiB")
    report.notes.append(f"total wall time {time.perf_counter() - began:.1f} s")
    report.print()
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    sys.exit(main())
