"""The list template employers download (TEMPLATE.md): sheet `Mutationen` with the headers of
COLUMNS, input hints, drop-downs and cell formats; `Einsätze`; `Hinweise` with the codes."""

from __future__ import annotations

import io

from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from services.intake.model import ASSIGNMENT_COLUMNS, ASSIGNMENTS_SHEET, COLUMNS, MUTATIONS_SHEET

__all__ = ["CODE_LISTS", "HINTS_SHEET", "PREPARED_ROWS", "build_template"]

HINTS_SHEET = "Hinweise"
#: Rows below the headers that carry formats and input hints.
PREPARED_ROWS = 1000
DATE_FORMAT = "DD.MM.YYYY"

_YES_NO = ("J", "N")
#: Drop-down values by column (TEMPLATE.md; M: RULES §7 / Art. 9).
CODE_LISTS: dict[str, tuple[str, ...]] = {
    "M": ("1", "2", "3", "4", "5", "6", "7"),
    "P": ("0", "1", "2", "3"),
    "R": ("1", "2", "3", "4", "5", "7", "8"),
    "T": ("1", "2"),
    "Y": _YES_NO,
    "AA": _YES_NO,
    "AB": _YES_NO,
}
#: Number formats by column; "@" keeps leading zeros and dots of numbers typed as text.
_FORMATS: dict[str, str] = {
    "E": "@",
    "G": "@",
    "O": "@",
    "Q": "@",
    "I": "0.0",  # Art. 10.3: one decimal
    "J": "0.0",
    "U": "0.00",
    "V": "0.00",
    **dict.fromkeys(("K", "L", "S", "W", "X", "Z"), DATE_FORMAT),  # Art. 10.4
}
_ASSIGNMENT_FORMATS = {"A": "@", "B": DATE_FORMAT, "C": DATE_FORMAT, "E": DATE_FORMAT}
_WIDTHS = {"A": 20, "B": 16, "C": 26, "D": 16, "F": 18, "Q": 18, "G": 16, "O": 18}
_WEEK_COLUMNS = ("F", "G", "H", "I")
_WEEK_HINT = (
    "Kopf: Montag der Woche (TT.MM.JJJJ) oder ISO-Woche (2025-W27); darunter die Stunden "
    "dieser Woche"
)

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WEEK_FILL = PatternFill("solid", fgColor="F2F2F2")

_CODES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "M Mutationscode (leer für alle anderen Änderungen)",
        (
            ("1", "Beitritt (Beitrittsdatum in K)"),
            ("2", "Austritt (Austrittsdatum in L)"),
            ("3", "Änderung der AHV-Nummer (alte Nummer in O)"),
            ("4", "Unterbruch"),
            ("5", "Unfall"),
            ("6", "Militärdienst, Zivildienst oder Mutterschaftsurlaub"),
            ("7", "Krankheit"),
        ),
    ),
    (
        "P Sprachcode (Sprache des Prüfberichts)",
        (("0", "Englisch"), ("1", "Deutsch"), ("2", "Französisch"), ("3", "Italienisch")),
    ),
    (
        "R Zivilstandscode",
        (
            ("1", "ledig"),
            ("2", "verheiratet"),
            ("3", "getrennt"),
            ("4", "verwitwet"),
            ("5", "geschieden"),
            ("7", "eingetragene Partnerschaft"),
            ("8", "aufgelöste Partnerschaft"),
        ),
    ),
    ("T Geschlechtscode", (("1", "männlich"), ("2", "weiblich"))),
)
_NOTES: tuple[str, ...] = (
    "Eine Zeile pro Person und Periode (Kalendermonat); Abgabe bis zum 15. des Folgemonats.",
    "Name, Vorname, Adresse und Wohnort in GROSSBUCHSTABEN.",
    "AHV-Nummer mit Punkten: 756.1234.5678.97.",
    "Beträge I und J mit einer Dezimalstelle (400.1), U und V mit zwei; Korrekturen mit '-'.",
    "Koordinierter Lohn 0 nur mit Mutationscode 4 bis 7.",
    "Datum als Excel-Datum oder als Text TT.MM.JJJJ (13.01.2025); "
    "auch TT.MM.JJ und TTMMJJ werden gelesen.",
    "J/N-Spalten (Y, AA, AB): J = ja, N = nein.",
    "Blatt Einsätze nur bei mehreren Einsätzen in der Periode: eine Zeile pro Einsatz.",
    "Einsätze, Spalten ab F (grau): im Kopf der Montag der Woche (TT.MM.JJJJ) oder die "
    "ISO-Woche (2025-W27), darunter die Stunden dieser Woche, falls bekannt.",
    "Beträge, Mutationscodes sowie Beitritts- und Austrittsdaten des Vormonats vor dem "
    "Erfassen löschen (Art. 10.5).",
)


def build_template() -> bytes:
    """The template as xlsx bytes (openpyxl): `Mutationen`, `Einsätze`, `Hinweise`."""
    book = OpenpyxlWorkbook()
    mutations = book.active
    assert mutations is not None
    mutations.title = MUTATIONS_SHEET
    _list_sheet(mutations)
    _assignments_sheet(book.create_sheet(ASSIGNMENTS_SHEET))
    _hints_sheet(book.create_sheet(HINTS_SHEET))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _list_sheet(sheet: Worksheet) -> None:
    sheet.append([column.header for column in COLUMNS])
    _style_headers(sheet, len(COLUMNS))
    for column in COLUMNS:
        letter = column.letter
        sheet.column_dimensions[letter].width = max(_WIDTHS.get(letter, 12), len(column.header) + 3)
        validation = _validation(CODE_LISTS.get(letter), column.header, column.hint)
        validation.add(f"{letter}2:{letter}{PREPARED_ROWS + 1}")
        sheet.add_data_validation(validation)
        _format_cells(sheet, letter, _FORMATS.get(letter))


def _assignments_sheet(sheet: Worksheet) -> None:
    sheet.append([column.header for column in ASSIGNMENT_COLUMNS])
    _style_headers(sheet, len(ASSIGNMENT_COLUMNS))
    for column in ASSIGNMENT_COLUMNS:
        letter = column.letter
        sheet.column_dimensions[letter].width = max(18, len(column.header) + 3)
        choices = _YES_NO if column.field == "expected_over_13_weeks" else None
        validation = _validation(choices, column.header, column.hint)
        validation.add(f"{letter}2:{letter}{PREPARED_ROWS + 1}")
        sheet.add_data_validation(validation)
        _format_cells(sheet, letter, _ASSIGNMENT_FORMATS.get(letter))
    weeks = _validation(None, "Wochenstunden", _WEEK_HINT)
    for letter in _WEEK_COLUMNS:
        sheet[f"{letter}1"].fill = _WEEK_FILL
        sheet[f"{letter}1"].number_format = DATE_FORMAT
        sheet.column_dimensions[letter].width = 14
        weeks.add(f"{letter}1:{letter}{PREPARED_ROWS + 1}")
        _format_cells(sheet, letter, "0.00")
    sheet.add_data_validation(weeks)


def _hints_sheet(sheet: Worksheet) -> None:
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 90
    sheet.append(["Hinweise zur Monatsliste"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    for title, codes in _CODES:
        sheet.append([title])
        sheet.cell(row=sheet.max_row, column=1).font = _HEADER_FONT
        for code, meaning in codes:
            sheet.append([code, meaning])
            sheet.cell(row=sheet.max_row, column=1).number_format = "@"
            sheet.cell(row=sheet.max_row, column=1).alignment = Alignment(horizontal="left")
        sheet.append([])
    sheet.append(["Allgemein"])
    sheet.cell(row=sheet.max_row, column=1).font = _HEADER_FONT
    for note in _NOTES:
        sheet.append(["", note])
        sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(wrap_text=True)


def _style_headers(sheet: Worksheet, count: int) -> None:
    for cell in sheet[1][:count]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def _validation(choices: tuple[str, ...] | None, title: str, hint: str) -> DataValidation:
    """An input hint; with `choices` also a drop-down that refuses other values."""
    if choices is None:
        validation = DataValidation(allow_blank=True)
    else:
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(choices) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=title[:32],
            error=f"Erlaubt: {', '.join(choices)}",
        )
    # Excel limits the title to 32 and the prompt to 255 characters
    validation.promptTitle = title[:32]
    validation.prompt = hint[:255]
    validation.showInputMessage = True
    return validation


def _format_cells(sheet: Worksheet, letter: str, number_format: str | None) -> None:
    if number_format is None:
        return
    sheet.column_dimensions[letter].number_format = number_format
    for (cell,) in sheet.iter_rows(
        min_row=2,
        max_row=PREPARED_ROWS + 1,
        min_col=sheet[f"{letter}1"].column,
        max_col=sheet[f"{letter}1"].column,
    ):
        cell.number_format = number_format
