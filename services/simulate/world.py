"""The simulated foundation's ground truth: employers, workers, assignments, behaviour (pure).

Everything follows from the seed: the same arguments give the same world, byte for byte. The
world knows what really happened (every assignment's real start and end); the monthly lists
are what the employers tell the foundation of it, period by period (`truth.py`).

Besides the assignments, a few workers have one life event each (`_life_events`, drawn from
a random stream of their own, so that the rest of the world stays as it was): two assignments
in one month (sheet `Einsätze`), an IV decision that changes their degree (one of them to
70 % or more), a whole month off ill or after an accident, or a later list that corrects the
hours of their last month. Some assignments end without the employer knowing whether the
worker comes back (Art. 5); a few employers then forget to report the exit.
"""

from __future__ import annotations

import calendar
import functools
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from stdnum import ean
from stdnum.ch import ssn

from services.coverage import domain as coverage
from services.coverage.calendar import add_months

Behaviour = Literal["punctual", "late", "faulty", "slow_payer", "never_pays"]
Sex = Literal["M", "F"]
#: Art. 5.2, after the interruption was reported (code 4): the list after carries the exit
#: (code 2), or the employer forgets it and leaves the worker out, or reports code 4 again.
FollowUp = Literal["exit", "omitted", "repeated"]

_CANTONS = ("ZH", "BE", "LU", "AG", "SG", "BS", "VD", "GE", "TI", "FR", "VS", "ZG")
_LANGUAGE_OF = {"VD": "fr", "GE": "fr", "FR": "fr", "VS": "fr", "TI": "it"}
_TOWNS = (("8001", "ZÜRICH"), ("3011", "BERN"), ("1201", "GENÈVE"), ("6900", "LUGANO"))
_LAST = ("MÜLLER", "MEIER", "SCHMID", "KELLER", "WEBER", "HUBER", "FAVRE", "ROSSI", "BIANCHI")
_FIRST = ("ANNA", "LUCA", "MARIE", "NOAH", "LEA", "DAVID", "SOFIA", "JONAS", "ELENA", "MARCO")
#: First employer number of the simulation (the demo employer is 1001).
FIRST_EMPLOYER_NO = 7001


@dataclass(frozen=True, slots=True)
class Stint:
    """One assignment as it really happens."""

    start: date
    #: Last day; None when it goes on past the simulated months.
    end: date | None
    #: Column Y at the start: the employer expects more than 13 weeks (S1).
    over_13_weeks: bool
    #: Column Z: an extension beyond 13 weeks accepted on this day (S5).
    extension_on: date | None
    weekly_hours: Decimal
    hourly_wage: Decimal
    #: Art. 5: at the end the employer does not know whether the worker comes back within 52
    #: weeks; if insured, the interruption goes on the next list and then this follow-up.
    follow_up: FollowUp | None = None
    #: In a month with two assignments, the list gives this one's hours per calendar week.
    hours_by_week: bool = False


@dataclass(frozen=True, slots=True)
class Correction:
    """A later list corrects hours of an earlier month: a row with negative hours and base
    wage (RULES §3), the corrected row otherwise repeated."""

    #: The period corrected: the last month of the assignment.
    period: str
    #: The period of the list that carries the correction.
    in_list: str
    #: Hours reported too many in `period` (positive; the row says minus this).
    hours: Decimal
    #: The employer forgets the minus in I and J (the foundation corrects them, Art. 24).
    unsigned_amounts: bool = False


@dataclass(frozen=True, slots=True)
class Absence:
    """A whole month off inside an assignment: no hours, no wage, code 5 or 7 (Art. 9)."""

    period: str
    code: Literal[5, 7]


@dataclass(frozen=True, slots=True)
class SimWorker:
    serial: int
    employer_no: int
    ahv: str
    last_name: str
    first_name: str
    street: str
    postcode: str
    town: str
    birth_date: date
    sex: Sex
    invalidity_degree: int
    language_code: int
    civil_status: int
    requested: bool
    children: bool
    stints: tuple[Stint, ...]
    #: IV decisions: (first period whose list reports it, new degree in %).
    invalidity_changes: tuple[tuple[str, int], ...] = ()
    absences: tuple[Absence, ...] = ()
    corrections: tuple[Correction, ...] = ()

    def invalidity_degree_in(self, period: str) -> int:
        """The degree the list of `period` reports (column N)."""
        degree = self.invalidity_degree
        for since, changed in self.invalidity_changes:
            if since <= period:
                degree = changed
        return degree


@dataclass(frozen=True, slots=True)
class SimEmployer:
    employer_no: int
    name: str
    canton: str
    language: str
    employer_share: Decimal
    behaviour: Behaviour
    #: Days after the invoice date on which it pays (punctual payers within the term).
    pay_after_days: int
    #: Day of the month after the period on which its list goes out.
    upload_day: int
    #: Lists go over the connector topic instead of the portal.
    connector: bool
    #: Now and then forgets the exit that follows a reported interruption (Art. 5.2).
    forgets_follow_ups: bool = False


@dataclass(frozen=True, slots=True)
class World:
    seed: int
    first_period: str
    months: int
    employers: tuple[SimEmployer, ...]
    workers: tuple[SimWorker, ...]

    @property
    def periods(self) -> list[str]:
        return [_shift(self.first_period, k) for k in range(self.months)]

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.first_period + "-01")

    @property
    def horizon(self) -> date:
        """Last day of the last simulated period."""
        return last_day(self.periods[-1])


def _shift(period: str, months: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def next_period(period: str) -> str:
    return _shift(period, 1)


def first_day(period: str) -> date:
    return date.fromisoformat(period + "-01")


def last_day(period: str) -> date:
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def ahv_number(serial: int) -> str:
    body = f"756{serial % 10**9:09d}"
    return str(ssn.format(body + ean.calc_check_digit(body)))


def _behaviours(count: int, rng: random.Random) -> list[Behaviour]:
    """Most employers are punctual; a few are late, send faulty lists, pay late or never
    (always at least one punctual employer)."""
    special: list[Behaviour] = ["never_pays"] * max(1, count // 25)
    special += ["late", "faulty", "slow_payer"] * max(1, count // 20)
    special = special[: max(0, count - 1)]
    kinds: list[Behaviour] = special + ["punctual"] * (count - len(special))
    rng.shuffle(kinds)
    return kinds


def build_world(
    *,
    employers: int,
    workers: int,
    months: int,
    seed: int,
    first_period: str = "2025-01",
    first_employer_no: int = FIRST_EMPLOYER_NO,
) -> World:
    rng = random.Random(seed)
    kinds = _behaviours(employers, rng)
    sim_employers = []
    for n in range(employers):
        canton = rng.choice(_CANTONS)
        behaviour = kinds[n]
        sim_employers.append(
            SimEmployer(
                employer_no=first_employer_no + n,
                name=f"SIMULATION PERSONAL {n + 1:03d} AG",
                canton=canton,
                language=_LANGUAGE_OF.get(canton, "de"),
                employer_share=rng.choice((Decimal("0.5"), Decimal("0.5"), Decimal("0.6"))),
                behaviour=behaviour,
                pay_after_days=rng.randint(42, 55)
                if behaviour == "slow_payer"
                else rng.randint(3, 25),
                upload_day=rng.randint(2, 12),
                connector=n % 5 == 4,
            )
        )
    start = date.fromisoformat(first_period + "-01")
    horizon = last_day(_shift(first_period, months - 1))
    sim_workers = []
    for serial in range(1, workers + 1):
        employer = sim_employers[rng.randrange(employers)]
        sex: Sex = "F" if rng.random() < 0.45 else "M"
        birth = date(rng.randint(1963, 2003), rng.randint(1, 12), rng.randint(1, 28))
        postcode, town = rng.choice(_TOWNS)
        sim_workers.append(
            SimWorker(
                serial=serial,
                employer_no=employer.employer_no,
                ahv=ahv_number(500_000_000 + seed * 1_000_000 + serial),
                last_name=rng.choice(_LAST),
                first_name=rng.choice(_FIRST),
                street=f"BAHNHOFSTRASSE {rng.randint(1, 200)}",
                postcode=postcode,
                town=town,
                birth_date=birth,
                sex=sex,
                invalidity_degree=40 if rng.random() < 0.02 else 0,
                language_code={"de": 1, "fr": 2, "it": 3}[employer.language],
                civil_status=rng.choice((1, 1, 2, 2, 5)),
                requested=rng.random() < 0.03,
                children=rng.random() < 0.03,
                stints=_stints(rng, start, horizon),
            )
        )
    world = World(seed, first_period, months, tuple(sim_employers), tuple(sim_workers))
    return _life_events(world)


def _stints(rng: random.Random, start: date, horizon: date) -> tuple[Stint, ...]:
    """One to four assignments; each new one starts in a month after the previous one ended,
    so that a monthly row describes one assignment (columns W-Z), unless `_split` makes two
    of one (sheet `Einsätze`)."""
    out: list[Stint] = []
    # Some workers are already on an assignment when the simulation begins.
    day = start - timedelta(days=rng.randint(0, 120)) if rng.random() < 0.4 else start
    day += timedelta(days=rng.randint(0, 150))
    # Assignments run Monday to Friday, so every month they touch has working days in it.
    day -= timedelta(days=day.weekday())
    while day <= horizon and len(out) < 4:
        long = rng.random() < 0.35
        weeks = rng.randint(14, 45) if long else rng.choice((2, 3, 4, 6, 8, 10, 12, 16, 20))
        end: date | None = day + timedelta(days=7 * weeks - 3)
        extension = None
        if not long and weeks > 13 and rng.random() < 0.5:
            extension = day + timedelta(days=7 * 10)
        if end is not None and end > horizon + timedelta(days=60):
            end = None
        out.append(
            Stint(
                start=day,
                end=end,
                over_13_weeks=long,
                extension_on=extension,
                weekly_hours=Decimal(rng.choice((42, 40, 32, 24, 20))),
                hourly_wage=Decimal(rng.randint(2400, 4800)) / 100,
            )
        )
        if end is None:
            break
        # The next one starts in a later month: a gap of 1 to 40 weeks.
        gap = end + timedelta(days=7 * rng.choice((1, 2, 4, 6, 10, 20, 40)))
        day = max(gap, (end.replace(day=1) + timedelta(days=32)).replace(day=1))
        day += timedelta(days=(7 - day.weekday()) % 7)
    return tuple(out)


def stints_in(worker: SimWorker, period: str) -> list[Stint]:
    """The assignments that have days in `period`: one, or two for a worker whose assignment
    was split in that month (`_split`), or none."""
    first, last = first_day(period), last_day(period)
    return [
        stint
        for stint in worker.stints
        if stint.start <= last and (stint.end is None or stint.end >= first)
    ]


def next_stint(worker: SimWorker, stint: Stint) -> Stint | None:
    later = [s for s in worker.stints if s.start > stint.start]
    return later[0] if later else None


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def working_days(since: date, to: date) -> int:
    if to < since:
        return 0
    days = (to - since).days + 1
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    wd = since.weekday()
    for k in range(rest):
        if (wd + k) % 7 < 5:
            count += 1
    return count


def hours_in(stint: Stint, period: str) -> Decimal:
    """Hours worked in `period`: the weekly hours over the assignment's working days."""
    since = max(stint.start, first_day(period))
    to = min(stint.end or last_day(period), last_day(period))
    days = working_days(since, to)
    return (stint.weekly_hours * days / 5).quantize(Decimal("0.01"))


def interruption_lists(end: date) -> tuple[str, str, date]:
    """Art. 5 after an assignment that ended on `end`: the list that reports the interruption
    (code 4), the list due to carry the exit (code 2), and the first day on which a new
    assignment no longer counts as a return within the interruption's first month."""
    first_free = end + timedelta(days=1)
    since = period_of(first_free)
    return (
        _shift(since, coverage.INTERRUPTION_LIST_MONTHS_AFTER),
        _shift(since, coverage.EXIT_AFTER_INTERRUPTION_LIST_MONTHS_AFTER),
        add_months(first_free, coverage.FIRST_MONTH_OF_INTERRUPTION),
    )


# -- life events: a few workers each get one, from a random stream of their own ------------

#: Makes a worker's life event, or None where the worker has no room for it.
Maker = Callable[[random.Random, SimWorker, list[str], int], SimWorker | None]
#: How many workers get each event: one in `per` workers, and at least `least`.
_EVENTS_PER_WORKERS = {"invalidity": (400, 2), "correction": (250, 1), "split": (100, 1)}
_ABSENCES_PER_WORKERS = (200, 1)
#: Share of the assignments whose end the employer is not sure of (Art. 5).
UNCERTAIN_ENDS = 0.15
#: Employers that forget follow-ups: one in ten (at least one), each forgetting this often.
FORGETFUL_EMPLOYERS_PER = 10
FORGETS = 0.5
#: Every third IV decision raises the degree to 70 % or more (Art. 1.3: not insurable).
NOT_INSURABLE_EVERY = 3


def _life_events(world: World) -> World:
    rng = random.Random(f"life-events:{world.seed}")
    periods = world.periods
    count = len(world.employers)
    forgetful = set(
        rng.sample(
            [e.employer_no for e in world.employers],
            max(1, count // FORGETFUL_EMPLOYERS_PER) if count > 1 else 1,
        )
    )
    employers = tuple(
        replace(e, forgets_follow_ups=e.employer_no in forgetful) for e in world.employers
    )
    workers = list(world.workers)
    order = list(range(len(workers)))
    rng.shuffle(order)
    taken: set[int] = set()
    makers: list[tuple[str, Maker]] = [
        ("invalidity", _invalidity_change),
        # corrections of a long (S1, so insured) assignment first, of any other after
        ("correction", functools.partial(_correction, long_only=True)),
        ("correction", functools.partial(_correction, long_only=False)),
        ("split", _split),
        ("absence", _absence),
    ]
    quotas = {**_EVENTS_PER_WORKERS, "absence": _ABSENCES_PER_WORKERS}
    made: Counter[str] = Counter()
    for kind, make in makers:
        per, least = quotas[kind]
        wanted = max(least, len(workers) // per)
        for index in order:
            if made[kind] == wanted:
                break
            if index in taken:
                continue
            changed = make(rng, workers[index], periods, made[kind])
            if changed is not None:
                workers[index] = changed
                taken.add(index)
                made[kind] += 1
    by_no = {e.employer_no: e for e in employers}
    for index, worker in enumerate(workers):
        if index not in taken:
            workers[index] = _uncertain_ends(rng, worker, by_no[worker.employer_no], periods)
    return replace(world, employers=employers, workers=tuple(workers))


def _last_friday(period: str) -> date:
    day = last_day(period)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def _invalidity_change(
    rng: random.Random, worker: SimWorker, periods: list[str], made: int
) -> SimWorker | None:
    """An IV decision reported from the list of a month in the middle of a long (S1)
    assignment; one in NOT_INSURABLE_EVERY to 70 % or more, after which the worker stops
    working (a full IV pension: no more lists, Art. 8.3)."""
    for n, stint in enumerate(worker.stints):
        months = [
            p
            for p in periods[1:]
            if hours_in(stint, _shift(p, -1)) > 0
            and hours_in(stint, p) > 0
            and stint.start < first_day(p)
        ]
        if not stint.over_13_weeks or not months:
            continue
        since = rng.choice(months)
        if made % NOT_INSURABLE_EVERY == 0:
            degree = rng.choice((70, 80, 100))
            end = _last_friday(since)
            if stint.end is not None and stint.end < end:
                end = stint.end
            extension = (
                stint.extension_on if stint.extension_on and stint.extension_on <= end else None
            )
            last = replace(stint, end=end, extension_on=extension)
            stints = (*worker.stints[:n], last)
        else:
            degree = rng.choice((45, 50, 60) if worker.invalidity_degree == 0 else (0, 55, 60))
            stints = worker.stints
        return replace(worker, stints=stints, invalidity_changes=((since, degree),))
    return None


def _correction(
    rng: random.Random, worker: SimWorker, periods: list[str], made: int, *, long_only: bool
) -> SimWorker | None:
    """The hours of the last month of an assignment were too many; a list one or two months
    later corrects them, while the worker has no assignment here."""
    for stint in worker.stints:
        if stint.end is None or (long_only and not stint.over_13_weeks):
            continue
        corrected = period_of(stint.end)
        hours = hours_in(stint, corrected)
        in_list = _shift(corrected, rng.choice((1, 2)))
        if corrected not in periods or in_list not in periods or hours < 4:
            continue
        following = next_stint(worker, stint)
        if following is not None and following.start <= last_day(in_list):
            continue
        too_many = min(Decimal(rng.choice((4, 8, 12, 16))), hours.to_integral_value(ROUND_FLOOR))
        correction = Correction(corrected, in_list, too_many, unsigned_amounts=rng.random() < 1 / 3)
        return replace(worker, corrections=(correction,))
    return None


def _split(
    rng: random.Random, worker: SimWorker, periods: list[str], made: int
) -> SimWorker | None:
    """An assignment becomes two in one month: the first ends on the month's second Friday,
    the next starts on the Monday after (no interruption) or a week later (a work-free week,
    Art. 4.4), at another client with other hours and wage."""
    for n, stint in enumerate(worker.stints):
        months = [
            p
            for p in periods
            if stint.start < first_day(p) - timedelta(days=7)
            and (stint.end is None or stint.end > last_day(p) + timedelta(days=7))
        ]
        if not months:
            continue
        month = rng.choice(months)
        eighth = first_day(month) + timedelta(days=7)
        first_end = eighth + timedelta(days=(4 - eighth.weekday()) % 7)
        second_start = first_end + timedelta(days=rng.choice((3, 10)))
        extension = stint.extension_on
        by_week = rng.random() < 0.5
        first = replace(
            stint,
            end=first_end,
            extension_on=extension if extension and extension <= first_end else None,
            hours_by_week=by_week,
        )
        lasts = stint.end is None or (stint.end - second_start).days > 7 * 13
        second = Stint(
            start=second_start,
            end=stint.end,
            over_13_weeks=lasts,
            extension_on=extension if extension and extension >= second_start else None,
            weekly_hours=Decimal(rng.choice((42, 40, 32, 24, 20))),
            hourly_wage=Decimal(rng.randint(2400, 4800)) / 100,
            hours_by_week=by_week,
        )
        stints = (*worker.stints[:n], first, second, *worker.stints[n + 1 :])
        return replace(worker, stints=stints)
    return None


def _absence(
    rng: random.Random, worker: SimWorker, periods: list[str], made: int
) -> SimWorker | None:
    """A whole month off ill (code 7) or after an accident (code 5) inside an assignment."""
    for stint in worker.stints:
        months = [
            p
            for p in periods[1:]
            if stint.start < first_day(p) and (stint.end is None or stint.end > last_day(p))
        ]
        if months:
            code: Literal[5, 7] = rng.choice((7, 7, 7, 5))
            return replace(worker, absences=(Absence(rng.choice(months), code),))
    return None


def _uncertain_ends(
    rng: random.Random, worker: SimWorker, employer: SimEmployer, periods: list[str]
) -> SimWorker:
    """UNCERTAIN_ENDS of the assignments that end without the employer knowing whether the
    worker comes back: those whose Art. 5 lists fall into the simulated months, and whose next
    assignment starts within the interruption's first month or after the exit's list."""
    stints = list(worker.stints)
    for n, stint in enumerate(stints):
        if stint.end is None:
            continue
        _, exit_list, back_by = interruption_lists(stint.end)
        following = next_stint(worker, stint)
        if exit_list not in periods or (
            following is not None and back_by <= following.start <= last_day(exit_list)
        ):
            continue
        if rng.random() >= UNCERTAIN_ENDS:
            continue
        follow_up: FollowUp = "exit"
        if employer.forgets_follow_ups and rng.random() < FORGETS:
            follow_up = rng.choice(("omitted", "repeated"))
        stints[n] = replace(stint, follow_up=follow_up)
    return replace(worker, stints=tuple(stints))
