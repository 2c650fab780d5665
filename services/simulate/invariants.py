"""The invariants of a simulated year, checked against the simulation's own ground truth.

1. Every contribution due is invoiced exactly once and equals the offline price of its row
   (`bvgconnect price`'s line function with the row's insured hours), corrections of earlier
   months included; every list whose rows the foundation had to correct carries the fee of
   Art. 24 (CHF 10 a row), and no other list does; the fee is on the invoice that bills the
   list's month, or on an earlier one (a fee that waited 30 days for January's collective
   invoice has one of its own), never on a later one.
2. Every coverage period equals `bvgconnect coverage explain` of what the lists told; coverage
   found the missing follow-up exit after a reported interruption (Art. 5.2) for exactly the
   workers whose employer forgot it, wherever a later row of theirs let it see that.
3. Every overdue invoice is on its ladder at the step its dates demand; every ladder closes
   when the list or the payment arrives; a list never delivered has its data case.
4. Every termination produced its three notices (2nd reminder to the association, the
   termination to the catch-all institution and the labour office); nothing is left in an
   outbox or a dead-letter topic.

The services' schemas are read directly (the simulation is an operator's tool); a failure
names employer numbers, periods and rules, never a worker's AHV number or name.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.coverage import offline
from services.dunning import domain as dunning
from services.pricing.handlers import CORRECTION_FEE_PER_ROW
from services.runtime.dlq import list_entries

from .harness import UNPUBLISHED
from .truth import expected_follow_up_findings, explain_input
from .world import World

if TYPE_CHECKING:
    from .harness import Harness
    from .run import Ledger

_NOTICES = {
    ("reminder_2", "association"),
    ("termination", "catch_all"),
    ("termination", "labour_office"),
}


async def check_invariants(
    h: Harness, world: World, ledger: Ledger, final_day: date
) -> tuple[list[str], dict[str, Any]]:
    assert h.pool is not None
    failures: list[str] = []
    summary: dict[str, Any] = {}
    async with h.pool.acquire() as conn:
        await _contributions(conn, world, ledger, failures, summary)
        await _correction_fees(conn, world, ledger, failures, summary)
        await _coverage(conn, world, ledger, failures, summary)
        await _follow_up_findings(conn, world, ledger, failures, summary)
        await _ladders(conn, world, ledger, final_day, failures, summary)
        await _notices_and_leftovers(conn, h, world, failures, summary)
    return failures, summary


async def _contributions(
    conn: Any, world: World, ledger: Ledger, failures: list[str], summary: dict[str, Any]
) -> None:
    employers = [e.employer_no for e in world.employers]
    lines = await conn.fetch(
        "SELECT i.employer_no, l.period, l.worker, l.kind, l.amount, l.insured_wage, "
        "l.employer_share, l.employee_share, i.invoice_no "
        "FROM billing.invoice_lines l JOIN billing.invoices i USING (invoice_id) "
        "WHERE i.employer_no = ANY($1::int[])",
        employers,
    )
    invoiced: dict[tuple[int, str, str], list[Any]] = {}
    kinds: Counter[str] = Counter()
    for r in lines:
        kinds[r["kind"]] += 1
        if r["kind"] in ("contribution", "correction") and r["worker"]:
            invoiced.setdefault((r["employer_no"], r["period"], r["worker"]), []).append(r)
    invoices = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(total), 0) AS total FROM billing.invoices "
        "WHERE employer_no = ANY($1::int[])",
        employers,
    )
    summary["invoices issued"] = f"{invoices['n']}, CHF {invoices['total']:,.2f}"
    summary["invoice lines by kind"] = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    wrong = missing = doubled = 0
    due = Decimal(0)
    for (employer_no, period), rows in sorted(ledger.expected.items()):
        if _after_end(ledger, employer_no, period):
            continue
        for row in rows:
            due += row.premium_total
            if row.premium_total == 0 and row.insured_wage == 0:
                if invoiced.pop((employer_no, period, row.ahv), []):
                    failures.append(f"a line of {employer_no} {period} for a row not subject")
                continue  # not subject: no line (billing leaves all-zero rows out)
            found = invoiced.pop((employer_no, period, row.ahv), [])
            if not found:
                missing += 1
                if missing <= 5:
                    failures.append(f"contribution of a row of {employer_no} {period} not invoiced")
                continue
            if len(found) > 1:
                doubled += 1
                if doubled <= 5:
                    failures.append(
                        f"contribution of a row of {employer_no} {period} invoiced "
                        f"{len(found)} times ({', '.join(f['invoice_no'] for f in found)})"
                    )
            line = found[0]
            if (line["amount"], line["insured_wage"], line["employer_share"]) != (
                row.premium_total,
                row.insured_wage,
                row.employer_share,
            ):
                wrong += 1
                if wrong <= 5:
                    failures.append(
                        f"contribution of a row of {employer_no} {period}: invoiced "
                        f"{line['amount']} (insured wage {line['insured_wage']}), the rules give "
                        f"{row.premium_total} (insured wage {row.insured_wage})"
                    )
    for employer_no, period, _ in sorted(invoiced):
        failures.append(f"a line of {employer_no} {period} that no list in force has")
    for label, n in (("not invoiced", missing), ("invoiced twice", doubled), ("wrong", wrong)):
        if n > 5:
            failures.append(f"… {n} contributions {label} in all")
    summary["contributions due (rules)"] = f"CHF {due:,.2f}"
    credited = [
        r.premium_total
        for (employer_no, period), rows in ledger.expected.items()
        if not _after_end(ledger, employer_no, period)
        for r in rows
        if r.kind == "correction"
    ]
    summary["correction rows (negative hours), credited"] = (
        f"{len(credited)}, CHF {sum(credited, Decimal(0)):,.2f}"
    )


def _after_end(ledger: Ledger, employer_no: int, period: str) -> bool:
    ended = ledger.ended.get(employer_no)
    return ended is not None and period > ended.isoformat()[:7]


async def _correction_fees(
    conn: Any, world: World, ledger: Ledger, failures: list[str], summary: dict[str, Any]
) -> None:
    """Art. 24 (RULES §10): CHF 10 per row whose I or J the foundation corrects, per list."""
    charged = {
        (r["employer_no"], r["period"]): r["amount"]
        for r in await conn.fetch(
            "SELECT employer_no, period, sum(amount) AS amount FROM billing.pending_lines "
            "WHERE kind = 'fee' AND description LIKE 'Art. 24:%' "
            "AND employer_no = ANY($1::int[]) GROUP BY 1, 2",
            [e.employer_no for e in world.employers],
        )
    }
    due: dict[tuple[int, str], Decimal] = {}
    for (employer_no, period), rows in ledger.expected.items():
        corrected = sum(r.corrected for r in rows)
        if corrected and not _after_end(ledger, employer_no, period):
            due[(employer_no, period)] = CORRECTION_FEE_PER_ROW * corrected
    wrong = 0
    for key in sorted(set(due) | set(charged)):
        if due.get(key, Decimal(0)) != charged.get(key, Decimal(0)):
            wrong += 1
            if wrong <= 5:
                failures.append(
                    f"correction fee of {key[0]} {key[1]}: CHF {charged.get(key, 0)} charged, "
                    f"the rules give CHF {due.get(key, 0)}"
                )
    if wrong > 5:
        failures.append(f"… {wrong} lists' correction fees wrong in all")
    # the fee rides on its month's invoice (billing waits for it), or on an earlier one when
    # it waited 30 days for a collective invoice; never on a later one
    late = await conn.fetch(
        "SELECT f.employer_no, f.period FROM billing.pending_lines f "
        "JOIN billing.periods p ON (p.employer_no, p.period) = (f.employer_no, f.period) "
        "JOIN billing.invoices month ON month.invoice_id = p.invoice_id "
        "LEFT JOIN billing.invoices fee ON fee.invoice_id = f.invoice_id "
        "WHERE f.kind = 'fee' AND f.description LIKE 'Art. 24:%' "
        "AND (fee.invoice_id IS NULL OR fee.sequence > month.sequence) "
        "AND f.employer_no = ANY($1::int[]) ORDER BY 1, 2",
        [e.employer_no for e in world.employers],
    )
    for r in late[:5]:
        failures.append(
            f"correction fee of {r['employer_no']} {r['period']}: billed after its month's invoice"
        )
    if len(late) > 5:
        failures.append(f"… {len(late)} correction fees billed after their month's invoice")
    corrected_rows = sum(due.values(), Decimal(0)) / CORRECTION_FEE_PER_ROW
    summary["rows corrected by the foundation, fees (Art. 24)"] = (
        f"{corrected_rows:.0f}, CHF {sum(charged.values(), Decimal(0)):,.2f}"
    )


async def _coverage(
    conn: Any, world: World, ledger: Ledger, failures: list[str], summary: dict[str, Any]
) -> None:
    stored = await conn.fetch(
        "SELECT employer_no, ahv, insured_from, insured_to, start_rule, end_rule "
        "FROM coverage.coverage_periods WHERE employer_no = ANY($1::int[]) "
        "ORDER BY employer_no, ahv, insured_from",
        [e.employer_no for e in world.employers],
    )
    by_worker: dict[str, list[dict[str, Any]]] = {}
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for r in stored:
        starts[r["start_rule"]] += 1
        if r["end_rule"]:
            ends[r["end_rule"]] += 1
        by_worker.setdefault(r["ahv"], []).append(
            {
                "from": r["insured_from"].isoformat(),
                "to": r["insured_to"].isoformat() if r["insured_to"] else None,
                "start_rule": r["start_rule"].strip(),
                "end_rule": r["end_rule"].strip() if r["end_rule"] else None,
            }
        )
    summary["coverage starts by rule"] = ", ".join(f"{k} {v}" for k, v in sorted(starts.items()))
    summary["coverage ends by rule"] = ", ".join(f"{k} {v}" for k, v in sorted(ends.items()))
    differ = 0
    for worker in world.workers:
        known = ledger.knowledge.get(worker.ahv)
        if known is None or not known.assignments:
            continue
        document = offline.ExplainInput.model_validate_json(
            json.dumps(explain_input(worker, known))
        )
        timeline, findings = offline._assess(document)
        expected = offline.to_json(timeline, findings)["periods"]
        if expected != by_worker.get(worker.ahv, []):
            differ += 1
            if differ <= 5:
                failures.append(
                    f"coverage of worker #{worker.serial} at {worker.employer_no}: stored "
                    f"{_spans(by_worker.get(worker.ahv, []))}, explain gives {_spans(expected)}"
                )
    if differ > 5:
        failures.append(f"… {differ} workers' coverage differs from explain in all")


#: Every `interruption.follow_up_missing` finding coverage published for the employers.
_FOLLOW_UP_FINDINGS = """
SELECT (e ->> 'employer_no')::int AS employer_no, e -> 'payload' ->> 'ahv' AS ahv,
       e -> 'payload' ->> 'period' AS period
FROM (SELECT convert_from(value, 'UTF8')::jsonb AS e FROM coverage.outbox
      WHERE topic = 'coverage.finding.v1') AS findings
WHERE e -> 'payload' ->> 'code' = 'interruption.follow_up_missing'
  AND (e ->> 'employer_no')::int = ANY($1::int[])
"""


async def _follow_up_findings(
    conn: Any, world: World, ledger: Ledger, failures: list[str], summary: dict[str, Any]
) -> None:
    """Art. 5.2: the exit after a reported interruption missing is a task for the employer;
    coverage's finding names the list that lacks it: from a row of the worker, or, where the
    list leaves the worker out, from the list's check. Unseen: the list was never delivered
    (the simulation ended, or the employer's affiliation did) and no later row came."""
    found = {
        (r["employer_no"], r["ahv"], r["period"])
        for r in await conn.fetch(_FOLLOW_UP_FINDINGS, [e.employer_no for e in world.employers])
    }
    expected, unseen = expected_follow_up_findings(world, ledger.knowledge, set(ledger.expected))
    serial = {w.ahv: w.serial for w in world.workers}
    for employer_no, ahv, period in sorted(expected - found):
        failures.append(
            f"no interruption.follow_up_missing for worker #{serial[ahv]} at {employer_no}, "
            f"whose exit the list of {period} lacks"
        )
    for employer_no, ahv, period in sorted(found - expected):
        failures.append(
            f"interruption.follow_up_missing for worker #{serial.get(ahv, '?')} at "
            f"{employer_no} ({period}), whose employer did not forget the exit"
        )
    summary["follow-up findings (expected / found; unseen, list never delivered)"] = (
        f"{len(expected)} / {len(found)}; {len(unseen)}"
    )


def _spans(periods: list[dict[str, Any]]) -> str:
    return (
        "; ".join(
            f"{p['from']}..{p['to'] or ''} {p['start_rule']}/{p['end_rule'] or '-'}"
            for p in periods
        )
        or "none"
    )


async def _ladders(
    conn: Any,
    world: World,
    ledger: Ledger,
    final_day: date,
    failures: list[str],
    summary: dict[str, Any],
) -> None:
    employers = [e.employer_no for e in world.employers]
    cases = await conn.fetch(
        "SELECT case_id, employer_no, track, period, anchor, steps_taken, closed_on, "
        "close_reason, shift_days, held_since FROM dunning.cases "
        "WHERE employer_no = ANY($1::int[])",
        employers,
    )
    steps = await conn.fetch(
        "SELECT c.track, s.step, count(*) AS n FROM dunning.case_steps s "
        "JOIN dunning.cases c USING (case_id) WHERE c.employer_no = ANY($1::int[]) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        employers,
    )
    summary["reminders by step"] = (
        ", ".join(f"{r['track']} {r['step']} {r['n']}" for r in steps) or "none"
    )
    for c in cases:
        closed_on = c["closed_on"]
        case = dunning.Case(track=c["track"], anchor=c["anchor"], shift_days=c["shift_days"])
        on = closed_on or final_day
        demanded = len(dunning.due_steps(case, on))
        taken = c["steps_taken"]
        if closed_on is not None and taken == demanded - 1 and c["close_reason"] != "terminated":
            demanded = taken  # closed on the day its next step was due, before it was taken
        if taken != demanded and c["held_since"] is None:
            failures.append(
                f"{c['track']} case of {c['employer_no']} ({c['period'] or c['anchor']}): "
                f"{taken} steps taken, its dates demand {demanded} by {on}"
            )
    # Data ladder: every delivered list closes its case; every missing one has a case.
    delivered = {(e, p) for (e, p), rows in ledger.expected.items() if rows}
    data_cases = {(c["employer_no"], c["period"]): c for c in cases if c["track"] == "data"}
    for (employer_no, period), c in sorted(data_cases.items()):
        if c["anchor"] != dunning.list_due_date(period):
            failures.append(f"data case of {employer_no} {period} anchored on {c['anchor']}")
        if (employer_no, period) in delivered and c["closed_on"] is None:
            failures.append(f"data case of {employer_no} {period} open although the list came")
    for employer in world.employers:
        ended = ledger.ended.get(employer.employer_no)
        for period in world.periods:
            if ended is not None and period > ended.isoformat()[:7]:
                continue
            due = dunning.list_due_date(period)
            key = (employer.employer_no, period)
            if key not in delivered and due < final_day and key not in data_cases:
                failures.append(f"list {period} of {employer.employer_no} missing, but no case")
    # Payment ladder: open exactly while something is overdue.
    overdue = await conn.fetch(
        "SELECT i.employer_no, min(i.due_date) AS due FROM billing.invoices i "
        "LEFT JOIN (SELECT invoice_id, sum(applied) AS paid FROM billing.payments "
        "           GROUP BY invoice_id) p USING (invoice_id) "
        "WHERE i.employer_no = ANY($1::int[]) AND i.due_date < $2 "
        "AND i.total > coalesce(p.paid, 0) GROUP BY 1",
        employers,
        final_day,
    )
    late = {r["employer_no"]: r["due"] for r in overdue}
    open_payment = {
        c["employer_no"] for c in cases if c["track"] == "payment" and c["closed_on"] is None
    }
    terminated = {
        c["employer_no"] for c in cases if c["track"] == "payment" and c["close_reason"]
    } & set(ledger.ended)
    for employer_no in sorted(set(late) - open_payment - terminated):
        failures.append(f"{employer_no} owes since {late[employer_no]} but has no payment case")
    for employer_no in sorted(open_payment - set(late)):
        failures.append(f"{employer_no} owes nothing overdue but its payment case is open")
    per_employer = Counter(c["employer_no"] for c in cases if c["close_reason"] == "terminated")
    for employer_no, n in sorted(per_employer.items()):
        if n > 1:
            failures.append(f"{employer_no} terminated {n} times (an affiliation ends once)")


async def _notices_and_leftovers(
    conn: Any, h: Harness, world: World, failures: list[str], summary: dict[str, Any]
) -> None:
    employers = [e.employer_no for e in world.employers]
    terminated = await conn.fetch(
        "SELECT c.case_id, c.employer_no, c.track FROM dunning.case_steps s "
        "JOIN dunning.cases c USING (case_id) "
        "WHERE s.step = 'termination' AND c.employer_no = ANY($1::int[])",
        employers,
    )
    summary["terminations"] = str(len(terminated))
    notices = await conn.fetch(
        "SELECT case_id, step, recipient, status FROM dunning.notifications "
        "WHERE case_id = ANY($1::uuid[])",
        [r["case_id"] for r in terminated],
    )
    by_case: dict[Any, set[tuple[str, str]]] = {}
    status: Counter[str] = Counter()
    for n in notices:
        by_case.setdefault(n["case_id"], set()).add((n["step"], n["recipient"]))
        status[n["status"]] += 1
    for r in terminated:
        got = by_case.get(r["case_id"], set())
        if got != _NOTICES:
            failures.append(
                f"termination of {r['employer_no']} ({r['track']}): notices "
                f"{sorted(got)} instead of the three"
            )
    summary["notices of terminations"] = (
        ", ".join(f"{k} {v}" for k, v in sorted(status.items())) or "none"
    )
    pending = await conn.fetchval(UNPUBLISHED)
    if pending:
        failures.append(f"{pending} events left in outboxes")
    dead = await list_entries(h.e.bootstrap, h.e.topic_prefix)
    if dead:
        topics = Counter(d.original_topic for d in dead)
        failures.append(
            "dead-lettered: " + ", ".join(f"{t} {n}" for t, n in sorted(topics.items()))
        )
    summary["left in outboxes / DLQ"] = f"{pending} / {len(dead)}"
