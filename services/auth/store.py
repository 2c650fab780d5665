"""Typed SQL of the auth service: employers, users, audit log, brute-force counters."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events.auth import (
    EmployerChanged,
    EmployerChangedPayload,
    PostalAddress,
    UserChanged,
    UserChangedPayload,
)
from services.runtime.db import Connection
from services.runtime.outbox import UnitOfWork


async def save_employer(
    uow: UnitOfWork, employer_no: int, employer: EmployerChangedPayload, *, now: datetime
) -> EmployerChanged:
    """Affiliate or change an employer, and publish the change for the others' projections."""
    a = employer.address
    await uow.conn.execute(
        """
        INSERT INTO employers (employer_no, name, street, house_no, postcode, town, country,
                               canton, language, enabled_topics, status, affiliated_from,
                               affiliated_until, employer_share, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (employer_no) DO UPDATE SET
            name = EXCLUDED.name, street = EXCLUDED.street, house_no = EXCLUDED.house_no,
            postcode = EXCLUDED.postcode, town = EXCLUDED.town, country = EXCLUDED.country,
            canton = EXCLUDED.canton, language = EXCLUDED.language,
            enabled_topics = EXCLUDED.enabled_topics, status = EXCLUDED.status,
            affiliated_from = EXCLUDED.affiliated_from,
            affiliated_until = EXCLUDED.affiliated_until,
            employer_share = EXCLUDED.employer_share, changed_at = EXCLUDED.changed_at
        """,
        employer_no,
        employer.name,
        a.street,
        a.house_no,
        a.postcode,
        a.town,
        a.country,
        employer.canton,
        employer.language,
        list(employer.enabled_topics),
        employer.status,
        employer.affiliated_from,
        employer.affiliated_until,
        employer.employer_share,
        now,
    )
    return publish_employer(uow, employer_no, employer, now=now)


def publish_employer(
    uow: UnitOfWork, employer_no: int, employer: EmployerChangedPayload, *, now: datetime
) -> EmployerChanged:
    event = EmployerChanged.new(
        occurred_at=now,
        employer_no=employer_no,
        correlation_id=f"employer:{employer_no}",
        payload=employer,
    )
    uow.publish(event)
    return event


async def employer_payload(conn: Connection, employer_no: int) -> EmployerChangedPayload | None:
    """The employer as `auth.employer-changed` tells it."""
    r = await conn.fetchrow("SELECT * FROM employers WHERE employer_no = $1", employer_no)
    if r is None:
        return None
    return EmployerChangedPayload(
        name=r["name"],
        address=PostalAddress(
            street=r["street"],
            house_no=r["house_no"],
            postcode=r["postcode"],
            town=r["town"],
            country=r["country"],
        ),
        canton=r["canton"],
        language=r["language"],
        enabled_topics=list(r["enabled_topics"]),
        status=r["status"],
        affiliated_from=r["affiliated_from"],
        affiliated_until=r["affiliated_until"],
        employer_share=r["employer_share"],
    )


async def save_user(
    uow: UnitOfWork,
    *,
    employer_no: int,
    login: str,
    topics: list[str],
    password_hash: str,
    now: datetime,
) -> uuid.UUID:
    """Add a connect user unless the login exists; returns the user's id."""
    existing = await uow.conn.fetchval("SELECT user_id FROM users WHERE login = $1", login)
    if existing is not None:
        found: uuid.UUID = existing
        return found
    user_id = uuid.uuid4()
    await uow.conn.execute(
        "INSERT INTO users (user_id, employer_no, login, kind, status, topics, password_hash, "
        "created_at) VALUES ($1, $2, $3, 'connect', 'active', $4, $5, $6)",
        user_id,
        employer_no,
        login,
        topics,
        password_hash,
        now,
    )
    return user_id


# -- users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    employer_no: int
    login: str
    kind: str
    admin: bool
    status: str
    topics: list[str]
    password_hash: str | None
    password_changed_at: datetime | None
    phone: str | None
    totp_secret: str | None
    totp_confirmed: bool
    totp_last_step: int | None
    cert_fingerprint: str | None
    ahv: str | None

    @property
    def token_kind(self) -> str:
        return "admin" if self.admin and self.kind == "connect" else self.kind


_USER_COLUMNS = (
    "user_id, employer_no, login, kind, admin, status, topics, password_hash, "
    "password_changed_at, phone, totp_secret, totp_confirmed, totp_last_step, "
    "cert_fingerprint, ahv"
)


def _user(row: Any) -> User:
    values: dict[str, Any] = dict(row)
    values["topics"] = list(values["topics"])
    return User(**values)


async def user_by_login(conn: Connection, login: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE login = $1", login)
    return None if row is None else _user(row)


async def user_by_id(conn: Connection, user_id: uuid.UUID) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = $1", user_id)
    return None if row is None else _user(row)


async def user_by_fingerprint(conn: Connection, fingerprint: str) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE cert_fingerprint = $1", fingerprint
    )
    return None if row is None else _user(row)


async def users_of(conn: Connection, employer_no: int) -> list[User]:
    rows = await conn.fetch(
        f"SELECT {_USER_COLUMNS} FROM users WHERE employer_no = $1 ORDER BY login", employer_no
    )
    return [_user(r) for r in rows]


async def private_user_of(conn: Connection, employer_no: int, ahv: str) -> User | None:
    """The active private user bound to this worker at this employer, if any."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE employer_no = $1 AND ahv = $2 "
        "AND kind = 'private' AND status = 'active'",
        employer_no,
        ahv,
    )
    return None if row is None else _user(row)


async def enabled_topics(conn: Connection, employer_no: int) -> list[str] | None:
    """The employer's enabled topics while affiliated; None if unknown or terminated."""
    row = await conn.fetchrow(
        "SELECT enabled_topics, status FROM employers WHERE employer_no = $1", employer_no
    )
    if row is None or row["status"] != "affiliated":
        return None
    return list(row["enabled_topics"])


def user_changed(user: User, *, now: datetime, revoked: list[str] | None = None) -> UserChanged:
    return UserChanged.new(
        occurred_at=now,
        employer_no=user.employer_no,
        correlation_id=f"user:{user.user_id}",
        payload=UserChangedPayload(
            user_id=user.user_id,
            kind=user.kind,
            status=user.status,
            topics=user.topics,
            revoked_credential_ids=revoked or [],
            changed_at=now,
        ),
    )


# -- audit ---------------------------------------------------------------------------------


async def audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    outcome: str,
    employer_no: int | None = None,
    user_id: uuid.UUID | None = None,
    source: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One line of the audit log (ACCESS.md): who, when, from where, outcome; never a secret."""
    await conn.execute(
        "INSERT INTO audit_log (at, actor, action, employer_no, outcome, detail, source, "
        "user_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        at,
        actor,
        action,
        employer_no,
        outcome,
        json.dumps(detail or {}),
        source,
        user_id,
    )


async def audit_user(
    conn: Connection,
    user: User,
    *,
    at: datetime,
    action: str,
    outcome: str,
    source: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An audit line about something `user` did (login, failure, step)."""
    await audit(
        conn,
        at=at,
        actor=user.login,
        action=action,
        outcome=outcome,
        employer_no=user.employer_no,
        user_id=user.user_id,
        source=source,
        detail=detail,
    )


# -- throttle ------------------------------------------------------------------------------


async def throttle_state(conn: Connection, key: str) -> tuple[int, datetime | None]:
    row = await conn.fetchrow("SELECT failures, last_failure FROM throttle WHERE key = $1", key)
    return (0, None) if row is None else (row["failures"], row["last_failure"])


async def record_failure(conn: Connection, key: str, now: datetime, window_s: float) -> int:
    """Count a failure (a failure after a quiet window starts again at 1)."""
    failures: int = await conn.fetchval(
        """
        INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 1, $2)
        ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN throttle.last_failure < $2 - make_interval(secs => $3)
                            THEN 1 ELSE throttle.failures + 1 END,
            last_failure = $2
        RETURNING failures
        """,
        key,
        now,
        window_s,
    )
    return failures


async def clear_failures(conn: Connection, key: str) -> None:
    await conn.execute("DELETE FROM throttle WHERE key = $1", key)
