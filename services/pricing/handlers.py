"""Subscriptions of the pricing service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import auth, coverage, intake, pricing
from services.runtime.consumer import Subscription
from services.runtime.handlers import park, project_employer

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # plan split per employer
    Subscription(auth.EmployerChanged, project_employer),
    # contributions (pricing issue)
    Subscription(coverage.RowAssessed, park),
    # list totals (pricing issue)
    Subscription(intake.ListChecked, park),
)

PRODUCES = (
    pricing.RowPriced,
    pricing.ListPriced,
    pricing.PricingFeeCharged,
)
