"""SQL of the dunning service: cases of both ladders, their steps, delivered lists, balances."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.values import Track
from services.runtime.db import Connection

from . import domain, letters


@dataclass(frozen=True, slots=True)
class StoredCase:
    case_id: uuid.UUID
    employer_no: int
    track: Track
    period: str | None
    anchor: date
    steps_taken: int
    held_since: date | None
    shift_days: int
    closed_on: date | None
    canton: str | None

    def ladder_case(self) -> domain.Case:
        return domain.Case(
            track=self.track,
            anchor=self.anchor,
            steps_taken=self.steps_taken,
            closed=self.closed_on is not None,
            held=self.held_since is not None,
            shift_days=self.shift_days,
        )


_CASE_COLUMNS = (
    "c.case_id, c.employer_no, c.track, c.period, c.anchor, c.steps_taken, c.held_since, "
    "c.shift_days, c.closed_on, e.canton"
)


def _case(r: Any) -> StoredCase:
    return StoredCase(
        case_id=r["case_id"],
        employer_no=r["employer_no"],
        track=r["track"],
        period=r["period"],
        anchor=r["anchor"],
        steps_taken=r["steps_taken"],
        held_since=r["held_since"],
        shift_days=r["shift_days"],
        closed_on=r["closed_on"],
        canton=r["canton"],
    )


async def watch_from(conn: Connection, day: date) -> date:
    """The first business day dunning saw (set by the first clock event)."""
    first: date = await conn.fetchval(
        "INSERT INTO watch (only_row, first_day) VALUES (true, $1) "
        "ON CONFLICT (only_row) DO UPDATE SET first_day = watch.first_day RETURNING first_day",
        day,
    )
    return first


OPEN_DATA_CASES = """
    -- Art. 8.1, 22.1: every affiliated month's list is due on the 15th of the next month; a
    -- period whose due date passed without an ok list gets a data case (from the 16th).
    WITH periods AS (
        SELECT e.employer_no, to_char(m, 'YYYY-MM') AS period,
               (m + interval '1 month' + interval '14 days')::date AS due
        FROM employers e,
             generate_series(date_trunc('month', e.affiliated_from)::date,
                             date_trunc('month', $1::date)::date, interval '1 month') AS m
        WHERE e.affiliated_until IS NULL OR m <= e.affiliated_until
    )
    INSERT INTO cases (case_id, employer_no, track, opened_on, period, anchor, next_step_on)
    SELECT gen_random_uuid(), p.employer_no, 'data', p.due + 1, p.period, p.due, NULL
    FROM periods p
    WHERE p.due < $1 AND p.due >= $2
      AND NOT EXISTS (SELECT 1 FROM delivered_lists d
                      WHERE d.employer_no = p.employer_no AND d.period = p.period)
    ON CONFLICT (employer_no, period) WHERE track = 'data' DO NOTHING
    RETURNING case_id
"""


async def open_data_cases(conn: Connection, today: date, watch: date) -> None:
    """Open missing data cases; `watch`: lists due before it are not chased."""
    await conn.execute(OPEN_DATA_CASES, today, watch)


async def due_cases(conn: Connection, today: date) -> list[StoredCase]:
    """Open, not held cases whose next step has come (or was never computed)."""
    rows = await conn.fetch(
        f"SELECT {_CASE_COLUMNS} FROM cases c LEFT JOIN employers e USING (employer_no) "
        "WHERE c.closed_on IS NULL AND c.held_since IS NULL "
        "AND (c.next_step_on IS NULL OR c.next_step_on <= $1) ORDER BY c.anchor, c.case_id "
        "FOR UPDATE OF c",
        today,
    )
    return [_case(r) for r in rows]


async def get_case(conn: Connection, case_id: uuid.UUID) -> StoredCase | None:
    r = await conn.fetchrow(
        f"SELECT {_CASE_COLUMNS} FROM cases c LEFT JOIN employers e USING (employer_no) "
        "WHERE c.case_id = $1 FOR UPDATE OF c",
        case_id,
    )
    return None if r is None else _case(r)


SAVE_STEP = """
    INSERT INTO case_steps (case_id, step, dated, taken_on, fee, amount)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""

ADVANCE_CASE = """
    UPDATE cases SET steps_taken = $2, step = $3, next_step_on = $4,
                     closed_on = CASE WHEN $5::date IS NOT NULL THEN $5 ELSE closed_on END,
                     close_reason = CASE WHEN $5::date IS NOT NULL THEN 'terminated'
                                         ELSE close_reason END
    WHERE case_id = $1
"""

SET_NEXT = "UPDATE cases SET next_step_on = $2 WHERE case_id = $1"


async def record_delivered(conn: Connection, employer_no: int, period: str, day: date) -> None:
    await conn.execute(
        "INSERT INTO delivered_lists (employer_no, period, delivered_on) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        employer_no,
        period,
        day,
    )


async def close_data_case(conn: Connection, employer_no: int, period: str, day: date) -> None:
    await conn.execute(
        "UPDATE cases SET closed_on = $3, close_reason = 'delivered' "
        "WHERE track = 'data' AND employer_no = $1 AND period = $2 AND closed_on IS NULL",
        employer_no,
        period,
        day,
    )


async def open_payment_case(
    conn: Connection, employer_no: int, due_date: date, day: date
) -> uuid.UUID | None:
    """One open payment case per employer (the reminders are for the whole balance).

    None once the employer's affiliation was terminated (by either ladder): RULES §9 ends a
    payment ladder with the termination and debt enforcement of all due amounts, so what
    falls due afterwards (the last lists, the fees) goes to enforcement (an operator's Art. 25
    fee), not round the ladder again: without this, every unpaid fee invoice brought another
    termination and another CHF 400 (found by `bvgconnect simulate`)."""
    case_id: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO cases (case_id, employer_no, track, opened_on, anchor) "
        "SELECT gen_random_uuid(), $1, 'payment', $2, $3 "
        "WHERE NOT EXISTS (SELECT 1 FROM case_steps s JOIN cases c USING (case_id) "
        "                  WHERE c.employer_no = $1 AND s.step = 'termination') "
        "ON CONFLICT (employer_no) WHERE track = 'payment' AND closed_on IS NULL DO NOTHING "
        "RETURNING case_id",
        employer_no,
        day,
        due_date,
    )
    return case_id


async def save_balance(
    conn: Connection,
    employer_no: int,
    open_balance: Decimal,
    overdue: Decimal,
    as_of: date,
    changed_at: datetime,
) -> bool:
    """Keep the newest balance; False if an older one arrived late (replay)."""
    row = await conn.fetchval(
        """
        INSERT INTO balances (employer_no, open_balance, overdue_balance, as_of, changed_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (employer_no) DO UPDATE SET open_balance = EXCLUDED.open_balance,
            overdue_balance = EXCLUDED.overdue_balance, as_of = EXCLUDED.as_of,
            changed_at = EXCLUDED.changed_at
        WHERE balances.changed_at <= EXCLUDED.changed_at
        RETURNING employer_no
        """,
        employer_no,
        open_balance,
        overdue,
        as_of,
        changed_at,
    )
    return row is not None


async def balance_of(conn: Connection, employer_no: int) -> tuple[Decimal, Decimal] | None:
    r = await conn.fetchrow(
        "SELECT open_balance, overdue_balance FROM balances WHERE employer_no = $1", employer_no
    )
    return None if r is None else (r["open_balance"], r["overdue_balance"])


async def balance_changed_at(conn: Connection, employer_no: int) -> datetime | None:
    changed: datetime | None = await conn.fetchval(
        "SELECT changed_at FROM balances WHERE employer_no = $1", employer_no
    )
    return changed


async def close_payment_case(conn: Connection, employer_no: int, day: date) -> None:
    await conn.execute(
        "UPDATE cases SET closed_on = $2, close_reason = 'paid' "
        "WHERE track = 'payment' AND employer_no = $1 AND closed_on IS NULL",
        employer_no,
        day,
    )


async def letter_of(
    conn: Connection, case_id: uuid.UUID, step: domain.StepName, *, employer_no: int | None = None
) -> letters.Letter | None:
    """The letter of a step taken (None if it was not), optionally only of that employer."""
    r = await conn.fetchrow(
        "SELECT c.employer_no, c.track, c.period, c.anchor, c.shift_days, s.dated, s.fee, "
        "s.amount, e.name, e.language FROM cases c JOIN case_steps s USING (case_id) "
        "LEFT JOIN employers e ON e.employer_no = c.employer_no "
        "WHERE c.case_id = $1 AND s.step = $2 AND ($3::integer IS NULL OR c.employer_no = $3)",
        case_id,
        step,
        employer_no,
    )
    if r is None:
        return None
    ladder = domain.LADDERS[r["track"]]
    index = [s.step for s in ladder.steps].index(step)
    planned = domain.schedule(domain.Case(r["track"], r["anchor"], shift_days=r["shift_days"]))
    # the deadline a letter gives is the date of the next step
    deadline = planned[index + 1].on if index + 1 < len(planned) else None
    return letters.Letter(
        employer_no=r["employer_no"],
        employer_name=r["name"] or str(r["employer_no"]),
        language=r["language"] or "de",
        track=r["track"],
        step=ladder.steps[index].step,
        dated=r["dated"],
        due=r["anchor"],
        period=r["period"],
        amount=r["amount"],
        fee=r["fee"],
        article=ladder.steps[index].article,
        deadline=deadline,
        effective=domain.termination_effective(r["dated"]) if step == "termination" else None,
    )


#: A copy of a step for an outside body (Art. 22.3); its id is derived from case, step and
#: recipient, so a replayed step writes nothing new.
SAVE_NOTICE = """
    INSERT INTO notifications (id, case_id, step, recipient, address, created_on)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""

#: NOTIFY channel that wakes the notice senders.
NOTICES_CHANNEL = "dunning_notices"
