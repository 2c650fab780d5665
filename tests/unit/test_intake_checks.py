"""The checks of the monthly list (TEMPLATE.md "Checks and their codes"), on sheets built in code.

Every code of the table at least once, with its row and column; dates in every accepted and
several refused forms; numbers as text; spaces; a French list; JSON rows against the same
xlsx rows; properties: any cell never raises, valid rows are valid `ListRow` input.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.ch import ssn

from contracts.events.intake import ListRow
from services.intake import messages
from services.intake.domain import (
    CODES,
    CheckedList,
    ahv_check_digit_ok,
    check_json_rows,
    check_workbook,
    declared_findings,
    unreadable,
)
from services.intake.model import (
    ASSIGNMENT_COLUMNS,
    COLUMNS,
    Cell,
    CellRange,
    Finding,
    Sheet,
    Workbook,
)
from tests.support.xlsx import EMPLOYER_NO, ahv_number, sample_row

PERIOD = "2025-03"
HEADERS: list[Cell] = [c.header for c in COLUMNS]
LETTERS = [c.letter for c in COLUMNS]
FIELD_OF = {c.letter: c.field for c in COLUMNS}
A_HEADERS: list[Cell] = [c.header for c in ASSIGNMENT_COLUMNS]
#: 6 January 2025 as an Excel serial number (days since 30 December 1899).
SERIAL_2025_01_06 = (date(2025, 1, 6) - date(1899, 12, 30)).days


def row(i: int = 0, **changes: Cell) -> list[Cell]:
    """A valid row of the March 2025 list (`sample_row`), with cells changed by letter."""
    cells = {**sample_row(i), **changes}
    return [cells.get(letter) for letter in LETTERS]


def check(
    *rows: Sequence[Cell],
    period: str = PERIOD,
    employer_no: int = EMPLOYER_NO,
    assignments: Sequence[Sequence[Cell]] | None = None,
    week_headers: Sequence[Cell] = (),
    **sheet: Any,
) -> CheckedList:
    mutations = Sheet("Mutationen", [HEADERS, *[list(r) for r in rows]], **sheet)
    einsaetze = None
    if assignments is not None:
        einsaetze = Sheet(
            "Einsätze", [[*A_HEADERS, *week_headers], *[list(a) for a in assignments]]
        )
    wb = Workbook(("Mutationen",), mutations, einsaetze)
    return check_workbook(wb, employer_no=employer_no, period=period, language="de")


def where(checked: CheckedList) -> set[tuple[int | None, str | None, str]]:
    return {(f.row, f.column, f.code) for f in checked.findings}


def only(checked: CheckedList) -> Finding:
    assert len(checked.findings) == 1, [(f.row, f.column, f.code) for f in checked.findings]
    return checked.findings[0]


def typed(checked: CheckedList, letter: str) -> object:
    assert checked.status == "ok", where(checked)
    return checked.rows[0].values[FIELD_OF[letter]]


# -- the valid list --------------------------------------------------------------------------
def test_valid_list_is_ok_and_its_rows_are_list_rows() -> None:
    checked = check(*(row(i) for i in range(12)))
    assert checked.status == "ok"
    assert checked.findings == ()
    assert (checked.row_count, checked.error_count, checked.warning_count) == (12, 0, 0)
    assert [r.row_no for r in checked.rows] == list(range(2, 14))
    first = checked.rows[0]
    assert first.language == "de"
    assert first.values["ahv"] == ahv_number(1)
    assert first.values["assignments"] == []
    assert isinstance(first.values["premium_total"], Decimal)
    for r in checked.rows:
        ListRow.model_validate(r.values)


def test_fully_empty_rows_are_ignored_and_rows_keep_their_numbers() -> None:
    checked = check(row(0), [None] * 28, ["", "  ", None], row(1))
    assert checked.status == "ok"
    assert checked.row_count == 2
    assert [r.row_no for r in checked.rows] == [2, 5]


# -- every code of TEMPLATE.md, table-driven ----------------------------------------------
CELL_CASES: list[tuple[str, dict[str, Cell], set[tuple[str, str]]]] = [
    # required (TEMPLATE "required")
    ("required-A-empty", {"A": ""}, {("A", "required")}),
    ("required-Q-none", {"Q": None}, {("Q", "required")}),
    ("required-U-blank-text", {"U": "   "}, {("U", "required")}),
    ("required-Y-empty", {"Y": None}, {("Y", "required")}),
    ("required-B-number-is-not-text", {"B": 12}, {("B", "required")}),
    # capitals (Art. 10.1)
    ("capitals-A", {"A": "Müller"}, {("A", "capitals")}),
    ("capitals-F-accent", {"F": "GENèVE"}, {("F", "capitals")}),
    ("capitals-D-optional", {"D": "c/o Meier"}, {("D", "capitals")}),
    ("capitals-E-abroad", {"E": "f-75000"}, {("E", "capitals")}),
    ("capitals-digits-and-punctuation-fine", {"C": "RUE DU LAC 12-14, BÂT. 3"}, set()),
    ("text-too-long-A", {"A": "X" * 101}, {("A", "text.too_long")}),
    # postcode (TEMPLATE E; code of ours)
    ("postcode-five-digits", {"E": "80011"}, {("E", "postcode.format")}),
    ("postcode-three-digits-number", {"E": 800}, {("E", "postcode.format")}),
    ("postcode-abroad", {"E": "F-75000"}, set()),
    ("postcode-number", {"E": 8001.0}, set()),
    # AHV number (Art. 10.3; stdnum.ch.ssn)
    ("ahv-format-no-dots", {"Q": "7569217076985"}, {("Q", "ahv.format")}),
    ("ahv-format-number", {"Q": 7569217076985.0}, {("Q", "ahv.format")}),
    ("ahv-format-short", {"Q": "756.9217.0769.8"}, {("Q", "ahv.format")}),
    ("ahv-format-not-756", {"Q": "123.4567.8910.19"}, {("Q", "ahv.format")}),
    ("ahv-checksum-Q", {"Q": "756.9217.0769.84"}, {("Q", "ahv.checksum")}),
    ("ahv-legacy-G-format", {"G": "123.45.678"}, {("G", "ahv.format")}),
    ("ahv-legacy-G-ok", {"G": "123.45.678.901"}, set()),
    ("ahv-O-checked-like-Q", {"M": 3, "O": "756.9217.0769.84"}, {("O", "ahv.checksum")}),
    # amounts (Art. 10.3: one decimal in I/J; ours: two in U/V)
    ("amount-I-two-decimals", {"I": 400.15}, {("I", "amount.format")}),
    ("amount-J-text-two-decimals", {"J": "2190.05"}, {("J", "amount.format")}),
    ("amount-I-trailing-zero-fine", {"I": "98.60"}, set()),
    ("amount-U-three-decimals", {"U": 160.125}, {("U", "amount.format")}),
    ("amount-V-text", {"V": "viertausend"}, {("V", "amount.format")}),
    ("amount-I-dash-alone", {"I": "-"}, {("I", "amount.format")}),
    ("amount-U-decimal-comma", {"U": "160,5"}, {("U", "amount.format")}),
    ("amount-V-apostrophe", {"V": "4'800.00"}, {("V", "amount.format")}),
    ("amount-U-nan", {"U": math.nan}, {("U", "amount.format")}),
    ("amount-V-inf", {"V": math.inf}, {("V", "amount.format")}),
    ("amount-U-huge", {"U": 1e12}, {("U", "amount.format")}),
    ("amount-J-date", {"J": date(2025, 3, 1)}, {("J", "amount.format")}),
    # sign (RULES §3: a negative hourly wage is invalid)
    ("sign-U-negative-V-positive", {"U": -160.0}, {("V", "amount.sign")}),
    ("sign-V-without-hours", {"U": 0.0}, {("U", "amount.sign")}),
    ("sign-correction-both-negative-fine", {"U": -10.0, "V": -300.0, "I": -1.4, "J": -29.0}, set()),
    # dates (Art. 10.4)
    ("date-S-31-february", {"S": "31.02.1980"}, {("S", "date.format")}),
    ("date-W-month-name", {"W": "Januar 2025"}, {("W", "date.format")}),
    ("date-W-slashes", {"W": "06/01/2025"}, {("W", "date.format")}),
    ("date-range-W-after-period", {"W": date(2025, 4, 1)}, {("W", "date.range")}),
    ("date-range-K-before-BVG", {"M": 1, "K": date(1984, 12, 31)}, {("K", "date.range")}),
    ("date-range-L-day-after-period-fine", {"M": 2, "L": date(2025, 4, 1)}, set()),
    ("date-range-L-two-days-after", {"M": 2, "L": date(2025, 4, 2)}, {("L", "date.range")}),
    (
        "date-range-exit-before-entry",
        {"M": 2, "K": date(2025, 3, 10), "L": date(2025, 3, 9)},
        {("L", "date.range")},
    ),
    (
        "date-range-X-before-W",
        {"W": date(2025, 3, 10), "X": date(2025, 3, 9)},
        {("X", "date.range")},
    ),
    (
        "date-range-Z-before-W",
        {"W": date(2025, 3, 10), "Z": date(2025, 3, 9)},
        {("Z", "date.range")},
    ),
    (
        "date-range-Z-after-X",
        {"W": date(2025, 1, 6), "X": date(2025, 3, 9), "Z": date(2025, 3, 10)},
        {("Z", "date.range")},
    ),
    # codes (RULES §7, TEMPLATE)
    ("code-M-8", {"M": 8}, {("M", "code.unknown")}),
    ("code-M-0", {"M": 0}, {("M", "code.unknown")}),
    ("code-P-4", {"P": 4}, {("P", "code.unknown")}),
    ("code-R-6", {"R": 6}, {("R", "code.unknown")}),
    ("code-T-3", {"T": 3.0}, {("T", "code.unknown")}),
    ("code-T-1.5", {"T": 1.5}, {("T", "code.unknown")}),
    ("code-Y-X", {"Y": "X"}, {("Y", "code.unknown")}),
    ("code-AA-oui", {"AA": "oui"}, {("AA", "code.unknown")}),
    ("code-AB-2", {"AB": 2}, {("AB", "code.unknown")}),
    ("code-text-digits-fine", {"P": "1", "R": " 2 ", "T": "1.0", "M": "4", "J": 0.0}, set()),
    # employer (TEMPLATE H)
    ("employer-other", {"H": 999}, {("H", "employer.mismatch")}),
    ("employer-text", {"H": "ABC"}, {("H", "employer.mismatch")}),
    ("employer-as-text-fine", {"H": str(EMPLOYER_NO)}, set()),
    # zero wage (TEMPLATE J, Art. 9)
    ("zero-J-without-code", {"J": 0.0, "I": 0.0}, {("J", "zero_wage.reason")}),
    ("zero-I-without-code", {"I": 0}, {("I", "zero_wage.reason")}),
    ("zero-J-code-4-fine", {"J": 0.0, "I": 0.0, "M": 4}, set()),
    ("zero-J-code-7-fine", {"J": "0", "I": "0.0", "M": 7}, set()),
    ("zero-J-no-work-fine", {"J": 0.0, "I": 0.0, "U": 0.0, "V": 0.0}, set()),
    # mutation codes need their column (Art. 9)
    ("entry-date-missing", {"M": 1}, {("K", "entry.date_missing")}),
    ("exit-date-missing", {"M": 2}, {("L", "exit.date_missing")}),
    ("old-ahv-missing", {"M": 3}, {("O", "old_ahv.missing")}),
    ("entry-with-date-fine", {"M": 1, "K": date(2025, 3, 3)}, set()),
    # age (RULES §5, Art. 1.1)
    ("age-under-18", {"S": date(2008, 1, 1)}, {("S", "age.range")}),
    ("age-18-fine", {"S": date(2007, 12, 31)}, set()),
    ("age-man-past-reference", {"S": date(1959, 1, 1), "T": 1}, {("S", "age.range")}),
    ("age-woman-1960-past", {"S": date(1960, 12, 1), "T": 2}, {("S", "age.range")}),
    ("age-woman-1961-64y3m-fine", {"S": date(1961, 1, 15), "T": 2}, set()),
    ("age-man-reference-month-fine", {"S": date(1960, 3, 15), "T": 1}, set()),
    ("age-man-month-before-fine", {"S": date(1960, 4, 1), "T": 1}, set()),
    # invalidity (Art. 1.3, 18)
    ("invalidity-101", {"N": 101}, {("N", "invalidity.range")}),
    ("invalidity-half", {"N": 50.5}, {("N", "invalidity.range")}),
    ("invalidity-text", {"N": "viel"}, {("N", "invalidity.range")}),
    ("invalidity-percent-text-fine", {"N": "40 %"}, set()),
    (
        "invalidity-70-on-entry",
        {"N": 70, "M": 1, "K": date(2025, 3, 3)},
        {("N", "invalidity.range")},
    ),
    ("invalidity-70-without-entry-fine", {"N": 70}, set()),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in CELL_CASES], ids=[c[0] for c in CELL_CASES]
)
def test_cell_checks(changes: dict[str, Cell], expected: set[tuple[str, str]]) -> None:
    checked = check(row(0, **changes))
    assert where(checked) == {(2, column, code) for column, code in expected}
    assert checked.status == ("faulty" if expected else "ok")
    assert all(f.severity == "error" and f.sheet is None for f in checked.findings)
    if expected:
        assert checked.rows == ()  # a row with an error is not passed on
    else:
        ListRow.model_validate(checked.rows[0].values)


def test_the_row_number_is_the_spreadsheet_row() -> None:
    checked = check(row(0), row(1), row(2, Q="756.9217.0769.84"), row(3))
    assert where(checked) == {(4, "Q", "ahv.checksum")}
    assert [r.row_no for r in checked.rows] == [2, 3, 5]


def test_duplicate_ahv_names_both_rows() -> None:
    checked = check(row(0), row(1, Q=ahv_number(1)), row(2))
    assert where(checked) == {(2, "Q", "ahv.duplicate"), (3, "Q", "ahv.duplicate")}
    by_row = {f.row: f for f in checked.findings}
    assert by_row[2].params["other_row"] == "3"
    assert "3" in by_row[2].message and "2" in by_row[3].message
    assert ahv_number(1) not in by_row[2].message  # no AHV numbers in messages


def test_employer_mismatch_between_rows() -> None:
    checked = check(row(0), row(1, H=EMPLOYER_NO + 1), row(2))
    f = only(checked)
    assert (f.row, f.column, f.code) == (3, "H", "employer.mismatch")
    assert f.params["value"] == str(EMPLOYER_NO + 1) and f.params["expected"] == str(EMPLOYER_NO)


def test_every_row_differs_from_the_uploading_employer() -> None:
    checked = check(row(0), row(1), employer_no=4711)
    assert where(checked) == {(2, "H", "employer.mismatch"), (3, "H", "employer.mismatch")}


# -- fixes for --fix ------------------------------------------------------------------------
FIX_CASES: list[tuple[str, dict[str, Cell], str, Cell]] = [
    ("capitals-upper", {"A": "Müller"}, "A", "MÜLLER"),
    ("capitals-abroad-postcode", {"E": "d-79539"}, "E", "D-79539"),
    ("ahv-dots", {"Q": "756 9217 0769 85"}, "Q", "756.9217.0769.85"),
    ("ahv-number", {"Q": 7569217076985}, "Q", "756.9217.0769.85"),
    ("legacy-ahv-dots", {"G": "12345678901"}, "G", "123.45.678.901"),
    ("amount-decimal-comma", {"U": "160,5"}, "U", 160.5),
    ("amount-apostrophes", {"V": "4'800.00"}, "V", 4800),
    ("amount-typographic-apostrophe", {"V": "4\u2019800,50"}, "V", 4800.5),
    ("amount-dot-thousands-comma-decimal", {"V": "4.800,50"}, "V", 4800.5),
    ("amount-currency", {"I": "CHF 98.6"}, "I", 98.6),
    ("date-year-first-slashes", {"W": "2025/01/06"}, "W", date(2025, 1, 6)),
    ("date-year-first-dots", {"W": "2025.1.6"}, "W", date(2025, 1, 6)),
    ("date-iso-midnight", {"W": "2025-01-06T00:00:00"}, "W", date(2025, 1, 6)),
    ("flag-oui", {"AA": "Oui"}, "AA", "J"),
    ("flag-non", {"AB": "non"}, "AB", "N"),
    ("flag-si", {"Y": "sì"}, "Y", "J"),
]


@pytest.mark.parametrize(
    ("changes", "column", "fixed"), [c[1:] for c in FIX_CASES], ids=[c[0] for c in FIX_CASES]
)
def test_mechanical_fixes(changes: dict[str, Cell], column: str, fixed: Cell) -> None:
    f = only(check(row(0, **changes)))
    assert f.column == column
    assert f.fixed == fixed
    assert type(f.fixed) is type(fixed)
    repaired = check(row(0, **{**changes, column: f.fixed}))  # the fix itself is accepted
    assert repaired.status == "ok", where(repaired)


@pytest.mark.parametrize(
    "changes",
    [
        {"I": "400,15"},  # a decimal comma, but two decimals in I: no fix
        {"Q": "756.9217.0769.84"},
        {"Q": "7569217076984"},  # compact with a wrong check digit
        {"W": "06/01/2025"},  # day or month first?
        {"W": "31.02.2025"},
        {"R": 6},
        {"H": 999},
        {"S": date(2010, 1, 1)},
    ],
    ids=str,
)
def test_no_fix_where_the_value_is_not_certain(changes: dict[str, Cell]) -> None:
    assert all(f.fixed is None for f in check(row(0, **changes)).findings)


# -- dates (TEMPLATE "Dates", Art. 10.4) ------------------------------------------------------
ACCEPTED_DATES: list[tuple[str, Cell, date]] = [
    ("date-cell", date(2025, 1, 6), date(2025, 1, 6)),
    ("datetime-cell", datetime(2025, 1, 6, 0, 0), date(2025, 1, 6)),
    ("datetime-with-time", datetime(2025, 1, 6, 13, 30), date(2025, 1, 6)),
    ("dd.mm.yyyy", "06.01.2025", date(2025, 1, 6)),
    ("d.m.yyyy", "6.1.2025", date(2025, 1, 6)),
    ("dd.mm.yy", "06.01.25", date(2025, 1, 6)),
    ("d.m.yy", "6.1.25", date(2025, 1, 6)),
    ("ddmmyy", "060125", date(2025, 1, 6)),
    ("ddmmyy-number", 130125, date(2025, 1, 13)),
    ("iso", "2025-01-06", date(2025, 1, 6)),
    ("spaces", "  06.01.2025 ", date(2025, 1, 6)),
    ("excel-serial-int", SERIAL_2025_01_06, date(2025, 1, 6)),
    ("excel-serial-float", float(SERIAL_2025_01_06), date(2025, 1, 6)),
    ("excel-serial-with-time", SERIAL_2025_01_06 + 0.75, date(2025, 1, 6)),
    ("two-digit-year-of-the-period", "31.03.25", date(2025, 3, 31)),
]


@pytest.mark.parametrize(
    ("cell", "expected"), [c[1:] for c in ACCEPTED_DATES], ids=[c[0] for c in ACCEPTED_DATES]
)
def test_accepted_date_forms(cell: Cell, expected: date) -> None:
    assert typed(check(row(0, W=cell)), "W") == expected


REFUSED_DATES: list[tuple[str, Cell, str]] = [
    ("slashes-day-first", "06/01/2025", "date.format"),
    ("year-first-slashes", "2025/01/06", "date.format"),
    ("no-such-day", "31.02.2025", "date.format"),
    ("month-name", "Januar 2025", "date.format"),
    ("three-digit-year", "06.01.025", "date.format"),
    ("serial-as-text", str(SERIAL_2025_01_06), "date.format"),
    ("seven-digits", "0601202", "date.format"),
    ("excel-1900-02-29", 60, "date.format"),
    ("number-beyond-2099", 80_000, "date.format"),
    ("negative-number", -5, "date.format"),
    ("five-digit-ddmmyy-is-a-serial", 60125, "date.range"),  # 2064: after the period
    ("next-year-two-digits", "01.01.26", "date.range"),  # 1926 (RULES: latest year not after)
    ("later-in-the-period-year", "15.06.25", "date.range"),  # 2025-06-15, after March
]


@pytest.mark.parametrize(
    ("cell", "code"), [c[1:] for c in REFUSED_DATES], ids=[c[0] for c in REFUSED_DATES]
)
def test_refused_date_forms(cell: Cell, code: str) -> None:
    f = only(check(row(0, W=cell)))
    assert (f.row, f.column, f.code) == (2, "W", code)


@pytest.mark.parametrize(
    ("period", "cell", "expected"),
    [
        ("2026-01", "15.12.25", date(2025, 12, 15)),  # the year before the period
        ("2026-01", "01.01.26", date(2026, 1, 1)),  # the period's own year
        ("2025-12", "01.12.25", date(2025, 12, 1)),
        ("2000-03", "01.03.00", date(2000, 3, 1)),
        ("2000-03", "01.03.99", date(1999, 3, 1)),  # 2099 lies after the period
        ("2019-01", "311218", date(2018, 12, 31)),
    ],
)
def test_two_digit_year_at_the_period_boundary(period: str, cell: str, expected: date) -> None:
    checked = check(row(0, W=cell), period=period)
    assert checked.rows and checked.rows[0].values["assignment_start"] == expected, where(checked)


def test_two_digit_year_after_the_period_in_its_year_is_out_of_range() -> None:
    f = only(check(row(0, W="01.02.26"), period="2026-01"))  # 2026-02-01: after January
    assert (f.code, f.params["latest"]) == ("date.range", "31.01.2026")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("13.01.85", date(1985, 1, 13)),
        ("130185", date(1985, 1, 13)),
        ("01.06.07", date(2007, 6, 1)),  # BVG age 18 in 2025
        ("01.06.26", date(1926, 6, 1)),  # 2026 is after the period; 1926: age 99
        ("01.06.11", date(2011, 6, 1)),  # age 14: 2011, not 1911 (age 114)
    ],
)
def test_two_digit_birth_year_gives_a_bvg_age_of_14_to_99(cell: str, expected: date) -> None:
    checked = check(row(0, S=cell))
    if checked.rows:
        assert checked.rows[0].values["birth_date"] == expected
    else:  # read as expected, but too young or past the reference age: age.range says so
        f = only(checked)
        assert (f.column, f.code, f.params["age"]) == ("S", "age.range", str(2025 - expected.year))


def test_two_digit_birth_year_outside_14_to_99_falls_back_to_the_latest() -> None:
    f = only(check(row(0, S="01.01.12")))  # 2012: age 13; 1912: age 113
    assert (f.column, f.code, f.params["age"]) == ("S", "age.range", "13")


# -- numbers as text, spaces ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("letter", "cell", "expected"),
    [
        ("U", "160.5", Decimal("160.5")),
        ("U", " 160.50 ", Decimal("160.50")),
        ("V", "-0", Decimal("0")),
        ("V", 4800, Decimal("4800")),
        ("I", 0.1 + 0.2 + 98.3, Decimal("98.6")),  # binary residue: read as Excel shows it
        ("H", f" {EMPLOYER_NO} ", EMPLOYER_NO),
        ("P", "1", 1),
        ("R", 2.0, 2),
        ("M", "4", 4),
        ("N", "", 0),
        ("N", "40%", 40),
        ("A", "  MÜLLER  ", "MÜLLER"),
        ("E", " 8001 ", "8001"),
        ("Q", " 756.9217.0769.85 ", "756.9217.0769.85"),
        ("Y", "j", True),
        ("Y", "Nein", False),
        ("Y", True, True),
        ("AA", 0, False),
    ],
)
def test_text_numbers_and_spaces(letter: str, cell: Cell, expected: object) -> None:
    changes: dict[str, Cell] = {letter: cell}
    if letter == "M":
        changes |= {"J": 0.0, "I": 0.0}
    if letter == "V":
        changes |= {"U": 0.0 if expected == 0 else 160.0, "I": 0.0, "J": 0.0, "M": 4}
    value = typed(check(row(0, **changes)), letter)
    assert value == expected
    assert type(value) is type(expected)


# -- languages ---------------------------------------------------------------------------------
def test_a_french_row_gets_french_messages_and_a_german_one_german() -> None:
    checked = check(row(0, P=2, A="Dupont"), row(1, A="Meier"))
    fr, de = checked.findings
    assert fr.message.startswith("La colonne A (Name)")
    assert de.message.startswith("Spalte A (Name)")


@pytest.mark.parametrize(("code", "start"), [(0, "Column A"), (3, "La colonna A"), (1, "Spalte A")])
def test_row_language_by_column_P(code: int, start: str) -> None:
    assert only(check(row(0, P=code, A="Meier"))).message.startswith(start)


def test_unknown_language_code_reports_in_german() -> None:
    checked = check(row(0, P=9, A="Meier"))
    assert {f.message.split(" ")[0] for f in checked.findings} == {"Spalte"}


def test_file_findings_in_the_list_language() -> None:
    wb = Workbook(("Liste",), None)
    checked = check_workbook(wb, employer_no=1, period=PERIOD, language="it")
    f = only(checked)
    assert (f.code, f.row, f.column) == ("file.no_sheet", None, None)
    assert "Liste" in f.message and f.message.startswith("La cartella")


# -- the file ---------------------------------------------------------------------------------
def test_no_sheet() -> None:
    checked = check_workbook(
        Workbook(("Tabelle1", "Tabelle2"), None), employer_no=1, period=PERIOD, language="de"
    )
    assert checked.status == "faulty" and only(checked).code == "file.no_sheet"


def test_headers_missing_and_misplaced_are_named() -> None:
    headers = list(HEADERS)
    headers[2], headers[3] = headers[3], headers[2]  # Strasse <-> Adresszusatz
    headers[16] = "AHV Nr."
    wb = Workbook(("Mutationen",), Sheet("Mutationen", [headers, row(0)]))
    checked = check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="en")
    assert checked.status == "faulty" and checked.rows == ()
    missing, misplaced = checked.findings
    assert (missing.code, missing.params["columns"]) == ("file.headers", "Q (AHV-Nummer)")
    assert misplaced.params["columns"] == "Strasse: D → C, Adresszusatz: C → D"
    assert "Q (AHV-Nummer)" in missing.message


def test_headers_compare_trimmed_and_case_insensitive() -> None:
    headers: list[Cell] = [f"  {str(h).upper()} " for h in HEADERS]
    headers[19] = "Geschlechts\ncode"  # a wrapped header is not the same header
    wb = Workbook(("Mutationen",), Sheet("Mutationen", [headers, row(0)]))
    checked = check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="de")
    assert only(checked).params["columns"] == "T (Geschlechtscode)"
    headers[19] = " geschlechtscode"
    wb = Workbook(("Mutationen",), Sheet("Mutationen", [headers, row(0)]))
    assert check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="de").status == "ok"


@pytest.mark.parametrize("rows", [[], [[None] * 28, ["", " "]]], ids=["headers-only", "blank-rows"])
def test_empty_list(rows: list[list[Cell]]) -> None:
    checked = check(*rows)
    assert (checked.status, checked.row_count) == ("faulty", 0)
    assert only(checked).code == "file.empty"


def test_empty_sheet_is_empty() -> None:
    wb = Workbook(("Mutationen",), Sheet("Mutationen", []))
    assert (
        only(check_workbook(wb, employer_no=1, period=PERIOD, language="de")).code == "file.empty"
    )


def test_formula_without_value_is_reported_instead_of_the_empty_cell() -> None:
    checked = check(row(0), row(1, I=None), formulas_without_value=frozenset({(2, 8)}))
    f = only(checked)
    assert (f.row, f.column, f.code) == (3, "I", "cell.formula")
    assert [r.row_no for r in checked.rows] == [2]


def test_formula_in_a_blank_row_is_ignored() -> None:
    checked = check(row(0), [None] * 28, formulas_without_value=frozenset({(2, 8)}))
    assert checked.status == "ok"


def test_merged_cells_in_the_data_area() -> None:
    checked = check(row(0), row(1, B=None), merged=(CellRange(1, 1, 2, 1),))
    assert where(checked) == {(2, "B", "cell.merged"), (3, "B", "required")}
    merged = next(f for f in checked.findings if f.code == "cell.merged")
    assert merged.params["range"] == "B2:B3"


def test_merged_header_cells_outside_the_data_area_are_left_to_the_header_check() -> None:
    assert check(row(0), merged=(CellRange(0, 30, 0, 31),)).status == "ok"


@pytest.mark.parametrize(
    ("code", "reason", "start"),
    [
        ("file.unreadable", "not_xlsx", "Die Datei ist keine Excel-Arbeitsmappe"),
        ("file.unreadable", "encrypted", "Die Datei ist mit einem Kennwort"),
        ("file.too_large", "too_many_rows", "Die Liste hat mehr Zeilen"),
        ("file.unreadable", "something_new", "Die Datei kann nicht gelesen werden"),
    ],
)
def test_unreadable(code: str, reason: str, start: str) -> None:
    checked = unreadable(code, reason, language="de")
    assert (checked.status, checked.row_count, checked.rows) == ("unreadable", 0, ())
    f = only(checked)
    assert (f.code, f.severity, f.row, f.column) == (code, "error", None, None)
    assert f.message.startswith(start) and f.params["reason"] == reason


# -- sheet Einsätze -------------------------------------------------------------------------------
def test_assignments_attach_to_their_row_with_weekly_hours() -> None:
    ahv = ahv_number(1)
    checked = check(
        row(0),
        row(1),
        assignments=[
            [ahv, date(2025, 2, 24), None, "N", None, 40.0, 38.5, None, "12"],
            [ahv, "01.01.2025", "21.02.2025", "J", None],
        ],
        week_headers=[date(2025, 3, 3), "10.03.2025", "2025-W12", "2025-W13"],
    )
    assert checked.status == "ok", where(checked)
    first, second = checked.rows
    assert second.values["assignments"] == []
    details = first.values["assignments"]
    assert details == [
        {
            "start": date(2025, 2, 24),
            "end": None,
            "expected_over_13_weeks": False,
            "extension_accepted_on": None,
            "weekly_hours": [
                {"week_of": date(2025, 3, 3), "hours": Decimal("40.0")},
                {"week_of": date(2025, 3, 10), "hours": Decimal("38.5")},
                {"week_of": date(2025, 3, 24), "hours": Decimal("12")},
            ],
        },
        {
            "start": date(2025, 1, 1),
            "end": date(2025, 2, 21),
            "expected_over_13_weeks": True,
            "extension_accepted_on": None,
            "weekly_hours": [],
        },
    ]
    assert ListRow.model_validate(first.values).assignments[0].weekly_hours[2].hours == 12


def test_assignment_cells_are_checked_with_the_same_codes() -> None:
    checked = check(
        row(0),
        row(1, P=2),
        assignments=[
            [ahv_number(2), date(2025, 3, 10), date(2025, 3, 9), "vielleicht", None, -4.0],
            [ahv_number(77), date(2025, 3, 1), None, "N", None, 8.0],
            ["756.9217.0769.84", None, None, "N", None, None],
        ],
        week_headers=[date(2025, 3, 10)],
    )
    found = {(f.sheet, f.row, f.column, f.code) for f in checked.findings}
    assert found == {
        ("Einsätze", 2, "C", "date.range"),
        ("Einsätze", 2, "D", "code.unknown"),
        ("Einsätze", 2, "F", "amount.format"),
        ("Einsätze", 3, "A", "assignment.unknown_worker"),
        ("Einsätze", 4, "A", "ahv.checksum"),
        ("Einsätze", 4, "B", "required"),
    }
    row_2 = next(f for f in checked.findings if f.row == 2)
    assert row_2.message.startswith("La fin")  # the worker's row is French
    # the worker of the faulty assignment row is not passed on; the other one is
    assert [r.row_no for r in checked.rows] == [2]


@pytest.mark.parametrize(
    ("week_headers", "variant"),
    [
        ([date(2025, 3, 4)], "week"),  # a Tuesday
        (["KW 10"], "week"),
        ([date(2025, 3, 3), "03.03.2025"], "week_twice"),
    ],
)
def test_week_headers(week_headers: list[Cell], variant: str) -> None:
    hours = [8.0] * len(week_headers)
    checked = check(
        row(0),
        assignments=[[ahv_number(1), date(2025, 3, 3), None, "N", None, *hours]],
        week_headers=week_headers,
    )
    f = only(checked)
    assert (f.code, f.sheet, f.params["sheet"]) == ("file.headers", None, "Einsätze")
    assert f.params["column"] == ("F" if variant == "week" else "G")


def test_formula_and_merged_cells_on_the_assignment_sheet() -> None:
    mutations = Sheet("Mutationen", [HEADERS, row(0), row(1)])
    einsaetze = Sheet(
        "Einsätze",
        [
            A_HEADERS,
            [ahv_number(1), None, None, "N", None],
            [ahv_number(2), date(2025, 3, 3), None, "N", None],
        ],
        formulas_without_value=frozenset({(1, 1)}),
        merged=(CellRange(2, 3, 2, 4),),
    )
    wb = Workbook(("Mutationen", "Einsätze"), mutations, einsaetze)
    checked = check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="de")
    assert {(f.sheet, f.row, f.column, f.code) for f in checked.findings} == {
        ("Einsätze", 2, "B", "cell.formula"),
        ("Einsätze", 3, "D", "cell.merged"),
    }
    assert checked.rows == ()  # both workers have an assignment row in error


def test_assignment_sheet_headers_are_checked() -> None:
    mutations = Sheet("Mutationen", [HEADERS, row(0)])
    einsaetze = Sheet("Einsätze", [["AHV", "Beginn"], [ahv_number(1), date(2025, 3, 3)]])
    checked = check_workbook(
        Workbook(("Mutationen", "Einsätze"), mutations, einsaetze),
        employer_no=EMPLOYER_NO,
        period=PERIOD,
        language="de",
    )
    assert {f.code for f in checked.findings} == {"file.headers"}
    assert checked.status == "faulty"


# -- JSON rows: the same checks ---------------------------------------------------------------
def as_json(cells: Sequence[Cell]) -> dict[str, object]:
    """A row as a connector sends it: field names, ISO dates, JSON scalars."""
    out: dict[str, object] = {}
    for letter, cell in zip(LETTERS, cells, strict=True):
        out[FIELD_OF[letter]] = cell.isoformat() if isinstance(cell, date) else cell
    return out


JSON_ROWS = [
    row(0),
    row(1, A="Meier", Q="756.9217.0769.84", I="98,6"),
    row(2, P=2, M=1, S="31.02.1980", Y="oui"),
    row(3, H=999, U=-10.0, N=101),
    row(4, Q=ahv_number(1)),
    row(5, W="15.06.25", J=0.0, AB=None),
]


def test_json_rows_give_the_same_findings_as_the_sheet() -> None:
    from_sheet = check(*JSON_ROWS)
    from_json = check_json_rows(
        [as_json(r) for r in JSON_ROWS], employer_no=EMPLOYER_NO, period=PERIOD, language="de"
    )
    assert from_json.findings == from_sheet.findings
    assert (from_json.status, from_json.row_count) == (from_sheet.status, from_sheet.row_count)
    assert [r.values for r in from_json.rows] == [r.values for r in from_sheet.rows]


def test_json_booleans_unknown_keys_and_missing_keys() -> None:
    ok = as_json(row(0)) | {"expected_over_13_weeks": True, "maintains_children": False}
    ok |= {"comment": "ignored", "assignment_end": None}
    del ok["address_extra"]
    checked = check_json_rows([ok], employer_no=EMPLOYER_NO, period=PERIOD, language="de")
    assert checked.status == "ok", where(checked)
    assert checked.rows[0].values["expected_over_13_weeks"] is True
    missing = {k: v for k, v in ok.items() if k != "ahv"}
    f = only(check_json_rows([missing], employer_no=EMPLOYER_NO, period=PERIOD, language="de"))
    assert (f.row, f.column, f.code) == (2, "Q", "required")


def test_json_row_that_is_not_an_object() -> None:
    rows: list[Any] = [as_json(row(0)), ["not", "an", "object"], {"last_name": {"nested": 1}}]
    checked = check_json_rows(rows, employer_no=EMPLOYER_NO, period=PERIOD, language="en")
    assert checked.row_count == 3
    not_object = [f for f in checked.findings if f.row == 3]
    assert [(f.column, f.code) for f in not_object] == [(None, "required")]
    assert not_object[0].message.startswith("This row is not an object")
    nested = {(f.column, f.code) for f in checked.findings if f.row == 4}
    assert ("A", "required") in nested
    assert [r.row_no for r in checked.rows] == [2]


def test_json_empty_list() -> None:
    checked = check_json_rows([], employer_no=EMPLOYER_NO, period=PERIOD, language="fr")
    assert only(checked).code == "file.empty" and checked.status == "faulty"


def test_json_assignments_are_checked_and_attached() -> None:
    good = as_json(row(0)) | {
        "assignments": [
            {
                "start": "2025-02-24",
                "end": None,
                "expected_over_13_weeks": False,
                "weekly_hours": [{"week_of": "2025-03-03", "hours": "40"}],
            }
        ]
    }
    bad = as_json(row(1)) | {
        "assignments": [
            {"start": "2025-03-10", "end": "2025-03-09", "expected_over_13_weeks": "N"},
            {
                "start": "2025-03-10",
                "expected_over_13_weeks": "N",
                "weekly_hours": [{"week_of": "2025-03-04", "hours": 8}],
            },
            "nonsense",
        ]
    }
    checked = check_json_rows([good, bad], employer_no=EMPLOYER_NO, period=PERIOD, language="de")
    found = {(f.sheet, f.row, f.column, f.code) for f in checked.findings}
    assert found == {
        ("Einsätze", 3, "C", "date.range"),
        ("Einsätze", 3, None, "date.format"),
        ("Einsätze", 3, None, "required"),
    }
    [ok_row] = checked.rows
    details = ok_row.values["assignments"]
    assert isinstance(details, list)
    assert details[0]["weekly_hours"] == [{"week_of": date(2025, 3, 3), "hours": Decimal("40")}]
    ListRow.model_validate(ok_row.values)


# -- declared amounts (warnings) ----------------------------------------------------------------
def test_declared_findings_are_warnings_beyond_ten_rappen() -> None:
    [checked] = check(row(0, I=100.0, J=2000.0)).rows
    assert (
        declared_findings(checked, insured_wage=Decimal("2000.10"), premium_total=Decimal("99.90"))
        == []
    )
    found = declared_findings(
        checked, insured_wage=Decimal("2000.20"), premium_total=Decimal("120.00")
    )
    assert [(f.code, f.column, f.severity, f.row) for f in found] == [
        ("declared.premium", "I", "warning", 2),
        ("declared.insured_wage", "J", "warning", 2),
    ]
    assert found[1].params["computed"] == "2000.20" and "2000.20" in found[1].message


def test_warnings_keep_a_list_ok() -> None:
    checked = check(row(0))
    [r] = checked.rows
    warned = checked.with_findings(
        declared_findings(r, insured_wage=Decimal(1), premium_total=Decimal(1))
    )
    assert warned.status == "ok"
    assert (warned.error_count, warned.warning_count) == (0, 2)
    assert warned.counts_by_code() == {"declared.premium": 1, "declared.insured_wage": 1}


# -- AHV check digit: the table against stdnum -------------------------------------------------
@given(st.integers(min_value=0, max_value=10**10 - 1))
def test_ahv_check_digit_table_agrees_with_stdnum(n: int) -> None:
    digits = f"756{n:010d}"
    assert ahv_check_digit_ok(ssn.format(digits)) == ssn.is_valid(digits)


def test_every_valid_check_digit_and_only_it() -> None:
    body = "756921707698"
    valid = [d for d in string.digits if ahv_check_digit_ok(ssn.format(body + d))]
    assert valid == ["5"]


# -- properties --------------------------------------------------------------------------------
ANY_CELL: st.SearchStrategy[Cell] = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "J",
            "n",
            "1",
            "0",
            "-",
            "06.01.2025",
            "2025-01-06",
            "756.9217.0769.85",
            "1'000,5",
            "F-75000",
        ]
    ),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(ANY_CELL, min_size=0, max_size=31), max_size=4),
    base=st.booleans(),
    column=st.integers(min_value=0, max_value=27),
)
def test_any_cells_never_raise(rows: list[list[Cell]], base: bool, column: int) -> None:
    if base and rows:  # also: one odd cell in an otherwise valid row
        cells = row(0)
        cells[column] = rows[0][0] if rows[0] else None
        rows = [cells, *rows[1:]]
    checked = check(*rows)
    assert isinstance(checked, CheckedList)
    assert checked.status in ("ok", "faulty")
    for r in checked.rows:
        ListRow.model_validate(r.values)
    json_rows = [dict(zip(ListRow.model_fields, r, strict=False)) for r in rows]
    from_json = check_json_rows(json_rows, employer_no=EMPLOYER_NO, period=PERIOD, language="de")
    assert from_json.status in ("ok", "faulty")


@settings(max_examples=80, deadline=None)
@given(
    cells=st.lists(st.lists(ANY_CELL, max_size=9), max_size=4),
    headers=st.lists(ANY_CELL, max_size=4),
    known=st.booleans(),
)
def test_any_assignment_cells_never_raise(
    cells: list[list[Cell]], headers: list[Cell], known: bool
) -> None:
    ahv = ahv_number(1) if known else ahv_number(99)
    checked = check(row(0), assignments=[[ahv, *c] for c in cells], week_headers=headers)
    assert checked.status in ("ok", "faulty")
    for r in checked.rows:
        ListRow.model_validate(r.values)


JSON_VALUES: st.SearchStrategy[object] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ASSIGNMENT_KEYS = st.sampled_from(
    ["start", "end", "expected_over_13_weeks", "extension_accepted_on", "weekly_hours", "x"]
)


@settings(max_examples=100, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(list(ListRow.model_fields)), JSON_VALUES, max_size=4),
    assignments=st.one_of(
        JSON_VALUES,
        st.lists(st.dictionaries(ASSIGNMENT_KEYS, JSON_VALUES, max_size=5), max_size=3),
    ),
    extra=st.lists(JSON_VALUES, max_size=2),
)
def test_any_json_never_raises(
    changes: dict[str, object], assignments: object, extra: list[object]
) -> None:
    rows: list[Any] = [as_json(row(0)) | changes | {"assignments": assignments}, *extra]
    checked = check_json_rows(rows, employer_no=EMPLOYER_NO, period=PERIOD, language="it")
    assert checked.status in ("ok", "faulty")
    for r in checked.rows:
        ListRow.model_validate(r.values)


@st.composite
def valid_rows(draw: st.DrawFn) -> list[Cell]:
    """A valid row in any accepted form: dates as cells or text, numbers as text, J/N as words."""
    i = draw(st.integers(min_value=0, max_value=500))
    cells: dict[str, Cell] = dict(sample_row(i))

    def pick(options: list[Cell]) -> Cell:
        return draw(st.sampled_from(options))

    def form_of_date(value: date) -> Cell:
        return pick(
            [
                value,
                datetime(value.year, value.month, value.day),
                value.strftime("%d.%m.%Y"),
                f"{value.day}.{value.month}.{value.year}",
                value.isoformat(),
                float((value - date(1899, 12, 30)).days),
            ]
        )

    for letter in ("S", "W"):
        value = cells[letter]
        assert isinstance(value, date)
        cells[letter] = form_of_date(value)
    for letter in ("I", "J", "U", "V"):
        amount = cells[letter]
        assert isinstance(amount, float)
        cells[letter] = pick([amount, f"{amount}", f" {amount} "])
    for letter in ("H", "P", "R", "T", "N"):
        number = cells[letter]
        assert isinstance(number, int)
        cells[letter] = pick([number, float(number), str(number)])
    for letter in ("Y", "AA", "AB"):
        yes = cells[letter] == "J"
        cells[letter] = pick(["J", "j", "Ja", True, 1] if yes else ["N", "n", "NEIN", False, 0])
    if draw(st.booleans()):
        cells["A"] = f"  {cells['A']} "
    if draw(st.booleans()):
        cells["M"] = 1
        cells["K"] = cells["W"]
    return [cells.get(letter) for letter in LETTERS]


@settings(max_examples=60, deadline=None)
@given(st.lists(valid_rows(), min_size=1, max_size=6, unique_by=lambda r: r[16]))
def test_valid_rows_in_any_accepted_form_are_list_rows(rows: list[list[Cell]]) -> None:
    checked = check(*rows)
    assert checked.status == "ok", [(f.row, f.column, f.code) for f in checked.findings]
    assert len(checked.rows) == len(rows)
    for r in checked.rows:
        parsed = ListRow.model_validate(r.values)
        assert parsed.ahv == r.values["ahv"]


# -- the catalogue -------------------------------------------------------------------------------
def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(messages.MESSAGES))
def test_every_message_in_four_languages_with_the_same_parameters(key: str) -> None:
    texts = messages.MESSAGES[key]
    assert set(texts) == set(messages.LANGUAGES)
    assert all(text.strip() and text.endswith(".") for text in texts.values())
    names = {language: _placeholders(text) for language, text in texts.items()}
    assert len({frozenset(n) for n in names.values()}) == 1, names


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_a_message(code: str) -> None:
    assert any(key == code or key.startswith(f"{code}:") for key in messages.MESSAGES)


def test_messages_render_with_the_params_of_their_findings() -> None:
    checked = check(
        row(0, A="meier", Q="756.9217.0769.84", I="1,5", W="x", M=8, N=101, H=2),
        row(1, S=date(2010, 1, 1), J=0.0, Q=ahv_number(3)),
        row(2, Q=ahv_number(3), U=-1.0),
    )
    assert len({f.code for f in checked.findings}) >= 10
    for f in checked.findings:
        assert "{" not in f.message
        assert "MEIER" not in f.message.upper() or f.code != "capitals"
        assert "756." not in f.message  # no AHV numbers


def test_codes_are_stable_identifiers() -> None:
    for code in CODES:
        assert code == code.lower() and " " not in code
    assert len(set(CODES)) == len(CODES)
