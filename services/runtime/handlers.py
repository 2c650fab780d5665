"""Handlers more than one service uses: the employer projection, the business date, parking,
the revocations of access tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from contracts.envelope import Envelope
from contracts.events.auth import EmployerChanged, UserChanged
from contracts.events.clock import DayStarted

from .access import PROCESS_REVOCATIONS, Revocations, apply_user_changed
from .clock import business_date
from .db import Connection
from .outbox import UnitOfWork

EMPLOYER_MIGRATIONS = ("employers", Path(__file__).parent / "employers")
BUSINESS_DAY_MIGRATIONS = ("business_day", Path(__file__).parent / "business_day")
#: `user_revocations`: what `feed_revocations` keeps so that a restart forgets nothing.
REVOCATION_MIGRATIONS = ("revocations", Path(__file__).parent / "revocations")
#: Rows older than this concern no token any more (15 minutes); purged at start-up.
REVOCATION_RETENTION = timedelta(days=1)


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


PARK = (
    "INSERT INTO parked_events (event_id, topic, employer_no, body) "
    "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING"
)


async def park(uow: UnitOfWork, event: Envelope) -> None:
    """Keep an event whose rules have not landed yet, so nothing is lost meanwhile.

    Written with the batch's other parked events in one round trip (`defer`): dunning parks
    `coverage.changed` whole, one event per part of a list (up to 100 rows' changes).
    """
    uow.defer(
        PARK,
        event.event_id,
        event.TOPIC,
        event.employer_no,
        event.__pydantic_serializer__.to_json(event).decode(),
    )


async def feed_revocations(uow: UnitOfWork, event: Envelope) -> None:
    """`auth.user-changed` into this process's token verifier (ACCESS.md: a deregistered
    user, a revoked certificate or a withdrawn topic stops existing tokens at once), and into
    `user_revocations`, from which a restarted process loads them (`load_revocations`).

    The row is written in the handler's transaction; the newer change wins status and topics,
    while revoked credentials and the latest deregistration are kept whatever came later.
    The in-memory revocations are fed when the event is handled, before its transaction
    commits (the runtime has no after-commit hook): an event whose transaction fails is
    redelivered and feeds the same change again, which changes nothing.
    """
    assert isinstance(event, UserChanged)
    p = event.payload
    await uow.conn.execute(
        """
        INSERT INTO user_revocations (user_id, status, topics, revoked_credential_ids,
                                      deregistered_at, changed_at)
        VALUES ($1, $2, $3, $4, CASE WHEN $2 = 'deregistered' THEN $5::timestamptz END, $5)
        ON CONFLICT (user_id) DO UPDATE SET
            status = CASE WHEN user_revocations.changed_at <= EXCLUDED.changed_at
                          THEN EXCLUDED.status ELSE user_revocations.status END,
            topics = CASE WHEN user_revocations.changed_at <= EXCLUDED.changed_at
                          THEN EXCLUDED.topics ELSE user_revocations.topics END,
            revoked_credential_ids = ARRAY(
                SELECT DISTINCT unnest(user_revocations.revoked_credential_ids
                                       || EXCLUDED.revoked_credential_ids) ORDER BY 1),
            deregistered_at = GREATEST(user_revocations.deregistered_at,
                                       EXCLUDED.deregistered_at),
            changed_at = GREATEST(user_revocations.changed_at, EXCLUDED.changed_at)
        """,
        p.user_id,
        p.status,
        [str(t) for t in p.topics],
        list(p.revoked_credential_ids),
        p.changed_at,
    )
    apply_user_changed(PROCESS_REVOCATIONS, event)


async def load_revocations(conn: Connection, revocations: Revocations, *, now: datetime) -> int:
    """Fill `revocations` from `user_revocations` (start-up): the rows changed within a token
    lifetime (plus leeway) before `now`; older ones concern only expired tokens. A revoked
    credential counts from the row's newest change, which refuses at least as much.

    Returns the number of rows loaded.
    """
    since = now - timedelta(seconds=Revocations.HORIZON_S)
    rows = await conn.fetch(
        "SELECT user_id, topics, revoked_credential_ids, deregistered_at, changed_at "
        "FROM user_revocations WHERE changed_at >= $1",
        since,
    )
    for row in rows:
        user_id: uuid.UUID = row["user_id"]
        changed_at: datetime = row["changed_at"]
        if row["deregistered_at"] is not None:
            revocations.revoke_user(user_id, row["deregistered_at"])
        for credential_id in row["revoked_credential_ids"]:
            revocations.revoke_credential(credential_id, changed_at)
        revocations.set_topics(user_id, row["topics"], changed_at)
    return len(rows)


async def purge_revocations(conn: Connection, *, now: datetime) -> int:
    """Delete rows older than `REVOCATION_RETENTION`; returns how many went."""
    status: str = await conn.execute(
        "DELETE FROM user_revocations WHERE changed_at < $1", now - REVOCATION_RETENTION
    )
    return int(status.rsplit(" ", 1)[-1])
