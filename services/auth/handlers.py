"""Subscriptions of the auth service: a termination ends the affiliation on its date; the
business date flips the status when that date has passed (publishing the change)."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.events import auth, clock, dunning
from services.runtime.consumer import Subscription
from services.runtime.handlers import business_day, project_business_day
from services.runtime.outbox import UnitOfWork

from . import domain
from .store import employer_payload, publish_employer


async def on_affiliation_terminated(uow: UnitOfWork, event: Envelope) -> None:
    """The affiliation ends on `effective_date` (its last day, dunning contract); the status
    flips when the business date passes it (`on_day_started`). Idempotent: the inbox drops a
    redelivery, and a later termination date never moves an earlier end."""
    assert isinstance(event, dunning.AffiliationTerminated)
    until = event.payload.effective_date
    row = await uow.conn.fetchrow(
        "UPDATE employers SET affiliated_until = LEAST(COALESCE(affiliated_until, $2), $2), "
        "changed_at = $3 WHERE employer_no = $1 RETURNING affiliated_until",
        event.employer_no,
        until,
        event.occurred_at,
    )
    if row is None:
        return
    today = await business_day(uow.conn, fallback=event.occurred_at)
    await _flip(uow, event.employer_no, today, event)


async def on_day_started(uow: UnitOfWork, event: Envelope) -> None:
    assert isinstance(event, clock.DayStarted)
    await project_business_day(uow, event)
    today = event.payload.business_date
    due = await uow.conn.fetch(
        "SELECT employer_no FROM employers WHERE status = 'affiliated' "
        "AND affiliated_until IS NOT NULL AND affiliated_until < $1",
        today,
    )
    for row in due:
        await _flip(uow, row["employer_no"], today, event)


async def _flip(uow: UnitOfWork, employer_no: int, today: object, cause: Envelope) -> None:
    payload = await employer_payload(uow.conn, employer_no)
    if payload is None:
        return
    status = domain.affiliation_status(payload.affiliated_until, today)  # type: ignore[arg-type]
    if status != payload.status:
        await uow.conn.execute(
            "UPDATE employers SET status = $2 WHERE employer_no = $1", employer_no, status
        )
        payload = payload.model_copy(update={"status": status})
    publish_employer(uow, employer_no, payload, now=cause.occurred_at)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(dunning.AffiliationTerminated, on_affiliation_terminated),
    Subscription(clock.DayStarted, on_day_started),
)

PRODUCES = (
    auth.EmployerChanged,
    auth.UserChanged,
)
