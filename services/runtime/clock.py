"""Time comes from a clock that is handed in, never read in domain code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

#: Deadlines are counted in the foundation's business time zone (ARCHITECTURE: Time).
BUSINESS_TZ = ZoneInfo("Europe/Zurich")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The wall clock, for adapters only (stamping events, HTTP)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told to (tests, simulations)."""

    current: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def business_date(instant: datetime) -> date:
    """The calendar date in Zurich at `instant`."""
    return instant.astimezone(BUSINESS_TZ).date()
