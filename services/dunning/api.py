"""HTTP API of dunning: operators hold and release a case and waive a ladder fee (level 3,
ACCESS.md "operator functions"); every action is written to `audit_log`. Employers read their
cases and letters (`reminders`) and their tasks and messages inbox (`messages`, each user only
in the topics they hold)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from contracts.events import dunning
from services.runtime.access import Principal, require
from services.runtime.errors import ApiError
from services.runtime.handlers import business_day
from services.runtime.outbox import UnitOfWork
from services.runtime.service import Runtime, get_runtime

from . import domain, letters, messages, notices, store
from .handlers import derived_id

router = APIRouter(tags=["dunning"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Operator = Annotated[Principal, Depends(require("operator"))]


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why, for the audit log.")


async def _audit(
    uow: UnitOfWork, runtime: Runtime, who: Principal, action: str, case_id: uuid.UUID, **d: Any
) -> None:
    await uow.conn.execute(
        "INSERT INTO audit_log (at, actor, action, case_id, detail) VALUES ($1, $2, $3, $4, $5)",
        runtime.clock.now(),
        who.user_id,
        action,
        case_id,
        json.dumps(d),
    )


async def _case(uow: UnitOfWork, case_id: uuid.UUID) -> store.StoredCase:
    found = await store.get_case(uow.conn, case_id)
    if found is None:
        raise ApiError(404, "case.not_found", "There is no such dunning case.")
    if found.closed_on is not None:
        raise ApiError(409, "case.closed", "The case is closed.")
    return found


@router.post("/operator/cases/{case_id}/hold", summary="Hold a case (dispute): no steps")
async def hold(
    case_id: uuid.UUID, body: Reason, runtime: RuntimeDep, who: Operator
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        found = await _case(uow, case_id)
        if found.held_since is not None:
            raise ApiError(409, "case.held", "The case is on hold already.")
        today = await business_day(uow.conn, fallback=runtime.clock.now())
        await uow.conn.execute(
            "UPDATE cases SET held_since = $2 WHERE case_id = $1", case_id, today
        )
        await _audit(uow, runtime, who, "hold", case_id, reason=body.reason, on=str(today))
    return {"case_id": str(case_id), "held_since": today.isoformat()}


@router.post("/operator/cases/{case_id}/release", summary="Release a held case")
async def release(
    case_id: uuid.UUID, body: Reason, runtime: RuntimeDep, who: Operator
) -> dict[str, Any]:
    """Reading: the days on hold move every step not yet taken by as much (the employer keeps
    the full time the letters gave); nothing missed is caught up at once."""
    async with runtime.unit_of_work() as uow:
        found = await _case(uow, case_id)
        if found.held_since is None:
            raise ApiError(409, "case.not_held", "The case is not on hold.")
        today = await business_day(uow.conn, fallback=runtime.clock.now())
        shift = found.shift_days + max((today - found.held_since).days, 0)
        after = domain.Case(
            found.track, found.anchor, steps_taken=found.steps_taken, shift_days=shift
        )
        next_on = domain.next_step_on(after)
        await uow.conn.execute(
            "UPDATE cases SET held_since = NULL, shift_days = $2, next_step_on = $3 "
            "WHERE case_id = $1",
            case_id,
            shift,
            next_on,
        )
        await _audit(uow, runtime, who, "release", case_id, reason=body.reason, shift_days=shift)
    return {
        "case_id": str(case_id),
        "shift_days": shift,
        "next_step_on": None if next_on is None else next_on.isoformat(),
    }


@router.post(
    "/operator/cases/{case_id}/steps/{step}/waive", summary="Waive the fee of a ladder step"
)
async def waive(
    case_id: uuid.UUID, step: domain.StepName, body: Reason, runtime: RuntimeDep, who: Operator
) -> dict[str, Any]:
    """Billing books fees as lines of the next invoice and takes negative amounts: a waiver
    is the same fee negated (`dunning.fee-charged`, its own id), so it also undoes a fee
    invoiced already."""
    async with runtime.unit_of_work() as uow:
        found = await store.get_case(uow.conn, case_id)
        if found is None:
            raise ApiError(404, "case.not_found", "There is no such dunning case.")
        row = await uow.conn.fetchrow(
            "SELECT fee, waived_on FROM case_steps WHERE case_id = $1 AND step = $2 FOR UPDATE",
            case_id,
            step,
        )
        if row is None or row["fee"] <= 0:
            raise ApiError(404, "fee.not_found", "This step of the case charged no fee.")
        if row["waived_on"] is not None:
            raise ApiError(409, "fee.waived", "The fee was waived already.")
        today = await business_day(uow.conn, fallback=runtime.clock.now())
        await uow.conn.execute(
            "UPDATE case_steps SET waived_on = $3, waiver_reason = $4 "
            "WHERE case_id = $1 AND step = $2",
            case_id,
            step,
            today,
            body.reason,
        )
        ladder_step = next(s for s in domain.LADDERS[found.track].steps if s.step == step)
        assert ladder_step.fee_kind is not None
        uow.publish(
            dunning.DunningFeeCharged.new(
                event_id=derived_id("waiver-event", case_id, step),
                occurred_at=runtime.clock.now(),
                employer_no=found.employer_no,
                correlation_id=str(case_id),
                payload=dunning.DunningFeeChargedPayload(
                    fee_id=derived_id("waiver", case_id, step),
                    kind=ladder_step.fee_kind,
                    amount=-row["fee"],
                    article=ladder_step.article,
                    case_id=case_id,
                    reason=f"waiver of the {step.replace('_', ' ')} fee: {body.reason}"[:500],
                ),
            )
        )
        await _audit(uow, runtime, who, "waive", case_id, step=step, reason=body.reason)
    return {"case_id": str(case_id), "step": step, "waived": str(row["fee"])}


class OtherFee(BaseModel):
    kind: Literal["enforcement", "legal_opening", "bankruptcy", "late_claim", "investigation"] = (
        Field(description="Art. 25 (Betreibung, Rechtsöffnung, Konkurs) or Art. 26.")
    )
    reason: str = Field(min_length=1, max_length=400, description="What was done, for the audit.")
    case_id: uuid.UUID | None = Field(default=None, description="Dunning case, if any.")


@router.post(
    "/operator/employers/{employer_no}/fees", summary="Charge a fee of Art. 25-26 (RULES §10)"
)
async def charge_fee(
    employer_no: Annotated[int, PathParam(ge=1, le=99_999_999)],
    body: OtherFee,
    runtime: RuntimeDep,
    who: Operator,
) -> dict[str, Any]:
    amount, article = domain.OTHER_FEES[body.kind]
    fee_id = uuid.uuid4()
    async with runtime.unit_of_work() as uow:
        uow.publish(
            dunning.DunningFeeCharged.new(
                event_id=derived_id("fee-event", fee_id),
                occurred_at=runtime.clock.now(),
                employer_no=employer_no,
                correlation_id=str(body.case_id or fee_id),
                payload=dunning.DunningFeeChargedPayload(
                    fee_id=fee_id,
                    kind=body.kind,
                    amount=amount,
                    article=article,
                    case_id=body.case_id,
                    reason=body.reason,
                ),
            )
        )
        await uow.conn.execute(
            "INSERT INTO audit_log (at, actor, action, case_id, detail) "
            "VALUES ($1, $2, $3, $4, $5)",
            runtime.clock.now(),
            who.user_id,
            "fee",
            body.case_id,
            json.dumps({"employer_no": employer_no, "kind": body.kind, "fee_id": str(fee_id)}),
        )
    return {"fee_id": str(fee_id), "kind": body.kind, "amount": str(amount), "article": article}


Reader = Annotated[Principal, Depends(require("reminders.read"))]
EmployerNo = Annotated[int, PathParam(ge=1, le=99_999_999, description="Employer number.")]


@router.get("/employers/{employer_no}/cases", summary="The employer's dunning cases and steps")
async def cases(employer_no: EmployerNo, runtime: RuntimeDep, who: Reader) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    rows = await runtime.pool.fetch(
        "SELECT c.case_id, c.track, c.period, c.anchor, c.opened_on, c.closed_on, "
        "c.close_reason, c.held_since, s.step, s.dated, s.fee, s.amount, s.waived_on "
        "FROM cases c LEFT JOIN case_steps s USING (case_id) WHERE c.employer_no = $1 "
        "ORDER BY c.anchor, c.case_id, s.dated",
        employer_no,
    )
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        case = found.setdefault(
            r["case_id"],
            {
                "case_id": str(r["case_id"]),
                "track": r["track"],
                "period": r["period"],
                "due_date": r["anchor"].isoformat(),
                "opened_on": r["opened_on"].isoformat(),
                "closed_on": r["closed_on"] and r["closed_on"].isoformat(),
                "close_reason": r["close_reason"],
                "held": r["held_since"] is not None,
                "steps": [],
            },
        )
        if r["step"] is not None:
            case["steps"].append(
                {
                    "step": r["step"],
                    "date": r["dated"].isoformat(),
                    "fee": str(r["fee"]),
                    "amount": None if r["amount"] is None else str(r["amount"]),
                    "waived": r["waived_on"] is not None,
                    "letter": f"/employers/{employer_no}/cases/{r['case_id']}/letters/"
                    f"{r['step']}.pdf",
                }
            )
    return list(found.values())


@router.get(
    "/employers/{employer_no}/cases/{case_id}/letters/{step}.pdf",
    summary="The letter of a step as PDF",
    response_class=Response,
)
async def letter_pdf(
    employer_no: EmployerNo,
    case_id: uuid.UUID,
    step: domain.StepName,
    runtime: RuntimeDep,
    who: Reader,
) -> Response:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        letter = await store.letter_of(conn, case_id, step, employer_no=employer_no)
    if letter is None:
        raise ApiError(404, "letter.not_found", "There is no such letter for this employer.")
    body = await asyncio.to_thread(letters.render_letter_pdf, letter)
    return Response(body, media_type="application/pdf")


@router.get("/notifications", summary="Notices to outside bodies not yet delivered")
async def notifications(
    runtime: RuntimeDep, who: Operator, status: Literal["pending", "sent"] = "pending"
) -> dict[str, Any]:
    """Pending notices (Art. 22.3) with their attempts, next attempt and last error; `smtp`
    says "no SMTP server configured" when none is."""
    return await notices.pending(runtime, status)


Inbox = Annotated[Principal, Depends(require("messages.read"))]


def _inbox_topics(who: Principal) -> frozenset[str]:
    """ACCESS.md: every user sees messages only for the topics they hold."""
    return frozenset(t for t in who.topics if t in messages.KINDS_BY_TOPIC)


@router.get("/employers/{employer_no}/messages", summary="The employer's tasks and messages")
async def list_messages(
    employer_no: EmployerNo,
    runtime: RuntimeDep,
    who: Inbox,
    topic: messages.MessageTopic | None = None,
    unread: bool | None = None,
    tasks: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Newest first, at most `limit`; only the caller's topics (a topic they do not hold
    lists nothing). `unread=true`: not read yet; `tasks=true`: only tasks (need action)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await messages.listed(
            conn,
            employer_no,
            _inbox_topics(who),
            topic=topic,
            unread=unread,
            tasks=tasks,
            limit=limit,
        )


async def _mark(
    runtime: Runtime,
    who: Principal,
    employer_no: int,
    message_id: uuid.UUID,
    what: Literal["read", "done"],
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        found = await messages.one(uow.conn, employer_no, _inbox_topics(who), message_id)
        if found is None:  # another employer's, or a topic the caller does not hold
            raise ApiError(404, "message.not_found", "There is no such message.")
        if what == "done" and not found["task"]:
            raise ApiError(409, "message.not_a_task", "Only a task can be marked done.")
        await messages.mark(uow.conn, message_id, what, runtime.clock.now())
        after = await messages.one(uow.conn, employer_no, _inbox_topics(who), message_id)
    assert after is not None
    return after


@router.post("/employers/{employer_no}/messages/{message_id}/read", summary="Mark a message read")
async def read_message(
    employer_no: EmployerNo, message_id: uuid.UUID, runtime: RuntimeDep, who: Inbox
) -> dict[str, Any]:
    return await _mark(runtime, who, employer_no, message_id, "read")


@router.post("/employers/{employer_no}/messages/{message_id}/done", summary="Mark a task done")
async def done_message(
    employer_no: EmployerNo, message_id: uuid.UUID, runtime: RuntimeDep, who: Inbox
) -> dict[str, Any]:
    """Only tasks (409 `message.not_a_task` otherwise); done marks it read too."""
    return await _mark(runtime, who, employer_no, message_id, "done")
