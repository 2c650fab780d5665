"""Subscriptions of the auth service: a termination ends the affiliation on its date; the
business date flips the status when that date has passed (publishing the change)."""

from __future__ import annotations

from datetime import date, datetime

from contracts.envelope import Envelope
from contracts.events import auth, clock, dunning
from services.runtime.consumer import Subscription
from services.runtime.handlers import business_day, project_business_day
from services.runtime.outbox import UnitOfWork

from . import domain, store
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
    await apply_waivers(uow, today, event.occurred_at)


async def apply_waivers(uow: UnitOfWork, today: date, now: datetime) -> None:
    """ACCESS.md: a waived topic leaves the employer and its users from its effective date;
    the employer and every user who loses it are published (verifiers drop the topic)."""
    conn = uow.conn
    due = await conn.fetch(
        "UPDATE waivers SET applied = true WHERE NOT applied AND effective_on <= $1 "
        "RETURNING employer_no, topic",
        today,
    )
    for row in due:
        employer_no, topic = row["employer_no"], row["topic"]
        await conn.execute(
            "UPDATE employers SET enabled_topics = array_remove(enabled_topics, $2), "
            "changed_at = $3 WHERE employer_no = $1",
            employer_no,
            topic,
            now,
        )
        changed = await conn.fetch(
            "UPDATE users SET topics = array_remove(topics, $2), changed_at = $3 "
            "WHERE employer_no = $1 AND $2 = ANY(topics) RETURNING user_id",
            employer_no,
            topic,
            now,
        )
        for user_row in changed:
            user = await store.user_by_id(conn, user_row["user_id"])
            assert user is not None
            uow.publish(store.user_changed(user, now=now))
        payload = await employer_payload(conn, employer_no)
        if payload is not None:
            publish_employer(uow, employer_no, payload, now=now)
        await store.audit(
            conn,
            at=now,
            actor="clock",
            action="topic.waived",
            outcome="applied",
            employer_no=employer_no,
            detail={"topic": topic, "users": len(changed)},
        )


async def _flip(uow: UnitOfWork, employer_no: int, today: date, cause: Envelope) -> None:
    payload = await employer_payload(uow.conn, employer_no)
    if payload is None:
        return
    status = domain.affiliation_status(payload.affiliated_until, today)
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
