"""Pricing parameters as data: BVG limits, hours divisor, rates, IV scaling, reference ages.

Each table cites its source in one line. A year outside the tables is an error that names
the year (RULES §2), never a fallback to a neighbouring year. Amounts are CHF, rates fractions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from services.pricing.errors import PricingError

Sex = Literal["M", "F"]


@dataclass(frozen=True)
class AnnualLimits:
    """BVG limits of one calendar year, CHF per year."""

    entry_threshold: Decimal
    coordination: Decimal
    upper_limit: Decimal
    minimum_coordinated: Decimal


@dataclass(frozen=True)
class RateBand:
    """Contribution rate from `min_bvg_age` up to the next band (or the reference age)."""

    min_bvg_age: int
    total: Decimal
    savings: Decimal


def _limits(entry: int, coordination: int, upper: int, minimum: int) -> AnnualLimits:
    return AnnualLimits(Decimal(entry), Decimal(coordination), Decimal(upper), Decimal(minimum))


#: RULES §2 table (Art. 13.2: the BVG limits of the year), by calendar year of the pay period.
ANNUAL_LIMITS: dict[int, AnnualLimits] = {
    2019: _limits(21_330, 24_885, 85_320, 3_555),
    2020: _limits(21_330, 24_885, 85_320, 3_555),
    2021: _limits(21_510, 25_095, 86_040, 3_585),
    2022: _limits(21_510, 25_095, 86_040, 3_585),
    2023: _limits(22_050, 25_725, 88_200, 3_675),
    2024: _limits(22_050, 25_725, 88_200, 3_675),
    2025: _limits(22_680, 26_460, 90_720, 3_780),
    2026: _limits(22_680, 26_460, 90_720, 3_780),
}

#: Art. 13.2 (12 months, 2,187 hours a year, per the GAV); per year so the foundation can change it.
HOURS_PER_YEAR: dict[int, Decimal] = {year: Decimal(2187) for year in range(2019, 2027)}

#: Art. 17.3 (RULES §4): rates by BVG age, keyed by the first year they apply to.
RATE_EDITIONS: dict[int, tuple[RateBand, ...]] = {
    2019: (
        RateBand(18, Decimal("0.010"), Decimal("0.000")),
        RateBand(25, Decimal("0.045"), Decimal("0.035")),
        RateBand(35, Decimal("0.060"), Decimal("0.050")),
        RateBand(45, Decimal("0.085"), Decimal("0.075")),
        RateBand(55, Decimal("0.100"), Decimal("0.090")),
    ),
}

#: Art. 18.1: lowest IV degree (%) of each band → IV pension share; None: not insurable.
PENSION_SHARE_BY_IV_DEGREE: tuple[tuple[int, Decimal | None], ...] = (
    (0, Decimal(0)),
    (40, Decimal("0.25")),
    (50, Decimal("0.5")),
    (60, Decimal("0.75")),
    (70, None),
)

#: AHV 21 (RULES §5): men's reference age, in months.
REFERENCE_AGE_MONTHS_MEN = 65 * 12
#: AHV 21 (RULES §5): women's reference age in months, by birth year up to and including.
REFERENCE_AGE_MONTHS_WOMEN: tuple[tuple[int, int], ...] = (
    (1960, 64 * 12),
    (1961, 64 * 12 + 3),
    (1962, 64 * 12 + 6),
    (1963, 64 * 12 + 9),
)
#: AHV 21 (RULES §5): women born 1964 or later.
REFERENCE_AGE_MONTHS_WOMEN_LATER = 65 * 12


def _year_unknown(year: int, what: str) -> PricingError:
    known = sorted(ANNUAL_LIMITS)
    return PricingError(
        "parameters.year_unknown",
        f"No {what} for {year}: the parameter tables cover {known[0]}-{known[-1]}.",
    )


def annual_limits(year: int) -> AnnualLimits:
    """The BVG limits of `year` (Art. 13.2, RULES §2)."""
    try:
        return ANNUAL_LIMITS[year]
    except KeyError:
        raise _year_unknown(year, "BVG limits") from None


def hours_divisor(year: int) -> Decimal:
    """Hours a year that turn annual limits into hourly ones (Art. 13.2)."""
    try:
        return HOURS_PER_YEAR[year]
    except KeyError:
        raise _year_unknown(year, "hours divisor") from None


def rate_edition(year: int) -> int:
    """The first year of the rate table that applies to `year` (Art. 17.3)."""
    annual_limits(year)  # the rate table has no end date; the limits bound the known years
    editions = [since for since in RATE_EDITIONS if since <= year]
    if not editions:
        raise _year_unknown(year, "contribution rates")
    return max(editions)


def rate_bands(year: int) -> tuple[RateBand, ...]:
    return RATE_EDITIONS[rate_edition(year)]


def pension_share(invalidity_degree: int) -> Decimal | None:
    """IV pension share of an IV degree in % (Art. 18.1); None: not insurable (≥ 70 %)."""
    if not 0 <= invalidity_degree <= 100:
        raise PricingError(
            "row.invalidity_degree_invalid",
            f"The IV degree must be a whole percentage from 0 to 100, not {invalidity_degree}.",
        )
    share: Decimal | None = Decimal(0)
    for lowest, band_share in PENSION_SHARE_BY_IV_DEGREE:
        if invalidity_degree >= lowest:
            share = band_share
    return share


def reference_age_months(sex: Sex, birth_year: int) -> int:
    """Reference age in months, AHV 21 (RULES §5)."""
    if sex == "M":
        return REFERENCE_AGE_MONTHS_MEN
    for last_birth_year, months in REFERENCE_AGE_MONTHS_WOMEN:
        if birth_year <= last_birth_year:
            return months
    return REFERENCE_AGE_MONTHS_WOMEN_LATER


def parameter_version(year: int) -> str:
    """Names the parameters that price `year`, e.g. "limits-2025/hours-2187/rates-2019/9f3c…".

    `limits-N` is the first year of the run of years with the same limits as `year`; the
    last part is a digest of every value used (limits, hours, rates, IV bands, reference
    ages), so that the version changes even when a table is edited in place.
    """
    limits, hours, edition = annual_limits(year), hours_divisor(year), rate_edition(year)
    since = year
    while ANNUAL_LIMITS.get(since - 1) == limits:
        since -= 1
    used = repr(
        (
            limits,
            hours,
            RATE_EDITIONS[edition],
            PENSION_SHARE_BY_IV_DEGREE,
            REFERENCE_AGE_MONTHS_MEN,
            REFERENCE_AGE_MONTHS_WOMEN,
            REFERENCE_AGE_MONTHS_WOMEN_LATER,
        )
    )
    digest = hashlib.sha256(used.encode()).hexdigest()[:8]
    return f"limits-{since}/hours-{hours}/rates-{edition}/{digest}"
