"""HTTP API of billing: the employer's invoices, PDF and QR slip, account statement (topic
`contributions`, level 2); operators import camt.054 files and enter payments (level 3)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.runtime.access import Principal, require
from services.runtime.errors import ApiError
from services.runtime.handlers import business_day
from services.runtime.http import read_body
from services.runtime.service import Runtime, get_runtime

from . import store
from .camt import CamtError
from .handlers import CreditIn, book_payments, import_notification
from .model import Creditor, InvoiceDocument, PostalAddress
from .pdf import render_invoice_pdf
from .qr import slip_svg

router = APIRouter(tags=["billing"])

EmployerNo = Annotated[int, Path(ge=1, le=99_999_999, description="Employer number.")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Reader = Annotated[Principal, Depends(require("invoices.read"))]
Operator = Annotated[Principal, Depends(require("operator"))]

#: Largest camt.054 file accepted (a day of a large bank account is a few MB).
MAX_CAMT_BYTES = 50 * 1024 * 1024


def _invoice_json(invoice: store.Invoice) -> dict[str, Any]:
    return {
        "invoice_id": str(invoice.invoice_id),
        "invoice_no": invoice.invoice_no,
        "qr_reference": invoice.qr_reference,
        "invoice_date": invoice.invoice_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "periods": list(invoice.periods),
        "total": str(invoice.total),
        "paid": str(invoice.paid),
        "open": str(invoice.open_amount),
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@router.get("/employers/{employer_no}/invoices", summary="The employer's invoices, newest first")
async def invoices(
    employer_no: EmployerNo, runtime: RuntimeDep, principal: Reader
) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return [_invoice_json(i) for i in await store.invoices_of(conn, employer_no)]


async def _invoice_of(runtime: Runtime, employer_no: int, invoice_id: uuid.UUID) -> store.Invoice:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        found = await store.get_invoice(conn, invoice_id)
    if found is None or found.employer_no != employer_no:
        raise ApiError(404, "invoice.not_found", "There is no such invoice for this employer.")
    return found


@router.get("/employers/{employer_no}/invoices/{invoice_id}", summary="One invoice with its lines")
async def invoice(
    employer_no: EmployerNo, invoice_id: uuid.UUID, runtime: RuntimeDep, principal: Reader
) -> dict[str, Any]:
    found = await _invoice_of(runtime, employer_no, invoice_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        lines = await store.invoice_lines(conn, invoice_id)
    return _invoice_json(found) | {
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "period": line.period,
                "worker": line.worker,
                "insured_wage": _money(line.insured_wage),
                "employer_share": _money(line.employer_share),
                "employee_share": _money(line.employee_share),
                "amount": str(line.amount),
            }
            for line in lines
        ]
    }


async def _document(runtime: Runtime, found: store.Invoice) -> InvoiceDocument:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        lines = await store.invoice_lines(conn, found.invoice_id)
        debtor = await store.debtor_of(conn, found.employer_no)
    if debtor is None:
        raise ApiError(
            409, "invoice.no_address", "The employer's address is not known yet; try again soon."
        )
    address, language = debtor
    s = runtime.settings
    creditor = Creditor(
        qr_iban=s.billing_qr_iban,
        address=PostalAddress(
            name=s.billing_creditor_name,
            street=s.billing_creditor_street,
            house_no=s.billing_creditor_house_no,
            postcode=s.billing_creditor_postcode,
            town=s.billing_creditor_town,
            country=s.billing_creditor_country,
        ),
    )
    return InvoiceDocument(
        invoice_no=found.invoice_no,
        qr_reference=found.qr_reference,
        invoice_date=found.invoice_date,
        due_date=found.due_date,
        periods=found.periods,
        employer_no=found.employer_no,
        debtor=address,
        creditor=creditor,
        lines=tuple(lines),
        total=found.total,
        language=language if language in ("de", "fr", "it", "en") else "de",  # type: ignore[arg-type]
    )


@router.get(
    "/employers/{employer_no}/invoices/{invoice_id}/invoice.pdf",
    summary="The invoice as PDF: cover, lines, QR-bill",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def invoice_pdf(
    employer_no: EmployerNo, invoice_id: uuid.UUID, runtime: RuntimeDep, principal: Reader
) -> Response:
    document = await _document(runtime, await _invoice_of(runtime, employer_no, invoice_id))
    pdf = await asyncio.to_thread(render_invoice_pdf, document)
    name = f"invoice-{document.invoice_no}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/employers/{employer_no}/invoices/{invoice_id}/qr-bill.svg",
    summary="The QR-bill payment slip as SVG",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def invoice_slip(
    employer_no: EmployerNo, invoice_id: uuid.UUID, runtime: RuntimeDep, principal: Reader
) -> Response:
    document = await _document(runtime, await _invoice_of(runtime, employer_no, invoice_id))
    return Response(await asyncio.to_thread(slip_svg, document), media_type="image/svg+xml")


@router.get("/employers/{employer_no}/statement", summary="Account statement and balance")
async def statement(
    employer_no: EmployerNo, runtime: RuntimeDep, principal: Reader
) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        today = await business_day(conn, fallback=runtime.clock.now())
        found = await store.invoices_of(conn, employer_no)
        payments = await store.payments_of(conn, employer_no)
        pending = await store.pending_lines(conn, employer_no)
        balance = await store.balance(conn, employer_no, today)
    return {
        "employer_no": employer_no,
        "as_of": today.isoformat(),
        "open_balance": str(balance.open_balance),
        "overdue_balance": str(balance.overdue_balance),
        "open_items": [_invoice_json(i) for i in found if i.open_amount != 0],
        "invoices": [_invoice_json(i) for i in found],
        "payments": [
            {
                "payment_id": str(p["payment_id"]),
                "source": p["source"],
                "amount": str(p["amount"]),
                "applied": str(p["applied"]),
                "value_date": p["value_date"].isoformat(),
                "invoice_id": None if p["invoice_id"] is None else str(p["invoice_id"]),
            }
            for p in payments
        ],
        "pending": [
            {"kind": line.kind, "description": line.description, "amount": str(line.amount)}
            for _, line in pending
        ],
    }


# -- operators ------------------------------------------------------------------------------


@router.post("/payments/camt054", summary="Import a camt.054 credit notification (operators)")
async def import_camt(request: Request, runtime: RuntimeDep, principal: Operator) -> dict[str, Any]:
    body = await read_body(request, MAX_CAMT_BYTES)
    if len(body) > MAX_CAMT_BYTES:
        raise ApiError(413, "camt.too_large", "The file is larger than 50 MB.")
    try:
        return await import_notification(runtime.unit_of_work, body, now=runtime.clock.now())
    except CamtError as exc:
        raise ApiError(422, exc.code, exc.message) from None


class ManualPayment(BaseModel):
    """A payment an operator enters by hand (e.g. a transfer without a QR reference)."""

    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    value_date: date
    booking_id: str = Field(min_length=1, max_length=100, description="The bank's reference.")
    qr_reference: str | None = Field(default=None, pattern=r"^\d{27}$")
    invoice_id: uuid.UUID | None = None
    employer_no: int | None = Field(default=None, ge=1)


@router.post("/payments", summary="Enter a payment by hand (operators)", status_code=201)
async def manual_payment(
    body: ManualPayment, runtime: RuntimeDep, principal: Operator
) -> dict[str, Any]:
    if body.qr_reference is None and body.invoice_id is None and body.employer_no is None:
        raise ApiError(
            422, "payment.unassigned", "Name the QR reference, the invoice or the employer."
        )
    async with runtime.unit_of_work() as uow:
        [outcome] = await book_payments(
            uow,
            [
                CreditIn(
                    booking_id=f"manual:{body.booking_id}",
                    source="manual",
                    amount=body.amount,
                    value_date=body.value_date,
                    qr_reference=body.qr_reference,
                    invoice_id=body.invoice_id,
                    employer_no=body.employer_no,
                )
            ],
            now=runtime.clock.now(),
            correlation_id=f"manual:{body.booking_id}",
        )
    return {"outcome": outcome}


@router.get("/payments/unmatched", summary="Payments no invoice could be found for (operators)")
async def unmatched(
    runtime: RuntimeDep,
    principal: Operator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        found = await store.unmatched_payments(conn, limit)
    return [
        {
            "payment_id": str(p["payment_id"]),
            "amount": str(p["amount"]),
            "value_date": p["value_date"].isoformat(),
            "qr_reference": p["qr_reference"],
        }
        for p in found
    ]
