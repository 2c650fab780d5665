"""Events of coverage: when each worker is insured, and what the employer declared wrong."""

from __future__ import annotations

import builtins
import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.envelope import (
    PAYLOAD_FIELD,
    ROWS_PER_EVENT,
    TYPE_FIELD,
    VERSION_FIELD,
    Envelope,
    PartPayload,
    RowsEvent,
)
from contracts.values import (
    Ahv,
    Code,
    EndRule,
    Hours,
    Money,
    Payload,
    Period,
    Severity,
    StartRule,
    Text,
)


class RowAssessedPayload(Payload):
    """A validated row with the insured part of its period: what pricing needs."""

    upload_id: uuid.UUID = Field(description="Id of the upload the row belongs to.")
    period: Period = Field(description="Pay period of the row.")
    row_no: int = Field(ge=2, description="Spreadsheet row number in the list.")
    ahv: Ahv = Field(description="AHV number of the worker.")
    insured: bool = Field(description="Whether any part of the period is insured.")
    insured_from: date | None = Field(
        description="First insured day within the period (for a correction row, negative "
        "hours: within the month it corrects, RULES §3); null if none."
    )
    insured_to: date | None = Field(
        description="Last insured day within the period (for a correction row: within the "
        "month it corrects); null if none."
    )
    insured_days: int = Field(ge=0, le=31, description="Insured calendar days in the period.")
    insured_hours: Hours = Field(
        description="Hours of the period that are insured, by weekly hours or pro rata; "
        "negative for corrections."
    )
    rule_in_force: StartRule | None = Field(
        description="Start rule of the coverage in force; null if not insured."
    )
    birth_date: date = Field(description="Birth date (column S).")
    sex: Literal["M", "F"] = Field(description="Sex (column T), for the reference age.")
    hours: Hours = Field(description="Hours worked in the period (column U).")
    base_wage: Money = Field(description="AHV base wage of the period (column V).")
    invalidity_degree: int = Field(ge=0, le=100, description="IV degree, percent (column N).")
    declared_insured_wage: Money | None = Field(
        description="Insured wage the employer declared (column J); null if not declared."
    )
    declared_premium: Money | None = Field(
        description="Total premium the employer declared (column I); null if not declared."
    )


class RowAssessed(Envelope):
    """Coverage assessed one row: the insured part of its period."""

    TOPIC: ClassVar[str] = "coverage.row-assessed.v1"
    WORKER_KEYED: ClassVar[bool] = True
    type: Annotated[Literal["coverage.row-assessed"], TYPE_FIELD] = "coverage.row-assessed"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[RowAssessedPayload, PAYLOAD_FIELD]


class RowsAssessedPayload(PartPayload):
    """The insured part of each row of a part of a list (the part of `intake.row-validated`
    it answers)."""

    rows: list[RowAssessedPayload] = Field(
        min_length=1, max_length=ROWS_PER_EVENT, description="The part's rows, in list order."
    )


class RowsAssessed(RowsEvent):
    """The insured part of each row of a part of a list, ready for pricing; keyed by
    employer. Replaces v1 (one row per event)."""

    TOPIC: ClassVar[str] = "coverage.row-assessed.v2"
    ROW_MODEL: ClassVar[builtins.type[Envelope]] = RowAssessed
    type: Annotated[Literal["coverage.row-assessed"], TYPE_FIELD] = "coverage.row-assessed"
    version: Annotated[Literal[2], VERSION_FIELD] = 2
    payload: Annotated[RowsAssessedPayload, PAYLOAD_FIELD]


class CoverageChangedPayload(Payload):
    """Insurance of a worker at this employer started or ended."""

    ahv: Ahv = Field(description="AHV number of the worker.")
    change: Literal["started", "ended"] = Field(description="Whether insurance started or ended.")
    effective_date: date = Field(
        description="First insured day (started) or last insured day (ended)."
    )
    rule: StartRule | EndRule = Field(description="The rule that caused it (RULES §6).")
    period: Period = Field(description="Pay period whose list revealed the change.")
    upload_id: uuid.UUID | None = Field(
        default=None, description="Id of the upload whose row revealed the change."
    )
    row_no: int | None = Field(
        default=None, ge=2, description="Spreadsheet row number of that row in the list."
    )


class CoverageChanged(Envelope):
    """A worker's insurance started or ended."""

    TOPIC: ClassVar[str] = "coverage.changed.v1"
    WORKER_KEYED: ClassVar[bool] = True
    type: Annotated[Literal["coverage.changed"], TYPE_FIELD] = "coverage.changed"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[CoverageChangedPayload, PAYLOAD_FIELD]


class CoverageChangesPayload(PartPayload):
    """The starts and ends of insurance that the rows of a part of a list revealed."""

    rows: list[CoverageChangedPayload] = Field(
        min_length=1,
        max_length=2 * ROWS_PER_EVENT,
        description="The changes, in list order (a row may reveal a start and an end); each "
        "names its upload and row.",
    )

    ONCE_PER_ROW: ClassVar[bool] = False


class CoverageChanges(RowsEvent):
    """Starts and ends of insurance revealed by a part of a list (up to 100 rows); keyed by
    employer. Replaces v1 (one change per event)."""

    TOPIC: ClassVar[str] = "coverage.changed.v2"
    ROW_MODEL: ClassVar[builtins.type[Envelope]] = CoverageChanged
    type: Annotated[Literal["coverage.changed"], TYPE_FIELD] = "coverage.changed"
    version: Annotated[Literal[2], VERSION_FIELD] = 2
    payload: Annotated[CoverageChangesPayload, PAYLOAD_FIELD]


class CoverageFindingPayload(Payload):
    """A disagreement between what the employer declared and what the rules derive."""

    ahv: Ahv = Field(description="AHV number of the worker.")
    period: Period = Field(description="Pay period the finding concerns.")
    code: Code = Field(
        description="Stable code, e.g. `entry.not_declared`, `entry.date_differs`, "
        "`exit.missing`, `interruption.follow_up_missing`."
    )
    severity: Severity = Field(description="error or warning.")
    message: Text = Field(description="Human sentence in English; no personal data.")
    cost_to_employer: bool = Field(
        description="Whether the consequences are charged to the employer (Art. 22.4)."
    )
    article: str = Field(
        min_length=1, max_length=50, description="Source of the rule, e.g. `Art. 3.2`."
    )


class CoverageFinding(Envelope):
    """Coverage found something the employer must correct or report."""

    TOPIC: ClassVar[str] = "coverage.finding.v1"
    WORKER_KEYED: ClassVar[bool] = True
    type: Annotated[Literal["coverage.finding"], TYPE_FIELD] = "coverage.finding"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[CoverageFindingPayload, PAYLOAD_FIELD]
