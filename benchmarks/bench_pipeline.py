"""The whole suite, upload to invoice (issue 9): one 5,000-row list, then a month of 100,000.

Starts `bvgconnect up --no-demo` in a temporary folder (six service processes, embedded
Postgres and Tansu), affiliates the employers through auth, moves the business clock to
2025-06-05 and uploads the May 2025 lists over HTTP as JSON, rows made by the simulation's
world (`services/simulate`: assignments, hours, wages, declared I/J as an employer writes them).

1. **One list of 5,000 rows**: from the upload's request to its check report (intake
   `reports.checked_at`) and to its invoice (billing `invoices.issued_at`); database clock.
2. **A month of 100,000 rows** (`--employers` lists of `--rows` each, all uploaded at once):
   from the first upload to the last invoice issued, and when each service finished its part
   (last check report, last row assessed, last list priced, last invoice), plus the CPU
   seconds over the run (from /proc) of each service process, of Postgres, of the broker and
   of the whole machine, and the events each topic carried: where the time goes.
   With `--history` the same workers' April lists are handled first (untimed), so that May is
   a month in steady operation rather than every worker's first list.

Prints tables; always exits 0. `--skip-month` runs part 1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime import infra
from services.runtime.settings import SERVICE_NAMES, Settings, suite_ports
from services.simulate.harness import Endpoints, Harness
from services.simulate.run import _employer_body
from services.simulate.truth import Knowledge, list_row
from services.simulate.world import build_world

PERIOD = "2025-05"
TODAY = date(2025, 6, 5)
#: The month before, with `--history`: its lists are handled (untimed) before May's.
HISTORY = "2025-04"
HISTORY_DAY = date(2025, 5, 5)


def start_suite(folder: Path, base: int) -> subprocess.Popen[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update({"BVG_DATA_DIR": str(folder), "BVG_HTTP_PORT_BASE": str(base)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--no-demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Ctrl-C stops everything"):
            return proc
    raise RuntimeError("the suite did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> dict[str, float]:
    """CPU seconds used so far by the database server, the broker and the whole machine
    (busy time of all cores), to tell the services' share from the infrastructure's."""
    hz = os.sysconf("SC_CLK_TCK")
    used = {"postgres": 0.0, "broker": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / hz
        name = Path(cmdline).name
        if name.startswith("postgres") or stat[stat.index("(") + 1 :].startswith("postgres"):
            used["postgres"] += seconds
        elif name.startswith("tansu"):
            used["broker"] += seconds
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / hz
    return used


def lists_of(
    employers: int, rows: int, seed: int, first_no: int, *, history: bool = False
) -> tuple[Any, dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """`employers` lists of about `rows` rows for May 2025 (workers on an assignment in May),
    and with `history` the same workers' lists of April, written before (what coverage has
    seen of them when May's list arrives)."""
    world = build_world(
        employers=employers,
        workers=int(rows * employers * 4),
        months=2 if history else 1,
        seed=seed,
        first_period=HISTORY if history else PERIOD,
        first_employer_no=first_no,
    )
    by_employer: dict[int, list[dict[str, Any]]] = {e.employer_no: [] for e in world.employers}
    before: dict[int, list[dict[str, Any]]] = {e.employer_no: [] for e in world.employers}
    employer_of = {e.employer_no: e for e in world.employers}
    for worker in world.workers:
        rows_of = by_employer[worker.employer_no]
        if len(rows_of) >= rows:
            continue
        known = Knowledge()
        earlier = None
        if history:
            earlier = list_row(world, employer_of[worker.employer_no], worker, HISTORY, known)
        made = list_row(world, employer_of[worker.employer_no], worker, PERIOD, known)
        if made is not None:
            rows_of.append(made[0])
            if earlier is not None:
                before[worker.employer_no].append(earlier[0])
    return world, by_employer, before


async def _events_by_topic(h: Harness) -> dict[str, int]:
    assert h.pool is not None
    counts: dict[str, int] = {}
    for service in SERVICE_NAMES:
        for row in await h.pool.fetch(
            f"SELECT topic, count(*) AS n FROM {service}.outbox GROUP BY topic"
        ):
            counts[row["topic"]] = counts.get(row["topic"], 0) + row["n"]
    return counts


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    base = infra.free_port_base()
    proc = start_suite(folder, base)
    try:
        state = infra.read_state(folder)
        assert state is not None
        settings = Settings()
        endpoints = Endpoints(
            dsn=str(state["database_url"]),
            bootstrap=str(state["kafka_bootstrap_servers"]),
            topic_prefix=settings.topic_prefix,
            http={n: f"http://127.0.0.1:{p}" for n, p in suite_ports(base).items()},
            key_folder=folder / "auth-dev-key",
            qr_iban=settings.billing_qr_iban,
        )
        async with Harness(endpoints) as h:
            await single_list(h, args)
            if not args.skip_month:
                await month(h, args, state)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


async def _setup(
    h: Harness, world: Any, history: dict[int, list[dict[str, Any]]] | None = None
) -> None:
    for employer in world.employers:
        await h.affiliate(employer.employer_no, _employer_body(employer, date(2025, 1, 1)))
    await h.quiet()
    if history:
        await h.tick(HISTORY_DAY)
        await h.quiet()
        await asyncio.gather(*(h.upload(no, HISTORY, rows) for no, rows in history.items()))
        await h.quiet(timeout_s=600)
    await h.tick(TODAY)
    await h.quiet()


async def single_list(h: Harness, args: argparse.Namespace) -> None:
    world, lists, _ = lists_of(1, 5000, seed=101, first_no=6001)
    await _setup(h, world)
    [(employer_no, rows)] = lists.items()
    assert h.pool is not None
    t0 = time.monotonic()
    upload_id = await h.upload(employer_no, PERIOD, rows)
    report_s: float | None = None
    token = h.employer_token(employer_no)
    url = f"{h.e.http['intake']}/employers/{employer_no}/uploads/{upload_id}"
    while report_s is None:  # as the portal does: poll the report until it is there
        answer = await h.http.get(url, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code == 200 and answer.json().get("status") is not None:
            report_s = time.monotonic() - t0
        else:
            await asyncio.sleep(0.02)
    invoiced = 0
    while not invoiced:
        invoiced = await h.pool.fetchval(
            "SELECT count(*) FROM billing.invoices WHERE employer_no = $1 AND $2 = ANY(periods)",
            employer_no,
            PERIOD,
        )
        await asyncio.sleep(0.02)
    invoice_s = time.monotonic() - t0
    print(f"\n## One list of {len(rows):,} rows, upload to report and to invoice\n")
    print("| step | seconds | target |")
    print("| --- | --- | --- |")
    print(f"| upload → check report (polled over HTTP) | {report_s:.2f} | ≤ 2 s |")
    print(f"| upload → invoice issued | {invoice_s:.2f} | ≤ 10 s |")


async def month(h: Harness, args: argparse.Namespace, state: dict[str, Any]) -> None:
    world, lists, history = lists_of(
        args.employers, args.rows, seed=202, first_no=7001, history=args.history
    )
    await _setup(h, world, history if args.history else None)
    total = sum(len(r) for r in lists.values())
    pids = {n: int(state["services"][n]["pid"]) for n in SERVICE_NAMES}
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    infra0 = machine_cpu()
    events0 = await _events_by_topic(h)
    assert h.pool is not None
    t0 = await h.pool.fetchval("SELECT clock_timestamp()")
    wall0 = time.monotonic()
    await asyncio.gather(*(h.upload(no, PERIOD, rows) for no, rows in lists.items()))
    uploaded = time.monotonic() - wall0
    employers = list(lists)
    while True:
        done = await h.pool.fetchval(
            "SELECT count(*) FROM billing.invoices WHERE employer_no = ANY($1::int[]) "
            "AND $2 = ANY(periods)",
            employers,
            PERIOD,
        )
        if done >= len(employers):
            break
        await asyncio.sleep(0.2)
    cpu1 = {n: cpu_seconds(p) for n, p in pids.items()}
    infra1 = machine_cpu()
    events1 = await _events_by_topic(h)
    # When each service wrote its last event of the month (outbox rows carry the database's
    # clock; the events' own `occurred_at` is their cause's time).
    last_of = "SELECT max(created_at) FROM {}.outbox WHERE topic LIKE $1"
    marks = {
        "intake: last row validated": await h.pool.fetchval(
            last_of.format("intake"), "%row-validated%"
        ),
        "coverage: last row assessed": await h.pool.fetchval(
            last_of.format("coverage"), "%row-assessed%"
        ),
        "pricing: last list priced": await h.pool.fetchval(
            last_of.format("pricing"), "%list-priced%"
        ),
        "billing: last invoice issued": await h.pool.fetchval(
            last_of.format("billing"), "%invoice-issued%"
        ),
    }
    end = marks["billing: last invoice issued"]
    seconds = (end - t0).total_seconds()
    known = (
        f"after April's lists of the same workers ({sum(map(len, history.values())):,} rows)"
        if args.history
        else "the employers' first lists (no history)"
    )
    print(f"\n## A month: {len(lists)} lists, {total:,} rows, all uploaded at once, {known}\n")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| uploads answered (HTTP 202, stored) | {uploaded:.2f} s |")
    print(f"| first upload → last invoice issued | **{seconds:.1f} s** (target ≤ 30 s) |")
    print(f"| rows/s end to end | {total / seconds:,.0f} |")
    for label, at in marks.items():
        print(f"| {label} | +{(at - t0).total_seconds():.1f} s |")
    print("\n| service | CPU seconds over the run | CPU µs per row |")
    print("| --- | --- | --- |")
    for n in SERVICE_NAMES:
        used = cpu1[n] - cpu0[n]
        print(f"| {n} | {used:.1f} | {used / total * 1e6:,.0f} |")
    services = sum(cpu1[n] - cpu0[n] for n in SERVICE_NAMES)
    others = {k: infra1[k] - infra0[k] for k in ("postgres", "broker")}
    rest = infra1["machine"] - infra0["machine"] - services - sum(others.values())
    for label, used in [*others.items(), ("everything else (this benchmark, the OS)", rest)]:
        print(f"| {label} | {used:.1f} | {used / total * 1e6:,.0f} |")
    whole = infra1["machine"] - infra0["machine"]
    print(f"| **the machine** | **{whole:.1f}** | **{whole / total * 1e6:,.0f}** |")
    print("\n| events published in the month | count | per row |")
    print("| --- | --- | --- |")
    for topic, count in sorted(events1.items()):
        published = count - events0.get(topic, 0)
        if published:
            print(f"| {topic} | {published:,} | {published / total:.2f} |")
    print(f"\n(load average at the end: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employers", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--skip-month", action="store_true")
    parser.add_argument(
        "--history",
        action="store_true",
        help="handle the same workers' April lists first (untimed): a month in steady operation",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
