"""Billing rules (RULES §8, Art. 20-21): when invoices go out, what is on them, how payments
apply. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .interest import late_interest
from .model import InvoiceLine, LineKind

#: Art. 21.2: due date = invoice date + 30 days.
PAYMENT_TERM = timedelta(days=30)
#: Art. 20.2: January to March go out as one collective invoice.
COLLECTIVE_MONTHS = (1, 2, 3)
ZERO = Decimal("0.00")


def due_date(invoice_date: date) -> date:
    """Art. 21.1-21.2: the invoice date is the booking date; due 30 days later."""
    return invoice_date + PAYMENT_TERM


def month_of(period: str) -> tuple[int, int]:
    year, month = (int(part) for part in period.split("-"))
    return year, month


def collective_periods(year: int) -> tuple[str, ...]:
    return tuple(f"{year}-{m:02d}" for m in COLLECTIVE_MONTHS)


def waits_for_collective(period: str, *, march_priced: bool, cutoff_passed: bool) -> bool:
    """Art. 20.2: a January or February list waits for the collective invoice, which goes out
    when the March list is priced or on the cut-off date, whichever comes first."""
    _, month = month_of(period)
    return month in COLLECTIVE_MONTHS[:-1] and not (march_priced or cutoff_passed)


def cutoff_date(year: int, month_day: str) -> date:
    """The configured cut-off (`MM-DD`) of the collective invoice of `year`."""
    month, day = (int(part) for part in month_day.split("-"))
    return date(year, month, day)


@dataclass(frozen=True, slots=True)
class PricedRow:
    """One worker's priced row of the list in force for a period."""

    period: str
    row_no: int
    worker: str
    insured_wage: Decimal
    premium_total: Decimal
    employer_share: Decimal
    employee_share: Decimal


def contribution_lines(rows: Iterable[PricedRow]) -> list[InvoiceLine]:
    """One line per worker row (Art. 20.1); a negative row (a correction of an earlier month,
    RULES §7) is a correction line. Rows not subject to contributions (all zero) are left out."""
    lines = []
    for r in sorted(rows, key=lambda r: (r.period, r.row_no)):
        if r.premium_total == 0 and r.insured_wage == 0:
            continue
        kind: LineKind = "correction" if r.premium_total < 0 else "contribution"
        lines.append(
            InvoiceLine(
                kind=kind,
                description=f"Beiträge {r.period}"
                if kind == "contribution"
                else f"Korrektur {r.period}",
                amount=r.premium_total,
                period=r.period,
                worker=r.worker,
                insured_wage=r.insured_wage,
                employer_share=r.employer_share,
                employee_share=r.employee_share,
            )
        )
    return lines


def correction_lines(
    invoiced: Sequence[InvoiceLine], replacement: Sequence[PricedRow], period: str
) -> list[InvoiceLine]:
    """A list replaced after its invoice went out: per worker, the difference between the
    replacement and what was invoiced, as correction lines for the next invoice (issue 7)."""
    before: dict[str, list[Decimal]] = {}
    for line in invoiced:
        if line.period == period and line.worker is not None:
            sums = before.setdefault(line.worker, [ZERO, ZERO, ZERO, ZERO])
            sums[0] += line.amount
            sums[1] += line.insured_wage or ZERO
            sums[2] += line.employer_share or ZERO
            sums[3] += line.employee_share or ZERO
    after: dict[str, list[Decimal]] = {}
    for row in replacement:
        sums = after.setdefault(row.worker, [ZERO, ZERO, ZERO, ZERO])
        sums[0] += row.premium_total
        sums[1] += row.insured_wage
        sums[2] += row.employer_share
        sums[3] += row.employee_share
    lines = []
    for worker in sorted(set(before) | set(after)):
        old = before.get(worker, [ZERO] * 4)
        new = after.get(worker, [ZERO] * 4)
        diff = [n - o for n, o in zip(new, old, strict=True)]
        if diff[0] == 0:
            continue
        lines.append(
            InvoiceLine(
                kind="correction",
                description=f"Korrektur {period} (Liste ersetzt)",
                amount=diff[0],
                period=period,
                worker=worker,
                insured_wage=diff[1],
                employer_share=diff[2],
                employee_share=diff[3],
            )
        )
    return lines


def invoice_no(year: int, employer_no: int, sequence: int) -> str:
    return f"{year}-{employer_no}-{sequence:04d}"


@dataclass(frozen=True, slots=True)
class Allocation:
    """How a payment applies: to its invoice, the rest as a credit, and the interest it owes."""

    applied: Decimal
    credit: Decimal
    interest: Decimal


def allocate(amount: Decimal, *, open_amount: Decimal, due: date, value_date: date) -> Allocation:
    """A payment of `amount` for an invoice with `open_amount` left (issue 7): what exceeds
    the open amount is a credit carried forward; what is paid after the due date owes late
    interest (Art. 21.3), charged on a later invoice."""
    applied = min(amount, max(open_amount, ZERO))
    credit = amount - applied
    interest = late_interest(applied, due, value_date) if applied > 0 else ZERO
    return Allocation(applied=applied, credit=credit, interest=interest)
