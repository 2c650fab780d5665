"""Intake's subscriptions and its checker: lists in, checked, row by row out.

An upload is stored as received first (its own transaction, `intake.list-received`); the
checker then checks it in a second transaction that writes the report, the list in force
and the events. A crash between the two leaves a stored, unchecked upload that the next
checker picks up: nothing accepted is lost, nothing is published twice (derived ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind
from pydantic import Field

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.events import auth, billing, clock, intake, pricing
from contracts.events.intake import MAX_ROWS_PER_PART
from contracts.values import Language, Payload, Period
from services.runtime.consumer import Subscription
from services.runtime.handlers import (
    business_day,
    feed_revocations,
    project_business_day,
    project_employer,
)
from services.runtime.outbox import UnitOfWork, derived_event_id
from services.runtime.service import Runtime
from services.runtime.telemetry import extract
from services.runtime.workers import drain_on_notify

from . import store
from .checking import CheckOutcome, check_upload, declared_warnings, limits_of

log = logging.getLogger("bvgconnect.intake")


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    return derived_event_id("intake", kind, *parts)


# -- connector submissions ------------------------------------------------------------------


class SubmittedPartPayload(Payload):
    """intake.list-submitted read leniently: rows stay raw JSON so that a bad cell becomes a
    finding in the report, as in an upload, instead of sending the whole part to the DLQ."""

    submission_id: str = Field(min_length=1, max_length=100)
    period: Period
    part_no: int = Field(ge=1)
    part_count: int = Field(ge=1, le=1000)
    rows: list[Any] = Field(max_length=MAX_ROWS_PER_PART)
    language: Language


class SubmittedPart(Envelope):
    """The tolerant reader of `intake.ListSubmitted` (same topic, same wire form)."""

    TOPIC: ClassVar[str] = intake.ListSubmitted.TOPIC
    MAX_MESSAGE_BYTES: ClassVar[int | None] = intake.ListSubmitted.MAX_MESSAGE_BYTES
    type: Annotated[Literal["intake.list-submitted"], TYPE_FIELD] = "intake.list-submitted"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[SubmittedPartPayload, PAYLOAD_FIELD]


async def on_part_submitted(uow: UnitOfWork, event: Envelope) -> None:
    """Keep a part; once every part is in, assemble them into one upload (issue 4)."""
    assert isinstance(event, SubmittedPart)
    p = event.payload
    employer_no = event.employer_no
    if await store.assembled_upload(uow.conn, employer_no, p.submission_id) is not None:
        return  # a late copy of a part of a submission already assembled
    await store.save_part(
        uow.conn,
        employer_no=employer_no,
        submission_id=p.submission_id,
        part_no=p.part_no,
        part_count=p.part_count,
        period=p.period,
        language=p.language,
        rows_json=json.dumps(p.rows, separators=(",", ":"), ensure_ascii=False),
        received_at=event.occurred_at,
    )

    async def assemble() -> None:
        await _assemble(uow, event, employer_no, p.submission_id)

    uow.after_writes(("submission", employer_no, p.submission_id), assemble)


async def _assemble(uow: UnitOfWork, cause: Envelope, employer_no: int, submission_id: str) -> None:
    parts = await store.submission_parts(uow.conn, employer_no, submission_id)
    first = parts[0]
    if [part.part_no for part in parts] != list(range(1, first.part_count + 1)):
        return  # parts still missing
    if any(
        (part.part_count, part.period, part.language)
        != (first.part_count, first.period, first.language)
        for part in parts
    ):
        log.warning("submission parts disagree on count, period or language; not assembled")
        return
    bodies = [part.rows_json[1:-1] for part in parts if part.rows_json != "[]"]
    content = ('{"rows":[' + ",".join(bodies) + "]}").encode()
    upload_id = derived_id("submission", employer_no, submission_id)
    upload, new = await store.store_upload(
        uow.conn,
        upload_id=upload_id,
        employer_no=employer_no,
        period=first.period,
        channel="kafka",
        file_kind="json",
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        received_at=max(part.received_at for part in parts),
        received_by="connector",
        language=first.language,
        submission_id=submission_id,
    )
    await store.mark_assembled(uow.conn, employer_no, submission_id, upload.upload_id)
    if new:
        uow.publish(list_received(upload, event_id=derived_id("received", upload.upload_id)))
        uow.on_commit(lambda m: m.lists_received.labels("kafka").inc())


def list_received(upload: store.Upload, *, event_id: uuid.UUID | None = None) -> Envelope:
    return intake.ListReceived.new(
        event_id=event_id,
        occurred_at=upload.received_at,
        employer_no=upload.employer_no,
        correlation_id=str(upload.upload_id),
        payload=intake.ListReceivedPayload(
            upload_id=upload.upload_id,
            period=upload.period,
            channel=upload.channel,
            sha256=upload.sha256,
            size_bytes=upload.size_bytes,
            received_at=upload.received_at,
            file_kind=upload.file_kind,
        ),
    )


# -- completing reports, invoiced periods, the business date --------------------------------


async def on_row_priced(uow: UnitOfWork, event: Envelope) -> None:
    """Add pricing's declared-versus-computed warnings to the row's report (TEMPLATE.md)."""
    assert isinstance(event, pricing.RowPriced)
    p = event.payload
    key = ("row_languages", p.upload_id)
    if key not in uow.memo:
        report = await store.get_report(uow.conn, p.upload_id)
        uow.memo[key] = "" if report is None else report.row_languages
    languages: str = uow.memo[key]
    index = p.row_no - 2
    char = languages[index] if 0 <= index < len(languages) else "d"
    findings = declared_warnings(
        p.findings, row_no=p.row_no, language=store.CHAR_LANGUAGES.get(char, "de")
    )
    uow.defer_rows(
        store.RECORD_PRICED_ROWS,
        p.upload_id,
        p.row_no,
        json.dumps([{"col": f.column, "code": f.code, "message": f.message} for f in findings]),
    )


async def on_invoice_issued(uow: UnitOfWork, event: Envelope) -> None:
    """An invoiced period's list can no longer be replaced (RULES §7; corrections come as
    signed rows in a later list)."""
    assert isinstance(event, billing.InvoiceIssued)
    p = event.payload
    if p.contributions:  # an invoice of fees only leaves its month's list open
        await store.mark_invoiced(uow.conn, event.employer_no, p.periods, p.invoice_id)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(auth.EmployerChanged, project_employer),
    # revocations for the token verifier, kept in user_revocations
    Subscription(auth.UserChanged, feed_revocations),
    Subscription(pricing.RowsPriced, on_row_priced),
    Subscription(SubmittedPart, on_part_submitted),
    Subscription(billing.InvoiceIssued, on_invoice_issued),
    Subscription(clock.DayStarted, project_business_day),
)

PRODUCES = (
    intake.ListReceived,
    intake.RowsValidated,
    intake.ListChecked,
)


# -- the checker ----------------------------------------------------------------------------


async def run_checker(runtime: Runtime) -> None:
    """Check stored uploads one by one, woken by NOTIFY; several checkers share the work
    (SKIP LOCKED), and an upload left unchecked by a crash is checked by the next one."""
    await drain_on_notify(
        runtime.dsn,
        channel=store.UPLOADS_CHANNEL,
        step=lambda: check_next(runtime),
        poll_s=runtime.settings.intake_check_poll_s,
        what="checker",
    )


async def check_next(runtime: Runtime) -> bool:
    """Check the oldest unchecked upload; False when there is none.

    The check continues the trace of the upload (the W3C headers stored with it): the
    checker is a background loop, and without them the rows' events would start no trace.
    """
    async with runtime.unit_of_work() as uow:
        claimed = await store.claim_next_unchecked(uow.conn)
        if claimed is None:
            return False
        upload, content, trace_headers = claimed
        with _upload_trace(runtime, upload, trace_headers):
            received_on = await business_day(uow.conn, fallback=upload.received_at)
            invoiced = await store.is_invoiced(uow.conn, upload.employer_no, upload.period)
            previous = await store.list_in_force(uow.conn, upload.employer_no, upload.period)
            limits = limits_of(runtime.settings)
            # to_thread copies the context: the events published there carry the trace
            outcome = await asyncio.to_thread(
                _check_and_build, upload, content, received_on, invoiced, previous, limits, uow
            )
            await store.save_report(
                uow.conn, outcome.record, outcome.checked.findings, accepted=outcome.accepted
            )
    # counted once the check committed (a check that rolls back is checked again)
    metrics = runtime.metrics
    status = outcome.checked.status
    metrics.lists_checked.labels(upload.channel, status).inc()
    if not outcome.record.on_time:
        metrics.lists_late.labels(upload.channel, status).inc()
    for (code, severity), count in outcome.counts_by_code_and_severity().items():
        metrics.list_findings.labels(code, severity).inc(count)
    return True


@contextlib.contextmanager
def _upload_trace(
    runtime: Runtime, upload: store.Upload, trace_headers: dict[str, str]
) -> Iterator[None]:
    """A span `intake.check` in the upload's trace (or just its context when nothing
    records spans). Attributes carry ids only."""
    parent = extract(trace_headers)
    if not runtime.exporting:
        token = otel_context.attach(parent)
        try:
            yield
        finally:
            otel_context.detach(token)
        return
    with runtime.tracer.start_as_current_span(
        "intake.check",
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes={
            "bvg.upload_id": str(upload.upload_id),
            "bvg.employer_no": upload.employer_no,
            "bvg.period": upload.period,
            "bvg.channel": upload.channel,
        },
    ):
        yield


def _check_and_build(
    upload: store.Upload,
    content: bytes,
    received_on: date,
    invoiced: bool,
    previous: uuid.UUID | None,
    limits: Any,
    uow: UnitOfWork,
) -> CheckOutcome:
    """The CPU part of a check, run in a thread: check, then build the events."""
    arguments: dict[str, Any] = {
        "received_on": received_on,
        "invoiced": invoiced,
        "previous": previous,
        "limits": limits,
        "checked_at": upload.received_at,
    }
    try:
        outcome = check_upload(upload, content, **arguments)
    except Exception as exc:  # a defect of ours must not stop the checking of other lists
        log.error("an upload could not be checked: %s", type(exc).__name__)
        outcome = check_upload(upload, content, failed=True, **arguments)
    for event in outcome.events(upload):
        uow.publish(event)
    return outcome
