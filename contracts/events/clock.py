"""The business clock (ARCHITECTURE "Time"): one event per business day."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.values import Payload

#: Employer number of events that concern no employer.
SYSTEM_EMPLOYER_NO = 0


class DayStartedPayload(Payload):
    """A business day started."""

    business_date: date = Field(description="The business date that started.")
    timezone: Literal["Europe/Zurich"] = Field(
        default="Europe/Zurich", description="Time zone of the business date."
    )


class DayStarted(Envelope):
    """A business day started; deadlines react to it. `employer_no` is 0 (system)."""

    TOPIC: ClassVar[str] = "clock.day-started.v1"
    type: Annotated[Literal["clock.day-started"], TYPE_FIELD] = "clock.day-started"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[DayStartedPayload, PAYLOAD_FIELD]
