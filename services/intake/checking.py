"""From stored bytes to a report and its events: the glue of reader, checks and contracts.

Pure (no I/O, no clock): what `handlers.run_checker`, the `validate` endpoint and the
offline command share.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from contracts.envelope import Envelope
from contracts.events import intake
from contracts.events.pricing import PricingFinding
from contracts.values import Language
from services.runtime.outbox import derived_event_id
from services.runtime.settings import Settings

from . import messages
from .domain import CheckedList, check_json_rows, check_workbook, unreadable
from .model import Finding
from .store import LANGUAGE_CHARS, ReportRecord, Upload
from .workbook import Limits, UnreadableFile, read_workbook

#: Art. 8.1: the list of period P is due on the 15th of P + 1.
DUE_DAY = 15


def due_date(period: str) -> date:
    year, month = (int(part) for part in period.split("-"))
    return date(year + month // 12, month % 12 + 1, DUE_DAY)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.intake_max_bytes,
        max_rows=settings.intake_max_rows,
        max_uncompressed=settings.intake_max_uncompressed_bytes,
    )


def check_bytes(
    content: bytes,
    file_kind: Literal["xlsx", "json"],
    *,
    employer_no: int,
    period: str,
    language: Language,
    limits: Limits,
) -> CheckedList:
    """Every check of TEMPLATE.md on a list as received, an xlsx or JSON rows."""
    if file_kind == "json":
        return _check_json(
            content, employer_no=employer_no, period=period, language=language, limits=limits
        )
    try:
        workbook = read_workbook(content, limits)
    except UnreadableFile as exc:
        return unreadable(exc.code, exc.reason, language=language)
    return check_workbook(workbook, employer_no=employer_no, period=period, language=language)


def _check_json(
    content: bytes, *, employer_no: int, period: str, language: Language, limits: Limits
) -> CheckedList:
    """The JSON form: `{"rows": [...]}` (or the bare list), one object per row."""
    if len(content) > limits.max_bytes:
        return unreadable("file.too_large", "too_big", language=language)
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        return unreadable("file.unreadable", "not_json", language=language)
    rows = document.get("rows") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        return unreadable("file.unreadable", "not_json", language=language)
    if len(rows) > limits.max_rows:
        return unreadable("file.too_large", "too_many_rows", language=language)
    return check_json_rows(rows, employer_no=employer_no, period=period, language=language)


def _file_error(code: str, language: Language, **params: str) -> Finding:
    return Finding(
        code=code,
        severity="error",
        message=messages.render(messages.key_of(code), language, params),
        params=params,
    )


def with_file_error(checked: CheckedList, finding: Finding) -> CheckedList:
    """The same check with one more error about the whole list: the list is faulty."""
    return CheckedList(
        status="unreadable" if checked.status == "unreadable" else "faulty",
        row_count=checked.row_count,
        findings=(finding, *checked.findings),
        rows=checked.rows,
    )


@dataclass(frozen=True)
class CheckOutcome:
    """A checked upload: its report, whether it becomes the list in force, and its events."""

    checked: CheckedList
    record: ReportRecord
    accepted: bool

    def counts_by_code_and_severity(self) -> dict[tuple[str, str], int]:
        return dict(Counter((f.code, f.severity) for f in self.checked.findings))

    def events(self, upload: Upload) -> Iterator[Envelope]:
        """`intake.list-checked` first (it carries the row count downstream waits for),
        then one `intake.row-validated` per row of an error-free list."""
        record = self.record
        correlation = str(upload.upload_id)
        yield intake.ListChecked.new(
            event_id=derived_event_id("intake", "checked", upload.upload_id),
            occurred_at=record.checked_at,
            employer_no=upload.employer_no,
            correlation_id=correlation,
            payload=intake.ListCheckedPayload(
                upload_id=upload.upload_id,
                period=upload.period,
                status=record.status,
                row_count=record.row_count,
                error_count=record.error_count,
                warning_count=record.warning_count,
                counts_by_code=record.counts_by_code,
                on_time=record.on_time,
                due_date=record.due_date,
                received_on=record.received_on,
                replaces_upload_id=record.replaces_upload_id,
            ),
        )
        if not self.accepted:
            return
        for row in self.checked.rows:
            yield intake.RowValidated.new(
                event_id=derived_event_id("intake", "row", upload.upload_id, row.row_no),
                occurred_at=record.checked_at,
                employer_no=upload.employer_no,
                correlation_id=correlation,
                payload=intake.RowValidatedPayload.model_validate(
                    row.values
                    | {"upload_id": upload.upload_id, "period": upload.period, "row_no": row.row_no}
                ),
            )


def check_upload(
    upload: Upload,
    content: bytes,
    *,
    received_on: date,
    invoiced: bool,
    previous: uuid.UUID | None,
    limits: Limits,
    checked_at: datetime,
    failed: bool = False,
) -> CheckOutcome:
    """Check a stored upload and decide what it means for its period (RULES §7).

    `failed`: the check itself broke on this file (a defect of ours); the report says so.
    """
    language = report_language(upload.language)
    if failed:
        checked = unreadable("file.unreadable", "internal", language=language)
    else:
        checked = check_bytes(
            content,
            upload.file_kind,
            employer_no=upload.employer_no,
            period=upload.period,
            language=language,
            limits=limits,
        )
    if invoiced:
        # RULES §7: until the period is invoiced; afterwards corrections are signed rows
        checked = with_file_error(
            checked, _file_error("period.invoiced", language, period=upload.period)
        )
    accepted = checked.status == "ok"
    due = due_date(upload.period)
    record = ReportRecord(
        upload_id=upload.upload_id,
        status=checked.status,
        row_count=checked.row_count,
        error_count=checked.error_count,
        warning_count=checked.warning_count,
        counts_by_code=checked.counts_by_code(),
        on_time=received_on <= due,
        due_date=due,
        received_on=received_on,
        replaces_upload_id=previous if accepted and previous != upload.upload_id else None,
        row_languages=_row_languages(checked),
        rows_priced=0,
        checked_at=checked_at,
    )
    return CheckOutcome(checked=checked, record=record, accepted=accepted)


def _row_languages(checked: CheckedList) -> str:
    """One character per data row (row 2 first): its report language, `d` when unknown."""
    chars = ["d"] * checked.row_count
    for row in checked.rows:
        index = row.row_no - 2
        if 0 <= index < len(chars):
            chars[index] = LANGUAGE_CHARS[row.language]
    return "".join(chars)


def report_language(value: str) -> Language:
    """A stored language code as a report language; German where unknown (TEMPLATE.md)."""
    for language in messages.LANGUAGES:
        if value == language:
            return language
    return "de"


#: Pricing's findings name the field; the report names the column (TEMPLATE.md).
_DECLARED_COLUMNS = {"declared.insured_wage": "J", "declared.premium": "I"}


def declared_warnings(
    findings: Sequence[PricingFinding], *, row_no: int, language: Language
) -> list[Finding]:
    """Pricing's declared-versus-computed findings as report findings in the row's language."""
    result = []
    for f in findings:
        column = _DECLARED_COLUMNS[f.code]
        params = {
            "column": column,
            "declared": _money(f.declared),
            "computed": _money(f.computed),
            "tolerance": "0.10",
        }
        result.append(
            Finding(
                code=f.code,
                severity="warning",
                message=messages.render(f.code, language, params),
                row=row_no,
                column=column,
                params=params,
            )
        )
    return result


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def finding_json(f: Finding) -> dict[str, Any]:
    """One finding as reports show it (issue 4): row, column, code, severity, message; the
    sheet only where it is not the list sheet."""
    item: dict[str, Any] = {
        "row": f.row,
        "column": f.column,
        "code": f.code,
        "severity": f.severity,
        "message": f.message,
    }
    if f.sheet is not None and f.sheet != "Mutationen":
        item["sheet"] = f.sheet
    return item


def report_json(checked: CheckedList) -> dict[str, Any]:
    """The report as `bvgconnect validate --json` prints it (issue 4)."""
    return {
        "status": checked.status,
        "rows": checked.row_count,
        "findings": [finding_json(f) for f in checked.findings],
    }


__all__ = [
    "CheckOutcome",
    "check_bytes",
    "check_upload",
    "declared_warnings",
    "due_date",
    "finding_json",
    "limits_of",
    "report_json",
]
