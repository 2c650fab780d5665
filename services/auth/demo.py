"""Demo data for `bvgconnect up`: one affiliated employer with one demo user."""

from __future__ import annotations

from datetime import date, datetime

from contracts.events.auth import EmployerChangedPayload, PostalAddress
from services.runtime.outbox import UnitOfWork

from .api import HASHER
from .store import save_employer, save_user

DEMO_EMPLOYER_NO = 1001
DEMO_LOGIN = "demo.hr@1001"
# A demo credential for a local sandbox, printed at start-up on purpose.
DEMO_PASSWORD = "demo-portal-2026"  # noqa: S105

DEMO_PHONE = "+41790000000"

DEMO_EMPLOYER = EmployerChangedPayload(
    name="DEMO TEMPORÄR AG",
    address=PostalAddress(
        street="Bahnhofstrasse", house_no="1", postcode="8001", town="Zürich", country="CH"
    ),
    canton="ZH",
    language="de",
    enabled_topics=["mutations", "contributions", "reminders", "users", "messages"],
    status="affiliated",
    affiliated_from=date(2025, 1, 1),
    affiliated_until=None,
)


async def load_demo(uow: UnitOfWork, *, now: datetime) -> bool:
    """Affiliate the demo employer and its user once; False if they were there already."""
    exists = await uow.conn.fetchval(
        "SELECT 1 FROM employers WHERE employer_no = $1", DEMO_EMPLOYER_NO
    )
    if exists:
        return False
    await save_employer(uow, DEMO_EMPLOYER_NO, DEMO_EMPLOYER, now=now)
    await save_user(
        uow,
        employer_no=DEMO_EMPLOYER_NO,
        login=DEMO_LOGIN,
        topics=list(DEMO_EMPLOYER.enabled_topics),
        password_hash=HASHER.hash(DEMO_PASSWORD),
        now=now,
    )
    # The demo user administers its employer and gets SMS codes in the data folder's
    # sms-outbox.jsonl (the development gateway).
    await uow.conn.execute(
        "UPDATE users SET admin = true, phone = $2, password_changed_at = $3 WHERE login = $1",
        DEMO_LOGIN,
        DEMO_PHONE,
        now,
    )
    return True
