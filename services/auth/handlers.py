"""Subscriptions of the auth service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import auth, dunning
from services.runtime.consumer import Subscription
from services.runtime.handlers import park

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # ends the affiliation on its date (auth issue)
    Subscription(dunning.AffiliationTerminated, park),
)

PRODUCES = (
    auth.EmployerChanged,
    auth.UserChanged,
)
