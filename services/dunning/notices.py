"""Notices to outside bodies (Art. 22.3, RULES §9): copies of 2nd reminders to the
association, of terminations to the catch-all institution (Art. 11 para. 3bis BVG) and to the
labour office of the employer's canton, by e-mail with the letter as PDF.

The rows are written with the step (`store.SAVE_NOTICE`); `run_sender` delivers them: one
row at a time (`FOR UPDATE SKIP LOCKED`, several senders share the work), marked sent and
`dunning.notification-sent` published in one transaction once the SMTP server accepted the
message; on failure the row stays pending with the next attempt backed off (capped at 1 h).
A crash between the server's acceptance and the commit sends the notice again (at least once).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

from contracts.events import dunning
from contracts.values import Recipient
from services.runtime.handlers import business_day
from services.runtime.outbox import derived_event_id
from services.runtime.service import Runtime
from services.runtime.settings import Settings
from services.runtime.workers import drain_on_notify

from . import letters, store

log = logging.getLogger("bvgconnect.dunning.notices")

LABOUR_OFFICES_FILE = Path(__file__).parent / "labour_offices.json"
# fmt: off
CANTONS = (
    "AG", "AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE",
    "NW", "OW", "SG", "SH", "SO", "SZ", "TG", "TI", "UR", "VD", "VS", "ZG", "ZH",
)
# fmt: on
#: Longest wait between two attempts of one notice.
MAX_BACKOFF_S = 3600.0
#: How often the sender looks for due notices when nothing woke it.
POLL_S = 1.0
NO_SMTP = "no SMTP server configured"


@dataclass(frozen=True, slots=True)
class LabourOffice:
    name: str
    email: str
    address: str


@functools.cache
def labour_offices() -> dict[str, LabourOffice]:
    """The labour office of every canton (configuration: operations must verify them)."""
    raw = json.loads(LABOUR_OFFICES_FILE.read_text(encoding="utf-8"))["offices"]
    offices = {canton: LabourOffice(**office) for canton, office in raw.items()}
    missing = set(CANTONS) - set(offices)
    if missing:
        raise ValueError(f"labour_offices.json lacks {sorted(missing)}")
    return offices


def labour_office_email(canton: str | None) -> str | None:
    office = labour_offices().get(canton or "")
    return None if office is None else office.email


def configured_address(settings: Settings, recipient: str) -> str | None:
    if recipient == "catch_all":
        return settings.notice_catch_all_email
    if recipient == "association":
        return settings.notice_association_email
    return None


def backoff_s(base: float, attempts: int) -> float:
    """Delay before attempt `attempts + 1`: base, 2·base, 4·base … at most MAX_BACKOFF_S."""
    return float(min(base * 2 ** min(max(attempts - 1, 0), 30), MAX_BACKOFF_S))


def short_error(exc: BaseException) -> str:
    """The exception's class and a short reason (no message bodies, no personal data)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"{exc.code} {exc.message}"
    else:
        reason = str(exc)
    return f"{type(exc).__name__}: {reason}"[:200]


_SUBJECTS: dict[str, str] = {
    "reminder_2": "Kopie 2. Mahnung",
    "termination": "Kopie Kündigung des Anschlussvertrages",
}

_TEXT: dict[str, str] = {
    "association": "Zur Kenntnis: Kopie der 2. Mahnung an Ihr Mitglied (Art. 22.2 der "
    "Richtlinien der Stiftung).",
    "catch_all": "Meldung der Auflösung des Anschlussvertrages an die Auffangeinrichtung "
    "(Art. 11 Abs. 3bis BVG; Art. 22.3 der Richtlinien der Stiftung). Die Kündigung liegt "
    "als PDF bei.",
    "labour_office": "Zur Kenntnis: Kopie der Kündigung des Anschlussvertrages eines "
    "Arbeitgebers Ihres Kantons (Art. 22.3 der Richtlinien der Stiftung).",
}


def build_message(
    settings: Settings,
    address: str,
    recipient: Recipient,
    letter: letters.Letter,
    pdf: bytes,
    notice_id: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    subject = _SUBJECTS.get(letter.step, letter.step)
    message["Subject"] = f"{subject}: Arbeitgeber {letter.employer_no}"
    message["Message-ID"] = f"<{notice_id}@bvgconnect>"
    effective = (
        f"\nDer Anschlussvertrag endet am {letter.effective:%d.%m.%Y}."
        if letter.effective is not None
        else ""
    )
    message.set_content(
        f"{_TEXT[recipient]}\n\nArbeitgeber: {letter.employer_name} ({letter.employer_no})\n"
        f"Datum des Schreibens: {letter.dated:%d.%m.%Y}{effective}\n"
    )
    message.add_attachment(
        pdf,
        maintype="application",
        subtype="pdf",
        filename=f"{letter.step}-{letter.employer_no}-{letter.dated:%Y%m%d}.pdf",
    )
    return message


CLAIM = """
    SELECT id, case_id, step, recipient, address, attempts FROM notifications
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
"""


class NoAddress(LookupError):
    """The recipient has no e-mail address (unknown canton, nothing configured)."""


async def send_next(runtime: Runtime) -> bool:
    """Try the most overdue pending notice; False when none is due."""
    settings = runtime.settings
    assert settings.smtp_host
    async with runtime.unit_of_work() as uow:
        row = await uow.conn.fetchrow(CLAIM)
        if row is None:
            return False
        recipient: Recipient = row["recipient"]
        address = row["address"] or configured_address(settings, recipient)
        letter = await store.letter_of(uow.conn, row["case_id"], row["step"])
        try:
            if letter is None:
                raise LookupError("the step's letter is missing")
            if address is None:
                raise NoAddress(f"no e-mail address for {recipient}")
            pdf = await asyncio.to_thread(letters.render_letter_pdf, letter)
            message = build_message(settings, address, recipient, letter, pdf, str(row["id"]))
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                timeout=settings.smtp_timeout_s,
            )
        except Exception as exc:  # refused, timeout, SMTP error, no address, unrenderable
            # one notice that cannot go out must not stop the others: kept with its error
            attempts = row["attempts"] + 1
            delay = backoff_s(settings.notice_retry_base_s, attempts)
            await uow.conn.execute(
                "UPDATE notifications SET attempts = $2, last_error = $3, "
                "next_attempt_at = now() + $4::interval WHERE id = $1",
                row["id"],
                attempts,
                short_error(exc),
                timedelta(seconds=delay),
            )
            log.warning(
                "notice %s not sent (attempt %d): %s", row["id"], attempts, type(exc).__name__
            )
            return True
        today = await business_day(uow.conn, fallback=runtime.clock.now())
        await uow.conn.execute(
            "UPDATE notifications SET status = 'sent', sent_on = $2, address = $3, "
            "attempts = attempts + 1, last_error = NULL WHERE id = $1",
            row["id"],
            today,
            address,
        )
        uow.publish(
            dunning.NotificationSent.new(
                event_id=derived_event_id("dunning", "notice-sent", row["id"]),
                occurred_at=runtime.clock.now(),
                employer_no=letter.employer_no,
                correlation_id=str(row["case_id"]),
                payload=dunning.NotificationSentPayload(
                    notification_id=row["id"],
                    recipient=recipient,
                    case_id=row["case_id"],
                    channel="email",
                    sent_on=today,
                ),
            )
        )
    return True


async def run_sender(runtime: Runtime) -> None:
    """Deliver due notices, woken by NOTIFY or every POLL_S; without an SMTP server they
    stay pending (the operator list says so)."""
    if not runtime.settings.smtp_host:
        log.warning("%s: notices stay pending", NO_SMTP)
        await asyncio.Event().wait()
    await drain_on_notify(
        runtime.dsn,
        channel=store.NOTICES_CHANNEL,
        step=lambda: send_next(runtime),
        poll_s=POLL_S,
        what="notice sender",
    )


async def pending(runtime: Runtime, status: str) -> dict[str, Any]:
    """The operator's list: notices of `status` with attempts, next attempt and last error."""
    assert runtime.pool is not None
    rows = await runtime.pool.fetch(
        "SELECT n.id, n.case_id, c.employer_no, n.step, n.recipient, n.address, n.status, "
        "n.attempts, n.next_attempt_at, n.last_error, n.created_on, n.sent_on "
        "FROM notifications n JOIN cases c USING (case_id) WHERE n.status = $1 "
        "ORDER BY n.created_on, n.id LIMIT 1000",
        status,
    )
    s = runtime.settings
    return {
        "smtp": NO_SMTP if not s.smtp_host else f"{s.smtp_host}:{s.smtp_port}",
        "notifications": [
            {
                "id": str(r["id"]),
                "case_id": str(r["case_id"]),
                "employer_no": r["employer_no"],
                "step": r["step"],
                "recipient": r["recipient"],
                "address": r["address"] or configured_address(s, r["recipient"]),
                "status": r["status"],
                "attempts": r["attempts"],
                "next_attempt_at": None
                if r["status"] == "sent"
                else r["next_attempt_at"].isoformat(),
                "last_error": r["last_error"],
                "created_on": r["created_on"].isoformat(),
                "sent_on": r["sent_on"] and r["sent_on"].isoformat(),
            }
            for r in rows
        ],
    }
