"""The invoice PDF: cover, lines, QR-bill page (RULES §8, Art. 20-21)."""

from __future__ import annotations

import re
import zlib
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
import qrcode
import qrcode.constants

from services.billing import pdf, qr
from services.billing.model import InvoiceDocument, InvoiceLine, PostalAddress
from tests.unit.test_billing_qr import EMPLOYER, PLAIN_IBAN, contribution, document

D = Decimal


def pages(data: bytes) -> list[bytes]:
    """The content stream of each page, decompressed, in page order."""
    objects = {
        int(number): body
        for number, body in re.findall(rb"(?m)^(\d+) 0 obj\n(.*?)endobj", data, re.S)
    }
    streams = []
    for body in objects.values():
        if re.search(rb"/Type /Page\n", body):
            contents = int(re.search(rb"/Contents (\d+) 0 R", body)[1])  # type: ignore[index]
            stream = re.search(rb"stream\n(.*)\nendstream", objects[contents], re.S)
            assert stream is not None
            raw = stream[1]
            filtered = b"/FlateDecode" in objects[contents].split(b"stream")[0]
            streams.append(zlib.decompress(raw) if filtered else raw)
    return streams


def texts(stream: bytes) -> list[str]:
    """The strings shown on a page (`(...) Tj`), decoded as the built-in fonts print them."""
    shown = re.findall(rb"\(((?:[^()\\]|\\.)*)\) ?Tj", stream, re.S)
    return [re.sub(rb"\\(.)", rb"\1", text).decode(pdf.ENCODING) for text in shown]


def page_texts(data: bytes) -> list[str]:
    return ["\n".join(texts(stream)) for stream in pages(data)]


@pytest.fixture(scope="module")
def three_lines() -> bytes:
    return pdf.render_invoice_pdf(document(lines=3))


def test_a_pdf_with_cover_lines_and_payment_page(three_lines: bytes) -> None:
    assert three_lines.startswith(b"%PDF-")
    assert three_lines.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\n", three_lines)) == 3
    assert len(pages(three_lines)) == 3
    assert b"/MediaBox [0 0 595.28 841.89]" in three_lines  # A4 in points


@pytest.mark.parametrize(
    ("lines", "count"),
    [(0, 2), (1, 3), (48, 3), (49, 4), (100, 5), (250, 8)],
)
def test_page_count_is_cover_line_pages_and_payment_page(lines: int, count: int) -> None:
    assert pdf.page_count(lines) == count
    data = pdf.render_invoice_pdf(document(lines=lines))
    assert len(pages(data)) == count


def test_cover_shows_numbers_dates_and_totals() -> None:
    lines = (
        contribution(1, "1000.00"),
        contribution(2, "234.50"),
        InvoiceLine("correction", "Korrektur 2024-12", D("-40.00"), "2024-12", "756.9999.8888.77"),
        InvoiceLine("fee", "Manuelle Erfassung (Art. 24)", D("50.00")),
        InvoiceLine("interest", "Verzugszins 6 %", D("12.35")),
    )
    doc = document(lines=lines)
    cover = page_texts(pdf.render_invoice_pdf(doc))[0]
    for expected in (
        "Rechnung 2025-000042",
        "31.03.2025",  # invoice date
        "30.04.2025",  # due date: + 30 days (Art. 21)
        "12345",
        "2025-01, 2025-02, 2025-03",
        "00 01234 50000 00000 00000 00428",
        "Beiträge",
        "1'234.50",
        "Korrekturen",
        "-40.00",
        "Gebühren",
        "50.00",
        "Verzugszinsen",
        "12.35",
        "Total zu bezahlen",
        "1'256.85",
        "Genève Intérim Sàrl",
        "Rue du Rhône 12",
        "1204 Genève",
        "Stiftung BVG Temporärarbeit",
    ):
        assert expected in cover, expected
    assert "innert 30 Tagen" in cover
    assert "Gutschriften" not in cover  # no credit lines, no credit row


@pytest.mark.parametrize(
    ("language", "terms", "header"),
    [
        ("de", "Zahlbar innert 30 Tagen", "AHV-Nr."),
        ("fr", "Payable dans les 30 jours", "N° AVS"),
        ("it", "Pagabile entro 30 giorni", "N. AVS"),
        ("en", "Payable within 30 days", "AHV no."),
    ],
)
def test_language(language: qr.Language, terms: str, header: str) -> None:
    texts_ = page_texts(pdf.render_invoice_pdf(document(language=language)))
    assert terms in texts_[0]
    assert "(Art. 21" in texts_[0] or "(art. 21" in texts_[0]
    assert header in texts_[1]


def test_250_lines_paginate_with_the_header_on_every_page() -> None:
    lines = tuple(contribution(n, f"{n + 1}.00") for n in range(250))
    doc = document(lines=lines)
    data = pdf.render_invoice_pdf(doc)
    texts_ = page_texts(data)
    assert len(texts_) == 1 + 6 + 1
    line_pages = texts_[1:-1]
    for number, text in enumerate(line_pages):
        assert "AHV-Nr." in text
        assert "Beschreibung" in text
        first = number * pdf.LINES_PER_PAGE
        assert f"Beiträge Arbeitnehmer {first}\n" in text
    assert "Beiträge Arbeitnehmer 249\n" in line_pages[-1]
    assert "Beiträge Arbeitnehmer 240\n" not in line_pages[-2]
    assert "Total\n" + pdf._money(doc.total) in line_pages[-1]
    assert doc.total == D("31375.00")
    assert "31'375.00" in line_pages[-1]
    assert all("Total\n" not in text for text in line_pages[:-1])


def test_line_columns() -> None:
    line = InvoiceLine(
        kind="contribution",
        description="Beiträge Januar",
        amount=D("171.60"),
        period="2025-01",
        worker="756.1234.5678.97",
        insured_wage=D("4290.00"),
        employer_share=D("85.80"),
        employee_share=D("85.80"),
    )
    text = page_texts(pdf.render_invoice_pdf(document(lines=(line,))))[1]
    assert "2025-01\n756.1234.5678.97\nBeiträge Januar\n4'290.00\n85.80\n85.80\n171.60" in text


def test_long_descriptions_are_cut_to_their_column() -> None:
    line = InvoiceLine("fee", "Gebühr " + "sehr lange Beschreibung " * 10, D("50.00"))
    text = page_texts(pdf.render_invoice_pdf(document(lines=(line,))))[1]
    assert "Gebühr sehr lange" in text
    assert "...\n50.00" in text


def test_umlauts_and_accents_survive() -> None:
    debtor = PostalAddress("Bäckerei Müller & Söhne", "Öschweg", "3", "8953", "Dietikon", "CH")
    line = replace(contribution(1), description="ÄÖÜäöüéèàç œ €")
    data = pdf.render_invoice_pdf(document(debtor=debtor, lines=(line,)))
    cover, lines, payment = page_texts(data)
    assert "Bäckerei Müller & Söhne" in cover
    assert "Öschweg 3" in cover
    assert "ÄÖÜäöüéèàç œ €" in lines
    assert "Bäckerei Müller & Söhne" in payment  # on the slip too
    assert "Stiftung BVG Temporärarbeit" in payment
    assert "CH-8001 Zürich" in payment


def test_characters_the_fonts_lack_are_transliterated_on_the_slip_and_in_its_code() -> None:
    debtor = PostalAddress("Łukasz Nowak Sp.", "ulica Dąbrowskiego", "5", "90-001", "Łódź", "PL")
    doc = document(debtor=debtor)
    data = pdf.render_invoice_pdf(doc)
    assert "Lukasz Nowak Sp." in page_texts(data)[0]
    payment = page_texts(data)[-1]
    assert "Lukasz Nowak Sp." in payment
    assert "PL-90-001 Lódz" in payment  # ó is in Windows-1252, Ł and ź are not
    printed = replace(
        doc,
        debtor=replace(debtor, name="Lukasz Nowak Sp.", street="ulica Dabrowskiego", town="Lódz"),
    )
    assert drawn_qr_code(data) == modules(qr.qr_payload(printed))


def test_payment_page_holds_the_slip(three_lines: bytes) -> None:
    payment = page_texts(three_lines)[-1]
    for expected in (
        "Empfangsschein",
        "Zahlteil",
        "Konto / Zahlbar an",
        "CH44 3199 9123 0008 8901 2",
        "00 01234 50000 00000 00000 00428",
        "Zusätzliche Informationen",
        "Rechnung 2025-000042, Perioden 2025-01, 2025-02, 2025-03",
        "Zahlbar durch",
        "CH-1204 Genève",
        "Währung",
        "210.00",
        "Annahmestelle",
    ):
        assert expected in payment, expected
    assert "Seite" not in payment  # no footer inside the payment part


def modules(payload: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) of the QR code of `payload`, as qrbill makes it."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(payload)
    code.make(fit=True)
    return {
        (row, col)
        for row, cells in enumerate(code.modules)
        for col, dark in enumerate(cells)
        if dark
    }


def rectangles(stream: bytes) -> list[tuple[float, float, float, float]]:
    """Filled rectangles drawn top-down (x, y, width, height in points), as `FPDF.rect` writes."""
    found = re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) -([\d.]+) re f", stream)
    return [(float(x), float(y), float(w), float(h)) for x, y, w, h in found]


def drawn_qr_code(data: bytes) -> set[tuple[int, int]]:
    """The modules drawn as filled rectangles on the last page, read back from the PDF."""
    runs = rectangles(pages(data)[-1])
    size = min(height for *_, height in runs)  # a module, in points
    left = min(x for x, *_ in runs)
    top = max(y for _, y, *_ in runs)
    dark: set[tuple[int, int]] = set()
    for x, y, width, height in runs:
        assert round(height / size) == 1
        row = round((top - y) / size)
        first, last = round((x - left) / size), round((x + width - left) / size)
        dark.update((row, col) for col in range(first, last))
    return dark


def test_the_drawn_qr_code_holds_the_payload(three_lines: bytes) -> None:
    drawn = drawn_qr_code(three_lines)
    assert drawn == modules(qr.qr_payload(document(lines=3)))
    module = min(height for *_, height in rectangles(pages(three_lines)[-1]))
    side = max(col for _, col in drawn) + 1
    assert 45 < side * module / 72 * 25.4 < 46.5  # IG QR-bill: 46 x 46 mm


def test_the_same_document_gives_the_same_bytes() -> None:
    doc = document(lines=60)
    first = pdf.render_invoice_pdf(doc)
    assert pdf.render_invoice_pdf(doc) == first
    assert b"/CreationDate (D:20250331000000Z)" in first
    later = pdf.render_invoice_pdf(replace(doc, invoice_date=date(2025, 4, 1)))
    assert later != first
    assert b"/CreationDate (D:20250401000000Z)" in later


def test_zero_total() -> None:
    doc = document(lines=(contribution(1, "40.00"), contribution(2, "-40.00")))
    assert doc.total == 0
    texts_ = page_texts(pdf.render_invoice_pdf(doc))
    assert "Kein Betrag zu bezahlen." in texts_[0]
    assert "innert 30 Tagen" not in texts_[0]
    assert "Zahlteil" in texts_[-1]


def test_negative_total() -> None:
    doc = document(lines=(InvoiceLine("credit", "Gutschrift", D("-150.00")),))
    texts_ = page_texts(pdf.render_invoice_pdf(doc))
    assert "Guthaben zu Ihren Gunsten: CHF 150.00. Bitte nichts einzahlen." in texts_[0]
    assert "Gutschriften" in texts_[0]
    assert "Bitte bezahlen Sie" not in texts_[-1]


def test_lines_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(pdf.InvoiceNotPrintable):
        pdf.render_invoice_pdf(document(lines=3, total=D("1.00")))


def test_no_qr_iban_no_pdf() -> None:
    with pytest.raises(qr.QRBillError) as error:
        pdf.render_invoice_pdf(document(creditor_iban=PLAIN_IBAN))
    assert error.value.code == "not_qr_iban"


def test_uncompressed_output_reads_the_same() -> None:
    doc: InvoiceDocument = document(lines=5, debtor=EMPLOYER)
    compressed = page_texts(pdf.render_invoice_pdf(doc))
    plain = page_texts(pdf.render_invoice_pdf(doc, compress=False))
    assert plain == compressed
