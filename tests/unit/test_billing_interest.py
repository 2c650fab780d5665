"""Late interest (Art. 21.3, RULES §8): 6 % a year from the due date, act/365, to 5 Rp."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.interest import (
    DAYS_PER_YEAR,
    RATE,
    InterestPart,
    days_late,
    interest_periods,
    late_interest,
    round_interest,
)

D = Decimal


@pytest.mark.parametrize(
    ("amount", "due", "paid", "days", "interest"),
    [
        # 1000 x 6 % exactly
        ("1000.00", date(2025, 3, 1), date(2026, 3, 1), 365, "60.00"),
        # 1000 x 0.06 x 30 / 365 = 4.9315
        ("1000.00", date(2025, 1, 31), date(2025, 3, 2), 30, "4.95"),
        # the same 30 days across New Year: no break at the boundary
        ("1000.00", date(2025, 12, 15), date(2026, 1, 14), 30, "4.95"),
        # 28 Feb 2027 -> 1 Mar 2027: one day (2027 is no leap year); 100000 x 0.06 / 365 = 16.4384
        ("100000.00", date(2027, 2, 28), date(2027, 3, 1), 1, "16.45"),
        # 28 Feb 2028 -> 1 Mar 2028: 29 Feb 2028 counts, two days = 32.8767
        ("100000.00", date(2028, 2, 28), date(2028, 3, 1), 2, "32.90"),
        # due on 29 Feb 2028, paid a year later: 366 days over 365 = 60.1644
        ("1000.00", date(2028, 2, 29), date(2029, 3, 1), 366, "60.15"),
        # a whole leap year: 366/365 of 6 %
        ("1000.00", date(2028, 1, 1), date(2029, 1, 1), 366, "60.15"),
        # 1 day on 100 = 0.0164 -> 0.00
        ("100.00", date(2025, 5, 31), date(2025, 6, 1), 1, "0.00"),
        ("1000.00", date(2025, 3, 1), date(2025, 3, 1), 0, "0.00"),
        ("1000.00", date(2025, 3, 1), date(2025, 2, 10), 0, "0.00"),
        ("0.00", date(2025, 3, 1), date(2026, 3, 1), 365, "0.00"),
    ],
    ids=[
        "art21.3-one-year-exactly",
        "art21.3-30-days",
        "art21.3-over-a-year-boundary",
        "act365-no-leap-day-2027",
        "act365-leap-day-2028-02-29-counts",
        "act365-due-on-leap-day",
        "act365-whole-leap-year-366-days",
        "rounded-to-zero",
        "art21.2-paid-on-the-due-date",
        "art21.2-paid-before-the-due-date",
        "nothing-owed",
    ],
)
def test_late_interest(amount: str, due: date, paid: date, days: int, interest: str) -> None:
    assert days_late(due, paid) == days
    result = late_interest(D(amount), due, paid)
    assert result == D(interest)
    assert result.as_tuple().exponent == -2  # shown as 4.95, not 4.950000


@pytest.mark.parametrize(
    ("exact", "rounded"),
    [
        ("0.025", "0.05"),
        ("0.0249999", "0.00"),
        ("0.075", "0.10"),
        ("1.024", "1.00"),
        ("1.025", "1.05"),
        ("4.9315068", "4.95"),
        ("60", "60.00"),
    ],
    ids=[
        "half-up-at-0.025",
        "just-below-0.025",
        "half-up-at-0.075",
        "down-below-the-half",
        "half-up-at-1.025",
        "thirty-days-on-1000",
        "whole-francs",
    ],
)
def test_rounding_to_5_rappen_half_up(exact: str, rounded: str) -> None:
    assert round_interest(D(exact)) == D(rounded)


@pytest.mark.parametrize(
    ("amount", "interest"),
    [("152.10", "0.05"), ("152.00", "0.00")],
    ids=["0.0250027-rounds-up", "0.0249863-rounds-down"],
)
def test_rounding_at_the_half_step_through_late_interest(amount: str, interest: str) -> None:
    # one day: amount x 0.06 / 365, just either side of 0.025
    assert late_interest(D(amount), date(2025, 1, 31), date(2025, 2, 1)) == D(interest)


def test_a_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        late_interest(D("-1.00"), date(2025, 1, 31), date(2025, 3, 1))


DUE = date(2025, 1, 31)


@pytest.mark.parametrize(
    ("amount", "due", "payments", "as_of", "parts", "total", "open_amount"),
    [
        (
            # 400 after 30 days, 300 after 60, 300 still open after 90:
            # 1.9726 + 2.9589 + 4.4384 = 9.3699
            "1000.00",
            DUE,
            [("400.00", date(2025, 3, 2)), ("300.00", date(2025, 4, 1))],
            date(2025, 5, 1),
            [
                ("400.00", date(2025, 3, 2), 30),
                ("300.00", date(2025, 4, 1), 60),
                ("300.00", None, 90),
            ],
            "9.35",
            "300.00",
        ),
        (
            # given out of order: applied by date
            "1000.00",
            DUE,
            [("300.00", date(2025, 4, 1)), ("400.00", date(2025, 3, 2))],
            date(2025, 5, 1),
            [
                ("400.00", date(2025, 3, 2), 30),
                ("300.00", date(2025, 4, 1), 60),
                ("300.00", None, 90),
            ],
            "9.35",
            "300.00",
        ),
        (
            # a part paid in time bears nothing; the rest 30 days: 600 x 0.06 x 30 / 365 = 2.9589
            "1000.00",
            DUE,
            [("400.00", date(2025, 1, 20)), ("600.00", date(2025, 3, 2))],
            date(2025, 5, 1),
            [("400.00", date(2025, 1, 20), 0), ("600.00", date(2025, 3, 2), 30)],
            "2.95",
            "0.00",
        ),
        (
            # overpaid: the second payment settles 400; the 200 beyond bear nothing
            # 2.9589 + 3.9452 = 6.9041
            "1000.00",
            DUE,
            [("600.00", date(2025, 3, 2)), ("600.00", date(2025, 4, 1))],
            date(2025, 5, 1),
            [("600.00", date(2025, 3, 2), 30), ("400.00", date(2025, 4, 1), 60)],
            "6.90",
            "0.00",
        ),
        (
            # nothing paid, due 2027-12-31, as of 2028-03-01: 31 + 29 + 1 = 61 days over New Year
            # and 29 Feb 2028; 1000 x 0.06 x 61 / 365 = 10.0274
            "1000.00",
            date(2027, 12, 31),
            [],
            date(2028, 3, 1),
            [("1000.00", None, 61)],
            "10.05",
            "1000.00",
        ),
        (
            # each part rounded alone gives 0.00; the exact sum 152.10 x 0.06 / 365 = 0.0250027
            # rounds up once
            "152.10",
            DUE,
            [("152.00", date(2025, 2, 1)), ("0.05", date(2025, 2, 1))],
            date(2025, 2, 1),
            [("152.00", date(2025, 2, 1), 1), ("0.05", date(2025, 2, 1), 1), ("0.05", None, 1)],
            "0.05",
            "0.05",
        ),
    ],
    ids=[
        "partial-payments-and-open-rest",
        "payments-in-date-order",
        "part-paid-before-due",
        "overpayment-bears-nothing",
        "unpaid-over-a-year-boundary-into-a-leap-year",
        "rounded-once-on-the-total",
    ],
)
def test_interest_periods(
    amount: str,
    due: date,
    payments: list[tuple[str, date]],
    as_of: date,
    parts: list[tuple[str, date | None, int]],
    total: str,
    open_amount: str,
) -> None:
    statement = interest_periods(D(amount), due, [(D(a), d) for a, d in payments], as_of=as_of)
    assert [(p.amount, p.paid_on, p.days) for p in statement.parts] == [
        (D(a), d, n) for a, d, n in parts
    ]
    assert statement.total == D(total)
    assert statement.open_amount == D(open_amount)
    assert all(isinstance(p, InterestPart) and p.interest >= 0 for p in statement.parts)


@pytest.mark.parametrize(
    ("payments", "message"),
    [
        ([(D("0.00"), date(2025, 3, 1))], "positive"),
        ([(D("-5.00"), date(2025, 3, 1))], "positive"),
        ([(D("5.00"), date(2025, 6, 1))], "after the statement date"),
    ],
    ids=["zero-payment", "negative-payment", "payment-after-as-of"],
)
def test_interest_periods_refuses_bad_payments(
    payments: list[tuple[Decimal, date]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        interest_periods(D("100.00"), DUE, payments, as_of=date(2025, 5, 1))


amounts = st.decimals(min_value=D("0.05"), max_value=D("1000000"), places=2)
days = st.integers(min_value=-60, max_value=3 * 366)


@given(amount=amounts, late=days)
def test_one_payment_of_everything_is_late_interest(amount: Decimal, late: int) -> None:
    paid = DUE + timedelta(days=late)
    statement = interest_periods(amount, DUE, [(amount, paid)], as_of=paid)
    assert statement.total == late_interest(amount, DUE, paid)
    assert statement.open_amount == 0


@given(amount=amounts, late=days, more=st.integers(min_value=0, max_value=400))
def test_interest_grows_with_the_days_and_is_a_multiple_of_5_rappen(
    amount: Decimal, late: int, more: int
) -> None:
    paid = DUE + timedelta(days=late)
    sooner, later = (
        late_interest(amount, DUE, paid),
        late_interest(amount, DUE, paid + timedelta(more)),
    )
    assert D(0) <= sooner <= later
    assert later % D("0.05") == 0
    # never more than half a step away from the exact figure
    assert abs(later - amount * RATE * max(late + more, 0) / DAYS_PER_YEAR) <= D("0.025")


@given(
    amount=st.decimals(min_value=D("1.00"), max_value=D("1000000"), places=2),
    split=st.integers(min_value=1, max_value=99),
    first=days,
    second=days,
)
def test_splitting_a_payment_moves_the_total_by_at_most_one_step(
    amount: Decimal, split: int, first: int, second: int
) -> None:
    part = (amount * split / 100).quantize(D("0.01"))
    d1, d2 = DUE + timedelta(first), DUE + timedelta(second)
    as_of = max(d1, d2)
    statement = interest_periods(amount, DUE, [(part, d1), (amount - part, d2)], as_of=as_of)
    separately = late_interest(part, DUE, d1) + late_interest(amount - part, DUE, d2)
    assert abs(statement.total - separately) <= D("0.05")
