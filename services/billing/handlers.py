"""Subscriptions of the billing service.

Events whose rules have not landed yet are parked (kept in `parked_events`), never dropped.
"""

from __future__ import annotations

from contracts.events import auth, billing, clock, dunning, pricing
from services.runtime.consumer import Subscription
from services.runtime.handlers import park, project_employer

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # invoice addresses
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier (auth issue)
    Subscription(auth.UserChanged, park),
    # invoice lines (billing issue)
    Subscription(pricing.RowPriced, park),
    # invoices (billing issue)
    Subscription(pricing.ListPriced, park),
    # fee lines (billing issue)
    Subscription(pricing.PricingFeeCharged, park),
    # fee lines (billing issue)
    Subscription(dunning.DunningFeeCharged, park),
    # due dates and interest (billing issue)
    Subscription(clock.DayStarted, park),
)

PRODUCES = (
    billing.InvoiceIssued,
    billing.InvoiceDue,
    billing.PaymentReceived,
    billing.BalanceChanged,
)
