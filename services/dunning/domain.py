"""The two reminder ladders of RULES §9 (Art. 22-23) as data, and the pure function that says
which steps a case takes on a business date. No I/O, no clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from contracts.values import Recipient, Track

StepName = Literal["reminder_1", "reminder_2", "termination"]
FeeKind = Literal[
    "reminder", "enforcement", "legal_opening", "bankruptcy", "late_claim", "investigation"
]

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class OnMonthDay:
    """A calendar date: `day` of the month `months` after the anchor's month."""

    months: int
    day: int


@dataclass(frozen=True, slots=True)
class DaysAfterPrevious:
    """`days` after the previous step's date (the anchor for the first step)."""

    days: int


DateRule = OnMonthDay | DaysAfterPrevious


@dataclass(frozen=True, slots=True)
class LadderStep:
    step: StepName
    when: DateRule
    fee: Decimal
    fee_kind: FeeKind | None
    registered: bool
    copies: tuple[Recipient, ...]
    article: str


@dataclass(frozen=True, slots=True)
class Ladder:
    track: Track
    steps: tuple[LadderStep, ...]


# Art. 22.2 (RULES §9): days counted from the 15th; the sources fix calendar dates (the 25th,
# the 10th and the 25th of the next month), so a weekend or holiday does not move them.
DATA_DELIVERY_LADDER = Ladder(
    track="data",
    steps=(
        LadderStep(
            "reminder_1", OnMonthDay(0, 25), Decimal("100.00"), "reminder", False, (), "Art. 22.2"
        ),
        LadderStep(
            "reminder_2",
            OnMonthDay(1, 10),
            Decimal("300.00"),
            "reminder",
            True,
            ("association",),
            "Art. 22.2",
        ),
        # Art. 22.3: copies of the termination letter to the catch-all institution and the
        # labour office of the employer's canton.
        LadderStep(
            "termination",
            OnMonthDay(1, 25),
            ZERO,
            None,
            False,
            ("catch_all", "labour_office"),
            "Art. 22.2-3",
        ),
    ),
)

# Art. 23 (RULES §9): 1st reminder on the due date, 2nd 30 days after it, termination 10 days
# after the 2nd; the termination's enforcement is a Betreibung of Art. 25 (CHF 400).
PAYMENT_LADDER = Ladder(
    track="payment",
    steps=(
        LadderStep("reminder_1", DaysAfterPrevious(0), ZERO, None, False, (), "Art. 23.1"),
        LadderStep(
            "reminder_2",
            DaysAfterPrevious(30),
            Decimal("300.00"),
            "reminder",
            True,
            ("association",),
            "Art. 23.1",
        ),
        LadderStep(
            "termination",
            DaysAfterPrevious(10),
            Decimal("400.00"),
            "enforcement",
            False,
            ("catch_all", "labour_office"),
            "Art. 23.2, Art. 25",
        ),
    ),
)

LADDERS: dict[Track, Ladder] = {"data": DATA_DELIVERY_LADDER, "payment": PAYMENT_LADDER}

#: Art. 21.2: due date = invoice date + 30 days.
PAYMENT_TERM_DAYS = 30
#: Art. 8.1: the list of a period is due on the 15th of the following month.
LIST_DUE_DAY = 15
#: Reading of Art. 23.2 "auf Ende des folgenden Monats, mit Vorankündigung von 30 Tagen": the
#: 30 days are a floor; where the end of the following month is nearer, the month after.
MIN_NOTICE_DAYS = 30

#: Art. 25-26 (RULES §10): fees an operator records.
OTHER_FEES: dict[FeeKind, tuple[Decimal, str]] = {
    "enforcement": (Decimal("400.00"), "Art. 25"),
    "legal_opening": (Decimal("500.00"), "Art. 25"),
    "bankruptcy": (Decimal("1000.00"), "Art. 25"),
    "late_claim": (Decimal("400.00"), "Art. 26"),
    "investigation": (Decimal("500.00"), "Art. 26"),
}


def add_months(day: date, months: int, *, on: int) -> date:
    """Day `on` of the month `months` after `day`'s month (clamped to the month's end)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(on, last))


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def list_due_date(period: str) -> date:
    """Art. 8.1: the 15th of the month after the period (YYYY-MM)."""
    year, month = int(period[:4]), int(period[5:7])
    return add_months(date(year, month, 1), 1, on=LIST_DUE_DAY)


def invoice_due_date(invoice_date: date) -> date:
    return invoice_date + timedelta(days=PAYMENT_TERM_DAYS)


def termination_effective(decided_on: date) -> date:
    """RULES §9: end of the following month (with MIN_NOTICE_DAYS as a floor, Art. 23.2)."""
    effective = end_of_month(add_months(decided_on, 1, on=1))
    if (effective - decided_on).days < MIN_NOTICE_DAYS:
        effective = end_of_month(add_months(decided_on, 2, on=1))
    return effective


def step_dates(ladder: Ladder, anchor: date) -> list[date]:
    """The calendar date of every step of `ladder` for a case anchored on `anchor` (the list's
    or the invoice's due date)."""
    dates: list[date] = []
    previous = anchor
    for step in ladder.steps:
        rule = step.when
        if isinstance(rule, OnMonthDay):
            previous = add_months(anchor, rule.months, on=rule.day)
        else:
            previous = previous + timedelta(days=rule.days)
        dates.append(previous)
    return dates


@dataclass(frozen=True, slots=True)
class Case:
    """What the ladder needs to know of a dunning case."""

    track: Track
    anchor: date
    steps_taken: int = 0
    closed: bool = False
    held: bool = False
    #: Days the case spent on hold: the steps not yet taken move by as much (reading).
    shift_days: int = 0


@dataclass(frozen=True, slots=True)
class DueStep:
    index: int
    step: LadderStep
    on: date


def schedule(case: Case) -> list[DueStep]:
    """Every step not yet taken, with its date (shifted by the time on hold)."""
    ladder = LADDERS[case.track]
    dates = step_dates(ladder, case.anchor)
    shift = timedelta(days=case.shift_days)
    return [
        DueStep(i, ladder.steps[i], dates[i] + shift)
        for i in range(case.steps_taken, len(ladder.steps))
    ]


def due_steps(case: Case, business_date: date) -> list[DueStep]:
    """The steps `case` takes on `business_date`, in ladder order: every step whose date has
    come and that was not taken yet (a missed day catches up, an older day takes nothing).
    A closed or held case takes none."""
    if case.closed or case.held:
        return []
    due: list[DueStep] = []
    for planned in schedule(case):
        if planned.on > business_date:
            break
        due.append(planned)
    return due


def next_step_on(case: Case) -> date | None:
    """Date of the next step, or None when the ladder is done."""
    remaining = schedule(case)
    return remaining[0].on if remaining and not case.closed else None


def plan(track: Track, anchor: date) -> list[DueStep]:
    """The steps that would follow if nothing arrives (`bvgconnect dunning plan`)."""
    return schedule(Case(track=track, anchor=anchor))


def plan_json(steps: list[DueStep]) -> dict[str, list[dict[str, object]]]:
    return {
        "steps": [
            {
                "step": s.step.step,
                "date": s.on.isoformat(),
                "fee": str(s.step.fee),
                "registered": s.step.registered,
                "copies": list(s.step.copies),
            }
            for s in steps
        ]
    }
