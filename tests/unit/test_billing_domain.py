"""Billing rules (RULES §8, Art. 20-21) as a table: due dates, the collective invoice,
corrections after issue, how payments apply."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.billing import domain
from services.billing.domain import PricedRow
from services.billing.model import InvoiceLine

D = Decimal


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (date(2025, 1, 31), date(2025, 3, 2)),  # over the end of a short February
        (date(2028, 1, 31), date(2028, 3, 1)),  # leap year: 29 February counts
        (date(2025, 12, 15), date(2026, 1, 14)),  # over the year end
        (date(2025, 4, 30), date(2025, 5, 30)),
    ],
    ids=["art21-february", "art21-leap-year", "art21-year-end", "art21-month-end"],
)
def test_due_date_is_invoice_date_plus_30_days(invoice_date: date, due: date) -> None:
    assert domain.due_date(invoice_date) == due


@pytest.mark.parametrize(
    ("period", "march_priced", "cutoff_passed", "waits"),
    [
        ("2025-01", False, False, True),
        ("2025-02", False, False, True),
        ("2025-01", True, False, False),
        ("2025-02", False, True, False),
        ("2025-03", False, False, False),  # March itself triggers the collective invoice
        ("2025-04", False, False, False),
    ],
    ids=["jan-waits", "feb-waits", "march-priced", "cut-off", "march", "april"],
)
def test_january_and_february_wait_for_the_collective_invoice(
    period: str, march_priced: bool, cutoff_passed: bool, waits: bool
) -> None:
    assert (
        domain.waits_for_collective(period, march_priced=march_priced, cutoff_passed=cutoff_passed)
        is waits
    )


def row(worker: str, premium: str, period: str = "2025-04", row_no: int = 2) -> PricedRow:
    p = D(premium)
    return PricedRow(period, row_no, worker, p * 10, p, p / 2, p / 2)


def test_contribution_lines_per_worker_corrections_negative_and_zero_rows_left_out() -> None:
    lines = domain.contribution_lines(
        [row("A", "100.00"), row("B", "-20.00", row_no=3), row("C", "0.00", row_no=4)]
    )
    assert [(line.kind, line.worker, line.amount) for line in lines] == [
        ("contribution", "A", D("100.00")),
        ("correction", "B", D("-20.00")),
    ]


def test_a_list_replaced_after_issue_leaves_the_differences_per_worker() -> None:
    invoiced = domain.contribution_lines([row("A", "100.00"), row("B", "40.00", row_no=3)])
    replacement = [row("A", "100.00"), row("B", "55.00", row_no=3), row("C", "7.50", row_no=4)]
    lines = domain.correction_lines(invoiced, replacement, "2025-04")
    assert [(line.worker, line.amount, line.kind) for line in lines] == [
        ("B", D("15.00"), "correction"),
        ("C", D("7.50"), "correction"),
    ]
    gone = domain.correction_lines(invoiced, [row("A", "100.00")], "2025-04")
    assert [(line.worker, line.amount) for line in gone] == [("B", D("-40.00"))]


def test_lines_of_another_period_are_not_compared() -> None:
    other = [InvoiceLine("contribution", "x", D("50.00"), period="2025-03", worker="A")]
    lines = domain.correction_lines(other, [row("A", "50.00")], "2025-04")
    assert [(line.worker, line.amount) for line in lines] == [("A", D("50.00"))]


@pytest.mark.parametrize(
    ("amount", "open_amount", "paid_on", "applied", "credit", "interest"),
    [
        ("100.00", "100.00", date(2025, 5, 10), "100.00", "0", "0.00"),  # on the due date
        ("40.00", "100.00", date(2025, 5, 1), "40.00", "0", "0.00"),  # partial
        ("150.00", "100.00", date(2025, 5, 1), "100.00", "50.00", "0.00"),  # overpaid
        ("1000.00", "1000.00", date(2026, 5, 10), "1000.00", "0", "60.00"),  # a year late
        ("20.00", "0.00", date(2025, 5, 1), "0.00", "20.00", "0.00"),  # paid already
    ],
    ids=["in-time", "partial", "overpaid", "art21.3-one-year-late", "already-paid"],
)
def test_a_payment_applies_to_its_invoice_the_rest_is_credit_late_owes_interest(
    amount: str, open_amount: str, paid_on: date, applied: str, credit: str, interest: str
) -> None:
    result = domain.allocate(
        D(amount), open_amount=D(open_amount), due=date(2025, 5, 10), value_date=paid_on
    )
    assert (result.applied, result.credit, result.interest) == (D(applied), D(credit), D(interest))


def test_invoice_numbers_and_cutoff() -> None:
    assert domain.invoice_no(2025, 1001, 7) == "2025-1001-0007"
    assert domain.cutoff_date(2025, "04-30") == date(2025, 4, 30)
    assert domain.collective_periods(2025) == ("2025-01", "2025-02", "2025-03")
