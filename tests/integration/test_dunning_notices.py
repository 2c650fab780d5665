"""Notices to outside bodies (Art. 22.3) on a real SMTP server (aiosmtpd): copies of the 2nd
reminder and of the termination by e-mail with the letter as PDF, retried while the server
is down, each delivered once and announced once (`dunning.notification-sent`)."""

from __future__ import annotations

import email.policy
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from contracts.events.dunning import NotificationSent
from services.auth.demo import DEMO_EMPLOYER
from services.dunning import notices
from services.registry import spec_of
from services.runtime.clock import FixedClock
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_dunning_service import NOW, Dunning
from tests.integration.test_pricing_service import payloads, wait_outbox_drained
from tests.support.kafka import eventually
from tests.support.tokens import TokenMint

CATCH_ALL = "meldungen@auffang.test"
ASSOCIATION = "mahnwesen@verband.test"
LABOUR_OFFICE = notices.labour_offices()[DEMO_EMPLOYER.canton].email


class Inbox:
    """aiosmtpd handler: keeps every message accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), parse(content)))
        return "250 OK"


def parse(content: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)
    return message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


Start = Callable[[int], Awaitable[Dunning]]


@pytest.fixture
async def start_dunning(
    start_runtime: StartRuntime, prefix: str, bootstrap: str, tmp_path: Path
) -> AsyncIterator[Start]:
    clients: list[httpx.AsyncClient] = []

    async def start(smtp_port: int) -> Dunning:
        mint = TokenMint(clock=FixedClock(NOW))
        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps(mint.jwks()))
        settings = fast_settings(
            prefix,
            auth_jwks_file=jwks,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_timeout_s=2,
            notice_catch_all_email=CATCH_ALL,
            notice_association_email=ASSOCIATION,
            notice_retry_base_s=0.2,
        )
        runtime = await start_runtime(spec_of("dunning"), settings=settings, clock=FixedClock(NOW))
        d = Dunning(runtime, bootstrap, prefix)
        d.operator = {"Authorization": f"Bearer {mint.mint(kind='operator', level=3, topics=[])}"}
        await d.affiliate()
        d.client = d.http_client()
        clients.append(d.client)
        return d

    yield start
    for client in clients:
        await client.aclose()


async def to_termination(d: Dunning) -> None:
    """March's list never comes: 2nd reminder and termination (and April's 1st reminder)."""
    await d.tick(date(2025, 4, 10), date(2025, 4, 20), date(2025, 5, 26))


async def sent_events(d: Dunning) -> list[dict[str, Any]]:
    await wait_outbox_drained(d.runtime)
    return await payloads(d.bootstrap, d.prefix + NotificationSent.TOPIC)


def pdf_of(message: EmailMessage) -> bytes:
    [part] = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body


async def test_copies_of_reminder_and_termination_are_mailed_with_the_letter(
    start_dunning: Start,
) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        d = await start_dunning(port)
        await to_termination(d)

        async def delivered() -> bool:
            return len(inbox.messages) >= 3

        await eventually(delivered, timeout=15, what="three notices")
        by_rcpt = {rcpt[0]: m for rcpt, m in inbox.messages}
        assert sorted(by_rcpt) == sorted([ASSOCIATION, CATCH_ALL, LABOUR_OFFICE])
        assert "2. Mahnung" in str(by_rcpt[ASSOCIATION]["Subject"])
        assert "Kündigung" in str(by_rcpt[CATCH_ALL]["Subject"])
        assert "Art. 11 Abs. 3bis BVG" in str(by_rcpt[CATCH_ALL].get_body())
        for message in by_rcpt.values():
            assert pdf_of(message).startswith(b"%PDF")

        async def all_sent() -> bool:
            return (
                int(await d.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'"))
                == 3
            )

        await eventually(all_sent, timeout=10, what="notices marked sent")
        # a replayed day writes no new notice and sends nothing again
        await d.tick(date(2025, 5, 26))
        events = await sent_events(d)
        assert sorted(e["recipient"] for e in events) == [
            "association",
            "catch_all",
            "labour_office",
        ]
        assert {e["channel"] for e in events} == {"email"}
        assert len({e["notification_id"] for e in events}) == 3
        assert len(inbox.messages) == 3
        assert await d.fetchval("SELECT count(*) FROM notifications") == 3
        listed = await d.client.get("/notifications", headers=d.operator)
        assert listed.status_code == 200
        assert listed.json()["notifications"] == []
    finally:
        controller.stop()


async def test_smtp_down_keeps_notices_pending_then_delivers_each_once(
    start_dunning: Start,
) -> None:
    port = free_port()  # nothing listens on it yet
    d = await start_dunning(port)
    await to_termination(d)

    async def tried() -> bool:
        n = await d.fetchval(
            "SELECT count(*) FROM notifications WHERE status = 'pending' AND attempts > 0 "
            "AND last_error IS NOT NULL"
        )
        return int(n) == 3

    await eventually(tried, timeout=10, what="three failed attempts")
    listed = await d.client.get("/notifications?status=pending", headers=d.operator)
    assert listed.status_code == 200
    pending = listed.json()["notifications"]
    assert sorted(n["recipient"] for n in pending) == ["association", "catch_all", "labour_office"]
    assert all(n["attempts"] > 0 and n["next_attempt_at"] for n in pending)
    assert all(
        n["last_error"].startswith(("ConnectionRefusedError", "SMTPConnect")) for n in pending
    )
    assert (await d.client.get("/notifications", headers={})).status_code == 401
    assert await sent_events(d) == []

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:

        async def all_sent() -> bool:
            return (
                int(await d.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'"))
                == 3
            )

        await eventually(all_sent, timeout=15, what="notices delivered once the server is up")
        events = await sent_events(d)
        assert len(events) == 3
        assert sorted(rcpt[0] for rcpt, _ in inbox.messages) == sorted(
            [ASSOCIATION, CATCH_ALL, LABOUR_OFFICE]
        )
    finally:
        controller.stop()
