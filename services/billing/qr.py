"""QR references and QR-bills of the monthly invoice (RULES §8, Art. 20-21).

The ESR slip was retired in 2022; its successor is the QR-bill (SIX, Swiss Implementation
Guidelines QR-bill, version 2.3). An invoice is paid to the foundation's QR-IBAN with a
27-digit QR reference, whose last digit is a mod-10-recursive check digit (`stdnum.ch.esr`).

QR reference layout (26 digits of payload + 1 check digit), readable on the slip::

    EEEEEEEE SSSSSSSSSSSSSSSSSS C
    |        |                  +-- check digit, mod 10 recursive
    |        +-- the invoice's sequence number at that employer, zero-padded to 18 digits
    +-- employer number, zero-padded to 8 digits

Printed in blocks of five from the right: `00 01234 50000 00000 00000 00428` is employer 12345,
invoice 42.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from io import StringIO
from itertools import groupby
from typing import Any, Final, Literal

import qrcode
import qrcode.constants
import qrcode.image.svg
from qrbill import QRBill
from stdnum import iban
from stdnum.ch import esr

from .model import InvoiceDocument, PostalAddress

Language = Literal["de", "fr", "it", "en"]

EMPLOYER_DIGITS: Final = 8
SEQUENCE_DIGITS: Final = 18
REFERENCE_DIGITS: Final = EMPLOYER_DIGITS + SEQUENCE_DIGITS + 1

#: IG QR-bill (QR-IBAN): a QR-IBAN has an institution id (IID, digits 5-9) in 30000-31999.
QR_IID_RANGE: Final = range(30000, 32000)
#: IG QR-bill (data elements): amount 0.01-999,999,999.99.
MIN_AMOUNT: Final = Decimal("0.01")
MAX_AMOUNT: Final = Decimal("999999999.99")
#: IG QR-bill (data elements): unstructured message, at most 140 characters.
MAX_MESSAGE: Final = 140

INVOICE_WORD: Final[dict[Language, str]] = {
    "de": "Rechnung",
    "fr": "Facture",
    "it": "Fattura",
    "en": "Invoice",
}
PERIOD_WORD: Final[dict[Language, str]] = {
    "de": "Perioden",
    "fr": "Périodes",
    "it": "Periodi",
    "en": "Periods",
}
UNTIL_WORD: Final[dict[Language, str]] = {"de": "bis", "fr": "à", "it": "a", "en": "to"}


class QRBillError(ValueError):
    """An invoice that cannot become a valid QR-bill; `code` is stable, the message human."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidPayload(ValueError):
    """Text that is not a Swiss Payments Code (IG QR-bill, data elements)."""


def qr_reference(employer_no: int, sequence: int) -> str:
    """The 27-digit QR reference of an employer's invoice (layout in the module docstring).

    Raises ValueError when the employer number (1-99,999,999) or the sequence
    (0-999,999,999,999,999,999) does not fit its field.
    """
    if isinstance(employer_no, bool) or not 1 <= employer_no < 10**EMPLOYER_DIGITS:
        raise ValueError("an employer number must be 1 to 99,999,999 to fit a QR reference")
    if isinstance(sequence, bool) or not 0 <= sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(
            f"an invoice sequence must be 0 to 10^{SEQUENCE_DIGITS} - 1 to fit a QR reference"
        )
    payload = f"{employer_no:0{EMPLOYER_DIGITS}d}{sequence:0{SEQUENCE_DIGITS}d}"
    return payload + esr.calc_check_digit(payload)


def is_qr_reference(text: str) -> bool:
    """27 digits (spaces as printed allowed) whose last is the right check digit."""
    digits = text.replace(" ", "")
    return len(digits) == REFERENCE_DIGITS and digits.isascii() and esr.is_valid(digits)


def format_reference(reference: str) -> str:
    """The reference as printed: blocks of five digits from the right (`21 00000 ... 09017`)."""
    return esr.format(reference)


def is_qr_iban(account: str) -> bool:
    """A valid Swiss or Liechtenstein IBAN whose institution id is a QR-IID (IG QR-bill)."""
    if not iban.is_valid(account):
        return False
    compact = iban.compact(account)
    return compact[:2] in ("CH", "LI") and int(compact[4:9]) in QR_IID_RANGE


def qr_bill(doc: InvoiceDocument) -> Any:
    """The QR-bill (`qrbill.QRBill`) of an invoice, in the invoice's language.

    Account: the foundation's QR-IBAN; reference: the invoice's QR reference (type QRR);
    creditor and debtor as structured addresses (type S); additional information: the invoice
    number and its periods. A total of zero or less gives a bill *without an amount* (the
    QR-bill amount must be 0.01-999,999,999.99; the payer sees an empty amount field, and a
    credit is not something to pay). Text outside the QR-bill character set (IG QR-bill) is
    transliterated, so what is printed is what the code holds.

    Raises QRBillError (a ValueError) with a stable `code`: `not_qr_iban` for an account that
    is not a QR-IBAN (an ordinary IBAN cannot take a QR reference), `invalid_reference`,
    `amount_too_large`, `invalid_address`, `invalid_bill`.
    """
    account = doc.creditor.qr_iban
    if not iban.is_valid(account):
        raise QRBillError("not_qr_iban", "the creditor account is not a valid IBAN")
    if not is_qr_iban(account):
        raise QRBillError(
            "not_qr_iban",
            "the creditor account is an ordinary IBAN; a QR reference needs a QR-IBAN "
            f"(institution id {QR_IID_RANGE.start}-{QR_IID_RANGE.stop - 1})",
        )
    if not is_qr_reference(doc.qr_reference):
        raise QRBillError(
            "invalid_reference", "the QR reference must be 27 digits with a valid check digit"
        )
    amount = _amount(doc.total)
    try:
        creditor = _address(doc.creditor.address)
        debtor = _address(doc.debtor)
    except ValueError as error:
        raise QRBillError("invalid_address", str(error)) from error
    try:
        return _QRBill(
            account=account,
            creditor=creditor,
            debtor=debtor,
            amount=amount,
            currency=doc.currency,
            reference_number=doc.qr_reference.replace(" ", ""),
            additional_information=additional_information(doc),
            language=doc.language,
        )
    except ValueError as error:
        code = "invalid_address" if "address" in str(error) else "invalid_bill"
        raise QRBillError(code, str(error)) from error


def additional_information(doc: InvoiceDocument) -> str:
    """`Rechnung 2025-0007, Perioden 2025-01, 2025-02, 2025-03` (at most 140 characters;
    many periods shrink to `2025-01 bis 2025-12`)."""
    head = f"{INVOICE_WORD[doc.language]} {doc.invoice_no}"
    if not doc.periods:
        return permitted_text(head)[:MAX_MESSAGE]
    periods = ", ".join(doc.periods)
    text = f"{head}, {PERIOD_WORD[doc.language]} {periods}"
    if len(text) > MAX_MESSAGE:
        span = f"{min(doc.periods)} {UNTIL_WORD[doc.language]} {max(doc.periods)}"
        text = f"{head}, {PERIOD_WORD[doc.language]} {span}"
    return permitted_text(text)[:MAX_MESSAGE]


def slip_svg(doc: InvoiceDocument) -> str:
    """The receipt and payment part as SVG: 210 x 106 mm (the 105 mm slip under a 1 mm strip
    for the scissors symbol on the perforation line)."""
    out = StringIO()
    qr_bill(doc).as_svg(out)
    return out.getvalue()


def qr_payload(doc: InvoiceDocument) -> str:
    """The text encoded in the Swiss QR code (Swiss Payments Code, lines joined by CR LF)."""
    payload: str = qr_bill(doc).qr_data()
    return payload


ADDRESS_FIELDS: Final = (
    "address_type",
    "name",
    "street",
    "house_no",
    "postcode",
    "town",
    "country",
)
#: IG QR-bill (data elements): the 31 mandatory elements of the Swiss Payments Code, in order.
PAYLOAD_FIELDS: Final = (
    "qr_type",
    "version",
    "coding",
    "iban",
    *(f"creditor_{name}" for name in ADDRESS_FIELDS),
    *(f"ultimate_creditor_{name}" for name in ADDRESS_FIELDS),
    "amount",
    "currency",
    *(f"debtor_{name}" for name in ADDRESS_FIELDS),
    "reference_type",
    "reference",
    "message",
    "trailer",
)
OPTIONAL_FIELDS: Final = (
    "billing_information",
    "alternative_procedure_1",
    "alternative_procedure_2",
)


def read_payload(text: str) -> dict[str, str]:
    """The elements of a Swiss Payments Code by position (IG QR-bill v2.3, data elements).

    Keys are `PAYLOAD_FIELDS` (and `OPTIONAL_FIELDS` when present). An address of type K
    (combined) holds its two address lines in `..._line1` and `..._line2` instead of
    `..._street` and `..._house_no`. Lines are separated by CR LF or LF. Raises
    InvalidPayload when the header is not `SPC`, the trailer not `EPD`, or lines are
    missing or too many.
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if not len(PAYLOAD_FIELDS) <= len(lines) <= len(PAYLOAD_FIELDS) + len(OPTIONAL_FIELDS):
        raise InvalidPayload(
            f"a Swiss Payments Code has {len(PAYLOAD_FIELDS)} to "
            f"{len(PAYLOAD_FIELDS) + len(OPTIONAL_FIELDS)} lines, not {len(lines)}"
        )
    fields = dict(zip(PAYLOAD_FIELDS + OPTIONAL_FIELDS, lines, strict=False))
    if fields["qr_type"] != "SPC":
        raise InvalidPayload("a Swiss Payments Code starts with SPC")
    if fields["trailer"] != "EPD":
        raise InvalidPayload("a Swiss Payments Code has EPD as its 31st line")
    for party in ("creditor", "ultimate_creditor", "debtor"):
        if fields[f"{party}_address_type"] == "K":
            fields[f"{party}_line1"] = fields.pop(f"{party}_street")
            fields[f"{party}_line2"] = fields.pop(f"{party}_house_no")
    return fields


_TYPOGRAPHIC: Final = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),  # single quotation marks
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),  # double quotation marks
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"),  # hyphens, dashes, minus
        "\u2026": "...",
    }
)


def _is_permitted(char: str) -> bool:
    """IG QR-bill v2.3, character set: Basic Latin, Latin-1 Supplement, Latin Extended-A,
    Ș ș Ț ț and €."""
    code = ord(char)
    return 0x20 <= code <= 0x7E or 0xA0 <= code <= 0x17F or 0x218 <= code <= 0x21B or code == 0x20AC


def permitted_text(text: str) -> str:
    """`text` in the QR-bill character set: typographic quotes and dashes become ASCII, other
    characters outside the set lose their accents (NFKD) or become `?`."""
    text = text.translate(_TYPOGRAPHIC)
    if all(_is_permitted(char) for char in text):
        return text
    out = []
    for char in text:
        if _is_permitted(char):
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if _is_permitted(c))
        out.append(base or ("" if unicodedata.category(char).startswith("M") else "?"))
    return "".join(out)


def _address(address: PostalAddress) -> dict[str, str]:
    return {
        "name": permitted_text(address.name),
        "street": permitted_text(address.street),
        "house_num": permitted_text(address.house_no or ""),
        "pcode": permitted_text(address.postcode),
        "city": permitted_text(address.town),
        "country": address.country,
    }


def _amount(total: Decimal) -> Decimal | None:
    if total < MIN_AMOUNT:
        return None
    amount = total.quantize(MIN_AMOUNT)
    if amount > MAX_AMOUNT:
        raise QRBillError("amount_too_large", "a QR-bill amount cannot exceed 999,999,999.99")
    return amount


class _RunLengthPathImage(qrcode.image.svg.SvgPathImage):  # type: ignore[misc]
    """qrcode's single-path SVG with each horizontal run of dark modules as one rectangle
    instead of one square per module: the same picture in half the path, which
    keeps the SVG small and its import into the PDF fast."""

    needs_drawrect = False  # the runs are drawn in process()

    def process(self) -> None:
        scale = Decimal(self.box_size) / 10  # qrcode's SVG unit: box size 10 is 1 mm
        border = self.border
        for row, modules in enumerate(self.modules):
            y0, y1 = (row + border) * scale, (row + border + 1) * scale
            col = border
            for dark, run in groupby(modules):
                width = sum(1 for _ in run)
                if dark:
                    x0, x1 = col * scale, (col + width) * scale
                    self._subpaths.append(f"M{x0},{y0}H{x1}V{y1}H{x0}z")
                col += width
        super().process()


class _QRBill(QRBill):  # type: ignore[misc]
    def qr_image(self) -> Any:
        # IG QR-bill: error correction level M, as qrbill's own; qrbill lays the Swiss cross on it
        return qrcode.make(
            self.qr_data(),
            image_factory=_RunLengthPathImage,
            error_correction=qrcode.constants.ERROR_CORRECT_M,
            border=0,
        )
