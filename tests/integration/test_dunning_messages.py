"""The employer's tasks and messages inbox on the real broker and database (issue 8): faulty
lists, coverage findings, invoices and ladder steps in; read, done, topics and tenants."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts.events.billing import (
    BalanceChanged,
    BalanceChangedPayload,
    InvoiceDue,
    InvoiceDuePayload,
    InvoiceIssued,
    InvoiceIssuedPayload,
)
from contracts.events.coverage import CoverageFinding, CoverageFindingPayload
from services.registry import spec_of
from services.runtime.clock import FixedClock
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_dunning_service import EMPLOYER, NOW, Dunning, checked
from tests.support.kafka import eventually
from tests.support.tokens import TokenMint

OTHER = 1002
AHV = "756.1234.5678.97"


class Inbox(Dunning):
    everything: dict[str, str]
    contributions_only: dict[str, str]
    other_employer: dict[str, str]
    without_messages: dict[str, str]

    async def count(self, where: str = "true") -> int:
        return int(await self.fetchval(f"SELECT count(*) FROM messages WHERE {where}"))

    async def until(self, n: int, where: str = "true") -> None:
        async def enough() -> bool:
            return await self.count(where) >= n

        await eventually(enough, timeout=30, what=f"{n} messages where {where}")

    async def inbox(self, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"/employers/{EMPLOYER}/messages", params=query, headers=headers)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        return found


@pytest.fixture
async def inbox(
    start_runtime: StartRuntime, prefix: str, bootstrap: str, tmp_path: Path
) -> AsyncIterator[Inbox]:
    mint = TokenMint(clock=FixedClock(NOW))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    settings = fast_settings(prefix, auth_jwks_file=jwks)
    runtime = await start_runtime(spec_of("dunning"), settings=settings, clock=FixedClock(NOW))
    d = Inbox(runtime, bootstrap, prefix)

    def bearer(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint.mint(**claims)}"}

    d.everything = bearer(
        employer_no=EMPLOYER, topics=["mutations", "contributions", "reminders", "messages"]
    )
    d.contributions_only = bearer(employer_no=EMPLOYER, topics=["contributions", "messages"])
    d.without_messages = bearer(employer_no=EMPLOYER, topics=["mutations", "contributions"])
    d.other_employer = bearer(
        employer_no=OTHER, topics=["mutations", "contributions", "reminders", "messages"]
    )
    await d.affiliate()
    async with d.http_client() as client:
        d.client = client
        yield d


def finding() -> CoverageFinding:
    return CoverageFinding.new(
        occurred_at=NOW,
        employer_no=EMPLOYER,
        correlation_id="finding",
        payload=CoverageFindingPayload(
            ahv=AHV,
            period="2025-03",
            code="exit.missing",
            severity="error",
            message="The exit of a worker was not reported.",
            cost_to_employer=True,
            article="Art. 4",
        ),
    )


def invoice() -> InvoiceIssued:
    return InvoiceIssued.new(
        occurred_at=NOW,
        employer_no=EMPLOYER,
        correlation_id="invoice",
        payload=InvoiceIssuedPayload(
            invoice_id=uuid.uuid4(),
            invoice_no="2025-0001",
            qr_reference="0" * 27,
            invoice_date=date(2025, 4, 30),
            due_date=date(2025, 5, 30),
            periods=["2025-03"],
            total=Decimal("1234.50"),
        ),
    )


async def test_lists_findings_invoices_and_steps_land_in_their_topics(inbox: Inbox) -> None:
    faulty, found, issued = checked("2025-03", "faulty", date(2025, 4, 12)), finding(), invoice()
    # the same events again, and the faulty list re-announced under a new event id
    again = faulty.model_copy(update={"event_id": uuid.uuid4()})
    await inbox.send(faulty, found, issued, faulty, found, issued, again)
    await inbox.until(3)
    await inbox.tick(date(2025, 4, 10), date(2025, 4, 25), date(2025, 4, 25))  # a duplicate day
    await inbox.until(1, "kind = 'reminder'")
    assert await inbox.count() == 4  # nothing written twice

    every = await inbox.inbox(inbox.everything)
    by_kind = {m["kind"]: m for m in every}
    assert {(m["kind"], m["topic"], m["task"]) for m in every} == {
        ("list.faulty", "mutations", True),
        ("coverage.finding", "mutations", True),
        ("invoice.issued", "contributions", False),
        ("reminder", "reminders", True),
    }
    listed = by_kind["list.faulty"]
    assert listed["subject"] == "Liste 2025-03 fehlerhaft"
    assert listed["references"] == {"upload_id": str(faulty.payload.upload_id)}
    assert by_kind["coverage.finding"]["references"] == {"worker_ahv": AHV}
    assert AHV not in by_kind["coverage.finding"]["subject"] + by_kind["coverage.finding"]["body"]
    assert by_kind["invoice.issued"]["references"] == {"invoice_id": str(issued.payload.invoice_id)}
    step = by_kind["reminder"]
    assert (step["subject"], step["created_on"]) == ("Mahnung: 1. Mahnung", "2025-04-25")
    letter = await inbox.client.get(step["references"]["letter"], headers=inbox.everything)
    assert (letter.status_code, letter.content[:5]) == (200, b"%PDF-")

    tasks = await inbox.inbox(inbox.everything, tasks="true")
    assert sorted(m["kind"] for m in tasks) == ["coverage.finding", "list.faulty", "reminder"]
    mutations = await inbox.inbox(inbox.everything, topic="mutations")
    assert sorted(m["kind"] for m in mutations) == ["coverage.finding", "list.faulty"]
    assert len(await inbox.inbox(inbox.everything, limit="2")) == 2
    too_many = await inbox.client.get(
        f"/employers/{EMPLOYER}/messages", params={"limit": "501"}, headers=inbox.everything
    )
    assert (too_many.status_code, too_many.json()["code"]) == (422, "request.invalid")

    # a user with only contributions sees only the invoice, and nothing of the other topics
    only = await inbox.inbox(inbox.contributions_only)
    assert [m["kind"] for m in only] == ["invoice.issued"]
    assert await inbox.inbox(inbox.contributions_only, topic="mutations") == []
    hidden = await inbox.client.post(
        f"/employers/{EMPLOYER}/messages/{listed['message_id']}/read",
        headers=inbox.contributions_only,
    )
    assert (hidden.status_code, hidden.json()["code"]) == (404, "message.not_found")


async def test_read_and_done_state_and_no_access_across_employers(inbox: Inbox) -> None:
    faulty, issued = checked("2025-03", "faulty", date(2025, 4, 12)), invoice()
    await inbox.send(faulty, issued)
    await inbox.until(2)
    by_kind = {m["kind"]: m for m in await inbox.inbox(inbox.everything)}
    task, note = by_kind["list.faulty"], by_kind["invoice.issued"]
    url = f"/employers/{EMPLOYER}/messages"

    read = await inbox.client.post(f"{url}/{note['message_id']}/read", headers=inbox.everything)
    assert read.status_code == 200, read.text
    assert (read.json()["read_at"], read.json()["done_at"]) == (NOW.isoformat(), None)
    not_task = await inbox.client.post(f"{url}/{note['message_id']}/done", headers=inbox.everything)
    assert (not_task.status_code, not_task.json()["code"]) == (409, "message.not_a_task")
    unread = await inbox.inbox(inbox.everything, unread="true")
    assert [m["kind"] for m in unread] == ["list.faulty"]

    done = await inbox.client.post(f"{url}/{task['message_id']}/done", headers=inbox.everything)
    assert done.status_code == 200, done.text
    assert done.json()["done_at"] == done.json()["read_at"] == NOW.isoformat()
    assert await inbox.inbox(inbox.everything, unread="true") == []

    # employer B: its own URL with A's message is 404, A's URL is refused outright
    other = f"/employers/{OTHER}/messages/{task['message_id']}"
    for action in ("read", "done"):
        r = await inbox.client.post(f"{other}/{action}", headers=inbox.other_employer)
        assert (r.status_code, r.json()["code"]) == (404, "message.not_found")
    listed = await inbox.client.get(f"/employers/{OTHER}/messages", headers=inbox.other_employer)
    assert listed.json() == []
    refused = await inbox.client.get(url, headers=inbox.other_employer)
    assert refused.status_code == 403
    missing = await inbox.client.post(f"{url}/{uuid.uuid4()}/read", headers=inbox.everything)
    assert (missing.status_code, missing.json()["code"]) == (404, "message.not_found")
    no_inbox = await inbox.client.get(url, headers=inbox.without_messages)
    assert (no_inbox.status_code, no_inbox.json()["code"]) == (403, "access.topic")


async def test_a_corrected_list_settles_its_tasks_and_the_reminders_of_its_case(
    inbox: Inbox,
) -> None:
    await inbox.send(checked("2025-03", "faulty", date(2025, 4, 12)))
    await inbox.tick(date(2025, 4, 10), date(2025, 4, 25))
    await inbox.until(2)
    assert await inbox.count("done_at IS NULL") == 2
    await inbox.send(checked("2025-03", "ok", date(2025, 4, 28)))
    await inbox.until(2, "done_at IS NOT NULL")
    tasks = await inbox.inbox(inbox.everything, tasks="true")
    assert sorted((m["kind"], m["done_at"] is not None, m["read_at"]) for m in tasks) == [
        ("list.faulty", True, None),
        ("reminder", True, None),
    ]


async def test_paying_the_balance_settles_the_payment_reminders(inbox: Inbox) -> None:
    await inbox.tick(date(2025, 5, 31))
    at = datetime(2025, 5, 31, 6, tzinfo=UTC)
    await inbox.send(
        InvoiceDue.new(
            occurred_at=at,
            employer_no=EMPLOYER,
            correlation_id="due",
            payload=InvoiceDuePayload(
                invoice_id=uuid.uuid4(), due_date=date(2025, 5, 30), open_amount=Decimal("9")
            ),
        )
    )
    await inbox.until(1, "kind = 'reminder'")
    [step] = await inbox.inbox(inbox.everything, topic="reminders")
    assert (step["params"]["track"], step["done_at"]) == ("payment", None)
    assert step["body"] == "1. Mahnung vom 2025-05-30 (offener Saldo). Der Brief liegt bei."
    await inbox.send(
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
    await inbox.until(1, "kind = 'reminder' AND done_at IS NOT NULL")
