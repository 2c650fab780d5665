"""What each monthly list says, and what the rules make of it: the simulation's expectations.

For every worker and period the employer writes at most one row (TEMPLATE: one per worker)
from what really happened:
- `work`: the month's assignment (columns W-Z), or two of them (`multi`: the row's
  `assignments`, sheet `Einsätze`), with the month's hours and wage; an entry (code 1) when the
  rules start the insurance, an exit (code 2) when an insured assignment ends, or after an IV
  decision of 70 % or more in the list that reports it (E5);
- `absence`: a whole month ill or after an accident inside an assignment: no hours, no wage,
  code 7 or 5;
- Art. 5, when an insured worker's assignment ends and the employer does not know whether
  they come back: the list after reports the interruption (`interruption`: code 4, wage 0),
  the one after that the exit (`exit_after_interruption`: code 2 dated the interruption's
  first day) unless a new assignment began within the interruption's first month; a
  forgetful employer leaves the worker out there, or reports code 4 again
  (`interruption_again`);
- `correction`: the row of an earlier month again, with negative hours and base wage.

The expected coverage and contribution of each row come from the offline rules: the coverage
domain (`bvgconnect coverage explain`) on what the lists up to that period told, and the line
function of `bvgconnect price` — not from the services' state. `Knowledge.remember` keeps
what the lists told as the coverage service keeps it (`coverage.handlers._remember`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from services.coverage import domain as coverage
from services.coverage.calendar import PayPeriod
from services.pricing import offline as price_cli
from services.pricing.domain import DECLARED_TOLERANCE

from .world import (
    Correction,
    FollowUp,
    SimEmployer,
    SimWorker,
    Stint,
    World,
    first_day,
    hours_in,
    interruption_lists,
    last_day,
    next_stint,
    stints_in,
)

RowKind = Literal[
    "work",
    "multi",
    "absence",
    "interruption",
    "exit_after_interruption",
    "interruption_again",
    "correction",
]
_CENT = Decimal("0.01")
_NONE = Decimal("0.00")


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
    #: The employer declared other figures than the rules compute, by more than pricing
    #: tolerates: the foundation corrects them and charges the fee (Art. 24).
    corrected: bool
    kind: RowKind = "work"
    #: The row reports another IV degree than the worker's previous row (column N).
    invalidity_changed: bool = False


@dataclass(slots=True)
class Knowledge:
    """What the lists told of one worker so far, as coverage keeps it (newest list winning),
    and what the employer has declared and still owes."""

    #: Column N of the first row, and the changes of later rows (coverage's `Worker`).
    invalidity_degree: int | None = None
    invalidity_changes: list[coverage.InvalidityChange] = field(default_factory=list)
    #: Assignments by start, with the period whose list changed them last.
    assignments: dict[date, tuple[coverage.Assignment, str]] = field(default_factory=dict)
    declarations: dict[tuple[str, int], coverage.Declaration] = field(default_factory=dict)
    latest: str = ""
    # -- the employer's side --
    entries_declared: set[date] = field(default_factory=set)
    exits_declared: set[date] = field(default_factory=set)
    #: The row sent per period (a correction repeats one).
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Art. 5 rows still due: list period → ("report" or the follow-up, the assignment).
    due: dict[str, tuple[Literal["report"] | FollowUp, Stint]] = field(default_factory=dict)
    #: Follow-up exits forgotten (Art. 5.2): the period of the list that lacks it → how.
    forgotten: dict[str, FollowUp] = field(default_factory=dict)

    def remember(self, row: dict[str, Any], period: str) -> bool:
        """The row's worker data, assignments and declarations, as coverage keeps them;
        whether the row changed the IV degree."""
        changed = False
        newer = period >= self.latest
        degree = int(row["invalidity_degree"])
        if self.invalidity_degree is None:
            self.invalidity_degree = degree
        elif newer:
            changes = self.invalidity_changes
            current = changes[-1].degree if changes else self.invalidity_degree
            if degree != current:
                # Reading (coverage): a degree reported in a list applies from its period.
                changes.append(coverage.InvalidityChange(first_day(period), degree))
                changed = True
        self.latest = max(self.latest, period)
        for assignment in assignments_of(row):
            known = self.assignments.get(assignment.start)
            if known is None or (period >= known[1] and known[0] != assignment):
                self.assignments[assignment.start] = (assignment, period)
        code = row["mutation_code"]
        if code in (1, 2, 4):
            on = {1: row["entry_date"], 2: row["exit_date"], 4: None}[code]
            day = date.fromisoformat(on) if on else None
            if code == 4 and row["assignment_end"]:
                day = date.fromisoformat(row["assignment_end"]) + timedelta(days=1)
            self.declarations[(period, code)] = coverage.Declaration(
                PayPeriod.parse(period), code, day
            )
        return changed

    def worker(self, worker: SimWorker) -> coverage.Worker:
        return coverage.Worker(
            worker.birth_date,
            worker.sex,
            self.invalidity_degree or 0,
            tuple(self.invalidity_changes),
        )

    def timeline(self, worker: SimWorker) -> coverage.Timeline:
        return coverage.timeline(
            self.worker(worker),
            [a for a, _ in self.assignments.values()],
            as_of=last_day(self.latest),
        )


def _day(text: Any) -> date | None:
    return date.fromisoformat(text) if text else None


def assignments_of(row: dict[str, Any]) -> list[coverage.Assignment]:
    """The row's assignments as coverage reads them: the row's `assignments` (sheet
    `Einsätze`, with hours per week) where it has them, else columns W-Z as the one
    assignment; an exit (code 2) ends the assignment it dates."""
    exit_ = row["mutation_code"] == 2
    exit_date = _day(row["exit_date"])
    if not row.get("assignments"):
        return [
            coverage.Assignment(
                start=date.fromisoformat(row["assignment_start"]),
                end=_day(row["assignment_end"]) or (exit_date if exit_ else None),
                expected_over_13_weeks=row["expected_over_13_weeks"],
                extension_accepted_on=_day(row["extension_accepted_on"]),
                requested=row["insurance_requested"],
                children=row["maintains_children"],
                ends_with_exit=exit_,
            )
        ]
    return [
        coverage.Assignment(
            start=date.fromisoformat(d["start"]),
            end=_day(d["end"]),
            expected_over_13_weeks=d["expected_over_13_weeks"],
            extension_accepted_on=_day(d["extension_accepted_on"]),
            requested=row["insurance_requested"],
            children=row["maintains_children"],
            weekly_hours=tuple(
                (date.fromisoformat(w["week_of"]), Decimal(w["hours"])) for w in d["weekly_hours"]
            ),
            ends_with_exit=exit_ and d["end"] is not None and _day(d["end"]) == exit_date,
        )
        for d in row["assignments"]
    ]


def _insured_on(timeline: coverage.Timeline, day: date) -> bool:
    return any(
        p.insured_from <= day and (p.insured_to is None or p.insured_to >= day)
        for p in timeline.periods
    )


def priced_line(
    period: str,
    worker: SimWorker,
    employer: SimEmployer,
    hours: Decimal,
    wage: Decimal,
    degree: int,
    insured_hours: Decimal | None,
) -> dict[str, Any]:
    """The row priced as `bvgconnect price` prices a line (its own line function)."""
    fields: dict[str, Any] = {
        "period": period,
        "birth_date": worker.birth_date.isoformat(),
        "sex": worker.sex,
        "hours": str(hours),
        "base_wage": str(wage),
        "invalidity_degree": degree,
        "employer_share": str(employer.employer_share),
    }
    if insured_hours is not None:
        fields["insured_hours"] = str(insured_hours)
    priced: dict[str, Any] = json.loads(price_cli.price_line(json.dumps(fields)))
    return priced


def _money(priced: dict[str, Any], name: str) -> Decimal:
    return Decimal(priced[name])


def _assignment_fields(stint: Stint, period: str, worker: SimWorker) -> dict[str, Any]:
    last = last_day(period)
    ends = stint.end is not None and stint.end <= last
    return {
        "assignment_start": stint.start.isoformat(),
        "assignment_end": stint.end.isoformat() if ends and stint.end else None,
        "expected_over_13_weeks": stint.over_13_weeks,
        "extension_accepted_on": (
            stint.extension_on.isoformat()
            if stint.extension_on and stint.extension_on <= last
            else None
        ),
        "insurance_requested": worker.requested,
        "maintains_children": worker.children,
    }


def _week_hours(stint: Stint, period: str) -> list[dict[str, str]]:
    """Hours per calendar week of the assignment, for the weeks it has days in `period`:
    each week's whole hours (coverage spreads them over the week's working days)."""
    since = max(stint.start, first_day(period))
    to = min(stint.end or last_day(period), last_day(period))
    monday = since - timedelta(days=since.weekday())
    weeks = []
    while monday <= to:
        first = max(monday, stint.start)
        last = min(monday + timedelta(days=6), stint.end or date.max)
        days = sum(
            1 for k in range((last - first).days + 1) if (first + timedelta(k)).weekday() < 5
        )
        hours = (stint.weekly_hours * days / 5).quantize(_CENT)
        weeks.append({"week_of": monday.isoformat(), "hours": str(hours)})
        monday += timedelta(days=7)
    return weeks


def _detail(stint: Stint, period: str) -> dict[str, Any]:
    """One assignment of a month with two (sheet `Einsätze`; `AssignmentDetail`)."""
    last = last_day(period)
    return {
        "start": stint.start.isoformat(),
        "end": stint.end.isoformat() if stint.end is not None and stint.end <= last else None,
        "expected_over_13_weeks": stint.over_13_weeks,
        "extension_accepted_on": (
            stint.extension_on.isoformat()
            if stint.extension_on and stint.extension_on <= last
            else None
        ),
        "weekly_hours": _week_hours(stint, period) if stint.hours_by_week else [],
    }


def _person(worker: SimWorker, employer: SimEmployer, period: str) -> dict[str, Any]:
    return {
        "last_name": worker.last_name,
        "first_name": worker.first_name,
        "street": worker.street,
        "postcode": worker.postcode,
        "town": worker.town,
        "employer_no": employer.employer_no,
        "entry_date": None,
        "exit_date": None,
        "mutation_code": None,
        "invalidity_degree": worker.invalidity_degree_in(period),
        "language_code": worker.language_code,
        "ahv": worker.ahv,
        "civil_status": worker.civil_status,
        "birth_date": worker.birth_date.isoformat(),
        "sex_code": 1 if worker.sex == "M" else 2,
    }


def list_row(
    world: World, employer: SimEmployer, worker: SimWorker, period: str, known: Knowledge
) -> tuple[dict[str, Any], ExpectedRow] | None:
    """The worker's row in the employer's list of `period` (ListRow fields) and what it should
    cost; updates `known` as coverage will. None when the list has no row for the worker."""
    stints = stints_in(worker, period)
    absence = next((a for a in worker.absences if a.period == period), None)
    hours = sum((hours_in(s, period) for s in stints), _NONE)
    if stints and (hours > 0 or absence is not None):
        return _work_row(employer, worker, period, known, stints, absence is not None)
    due = known.due.pop(period, None)
    if due is not None:
        what, stint = due
        if what == "omitted":
            known.forgotten[period] = what
            return None
        if what == "repeated":
            known.forgotten[period] = what
        return _interruption_row(employer, worker, period, known, stint, what)
    correction = next((c for c in worker.corrections if c.in_list == period), None)
    if correction is not None and correction.period in known.rows:
        return _correction_row(employer, worker, period, known, correction)
    return None


def _work_row(
    employer: SimEmployer,
    worker: SimWorker,
    period: str,
    known: Knowledge,
    stints: list[Stint],
    absent: bool,
) -> tuple[dict[str, Any], ExpectedRow]:
    current = stints[-1]
    hours, wage = _NONE, _NONE
    if not absent:
        for stint in stints:
            worked = hours_in(stint, period)
            hours += worked
            wage += (worked * stint.hourly_wage).quantize(_CENT)
    row = _person(worker, employer, period)
    row.update(hours=str(hours), base_wage=str(wage), **_assignment_fields(current, period, worker))
    if len(stints) > 1:
        row["assignments"] = [_detail(s, period) for s in stints]
    changed = known.remember(row, period)
    tentative = known.timeline(worker)
    last = last_day(period)
    code: int | None = None
    ends_here = current.end is not None and current.end <= last
    not_insurable = [
        p
        for p in tentative.periods
        if p.end_rule == "E5"
        and p.insured_to is not None
        and p.insured_to < first_day(period)
        and p.insured_to not in known.exits_declared
    ]
    if not_insurable and ends_here:
        # E5 (Art. 1.3): the exit goes on the list that reports the degree, dated the day
        # after the last insured day, as coverage proposes.
        insured_to = not_insurable[-1].insured_to
        assert insured_to is not None
        code, row["exit_date"] = 2, (insured_to + _EXIT_DATE_OFFSET).isoformat()
        known.exits_declared.add(insured_to)
    elif ends_here and current.end is not None and _insured_on(tentative, current.end):
        if current.follow_up is None:
            code, row["exit_date"] = 2, current.end.isoformat()
            known.exits_declared.add(current.end)
        else:
            _plan_interruption(worker, current, known)
    if code is None:
        for p in tentative.periods:
            if p.insured_from <= last and p.insured_from not in known.entries_declared:
                code, row["entry_date"] = 1, p.insured_from.isoformat()
                known.entries_declared.add(p.insured_from)
                break
    if code is None and absent:
        code = next(a.code for a in worker.absences if a.period == period)
    row["mutation_code"] = code
    derived = tentative
    if code is not None:
        known.remember(row, period)
        if code == 2:  # only an exit changes the assignment (E2); other codes do not
            derived = known.timeline(worker)
    kind: RowKind = "multi" if len(stints) > 1 else "absence" if absent else "work"
    return _priced(employer, worker, period, known, row, kind, derived=derived, changed=changed)


#: Art. 5.2's example dates the exit on the interruption's first day; coverage proposes it.
_EXIT_DATE_OFFSET = timedelta(days=coverage.EXIT_DATE_DAYS_AFTER_LAST_INSURED_DAY[0])


def _plan_interruption(worker: SimWorker, stint: Stint, known: Knowledge) -> None:
    """Art. 5: the insured assignment ended and the employer does not know whether the worker
    returns. A new assignment within the interruption's first month needs nothing more; else
    the next list reports the interruption, the one after it the exit (or forgets it)."""
    assert stint.end is not None and stint.follow_up is not None
    report, follow_up, back_by = interruption_lists(stint.end)
    following = next_stint(worker, stint)
    if following is not None and following.start < back_by:
        return
    known.due[report] = ("report", stint)
    known.due[follow_up] = (stint.follow_up, stint)


def _interruption_row(
    employer: SimEmployer,
    worker: SimWorker,
    period: str,
    known: Knowledge,
    stint: Stint,
    what: Literal["report", "exit", "repeated"],
) -> tuple[dict[str, Any], ExpectedRow]:
    """Art. 5 without work: code 4 with wage 0 (also when repeated by mistake), or the exit
    (code 2) dated the interruption's first day, columns W-X naming the assignment."""
    assert stint.end is not None
    row = _person(worker, employer, period)
    row.update(hours="0.00", base_wage="0.00", **_assignment_fields(stint, period, worker))
    kind: RowKind
    if what == "exit":
        row["mutation_code"] = 2
        row["exit_date"] = (stint.end + _EXIT_DATE_OFFSET).isoformat()
        known.exits_declared.add(stint.end)
        kind = "exit_after_interruption"
    else:
        row["mutation_code"] = 4
        kind = "interruption" if what == "report" else "interruption_again"
    changed = known.remember(row, period)
    return _priced(employer, worker, period, known, row, kind, changed=changed)


def _correction_row(
    employer: SimEmployer,
    worker: SimWorker,
    period: str,
    known: Knowledge,
    correction: Correction,
) -> tuple[dict[str, Any], ExpectedRow]:
    """The corrected month's row again, with minus the hours too many and their wage."""
    original = known.rows[correction.period]
    hourly = next(
        s.hourly_wage for s in worker.stints if s.start.isoformat() == original["assignment_start"]
    )
    row = {k: v for k, v in original.items() if k not in ("premium_total", "insured_wage")}
    row["hours"] = str(-correction.hours.quantize(_CENT))
    row["base_wage"] = str(-(correction.hours * hourly).quantize(_CENT))
    known.remember(row, period)
    return _priced(employer, worker, period, known, row, "correction", corrects=correction)


def _priced(
    employer: SimEmployer,
    worker: SimWorker,
    period: str,
    known: Knowledge,
    row: dict[str, Any],
    kind: RowKind,
    *,
    derived: coverage.Timeline | None = None,
    changed: bool = False,
    corrects: Correction | None = None,
) -> tuple[dict[str, Any], ExpectedRow]:
    """The row's insured part (coverage's, of the corrected month for a correction) and its
    price; the employer declares the same (I, J) unless the rules insure nothing of hours
    worked: the list cannot say 0 then (check `zero_wage.reason`), so it declares what the
    hours would cost if insured (as before the IV decision, where one made them uninsurable),
    and the foundation corrects it (Art. 24)."""
    hours, wage = Decimal(row["hours"]), Decimal(row["base_wage"])
    degree = int(row["invalidity_degree"])
    judged = PayPeriod.parse(corrects.period if corrects is not None else period)
    if derived is None:
        derived = known.timeline(worker)
    part = coverage.insured_part(derived, judged, abs(hours))
    sign = Decimal(-1) if hours < 0 else Decimal(1)
    insured_hours = sign * part.insured_hours if part.insured_days > 0 else _NONE
    priced = priced_line(period, worker, employer, hours, wage, degree, insured_hours)
    declared = priced
    if _money(priced, "insured_wage") == 0 and hours:
        if degree >= coverage.IV_DEGREE_NOT_INSURABLE:
            changes = known.invalidity_changes
            degree = changes[-2].degree if len(changes) > 1 else known.invalidity_degree or 0
        declared = priced_line(period, worker, employer, hours, wage, degree, None)
    premium, insured_wage = _money(declared, "premium_total"), _money(declared, "insured_wage")
    if corrects is not None and corrects.unsigned_amounts:
        premium, insured_wage = abs(premium), abs(insured_wage)
    row["premium_total"], row["insured_wage"] = str(premium), str(insured_wage)
    corrected = (
        abs(insured_wage - _money(priced, "insured_wage")) > DECLARED_TOLERANCE
        or abs(premium - _money(priced, "premium_total")) > DECLARED_TOLERANCE
    )
    known.rows[period] = row
    expected = ExpectedRow(
        employer_no=employer.employer_no,
        period=period,
        ahv=worker.ahv,
        insured_hours=insured_hours,
        premium_total=_money(priced, "premium_total"),
        insured_wage=_money(priced, "insured_wage"),
        employer_share=_money(priced, "employer_share"),
        employee_share=_money(priced, "employee_share"),
        corrected=corrected,
        kind=kind,
        invalidity_changed=changed,
    )
    return row, expected


def expected_follow_up_findings(
    world: World, knowledge: dict[str, Knowledge], delivered: set[tuple[int, str]]
) -> tuple[set[tuple[int, str, str]], set[tuple[int, str, str]]]:
    """(employer, AHV number, period) of every follow-up exit forgotten (Art. 5.2): those
    coverage can see — the list that lacks the exit was delivered (`delivered`: employer and
    period of each list in force), or a later row of the worker reached coverage — and those
    it cannot, since neither came."""
    seen: set[tuple[int, str, str]] = set()
    unseen: set[tuple[int, str, str]] = set()
    for worker in world.workers:
        known = knowledge.get(worker.ahv)
        if known is None:
            continue
        for period in known.forgotten:
            key = (worker.employer_no, worker.ahv, period)
            visible = (worker.employer_no, period) in delivered or any(
                p >= period for p in known.rows
            )
            (seen if visible else unseen).add(key)
    return seen, unseen


def event_counts(knowledge: dict[str, Knowledge]) -> Counter[str]:
    """Forgotten follow-ups by how (for the summary)."""
    return Counter(how for known in knowledge.values() for how in known.forgotten.values())


def explain_input(worker: SimWorker, known: Knowledge) -> dict[str, Any]:
    """The `bvgconnect coverage explain` document of what the lists told of the worker."""

    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "birth_date": worker.birth_date.isoformat(),
        "sex": worker.sex,
        "invalidity_degree": known.invalidity_degree or 0,
        "invalidity_changes": [
            {"on": c.on.isoformat(), "degree": c.degree} for c in known.invalidity_changes
        ],
        "assignments": [
            {
                "start": a.start.isoformat(),
                "end": day(a.end),
                "expected_over_13_weeks": a.expected_over_13_weeks,
                "extension_accepted_on": day(a.extension_accepted_on),
                "requested": a.requested,
                "children": a.children,
                "weekly_hours": {monday.isoformat(): str(h) for monday, h in a.weekly_hours},
                "ends_with_exit": a.ends_with_exit,
            }
            for a, _ in known.assignments.values()
        ],
        "as_of": last_day(known.latest).isoformat(),
    }
