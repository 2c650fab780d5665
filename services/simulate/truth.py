"""What each monthly list says, and what the rules make of it: the simulation's expectations.

For every worker and period the employer writes one row from what really happened (the
assignment's days, hours and wage; an exit when an insured assignment ends; an entry when the
rules start the insurance). The expected coverage and contribution of that row come from the
offline rules, the same functions as `bvgconnect coverage explain` and `bvgconnect price`, fed
with what the lists up to that period told — not from the services' state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from services.coverage import domain as coverage
from services.coverage.calendar import PayPeriod
from services.pricing.domain import RowInput, price

from .world import SimEmployer, SimWorker, Stint, World, hours_in, last_day, stint_in


@dataclass(frozen=True, slots=True)
class ExpectedRow:
    employer_no: int
    period: str
    ahv: str
    insured_hours: Decimal
    premium_total: Decimal
    insured_wage: Decimal
    employer_share: Decimal
    employee_share: Decimal
    #: The employer declared other figures than the rules compute (a correction, Art. 24).
    corrected: bool


@dataclass(slots=True)
class Knowledge:
    """What the lists told of one worker so far (as coverage keeps it, newest list winning)."""

    assignments: dict[date, coverage.Assignment] = field(default_factory=dict)
    declarations: dict[tuple[str, int], coverage.Declaration] = field(default_factory=dict)
    entries_declared: set[date] = field(default_factory=set)
    latest: str = ""

    def timeline(self, worker: SimWorker) -> coverage.Timeline:
        return coverage.timeline(
            coverage.Worker(worker.birth_date, worker.sex, worker.invalidity_degree),
            list(self.assignments.values()),
            as_of=last_day(self.latest),
        )


def _assignment(worker: SimWorker, stint: Stint, period: str, exit_: bool) -> coverage.Assignment:
    last = last_day(period)
    return coverage.Assignment(
        start=stint.start,
        end=stint.end if stint.end is not None and stint.end <= last else None,
        expected_over_13_weeks=stint.over_13_weeks,
        extension_accepted_on=(
            stint.extension_on if stint.extension_on and stint.extension_on <= last else None
        ),
        requested=worker.requested,
        children=worker.children,
        ends_with_exit=exit_,
    )


def _insured_on(timeline: coverage.Timeline, day: date) -> bool:
    return any(
        p.insured_from <= day and (p.insured_to is None or p.insured_to >= day)
        for p in timeline.periods
    )


def list_row(
    world: World, employer: SimEmployer, worker: SimWorker, period: str, known: Knowledge
) -> tuple[dict[str, Any], ExpectedRow] | None:
    """The worker's row in the employer's list of `period` (ListRow fields) and what it should
    cost; updates `known` as coverage will. None when the worker did not work in the period."""
    stint = stint_in(worker, period)
    if stint is None:
        return None
    hours = hours_in(stint, period)
    if hours <= 0:
        return None
    wage = (hours * stint.hourly_wage).quantize(Decimal("0.01"))
    pay_period = PayPeriod.parse(period)
    known.latest = max(known.latest, period)
    known.assignments[stint.start] = _assignment(worker, stint, period, exit_=False)
    tentative = known.timeline(worker)
    code: Literal[1, 2] | None = None
    entry: date | None = None
    exit_: date | None = None
    ends_here = stint.end is not None and stint.end <= last_day(period)
    if ends_here and stint.end is not None and _insured_on(tentative, stint.end):
        code, exit_ = 2, stint.end
        known.assignments[stint.start] = _assignment(worker, stint, period, exit_=True)
    else:
        for p in tentative.periods:
            if p.insured_from <= last_day(period) and p.insured_from not in known.entries_declared:
                code, entry = 1, p.insured_from
                known.entries_declared.add(p.insured_from)
                break
    if code is not None:
        known.declarations[(period, code)] = coverage.Declaration(
            pay_period, code, entry if code == 1 else exit_
        )
    # Only an exit changes the assignment (E2); declarations do not enter the timeline.
    derived = known.timeline(worker) if code == 2 else tentative
    part = coverage.insured_part(derived, pay_period, hours)
    row_input = RowInput(
        year=pay_period.year,
        month=pay_period.month,
        birth_date=worker.birth_date,
        sex=worker.sex,
        hours=hours,
        base_wage=wage,
        invalidity_degree=worker.invalidity_degree,
        insured_hours=part.insured_hours if part.insured_days > 0 else Decimal(0),
        employer_share=employer.employer_share,
    )
    priced = price(row_input)
    # The list cannot say 0 for a worker who works (check `zero_wage.reason`): where the rules
    # insure nothing, the employer declares what the hours would cost if insured.
    declared = priced
    if priced.insured_wage == 0:
        declared = price(
            RowInput(
                pay_period.year,
                pay_period.month,
                worker.birth_date,
                worker.sex,
                hours,
                wage,
                worker.invalidity_degree,
                None,
                employer.employer_share,
            )
        )
    corrected = (
        declared.insured_wage != priced.insured_wage
        or declared.premium_total != priced.premium_total
    )
    row: dict[str, Any] = {
        "last_name": worker.last_name,
        "first_name": worker.first_name,
        "street": worker.street,
        "postcode": worker.postcode,
        "town": worker.town,
        "employer_no": employer.employer_no,
        "premium_total": str(declared.premium_total),
        "insured_wage": str(declared.insured_wage),
        "entry_date": entry.isoformat() if entry else None,
        "exit_date": exit_.isoformat() if exit_ else None,
        "mutation_code": code,
        "invalidity_degree": worker.invalidity_degree,
        "language_code": worker.language_code,
        "ahv": worker.ahv,
        "civil_status": worker.civil_status,
        "birth_date": worker.birth_date.isoformat(),
        "sex_code": 1 if worker.sex == "M" else 2,
        "hours": str(hours),
        "base_wage": str(wage),
        "assignment_start": stint.start.isoformat(),
        "assignment_end": (stint.end.isoformat() if ends_here and stint.end else None),
        "expected_over_13_weeks": stint.over_13_weeks,
        "extension_accepted_on": (
            stint.extension_on.isoformat()
            if stint.extension_on and stint.extension_on <= last_day(period)
            else None
        ),
        "insurance_requested": worker.requested,
        "maintains_children": worker.children,
    }
    expected = ExpectedRow(
        employer_no=employer.employer_no,
        period=period,
        ahv=worker.ahv,
        insured_hours=row_input.insured_hours or Decimal(0),
        premium_total=priced.premium_total,
        insured_wage=priced.insured_wage,
        employer_share=priced.employer_share,
        employee_share=priced.employee_share,
        corrected=corrected,
    )
    return row, expected


def explain_input(worker: SimWorker, known: Knowledge) -> dict[str, Any]:
    """The `bvgconnect coverage explain` document of what the lists told of the worker."""

    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "birth_date": worker.birth_date.isoformat(),
        "sex": worker.sex,
        "invalidity_degree": worker.invalidity_degree,
        "assignments": [
            {
                "start": a.start.isoformat(),
                "end": day(a.end),
                "expected_over_13_weeks": a.expected_over_13_weeks,
                "extension_accepted_on": day(a.extension_accepted_on),
                "requested": a.requested,
                "children": a.children,
                "ends_with_exit": a.ends_with_exit,
            }
            for a in known.assignments.values()
        ],
        "as_of": last_day(known.latest).isoformat(),
    }
