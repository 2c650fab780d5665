"""The billing service on the real broker and database: priced lists in, invoices with
QR references out; fees, corrections, payments from camt.054, interest, due invoices."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.envelope import Envelope
from contracts.events.auth import EmployerChanged
from contracts.events.billing import BalanceChanged, InvoiceDue, InvoiceIssued, PaymentReceived
from contracts.events.clock import DayStarted, DayStartedPayload
from contracts.events.pricing import (
    ListPriced,
    ListPricedPayload,
    ListTotals,
    PricingFeeCharged,
    PricingFeeChargedPayload,
    RowPriced,
    RowPricedPayload,
)
from services.auth.demo import DEMO_EMPLOYER
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_pricing_service import payloads, publish, wait_outbox_drained
from tests.support.camt import write_camt054
from tests.support.cli import run_cli
from tests.support.kafka import eventually
from tests.support.parts import in_parts
from tests.support.tokens import TokenMint

EMPLOYER = 1001
NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
ZERO = Decimal("0.00")


def ahv(i: int) -> str:
    from tests.support.xlsx import ahv_number

    return ahv_number(i + 1)


def priced_list(
    period: str, premiums: list[str], *, rows_first: bool = True, at: datetime = NOW
) -> tuple[uuid.UUID, list[Envelope]]:
    """A priced list of `period`: one row per premium (worker i), in the parts of the list
    as pricing publishes them, and its list event."""
    upload = uuid.uuid4()
    rows: list[Envelope] = []
    for i, premium in enumerate(premiums):
        amount = Decimal(premium)
        rows.append(
            RowPriced.new(
                occurred_at=at,
                employer_no=EMPLOYER,
                correlation_id=str(upload),
                payload=RowPricedPayload(
                    upload_id=upload,
                    period=period,
                    row_no=i + 2,
                    ahv=ahv(i),
                    bvg_age=40,
                    subject=True,
                    hourly_base_wage=Decimal("30.00"),
                    insured_hourly_wage=Decimal("10.00"),
                    insured_wage=amount * 10,
                    rate=Decimal("0.10"),
                    premium_total=amount,
                    employer_share=amount / 2,
                    employee_share=amount / 2,
                    savings_part=amount,
                    parameter_version="test",
                    findings=[],
                ),
            )
        )
    total = sum((Decimal(p) for p in premiums), ZERO)
    listed = ListPriced.new(
        occurred_at=at,
        employer_no=EMPLOYER,
        correlation_id=str(upload),
        payload=ListPricedPayload(
            upload_id=upload,
            period=period,
            row_count=len(premiums),
            totals=ListTotals(
                insured_wage=total * 10,
                premium_total=total,
                employer_share=total / 2,
                employee_share=total / 2,
            ),
        ),
    )
    packed: list[Envelope] = list(in_parts(rows))
    return upload, [*packed, listed] if rows_first else [listed, *packed]


def correction_fee(amount: str, period: str, *, rows: int) -> PricingFeeCharged:
    """Art. 24: pricing charged a correction fee of `amount`."""
    return PricingFeeCharged.new(
        occurred_at=NOW,
        employer_no=EMPLOYER,
        correlation_id="fee",
        payload=PricingFeeChargedPayload(
            fee_id=uuid.uuid4(),
            kind="correction",
            amount=Decimal(amount),
            article="Art. 24",
            period=period,
            reason="Rows corrected by the foundation.",
            upload_id=uuid.uuid4(),
            row_count=rows,
        ),
    )


def day(d: date) -> DayStarted:
    return DayStarted.new(
        occurred_at=datetime(d.year, d.month, d.day, 5, tzinfo=UTC),
        employer_no=0,
        correlation_id=f"clock-{d}",
        payload=DayStartedPayload(business_date=d),
    )


def employer_changed() -> EmployerChanged:
    return EmployerChanged.new(
        occurred_at=NOW, employer_no=EMPLOYER, correlation_id="affiliation", payload=DEMO_EMPLOYER
    )


class Billing:
    def __init__(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient,
        mint: TokenMint,
        bootstrap: str,
        prefix: str,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.mint = mint
        self.bootstrap = bootstrap
        self.prefix = prefix

    async def send(self, *events: Envelope) -> None:
        await publish(self.bootstrap, self.prefix, list(events))

    async def count(self, sql: str, *args: Any) -> int:
        assert self.runtime.pool is not None
        return int(await self.runtime.pool.fetchval(sql, *args))

    async def until(self, sql: str, n: int, what: str) -> None:
        async def enough() -> bool:
            return await self.count(sql) >= n

        await eventually(enough, timeout=30, what=what)
        await wait_outbox_drained(self.runtime)

    async def invoices(self) -> list[dict[str, Any]]:
        return await payloads(self.bootstrap, self.prefix + InvoiceIssued.TOPIC)

    def employer(self) -> dict[str, str]:
        token = self.mint.mint(employer_no=EMPLOYER, topics=["contributions"])
        return {"Authorization": f"Bearer {token}"}

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.mint(kind='operator', level=3, topics=[])}"}


@pytest.fixture
async def service(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path, bootstrap: str
) -> AsyncIterator[Billing]:
    mint = TokenMint(clock=FixedClock(NOW))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    settings = fast_settings(prefix, auth_jwks_file=jwks)
    runtime = await start_runtime(spec_of("billing"), settings=settings, clock=FixedClock(NOW))
    app = create_app(runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billing"
    ) as client:
        billing = Billing(runtime, client, mint, bootstrap, prefix)
        await billing.send(employer_changed(), day(date(2025, 4, 10)))
        await billing.until("SELECT count(*) FROM business_day", 1, "the business day")
        yield billing


async def test_january_to_march_is_one_collective_invoice(service: Billing) -> None:
    _, january = priced_list("2025-01", ["100.00", "50.00"])
    _, february = priced_list("2025-02", ["100.00"], rows_first=False)
    await service.send(*january, *february)
    await service.until("SELECT count(*) FROM periods", 2, "two priced periods")
    assert await service.count("SELECT count(*) FROM invoices") == 0  # waits for March
    _, march = priced_list("2025-03", ["25.50"])
    await service.send(*march)
    await service.until("SELECT count(*) FROM invoices", 1, "the collective invoice")
    [issued] = await service.invoices()
    assert issued["periods"] == ["2025-01", "2025-02", "2025-03"]
    assert (issued["total"], issued["invoice_date"], issued["due_date"]) == (
        "275.50",
        "2025-04-10",
        "2025-05-10",
    )
    assert len(issued["qr_reference"]) == 27
    lines = await service.count("SELECT count(*) FROM invoice_lines")
    assert lines == 4
    balances = await payloads(service.bootstrap, service.prefix + BalanceChanged.TOPIC)
    assert balances[-1]["open_balance"] == "275.50"


async def test_a_list_replaced_before_its_invoice_changes_the_invoice(service: Billing) -> None:
    _, first = priced_list("2025-01", ["100.00"], at=NOW)
    _, second = priced_list("2025-01", ["80.00"], at=NOW.replace(hour=9))
    await service.send(*first)
    await service.until("SELECT count(*) FROM periods", 1, "January")
    await service.send(*second)
    await service.until("SELECT count(*) FROM priced_lists WHERE complete", 2, "both lists")
    _, march = priced_list("2025-03", ["20.00"])
    await service.send(*march)
    await service.until("SELECT count(*) FROM invoices", 1, "the invoice")
    [issued] = await service.invoices()
    assert issued["total"] == "100.00"  # 80 (the replacement) + 20


async def test_a_month_is_invoiced_when_priced_and_a_late_correction_goes_on_the_next(
    service: Billing,
) -> None:
    _, april = priced_list("2025-04", ["100.00", "40.00"])
    await service.send(*april)
    await service.until("SELECT count(*) FROM invoices", 1, "the April invoice")
    _, replaced = priced_list("2025-04", ["100.00", "55.00"], at=NOW.replace(hour=10))
    fee = correction_fee("10.00", "2025-04", rows=1)
    await service.send(*replaced, fee, fee)  # the fee delivered twice
    await service.until("SELECT count(*) FROM pending_lines", 2, "correction and fee pending")
    _, may = priced_list("2025-05", ["10.00"])
    await service.send(*may)
    await service.until("SELECT count(*) FROM invoices", 2, "the May invoice")
    may_invoice = (await service.invoices())[-1]
    assert may_invoice["periods"] == ["2025-05"]
    assert may_invoice["total"] == "35.00"  # 10 + correction 15 + fee 10
    kinds = await service.count(
        "SELECT count(*) FROM invoice_lines l JOIN invoices i USING (invoice_id) "
        "WHERE i.sequence = 2 AND l.kind IN ('correction', 'fee')"
    )
    assert kinds == 2


@pytest.mark.parametrize("fee_first", [False, True], ids=["fee-last", "fee-first"])
async def test_a_lists_correction_fee_rides_on_the_lists_own_invoice_in_either_order(
    service: Billing, fee_first: bool
) -> None:
    """Pricing publishes a list's totals and its Art. 24 fee together, on two topics: the
    list waits for its fee (and the fee for its list), so the month's invoice carries the
    fee whichever topic billing reads first, never a later invoice of its own."""
    upload, events = priced_list("2025-04", ["100.00", "40.00"])
    fee = correction_fee("20.00", "2025-04", rows=2)
    fee = fee.model_copy(update={"payload": fee.payload.model_copy(update={"upload_id": upload})})
    *rows, listed = events
    assert isinstance(listed, ListPriced)
    listed = listed.model_copy(
        update={
            "payload": listed.payload.model_copy(update={"correction_fee_id": fee.payload.fee_id})
        }
    )
    if fee_first:
        await service.send(fee)
        await service.until("SELECT count(*) FROM pending_lines", 1, "the fee")
        await service.send(*rows, listed)
    else:
        await service.send(*rows, listed)
        await service.until("SELECT count(*) FROM priced_rows", 2, "the rows")
        await service.until("SELECT count(*) FROM priced_lists", 1, "the list")
        # list and rows are here, each transaction tried to complete the list: it waits
        assert await service.count("SELECT count(*) FROM priced_lists WHERE complete") == 0
        assert await service.count("SELECT count(*) FROM invoices") == 0
        await service.send(fee, fee)  # the fee delivered twice
    await service.until("SELECT count(*) FROM invoices", 1, "the April invoice")
    [issued] = await service.invoices()
    assert (issued["periods"], issued["total"]) == (["2025-04"], "160.00")  # 140 + fee 20
    lines = await service.count(
        "SELECT count(*) FROM invoice_lines WHERE kind = 'fee' AND amount = 20.00"
    )
    assert lines == 1
    assert await service.count("SELECT count(*) FROM pending_lines WHERE invoice_id IS NULL") == 0


async def test_payments_from_camt054_partial_over_unknown_and_imported_twice(
    service: Billing,
) -> None:
    _, april = priced_list("2025-04", ["300.00"])
    _, may = priced_list("2025-05", ["100.00"])
    await service.send(*april, *may)
    await service.until("SELECT count(*) FROM invoices", 2, "two invoices")
    first, second = await service.invoices()
    camt = write_camt054(
        [
            {
                "amount": "120.00",
                "reference": first["qr_reference"],
                "reference_type": "QRR",
                "value_date": date(2025, 4, 20),
            },
            {
                "amount": "180.00",
                "reference": first["qr_reference"],
                "reference_type": "QRR",
                "value_date": date(2025, 4, 21),
            },
            {
                "amount": "150.00",
                "reference": second["qr_reference"],
                "reference_type": "QRR",
                "value_date": date(2025, 4, 22),
            },
            {
                "amount": "77.00",
                "reference": "210000000003139471430009017",
                "reference_type": "QRR",
                "value_date": date(2025, 4, 22),
            },
        ]
    )
    url = "/payments/camt054"
    answer = await service.client.post(url, content=camt, headers=service.operator())
    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in ("entries", "booked", "duplicates", "unmatched")} == {
        "entries": 4,
        "booked": 3,
        "duplicates": 0,
        "unmatched": 1,
    }
    again = await service.client.post(url, content=camt, headers=service.operator())
    assert again.json()["booked"] == 0 and again.json()["duplicates"] == 4
    await wait_outbox_drained(service.runtime)
    received = await payloads(service.bootstrap, service.prefix + PaymentReceived.TOPIC)
    assert len(received) == 3
    statement = (
        await service.client.get(f"/employers/{EMPLOYER}/statement", headers=service.employer())
    ).json()
    assert statement["open_balance"] == "-50.00"  # the overpayment is a credit
    assert [p["kind"] for p in statement["pending"]] == ["credit"]
    unmatched = await service.client.get("/payments/unmatched", headers=service.operator())
    assert [p["amount"] for p in unmatched.json()] == ["77.00"]
    refused = await service.client.post(url, content=camt, headers=service.employer())
    assert refused.status_code == 403


async def test_an_unpaid_invoice_becomes_due_once_and_a_late_payment_owes_interest(
    service: Billing,
) -> None:
    _, april = priced_list("2025-04", ["1000.00"])
    await service.send(*april)
    await service.until("SELECT count(*) FROM invoices", 1, "the invoice")
    [issued] = await service.invoices()
    assert issued["due_date"] == "2025-05-10"
    await service.send(day(date(2025, 5, 10)), day(date(2025, 5, 11)), day(date(2025, 5, 12)))
    await service.until("SELECT count(*) FROM invoices WHERE due_notified", 1, "due")
    await service.until("SELECT count(*) FROM business_day WHERE day = '2025-05-12'", 1, "day")
    due = await payloads(service.bootstrap, service.prefix + InvoiceDue.TOPIC)
    assert [(d["due_date"], d["open_amount"]) for d in due] == [("2025-05-10", "1000.00")]
    payment = {
        "amount": "1000.00",
        "value_date": "2026-05-10",
        "booking_id": "bank-1",
        "qr_reference": issued["qr_reference"],
    }
    answer = await service.client.post("/payments", json=payment, headers=service.operator())
    assert answer.status_code == 201 and answer.json() == {"outcome": "booked"}
    interest = "SELECT count(*) FROM pending_lines WHERE kind = 'interest' AND amount = 60.00"
    assert await service.count(interest) == 1  # 6 % of 1,000 for one year (Art. 21.3)


async def test_employers_read_their_invoices_as_json_pdf_and_qr_slip(service: Billing) -> None:
    _, april = priced_list("2025-04", ["123.45"])
    await service.send(*april)
    await service.until("SELECT count(*) FROM invoices", 1, "the invoice")
    listed = await service.client.get(f"/employers/{EMPLOYER}/invoices", headers=service.employer())
    [invoice] = listed.json()
    base = f"/employers/{EMPLOYER}/invoices/{invoice['invoice_id']}"
    detail = (await service.client.get(base, headers=service.employer())).json()
    assert [line["worker"] for line in detail["lines"]] == [ahv(0)]
    pdf = await service.client.get(f"{base}/invoice.pdf", headers=service.employer())
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    svg = await service.client.get(f"{base}/qr-bill.svg", headers=service.employer())
    assert svg.status_code == 200 and b"<svg" in svg.content
    token = service.mint.mint(employer_no=EMPLOYER + 1, topics=["contributions"])
    other = {"Authorization": f"Bearer {token}"}
    assert (await service.client.get(base, headers=other)).status_code == 403
    unknown = f"/employers/{EMPLOYER}/invoices/{uuid.uuid4()}"
    assert (await service.client.get(unknown, headers=service.employer())).status_code == 404


async def test_the_collective_invoice_goes_out_on_its_cutoff_without_march(
    service: Billing,
) -> None:
    _, january = priced_list("2025-01", ["100.00"])
    await service.send(*january)
    await service.until("SELECT count(*) FROM periods", 1, "January")
    await service.send(day(date(2025, 4, 29)))
    await service.until("SELECT count(*) FROM business_day WHERE day = '2025-04-29'", 1, "29th")
    assert await service.count("SELECT count(*) FROM invoices") == 0
    await service.send(day(date(2025, 4, 30)))  # the configured cut-off (04-30)
    await service.until("SELECT count(*) FROM invoices", 1, "the collective invoice")
    [issued] = await service.invoices()
    assert (issued["periods"], issued["invoice_date"]) == (["2025-01"], "2025-04-30")


async def test_a_fee_waiting_too_long_gets_an_invoice_of_its_own(service: Billing) -> None:
    fee = correction_fee("20.00", "2025-03", rows=2)
    await service.send(fee)
    await service.until("SELECT count(*) FROM pending_lines", 1, "the fee")
    await service.send(day(date(2025, 5, 9)))
    await service.until("SELECT count(*) FROM business_day WHERE day = '2025-05-09'", 1, "day")
    assert await service.count("SELECT count(*) FROM invoices") == 0  # 29 days: waits
    await service.send(day(date(2025, 5, 10)))
    await service.until("SELECT count(*) FROM invoices", 1, "the fee invoice")
    [issued] = await service.invoices()
    assert (issued["total"], issued["periods"]) == ("20.00", ["2025-05"])
    assert issued["contributions"] is False


async def test_bvgconnect_payments_import_books_a_file_once(
    service: Billing, dsn: str, bootstrap: str, tmp_path: Path
) -> None:
    _, april = priced_list("2025-04", ["80.00"])
    await service.send(*april)
    await service.until("SELECT count(*) FROM invoices", 1, "the invoice")
    [issued] = await service.invoices()
    camt = tmp_path / "camt054.xml"
    credit = {"amount": "80.00", "reference": issued["qr_reference"], "reference_type": "QRR"}
    camt.write_bytes(write_camt054([credit | {"value_date": date(2025, 4, 30)}]))  # type: ignore[list-item]
    env = {**os.environ, "DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    first = run_cli(env, "payments", "import", str(camt))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["booked"] == 1
    again = run_cli(env, "payments", "import", str(camt))
    assert json.loads(again.stdout)["duplicates"] == 1
    await service.until("SELECT count(*) FROM outbox WHERE topic LIKE '%payment-received%'", 1, "")
    [received] = await payloads(service.bootstrap, service.prefix + PaymentReceived.TOPIC)
    assert (received["amount"], received["source"]) == ("80.00", "camt054")
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<not camt")
    refused = run_cli(env, "payments", "import", str(broken))
    assert refused.returncode == 1 and "camt.unreadable" in refused.stderr
