"""`bvgconnect price` (issue 3): JSON lines in, one priced line or error line per row, in order."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from services.pricing.domain import PricedRow
from services.pricing.offline import run

ROOT = Path(__file__).resolve().parents[2]
VALID = {
    "period": "2025-03",
    "birth_date": "1985-01-13",
    "sex": "M",
    "hours": "160.5",
    "base_wage": "4895.25",
    "invalidity_degree": 0,
}
#: 4895.25 / 160.5 = 30.50/h; 2025: 30.50 - 12.10 = 18.40/h; x 160.5 = 2953.20; 6 % (BVG age 40).
PRICED_VALID = {
    "bvg_age": 40,
    "subject": True,
    "not_subject_reason": None,
    "hourly_base_wage": "30.50",
    "insured_hourly_wage": "18.40",
    "insured_wage": "2953.20",
    "rate": "0.060",
    "premium_total": "177.20",
    "employer_share": "88.60",
    "employee_share": "88.60",
    "savings_part": "147.70",
}
#: Every money field of a priced row (all but the rate, a fraction).
AMOUNTS = tuple(f.name for f in fields(PricedRow) if f.type == "Decimal" and f.name != "rate")


def price_lines(*lines: str) -> tuple[int, list[dict[str, Any]], str]:
    out = io.StringIO()
    status = run(io.StringIO("".join(line + "\n" for line in lines)), out)
    text = out.getvalue()
    return status, [json.loads(line) for line in text.splitlines()], text


def test_valid_line() -> None:
    status, [priced], text = price_lines(json.dumps(VALID))
    assert status == 0
    assert priced == {**VALID, **PRICED_VALID, "parameter_version": priced["parameter_version"]}
    assert priced["parameter_version"].startswith("limits-2025/hours-2187/rates-2019/")
    assert text.endswith("}\n") and text.count("\n") == 1


def test_not_subject_line_has_every_amount_zero() -> None:
    status, [priced], _ = price_lines(json.dumps({**VALID, "base_wage": "1500"}))  # 9.35/h
    assert status == 0
    assert priced["subject"] is False
    assert priced["not_subject_reason"] == "below_entry_threshold"
    assert all(priced[name] == "0.00" for name in AMOUNTS)
    assert priced["rate"] == "0.000"


def test_numbers_as_json_numbers() -> None:
    line = (
        '{"period": "2025-03", "birth_date": "1985-01-13", "sex": "M", '
        '"hours": 160.5, "base_wage": 4895.25, "invalidity_degree": 0}'
    )
    status, [priced], text = price_lines(line)
    assert status == 0
    assert {k: priced[k] for k in PRICED_VALID} == PRICED_VALID
    assert text.startswith(line[:-1])  # the input's numbers as written
    assert priced["hours"] == 160.5


def test_whole_json_numbers_and_optional_fields() -> None:
    without_degree = {k: v for k, v in VALID.items() if k != "invalidity_degree"}
    status, [priced], _ = price_lines(
        json.dumps({**without_degree, "hours": 100, "base_wage": 4000})
    )
    assert status == 0
    assert priced["insured_wage"] == "2790.00"  # 40.00 → 41.50 cap not reached: 27.90 x 100


def test_employer_share_input_is_the_plan_split() -> None:
    status, [priced], _ = price_lines(json.dumps({**VALID, "employer_share": "0.6"}))
    assert status == 0
    assert priced["premium_total"] == "177.20"
    assert priced["employee_share"] == "70.90"  # 177.20 x 0.4 = 70.88 → 70.90
    assert priced["employer_share"] == "106.30"  # the amount replaces the input's fraction


def test_invalidity_degree() -> None:
    status, lines, _ = price_lines(
        json.dumps({**VALID, "invalidity_degree": 50}),
        json.dumps({**VALID, "invalidity_degree": "75"}),
    )
    assert status == 0
    assert lines[0]["insured_hourly_wage"] == "14.70"  # min(30.50, 20.75) - 6.05 (2025, ½)
    assert lines[1]["not_subject_reason"] == "invalidity"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("{not json", "input.invalid_json"),
        ('{"period": NaN}', "input.invalid_json"),
        ('["a list"]', "input.not_an_object"),
        (json.dumps({k: v for k, v in VALID.items() if k != "hours"}), "input.missing_field"),
        (json.dumps({**VALID, "sex": "X"}), "input.invalid_field"),
        (json.dumps({**VALID, "period": "2025-3"}), "input.invalid_field"),
        (json.dumps({**VALID, "birth_date": "1985-02-30"}), "input.invalid_field"),
        (json.dumps({**VALID, "hours": "1_000"}), "input.invalid_field"),
        (json.dumps({**VALID, "hours": True}), "input.invalid_field"),
        (json.dumps({**VALID, "invalidity_degree": 40.5}), "input.invalid_field"),
        (json.dumps({**VALID, "invalidity_degree": 101}), "row.invalidity_degree_invalid"),
        (json.dumps({**VALID, "period": "2031-01"}), "parameters.year_unknown"),
        (json.dumps({**VALID, "period": "2025-13"}), "row.period_invalid"),
        (json.dumps({**VALID, "hours": "0"}), "row.hours_zero"),
        (json.dumps({**VALID, "hours": "-160.5"}), "row.negative_hourly_wage"),
        (json.dumps({**VALID, "employer_share": "0.4"}), "row.employer_share_invalid"),
    ],
    ids=lambda v: v if v.startswith(("input", "row", "param")) else None,
)
def test_bad_line_gives_an_error_line_and_processing_goes_on(line: str, code: str) -> None:
    status, lines, _ = price_lines(json.dumps(VALID), line, json.dumps(VALID))
    assert status == 1
    assert len(lines) == 3
    assert lines[1]["line"] == 2
    assert lines[1]["error"]["code"] == code
    assert lines[1]["error"]["message"]
    assert lines[0]["insured_wage"] == lines[2]["insured_wage"] == "2953.20"


def test_year_error_names_the_year() -> None:
    _, [error], _ = price_lines(json.dumps({**VALID, "period": "2031-01"}))
    assert "2031" in error["error"]["message"]


def test_order_kept_blank_lines_skipped_and_line_numbers_physical() -> None:
    rows = [{**VALID, "hours": str(hours), "base_wage": str(hours * 40)} for hours in range(1, 6)]
    status, lines, _ = price_lines(
        json.dumps(rows[0]), "", "   ", *(json.dumps(r) for r in rows[1:]), "oops"
    )
    assert status == 1
    assert [line.get("hours") for line in lines[:5]] == ["1", "2", "3", "4", "5"]
    assert [line["insured_wage"] for line in lines[:5]] == [
        "27.90",
        "55.80",
        "83.70",
        "111.60",
        "139.50",
    ]
    assert lines[5]["line"] == 8


def test_negative_correction_line() -> None:
    status, [priced], _ = price_lines(
        json.dumps({**VALID, "hours": "-160.5", "base_wage": "-4895.25"})
    )
    assert status == 0
    assert priced["hourly_base_wage"] == "30.50"
    assert (priced["insured_wage"], priced["premium_total"]) == ("-2953.20", "-177.20")


@pytest.mark.parametrize(
    ("insured_hours", "insured_wage", "reason"),
    [
        pytest.param("80.25", "1476.60", None, id="issue 5: half the month insured"),
        pytest.param(80.25, "1476.60", None, id="as a JSON number"),
        pytest.param("160.5", "2953.20", None, id="every hour insured"),
        pytest.param(None, "2953.20", None, id="null: every hour"),
        pytest.param("0", "0.00", "not_insured", id="none insured"),
    ],
)
def test_insured_hours_price_the_insured_part(
    insured_hours: str | float | None, insured_wage: str, reason: str | None
) -> None:
    status, [priced], _ = price_lines(json.dumps({**VALID, "insured_hours": insured_hours}))
    assert status == 0
    assert priced["insured_wage"] == insured_wage  # 18.40/h x 80.25 = 1476.60
    assert priced["not_subject_reason"] == reason
    assert priced["insured_hours"] == insured_hours  # an input field, kept as written


def test_insured_hours_of_a_correction_and_the_input_without_them_unchanged() -> None:
    correction = {**VALID, "hours": "-160.5", "base_wage": "-4895.25", "insured_hours": "-80.25"}
    status, lines, _ = price_lines(json.dumps(correction), json.dumps(VALID))
    assert status == 0
    assert (lines[0]["insured_wage"], lines[0]["premium_total"]) == ("-1476.60", "-88.60")
    assert "insured_hours" not in lines[1] and lines[1]["insured_wage"] == "2953.20"


@pytest.mark.parametrize(
    ("insured_hours", "code"),
    [
        ("161", "row.insured_hours_invalid"),
        ("-1", "row.insured_hours_invalid"),
        ("many", "input.invalid_field"),
        (True, "input.invalid_field"),
    ],
)
def test_insured_hours_invalid(insured_hours: object, code: str) -> None:
    status, [error], _ = price_lines(json.dumps({**VALID, "insured_hours": insured_hours}))
    assert status == 1
    assert error["error"]["code"] == code
    assert "insured_hours" in error["error"]["message"].lower().replace(" ", "_")


def test_empty_input() -> None:
    assert price_lines() == (0, [], "")


def test_subprocess_bvgconnect_price() -> None:
    lines = [json.dumps(VALID), "{bad", json.dumps({**VALID, "base_wage": "1500"})]
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "price"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["premium_total"] == "177.20"
    assert out[1] == {
        "line": 2,
        "error": {"code": "input.invalid_json", "message": out[1]["error"]["message"]},
    }
    assert out[2]["subject"] is False


def test_cli_wires_price_and_its_help_names_the_formats() -> None:
    from services.cli import PRICE_HELP, build_parser, cmd_price

    assert build_parser().parse_args(["price"]).func is cmd_price
    for mentioned in (
        *("period", "birth_date", "invalidity_degree", "insured_hours"),
        *('"0.045"', '"0.00"', "line"),
    ):
        assert mentioned in PRICE_HELP
