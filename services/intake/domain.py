"""The checks of the monthly list (TEMPLATE.md "Checks and their codes"): cells in, findings and
typed rows out.

Pure: no I/O, no clock. Works on a `Workbook` as the reader gives it (`check_workbook`) or on the
JSON form of a list, one object per row keyed by `ListRow` field names (`check_json_rows`); both
run the same checks, so the same rows give the same findings. The rows of an error-free list are
valid input for `contracts.events.intake.ListRow`.

Codes beyond TEMPLATE's table (errors, like every code but `declared.*`):
- `cell.formula`: a formula without a saved value in the data area (the value is unknown);
- `cell.merged`: merged cells in the data area (each cell must hold its own value);
- `postcode.format`: E is not a postcode (TEMPLATE states the rule but names no code);
- `text.too_long`: A-D, F longer than `ListRow` takes (100 characters);
- `assignment.unknown_worker`: a row of sheet `Einsätze` whose AHV number is in no row of
  `Mutationen`.

Readings (TEMPLATE leaves them open; each is a named constant or stated here):
- Headers compare trimmed, case-insensitively, inner whitespace collapsed. With a header missing
  or out of place the rows are not checked: their columns cannot be trusted.
- Amounts: "one decimal" in I/J means a multiple of 0.10 (`98.60` is fine, `98.65` is not); U/V
  a multiple of 0.01. A leading `-` is a correction; `-` alone is no number. Floats are read as
  Excel shows them, to 15 significant digits (`0.30000000000000004` is 0.3). Text with a decimal
  comma, `'` or space thousands separators, a leading `+` or `CHF` is `amount.format` with a
  repaired value (`fixed`).
- Dates, accepted: date cells; text `d.m.yyyy` and `d.m.yy` with one or two digits for day and
  month (Excel's own display of a date, Art. 10.4's form with or without leading zeros), `ddmmyy`
  (Annex 1), ISO `yyyy-mm-dd` (the JSON form); numbers as Excel serial dates (EXCEL_SERIALS) or,
  with six digits, as `ddmmyy` typed into a number cell. Rejected with a repaired value:
  `yyyy/mm/dd`, `yyyy.mm.dd` and ISO date-times at midnight. Rejected without: everything else
  (`06/01/2025` is day-first in Switzerland and month-first elsewhere).
- Booleans (Excel, JSON) are the numbers 1 and 0, as in Excel's arithmetic; in J/N columns
  1/true is J and 0/false is N. Text columns A-D, F take text only (a number is `required`,
  variant "not text"); E, G, O, Q take numbers as their digits.
- J/N flags (Y, AA, AB): `J`, `N`, `Ja`, `Nein` in any case, and true/false (Excel booleans,
  JSON). `Oui`, `Non`, `Sì`, `Si`, `No`, `Yes` are `code.unknown` with the repaired `J`/`N`.
- Codes (M, P, R, T) and N: whole numbers, as numbers or text (`1`, `1.0`); N may end in `%`.
- `employer.mismatch` compares every row with the uploading employer: if the rows differ among
  themselves, at least one differs from the uploader.
- `ahv.duplicate` goes on every row of the group and names the other rows.
- `amount.sign` also covers a base wage without hours (U = 0, V ≠ 0): no hourly wage exists.
- Sheet `Einsätze`: A-E as `ASSIGNMENT_COLUMNS`, checked like Q, W, X, Y, Z; week columns headed
  by a Monday (a date in any accepted form) or an ISO week (`2025-W27`), else `file.headers`;
  hours empty (unknown) or a number ≥ 0 with at most two decimals (`amount.format`). A row in
  error there keeps its worker's `Mutationen` row from being passed on. In the JSON form the
  `assignments` of a row are checked the same way; their findings carry sheet `Einsätze` and
  the list row's number.

Speed (benchmarks/bench_intake_check.py): columns are read whole, each distinct value once
(`_Memo`), the common columns in C loops (`_BULK`), and the cycle collector rests meanwhile.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import repeat, zip_longest
from operator import add, itemgetter, mod
from typing import Any, Literal, cast

from stdnum.ch import ssn

from contracts.values import Language
from services.coverage.calendar import PayPeriod
from services.coverage.domain import ADMISSION_BVG_AGE, IV_DEGREE_NOT_INSURABLE
from services.intake import messages
from services.intake.model import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENTS_SHEET,
    COLUMNS,
    LANGUAGE_BY_CODE,
    Cell,
    Column,
    Finding,
    Sheet,
    Workbook,
)
from services.pricing.domain import DECLARED_TOLERANCE, last_contribution_month
from services.pricing.parameters import (
    REFERENCE_AGE_MONTHS_MEN,
    REFERENCE_AGE_MONTHS_WOMEN,
    REFERENCE_AGE_MONTHS_WOMEN_LATER,
)
from services.runtime.gcpause import collector_paused

__all__ = [
    "ADDED_CODES",
    "CODES",
    "TEMPLATE_CODES",
    "CheckedList",
    "CheckedRow",
    "Status",
    "ahv_check_digit_ok",
    "check_json_rows",
    "check_workbook",
    "column_letter",
    "declared_findings",
    "unreadable",
]

Status = Literal["ok", "faulty", "unreadable"]

#: TEMPLATE.md "Checks and their codes".
TEMPLATE_CODES: tuple[str, ...] = (
    "file.unreadable",
    "file.too_large",
    "file.no_sheet",
    "file.headers",
    "file.empty",
    "required",
    "capitals",
    "ahv.format",
    "ahv.checksum",
    "ahv.duplicate",
    "amount.format",
    "amount.sign",
    "date.format",
    "date.range",
    "code.unknown",
    "employer.mismatch",
    "zero_wage.reason",
    "entry.date_missing",
    "exit.date_missing",
    "old_ahv.missing",
    "age.range",
    "invalidity.range",
    "declared.insured_wage",
    "declared.premium",
)
#: Codes this module adds to TEMPLATE's table (see the module docstring).
ADDED_CODES: tuple[str, ...] = (
    "cell.formula",
    "cell.merged",
    "postcode.format",
    "text.too_long",
    "assignment.unknown_worker",
)
CODES: tuple[str, ...] = TEMPLATE_CODES + ADDED_CODES

# -- readings, each in one place ----------------------------------------------------------
#: BVG came into force on 1 January 1985: no entry, exit, assignment or extension lies before.
EARLIEST_DATE = date(1985, 1, 1)
#: Reading (Art. 5.2, RULES §6 "exit date may be the day after the last insured day"): an exit
#: at the end of the period may be dated the first day of the next month.
EXIT_DAYS_AFTER_PERIOD = 1
#: Excel serial numbers taken as dates: 1 (1900-01-01) to 73050 (2099-12-31). Larger numbers are
#: no plausible date of this list; six-digit numbers are read as `ddmmyy` instead (Annex 1).
EXCEL_SERIALS = (1, 73050)
#: Excel counts 29 February 1900, which did not exist (serial 60); later serials are one day off.
_EXCEL_EPOCH = date(1899, 12, 30)
#: TEMPLATE "Dates": a two-digit birth year is the one giving a BVG age of 14-99.
BIRTH_YEAR_BVG_AGES = (14, 99)
#: Reading: no monthly amount or hour count comes near 10^9; keeps amounts in pricing's range.
AMOUNT_LIMIT = Decimal(10**9)
#: `ListRow`: names, street and town at most 100 characters.
MAX_TEXT_LENGTH = 100
#: The lowest reference age in years (AHV 21, RULES §5): below it no one is retired.
EARLIEST_REFERENCE_AGE = (
    min(
        REFERENCE_AGE_MONTHS_MEN,
        REFERENCE_AGE_MONTHS_WOMEN_LATER,
        *(months for _, months in REFERENCE_AGE_MONTHS_WOMEN),
    )
    // 12
)
#: TEMPLATE Y, AA, AB: J/N; readings: Ja/Nein too, any case.
YES = frozenset({"J", "JA"})
NO = frozenset({"N", "NEIN"})
#: Other languages' yes and no: refused, but repaired to J/N by `--fix`.
YES_REPAIRED = frozenset({"OUI", "SI", "SÌ", "YES"})
NO_REPAIRED = frozenset({"NON", "NO"})
#: RULES §7, Art. 9: codes 4-7 justify a zero insured wage and premium.
ZERO_WAGE_CODES = frozenset({4, 5, 6, 7})

_ZERO = Decimal(0)
#: Reading: booleans are the numbers 1 and 0 everywhere, as in Excel's arithmetic (TRUE + 0 = 1),
#: and in J/N columns 1 and 0 are J and N: a cell means the same whatever else its column holds.
_NUMBER_FLAGS: dict[int | None, object] = {1: True, 0: False}
_AHV_FORM = "756.dddd.dddd.dd"
_LEGACY_AHV_FORM = "ddd.dd.ddd.ddd"
_MAX_WHOLE = 10**15  # integers beyond cannot be codes, numbers or text of this list


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckedRow:
    """One row of `Mutationen` without errors, typed: `ListRow` field names → values."""

    row_no: int
    language: Language
    values: dict[str, object]


@dataclass(frozen=True, slots=True)
class CheckedList:
    """The outcome of checking one list (TEMPLATE.md; `status` as in `ListCheckedPayload`)."""

    status: Status
    row_count: int
    findings: tuple[Finding, ...]
    #: Rows without errors; all rows when the list is ok.
    rows: tuple[CheckedRow, ...]

    @property
    def error_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warning_count(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    def counts_by_code(self) -> dict[str, int]:
        return dict(Counter(f.code for f in self.findings))

    def with_findings(self, extra: Iterable[Finding]) -> CheckedList:
        """The same list with more findings (e.g. `declared.*` warnings), in report order."""
        findings = sorted((*self.findings, *extra), key=_finding_order)
        status = self.status
        if status == "ok" and any(f.severity == "error" for f in findings):
            status = "faulty"
        return replace(self, status=status, findings=tuple(findings))


# -- what a cell reader returns when the cell is wrong --------------------------------------
@dataclass(frozen=True, slots=True)
class _Issue:
    code: str
    variant: str = ""
    params: tuple[tuple[str, str], ...] = ()
    fixed: Cell = None


_REQUIRED = _Issue("required")
_NOT_TEXT = _Issue("required", "not_text")
_NOT_OBJECT = _Issue("required", "not_object")
_TOO_LONG = _Issue("text.too_long", params=(("max", str(MAX_TEXT_LENGTH)),))
_POSTCODE = _Issue("postcode.format")
_AHV_FORMAT = _Issue("ahv.format", params=(("expected", _AHV_FORM),))
_LEGACY_FORMAT = _Issue("ahv.format", params=(("expected", _LEGACY_AHV_FORM),))
_AHV_CHECKSUM = _Issue("ahv.checksum")
_NOT_NUMBER = _Issue("amount.format", "not_number")
_TOO_LARGE = _Issue("amount.format", "too_large")
_NEGATIVE_HOURS = _Issue("amount.format", "negative")
_DATE_FORMAT = _Issue("date.format")
_NOT_MONDAY = _Issue("date.format", "monday")
_INVALIDITY = _Issue("invalidity.range")
_INVALIDITY_ENTRY = _Issue("invalidity.range", "entry")
_ZERO_WAGE = _Issue("zero_wage.reason")
_SIGN = _Issue("amount.sign")
_NO_HOURS = _Issue("amount.sign", "no_hours")
_ENTRY_MISSING = _Issue("entry.date_missing")
_EXIT_MISSING = _Issue("exit.date_missing")
_OLD_AHV_MISSING = _Issue("old_ahv.missing")
_EXIT_BEFORE_ENTRY = _Issue("date.range", "exit_before_entry", (("other_column", "K"),))
_EXTENSION_OUTSIDE = _Issue("date.range", "extension_outside")
_UNKNOWN_WORKER = _Issue("assignment.unknown_worker")
_FORMULA = _Issue("cell.formula")

Reader = Callable[[object], object]
"""A cell reader: the typed value, None for an empty optional cell, or an `_Issue`."""
Bulk = Callable[[Sequence[Any]], list[Any] | None]
"""A whole column at once when every cell is of the common kind and right; else None (or
TypeError: a cell of another kind)."""


class _Memo(dict[object, object]):
    """A reader's answers by cell value: values repeat a lot in a list (dates, codes, towns)."""

    __slots__ = ("read",)

    def __init__(self, read: Reader) -> None:
        super().__init__()
        self.read = read

    def __missing__(self, key: object) -> object:
        value = self[key] = self.read(key)
        return value


# -- cell readers ---------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_REPAIRABLE_NUMBER = re.compile(
    r"(?:CHF|Fr\.)?\s*([+-])?\s*(\d{1,3}(?:['\u2019\u00a0\u202f ]\d{3})+|\d+)(?:[.,](\d+))?"
    r"\s*(?:CHF|Fr\.)?",
    re.ASCII | re.IGNORECASE,
)
_DOT_THOUSANDS_NUMBER = re.compile(r"([+-])?(\d{1,3}(?:\.\d{3})+),(\d+)", re.ASCII)
_GROUP_SEPARATORS = re.compile(r"['\u2019\u00a0\u202f .]")
_WHOLE_TEXT = re.compile(r"\+?(\d{1,15})(?:\.0*)?", re.ASCII)
_PERCENT_TEXT = re.compile(r"(\d{1,15})(?:\.0*)?\s*%?", re.ASCII)
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DDMMYY = re.compile(r"(\d{2})(\d{2})(\d{2})", re.ASCII)
_YEAR_FIRST_DATE = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})", re.ASCII)
_ISO_MIDNIGHT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?", re.ASCII
)
_ISO_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.ASCII | re.IGNORECASE)
_AHV = re.compile(r"756\.(\d{4})\.(\d{4})\.(\d)(\d)", re.ASCII)
_AHV_COMPACT = re.compile(r"756\d{10}", re.ASCII)
_AHV_SEPARATORS = re.compile(r"[\s.\-]")
_LEGACY_AHV = re.compile(r"\d{3}\.\d{2}\.\d{3}\.\d{3}", re.ASCII)
_LEGACY_COMPACT = re.compile(r"\d{11}", re.ASCII)
_SWISS_OR_FOREIGN_POSTCODE = re.compile(
    r"\d{4}|[A-Z]{1,3}-[A-Z0-9](?:[A-Z0-9 -]{0,10}[A-Z0-9])?", re.ASCII
)

#: EAN-13 weights of digits 4-7 and 8-11 of an AHVN13 (3, 1, 3, 1), mod 10, by digit group.
_AHV_GROUP_SUMS: dict[str, int] = {
    f"{n:04d}": (3 * (n // 1000) + n // 100 % 10 + 3 * (n // 10 % 10) + n % 10) % 10
    for n in range(10_000)
}
#: 7 x 1 + 5 x 3 + 6 x 1: the EAN-13 weighted sum of the prefix 756.
_AHV_PREFIX_SUM = 28


def ahv_check_digit_ok(text: str) -> bool:
    """Whether `756.dddd.dddd.dd` has its EAN-13 check digit (`stdnum.ch.ssn`'s rule, by table).

    The table gives the same answer as `stdnum.ch.ssn.is_valid` (a test compares them) in a
    tenth of the time, which 100,000 rows need; `stdnum` normalises and repairs other forms.
    """
    m = _AHV.fullmatch(text)
    if m is None:
        return False
    g1, g2, d12, check = m.groups()
    total = _AHV_PREFIX_SUM + _AHV_GROUP_SUMS[g1] + _AHV_GROUP_SUMS[g2] + 3 * int(d12)
    return (10 - total % 10) % 10 == int(check)


def _text_of(value: object) -> str | None:
    """A cell as text (numbers as Excel shows them); None when it cannot be text."""
    kind = value.__class__
    if kind is str:
        return cast(str, value).strip()
    if kind is int or kind is bool:
        number = cast(int, value)
        return str(number) if -_MAX_WHOLE < number < _MAX_WHOLE else None
    if kind is float:
        real = cast(float, value)
        if not math.isfinite(real):
            return None
        if real.is_integer() and abs(real) < _MAX_WHOLE:
            return str(int(real))
        return repr(real)
    return None


def _whole_number(value: object) -> int | None:
    """A whole number from a number or text cell (`1`, `1.0`, `"1"`); None otherwise."""
    kind = value.__class__
    if kind is int or kind is bool:
        return int(cast(int, value))
    if kind is float:
        real = cast(float, value)
        return int(real) if real.is_integer() and abs(real) < _MAX_WHOLE else None
    if kind is str:
        m = _WHOLE_TEXT.fullmatch(cast(str, value).strip())
        return int(m[1]) if m else None
    return None


def _is_empty(value: object) -> bool:
    return value is None or (value.__class__ is str and not value.strip())


def _text_reader(required: bool) -> Reader:
    """A-D, F: text in capitals (Art. 10.1), trimmed; at most MAX_TEXT_LENGTH characters."""

    def read(value: object) -> object:
        if value.__class__ is not str:
            if value is None:
                return _REQUIRED if required else None
            return _NOT_TEXT
        text = value.strip()
        if not text:
            return _REQUIRED if required else None
        if len(text) > MAX_TEXT_LENGTH:
            return _TOO_LONG
        upper = text.upper()
        if upper != text:
            return _Issue("capitals", fixed=upper if len(upper) <= MAX_TEXT_LENGTH else None)
        return text

    return read


def _read_postcode(value: object) -> object:
    """E: 4 digits, or country code + `-` + code abroad (TEMPLATE), in capitals (Art. 10.1)."""
    text = _text_of(value)
    if text is None:
        return _REQUIRED if value is None else _NOT_TEXT
    if not text:
        return _REQUIRED
    upper = text.upper()
    if upper != text:
        return _Issue(
            "capitals", fixed=upper if _SWISS_OR_FOREIGN_POSTCODE.fullmatch(upper) else None
        )
    return text if _SWISS_OR_FOREIGN_POSTCODE.fullmatch(text) else _POSTCODE


def _ahv_reader(required: bool) -> Reader:
    """Q, O (and `Einsätze` A): AHVN13 with dots, EAN-13 check digit (Art. 10.3, TEMPLATE)."""

    def read(value: object) -> object:
        if value.__class__ is str and _AHV.fullmatch(value):
            return value if ahv_check_digit_ok(value) else _AHV_CHECKSUM
        if _is_empty(value):
            return _REQUIRED if required else None
        text = _text_of(value)
        if text is None:
            return _AHV_FORMAT
        if _AHV.fullmatch(text):
            return text if ahv_check_digit_ok(text) else _AHV_CHECKSUM
        compact = _AHV_SEPARATORS.sub("", text)
        if _AHV_COMPACT.fullmatch(compact) and ssn.is_valid(compact):
            return replace(_AHV_FORMAT, fixed=ssn.format(compact))
        return _AHV_FORMAT

    return read


_AHV_FIRST_GROUP = itemgetter(slice(4, 8))
_AHV_SECOND_GROUP = itemgetter(slice(9, 13))
_AHV_LAST_DIGITS = itemgetter(slice(14, 16))
#: 3 x digit 12 + check digit, mod 10, by the last two digits.
_AHV_LAST_SUMS: dict[str, int] = {f"{n:02d}": (3 * (n // 10) + n % 10) % 10 for n in range(100)}
#: With the check digit added, the EAN-13 weighted sum is a multiple of 10: the groups' sums
#: must end in 2 (28 from the prefix 756 + 2 = 30).
_AHV_GROUPS_REST = (10 - _AHV_PREFIX_SUM % 10) % 10


def _ahv_bulk(column: Sequence[Any]) -> list[Any] | None:
    """Q at once: every cell `756.dddd.dddd.dd` with its check digit, in C loops."""
    if not all(map(_AHV.fullmatch, column)):  # TypeError unless all are text
        return None
    sums = map(
        add,
        map(
            add,
            map(_AHV_GROUP_SUMS.__getitem__, map(_AHV_FIRST_GROUP, column)),
            map(_AHV_GROUP_SUMS.__getitem__, map(_AHV_SECOND_GROUP, column)),
        ),
        map(_AHV_LAST_SUMS.__getitem__, map(_AHV_LAST_DIGITS, column)),
    )
    if set(map(mod, sums, repeat(10))) != {_AHV_GROUPS_REST}:
        return None
    return list(column)


def _read_legacy_ahv(value: object) -> object:
    """G: the pre-2008 number, optional; its format only (TEMPLATE)."""
    if _is_empty(value):
        return None
    text = _text_of(value)
    if text is None:
        return _LEGACY_FORMAT
    if _LEGACY_AHV.fullmatch(text):
        return text
    compact = _AHV_SEPARATORS.sub("", text)
    if _LEGACY_COMPACT.fullmatch(compact):
        dotted = f"{compact[:3]}.{compact[3:5]}.{compact[5:8]}.{compact[8:]}"
        return replace(_LEGACY_FORMAT, fixed=dotted)
    return _LEGACY_FORMAT


def _employer_reader(employer_no: int) -> Reader:
    """H: the uploading employer's number in every row (TEMPLATE)."""
    expected = (("expected", str(employer_no)),)
    not_number = _Issue("employer.mismatch", "not_number", expected)

    def read(value: object) -> object:
        if _is_empty(value):
            return _REQUIRED
        number = _whole_number(value)
        if number is None or number < 0:
            return not_number
        if number != employer_no:
            return _Issue("employer.mismatch", params=(("value", str(number)), *expected))
        return number

    return read


def _float_text(real: float) -> str | None:
    """A number cell as Excel shows it: its shortest text, or 15 significant digits where the
    float carries binary residue (0.30000000000000004 is 0.3); None when not finite."""
    text = repr(real)
    if "e" in text or "n" in text or len(text) - text.startswith("-") - 1 > _EXCEL_DIGITS:
        if not math.isfinite(real):
            return None
        text = format(real, ".15g")
        if "e" in text and abs(real) < 1:
            text = format(Decimal(text), "f")  # tiny: many decimals, refused as such
    return text


#: Excel keeps 15 significant digits: more in a float's shortest text are binary residue.
_EXCEL_DIGITS = 15
#: `999999999.5`, `-99999999.5`: the longest float texts sure to lie below AMOUNT_LIMIT (10^9).
_BULK_AMOUNT_LENGTH = 11


def _amount_bulk(decimals: int) -> Bulk:
    """A column of floats only, each plain with at most `decimals` decimals below AMOUNT_LIMIT:
    the typical I, J, U, V, read in C loops; None sends the column through the reader."""
    too_precise = re.compile(rf"\.\d{{{decimals + 1}}}")

    def bulk(column: Sequence[Any]) -> list[Any] | None:
        texts = list(map(float.__repr__, column))  # TypeError unless all are floats
        # A float's shortest text has a point and a digit after it: with at most 11 characters
        # its integer part has at most 9 digits (below AMOUNT_LIMIT); longer ones go one by one.
        if max(map(len, texts), default=0) > _BULK_AMOUNT_LENGTH:
            return None
        blob = "\n".join(texts)
        if "e" in blob or "n" in blob or too_precise.search(blob):  # exponent, inf, nan
            return None
        return list(map(Decimal, texts))

    return bulk


def _text_bulk(column: Sequence[Any]) -> list[Any] | None:
    """A column of non-empty text in capitals, at most MAX_TEXT_LENGTH long: A-C, F at once."""
    stripped = list(map(str.strip, column))  # TypeError unless all are text
    if not all(stripped) or max(map(len, stripped)) > MAX_TEXT_LENGTH:
        return None
    joined = "\n".join(stripped)
    return stripped if joined.upper() == joined else None


def _cell_number(amount: Decimal) -> int | float:
    """An amount as a number cell for `--fix`."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _amount_reader(decimals: int, *, required: bool = True, negative: bool = True) -> Reader:
    """I/J (one decimal, a multiple of 0.10), U/V and weekly hours (two decimals) (TEMPLATE)."""
    too_precise = _Issue("amount.format", "one_decimal" if decimals == 1 else "two_decimals")

    def from_text(text: str) -> Decimal | _Issue:
        dot = text.find(".")
        if (
            dot >= 0
            and len(text) - dot - 1 > decimals
            and len(text[dot + 1 :].rstrip("0")) > decimals
        ):
            return too_precise
        amount = Decimal(text)
        if not -AMOUNT_LIMIT < amount < AMOUNT_LIMIT:
            return _TOO_LARGE
        if not negative and amount < 0:
            return _NEGATIVE_HOURS
        return amount

    def repaired(text: str) -> _Issue:
        m = _REPAIRABLE_NUMBER.fullmatch(text) or _DOT_THOUSANDS_NUMBER.fullmatch(text)
        if m is None:
            return _NOT_NUMBER
        sign, whole, fraction = m.groups()
        candidate = ("-" if sign == "-" else "") + _GROUP_SEPARATORS.sub("", whole)
        amount = from_text(candidate + ("." + fraction if fraction else ""))
        if isinstance(amount, _Issue):
            return amount
        return _Issue("amount.format", "separators", fixed=_cell_number(amount))

    def read(value: object) -> object:
        kind = value.__class__
        if kind is float:
            text = _float_text(cast(float, value))
            if text is None:
                return _NOT_NUMBER
            if "e" in text:
                return _TOO_LARGE
            return from_text(text)
        if kind is int or kind is bool:
            number = int(cast(int, value))
            if not -AMOUNT_LIMIT < number < AMOUNT_LIMIT:
                return _TOO_LARGE
            if not negative and number < 0:
                return _NEGATIVE_HOURS
            return Decimal(number)
        if kind is str:
            text = cast(str, value).strip()
            if not text:
                return _REQUIRED if required else None
            if _NUMBER.fullmatch(text):
                return from_text(text)
            return repaired(text)
        if value is None:
            return _REQUIRED if required else None
        return _NOT_NUMBER

    return read


def _code_reader(allowed: Iterable[int], *, required: bool) -> Reader:
    """M, P, R, T: a whole number of the column's code list (TEMPLATE)."""
    codes = frozenset(allowed)
    unknown = _Issue("code.unknown", params=(("expected", ", ".join(map(str, sorted(codes)))),))

    def read(value: object) -> object:
        if _is_empty(value):
            return _REQUIRED if required else None
        number = _whole_number(value)
        return number if number in codes else unknown

    return read


def _read_invalidity(value: object) -> object:
    """N: whole per cent 0-100; empty means 0 (TEMPLATE, `ListRow`)."""
    if _is_empty(value):
        return 0
    if value.__class__ is str:
        m = _PERCENT_TEXT.fullmatch(value.strip())
        number = int(m[1]) if m else None
    else:
        number = _whole_number(value)
    return number if number is not None and 0 <= number <= 100 else _INVALIDITY


def _yes_no_reader(required: bool = True) -> Reader:
    """Y, AA, AB (and `Einsätze` D): J or N (TEMPLATE)."""
    unknown = _Issue("code.unknown", params=(("expected", "J, N"),))
    yes = replace(unknown, fixed="J")
    no = replace(unknown, fixed="N")

    def read(value: object) -> object:
        if value.__class__ is bool:
            return value
        if _is_empty(value):
            return _REQUIRED if required else None
        if value.__class__ is not str:
            return _NUMBER_FLAGS.get(_whole_number(value), unknown)
        word = value.strip().upper()
        if word in YES:
            return True
        if word in NO:
            return False
        if word in YES_REPAIRED:
            return yes
        return no if word in NO_REPAIRED else unknown

    return read


def _two_digit_year(yy: int, period_year: int) -> int:
    """TEMPLATE "Dates": the latest year ending in `yy` not after the period's year."""
    year = period_year // 100 * 100 + yy
    return year if year <= period_year else year - 100


def _two_digit_birth_year(yy: int, period_year: int) -> int:
    """TEMPLATE "Dates": for birth dates, the year giving a BVG age of 14-99."""
    year = _two_digit_year(yy, period_year)
    low, high = BIRTH_YEAR_BVG_AGES
    for candidate in (year, year - 100):
        if low <= period_year - candidate <= high:
            return candidate
    return year  # no such year: age.range says what is wrong


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dotted(day: date) -> str:
    """Art. 10.4: 13.01.2015."""
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


def _date_reader(period_year: int, *, birth: bool = False, required: bool = False) -> Reader:
    """A date cell, or text or a number in an accepted form (TEMPLATE "Dates")."""
    century = _two_digit_birth_year if birth else _two_digit_year

    def from_text(text: str) -> date | _Issue:
        m = _DOTTED_DATE.fullmatch(text)
        if m is not None:
            d, mo, y = m.groups()
            year = int(y) if len(y) == 4 else century(int(y), period_year)
            return _day(year, int(mo), int(d)) or _DATE_FORMAT
        m = _ISO_DATE.fullmatch(text) or _DDMMYY.fullmatch(text)
        if m is not None:
            a, b, c = m.groups()
            if len(a) == 4:
                return _day(int(a), int(b), int(c)) or _DATE_FORMAT
            return _day(century(int(c), period_year), int(b), int(a)) or _DATE_FORMAT
        m = _YEAR_FIRST_DATE.fullmatch(text) or _ISO_MIDNIGHT.fullmatch(text)
        if m is not None:
            repaired = _day(int(m[1]), int(m[2]), int(m[3]))
            return replace(_DATE_FORMAT, fixed=repaired) if repaired else _DATE_FORMAT
        return _DATE_FORMAT

    def from_number(number: float) -> date | _Issue:
        if not math.isfinite(number):
            return _DATE_FORMAT
        serial = int(number)
        first, last = EXCEL_SERIALS
        if first <= serial <= last:
            if serial == 60:  # 29.02.1900, a day Excel counts and the calendar does not
                return _DATE_FORMAT
            return _EXCEL_EPOCH + timedelta(days=serial + (1 if serial < 60 else 0))
        if 100_000 <= number <= 311_299 and number == serial:  # ddmmyy typed as a number
            return from_text(f"{serial:06d}")
        return _DATE_FORMAT

    def read(value: object) -> object:
        kind = value.__class__
        if kind is date:
            return value
        if kind is datetime:
            return cast(datetime, value).date()
        if kind is str:
            text = cast(str, value).strip()
            if not text:
                return _REQUIRED if required else None
            return from_text(text)
        if kind is float:
            return from_number(cast(float, value))
        if kind is int or kind is bool:
            number = int(cast(int, value))
            return from_number(number) if -_MAX_WHOLE < number < _MAX_WHOLE else _DATE_FORMAT
        if value is None:
            return _REQUIRED if required else None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return date(value.year, value.month, value.day)
        return _DATE_FORMAT

    return read


def _in_range(read: Reader, earliest: date, latest: date) -> Reader:
    """TEMPLATE `date.range`: entry, exit and assignment dates from EARLIEST_DATE to the period."""
    too_early = _Issue("date.range", "too_early", (("earliest", _dotted(earliest)),))
    too_late = _Issue("date.range", "too_late", (("latest", _dotted(latest)),))

    def read_in_range(value: object) -> object:
        day = read(value)
        if day.__class__ is date:
            if day < earliest:
                return too_early
            if day > latest:
                return too_late
        return day

    return read_in_range


# -- columns --------------------------------------------------------------------------------
def column_letter(index: int) -> str:
    """0 → A, 27 → AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letter: str) -> int:
    index = 0
    for char in letter:
        index = index * 26 + ord(char) - 64
    return index - 1


_COL = {c.letter: n for n, c in enumerate(COLUMNS)}
_FIELDS = tuple(c.field for c in COLUMNS)
_ROW_KEYS = (*_FIELDS, "assignments")
_WIDTH = len(COLUMNS)
_A_WIDTH = len(ASSIGNMENT_COLUMNS)
(I_, J_, K_, L_, M_, N_, O_, P_, Q_, S_, T_, U_, V_, W_, X_, Z_) = (
    _COL[letter]
    for letter in ("I", "J", "K", "L", "M", "N", "O", "P", "Q", "S", "T", "U", "V", "W", "X", "Z")
)


@dataclass(frozen=True, slots=True)
class _Context:
    period: PayPeriod
    employer_no: int
    language: Language
    #: The bounds of entry, assignment and extension dates; exits may go one day further.
    earliest: date
    latest: date

    @classmethod
    def of(cls, period: str, employer_no: int, language: Language) -> _Context:
        parsed = PayPeriod.parse(period)
        return cls(parsed, employer_no, language, EARLIEST_DATE, parsed.last_day)

    def event_date(self, *, required: bool = False, days_after: int = 0) -> Reader:
        read = _date_reader(self.period.year, required=required)
        return _in_range(read, self.earliest, self.latest + timedelta(days=days_after))

    def readers(self) -> tuple[Reader, ...]:
        """One reader per column A-AB, in order (TEMPLATE "Sheet Mutationen")."""
        event = self.event_date()
        return (
            _text_reader(True),  # A
            _text_reader(True),  # B
            _text_reader(True),  # C
            _text_reader(False),  # D
            _read_postcode,  # E
            _text_reader(True),  # F
            _read_legacy_ahv,  # G
            _employer_reader(self.employer_no),  # H
            _amount_reader(1),  # I
            _amount_reader(1),  # J
            event,  # K
            self.event_date(days_after=EXIT_DAYS_AFTER_PERIOD),  # L
            _code_reader(range(1, 8), required=False),  # M (RULES §7)
            _read_invalidity,  # N
            _ahv_reader(False),  # O
            _code_reader(LANGUAGE_BY_CODE, required=True),  # P
            _ahv_reader(True),  # Q
            _code_reader((1, 2, 3, 4, 5, 7, 8), required=True),  # R
            _date_reader(self.period.year, birth=True, required=True),  # S
            _code_reader((1, 2), required=True),  # T
            _amount_reader(2),  # U
            _amount_reader(2),  # V
            self.event_date(required=True),  # W
            event,  # X
            _yes_no_reader(),  # Y
            event,  # Z
            _yes_no_reader(),  # AA
            _yes_no_reader(),  # AB
        )


#: Columns read at once where they can be (`Bulk`); the others repeat values and are memoised.
_BULK: dict[int, Bulk] = {
    **{_COL[letter]: _text_bulk for letter in ("A", "B", "C", "F")},
    **{_COL[letter]: _amount_bulk(1) for letter in ("I", "J")},
    **{_COL[letter]: _amount_bulk(2) for letter in ("U", "V")},
    _COL["Q"]: _ahv_bulk,
}
#: Columns whose values rarely repeat: read cell by cell without a memo.
_DISTINCT = frozenset({_COL["Q"]})


def _read_column(column: Sequence[Any], read: Reader, c: int) -> tuple[list[Any], bool]:
    """Every cell of column `c` through its reader, and whether any cell has an issue.

    Each pass over a column costs (its cells lie all over memory), so there is one: the
    column's bulk reader, else one memoised pass.
    """
    bulk = _BULK.get(c)
    if bulk is not None:
        with suppress(TypeError):
            values = bulk(column)
            if values is not None:
                return values, False
    if c in _DISTINCT:
        values = list(map(read, column))
        return values, any(value.__class__ is _Issue for value in values)
    # True == 1 as a dict key: the readers take booleans as numbers, so sharing is right.
    memo = _Memo(read)
    values = list(map(memo.__getitem__, column))
    return values, any(value.__class__ is _Issue for value in memo.values())


# -- sheet Mutationen ------------------------------------------------------------------------
@dataclass(slots=True)
class _Table:
    """The rows of one list, read column by column, and what is wrong with them."""

    row_nos: list[int]
    #: Typed values by column (None where empty or wrong); `Any`: the readers' types per column.
    typed: list[list[Any]]
    #: (row index, column index, issue), row index into `row_nos`.
    issues: list[tuple[int, int, _Issue]] = field(default_factory=list)

    def languages(self) -> list[Language]:
        return [
            LANGUAGE_BY_CODE.get(code, "de") if code is not None else "de"
            for code in self.typed[P_]
        ]


def _is_blank(row: Sequence[object]) -> bool:
    """Fully empty rows are ignored (TEMPLATE, `model.Cell`: blank text is empty too)."""
    for cell in row:
        if cell is None:
            continue
        if cell.__class__ is str and (not cell or cell.isspace()):
            continue
        return False
    return True


def _read_table(rows: Sequence[Sequence[object]], row_nos: list[int], ctx: _Context) -> _Table:
    columns: list[Sequence[object]] = []
    if rows:
        columns.extend(zip_longest(*rows))
        del columns[_WIDTH:]
    columns += [(None,) * len(rows)] * (_WIDTH - len(columns))
    table = _Table(row_nos, [])
    issues = table.issues
    for c, (column, read) in enumerate(zip(columns, ctx.readers(), strict=True)):
        values, flawed = _read_column(column, read, c)
        if flawed:
            for i, value in enumerate(values):
                if value.__class__ is _Issue:
                    issues.append((i, c, value))
                    values[i] = None
        table.typed.append(values)
    _check_rows(table, ctx)
    return table


def _check_rows(table: _Table, ctx: _Context) -> None:
    """The checks that span cells or rows (TEMPLATE "Checks and their codes")."""
    typed, issues, add = table.typed, table.issues, table.issues.append
    flagged = {(i, c) for i, c, _ in issues}
    entries, exits, codes, degrees = typed[K_], typed[L_], typed[M_], typed[N_]
    for i, code in enumerate(codes):
        if code is None:
            continue
        # Art. 9: code 1 needs K, code 2 needs L, code 3 needs O.
        if code == 1:
            if entries[i] is None and (i, K_) not in flagged:
                add((i, K_, _ENTRY_MISSING))
            degree = degrees[i]
            if degree is not None and degree >= IV_DEGREE_NOT_INSURABLE:
                add((i, N_, _INVALIDITY_ENTRY))  # Art. 1.3: no entry from 70 %
        elif code == 2:
            if exits[i] is None and (i, L_) not in flagged:
                add((i, L_, _EXIT_MISSING))
        elif code == 3 and typed[O_][i] is None and (i, O_) not in flagged:
            add((i, O_, _OLD_AHV_MISSING))

    hours, wages, premiums, insured_wages = typed[U_], typed[V_], typed[I_], typed[J_]
    if _ZERO in premiums or _ZERO in insured_wages:  # None never equals 0
        for i, (premium, insured, worked, paid, code) in enumerate(
            zip(premiums, insured_wages, hours, wages, codes, strict=True)
        ):
            # TEMPLATE J, Art. 9: a zero insured wage or premium needs code 4-7 with work.
            zero_insured = insured is not None and not insured
            if (
                (zero_insured or (premium is not None and not premium))
                and (worked or paid)
                and code not in ZERO_WAGE_CODES
            ):
                add((i, J_ if zero_insured else I_, _ZERO_WAGE))
    if (
        _ZERO in hours
        or any(map(Decimal.is_signed, filter(None, hours)))
        or any(map(Decimal.is_signed, filter(None, wages)))
    ):  # else every hourly wage is positive
        for i, (worked, paid) in enumerate(zip(hours, wages, strict=True)):
            if worked is None or paid is None:
                continue
            # TEMPLATE amount.sign, RULES §3: the hourly base wage must not be negative.
            if worked:
                if paid and worked.is_signed() != paid.is_signed():
                    add((i, V_, _SIGN))
            elif paid:
                add((i, U_, _NO_HOURS))

    year, month = ctx.period
    births = typed[S_]
    earliest = min(filter(None, births), default=None)
    latest = max(filter(None, births), default=None)
    if (
        earliest is None
        or latest is None
        or (
            year - latest.year >= ADMISSION_BVG_AGE
            and year - earliest.year < EARLIEST_REFERENCE_AGE
        )
    ):  # every BVG age lies between 18 and the lowest reference age
        births = []
    under = (("minimum", str(ADMISSION_BVG_AGE)),)
    for i, (born, sex) in enumerate(zip(births, typed[T_], strict=False)):
        if born is None:
            continue
        age = year - born.year  # RULES §5: calendar year - birth year
        if age < ADMISSION_BVG_AGE:  # Art. 1.1
            add((i, S_, _Issue("age.range", "under", (("age", str(age)), *under))))
        elif (
            age >= EARLIEST_REFERENCE_AGE
            and sex is not None
            and (year, month) > last_contribution_month("M" if sex == 1 else "F", born)
        ):  # RULES §5: contributions up to the month the reference age is reached
            add((i, S_, _Issue("age.range", "over", (("age", str(age)),))))

    for i, (entry, exit_) in enumerate(zip(entries, exits, strict=True)):
        if exit_ is not None and entry is not None and exit_ < entry:
            add((i, L_, _EXIT_BEFORE_ENTRY))  # TEMPLATE date.range: exit before entry
    starts, ends, extensions = typed[W_], typed[X_], typed[Z_]
    for i, end in enumerate(ends):
        if end is not None and starts[i] is not None and end < starts[i]:
            add((i, X_, _Issue("date.range", "end_before_start", (("other_column", "W"),))))
    for i, extension in enumerate(extensions):
        if extension is None or starts[i] is None:
            continue
        # Art. 3.3: an extension is accepted during the assignment.
        end = ends[i]
        if extension < starts[i] or (end is not None and extension > end):
            add((i, Z_, _EXTENSION_OUTSIDE))

    ahvs = typed[Q_]
    present = [ahv for ahv in ahvs if ahv is not None]
    if len(set(present)) != len(present):  # TEMPLATE ahv.duplicate: one row per worker
        rows_of: dict[object, list[int]] = {}
        for i, ahv in enumerate(ahvs):
            if ahv is not None:
                rows_of.setdefault(ahv, []).append(i)
        for group in rows_of.values():
            if len(group) > 1:
                for i in group:
                    others = ", ".join(str(table.row_nos[j]) for j in group if j != i)
                    add((i, Q_, _Issue("ahv.duplicate", params=(("other_row", others),))))


# -- findings -------------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def _message(key: str, language: Language, params: tuple[tuple[str, str], ...]) -> str:
    return messages.render(key, language, dict(params))


def _finding(
    issue: _Issue,
    *,
    row: int | None,
    column: str | None,
    header: str,
    language: Language,
    sheet: str | None = None,
) -> Finding:
    params = (("column", column or ""), ("header", header), *issue.params)
    key = messages.key_of(issue.code, issue.variant)
    severity: Literal["error", "warning"] = (
        "warning" if issue.code.startswith("declared.") else "error"
    )
    return Finding(
        code=issue.code,
        severity=severity,
        message=_message(key, language, params),
        row=row,
        column=column,
        sheet=sheet,
        fixed=issue.fixed,
        params=dict(params),
    )


def _file_finding(code: str, variant: str, language: Language, **params: str) -> Finding:
    key = messages.key_of(code, variant)
    return Finding(
        code=code,
        severity="error",
        message=messages.render(key, language, params),
        params=dict(params),
    )


def _finding_order(f: Finding) -> tuple[int, int, int, str]:
    """File first, then sheet `Mutationen` by row and column, then sheet `Einsätze`."""
    return (
        0 if f.sheet is None else 1,
        -1 if f.row is None else f.row,
        -1 if f.column is None else _column_index(f.column),
        f.code,
    )


def _status(findings: Sequence[Finding]) -> Status:
    return "faulty" if any(f.severity == "error" for f in findings) else "ok"


# -- headers, formulas, merged cells ---------------------------------------------------------
def _header_text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return " ".join(unicodedata.normalize("NFC", cell).split()).casefold()
    return str(cell).casefold()


def _header_findings(
    header_row: Sequence[object], columns: Sequence[Column], sheet: str, language: Language
) -> list[Finding]:
    """TEMPLATE file.headers: each header of the template in its column."""
    found = [_header_text(cell) for cell in header_row]
    missing: list[str] = []
    misplaced: list[str] = []
    for n, col in enumerate(columns):
        want = _header_text(col.header)
        if n < len(found) and found[n] == want:
            continue
        if want in found:
            misplaced.append(f"{col.header}: {column_letter(found.index(want))} → {col.letter}")
        else:
            missing.append(f"{col.letter} ({col.header})")
    findings = []
    if missing:
        findings.append(
            _file_finding(
                "file.headers", "missing", language, sheet=sheet, columns=", ".join(missing)
            )
        )
    if misplaced:
        findings.append(
            _file_finding(
                "file.headers", "misplaced", language, sheet=sheet, columns=", ".join(misplaced)
            )
        )
    return findings


def _layout_issues(
    sheet: Sheet, width: int, data_rows: set[int]
) -> tuple[list[tuple[int, int, _Issue]], set[tuple[int, int]]]:
    """cell.formula and cell.merged inside the data area: (row index, column, issue), 0-based."""
    issues: list[tuple[int, int, _Issue]] = []
    formulas = {(r, c) for r, c in sheet.formulas_without_value if r in data_rows and c < width}
    issues += [(r, c, _FORMULA) for r, c in sorted(formulas)]
    for rng in sheet.merged:
        if rng.last_row < 1 or rng.first_col >= width:
            continue
        first_row = max(rng.first_row, 1)
        where = (
            f"{column_letter(rng.first_col)}{rng.first_row + 1}:"
            f"{column_letter(rng.last_col)}{rng.last_row + 1}"
        )
        issues.append((first_row, rng.first_col, _Issue("cell.merged", params=(("range", where),))))
    return issues, formulas


# -- sheet Einsätze --------------------------------------------------------------------------
@dataclass(slots=True)
class _Assignments:
    """What sheet `Einsätze` (or the JSON `assignments`) says, by AHV number."""

    by_ahv: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    #: Workers with an assignment row in error: their `Mutationen` row is not error-free.
    faulty: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)


class _AssignmentReaders:
    """Readers of `Einsätze` B-E and of weekly hours, as those of W, X, Y, Z and U."""

    def __init__(self, ctx: _Context) -> None:
        event = ctx.event_date()
        self.cells: tuple[Reader, ...] = (
            _ahv_reader(True),
            ctx.event_date(required=True),
            event,
            _yes_no_reader(),
            event,
        )
        self.hours = _amount_reader(2, required=False, negative=False)
        self.week = _date_reader(ctx.period.year)

    def assignment(
        self, cells: Sequence[object], weeks: Iterable[tuple[int, date, object]]
    ) -> tuple[dict[str, object], list[tuple[int, _Issue]]]:
        """The assignment of one row (cells A-E; week columns: index, Monday, hours)."""
        issues: list[tuple[int, _Issue]] = []
        typed: list[object] = []
        for n, read in enumerate(self.cells):
            value = read(cells[n])
            if value.__class__ is _Issue:
                issues.append((n, value))
                value = None
            typed.append(value)
        start, end, extension = typed[1], typed[2], typed[4]
        if start is not None and end is not None and cast(date, end) < cast(date, start):
            issues.append((2, _Issue("date.range", "end_before_start", (("other_column", "B"),))))
        if (
            extension is not None
            and start is not None
            and (
                cast(date, extension) < cast(date, start)
                or (end is not None and cast(date, extension) > cast(date, end))
            )
        ):
            issues.append((4, _EXTENSION_OUTSIDE))
        weekly: list[dict[str, object]] = []
        for n, monday, cell in weeks:
            hours = self.hours(cell)
            if hours.__class__ is _Issue:
                issues.append((n, hours))
            elif hours is not None:
                weekly.append({"week_of": monday, "hours": hours})
        detail = {
            "start": start,
            "end": end,
            "expected_over_13_weeks": typed[3],
            "extension_accepted_on": extension,
            "weekly_hours": weekly,
        }
        return detail, issues

    def week_of(self, header: object) -> date | None:
        """A week column's header: its Monday (a date) or an ISO week `2025-W27`."""
        if header.__class__ is str:
            m = _ISO_WEEK.fullmatch(header.strip())
            if m is not None:
                try:
                    return date.fromisocalendar(int(m[1]), int(m[2]), 1)
                except ValueError:
                    return None
        day = self.week(header)
        if day.__class__ is date and day.weekday() == 0:
            return day
        return None


def _check_assignment_sheet(
    sheet: Sheet, ctx: _Context, language_of: Mapping[str, Language]
) -> _Assignments:
    """Sheet `Einsätze` (TEMPLATE): A-E as ASSIGNMENT_COLUMNS, then hours by calendar week."""
    out = _Assignments()
    name = ASSIGNMENTS_SHEET
    if not sheet.rows:
        return out
    header_row = sheet.rows[0]
    out.findings += _header_findings(header_row[:_A_WIDTH], ASSIGNMENT_COLUMNS, name, ctx.language)
    if out.findings:
        return out
    readers = _AssignmentReaders(ctx)
    data = [(r, row) for r, row in enumerate(sheet.rows[1:], start=1) if not _is_blank(row)]
    width = max((len(row) for row in sheet.rows), default=0)
    weeks: list[tuple[int, date]] = []
    seen: dict[date, int] = {}
    for n in range(_A_WIDTH, width):
        header = header_row[n] if n < len(header_row) else None
        used = any(n < len(row) and not _is_empty(row[n]) for _, row in data)
        if _is_empty(header):
            if used:
                out.findings.append(
                    _file_finding(
                        "file.headers", "week", ctx.language, sheet=name, column=column_letter(n)
                    )
                )
            continue
        monday = readers.week_of(header)
        if monday is None:
            out.findings.append(
                _file_finding(
                    "file.headers", "week", ctx.language, sheet=name, column=column_letter(n)
                )
            )
        elif monday in seen:
            out.findings.append(
                _file_finding(
                    "file.headers",
                    "week_twice",
                    ctx.language,
                    sheet=name,
                    column=column_letter(n),
                    other_column=column_letter(seen[monday]),
                )
            )
        else:
            seen[monday] = n
            weeks.append((n, monday))
    if out.findings:
        return out
    layout, formulas = _layout_issues(sheet, width, {r for r, _ in data})
    headers = {n: c.header for n, c in enumerate(ASSIGNMENT_COLUMNS)}
    headers.update((n, _dotted(monday)) for n, monday in weeks)
    layout_of: dict[int, list[tuple[int, _Issue]]] = {}
    for r, n, issue in layout:
        layout_of.setdefault(r, []).append((n, issue))
    for r, row in data:
        cells = [*row[:_A_WIDTH], *([None] * (_A_WIDTH - len(row)))]
        cells_of_weeks = [(n, monday, row[n] if n < len(row) else None) for n, monday in weeks]
        detail, issues = readers.assignment(cells, cells_of_weeks)
        ahv = readers.cells[0](cells[0])
        worker = ahv if isinstance(ahv, str) else None
        if worker is not None and worker not in language_of:
            issues.append((0, _UNKNOWN_WORKER))
        issues = [(n, issue) for n, issue in issues if (r, n) not in formulas]
        issues += layout_of.get(r, [])
        language = language_of.get(worker, ctx.language) if worker else ctx.language
        for n, issue in issues:
            out.findings.append(
                _finding(
                    issue,
                    row=r + 1,
                    column=column_letter(n),
                    header=headers.get(n, ""),
                    language=language,
                    sheet=name,
                )
            )
        if issues:
            if worker is not None:
                out.faulty.add(worker)
        elif worker is not None:
            out.by_ahv.setdefault(worker, []).append(detail)
    for worker in out.faulty:
        out.by_ahv.pop(worker, None)
    return out


def _check_json_assignments(
    entries: Sequence[tuple[int, str | None, object]],
    ctx: _Context,
    languages: Mapping[int, Language],
) -> _Assignments:
    """The JSON `assignments` of each row (AssignmentDetail-shaped objects): the checks of
    sheet `Einsätze` B-E and its weekly hours; findings name the list row, sheet `Einsätze`."""
    out = _Assignments()
    readers = _AssignmentReaders(ctx)
    name = ASSIGNMENTS_SHEET
    fields = ("start", "end", "expected_over_13_weeks", "extension_accepted_on")
    for row_no, ahv, given in entries:
        language = languages.get(row_no, "de")

        def report(
            issue: _Issue,
            column: str | None,
            header: str,
            row_no: int = row_no,
            language: Language = language,
        ) -> None:
            out.findings.append(
                _finding(
                    issue, row=row_no, column=column, header=header, language=language, sheet=name
                )
            )

        details: list[dict[str, object]] = []
        faulty = False
        items = given if isinstance(given, list) else None
        if items is None:
            report(_NOT_OBJECT, None, "assignments")
            faulty = True
        for item in items or ():
            if not isinstance(item, Mapping):
                report(_NOT_OBJECT, None, "assignments")
                faulty = True
                continue
            cells = [ahv, *(_json_cell(item.get(key)) for key in fields)]
            weeks: list[tuple[int, date, object]] = []
            raw_weeks = item.get("weekly_hours") or []
            for week in raw_weeks if isinstance(raw_weeks, list) else [raw_weeks]:
                if not isinstance(week, Mapping):
                    report(_NOT_OBJECT, None, "weekly_hours")
                    faulty = True
                    continue
                monday = readers.week(_json_cell(week.get("week_of")))
                if monday.__class__ is not date:
                    report(_DATE_FORMAT if monday is not None else _REQUIRED, None, "week_of")
                    faulty = True
                    continue
                if monday.weekday() != 0:
                    report(_NOT_MONDAY, None, "week_of")
                    faulty = True
                    continue
                weeks.append((_A_WIDTH, monday, _json_cell(week.get("hours"))))
            detail, issues = readers.assignment(cells, weeks)
            for n, issue in issues:
                if n >= _A_WIDTH:
                    report(issue, None, "hours")
                else:
                    report(issue, ASSIGNMENT_COLUMNS[n].letter, ASSIGNMENT_COLUMNS[n].header)
            faulty = faulty or bool(issues)
            details.append(detail)
        if ahv is not None:
            if faulty:
                out.faulty.add(ahv)
            else:
                out.by_ahv[ahv] = details
    return out


# -- the list --------------------------------------------------------------------------------
def _checked_list(
    table: _Table,
    ctx: _Context,
    *,
    layout: list[tuple[int, int, _Issue]],
    formulas: set[tuple[int, int]],
    assignments: _Assignments | None,
    extra: Sequence[Finding] = (),
    row_count: int,
) -> CheckedList:
    languages = table.languages()
    row_nos = table.row_nos
    index_of = {no: i for i, no in enumerate(row_nos)}
    headers = [c.header for c in COLUMNS]
    letters = [c.letter for c in COLUMNS]
    issues = table.issues
    if formulas:  # the formula's cell has no value: say that, not what an empty cell lacks
        issues = [(i, c, x) for i, c, x in issues if (row_nos[i] - 1, c) not in formulas]
    findings = [
        _finding(x, row=row_nos[i], column=letters[c], header=headers[c], language=languages[i])
        for i, c, x in issues
    ]
    bad = {i for i, _, _ in issues}
    for r, c, x in layout:
        i = index_of.get(r + 1)
        language = languages[i] if i is not None else ctx.language
        if i is not None:
            bad.add(i)
        findings.append(
            _finding(
                x,
                row=r + 1,
                column=column_letter(c),
                header=headers[c] if c < _WIDTH else "",
                language=language,
            )
        )
    findings += extra
    by_ahv: Mapping[str, list[dict[str, object]]] = {}
    if assignments is not None:
        findings += assignments.findings
        by_ahv = assignments.by_ahv
        if assignments.faulty:
            ahvs = table.typed[Q_]
            bad.update(i for i, ahv in enumerate(ahvs) if ahv in assignments.faulty)
    findings.sort(key=_finding_order)
    fields = _FIELDS
    if not bad and not by_ahv:  # the common case, in C loops
        no_assignments: list[Any] = [[] for _ in row_nos]
        cells = zip(*table.typed, no_assignments, strict=True)
        dicts: Iterator[dict[str, object]] = map(dict, map(zip, repeat(_ROW_KEYS), cells))
        rows = list(map(CheckedRow, row_nos, languages, dicts))
    else:
        rows = []
        for i, values in enumerate(zip(*table.typed, strict=True)):
            if i not in bad:
                details = list(by_ahv.get(values[Q_], ()))
                row = dict(zip(fields, values, strict=True), assignments=details)
                rows.append(CheckedRow(row_nos[i], languages[i], row))
    return CheckedList(_status(findings), row_count, tuple(findings), tuple(rows))


def check_workbook(
    wb: Workbook, *, employer_no: int, period: str, language: Language
) -> CheckedList:
    """Check a list as read from an xlsx file (TEMPLATE.md); `period` is `YYYY-MM`."""
    ctx = _Context.of(period, employer_no, language)
    with collector_paused():
        return _check_workbook(wb, ctx)


def _check_workbook(wb: Workbook, ctx: _Context) -> CheckedList:
    language = ctx.language
    sheet = wb.mutations
    if sheet is None:
        sheets = ", ".join(wb.sheet_names) or "-"
        finding = _file_finding("file.no_sheet", "", language, sheets=sheets)
        return CheckedList("faulty", 0, (finding,), ())
    data = [r for r in range(1, len(sheet.rows)) if not _is_blank(sheet.rows[r])]
    rows = [sheet.rows[r] for r in data]
    header_findings = _header_findings(
        sheet.rows[0] if sheet.rows else [], COLUMNS, sheet.name, language
    )
    if not sheet.rows:
        header_findings = []
    if not data:
        header_findings.append(_file_finding("file.empty", "", language))
    if header_findings:
        return CheckedList("faulty", len(data), tuple(header_findings), ())
    table = _read_table(rows, [r + 1 for r in data], ctx)
    layout, formulas = _layout_issues(sheet, _WIDTH, set(data))
    assignments = None
    if wb.assignments is not None:
        language_of = _worker_languages(table)
        assignments = _check_assignment_sheet(wb.assignments, ctx, language_of)
    return _checked_list(
        table,
        ctx,
        layout=layout,
        formulas=formulas,
        assignments=assignments,
        row_count=len(data),
    )


def _worker_languages(table: _Table) -> dict[str, Language]:
    return {
        cast(str, ahv): language
        for ahv, language in zip(table.typed[Q_], table.languages(), strict=True)
        if ahv is not None
    }


class _Unusable:
    """A JSON value no cell can hold (an object or array where a value belongs)."""

    __slots__ = ()


_UNUSABLE = _Unusable()
_CELL_TYPES = (str, int, float, bool)


def _json_cell(value: object) -> object:
    if value is None or value.__class__ in _CELL_TYPES:
        return value
    return _UNUSABLE


def check_json_rows(
    rows: Sequence[Mapping[str, object]], *, employer_no: int, period: str, language: Language
) -> CheckedList:
    """Check a list in its JSON form: one object per row keyed by `ListRow` field names, rows
    numbered 2, 3, ... as in a sheet; optional `assignments` as in `AssignmentDetail`."""
    ctx = _Context.of(period, employer_no, language)
    with collector_paused():
        return _check_json_rows(rows, ctx)


def _check_json_rows(rows: Sequence[Mapping[str, object]], ctx: _Context) -> CheckedList:
    language = ctx.language
    cells: list[list[object]] = []
    row_nos: list[int] = []
    not_objects: list[int] = []
    nested: list[tuple[int, int]] = []  # (index into cells, position in rows)
    for n, row in enumerate(rows):
        row_no = n + 2
        if not isinstance(row, Mapping):
            not_objects.append(row_no)
            continue
        values = [_json_cell(row.get(name)) for name in _FIELDS]
        if _is_blank(values) and not row.get("assignments"):
            continue
        if "assignments" in row and row["assignments"] is not None:
            nested.append((len(cells), n))
        cells.append(values)
        row_nos.append(row_no)
    row_count = len(cells) + len(not_objects)
    if row_count == 0:
        return CheckedList("faulty", 0, (_file_finding("file.empty", "", language),), ())
    table = _read_table(cells, row_nos, ctx)
    extra = [
        _finding(_NOT_OBJECT, row=row_no, column=None, header="", language=language)
        for row_no in not_objects
    ]
    assignments = None
    if nested:
        languages = table.languages()
        ahvs = table.typed[Q_]
        entries = [
            (
                row_nos[i],
                cast(str | None, ahvs[i]),
                rows[n]["assignments"],
            )
            for i, n in nested
        ]
        assignments = _check_json_assignments(
            entries, ctx, {row_nos[i]: languages[i] for i, _ in nested}
        )
    return _checked_list(
        table,
        ctx,
        layout=[],
        formulas=set(),
        assignments=assignments,
        extra=extra,
        row_count=row_count,
    )


def unreadable(code: str, reason: str, *, language: Language) -> CheckedList:
    """A file the reader could not take (`file.unreadable` or `file.too_large`, TEMPLATE)."""
    variant = reason if messages.key_of(code, reason) in messages.MESSAGES else ""
    finding = _file_finding(code, variant, language)
    return CheckedList("unreadable", 0, (replace(finding, params={"reason": reason}),), ())


def declared_findings(
    row: CheckedRow, *, insured_wage: Decimal, premium_total: Decimal
) -> list[Finding]:
    """TEMPLATE declared.*: I or J differs from the computed amount by more than 0.10 (warnings;
    the computed amount is billed and the row counts as corrected, Art. 24)."""
    findings = []
    for code, letter, computed in (
        ("declared.premium", "I", premium_total),
        ("declared.insured_wage", "J", insured_wage),
    ):
        declared = row.values.get(COLUMNS[_COL[letter]].field)
        if isinstance(declared, Decimal) and abs(declared - computed) > DECLARED_TOLERANCE:
            issue = _Issue(
                code,
                params=(
                    ("declared", f"{declared:.2f}"),
                    ("computed", f"{computed:.2f}"),
                    ("tolerance", f"{DECLARED_TOLERANCE:.2f}"),
                ),
            )
            findings.append(
                _finding(
                    issue,
                    row=row.row_no,
                    column=letter,
                    header=COLUMNS[_COL[letter]].header,
                    language=row.language,
                )
            )
    return findings
