"""Events that tests and benchmarks put on the broker as another service would."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from contracts.events.intake import ListChecked, ListCheckedPayload

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)


def list_checked(
    upload: uuid.UUID, *, employer_no: int, row_count: int, status: str = "ok"
) -> ListChecked:
    """Intake's verdict on the March 2025 list `upload`, received on time."""
    return ListChecked.new(
        occurred_at=NOW,
        employer_no=employer_no,
        correlation_id=str(upload),
        payload=ListCheckedPayload(
            upload_id=upload,
            period="2025-03",
            status=status,
            row_count=row_count,
            error_count=0,
            warning_count=0,
            counts_by_code={},
            on_time=True,
            due_date=date(2025, 4, 15),
            received_on=date(2025, 4, 10),
        ),
    )
