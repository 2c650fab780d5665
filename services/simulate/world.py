"""The simulated foundation's ground truth: employers, workers, assignments, behaviour (pure).

Everything follows from the seed: the same arguments give the same world, byte for byte. The
world knows what really happened (every assignment's real start and end); the monthly lists
are what the employers tell the foundation of it, period by period (`lists.py`).
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from stdnum import ean
from stdnum.ch import ssn

Behaviour = Literal["punctual", "late", "faulty", "slow_payer", "never_pays"]
Sex = Literal["M", "F"]

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
    return World(seed, first_period, months, tuple(sim_employers), tuple(sim_workers))


def _stints(rng: random.Random, start: date, horizon: date) -> tuple[Stint, ...]:
    """One to four assignments; each new one starts in a month after the previous one ended,
    so that a monthly row always describes one assignment (columns W-Z, no `Einsätze`)."""
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


def stint_in(worker: SimWorker, period: str) -> Stint | None:
    """The assignment that has days in `period`, if any (at most one by construction)."""
    first, last = first_day(period), last_day(period)
    for stint in worker.stints:
        if stint.start <= last and (stint.end is None or stint.end >= first):
            return stint
    return None


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
