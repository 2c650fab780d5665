"""Typed SQL of the auth service: employers and users."""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.events.auth import EmployerChanged, EmployerChangedPayload
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
    event = EmployerChanged.new(
        occurred_at=now,
        employer_no=employer_no,
        correlation_id=f"employer:{employer_no}",
        payload=employer,
    )
    uow.publish(event)
    return event


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
