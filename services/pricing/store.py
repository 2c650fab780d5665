"""Typed SQL of the pricing service: priced rows and lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.runtime.db import Connection
from services.runtime.outbox import UnitOfWork

from .domain import PricedRow

DEFAULT_EMPLOYER_SHARE = Decimal("0.5")  # RULES §3.6: the plan's default split

SAVE_PRICED_ROW = """
    INSERT INTO priced_rows (upload_id, row_no, employer_no, period, subject, insured_wage,
        premium_total, employer_share, employee_share, savings_part, rate, parameter_version,
        correction, event_id)
    SELECT * FROM unnest($1::uuid[], $2::integer[], $3::integer[], $4::text[], $5::boolean[],
        $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],
        $11::numeric[], $12::text[], $13::boolean[], $14::uuid[])
    ON CONFLICT (upload_id, row_no) DO NOTHING
"""


@dataclass(frozen=True)
class PricedList:
    """A list whose every row is priced, with its totals."""

    upload_id: uuid.UUID
    employer_no: int
    period: str
    row_count: int
    corrections: int
    insured_wage: Decimal
    premium_total: Decimal
    employer_share: Decimal
    employee_share: Decimal


async def employer_share(conn: Connection, employer_no: int) -> Decimal:
    """The employer's part of the premium from its plan; ½ for an employer not yet projected."""
    share = await conn.fetchval(
        "SELECT employer_share FROM employers WHERE employer_no = $1", employer_no
    )
    return DEFAULT_EMPLOYER_SHARE if share is None else Decimal(share)


def save_priced_row(
    uow: UnitOfWork,
    *,
    upload_id: uuid.UUID,
    row_no: int,
    employer_no: int,
    period: str,
    priced: PricedRow,
    correction: bool,
    event_id: uuid.UUID,
) -> None:
    """Store a priced row with the batch's other rows (one statement); a row priced before
    stays as it was."""
    uow.defer_rows(
        SAVE_PRICED_ROW,
        upload_id,
        row_no,
        employer_no,
        period,
        priced.subject,
        priced.insured_wage,
        priced.premium_total,
        priced.employer_share,
        priced.employee_share,
        priced.savings_part,
        priced.rate,
        priced.parameter_version,
        correction,
        event_id,
    )


async def save_list_checked(
    conn: Connection,
    *,
    upload_id: uuid.UUID,
    employer_no: int,
    period: str,
    status: str,
    row_count: int,
) -> None:
    await conn.execute(
        "INSERT INTO price_lists (upload_id, employer_no, period, status, row_count) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (upload_id) DO UPDATE SET "
        "status = EXCLUDED.status, row_count = EXCLUDED.row_count",
        upload_id,
        employer_no,
        period,
        status,
        row_count,
    )


async def complete_list(conn: Connection, upload_id: uuid.UUID, at: datetime) -> PricedList | None:
    """Mark the list priced once its check said ok and all its rows are priced.

    Returns it the one time it becomes complete, else None. A lock per list makes the
    check of the list and the pricing of its last rows see each other's writes, whichever
    transaction commits first.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"price-list:{upload_id}"
    )
    row = await conn.fetchrow(
        """
        SELECT l.employer_no, l.period, l.status, l.row_count, l.completed_at,
               count(r.row_no) AS priced,
               count(r.row_no) FILTER (WHERE r.correction) AS corrections,
               coalesce(sum(r.insured_wage), 0) AS insured_wage,
               coalesce(sum(r.premium_total), 0) AS premium_total,
               coalesce(sum(r.employer_share), 0) AS employer_share,
               coalesce(sum(r.employee_share), 0) AS employee_share
        FROM price_lists l LEFT JOIN priced_rows r ON r.upload_id = l.upload_id
        WHERE l.upload_id = $1
        GROUP BY l.upload_id
        """,
        upload_id,
    )
    if row is None or row["status"] != "ok" or row["completed_at"] is not None:
        return None
    if row["priced"] < row["row_count"]:
        return None
    await conn.execute(
        "UPDATE price_lists SET completed_at = $2 WHERE upload_id = $1", upload_id, at
    )
    return PricedList(
        upload_id=upload_id,
        employer_no=row["employer_no"],
        period=row["period"],
        row_count=row["priced"],
        corrections=row["corrections"],
        insured_wage=row["insured_wage"],
        premium_total=row["premium_total"],
        employer_share=row["employer_share"],
        employee_share=row["employee_share"],
    )
