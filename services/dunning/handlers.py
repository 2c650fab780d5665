"""Subscriptions of the dunning service: the two ladders of RULES §9 (Art. 22-23).

Every event dunning publishes has an id derived from its case and step: handling the same
clock day (or any older one) again publishes nothing new. Events whose rules have not landed
yet are parked (kept in `parked_events`), never dropped. Faulty lists, coverage findings,
invoices and ladder steps also write a message to the employer's inbox (`messages.py`), its id
derived from the cause: a redelivered event writes nothing new.
"""

from __future__ import annotations

import functools
import uuid
from datetime import date
from decimal import Decimal

from contracts.envelope import Envelope
from contracts.events import auth, billing, clock, coverage, dunning, intake
from services.runtime.consumer import Subscription
from services.runtime.handlers import (
    business_day,
    feed_revocations,
    park,
    project_business_day,
    project_employer,
)
from services.runtime.outbox import UnitOfWork, derived_event_id
from services.runtime.telemetry import Metrics

from . import domain, messages, notices, store


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    return derived_event_id("dunning", kind, *parts)


#: Reading of Art. 23 / RULES §9 "the balance is paid": a payment case closes when nothing
#: past its due date is open any more (billing's overdue balance); invoices not yet due do
#: not keep it open (Art. 23.2 enforces "die gesamten fälligen Beträge"). A partial payment
#: leaves an overdue rest, so the case goes on.
def balance_paid(open_balance: Decimal, overdue_balance: Decimal) -> bool:
    return overdue_balance <= 0


async def on_list_checked(uow: UnitOfWork, event: Envelope) -> None:
    """Art. 22.1: only a list without errors counts as delivered; it closes the period's data
    case at whatever step it stands. A faulty list after an ok one undoes nothing."""
    assert isinstance(event, intake.ListChecked)
    p = event.payload
    if p.status != "ok":
        # the employer's task: correct the list and send it again (topic mutations)
        kind: messages.Kind = "list.faulty" if p.status == "faulty" else "list.unreadable"
        message = messages.NewMessage(
            message_id=derived_id("message", "list", p.upload_id),
            employer_no=event.employer_no,
            kind=kind,
            params={"period": p.period, "error_count": p.error_count, "status": p.status},
            created_on=p.received_on,
            upload_id=p.upload_id,
        )
        uow.defer(messages.SAVE_MESSAGE, *message.args())
        return
    await store.record_delivered(uow.conn, event.employer_no, p.period, p.received_on)
    await store.close_data_case(uow.conn, event.employer_no, p.period, p.received_on)
    # the inbox: the period's list tasks and its case's reminders are done (after the
    # deferred writes, so that messages of the same batch are settled too)
    settle_list = messages.settle_list(event.employer_no, p.period, event.occurred_at)
    uow.after_writes(
        ("settle-list", event.employer_no, p.period), functools.partial(settle_list, uow.conn)
    )
    settle = messages.settle_cases(event.employer_no, "data", event.occurred_at)
    uow.after_writes(("settle-data", event.employer_no), functools.partial(settle, uow.conn))


async def on_coverage_finding(uow: UnitOfWork, event: Envelope) -> None:
    """A coverage finding is a task of the employer (topic mutations): e.g. an exit report
    missing. The message names the worker only by the AHV number the event carries."""
    assert isinstance(event, coverage.CoverageFinding)
    p = event.payload
    today = await business_day(uow.conn, fallback=event.occurred_at)
    message = messages.NewMessage(
        message_id=derived_id("message", "finding", event.event_id),
        employer_no=event.employer_no,
        kind="coverage.finding",
        params={
            "period": p.period,
            "code": p.code,
            "severity": p.severity,
            "article": p.article,
            "cost_to_employer": p.cost_to_employer,
        },
        created_on=today,
        worker_ahv=p.ahv,
    )
    uow.defer(messages.SAVE_MESSAGE, *message.args())


async def on_invoice_issued(uow: UnitOfWork, event: Envelope) -> None:
    """An invoice is a message of topic contributions (no task: the ladder chases payment)."""
    assert isinstance(event, billing.InvoiceIssued)
    p = event.payload
    message = messages.NewMessage(
        message_id=derived_id("message", "invoice", p.invoice_id),
        employer_no=event.employer_no,
        kind="invoice.issued",
        params={
            "invoice_no": p.invoice_no,
            "invoice_date": p.invoice_date.isoformat(),
            "due_date": p.due_date.isoformat(),
            "total": str(p.total),
            "periods": list(p.periods),
        },
        created_on=p.invoice_date,
        invoice_id=p.invoice_id,
    )
    uow.defer(messages.SAVE_MESSAGE, *message.args())


async def on_invoice_due(uow: UnitOfWork, event: Envelope) -> None:
    """Art. 23.1: an invoice unpaid past its due date starts the payment ladder, anchored on
    that due date; an open payment case of the employer already covers it (whole balance)."""
    assert isinstance(event, billing.InvoiceDue)
    conn = uow.conn
    changed_at = await store.balance_changed_at(conn, event.employer_no)
    known = await store.balance_of(conn, event.employer_no)
    crossed = changed_at is not None and changed_at > event.occurred_at
    if crossed and known is not None and balance_paid(*known):
        return  # paid after billing announced it due (the events crossed)
    today = await business_day(conn, fallback=event.occurred_at)
    case_id = await store.open_payment_case(conn, event.employer_no, event.payload.due_date, today)
    if case_id is not None:
        found = await store.get_case(conn, case_id)
        assert found is not None
        await take_steps(uow, event, found, today)


async def on_balance_changed(uow: UnitOfWork, event: Envelope) -> None:
    """Payment of the balance closes the payment case at whatever step it stands."""
    assert isinstance(event, billing.BalanceChanged)
    p = event.payload
    newest = await store.save_balance(
        uow.conn, event.employer_no, p.open_balance, p.overdue_balance, p.as_of, event.occurred_at
    )
    if newest and balance_paid(p.open_balance, p.overdue_balance):
        await store.close_payment_case(uow.conn, event.employer_no, p.as_of)
        settle = messages.settle_cases(event.employer_no, "payment", event.occurred_at)
        uow.after_writes(("settle-payment", event.employer_no), functools.partial(settle, uow.conn))


async def on_day_started(uow: UnitOfWork, event: Envelope) -> None:
    """The daily run: open the data cases of lists now overdue, then every step due."""
    assert isinstance(event, clock.DayStarted)
    await project_business_day(uow, event)
    today = event.payload.business_date
    conn = uow.conn
    watch = await store.watch_from(conn, today)
    await store.open_data_cases(conn, today, watch)
    for case in await store.due_cases(conn, today):
        await take_steps(uow, event, case, today)


async def take_steps(uow: UnitOfWork, cause: Envelope, case: store.StoredCase, today: date) -> None:
    """Take every step of `case` due on `today`, in ladder order, each once."""
    ladder_case = case.ladder_case()
    due = domain.due_steps(ladder_case, today)
    balance = None
    if case.track == "payment":
        known = await store.balance_of(uow.conn, case.employer_no)
        balance = known[0] if known is not None else None
    terminated_on: date | None = None
    for planned in due:
        step = planned.step
        uow.defer(
            store.SAVE_STEP,
            case.case_id,
            step.step,
            planned.on,
            today,
            step.fee,
            balance,
        )
        # the employer's task in topic reminders, referencing the step's letter
        reminder = messages.NewMessage(
            message_id=derived_id("message", "step", case.case_id, step.step),
            employer_no=case.employer_no,
            kind="reminder",
            params={
                "track": case.track,
                "step": step.step,
                "period": case.period,
                "dated": planned.on.isoformat(),
                "fee": str(step.fee),
            },
            created_on=planned.on,
            case_id=case.case_id,
            step=step.step,
        )
        uow.defer(messages.SAVE_MESSAGE, *reminder.args())
        uow.on_commit(functools.partial(_count_step, case.track, step.step))
        uow.publish(
            dunning.ReminderEscalated.caused_by(
                cause,
                event_id=derived_id("step", case.case_id, step.step),
                employer_no=case.employer_no,
                payload=dunning.ReminderEscalatedPayload(
                    case_id=case.case_id,
                    track=case.track,
                    step=step.step,
                    business_date=planned.on,
                    fee=step.fee,
                    registered=step.registered,
                    copies=list(step.copies),
                ),
            )
        )
        for recipient in step.copies:
            # Art. 22.3: one notice per copy, in the step's transaction (sent by notices.py)
            uow.defer(
                store.SAVE_NOTICE,
                derived_id("notice", case.case_id, step.step, recipient),
                case.case_id,
                step.step,
                recipient,
                notices.labour_office_email(case.canton) if recipient == "labour_office" else None,
                today,
            )
            uow.after_writes(store.NOTICES_CHANNEL, functools.partial(_wake_senders, uow))
        if step.fee > 0 and step.fee_kind is not None:
            uow.publish(
                dunning.DunningFeeCharged.caused_by(
                    cause,
                    event_id=derived_id("fee-event", case.case_id, step.step),
                    employer_no=case.employer_no,
                    payload=dunning.DunningFeeChargedPayload(
                        fee_id=derived_id("fee", case.case_id, step.step),
                        kind=step.fee_kind,
                        amount=step.fee,
                        article=step.article,
                        case_id=case.case_id,
                        reason=_reason(case, step.step),
                    ),
                )
            )
        if step.step == "termination":
            terminated_on = planned.on
            uow.publish(
                dunning.AffiliationTerminated.caused_by(
                    cause,
                    event_id=derived_id("terminated", case.case_id),
                    employer_no=case.employer_no,
                    payload=dunning.AffiliationTerminatedPayload(
                        case_id=case.case_id,
                        track=case.track,
                        effective_date=domain.termination_effective(planned.on),
                        decided_on=planned.on,
                    ),
                )
            )
    taken = ladder_case.steps_taken + len(due)
    after = domain.Case(
        track=case.track, anchor=case.anchor, steps_taken=taken, shift_days=case.shift_days
    )
    next_on = domain.next_step_on(after)
    if due:
        uow.defer(
            store.ADVANCE_CASE,
            case.case_id,
            taken,
            due[-1].step.step,
            next_on,
            terminated_on,
        )
    else:
        uow.defer(store.SET_NEXT, case.case_id, next_on)


def _count_step(ladder: str, step: str, metrics: Metrics) -> None:
    """Counted when the step's transaction commits: the case's steps_taken advance in it,
    so the same step is not taken (or counted) again."""
    metrics.reminders.labels(ladder, step).inc()


async def _wake_senders(uow: UnitOfWork) -> None:
    await uow.conn.execute("SELECT pg_notify($1, '')", store.NOTICES_CHANNEL)


def _reason(case: store.StoredCase, step: str) -> str:
    what = f"list {case.period} missing or faulty" if case.track == "data" else "unpaid balance"
    return f"{step.replace('_', ' ')}: {what}"


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # letter language and canton
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier, kept in user_revocations
    Subscription(auth.UserChanged, feed_revocations),
    # tasks and messages (not built yet: parked)
    Subscription(intake.ListReceived, park),
    # data-delivery ladder; a faulty list is a task in the inbox
    Subscription(intake.ListChecked, on_list_checked),
    # tasks for the employer (not built yet: parked, a part of a list as one event)
    Subscription(coverage.CoverageChanges, park, per_row=False),
    # tasks for the employer (inbox, topic mutations)
    Subscription(coverage.CoverageFinding, on_coverage_finding),
    # messages for the employer (inbox, topic contributions)
    Subscription(billing.InvoiceIssued, on_invoice_issued),
    # payment ladder
    Subscription(billing.InvoiceDue, on_invoice_due),
    # payments close cases through the balance (not needed otherwise: parked)
    Subscription(billing.PaymentReceived, park),
    # payment ladder
    Subscription(billing.BalanceChanged, on_balance_changed),
    # ladder steps
    Subscription(clock.DayStarted, on_day_started),
)

PRODUCES = (
    dunning.ReminderEscalated,
    dunning.DunningFeeCharged,
    dunning.AffiliationTerminated,
    dunning.NotificationSent,
)
