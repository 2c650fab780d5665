"""Typed SQL of billing: priced lists and rows, periods, invoices, pending lines, payments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.runtime.db import Connection

from .domain import PricedRow
from .model import InvoiceLine, PostalAddress

SAVE_ROW = """
    INSERT INTO priced_rows (upload_id, row_no, employer_no, period, worker, insured_wage,
                             premium_total, employer_share, employee_share)
    SELECT * FROM unnest($1::uuid[], $2::integer[], $3::integer[], $4::text[], $5::text[],
                         $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[])
    ON CONFLICT DO NOTHING
"""

SAVE_LIST = """
    INSERT INTO priced_lists (upload_id, employer_no, period, row_count, priced_at,
                              trace_headers, correction_fee_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING
"""

SAVE_PENDING = """
    INSERT INTO pending_lines (line_id, employer_no, kind, description, period, worker,
                               insured_wage, employer_share, employee_share, amount, created_on)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT DO NOTHING
"""


def pending_args(
    line_id: uuid.UUID, employer_no: int, line: InvoiceLine, created_on: date
) -> tuple[Any, ...]:
    return (
        line_id,
        employer_no,
        line.kind,
        line.description,
        line.period,
        line.worker,
        line.insured_wage,
        line.employer_share,
        line.employee_share,
        line.amount,
        created_on,
    )


@dataclass(frozen=True, slots=True)
class PricedList:
    upload_id: uuid.UUID
    employer_no: int
    period: str
    row_count: int
    priced_at: datetime
    complete: bool
    #: The Art. 24 fee the list's rows caused, invoiced with the list (None: no fee).
    correction_fee_id: uuid.UUID | None


async def lock_list(conn: Connection, upload_id: uuid.UUID) -> PricedList | None:
    """The list, if pricing has finished it; serialised with other transactions on it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1::text))", str(upload_id))
    r = await conn.fetchrow("SELECT * FROM priced_lists WHERE upload_id = $1", upload_id)
    if r is None:
        return None
    return PricedList(
        r["upload_id"],
        r["employer_no"],
        r["period"],
        r["row_count"],
        r["priced_at"],
        r["complete"],
        r["correction_fee_id"],
    )


async def rows_saved(conn: Connection, upload_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM priced_rows WHERE upload_id = $1", upload_id
    )
    return count


async def has_line(conn: Connection, line_id: uuid.UUID) -> bool:
    """Whether the line (a fee, say) is here, invoiced or still pending."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM pending_lines WHERE line_id = $1)", line_id
    )
    return found


async def mark_complete(conn: Connection, upload_id: uuid.UUID) -> None:
    await conn.execute("UPDATE priced_lists SET complete = true WHERE upload_id = $1", upload_id)


async def lock_employer(conn: Connection, employer_no: int) -> None:
    """One invoicing at a time per employer (sequence numbers, periods)."""
    await conn.execute("SELECT pg_advisory_xact_lock(4242, $1)", employer_no)


@dataclass(frozen=True, slots=True)
class Period:
    employer_no: int
    period: str
    upload_id: uuid.UUID
    priced_at: datetime
    invoice_id: uuid.UUID | None


async def get_period(conn: Connection, employer_no: int, period: str) -> Period | None:
    r = await conn.fetchrow(
        "SELECT * FROM periods WHERE employer_no = $1 AND period = $2", employer_no, period
    )
    if r is None:
        return None
    return Period(r["employer_no"], r["period"], r["upload_id"], r["priced_at"], r["invoice_id"])


async def set_period_list(
    conn: Connection, employer_no: int, period: str, upload_id: uuid.UUID, priced_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO periods (employer_no, period, upload_id, priced_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (employer_no, period) DO UPDATE
            SET upload_id = EXCLUDED.upload_id, priced_at = EXCLUDED.priced_at
        """,
        employer_no,
        period,
        upload_id,
        priced_at,
    )


async def uninvoiced_periods(conn: Connection, employer_no: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT period FROM periods WHERE employer_no = $1 AND invoice_id IS NULL ORDER BY 1",
        employer_no,
    )
    return [r["period"].strip() for r in rows]


async def employers_with_uninvoiced(conn: Connection, periods: list[str]) -> list[int]:
    rows = await conn.fetch(
        "SELECT DISTINCT employer_no FROM periods "
        "WHERE invoice_id IS NULL AND period = ANY($1::text[]) ORDER BY 1",
        periods,
    )
    return [r["employer_no"] for r in rows]


def _priced_row(r: Any) -> PricedRow:
    return PricedRow(
        r["period"].strip(),
        r["row_no"],
        r["worker"],
        r["insured_wage"],
        r["premium_total"],
        r["employer_share"],
        r["employee_share"],
    )


async def rows_of_periods(
    conn: Connection, employer_no: int, periods: list[str]
) -> list[PricedRow]:
    records = await conn.fetch(
        """
        SELECT r.period, r.row_no, r.worker, r.insured_wage, r.premium_total, r.employer_share,
               r.employee_share
        FROM periods p JOIN priced_rows r ON r.upload_id = p.upload_id
        WHERE p.employer_no = $1 AND p.period = ANY($2::text[]) AND p.invoice_id IS NULL
        """,
        employer_no,
        periods,
    )
    return [_priced_row(r) for r in records]


async def rows_of_upload(conn: Connection, upload_id: uuid.UUID) -> list[PricedRow]:
    records = await conn.fetch(
        "SELECT period, row_no, worker, insured_wage, premium_total, employer_share, "
        "employee_share FROM priced_rows WHERE upload_id = $1",
        upload_id,
    )
    return [_priced_row(r) for r in records]


async def pending_lines(conn: Connection, employer_no: int) -> list[tuple[uuid.UUID, InvoiceLine]]:
    records = await conn.fetch(
        "SELECT * FROM pending_lines WHERE employer_no = $1 AND invoice_id IS NULL "
        "ORDER BY created_on, line_id",
        employer_no,
    )
    return [(r["line_id"], _line(r)) for r in records]


async def employers_with_old_pending(conn: Connection, created_before: date) -> list[int]:
    rows = await conn.fetch(
        "SELECT DISTINCT employer_no FROM pending_lines "
        "WHERE invoice_id IS NULL AND created_on <= $1 AND kind <> 'credit' ORDER BY 1",
        created_before,
    )
    return [r["employer_no"] for r in rows]


def _line(r: Any) -> InvoiceLine:
    return InvoiceLine(
        kind=r["kind"],
        description=r["description"],
        amount=r["amount"],
        period=r["period"].strip() if r["period"] else None,
        worker=r["worker"],
        insured_wage=r["insured_wage"],
        employer_share=r["employer_share"],
        employee_share=r["employee_share"],
    )


async def next_sequence(conn: Connection, employer_no: int) -> int:
    seq: int = await conn.fetchval(
        "SELECT coalesce(max(sequence), 0) + 1 FROM invoices WHERE employer_no = $1", employer_no
    )
    return seq


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: uuid.UUID
    employer_no: int
    invoice_no: str
    sequence: int
    qr_reference: str
    invoice_date: date
    due_date: date
    periods: tuple[str, ...]
    total: Decimal
    paid: Decimal

    @property
    def open_amount(self) -> Decimal:
        return self.total - self.paid


_INVOICE_COLUMNS = (
    "invoice_id, employer_no, invoice_no, sequence, qr_reference, invoice_date, due_date, "
    "periods, total, paid"
)


def _invoice(r: Any) -> Invoice:
    return Invoice(
        r["invoice_id"],
        r["employer_no"],
        r["invoice_no"],
        r["sequence"],
        r["qr_reference"],
        r["invoice_date"],
        r["due_date"],
        tuple(r["periods"]),
        r["total"],
        r["paid"],
    )


async def save_invoice(
    conn: Connection,
    invoice: Invoice,
    lines: list[InvoiceLine],
    *,
    issued_at: datetime,
    pending_ids: list[uuid.UUID],
    contribution_periods: list[str],
) -> None:
    """`contribution_periods`: the periods whose lists this invoice bills (none for an
    invoice of pending lines only, whose `periods` merely names the month it went out in)."""
    await conn.execute(
        f"""
        INSERT INTO invoices ({_INVOICE_COLUMNS}, issued_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        invoice.invoice_id,
        invoice.employer_no,
        invoice.invoice_no,
        invoice.sequence,
        invoice.qr_reference,
        invoice.invoice_date,
        invoice.due_date,
        list(invoice.periods),
        invoice.total,
        invoice.paid,
        issued_at,
    )
    await conn.copy_records_to_table(
        "invoice_lines",
        columns=(
            "invoice_id",
            "line_no",
            "kind",
            "description",
            "period",
            "worker",
            "insured_wage",
            "employer_share",
            "employee_share",
            "amount",
        ),
        records=[
            (
                invoice.invoice_id,
                no,
                line.kind,
                line.description,
                line.period,
                line.worker,
                line.insured_wage,
                line.employer_share,
                line.employee_share,
                line.amount,
            )
            for no, line in enumerate(lines, start=1)
        ],
    )
    await conn.execute(
        "UPDATE periods SET invoice_id = $1 WHERE employer_no = $2 AND period = ANY($3::text[]) "
        "AND invoice_id IS NULL",
        invoice.invoice_id,
        invoice.employer_no,
        contribution_periods,
    )
    if pending_ids:
        await conn.execute(
            "UPDATE pending_lines SET invoice_id = $1 WHERE line_id = ANY($2::uuid[])",
            invoice.invoice_id,
            pending_ids,
        )


async def get_invoice(conn: Connection, invoice_id: uuid.UUID) -> Invoice | None:
    r = await conn.fetchrow(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE invoice_id = $1", invoice_id
    )
    return None if r is None else _invoice(r)


async def invoices_for(
    conn: Connection, *, references: list[str], ids: list[uuid.UUID]
) -> dict[str, Invoice]:
    """Invoices by QR reference (and by id, keyed by its text), locked for booking."""
    records = await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices "
        "WHERE qr_reference = ANY($1::text[]) OR invoice_id = ANY($2::uuid[]) "
        "ORDER BY invoice_id FOR UPDATE",
        references,
        ids,
    )
    found: dict[str, Invoice] = {}
    for r in records:
        invoice = _invoice(r)
        found[invoice.qr_reference] = invoice
        found[str(invoice.invoice_id)] = invoice
    return found


async def invoices_of(conn: Connection, employer_no: int) -> list[Invoice]:
    records = await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE employer_no = $1 ORDER BY sequence DESC",
        employer_no,
    )
    return [_invoice(r) for r in records]


async def invoice_lines(conn: Connection, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    records = await conn.fetch(
        "SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no", invoice_id
    )
    return [_line(r) for r in records]


async def due_unnotified(conn: Connection, day: date) -> list[Invoice]:
    """Invoices past their due date (`due_date < day`), not fully paid, not yet announced."""
    records = await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices "
        "WHERE NOT due_notified AND due_date < $1 AND paid < total ORDER BY invoice_id",
        day,
    )
    return [_invoice(r) for r in records]


async def mark_due_notified(conn: Connection, invoice_id: uuid.UUID) -> None:
    await conn.execute("UPDATE invoices SET due_notified = true WHERE invoice_id = $1", invoice_id)


async def add_paid(conn: Connection, paid: dict[uuid.UUID, Decimal]) -> None:
    if paid:
        await conn.execute(
            "UPDATE invoices i SET paid = i.paid + p.amount "
            "FROM unnest($1::uuid[], $2::numeric[]) AS p(invoice_id, amount) "
            "WHERE i.invoice_id = p.invoice_id",
            list(paid),
            list(paid.values()),
        )


@dataclass(frozen=True, slots=True)
class Balance:
    open_balance: Decimal
    overdue_balance: Decimal


async def balance(conn: Connection, employer_no: int, as_of: date) -> Balance:
    r = await conn.fetchrow(
        """
        SELECT
          coalesce((SELECT sum(total - paid) FROM invoices WHERE employer_no = $1), 0)
            + coalesce((SELECT sum(amount) FROM pending_lines
                        WHERE employer_no = $1 AND invoice_id IS NULL AND kind = 'credit'), 0)
            AS open_balance,
          coalesce((SELECT sum(total - paid) FROM invoices
                    WHERE employer_no = $1 AND due_date < $2 AND paid < total), 0)
            AS overdue_balance
        """,
        employer_no,
        as_of,
    )
    assert r is not None
    return Balance(Decimal(r["open_balance"]), Decimal(r["overdue_balance"]))


async def list_traces(
    conn: Connection, employer_no: int, periods: Sequence[str]
) -> list[tuple[str, dict[str, str]]]:
    """The trace headers of the lists in force for `periods`: (period, headers) each."""
    rows = await conn.fetch(
        """
        SELECT p.period, l.trace_headers FROM periods p
        JOIN priced_lists l ON l.upload_id = p.upload_id
        WHERE p.employer_no = $1 AND p.period = ANY($2::text[]) AND l.trace_headers IS NOT NULL
        ORDER BY p.period
        """,
        employer_no,
        list(periods),
    )
    return [(r["period"].strip(), json.loads(r["trace_headers"])) for r in rows]


async def total_balance(conn: Connection, as_of: date) -> Balance:
    """`balance` over all employers (for the open-balance gauge): the invoices not settled
    only (index invoices_unsettled), with the credits carried forward."""
    r = await conn.fetchrow(
        """
        SELECT
          coalesce((SELECT sum(total - paid) FROM invoices WHERE paid <> total), 0)
            + coalesce((SELECT sum(amount) FROM pending_lines
                        WHERE invoice_id IS NULL AND kind = 'credit'), 0)
            AS open_balance,
          coalesce((SELECT sum(total - paid) FROM invoices
                    WHERE due_date < $1 AND paid < total AND paid <> total), 0)
            AS overdue_balance
        """,
        as_of,
    )
    assert r is not None
    return Balance(Decimal(r["open_balance"]), Decimal(r["overdue_balance"]))


async def booked_ids(conn: Connection, booking_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT booking_id FROM payments WHERE booking_id = ANY($1::text[])", booking_ids
    )
    return {r["booking_id"] for r in rows}


async def save_payments(conn: Connection, payments: list[tuple[Any, ...]]) -> None:
    """(payment_id, booking_id, source, amount, value_date, qr_reference, employer_no,
    invoice_id, applied, status, booked_at) each; none booked before (`booked_ids`)."""
    if payments:
        await conn.copy_records_to_table(
            "payments",
            columns=(
                "payment_id",
                "booking_id",
                "source",
                "amount",
                "value_date",
                "qr_reference",
                "employer_no",
                "invoice_id",
                "applied",
                "status",
                "booked_at",
            ),
            records=payments,
        )


async def payments_of(conn: Connection, employer_no: int) -> list[dict[str, Any]]:
    records = await conn.fetch(
        "SELECT payment_id, source, amount, value_date, qr_reference, invoice_id, applied "
        "FROM payments WHERE employer_no = $1 ORDER BY value_date, booked_at",
        employer_no,
    )
    return [dict(r) for r in records]


async def unmatched_payments(conn: Connection, limit: int) -> list[dict[str, Any]]:
    records = await conn.fetch(
        "SELECT payment_id, source, amount, value_date, qr_reference, booked_at FROM payments "
        "WHERE status = 'unmatched' ORDER BY booked_at LIMIT $1",
        limit,
    )
    return [dict(r) for r in records]


async def save_import(
    conn: Connection,
    *,
    import_id: uuid.UUID,
    sha256: str,
    message_id: str,
    counts: dict[str, int],
    imported_at: datetime,
) -> bool:
    result = await conn.fetchval(
        """
        INSERT INTO payment_imports (import_id, sha256, message_id, entries, booked, duplicates,
                                     unmatched, imported_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (sha256) DO NOTHING RETURNING 1
        """,
        import_id,
        sha256,
        message_id,
        counts["entries"],
        counts["booked"],
        counts["duplicates"],
        counts["unmatched"],
        imported_at,
    )
    return result is not None


async def debtor_of(conn: Connection, employer_no: int) -> tuple[PostalAddress, str] | None:
    """The employer's invoice address and language, from the projection of auth's events."""
    r = await conn.fetchrow(
        "SELECT name, address, language FROM employers WHERE employer_no = $1", employer_no
    )
    if r is None:
        return None
    a = json.loads(r["address"])
    address = PostalAddress(
        name=r["name"],
        street=a["street"],
        house_no=a.get("house_no"),
        postcode=a["postcode"],
        town=a["town"],
        country=a["country"],
    )
    return address, r["language"]
