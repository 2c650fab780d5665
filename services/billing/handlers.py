"""Billing's subscriptions: priced lists become invoices, fees wait for the next invoice,
the clock makes invoices due; payments are booked here too (API and CLI).

Every event billing publishes has a derived id: reprocessing the same input publishes nothing
new. Invoicing of one employer is serialised by an advisory lock (sequence numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from opentelemetry import trace

from contracts.envelope import Envelope
from contracts.events import auth, billing, clock, dunning, pricing
from services.runtime.consumer import Subscription
from services.runtime.handlers import (
    business_day,
    feed_revocations,
    project_business_day,
    project_employer,
)
from services.runtime.outbox import UnitOfWork, derived_event_id
from services.runtime.service import Runtime
from services.runtime.settings import Settings
from services.runtime.telemetry import Metrics, chf, extract, inject

from . import domain, store
from .camt import parse_camt054
from .model import InvoiceLine
from .qr import qr_reference


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    return derived_event_id("billing", kind, *parts)


@functools.cache
def settings() -> Settings:
    """Billing's parameters from the environment (`BVG_BILLING_*`): handlers get only the
    unit of work and the event, and these do not change while a process runs."""
    return Settings()


# -- priced lists and rows ------------------------------------------------------------------


async def on_row_priced(uow: UnitOfWork, event: Envelope) -> None:
    assert isinstance(event, pricing.RowPriced)
    p = event.payload
    uow.defer_rows(
        store.SAVE_ROW,
        p.upload_id,
        p.row_no,
        event.employer_no,
        p.period,
        p.ahv,
        p.insured_wage,
        p.premium_total,
        p.employer_share,
        p.employee_share,
    )
    uow.after_writes(("complete", p.upload_id), lambda: _complete(uow, event, p.upload_id))


async def on_list_priced(uow: UnitOfWork, event: Envelope) -> None:
    assert isinstance(event, pricing.ListPriced)
    p = event.payload
    uow.defer(
        store.SAVE_LIST,
        p.upload_id,
        event.employer_no,
        p.period,
        p.row_count,
        event.occurred_at,
        # the list's trace, for the links of an invoice issued later (`issue_invoice`)
        json.dumps(inject()),
        p.correction_fee_id,
    )
    uow.after_writes(("complete", p.upload_id), lambda: _complete(uow, event, p.upload_id))


async def _complete(uow: UnitOfWork, cause: Envelope, upload_id: uuid.UUID) -> None:
    """Once a list, all its rows and its correction fee are here (in any order), it is the
    period's list: the fee rides on the list's own invoice, however the topics interleave."""
    conn = uow.conn
    priced = await store.lock_list(conn, upload_id)
    if priced is None or priced.complete:
        return
    if await store.rows_saved(conn, upload_id) < priced.row_count:
        return
    if priced.correction_fee_id is not None and not await store.has_line(
        conn, priced.correction_fee_id
    ):
        return
    await store.mark_complete(conn, upload_id)
    await store.lock_employer(conn, priced.employer_no)
    today = await business_day(conn, fallback=cause.occurred_at)
    current = await store.get_period(conn, priced.employer_no, priced.period)
    if current is not None and current.priced_at > priced.priced_at:
        return  # a newer list of the period is in force already
    if current is not None and current.invoice_id is not None:
        # issue 7: invoiced already, so the differences go onto the next invoice
        invoiced = await store.invoice_lines(conn, current.invoice_id)
        replacement = await store.rows_of_upload(conn, upload_id)
        for line in domain.correction_lines(invoiced, replacement, priced.period):
            line_id = derived_id("correction", upload_id, line.worker)
            await conn.execute(
                store.SAVE_PENDING, *store.pending_args(line_id, priced.employer_no, line, today)
            )
        await store.set_period_list(
            conn, priced.employer_no, priced.period, upload_id, priced.priced_at
        )
        return
    await store.set_period_list(
        conn, priced.employer_no, priced.period, upload_id, priced.priced_at
    )
    await _invoice_if_due(uow, cause, priced.employer_no, priced.period, today)


async def _invoice_if_due(
    uow: UnitOfWork, cause: Envelope, employer_no: int, period: str, today: date
) -> None:
    """Art. 20: a month's invoice when its list is priced; January-March together."""
    year, month = domain.month_of(period)
    cutoff = domain.cutoff_date(year, settings().billing_collective_cutoff)
    if month in domain.COLLECTIVE_MONTHS:
        march = await store.get_period(uow.conn, employer_no, f"{year}-03")
        if domain.waits_for_collective(
            period, march_priced=march is not None, cutoff_passed=today >= cutoff
        ):
            return
        periods = [
            p
            for p in await store.uninvoiced_periods(uow.conn, employer_no)
            if p in domain.collective_periods(year)
        ]
    else:
        periods = [period]
    await issue_invoice(uow, cause, employer_no, periods, today)


async def issue_invoice(
    uow: UnitOfWork, cause: Envelope, employer_no: int, periods: list[str], today: date
) -> store.Invoice | None:
    """One invoice: the rows of the periods' lists plus every pending line (fees,
    corrections, interest, credits). Art. 21: invoice date = booking date, due in 30 days.

    Traced as a span `billing.issue-invoice` in the trace of its cause: the priced list
    whose last row completed it (one trace from the upload to the invoice), or the daily
    clock run. The span links to the trace of every list it bills that is not its own
    trace: the January and February lists of a collective invoice, or every list of an
    invoice the clock issued.
    """
    links = await _list_links(uow, employer_no, periods) if uow.tracer is not None else []
    with uow.span(
        "billing.issue-invoice",
        links=links,
        attributes={"bvg.employer_no": employer_no, "bvg.periods": ",".join(periods)},
    ):
        return await _issue_invoice(uow, cause, employer_no, periods, today)


async def _list_links(uow: UnitOfWork, employer_no: int, periods: list[str]) -> list[trace.Link]:
    own = trace.get_current_span().get_span_context().trace_id
    links = []
    for period, headers in await store.list_traces(uow.conn, employer_no, periods):
        context = trace.get_current_span(extract(headers)).get_span_context()
        if context.is_valid and context.trace_id != own:
            links.append(trace.Link(context, {"bvg.period": period}))
    return links


async def _issue_invoice(
    uow: UnitOfWork, cause: Envelope, employer_no: int, periods: list[str], today: date
) -> store.Invoice | None:
    conn = uow.conn
    rows = await store.rows_of_periods(conn, employer_no, periods)
    pending = await store.pending_lines(conn, employer_no)
    lines = domain.contribution_lines(rows) + [line for _, line in pending]
    if not lines and not periods:
        return None
    total = sum((line.amount for line in lines), Decimal("0.00"))
    sequence = await store.next_sequence(conn, employer_no)
    invoice = store.Invoice(
        invoice_id=derived_id("invoice", employer_no, sequence),
        employer_no=employer_no,
        invoice_no=domain.invoice_no(today.year, employer_no, sequence),
        sequence=sequence,
        qr_reference=qr_reference(employer_no, sequence),
        invoice_date=today,
        due_date=domain.due_date(today),
        periods=tuple(periods) or (f"{today.year}-{today.month:02d}",),
        total=total,
        paid=Decimal("0.00"),
    )
    await store.save_invoice(
        conn,
        invoice,
        lines,
        issued_at=cause.occurred_at,
        pending_ids=[line_id for line_id, _ in pending],
        contribution_periods=periods,
    )
    uow.publish(
        billing.InvoiceIssued.caused_by(
            cause,
            event_id=derived_id("issued", invoice.invoice_id),
            employer_no=employer_no,
            payload=billing.InvoiceIssuedPayload(
                invoice_id=invoice.invoice_id,
                invoice_no=invoice.invoice_no,
                qr_reference=invoice.qr_reference,
                invoice_date=invoice.invoice_date,
                due_date=invoice.due_date,
                periods=list(invoice.periods),
                total=invoice.total,
                contributions=bool(periods),
            ),
        )
    )
    await publish_balance(uow, cause, employer_no, today, reason=f"issued {invoice.invoice_id}")
    trigger = "day" if isinstance(cause, clock.DayStarted) else "list"
    uow.on_commit(functools.partial(_count_invoice, trigger, _amounts_by_kind(lines)))
    return invoice


def _amounts_by_kind(lines: Sequence[InvoiceLine]) -> dict[tuple[str, str], Decimal]:
    """CHF per (line kind, direction), amounts positive: a credit or a negative correction
    is money owed to the employer (a Prometheus counter only goes up)."""
    sums: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        key = (line.kind, "credit" if line.amount < 0 else "debit")
        sums[key] = sums.get(key, Decimal("0.00")) + abs(line.amount)
    return sums


def _count_invoice(trigger: str, amounts: dict[tuple[str, str], Decimal], metrics: Metrics) -> None:
    """Counted when the invoice's transaction commits; the invoice id is derived from the
    employer's sequence number, so an invoice is issued (and counted) once."""
    metrics.invoices_issued.labels(trigger).inc()
    for (kind, direction), amount in amounts.items():
        metrics.invoiced_chf.labels(kind, direction).inc(chf(amount))


async def publish_balance(
    uow: UnitOfWork, cause: Envelope, employer_no: int, today: date, *, reason: str
) -> None:
    """`billing.balance-changed` for dunning: what is open and what is overdue now."""
    await _publish_balance(
        uow,
        employer_no,
        today,
        event_id=derived_id("balance", employer_no, reason),
        occurred_at=cause.occurred_at,
        correlation_id=cause.correlation_id,
    )


async def _publish_balance(
    uow: UnitOfWork,
    employer_no: int,
    today: date,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    correlation_id: str,
) -> None:
    now = await store.balance(uow.conn, employer_no, today)
    uow.publish(
        billing.BalanceChanged.new(
            event_id=event_id,
            occurred_at=occurred_at,
            employer_no=employer_no,
            correlation_id=correlation_id,
            payload=billing.BalanceChangedPayload(
                open_balance=now.open_balance, overdue_balance=now.overdue_balance, as_of=today
            ),
        )
    )


async def refresh_open_balance(runtime: Runtime) -> None:
    """`bvg_open_balance_chf` from the invoices, when /metrics is scraped (two sums over
    the invoices not fully paid and the credits carried forward; no employer label)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        today = await business_day(conn, fallback=runtime.clock.now())
        total = await store.total_balance(conn, today)
    runtime.metrics.open_balance_chf.labels("open").set(chf(total.open_balance))
    runtime.metrics.open_balance_chf.labels("overdue").set(chf(total.overdue_balance))


# -- payments -------------------------------------------------------------------------------

BookingOutcome = Literal["booked", "duplicate", "unmatched"]
_COUNTED: dict[BookingOutcome, str] = {
    "booked": "booked",
    "duplicate": "duplicates",
    "unmatched": "unmatched",
}


@dataclass(frozen=True, slots=True)
class CreditIn:
    """One credit to book: from a camt.054 entry or typed in by an operator."""

    booking_id: str
    source: Literal["camt054", "manual"]
    amount: Decimal
    value_date: date
    qr_reference: str | None = None
    invoice_id: uuid.UUID | None = None
    employer_no: int | None = None


async def book_payments(
    uow: UnitOfWork, credits: Sequence[CreditIn], *, now: datetime, correlation_id: str
) -> list[BookingOutcome]:
    """Book credits (issue 7): matched by QR reference (or invoice), partial payments leave
    the rest open, an overpayment is a credit carried forward, a late payment owes interest
    (Art. 21.3) on a later invoice, an unknown reference is kept for an operator. A booking
    id booked before books nothing. A whole file goes in a handful of statements."""
    conn = uow.conn
    booked_before = await store.booked_ids(conn, [c.booking_id for c in credits])
    invoices = await store.invoices_for(
        conn,
        references=[c.qr_reference for c in credits if c.qr_reference],
        ids=[c.invoice_id for c in credits if c.invoice_id and not c.qr_reference],
    )
    today = await business_day(conn, fallback=now)
    outcomes: list[BookingOutcome] = []
    payments: list[tuple[Any, ...]] = []
    pending: list[tuple[Any, ...]] = []
    paid: dict[uuid.UUID, Decimal] = {}
    touched: set[int] = set()
    seen: set[str] = set()
    for c in credits:
        if c.booking_id in booked_before or c.booking_id in seen:
            outcomes.append("duplicate")
            continue
        seen.add(c.booking_id)
        payment_id = derived_id("payment", c.booking_id)
        invoice = invoices.get(c.qr_reference or "") or invoices.get(str(c.invoice_id))
        employer = invoice.employer_no if invoice is not None else c.employer_no
        if employer is None:
            payments.append(
                (*_payment(payment_id, c), None, None, Decimal("0.00"), "unmatched", now)
            )
            outcomes.append("unmatched")
            continue
        if invoice is not None:
            open_now = invoice.open_amount - paid.get(invoice.invoice_id, Decimal("0.00"))
            allocation = domain.allocate(
                c.amount, open_amount=open_now, due=invoice.due_date, value_date=c.value_date
            )
            paid[invoice.invoice_id] = paid.get(invoice.invoice_id, Decimal("0.00")) + (
                allocation.applied
            )
        else:
            allocation = domain.Allocation(Decimal("0.00"), c.amount, Decimal("0.00"))
        invoice_id = None if invoice is None else invoice.invoice_id
        payments.append(
            (*_payment(payment_id, c), employer, invoice_id, allocation.applied, "booked", now)
        )
        for line in _payment_lines(allocation, invoice, c.value_date):
            line_id = derived_id(line.kind, payment_id)
            pending.append(store.pending_args(line_id, employer, line, today))
        uow.publish(
            billing.PaymentReceived.new(
                event_id=derived_id("payment-received", payment_id),
                occurred_at=now,
                employer_no=employer,
                correlation_id=correlation_id,
                payload=billing.PaymentReceivedPayload(
                    payment_id=payment_id,
                    amount=c.amount,
                    value_date=c.value_date,
                    qr_reference=c.qr_reference,
                    invoice_id=invoice_id,
                    source=c.source,
                ),
            )
        )
        touched.add(employer)
        outcomes.append("booked")
    await store.save_payments(conn, payments)
    await store.add_paid(conn, paid)
    if pending:
        await conn.executemany(store.SAVE_PENDING, pending)
    for employer in sorted(touched):
        await _publish_balance(
            uow,
            employer,
            today,
            event_id=derived_id("balance", employer, f"payments {correlation_id}"),
            occurred_at=now,
            correlation_id=correlation_id,
        )
    return outcomes


def _payment(payment_id: uuid.UUID, c: CreditIn) -> tuple[Any, ...]:
    return (payment_id, c.booking_id, c.source, c.amount, c.value_date, c.qr_reference)


def _payment_lines(
    allocation: domain.Allocation, invoice: store.Invoice | None, value_date: date
) -> list[InvoiceLine]:
    """What a payment leaves for the next invoice: a credit for what it paid too much, and
    the late interest it owes (Art. 21.3)."""
    lines = []
    if allocation.credit:
        lines.append(
            InvoiceLine(
                kind="credit",
                description=f"Guthaben aus Zahlung vom {value_date:%d.%m.%Y}",
                amount=-allocation.credit,
            )
        )
    if allocation.interest and invoice is not None:
        lines.append(
            InvoiceLine(
                kind="interest",
                description=f"Verzugszins 6 % auf {allocation.applied} vom "
                f"{invoice.due_date:%d.%m.%Y} bis {value_date:%d.%m.%Y} (Art. 21.3)",
                amount=allocation.interest,
            )
        )
    return lines


async def import_notification(
    unit_of_work: Callable[[], contextlib.AbstractAsyncContextManager[UnitOfWork]],
    body: bytes,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Book every credit of a camt.054 file in one transaction (API and CLI); the same credit
    again books nothing (its booking id). Raises CamtError for a file that cannot be used."""
    notification = await asyncio.to_thread(parse_camt054, body)
    counts = {"entries": len(notification.credits), "booked": 0, "duplicates": 0, "unmatched": 0}
    import_id = uuid.uuid4()
    async with unit_of_work() as uow:
        outcomes = await book_payments(
            uow,
            [
                CreditIn(
                    booking_id=credit.booking_id,
                    source="camt054",
                    amount=credit.amount,
                    value_date=credit.value_date,
                    qr_reference=credit.qr_reference,
                )
                for credit in notification.credits
            ],
            now=now,
            correlation_id=notification.message_id,
        )
        for outcome in outcomes:
            counts[_COUNTED[outcome]] += 1
        await store.save_import(
            uow.conn,
            import_id=import_id,
            sha256=hashlib.sha256(body).hexdigest(),
            message_id=notification.message_id,
            counts=counts,
            imported_at=now,
        )
    return {
        "import_id": str(import_id),
        "message_id": notification.message_id,
        **counts,
        "skipped": list(notification.skipped),
    }


# -- fees -----------------------------------------------------------------------------------


async def on_fee(uow: UnitOfWork, event: Envelope) -> None:
    """Fees become their own lines on the next invoice (RULES §8, §10)."""
    assert isinstance(event, pricing.PricingFeeCharged | dunning.DunningFeeCharged)
    p = event.payload
    today = await business_day(uow.conn, fallback=event.occurred_at)
    period = getattr(p, "period", None)
    line = InvoiceLine(
        kind="fee",
        description=f"{p.article}: {p.reason}"[:200],
        amount=p.amount,
        period=period,
    )
    uow.defer(store.SAVE_PENDING, *store.pending_args(p.fee_id, event.employer_no, line, today))
    if isinstance(event, pricing.PricingFeeCharged):  # a list's fee: the list may wait for it
        upload_id = event.payload.upload_id
        uow.after_writes(("complete", upload_id), lambda: _complete(uow, event, upload_id))


# -- the clock ------------------------------------------------------------------------------


async def on_day_started(uow: UnitOfWork, event: Envelope) -> None:
    """The daily run: invoices that passed their due date, the collective invoice on its
    cut-off date, and pending lines that waited too long for an invoice."""
    assert isinstance(event, clock.DayStarted)
    await project_business_day(uow, event)
    day = event.payload.business_date
    conn = uow.conn
    for invoice in await store.due_unnotified(conn, day):
        await store.mark_due_notified(conn, invoice.invoice_id)
        uow.publish(
            billing.InvoiceDue.caused_by(
                event,
                event_id=derived_id("due", invoice.invoice_id),
                employer_no=invoice.employer_no,
                payload=billing.InvoiceDuePayload(
                    invoice_id=invoice.invoice_id,
                    due_date=invoice.due_date,
                    open_amount=invoice.open_amount,
                ),
            )
        )
        await publish_balance(
            uow, event, invoice.employer_no, day, reason=f"due {invoice.invoice_id}"
        )
    cutoff = domain.cutoff_date(day.year, settings().billing_collective_cutoff)
    if day >= cutoff:
        q1 = list(domain.collective_periods(day.year))
        for employer_no in await store.employers_with_uninvoiced(conn, q1):
            await store.lock_employer(conn, employer_no)
            periods = [p for p in await store.uninvoiced_periods(conn, employer_no) if p in q1]
            if periods:
                await issue_invoice(uow, event, employer_no, periods, day)
    waited = day - timedelta(days=settings().billing_pending_max_days)
    for employer_no in await store.employers_with_old_pending(conn, waited):
        await store.lock_employer(conn, employer_no)
        await issue_invoice(uow, event, employer_no, [], day)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier, kept in user_revocations
    Subscription(auth.UserChanged, feed_revocations),
    Subscription(pricing.RowsPriced, on_row_priced),
    Subscription(pricing.ListPriced, on_list_priced),
    Subscription(pricing.PricingFeeCharged, on_fee),
    Subscription(dunning.DunningFeeCharged, on_fee),
    Subscription(clock.DayStarted, on_day_started),
)

PRODUCES = (
    billing.InvoiceIssued,
    billing.InvoiceDue,
    billing.PaymentReceived,
    billing.BalanceChanged,
)
