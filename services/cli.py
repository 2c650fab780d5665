"""The `bvgconnect` command: run the suite, one service, migrations, the clock, the DLQ."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from services.runtime import infra
from services.runtime.settings import SERVICE_NAMES, Settings, describe_error, suite_ports


class CliError(Exception):
    """Ends the command with one line on stderr and a non-zero exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise CliError(describe_error(exc), 2) from None


def endpoints(settings: Settings) -> tuple[str, str]:
    """DSN and bootstrap servers: from the environment, else the running embedded suite."""
    dsn, bootstrap = settings.database_url, settings.kafka_bootstrap_servers
    if dsn and bootstrap:
        return dsn, bootstrap
    state = infra.read_state(settings.data_dir)
    if state is None:
        missing = "DATABASE_URL" if not dsn else "KAFKA_BOOTSTRAP_SERVERS"
        raise CliError(
            f"setting {missing} is not set and no embedded suite runs in {settings.data_dir} "
            "(start one with `bvgconnect up`)"
        )
    return dsn or str(state["database_url"]), bootstrap or str(state["kafka_bootstrap_servers"])


# -- run SERVICE ------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from services.registry import spec_of
    from services.runtime.service import Runtime, StartupError, create_app
    from services.runtime.telemetry import configure_logging

    settings = load_settings()
    dsn, bootstrap = endpoints(settings)
    configure_logging(args.service, settings.log_level, settings.log_format)
    runtime = Runtime(spec_of(args.service), settings, dsn=dsn, bootstrap=bootstrap)
    app = create_app(runtime)
    port = args.port or settings.http_port or suite_ports(settings.http_port_base)[args.service]

    async def serve() -> int:
        # While starting, failures are reported in one line of ours, not the client's logs.
        quiet = [logging.getLogger(n) for n in ("aiokafka", "faststream", "asyncio")]
        for logger in quiet:
            logger.setLevel(logging.CRITICAL)
        try:
            await runtime.start()
        except StartupError as exc:
            await runtime.stop()
            raise CliError(f"{args.service}: {exc}") from None
        except Exception as exc:
            await runtime.stop()
            raise CliError(f"{args.service}: cannot start ({type(exc).__name__}: {exc})") from None
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        config = uvicorn.Config(
            app, host=settings.http_host, port=port, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        try:
            await server.serve()
        finally:
            await runtime.stop()
        return 0 if server.started else 1

    return asyncio.run(serve())


# -- migrate ----------------------------------------------------------------------------
async def migrate_all(dsn: str, names: Sequence[str]) -> dict[str, list[str]]:
    import asyncpg

    from services.registry import spec_of
    from services.runtime.db import load_migrations, migrate

    applied: dict[str, list[str]] = {}
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for name in names:
            spec = spec_of(name)
            applied[name] = await migrate(conn, name, load_migrations(spec.migration_sources()))
    finally:
        await conn.close()
    return applied


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.runtime.db import MigrationError, redact_dsn

    unknown = [n for n in args.services if n not in SERVICE_NAMES]
    if unknown:
        raise CliError(f"unknown service {unknown[0]!r}; known: {', '.join(SERVICE_NAMES)}", 2)
    settings = load_settings()
    dsn, _ = endpoints(settings)
    try:
        applied = asyncio.run(migrate_all(dsn, args.services or SERVICE_NAMES))
    except MigrationError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(
            f"cannot reach the database at DATABASE_URL={redact_dsn(dsn)} ({exc})"
        ) from None
    for name, names in applied.items():
        print(f"{name:9} {len(names)} applied" + (f": {', '.join(names)}" if names else ""))
    return 0


# -- up / down --------------------------------------------------------------------------
#: `up` starts a service that died again, unless it died this often within the window.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    data_dir = settings.data_dir.resolve()
    if infra.read_state(data_dir) is not None:
        raise CliError(f"a suite already runs from {data_dir} (stop it with `bvgconnect down`)")
    stale = infra.clean_stale_suite(data_dir)
    if stale:
        print(f"stopped {stale} process(es) left by a suite that was killed")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    started = time.monotonic()
    pg: infra.EmbeddedPostgres | None = None
    kafka: infra.EmbeddedKafka | None = None
    children: dict[str, subprocess.Popen[bytes]] = {}
    ports = suite_ports(settings.http_port_base)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        dsn = settings.database_url
        if not dsn:
            pg = infra.EmbeddedPostgres(data_dir / "postgres")
            dsn = pg.start()
        bootstrap = settings.kafka_bootstrap_servers
        embedded: dict[str, str] = {}
        if not bootstrap:
            kafka = infra.EmbeddedKafka()
            bootstrap = kafka.start(log_path=data_dir / "logs" / "broker.log")
            # One partition per topic unless asked otherwise: Tansu's cost grows with the
            # partitions every fetch polls (50 fetches a second per service), and with rows
            # in parts of a list its partitions stay short (benchmarks/README.md).
            embedded["BVG_TOPIC_PARTITIONS"] = os.environ.get("BVG_TOPIC_PARTITIONS", "1")
        asyncio.run(migrate_all(dsn, SERVICE_NAMES))
        env = {**os.environ, "DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        env.update(embedded)
        env["BVG_DATA_DIR"] = str(data_dir)
        env["BVG_MIGRATE_ON_START"] = "false"
        if not settings.auth_jwks_url and settings.auth_jwks_file is None:
            # Until auth signs people in, the local suite trusts a key of its own folder;
            # `bvgconnect token` issues tokens with it.
            from services.auth.tokens import SigningKey

            SigningKey.load_or_create(data_dir / DEV_KEY_FOLDER)
            env["BVG_AUTH_JWKS_FILE"] = str(data_dir / DEV_KEY_FOLDER / "jwks.json")

        def spawn(name: str) -> subprocess.Popen[bytes]:
            log_file = open(data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115
            return subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", name],
                env={**env, "BVG_HTTP_PORT": str(ports[name])},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Ctrl-C reaches `up` only, which then stops the services in order.
                start_new_session=True,
            )

        def save_state() -> None:
            infra.write_state(
                data_dir,
                {
                    "pid": os.getpid(),
                    "database_url": dsn,
                    "kafka_bootstrap_servers": bootstrap,
                    "services": {n: {"pid": p.pid, "port": ports[n]} for n, p in children.items()},
                    "broker_pid": kafka.process.pid if kafka and kafka.process else None,
                },
            )

        for name in SERVICE_NAMES:
            children[name] = spawn(name)
        save_state()
        _wait_ready(children, ports, timeout_s=60, should_stop=lambda: stop)
        demo = "" if args.no_demo else asyncio.run(_load_demo(dsn))
        elapsed = time.monotonic() - started
        _print_table(dsn, bootstrap, data_dir, elapsed, demo, ports)
        restarts: dict[str, list[float]] = {}
        while not stop:
            for name, child in list(children.items()):
                if child.poll() is None:
                    continue
                # A service that dies is started again, as a production orchestrator would;
                # one that keeps dying stops the suite.
                now = time.monotonic()
                recent = [t for t in restarts.get(name, []) if now - t < RESTART_WINDOW_S]
                if len(recent) >= MAX_RESTARTS:
                    print(
                        f"service {name} exited with status {child.returncode} "
                        f"{MAX_RESTARTS} times within {RESTART_WINDOW_S:.0f} s; see its log"
                    )
                    stop = True
                    break
                print(f"service {name} exited with status {child.returncode}; restarting it")
                children[name] = spawn(name)
                restarts[name] = [*recent, now]
                save_state()
            time.sleep(0.2)
        print("stopping ...")
    finally:
        _stop_children(children)
        if kafka is not None:
            kafka.stop()
        if pg is not None:
            pg.stop()
        infra.clear_state(data_dir)
    return 0


def _wait_ready(
    children: dict[str, subprocess.Popen[bytes]],
    ports: dict[str, int],
    *,
    timeout_s: float,
    should_stop: Any,
) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(children)
    while pending:
        if should_stop():
            raise CliError("interrupted while starting")
        for name in sorted(pending):
            child = children[name]
            if child.poll() is not None:
                raise CliError(f"service {name} exited while starting (status {child.returncode})")
            url = f"http://127.0.0.1:{ports[name]}/readyz"
            with (
                contextlib.suppress(OSError, http.client.HTTPException),
                urllib.request.urlopen(url, timeout=1) as answer,
            ):
                if answer.status == 200:
                    pending.discard(name)
        if time.monotonic() > deadline:
            raise CliError(
                f"services not ready after {timeout_s:.0f} s: {', '.join(sorted(pending))}"
            )
        time.sleep(0.1)


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _load_demo(dsn: str) -> str:
    from services.auth.demo import DEMO_EMPLOYER_NO, DEMO_LOGIN, DEMO_PASSWORD, load_demo
    from services.runtime.db import create_pool
    from services.runtime.outbox import unit_of_work

    pool = await create_pool(dsn, "auth", min_size=1, max_size=1)
    try:
        async with unit_of_work(pool, "auth") as uow:
            loaded = await load_demo(uow, now=datetime.now(UTC))
    finally:
        await pool.close()
    kept = "" if loaded else " (kept from an earlier start)"
    return f"employer {DEMO_EMPLOYER_NO}, user {DEMO_LOGIN} / {DEMO_PASSWORD}{kept}"


def _print_table(
    dsn: str, bootstrap: str, data_dir: Path, elapsed: float, demo: str, ports: dict[str, int]
) -> None:
    from services.runtime.db import redact_dsn

    print(f"bvgconnect is up in {elapsed:.1f} s (data in {data_dir}, logs in {data_dir}/logs)")
    print(f"  postgres  {redact_dsn(dsn)}")
    print(f"  kafka     {bootstrap}")
    for name in SERVICE_NAMES:
        base = f"http://127.0.0.1:{ports[name]}"
        print(f"  {name:9} {base}   {base}/docs   {base}/metrics")
    if demo:
        print(f"  demo      {demo}")
        print("  token     bvgconnect token --employer 1001   (a bearer token for the APIs)")
    print("Ctrl-C stops everything.", flush=True)


#: Where `up` keeps the development signing key (under the data folder).
DEV_KEY_FOLDER = "auth-dev-key"


def cmd_token(args: argparse.Namespace) -> int:
    import uuid

    from services.auth.tokens import MAX_LIFETIME_S, KeyRing, SigningKey

    settings = load_settings()
    folder = settings.data_dir.resolve() / DEV_KEY_FOLDER
    if not KeyRing.exists(folder):
        raise CliError(
            f"no development key in {folder}: start the local suite with `bvgconnect up` "
            "(tokens for a production suite come from the auth service)"
        )
    topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = set(topics) - {"mutations", "contributions", "reminders", "users", "messages"}
    if unknown:
        raise CliError(f"unknown topic(s): {', '.join(sorted(unknown))}", 2)
    if not 1 <= args.lifetime <= MAX_LIFETIME_S:
        raise CliError(f"--lifetime is 1 to {MAX_LIFETIME_S} seconds", 2)
    key = SigningKey.load_or_create(folder)
    print(
        key.issue(
            now=datetime.now(UTC),
            user_id=uuid.uuid4(),
            kind=args.kind,
            employer_no=None if args.kind == "operator" else args.employer,
            topics=topics,
            level=args.level,
            lifetime_s=args.lifetime,
        )
    )
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    settings = load_settings()
    state = infra.read_state(settings.data_dir.resolve())
    if state is None:
        print("no suite is running")
        return 0
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if infra.read_state(settings.data_dir.resolve()) is None:
            print("stopped")
            return 0
        time.sleep(0.2)
    raise CliError(f"the suite (pid {pid}) did not stop within 40 s")


# -- clock ------------------------------------------------------------------------------
def cmd_clock_tick(args: argparse.Namespace) -> int:
    from contracts.events.clock import DayStarted, DayStartedPayload
    from services.runtime.clock import SystemClock, business_date

    settings = load_settings()
    _, bootstrap = endpoints(settings)
    now = SystemClock().now()
    try:
        day = date.fromisoformat(args.date) if args.date else business_date(now)
    except ValueError:
        raise CliError(f"--date {args.date!r} is not a date (YYYY-MM-DD)", 2) from None
    event = DayStarted.new(
        occurred_at=now,
        employer_no=0,
        correlation_id=f"clock:{day.isoformat()}",
        payload=DayStartedPayload(business_date=day),
    )
    asyncio.run(
        _publish_direct(
            settings,
            bootstrap,
            event.TOPIC,
            event.partition_key(),
            event.model_dump_json().encode(),
        )
    )
    print(f"published {event.TOPIC} for {day.isoformat()} (event {event.event_id})")
    return 0


def cmd_payments_import(args: argparse.Namespace) -> int:
    """Book a camt.054 file into billing's schema; billing's relay publishes the events."""
    settings = load_settings()
    dsn, _ = endpoints(settings)
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}", 2) from None
    return asyncio.run(_import_payments(dsn, body))


async def _import_payments(dsn: str, body: bytes) -> int:
    from services.billing.camt import CamtError
    from services.billing.handlers import import_notification
    from services.runtime.clock import SystemClock
    from services.runtime.db import create_pool
    from services.runtime.outbox import unit_of_work

    pool = await create_pool(dsn, "billing", min_size=1, max_size=2, timeout=10)
    try:
        result = await import_notification(
            lambda: unit_of_work(pool, "billing"), body, now=SystemClock().now()
        )
    except CamtError as exc:
        raise CliError(f"{exc.code}: {exc.message}", 1) from None
    finally:
        await pool.close()
    print(json.dumps(result))
    return 0


async def _publish_direct(
    settings: Settings, bootstrap: str, topic: str, key: str, value: bytes
) -> None:
    from aiokafka import AIOKafkaProducer

    from services.runtime.service import StartupError, ensure_topics

    try:
        await ensure_topics(
            bootstrap,
            [settings.topic_prefix + topic],
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            timeout_s=settings.kafka_connect_timeout_s,
        )
    except StartupError as exc:
        raise CliError(str(exc)) from None
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_prefix + topic, value=value, key=key.encode())
    finally:
        await producer.stop()


# -- dlq --------------------------------------------------------------------------------
def cmd_dlq_list(args: argparse.Namespace) -> int:
    from services.runtime import dlq

    settings = load_settings()
    _, bootstrap = endpoints(settings)
    entries = asyncio.run(dlq.list_entries(bootstrap, settings.topic_prefix, topic=args.topic))
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print("the dead-letter topics are empty")
        return 0
    print(f"{'id':36}  {'topic':34} {'offset':>7}  {'tries':>5}  {'state':8}  error")
    for e in entries:
        state = "replayed" if e.replayed else "waiting"
        print(
            f"{e.dlq_id:36}  {e.original_topic:34} {e.original_offset:>7}  "
            f"{e.attempts:>5}  {state:8}  {e.error[:80]}"
        )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from services.runtime import dlq

    settings = load_settings()
    _, bootstrap = endpoints(settings)
    if not args.all and not args.id and not args.topic:
        raise CliError("say what to replay: --id ID, --topic TOPIC or --all", 2)
    replayed = asyncio.run(
        dlq.replay(bootstrap, settings.topic_prefix, topic=args.topic, dlq_id=args.id)
    )
    print(f"replayed {len(replayed)} message(s)")
    for e in replayed:
        print(f"  {e.dlq_id} -> {e.original_topic}")
    return 0


# -- contracts --------------------------------------------------------------------------
def cmd_contracts_export(args: argparse.Namespace) -> int:
    from contracts import generate

    if args.check:
        differences = generate.check()
        for line in differences:
            print(line)
        return 1 if differences else 0
    for path in generate.export():
        print(path)
    return 0


# -- price ------------------------------------------------------------------------------
PRICE_HELP = """\
Price pay-period rows offline (RULES §2-§5). Reads JSON lines on stdin, one row per line:
  {"period": "2025-03", "birth_date": "1985-01-13", "sex": "M", "hours": "160.5",
   "base_wage": "4895.25", "invalidity_degree": 0, "employer_share": "0.5"}
hours and base_wage as decimal strings or JSON numbers (both negative for a correction);
invalidity_degree (IV degree, whole %, default 0) and employer_share (the employer's
fraction of the premium, 0.5-1, default 0.5) are optional. So is insured_hours: of a
partly insured month, the hours that fall into the insured days (coverage's insured part,
as the pricing service gets it), with the sign of hours and not above them; "0" means not
insured (not_subject_reason "not_insured"); absent or null, every hour is insured.
Writes one JSON line per row, in input order: the input's fields plus bvg_age, subject,
not_subject_reason, hourly_base_wage, insured_hourly_wage, insured_wage (J), rate,
premium_total (I), employer_share, employee_share, savings_part, parameter_version. Money is
a decimal string with 2 decimals (CHF); rate is a fraction string ("0.045" = 4.5 %); in the
output employer_share is the employer's amount in CHF. A row that is not subject has every
amount "0.00", rate "0.000" and a not_subject_reason. A line that cannot be priced gives
{"line": N, "error": {"code": ..., "message": ...}} and the command goes on. Blank lines are
skipped (no output line). Exit status 1 if any line failed, else 0."""


def cmd_price(args: argparse.Namespace) -> int:
    from services.pricing import offline

    return offline.run(sys.stdin, sys.stdout)


EXPLAIN_HELP = """\
Why is this person (not) insured? Reads one JSON document on stdin: birth_date, sex,
invalidity_degree, assignments at one employer ([{start, end (null while ongoing),
expected_over_13_weeks, extension_accepted_on, requested, children, absences: [{from, to,
reason}]}]), previously_insured_until. Prints {"periods": [{from, to, start_rule, end_rule}],
"work_weeks": N, "findings": [...]}; with --text a timeline naming the article behind each
step. Bad input: one line {"error": {code, message}} and exit status 2."""


def cmd_coverage_explain(args: argparse.Namespace) -> int:
    from services.coverage import offline

    return offline.explain(sys.stdin, sys.stdout, text=args.text)


# -- validate ---------------------------------------------------------------------------
VALIDATE_HELP = """\
Check a monthly list (xlsx) offline, with every check of TEMPLATE.md, and compute the declared.*
warnings from the row alone (no history: the service's report is authoritative). --json prints
{"status": "ok"|"faulty"|"unreadable", "rows": N, "findings": [{"row", "column", "code",
"severity", "message"}]} ("sheet" only for findings on sheet Einsätze). --fix OUT.xlsx writes a
copy with every mechanical fix (capitals, dates, amounts, AHV dots) and lists what remains.
Exit status 0 without errors (warnings allowed), 1 with errors, 2 when the file is unreadable."""


def cmd_validate(args: argparse.Namespace) -> int:
    from services.intake import offline

    request = offline.Request(
        path=Path(args.file),
        employer_no=args.employer,
        period=args.period,
        language=args.language,
        as_json=args.json,
        fix_to=Path(args.fix) if args.fix else None,
    )
    return offline.validate(request, sys.stdout, sys.stderr)


SIMULATE_HELP = """\
A year at the foundation against the running suite (the embedded one of `bvgconnect up`, or
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS with the services' ports from BVG_HTTP_PORT_BASE):
affiliates synthetic employers, sends their monthly lists (portal and connector), imports the
bank's camt.054 payments and moves the business clock day by day, then prints a summary and
checks the invariants against its own ground truth. The lists carry entries and exits,
interruptions of uncertain length (Art. 5, and a few forgotten follow-up exits), corrections
of earlier months, IV decisions, two assignments in a month and months off ill; some lists
are faulty or late, some employers never pay. Exit status 1 if an invariant is broken."""


def cmd_simulate(args: argparse.Namespace) -> int:
    from services.simulate.harness import Endpoints, SuiteError
    from services.simulate.run import simulate
    from services.simulate.world import build_world

    settings = load_settings()
    dsn, bootstrap = endpoints(settings)
    if not 1 <= args.employers <= 999 or args.workers < 1 or not 1 <= args.months <= 36:
        raise CliError("--employers 1-999, --workers at least 1, --months 1-36", 2)
    try:
        date.fromisoformat(args.start + "-01")
    except ValueError:
        raise CliError(f"--start {args.start!r} is not a period (YYYY-MM)", 2) from None
    world = build_world(
        employers=args.employers,
        workers=args.workers,
        months=args.months,
        seed=args.seed,
        first_period=args.start,
    )
    ports = suite_ports(settings.http_port_base)
    state = infra.read_state(settings.data_dir.resolve())
    embedded = settings.data_dir.resolve() if state is not None else None
    found = Endpoints(
        dsn=dsn,
        bootstrap=bootstrap,
        topic_prefix=settings.topic_prefix,
        http={name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        key_folder=settings.data_dir.resolve() / DEV_KEY_FOLDER,
        qr_iban=settings.billing_qr_iban,
        data_dir=embedded,
    )
    try:
        return asyncio.run(
            simulate(world, found, sys.stdout, chaos=args.chaos, chaos_every_s=args.chaos_every)
        )
    except SuiteError as exc:
        raise CliError(str(exc)) from None


def cmd_dunning_plan(args: argparse.Namespace) -> int:
    from services.dunning import domain

    try:
        if args.track == "data":
            if not args.period:
                raise CliError("--track data needs --period YYYY-MM", 2)
            if len(args.period) != 7 or args.period[4] != "-":
                raise ValueError
            anchor = domain.list_due_date(args.period)
        else:
            if not args.invoice_date:
                raise CliError("--track payment needs --invoice-date YYYY-MM-DD", 2)
            anchor = domain.invoice_due_date(date.fromisoformat(args.invoice_date))
    except ValueError:
        raise CliError("--period must be YYYY-MM and --invoice-date YYYY-MM-DD", 2) from None
    steps = domain.plan(args.track, anchor)
    if args.json:
        print(json.dumps(domain.plan_json(steps)))
        return 0
    print(f"{args.track} ladder, due {anchor.isoformat()}")
    for s in steps:
        extra = ", registered" if s.step.registered else ""
        copies = f", copies: {', '.join(s.step.copies)}" if s.step.copies else ""
        if s.step.step == "termination":
            extra += f", effective {domain.termination_effective(s.on).isoformat()}"
        print(f"{s.on.isoformat()}  {s.step.step:<12} CHF {s.step.fee:>7}{extra}{copies}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bvgconnect", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the embedded suite (Postgres, broker, six services)")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo employer")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the suite started by `up`").set_defaults(func=cmd_down)
    token = sub.add_parser(
        "token", help="a bearer token of the local suite's development key (not for production)"
    )
    token.add_argument("--employer", type=int, default=1001, help="employer number (1001)")
    token.add_argument(
        "--topics", default="mutations,contributions,reminders,messages", help="comma-separated"
    )
    token.add_argument("--level", type=int, choices=(1, 2, 3), default=2)
    token.add_argument(
        "--kind", choices=("connect", "admin", "connector", "operator"), default="connect"
    )
    token.add_argument("--lifetime", type=int, default=900, help="seconds, at most 900")
    token.set_defaults(func=cmd_token)

    mig = sub.add_parser("migrate", help="apply every schema's migrations")
    mig.add_argument("services", nargs="*", help="only these services (default: all)")
    mig.set_defaults(func=cmd_migrate)

    run = sub.add_parser("run", help="run one service")
    run.add_argument("service", choices=SERVICE_NAMES)
    run.add_argument("--port", type=int, default=0)
    run.set_defaults(func=cmd_run)

    clock = sub.add_parser("clock", help="the business clock").add_subparsers(
        dest="clock_command", required=True
    )
    tick = clock.add_parser("tick", help="publish clock.day-started")
    tick.add_argument("--date", help="business date YYYY-MM-DD (default: today in Zurich)")
    tick.set_defaults(func=cmd_clock_tick)

    dlq = sub.add_parser("dlq", help="dead-letter topics").add_subparsers(
        dest="dlq_command", required=True
    )
    dlq_list = dlq.add_parser("list", help="list dead-lettered messages")
    dlq_list.add_argument("--topic", help="only this original topic")
    dlq_list.add_argument("--json", action="store_true")
    dlq_list.set_defaults(func=cmd_dlq_list)
    replay = dlq.add_parser("replay", help="publish dead-lettered messages to their topic again")
    replay.add_argument("--id", help="one message, by its DLQ id")
    replay.add_argument("--topic", help="every waiting message of this original topic")
    replay.add_argument("--all", action="store_true", help="every waiting message")
    replay.set_defaults(func=cmd_dlq_replay)

    payments = sub.add_parser("payments", help="billing payments").add_subparsers(
        dest="payments_command", required=True
    )
    camt = payments.add_parser("import", help="book a camt.054 credit notification file")
    camt.add_argument("file", help="the camt.054 XML file from the bank")
    camt.set_defaults(func=cmd_payments_import)

    contracts = sub.add_parser("contracts", help="event contracts").add_subparsers(
        dest="contracts_command", required=True
    )
    export = contracts.add_parser("export", help="write JSON Schemas and the AsyncAPI document")
    export.add_argument("--check", action="store_true", help="only report differences")
    export.set_defaults(func=cmd_contracts_export)
    price = sub.add_parser(
        "price",
        help="price JSON lines from stdin offline (insured wage, premium, shares)",
        description=PRICE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    price.set_defaults(func=cmd_price)

    coverage = sub.add_parser("coverage", help="coverage rules").add_subparsers(
        dest="coverage_command", required=True
    )
    explain = coverage.add_parser(
        "explain",
        help="the coverage timeline of one worker at one employer, from JSON on stdin",
        description=EXPLAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("--text", action="store_true", help="a human-readable timeline")
    explain.set_defaults(func=cmd_coverage_explain)

    dunning = sub.add_parser("dunning", help="reminder ladders").add_subparsers(
        dest="dunning_command", required=True
    )
    plan = dunning.add_parser("plan", help="the dated steps and fees if nothing arrives")
    plan.add_argument("--track", choices=["data", "payment"], required=True)
    plan.add_argument("--period", help="data ladder: pay period YYYY-MM")
    plan.add_argument("--invoice-date", help="payment ladder: invoice date YYYY-MM-DD")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(func=cmd_dunning_plan)

    simulate = sub.add_parser(
        "simulate",
        help="a year at the foundation against the running suite, with invariants",
        description=SIMULATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--employers", type=int, default=50)
    simulate.add_argument("--workers", type=int, default=5000)
    simulate.add_argument("--months", type=int, default=12)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--start", default="2025-01", help="first period, YYYY-MM")
    simulate.add_argument(
        "--chaos",
        action="store_true",
        help="SIGKILL a random service now and then (embedded suite; `up` restarts it)",
    )
    simulate.add_argument(
        "--chaos-every",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="mean time between two kills (default 15)",
    )
    simulate.set_defaults(func=cmd_simulate)

    validate = sub.add_parser(
        "validate",
        help="check a monthly list (xlsx) offline, as the intake service does",
        description=VALIDATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("file", help="the list, an .xlsx file")
    validate.add_argument("--employer", type=int, required=True, help="your company number")
    validate.add_argument("--period", required=True, help="pay period YYYY-MM")
    validate.add_argument("--json", action="store_true", help="the report as one JSON object")
    validate.add_argument("--fix", metavar="OUT.xlsx", help="write a corrected copy")
    validate.add_argument("--language", choices=("de", "fr", "it", "en"), default="de")
    validate.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    try:
        status = int(args.func(args))
    except CliError as exc:
        print(f"bvgconnect: {exc}", file=sys.stderr)
        status = exc.status
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
