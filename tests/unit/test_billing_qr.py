"""QR references and QR-bills (RULES §8; SIX Implementation Guidelines QR-bill v2.3)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.ch import esr

from services.billing import qr
from services.billing.model import Creditor, InvoiceDocument, InvoiceLine, PostalAddress

D = Decimal
#: A QR-IBAN (IID 31999) as in the SIX IG QR-bill examples.
QR_IBAN = "CH44 3199 9123 0008 8901 2"
#: An ordinary IBAN (IID 00762): valid, but it cannot take a QR reference.
PLAIN_IBAN = "CH93 0076 2011 6238 5295 7"

FOUNDATION = PostalAddress(
    name="Stiftung BVG Temporärarbeit",
    street="Bahnhofstrasse",
    house_no="1",
    postcode="8001",
    town="Zürich",
    country="CH",
)
EMPLOYER = PostalAddress(
    name="Genève Intérim Sàrl",
    street="Rue du Rhône",
    house_no="12",
    postcode="1204",
    town="Genève",
    country="CH",
)


def contribution(n: int, premium: str = "70.00") -> InvoiceLine:
    half = D(premium) / 2
    return InvoiceLine(
        kind="contribution",
        description=f"Beiträge Arbeitnehmer {n}",
        amount=D(premium),
        period="2025-01",
        worker=f"756.1234.5678.{n % 100:02d}",
        insured_wage=D("2000.00"),
        employer_share=half,
        employee_share=half,
    )


def document(
    *,
    lines: int | tuple[InvoiceLine, ...] = 3,
    total: Decimal | None = None,
    language: qr.Language = "de",
    debtor: PostalAddress = EMPLOYER,
    creditor_iban: str = QR_IBAN,
    periods: tuple[str, ...] = ("2025-01", "2025-02", "2025-03"),
    invoice_date: date = date(2025, 3, 31),
) -> InvoiceDocument:
    """A collective January-March invoice (Art. 20.2) of employer 12345, invoice 42."""
    items = tuple(contribution(n) for n in range(lines)) if isinstance(lines, int) else lines
    return InvoiceDocument(
        invoice_no="2025-000042",
        qr_reference=qr.qr_reference(12345, 42),
        invoice_date=invoice_date,
        due_date=date.fromordinal(invoice_date.toordinal() + 30),
        periods=periods,
        employer_no=12345,
        debtor=debtor,
        creditor=Creditor(qr_iban=creditor_iban, address=FOUNDATION),
        lines=items,
        total=sum((line.amount for line in items), D(0)) if total is None else total,
        language=language,
    )


# --- QR reference -----------------------------------------------------------------------

#: Published QR references (27 digits) with a valid check digit:
#: - `21 00000 00003 13947 14300 09017`: the SIX IG QR-bill example, quoted in the docstring of
#:   python-stdnum's `stdnum/ch/esr.py`;
#: - the others: "taken from actual payment slips", python-stdnum `tests/test_ch_esr.doctest`.
PUBLISHED = (
    "21 00000 00003 13947 14300 09017",
    "20 12440 00000 46370 02019 05153",
    "31 23711 80610 58530 00071 92101",
    "36 13030 00000 00000 00000 04142",
    "01 73575 51208 21125 03398 69724",
    "90 00170 00000 00214 95962 25686",
    "32 29790 00000 19151 00002 79617",
    "432130000000000573490016096",
)


@pytest.mark.parametrize("reference", PUBLISHED)
def test_published_references_have_the_check_digit_we_compute(reference: str) -> None:
    digits = reference.replace(" ", "")
    assert esr.calc_check_digit(digits[:-1]) == digits[-1]
    assert qr.is_qr_reference(reference)
    assert qr.is_qr_reference(digits)


@pytest.mark.parametrize(
    "text",
    [
        "21 00000 00003 13947 14300 09016",  # wrong check digit (stdnum's doctest)
        "2100000000031394714300090168",  # 28 digits
        "1009 76741 00001 47457 50114",  # a valid ESR reference, but not 27 digits
        "21000000000313947143000TE45",
        "",
    ],
    ids=["check-digit", "too-long", "too-short", "letters", "empty"],
)
def test_not_qr_references(text: str) -> None:
    assert not qr.is_qr_reference(text)


def test_reference_layout_employer_then_sequence_then_check_digit() -> None:
    reference = qr.qr_reference(12345, 42)
    assert reference == "00012345" + "000000000000000042" + "8"
    assert qr.format_reference(reference) == "00 01234 50000 00000 00000 00428"


@pytest.mark.parametrize(
    ("employer_no", "sequence"),
    [(1, 0), (1, 1), (12345, 42), (4711, 999_999), (99_999_999, 10**18 - 1), (20_000_001, 7)],
)
def test_reference_round_trip(employer_no: int, sequence: int) -> None:
    reference = qr.qr_reference(employer_no, sequence)
    assert len(reference) == 27
    assert reference.isdigit()
    assert qr.is_qr_reference(reference)
    assert esr.validate(reference).zfill(27) == reference  # stdnum drops leading zeros
    assert esr.validate(qr.format_reference(reference)).zfill(27) == reference
    assert int(reference[:8]) == employer_no
    assert int(reference[8:26]) == sequence


@given(
    employer_no=st.integers(1, 10**8 - 1),
    sequence=st.integers(0, 10**18 - 1),
    position=st.integers(0, 26),
    change=st.integers(1, 9),
)
def test_every_single_digit_error_is_caught(
    employer_no: int, sequence: int, position: int, change: int
) -> None:
    reference = qr.qr_reference(employer_no, sequence)
    assert qr.is_qr_reference(reference)
    digit = (int(reference[position]) + change) % 10
    wrong = reference[:position] + str(digit) + reference[position + 1 :]
    assert not qr.is_qr_reference(wrong)


@pytest.mark.parametrize(
    ("employer_no", "sequence"),
    [(0, 1), (-1, 1), (10**8, 1), (1, -1), (1, 10**18), (True, 1)],
    ids=["employer-0", "employer-negative", "employer-9-digits", "sequence-negative",
         "sequence-19-digits", "bool"],
)  # fmt: skip
def test_numbers_that_do_not_fit_are_refused(employer_no: int, sequence: int) -> None:
    with pytest.raises(ValueError, match="to fit a QR reference"):
        qr.qr_reference(employer_no, sequence)


# --- QR-bill and its payload ---------------------------------------------------------------


def test_payload_read_back_field_by_field() -> None:
    doc = document(lines=(contribution(1, "1000.00"), contribution(2, "234.50")))
    assert doc.total == D("1234.50")
    payload = qr.qr_payload(doc)
    assert "\r\n" in payload
    assert not payload.endswith("\n")
    fields = qr.read_payload(payload)
    assert fields == {
        "qr_type": "SPC",
        "version": "0200",
        "coding": "1",
        "iban": "CH4431999123000889012",
        "creditor_address_type": "S",
        "creditor_name": "Stiftung BVG Temporärarbeit",
        "creditor_street": "Bahnhofstrasse",
        "creditor_house_no": "1",
        "creditor_postcode": "8001",
        "creditor_town": "Zürich",
        "creditor_country": "CH",
        **{f"ultimate_creditor_{name}": "" for name in qr.ADDRESS_FIELDS},
        "amount": "1234.50",
        "currency": "CHF",
        "debtor_address_type": "S",
        "debtor_name": "Genève Intérim Sàrl",
        "debtor_street": "Rue du Rhône",
        "debtor_house_no": "12",
        "debtor_postcode": "1204",
        "debtor_town": "Genève",
        "debtor_country": "CH",
        "reference_type": "QRR",
        "reference": "000123450000000000000000428",
        "message": "Rechnung 2025-000042, Perioden 2025-01, 2025-02, 2025-03",
        "trailer": "EPD",
    }


@pytest.mark.parametrize(
    ("total", "amount"),
    [("1234.5", "1234.50"), ("0.01", "0.01"), ("1000000", "1000000.00"),
     ("999999999.99", "999999999.99")],
)  # fmt: skip
def test_amount_is_printed_with_two_decimals(total: str, amount: str) -> None:
    assert qr.read_payload(qr.qr_payload(document(total=D(total))))["amount"] == amount


@pytest.mark.parametrize("total", ["0", "0.00", "-0.01", "-150.00"])
def test_zero_or_negative_total_gives_a_bill_without_amount(total: str) -> None:
    doc = document(total=D(total))
    assert qr.qr_bill(doc).amount is None
    fields = qr.read_payload(qr.qr_payload(doc))
    assert fields["amount"] == ""
    assert fields["reference"] == doc.qr_reference
    svg = qr.slip_svg(doc)
    assert "Betrag" in svg  # the field stays, empty, for the payer to fill in
    assert re.search(r">[\d ]+\.\d\d<", svg) is None  # no amount printed


def test_amount_too_large() -> None:
    with pytest.raises(qr.QRBillError) as error:
        qr.qr_bill(document(total=D("1000000000.00")))
    assert error.value.code == "amount_too_large"


@pytest.mark.parametrize(
    "language",
    ["de", "fr", "it", "en"],
)
def test_language_of_the_bill(language: qr.Language) -> None:
    doc = document(language=language)
    bill = qr.qr_bill(doc)
    assert bill.language == language
    heading = {"de": "Zahlteil", "fr": "Section paiement", "it": "Sezione pagamento"}
    svg = qr.slip_svg(doc)
    assert heading.get(language, "Payment part") in svg
    word = {"de": "Rechnung", "fr": "Facture", "it": "Fattura", "en": "Invoice"}[language]
    assert qr.read_payload(qr.qr_payload(doc))["message"].startswith(f"{word} 2025-000042")


def test_umlauts_and_accents_survive() -> None:
    debtor = PostalAddress(
        name="Müller & Söhne Personalverleih AG",
        street="Zürichstrasse",
        house_no="7a",
        postcode="8004",
        town="Zürich",
        country="CH",
    )
    fields = qr.read_payload(qr.qr_payload(document(debtor=debtor)))
    assert fields["debtor_name"] == "Müller & Söhne Personalverleih AG"
    assert fields["debtor_street"] == "Zürichstrasse"
    assert fields["debtor_town"] == "Zürich"
    assert fields["creditor_town"] == "Zürich"
    svg = qr.slip_svg(document(debtor=debtor))
    assert "Müller &amp; Söhne Personalverleih AG" in svg
    assert "CH-8004 Zürich" in svg


def test_foreign_debtor_and_no_house_number() -> None:
    debtor = PostalAddress("Interim GmbH", "Hauptstraße", None, "79539", "Lörrach", "DE")
    fields = qr.read_payload(qr.qr_payload(document(debtor=debtor)))
    assert fields["debtor_house_no"] == ""
    assert fields["debtor_country"] == "DE"
    assert fields["debtor_street"] == "Hauptstraße"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zürich Genève Ärger çà", "Zürich Genève Ärger çà"),
        ("Łódź", "Łódź"),  # Latin Extended-A is in the set
        ("Ștefan Țară", "Ștefan Țară"),
        ("Nguyễn Văn", "Nguyen Văn"),  # ễ is not: its accents go
        ("\u201cAlpha\u201d \u2013 \u2018Beta\u2019\u2026", "\"Alpha\" - 'Beta'..."),
        ("Иван", "????"),
    ],
)
def test_text_outside_the_qr_bill_character_set(text: str, expected: str) -> None:
    assert qr.permitted_text(text) == expected


def test_normal_iban_where_a_qr_iban_is_required() -> None:
    with pytest.raises(qr.QRBillError, match="QR-IBAN") as error:
        qr.qr_bill(document(creditor_iban=PLAIN_IBAN))
    assert error.value.code == "not_qr_iban"
    assert isinstance(error.value, ValueError)
    assert not qr.is_qr_iban(PLAIN_IBAN)
    assert qr.is_qr_iban(QR_IBAN)


def test_invalid_iban() -> None:
    with pytest.raises(qr.QRBillError) as error:
        qr.qr_bill(document(creditor_iban="CH44 3199 9123 0008 8901 3"))
    assert error.value.code == "not_qr_iban"


def test_invalid_reference() -> None:
    doc = replace(document(), qr_reference="000123450000000000000000427")
    with pytest.raises(qr.QRBillError) as error:
        qr.qr_bill(doc)
    assert error.value.code == "invalid_reference"


def test_invalid_address() -> None:
    debtor = replace(EMPLOYER, town="")
    with pytest.raises(qr.QRBillError, match="debtor") as error:
        qr.qr_bill(document(debtor=debtor))
    assert error.value.code == "invalid_address"


def test_many_periods_shrink_to_a_span() -> None:
    periods = tuple(f"2024-{month:02d}" for month in range(1, 13)) + ("2025-01",) * 5
    doc = document(periods=periods)
    message = qr.read_payload(qr.qr_payload(doc))["message"]
    assert message == "Rechnung 2025-000042, Perioden 2024-01 bis 2025-01"
    assert len(qr.additional_information(doc)) <= 140


# --- reading a Swiss Payments Code ---------------------------------------------------------


def spc(*, amount: str = "10.00", tail: tuple[str, ...] = ()) -> list[str]:
    return [
        "SPC", "0200", "1", "CH4431999123000889012",
        "K", "Stiftung", "Bahnhofstrasse 1", "8001 Zürich", "", "", "CH",
        "", "", "", "", "", "", "",
        amount, "CHF",
        "", "", "", "", "", "", "",
        "QRR", "210000000003139471430009017", "", "EPD", *tail,
    ]  # fmt: skip


def test_read_combined_address_and_optional_fields_with_lf() -> None:
    text = "\n".join(spc(tail=("//S1/10/2025-000042", "eBill/B/x@example.ch")))
    fields = qr.read_payload(text)
    assert fields["creditor_address_type"] == "K"
    assert fields["creditor_line1"] == "Bahnhofstrasse 1"
    assert fields["creditor_line2"] == "8001 Zürich"
    assert "creditor_street" not in fields
    assert fields["debtor_address_type"] == ""
    assert fields["billing_information"] == "//S1/10/2025-000042"
    assert fields["alternative_procedure_1"] == "eBill/B/x@example.ch"
    assert "alternative_procedure_2" not in fields


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (spc()[:-1], "31 to 34 lines"),
        (spc(tail=("a", "b", "c", "d")), "31 to 34 lines"),
        (["BCD", *spc()[1:]], "starts with SPC"),
        ([*spc()[:-1], "EOD"], "EPD"),
    ],
    ids=["missing-line", "too-many-lines", "header", "trailer"],
)
def test_not_a_swiss_payments_code(lines: list[str], message: str) -> None:
    with pytest.raises(qr.InvalidPayload, match=message):
        qr.read_payload("\r\n".join(lines))
