"""When a worker's insurance at one employer starts and ends, and why (RULES §5-§6, Art. 1-5).

Pure: frozen dataclasses, `date`, `Decimal`; no I/O, no clock. Every place where RULES or the
guidelines leave room is a named constant marked *Reading*, so that it can change in one place.

- `timeline(worker, assignments)` → work weeks, interruptions and coverage periods.
- `compare_declarations(timeline, declarations, through=...)` → what the lists got wrong.
- `insured_part(timeline, period, hours)` → the insured part of one pay period;
  `corrected_period(assignments, period)` → the period a correction row corrects.

Readings that live in the logic rather than in a constant:
- S1 holds for any assignment with the flag (RULES §6; Art. 3.2a says "des ersten Einsatzes").
- S4: "insured then" means insured on the last day of the latest assignment before.
- S5 counts the work weeks of the extended assignment alone (RULES: "the assignment"); earlier
  assignments count through S6 (Art. 3.3 says "beim Unternehmen angestellt").
- S6 starts on the Monday of the 14th work week, or on the first day of work if that week
  begins a block after an interruption (no insurance inside an interruption, Art. 4.3).
- A work week is a week with a day of assignment (Art. 4.4: one hour suffices), unless its
  working days (Mon-Fri; every day if it has none) are all service or maternity leave, or its
  weekly hours are given as 0, in either case without illness or accident that week (Art. 4.5).
- Last insured day: E4 the day of death; E5 the day before the IV decision's date; on the same
  day E4 > E3 > E5 > E2 > E1 (the order of END_RULES).
- An ongoing assignment is presumed to go on: its coverage stays open (`insured_to` None) unless
  an end known by `as_of` (death, IV, retirement) closes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import Literal, NamedTuple

from services.coverage.calendar import (
    ONE_DAY,
    OPEN_WEEK,
    PayPeriod,
    add_months,
    days_in_month,
    has_full_week,
    monday_of,
    week_of,
    working_days,
)
from services.pricing.parameters import Sex, reference_age_months

StartRule = Literal["S1", "S2", "S3", "S4", "S5", "S6"]
EndRule = Literal["E1", "E2", "E3", "E4", "E5"]
AbsenceReason = Literal["illness", "accident", "service", "maternity"]
Severity = Literal["error", "warning"]

#: Art. 3.2a, 3.3, 3.4: insurance is due once an engagement lasts *more than* 13 work weeks.
WORK_WEEKS_WITHOUT_INSURANCE = 13
#: Art. 1.1 (RULES §5): BVG age (calendar year - birth year) from which a worker is admitted.
ADMISSION_BVG_AGE = 18
#: Art. 1.3: IV degree (%) from which a worker is not insurable (E5).
IV_DEGREE_NOT_INSURABLE = 70
#: Reading (Art. 3.2d "vor weniger als 52 Wochen beendet", Art. 4.1 "Unterbruch von mehr als 52
#: Wochen"): one threshold for both. The next assignment starts `(start - previous end).days`
#: after the previous one ended; below 364 (52 weeks) the interruption is short — S4 applies and
#: the work weeks keep adding up; from 364 on it is long — no S4, the count starts again.
LONG_INTERRUPTION_DAYS = 364
#: Art. 4.5 names illness and accident: their weeks inside an assignment count as work weeks.
#: Reading: military/civil service and maternity weeks (code 6) without an hour of work are
#: neither work weeks nor an interruption (Art. 4.1: an interruption lies *between* assignments).
ABSENCES_COUNTED_AS_WORK: frozenset[str] = frozenset({"illness", "accident"})
#: Reading (Art. 4.4: only weeks without any work are an interruption): a gap between two
#: assignments that holds no whole Mon-Sun week is no interruption; the coverage runs on.
INTERRUPTION_NEEDS_A_WORK_FREE_WEEK = True
#: Reading (Art. 5.2 names "das tatsächliche Enddatum des Arbeitseinsatzes", its example the first
#: day of the interruption, 25 June): a declared exit date may be the last insured day (0) or the
#: day after it (1); the suite itself proposes the day after, as in the example.
EXIT_DATE_DAYS_AFTER_LAST_INSURED_DAY: tuple[int, ...] = (1, 0)
#: Art. 5.1-5.2: the interruption goes on the next list, the exit on the list after that.
INTERRUPTION_LIST_MONTHS_AFTER = 1
EXIT_AFTER_INTERRUPTION_LIST_MONTHS_AFTER = 2
#: Reading (Art. 5.2 "innerhalb des ersten Unterbrechungsmonats"): the first month runs from the
#: interruption's first day to the day before the same date a month later (25 June-24 July).
FIRST_MONTH_OF_INTERRUPTION = 1
#: Reading (Art. 7.1 "sobald sie eingetreten sind"): an exit other than after an interruption
#: (E2-E5) is due at the latest in the list of the month after the last insured day.
OTHER_EXIT_LIST_MONTHS_AFTER = 1
#: Reading (TEMPLATE U: hours to 2 decimals): insured hours to 0.01 h, half away from zero.
HOURS_DECIMALS = 2

#: Rule → (article, what it says); also the tie-break: on the same day the first rule listed wins.
START_RULES: dict[StartRule, tuple[str, str]] = {
    "S1": ("Art. 3.2a", "the assignment is expected to last more than 13 weeks"),
    "S2": ("Art. 3.2b", "the worker asked to be insured"),
    "S3": ("Art. 3.2c", "the worker maintains children"),
    "S4": ("Art. 3.2d", "insured at the end of an assignment here less than 52 weeks before"),
    "S5": ("Art. 3.3", "an extension makes the assignment last more than 13 weeks"),
    "S6": ("Art. 3.4", "more than 13 work weeks within 52 weeks: from the 14th work week"),
}
#: Rule → (article, what it says); on the same last day the first rule listed wins.
END_RULES: dict[EndRule, tuple[str, str]] = {
    "E4": ("Art. 7.5e", "death"),
    "E3": ("Art. 1.1, AHV 21", "retirement: end of the month of the reference age"),
    "E5": ("Art. 1.3", "the IV degree reached 70 %"),
    "E2": ("Art. 5.2, 9", "exit (code 2)"),
    "E1": ("Art. 4.3", "an interruption starts the next day"),
}
_START_ORDER = {rule: n for n, rule in enumerate(START_RULES)}


class CoverageError(ValueError):
    """Input the rules cannot judge; `code` is stable, `message` a human sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Absence:
    """Days off inside an assignment (codes 5-7 of Art. 9)."""

    first_day: date
    last_day: date
    reason: AbsenceReason


@dataclass(frozen=True, slots=True)
class Assignment:
    """One assignment at the employer (TEMPLATE columns W-AB, or a row of sheet `Einsätze`)."""

    start: date
    #: Last day of the assignment; None while it goes on.
    end: date | None = None
    expected_over_13_weeks: bool = False  # S1, column Y
    extension_accepted_on: date | None = None  # S5, column Z
    requested: bool = False  # S2, column AA
    children: bool = False  # S3, column AB
    absences: tuple[Absence, ...] = ()
    #: Hours per calendar week, keyed by the week's Monday (sheet `Einsätze`), where known.
    weekly_hours: tuple[tuple[date, Decimal], ...] = ()
    #: The employer declared the worker's exit (code 2) at the end of this assignment: the
    #: coverage then ends by E2 instead of E1, on the same day.
    ends_with_exit: bool = False


@dataclass(frozen=True, slots=True)
class InvalidityChange:
    """From `on`, the IV decision sets the degree to `degree` % (Art. 1.3)."""

    on: date
    degree: int


@dataclass(frozen=True, slots=True)
class Worker:
    birth_date: date
    sex: Sex
    #: IV degree in % before the first of `invalidity_changes`.
    invalidity_degree: int = 0
    invalidity_changes: tuple[InvalidityChange, ...] = ()
    died_on: date | None = None


@dataclass(frozen=True, slots=True)
class AdmissionWindow:
    """Days on which the worker may be insured at all (§5); `closed_by` ends the window."""

    first_day: date
    last_day: date
    closed_by: EndRule


@dataclass(frozen=True, slots=True)
class Interruption:
    """Time between two assignments at the employer that holds a work-free week (Art. 4.1, 4.4)."""

    first_day: date
    #: Day before the next assignment; None when no next assignment is known (yet).
    last_day: date | None
    #: 52 weeks or more (LONG_INTERRUPTION_DAYS): resets the work-week count, rules out S4.
    long: bool


@dataclass(frozen=True, slots=True)
class CoveragePeriod:
    insured_from: date
    #: Last insured day, inclusive; None while insured.
    insured_to: date | None
    start_rule: StartRule
    end_rule: EndRule | None
    #: The day the start rule applied; earlier than `insured_from` when admission deferred it.
    rule_date: date


@dataclass(frozen=True, slots=True)
class Timeline:
    worker: Worker
    #: Sorted, so that the order of the input does not matter.
    assignments: tuple[Assignment, ...]
    interruptions: tuple[Interruption, ...]
    periods: tuple[CoveragePeriod, ...]
    #: Work weeks (Art. 2, 4.4-4.5) up to `as_of`.
    work_weeks: int
    #: Ongoing assignments count up to here; by default the latest date the input names.
    as_of: date | None
    previously_insured_until: date | None = None


@dataclass(frozen=True, slots=True)
class Declaration:
    """A mutation the employer declared in the list of `period` (Art. 9, TEMPLATE K-M)."""

    period: PayPeriod
    code: Literal[1, 2, 4]
    #: Entry date (K) for code 1, exit date (L) for code 2; for code 4 the first day of the
    #: interruption where known.
    on: date | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A disagreement between the employer's lists and the rules, for the employer to fix."""

    code: str
    period: PayPeriod
    article: str
    severity: Severity
    message: str
    cost_to_employer: bool = False


@dataclass(frozen=True, slots=True)
class InsuredPart:
    """The insured part of one pay period (what pricing needs)."""

    insured_from: date | None
    insured_to: date | None
    insured_days: int
    insured_hours: Decimal
    rule_in_force: StartRule | None


# --- admission (RULES §5) -------------------------------------------------------------------


def reference_age_last_day(worker: Worker) -> date:
    """Last insured day at retirement: end of the month the reference age is reached (§5)."""
    months = reference_age_months(worker.sex, worker.birth_date.year)
    year, month = divmod(worker.birth_date.year * 12 + worker.birth_date.month - 1 + months, 12)
    return date(year, month + 1, days_in_month(year, month + 1))


#: Admission windows by what they depend on (birth date, sex, IV degrees, death); bounded.
_WINDOWS: dict[tuple[object, ...], tuple[AdmissionWindow, ...]] = {}
_WINDOWS_MAX = 4096


def admission_windows(worker: Worker) -> tuple[AdmissionWindow, ...]:
    """The stretches of days on which the worker may be insured (Art. 1.1, 1.3; §5)."""
    key = (  # everything the windows depend on, the pricing parameters' reference age included
        worker.birth_date,
        worker.sex,
        worker.invalidity_degree,
        worker.invalidity_changes,
        worker.died_on,
        reference_age_months(worker.sex, worker.birth_date.year),
        ADMISSION_BVG_AGE,
        IV_DEGREE_NOT_INSURABLE,
    )
    windows = _WINDOWS.get(key)
    if windows is None:
        windows = _admission_windows(worker)
        if len(_WINDOWS) >= _WINDOWS_MAX:
            _WINDOWS.clear()
        _WINDOWS[key] = windows
    return windows


def _admission_windows(worker: Worker) -> tuple[AdmissionWindow, ...]:
    first = date(worker.birth_date.year + ADMISSION_BVG_AGE, 1, 1)  # Art. 1.1: BVG age 18
    cap: date = reference_age_last_day(worker)
    cap_rule: EndRule = "E3"
    if worker.died_on is not None and worker.died_on <= cap:
        cap, cap_rule = worker.died_on, "E4"
    able: list[tuple[date, date | None]] = []  # Art. 1.3: stretches with an IV degree below 70 %
    degree, since = worker.invalidity_degree, date.min
    changes = worker.invalidity_changes
    for change in sorted(changes, key=lambda c: c.on) if len(changes) > 1 else changes:
        if degree < IV_DEGREE_NOT_INSURABLE <= change.degree:
            able.append((since, change.on - ONE_DAY))
        elif change.degree < IV_DEGREE_NOT_INSURABLE <= degree:
            since = change.on
        degree = change.degree
    if degree < IV_DEGREE_NOT_INSURABLE:
        able.append((since, None))
    windows = []
    for able_from, able_to in able:
        rule: EndRule = cap_rule
        last = cap
        if able_to is not None and able_to < cap:
            last, rule = able_to, "E5"
        window_first = max(able_from, first)
        if window_first <= last:
            windows.append(AdmissionWindow(window_first, last, rule))
    return tuple(windows)


# --- work weeks and interruptions (Art. 2, 4) -----------------------------------------------


def _validate(a: Assignment) -> None:
    if a.end is not None and a.end < a.start:
        raise CoverageError(
            "assignment.end_before_start", f"The assignment from {a.start} ends before it starts."
        )
    last = a.end or date.max
    if a.extension_accepted_on is not None and not a.start <= a.extension_accepted_on <= last:
        raise CoverageError(
            "assignment.extension_outside",
            f"The extension accepted on {a.extension_accepted_on} lies outside the assignment "
            f"from {a.start}.",
        )
    for absence in a.absences:
        if not a.start <= absence.first_day <= absence.last_day <= last:
            raise CoverageError(
                "assignment.absence_outside",
                f"The absence {absence.first_day}-{absence.last_day} does not lie inside the "
                f"assignment from {a.start}.",
            )
    for monday, hours in a.weekly_hours:
        if monday.weekday() != 0 or hours < 0:
            raise CoverageError(
                "assignment.weekly_hours",
                f"Weekly hours are keyed by a Monday and not negative: {monday}, {hours}.",
            )


def _assignment_key(a: Assignment) -> tuple[object, ...]:
    return (
        a.start,
        a.end or date.max,
        a.extension_accepted_on or date.min,
        a.expected_over_13_weeks,
        a.requested,
        a.children,
        a.ends_with_exit,
        tuple((x.first_day, x.last_day, x.reason) for x in a.absences),
        a.weekly_hours,
    )


def _weeks_without_work(a: Assignment) -> set[int]:
    """Weeks of the assignment with no hour of work that Art. 4.5 does not count either."""
    counted = {
        week
        for x in a.absences
        if x.reason in ABSENCES_COUNTED_AS_WORK
        for week in range(week_of(x.first_day), week_of(x.last_day) + 1)
    }
    hours = {week_of(monday): h for monday, h in a.weekly_hours}
    excluded = {week for week, h in hours.items() if h == 0 and week not in counted}
    away = sorted(
        (x.first_day, x.last_day) for x in a.absences if x.reason not in ABSENCES_COUNTED_AS_WORK
    )
    last = a.end or date.max
    for away_from, away_to in _merge_days(away):
        for week in range(week_of(away_from), week_of(away_to) + 1):
            if week in counted or hours.get(week, 0) > 0:
                continue
            monday = monday_of(week)
            first, final = max(monday, a.start), min(monday + timedelta(6), last)
            if working_days(first, final):  # Reading: the weekend of such a week does not count
                final -= timedelta(max(0, final.weekday() - 4))
            if away_from <= first and final <= away_to:
                excluded.add(week)
    return excluded


def _merge_days(spans: Sequence[tuple[date, date]]) -> list[tuple[date, date]]:
    merged: list[tuple[date, date]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + ONE_DAY:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def assignment_work_weeks(a: Assignment) -> list[tuple[int, int]]:
    """The work weeks of one assignment as sorted, disjoint ranges of week numbers (Art. 4.4)."""
    end = a.end
    first = (a.start.toordinal() - 1) // 7  # week_of, inline: this runs for every assignment
    last = (end.toordinal() - 1) // 7 if end is not None else OPEN_WEEK
    if not a.absences and not a.weekly_hours:
        return [(first, last)]
    ranges, low = [], first
    for week in sorted(_weeks_without_work(a)):
        if week > low:
            ranges.append((low, week - 1))
        low = week + 1
    if low <= last:
        ranges.append((low, last))
    return ranges


def _merge_weeks(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _nth_week(ranges: Sequence[tuple[int, int]], n: int) -> int | None:
    for low, high in ranges:
        if n <= high - low + 1:
            return low + n - 1
        n -= high - low + 1
    return None


class _Block(NamedTuple):
    """Assignments with no interruption and no exit between them: one stretch of coverage."""

    start: date
    end: date | None
    members: tuple[Assignment, ...]
    ends_with_exit: bool


def _episodes(ordered: Sequence[Assignment]) -> tuple[list[list[_Block]], list[Interruption]]:
    """Blocks, grouped into episodes: runs of blocks with no long interruption (Art. 4.1-4.2).

    A new block begins after an exit, or after a gap that holds a work-free week (Art. 4.4).
    """
    if len(ordered) == 1:  # the common case: one block, open or followed by an interruption
        a = ordered[0]
        block = _Block(a.start, a.end, tuple(ordered), a.ends_with_exit)
        if a.end is None:
            return [[block]], []
        return [[block]], [Interruption(a.end + ONE_DAY, None, long=False)]
    groups: list[tuple[list[Assignment], date | None, bool]] = []  # members, end, new count
    interruptions: list[Interruption] = []
    if not ordered:
        return [], interruptions
    group, end, new = [ordered[0]], ordered[0].end, True
    for a in ordered[1:]:
        if end is None or a.start <= end:
            group.append(a)
            if end is not None:
                end = None if a.end is None else max(end, a.end)
            continue
        first_free, last_free = end + ONE_DAY, a.start - ONE_DAY
        free_week = has_full_week(first_free, last_free)
        exited = any(x.ends_with_exit and x.end == end for x in group)
        if not (exited or free_week or not INTERRUPTION_NEEDS_A_WORK_FREE_WEEK):
            group.append(a)
            end = a.end
            continue
        long = (a.start - end).days >= LONG_INTERRUPTION_DAYS
        if free_week:
            interruptions.append(Interruption(first_free, last_free, long))
        groups.append((group, end, new))
        group, end, new = [a], a.end, long
    groups.append((group, end, new))
    if end is not None:
        interruptions.append(Interruption(end + ONE_DAY, None, long=False))
    episodes: list[list[_Block]] = []
    for group, end, new in groups:
        exits = False
        for a in group:
            if a.ends_with_exit:
                if a.end != end:
                    raise CoverageError(
                        "assignment.exit_not_last",
                        f"The assignment from {a.start} ends with an exit, but another "
                        f"assignment here goes on after {a.end}.",
                    )
                exits = True
        if new:
            episodes.append([])
        episodes[-1].append(_Block(group[0].start, end, tuple(group), exits))
    return episodes, interruptions


# --- the timeline (Art. 3-4) ----------------------------------------------------------------


def timeline(
    worker: Worker,
    assignments: Iterable[Assignment],
    *,
    previously_insured_until: date | None = None,
    as_of: date | None = None,
) -> Timeline:
    """Coverage periods of one worker at one employer, each with the rules that open and close it.

    `previously_insured_until`: last insured day of an older assignment here, not given (S4).
    An ongoing assignment (end None) is presumed to go on. Its coverage stays open unless an end
    known by `as_of` closes it; `as_of` defaults to the latest date the input names.
    """
    ordered = _in_order(assignments)
    for a in ordered:
        if (
            a.absences
            or a.weekly_hours
            or a.extension_accepted_on is not None
            or (a.end is not None and a.end < a.start)
        ):
            _validate(a)  # nothing else in an assignment can be wrong
    if ordered and previously_insured_until and previously_insured_until >= ordered[0].start:
        raise CoverageError(
            "history.overlaps",
            f"previously_insured_until {previously_insured_until} must lie before the "
            f"first assignment ({ordered[0].start}).",
        )
    horizon = as_of or _latest_date(worker, ordered, previously_insured_until)
    episodes, interruptions = _episodes(ordered)
    windows = admission_windows(worker)
    weeks_of = {
        id(a): (
            assignment_work_weeks(a)
            if a.absences or a.weekly_hours
            else [
                (
                    (a.start.toordinal() - 1) // 7,
                    (a.end.toordinal() - 1) // 7 if a.end is not None else OPEN_WEEK,
                )
            ]
        )
        for a in ordered
    }  # assignment_work_weeks, its common case inline
    periods: list[CoveragePeriod] = []
    previous_end, insured_then = previously_insured_until, previously_insured_until is not None
    # Episodes lie 52 weeks and more apart, so their merged work weeks add up to the total.
    work_weeks = 0
    until = week_of(horizon) if horizon is not None else None
    for episode in episodes:
        if len(episode) == 1 and len(episode[0].members) == 1:
            weeks = weeks_of[id(episode[0].members[0])]  # sorted, disjoint, not adjacent
        else:
            weeks = _merge_weeks(r for b in episode for a in b.members for r in weeks_of[id(a)])
        if until is not None:
            work_weeks += sum(max(0, min(high, until) - low + 1) for low, high in weeks)
        if len(weeks) == 1:  # _nth_week, its common case inline
            low, high = weeks[0]
            week = (
                low + WORK_WEEKS_WITHOUT_INSURANCE
                if high - low >= WORK_WEEKS_WITHOUT_INSURANCE
                else None
            )
        else:
            week = _nth_week(weeks, WORK_WEEKS_WITHOUT_INSURANCE + 1)
        fourteenth = monday_of(week) if week is not None else None
        for block in episode:
            s4 = (
                insured_then
                and previous_end is not None
                and (block.start - previous_end).days < LONG_INTERRUPTION_DAYS
            )
            start = _start(block, fourteenth, weeks_of, s4=s4)
            insured_then = False
            if start is not None:
                rule, on = start
                end_rule: EndRule | None = None
                if block.end is not None:
                    end_rule = "E2" if block.ends_with_exit else "E1"
                admitted = _admit(on, block.end, rule, end_rule, windows, horizon)
                periods.extend(admitted)
                insured_then = bool(admitted) and admitted[-1].insured_to == block.end
            previous_end = block.end
    return Timeline(
        worker=worker,
        assignments=ordered,
        interruptions=tuple(interruptions),
        periods=tuple(periods),
        work_weeks=work_weeks,
        as_of=horizon,
        previously_insured_until=previously_insured_until,
    )


def _in_order(assignments: Iterable[Assignment]) -> tuple[Assignment, ...]:
    """Sorted by `_assignment_key`, so that the order of the input does not matter."""
    given = tuple(assignments)
    if len(given) > 1:
        previous = given[0].start
        for a in given[1:]:
            if a.start <= previous:  # out of order, or two on one day: the whole key decides
                return tuple(sorted(given, key=_assignment_key))
            previous = a.start
    return given


def _latest_date(
    worker: Worker, ordered: Sequence[Assignment], previously_insured_until: date | None
) -> date | None:
    known: list[date] = []
    for a in ordered:
        if a.end is not None:
            known.append(a.end)  # validated: no day of the assignment lies after its end
        else:
            known.append(a.start)
            if a.extension_accepted_on is not None:
                known.append(a.extension_accepted_on)
            known += [x.last_day for x in a.absences]
    if worker.invalidity_changes:
        known += [change.on for change in worker.invalidity_changes]
    known += [d for d in (worker.died_on, previously_insured_until) if d]
    return max(known, default=None)


def _start(
    block: _Block,
    fourteenth: date | None,
    weeks_of: Mapping[int, list[tuple[int, int]]],
    *,
    s4: bool,
) -> tuple[StartRule, date] | None:
    """The earliest start rule that applies in the block, and its day (Art. 3.2-3.4)."""
    # (day, tie-break); the earliest wins, on the same day the first rule of START_RULES.
    best: tuple[date, int] | None = None
    for a in block.members:
        # S1-S3 share the assignment's first day: the first of them that applies wins.
        if a.expected_over_13_weeks:
            best = _earlier(best, (a.start, _S1))
        elif a.requested:
            best = _earlier(best, (a.start, _S2))
        elif a.children:
            best = _earlier(best, (a.start, _S3))
        if a.extension_accepted_on is not None:
            weeks = sum(high - low + 1 for low, high in weeks_of[id(a)])
            if weeks > WORK_WEEKS_WITHOUT_INSURANCE:
                best = _earlier(best, (a.extension_accepted_on, _S5))
    if s4:
        best = _earlier(best, (block.start, _S4))
    if fourteenth is not None and (block.end is None or fourteenth <= block.end):
        # Reading: the Monday of the 14th work week, or the block's first day if that is later
        # (no insurance inside an interruption, Art. 4.3).
        best = _earlier(best, (max(fourteenth, block.start), _S6))
    if best is None:
        return None
    on, order = best
    return _START_RULE_LIST[order], on


_START_RULE_LIST: tuple[StartRule, ...] = tuple(START_RULES)
_S1, _S2, _S3, _S4, _S5, _S6 = (_START_ORDER[r] for r in ("S1", "S2", "S3", "S4", "S5", "S6"))


def _earlier(best: tuple[date, int] | None, candidate: tuple[date, int]) -> tuple[date, int]:
    return candidate if best is None or candidate < best else best


def _admit(
    start: date,
    end: date | None,
    start_rule: StartRule,
    end_rule: EndRule | None,
    windows: Sequence[AdmissionWindow],
    horizon: date | None,
) -> list[CoveragePeriod]:
    """The part of [start, end] the worker may be insured in (§5), by the rule that applied."""
    periods = []
    for window in windows:
        first = max(start, window.first_day)
        last: date | None
        rule: EndRule | None
        if end is not None and end < window.last_day:
            last, rule = end, end_rule
        elif end is None and (horizon is None or window.last_day > horizon):
            last, rule = None, None  # an ongoing assignment: an end beyond what is known
        else:
            last, rule = window.last_day, window.closed_by
        if last is None or first <= last:
            periods.append(CoveragePeriod(first, last, start_rule, rule, start))
        if last is None:
            break
    return periods


# --- declared vs derived (Art. 3, 5, 9, 22.4) -----------------------------------------------


def compare_declarations(
    timeline: Timeline, declarations: Iterable[Declaration], *, through: PayPeriod
) -> tuple[Finding, ...]:
    """What the employer's lists up to `through` declared, against what the rules derive.

    Each derived start wants an entry (code 1) with its date; each derived end an exit (code 2),
    after an interruption by the Art. 5 flow: code 4 in the next list, the exit in the one after
    unless a new assignment began within the interruption's first month. Findings about lists
    after `through` are not due yet.
    """
    received = [d for d in declarations if d.period <= through]
    entries: list[Declaration] = []
    exits: list[Declaration] = []
    for d in received:
        if d.code == 1:
            entries.append(d)
        elif d.code == 2:
            exits.append(d)
    if len(entries) > 1:
        entries.sort(key=_declared_order)
    if len(exits) > 1:
        exits.sort(key=_declared_order)
    findings: list[Finding] = []
    periods = timeline.periods
    matched: set[int] = set()
    after: date | None = None
    for period in periods:
        window: list[Declaration] = []
        if entries:
            to = period.insured_to
            window = [
                d
                for d in entries
                if d.on is not None
                and (after is None or after < d.on)
                and (to is None or d.on <= to)
            ]
            matched.update(map(id, window))
        findings += _entry_findings(period, window, through)
        after = period.insured_to
    for d in entries:
        if id(d) not in matched:
            findings.append(_unexpected(d, "entry", "Art. 3"))
    matched.clear()
    zone_start = date.min  # each exit belongs to one period: after the previous period's zone
    for n, period in enumerate(periods):
        if period.insured_to is None:
            continue
        zone_end = date.max
        if n + 1 < len(periods):
            zone_end = max(period.insured_to + ONE_DAY, periods[n + 1].insured_from - ONE_DAY)
        window = [d for d in exits if d.on is not None and zone_start < d.on <= zone_end]
        findings += _exit_findings(timeline, period, window, received, through)
        matched.update(map(id, window))
        zone_start = zone_end
    for d in exits:
        if id(d) not in matched:
            findings.append(_unexpected(d, "exit", "Art. 4.3, 9"))
    if len(findings) > 1:
        findings.sort(key=_finding_order)
    return tuple(findings)


def _finding_order(f: Finding) -> tuple[PayPeriod, str]:
    return f.period, f.code


def _declared_order(d: Declaration) -> tuple[PayPeriod, date]:
    return d.period, d.on or date.min


def _start_reason(period: CoveragePeriod) -> str:
    article, _ = START_RULES[period.start_rule]
    return f"{period.start_rule}, {article}"


def _entry_findings(
    period: CoveragePeriod, declared: Sequence[Declaration], through: PayPeriod
) -> list[Finding]:
    due = PayPeriod.of(period.insured_from)
    if not declared:
        if due > through:
            return []
        return [
            Finding(
                "entry.not_declared",
                due,
                f"{START_RULES[period.start_rule][0]}, Art. 22.4",
                "error",
                f"Insurance starts on {period.insured_from} ({_start_reason(period)}), but no "
                f"entry (code 1) was declared in the list of {due} or later. An undeclared entry "
                f"is a cost charged to the employer (Art. 22.4).",
                cost_to_employer=True,
            )
        ]
    if len(declared) == 1 and declared[0].on == period.insured_from:
        return []  # the common case: declared as derived
    best = next((d for d in declared if d.on == period.insured_from), declared[0])
    findings = []
    if best.on != period.insured_from:
        late = best.on is not None and best.on > period.insured_from
        findings.append(
            Finding(
                "entry.date_differs",
                best.period,
                START_RULES[period.start_rule][0],
                "error",
                f"The list of {best.period} declares the entry on {best.on}, but insurance "
                f"starts on {period.insured_from} ({_start_reason(period)})."
                + (
                    " The insurance missed until then is a cost to the employer (Art. 22.4)."
                    if late
                    else ""
                ),
                cost_to_employer=late,
            )
        )
    findings += [
        _unexpected(d, "entry", "Art. 3") for d in declared if d is not best and d.on != best.on
    ]
    return findings


def _exit_findings(
    timeline: Timeline,
    period: CoveragePeriod,
    declared: Sequence[Declaration],
    received: Sequence[Declaration],
    through: PayPeriod,
) -> list[Finding]:
    assert period.insured_to is not None and period.end_rule is not None
    last = period.insured_to
    first_free = last + ONE_DAY
    accepted = [last + days for days in _EXIT_DATE_OFFSETS]
    article = END_RULES[period.end_rule][0]
    if period.end_rule == "E1":
        resumed = next((a.start for a in timeline.assignments if a.start > last), None)
        # Art. 5.2: back within the first month of the interruption → no exit is due
        if resumed is not None and resumed < add_months(first_free, FIRST_MONTH_OF_INTERRUPTION):
            declared = [d for d in declared if d.on not in accepted]
            return [_exit_date_differs(d, period, accepted[0]) for d in declared]
        if len(declared) == 1 and declared[0].on in accepted:
            return []  # the common case: declared as derived
        report_list = PayPeriod.of(first_free).shifted(INTERRUPTION_LIST_MONTHS_AFTER)
        due = PayPeriod.of(first_free).shifted(EXIT_AFTER_INTERRUPTION_LIST_MONTHS_AFTER)
        article = "Art. 5.2"
    else:
        if len(declared) == 1 and declared[0].on in accepted:
            return []  # the common case: declared as derived
        report_list = None
        due = PayPeriod.of(last).shifted(OTHER_EXIT_LIST_MONTHS_AFTER)
    if declared:
        best = next((d for d in declared if d.on in accepted), declared[0])
        findings = [] if best.on in accepted else [_exit_date_differs(best, period, accepted[0])]
        return findings + [
            _unexpected(d, "exit", article) for d in declared if d is not best and d.on != best.on
        ]
    findings = []
    reported = report_list is not None and any(
        d.code == 4 and PayPeriod.of(last) <= d.period <= report_list for d in received
    )
    if report_list is not None and not reported and report_list <= through:
        findings.append(
            Finding(
                "interruption.not_declared",
                report_list,
                "Art. 5.1",
                "error",
                f"Insurance ended on {last} (E1, Art. 4.3) and no new assignment began within a "
                f"month, but the list of {report_list} reports neither the interruption from "
                f"{first_free} (code 4, wage 0) nor an exit (code 2) (Art. 5.1).",
            )
        )
    if due <= through:
        if reported:
            findings.append(
                Finding(
                    "interruption.follow_up_missing",
                    due,
                    "Art. 5.2",
                    "error",
                    f"The interruption from {first_free} was reported (code 4), and no new "
                    f"assignment began within its first month, so the exit (code 2) dated "
                    f"{accepted[0]} was due in the list of {due} (Art. 5.2); it is missing.",
                )
            )
        else:
            rule_text = END_RULES[period.end_rule][1]
            findings.append(
                Finding(
                    "exit.missing",
                    due,
                    article,
                    "error",
                    f"Insurance ended on {last} ({period.end_rule}: {rule_text}); the exit "
                    f"(code 2) dated {accepted[0]} was due in the list of {due} at the latest "
                    f"({article}).",
                )
            )
    return findings


_EXIT_DATE_OFFSETS = tuple(timedelta(days) for days in EXIT_DATE_DAYS_AFTER_LAST_INSURED_DAY)


def _exit_date_differs(d: Declaration, period: CoveragePeriod, expected: date) -> Finding:
    assert period.end_rule is not None
    return Finding(
        "exit.date_differs",
        d.period,
        END_RULES[period.end_rule][0],
        "error",
        f"The list of {d.period} declares the exit on {d.on}, but insurance ended on "
        f"{period.insured_to} ({period.end_rule}); the exit date is {expected} "
        f"(Art. 5.2: the first day of the interruption).",
    )


def _unexpected(d: Declaration, what: Literal["entry", "exit"], article: str) -> Finding:
    code = 1 if what == "entry" else 2
    return Finding(
        f"{what}.unexpected",
        d.period,
        article,
        "warning",
        f"The list of {d.period} declares an {what} (code {code}) on {d.on}, but the rules "
        f"derive no such {what} ({article}).",
    )


# --- the insured part of a pay period (Art. 2.3, 13-16) -------------------------------------


def corrected_period(assignments: Iterable[Assignment], period: PayPeriod) -> PayPeriod:
    """The pay period a correction row (negative hours, RULES §3) in the list of `period`
    corrects, judged by the row's own assignments (columns W-X or sheet `Einsätze`).

    Reading (RULES §3 "a correction of an earlier period"; TEMPLATE has no column that names
    it, and one row per worker means a worker who still works sends no correction row): the
    latest period, up to `period`, in which one of the row's assignments has a day — `period`
    itself while one goes on; `period` too when none has a day up to it.
    """
    latest: PayPeriod | None = None
    last = period.last_day
    for a in assignments:
        if a.start > last:
            continue
        day = last if a.end is None or a.end > last else a.end
        if latest is None or PayPeriod.of(day) > latest:
            latest = PayPeriod.of(day)
    return period if latest is None else latest


def insured_part(
    timeline: Timeline,
    period: PayPeriod,
    hours: Decimal,
    *,
    weekly_hours: Mapping[date, Decimal] | None = None,
) -> InsuredPart:
    """The insured days and hours of `period`: only insured hours count (issue 5, Art. 2.3).

    Hours go by weekly hours (keyed by Monday) where every week of the period with assignment
    days has them; otherwise pro rata to the assignment's working days (Mon-Fri) in the period.
    """
    first, last = period.first_day, period.last_day
    overlapping = [
        p
        for p in timeline.periods
        if p.insured_from <= last and (p.insured_to is None or p.insured_to >= first)
    ]
    if not overlapping:
        return InsuredPart(None, None, 0, _NO_HOURS, None)
    insured = [_clip(p.insured_from, p.insured_to, first, last) for p in overlapping]
    worked = _merge_days(
        sorted(
            _clip(a.start, a.end, first, last)
            for a in timeline.assignments
            if a.start <= last and (a.end is None or a.end >= first)
        )
    )
    insured_days = sum((to - since).days + 1 for since, to in insured)
    by_week = (
        weekly_hours
        if weekly_hours is not None
        else any(a.weekly_hours for a in timeline.assignments)
    )  # without any weekly hours, `_weights_by_weekly_hours` is None
    weights = _weights_by_weekly_hours(timeline, worked, weekly_hours) if by_week else None
    if weights is not None:
        total = sum(weights.values(), Fraction(0))
        share = sum(
            (w for day, w in weights.items() if any(a <= day <= b for a, b in insured)),
            Fraction(0),
        )
        if total == 0:  # no working day, e.g. a correction: by calendar days of the period
            total, share = Fraction((last - first).days + 1), Fraction(insured_days)
        rounded = _round_hours(Fraction(hours) * share / total)
    else:  # whole days: integers, rounded as `_round_hours` does
        days = sum(working_days(a, b) for a, b in worked)
        days_insured = sum(
            working_days(max(a, c), min(b, e))
            for a, b in worked
            for c, e in insured
            if a <= e and c <= b
        )
        if days == 0:  # no working day, e.g. a correction: by calendar days of the period
            days, days_insured = (last - first).days + 1, insured_days
        rounded = _round_hours_of(hours, days_insured, days)
    return InsuredPart(
        insured_from=insured[0][0],
        insured_to=insured[-1][1],
        insured_days=insured_days,
        insured_hours=rounded,
        rule_in_force=overlapping[-1].start_rule,
    )


_NO_HOURS = Decimal("0.00")


def _clip(since: date, to: date | None, first: date, last: date) -> tuple[date, date]:
    return max(since, first), min(to or last, last)


def _weights_by_weekly_hours(
    timeline: Timeline,
    worked: Sequence[tuple[date, date]],
    given: Mapping[date, Decimal] | None,
) -> dict[date, Fraction] | None:
    """Each week's hours spread evenly over its working days of assignment, for the days in
    `worked`; None unless every week with such days has its hours."""
    hours: dict[date, Fraction] = {}
    if given is not None:
        hours = {monday: Fraction(h) for monday, h in given.items()}
    else:
        for a in timeline.assignments:
            for monday, h in a.weekly_hours:
                hours[monday] = hours.get(monday, Fraction(0)) + Fraction(h)
    if not hours:
        return None
    days = [since + timedelta(k) for since, to in worked for k in range((to - since).days + 1)]
    mondays = {day - timedelta(day.weekday()) for day in days}
    if not mondays or not mondays <= hours.keys():
        return None
    spread: dict[date, list[date]] = {}
    for monday in mondays:
        at_work = [
            day
            for day in (monday + timedelta(k) for k in range(7))
            if any(a.start <= day and (a.end is None or day <= a.end) for a in timeline.assignments)
        ]
        spread[monday] = [day for day in at_work if day.weekday() < 5] or at_work
    return {
        day: hours[monday] / len(spread[monday])
        for day in days
        if day in spread[monday := day - timedelta(day.weekday())]
    }


def _round_hours_of(hours: Decimal, share: int, total: int) -> Decimal:
    """`_round_hours(Fraction(hours) * share / total)` for `share` >= 0 < `total`, in integers."""
    if isinstance(hours, Decimal):
        numerator, denominator = hours.as_integer_ratio()
    else:
        exact = Fraction(hours)
        numerator, denominator = exact.numerator, exact.denominator
    scale = 10**HOURS_DECIMALS
    divisor = denominator * total  # |hours| * share / total * scale + 1/2, floored:
    magnitude = (2 * abs(numerator) * share * scale + divisor) // (2 * divisor)
    return Decimal(-magnitude if numerator < 0 else magnitude).scaleb(-HOURS_DECIMALS)


def _round_hours(hours: Fraction) -> Decimal:
    """To HOURS_DECIMALS, half away from zero, exactly (no binary or context rounding first)."""
    scale = 10**HOURS_DECIMALS
    magnitude = floor(abs(hours) * scale + Fraction(1, 2))
    return Decimal(magnitude if hours >= 0 else -magnitude).scaleb(-HOURS_DECIMALS)
