"""`bvgconnect simulate`: a year at the foundation against the running suite (issue 9).

Day by day: the clock ticks, the suite settles, then the day's lists go in (portal or
connector), the bank's camt.054 file of the day's payments is imported, and the suite settles
again. Employers pay each invoice after their own number of days (slow payers after the due
date, a few never). At the end the summary is printed and the invariants are checked against
the simulation's own ground truth (`truth.py`); any broken invariant makes the exit status 1.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TextIO

from . import camt
from .chaos import Chaos
from .harness import Endpoints, Harness, SuiteError
from .invariants import check_invariants
from .truth import ExpectedRow, Knowledge, list_row
from .world import SimEmployer, World, first_day, next_period


@dataclass
class Ledger:
    """What the simulation did and expects, for the summary and the invariants."""

    knowledge: dict[str, Knowledge] = field(default_factory=dict)
    #: The rows of the list in force per (employer, period).
    expected: dict[tuple[int, str], list[ExpectedRow]] = field(default_factory=dict)
    lists: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    invoices_seen: set[Any] = field(default_factory=set)
    payments: dict[date, list[camt.Credit]] = field(default_factory=dict)
    paid: Counter[str] = field(default_factory=Counter)
    paid_amount: Decimal = Decimal(0)
    ended: dict[int, date] = field(default_factory=dict)


def _employer_body(employer: SimEmployer, since: date) -> dict[str, Any]:
    return {
        "name": employer.name,
        "address": {
            "street": "Industriestrasse",
            "house_no": str(employer.employer_no % 97 + 1),
            "postcode": "8005",
            "town": "Zürich",
            "country": "CH",
        },
        "canton": employer.canton,
        "language": employer.language,
        "enabled_topics": ["mutations", "contributions", "reminders", "users", "messages"],
        "status": "affiliated",
        "affiliated_from": since.isoformat(),
        "affiliated_until": None,
        "employer_share": str(employer.employer_share),
    }


def _upload_plan(world: World) -> dict[date, list[tuple[SimEmployer, str, str]]]:
    """(employer, period, how) by the day it goes out: `ok`, or `faulty` first and the
    corrected list the next day; late employers send a third of their lists after the 15th."""
    rng = random.Random(world.seed * 7 + 1)
    plan: dict[date, list[tuple[SimEmployer, str, str]]] = {}
    for employer in world.employers:
        for period in world.periods:
            after = first_day(next_period(period))
            day = after.replace(day=employer.upload_day)
            how = "ok"
            if employer.behaviour == "late" and rng.random() < 0.34:
                day = after.replace(day=rng.choice((17, 20, 27)))
            if employer.behaviour == "faulty" and rng.random() < 0.34:
                how = "faulty"
            plan.setdefault(day, []).append((employer, period, how))
            if how == "faulty":
                plan.setdefault(day + timedelta(days=1), []).append((employer, period, "ok"))
    return plan


async def simulate(
    world: World,
    endpoints: Endpoints,
    out: TextIO,
    *,
    chaos: bool = False,
    chaos_every_s: float = 15.0,
) -> int:
    started = time.monotonic()
    monkey: Chaos | None = None
    if chaos:
        if endpoints.data_dir is None:
            raise SuiteError("--chaos needs the embedded suite of `bvgconnect up`")
        monkey = Chaos(endpoints.data_dir, endpoints.http, world.seed, every_s=chaos_every_s)
    ledger = Ledger()
    plan = _upload_plan(world)
    last = world.periods[-1]
    final_day = first_day(next_period(next_period(last))) + timedelta(days=14)
    by_no = {e.employer_no: e for e in world.employers}
    workers_of: dict[int, list[Any]] = {}
    for w in world.workers:
        workers_of.setdefault(w.employer_no, []).append(w)
    rows_of: dict[tuple[int, str], list[dict[str, Any]]] = {}
    async with Harness(endpoints) as h:
        for employer in world.employers:
            await h.affiliate(employer.employer_no, _employer_body(employer, world.first_day))
        await h.quiet()
        if monkey is not None:
            monkey.start()
        day = world.first_day
        refreshed = time.monotonic()
        while day <= final_day:
            if time.monotonic() - refreshed > 600:
                h.refresh_tokens()
                refreshed = time.monotonic()
            await h.tick(day)
            await h.quiet()
            await _note_terminations(h, ledger, by_no)
            acted = False
            for employer, period, how in plan.get(day, []):
                ended = ledger.ended.get(employer.employer_no)
                if ended is not None and first_day(period) > ended:
                    continue  # no longer affiliated: no list
                key = (employer.employer_no, period)
                if key not in rows_of:
                    rows_of[key] = _build_list(world, employer, period, workers_of, ledger)
                rows = rows_of[key]
                if not rows:
                    continue
                sent = _break_one(rows) if how == "faulty" else rows
                if employer.connector:
                    await h.submit(employer.employer_no, period, sent)
                else:
                    await h.upload(employer.employer_no, period, sent)
                ledger.lists["faulty" if how == "faulty" else "sent"] += 1
                if how == "ok" and day.day > 15:
                    ledger.lists["late"] += 1
                if how == "ok":
                    ledger.rows += len(rows)
                acted = True
            credits = ledger.payments.pop(day, [])
            if credits:
                await h.pay(
                    camt.write(
                        credits,
                        message_id=f"SIM-{world.seed}-{day.isoformat()}",
                        iban=endpoints.qr_iban,
                        created=day,
                    )
                )
                ledger.paid["payments"] += len(credits)
                ledger.paid_amount += sum((c.amount for c in credits), Decimal(0))
                acted = True
            if acted:
                await h.quiet()
            await _schedule_payments(h, ledger, by_no)
            day += timedelta(days=1)
        if monkey is not None:
            await monkey.stop()
            await h.ready()
            await h.quiet()
        elapsed = time.monotonic() - started
        failures, summary = await check_invariants(h, world, ledger, final_day)
        if monkey is not None:
            kills = Counter(monkey.kills)
            summary["chaos: services killed (SIGKILL)"] = (
                ", ".join(f"{k} {v}" for k, v in sorted(kills.items())) or "none"
            )
            summary["chaos: requests retried"] = str(h.retries)
    _print_summary(out, world, ledger, summary, elapsed, h.quiet_seconds, failures)
    return 1 if failures else 0


def _build_list(
    world: World,
    employer: SimEmployer,
    period: str,
    workers_of: dict[int, list[Any]],
    ledger: Ledger,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    expected: list[ExpectedRow] = []
    for worker in workers_of.get(employer.employer_no, []):
        known = ledger.knowledge.setdefault(worker.ahv, Knowledge())
        made = list_row(world, employer, worker, period, known)
        if made is not None:
            rows.append(made[0])
            expected.append(made[1])
    ledger.expected[(employer.employer_no, period)] = expected
    return rows


def _break_one(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same list with a wrong check digit in the first AHV number (`ahv.checksum`)."""
    broken = dict(rows[0])
    ahv = str(broken["ahv"])
    broken["ahv"] = ahv[:-1] + str((int(ahv[-1]) + 1) % 10)
    return [broken, *rows[1:]]


async def _note_terminations(h: Harness, ledger: Ledger, by_no: dict[int, SimEmployer]) -> None:
    assert h.pool is not None
    rows = await h.pool.fetch(
        "SELECT employer_no, affiliated_until FROM auth.employers "
        "WHERE affiliated_until IS NOT NULL AND employer_no = ANY($1::int[])",
        list(by_no),
    )
    for r in rows:
        ledger.ended[r["employer_no"]] = r["affiliated_until"]


async def _schedule_payments(h: Harness, ledger: Ledger, by_no: dict[int, SimEmployer]) -> None:
    """The bank will credit each new invoice on the day its employer pays (never, for some)."""
    assert h.pool is not None
    rows = await h.pool.fetch(
        "SELECT invoice_id, employer_no, qr_reference, invoice_date, total FROM billing.invoices "
        "WHERE employer_no = ANY($1::int[]) AND NOT (invoice_id = ANY($2::uuid[]))",
        list(by_no),
        list(ledger.invoices_seen),
    )
    for r in rows:
        ledger.invoices_seen.add(r["invoice_id"])
        employer = by_no[r["employer_no"]]
        if employer.behaviour == "never_pays" or r["total"] <= 0:
            continue
        on = r["invoice_date"] + timedelta(days=employer.pay_after_days)
        ledger.payments.setdefault(on, []).append(
            camt.Credit(
                reference=r["qr_reference"],
                amount=r["total"],
                value_date=on,
                bank_reference=f"SIM-{r['qr_reference']}",
            )
        )


def _print_summary(
    out: TextIO,
    world: World,
    ledger: Ledger,
    summary: dict[str, Any],
    elapsed: float,
    quiet_s: float,
    failures: list[str],
) -> None:
    kinds = Counter(e.behaviour for e in world.employers)
    w = out.write
    w(
        f"simulated {world.months} months from {world.first_period}: {len(world.employers)} "
        f"employers ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
        f"{len(world.workers)} workers, seed {world.seed}\n"
    )
    w(f"wall time {elapsed:.1f} s (waiting for the suite to settle: {quiet_s:.1f} s)\n\n")
    rows = [r for listed in ledger.expected.values() for r in listed]
    made = Counter(r.kind for r in rows)
    forgotten = Counter(
        how for known in ledger.knowledge.values() for how in known.forgotten.values()
    )
    table = [
        (
            "lists sent (ok / faulty first / late)",
            f"{ledger.lists['sent']} / {ledger.lists['faulty']} / {ledger.lists['late']}",
        ),
        ("rows in lists in force", str(ledger.rows)),
        (
            "interruptions reported (code 4) / exits after them",
            f"{made['interruption']} / {made['exit_after_interruption']}",
        ),
        (
            "follow-up exits forgotten (left out / code 4 again)",
            f"{forgotten['omitted']} / {forgotten['repeated']}",
        ),
        ("IV degree changes reported", str(sum(r.invalidity_changed for r in rows))),
        ("rows with two assignments (Einsätze)", str(made["multi"])),
        ("whole months off ill or after an accident (code 7/5)", str(made["absence"])),
        *[(k, str(v)) for k, v in summary.items()],
        (
            "payments (camt.054 credits)",
            f"{ledger.paid['payments']}, CHF {ledger.paid_amount:,.2f}",
        ),
    ]
    width = max(len(k) for k, _ in table)
    for k, v in table:
        w(f"  {k.ljust(width)}  {v}\n")
    w("\n")
    if failures:
        w(f"INVARIANTS BROKEN: {len(failures)}\n")
        for f in failures[:50]:
            w(f"  - {f}\n")
        if len(failures) > 50:
            w(f"  … and {len(failures) - 50} more\n")
    else:
        w("all invariants hold\n")
