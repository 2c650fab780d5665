"""The intake service on the real broker and database: lists in over HTTP and Kafka, every
file kept, checked once, reported, and the rows of an error-free list out."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from contracts.events.billing import InvoiceIssued, InvoiceIssuedPayload
from contracts.events.clock import DayStarted, DayStartedPayload
from contracts.events.intake import (
    MAX_ROWS_PER_PART,
    ListChecked,
    ListReceived,
    ListSubmitted,
    RowsValidated,
)
from contracts.events.pricing import PricingFinding, RowPriced, RowPricedPayload
from services.intake import store
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_pricing_service import parts, payloads, publish, wait_outbox_drained
from tests.support.kafka import eventually, read_topic
from tests.support.parts import pack
from tests.support.tokens import TokenMint
from tests.support.xlsx import EMPLOYER_NO, build_list, sample_row

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
PERIOD = "2025-03"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Intake:
    """A running intake service with an HTTP client holding a valid token."""

    def __init__(self, runtime: Runtime, client: httpx.AsyncClient, mint: TokenMint) -> None:
        self.runtime = runtime
        self.client = client
        self.mint = mint

    def auth(self, **claims: Any) -> dict[str, str]:
        claims.setdefault("employer_no", EMPLOYER_NO)
        return {"Authorization": f"Bearer {self.mint.mint(**claims)}"}

    async def upload(
        self, content: bytes, *, period: str = PERIOD, kind: str = "xlsx", **claims: Any
    ) -> httpx.Response:
        media = XLSX if kind == "xlsx" else "application/json"
        return await self.client.post(
            f"/employers/{EMPLOYER_NO}/lists/{period}",
            content=content,
            headers={"Content-Type": media, **self.auth(**claims)},
        )

    async def report(self, upload_id: str) -> dict[str, Any]:
        """The report once the check has run."""
        answer: dict[str, Any] = {}

        async def checked() -> bool:
            nonlocal answer
            response = await self.client.get(
                f"/employers/{EMPLOYER_NO}/uploads/{upload_id}", headers=self.auth()
            )
            answer = response.json()
            return response.status_code == 200 and answer.get("state") == "checked"

        await eventually(checked, timeout=30, what="the upload to be checked")
        await wait_outbox_drained(self.runtime)
        return answer


@pytest.fixture
async def intake(start_runtime: StartRuntime, prefix: str, tmp_path: Path) -> AsyncIterator[Intake]:
    mint = TokenMint(clock=FixedClock(NOW))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    settings = fast_settings(prefix, auth_jwks_file=jwks, intake_check_poll_s=0.2)
    runtime = await start_runtime(spec_of("intake"), settings=settings, clock=FixedClock(NOW))
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield Intake(runtime, client, mint)


def three_rows() -> list[dict[str, Any]]:
    return [sample_row(i) for i in range(3)]


async def test_an_uploaded_list_is_kept_checked_once_and_its_rows_published(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    content = build_list(three_rows())
    first = await intake.upload(content)
    assert first.status_code == 202, first.text
    upload_id = first.json()["upload_id"]
    assert first.json()["duplicate"] is False
    report = await intake.report(upload_id)
    assert report["status"] == "ok", report["findings"]
    assert report["rows"] == 3 and report["on_time"] is True
    assert report["due_date"] == "2025-04-15" and report["in_force"] is True

    again = await intake.upload(content)  # the same file twice is the same upload
    assert again.status_code == 200 and again.json() == first.json() | {
        "duplicate": True,
        "state": "checked",
    }
    await wait_outbox_drained(intake.runtime)

    received = await payloads(bootstrap, prefix + ListReceived.TOPIC)
    assert [p["upload_id"] for p in received] == [upload_id]
    assert received[0]["channel"] == "http" and received[0]["file_kind"] == "xlsx"
    checked = await payloads(bootstrap, prefix + ListChecked.TOPIC)
    assert len(checked) == 1 and checked[0]["status"] == "ok" and checked[0]["row_count"] == 3
    # the list's rows in one part (up to 100 rows a part), keyed by employer, in list order
    [record] = await read_topic(bootstrap, prefix + RowsValidated.TOPIC)
    part = json.loads(record.value or b"")
    assert record.key == str(EMPLOYER_NO).encode()
    assert part["correlation_id"] == upload_id and part["payload"]["upload_id"] == upload_id
    assert part["payload"]["part_no"] == 1
    assert [r["row_no"] for r in part["payload"]["rows"]] == [2, 3, 4]

    assert intake.runtime.pool is not None
    stored = await intake.runtime.pool.fetchrow(
        "SELECT content, received_by FROM uploads WHERE upload_id = $1", uuid.UUID(upload_id)
    )
    assert stored is not None and bytes(stored["content"]) == content  # kept as received


async def test_a_faulty_list_is_reported_on_its_cells_and_publishes_no_rows(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    rows = three_rows()
    rows[1]["Q"] = "756.1234.5678.90"  # wrong check digit
    rows[2]["A"] = "Meier"
    answer = await intake.upload(build_list(rows))
    report = await intake.report(answer.json()["upload_id"])
    assert report["status"] == "faulty" and report["in_force"] is False
    cells = {(f["row"], f["column"], f["code"]) for f in report["findings"]}
    assert {(3, "Q", "ahv.checksum"), (4, "A", "capitals")} <= cells
    assert report["counts_by_code"]["ahv.checksum"] == 1
    assert not await read_topic(bootstrap, prefix + RowsValidated.TOPIC)
    checked = await payloads(bootstrap, prefix + ListChecked.TOPIC)
    assert checked[0]["status"] == "faulty" and checked[0]["error_count"] >= 2

    annotated = await intake.client.get(
        f"/employers/{EMPLOYER_NO}/uploads/{report['upload_id']}/report.xlsx",
        headers=intake.auth(),
    )
    assert annotated.status_code == 200
    book = load_workbook(io.BytesIO(annotated.content))
    comment = book["Mutationen"]["Q3"].comment
    assert comment is not None and "ahv.checksum" in comment.text
    assert len(book.sheetnames) >= 2  # plus the summary sheet


async def test_json_rows_get_the_same_findings_as_the_same_workbook(intake: Intake) -> None:
    rows = three_rows()
    rows[0]["S"] = "31.02.1980"  # no such day
    xlsx = await intake.report((await intake.upload(build_list(rows))).json()["upload_id"])
    json_rows = [_json_row(row) for row in rows]
    sent = await intake.upload(json.dumps({"rows": json_rows}).encode(), kind="json")
    assert sent.status_code == 202
    report = await intake.report(sent.json()["upload_id"])
    assert report["file_kind"] == "json"

    def cells(r: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {(f["row"], f["column"], f["code"]) for f in r["findings"]}

    assert cells(report) == cells(xlsx) and (2, "S", "date.format") in cells(report)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a sheet row: ListRow field names, JSON values."""
    from services.intake.model import COLUMNS

    result: dict[str, Any] = {}
    for column in COLUMNS:
        value = row.get(column.letter)
        if value is None:
            continue
        result[column.field] = value.isoformat() if isinstance(value, date) else value
    return result


async def test_every_route_wants_a_token_for_this_employer_with_mutations(
    intake: Intake,
) -> None:
    url = f"/employers/{EMPLOYER_NO}/lists"
    assert (await intake.client.get(url)).status_code == 401
    other = await intake.client.get(url, headers=intake.auth(employer_no=EMPLOYER_NO + 1))
    assert other.status_code == 403 and other.json()["code"] == "access.denied"
    no_topic = await intake.client.get(url, headers=intake.auth(topics=["contributions"]))
    assert no_topic.status_code == 403 and no_topic.json()["code"] == "access.topic"
    template = await intake.client.get(f"{url}/template", headers=intake.auth())
    assert template.status_code == 200 and template.headers["content-type"] == XLSX
    sent = await intake.upload(build_list(three_rows()), employer_no=EMPLOYER_NO + 1)
    assert sent.status_code == 403
    assert intake.runtime.pool is not None
    assert await intake.runtime.pool.fetchval("SELECT count(*) FROM uploads") == 0


async def test_bad_requests_get_a_code_and_a_sentence(intake: Intake) -> None:
    url = f"/employers/{EMPLOYER_NO}/lists/{PERIOD}"
    wrong_type = await intake.client.post(
        url, content=b"x", headers={"Content-Type": "text/plain", **intake.auth()}
    )
    assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "request.media_type"
    future = await intake.upload(build_list(three_rows()), period="2025-06")
    assert future.status_code == 422 and future.json()["code"] == "period.future"
    empty = await intake.upload(b"")
    assert empty.status_code == 400 and empty.json()["code"] == "file.empty"
    png = await intake.upload(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    report = await intake.report(png.json()["upload_id"])  # stored, then reported unreadable
    assert report["status"] == "unreadable"
    assert [f["code"] for f in report["findings"]] == ["file.unreadable"]
    unknown = await intake.client.get(
        f"/employers/{EMPLOYER_NO}/uploads/{uuid.uuid4()}", headers=intake.auth()
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "upload.not_found"


def invoice_issued(
    number: str, on: date, total: str, *, contributions: bool = True
) -> InvoiceIssued:
    return InvoiceIssued.new(
        occurred_at=NOW,
        employer_no=EMPLOYER_NO,
        correlation_id=f"invoice-{number}",
        payload=InvoiceIssuedPayload(
            invoice_id=uuid.uuid4(),
            invoice_no=number,
            qr_reference="210000000003139471430009017",
            invoice_date=on,
            due_date=on + timedelta(days=30),
            periods=[PERIOD],
            total=Decimal(total),
            contributions=contributions,
        ),
    )


async def test_a_new_error_free_list_replaces_the_previous_until_the_period_is_invoiced(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    first = (await intake.upload(build_list(three_rows()))).json()["upload_id"]
    await intake.report(first)
    # An invoice of fees only, issued in the period's month, does not invoice its list.
    fees_only = invoice_issued("2025-0000", date(2025, 4, 10), "20.00", contributions=False)
    await publish(bootstrap, prefix, [fees_only])
    assert intake.runtime.pool is not None
    handled = intake.runtime.pool

    async def fees_handled() -> bool:
        return bool(
            await handled.fetchval(
                "SELECT count(*) FROM inbox WHERE event_id = $1", fees_only.event_id
            )
        )

    await eventually(fees_handled, what="the fee invoice to be handled")
    second = (await intake.upload(build_list(three_rows()[:2]))).json()["upload_id"]
    replaced = await intake.report(second)
    assert replaced["replaces_upload_id"] == first and replaced["in_force"] is True

    invoice = invoice_issued("2025-0001", date(2025, 4, 20), "100.00")
    await publish(bootstrap, prefix, [invoice])
    assert intake.runtime.pool is not None
    pool = intake.runtime.pool

    async def invoiced() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM invoiced_periods"))

    await eventually(invoiced, what="the invoice to be projected")
    third = (await intake.upload(build_list(three_rows()[:1]))).json()["upload_id"]
    late = await intake.report(third)
    assert late["status"] == "faulty" and late["in_force"] is False
    assert [f["code"] for f in late["findings"]] == ["period.invoiced"]
    statuses = [p["status"] for p in await payloads(bootstrap, prefix + ListChecked.TOPIC)]
    assert statuses == ["ok", "ok", "faulty"]


async def test_lateness_follows_the_business_clock(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    day = DayStarted.new(
        occurred_at=NOW,
        employer_no=0,
        correlation_id="clock",
        payload=DayStartedPayload(business_date=date(2025, 4, 16)),
    )
    await publish(bootstrap, prefix, [day])
    assert intake.runtime.pool is not None
    pool = intake.runtime.pool

    async def ticked() -> bool:
        day: date | None = await pool.fetchval("SELECT day FROM business_day")
        return day == date(2025, 4, 16)

    await eventually(ticked, what="the business day")
    report = await intake.report(
        (await intake.upload(build_list(three_rows()))).json()["upload_id"]
    )
    assert report["on_time"] is False and report["received_on"] == "2025-04-16"


async def test_a_connector_submission_in_parts_is_assembled_and_checked_like_an_upload(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    rows = [_json_row(sample_row(i)) for i in range(5)]
    rows[4]["ahv"] = "7561234567890"  # no dots: a finding, not a dead letter

    def part(no: int, chunk: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "type": "intake.list-submitted",
            "version": 1,
            "occurred_at": NOW.isoformat(),
            "employer_no": EMPLOYER_NO,
            "correlation_id": "payroll-run-7",
            "payload": {
                "submission_id": "payroll-run-7",
                "period": PERIOD,
                "part_no": no,
                "part_count": 2,
                "rows": chunk,
                "language": "fr",
            },
        }

    second = part(2, rows[3:])
    await publish_raw(bootstrap, prefix + ListSubmitted.TOPIC, [second, part(1, rows[:3]), second])
    assert intake.runtime.pool is not None
    pool = intake.runtime.pool

    async def assembled() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM submissions"))

    await eventually(assembled, what="the submission to be assembled")
    upload_id = await pool.fetchval("SELECT upload_id FROM uploads WHERE channel = 'kafka'")
    report = await intake.report(str(upload_id))
    assert report["rows"] == 5 and report["status"] == "faulty"
    assert {(f["row"], f["column"], f["code"]) for f in report["findings"]} == {
        (6, "Q", "ahv.format")
    }
    assert await pool.fetchval("SELECT count(*) FROM uploads") == 1
    assert not await read_topic(bootstrap, prefix + ListSubmitted.TOPIC + ".dlq")


async def publish_raw(bootstrap: str, topic: str, messages: list[dict[str, Any]]) -> None:
    """Messages as a connector sends them: JSON we have not validated."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for message in messages:
            key = str(message["employer_no"]).encode()
            await producer.send_and_wait(topic, json.dumps(message).encode(), key=key)
    finally:
        await producer.stop()


async def test_pricing_completes_the_report_with_declared_warnings_in_the_row_language(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    rows = three_rows()
    rows[1]["P"] = 2  # French
    upload_id = (await intake.upload(build_list(rows))).json()["upload_id"]
    report = await intake.report(upload_id)
    assert report["status"] == "ok"
    priced = [_priced(upload_id, row_no, warn=row_no == 3) for row_no in (2, 3, 4)]
    part = pack(priced)  # the list's rows priced, in one part as pricing publishes them
    await publish(bootstrap, prefix, [part, part])  # redelivered
    assert intake.runtime.pool is not None
    pool = intake.runtime.pool

    async def complete() -> bool:
        return bool(await pool.fetchval("SELECT rows_priced = 3 FROM reports"))

    await eventually(complete, what="the report to be completed")
    done = await intake.report(upload_id)
    assert done["pricing"] == {"rows_priced": 3, "complete": True}
    declared = [f for f in done["findings"] if f["code"].startswith("declared.")]
    assert [(f["row"], f["column"], f["severity"]) for f in declared] == [(3, "J", "warning")]
    assert done["warning_count"] == 1 and done["counts_by_code"]["declared.insured_wage"] == 1
    assert "calcul" in declared[0]["message"]  # French: "calculé"


def _priced(upload_id: str, row_no: int, *, warn: bool) -> RowPriced:
    findings = (
        [
            PricingFinding(
                code="declared.insured_wage",
                message="The declared insured wage differs from the computed one.",
                declared=Decimal("1000.00"),
                computed=Decimal("1200.00"),
            )
        ]
        if warn
        else []
    )
    return RowPriced.new(
        occurred_at=NOW,
        employer_no=EMPLOYER_NO,
        correlation_id=upload_id,
        payload=RowPricedPayload(
            upload_id=uuid.UUID(upload_id),
            period=PERIOD,
            row_no=row_no,
            ahv=str(sample_row(row_no - 2)["Q"]),
            bvg_age=40,
            subject=True,
            hourly_base_wage=Decimal("30.00"),
            insured_hourly_wage=Decimal("10.00"),
            insured_wage=Decimal("1200.00"),
            rate=Decimal("0.10"),
            premium_total=Decimal("120.00"),
            employer_share=Decimal("60.00"),
            employee_share=Decimal("60.00"),
            savings_part=Decimal("100.00"),
            parameter_version="test",
            findings=findings,
        ),
    )


async def test_an_upload_stored_before_a_crash_is_checked_by_the_next_checker(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path, bootstrap: str
) -> None:
    """Nothing accepted is lost: the check runs after a restart."""
    mint = TokenMint(clock=FixedClock(NOW))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    settings = fast_settings(prefix, auth_jwks_file=jwks, intake_check_poll_s=0.2)
    crashed = await start_runtime(
        spec_of("intake"), settings=settings, clock=FixedClock(NOW), run_workers=False
    )
    app = create_app(crashed)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as client:
        sent = await client.post(
            f"/employers/{EMPLOYER_NO}/lists/{PERIOD}",
            content=build_list(three_rows()),
            headers={
                "Content-Type": XLSX,
                "Authorization": f"Bearer {mint.mint(employer_no=EMPLOYER_NO)}",
            },
        )
    assert sent.status_code == 202
    await crashed.stop()  # died before checking

    restarted = await start_runtime(spec_of("intake"), settings=settings, clock=FixedClock(NOW))
    assert restarted.pool is not None
    pool = restarted.pool

    async def checked() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM reports WHERE status = 'ok'"))

    await eventually(checked, timeout=30, what="the stored upload to be checked")
    await wait_outbox_drained(restarted)
    assert len(await read_topic(bootstrap, prefix + ListChecked.TOPIC)) == 1
    [part] = await parts(bootstrap, prefix + RowsValidated.TOPIC)
    assert [r["row_no"] for r in part["rows"]] == [2, 3, 4]


async def test_a_database_failure_while_saving_the_check_loses_nothing(
    intake: Intake, bootstrap: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store.save_report
    failures = iter([True])

    async def flaky(*args: Any, **kwargs: Any) -> None:
        if next(failures, False):
            raise asyncpg.ConnectionDoesNotExistError("connection lost (injected)")
        await real(*args, **kwargs)

    monkeypatch.setattr(store, "save_report", flaky)
    upload_id = (await intake.upload(build_list(three_rows()))).json()["upload_id"]
    report = await intake.report(upload_id)
    assert report["status"] == "ok"
    assert len(await read_topic(bootstrap, prefix + ListChecked.TOPIC)) == 1
    [part] = await parts(bootstrap, prefix + RowsValidated.TOPIC)
    assert [r["row_no"] for r in part["rows"]] == [2, 3, 4]


async def test_a_full_part_of_5000_rows_goes_through(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    """The largest part a connector may send (about 3 MB of JSON) is consumed and checked."""
    rows = [_json_row(sample_row(i)) for i in range(MAX_ROWS_PER_PART)]
    message = {
        "event_id": str(uuid.uuid4()),
        "type": "intake.list-submitted",
        "version": 1,
        "occurred_at": NOW.isoformat(),
        "employer_no": EMPLOYER_NO,
        "correlation_id": "payroll-big",
        "payload": {
            "submission_id": "payroll-big",
            "period": PERIOD,
            "part_no": 1,
            "part_count": 1,
            "rows": rows,
            "language": "de",
        },
    }
    value = json.dumps(message).encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, max_request_size=16 * 2**20
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            prefix + ListSubmitted.TOPIC, value, key=str(EMPLOYER_NO).encode()
        )
    finally:
        await producer.stop()
    assert intake.runtime.pool is not None
    pool = intake.runtime.pool

    async def assembled() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM submissions"))

    await eventually(assembled, timeout=60, what="the big part to be assembled")
    upload_id = await pool.fetchval("SELECT upload_id FROM uploads")
    report = await intake.report(str(upload_id))
    assert (report["status"], report["rows"]) == ("ok", MAX_ROWS_PER_PART), report["findings"][:3]
    assert len(value) > 2**20  # over Kafka's default 1 MiB message size


async def test_a_burst_of_50_lists_in_the_same_second_is_each_stored_and_checked_once(
    intake: Intake, bootstrap: str, prefix: str
) -> None:
    """Issue 9: 50 lists arrive at once (here: 50 periods of one employer, 3 rows each)."""
    periods = [f"{2021 + k // 12}-{k % 12 + 1:02d}" for k in range(50)]
    files = {
        p: build_list([sample_row(i, year=int(p[:4]), month=int(p[5:])) for i in range(3)])
        for p in periods
    }
    answers = await asyncio.gather(*(intake.upload(files[p], period=p) for p in periods))
    assert [a.status_code for a in answers] == [202] * 50, [a.text for a in answers][:3]
    ids = {a.json()["upload_id"] for a in answers}
    assert len(ids) == 50

    async def all_checked() -> bool:
        return len(await payloads(bootstrap, prefix + ListChecked.TOPIC)) >= 50

    await eventually(all_checked, timeout=90, what="50 lists checked")
    await wait_outbox_drained(intake.runtime)
    checked = await payloads(bootstrap, prefix + ListChecked.TOPIC)
    assert sorted(c["upload_id"] for c in checked) == sorted(ids)  # each once
    assert {c["status"] for c in checked} == {"ok"}
    validated = await parts(bootstrap, prefix + RowsValidated.TOPIC)
    assert len(validated) == 50  # one part a list (3 rows), each list once
    assert sorted(p["upload_id"] for p in validated) == sorted(ids)
    assert sum(len(p["rows"]) for p in validated) == 150
