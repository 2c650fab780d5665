"""Handlers more than one service uses: the employer projection, the business date, parking."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from contracts.envelope import Envelope
from contracts.events.auth import EmployerChanged, UserChanged
from contracts.events.clock import DayStarted

from .access import PROCESS_REVOCATIONS, apply_user_changed
from .clock import business_date
from .db import Connection
from .outbox import UnitOfWork

EMPLOYER_MIGRATIONS = ("employers", Path(__file__).parent / "employers")
BUSINESS_DAY_MIGRATIONS = ("business_day", Path(__file__).parent / "business_day")


async def project_business_day(uow: UnitOfWork, event: Envelope) -> None:
    """Remember the latest business date the clock announced (a replayed older day changes
    nothing)."""
    assert isinstance(event, DayStarted)
    await uow.conn.execute(
        """
        INSERT INTO business_day (only_row, day) VALUES (true, $1)
        ON CONFLICT (only_row) DO UPDATE SET day = GREATEST(business_day.day, EXCLUDED.day)
        """,
        event.payload.business_date,
    )


async def business_day(conn: Connection, *, fallback: datetime) -> date:
    """The business date: the clock's latest day, else the date of `fallback` in Zurich
    (before the first clock event, e.g. a fresh suite)."""
    day: date | None = await conn.fetchval("SELECT day FROM business_day")
    return day if day is not None else business_date(fallback)


async def project_employer(uow: UnitOfWork, event: Envelope) -> None:
    """Keep the service's own copy of an employer (ARCHITECTURE: no shared schemas).

    An older change arriving after a newer one (replay) does not overwrite it.
    """
    assert isinstance(event, EmployerChanged)
    p = event.payload
    await uow.conn.execute(
        """
        INSERT INTO employers (employer_no, name, address, canton, language, enabled_topics,
                               status, affiliated_from, affiliated_until, employer_share,
                               changed_at)
        VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (employer_no) DO UPDATE SET
            name = EXCLUDED.name, address = EXCLUDED.address, canton = EXCLUDED.canton,
            language = EXCLUDED.language, enabled_topics = EXCLUDED.enabled_topics,
            status = EXCLUDED.status, affiliated_from = EXCLUDED.affiliated_from,
            affiliated_until = EXCLUDED.affiliated_until,
            employer_share = EXCLUDED.employer_share, changed_at = EXCLUDED.changed_at
        WHERE employers.changed_at <= EXCLUDED.changed_at
        """,
        event.employer_no,
        p.name,
        p.address.model_dump_json(),
        p.canton,
        p.language,
        [str(t) for t in p.enabled_topics],
        p.status,
        p.affiliated_from,
        p.affiliated_until,
        p.employer_share,
        event.occurred_at,
    )


async def park(uow: UnitOfWork, event: Envelope) -> None:
    """Keep an event whose rules have not landed yet, so nothing is lost meanwhile."""
    await uow.conn.execute(
        "INSERT INTO parked_events (event_id, topic, employer_no, body) "
        "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
        event.event_id,
        event.TOPIC,
        event.employer_no,
        event.model_dump_json(),
    )


async def feed_revocations(uow: UnitOfWork, event: Envelope) -> None:
    """`auth.user-changed` into this process's token verifier (ACCESS.md: a deregistered
    user, a revoked certificate or a withdrawn topic stops existing tokens at once).

    Applied when the event is handled, before its transaction commits: a revocation that is
    redelivered is applied again, which changes nothing. Held in memory: a restarted process
    learns only the changes it consumes afterwards (its group offset is past the older ones).
    """
    assert isinstance(event, UserChanged)
    apply_user_changed(PROCESS_REVOCATIONS, event)
