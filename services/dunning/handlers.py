"""Subscriptions of the dunning service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import auth, billing, clock, coverage, dunning, intake
from services.runtime.consumer import Subscription
from services.runtime.handlers import feed_revocations, park, project_employer

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # letter language and canton
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier (auth issue)
    Subscription(auth.UserChanged, feed_revocations),
    # data-delivery ladder (dunning issue)
    Subscription(intake.ListReceived, park),
    # data-delivery ladder (dunning issue)
    Subscription(intake.ListChecked, park),
    # tasks for the employer (dunning issue)
    Subscription(coverage.CoverageChanged, park),
    # tasks for the employer (dunning issue)
    Subscription(coverage.CoverageFinding, park),
    # payment ladder (dunning issue)
    Subscription(billing.InvoiceIssued, park),
    # payment ladder (dunning issue)
    Subscription(billing.InvoiceDue, park),
    # payment ladder (dunning issue)
    Subscription(billing.PaymentReceived, park),
    # payment ladder (dunning issue)
    Subscription(billing.BalanceChanged, park),
    # ladder steps (dunning issue)
    Subscription(clock.DayStarted, park),
)

PRODUCES = (
    dunning.ReminderEscalated,
    dunning.DunningFeeCharged,
    dunning.AffiliationTerminated,
    dunning.NotificationSent,
)
