"""The coverage handler builds its events in one validation: the same events as `caused_by`."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.envelope import Envelope
from contracts.events import coverage, intake
from services.coverage.handlers import _derived_event

_CAUSE_PAYLOAD = {
    "last_name": "MUSTER", "first_name": "ANNA", "street": "BAHNHOFSTRASSE 12", "postcode": "8004",
    "town": "ZÜRICH", "employer_no": 4000, "premium_total": "177.20", "insured_wage": "2953.20",
    "invalidity_degree": 0, "language_code": 1, "ahv": "756.1234.5678.97", "civil_status": 2,
    "birth_date": "1970-01-01", "sex_code": 2, "hours": "160.50", "base_wage": "4895.25",
    "assignment_start": "2025-03-10", "expected_over_13_weeks": False,
    "insurance_requested": False, "maintains_children": False,
    "upload_id": "dafd21e4-0614-469a-a65a-1c8f66496cf1", "period": "2025-03", "row_no": 2,
}  # fmt: skip

CASES: list[tuple[type[Envelope], type[Any], dict[str, Any]]] = [
    (
        coverage.RowAssessed,
        coverage.RowAssessedPayload,
        {
            "upload_id": uuid.UUID("dafd21e4-0614-469a-a65a-1c8f66496cf1"), "period": "2025-03",
            "row_no": 2, "ahv": "756.1234.5678.97", "insured": True,
            "insured_from": date(2025, 3, 10), "insured_to": date(2025, 3, 31),
            "insured_days": 22, "insured_hours": Decimal("-112.35"), "rule_in_force": "S1",
            "birth_date": date(1970, 1, 1), "sex": "F", "hours": Decimal("-160.50"),
            "base_wage": Decimal("4895.25"), "invalidity_degree": 0,
            "declared_insured_wage": None, "declared_premium": Decimal("1E+2"),
        },
    ),
    (
        coverage.CoverageChanged,
        coverage.CoverageChangedPayload,
        {"ahv": "756.1234.5678.97", "change": "ended", "effective_date": date(2025, 3, 14),
         "rule": "E2", "period": "2025-03"},
    ),
    (
        coverage.CoverageFinding,
        coverage.CoverageFindingPayload,
        {"ahv": "756.1234.5678.97", "period": "2025-02", "code": "exit.missing",
         "severity": "error", "message": "The exit is missing.", "cost_to_employer": True,
         "article": "Art. 5.2"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("model", "payload_model", "fields"), CASES, ids=lambda c: str(c)[:30])
def test_derived_event_equals_caused_by(
    model: type[Envelope], payload_model: type[Any], fields: dict[str, Any]
) -> None:
    cause = intake.RowValidated.new(
        occurred_at=datetime(2025, 4, 10, 8, 0, tzinfo=UTC),
        employer_no=4000,
        correlation_id="upload-1",
        payload=intake.RowValidatedPayload.model_validate(_CAUSE_PAYLOAD),
    )
    event_id = uuid.uuid4()
    built = _derived_event(model, cause, event_id, fields)
    expected = model.caused_by(cause, event_id=event_id, payload=payload_model(**fields))
    assert built == expected
    assert built.model_dump_json() == expected.model_dump_json()
    assert built.partition_key() == expected.partition_key()
