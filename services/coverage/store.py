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


@dataclass
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
    return tuple((date.fromisoformat(m), Decimal(h)) for m, h in json.loads(text))


def _keys(keys: Iterable[Key]) -> tuple[list[int], list[str]]:
    ordered = sorted(set(keys))
    return [k[0] for k in ordered], [k[1] for k in ordered]


_IN_BATCH = "(employer_no, ahv) IN (SELECT * FROM unnest($1::integer[], $2::text[]))"


async def load(conn: Connection, keys: Iterable[Key]) -> dict[Key, WorkerState]:
    """The state of every worker in `keys` (empty state for one seen for the first time)."""
    employers, ahvs = _keys(keys)
    states: dict[Key, WorkerState] = {k: WorkerState() for k in zip(employers, ahvs, strict=True)}
    changes: dict[Key, list[InvalidityChange]] = {}
    for r in await conn.fetch(
        f"SELECT employer_no, ahv, on_date, degree FROM invalidity_changes WHERE {_IN_BATCH} "
        "ORDER BY on_date",
        employers,
        ahvs,
    ):
        changes.setdefault((r["employer_no"], r["ahv"]), []).append(
            InvalidityChange(r["on_date"], r["degree"])
        )
    for r in await conn.fetch(f"SELECT * FROM workers WHERE {_IN_BATCH}", employers, ahvs):
        key = (r["employer_no"], r["ahv"])
        states[key].worker = Worker(
            birth_date=r["birth_date"],
            sex=r["sex"],
            invalidity_degree=r["invalidity_degree"],
            invalidity_changes=tuple(changes.get(key, ())),
        )
        states[key].latest_period = r["latest_period"].strip()
    for r in await conn.fetch(f"SELECT * FROM assignments WHERE {_IN_BATCH}", employers, ahvs):
        states[(r["employer_no"], r["ahv"])].assignments[r["starts_on"]] = (
            Assignment(
                start=r["starts_on"],
                end=r["ends_on"],
                expected_over_13_weeks=r["expected_over_13_weeks"],
                extension_accepted_on=r["extension_accepted_on"],
                requested=r["requested"],
                children=r["children"],
                ends_with_exit=r["ends_with_exit"],
                weekly_hours=_weeks_from_json(r["weekly_hours"]),
            ),
            r["reported_in"].strip(),
        )
    for r in await conn.fetch(f"SELECT * FROM declarations WHERE {_IN_BATCH}", employers, ahvs):
        period = r["period"].strip()
        states[(r["employer_no"], r["ahv"])].declarations[(period, r["code"])] = Declaration(
            period=PayPeriod.parse(period), code=r["code"], on=r["on_date"]
        )
    periods: dict[Key, list[CoveragePeriod]] = {}
    for r in await conn.fetch(
        f"SELECT * FROM coverage_periods WHERE {_IN_BATCH} ORDER BY insured_from",
        employers,
        ahvs,
    ):
        periods.setdefault((r["employer_no"], r["ahv"]), []).append(
            CoveragePeriod(
                insured_from=r["insured_from"],
                insured_to=r["insured_to"],
                start_rule=r["start_rule"],
                end_rule=r["end_rule"],
                rule_date=r["insured_from"],
            )
        )
    for key, found in periods.items():
        states[key].periods = tuple(found)
    for state in states.values():
        state.loaded = state.copy()
    return states


async def save(conn: Connection, states: dict[Key, WorkerState]) -> None:
    """Write back what the batch changed: one statement per table for the whole batch."""
    workers, assignments, declarations, changes, periods = [], [], [], [], []
    replaced: list[Key] = []
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
    if workers:
        await conn.executemany(
            "INSERT INTO workers VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (employer_no, ahv) "
            "DO UPDATE SET birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex, "
            "invalidity_degree = EXCLUDED.invalidity_degree, "
            "latest_period = EXCLUDED.latest_period",
            workers,
        )
    if assignments:
        await conn.executemany(
            "INSERT INTO assignments VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) "
            "ON CONFLICT (employer_no, ahv, starts_on) DO UPDATE SET ends_on = EXCLUDED.ends_on, "
            "weekly_hours = EXCLUDED.weekly_hours, "
            "expected_over_13_weeks = EXCLUDED.expected_over_13_weeks, "
            "extension_accepted_on = EXCLUDED.extension_accepted_on, "
            "requested = EXCLUDED.requested, children = EXCLUDED.children, "
            "ends_with_exit = EXCLUDED.ends_with_exit, reported_in = EXCLUDED.reported_in",
            assignments,
        )
    if declarations:
        await conn.executemany(
            "INSERT INTO declarations VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            declarations,
        )
    if changes:
        await conn.executemany(
            "INSERT INTO invalidity_changes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            changes,
        )
    if replaced:
        employers, ahvs = _keys(replaced)
        await conn.execute(f"DELETE FROM coverage_periods WHERE {_IN_BATCH}", employers, ahvs)
    if periods:
        await conn.executemany(
            "INSERT INTO coverage_periods VALUES ($1, $2, $3, $4, $5, $6)", periods
        )
