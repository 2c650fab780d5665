"""The employer's own workbook, returned annotated (findings on their cells and a report sheet)
or corrected (`--fix`: every mechanically fixed value written back). TEMPLATE.md names the
codes; the messages arrive localised in `Finding.message`."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.cell.cell import Cell as OpenpyxlCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.workbook import Workbook as OpenpyxlWorkbook
from openpyxl.worksheet.worksheet import Worksheet

from contracts.values import Language
from services.intake.model import Cell, Finding
from services.intake.workbook import UnreadableFile, check_file, find_sheet, list_sheet_name

__all__ = [
    "COMMENT_AUTHOR",
    "REPORT_HEADINGS",
    "REPORT_SHEET_NAMES",
    "WorkbookNotWritable",
    "annotate",
    "apply_fixes",
]

REPORT_SHEET_NAMES: dict[Language, str] = {
    "de": "Prüfbericht",
    "fr": "Rapport de contrôle",
    "it": "Rapporto di verifica",
    "en": "Check report",
}
#: Headings of the summary (code, severity, count) and of the list of findings.
REPORT_HEADINGS: dict[
    Language, tuple[tuple[str, str, str], tuple[str, str, str, str, str, str]]
] = {
    "de": (
        ("Code", "Schweregrad", "Anzahl"),
        ("Blatt", "Zeile", "Spalte", "Code", "Schweregrad", "Meldung"),
    ),
    "fr": (
        ("Code", "Gravité", "Nombre"),
        ("Feuille", "Ligne", "Colonne", "Code", "Gravité", "Message"),
    ),
    "it": (
        ("Codice", "Gravità", "Numero"),
        ("Foglio", "Riga", "Colonna", "Codice", "Gravità", "Messaggio"),
    ),
    "en": (
        ("Code", "Severity", "Count"),
        ("Sheet", "Row", "Column", "Code", "Severity", "Message"),
    ),
}
#: Author of our cell comments: comments of an earlier report are replaced, the employer's kept.
COMMENT_AUTHOR = "BVG-Prüfung"
DATE_FORMAT = "DD.MM.YYYY"
#: Art. 10.3: I and J with one decimal; U and V (ours) with two (TEMPLATE.md).
NUMBER_FORMATS = {"I": "0.0", "J": "0.0", "U": "0.00", "V": "0.00"}

_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")
_BOLD = Font(bold=True)
_COLUMN = re.compile(r"[A-Z]{1,3}")
_MAX_ROW = 1_048_576
_MAX_COLUMN = 16_384


class WorkbookNotWritable(Exception):
    """The workbook cannot be opened, changed or saved; `detail` English, no personal data."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def annotate(original: bytes, findings: Sequence[Finding], *, language: Language) -> bytes:
    """The workbook with every finding on its cell (fill, comment `code: message`) and a
    report sheet: a summary by code, then all findings."""
    book = _open(original)
    try:
        sheets = _worksheets(book)
        list_sheet = list_sheet_name(list(sheets))
        by_cell: dict[tuple[str, str, int], list[Finding]] = {}
        for finding in findings:
            located = _locate(sheets, list_sheet, finding)
            if located is not None:
                by_cell.setdefault(located, []).append(finding)
        for (sheet_name, column, row), on_cell in by_cell.items():
            _mark(_cell(sheets[sheet_name], column, row), on_cell)
        _report(book, findings, language, list_sheet)
    except WorkbookNotWritable:
        raise
    except Exception as error:
        raise WorkbookNotWritable(f"cannot annotate ({type(error).__name__})") from None
    return _save(book)


def apply_fixes(original: bytes, findings: Sequence[Finding]) -> bytes:
    """The workbook with every `Finding.fixed` written into its cell: dates as date cells
    (DD.MM.YYYY), amounts as numbers in the format of their column, text as text."""
    book = _open(original)
    try:
        sheets = _worksheets(book)
        list_sheet = list_sheet_name(list(sheets))
        for finding in findings:
            if finding.fixed is None:
                continue
            located = _locate(sheets, list_sheet, finding)
            if located is None:
                continue
            sheet_name, column, row = located
            cell = _cell(sheets[sheet_name], column, row)
            number_format = NUMBER_FORMATS.get(column) if sheet_name == list_sheet else None
            _write(cell, finding.fixed, number_format)
    except WorkbookNotWritable:
        raise
    except Exception as error:
        raise WorkbookNotWritable(f"cannot apply fixes ({type(error).__name__})") from None
    return _save(book)


def _open(original: bytes) -> OpenpyxlWorkbook:
    try:
        # the same guards as an upload: no zip bombs, no macros, no foreign formats
        check_file(original)
        return load_workbook(io.BytesIO(original), keep_vba=False, keep_links=False)
    except UnreadableFile as error:
        raise WorkbookNotWritable(f"{error.code}/{error.reason}: {error.detail}") from None
    except Exception as error:
        raise WorkbookNotWritable(f"cannot open workbook ({type(error).__name__})") from None


def _save(book: OpenpyxlWorkbook) -> bytes:
    out = io.BytesIO()
    try:
        book.save(out)
    except Exception as error:
        raise WorkbookNotWritable(f"cannot save workbook ({type(error).__name__})") from None
    return out.getvalue()


def _worksheets(book: OpenpyxlWorkbook) -> dict[str, Worksheet]:
    """Worksheets by title (chart sheets have no cells)."""
    return {sheet.title: sheet for sheet in book.worksheets if isinstance(sheet, Worksheet)}


def _locate(
    sheets: dict[str, Worksheet], list_sheet: str | None, finding: Finding
) -> tuple[str, str, int] | None:
    """(sheet, column, row) of a finding's cell; None for findings about a row or the file,
    and for places the workbook does not have."""
    if finding.row is None or finding.column is None:
        return None
    name = list_sheet if finding.sheet is None else find_sheet(sheets, finding.sheet)
    if name is None:
        return None
    column = finding.column.strip().upper()
    if not _COLUMN.fullmatch(column) or not 1 <= finding.row <= _MAX_ROW:
        return None
    if _column_number(column) > _MAX_COLUMN:
        return None
    return name, column, finding.row


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _cell(sheet: Worksheet, column: str, row: int) -> OpenpyxlCell:
    """The cell, or the top-left cell of the merged range that covers it."""
    cell = sheet.cell(row=row, column=_column_number(column))
    if isinstance(cell, MergedCell):
        for merged in sheet.merged_cells.ranges:
            if cell.coordinate in merged:
                cell = sheet.cell(row=merged.min_row, column=merged.min_col)
                break
    if not isinstance(cell, OpenpyxlCell):
        raise WorkbookNotWritable("a merged cell without its range")
    return cell


def _mark(cell: OpenpyxlCell, findings: list[Finding]) -> None:
    error = any(finding.severity == "error" for finding in findings)
    cell.fill = _ERROR_FILL if error else _WARNING_FILL
    ours = "\n".join(_text(f"{finding.code}: {finding.message}") for finding in findings)
    existing = cell.comment
    if existing is not None and existing.author != COMMENT_AUTHOR:
        ours = f"{existing.text}\n\n{ours}"
    lines = ours.count("\n") + 1 + len(ours) // 60
    cell.comment = Comment(ours, COMMENT_AUTHOR, height=min(40 + 15 * lines, 600), width=320)


def _report(
    book: OpenpyxlWorkbook,
    findings: Sequence[Finding],
    language: Language,
    list_sheet: str | None,
) -> None:
    title = REPORT_SHEET_NAMES[language]
    if title == list_sheet:
        title = f"{title} 2"
    if title in book.sheetnames:  # the report of an earlier check, uploaded again
        del book[title]
    sheet = book.create_sheet(title)
    summary_headings, list_headings = REPORT_HEADINGS[language]
    _append(sheet, summary_headings, bold=True)
    counts = Counter((finding.code, finding.severity) for finding in findings)
    for (code, severity), count in sorted(
        counts.items(), key=lambda item: (item[0][1] != "error", item[0][0])
    ):
        _append(sheet, (code, severity, count))
    sheet.append([])
    _append(sheet, list_headings, bold=True)
    for finding in findings:
        sheet_name = finding.sheet or list_sheet or ""
        _append(
            sheet,
            (
                sheet_name,
                finding.row,
                finding.column or "",
                finding.code,
                finding.severity,
                finding.message,
            ),
        )
    for letter, width in zip("ABCDEF", (22, 14, 10, 24, 12, 100), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    book.active = book.sheetnames.index(title)


def _append(sheet: Worksheet, values: Sequence[str | int | None], *, bold: bool = False) -> None:
    """One row of text and numbers; text never becomes a formula."""
    sheet.append([_text(value) if isinstance(value, str) else value for value in values])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"
        if bold:
            cell.font = _BOLD


def _text(value: str) -> str:
    """Text openpyxl can store: without the control characters XML forbids."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _write(cell: OpenpyxlCell, value: Cell, number_format: str | None) -> None:
    if isinstance(value, bool):
        cell.value = value
    elif isinstance(value, date | datetime):
        cell.value = value
        cell.number_format = DATE_FORMAT
    elif isinstance(value, int | float):
        cell.value = value
        if number_format is not None:
            cell.number_format = number_format
    elif isinstance(value, str):
        cell.value = _text(value)
        cell.data_type = "s"  # a fixed text starting with "=" stays text
