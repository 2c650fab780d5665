"""HTTP API of intake (for the portal): template, upload, validate, reports.

Every route needs a bearer token for the employer in the path with topic `mutations` and
level 2 (ACCESS.md), verified locally (`services.runtime.access`).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from contracts.values import Language
from services.runtime.access import Principal, require
from services.runtime.errors import ApiError
from services.runtime.handlers import business_day
from services.runtime.http import read_body
from services.runtime.service import Runtime, get_runtime

from . import store
from .annotate import annotate
from .checking import check_bytes, finding_json, limits_of, report_json, report_language
from .handlers import list_received
from .template import build_template

router = APIRouter(tags=["lists"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EmployerNo = Annotated[int, Path(ge=1, le=99_999_999, description="Employer number.")]
PeriodPath = Annotated[
    str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Pay period, `YYYY-MM`.")
]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Received(BaseModel):
    """An upload is stored; its check report follows at `report`."""

    upload_id: uuid.UUID
    state: Literal["received", "checked"]
    duplicate: bool = Field(description="The same file was uploaded before: same upload.")
    report: str = Field(description="Where the check report can be read.")


class UploadListed(BaseModel):
    upload_id: uuid.UUID
    period: str
    channel: str
    received_at: datetime
    state: str
    status: str | None
    rows: int | None
    in_force: bool = Field(description="This list is the one in force for its period.")


@router.get(
    "/employers/{employer_no}/lists/template",
    summary="Download the list template (xlsx)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def template(
    employer_no: EmployerNo,
    principal: Annotated[Principal, Depends(require("list.template"))],
) -> Response:
    return Response(
        build_template(),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="bvgconnect-liste.xlsx"'},
    )


async def _body(request: Request, runtime: Runtime) -> tuple[bytes, Literal["xlsx", "json"]]:
    """The list as sent: an xlsx (raw or multipart field `file`) or JSON rows."""
    limit = runtime.settings.intake_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_large(limit)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:
            raise ApiError(400, "request.invalid", "The multipart body cannot be read.") from None
        part = form.get("file")
        if part is None or isinstance(part, str):
            raise ApiError(400, "request.invalid", "Send the list in the form field `file`.")
        content = await part.read(limit + 1)
        name = (part.filename or "").lower()
        kind: Literal["xlsx", "json"] = (
            "json" if name.endswith(".json") or part.content_type == "application/json" else "xlsx"
        )
    elif media in (XLSX, "application/octet-stream", "application/json"):
        content = await read_body(request, limit)
        kind = "json" if media == "application/json" else "xlsx"
    else:
        raise ApiError(
            415,
            "request.media_type",
            "Send the list as an xlsx workbook (multipart field `file` or the workbook's "
            f"media type) or as JSON rows (application/json); got {media or 'nothing'!r}.",
        )
    if len(content) > limit:
        raise _too_large(limit)
    if not content:
        raise ApiError(400, "file.empty", "The upload is empty.")
    return content, kind


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "file.too_large", f"The list is larger than {limit // (1024 * 1024)} MB; split it."
    )


@router.post(
    "/employers/{employer_no}/lists/{period}",
    summary="Upload the monthly list of a period (xlsx or JSON)",
    status_code=202,
    response_model=Received,
    responses={200: {"model": Received, "description": "The same file was uploaded before."}},
)
async def upload(
    request: Request,
    employer_no: EmployerNo,
    period: PeriodPath,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("list.upload"))],
    language: Annotated[
        Language | None, Query(description="Language of the report's file-level findings.")
    ] = None,
) -> JSONResponse:
    content, kind = await _body(request, runtime)
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        _refuse_future(period, await business_day(uow.conn, fallback=now))
        chosen = language or await store.employer_language(uow.conn, employer_no) or "de"
        stored, new = await store.store_upload(
            uow.conn,
            upload_id=uuid.uuid4(),
            employer_no=employer_no,
            period=period,
            channel="http",
            file_kind=kind,
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            received_at=now,
            received_by=principal.user_id,
            language=chosen,
        )
        if new:
            uow.publish(list_received(stored))
            uow.on_commit(lambda m: m.lists_received.labels("http").inc())
    body = Received(
        upload_id=stored.upload_id,
        state=stored.state,
        duplicate=not new,
        report=f"/employers/{employer_no}/uploads/{stored.upload_id}",
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202 if new else 200)


def _refuse_future(period: str, today: date) -> None:
    year, month = (int(part) for part in period.split("-"))
    if (year, month) > (today.year, today.month):
        raise ApiError(
            422,
            "period.future",
            f"The period {period} has not begun yet; a list can be sent from its first day.",
        )


@router.post(
    "/employers/{employer_no}/lists/{period}/validate",
    summary="Check a list without sending it (nothing is stored)",
)
async def validate(
    request: Request,
    employer_no: EmployerNo,
    period: PeriodPath,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("list.validate"))],
    language: Annotated[Language, Query(description="Language of file-level findings.")] = "de",
) -> dict[str, Any]:
    content, kind = await _body(request, runtime)
    limits = limits_of(runtime.settings)
    checked = await asyncio.to_thread(
        check_bytes,
        content,
        kind,
        employer_no=employer_no,
        period=period,
        language=language,
        limits=limits,
    )
    return report_json(checked)


@router.get("/employers/{employer_no}/lists", summary="Uploads of the employer, newest first")
async def uploads(
    employer_no: EmployerNo,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("list.report"))],
    period: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UploadListed]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        found = await store.list_uploads(conn, employer_no, period, limit=limit)
    return [
        UploadListed(
            upload_id=u.upload_id,
            period=u.period,
            channel=u.channel,
            received_at=u.received_at,
            state=u.state,
            status=u.status,
            rows=u.row_count,
            in_force=u.in_force,
        )
        for u in found
    ]


async def _upload_of(runtime: Runtime, employer_no: int, upload_id: uuid.UUID) -> store.Upload:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        found = await store.get_upload(conn, employer_no, upload_id)
    if found is None:
        raise ApiError(404, "upload.not_found", "There is no such upload for this employer.")
    return found


@router.get("/employers/{employer_no}/uploads/{upload_id}", summary="The check report of an upload")
async def report(
    employer_no: EmployerNo,
    upload_id: uuid.UUID,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("list.report"))],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    found = await _upload_of(runtime, employer_no, upload_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        record = await store.get_report(conn, upload_id)
        findings = await store.get_findings(conn, upload_id, offset=offset, limit=limit)
        total = await store.count_findings(conn, upload_id)
        in_force = await store.list_in_force(conn, employer_no, found.period) == upload_id
    body: dict[str, Any] = {
        "upload_id": str(found.upload_id),
        "employer_no": found.employer_no,
        "period": found.period,
        "channel": found.channel,
        "file_kind": found.file_kind,
        "sha256": found.sha256,
        "size_bytes": found.size_bytes,
        "received_at": found.received_at.isoformat(),
        "state": found.state,
        "in_force": in_force,
    }
    if record is None:
        return body | {"status": None}
    body |= {
        "status": record.status,
        "rows": record.row_count,
        "error_count": record.error_count,
        "warning_count": record.warning_count,
        "counts_by_code": record.counts_by_code,
        "on_time": record.on_time,
        "due_date": record.due_date.isoformat(),
        "received_on": record.received_on.isoformat(),
        "replaces_upload_id": (
            None if record.replaces_upload_id is None else str(record.replaces_upload_id)
        ),
        "pricing": {
            "rows_priced": record.rows_priced,
            "complete": record.status == "ok" and record.rows_priced >= record.row_count,
        },
        "findings_total": total,
        "findings": [finding_json(f) for f in findings],
    }
    return body


@router.get(
    "/employers/{employer_no}/uploads/{upload_id}/report.xlsx",
    summary="The employer's workbook with every finding on its cell and a summary sheet",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def annotated_report(
    employer_no: EmployerNo,
    upload_id: uuid.UUID,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("list.report"))],
) -> Response:
    found = await _upload_of(runtime, employer_no, upload_id)
    if found.file_kind != "xlsx":
        raise ApiError(
            409, "report.no_workbook", "This list was sent as JSON; read the report as JSON."
        )
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        record = await store.get_report(conn, upload_id)
        if record is None:
            raise ApiError(
                409, "report.not_ready", "The list is still being checked; try again shortly."
            )
        if record.status == "unreadable":
            raise ApiError(
                409,
                "report.unreadable_file",
                "The file could not be read, so there is no workbook to annotate; "
                "read the report as JSON.",
            )
        findings = await store.get_findings(conn, upload_id)
        content = await store.upload_content(conn, upload_id)
    annotated = await asyncio.to_thread(
        annotate, content, findings, language=report_language(found.language)
    )
    return Response(
        annotated,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="report-{found.period}.xlsx"',
        },
    )
