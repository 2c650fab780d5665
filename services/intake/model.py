"""The monthly list as intake sees it: columns, raw cells, findings (TEMPLATE.md).

Shared by the reader (`workbook.py`), the checks (`domain.py`) and the writers
(`template.py`, `annotate.py`); no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from contracts.values import Language

#: A cell as read: empty cells are None or "" (whitespace-only text counts as empty too);
#: Excel dates arrive as date/datetime, numbers as int/float, text as str, booleans as bool
#: (JSON lists may send them).
Cell = str | int | float | bool | date | datetime | None

Severity = Literal["error", "warning"]

MUTATIONS_SHEET = "Mutationen"
ASSIGNMENTS_SHEET = "Einsätze"

#: Column P (Sprachcode) → report language; German where unknown (TEMPLATE.md).
LANGUAGE_BY_CODE: dict[int, Language] = {0: "en", 1: "de", 2: "fr", 3: "it"}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of sheet `Mutationen`: its letter, header, ListRow field and whether required."""

    letter: str
    header: str
    field: str
    required: bool
    hint: str


#: Sheet `Mutationen`, A-T as Annex 1, U-AB ours (TEMPLATE.md). `required=False` covers the
#: conditionally required columns (K, L, N, O); their conditions are checks of their own.
COLUMNS: tuple[Column, ...] = (
    Column("A", "Name", "last_name", True, "Nachname in GROSSBUCHSTABEN"),
    Column("B", "Vorname", "first_name", True, "Vorname in GROSSBUCHSTABEN"),
    Column("C", "Strasse", "street", True, "Strasse und Hausnummer in GROSSBUCHSTABEN"),
    Column("D", "Adresszusatz", "address_extra", False, "optional, GROSSBUCHSTABEN"),
    Column("E", "PLZ", "postcode", True, "4 Ziffern, im Ausland Land-PLZ (F-75000)"),
    Column("F", "Wohnort", "town", True, "Wohnort in GROSSBUCHSTABEN"),
    Column("G", "AHV-Nummer alt", "legacy_ahv", False, "optional, xxx.xx.xxx.xxx"),
    Column("H", "Firmennummer", "employer_no", True, "Ihre Firmennummer, in jeder Zeile gleich"),
    Column("I", "Total Prämie", "premium_total", True, "CHF, eine Dezimalstelle (400.1)"),
    Column(
        "J",
        "Koordinierter Lohn",
        "insured_wage",
        True,
        "CHF, eine Dezimalstelle; 0 nur mit Code 4-7",
    ),
    Column("K", "Beitrittsdatum", "entry_date", False, "TT.MM.JJJJ, bei Code 1"),
    Column("L", "Austrittsdatum", "exit_date", False, "TT.MM.JJJJ, bei Code 2"),
    Column("M", "Mutationscode", "mutation_code", False, "1-7, leer für andere Änderungen"),
    Column("N", "Invaliditätsgrad", "invalidity_degree", False, "0-100 %, ganze Zahl"),
    Column("O", "Alte AHV-Nummer", "old_ahv", False, "756.xxxx.xxxx.xx, bei Code 3"),
    Column(
        "P",
        "Sprachcode",
        "language_code",
        True,
        "0 Englisch, 1 Deutsch, 2 Französisch, 3 Italienisch",
    ),
    Column("Q", "AHV-Nummer", "ahv", True, "756.xxxx.xxxx.xx"),
    Column("R", "Zivilstandscode", "civil_status", True, "1, 2, 3, 4, 5, 7 oder 8"),
    Column("S", "Geburtsdatum", "birth_date", True, "TT.MM.JJJJ"),
    Column("T", "Geschlechtscode", "sex_code", True, "1 männlich, 2 weiblich"),
    Column("U", "Stunden", "hours", True, "Stunden der Periode, zwei Dezimalstellen"),
    Column(
        "V", "Grundlohn", "base_wage", True, "AHV-Grundlohn der Periode, CHF, zwei Dezimalstellen"
    ),
    Column("W", "Einsatzbeginn", "assignment_start", True, "TT.MM.JJJJ"),
    Column("X", "Einsatzende", "assignment_end", False, "TT.MM.JJJJ, falls beendet"),
    Column("Y", "Dauer über 13 Wochen", "expected_over_13_weeks", True, "J oder N"),
    Column("Z", "Verlängerung angenommen am", "extension_accepted_on", False, "TT.MM.JJJJ"),
    Column("AA", "Versicherung verlangt", "insurance_requested", True, "J oder N"),
    Column("AB", "Unterhaltspflicht Kinder", "maintains_children", True, "J oder N"),
)

#: Sheet `Einsätze` (optional): the first five columns; further columns hold hours per
#: calendar week, headed by the Monday of the week (a date) or an ISO week (`2025-W27`).
ASSIGNMENT_COLUMNS: tuple[Column, ...] = (
    Column("A", "AHV-Nummer", "ahv", True, "756.xxxx.xxxx.xx"),
    Column("B", "Einsatzbeginn", "start", True, "TT.MM.JJJJ"),
    Column("C", "Einsatzende", "end", False, "TT.MM.JJJJ, falls beendet"),
    Column("D", "Dauer über 13 Wochen", "expected_over_13_weeks", True, "J oder N"),
    Column("E", "Verlängerung angenommen am", "extension_accepted_on", False, "TT.MM.JJJJ"),
)


@dataclass(frozen=True, slots=True)
class CellRange:
    """A rectangle of cells, 0-based row and column indexes, inclusive."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int


@dataclass(frozen=True, slots=True)
class Sheet:
    """The cells of one sheet as read; `rows[0]` is spreadsheet row 1 (the headers)."""

    name: str
    rows: list[list[Cell]]
    #: (row index, column index), 0-based, of formula cells that have no cached value.
    formulas_without_value: frozenset[tuple[int, int]] = frozenset()
    merged: tuple[CellRange, ...] = ()


@dataclass(frozen=True, slots=True)
class Workbook:
    """What intake needs of a workbook: the list sheet and, if present, `Einsätze`."""

    sheet_names: tuple[str, ...]
    mutations: Sheet | None
    assignments: Sheet | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One check result: where, which stable code, how bad, and a sentence for the employer.

    `row` is the spreadsheet row number (1 = headers) and `column` the letter; both None for
    findings about the whole file. `fixed` is a mechanically corrected value (`--fix`), if any.
    """

    code: str
    severity: Severity
    message: str
    row: int | None = None
    column: str | None = None
    sheet: str | None = None
    fixed: Cell = None
    params: dict[str, str] = field(default_factory=dict)
