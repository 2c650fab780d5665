"""Coverage rules (RULES §5-§6, Art. 1-5): one scenario per rule, the Art. 5 flow, properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.coverage.calendar import PayPeriod, has_full_week, week_of
from services.coverage.domain import (
    LONG_INTERRUPTION_DAYS,
    Absence,
    Assignment,
    CoverageError,
    Declaration,
    InvalidityChange,
    Timeline,
    Worker,
    compare_declarations,
    corrected_period,
    insured_part,
    timeline,
)

ADULT = Worker(date(1985, 3, 10), "M")
Row = tuple[str, str | None, str, str | None]


def d(text: str) -> date:
    return date.fromisoformat(text)


def A(start: str, end: str | None, **flags: object) -> Assignment:
    return Assignment(d(start), d(end) if end else None, **flags)  # type: ignore[arg-type]


def rows(t: Timeline) -> list[Row]:
    return [
        (
            p.insured_from.isoformat(),
            p.insured_to.isoformat() if p.insured_to else None,
            p.start_rule,
            p.end_rule,
        )
        for p in t.periods
    ]


# --- one scenario per rule ------------------------------------------------------------------

RULE_SCENARIOS: list[tuple[str, Worker, list[Assignment], dict[str, object], list[Row]]] = [
    (
        "S1 Art. 3.2a expected over 13 weeks: from the first day",
        ADULT,
        [A("2025-01-08", "2025-05-30", expected_over_13_weeks=True)],
        {},
        [("2025-01-08", "2025-05-30", "S1", "E1")],
    ),
    (
        "S2 Art. 3.2b requested",
        ADULT,
        [A("2025-01-08", "2025-02-28", requested=True)],
        {},
        [("2025-01-08", "2025-02-28", "S2", "E1")],
    ),
    (
        "S3 Art. 3.2c children",
        ADULT,
        [A("2025-01-08", "2025-02-28", children=True)],
        {},
        [("2025-01-08", "2025-02-28", "S3", "E1")],
    ),
    (
        "S4 Art. 3.2d insured before, back within 52 weeks",
        ADULT,
        [A("2024-01-08", "2024-06-28", expected_over_13_weeks=True), A("2024-09-02", "2024-10-31")],
        {},
        [("2024-01-08", "2024-06-28", "S1", "E1"), ("2024-09-02", "2024-10-31", "S4", "E1")],
    ),
    (
        "S4 Art. 3.2d via previously_insured_until",
        ADULT,
        [A("2025-03-03", "2025-03-28")],
        {"previously_insured_until": d("2024-11-29")},
        [("2025-03-03", "2025-03-28", "S4", "E1")],
    ),
    (
        "S5 Art. 3.3 extension past 13 weeks: from the day it is accepted",
        ADULT,
        [A("2025-01-06", "2025-06-27", extension_accepted_on=d("2025-02-19"))],
        {},
        [("2025-02-19", "2025-06-27", "S5", "E1")],
    ),
    (
        "S5 Art. 3.3 extension to exactly 13 weeks: not insured",
        ADULT,
        [A("2025-01-06", "2025-04-06", extension_accepted_on=d("2025-02-19"))],
        {},
        [],
    ),
    (
        "S6 Art. 3.4 Reading: one assignment past 13 weeks, no extension",
        ADULT,
        [A("2025-01-06", "2025-06-30")],
        {},
        [("2025-04-07", "2025-06-30", "S6", "E1")],
    ),
    (
        "S6 Art. 3.4 several short assignments add up past 13 weeks",
        ADULT,
        [
            A("2025-01-06", "2025-02-07"),
            A("2025-02-24", "2025-03-28"),
            A("2025-04-14", "2025-05-30"),
        ],
        {},
        [("2025-05-05", "2025-05-30", "S6", "E1")],
    ),
    (
        "S6 Art. 3.4 extension after the 14th work week: S6 came first",
        ADULT,
        [A("2025-01-06", "2025-06-30", extension_accepted_on=d("2025-04-23"))],
        {},
        [("2025-04-07", "2025-06-30", "S6", "E1")],
    ),
    (
        "S6 Reading: the 14th work week starts after an interruption, mid-week: from day one",
        ADULT,
        [A("2025-01-06", "2025-04-04"), A("2025-04-16", "2025-05-30")],
        {},
        [("2025-04-16", "2025-05-30", "S6", "E1")],
    ),
    (
        "S6 Reading: the Monday of the 14th work week, even inside a gap of Fri-Tue",
        ADULT,
        [A("2025-01-06", "2025-04-04"), A("2025-04-08", "2025-05-30")],
        {},
        [("2025-04-07", "2025-05-30", "S6", "E1")],
    ),
    (
        "E1 Art. 4.3 interruption ends insurance, S4 restarts it",
        ADULT,
        [A("2025-01-06", "2025-03-28", expected_over_13_weeks=True), A("2025-04-22", "2025-05-30")],
        {},
        [("2025-01-06", "2025-03-28", "S1", "E1"), ("2025-04-22", "2025-05-30", "S4", "E1")],
    ),
    (
        "E2 Art. 5.2, 9 declared exit",
        ADULT,
        [A("2025-01-06", "2025-03-28", expected_over_13_weeks=True, ends_with_exit=True)],
        {},
        [("2025-01-06", "2025-03-28", "S1", "E2")],
    ),
    (
        "E2 Art. 3.2d exit then a new assignment the next Monday: S4",
        ADULT,
        [
            A("2025-01-06", "2025-03-28", requested=True, ends_with_exit=True),
            A("2025-03-31", "2025-04-30"),
        ],
        {},
        [("2025-01-06", "2025-03-28", "S2", "E2"), ("2025-03-31", "2025-04-30", "S4", "E1")],
    ),
    (
        "E3 AHV 21 woman born 1962: 64 years 6 months, end of September 2026",
        Worker(d("1962-03-15"), "F"),
        [A("2026-01-05", "2026-12-18", expected_over_13_weeks=True)],
        {},
        [("2026-01-05", "2026-09-30", "S1", "E3")],
    ),
    (
        "E3 AHV 21 man born 1961: 65, end of February 2026",
        Worker(d("1961-02-10"), "M"),
        [A("2026-01-05", "2026-12-18", requested=True)],
        {},
        [("2026-01-05", "2026-02-28", "S2", "E3")],
    ),
    (
        "E3 AHV 21 woman born 1962, ongoing: open until as_of reaches the reference age",
        Worker(d("1962-03-15"), "F"),
        [A("2026-01-05", None, expected_over_13_weeks=True)],
        {},
        [("2026-01-05", None, "S1", None)],
    ),
    (
        "E3 AHV 21 woman born 1962, ongoing, as_of after the reference age",
        Worker(d("1962-03-15"), "F"),
        [A("2026-01-05", None, expected_over_13_weeks=True)],
        {"as_of": d("2026-10-15")},
        [("2026-01-05", "2026-09-30", "S1", "E3")],
    ),
    (
        "E4 Art. 7.5e death: the day of death is the last insured day",
        Worker(d("1985-03-10"), "M", died_on=d("2025-05-10")),
        [A("2025-01-06", "2025-06-30", expected_over_13_weeks=True)],
        {},
        [("2025-01-06", "2025-05-10", "S1", "E4")],
    ),
    (
        "E5 Art. 1.3 IV degree rises to 70 %: insured until the day before",
        Worker(
            d("1985-03-10"),
            "M",
            invalidity_degree=40,
            invalidity_changes=(
                InvalidityChange(d("2025-03-01"), 60),
                InvalidityChange(d("2025-05-12"), 70),
            ),
        ),
        [A("2025-01-06", "2025-06-30", expected_over_13_weeks=True)],
        {},
        [("2025-01-06", "2025-05-11", "S1", "E5")],
    ),
    (
        "Art. 1.3 IV degree 70 % from the start: never admitted",
        Worker(d("1985-03-10"), "M", invalidity_degree=70),
        [A("2025-01-06", "2025-06-30", expected_over_13_weeks=True)],
        {},
        [],
    ),
    (
        "Art. 1.1 under BVG age 18: from 1 January, by the rule that applied (S2)",
        Worker(d("2007-06-01"), "M"),
        [A("2024-08-05", "2025-03-28", requested=True)],
        {},
        [("2025-01-01", "2025-03-28", "S2", "E1")],
    ),
    (
        "Art. 1.1 under BVG age 18: S6 reached in 2024, insured from 1 January 2025",
        Worker(d("2007-06-01"), "F"),
        [A("2024-09-02", "2025-02-28")],
        {},
        [("2025-01-01", "2025-02-28", "S6", "E1")],
    ),
    (
        "Art. 1.1 under BVG age 18: assignment over before 1 January, no coverage",
        Worker(d("2007-06-01"), "F"),
        [A("2024-03-04", "2024-12-20", expected_over_13_weeks=True)],
        {},
        [],
    ),
]


@pytest.mark.parametrize(
    ("worker", "assignments", "kwargs", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in RULE_SCENARIOS],
)
def test_start_and_end_rules(
    worker: Worker, assignments: list[Assignment], kwargs: dict[str, object], expected: list[Row]
) -> None:
    assert rows(timeline(worker, assignments, **kwargs)) == expected  # type: ignore[arg-type]


def test_admission_deferral_keeps_the_day_the_rule_applied() -> None:
    t = timeline(Worker(d("2007-06-01"), "F"), [A("2024-09-02", "2025-02-28")])
    assert t.periods[0].rule_date == d("2024-12-02")  # Monday of the 14th work week
    assert t.periods[0].insured_from == d("2025-01-01")


# --- 52 weeks (Art. 3.2d, 4.1-4.2) ------------------------------------------------------------

INSURED_END = d("2024-03-29")
INSURED_BEFORE = Assignment(d("2024-01-08"), INSURED_END, expected_over_13_weeks=True)
UNINSURED_END = d("2024-03-15")
UNINSURED_BEFORE = Assignment(d("2024-01-08"), UNINSURED_END)  # 10 work weeks


@pytest.mark.parametrize(
    ("weeks", "expected", "long"),
    [
        pytest.param(
            51, [("2025-03-21", "2025-04-18", "S4", "E1")], False, id="Art. 3.2d 51 weeks: S4"
        ),
        pytest.param(52, [], True, id="Art. 3.2d 52 weeks (364 days): no S4"),
        pytest.param(53, [], True, id="Art. 3.2d 53 weeks: no S4"),
    ],
)
def test_52_weeks_since_an_insured_assignment(weeks: int, expected: list[Row], long: bool) -> None:
    start = INSURED_END + timedelta(weeks=weeks)
    t = timeline(ADULT, [INSURED_BEFORE, Assignment(start, start + timedelta(days=28))])
    assert rows(t)[1:] == expected
    assert t.interruptions[0].long is long
    assert ((start - INSURED_END).days >= LONG_INTERRUPTION_DAYS) is long


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [
        pytest.param(
            51, [("2025-03-24", "2025-05-09", "S6", "E1")], id="Art. 4.2 51 weeks: 10 + 4"
        ),
        pytest.param(52, [], id="Art. 4.1 52 weeks: the count starts again"),
        pytest.param(53, [], id="Art. 4.1 53 weeks: the count starts again"),
    ],
)
def test_52_weeks_reset_the_work_week_count(weeks: int, expected: list[Row]) -> None:
    start = UNINSURED_END + timedelta(weeks=weeks)
    t = timeline(ADULT, [UNINSURED_BEFORE, Assignment(start, start + timedelta(days=63))])
    assert rows(t) == expected


def test_short_interruptions_do_not_add_up() -> None:
    """Art. 4.2: two gaps of 40 weeks (566 days together) are judged alone: no reset."""
    assignments = [A("2023-01-02", "2023-02-03")]  # Mon-Fri, 5 work weeks
    end = d("2023-02-03")
    for _ in range(2):
        start, end = end + timedelta(weeks=40, days=3), end + timedelta(weeks=40, days=35)
        assignments.append(Assignment(start, end))  # Mon-Fri, 5 weeks
    t = timeline(ADULT, assignments)
    assert [a.start.isoformat() for a in t.assignments] == [
        "2023-01-02",
        "2023-11-13",
        "2024-09-23",
    ]
    # 5 + 5 + the 4th work week of the third assignment
    assert rows(t) == [("2024-10-14", "2024-10-25", "S6", "E1")]
    assert [gap.long for gap in t.interruptions[:-1]] == [False, False]


# --- interruptions and absences (Art. 4.4-4.5) ------------------------------------------------


@pytest.mark.parametrize(
    ("second_start", "expected", "interruptions"),
    [
        pytest.param(
            "2025-02-17",
            [("2025-01-06", "2025-06-27", "S1", "E1")],
            1,
            id="Art. 4.4 gap Thu-Sun, no work-free week: no interruption",
        ),
        pytest.param(
            "2025-02-24",
            [("2025-01-06", "2025-02-12", "S1", "E1"), ("2025-02-24", "2025-06-27", "S4", "E1")],
            2,
            id="Art. 4.4 gap with a whole work-free week: interruption, E1 then S4",
        ),
    ],
)
def test_only_a_work_free_week_interrupts(
    second_start: str, expected: list[Row], interruptions: int
) -> None:
    t = timeline(
        ADULT,
        [A("2025-01-06", "2025-02-12", expected_over_13_weeks=True), A(second_start, "2025-06-27")],
    )
    assert rows(t) == expected
    assert len(t.interruptions) == interruptions  # the last one is open (no next assignment)


@pytest.mark.parametrize(
    ("reason", "expected_start"),
    [
        pytest.param("illness", "2025-04-07", id="Art. 4.5 illness weeks count as work weeks"),
        pytest.param("accident", "2025-04-07", id="Art. 4.5 accident weeks count as work weeks"),
        pytest.param("service", "2025-05-05", id="Reading Art. 4.5 service weeks do not count"),
        pytest.param("maternity", "2025-05-05", id="Reading Art. 4.5 maternity weeks do not count"),
    ],
)
def test_absences_inside_an_assignment(reason: str, expected_start: str) -> None:
    absence = Absence(d("2025-02-03"), d("2025-03-02"), reason)  # type: ignore[arg-type]
    t = timeline(ADULT, [A("2025-01-06", "2025-05-30", absences=(absence,))])
    assert rows(t) == [(expected_start, "2025-05-30", "S6", "E1")]
    assert len(t.interruptions) == 1  # never an interruption inside the assignment


def test_illness_bridges_what_would_be_an_interruption() -> None:
    """Art. 4.4-4.5: four weeks without an hour of work, but ill: the count runs on."""
    ill = Absence(d("2025-02-03"), d("2025-03-02"), "illness")
    no_hours = tuple((d("2025-02-03") + timedelta(weeks=k), Decimal(0)) for k in range(4))
    t = timeline(ADULT, [A("2025-01-06", "2025-05-30", absences=(ill,), weekly_hours=no_hours)])
    assert rows(t) == [("2025-04-07", "2025-05-30", "S6", "E1")]
    idle = timeline(ADULT, [A("2025-01-06", "2025-05-30", weekly_hours=no_hours)])
    assert rows(idle) == [("2025-05-05", "2025-05-30", "S6", "E1")]


def test_service_monday_to_friday_takes_the_week_out_of_the_count() -> None:
    """Reading: the weekend of an assignment does not make a week of service a work week."""
    service = Absence(d("2025-02-03"), d("2025-02-14"), "service")  # Mon 3-Fri 14 February
    t = timeline(ADULT, [A("2025-01-06", "2025-05-30", absences=(service,))])
    assert rows(t) == [("2025-04-21", "2025-05-30", "S6", "E1")]
    assert t.work_weeks == 21 - 2


def test_a_partly_absent_week_is_a_work_week() -> None:
    service = Absence(d("2025-02-05"), d("2025-02-07"), "service")  # Wed-Fri; Mon-Tue worked
    t = timeline(ADULT, [A("2025-01-06", "2025-05-30", absences=(service,))])
    assert rows(t) == [("2025-04-07", "2025-05-30", "S6", "E1")]


def test_work_weeks_count_up_to_as_of() -> None:
    ill = Absence(d("2025-02-03"), d("2025-02-07"), "illness")
    assignment = A("2025-01-06", "2025-02-28", absences=(ill,))
    assert timeline(ADULT, [assignment]).work_weeks == 8  # the example
    assert timeline(ADULT, [A("2025-01-06", None)], as_of=d("2025-03-05")).work_weeks == 9


def test_ongoing_assignment_stays_open() -> None:
    t = timeline(ADULT, [A("2025-01-06", None)])
    assert rows(t) == [("2025-04-07", None, "S6", None)]
    assert t.interruptions == ()


@pytest.mark.parametrize(
    ("assignments", "kwargs", "code"),
    [
        pytest.param([A("2025-01-06", "2025-01-03")], {}, "assignment.end_before_start", id="end"),
        pytest.param(
            [A("2025-01-06", "2025-02-28", extension_accepted_on=d("2025-03-03"))],
            {},
            "assignment.extension_outside",
            id="Art. 3.3 extension after the end",
        ),
        pytest.param(
            [
                A(
                    "2025-01-06",
                    "2025-02-28",
                    absences=(Absence(d("2025-03-03"), d("2025-03-04"), "illness"),),
                )
            ],
            {},
            "assignment.absence_outside",
            id="Art. 4.5 absence outside",
        ),
        pytest.param(
            [A("2025-01-06", "2025-02-28", weekly_hours=((d("2025-01-07"), Decimal(8)),))],
            {},
            "assignment.weekly_hours",
            id="weekly hours not on a Monday",
        ),
        pytest.param(
            [A("2025-01-06", "2025-02-28", ends_with_exit=True), A("2025-02-03", "2025-03-28")],
            {},
            "assignment.exit_not_last",
            id="Art. 9 exit while another assignment goes on",
        ),
        pytest.param(
            [A("2025-01-06", "2025-02-28")],
            {"previously_insured_until": d("2025-01-06")},
            "history.overlaps",
            id="Art. 3.2d history overlaps",
        ),
    ],
)
def test_bad_input_raises_a_typed_error(
    assignments: list[Assignment], kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(CoverageError) as raised:
        timeline(ADULT, assignments, **kwargs)  # type: ignore[arg-type]
    assert raised.value.code == code


# --- declared vs derived (Art. 3, 5, 9, 22.4) ---------------------------------------------------

P = PayPeriod
ART5 = timeline(ADULT, [A("2025-03-03", "2025-06-24", expected_over_13_weeks=True)])
ENTRY = Declaration(P(2025, 3), 1, d("2025-03-03"))
CODE4_JULY = Declaration(P(2025, 7), 4, d("2025-06-25"))
EXIT_AUGUST = Declaration(P(2025, 8), 2, d("2025-06-25"))


def codes(findings: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(f.code, str(f.period)) for f in findings]  # type: ignore[attr-defined]


def test_art5_example_interruption_from_25_june() -> None:
    """Art. 5: interruption from 25 June → code 4 in the July list, exit dated 25 June in August."""
    assert rows(ART5) == [("2025-03-03", "2025-06-24", "S1", "E1")]
    assert ART5.interruptions[0].first_day == d("2025-06-25")
    declared = [ENTRY, CODE4_JULY, EXIT_AUGUST]
    assert compare_declarations(ART5, declared, through=P(2025, 9)) == ()


@pytest.mark.parametrize(
    ("declared", "through", "expected"),
    [
        pytest.param([ENTRY, CODE4_JULY], P(2025, 7), [], id="Art. 5.2 exit not due before August"),
        pytest.param(
            [ENTRY, CODE4_JULY],
            P(2025, 8),
            [("interruption.follow_up_missing", "2025-08")],
            id="Art. 5.2 follow-up missing",
        ),
        pytest.param(
            [ENTRY],
            P(2025, 8),
            [("interruption.not_declared", "2025-07"), ("exit.missing", "2025-08")],
            id="Art. 5.1 neither code 4 nor exit",
        ),
        pytest.param(
            [ENTRY, Declaration(P(2025, 7), 2, d("2025-06-24"))],
            P(2025, 9),
            [],
            id="Reading Art. 5.2 exit dated the last day of work, at once",
        ),
        pytest.param(
            [ENTRY, CODE4_JULY, Declaration(P(2025, 8), 2, d("2025-06-30"))],
            P(2025, 9),
            [("exit.date_differs", "2025-08")],
            id="Art. 5.2 exit date differs",
        ),
        pytest.param(
            [ENTRY, CODE4_JULY, EXIT_AUGUST, Declaration(P(2025, 9), 2, d("2025-09-10"))],
            P(2025, 9),
            [("exit.unexpected", "2025-09")],
            id="Art. 4.3 exit the rules do not derive",
        ),
    ],
)
def test_art5_flow(
    declared: list[Declaration], through: PayPeriod, expected: list[tuple[str, str]]
) -> None:
    assert codes(compare_declarations(ART5, declared, through=through)) == expected


def test_art5_follow_up_message_names_the_period_and_article() -> None:
    (finding,) = compare_declarations(ART5, [ENTRY, CODE4_JULY], through=P(2025, 8))
    assert finding.article == "Art. 5.2"
    assert "2025-08" in finding.message and "2025-06-25" in finding.message
    assert finding.severity == "error" and not finding.cost_to_employer


def test_art5_back_within_the_first_month_needs_no_exit() -> None:
    t = timeline(
        ADULT,
        [A("2025-03-03", "2025-06-24", expected_over_13_weeks=True), A("2025-07-14", "2025-09-26")],
    )
    assert rows(t)[1] == ("2025-07-14", "2025-09-26", "S4", "E1")
    reentry = Declaration(P(2025, 7), 1, d("2025-07-14"))
    assert compare_declarations(t, [ENTRY, CODE4_JULY, reentry], through=P(2025, 8)) == ()


S6_TIMELINE = timeline(ADULT, [A("2025-01-06", "2025-06-30")])


def test_undeclared_entry_is_a_cost_to_the_employer() -> None:
    assert compare_declarations(S6_TIMELINE, [], through=P(2025, 3)) == ()
    (finding,) = compare_declarations(S6_TIMELINE, [], through=P(2025, 4))
    assert (finding.code, finding.period, finding.article) == (
        "entry.not_declared",
        P(2025, 4),
        "Art. 3.4, Art. 22.4",
    )
    assert finding.cost_to_employer is True
    assert "cost charged to the employer (Art. 22.4)" in finding.message
    assert "2025-04-07" in finding.message


@pytest.mark.parametrize(
    ("declared_on", "period", "cost"),
    [
        pytest.param("2025-01-06", P(2025, 1), False, id="Art. 3.4 entry declared too early"),
        pytest.param("2025-05-05", P(2025, 5), True, id="Art. 22.4 entry declared too late"),
    ],
)
def test_entry_date_differs(declared_on: str, period: PayPeriod, cost: bool) -> None:
    declared = [Declaration(period, 1, d(declared_on))]
    (finding,) = compare_declarations(S6_TIMELINE, declared, through=P(2025, 5))
    assert (finding.code, finding.period, finding.cost_to_employer) == (
        "entry.date_differs",
        period,
        cost,
    )
    assert declared_on in finding.message and "2025-04-07" in finding.message


def test_entry_without_coverage_is_unexpected() -> None:
    t = timeline(ADULT, [A("2025-01-06", "2025-02-28")])
    findings = compare_declarations(
        t, [Declaration(P(2025, 1), 1, d("2025-01-06"))], through=P(2025, 2)
    )
    assert [(f.code, f.severity) for f in findings] == [("entry.unexpected", "warning")]


def test_exit_missing_after_e2() -> None:
    t = timeline(ADULT, [A("2025-01-06", "2025-03-28", requested=True, ends_with_exit=True)])
    entry = Declaration(P(2025, 1), 1, d("2025-01-06"))
    assert compare_declarations(t, [entry], through=P(2025, 3)) == ()
    assert codes(compare_declarations(t, [entry], through=P(2025, 4))) == [
        ("exit.missing", "2025-04")
    ]


# --- the insured part of a period (issue 5 "partial months") ---------------------------------


@pytest.mark.parametrize(
    ("t", "period", "hours", "expected"),
    [
        pytest.param(
            S6_TIMELINE,
            P(2025, 4),
            Decimal(160),
            ("2025-04-07", "2025-04-30", 24, Decimal("130.91"), "S6"),
            id="S6 from 7 April: 18 of 22 working days",
        ),
        pytest.param(
            S6_TIMELINE,
            P(2025, 5),
            Decimal("171.25"),
            ("2025-05-01", "2025-05-31", 31, Decimal("171.25"), "S6"),
            id="S6 whole month",
        ),
        pytest.param(
            S6_TIMELINE, P(2025, 3), Decimal(160), (None, None, 0, Decimal("0.00"), None), id="none"
        ),
        pytest.param(
            timeline(ADULT, [A("2025-01-06", "2025-06-27", extension_accepted_on=d("2025-02-19"))]),
            P(2025, 2),
            Decimal(100),
            ("2025-02-19", "2025-02-28", 10, Decimal("40.00"), "S5"),
            id="S5 from 19 February: 8 of 20 working days",
        ),
        pytest.param(
            timeline(ADULT, [A("2025-01-06", "2025-06-27", extension_accepted_on=d("2025-02-19"))]),
            P(2025, 2),
            Decimal("0.0125"),
            ("2025-02-19", "2025-02-28", 10, Decimal("0.01"), "S5"),
            id="Reading hours to 0.01, half away from zero (0.005 → 0.01)",
        ),
        pytest.param(
            timeline(ADULT, [A("2025-01-06", "2025-06-27", extension_accepted_on=d("2025-02-19"))]),
            P(2025, 2),
            Decimal("-0.0125"),
            ("2025-02-19", "2025-02-28", 10, Decimal("-0.01"), "S5"),
            id="Reading correction: -0.005 → -0.01",
        ),
        pytest.param(
            timeline(
                ADULT,
                [
                    A("2025-01-06", "2025-03-12", expected_over_13_weeks=True),
                    A("2025-03-24", "2025-06-27"),
                ],
            ),
            P(2025, 3),
            Decimal(100),
            ("2025-03-01", "2025-03-31", 20, Decimal("100.00"), "S4"),
            id="E1 then S4 in one month: only assignment days hold hours",
        ),
    ],
)
def test_insured_part(
    t: Timeline,
    period: PayPeriod,
    hours: Decimal,
    expected: tuple[str | None, str | None, int, Decimal, str | None],
) -> None:
    part = insured_part(t, period, hours)
    got = (
        part.insured_from.isoformat() if part.insured_from else None,
        part.insured_to.isoformat() if part.insured_to else None,
        part.insured_days,
        part.insured_hours,
        part.rule_in_force,
    )
    assert got == expected
    assert str(part.insured_hours) == str(expected[3])  # exactly two decimals


APRIL_WEEKS = {
    d("2025-03-31"): Decimal(40),  # Mon 31 March-Fri 4 April: 32 h fall in April, not insured
    d("2025-04-07"): Decimal(30),
    d("2025-04-14"): Decimal(30),
    d("2025-04-21"): Decimal(30),
    d("2025-04-28"): Decimal(40),  # Mon 28-Wed 30 April: 24 h
}


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        pytest.param(Decimal(146), Decimal("114.00"), id="weekly hours: 90 + 24 of 146"),
        pytest.param(
            Decimal(150), Decimal("117.12"), id="weekly hours scaled to the period's hours"
        ),
    ],
)
def test_insured_part_by_weekly_hours(hours: Decimal, expected: Decimal) -> None:
    part = insured_part(S6_TIMELINE, P(2025, 4), hours, weekly_hours=APRIL_WEEKS)
    assert part.insured_hours == expected
    from_assignment = timeline(
        ADULT, [A("2025-01-06", "2025-06-30", weekly_hours=tuple(sorted(APRIL_WEEKS.items())))]
    )
    assert insured_part(from_assignment, P(2025, 4), hours).insured_hours == expected


def test_incomplete_weekly_hours_fall_back_to_working_days() -> None:
    some = {d("2025-04-07"): Decimal(30)}
    part = insured_part(S6_TIMELINE, P(2025, 4), Decimal(160), weekly_hours=some)
    assert part.insured_hours == Decimal("130.91")


@pytest.mark.parametrize(
    ("assignments", "period", "expected"),
    [
        pytest.param([A("2025-01-06", "2025-04-18")], P(2025, 6), P(2025, 4), id="ended: its end"),
        pytest.param([A("2025-01-06", None)], P(2025, 6), P(2025, 6), id="ongoing: the list's"),
        pytest.param([A("2025-01-06", "2025-06-03")], P(2025, 6), P(2025, 6), id="ends in it"),
        pytest.param(
            [A("2025-01-06", "2025-02-14"), A("2025-03-03", "2025-04-30")],
            P(2025, 6),
            P(2025, 4),
            id="Einsätze: the latest",
        ),
        pytest.param([A("2025-08-04", None)], P(2025, 6), P(2025, 6), id="none yet: the list's"),
    ],
)
def test_corrected_period_reading(
    assignments: list[Assignment], period: PayPeriod, expected: PayPeriod
) -> None:
    """Reading RULES §3: a correction corrects the row's assignments' latest month."""
    assert corrected_period(assignments, period) == expected


def test_a_correction_of_the_last_month_is_insured_as_that_month() -> None:
    t = timeline(ADULT, [A("2025-01-06", "2025-04-18", expected_over_13_weeks=True)])
    assert insured_part(t, P(2025, 6), Decimal(10)).insured_days == 0  # the list's own month
    part = insured_part(t, corrected_period(t.assignments, P(2025, 6)), Decimal(10))
    assert (part.insured_days, part.insured_hours) == (18, Decimal("10.00"))


# --- properties ---------------------------------------------------------------------------------

FIRST_DAY = date(2023, 1, 2)


@st.composite
def histories(draw: st.DrawFn) -> list[Assignment]:
    """1-6 assignments one after the other over about three years, with flags and illness."""
    out: list[Assignment] = []
    start = FIRST_DAY + timedelta(draw(st.integers(0, 60)))
    for n in range(draw(st.integers(1, 6))):
        length = draw(st.integers(0, 200))
        ongoing = draw(st.booleans()) and n == 5
        end = None if ongoing else start + timedelta(length)
        absences: tuple[Absence, ...] = ()
        if length > 20 and draw(st.booleans()):
            first = start + timedelta(draw(st.integers(0, length - 10)))
            absences = (
                Absence(
                    first, first + timedelta(9), draw(st.sampled_from(["illness", "accident"]))
                ),
            )
        ext = None
        if draw(st.integers(0, 4)) == 0:
            ext = start + timedelta(draw(st.integers(0, length)))
        out.append(
            Assignment(
                start,
                end,
                expected_over_13_weeks=draw(st.integers(0, 9)) == 0,
                extension_accepted_on=ext,
                requested=draw(st.integers(0, 9)) == 0,
                children=draw(st.integers(0, 9)) == 0,
                absences=absences,
                ends_with_exit=end is not None and draw(st.integers(0, 5)) == 0,
            )
        )
        if end is None:
            break
        start = end + timedelta(
            draw(st.sampled_from([1, 3, 5, 12, 30, 90, 357, 363, 364, 365, 420]))
        )
    return out


def covered(t: Timeline, day: date) -> bool:
    return any(
        p.insured_from <= day and (p.insured_to is None or day <= p.insured_to) for p in t.periods
    )


def fourteenth_work_week_days(assignments: list[Assignment]) -> list[date]:
    """Oracle, day by day: per run of assignments with no gap of 364 days or more, the first day
    worked in its 14th work week (a week with an assignment day; no service absences here)."""
    days: list[date] = []
    episodes: list[list[Assignment]] = []
    for a in assignments:
        if episodes and (a.start - episodes[-1][-1].end).days < LONG_INTERRUPTION_DAYS:  # type: ignore[operator]
            episodes[-1].append(a)
        else:
            episodes.append([a])
    for episode in episodes:
        weeks: set[date] = set()
        for a in episode:
            day, last = a.start, a.end or a.start + timedelta(weeks=20)
            while day <= last:
                weeks.add(day - timedelta(day.weekday()))
                day += timedelta(1)
        if len(weeks) > 13:
            monday = sorted(weeks)[13]
            starts = [
                a.start
                for a in episode
                if a.start <= monday + timedelta(6) and (a.end is None or a.end >= monday)
            ]
            days.append(max(monday, min(starts)))
    return days


@settings(max_examples=300, deadline=None)
@given(histories())
def test_insured_by_the_14th_work_week_within_52_weeks(assignments: list[Assignment]) -> None:
    """Art. 3.4: the first day worked in the 14th work week of a run is always insured."""
    t = timeline(ADULT, assignments)
    for day in fourteenth_work_week_days(assignments):
        assert covered(t, day), (day, rows(t))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_periods_never_overlap_and_follow_the_assignments(assignments: list[Assignment]) -> None:
    """Periods are disjoint; each starts on an assignment day (or, by S6, on the Monday of a
    work week) and ends on an assignment's last day unless E3-E5 end it."""
    t = timeline(ADULT, assignments)
    for earlier, later in zip(t.periods, t.periods[1:], strict=False):
        assert earlier.insured_to is not None and earlier.insured_to < later.insured_from
    for p in t.periods:
        first, monday = p.insured_from, p.insured_from.weekday() == 0
        sunday = first + timedelta(6)
        assert any(
            (a.start <= first or (p.start_rule == "S6" and monday and a.start <= sunday))
            and (a.end is None or first <= a.end)
            for a in assignments
        )
        if p.end_rule in {"E1", "E2"}:
            assert any(a.end == p.insured_to for a in assignments)


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_order_of_the_input_does_not_matter(
    assignments: list[Assignment], data: st.DataObject
) -> None:
    """Replaying the same assignments, in any order, gives the same timeline."""
    t = timeline(ADULT, assignments)
    assert timeline(ADULT, data.draw(st.permutations(assignments))) == t
    assert timeline(t.worker, t.assignments) == t


@settings(max_examples=200, deadline=None)
@given(histories())
def test_requested_insurance_covers_every_assignment_day(assignments: list[Assignment]) -> None:
    """Art. 3.2b on every assignment: each assignment's first and last day is insured."""
    t = timeline(ADULT, [replace(a, requested=True) for a in assignments])
    for a in assignments:
        assert covered(t, a.start)
        assert a.end is None or covered(t, a.end)


def declared_as_derived(t: Timeline) -> list[Declaration]:
    """The lists of an employer who follows the rules: entries, and exits by the Art. 5 flow."""
    out = []
    for p in t.periods:
        out.append(Declaration(PayPeriod.of(p.insured_from), 1, p.insured_from))
        if p.insured_to is not None:
            exit_on = p.insured_to + timedelta(1)
            if p.end_rule == "E1":
                out.append(Declaration(PayPeriod.of(exit_on).shifted(1), 4, exit_on))
                out.append(Declaration(PayPeriod.of(exit_on).shifted(2), 2, exit_on))
            else:
                out.append(Declaration(PayPeriod.of(exit_on), 2, exit_on))
    return out


@settings(max_examples=300, deadline=None)
@given(histories())
def test_lists_that_follow_the_rules_have_no_findings(assignments: list[Assignment]) -> None:
    t = timeline(ADULT, assignments)
    through = PayPeriod.of(max(a.end or a.start for a in assignments)).shifted(3)
    assert compare_declarations(t, declared_as_derived(t), through=through) == ()


def test_exit_and_next_entry_on_the_same_day_belong_to_two_periods() -> None:
    """E2 on 28 March, S4 from 29 March: the exit dated 29 March closes the first period only."""
    t = timeline(
        ADULT,
        [
            A("2025-01-06", "2025-03-28", requested=True, ends_with_exit=True),
            A("2025-03-29", "2025-04-30"),
        ],
    )
    assert rows(t) == [
        ("2025-01-06", "2025-03-28", "S2", "E2"),
        ("2025-03-29", "2025-04-30", "S4", "E1"),
    ]
    assert compare_declarations(t, declared_as_derived(t), through=P(2025, 8)) == ()


@given(st.dates(date(2000, 1, 1), date(2030, 12, 31)), st.integers(0, 30))
def test_calendar_full_week(first: date, length: int) -> None:
    last = first + timedelta(length)
    naive = any(
        (first + timedelta(k)).weekday() == 0 and first + timedelta(k + 6) <= last
        for k in range(length + 1)
    )
    assert has_full_week(first, last) is naive
    assert week_of(first) == week_of(first - timedelta(first.weekday()))
