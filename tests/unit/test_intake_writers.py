"""The files intake writes: the template, the annotated report and the --fix workbook, each
opened again as Excel would (openpyxl) and as an upload (read_workbook)."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from contracts.values import Language
from services.intake.annotate import (
    COMMENT_AUTHOR,
    REPORT_HEADINGS,
    REPORT_SHEET_NAMES,
    WorkbookNotWritable,
    annotate,
    apply_fixes,
)
from services.intake.model import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENTS_SHEET,
    COLUMNS,
    MUTATIONS_SHEET,
    Finding,
)
from services.intake.template import CODE_LISTS, HINTS_SHEET, build_template
from services.intake.workbook import read_workbook
from tests.support import xlsx

ERROR_FILL = "00FFC7CE"
WARNING_FILL = "00FFEB9C"


def opened(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def sheet_of(book: openpyxl.Workbook, name: str) -> Worksheet:
    sheet = book[name]
    assert isinstance(sheet, Worksheet)
    return sheet


def values(row: tuple[object, ...]) -> tuple[object, ...]:
    """Cell values without the empty cells at the end of a report row."""
    cut = len(row)
    while cut and row[cut - 1] is None:
        cut -= 1
    return row[:cut]


def error(
    code: str, row: int | None = None, column: str | None = None, sheet: str | None = None
) -> Finding:
    return Finding(code, "error", f"message of {code}", row, column, sheet)


def warning(code: str, row: int, column: str) -> Finding:
    return Finding(code, "warning", f"message of {code}", row, column)


@pytest.fixture(scope="module")
def small_list() -> bytes:
    return xlsx.build_list(
        [xlsx.sample_row(i) for i in range(3)],
        assignments=[[xlsx.ahv_number(1), date(2025, 3, 3), None, "N", None]],
    )


# -- template -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> bytes:
    return build_template()


def test_template_reads_back_with_the_headers_of_columns(template: bytes) -> None:
    workbook = read_workbook(template)
    assert workbook.sheet_names == (MUTATIONS_SHEET, ASSIGNMENTS_SHEET, HINTS_SHEET)
    assert workbook.mutations is not None and workbook.assignments is not None
    assert workbook.mutations.rows == [[column.header for column in COLUMNS]]
    assert workbook.assignments.rows[0][: len(ASSIGNMENT_COLUMNS)] == [
        column.header for column in ASSIGNMENT_COLUMNS
    ]
    assert workbook.mutations.formulas_without_value == frozenset()


def test_template_header_row_is_bold_frozen_without_autofilter(template: bytes) -> None:
    sheet = sheet_of(opened(template), MUTATIONS_SHEET)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is None
    assert all(cell.font.b for cell in sheet[1])
    assert all(sheet.column_dimensions[c.letter].width >= 12 for c in COLUMNS)


def test_template_has_drop_downs_and_a_hint_per_column(template: bytes) -> None:
    sheet = sheet_of(opened(template), MUTATIONS_SHEET)
    by_column = {}
    for validation in sheet.data_validations.dataValidation:
        for cell_range in validation.sqref.ranges:
            assert cell_range.min_row == 2 and cell_range.max_row >= 1000
            by_column[cell_range.coord.split(":")[0].rstrip("0123456789")] = validation
    assert set(by_column) == {column.letter for column in COLUMNS}
    for column in COLUMNS:
        validation = by_column[column.letter]
        assert validation.prompt == column.hint
        assert validation.showInputMessage
        if column.letter in CODE_LISTS:
            assert validation.type == "list"
            assert validation.formula1 == '"' + ",".join(CODE_LISTS[column.letter]) + '"'
        else:
            assert validation.type is None
    assert CODE_LISTS["M"] == tuple("1234567")
    assert CODE_LISTS["P"] == tuple("0123")
    assert CODE_LISTS["R"] == tuple("1234578")
    assert CODE_LISTS["T"] == tuple("12")
    assert CODE_LISTS["Y"] == CODE_LISTS["AA"] == CODE_LISTS["AB"] == ("J", "N")


@pytest.mark.parametrize(
    ("letters", "number_format"),
    [
        ("IJ", "0.0"),
        ("UV", "0.00"),
        (("K", "L", "S", "W", "X", "Z"), "DD.MM.YYYY"),
        ("EGOQ", "@"),
    ],
)
def test_template_formats_prepared_rows(template: bytes, letters: str, number_format: str) -> None:
    sheet = sheet_of(opened(template), MUTATIONS_SHEET)
    for letter in letters:
        assert sheet[f"{letter}2"].number_format == number_format
        assert sheet[f"{letter}1001"].number_format == number_format


def test_template_explains_codes_and_dates(template: bytes) -> None:
    sheet = sheet_of(opened(template), HINTS_SHEET)
    text = " ".join(str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value)
    for expected in ("Mutationscode", "Sprachcode", "Zivilstandscode", "Geschlechtscode"):
        assert expected in text
    assert "TT.MM.JJJJ" in text and "TTMMJJ" in text


def test_filled_template_reads_as_a_list(template: bytes) -> None:
    book = opened(template)
    sheet = sheet_of(book, MUTATIONS_SHEET)
    row = xlsx.sample_row(4)
    for k, value in enumerate(xlsx.row_values(row), start=1):
        if value is not None:
            sheet.cell(row=2, column=k, value=value)
    sheet["E2"] = "0800"
    out = io.BytesIO()
    book.save(out)
    read = read_workbook(out.getvalue()).mutations
    assert read is not None
    assert len(read.rows) == 2
    assert read.rows[1][4] == "0800"
    assert read.rows[1][18] == row["S"]


# -- annotate -----------------------------------------------------------------------------
def test_annotate_marks_cells_and_counts_codes(small_list: bytes) -> None:
    findings = [
        error("ahv.checksum", 2, "Q"),
        error("capitals", 3, "A"),
        warning("declared.premium", 3, "A"),
        warning("declared.premium", 4, "I"),
        error("required", 4, "B", sheet=ASSIGNMENTS_SHEET),
        error("employer.mismatch", 3),
        error("file.empty"),
    ]
    book = opened(annotate(small_list, findings, language="de"))
    sheet = sheet_of(book, MUTATIONS_SHEET)
    assert sheet["Q2"].fill.fgColor.rgb == ERROR_FILL
    assert sheet["A3"].fill.fgColor.rgb == ERROR_FILL  # an error beats a warning
    assert sheet["I4"].fill.fgColor.rgb == WARNING_FILL
    assert sheet["Q3"].fill.fgColor.rgb != ERROR_FILL
    comment = sheet["A3"].comment
    assert comment is not None and comment.author == COMMENT_AUTHOR
    assert (
        comment.text
        == "capitals: message of capitals\ndeclared.premium: message of declared.premium"
    )
    assert sheet["Q2"].value == xlsx.sample_row(0)["Q"]  # the data stays
    assert sheet_of(book, ASSIGNMENTS_SHEET)["B4"].comment is not None

    report = sheet_of(book, "Prüfbericht")
    rows = [values(tuple(cell.value for cell in row)) for row in report.iter_rows()]
    summary_headings, list_headings = REPORT_HEADINGS["de"]
    assert rows[0] == summary_headings
    assert rows[1:7] == [
        ("ahv.checksum", "error", 1),
        ("capitals", "error", 1),
        ("employer.mismatch", "error", 1),
        ("file.empty", "error", 1),
        ("required", "error", 1),
        ("declared.premium", "warning", 2),
    ]
    assert rows[8] == list_headings
    assert len(rows) == 9 + len(findings)
    assert rows[9] == (MUTATIONS_SHEET, 2, "Q", "ahv.checksum", "error", "message of ahv.checksum")
    assert rows[13][:3] == (ASSIGNMENTS_SHEET, 4, "B")
    assert rows[14][:3] == (MUTATIONS_SHEET, 3, None)
    assert book.active is not None and book.active.title == "Prüfbericht"


@pytest.mark.parametrize("language", ["de", "fr", "it", "en"])
def test_report_sheet_is_named_in_the_language(small_list: bytes, language: Language) -> None:
    book = opened(annotate(small_list, [error("capitals", 2, "A")], language=language))
    assert book.sheetnames[-1] == REPORT_SHEET_NAMES[language]
    report = sheet_of(book, REPORT_SHEET_NAMES[language])
    assert values(tuple(cell.value for cell in report[1])) == REPORT_HEADINGS[language][0]


def test_annotated_list_reads_back_unchanged(small_list: bytes) -> None:
    annotated = annotate(small_list, [error("capitals", 2, "A")], language="fr")
    before, after = read_workbook(small_list), read_workbook(annotated)
    assert after.mutations is not None and before.mutations is not None
    assert after.mutations.rows == before.mutations.rows
    assert after.sheet_names[-1] == "Rapport de contrôle"


def test_annotating_an_annotated_list_replaces_the_report(small_list: bytes) -> None:
    once = annotate(small_list, [error("capitals", 2, "A")], language="de")
    twice = opened(annotate(once, [error("ahv.format", 2, "A")], language="de"))
    assert twice.sheetnames.count("Prüfbericht") == 1
    comment = sheet_of(twice, MUTATIONS_SHEET)["A2"].comment
    assert comment is not None and comment.text == "ahv.format: message of ahv.format"


def test_employer_comments_are_kept(small_list: bytes) -> None:
    book = opened(small_list)
    sheet_of(book, MUTATIONS_SHEET)["A2"].comment = openpyxl.comments.Comment("ask Mr X", "HR")
    out = io.BytesIO()
    book.save(out)
    annotated = opened(annotate(out.getvalue(), [error("capitals", 2, "A")], language="de"))
    comment = sheet_of(annotated, MUTATIONS_SHEET)["A2"].comment
    assert comment is not None
    assert comment.text == "ask Mr X\n\ncapitals: message of capitals"


def test_finding_in_a_merged_cell_goes_to_its_first_cell(small_list: bytes) -> None:
    book = opened(small_list)
    sheet_of(book, MUTATIONS_SHEET).merge_cells("A2:B3")
    out = io.BytesIO()
    book.save(out)
    annotated = opened(annotate(out.getvalue(), [error("capitals", 3, "B")], language="de"))
    assert sheet_of(annotated, MUTATIONS_SHEET)["A2"].comment is not None


def test_odd_places_go_to_the_report_only(small_list: bytes) -> None:
    findings = [
        error("capitals", 2, "ZZZZ"),
        error("capitals", 0, "A"),
        error("capitals", 2, "A", sheet="Nowhere"),
        Finding("x", "error", '=HYPERLINK("http://x")\x07', 2, "C"),
    ]
    book = opened(annotate(small_list, findings, language="en"))
    report = sheet_of(book, "Check report")
    messages = [row[5].value for row in report.iter_rows(min_row=4)]
    assert '=HYPERLINK("http://x")' in messages
    formula_cell = next(row[5] for row in report.iter_rows(min_row=4) if row[3].value == "x")
    assert formula_cell.data_type == "s"
    assert sheet_of(book, MUTATIONS_SHEET)["A2"].comment is None


def test_annotate_works_on_the_template(template: bytes) -> None:
    book = opened(annotate(template, [error("file.empty")], language="it"))
    report = sheet_of(book, "Rapporto di verifica")
    assert report["A2"].value == "file.empty"


def test_annotate_works_on_a_fast_written_list() -> None:
    data = xlsx.write_big_list(20)
    book = opened(annotate(data, [error("capitals", 21, "AB")], language="de"))
    assert sheet_of(book, MUTATIONS_SHEET)["AB21"].fill.fgColor.rgb == ERROR_FILL


@pytest.mark.parametrize(
    "data",
    [b"", xlsx.build_png(), xlsx.build_encrypted_container(), b"PK\x03\x04broken"],
    ids=["empty", "png", "encrypted", "broken-zip"],
)
def test_unopenable_workbooks_raise_workbook_not_writable(data: bytes) -> None:
    with pytest.raises(WorkbookNotWritable):
        annotate(data, [error("capitals", 2, "A")], language="de")
    with pytest.raises(WorkbookNotWritable):
        apply_fixes(data, [])


def test_macro_workbooks_are_not_written() -> None:
    with pytest.raises(WorkbookNotWritable, match="macros"):
        annotate(xlsx.build_xlsm([xlsx.sample_row()]), [], language="de")


# -- apply_fixes --------------------------------------------------------------------------
def test_apply_fixes_writes_real_dates_numbers_and_text(small_list: bytes) -> None:
    findings = [
        Finding("date.format", "error", "m", 2, "K", fixed=date(2025, 3, 1)),
        Finding("amount.format", "error", "m", 2, "I", fixed=400.1),
        Finding("amount.format", "error", "m", 3, "U", fixed=86),
        Finding("capitals", "error", "m", 3, "A", fixed="MÜLLER"),
        Finding("capitals", "error", "m", 4, "C", fixed="=1+1"),
        Finding("ahv.format", "error", "m", 4, "Q", fixed=None),
        Finding(
            "date.format", "error", "m", 2, "B", sheet=ASSIGNMENTS_SHEET, fixed=date(2025, 3, 4)
        ),
    ]
    fixed = apply_fixes(small_list, findings)
    sheet = sheet_of(opened(fixed), MUTATIONS_SHEET)
    assert sheet["K2"].value == datetime(2025, 3, 1)
    assert sheet["K2"].number_format == "DD.MM.YYYY"
    assert sheet["I2"].value == 400.1 and sheet["I2"].number_format == "0.0"
    assert sheet["U3"].value == 86 and sheet["U3"].number_format == "0.00"
    assert sheet["A3"].value == "MÜLLER"
    assert sheet["C4"].data_type == "s"
    assert sheet["Q4"].value == xlsx.sample_row(2)["Q"]

    workbook = read_workbook(fixed)
    assert workbook.mutations is not None and workbook.assignments is not None
    assert workbook.mutations.rows[1][10] == date(2025, 3, 1)
    assert workbook.mutations.rows[3][2] == "=1+1"
    assert workbook.mutations.formulas_without_value == frozenset()
    assert workbook.assignments.rows[1][1] == date(2025, 3, 4)


def test_apply_fixes_on_the_template(template: bytes) -> None:
    fixed = apply_fixes(
        template, [Finding("date.format", "error", "m", 2, "S", fixed=date(1990, 5, 17))]
    )
    sheet = read_workbook(fixed).mutations
    assert sheet is not None
    assert sheet.rows[1][18] == date(1990, 5, 17)
