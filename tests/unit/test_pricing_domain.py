"""Pricing rules (RULES §2-§5): every figure of Art. 13, 15, 17, 18, the years, AHV 21, rounding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.pricing import domain, parameters
from services.pricing.domain import (
    PricedRow,
    PricingError,
    RowInput,
    compare_declared,
    hourly_limits,
    last_contribution_month,
    price,
    round_to_5_rappen,
    round_to_10_rappen,
    round_to_rappen,
)

D = Decimal
#: Every money field of a priced row (all but the rate, a fraction).
AMOUNTS = tuple(f.name for f in fields(PricedRow) if f.type == "Decimal" and f.name != "rate")
SIGNED_AMOUNTS = AMOUNTS[2:]
#: BVG age 29 in 2019: 4.5 %, of which 3.5 % savings.
AGE_29 = date(1990, 4, 1)


def row(
    hourly: str | Decimal | None = None,
    *,
    hours: str | Decimal = "100",
    base_wage: str | Decimal | None = None,
    year: int = 2019,
    month: int = 3,
    birth_date: date = date(1980, 6, 15),
    sex: domain.Sex = "M",
    invalidity_degree: int = 0,
    insured_hours: str | Decimal | None = None,
    employer_share: str | Decimal = "0.5",
) -> RowInput:
    """A row; `hourly` sets the base wage to hourly x hours."""
    if base_wage is None:
        assert hourly is not None
        base_wage = D(hourly) * D(hours)
    return RowInput(
        year=year,
        month=month,
        birth_date=birth_date,
        sex=sex,
        hours=D(hours),
        base_wage=D(base_wage),
        invalidity_degree=invalidity_degree,
        insured_hours=None if insured_hours is None else D(insured_hours),
        employer_share=D(employer_share),
    )


def assert_not_subject(priced: PricedRow, reason: str) -> None:
    assert not priced.subject
    assert priced.not_subject_reason == reason
    for name in AMOUNTS:
        assert getattr(priced, name) == D("0.00")
        assert str(getattr(priced, name)) == "0.00"
    assert str(priced.rate) == "0.000"


# -- Art. 13: the limits of 2019 ----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "annual", "hourly"),
    [
        ("entry_threshold", "21330", "9.75"),
        ("coordination", "24885", "11.40"),
        ("upper_limit", "85320", "39.00"),
    ],
    ids=["art13-entry-9.75", "art13-coordination-11.40", "art13-max-base-39.00"],
)
def test_art13_limits(name: str, annual: str, hourly: str) -> None:
    assert getattr(parameters.annual_limits(2019), name) == D(annual)
    limits = hourly_limits(2019)
    assert limits is not None
    assert str(getattr(limits, name)) == hourly


def test_art13_minimum_insured_1_65_and_minimum_base_13_05() -> None:
    assert parameters.annual_limits(2019).minimum_coordinated == D(3555)
    limits = hourly_limits(2019)
    assert limits is not None
    assert limits.minimum_insured == D("1.65")
    assert limits.minimum_base_wage == D("13.05")


def test_art13_maximum_insured_27_65_is_not_used_the_steps_give_27_60() -> None:
    annual = parameters.annual_limits(2019)
    assert annual.upper_limit - annual.coordination == D(60435)  # Art. 13's 60,435 → 27.65/h
    limits = hourly_limits(2019)
    assert limits is not None
    assert limits.maximum_insured == D("27.60")  # RULES §3 Note: the algorithm wins
    assert price(row("1000.00")).insured_hourly_wage == D("27.60")


# -- Art. 15: cap, coordinate, minimum ----------------------------------------------------
@pytest.mark.parametrize(
    ("hourly", "insured"),
    [
        ("40.00", "27.60"),
        ("39.00", "27.60"),
        ("38.99", "27.59"),
        ("20.00", "8.60"),
        ("13.06", "1.66"),
        ("13.05", "1.65"),
        ("11.50", "1.65"),
        ("9.75", "1.65"),
    ],
    ids=[
        "art15.3a-40.00-capped",
        "art15.3a-39.00-at-cap",
        "art15.3b-38.99",
        "art15.3b-20.00",
        "art15.3c-13.06",
        "art15.3c-13.05",
        "art15.3c-11.50-minimum",
        "art15.3c-9.75-at-entry",
    ],
)
def test_art15_insured_hourly_wage(hourly: str, insured: str) -> None:
    priced = price(row(hourly))
    assert priced.subject
    assert priced.hourly_base_wage == D(hourly)
    assert str(priced.insured_hourly_wage) == insured


@pytest.mark.parametrize("hourly", ["9.70", "9.74", "0.01", "0"], ids=lambda h: f"art15.3c-{h}")
def test_art15_below_entry_threshold_not_insured(hourly: str) -> None:
    assert_not_subject(price(row(hourly)), "below_entry_threshold")


# -- Art. 17: rates by BVG age ------------------------------------------------------------
@pytest.mark.parametrize(
    ("bvg_age", "rate", "savings_rate", "premium", "savings"),
    [
        (18, "0.010", "0.000", "27.60", "0.00"),
        (24, "0.010", "0.000", "27.60", "0.00"),
        (25, "0.045", "0.035", "124.20", "96.60"),
        (34, "0.045", "0.035", "124.20", "96.60"),
        (35, "0.060", "0.050", "165.60", "138.00"),
        (44, "0.060", "0.050", "165.60", "138.00"),
        (45, "0.085", "0.075", "234.60", "207.00"),
        (54, "0.085", "0.075", "234.60", "207.00"),
        (55, "0.100", "0.090", "276.00", "248.40"),
        (64, "0.100", "0.090", "276.00", "248.40"),
    ],
    ids=lambda v: f"art17.3-age-{v}" if isinstance(v, int) else str(v),
)
def test_art17_rates(
    bvg_age: int, rate: str, savings_rate: str, premium: str, savings: str
) -> None:
    priced = price(row("40.00", birth_date=date(2019 - bvg_age, 12, 31)))  # J = 27.60 x 100
    assert priced.bvg_age == bvg_age
    assert priced.insured_wage == D("2760.00")
    assert str(priced.rate) == rate
    assert parameters.rate_bands(2019)[0].total == D("0.010")
    band = [b for b in parameters.rate_bands(2019) if b.min_bvg_age <= bvg_age][-1]
    assert band.savings == D(savings_rate)
    assert str(priced.premium_total) == premium
    assert str(priced.savings_part) == savings


# -- Art. 18: partially disabled workers --------------------------------------------------
@pytest.mark.parametrize(
    ("degree", "upper", "coordination", "minimum_base", "entry"),
    [
        (0, "39.00", "11.40", "13.05", "9.75"),
        (39, "39.00", "11.40", "13.05", "9.75"),
        (40, "29.25", "8.55", "9.80", "7.30"),
        (49, "29.25", "8.55", "9.80", "7.30"),
        (50, "19.50", "5.70", "6.55", "4.90"),
        (59, "19.50", "5.70", "6.55", "4.90"),
        (60, "9.75", "2.85", "3.25", "2.45"),
        (69, "9.75", "2.85", "3.25", "2.45"),
    ],
    ids=lambda v: f"art18-iv-{v}" if isinstance(v, int) else str(v),
)
def test_art18_reduced_limits(
    degree: int, upper: str, coordination: str, minimum_base: str, entry: str
) -> None:
    limits = hourly_limits(2019, degree)
    assert limits is not None
    assert str(limits.upper_limit) == upper
    assert str(limits.coordination) == coordination
    assert str(limits.minimum_base_wage) == minimum_base
    assert str(limits.entry_threshold) == entry  # Reading (RULES §2, BVV 2 Art. 4)


@pytest.mark.parametrize("degree", [70, 85, 100], ids=lambda d: f"art18-iv-{d}-not-insurable")
def test_art18_iv_70_or_more_not_subject(degree: int) -> None:
    assert hourly_limits(2019, degree) is None
    assert_not_subject(price(row("40.00", invalidity_degree=degree)), "invalidity")


@pytest.mark.parametrize(
    ("degree", "hourly", "insured"),
    [(40, "40.00", "20.70"), (50, "40.00", "13.80"), (50, "5.00", "0.85"), (60, "3.00", "0.40")],
    ids=["art18.2-iv40-capped", "art18.2-iv50-capped", "art18.2-iv50-minimum", "art18.2-iv60"],
)
def test_art18_same_steps_with_reduced_limits(degree: int, hourly: str, insured: str) -> None:
    assert str(price(row(hourly, invalidity_degree=degree)).insured_hourly_wage) == insured


def test_art18_reduced_entry_threshold() -> None:
    assert_not_subject(price(row("4.85", invalidity_degree=50)), "below_entry_threshold")
    assert price(row("4.90", invalidity_degree=50)).subject


@pytest.mark.parametrize("degree", [-1, 101])
def test_iv_degree_out_of_range(degree: int) -> None:
    with pytest.raises(PricingError) as caught:
        price(row("40.00", invalidity_degree=degree))
    assert caught.value.code == "row.invalidity_degree_invalid"


# -- every year of the table --------------------------------------------------------------
@pytest.mark.parametrize(
    ("year", "entry", "coordination", "upper", "minimum_insured"),
    [
        (2019, "9.75", "11.40", "39.00", "1.65"),
        (2020, "9.75", "11.40", "39.00", "1.65"),
        (2021, "9.85", "11.45", "39.35", "1.65"),
        (2022, "9.85", "11.45", "39.35", "1.65"),
        (2023, "10.10", "11.75", "40.35", "1.70"),
        (2024, "10.10", "11.75", "40.35", "1.70"),
        (2025, "10.35", "12.10", "41.50", "1.75"),
        (2026, "10.35", "12.10", "41.50", "1.75"),
    ],
    ids=lambda v: f"rules2-{v}" if isinstance(v, int) else str(v),
)
def test_every_year(
    year: int, entry: str, coordination: str, upper: str, minimum_insured: str
) -> None:
    limits = hourly_limits(year)
    assert limits is not None
    assert (str(limits.entry_threshold), str(limits.coordination), str(limits.upper_limit)) == (
        entry,
        coordination,
        upper,
    )
    assert str(limits.minimum_insured) == minimum_insured
    assert limits.minimum_base_wage == D(coordination) + D(minimum_insured)
    assert parameters.hours_divisor(year) == D(2187)
    priced = price(row("100.00", year=year))
    assert priced.insured_hourly_wage == D(upper) - D(coordination)
    assert priced.parameter_version == parameters.parameter_version(year)


@pytest.mark.parametrize("year", [2018, 2027, 2031])
def test_year_outside_the_tables_is_an_error_naming_it(year: int) -> None:
    for lookup in (parameters.annual_limits, parameters.hours_divisor, parameters.rate_edition):
        with pytest.raises(PricingError) as caught:
            lookup(year)
        assert caught.value.code == "parameters.year_unknown"
        assert str(year) in caught.value.message
    with pytest.raises(PricingError) as caught:
        price(row("40.00", year=year))
    assert caught.value.code == "parameters.year_unknown"
    assert f"No BVG limits for {year}" in caught.value.message


def test_parameter_version() -> None:
    versions = {year: parameters.parameter_version(year) for year in range(2019, 2027)}
    assert versions[2025].startswith("limits-2025/hours-2187/rates-2019/")
    assert versions[2026] == versions[2025]
    assert versions[2020] == versions[2019]
    assert len({versions[y] for y in (2019, 2021, 2023, 2025)}) == 4


@pytest.mark.parametrize(
    "change",
    ["hours", "limits_in_place", "rates_in_place", "iv_bands", "reference_age"],
)
def test_parameter_version_changes_with_any_parameter(
    monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    before = parameters.parameter_version(2025)
    if change == "hours":
        monkeypatch.setitem(parameters.HOURS_PER_YEAR, 2025, D(2190))
    elif change == "limits_in_place":
        old = parameters.ANNUAL_LIMITS[2025]
        monkeypatch.setitem(parameters.ANNUAL_LIMITS, 2025, replace(old, upper_limit=D(90_000)))
    elif change == "rates_in_place":
        bands = parameters.RATE_EDITIONS[2019]
        edited = (replace(bands[0], total=D("0.011")), *bands[1:])
        monkeypatch.setitem(parameters.RATE_EDITIONS, 2019, edited)
    elif change == "iv_bands":
        monkeypatch.setattr(parameters, "PENSION_SHARE_BY_IV_DEGREE", ((0, D(0)), (50, None)))
    else:
        monkeypatch.setattr(parameters, "REFERENCE_AGE_MONTHS_MEN", 66 * 12)
    assert parameters.parameter_version(2025) != before


# -- BVG age and AHV 21 -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth_date", "subject"),
    [(date(2002, 1, 1), False), (date(2001, 12, 31), True), (date(2001, 1, 1), True)],
    ids=["art1.1-bvg-age-17", "art1.1-bvg-age-18-born-december", "art1.1-bvg-age-18"],
)
def test_bvg_age_boundary(birth_date: date, subject: bool) -> None:
    priced = price(row("40.00", year=2019, month=1, birth_date=birth_date))
    assert priced.bvg_age == 2019 - birth_date.year
    if subject:
        assert priced.subject
        assert priced.rate == D("0.010")
    else:
        assert_not_subject(priced, "under_age")


@pytest.fixture
def tables_to_2030(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The 2026 parameters repeated to 2030, so that later cohorts reach their reference age."""
    for year in range(2027, 2031):
        monkeypatch.setitem(parameters.ANNUAL_LIMITS, year, parameters.ANNUAL_LIMITS[2026])
        monkeypatch.setitem(parameters.HOURS_PER_YEAR, year, parameters.HOURS_PER_YEAR[2026])
    monkeypatch.setattr(domain, "_YEARS", {})
    yield


@pytest.mark.parametrize(
    ("sex", "birth_date", "last_month"),
    [
        ("M", date(1960, 3, 15), (2025, 3)),
        ("M", date(1961, 12, 1), (2026, 12)),
        ("F", date(1958, 7, 2), (2022, 7)),
        ("F", date(1960, 12, 31), (2024, 12)),
        ("F", date(1961, 1, 10), (2025, 4)),
        ("F", date(1961, 11, 10), (2026, 2)),
        ("F", date(1962, 3, 5), (2026, 9)),
        ("F", date(1962, 7, 5), (2027, 1)),
        ("F", date(1963, 4, 20), (2028, 1)),
        ("F", date(1964, 1, 1), (2029, 1)),
        ("F", date(1965, 5, 5), (2030, 5)),
    ],
    ids=[
        "ahv21-men-65",
        "ahv21-men-65-december",
        "ahv21-women-1958-64",
        "ahv21-women-1960-64",
        "ahv21-women-1961-64y3m",
        "ahv21-women-1961-64y3m-over-new-year",
        "ahv21-women-1962-64y6m",
        "ahv21-women-1962-64y6m-over-new-year",
        "ahv21-women-1963-64y9m",
        "ahv21-women-1964-65",
        "ahv21-women-1965-65",
    ],
)
@pytest.mark.usefixtures("tables_to_2030")
def test_reference_age_cohorts(
    sex: domain.Sex, birth_date: date, last_month: tuple[int, int]
) -> None:
    assert last_contribution_month(sex, birth_date) == last_month
    year, month = last_month
    at = price(row("40.00", year=year, month=month, birth_date=birth_date, sex=sex))
    assert at.subject
    assert at.rate == D("0.100")
    after_year, after_month = (year + 1, 1) if month == 12 else (year, month + 1)
    after = price(row("40.00", year=after_year, month=after_month, birth_date=birth_date, sex=sex))
    assert_not_subject(after, "retired")


# -- rounding at every half-way point -----------------------------------------------------
@pytest.mark.parametrize(
    ("rounding", "value", "expected"),
    [
        (round_to_rappen, "10.025", "10.03"),
        (round_to_rappen, "10.0249", "10.02"),
        (round_to_rappen, "-10.025", "-10.03"),
        (round_to_5_rappen, "9.725", "9.75"),
        (round_to_5_rappen, "9.7249", "9.70"),
        (round_to_5_rappen, "6.525", "6.55"),
        (round_to_5_rappen, "-9.725", "-9.75"),
        (round_to_10_rappen, "1.65", "1.70"),
        (round_to_10_rappen, "1.6499", "1.60"),
        (round_to_10_rappen, "-1.65", "-1.70"),
        (round_to_10_rappen, "412.3", "412.30"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_rounding_half_away_from_zero(rounding: object, value: str, expected: str) -> None:
    assert callable(rounding)
    assert str(rounding(D(value))) == expected


def test_half_way_hourly_base_wage_to_the_rappen() -> None:
    assert price(row(hours="2", base_wage="20.05")).hourly_base_wage == D("10.03")  # 10.025
    assert price(row(hours="-2", base_wage="-20.05")).hourly_base_wage == D("10.03")


def test_half_way_insured_wage_to_10_rappen() -> None:
    # 11.50/h → 1.65 insured; x 1 h = 1.65 → J 1.70 (half-even would give 1.60)
    assert price(row("11.50", hours="1")).insured_wage == D("1.70")
    assert price(row(hours="-1", base_wage="-11.50")).insured_wage == D("-1.70")


def test_half_way_premium_to_10_rappen() -> None:
    # 13.40/h → 2.00 insured x 5 h = J 10.00; 4.5 % → 0.45 → 0.50
    priced = price(row("13.40", hours="5", birth_date=date(1990, 1, 1)))
    assert (priced.insured_wage, priced.premium_total) == (D("10.00"), D("0.50"))


def test_half_way_employee_share_to_5_rappen() -> None:
    # J 10.00 at 1 % = 0.10; the worker's quarter 0.025 → 0.05, the employer the rest
    priced = price(row("13.40", hours="5", birth_date=date(2000, 1, 1), employer_share="0.75"))
    assert priced.premium_total == D("0.10")
    assert (priced.employee_share, priced.employer_share) == (D("0.05"), D("0.05"))


def test_half_way_savings_part_to_10_rappen() -> None:
    # J 6.00 at 7.5 % savings = 0.45 → 0.50 (Reading: rounded like J and I)
    priced = price(row("13.40", hours="3", birth_date=date(1970, 1, 1)))
    assert priced.insured_wage == D("6.00")
    assert priced.savings_part == D("0.50")


# -- corrections, zero hours, insured hours, plan split ----------------------------------
def test_negative_correction() -> None:
    positive = price(row(hours="160", base_wage="6400", birth_date=AGE_29))
    negative = price(row(hours="-160", base_wage="-6400", birth_date=AGE_29))
    assert negative.subject
    assert negative.hourly_base_wage == positive.hourly_base_wage == D("40.00")
    assert negative.insured_hourly_wage == D("27.60")
    assert (negative.insured_wage, negative.premium_total) == (D("-4416.00"), D("-198.70"))
    assert (negative.employer_share, negative.employee_share) == (D("-99.35"), D("-99.35"))
    assert negative.savings_part == D("-154.60")


@pytest.mark.parametrize(("hours", "base_wage"), [("160", "-6400"), ("-160", "6400")])
def test_signs_that_differ_are_invalid(hours: str, base_wage: str) -> None:
    with pytest.raises(PricingError) as caught:
        price(row(hours=hours, base_wage=base_wage))
    assert caught.value.code == "row.negative_hourly_wage"


def test_tiny_correction_has_no_negative_zero() -> None:
    priced = price(row(hours="-0.01", base_wage="-0.12"))  # 12.00/h: 1.65 x -0.01 → 0.00
    assert str(priced.insured_wage) == "0.00"
    assert str(priced.premium_total) == "0.00"
    priced = price(row(hours="-0.1", base_wage="-1.20"))  # J -0.165 → -0.20; 6 % → -0.012
    assert str(priced.insured_wage) == "-0.20"
    for name in ("premium_total", "employer_share", "employee_share", "savings_part"):
        assert str(getattr(priced, name)) == "0.00"


def test_zero_hours() -> None:
    assert_not_subject(price(row(hours="0", base_wage="0")), "no_hours")
    with pytest.raises(PricingError) as caught:
        price(row(hours="0", base_wage="100"))
    assert caught.value.code == "row.hours_zero"


def test_insured_hours_price_only_the_insured_part() -> None:
    priced = price(row("40.00", hours="160", insured_hours="80"))
    assert priced.insured_wage == D("2208.00")
    assert_not_subject(price(row("40.00", hours="160", insured_hours="0")), "not_insured")
    assert price(row(hours="-10", base_wage="-400", insured_hours="-5")).insured_wage == D(
        "-138.00"
    )


@pytest.mark.parametrize(("hours", "insured_hours"), [("160", "161"), ("160", "-1"), ("-5", "1")])
def test_insured_hours_invalid(hours: str, insured_hours: str) -> None:
    with pytest.raises(PricingError) as caught:
        price(row("40.00", hours=hours, insured_hours=insured_hours))
    assert caught.value.code == "row.insured_hours_invalid"


@pytest.mark.parametrize(
    ("employer_share", "employer", "employee"),
    [("0.5", "99.35", "99.35"), ("0.6", "119.20", "79.50"), ("1", "198.70", "0.00")],
    ids=["rules3.6-split-half", "rules3.6-split-0.6", "rules3.6-employer-pays-all"],
)
def test_plan_split(employer_share: str, employer: str, employee: str) -> None:
    priced = price(
        row(hours="160", base_wage="6400", employer_share=employer_share, birth_date=AGE_29)
    )
    assert priced.premium_total == D("198.70")
    assert (str(priced.employer_share), str(priced.employee_share)) == (employer, employee)


@pytest.mark.parametrize("employer_share", ["0.49", "1.01", "-0.5"])
def test_plan_split_invalid(employer_share: str) -> None:
    with pytest.raises(PricingError) as caught:
        price(row("40.00", employer_share=employer_share))
    assert caught.value.code == "row.employer_share_invalid"


def test_invalid_month_and_amounts() -> None:
    with pytest.raises(PricingError) as caught:
        price(row("40.00", month=13))
    assert caught.value.code == "row.period_invalid"
    for bad in (D("NaN"), D("Infinity"), D("1e13")):
        with pytest.raises(PricingError) as caught:
            price(row(hours="100", base_wage=bad))
        assert caught.value.code == "row.amount_invalid"


def test_not_subject_precedence_and_zeros() -> None:
    assert_not_subject(
        price(row("40.00", birth_date=date(2005, 1, 1), invalidity_degree=70)), "invalidity"
    )
    assert_not_subject(price(row("5.00", birth_date=date(2005, 1, 1))), "under_age")


# -- declared vs computed -----------------------------------------------------------------
def test_compare_declared() -> None:
    priced = price(row(hours="160", base_wage="6400", birth_date=AGE_29))  # J 4416.00, I 198.70
    assert (
        compare_declared(priced, declared_insured_wage=D("4416.10"), declared_premium=D("198.60"))
        == []
    )
    assert compare_declared(priced, declared_insured_wage=None, declared_premium=None) == []
    findings = compare_declared(
        priced, declared_insured_wage=D("4415.89"), declared_premium=D("198.81")
    )
    assert [f.code for f in findings] == ["declared.insured_wage", "declared.premium"]
    assert "4415.89" in findings[0].message and "4416.00" in findings[0].message
    assert "198.81" in findings[1].message and "198.70" in findings[1].message
    assert (findings[1].declared, findings[1].computed) == (D("198.81"), D("198.70"))
    only_premium = compare_declared(
        priced, declared_insured_wage=None, declared_premium=D("198.59")
    )
    assert [f.code for f in only_premium] == ["declared.premium"]


# -- properties ---------------------------------------------------------------------------
years = st.integers(min_value=2019, max_value=2026)
degrees = st.sampled_from([0, 39, 40, 49, 50, 59, 60, 69])
hourly_wages = st.decimals(min_value=0, max_value=200, places=2)
hour_counts = st.decimals(min_value=D("0.01"), max_value=300, places=2)
shares = st.decimals(min_value=D("0.5"), max_value=1, places=2)
births = st.dates(min_value=date(1962, 1, 1), max_value=date(2008, 12, 31))


@given(year=years, degree=degrees, hourly=hourly_wages, hours=hour_counts, birth=births)
def test_insured_hourly_wage_within_limits(
    year: int, degree: int, hourly: Decimal, hours: Decimal, birth: date
) -> None:
    priced = price(row(hourly, hours=hours, year=year, birth_date=birth, invalidity_degree=degree))
    limits = hourly_limits(year, degree)
    assert limits is not None
    if priced.subject:
        assert limits.minimum_insured <= priced.insured_hourly_wage <= limits.maximum_insured
    else:
        assert priced.insured_hourly_wage == 0


@given(
    year=years,
    degree=degrees,
    hours=hour_counts,
    wages=st.lists(st.decimals(min_value=0, max_value=50_000, places=2), min_size=2, max_size=2),
)
def test_premium_monotonic_in_base_wage(
    year: int, degree: int, hours: Decimal, wages: list[Decimal]
) -> None:
    low, high = sorted(wages)
    priced_low = price(row(hours=hours, base_wage=low, year=year, invalidity_degree=degree))
    priced_high = price(row(hours=hours, base_wage=high, year=year, invalidity_degree=degree))
    assert priced_low.insured_wage <= priced_high.insured_wage
    assert priced_low.premium_total <= priced_high.premium_total


@given(hourly=hourly_wages, hours=hour_counts, share=shares, birth=births)
def test_shares_add_up_to_the_premium(
    hourly: Decimal, hours: Decimal, share: Decimal, birth: date
) -> None:
    priced = price(row(hourly, hours=hours, employer_share=share, birth_date=birth))
    assert priced.employer_share + priced.employee_share == priced.premium_total
    assert priced.employee_share % D("0.05") == 0


@given(
    year=years,
    degree=degrees,
    hours=hour_counts,
    base_wage=st.decimals(min_value=0, max_value=50_000, places=2),
    insured_fraction=st.sampled_from([None, D(1), D("0.5"), D("0.33")]),
    share=shares,
    birth=births,
)
def test_negative_correction_is_the_negated_row(
    year: int,
    degree: int,
    hours: Decimal,
    base_wage: Decimal,
    insured_fraction: Decimal | None,
    share: Decimal,
    birth: date,
) -> None:
    insured = None if insured_fraction is None else (hours * insured_fraction).quantize(D("0.01"))

    def priced(sign: int) -> PricedRow:
        return price(
            RowInput(
                year=year,
                month=6,
                birth_date=birth,
                sex="F",
                hours=sign * hours,
                base_wage=sign * base_wage,
                invalidity_degree=degree,
                insured_hours=None if insured is None else sign * insured,
                employer_share=share,
            )
        )

    positive, negative = priced(1), priced(-1)
    assert (negative.subject, negative.not_subject_reason) == (
        positive.subject,
        positive.not_subject_reason,
    )
    for field in fields(PricedRow):
        value = getattr(positive, field.name)
        if field.name in SIGNED_AMOUNTS:
            assert getattr(negative, field.name) == -value
        else:
            assert getattr(negative, field.name) == value
