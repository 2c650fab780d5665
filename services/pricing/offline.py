"""`bvgconnect price`: price JSON lines offline, one output line per input line (issue 3).

The input and output formats are described in the command's help (`PRICE_HELP` in
`services/cli.py`, kept there so that other commands need not import pricing).

For payroll vendors checking their numbers before they send a list: no server, no database,
the same rules (`domain.price`) as the pricing service.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from services.pricing.domain import PricedRow, PricingError, RowInput, Sex, price

_OUTPUT_KEYS = frozenset(
    {
        "bvg_age",
        "subject",
        "not_subject_reason",
        "hourly_base_wage",
        "insured_hourly_wage",
        "insured_wage",
        "rate",
        "premium_total",
        "employer_share",
        "employee_share",
        "savings_part",
        "parameter_version",
    }
)
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PERIOD_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})")
_WHOLE_TEXT = re.compile(r"-?[0-9]{1,9}")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Output lines are written in batches of this many.
_BATCH = 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def run(stdin: TextIO, stdout: TextIO) -> int:
    """Price every line of `stdin` onto `stdout`; 1 if any line failed, else 0."""
    failed = False
    pending: list[str] = []
    for number, line in enumerate(stdin, 1):
        if not line or line.isspace():
            continue
        try:
            pending.append(price_line(line))
        except PricingError as exc:
            failed = True
            error = {"line": number, "error": {"code": exc.code, "message": exc.message}}
            pending.append(json.dumps(error, ensure_ascii=False) + "\n")
        if len(pending) >= _BATCH:
            stdout.write("".join(pending))
            pending.clear()
    stdout.write("".join(pending))
    stdout.flush()
    return 1 if failed else 0


def price_line(line: str) -> str:
    """One input line priced: the output line the command writes for it (newline included).

    Raises PricingError for a line that cannot be priced (the command writes an error line).
    """
    try:
        fields = _DECODER.decode(line)
    except (ValueError, RecursionError) as exc:
        raise PricingError("input.invalid_json", f"The line is not valid JSON ({exc}).") from None
    if not isinstance(fields, dict):
        raise PricingError("input.not_an_object", "The line must be a JSON object.")
    priced = price(_row_input(fields))
    if _OUTPUT_KEYS.isdisjoint(fields):
        # The input's own text, its numbers exactly as written, with our fields appended.
        return line.strip()[:-1] + _output_fields(priced) + "}\n"
    # The input has a field of ours (e.g. employer_share, the plan split): ours replace it.
    ours = json.loads("{" + _output_fields(priced).removeprefix(", ") + "}")
    merged: dict[str, Any] = {**fields, **ours}
    return json.dumps(merged, ensure_ascii=False, default=str) + "\n"


def _output_fields(p: PricedRow) -> str:
    reason = "null" if p.not_subject_reason is None else f'"{p.not_subject_reason}"'
    return (
        f', "bvg_age": {p.bvg_age}, "subject": {"true" if p.subject else "false"}'
        f', "not_subject_reason": {reason}'
        f', "hourly_base_wage": "{p.hourly_base_wage}"'
        f', "insured_hourly_wage": "{p.insured_hourly_wage}"'
        f', "insured_wage": "{p.insured_wage}", "rate": "{p.rate}"'
        f', "premium_total": "{p.premium_total}", "employer_share": "{p.employer_share}"'
        f', "employee_share": "{p.employee_share}", "savings_part": "{p.savings_part}"'
        f', "parameter_version": "{p.parameter_version}"'
    )


def _row_input(fields: dict[str, Any]) -> RowInput:
    period = _text(fields, "period")
    matched = _PERIOD_TEXT.fullmatch(period)
    if matched is None:
        raise _invalid("period", period, "a month YYYY-MM")
    birth_text = _text(fields, "birth_date")
    try:
        if not _DATE_TEXT.fullmatch(birth_text):
            raise ValueError(birth_text)
        birth_date = date.fromisoformat(birth_text)
    except ValueError:
        raise _invalid("birth_date", birth_text, "a date YYYY-MM-DD") from None
    sex = _text(fields, "sex")
    if sex != "M" and sex != "F":
        raise _invalid("sex", sex, '"M" or "F"')
    checked_sex: Sex = "M" if sex == "M" else "F"
    degree = fields.get("invalidity_degree")
    share = fields.get("employer_share")
    insured = fields.get("insured_hours")
    return RowInput(
        year=int(matched[1]),
        month=int(matched[2]),
        birth_date=birth_date,
        sex=checked_sex,
        hours=_decimal(fields, "hours"),
        base_wage=_decimal(fields, "base_wage"),
        invalidity_degree=0 if degree is None else _whole_percent(degree),
        # Issue 5: the insured hours of a partly insured month; absent or null: all hours.
        insured_hours=None if insured is None else _decimal(fields, "insured_hours"),
        employer_share=(
            RowInput.employer_share if share is None else _decimal(fields, "employer_share")
        ),
    )


def _text(fields: dict[str, Any], name: str) -> str:
    try:
        value = fields[name]
    except KeyError:
        raise PricingError("input.missing_field", f"The field {name!r} is missing.") from None
    if not isinstance(value, str):
        raise _invalid(name, value, "a string")
    return value


def _decimal(fields: dict[str, Any], name: str) -> Decimal:
    try:
        value = fields[name]
    except KeyError:
        raise PricingError("input.missing_field", f"The field {name!r} is missing.") from None
    if isinstance(value, Decimal):  # a JSON number with a fraction or exponent
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    raise _invalid(name, value, 'a decimal number such as "160.5"')


def _whole_percent(value: Any) -> int:
    """An IV degree; its range (0-100) is the domain's to check."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE_TEXT.fullmatch(value):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise _invalid("invalidity_degree", value, "a whole percentage 0-100")


def _invalid(name: str, value: Any, expected: str) -> PricingError:
    shown = json.dumps(value, default=str, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return PricingError(
        "input.invalid_field", f"The field {name!r} must be {expected}, not {shown}."
    )
