"""Calendar arithmetic of the coverage rules: weeks Mon-Sun (Art. 2, 4.4) and pay periods (Art. 8).

A week is an integer, the same for its seven days, so that sets and ranges of weeks are cheap.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

ONE_DAY = timedelta(days=1)

#: The week of `date.max`: the last week of an assignment that has not ended (yet).
OPEN_WEEK = (date.max.toordinal() - 1) // 7


def week_of(day: date) -> int:
    """The calendar week (Mon-Sun) of `day`, as an integer; 0001-01-01 was a Monday."""
    return (day.toordinal() - 1) // 7


def monday_of(week: int) -> date:
    return date.fromordinal(week * 7 + 1)


_LAST_ORDINAL = date.max.toordinal()


def has_full_week(first: date, last: date) -> bool:
    """Whether the days `first`..`last` hold a whole calendar week, Monday to Sunday."""
    day = first.toordinal()
    sunday = day + (1 - day) % 7 + 6  # of the first week that starts on or after `first`
    if sunday > _LAST_ORDINAL:
        raise OverflowError("date value out of range")
    return sunday <= last.toordinal()


def working_days(first: date, last: date) -> int:
    """Mondays to Fridays from `first` to `last`, both included."""
    if last < first:
        return 0
    # Mondays to Fridays before day n, counted from 0001-01-01 (a Monday) as day 0.
    before_first = first.toordinal() - 1
    after_last = last.toordinal()
    weeks, rest = divmod(after_last, 7)
    count = weeks * 5 + (rest if rest < 5 else 5)
    weeks, rest = divmod(before_first, 7)
    return count - weeks * 5 - (rest if rest < 5 else 5)


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    if 1 <= month <= 12 and 1 <= year < 9999:
        if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
            return 29
        return _DAYS_IN_MONTH[month]
    following = date(year + month // 12, month % 12 + 1, 1)  # raises as `date` does
    return (following - date(year, month, 1)).days


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day where it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, days_in_month(year, month + 1)))


class PayPeriod(NamedTuple):
    """A calendar month: the period of one monthly list (Art. 8.1). Orders like (year, month)."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> PayPeriod:
        return tuple.__new__(cls, (day.year, day.month))

    @classmethod
    def parse(cls, text: str) -> PayPeriod:
        """`2025-07` → PayPeriod(2025, 7); ValueError otherwise."""
        period = _PARSED.get(text)  # a handful of periods, parsed for every row of a list
        if period is not None:
            return period
        year, sep, month = text.partition("-")
        if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
            raise ValueError(f"not a period YYYY-MM: {text!r}")
        period = cls(int(year), int(month))
        if not 1 <= period.month <= 12:
            raise ValueError(f"not a period YYYY-MM: {text!r}")
        if len(_PARSED) >= 4096:
            _PARSED.clear()
        _PARSED[text] = period
        return period

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, days_in_month(self.year, self.month))

    def shifted(self, months: int) -> PayPeriod:
        year, month = divmod(self.year * 12 + self.month - 1 + months, 12)
        if 1 <= self.month <= 12 and 1 <= self.year <= 9999 and 1 <= year < 9999:
            return tuple.__new__(PayPeriod, (year, month + 1))
        return PayPeriod.of(add_months(self.first_day, months))  # raises as `date` does

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


_PARSED: dict[str, PayPeriod] = {}
