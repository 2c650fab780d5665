"""`user_revocations`: what `feed_revocations` keeps, and what a starting process loads from
it (the changes of the last token lifetime), on the real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg
import pytest

from contracts.events.auth import UserChanged, UserChangedPayload
from contracts.values import AccessTopic
from services.runtime.access import MAX_LIFETIME_S, AccessDenied, Revocations, TokenVerifier
from services.runtime.clock import FixedClock
from services.runtime.db import load_migrations, migrate
from services.runtime.handlers import (
    REVOCATION_MIGRATIONS,
    feed_revocations,
    load_revocations,
    purge_revocations,
)
from services.runtime.outbox import UnitOfWork
from services.runtime.service import RUNTIME_MIGRATIONS
from tests.support.tokens import TokenMint

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
SCHEMA = "revocations_test"


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    try:
        sources = {
            "runtime": RUNTIME_MIGRATIONS,
            REVOCATION_MIGRATIONS[0]: REVOCATION_MIGRATIONS[1],
        }
        await migrate(connection, SCHEMA, load_migrations(sources))
        await connection.execute(f"SET search_path TO {SCHEMA}")
        yield connection
    finally:
        await connection.close()


def change(
    user_id: uuid.UUID,
    at: datetime,
    *,
    status: Literal["active", "deregistered"] = "active",
    topics: list[AccessTopic] | None = None,
    revoked: list[str] | None = None,
) -> UserChanged:
    return UserChanged.new(
        occurred_at=at,
        employer_no=2001,
        correlation_id=f"user:{user_id}",
        payload=UserChangedPayload(
            user_id=user_id,
            kind="connect",
            status=status,
            topics=topics if topics is not None else ["mutations"],
            revoked_credential_ids=revoked or [],
            changed_at=at,
        ),
    )


async def feed(conn: asyncpg.Connection, *events: UserChanged) -> None:
    for event in events:
        async with conn.transaction():
            await feed_revocations(UnitOfWork(conn, SCHEMA), event)


def verifier(mint: TokenMint, revocations: Revocations, now: datetime) -> TokenVerifier:
    return TokenVerifier(
        mint.key_set(),
        issuer="bvgconnect-auth",
        audience="bvgconnect",
        clock=FixedClock(now),
        revocations=revocations,
    )


async def test_only_changes_within_a_token_lifetime_are_loaded(
    conn: asyncpg.Connection,
) -> None:
    inside, edge, outside = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    horizon = timedelta(seconds=Revocations.HORIZON_S)
    assert horizon > timedelta(seconds=MAX_LIFETIME_S)
    await feed(
        conn,
        change(inside, NOW - timedelta(minutes=5), status="deregistered"),
        change(edge, NOW - horizon, status="deregistered"),
        change(outside, NOW - horizon - timedelta(seconds=1), status="deregistered"),
    )
    revocations = Revocations()
    assert await load_revocations(conn, revocations, now=NOW) == 2
    assert set(revocations._users) == {str(inside), str(edge)}


async def test_a_loaded_deregistration_refuses_older_tokens_only(
    conn: asyncpg.Connection,
) -> None:
    user = uuid.uuid4()
    await feed(conn, change(user, NOW - timedelta(minutes=5), status="deregistered"))
    revocations = Revocations()
    await load_revocations(conn, revocations, now=NOW)
    mint = TokenMint(clock=FixedClock(NOW))
    check = verifier(mint, revocations, NOW)
    before = mint.mint(sub=str(user), now=NOW - timedelta(minutes=6))
    with pytest.raises(AccessDenied) as refused:
        check.verify(before)
    assert refused.value.code == "auth.token_revoked"
    after = mint.mint(sub=str(user), now=NOW - timedelta(minutes=4))
    assert check.verify(after).user_id == str(user)


async def test_the_newer_change_wins_and_revocations_are_kept(
    conn: asyncpg.Connection,
) -> None:
    user = uuid.uuid4()
    t1, t2, t3 = (NOW - timedelta(minutes=m) for m in (9, 6, 3))
    await feed(
        conn,
        change(user, t1, status="deregistered", topics=[], revoked=["cert-1"]),
        change(user, t3, topics=["messages"], revoked=["cert-2"]),
        change(user, t2, topics=["mutations"]),  # older, late: does not win
    )
    row = await conn.fetchrow("SELECT * FROM user_revocations WHERE user_id = $1", user)
    assert row is not None
    assert row["status"] == "active" and row["topics"] == ["messages"]
    assert row["revoked_credential_ids"] == ["cert-1", "cert-2"]
    assert row["deregistered_at"] == t1 and row["changed_at"] == t3

    revocations = Revocations()
    await load_revocations(conn, revocations, now=NOW)
    mint = TokenMint(clock=FixedClock(NOW))
    check = verifier(mint, revocations, NOW)
    with pytest.raises(AccessDenied, match="withdrawn"):  # issued before the deregistration
        check.verify(mint.mint(sub=str(user), now=t1 - timedelta(minutes=1), lifetime_s=900))
    with pytest.raises(AccessDenied, match="withdrawn"):  # issued on a revoked certificate
        check.verify(mint.mint(sub=str(user), now=t2, cid="cert-1", topics=["messages"]))
    principal = check.verify(mint.mint(sub=str(user), now=t2, topics=["mutations", "messages"]))
    assert principal.topics == {"messages"}


async def test_old_rows_are_purged(conn: asyncpg.Connection) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    await feed(
        conn,
        change(old, NOW - timedelta(days=1, seconds=1)),
        change(recent, NOW - timedelta(hours=23)),
    )
    assert await purge_revocations(conn, now=NOW) == 1
    assert await conn.fetchval("SELECT array_agg(user_id) FROM user_revocations") == [recent]
