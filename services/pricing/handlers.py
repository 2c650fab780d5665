"""Subscriptions of the pricing service: rows in, priced rows and list totals out.

Events that pricing derives carry the id and time of what caused them (uuid5 of the row
or list, and the source event's `occurred_at`): pricing the same row again yields the same
event, and the database refuses a second one.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from contracts.envelope import Envelope
from contracts.events import auth, coverage, intake, pricing
from services.runtime.consumer import Subscription
from services.runtime.handlers import project_employer
from services.runtime.outbox import UnitOfWork, derived_event_id

from . import store
from .domain import RowInput, compare_declared, price

#: Art. 24: correcting an employer's figures costs CHF 10 per row and month.
CORRECTION_FEE_PER_ROW = Decimal("10.00")


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    return derived_event_id("pricing", kind, *parts)


async def on_row_assessed(uow: UnitOfWork, event: Envelope) -> None:
    """Price the insured part of one row (RULES §2-§5) and add it to its list."""
    assert isinstance(event, coverage.RowAssessed)
    p = event.payload
    share_key = ("employer_share", event.employer_no)
    if share_key not in uow.memo:
        uow.memo[share_key] = await store.employer_share(uow.conn, event.employer_no)
    year, month = (int(part) for part in p.period.split("-"))
    priced = price(
        RowInput(
            year=year,
            month=month,
            birth_date=p.birth_date,
            sex=p.sex,
            hours=p.hours,
            base_wage=p.base_wage,
            invalidity_degree=p.invalidity_degree,
            insured_hours=p.insured_hours if p.insured else Decimal(0),
            employer_share=uow.memo[share_key],
        )
    )
    findings = compare_declared(
        priced,
        declared_insured_wage=p.declared_insured_wage,
        declared_premium=p.declared_premium,
    )
    event_id = derived_id("row-priced", p.upload_id, p.row_no)
    store.save_priced_row(
        uow,
        upload_id=p.upload_id,
        row_no=p.row_no,
        employer_no=event.employer_no,
        period=p.period,
        priced=priced,
        correction=bool(findings),
        event_id=event_id,
    )
    # Priced before (a replay): the row stays, and the event's id is in the outbox already.
    uow.publish(
        pricing.RowPriced.caused_by(
            event,
            event_id=event_id,
            payload=pricing.RowPricedPayload(
                upload_id=p.upload_id,
                period=p.period,
                row_no=p.row_no,
                ahv=p.ahv,
                bvg_age=priced.bvg_age,
                subject=priced.subject,
                hourly_base_wage=priced.hourly_base_wage,
                insured_hourly_wage=priced.insured_hourly_wage,
                insured_wage=priced.insured_wage,
                rate=priced.rate,
                premium_total=priced.premium_total,
                employer_share=priced.employer_share,
                employee_share=priced.employee_share,
                savings_part=priced.savings_part,
                parameter_version=priced.parameter_version,
                findings=[
                    pricing.PricingFinding(
                        code=f.code,
                        message=f.message,
                        declared=f.declared,
                        computed=f.computed,
                    )
                    for f in findings
                ],
            ),
        )
    )
    uow.after_writes(("complete", p.upload_id), lambda: _complete(uow, event, p.upload_id))


async def on_list_checked(uow: UnitOfWork, event: Envelope) -> None:
    """Learn how many rows a list has; faulty lists bring no rows and are never priced."""
    assert isinstance(event, intake.ListChecked)
    p = event.payload
    await store.save_list_checked(
        uow.conn,
        upload_id=p.upload_id,
        employer_no=event.employer_no,
        period=p.period,
        status=p.status,
        row_count=p.row_count,
    )
    await _complete(uow, event, p.upload_id)


async def _complete(uow: UnitOfWork, cause: Envelope, upload_id: uuid.UUID) -> None:
    """Once every row of the list is priced: its totals, and the correction fee if any."""
    progress = await store.complete_list(uow.conn, upload_id, cause.occurred_at)
    if progress is None:
        return
    fee_id = derived_id("correction-fee", progress.upload_id) if progress.corrections else None
    uow.publish(
        pricing.ListPriced.caused_by(
            cause,
            event_id=derived_id("list-priced", progress.upload_id),
            employer_no=progress.employer_no,
            payload=pricing.ListPricedPayload(
                upload_id=progress.upload_id,
                period=progress.period,
                row_count=progress.row_count,
                totals=pricing.ListTotals(
                    insured_wage=progress.insured_wage,
                    premium_total=progress.premium_total,
                    employer_share=progress.employer_share,
                    employee_share=progress.employee_share,
                ),
                correction_fee_id=fee_id,
            ),
        )
    )
    if fee_id is not None:
        uow.publish(
            pricing.PricingFeeCharged.caused_by(
                cause,
                event_id=fee_id,
                employer_no=progress.employer_no,
                payload=pricing.PricingFeeChargedPayload(
                    fee_id=fee_id,
                    kind="correction",
                    amount=CORRECTION_FEE_PER_ROW * progress.corrections,
                    article="Art. 24",
                    period=progress.period,
                    reason=(
                        f"{progress.corrections} row(s) declared an insured wage or premium "
                        "that differs from the computed one by more than CHF 0.10; the "
                        "computed amounts are billed."
                    ),
                    upload_id=progress.upload_id,
                    row_count=progress.corrections,
                ),
            )
        )


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # plan split per employer
    Subscription(auth.EmployerChanged, project_employer),
    Subscription(coverage.RowsAssessed, on_row_assessed),
    Subscription(intake.ListChecked, on_list_checked),
)

PRODUCES = (pricing.RowsPriced, pricing.ListPriced, pricing.PricingFeeCharged)
