"""Subscriptions of the coverage service: validated rows in; the insured part of each row,
changes of coverage and findings for the employer out (RULES §5-§6).

Rows are gathered per batch from the broker: the state of every worker in the batch is
loaded in one go, each row is judged in arrival order (one worker's rows stay in order: they
share a key), and the state is written back in one go. Derived events have ids derived from
what they say (uuid5), so judging a row again publishes nothing new.
"""

from __future__ import annotations

import functools
import uuid
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from contracts.envelope import Envelope
from contracts.events import coverage, intake
from services.runtime.consumer import Subscription
from services.runtime.outbox import UnitOfWork, derived_event_id
from services.runtime.telemetry import Metrics

from . import store
from .calendar import PayPeriod
from .domain import (
    Assignment,
    CoverageError,
    CoveragePeriod,
    Declaration,
    Finding,
    InsuredPart,
    InvalidityChange,
    Worker,
    compare_declarations,
    corrected_period,
    insured_part,
    timeline,
)

_BATCH = "coverage.rows"


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    return derived_event_id("coverage", kind, *parts)


async def on_row_validated(uow: UnitOfWork, event: Envelope) -> None:
    """Gather the row; the batch is judged once its events are all in (after_writes)."""
    assert isinstance(event, intake.RowValidated)
    rows: list[tuple[intake.RowValidated, Any]] = uow.memo.setdefault(_BATCH, [])
    rows.append((event, otel_context.get_current()))
    uow.after_writes(_BATCH, lambda: _assess_batch(uow))
    p = event.payload
    uow.defer_rows(store.REMEMBER_LIST_ROW, p.upload_id, p.row_no, p.ahv)
    upload_id = p.upload_id
    uow.after_writes(("omitted", upload_id), lambda: _judge_omitted(uow, event, upload_id))


async def on_list_checked(uow: UnitOfWork, event: Envelope) -> None:
    """A delivered list: once all its rows are here too (either order), the workers it left
    out are judged (`_judge_omitted`). A faulty list is not delivered (Art. 22.1)."""
    assert isinstance(event, intake.ListChecked)
    p = event.payload
    if p.status != "ok":
        return
    uow.defer(store.REMEMBER_LIST, p.upload_id, event.employer_no, p.period, p.row_count)
    upload_id = p.upload_id
    uow.after_writes(("omitted", upload_id), lambda: _judge_omitted(uow, event, upload_id))


#: Reading: a list is compared with the workers of the employer's last three lists before it.
#: A finding falls due in the list after the month of an end (Art. 9) or after a code 4
#: (Art. 5.2); each list judges the workers it left out, so three months reach every one.
OMITTED_LOOKBACK_MONTHS = 3


async def _judge_omitted(uow: UnitOfWork, cause: Envelope, upload_id: uuid.UUID) -> None:
    """The employer's recent workers a delivered list left out, judged through its period:
    an interruption's missing follow-up (Art. 5.2) or a missing exit is a finding even when
    the employer simply stops listing the worker. Once per list, when the list is checked
    and all its rows are in; the worker's state is not changed."""
    listed = await store.lock_checked_list(uow.conn, upload_id)
    if listed is None:
        return
    employer_no, period = listed
    states = await store.load(uow.conn, await store.omitted_workers(
        uow.conn, upload_id, employer_no, period, OMITTED_LOOKBACK_MONTHS
    ))  # fmt: skip
    await store.forget_list_rows(uow.conn, upload_id)  # judged once: no longer needed
    for (_, ahv), state in sorted(states.items()):
        if state.worker is None:
            continue
        try:
            derived = timeline(
                state.worker,
                [a for a, _ in state.assignments.values()],
                as_of=period.last_day,
            )
        except CoverageError:
            continue  # its rows were refused already, with a finding of their own
        for finding in compare_declarations(derived, state.declarations.values(), through=period):
            _publish_worker_finding(uow, cause, ahv, finding)


async def _assess_batch(uow: UnitOfWork) -> None:
    rows: list[tuple[intake.RowValidated, Any]] = uow.memo.pop(_BATCH)
    states = await store.load(uow.conn, {(e.employer_no, e.payload.ahv) for e, _ in rows})
    for event, trace_context in rows:
        token = otel_context.attach(trace_context)  # the row's own trace, for its events
        try:
            assess(uow, states[(event.employer_no, event.payload.ahv)], event)
        finally:
            otel_context.detach(token)
    await store.save(uow.conn, states)


def assess(uow: UnitOfWork, state: store.WorkerState, event: intake.RowValidated) -> None:
    """Add one row to what is known of the worker, derive coverage, publish what follows.

    A row the rules cannot judge together with the earlier lists (e.g. an exit from one
    assignment while a later one goes on) is kept out of the worker's state: the employer
    gets a finding with the rule's code, and the row is assessed as not insured, so that its
    list is still priced and nothing waits for it.
    """
    p = event.payload
    period = PayPeriod.parse(p.period)
    before = state.copy()
    _remember(state, p, period)
    assert state.worker is not None
    latest = PayPeriod.parse(state.latest_period)
    try:
        derived = timeline(
            state.worker, [a for a, _ in state.assignments.values()], as_of=latest.last_day
        )
        # A correction row is judged on the month it corrects (RULES §3).
        judged = corrected_period(_assignments_of(p), period) if p.hours < 0 else period
        part = insured_part(derived, judged, abs(p.hours))
    except CoverageError as error:
        state.restore(before)
        _publish_rejection(uow, event, error)
        _publish_assessed(uow, event, state, NOT_INSURED)
        return
    _publish_changes(uow, event, state.periods, derived.periods)
    state.periods = derived.periods
    _publish_assessed(uow, event, state, part)
    for finding in compare_declarations(derived, state.declarations.values(), through=period):
        _publish_finding(uow, event, finding)


NOT_INSURED = InsuredPart(None, None, 0, Decimal("0.00"), None)


def _publish_assessed(
    uow: UnitOfWork, event: intake.RowValidated, state: store.WorkerState, part: InsuredPart
) -> None:
    p = event.payload
    assert state.worker is not None
    sign = Decimal(-1) if p.hours < 0 else Decimal(1)  # a correction row: same part, negative
    uow.publish(
        _derived_event(
            coverage.RowAssessed,
            event,
            derived_id("row-assessed", p.upload_id, p.row_no),
            {
                "upload_id": p.upload_id,
                "period": p.period,
                "row_no": p.row_no,
                "ahv": p.ahv,
                "insured": part.insured_days > 0,
                "insured_from": part.insured_from,
                "insured_to": part.insured_to,
                "insured_days": part.insured_days,
                "insured_hours": sign * part.insured_hours,
                "rule_in_force": part.rule_in_force,
                "birth_date": p.birth_date,
                "sex": state.worker.sex,
                "hours": p.hours,
                "base_wage": p.base_wage,
                "invalidity_degree": p.invalidity_degree,
                "declared_insured_wage": p.insured_wage,
                "declared_premium": p.premium_total,
            },
        )
    )


_Event = TypeVar("_Event", bound=Envelope)


def _derived_event(
    model: type[_Event], cause: intake.RowValidated, event_id: uuid.UUID, payload: dict[str, Any]
) -> _Event:
    """`model.caused_by(cause, event_id=..., payload=...)` with the payload given as fields:
    envelope and payload are validated in one call, not two (a third of the cost)."""
    return model.model_validate(
        {
            "event_id": event_id,
            "occurred_at": cause.occurred_at,
            "employer_no": cause.employer_no,
            "correlation_id": cause.correlation_id,
            "payload": payload,
        }
    )


def _publish_finding(uow: UnitOfWork, event: intake.RowValidated, finding: Finding) -> None:
    _publish_worker_finding(uow, event, event.payload.ahv, finding)


def _publish_worker_finding(uow: UnitOfWork, cause: Envelope, ahv: str, finding: Finding) -> None:
    """A finding about worker `ahv`, caused by one of its rows or by a list that left it
    out: the same id either way (employer, worker, code, period)."""
    uow.publish(
        coverage.CoverageFinding.model_validate(
            {
                "event_id": derived_id(
                    "finding", cause.employer_no, ahv, finding.code, finding.period
                ),
                "occurred_at": cause.occurred_at,
                "employer_no": cause.employer_no,
                "correlation_id": cause.correlation_id,
                "payload": {
                    "ahv": ahv,
                    "period": str(finding.period),
                    "code": finding.code,
                    "severity": finding.severity,
                    "message": finding.message,
                    "cost_to_employer": finding.cost_to_employer,
                    "article": finding.article,
                },
            }
        )
    )


def _publish_rejection(uow: UnitOfWork, event: intake.RowValidated, error: CoverageError) -> None:
    period = PayPeriod.parse(event.payload.period)
    message = (
        f"Row {event.payload.row_no} of the list of {period} cannot be judged together with "
        f"the earlier lists: {error.message} Please correct the assignment dates or codes."
    )
    _publish_finding(
        uow,
        event,
        Finding(
            code=error.code,
            period=period,
            article="Art. 2-5",
            severity="error",
            message=message[:500],
        ),
    )


def _remember(state: store.WorkerState, p: intake.RowValidatedPayload, period: PayPeriod) -> None:
    """The row's worker, assignment and declarations, newer lists winning over older ones."""
    text = str(period)
    newer = text >= state.latest_period
    sex: Any = "M" if p.sex_code == 1 else "F"
    if state.worker is None:
        state.worker = Worker(
            birth_date=p.birth_date, sex=sex, invalidity_degree=p.invalidity_degree
        )
    elif newer:
        current = state.worker.invalidity_changes
        degree = current[-1].degree if current else state.worker.invalidity_degree
        if p.invalidity_degree != degree:
            # Reading: an IV degree reported in a list applies from the first day of its period.
            change = InvalidityChange(period.first_day, p.invalidity_degree)
            state.worker = Worker(
                birth_date=p.birth_date,
                sex=sex,
                invalidity_degree=state.worker.invalidity_degree,
                invalidity_changes=(*current, change),
            )
    state.latest_period = max(state.latest_period, text)

    for assignment in _assignments_of(p):
        known = state.assignments.get(assignment.start)
        # A newer list wins; `reported_in` is the list that last changed the assignment.
        if known is None or (text >= known[1] and known[0] != assignment):
            state.assignments[assignment.start] = (assignment, text)
    declared = {1: p.entry_date, 2: p.exit_date, 4: None}
    if p.mutation_code in declared:
        on = declared[p.mutation_code]
        if p.mutation_code == 4 and p.assignment_end is not None:
            on = date.fromordinal(p.assignment_end.toordinal() + 1)  # first day of the gap
        code: Any = p.mutation_code
        state.declarations[(text, code)] = Declaration(period=period, code=code, on=on)


def _assignments_of(p: intake.RowValidatedPayload) -> list[Assignment]:
    """The row's assignments: sheet `Einsätze` where the list has it (with hours per week),
    else columns W-Z as the one assignment. A code-2 exit ends the assignment it dates."""
    exit_ = p.mutation_code == 2
    if not p.assignments:
        end = p.assignment_end or (p.exit_date if exit_ else None)
        return [
            Assignment(
                start=p.assignment_start,
                end=end,
                expected_over_13_weeks=p.expected_over_13_weeks,
                extension_accepted_on=p.extension_accepted_on,
                requested=p.insurance_requested,
                children=p.maintains_children,
                ends_with_exit=exit_,
            )
        ]
    return [
        Assignment(
            start=d.start,
            end=d.end,
            expected_over_13_weeks=d.expected_over_13_weeks,
            extension_accepted_on=d.extension_accepted_on,
            requested=p.insurance_requested,
            children=p.maintains_children,
            weekly_hours=tuple((w.week_of, w.hours) for w in d.weekly_hours),
            ends_with_exit=exit_ and d.end is not None and d.end == p.exit_date,
        )
        for d in p.assignments
    ]


def _publish_changes(
    uow: UnitOfWork,
    event: intake.RowValidated,
    before: tuple[CoveragePeriod, ...],
    after: tuple[CoveragePeriod, ...],
) -> None:
    """coverage.changed for every start and end the row revealed."""
    if after == before:  # most rows
        return
    p = event.payload
    started = {(q.insured_from, q.start_rule) for q in before}
    ended = {(q.insured_to, q.end_rule) for q in before if q.insured_to is not None}
    for q in after:
        changes: list[tuple[str, date, str]] = []
        if (q.insured_from, q.start_rule) not in started:
            changes.append(("started", q.insured_from, q.start_rule))
        if q.insured_to is not None and q.end_rule and (q.insured_to, q.end_rule) not in ended:
            changes.append(("ended", q.insured_to, q.end_rule))
        for change, effective, rule in changes:
            uow.publish(
                _derived_event(
                    coverage.CoverageChanged,
                    event,
                    derived_id("changed", event.employer_no, p.ahv, change, effective, rule),
                    {
                        "ahv": p.ahv,
                        "change": change,
                        "effective_date": effective,
                        "rule": rule,
                        "period": p.period,
                        "upload_id": p.upload_id,
                        "row_no": p.row_no,
                    },
                )
            )
            uow.on_commit(functools.partial(_count_change, change, rule))


def _count_change(change: str, rule: str, metrics: Metrics) -> None:
    """Counted when the row's transaction commits. The worker's periods are saved in the
    same transaction, so a change is derived (and counted) once: a row judged again finds
    the change among the stored periods and derives nothing."""
    metrics.coverage_changes.labels(change, rule).inc()


#: A worker's state is all a row touches, and a worker's rows share a key: two parts of a
#: batch at once (issue 5: one process kept a core 60 % busy, waiting on Postgres).
SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(intake.RowsValidated, on_row_validated, parallel_by_key=2),
    Subscription(intake.ListChecked, on_list_checked),
)

PRODUCES = (coverage.RowsAssessed, coverage.CoverageChanges, coverage.CoverageFinding)
