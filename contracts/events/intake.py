"""Events of intake: monthly lists in (TEMPLATE.md), checked, row by row out."""

from __future__ import annotations

import builtins
import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import (
    PAYLOAD_FIELD,
    ROWS_PER_EVENT,
    TYPE_FIELD,
    VERSION_FIELD,
    Envelope,
    PartPayload,
    RowsEvent,
)
from contracts.values import Ahv, Code, Hours, Language, Money, Payload, Period, Sha256

#: Most rows in one part of a Kafka submission (issue 4).
MAX_ROWS_PER_PART = 5000

_Caps = Annotated[str, Field(min_length=1, max_length=100)]


class WeekHours(Payload):
    """Hours worked in one calendar week (sheet `Einsätze`)."""

    week_of: date = Field(description="Monday of the calendar week.")
    hours: Hours = Field(description="Hours worked in that week at this assignment.")


class AssignmentDetail(Payload):
    """One assignment of the worker in the period, from sheet `Einsätze` (TEMPLATE.md)."""

    start: date = Field(description="Einsatzbeginn.")
    end: date | None = Field(default=None, description="Einsatzende, if it ended.")
    expected_over_13_weeks: bool = Field(description="Dauer über 13 Wochen (S1).")
    extension_accepted_on: date | None = Field(
        default=None, description="Verlängerung angenommen am (S5)."
    )
    weekly_hours: list[WeekHours] = Field(
        default_factory=list,
        description="Hours per calendar week in the period, where the list gives them.",
    )


class ListRow(Payload):
    """One row of sheet `Mutationen` (TEMPLATE.md), typed; the column letter is in each field.

    Shape and format are checked here; everything else (capitals, check digits, code rules,
    ranges, consistency) is intake's, and reported as findings.
    """

    last_name: _Caps = Field(description="A Name, in capitals.")
    first_name: _Caps = Field(description="B Vorname, in capitals.")
    street: _Caps = Field(description="C Strasse, in capitals.")
    address_extra: str | None = Field(
        default=None, max_length=100, description="D Adresszusatz, in capitals; optional."
    )
    postcode: str = Field(
        min_length=1,
        max_length=16,
        description="E PLZ: 4 digits, or country code + `-` + code abroad (`F-75000`).",
    )
    town: _Caps = Field(description="F Wohnort, in capitals.")
    legacy_ahv: str | None = Field(
        default=None,
        pattern=r"^\d{3}\.\d{2}\.\d{3}\.\d{3}$",
        description="G AHV-Nummer alt: pre-2008 11-digit number; optional, format only.",
    )
    employer_no: int = Field(ge=0, description="H Firmennummer: the uploading employer's number.")
    premium_total: Money = Field(
        description="I Total Prämie: employer + worker premium declared, CHF, one decimal."
    )
    insured_wage: Money = Field(
        description="J Koordinierter Lohn: insured wage of the period declared, CHF, one decimal."
    )
    entry_date: date | None = Field(
        default=None, description="K Beitrittsdatum; required with mutation code 1."
    )
    exit_date: date | None = Field(
        default=None, description="L Austrittsdatum; required with mutation code 2."
    )
    mutation_code: Literal[1, 2, 3, 4, 5, 6, 7] | None = Field(
        default=None,
        description="M Mutationscode (RULES §7): 1 entry, 2 exit, 3 AHV-number change, "
        "4 interruption, 5 accident, 6 service/maternity, 7 illness; null for other changes.",
    )
    invalidity_degree: int = Field(
        default=0, ge=0, le=100, description="N Invaliditätsgrad, whole percent; empty means 0."
    )
    old_ahv: Ahv | None = Field(
        default=None, description="O Alte AHV-Nummer (AHVN13); required with mutation code 3."
    )
    language_code: Literal[0, 1, 2, 3] = Field(
        description="P Sprachcode: 0 English, 1 German, 2 French, 3 Italian."
    )
    ahv: Ahv = Field(description="Q AHV-Nummer (AHVN13), the worker's key.")
    civil_status: Literal[1, 2, 3, 4, 5, 7, 8] = Field(
        description="R Zivilstandscode: 1 single, 2 married, 3 separated, 4 widowed, "
        "5 divorced, 7 registered partnership, 8 dissolved partnership."
    )
    birth_date: date = Field(description="S Geburtsdatum.")
    sex_code: Literal[1, 2] = Field(description="T Geschlechtscode: 1 male, 2 female.")
    hours: Hours = Field(
        description="U Stunden: hours worked in the period, up to 2 decimals; "
        "negative for corrections."
    )
    base_wage: Money = Field(
        description="V Grundlohn: AHV base wage of the period (Art. 14), CHF, 2 decimals; "
        "same sign as the hours."
    )
    assignment_start: date = Field(description="W Einsatzbeginn: start of the current assignment.")
    assignment_end: date | None = Field(
        default=None, description="X Einsatzende, if the assignment ended in or before the period."
    )
    expected_over_13_weeks: bool = Field(
        description="Y Dauer über 13 Wochen (J/N): expected duration above 13 weeks (S1)."
    )
    extension_accepted_on: date | None = Field(
        default=None, description="Z Verlängerung angenommen am: extension accepted (S5)."
    )
    insurance_requested: bool = Field(
        description="AA Versicherung verlangt (J/N): the worker asked to be insured (S2)."
    )
    maintains_children: bool = Field(
        description="AB Unterhaltspflicht Kinder (J/N): the worker must maintain children (S3)."
    )
    assignments: list[AssignmentDetail] = Field(
        default_factory=list,
        description="Sheet `Einsätze`: the worker's assignments in the period with hours per "
        "calendar week, when the list has the sheet; empty: columns W-Z are the one assignment.",
    )


class ListSubmittedPayload(Payload):
    """One part of a list sent by a payroll connector; intake assembles the parts."""

    submission_id: str = Field(
        min_length=1,
        max_length=100,
        description="The connector's id of the whole submission, the same in every part.",
    )
    period: Period = Field(description="Pay period of the list.")
    part_no: int = Field(ge=1, description="Number of this part, from 1.")
    part_count: int = Field(ge=1, description="How many parts the submission has.")
    rows: list[ListRow] = Field(
        max_length=MAX_ROWS_PER_PART, description="Rows of this part, in list order."
    )
    language: Language = Field(description="Language of the check report.")

    @model_validator(mode="after")
    def _part_within_count(self) -> Self:
        if self.part_no > self.part_count:
            raise ValueError(f"part_no {self.part_no} exceeds part_count {self.part_count}")
        return self


class ListSubmitted(Envelope):
    """A payroll connector submitted (one part of) a monthly list."""

    TOPIC: ClassVar[str] = "intake.list-submitted.v1"
    #: A part of 5,000 rows is about 3-4 MB of JSON.
    MAX_MESSAGE_BYTES: ClassVar[int | None] = 16 * 1024 * 1024
    type: Annotated[Literal["intake.list-submitted"], TYPE_FIELD] = "intake.list-submitted"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[ListSubmittedPayload, PAYLOAD_FIELD]


class ListReceivedPayload(Payload):
    """A file or submission stored as received, before any check."""

    upload_id: uuid.UUID = Field(description="Id of the upload.")
    period: Period = Field(description="Pay period of the list.")
    channel: Literal["http", "kafka"] = Field(
        description="http (portal upload) or kafka (connector)."
    )
    sha256: Sha256 = Field(description="SHA-256 of the bytes as received.")
    size_bytes: int = Field(ge=0, description="Size of the bytes as received.")
    received_at: AwareDatetime = Field(description="When the bytes were stored.")
    file_kind: Literal["xlsx", "json"] = Field(description="Form of the list.")


class ListReceived(Envelope):
    """A list arrived and is stored (Art. 8)."""

    TOPIC: ClassVar[str] = "intake.list-received.v1"
    type: Annotated[Literal["intake.list-received"], TYPE_FIELD] = "intake.list-received"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[ListReceivedPayload, PAYLOAD_FIELD]


class RowValidatedPayload(ListRow):
    """One row of an error-free list, with every column of the template."""

    upload_id: uuid.UUID = Field(description="Id of the upload the row belongs to.")
    period: Period = Field(description="Pay period of the list.")
    row_no: int = Field(ge=2, description="Spreadsheet row number (row 1 holds the headers).")


class RowValidated(Envelope):
    """A row of an error-free list, ready for coverage."""

    TOPIC: ClassVar[str] = "intake.row-validated.v1"
    WORKER_KEYED: ClassVar[bool] = True
    type: Annotated[Literal["intake.row-validated"], TYPE_FIELD] = "intake.row-validated"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[RowValidatedPayload, PAYLOAD_FIELD]


class RowsValidatedPayload(PartPayload):
    """A part of an error-free list: up to 100 of its rows, in list order."""

    rows: list[RowValidatedPayload] = Field(
        min_length=1, max_length=ROWS_PER_EVENT, description="The part's rows, in list order."
    )


class RowsValidated(RowsEvent):
    """A part of an error-free list (up to 100 rows), ready for coverage; keyed by employer,
    so one worker's rows stay in order. Replaces v1 (one row per event)."""

    TOPIC: ClassVar[str] = "intake.row-validated.v2"
    ROW_MODEL: ClassVar[builtins.type[Envelope]] = RowValidated
    type: Annotated[Literal["intake.row-validated"], TYPE_FIELD] = "intake.row-validated"
    version: Annotated[Literal[2], VERSION_FIELD] = 2
    payload: Annotated[RowsValidatedPayload, PAYLOAD_FIELD]


class ListCheckedPayload(Payload):
    """Outcome of checking a list (TEMPLATE.md "Checks and their codes")."""

    upload_id: uuid.UUID = Field(description="Id of the upload.")
    period: Period = Field(description="Pay period of the list.")
    status: Literal["ok", "faulty", "unreadable"] = Field(
        description="ok: no errors (warnings allowed); faulty: errors, so not delivered "
        "(Art. 22.1); unreadable: a `file.*` error."
    )
    row_count: int = Field(ge=0, description="Data rows in the list.")
    error_count: int = Field(ge=0, description="Findings of severity error.")
    warning_count: int = Field(ge=0, description="Findings of severity warning.")
    counts_by_code: dict[Code, int] = Field(description="Number of findings per check code.")
    on_time: bool = Field(description="Received by the due date, by the business clock.")
    due_date: date = Field(description="Due date of the list: the 15th of the following month.")
    received_on: date = Field(description="Business date the list was received.")
    replaces_upload_id: uuid.UUID | None = Field(
        default=None, description="The earlier upload of the period this list replaces."
    )


class ListChecked(Envelope):
    """A list was checked; its status decides whether it counts as delivered."""

    TOPIC: ClassVar[str] = "intake.list-checked.v1"
    type: Annotated[Literal["intake.list-checked"], TYPE_FIELD] = "intake.list-checked"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[ListCheckedPayload, PAYLOAD_FIELD]
