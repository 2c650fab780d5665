"""`bvgconnect validate`: check a monthly list on the employer's machine (TEMPLATE.md).

Reads the xlsx file, runs every check of `domain`, and for the rows without errors computes the
`declared.*` warnings in-process: the insured part of the period by the coverage rules
(`services/coverage/domain.py`) and the premium by pricing (`services/pricing/domain.py`).

Offline results lack the worker's history: earlier lists, earlier assignments and the work weeks
they count (S4, S6), an IV degree reported before. The row itself, or its assignments on sheet
`Einsätze`, is all this command knows, so a `declared.*` warning here may not be one in the
service, and the other way round. The service's check report is authoritative.

Exit status: 0 without errors (warnings allowed), 1 with errors, 2 when the file is unreadable
or cannot be opened.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from contracts.values import Language
from services.coverage.calendar import PayPeriod
from services.coverage.domain import (
    Assignment,
    CoverageError,
    Worker,
    corrected_period,
    insured_part,
    timeline,
)
from services.intake.domain import CheckedList, CheckedRow, declared_findings
from services.intake.model import Finding
from services.pricing.domain import PricingError, RowInput, Sex, price

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class Request:
    """What `bvgconnect validate` was asked to do."""

    path: Path
    employer_no: int
    period: str
    language: Language = "de"
    as_json: bool = False
    fix_to: Path | None = None


def validate(request: Request, stdout: TextIO, stderr: TextIO) -> int:
    """The body of `bvgconnect validate`; returns the exit status."""
    from services.intake.checking import check_bytes
    from services.intake.workbook import Limits

    try:
        period = PayPeriod.parse(request.period)
    except ValueError:
        stderr.write(f"bvgconnect validate: --period {request.period!r} is not a month YYYY-MM\n")
        return EXIT_UNREADABLE
    try:
        content = request.path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        stderr.write(f"bvgconnect validate: cannot read {request.path}: {reason}\n")
        return EXIT_UNREADABLE
    checked = check_bytes(
        content,
        "xlsx",
        employer_no=request.employer_no,
        period=request.period,
        language=request.language,
        limits=Limits(),
    )
    checked = checked.with_findings(
        warning for row in checked.rows for warning in declared_warnings(row, period)
    )
    if request.as_json:
        json.dump(report_json(checked), stdout, ensure_ascii=False)
        stdout.write("\n")
    else:
        stdout.write(report_text(checked, request))
    if request.fix_to is not None:
        status = _fix(content, checked, request.fix_to, stderr if request.as_json else stdout)
        if status != EXIT_OK:
            return status
    if checked.status == "unreadable":
        return EXIT_UNREADABLE
    return EXIT_ERRORS if checked.error_count else EXIT_OK


# -- declared amounts, from the row alone ---------------------------------------------------
def declared_warnings(row: CheckedRow, period: PayPeriod) -> list[Finding]:
    """`declared.*` of one error-free row: its I and J against the amounts the rules give for
    the row alone (coverage RULES §6, then pricing RULES §2-§5). A row the rules cannot judge
    on its own (coverage or pricing refuses it) gets none: the service judges it with history."""
    values = row.values
    hours = _money(values["hours"])
    sex: Sex = "M" if values["sex_code"] == 1 else "F"
    birth_date = _day(values["birth_date"])
    degree = _whole(values["invalidity_degree"])
    try:
        assignments = _assignments(values)
        derived = timeline(
            Worker(birth_date=birth_date, sex=sex, invalidity_degree=degree),
            assignments,
            as_of=period.last_day,
        )
        judged = corrected_period(assignments, period) if hours < 0 else period
        part = insured_part(derived, judged, abs(hours))
        sign = Decimal(-1) if hours < 0 else Decimal(1)  # a correction: the same part, negative
        priced = price(
            RowInput(
                year=period.year,
                month=period.month,
                birth_date=birth_date,
                sex=sex,
                hours=hours,
                base_wage=_money(values["base_wage"]),
                invalidity_degree=degree,
                insured_hours=sign * part.insured_hours if part.insured_days else Decimal(0),
            )
        )
    except (CoverageError, PricingError):
        return []
    return declared_findings(
        row, insured_wage=priced.insured_wage, premium_total=priced.premium_total
    )


def _assignments(values: dict[str, object]) -> list[Assignment]:
    """The row's assignments as the coverage service reads them (`coverage.handlers`): sheet
    `Einsätze` where the list has it, else columns W-Z; a code-2 exit ends the one it dates."""
    exit_ = values["mutation_code"] == 2
    exit_date = _optional_day(values["exit_date"])
    requested, children = bool(values["insurance_requested"]), bool(values["maintains_children"])
    details = values["assignments"]
    if not isinstance(details, list) or not details:
        return [
            Assignment(
                start=_day(values["assignment_start"]),
                end=_optional_day(values["assignment_end"]) or (exit_date if exit_ else None),
                expected_over_13_weeks=bool(values["expected_over_13_weeks"]),
                extension_accepted_on=_optional_day(values["extension_accepted_on"]),
                requested=requested,
                children=children,
                ends_with_exit=exit_,
            )
        ]
    out = []
    for detail in details:
        end = _optional_day(detail["end"])
        weeks: list[dict[str, object]] = detail["weekly_hours"]
        out.append(
            Assignment(
                start=_day(detail["start"]),
                end=end,
                expected_over_13_weeks=bool(detail["expected_over_13_weeks"]),
                extension_accepted_on=_optional_day(detail["extension_accepted_on"]),
                requested=requested,
                children=children,
                weekly_hours=tuple((_day(w["week_of"]), _money(w["hours"])) for w in weeks),
                ends_with_exit=exit_ and end is not None and end == exit_date,
            )
        )
    return out


def _day(value: object) -> date:
    assert isinstance(value, date)
    return value


def _optional_day(value: object) -> date | None:
    return None if value is None else _day(value)


def _whole(value: object) -> int:
    assert isinstance(value, int)
    return value


def _money(value: object) -> Decimal:
    assert isinstance(value, Decimal)
    return value


# -- reports --------------------------------------------------------------------------------
def report_json(checked: CheckedList) -> dict[str, Any]:
    """`--json`: status, rows and findings; `sheet` only on findings of sheet `Einsätze`."""
    from services.intake.checking import report_json as service_report_json

    return service_report_json(checked)


def report_text(checked: CheckedList, request: Request) -> str:
    """A summary by code, then every finding in report order."""
    lines = [
        f"{request.path.name}: list of {request.period} for employer {request.employer_no}: "
        f"{checked.status}, {checked.row_count} row(s), {checked.error_count} error(s), "
        f"{checked.warning_count} warning(s)"
    ]
    counts = Counter((f.code, f.severity) for f in checked.findings)
    if counts:
        lines.append("by code:")
        width = max(len(code) for code, _ in counts)
        lines += [
            f"  {code:<{width}}  {severity:<7}  {n}"
            for (code, severity), n in sorted(counts.items())
        ]
        lines.append("findings:")
        lines += [f"  {_place(f)}: {f.code} ({f.severity}): {f.message}" for f in checked.findings]
    return "\n".join(lines) + "\n"


def _place(f: Finding) -> str:
    if f.row is None:
        return "file" if f.sheet is None else f"sheet {f.sheet}"
    sheet = f"sheet {f.sheet}, " if f.sheet is not None else ""
    column = f", column {f.column}" if f.column is not None else ""
    return f"{sheet}row {f.row}{column}"


def _fix(content: bytes, checked: CheckedList, target: Path, out: TextIO) -> int:
    """`--fix OUT.xlsx`: a copy with every mechanically fixed value; then what is left."""
    from services.intake.annotate import WorkbookNotWritable, apply_fixes

    if checked.status == "unreadable":
        out.write("--fix: the file is unreadable; nothing written\n")
        return EXIT_UNREADABLE
    fixes = [f for f in checked.findings if f.fixed is not None]
    try:
        target.write_bytes(apply_fixes(content, fixes))
    except WorkbookNotWritable as error:
        out.write(f"--fix: cannot write the corrected copy: {error.detail}\n")
        return EXIT_UNREADABLE
    except OSError as error:
        out.write(f"--fix: cannot write {target}: {error.strerror or type(error).__name__}\n")
        return EXIT_UNREADABLE
    remaining = _unfixed(checked.findings)
    out.write(f"--fix: fixed {len(fixes)} cell(s), written to {target}\n")
    if remaining:
        out.write(f"--fix: {len(remaining)} error(s) remain that --fix cannot repair:\n")
        out.writelines(f"  {_place(f)}: {f.code}: {f.message}\n" for f in remaining)
    return EXIT_OK


def _unfixed(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error" and f.fixed is None]
