"""read_workbook on real files: what an upload must refuse (TEMPLATE.md `file.unreadable`,
`file.too_large`), which sheet is the list, and what the cells come back as."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta

import openpyxl
import pytest

from services.intake.model import ASSIGNMENTS_SHEET, COLUMNS, MUTATIONS_SHEET, CellRange
from services.intake.workbook import DEFAULT_LIMITS, Limits, UnreadableFile, read_workbook
from tests.support import xlsx

HEADERS = [column.header for column in COLUMNS]


def refused(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[str, str]:
    with pytest.raises(UnreadableFile) as raised:
        read_workbook(data, limits)
    assert raised.value.detail
    return raised.value.code, raised.value.reason


def col(letter: str) -> int:
    return next(k for k, column in enumerate(COLUMNS) if column.letter == letter)


# -- files an upload refuses -------------------------------------------------------------
def test_png_renamed_xlsx_is_not_a_workbook() -> None:
    assert refused(xlsx.build_png()) == ("file.unreadable", "not_xlsx")


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"%PDF-1.7\n", b"<?xml version='1.0'?><x/>"], ids=str
)
def test_other_bytes_are_not_a_workbook(data: bytes) -> None:
    assert refused(data) == ("file.unreadable", "not_xlsx")


def test_zip_without_workbook_part_is_not_xlsx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("word/document.xml", "<w:document/>")
    assert refused(buffer.getvalue()) == ("file.unreadable", "not_xlsx")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_workbook_is_corrupt(keep: float) -> None:
    data = xlsx.build_list([xlsx.sample_row(i) for i in range(20)])
    assert refused(data[: int(len(data) * keep)]) == ("file.unreadable", "corrupt")


def test_damaged_member_is_corrupt() -> None:
    data = bytearray(xlsx.build_list([xlsx.sample_row()]))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename)
    data[start : start + 40] = b"\xff" * 40
    assert refused(bytes(data)) == ("file.unreadable", "corrupt")


def test_unparsable_workbook_xml_is_corrupt() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("xl/workbook.xml", "<workbook><sheets><sheet name=")
    assert refused(buffer.getvalue()) == ("file.unreadable", "corrupt")


def test_password_protected_container_is_encrypted() -> None:
    """A hand-built OLE2 compound file with the `EncryptionInfo` stream Office writes."""
    assert refused(xlsx.build_encrypted_container()) == ("file.unreadable", "encrypted")


def test_workbook_encrypted_by_office_is_encrypted() -> None:
    ooxml = pytest.importorskip("msoffcrypto.format.ooxml")
    encrypted = io.BytesIO()
    ooxml.OOXMLFile(io.BytesIO(xlsx.build_list([xlsx.sample_row()]))).encrypt("1234", encrypted)
    assert refused(encrypted.getvalue()) == ("file.unreadable", "encrypted")


def test_excel_97_file_is_legacy_xls() -> None:
    assert refused(xlsx.build_ole2({"Workbook": b"\x09\x08"})) == ("file.unreadable", "legacy_xls")


def test_xlsm_with_vba_project_is_refused() -> None:
    assert refused(xlsx.build_xlsm([xlsx.sample_row()])) == ("file.unreadable", "macros")


def test_macro_enabled_content_type_alone_is_refused() -> None:
    data = xlsx.write_sheet_xml("<sheetData/>", macro_enabled=True)
    assert refused(data) == ("file.unreadable", "macros")


def test_file_over_the_size_limit_is_too_large() -> None:
    data = xlsx.build_list([xlsx.sample_row()])
    assert refused(data, Limits(max_bytes=len(data) - 1)) == ("file.too_large", "too_big")
    assert read_workbook(data, Limits(max_bytes=len(data))).mutations is not None


def test_zip_bomb_over_the_uncompressed_limit_is_too_large() -> None:
    bomb = xlsx.build_zip_bomb(8 * 1024 * 1024)
    assert len(bomb) < 100_000
    limits = Limits(max_uncompressed=4 * 1024 * 1024)
    assert refused(bomb, limits) == ("file.too_large", "uncompressed_too_big")


def test_extreme_compression_ratio_is_too_large() -> None:
    assert refused(xlsx.build_zip_bomb(4 * 1024 * 1024)) == (
        "file.too_large",
        "uncompressed_too_big",
    )


def test_member_inflating_past_its_header_is_too_large() -> None:
    """Headers that understate the size pass every header check; inflating tells."""
    bomb = xlsx.build_understated_zip(real_size=300_000, declared_size=1_000)
    assert refused(bomb) == ("file.too_large", "uncompressed_too_big")


def test_too_many_zip_members_is_too_large() -> None:
    data = xlsx.build_list([xlsx.sample_row()])
    assert refused(data, Limits(max_members=5)) == ("file.too_large", "uncompressed_too_big")


def test_250000_rows_are_too_many() -> None:
    data = xlsx.write_big_list(250_000, row=lambda i: {"H": 1001, "N": i % 7})
    assert refused(data) == ("file.too_large", "too_many_rows")


def test_row_limit_counts_data_rows_only() -> None:
    data = xlsx.build_list([xlsx.sample_row(i) for i in range(3)])
    assert read_workbook(data, Limits(max_rows=3)).mutations is not None
    assert refused(data, Limits(max_rows=2)) == ("file.too_large", "too_many_rows")


def test_trailing_empty_rows_do_not_count() -> None:
    """Formatted empty rows and filled-down formulas returning "" below the data."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>X{r}</t></is></c></row>' for r in (1, 2, 3)
    )
    rows += '<row r="4" s="1" customFormat="1"><c r="A4" s="1"/></row>'
    rows += "".join(
        f'<row r="{r}"><c r="B{r}" t="str"><f>IF(A{r}="","",1)</f><v></v></c>'
        f'<c r="C{r}" t="inlineStr"><is><t xml:space="preserve">  </t></is></c></row>'
        for r in range(5, 12)
    )
    data = xlsx.write_sheet_xml(f"<sheetData>{rows}</sheetData>")
    sheet = read_workbook(data, Limits(max_rows=2)).mutations
    assert sheet is not None
    assert [row[0] for row in sheet.rows] == ["X1", "X2", "X3"]


# -- which sheet is the list --------------------------------------------------------------
def test_two_sheets_without_mutationen_give_no_list() -> None:
    data = xlsx.build_list([xlsx.sample_row()], sheet_name="Tabelle1", extra_sheets=["Tabelle2"])
    workbook = read_workbook(data)
    assert workbook.sheet_names == ("Tabelle1", "Tabelle2")
    assert workbook.mutations is None


def test_only_sheet_with_another_name_is_the_list() -> None:
    workbook = read_workbook(xlsx.build_list([xlsx.sample_row()], sheet_name="Tabelle1"))
    assert workbook.mutations is not None
    assert workbook.mutations.name == "Tabelle1"
    assert workbook.mutations.rows[0] == HEADERS


def test_mutationen_is_found_among_other_sheets() -> None:
    data = xlsx.build_list([xlsx.sample_row()], sheet_name=" mutationen ", extra_sheets=["Notes"])
    workbook = read_workbook(data)
    assert workbook.mutations is not None
    assert workbook.mutations.name == " mutationen "


def test_einsaetze_sheet_is_read() -> None:
    ahv = xlsx.ahv_number(7)
    data = xlsx.build_list(
        [xlsx.sample_row(6)],
        assignments=[[ahv, date(2025, 3, 3), date(2025, 3, 14), "N", None, 40, 38.5]],
        week_headers=["2025-W10", date(2025, 3, 10)],
    )
    workbook = read_workbook(data)
    assert workbook.assignments is not None
    assert workbook.assignments.name == ASSIGNMENTS_SHEET
    header, row = workbook.assignments.rows
    assert header[5:] == ["2025-W10", datetime(2025, 3, 10)] or header[5:] == [
        "2025-W10",
        date(2025, 3, 10),
    ]
    assert row[:4] == [ahv, date(2025, 3, 3), date(2025, 3, 14), "N"]
    assert row[5:] == [40, 38.5]


def test_einsaetze_in_decomposed_unicode_is_found() -> None:
    data = xlsx.build_list([xlsx.sample_row()], extra_sheets=["Einsa\u0308tze"])
    workbook = read_workbook(data)
    assert workbook.assignments is not None
    assert workbook.assignments.rows == []


def test_einsaetze_alone_is_not_the_list() -> None:
    """The only sheet is taken as the list (TEMPLATE.md), unless it is `Einsätze`."""
    workbook = read_workbook(xlsx.build_list([], sheet_name=ASSIGNMENTS_SHEET))
    assert workbook.assignments is not None
    assert workbook.mutations is None


# -- cells ----------------------------------------------------------------------------------
def test_merged_cells_are_reported() -> None:
    book = openpyxl.load_workbook(io.BytesIO(xlsx.build_list([xlsx.sample_row()] * 3)))
    book[MUTATIONS_SHEET].merge_cells("A2:B3")
    book[MUTATIONS_SHEET].merge_cells("Q4:Q4")
    out = io.BytesIO()
    book.save(out)
    sheet = read_workbook(out.getvalue()).mutations
    assert sheet is not None
    assert set(sheet.merged) == {CellRange(1, 0, 2, 1), CellRange(3, 16, 3, 16)}


def test_formulas_without_cached_values_from_openpyxl() -> None:
    first, second = xlsx.sample_row(0), xlsx.sample_row(1)
    first["I"] = "=J2*0.1"
    second["J"] = "=SUM(U3:V3)"
    second["A"] = '=UPPER("meier")'
    sheet = read_workbook(xlsx.build_list([first, second])).mutations
    assert sheet is not None
    assert sheet.formulas_without_value == {(1, col("I")), (2, col("J")), (2, col("A"))}
    assert sheet.rows[1][col("I")] == ""


def test_formulas_with_cached_values_are_not_reported() -> None:
    xml = (
        "<sheetData>"
        '<row r="1"><c r="A1"><f>1+1</f><v>2</v></c>'
        '<c r="B1" t="str"><f>"x"</f><v>x</v></c>'
        '<c r="C1" t="str"><f>""</f><v></v></c>'
        '<c r="D1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        '<c r="E1"><f t="shared" ref="E1:E3" si="0">A1</f><v>2</v></c></row>'
        '<row r="2"><c r="E2"><f t="shared" si="0"/><v>0</v></c>'
        '<c r="F2" s="3"><f>NOW()</f><v/></c></row>'
        '<row r="3"><c r="E3"><f t="shared" si="0"/></c>'
        '<c r="AB3"><f>TODAY()</f><v></v></c></row>'
        '</sheetData><autoFilter ref="A1:F3"><filterColumn colId="0"/></autoFilter>'
    )
    sheet = read_workbook(xlsx.write_sheet_xml(xml)).mutations
    assert sheet is not None
    assert sheet.formulas_without_value == {(1, 5), (2, 4), (2, 27)}
    assert sheet.rows[0][:2] == [2, "x"] or sheet.rows[0][:2] == [2.0, "x"]


def test_formulas_in_einsaetze_are_reported_on_that_sheet() -> None:
    data = xlsx.build_list(
        [xlsx.sample_row()], assignments=[[xlsx.ahv_number(1), date(2025, 3, 3), "=B2+14"]]
    )
    workbook = read_workbook(data)
    assert workbook.mutations is not None and workbook.assignments is not None
    assert workbook.mutations.formulas_without_value == frozenset()
    assert workbook.assignments.formulas_without_value == {(1, 2)}


def test_headers_only_is_an_empty_data_area() -> None:
    sheet = read_workbook(xlsx.build_list([])).mutations
    assert sheet is not None
    assert sheet.rows == [HEADERS]


def test_blank_sheet_has_no_rows() -> None:
    sheet = read_workbook(xlsx.build_list([], headers=[])).mutations
    assert sheet is not None
    assert sheet.rows == []


def test_excel_dates_come_back_as_dates() -> None:
    row = xlsx.sample_row(3)
    row["K"] = date(2025, 3, 1)
    row["L"] = datetime(2025, 3, 31, 0, 0)
    sheet = read_workbook(xlsx.build_list([row])).mutations
    assert sheet is not None
    values = sheet.rows[1]
    assert values[col("S")] == row["S"]
    assert values[col("K")] == date(2025, 3, 1)
    assert values[col("L")] in (date(2025, 3, 31), datetime(2025, 3, 31))


def test_serials_with_a_date_style_come_back_as_dates() -> None:
    """The fast writer stores dates as Excel does: a serial number and a date format."""
    sheet = read_workbook(xlsx.write_big_list(2)).mutations
    assert sheet is not None
    assert sheet.rows[2][col("S")] == xlsx.sample_row(1)["S"]


def test_text_stays_text() -> None:
    row = xlsx.sample_row()
    row.update({"E": "0123", "G": "123.45.678.901", "M": "1", "N": "007", "A": "1E5"})
    sheet = read_workbook(xlsx.build_list([row])).mutations
    assert sheet is not None
    values = sheet.rows[1]
    assert values[col("E")] == "0123"
    assert values[col("G")] == "123.45.678.901"
    assert values[col("M")] == "1"
    assert values[col("N")] == "007"
    assert values[col("Q")] == row["Q"]
    assert values[col("A")] == "1E5"
    assert values[col("D")] == ""


def test_empty_cells_are_empty_text_and_rows_have_one_length() -> None:
    rows = [{"A": "X"}, {"Q": xlsx.ahv_number(2)}]
    sheet = read_workbook(xlsx.build_list(rows)).mutations
    assert sheet is not None
    assert {len(row) for row in sheet.rows} == {len(COLUMNS)}
    assert sheet.rows[1][1:] == [""] * (len(COLUMNS) - 1)


def test_times_and_durations_become_text() -> None:
    book = openpyxl.load_workbook(io.BytesIO(xlsx.build_list([xlsx.sample_row()])))
    sheet = book[MUTATIONS_SHEET]
    sheet["U2"] = timedelta(hours=30, minutes=15)
    sheet["U2"].number_format = "[h]:mm"
    sheet["W2"] = time(7, 30)
    sheet["W2"].number_format = "hh:mm"
    out = io.BytesIO()
    book.save(out)
    read = read_workbook(out.getvalue()).mutations
    assert read is not None
    assert read.rows[1][col("U")] == "30:15"
    assert read.rows[1][col("W")] == "07:30"


def test_a_list_from_the_fast_writer_reads_completely() -> None:
    data = xlsx.write_big_list(
        500, assignments=[[xlsx.ahv_number(1), date(2025, 3, 3), None, "J", None]]
    )
    workbook = read_workbook(data)
    assert workbook.mutations is not None and workbook.assignments is not None
    assert len(workbook.mutations.rows) == 501
    assert workbook.mutations.rows[0] == HEADERS
    assert workbook.mutations.rows[500][col("Q")] == xlsx.ahv_number(500)
    assert workbook.assignments.rows[1][:2] == [xlsx.ahv_number(1), date(2025, 3, 3)]


def test_formulas_in_prefixed_xml_are_found() -> None:
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    xml = (
        f'<x:sheetData xmlns:x="{ns}"><x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c>'
        '<x:c r="B1"><x:f>A1*2</x:f><x:v/></x:c><x:c r="C1"><x:f>A1*3</x:f><x:v>3</x:v></x:c>'
        "</x:row></x:sheetData>"
    )
    sheet = read_workbook(xlsx.write_sheet_xml(xml)).mutations
    assert sheet is not None
    assert sheet.formulas_without_value == {(0, 1)}


def test_fast_writer_keeps_week_columns_of_einsaetze() -> None:
    data = xlsx.write_big_list(
        1, assignments=[[xlsx.ahv_number(1), date(2025, 3, 3), None, "J", None, 38.5, 40]]
    )
    workbook = read_workbook(data)
    assert workbook.assignments is not None
    assert workbook.assignments.rows[1][5:] == [38.5, 40]
