"""An invoice as it is printed: what the QR-bill, the PDF and the API share (RULES §8).

No I/O here; amounts are Decimal in CHF, to the Rappen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

LineKind = Literal["contribution", "correction", "fee", "interest", "credit"]


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A structured address (QR-bills accept only structured ones since November 2025)."""

    name: str
    street: str
    house_no: str | None
    postcode: str
    town: str
    country: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class Creditor:
    """The foundation as payee: its QR-IBAN and address (settings)."""

    qr_iban: str
    address: PostalAddress


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line: a worker's contribution for a period, a correction, a fee or interest.

    `worker` is the AHV number for contribution and correction lines (printed on the invoice,
    which goes to the employer only; never logged). `amount` is what the line adds to the
    invoice total (the total premium for a contribution line; negative for a credit).
    """

    kind: LineKind
    description: str
    amount: Decimal
    period: str | None = None
    worker: str | None = None
    insured_wage: Decimal | None = None
    employer_share: Decimal | None = None
    employee_share: Decimal | None = None


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """Everything printed on one invoice and its QR-bill."""

    invoice_no: str
    qr_reference: str  # 27 digits, the last a mod-10-recursive check digit
    invoice_date: date
    due_date: date
    periods: tuple[str, ...]
    employer_no: int
    debtor: PostalAddress
    creditor: Creditor
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    language: Literal["de", "fr", "it", "en"] = "de"
    currency: Literal["CHF"] = "CHF"
