"""Events of billing: invoices, due dates, payments, balances (RULES §8)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.values import Money, Payload, Period

#: 27-digit QR reference, the last digit its mod-10-recursive check digit (`stdnum.ch.esr`).
QrReference = Annotated[str, StringConstraints(pattern=r"^\d{27}$")]


class InvoiceIssuedPayload(Payload):
    """An invoice of contributions (and fees) was issued."""

    invoice_id: uuid.UUID = Field(description="Id of the invoice.")
    invoice_no: str = Field(min_length=1, max_length=35, description="Invoice number, printed.")
    qr_reference: QrReference = Field(description="QR reference of the invoice's QR-bill.")
    invoice_date: date = Field(description="Invoice date = booking date (Art. 21).")
    due_date: date = Field(description="Invoice date + 30 days (Art. 21).")
    periods: list[Period] = Field(
        min_length=1, description="Pay periods invoiced; January-March together (Art. 20.2)."
    )
    total: Money = Field(description="Invoice total.")
    currency: Literal["CHF"] = Field(default="CHF", description="Currency of every amount.")
    contributions: bool = Field(
        default=True,
        description="The invoice bills the contributions of `periods`. False for an invoice of "
        "pending lines only (fees, interest, corrections, credits): its `periods` is the month "
        "it was issued in, whose list is not invoiced by it and can still be replaced.",
    )


class InvoiceIssued(Envelope):
    """An invoice was issued."""

    TOPIC: ClassVar[str] = "billing.invoice-issued.v1"
    type: Annotated[Literal["billing.invoice-issued"], TYPE_FIELD] = "billing.invoice-issued"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[InvoiceIssuedPayload, PAYLOAD_FIELD]


class InvoiceDuePayload(Payload):
    """An invoice passed its due date unpaid."""

    invoice_id: uuid.UUID = Field(description="Id of the invoice.")
    due_date: date = Field(description="The due date that passed.")
    open_amount: Money = Field(description="Amount of the invoice still open.")


class InvoiceDue(Envelope):
    """An invoice is due and not fully paid (start of the payment ladder, Art. 23)."""

    TOPIC: ClassVar[str] = "billing.invoice-due.v1"
    type: Annotated[Literal["billing.invoice-due"], TYPE_FIELD] = "billing.invoice-due"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[InvoiceDuePayload, PAYLOAD_FIELD]


class PaymentReceivedPayload(Payload):
    """A payment was booked for the employer."""

    payment_id: uuid.UUID = Field(description="Id of the payment.")
    amount: Money = Field(description="Amount paid.")
    value_date: date = Field(description="Value date of the credit.")
    qr_reference: QrReference | None = Field(
        description="QR reference the payment carried; null for manual entries without one."
    )
    invoice_id: uuid.UUID | None = Field(
        description="Invoice the payment was matched to; null if none (credit on account)."
    )
    source: Literal["camt054", "manual"] = Field(
        description="camt.054 import or manual entry by an operator."
    )


class PaymentReceived(Envelope):
    """A payment was received and booked."""

    TOPIC: ClassVar[str] = "billing.payment-received.v1"
    type: Annotated[Literal["billing.payment-received"], TYPE_FIELD] = "billing.payment-received"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[PaymentReceivedPayload, PAYLOAD_FIELD]


class BalanceChangedPayload(Payload):
    """The employer's balance after an invoice, payment, fee or interest booking."""

    open_balance: Money = Field(
        description="Everything invoiced and not paid; negative for a credit."
    )
    overdue_balance: Money = Field(description="Part of the open balance past its due date.")
    as_of: date = Field(description="Business date of the balance.")


class BalanceChanged(Envelope):
    """The employer's balance changed."""

    TOPIC: ClassVar[str] = "billing.balance-changed.v1"
    type: Annotated[Literal["billing.balance-changed"], TYPE_FIELD] = "billing.balance-changed"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[BalanceChangedPayload, PAYLOAD_FIELD]
