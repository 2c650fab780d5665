"""The invoice as a PDF: cover, lines, QR-bill (RULES §8, Art. 20-21).

A4, fpdf2 with its built-in Helvetica (no font files: nothing on the machine is assumed).
The built-in fonts print Windows-1252, which holds every letter of German, French and
Italian (ÄÖÜäöüéèàçœ ...); any other character is transliterated (`Ł` → `L`) or printed as
`?`, and the QR code is made from that same text, so the slip shows what its code holds.

Pages: 1 cover (addresses, dates, totals, payment terms), then the lines,
`LINES_PER_PAGE` a page with the column header repeated and the total after the last line,
then the payment page: the receipt and payment part of `qr.slip_svg` in the bottom 105 mm,
as the QR-bill standard prescribes, as vector graphics (fpdf2 imports the SVG; the QR code's
modules are drawn as rectangles where the SVG puts them, see `_Invoice._slip`).

The output depends only on the document: the PDF's creation date is the invoice date.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from io import BytesIO
from typing import Final

from fpdf import FPDF
from fpdf.enums import RenderStyle

from . import qr
from .model import InvoiceDocument, InvoiceLine, LineKind, PostalAddress
from .qr import Language

PAGE_WIDTH: Final = 210.0
PAGE_HEIGHT: Final = 297.0
MARGIN: Final = 15.0
CONTENT_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN
#: Debtor address where a Swiss window envelope with the window on the right shows it.
WINDOW_X: Final = 118.0
WINDOW_Y: Final = 50.0
WINDOW_WIDTH: Final = PAGE_WIDTH - WINDOW_X - MARGIN
#: IG QR-bill: the receipt and payment part are the bottom 105 mm of an A4 page; qrbill's SVG is
#: 106 mm high, 1 mm above the perforation line for the scissors symbol.
SLIP_HEIGHT: Final = 106.0

LINES_PER_PAGE: Final = 48
ROW_HEIGHT: Final = 5.0
TABLE_TOP: Final = 30.0
#: period, AHV number, description, insured wage, employer share, employee share, amount
COLUMN_WIDTHS: Final = (14.0, 26.0, 50.0, 22.0, 22.0, 22.0, 24.0)
COLUMN_ALIGN: Final = ("L", "L", "L", "R", "R", "R", "R")
CELL_PADDING: Final = 1.0
FONT: Final = "Helvetica"
ENCODING: Final = "cp1252"

TEXTS: Final[dict[Language, dict[str, str]]] = {
    "de": {
        "invoice": "Rechnung",
        "invoice_date": "Rechnungsdatum",
        "due_date": "Fällig am",
        "employer_no": "Arbeitgeber-Nr.",
        "periods": "Perioden",
        "reference": "Referenz",
        "contribution": "Beiträge",
        "correction": "Korrekturen",
        "credit": "Gutschriften",
        "fee": "Gebühren",
        "interest": "Verzugszinsen",
        "total": "Total zu bezahlen",
        "total_lines": "Total",
        "terms": (
            "Zahlbar innert 30 Tagen ab Rechnungsdatum, spätestens am {due} (Art. 21 der "
            "Richtlinien). Ab dem Fälligkeitsdatum werden Verzugszinsen von 6 % im Jahr berechnet."
        ),
        "nothing": "Kein Betrag zu bezahlen.",
        "in_favour": "Guthaben zu Ihren Gunsten: CHF {amount}. Bitte nichts einzahlen.",
        "see_lines": "Die Positionen folgen auf den nächsten Seiten, der QR-Zahlteil zuletzt.",
        "lines_title": "Positionen",
        "payment_title": "Zahlteil",
        "pay_with_slip": "Bitte bezahlen Sie mit dem QR-Zahlteil unten.",
        "page": "Seite",
        "head": "Periode|AHV-Nr.|Beschreibung|Vers. Lohn|Arbeitgeber|Arbeitnehmer|Betrag",
    },
    "fr": {
        "invoice": "Facture",
        "invoice_date": "Date de facture",
        "due_date": "Échéance",
        "employer_no": "N° d'employeur",
        "periods": "Périodes",
        "reference": "Référence",
        "contribution": "Cotisations",
        "correction": "Corrections",
        "credit": "Crédits",
        "fee": "Frais",
        "interest": "Intérêts moratoires",
        "total": "Total à payer",
        "total_lines": "Total",
        "terms": (
            "Payable dans les 30 jours dès la date de facture, au plus tard le {due} (art. 21 "
            "des directives). Dès l'échéance, un intérêt moratoire de 6 % par an est facturé."
        ),
        "nothing": "Aucun montant à payer.",
        "in_favour": "Solde en votre faveur : CHF {amount}. Veuillez ne rien verser.",
        "see_lines": "Le détail suit aux pages suivantes, la section paiement QR à la fin.",
        "lines_title": "Détail",
        "payment_title": "Section paiement",
        "pay_with_slip": "Veuillez payer avec la section paiement QR ci-dessous.",
        "page": "Page",
        "head": "Période|N° AVS|Description|Sal. assuré|Employeur|Salarié|Montant",
    },
    "it": {
        "invoice": "Fattura",
        "invoice_date": "Data della fattura",
        "due_date": "Scadenza",
        "employer_no": "N. datore di lavoro",
        "periods": "Periodi",
        "reference": "Riferimento",
        "contribution": "Contributi",
        "correction": "Correzioni",
        "credit": "Accrediti",
        "fee": "Spese",
        "interest": "Interessi di mora",
        "total": "Totale da pagare",
        "total_lines": "Totale",
        "terms": (
            "Pagabile entro 30 giorni dalla data della fattura, al più tardi il {due} (art. 21 "
            "delle direttive). Dalla scadenza è dovuto un interesse di mora del 6 % annuo."
        ),
        "nothing": "Nessun importo da pagare.",
        "in_favour": "Saldo a vostro favore: CHF {amount}. Non effettuate alcun versamento.",
        "see_lines": "Le posizioni seguono nelle pagine seguenti, la sezione pagamento QR infine.",
        "lines_title": "Posizioni",
        "payment_title": "Sezione pagamento",
        "pay_with_slip": "Vogliate pagare con la sezione pagamento QR qui sotto.",
        "page": "Pagina",
        "head": "Periodo|N. AVS|Descrizione|Sal. assic.|Datore|Lavoratore|Importo",
    },
    "en": {
        "invoice": "Invoice",
        "invoice_date": "Invoice date",
        "due_date": "Due date",
        "employer_no": "Employer no.",
        "periods": "Periods",
        "reference": "Reference",
        "contribution": "Contributions",
        "correction": "Corrections",
        "credit": "Credits",
        "fee": "Fees",
        "interest": "Late-payment interest",
        "total": "Total to pay",
        "total_lines": "Total",
        "terms": (
            "Payable within 30 days of the invoice date, by {due} at the latest (Art. 21 of the "
            "guidelines). From the due date, late-payment interest of 6 % a year is charged."
        ),
        "nothing": "Nothing to pay.",
        "in_favour": "Balance in your favour: CHF {amount}. Please do not pay anything.",
        "see_lines": "The lines follow on the next pages, the QR payment part at the end.",
        "lines_title": "Lines",
        "payment_title": "Payment part",
        "pay_with_slip": "Please pay with the QR payment part below.",
        "page": "Page",
        "head": "Period|AHV no.|Description|Insured wage|Employer|Employee|Amount",
    },
}
#: The cover's totals, in this order; credits only when the invoice has any.
TOTAL_KINDS: Final[tuple[LineKind, ...]] = (
    "contribution",
    "correction",
    "credit",
    "fee",
    "interest",
)


#: In `qr.slip_svg`: the QR code's path (runs as `qr._RunLengthPathImage` writes them, placed
#: by qrbill with translate and scale), the SVG's user units and its white background.
_QR_PATH: Final = re.compile(
    r'<path d="((?:M[\d.]+,[\d.]+H[\d.]+V[\d.]+H[\d.]+z)+)"[^>]*?'
    r'transform="translate\(([\d.]+),([\d.]+)\) scale\(([\d.]+)\)"\s*/>'
)
_RUN: Final = re.compile(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z")
_VIEW_BOX: Final = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')
_BACKGROUND: Final = '<rect fill="white" height="100%" width="100%" x="0" y="0" />'


class InvoiceNotPrintable(ValueError):
    """A document whose printed figures would contradict each other."""


def _svg_lengths(*texts: str) -> tuple[float, ...]:
    """Lengths of the slip's SVG drawing (view box, offsets, module edges): page geometry in
    the PDF's float coordinates, never an amount (amounts stay Decimal, see `_money`)."""
    return tuple(float(text) for text in texts)


def page_count(lines: int) -> int:
    """Pages of an invoice with `lines` lines: cover, line pages, payment page."""
    return 1 + math.ceil(lines / LINES_PER_PAGE) + 1


def render_invoice_pdf(doc: InvoiceDocument, *, compress: bool = True) -> bytes:
    """The invoice as PDF bytes, the same bytes for the same document.

    Raises InvoiceNotPrintable when the lines do not add up to the total, and
    `qr.QRBillError` when the QR-bill cannot be made (for instance no QR-IBAN).
    `compress=False` leaves the page streams readable (tests).
    """
    if sum((line.amount for line in doc.lines), Decimal(0)) != doc.total:
        raise InvoiceNotPrintable("the invoice lines do not add up to the invoice total")
    printable = _printable_document(doc)
    slip = qr.slip_svg(printable)  # first: an invalid QR-bill fails before any drawing
    pdf = _Invoice(printable)
    pdf.set_compression(compress)
    pdf.cover()
    for start in range(0, len(printable.lines), LINES_PER_PAGE):
        pdf.line_page(start)
    pdf.payment_page(slip)
    return bytes(pdf.output())


class _Invoice(FPDF):
    def __init__(self, doc: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        self.on_payment_page = False
        self.char_widths: dict[tuple[str, str, float], dict[str, float]] = {}
        self.words = TEXTS[doc.language]
        self.core_fonts_encoding = ENCODING
        self.set_auto_page_break(auto=False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_creation_date(datetime.combine(doc.invoice_date, time(), tzinfo=UTC))
        self.set_lang(doc.language)
        self.set_creator("bvgconnect")
        self.set_title(f"{self.words['invoice']} {doc.invoice_no}")
        self.set_author(doc.creditor.address.name)
        self.set_font(FONT, size=10)

    def string_width(self, text: str) -> float:
        """`get_string_width`, from a cache of character widths: the built-in fonts have no
        kerning, so a text is as wide as its characters, and this is ten times faster."""
        font = (self.font_family, self.font_style, self.font_size_pt)
        widths = self.char_widths.setdefault(font, {})
        total = 0.0
        for char in text:
            width = widths.get(char)
            if width is None:
                width = widths[char] = self.get_string_width(char)
            total += width
        return total

    def footer(self) -> None:
        if self.on_payment_page:
            return  # IG QR-bill: nothing else in the slip's 105 mm
        self.set_y(PAGE_HEIGHT - 10)
        self.set_font(FONT, size=7)
        self.set_text_color(90)
        left = f"{self.words['invoice']} {self.doc.invoice_no} · {self.doc.creditor.address.name}"
        self.cell(CONTENT_WIDTH / 2, 4, _fit(self, left, CONTENT_WIDTH / 2))
        self.cell(CONTENT_WIDTH / 2, 4, f"{self.words['page']} {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)

    def cover(self) -> None:
        doc, text = self.doc, self.words
        self.add_page()
        creditor = doc.creditor.address
        self.set_xy(MARGIN, MARGIN)
        self.set_font(FONT, "B", 11)
        self.cell(CONTENT_WIDTH / 2, 5, creditor.name, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)
        for line in _address_lines(creditor)[1:]:
            self.cell(CONTENT_WIDTH / 2, 4.2, line, new_x="LMARGIN", new_y="NEXT")

        self.set_font(FONT, size=10)
        for row, line in enumerate(_address_lines(doc.debtor)):
            self.set_xy(WINDOW_X, WINDOW_Y + row * 5)
            self.cell(WINDOW_WIDTH, 5, _fit(self, line, WINDOW_WIDTH))

        self.set_xy(MARGIN, 95)
        self.set_font(FONT, "B", 15)
        self.cell(CONTENT_WIDTH, 8, f"{text['invoice']} {doc.invoice_no}", new_x="LMARGIN")
        self.set_y(107)
        facts = (
            (text["invoice_date"], _date(doc.invoice_date)),
            (text["due_date"], _date(doc.due_date)),
            (text["employer_no"], str(doc.employer_no)),
            (text["periods"], ", ".join(doc.periods)),
            (text["reference"], qr.format_reference(doc.qr_reference)),
        )
        for label, value in facts:
            self.set_font(FONT, size=10)
            self.cell(45, 5.5, label)
            self.cell(CONTENT_WIDTH - 45, 5.5, _fit(self, value, CONTENT_WIDTH - 45))
            self.ln(5.5)

        self.set_y(145)
        sums = _sums(doc.lines)
        for kind in TOTAL_KINDS:
            if kind == "credit" and kind not in sums:
                continue
            self._total_row(text[kind], sums.get(kind, Decimal(0)), bold=False)
        y = self.get_y() + 1
        self.line(MARGIN, y, MARGIN + CONTENT_WIDTH, y)
        self.set_y(y + 1)
        self._total_row(text["total"], doc.total, bold=True)

        self.set_y(self.get_y() + 8)
        self.set_font(FONT, size=10)
        if doc.total > 0:
            terms = text["terms"].format(due=_date(doc.due_date))
        elif doc.total == 0:
            terms = text["nothing"]
        else:
            terms = text["in_favour"].format(amount=_money(-doc.total))
        self.multi_cell(CONTENT_WIDTH, 5, terms, new_x="LMARGIN", new_y="NEXT")
        if doc.lines:
            self.ln(3)
            self.multi_cell(CONTENT_WIDTH, 5, text["see_lines"], new_x="LMARGIN", new_y="NEXT")

    def _total_row(self, label: str, amount: Decimal, *, bold: bool) -> None:
        self.set_font(FONT, "B" if bold else "", 10)
        self.cell(CONTENT_WIDTH - 50, 6, label)
        self.cell(12, 6, "CHF")
        self.cell(38, 6, _money(amount), align="R", new_x="LMARGIN", new_y="NEXT")

    def line_page(self, start: int) -> None:
        doc = self.doc
        self.add_page()
        self.set_xy(MARGIN, MARGIN)
        self.set_font(FONT, "B", 11)
        title = f"{self.words['invoice']} {doc.invoice_no} · {self.words['lines_title']}"
        self.cell(CONTENT_WIDTH, 6, title)
        self.set_xy(MARGIN, TABLE_TOP - 6)
        self.set_font(FONT, "B", 7.5)
        for width, align, label in zip(
            COLUMN_WIDTHS, COLUMN_ALIGN, self.words["head"].split("|"), strict=True
        ):
            self.cell(width, 6, _fit(self, label, width - 1), border="B", align=align)
        self.set_font(FONT, size=7.5)
        # text() rather than cell(): a tenth of the time, for the bulk of the document
        baseline = TABLE_TOP + ROW_HEIGHT - 1.6
        for line in doc.lines[start : start + LINES_PER_PAGE]:
            x = MARGIN
            for width, align, value in zip(COLUMN_WIDTHS, COLUMN_ALIGN, _cells(line), strict=True):
                if value:
                    value, used = _fitted(self, value, width - 2 * CELL_PADDING)
                    left = x + width - CELL_PADDING - used if align == "R" else x + CELL_PADDING
                    self.text(left, baseline, value)
                x += width
            baseline += ROW_HEIGHT
        self.set_xy(MARGIN, baseline - ROW_HEIGHT + 1.6)
        if start + LINES_PER_PAGE >= len(doc.lines):
            y = self.get_y() + 1
            self.line(MARGIN, y, MARGIN + CONTENT_WIDTH, y)
            self.set_xy(MARGIN, y + 1)
            self.set_font(FONT, "B", 8)
            self.cell(CONTENT_WIDTH - COLUMN_WIDTHS[-1], ROW_HEIGHT, self.words["total_lines"])
            self.cell(COLUMN_WIDTHS[-1], ROW_HEIGHT, _money(doc.total), align="R")

    def payment_page(self, slip_svg: str) -> None:
        doc, text = self.doc, self.words
        self.add_page()
        self.on_payment_page = True
        self.set_xy(MARGIN, MARGIN)
        self.set_font(FONT, "B", 13)
        title = f"{text['invoice']} {doc.invoice_no} · {text['payment_title']}"
        self.cell(CONTENT_WIDTH, 7, title, new_x="LMARGIN")
        self.set_y(MARGIN + 10)
        self.set_font(FONT, size=10)
        for label, value in (
            (text["total"], f"CHF {_money(doc.total)}"),
            (text["due_date"], _date(doc.due_date)),
            (text["reference"], qr.format_reference(doc.qr_reference)),
        ):
            self.cell(45, 5.5, label)
            self.cell(CONTENT_WIDTH - 45, 5.5, value, new_x="LMARGIN", new_y="NEXT")
        if doc.total > 0:
            self.ln(4)
            self.cell(CONTENT_WIDTH, 5, text["pay_with_slip"])
        self._slip(slip_svg, top=PAGE_HEIGHT - SLIP_HEIGHT)
        self.set_font(FONT, size=10)  # the SVG's texts leave their font behind

    def _slip(self, svg: str, *, top: float) -> None:
        """The slip's SVG at `top`, its QR code's modules as PDF rectangles.

        fpdf2 imports the whole SVG, but its path parser takes about 30 ms for the QR code's
        1,200 runs, more than everything else on the invoice; drawn as rectangles at the
        place and scale qrbill gives the path, they take 6 ms. The QR code goes first (the
        SVG's opaque background is dropped), so the Swiss cross still lies on top of it.
        """
        qr_path, view_box = _QR_PATH.search(svg), _VIEW_BOX.search(svg)
        if qr_path is not None and view_box is not None and _BACKGROUND in svg:
            mm = PAGE_WIDTH / _svg_lengths(view_box[1])[0]
            left, down, scale = _svg_lengths(*qr_path.group(2, 3, 4))
            self.set_fill_color(0)
            for run in _RUN.finditer(qr_path[1]):
                x0, y0, x1, y1 = _svg_lengths(*run.groups())
                self.rect(
                    (left + x0 * scale) * mm,
                    top + (down + y0 * scale) * mm,
                    (x1 - x0) * scale * mm,
                    (y1 - y0) * scale * mm,
                    style=RenderStyle.F,  # the enum: coercing "F" costs as much as the rest
                )
            svg = svg[: qr_path.start()] + svg[qr_path.end() :]
            svg = svg.replace(_BACKGROUND, "", 1)
        self.image(BytesIO(svg.encode()), x=0, y=top, w=PAGE_WIDTH, h=SLIP_HEIGHT)


def _sums(lines: tuple[InvoiceLine, ...]) -> dict[LineKind, Decimal]:
    sums: dict[LineKind, Decimal] = {}
    for line in lines:
        sums[line.kind] = sums.get(line.kind, Decimal(0)) + line.amount
    return sums


def _cells(line: InvoiceLine) -> tuple[str, ...]:
    return (
        line.period or "",
        line.worker or "",
        line.description,
        _money(line.insured_wage),
        _money(line.employer_share),
        _money(line.employee_share),
        _money(line.amount),
    )


def _address_lines(address: PostalAddress) -> list[str]:
    street = f"{address.street} {address.house_no}" if address.house_no else address.street
    lines = [address.name, street, f"{address.postcode} {address.town}"]
    if address.country != "CH":
        lines[-1] = f"{address.country}-{lines[-1]}"
    return [line for line in lines if line.strip()]


def _money(amount: Decimal | None) -> str:
    """Swiss style: 1'234.50 (apostrophe as thousands separator)."""
    if amount is None:
        return ""
    return f"{amount:,.2f}".replace(",", "'")


def _date(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def _fit(pdf: _Invoice, text: str, width: float) -> str:
    """`text` cut to `width` mm in the current font, with `...` where it was cut."""
    return _fitted(pdf, text, width)[0]


def _fitted(pdf: _Invoice, text: str, width: float) -> tuple[str, float]:
    """`_fit` and the width of what it returns."""
    used = pdf.string_width(text)
    if used <= width:
        return text, used
    while text and pdf.string_width(text + "...") > width:
        text = text[:-1]
    text = text.rstrip() + "..."
    return text, pdf.string_width(text)


#: Quotation marks, dashes, minus signs and letters with a stroke that Windows-1252 lacks and
#: that NFKD does not decompose.
_FOLD: Final = str.maketrans(
    {
        "\u201b": "'",
        "\u201f": '"',
        **dict.fromkeys("\u2010\u2011\u2012\u2212", "-"),
        **dict(zip("\u0110\u0111\u0126\u0127\u0131\u0141\u0142", "DdHhiLl", strict=True)),
    }
)


def printable(text: str) -> str:
    """`text` in what the built-in fonts print (Windows-1252): other characters lose their
    accents (NFKD: `Ł` → `L`, `ș` → `s`) or become `?`."""
    text = text.translate(_FOLD)
    try:
        text.encode(ENCODING)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode(ENCODING)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if _encodable(c) and c.isprintable()
        )
        out.append(base or ("" if unicodedata.category(char).startswith("M") else "?"))
    return "".join(out)


def _encodable(char: str) -> bool:
    try:
        char.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _printable_address(address: PostalAddress) -> PostalAddress:
    return replace(
        address,
        name=printable(address.name),
        street=printable(address.street),
        house_no=None if address.house_no is None else printable(address.house_no),
        postcode=printable(address.postcode),
        town=printable(address.town),
    )


def _printable_document(doc: InvoiceDocument) -> InvoiceDocument:
    """The document with every printed text in Windows-1252, so that the slip, its QR code
    and the rest of the PDF show the same words."""
    return replace(
        doc,
        invoice_no=printable(doc.invoice_no),
        periods=tuple(printable(period) for period in doc.periods),
        debtor=_printable_address(doc.debtor),
        creditor=replace(doc.creditor, address=_printable_address(doc.creditor.address)),
        lines=tuple(
            replace(
                line,
                description=printable(line.description),
                period=None if line.period is None else printable(line.period),
                worker=None if line.worker is None else printable(line.worker),
            )
            for line in doc.lines
        ),
    )
