"""Late interest: 6 % a year from the due date (Art. 21.3, RULES §8). Pure: no I/O, no clock.

**Day count: act/365 fixed.** Actual calendar days late, over a year of 365 days, leap years
included. The guideline names only a yearly rate, and the Code of Obligations (Art. 104 OR,
default interest) no convention; Swiss default-interest reckoning commonly counts calendar days
over 365. We prefer it to the commercial 30/360 because every day of delay then costs the same:
two invoices paid the same number of days late owe the same interest whatever the months (under
30/360, 28 February to 1 March is 3 days, 30 to 31 January none), and an employer can check it
by counting days. Over a year boundary nothing changes: days are counted straight through.
In a leap year 29 February is a day like any other and the divisor stays 365, so a full leap
year late costs 366/365 of 6 % (6.0164 %): the price of "every day costs the same".

**Which days.** The due date is the last day to pay (Art. 21.2: "spätestes Datum zum
Begleichen"), so a payment on it is on time and the due date bears no interest; interest runs
from the day after it up to and including the day of payment, i.e. `(paid - due).days` days.
A payment on or before the due date owes nothing. The payment date is the credit's value date
(camt.054 `ValDt`): the day the money is the foundation's.

**Rounding.** Interest is computed exactly and rounded once, on the total, to 5 Rappen half up
(RULES preamble "to 5 Rp."), never per day or per part, so splitting a payment cannot change the
total by more than one rounding step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Context, Decimal, localcontext

from services.pricing.domain import round_to_5_rappen

#: Art. 21.3: "Verzugszinsen von 6%", a yearly rate.
RATE = Decimal("0.06")
#: Act/365 fixed (module doc): a day late costs 1/365 of the yearly rate, in leap years too.
DAYS_PER_YEAR = 365
#: Art. 21.2: the due date is the last day to pay; interest starts the day after it.
FIRST_DAY_AFTER_DUE = timedelta(days=1)
#: RULES preamble: "to 5 Rp.", half away from zero, applied once to the total interest.
round_interest = round_to_5_rappen

_ZERO = Decimal("0.00")
#: Whatever context the caller has set: 28 digits keep the one division exact to the Rappen.
_CONTEXT = Context(prec=28)


def days_late(due: date, paid: date) -> int:
    """Days that bear interest: from the day after `due` through `paid`; 0 if paid in time."""
    return max((paid - (due + FIRST_DAY_AFTER_DUE)).days + 1, 0)


def exact_interest(amount: Decimal, days: int) -> Decimal:
    """Interest on `amount` for `days` days, unrounded (one division, to 28 digits)."""
    with localcontext(_CONTEXT):
        return amount * RATE * days / DAYS_PER_YEAR


def late_interest(amount: Decimal, due: date, paid: date) -> Decimal:
    """Interest on `amount` paid on `paid` for an invoice due on `due`, to 5 Rappen."""
    if amount < 0:
        raise ValueError(f"the amount must not be negative, not {amount}")
    return round_interest(exact_interest(amount, days_late(due, paid)))


@dataclass(frozen=True, slots=True)
class InterestPart:
    """A part of an invoice's amount and the interest it bears until it is paid.

    `paid_on` is None for the part still open on the statement's `as_of` date, which bears
    interest up to and including that date. `interest` is exact (unrounded).
    """

    amount: Decimal
    paid_on: date | None
    days: int
    interest: Decimal


@dataclass(frozen=True, slots=True)
class InterestStatement:
    """Late interest on a partly paid invoice as of a date: the parts, the total and what is
    still open. `total` is the sum of the exact parts, rounded once to 5 Rappen."""

    due: date
    as_of: date
    parts: tuple[InterestPart, ...]
    total: Decimal
    open_amount: Decimal


def interest_periods(
    amount: Decimal, due: date, payments: Sequence[tuple[Decimal, date]], *, as_of: date
) -> InterestStatement:
    """Interest on an invoice of `amount` due on `due`, paid in parts (amount, value date).

    Each payment, in date order, settles its part of the amount, which bears interest from the
    due date to its own payment date; what remains open bears interest up to `as_of`. This is the
    same as charging interest on the open balance of each day. What a payment brings beyond the
    open amount is an overpayment, not a part (it bears no interest).
    """
    if amount < 0:
        raise ValueError(f"the amount must not be negative, not {amount}")
    parts: list[InterestPart] = []
    remaining = amount
    for paid, paid_on in sorted(payments, key=lambda payment: payment[1]):
        if paid <= 0:
            raise ValueError(f"a payment must be positive, not {paid}")
        if paid_on > as_of:
            raise ValueError(f"a payment on {paid_on} is after the statement date {as_of}")
        part = min(paid, remaining)
        if part <= 0:
            continue
        remaining -= part
        days = days_late(due, paid_on)
        parts.append(InterestPart(part, paid_on, days, exact_interest(part, days)))
    if remaining > 0:
        days = days_late(due, as_of)
        parts.append(InterestPart(remaining, None, days, exact_interest(remaining, days)))
    total = round_interest(sum((part.interest for part in parts), _ZERO))
    return InterestStatement(due, as_of, tuple(parts), total, max(remaining, _ZERO))
