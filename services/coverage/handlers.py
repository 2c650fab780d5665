"""Subscriptions of the coverage service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import coverage, intake
from services.runtime.consumer import Subscription
from services.runtime.handlers import park

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # the 13-week and 52-week rules (coverage issue)
    Subscription(intake.RowValidated, park),
)

PRODUCES = (
    coverage.RowAssessed,
    coverage.CoverageChanged,
    coverage.CoverageFinding,
)
