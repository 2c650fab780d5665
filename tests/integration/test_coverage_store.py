"""The coverage service's worker state: what is saved is what is loaded again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from services.coverage import store
from services.coverage.calendar import PayPeriod
from services.coverage.domain import (
    Assignment,
    CoveragePeriod,
    Declaration,
    EndRule,
    InvalidityChange,
    StartRule,
    Worker,
)
from services.registry import spec_of
from services.runtime.db import create_pool, load_migrations, migrate

ANNA = (4000, "756.1234.5678.97")
BEN = (4000, "756.9217.0769.85")
CARLA = (4001, "756.1234.5678.97")  # the same person at another employer


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn, "coverage", min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(conn, "coverage", load_migrations(spec_of("coverage").migration_sources()))
    yield pool
    await pool.close()


def period(
    start: date, end: date | None, rule: StartRule = "S1", end_rule: EndRule | None = None
) -> CoveragePeriod:
    return CoveragePeriod(start, end, rule, end_rule, start)


def state_of(s: store.WorkerState) -> tuple[object, ...]:
    return (s.worker, s.latest_period, s.assignments, s.declarations, s.periods)


async def round_trip(
    pool: asyncpg.Pool, states: dict[store.Key, store.WorkerState]
) -> dict[store.Key, store.WorkerState]:
    async with pool.acquire() as conn, conn.transaction():
        await store.save(conn, states)
    async with pool.acquire() as conn:
        return await store.load(conn, states)


async def test_saved_state_loads_again_and_only_changes_are_written(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        states = await store.load(conn, [ANNA, BEN, CARLA])
    assert all(state_of(s) == state_of(store.WorkerState()) for s in states.values())

    anna = states[ANNA]
    anna.worker = Worker(date(1980, 5, 17), "F", 0, (InvalidityChange(date(2025, 2, 1), 40),))
    anna.latest_period = "2025-02"
    anna.assignments = {
        date(2024, 1, 8): (Assignment(date(2024, 1, 8), date(2024, 3, 1), True), "2024-03"),
        date(2025, 1, 6): (
            Assignment(
                date(2025, 1, 6),
                weekly_hours=(
                    (date(2025, 1, 6), Decimal("38.50")),
                    (date(2025, 1, 13), Decimal(0)),
                ),
                requested=True,
            ),
            "2025-02",
        ),
    }
    anna.declarations = {
        ("2024-01", 1): Declaration(PayPeriod(2024, 1), 1, date(2024, 1, 8)),
        ("2024-03", 2): Declaration(PayPeriod(2024, 3), 2, date(2024, 3, 2)),
    }
    anna.periods = (
        period(date(2024, 1, 8), date(2024, 3, 1), end_rule="E2"),
        period(date(2025, 1, 6), None, "S2"),
    )
    ben = states[BEN]
    ben.worker = Worker(date(2001, 12, 31), "M")
    ben.latest_period = "2025-02"
    ben.assignments = {date(2025, 2, 3): (Assignment(date(2025, 2, 3)), "2025-02")}
    ben.periods = (period(date(2025, 2, 3), None, "S6"),)
    loaded = await round_trip(pool, states)
    assert {k: state_of(s) for k, s in loaded.items()} == {
        k: state_of(s) for k, s in states.items()
    }

    # The next list: Anna's degree changes again, her assignment ends, her first period is no
    # longer derived, the second ends and a third starts; Ben is no longer insured at all.
    anna, ben = loaded[ANNA], loaded[BEN]
    assert anna.worker is not None
    changes = (*anna.worker.invalidity_changes, InvalidityChange(date(2025, 3, 1), 0))
    anna.worker = Worker(anna.worker.birth_date, "F", 0, changes)
    anna.latest_period = "2025-03"
    start = date(2025, 1, 6)
    anna.assignments[start] = (
        Assignment(start, date(2025, 3, 14), requested=True, ends_with_exit=True),
        "2025-03",
    )
    anna.declarations[("2025-03", 2)] = Declaration(PayPeriod(2025, 3), 2, date(2025, 3, 15))
    anna.periods = (
        period(date(2025, 1, 6), date(2025, 3, 14), "S2", "E2"),
        period(date(2025, 3, 20), None, "S4"),
    )
    ben.periods = ()
    again = await round_trip(pool, loaded)
    assert {k: state_of(s) for k, s in again.items()} == {k: state_of(s) for k, s in loaded.items()}
    assert state_of(again[CARLA]) == state_of(store.WorkerState())

    # Nothing changed since: saving again leaves everything as it is.
    unchanged = await round_trip(pool, again)
    assert {k: state_of(s) for k, s in unchanged.items()} == {
        k: state_of(s) for k, s in again.items()
    }
