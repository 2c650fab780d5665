"""Subscriptions of the intake service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import auth, clock, intake, pricing
from services.runtime.consumer import Subscription
from services.runtime.handlers import park, project_employer

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # employer projection
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier (auth issue)
    Subscription(auth.UserChanged, park),
    # completes check reports (intake issue)
    Subscription(pricing.RowPriced, park),
    # connector submissions (intake issue)
    Subscription(intake.ListSubmitted, park),
    # lateness of lists (intake issue)
    Subscription(clock.DayStarted, park),
)

PRODUCES = (
    intake.ListReceived,
    intake.RowValidated,
    intake.ListChecked,
)
