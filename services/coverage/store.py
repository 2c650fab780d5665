"""Typed SQL of the coverage service: worker state per employer, loaded and saved per batch."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.runtime.db import Connection

from .calendar import PayPeriod
from .domain import Assignment, CoveragePeriod, Declaration, InvalidityChange, Worker

Key = tuple[int, str]  # (employer_no, ahv): coverage counts per worker and employer (Art. 4.1)


@dataclass(slots=True)
class WorkerState:
    """Everything the rules need of one worker at one employer."""

    worker: Worker | None = None
    latest_period: str = ""
    #: Assignments by start date, with the period whose list reported them last.
    assignments: dict[date, tuple[Assignment, str]] = field(default_factory=dict)
    declarations: dict[tuple[str, int], Declaration] = field(default_factory=dict)
    periods: tuple[CoveragePeriod, ...] = ()
    #: As loaded from the database: only what differs from it is written back.
    loaded: WorkerState | None = None

    def copy(self) -> WorkerState:
        """A snapshot (the values inside are immutable; only the dicts need copying)."""
        return WorkerState(
            self.worker, self.latest_period, dict(self.assignments), dict(self.declarations),
            self.periods,
        )  # fmt: skip

    def restore(self, snapshot: WorkerState) -> None:
        self.worker, self.latest_period = snapshot.worker, snapshot.latest_period
        self.assignments, self.declarations = snapshot.assignments, snapshot.declarations
        self.periods = snapshot.periods


def _weeks_to_json(weeks: tuple[tuple[date, Decimal], ...]) -> str:
    return json.dumps([[monday.isoformat(), str(hours)] for monday, hours in weeks])


def _weeks_from_json(text: str) -> tuple[tuple[date, Decimal], ...]:
    if text == "[]":  # most assignments: no sheet `Einsätze`
        return ()
    return tuple((date.fromisoformat(m), Decimal(h)) for m, h in json.loads(text))


def _keys(keys: Iterable[Key]) -> tuple[list[int], list[str]]:
    ordered = sorted(set(keys))
    return [k[0] for k in ordered], [k[1] for k in ordered]


#: Each worker of the batch with all it has in each table (arrays of rows), in one round trip.
_LOAD = """
SELECT k.employer_no, k.ahv, w.birth_date, w.sex, w.invalidity_degree, w.latest_period,
    ARRAY(SELECT (c.on_date, c.degree) FROM invalidity_changes c
          WHERE c.employer_no = k.employer_no AND c.ahv = k.ahv ORDER BY c.on_date),
    ARRAY(SELECT (a.starts_on, a.ends_on, a.expected_over_13_weeks, a.extension_accepted_on,
                  a.requested, a.children, a.ends_with_exit, a.reported_in, a.weekly_hours::text)
          FROM assignments a WHERE a.employer_no = k.employer_no AND a.ahv = k.ahv),
    ARRAY(SELECT (d.period, d.code, d.on_date) FROM declarations d
          WHERE d.employer_no = k.employer_no AND d.ahv = k.ahv),
    ARRAY(SELECT (p.insured_from, p.insured_to, p.start_rule, p.end_rule) FROM coverage_periods p
          WHERE p.employer_no = k.employer_no AND p.ahv = k.ahv ORDER BY p.insured_from)
FROM unnest($1::integer[], $2::text[]) AS k(employer_no, ahv)
LEFT JOIN workers w ON w.employer_no = k.employer_no AND w.ahv = k.ahv
"""


async def load(conn: Connection, keys: Iterable[Key]) -> dict[Key, WorkerState]:
    """The state of every worker in `keys` (empty state for one seen for the first time)."""
    employers, ahvs = _keys(keys)
    states: dict[Key, WorkerState] = {}
    for (
        employer_no, ahv, birth_date, sex, degree, latest_period,
        changes, assignments, declarations, periods,
    ) in await conn.fetch(_LOAD, employers, ahvs):  # fmt: skip
        state = states[(employer_no, ahv)] = WorkerState()
        if birth_date is not None:
            state.worker = Worker(
                birth_date=birth_date,
                sex=sex,
                invalidity_degree=degree,
                invalidity_changes=tuple(InvalidityChange(on, to) for on, to in changes),
            )
            state.latest_period = latest_period.strip()
        for row in assignments:
            start, end, s1, extended_on, requested, children, with_exit, reported_in, weeks = row
            state.assignments[start] = (
                Assignment(
                    start=start,
                    end=end,
                    expected_over_13_weeks=s1,
                    extension_accepted_on=extended_on,
                    requested=requested,
                    children=children,
                    ends_with_exit=with_exit,
                    weekly_hours=_weeks_from_json(weeks),
                ),
                reported_in.strip(),
            )
        for text, code, on in declarations:
            period = text.strip()
            state.declarations[(period, code)] = Declaration(
                period=PayPeriod.parse(period), code=code, on=on
            )
        state.periods = tuple(
            CoveragePeriod(
                insured_from=insured_from,
                insured_to=insured_to,
                start_rule=start_rule,
                end_rule=end_rule,
                rule_date=insured_from,
            )
            for insured_from, insured_to, start_rule, end_rule in periods
        )
        state.loaded = state.copy()
    return states


async def save(conn: Connection, states: dict[Key, WorkerState]) -> None:
    """Write back what the batch changed, in one statement for the whole batch."""
    workers: list[tuple[object, ...]] = []
    assignments: list[tuple[object, ...]] = []
    declarations: list[tuple[object, ...]] = []
    changes: list[tuple[object, ...]] = []
    periods: list[tuple[object, ...]] = []
    replaced: list[tuple[object, ...]] = []
    for key, s in states.items():
        if s.worker is None:
            continue
        employer_no, ahv = key
        was = s.loaded or WorkerState()
        w = s.worker
        if (w, s.latest_period) != (was.worker, was.latest_period):
            workers.append(
                (employer_no, ahv, w.birth_date, w.sex, w.invalidity_degree, s.latest_period)
            )
        known_changes = set(was.worker.invalidity_changes) if was.worker else set()
        changes += [
            (employer_no, ahv, c.on, c.degree)
            for c in w.invalidity_changes
            if c not in known_changes
        ]
        for start, (a, reported_in) in s.assignments.items():
            if was.assignments.get(start) != (a, reported_in):
                assignments.append(
                    (employer_no, ahv, a.start, a.end, a.expected_over_13_weeks,
                     a.extension_accepted_on, a.requested, a.children, a.ends_with_exit,
                     reported_in, _weeks_to_json(a.weekly_hours))
                )  # fmt: skip
        declarations += [
            (employer_no, ahv, period, code, d.on)
            for (period, code), d in s.declarations.items()
            if (period, code) not in was.declarations
        ]
        if s.periods != was.periods:
            replaced.append(key)
            periods += [
                (employer_no, ahv, p.insured_from, p.insured_to, p.start_rule, p.end_rule)
                for p in s.periods
            ]
        s.loaded = s.copy()
    await conn.execute(
        _SAVE,
        *_columns(workers, 6),
        *_columns(assignments, 11),
        *_columns(declarations, 5),
        *_columns(changes, 4),
        *_columns(replaced, 2),
        *_columns(periods, 6),
    )


def _columns(rows: list[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows as columns, for unnest."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


#: Everything a batch changed, in one statement and round trip: each table's rows as arrays.
#: The coverage periods of a worker whose periods changed are replaced: the ones no longer
#: derived go, the others are written (the two touch different rows, as one statement must).
_SAVE = """
WITH workers_saved AS (
    INSERT INTO workers
    SELECT * FROM unnest($1::integer[], $2::text[], $3::date[], $4::text[], $5::integer[],
                         $6::text[])
    ON CONFLICT (employer_no, ahv) DO UPDATE SET birth_date = EXCLUDED.birth_date,
        sex = EXCLUDED.sex, invalidity_degree = EXCLUDED.invalidity_degree,
        latest_period = EXCLUDED.latest_period
), assignments_saved AS (
    INSERT INTO assignments
    SELECT * FROM unnest($7::integer[], $8::text[], $9::date[], $10::date[], $11::boolean[],
                         $12::date[], $13::boolean[], $14::boolean[], $15::boolean[],
                         $16::text[], $17::jsonb[])
    ON CONFLICT (employer_no, ahv, starts_on) DO UPDATE SET ends_on = EXCLUDED.ends_on,
        weekly_hours = EXCLUDED.weekly_hours,
        expected_over_13_weeks = EXCLUDED.expected_over_13_weeks,
        extension_accepted_on = EXCLUDED.extension_accepted_on, requested = EXCLUDED.requested,
        children = EXCLUDED.children, ends_with_exit = EXCLUDED.ends_with_exit,
        reported_in = EXCLUDED.reported_in
), declarations_saved AS (
    INSERT INTO declarations
    SELECT * FROM unnest($18::integer[], $19::text[], $20::text[], $21::smallint[], $22::date[])
    ON CONFLICT DO NOTHING
), changes_saved AS (
    INSERT INTO invalidity_changes
    SELECT * FROM unnest($23::integer[], $24::text[], $25::date[], $26::integer[])
    ON CONFLICT DO NOTHING
), periods_gone AS (
    DELETE FROM coverage_periods p
    USING unnest($27::integer[], $28::text[]) AS replaced (employer_no, ahv)
    WHERE p.employer_no = replaced.employer_no AND p.ahv = replaced.ahv
      AND (p.employer_no, p.ahv, p.insured_from) NOT IN (
          SELECT * FROM unnest($29::integer[], $30::text[], $31::date[]))
)
INSERT INTO coverage_periods
SELECT * FROM unnest($29::integer[], $30::text[], $31::date[], $32::date[], $33::text[],
                     $34::text[])
ON CONFLICT (employer_no, ahv, insured_from) DO UPDATE SET insured_to = EXCLUDED.insured_to,
    start_rule = EXCLUDED.start_rule, end_rule = EXCLUDED.end_rule
"""


REMEMBER_LIST_ROW = (  # `UnitOfWork.defer_rows`: one statement for a batch's rows
    "INSERT INTO list_rows (upload_id, row_no, ahv) "
    "SELECT * FROM unnest($1::uuid[], $2::integer[], $3::text[]) ON CONFLICT DO NOTHING"
)
REMEMBER_LIST = (
    "INSERT INTO checked_lists (upload_id, employer_no, period, row_count) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)


async def lock_checked_list(conn: Connection, upload_id: object) -> tuple[int, PayPeriod] | None:
    """The checked list `upload_id` (employer, period) if it is checked, all its rows are
    in and its omitted workers were not judged yet; marks it judged. Under a lock of the
    list taken after this transaction wrote its part: of two transactions (its last rows,
    its check; two instances too) the second waits for the first's commit, then sees both."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('coverage-list:' || $1::uuid::text, 0))",
        upload_id,
    )
    row = await conn.fetchrow(
        "SELECT employer_no, period, row_count, judged FROM checked_lists WHERE upload_id = $1",
        upload_id,
    )
    if row is None or row["judged"]:
        return None
    rows = await conn.fetchval("SELECT count(*) FROM list_rows WHERE upload_id = $1", upload_id)
    if rows < row["row_count"]:
        return None
    await conn.execute("UPDATE checked_lists SET judged = true WHERE upload_id = $1", upload_id)
    return row["employer_no"], PayPeriod.parse(row["period"])


async def omitted_workers(
    conn: Connection, upload_id: object, employer_no: int, period: PayPeriod, months: int
) -> list[Key]:
    """The employer's workers last listed in the `months` periods before `period` whom the
    list `upload_id` does not name."""
    since = period.shifted(-months)
    rows = await conn.fetch(
        "SELECT w.employer_no, w.ahv FROM workers w WHERE w.employer_no = $1 "
        "AND w.latest_period >= $2 AND w.latest_period < $3 AND NOT EXISTS "
        "(SELECT FROM list_rows r WHERE r.upload_id = $4 AND r.ahv = w.ahv)",
        employer_no,
        str(since),
        str(period),
        upload_id,
    )
    return [(r["employer_no"], r["ahv"]) for r in rows]


async def forget_list_rows(conn: Connection, upload_id: object) -> None:
    """A judged list's rows (a redelivered row writes its line again, which judges nothing:
    the list stays judged)."""
    await conn.execute("DELETE FROM list_rows WHERE upload_id = $1", upload_id)
