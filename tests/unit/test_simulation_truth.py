"""The simulation's world and ground truth (issue 9), pure: what each list says of a worker,
month by month, and what the rules make of it — interruptions (Art. 5), corrections, IV
decisions, two assignments in a month, whole months off; and the generated world's lists
pass intake's own checks and are kept by coverage as the truth keeps them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from contracts.events import intake
from services.coverage import domain as coverage
from services.coverage import handlers, store
from services.coverage.calendar import PayPeriod
from services.intake.domain import check_json_rows
from services.pricing.domain import RowInput, price
from services.simulate import world as sim
from services.simulate.truth import ExpectedRow, Knowledge, list_row
from services.simulate.world import (
    Absence,
    Correction,
    FollowUp,
    SimEmployer,
    SimWorker,
    Stint,
    World,
    build_world,
)

EMPLOYER = SimEmployer(
    employer_no=7001,
    name="SIMULATION PERSONAL 001 AG",
    canton="ZH",
    language="de",
    employer_share=Decimal("0.5"),
    behaviour="punctual",
    pay_after_days=10,
    upload_day=5,
    connector=False,
)
D = Decimal


def d(text: str) -> date:
    return date.fromisoformat(text)


def stint(start: str, end: str | None, **changes: Any) -> Stint:
    base = Stint(
        start=d(start),
        end=d(end) if end else None,
        over_13_weeks=True,
        extension_on=None,
        weekly_hours=D(40),
        hourly_wage=D("30.00"),
    )
    return replace(base, **changes)


def worker(*stints: Stint, **changes: Any) -> SimWorker:
    base = SimWorker(
        serial=1,
        employer_no=EMPLOYER.employer_no,
        ahv=sim.ahv_number(500_000_001),
        last_name="MUSTER",
        first_name="ANNA",
        street="BAHNHOFSTRASSE 1",
        postcode="8001",
        town="ZÜRICH",
        birth_date=date(1985, 1, 13),
        sex="F",
        invalidity_degree=0,
        language_code=1,
        civil_status=1,
        requested=False,
        children=False,
        stints=stints,
    )
    return replace(base, **changes)


def lists(
    w: SimWorker, months: int = 9
) -> tuple[dict[str, tuple[dict[str, Any], ExpectedRow]], Knowledge]:
    """The worker's row in each list, as the simulation sends them (in period order)."""
    world = World(1, "2025-01", months, (EMPLOYER,), (w,))
    known = Knowledge()
    out = {}
    for period in world.periods:
        made = list_row(world, EMPLOYER, w, period, known)
        if made is not None:
            out[period] = made
    return out, known


def spans(known: Knowledge, w: SimWorker) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (p.insured_from.isoformat(), p.insured_to.isoformat() if p.insured_to else None,
         p.start_rule, p.end_rule)
        for p in known.timeline(w).periods
    ]  # fmt: skip


def findings(known: Knowledge, w: SimWorker, through: str) -> list[tuple[str, str]]:
    found = coverage.compare_declarations(
        known.timeline(w), known.declarations.values(), through=PayPeriod.parse(through)
    )
    return [(f.code, str(f.period)) for f in found]


# -- Art. 5: an interruption of uncertain length -------------------------------------------

#: S1 from 6 January; the last day 20 June: the interruption from 21 June goes on the list of
#: July, the exit on the list of August (Art. 5.1-5.2, the example's months).
UNCERTAIN = stint("2025-01-06", "2025-06-20", follow_up="exit")


def test_art5_the_interruption_in_the_next_list_the_exit_in_the_one_after() -> None:
    w = worker(UNCERTAIN)
    rows, known = lists(w)
    june, _ = rows["2025-06"]
    assert (june["assignment_end"], june["mutation_code"], june["exit_date"]) == (
        "2025-06-20",
        None,
        None,
    )  # the employer does not know yet whether the worker comes back
    july, july_expected = rows["2025-07"]
    assert {k: july[k] for k in ("mutation_code", "hours", "insured_wage", "premium_total")} == {
        "mutation_code": 4,
        "hours": "0.00",
        "insured_wage": "0.00",
        "premium_total": "0.00",
    }
    assert (july["assignment_end"], july_expected.kind) == ("2025-06-20", "interruption")
    august, august_expected = rows["2025-08"]
    assert (august["mutation_code"], august["exit_date"], august["assignment_end"]) == (
        2,
        "2025-06-21",  # Art. 5.2: the interruption's first day (25 June in its example)
        "2025-06-20",
    )
    assert august_expected.kind == "exit_after_interruption"
    assert "2025-09" not in rows  # exited the month before (Art. 8.3)
    assert spans(known, w) == [("2025-01-06", "2025-06-20", "S1", "E2")]
    assert findings(known, w, "2025-08") == []
    assert known.forgotten == {}


@pytest.mark.parametrize("how", ["omitted", "repeated"])
def test_art5_a_forgotten_follow_up_is_the_finding_of_its_list(how: FollowUp) -> None:
    w = worker(replace(UNCERTAIN, follow_up=how))
    rows, known = lists(w)
    assert rows["2025-07"][0]["mutation_code"] == 4
    if how == "omitted":
        assert "2025-08" not in rows
    else:
        august, expected = rows["2025-08"]
        assert (august["mutation_code"], expected.kind) == (4, "interruption_again")
    assert known.forgotten == {"2025-08": how}
    assert spans(known, w) == [("2025-01-06", "2025-06-20", "S1", "E1")]
    assert ("interruption.follow_up_missing", "2025-08") in findings(known, w, "2025-08")


def test_art5_back_within_the_first_month_needs_neither_code_4_nor_an_exit() -> None:
    w = worker(UNCERTAIN, stint("2025-07-07", None, over_13_weeks=False))
    rows, known = lists(w)
    july, _ = rows["2025-07"]
    assert (july["assignment_start"], july["mutation_code"]) == ("2025-07-07", 1)  # S4 entry
    assert all(row["mutation_code"] != 4 for row, _ in rows.values())
    assert spans(known, w) == [
        ("2025-01-06", "2025-06-20", "S1", "E1"),
        ("2025-07-07", None, "S4", None),
    ]
    assert findings(known, w, "2025-09") == []


def test_art5_only_for_an_insured_worker() -> None:
    short = stint("2025-01-06", "2025-02-21", over_13_weeks=False, follow_up="exit")
    rows, known = lists(worker(short))
    assert sorted(rows) == ["2025-01", "2025-02"]  # never insured: nothing to report
    assert known.due == {}


# -- corrections ---------------------------------------------------------------------------


@pytest.mark.parametrize("unsigned", [False, True])
def test_a_correction_repeats_the_row_with_negative_hours_and_its_own_price(
    unsigned: bool,
) -> None:
    w = worker(
        stint("2025-01-06", "2025-03-28"),
        corrections=(Correction("2025-03", "2025-05", D(8), unsigned_amounts=unsigned),),
    )
    rows, known = lists(w)
    march, _ = rows["2025-03"]
    may, expected = rows["2025-05"]
    assert "2025-04" not in rows
    assert (may["hours"], may["base_wage"]) == ("-8.00", "-240.00")
    for column in ("mutation_code", "exit_date", "assignment_start", "assignment_end"):
        assert may[column] == march[column]  # the corrected row again: exit on 28 March
    assert expected.kind == "correction"
    # Insured in March (S1 until the exit): 8 hours at 30.00 - 12.10 = 17.90, 6 % at 40.
    assert expected.insured_hours == D("-8.00")
    assert (expected.insured_wage, expected.premium_total) == (D("-143.20"), D("-8.60"))
    assert Decimal(may["premium_total"]) == (D("8.60") if unsigned else D("-8.60"))
    assert expected.corrected is unsigned  # the foundation corrects a forgotten minus
    assert spans(known, w) == [("2025-01-06", "2025-03-28", "S1", "E2")]


# -- IV decisions --------------------------------------------------------------------------


def test_an_iv_degree_reported_in_a_list_applies_from_its_first_day() -> None:
    w = worker(stint("2025-01-06", None), invalidity_changes=(("2025-03", 50),))
    rows, known = lists(w, months=4)
    assert [rows[p][0]["invalidity_degree"] for p in sorted(rows)] == [0, 0, 50, 50]
    assert [rows[p][1].invalidity_changed for p in sorted(rows)] == [False, False, True, False]
    assert known.invalidity_changes == [coverage.InvalidityChange(d("2025-03-01"), 50)]
    march, expected = rows["2025-03"]
    priced = price(
        RowInput(2025, 3, w.birth_date, "F", D(march["hours"]), D(march["base_wage"]), 50)
    )
    assert (expected.insured_wage, expected.premium_total) == (
        priced.insured_wage,
        priced.premium_total,
    )  # Art. 18: the limits of a ½ pension


def test_an_iv_degree_of_70_ends_insurance_the_day_before_with_the_exit_in_that_list() -> None:
    w = worker(stint("2025-01-06", "2025-04-25"), invalidity_changes=(("2025-04", 80),))
    rows, known = lists(w, months=6)
    april, expected = rows["2025-04"]
    assert (april["invalidity_degree"], april["mutation_code"], april["exit_date"]) == (
        80,
        2,
        "2025-04-01",
    )
    assert (expected.premium_total, expected.insured_hours) == (D("0.00"), D("0.00"))
    # The list cannot say 0 for hours worked without a code 4-7: the employer declares what
    # they cost before the decision, the foundation corrects it.
    assert Decimal(april["insured_wage"]) > 0 and expected.corrected
    assert spans(known, w) == [("2025-01-06", "2025-03-31", "S1", "E5")]
    assert findings(known, w, "2025-04") == []
    assert sorted(rows) == ["2025-01", "2025-02", "2025-03", "2025-04"]


# -- two assignments in a month; a month off -----------------------------------------------


@pytest.mark.parametrize("by_week", [False, True])
def test_two_assignments_in_a_month_go_into_the_rows_assignments(by_week: bool) -> None:
    first = stint("2025-01-06", "2025-03-14", hours_by_week=by_week)
    second = stint(
        "2025-03-24", None, weekly_hours=D(20), hourly_wage=D("40.00"), hours_by_week=by_week
    )
    w = worker(first, second)
    rows, known = lists(w, months=4)
    march, expected = rows["2025-03"]
    assert expected.kind == "multi"
    details = march["assignments"]
    assert [(a["start"], a["end"]) for a in details] == [
        ("2025-01-06", "2025-03-14"),
        ("2025-03-24", None),
    ]
    # 10 working days at 8 h, then 6 at 4 h: 104 h for 2,400 + 960 CHF
    assert (march["hours"], march["base_wage"]) == ("104.00", "3360.00")
    assert march["assignment_start"] == "2025-03-24"  # W: the current assignment
    weeks = [(w["week_of"], w["hours"]) for a in details for w in a["weekly_hours"]]
    # each week's whole hours, also of the week that begins in February (its 1-2 March)
    assert weeks == (
        [("2025-02-24", "40.00"), ("2025-03-03", "40.00"), ("2025-03-10", "40.00"),
         ("2025-03-24", "20.00"), ("2025-03-31", "20.00")]
        if by_week
        else []
    )  # fmt: skip
    assert "assignments" not in rows["2025-04"][0]
    assert sorted(known.assignments) == [d("2025-01-06"), d("2025-03-24")]


def test_a_month_off_ill_has_no_hours_and_code_7() -> None:
    w = worker(stint("2025-01-06", None), absences=(Absence("2025-03", 7),))
    rows, _ = lists(w, months=4)
    march, expected = rows["2025-03"]
    assert (march["hours"], march["base_wage"], march["mutation_code"]) == ("0.00", "0.00", 7)
    assert (expected.kind, expected.premium_total) == ("absence", D("0.00"))
    assert rows["2025-04"][0]["hours"] != "0.00"


# -- the generated world ---------------------------------------------------------------------


def test_the_world_follows_from_the_seed_and_has_each_life_event() -> None:
    one = build_world(employers=10, workers=600, months=12, seed=11)
    assert one == build_world(employers=10, workers=600, months=12, seed=11)
    assert one != build_world(employers=10, workers=600, months=12, seed=12)
    workers = one.workers
    changes = [c for w in workers for c in w.invalidity_changes]
    assert len(changes) == 2 and any(degree >= 70 for _, degree in changes)
    assert sum(bool(w.corrections) for w in workers) == 2
    assert sum(bool(w.absences) for w in workers) == 3
    split = [w for w in workers if any(len(sim.stints_in(w, p)) > 1 for p in one.periods)]
    assert len(split) == 6
    assert sum(e.forgets_follow_ups for e in one.employers) == 1
    assert {s.follow_up for w in workers for s in w.stints} >= {None, "exit"}


def test_life_events_leave_the_other_workers_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    with_events = build_world(employers=10, workers=600, months=12, seed=11)
    monkeypatch.setattr(sim, "_life_events", lambda world: world)
    without = build_world(employers=10, workers=600, months=12, seed=11)
    plain = 0
    for a, b in zip(with_events.workers, without.workers, strict=True):
        if not (a.invalidity_changes or a.corrections or a.absences) and len(a.stints) == len(
            b.stints
        ):
            assert tuple(replace(s, follow_up=None) for s in a.stints) == b.stints
            plain += 1
    assert plain > 580


def test_every_list_of_a_world_passes_intake_and_coverage_keeps_what_the_truth_keeps() -> None:
    world = build_world(employers=6, workers=400, months=12, seed=5)
    knowledge: dict[str, Knowledge] = {}
    states: dict[str, store.WorkerState] = {}
    kinds: set[str] = set()
    for period in world.periods:
        for employer in world.employers:
            rows = []
            for w in world.workers:
                if w.employer_no == employer.employer_no:
                    known = knowledge.setdefault(w.ahv, Knowledge())
                    made = list_row(world, employer, w, period, known)
                    if made is not None:
                        rows.append(made[0])
                        kinds.add(made[1].kind)
            if not rows:
                continue
            checked = check_json_rows(
                rows, employer_no=employer.employer_no, period=period, language="de"
            )
            assert (checked.status, checked.findings) == ("ok", ())
            for row in checked.rows:
                payload = intake.RowValidatedPayload.model_validate(
                    row.values | {"upload_id": uuid.uuid4(), "period": period, "row_no": 2}
                )
                state = states.setdefault(payload.ahv, store.WorkerState())
                handlers._remember(state, payload, PayPeriod.parse(period))
    assert kinds >= {"work", "multi", "absence", "interruption", "correction"}
    for w in world.workers:
        if w.ahv not in states:
            continue
        state, known = states[w.ahv], knowledge[w.ahv]
        assert state.worker == known.worker(w)
        assert state.assignments == known.assignments
        assert state.declarations == known.declarations
