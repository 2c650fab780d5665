"""Insured wage and contributions of one worker, one employer, one pay period (RULES §2-§5).

Pure: frozen dataclasses, `Decimal`, `date`; no I/O, no clock. Parameters live in
`parameters.py`, keyed by the year they apply to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from services.pricing import parameters
from services.pricing.errors import PricingError
from services.pricing.parameters import Sex

__all__ = [
    "Finding",
    "HourlyLimits",
    "PricedRow",
    "PricingError",
    "RowInput",
    "Sex",
    "compare_declared",
    "hourly_limits",
    "last_contribution_month",
    "price",
    "round_to_5_rappen",
    "round_to_10_rappen",
    "round_to_rappen",
]


@dataclass(frozen=True)
class RowInput:
    """What pricing needs of one list row."""

    year: int
    month: int
    birth_date: date
    sex: Sex
    hours: Decimal
    base_wage: Decimal
    invalidity_degree: int = 0
    #: Hours of the period that coverage reports as insured; None: all of them.
    insured_hours: Decimal | None = None
    #: Employer's part of the total premium (plan split, RULES §3.6).
    employer_share: Decimal = Decimal("0.5")


@dataclass(frozen=True)
class PricedRow:
    bvg_age: int
    subject: bool
    #: Why the row is not subject (a stable code), None when subject.
    not_subject_reason: str | None
    hourly_base_wage: Decimal
    insured_hourly_wage: Decimal
    insured_wage: Decimal
    rate: Decimal
    premium_total: Decimal
    employer_share: Decimal
    employee_share: Decimal
    savings_part: Decimal
    parameter_version: str


@dataclass(frozen=True)
class Finding:
    """A difference between what the employer declared and what we computed."""

    code: str
    message: str
    declared: Decimal
    computed: Decimal


@dataclass(frozen=True)
class HourlyLimits:
    """Hourly limits of one year for one IV pension share (Art. 13.2, 18; RULES §2), CHF/h."""

    entry_threshold: Decimal
    coordination: Decimal
    upper_limit: Decimal
    minimum_base_wage: Decimal

    @property
    def minimum_insured(self) -> Decimal:
        return self.minimum_base_wage - self.coordination

    @property
    def maximum_insured(self) -> Decimal:
        return self.upper_limit - self.coordination


# -- rounding (RULES preamble: half away from zero, ROUND_HALF_UP on a Decimal) ----------
#: Every step runs in this context, whatever context the caller has set.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
_RAPPEN = Decimal("0.01")
_TEN_RAPPEN = Decimal("0.1")
_FIVE_RAPPEN = Decimal("0.05")
_UNIT = Decimal(1)
_ZERO = Decimal("0.00")
_ZERO_RATE = Decimal("0.000")
#: Largest |hours| or |base wage| accepted: far above any month, far below the precision.
_MAX_INPUT = Decimal("1e12")
#: RULES §3.6: the employer pays at least half (BVG Art. 66).
_MIN_EMPLOYER_SHARE = Decimal("0.5")
#: Declared I and J may differ from ours by this much without a finding (issue 3).
DECLARED_TOLERANCE = Decimal("0.10")


def round_to_rappen(value: Decimal) -> Decimal:
    return value.quantize(_RAPPEN, ROUND_HALF_UP, _CONTEXT)


def round_to_5_rappen(value: Decimal) -> Decimal:
    steps = _CONTEXT.divide(value, _FIVE_RAPPEN).quantize(_UNIT, ROUND_HALF_UP, _CONTEXT)
    return _CONTEXT.multiply(steps, _FIVE_RAPPEN)


def round_to_10_rappen(value: Decimal) -> Decimal:
    """To 0.10, shown with two decimals (412.30) like every other amount."""
    return value.quantize(_TEN_RAPPEN, ROUND_HALF_UP, _CONTEXT).quantize(_RAPPEN)


# -- parameters, computed once per year and IV band ---------------------------------------
@dataclass(frozen=True)
class _YearParameters:
    version: str
    #: By IV pension share in quarters (0-3), Art. 18.
    limits: tuple[HourlyLimits, ...]
    #: (total rate, savings rate) by BVG age 0-119; None under 18.
    rates: tuple[tuple[Decimal, Decimal] | None, ...]
    #: IV pension share in quarters by IV degree 0-100; None: not insurable.
    quarters_by_degree: tuple[int | None, ...]
    #: No one is retired below this BVG age (the lowest AHV 21 reference age, in years).
    earliest_reference_age: int


_YEARS: dict[int, _YearParameters] = {}


def _year_parameters(year: int) -> _YearParameters:
    cached = _YEARS.get(year)
    if cached is None:
        cached = _YEARS[year] = _compute_year_parameters(year)
    return cached


def _compute_year_parameters(year: int) -> _YearParameters:
    annual = parameters.annual_limits(year)
    hours = parameters.hours_divisor(year)

    def hourly(value: Decimal) -> Decimal:
        return round_to_5_rappen(_CONTEXT.divide(value, hours))  # Art. 13.2: to 5 Rp.

    entry = hourly(annual.entry_threshold)
    coordination = hourly(annual.coordination)
    upper = hourly(annual.upper_limit)
    minimum_base = coordination + hourly(annual.minimum_coordinated)  # RULES §2: 13.05 in 2019
    limits = []
    for quarters in range(4):
        # Reading (RULES §2): each hourly value x (1 - pension share), to 5 Rp. (Art. 18).
        able = Decimal(4 - quarters) / 4
        limits.append(
            HourlyLimits(
                entry_threshold=round_to_5_rappen(entry * able),
                coordination=round_to_5_rappen(coordination * able),
                upper_limit=round_to_5_rappen(upper * able),
                minimum_base_wage=round_to_5_rappen(minimum_base * able),
            )
        )
    rates: list[tuple[Decimal, Decimal] | None] = [None] * 120
    for band in parameters.rate_bands(year):
        for age in range(band.min_bvg_age, 120):
            rates[age] = (band.total, band.savings)
    quarters_by_degree = tuple(_quarters_of_pension(degree) for degree in range(101))
    earliest = min(
        parameters.REFERENCE_AGE_MONTHS_MEN,
        parameters.REFERENCE_AGE_MONTHS_WOMEN_LATER,
        *(months for _, months in parameters.REFERENCE_AGE_MONTHS_WOMEN),
    )
    return _YearParameters(
        parameters.parameter_version(year),
        tuple(limits),
        tuple(rates),
        quarters_by_degree,
        earliest // 12,
    )


def _quarters_of_pension(invalidity_degree: int) -> int | None:
    share = parameters.pension_share(invalidity_degree)  # raises outside 0-100
    return None if share is None else int(share * 4)


def hourly_limits(year: int, invalidity_degree: int = 0) -> HourlyLimits | None:
    """Hourly limits for `year` and an IV degree in %; None when not insurable (IV ≥ 70 %)."""
    quarters = _quarters_of_pension(invalidity_degree)
    limits = _year_parameters(year).limits
    return None if quarters is None else limits[quarters]


def last_contribution_month(sex: Sex, birth_date: date) -> tuple[int, int]:
    """(year, month) in which the reference age is reached, AHV 21 (RULES §5).

    Contributions are due up to and including this month; counted in whole months from the
    birth month (a woman born in March 1962 reaches 64 years 6 months in September 2026).
    """
    months = birth_date.month - 1 + parameters.reference_age_months(sex, birth_date.year)
    return birth_date.year + months // 12, months % 12 + 1


# -- pricing ------------------------------------------------------------------------------
def price(row: RowInput) -> PricedRow:
    """Price one row by RULES §3 steps 1-6.

    Not subject, in this order of precedence: "invalidity" (IV ≥ 70 %), "under_age" (BVG age
    < 18), "retired" (after the month the reference age is reached), "no_hours" (0 hours and
    0 wage), "below_entry_threshold", "not_insured" (coverage reports 0 insured hours).
    Such a row has every amount 0.00 and rate 0.000. Negative hours with a negative wage are
    a correction: the same steps on the (positive) hourly wage give negative amounts.
    """
    try:
        return _price(row)
    except InvalidOperation:
        raise PricingError(
            "row.amount_invalid", "An amount of the row is not a finite number in range."
        ) from None


def _price(row: RowInput) -> PricedRow:
    year = row.year
    params = _year_parameters(year)
    if not 1 <= row.month <= 12:
        raise PricingError("row.period_invalid", f"Month {row.month} of {year} is not 1-12.")
    degree = row.invalidity_degree
    quarters = (
        params.quarters_by_degree[degree] if 0 <= degree <= 100 else _quarters_of_pension(degree)
    )
    hours, base_wage, employer_share = row.hours, row.base_wage, row.employer_share
    if not (-_MAX_INPUT <= hours <= _MAX_INPUT and -_MAX_INPUT <= base_wage <= _MAX_INPUT):
        raise PricingError(
            "row.amount_invalid",
            f"Hours {hours} and base wage {base_wage} must be finite and below {_MAX_INPUT:f}.",
        )
    if not _MIN_EMPLOYER_SHARE <= employer_share <= 1:
        raise PricingError(
            "row.employer_share_invalid",
            f"The employer's share must be from 0.5 to 1 (BVG Art. 66), not {employer_share}.",
        )
    if not hours:
        if base_wage:
            raise PricingError(
                "row.hours_zero", f"A base wage of {base_wage} needs hours, and the row has 0."
            )
    elif (base_wage < 0 < hours) or (hours < 0 < base_wage):
        raise PricingError(
            "row.negative_hourly_wage",
            f"Base wage {base_wage} over {hours} hours gives a negative hourly wage; "
            "a correction has both negative.",
        )
    insured_hours = hours if row.insured_hours is None else row.insured_hours
    if row.insured_hours is not None and (
        abs(insured_hours) > abs(hours) or insured_hours < 0 < hours or hours < 0 < insured_hours
    ):
        raise PricingError(
            "row.insured_hours_invalid",
            f"Insured hours {insured_hours} must have the sign of the hours {hours} "
            "and not exceed them.",
        )

    birth = row.birth_date
    bvg_age = year - birth.year  # RULES §5: calendar years, not completed years
    if quarters is None:
        return _not_subject(bvg_age, "invalidity", params.version)
    rates = params.rates[bvg_age] if 0 <= bvg_age < 120 else None
    if rates is None:
        # Under 18 (Art. 1.1), or outside any human age: the same answer, not insured.
        return _not_subject(bvg_age, "under_age", params.version)
    if bvg_age >= params.earliest_reference_age and (year, row.month) > last_contribution_month(
        row.sex, birth
    ):
        # RULES §5: due up to and including the month the reference age is reached.
        return _not_subject(bvg_age, "retired", params.version)
    if not hours:
        return _not_subject(bvg_age, "no_hours", params.version)

    limits = params.limits[quarters]
    hourly_base = _CONTEXT.divide(base_wage, hours).quantize(_RAPPEN, ROUND_HALF_UP, _CONTEXT)
    if hourly_base < limits.entry_threshold:  # Art. 15.3c: "unter CHF 9.75 nicht versichert"
        return _not_subject(bvg_age, "below_entry_threshold", params.version)
    if not insured_hours:
        return _not_subject(bvg_age, "not_insured", params.version)

    # Art. 15.3: cap, raise to the minimum base wage, coordinate.
    insured_hourly = (
        max(min(hourly_base, limits.upper_limit), limits.minimum_base_wage) - limits.coordination
    )
    total_rate, savings_rate = rates
    insured_wage = round_to_10_rappen(_CONTEXT.multiply(insured_hourly, insured_hours))  # Art. 16
    premium = round_to_10_rappen(_CONTEXT.multiply(insured_wage, total_rate))  # Art. 17.1
    # Reading (RULES §3.6): the worker's part to 5 Rp., the employer pays the rest.
    employee = round_to_5_rappen(_CONTEXT.multiply(premium, 1 - employer_share))
    # Reading: RULES is silent on the savings part's rounding; to 10 Rp. like J and I.
    savings = round_to_10_rappen(_CONTEXT.multiply(insured_wage, savings_rate))
    # `or _ZERO`: a tiny correction rounds to -0.00, shown as 0.00.
    return PricedRow(
        bvg_age=bvg_age,
        subject=True,
        not_subject_reason=None,
        hourly_base_wage=hourly_base,
        insured_hourly_wage=insured_hourly,
        insured_wage=insured_wage or _ZERO,
        rate=total_rate,
        premium_total=premium or _ZERO,
        employer_share=(premium - employee) or _ZERO,
        employee_share=employee or _ZERO,
        savings_part=savings or _ZERO,
        parameter_version=params.version,
    )


def _not_subject(bvg_age: int, reason: str, version: str) -> PricedRow:
    return PricedRow(
        bvg_age=bvg_age,
        subject=False,
        not_subject_reason=reason,
        hourly_base_wage=_ZERO,
        insured_hourly_wage=_ZERO,
        insured_wage=_ZERO,
        rate=_ZERO_RATE,
        premium_total=_ZERO,
        employer_share=_ZERO,
        employee_share=_ZERO,
        savings_part=_ZERO,
        parameter_version=version,
    )


def compare_declared(
    priced: PricedRow, *, declared_insured_wage: Decimal | None, declared_premium: Decimal | None
) -> list[Finding]:
    """Findings where the employer's J or I differs from ours by more than 0.10 (issue 3)."""
    findings = []
    for code, label, declared, computed in (
        ("declared.insured_wage", "insured wage (J)", declared_insured_wage, priced.insured_wage),
        ("declared.premium", "total premium (I)", declared_premium, priced.premium_total),
    ):
        if declared is not None and abs(declared - computed) > DECLARED_TOLERANCE:
            findings.append(
                Finding(
                    code=code,
                    message=(
                        f"Declared {label} {declared} differs from the computed {computed} "
                        f"by more than {DECLARED_TOLERANCE}."
                    ),
                    declared=declared,
                    computed=computed,
                )
            )
    return findings
