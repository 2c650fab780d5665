"""The dunning service on the real broker and database: both ladders from clock days,
lists and balances in, steps, fees and terminations out (RULES §9)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.envelope import Envelope
from contracts.events.auth import EmployerChanged
from contracts.events.billing import (
    BalanceChanged,
    BalanceChangedPayload,
    InvoiceDue,
    InvoiceDuePayload,
)
from contracts.events.clock import DayStarted, DayStartedPayload
from contracts.events.coverage import CoverageChanges
from contracts.events.dunning import AffiliationTerminated, DunningFeeCharged, ReminderEscalated
from contracts.events.intake import ListChecked, ListCheckedPayload
from services.auth.demo import DEMO_EMPLOYER
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_pricing_service import payloads, publish, wait_outbox_drained
from tests.support.kafka import eventually
from tests.support.tokens import TokenMint
from tests.support.xlsx import ahv_number

EMPLOYER = 1001
NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
CHANGED_EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "contracts/examples/coverage.changed.v2/part-of-a-list.json"
).read_text()


def day(d: date) -> DayStarted:
    return DayStarted.new(
        occurred_at=datetime(d.year, d.month, d.day, 5, tzinfo=UTC),
        employer_no=0,
        correlation_id=f"clock-{d}",
        payload=DayStartedPayload(business_date=d),
    )


def checked(period: str, status: str, received: date) -> ListChecked:
    upload = uuid.uuid4()
    return ListChecked.new(
        occurred_at=datetime(received.year, received.month, received.day, 9, tzinfo=UTC),
        employer_no=EMPLOYER,
        correlation_id=str(upload),
        payload=ListCheckedPayload(
            upload_id=upload,
            period=period,
            status=status,
            row_count=1,
            error_count=0 if status == "ok" else 1,
            warning_count=0,
            counts_by_code={},
            on_time=False,
            due_date=date(2025, 4, 15),
            received_on=received,
            replaces_upload_id=None,
        ),
    )


class Dunning:
    def __init__(self, runtime: Runtime, bootstrap: str, prefix: str) -> None:
        self.runtime = runtime
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.ticks = 0
        self.operator: dict[str, str] = {}
        self.employer: dict[str, str] = {}
        self.client: httpx.AsyncClient

    async def send(self, *events: Envelope) -> None:
        await publish(self.bootstrap, self.prefix, list(events))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        assert self.runtime.pool is not None
        return await self.runtime.pool.fetchval(sql, *args)

    async def affiliate(self) -> None:
        """The demo employer, affiliated from March 2025, in dunning's projection."""
        affiliation = DEMO_EMPLOYER.model_copy(update={"affiliated_from": date(2025, 3, 1)})
        await self.send(
            EmployerChanged.new(
                occurred_at=NOW, employer_no=EMPLOYER, correlation_id="aff", payload=affiliation
            )
        )

        async def projected() -> bool:
            return int(await self.fetchval("SELECT count(*) FROM employers")) == 1

        await eventually(projected, timeout=30, what="the employer")

    def http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.runtime)), base_url="http://dunning"
        )

    async def tick(self, *days: date) -> None:
        """Clock days, one after another, each handled before the next."""
        for d in days:
            await self.send(day(d))
            self.ticks += 1
            want = self.ticks

            async def handled(want: int = want) -> bool:
                seen = await self.fetchval(
                    "SELECT count(*) FROM inbox WHERE topic LIKE $1", "%" + DayStarted.TOPIC
                )
                return int(seen) >= want

            await eventually(handled, timeout=30, what=f"clock day {d}")
        await wait_outbox_drained(self.runtime)

    async def steps(self) -> list[tuple[str, str, str]]:
        found = await payloads(self.bootstrap, self.prefix + ReminderEscalated.TOPIC)
        return [(p["track"], p["step"], p["business_date"]) for p in found]


@pytest.fixture
async def service(
    start_runtime: StartRuntime, prefix: str, bootstrap: str, tmp_path: Path
) -> AsyncIterator[Dunning]:
    mint = TokenMint(clock=FixedClock(NOW))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    settings = fast_settings(prefix, auth_jwks_file=jwks)
    runtime = await start_runtime(spec_of("dunning"), settings=settings, clock=FixedClock(NOW))
    d = Dunning(runtime, bootstrap, prefix)
    token = mint.mint(kind="operator", level=3, topics=[])
    d.operator = {"Authorization": f"Bearer {token}"}
    d.employer = {
        "Authorization": f"Bearer {mint.mint(employer_no=EMPLOYER, topics=['reminders'])}"
    }
    await d.affiliate()
    async with d.http_client() as client:
        d.client = client
        yield d


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


async def test_data_ladder_day_by_day_faulty_then_corrected_closes_it(service: Dunning) -> None:
    """Period 2025-03, due 2025-04-15: reminders on 04-25 (100) and 05-10 (300, registered,
    copy to the association); a faulty list counts as missing, the corrected one closes."""
    await service.tick(*days(date(2025, 4, 10), date(2025, 4, 26)))
    assert await service.steps() == [("data", "reminder_1", "2025-04-25")]
    assert await service.fetchval("SELECT opened_on FROM cases") == date(2025, 4, 16)
    await service.send(checked("2025-03", "faulty", date(2025, 5, 2)))
    await service.tick(date(2025, 5, 10), date(2025, 5, 10))  # a duplicate day
    await service.tick(date(2025, 5, 1))  # an older day
    assert await service.steps() == [
        ("data", "reminder_1", "2025-04-25"),
        ("data", "reminder_2", "2025-05-10"),
    ]
    [second] = [
        p
        for p in await payloads(service.bootstrap, service.prefix + ReminderEscalated.TOPIC)
        if p["step"] == "reminder_2"
    ]
    assert (second["fee"], second["registered"], second["copies"]) == (
        "300.00",
        True,
        ["association"],
    )
    fees = await payloads(service.bootstrap, service.prefix + DunningFeeCharged.TOPIC)
    assert [(f["kind"], f["amount"]) for f in fees] == [
        ("reminder", "100.00"),
        ("reminder", "300.00"),
    ]
    await service.send(checked("2025-03", "ok", date(2025, 5, 20)))

    async def closed() -> bool:
        return bool(await service.fetchval("SELECT close_reason FROM cases") == "delivered")

    await eventually(closed, timeout=30, what="the case closed by the corrected list")
    await service.tick(date(2025, 5, 25), date(2025, 5, 26))
    # no termination of March; April's list (due 05-15) is missing: its 1st reminder
    assert (await service.steps())[2:] == [("data", "reminder_1", "2025-05-25")]
    # April's list (due 05-15) never came: its case opened on the 16th
    assert await service.fetchval("SELECT count(*) FROM cases WHERE period = '2025-04'") == 1


async def test_missed_days_catch_up_to_termination(service: Dunning) -> None:
    await service.tick(date(2025, 4, 10), date(2025, 4, 20), date(2025, 5, 26))
    assert await service.steps() == [
        ("data", "reminder_1", "2025-04-25"),
        ("data", "reminder_2", "2025-05-10"),
        ("data", "termination", "2025-05-25"),
        ("data", "reminder_1", "2025-05-25"),  # April's list, due 05-15
    ]
    [ended] = await payloads(service.bootstrap, service.prefix + AffiliationTerminated.TOPIC)
    assert (ended["effective_date"], ended["decided_on"]) == ("2025-06-30", "2025-05-25")
    # every step taken is counted once, by ladder and step (bvg_reminders_total)
    async with service.http_client() as client:
        exposition = (await client.get("/metrics")).text
    counted = {
        (sample.labels["ladder"], sample.labels["step"]): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "bvg_reminders_total"
    }
    assert counted == {
        ("data", "reminder_1"): 2,
        ("data", "reminder_2"): 1,
        ("data", "termination"): 1,
    }


async def test_payment_ladder_partial_payment_does_not_close_it(service: Dunning) -> None:
    """Invoice 2025-04-30, due 2025-05-30: reminder 05-30, 2nd 06-29 (300), termination
    07-09 with the enforcement fee (400); a partial payment leaves the ladder running."""
    await service.tick(date(2025, 5, 30))
    invoice = uuid.uuid4()
    due_at = datetime(2025, 5, 31, 5, 1, tzinfo=UTC)
    await service.send(
        InvoiceDue.new(
            occurred_at=due_at,
            employer_no=EMPLOYER,
            correlation_id="due",
            payload=InvoiceDuePayload(
                invoice_id=invoice, due_date=date(2025, 5, 30), open_amount=Decimal("900.00")
            ),
        ),
        BalanceChanged.new(
            occurred_at=due_at,
            employer_no=EMPLOYER,
            correlation_id="due",
            payload=BalanceChangedPayload(
                open_balance=Decimal("1500.00"),
                overdue_balance=Decimal("900.00"),
                as_of=date(2025, 5, 31),
            ),
        ),
    )

    async def reminded() -> bool:
        return int(await service.fetchval("SELECT count(*) FROM case_steps")) >= 1

    await eventually(reminded, timeout=30, what="the first payment reminder")
    await service.send(
        BalanceChanged.new(
            occurred_at=due_at + timedelta(days=5),
            employer_no=EMPLOYER,
            correlation_id="pay",
            payload=BalanceChangedPayload(
                open_balance=Decimal("1000.00"),
                overdue_balance=Decimal("400.00"),
                as_of=date(2025, 6, 5),
            ),
        )
    )
    await service.tick(date(2025, 6, 28), date(2025, 6, 29), date(2025, 7, 8), date(2025, 7, 9))
    payment = [s for s in await service.steps() if s[0] == "payment"]
    assert payment == [
        ("payment", "reminder_1", "2025-05-30"),
        ("payment", "reminder_2", "2025-06-29"),
        ("payment", "termination", "2025-07-09"),
    ]
    fees = await payloads(service.bootstrap, service.prefix + DunningFeeCharged.TOPIC)
    assert ("enforcement", "400.00") in [(f["kind"], f["amount"]) for f in fees]
    amount = await service.fetchval("SELECT amount FROM case_steps WHERE step = 'reminder_2'")
    assert amount == Decimal("1000.00")  # the whole open balance

    # After the termination, an invoice falling due (here: its fees) goes to enforcement,
    # not round the ladder again (found by `bvgconnect simulate`: a termination every 40 days).
    later = InvoiceDue.new(
        occurred_at=due_at + timedelta(days=80),
        employer_no=EMPLOYER,
        correlation_id="fees-due",
        payload=InvoiceDuePayload(
            invoice_id=uuid.uuid4(), due_date=date(2025, 8, 18), open_amount=Decimal("700.00")
        ),
    )
    await service.send(later)

    async def handled() -> bool:
        found = await service.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = $1", later.event_id
        )
        return bool(found)

    await eventually(handled, timeout=30, what="the later invoice due")
    await service.tick(date(2025, 10, 1))
    cases = await service.fetchval("SELECT count(*) FROM cases WHERE track = 'payment'")
    assert cases == 1
    assert [s for s in await service.steps() if s[0] == "payment"] == payment


async def test_payment_of_the_overdue_balance_closes_the_case(service: Dunning) -> None:
    await service.tick(date(2025, 5, 31))
    at = datetime(2025, 5, 31, 6, tzinfo=UTC)
    await service.send(
        InvoiceDue.new(
            occurred_at=at,
            employer_no=EMPLOYER,
            correlation_id="due",
            payload=InvoiceDuePayload(
                invoice_id=uuid.uuid4(), due_date=date(2025, 5, 30), open_amount=Decimal("9")
            ),
        )
    )

    async def opened() -> bool:
        return int(await service.fetchval("SELECT count(*) FROM case_steps")) == 1

    await eventually(opened, timeout=30, what="the payment case")
    await service.send(
        BalanceChanged.new(
            occurred_at=at + timedelta(days=1),
            employer_no=EMPLOYER,
            correlation_id="paid",
            payload=BalanceChangedPayload(
                open_balance=Decimal("0.00"),
                overdue_balance=Decimal("0.00"),
                as_of=date(2025, 6, 1),
            ),
        )
    )

    async def closed() -> bool:
        found = await service.fetchval("SELECT close_reason FROM cases WHERE track = 'payment'")
        return bool(found == "paid")

    await eventually(closed, timeout=30, what="the paid case closed")
    await service.tick(date(2025, 7, 20))
    assert [s for s in await service.steps() if s[0] == "payment"] == [
        ("payment", "reminder_1", "2025-05-30")
    ]


async def test_hold_release_and_fee_waiver_by_an_operator(service: Dunning) -> None:
    """A held case takes no step; the release moves the rest by the days on hold; a waived
    fee goes to billing negated; every action is audited; employers may not do it."""
    await service.tick(date(2025, 4, 10), date(2025, 4, 25))
    case_id = await service.fetchval("SELECT case_id FROM cases WHERE period = '2025-03'")
    url = f"/operator/cases/{case_id}"
    refused = await service.client.post(
        f"{url}/hold", json={"reason": "x"}, headers=service.employer
    )
    assert refused.status_code == 403
    held = await service.client.post(
        f"{url}/hold", json={"reason": "dispute"}, headers=service.operator
    )
    assert held.status_code == 200, held.text
    again = await service.client.post(f"{url}/hold", json={"reason": "x"}, headers=service.operator)
    assert (again.status_code, again.json()["code"]) == (409, "case.held")
    await service.tick(date(2025, 5, 10), date(2025, 5, 15))
    assert [s for s in await service.steps() if s[2] == "2025-05-10"] == []
    released = await service.client.post(
        f"{url}/release", json={"reason": "settled"}, headers=service.operator
    )
    assert released.json() == {
        "case_id": str(case_id),
        "shift_days": 20,
        "next_step_on": "2025-05-30",
    }
    await service.tick(date(2025, 5, 29), date(2025, 5, 30))
    assert ("data", "reminder_2", "2025-05-30") in await service.steps()
    waived = await service.client.post(
        f"{url}/steps/reminder_1/waive", json={"reason": "first time"}, headers=service.operator
    )
    assert waived.status_code == 200, waived.text
    twice = await service.client.post(
        f"{url}/steps/reminder_1/waive", json={"reason": "again"}, headers=service.operator
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "fee.waived")
    bad = await service.client.post(
        f"{url}/steps/nonsense/waive", json={"reason": "x"}, headers=service.operator
    )
    assert bad.status_code == 422
    await wait_outbox_drained(service.runtime)
    fees = await payloads(service.bootstrap, service.prefix + DunningFeeCharged.TOPIC)
    assert ("reminder", "-100.00") in [(f["kind"], f["amount"]) for f in fees]
    actions = await service.fetchval("SELECT string_agg(action, ',' ORDER BY id) FROM audit_log")
    assert actions == "hold,release,waive"


async def test_operator_charges_enforcement_fees_of_art_25(service: Dunning) -> None:
    url = f"/operator/employers/{EMPLOYER}/fees"
    body = {"kind": "legal_opening", "reason": "Rechtsöffnungsbegehren filed"}
    charged = await service.client.post(url, json=body, headers=service.operator)
    assert charged.status_code == 200, charged.text
    assert (charged.json()["amount"], charged.json()["article"]) == ("500.00", "Art. 25")
    wrong = await service.client.post(
        url, json={"kind": "parking", "reason": "x"}, headers=service.operator
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "request.invalid")
    await wait_outbox_drained(service.runtime)
    fees = await payloads(service.bootstrap, service.prefix + DunningFeeCharged.TOPIC)
    assert [(f["kind"], f["amount"]) for f in fees] == [("legal_opening", "500.00")]


async def test_employer_reads_its_cases_and_letters(service: Dunning) -> None:
    await service.tick(date(2025, 4, 10), date(2025, 5, 26))
    listed = await service.client.get(f"/employers/{EMPLOYER}/cases", headers=service.employer)
    assert listed.status_code == 200, listed.text
    march = next(c for c in listed.json() if c["period"] == "2025-03")
    assert [(s["step"], s["date"], s["fee"]) for s in march["steps"]] == [
        ("reminder_1", "2025-04-25", "100.00"),
        ("reminder_2", "2025-05-10", "300.00"),
        ("termination", "2025-05-25", "0.00"),
    ]
    pdf = await service.client.get(march["steps"][2]["letter"], headers=service.employer)
    assert (pdf.status_code, pdf.content[:5]) == (200, b"%PDF-")
    other = await service.client.get("/employers/1002/cases", headers=service.employer)
    assert other.status_code == 403
    missing = await service.client.get(
        f"/employers/{EMPLOYER}/cases/{uuid.uuid4()}/letters/reminder_1.pdf",
        headers=service.employer,
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "letter.not_found")


async def test_without_smtp_server_notices_stay_pending_and_the_operator_sees_why(
    service: Dunning,
) -> None:
    await service.tick(date(2025, 4, 10), date(2025, 4, 20), date(2025, 5, 26))
    listed = await service.client.get("/notifications", headers=service.operator)
    assert listed.status_code == 200
    body = listed.json()
    assert body["smtp"] == "no SMTP server configured"
    assert sorted((n["step"], n["recipient"], n["attempts"]) for n in body["notifications"]) == [
        ("reminder_2", "association", 0),
        ("termination", "catch_all", 0),
        ("termination", "labour_office", 0),
    ]
    assert (await service.client.get("/notifications", headers=service.employer)).status_code == 403


def changes_of(upload: uuid.UUID, changes: list[dict[str, Any]]) -> CoverageChanges:
    """A part of `coverage.changed` for the list `upload`, as coverage publishes it: the v2
    example with these changes (each `{"row_no", "change", ...}` over the example's first)."""
    template = json.loads(CHANGED_EXAMPLE)
    first = template["payload"]["rows"][0]
    rows = [{**first, **c, "upload_id": str(upload)} for c in changes]
    template.update(event_id=str(uuid.uuid4()), employer_no=EMPLOYER, correlation_id=str(upload))
    template["payload"].update(upload_id=str(upload), rows=rows)
    return CoverageChanges.model_validate(template)


async def test_events_without_rules_yet_are_parked_once_each_in_one_batch(
    service: Dunning,
) -> None:
    """`coverage.changed` (a part of a list: the changes its rows reveal) is parked, not
    dropped: every part once, whole, the same part sent twice still once, the body as it
    was sent."""
    template = CoverageChanges.model_validate_json(CHANGED_EXAMPLE)
    changes = [
        changes_of(uuid.uuid4(), [row.model_dump(mode="json") for row in template.payload.rows])
        for _ in range(300)
    ]
    await service.send(*changes, changes[0], changes[7])

    async def parked() -> bool:
        n = await service.fetchval(
            "SELECT count(*) FROM parked_events WHERE topic = $1", CoverageChanges.TOPIC
        )
        return int(n) >= len(changes)

    await eventually(parked, timeout=30, what="the parked changes")
    # one parked event a part (300), not one a change (900)
    assert await service.fetchval("SELECT count(*) FROM parked_events") == len(changes)
    body = await service.fetchval(
        "SELECT body FROM parked_events WHERE event_id = $1", changes[7].event_id
    )
    assert CoverageChanges.model_validate_json(body) == changes[7]


async def test_a_full_part_of_a_list_is_parked_as_one_event(service: Dunning) -> None:
    """A part of 100 rows (rows 2-101), each a start and every second one an end as well:
    150 changes, one parked event holding all of them in list order."""
    upload = uuid.uuid4()
    entries: list[dict[str, Any]] = []
    for row_no in range(2, 102):
        ahv = ahv_number(row_no)
        entries.append({"row_no": row_no, "ahv": ahv})
        if row_no % 2 == 0:
            entries.append(
                {"row_no": row_no, "ahv": ahv, "change": "ended", "rule": "E1",
                 "effective_date": "2025-03-28"}
            )  # fmt: skip
    part = changes_of(upload, entries)
    await service.send(part)

    async def parked() -> bool:
        n = await service.fetchval(
            "SELECT count(*) FROM parked_events WHERE topic = $1", CoverageChanges.TOPIC
        )
        return int(n) >= 1

    await eventually(parked, timeout=30, what="the parked part")
    await wait_outbox_drained(service.runtime)
    assert await service.fetchval("SELECT count(*) FROM parked_events") == 1
    assert await service.fetchval("SELECT count(*) FROM inbox WHERE topic = $1", part.TOPIC) == 1
    body = await service.fetchval(
        "SELECT body FROM parked_events WHERE event_id = $1", part.event_id
    )
    kept = CoverageChanges.model_validate_json(body)
    assert kept == part and len(kept.payload.rows) == 150
    assert [r.row_no for r in kept.payload.rows][:4] == [2, 2, 3, 4]
