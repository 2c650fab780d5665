"""Both reminder ladders day by day with the dates of RULES §9 (Art. 22-23)."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.values import Track
from services.dunning import domain
from services.dunning.domain import Case, due_steps
from tests.support.cli import run_cli

DATA_MARCH = [
    ("reminder_1", date(2025, 4, 25), Decimal("100.00"), False, ()),
    ("reminder_2", date(2025, 5, 10), Decimal("300.00"), True, ("association",)),
    ("termination", date(2025, 5, 25), Decimal("0.00"), False, ("catch_all", "labour_office")),
]
# invoice 2025-04-30, due 2025-05-30 (Art. 21.2)
PAYMENT_APRIL = [
    ("reminder_1", date(2025, 5, 30), Decimal("0.00"), False, ()),
    ("reminder_2", date(2025, 6, 29), Decimal("300.00"), True, ("association",)),
    ("termination", date(2025, 7, 9), Decimal("400.00"), False, ("catch_all", "labour_office")),
]


def taken_by_day(case: Case, start: date, end: date) -> list[tuple[str, date, date]]:
    """Run the ladder one clock day at a time: (step, its date, the day it was taken)."""
    taken: list[tuple[str, date, date]] = []
    day = start
    while day <= end:
        for due in due_steps(case, day):
            taken.append((due.step.step, due.on, day))
            case = Case(case.track, case.anchor, steps_taken=due.index + 1)
        day += timedelta(days=1)
    return taken


@pytest.mark.parametrize(
    ("track", "anchor", "expected"),
    [
        pytest.param("data", domain.list_due_date("2025-03"), DATA_MARCH, id="art-22-data"),
        pytest.param(
            "payment", domain.invoice_due_date(date(2025, 4, 30)), PAYMENT_APRIL, id="art-23-pay"
        ),
    ],
)
def test_each_step_on_its_date_once(track: Track, anchor: date, expected: list[object]) -> None:
    assert track in ("data", "payment")
    plan = domain.plan(track, anchor)
    assert [
        (s.step.step, s.on, s.step.fee, s.step.registered, s.step.copies) for s in plan
    ] == expected
    taken = taken_by_day(Case(track, anchor), anchor, anchor + timedelta(days=90))
    assert [(name, on) for name, on, _ in taken] == [(e[0], e[1]) for e in expected]  # type: ignore[index]
    assert all(on == day for _, on, day in taken)


def test_list_due_date_and_calendar_dates_ignore_weekends() -> None:
    assert domain.list_due_date("2025-03") == date(2025, 4, 15)
    assert domain.list_due_date("2025-12") == date(2026, 1, 15)
    # 2025-05-25 is a Sunday and stays the termination date (the sources fix calendar dates)
    assert domain.plan("data", date(2025, 4, 15))[2].on == date(2025, 5, 25)


@pytest.mark.parametrize(
    ("decided", "effective"),
    [
        (date(2025, 5, 25), date(2025, 6, 30)),
        (date(2025, 7, 9), date(2025, 8, 31)),
        (date(2025, 12, 25), date(2026, 1, 31)),
        # Art. 23.2 "30 days' notice": end of February would be 28 days away
        (date(2025, 1, 31), date(2025, 3, 31)),
    ],
)
def test_termination_effective_end_of_following_month(decided: date, effective: date) -> None:
    assert domain.termination_effective(decided) == effective


def test_missed_days_catch_up_in_order_and_old_days_take_nothing() -> None:
    case = Case("data", date(2025, 4, 15))
    assert due_steps(case, date(2025, 4, 20)) == []
    caught = due_steps(case, date(2025, 5, 12))  # the clock jumped from the 20th to the 12th
    assert [(d.step.step, d.on) for d in caught] == [
        ("reminder_1", date(2025, 4, 25)),
        ("reminder_2", date(2025, 5, 10)),
    ]
    after = Case("data", date(2025, 4, 15), steps_taken=2)
    assert due_steps(after, date(2025, 5, 12)) == []  # the same day again
    assert due_steps(after, date(2025, 4, 26)) == []  # an older day


def test_closed_and_held_cases_take_no_step_and_release_shifts_the_rest() -> None:
    anchor = date(2025, 4, 15)
    assert due_steps(Case("data", anchor, closed=True), date(2025, 6, 1)) == []
    assert due_steps(Case("data", anchor, held=True), date(2025, 6, 1)) == []
    released = Case("data", anchor, steps_taken=1, shift_days=20)
    assert domain.next_step_on(released) == date(2025, 5, 30)
    assert due_steps(released, date(2025, 5, 29)) == []


@pytest.mark.parametrize("track", ["data", "payment"])
@pytest.mark.parametrize("resolved_after", [0, 1, 2], ids=["before-1st", "after-1st", "after-2nd"])
def test_a_case_resolved_at_any_step_takes_no_further_step(
    track: Track, resolved_after: int
) -> None:
    """RULES §9: the list or the payment stops the ladder at whatever step it stands."""
    anchor = date(2025, 4, 15) if track == "data" else date(2025, 5, 30)
    expected = [s.step.step for s in domain.plan(track, anchor)][:resolved_after]
    case = Case(track, anchor)
    taken: list[str] = []
    day = anchor
    while day <= anchor + timedelta(days=120):
        if len(taken) == resolved_after and not case.closed:
            case = Case(track, anchor, steps_taken=resolved_after, closed=True)
        for due in due_steps(case, day):
            taken.append(due.step.step)
            case = Case(track, anchor, steps_taken=due.index + 1)
        day += timedelta(days=1)
    assert taken == expected


@given(
    track=st.sampled_from(["data", "payment"]),
    anchor=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    days=st.lists(st.integers(min_value=-20, max_value=120), min_size=1, max_size=30),
)
def test_no_step_skipped_or_doubled_whatever_the_clock_days(
    track: Track, anchor: date, days: list[int]
) -> None:
    """Clock days in any order, with duplicates: the steps taken are a prefix of the ladder,
    each once, and every step whose date passed by the latest day has been taken."""
    assert track in ("data", "payment")
    case = Case(track, anchor)
    names: list[str] = []
    for offset in days:
        for due in due_steps(case, anchor + timedelta(days=offset)):
            assert due.index == case.steps_taken
            names.append(due.step.step)
            case = Case(track, anchor, steps_taken=due.index + 1)
    ladder = [s.step for s in domain.LADDERS[track].steps]
    latest = anchor + timedelta(days=max(days))
    assert names == ladder[: len(names)]
    assert len(names) == len([s for s in domain.plan(track, anchor) if s.on <= latest])


def test_plan_cli_prints_the_json_of_the_issue() -> None:
    out = run_cli(
        dict(os.environ), "dunning", "plan", "--track", "data", "--period", "2025-03", "--json"
    )
    assert json.loads(out.stdout) == {
        "steps": [
            {
                "step": "reminder_1",
                "date": "2025-04-25",
                "fee": "100.00",
                "registered": False,
                "copies": [],
            },
            {
                "step": "reminder_2",
                "date": "2025-05-10",
                "fee": "300.00",
                "registered": True,
                "copies": ["association"],
            },
            {
                "step": "termination",
                "date": "2025-05-25",
                "fee": "0.00",
                "registered": False,
                "copies": ["catch_all", "labour_office"],
            },
        ]
    }
    pay = run_cli(
        dict(os.environ), "dunning", "plan", "--track", "payment", "--invoice-date", "2025-04-30"
    )
    assert "2025-07-09" in pay.stdout and "effective 2025-08-31" in pay.stdout
    bad = run_cli(dict(os.environ), "dunning", "plan", "--track", "data", "--period", "2025-13")
    assert bad.returncode == 2


@pytest.mark.parametrize("language", ["de", "fr", "it", "en"])
def test_letters_are_pdf_and_the_same_bytes_for_the_same_letter(language: str) -> None:
    from services.dunning.letters import Letter, render_letter_pdf

    letter = Letter(
        employer_no=1001,
        employer_name="DEMO TEMPORÄR AG",
        language=language,
        track="data",
        step="reminder_2",
        dated=date(2025, 5, 10),
        due=date(2025, 4, 15),
        period="2025-03",
        amount=None,
        fee=Decimal("300.00"),
        article="Art. 22.2",
        deadline=date(2025, 5, 25),
        effective=None,
    )
    first = render_letter_pdf(letter)
    assert first.startswith(b"%PDF-") and first == render_letter_pdf(letter)
