"""`bvgconnect validate` (TEMPLATE.md): real xlsx lists from `tests/support/xlsx.py`."""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.intake import offline
from services.intake.model import Cell
from tests.support.cli import run_cli
from tests.support.xlsx import EMPLOYER_NO, ahv_number, build_list, build_png, sample_row

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2025-03"
FINDING_KEYS = {"row", "column", "code", "severity", "message"}


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows(n: int, **changes_by_row: dict[str, Cell]) -> list[dict[str, Cell]]:
    """`n` valid rows; `r3={"A": "Meier"}` changes spreadsheet row 3."""
    out = [sample_row(i) for i in range(n)]
    for key, changes in changes_by_row.items():
        out[int(key[1:]) - 2].update(changes)
    return out


def validate(path: Path, **request: Any) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = offline.validate(
        offline.Request(path=path, employer_no=EMPLOYER_NO, period=PERIOD, **request),
        stdout,
        stderr,
    )
    return status, stdout.getvalue(), stderr.getvalue()


def validate_json(path: Path, **request: Any) -> tuple[int, dict[str, Any]]:
    status, out, _ = validate(path, as_json=True, **request)
    return status, json.loads(out)


def cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = run_cli(env, "validate", *args)
    return done.returncode, done.stdout, done.stderr


# -- through the command -------------------------------------------------------------------
def test_ok_list_exits_0_with_the_exact_json(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.xlsx", build_list(rows(3)))
    status, out, err = cli(str(path), "--employer", str(EMPLOYER_NO), "--period", PERIOD, "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == {"status": "ok", "rows": 3, "findings": []}
    assert out.endswith("}\n") and out.count("\n") == 1


def test_faulty_list_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "faulty.xlsx", build_list(rows(3, r3={"Q": "756.9217.0769.84"})))
    status, out, _ = cli(str(path), "--employer", str(EMPLOYER_NO), "--period", PERIOD, "--json")
    assert status == 1
    report = json.loads(out)
    assert (report["status"], report["rows"]) == ("faulty", 3)
    [finding] = report["findings"]
    assert set(finding) == FINDING_KEYS
    assert {k: finding[k] for k in ("row", "column", "code", "severity")} == {
        "row": 3,
        "column": "Q",
        "code": "ahv.checksum",
        "severity": "error",
    }


def test_png_is_unreadable_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "list.xlsx", build_png())
    status, out, _ = cli(
        str(path), "--employer", "1", "--period", PERIOD, "--json", "--language", "en"
    )
    assert status == 2
    report = json.loads(out)
    assert (report["status"], report["rows"]) == ("unreadable", 0)
    [finding] = report["findings"]
    assert {k: finding[k] for k in ("row", "column", "code")} == {
        "row": None,
        "column": None,
        "code": "file.unreadable",
    }
    assert finding["message"].startswith("The file is not an Excel workbook")


def test_missing_file_exits_2_with_a_sentence(tmp_path: Path) -> None:
    status, out, err = cli(str(tmp_path / "nowhere.xlsx"), "--employer", "1", "--period", PERIOD)
    assert (status, out) == (2, "")
    assert err.startswith("bvgconnect validate: cannot read ") and "nowhere.xlsx" in err


def test_fix_round_trip(tmp_path: Path) -> None:
    broken = rows(
        4,
        r2={"A": "Meier", "U": "160,00"},
        r3={"W": "2024/02/01", "Q": ahv_number(2).replace(".", "")},
        r4={"Q": "756.9217.0769.84"},
    )
    path = write(tmp_path, "broken.xlsx", build_list(broken))
    fixed = tmp_path / "fixed.xlsx"
    status, out, _ = cli(
        str(path), "--employer", str(EMPLOYER_NO), "--period", PERIOD, "--fix", str(fixed)
    )
    assert status == 1
    assert "--fix: fixed 4 cell(s)" in out
    assert "--fix: 1 error(s) remain that --fix cannot repair:" in out
    assert "row 4, column Q: ahv.checksum" in out.split("cannot repair:")[1]
    before = validate_json(path)[1]
    status_after, after = validate_json(fixed)
    assert status_after == 1
    assert len(after["findings"]) < len(before["findings"])
    assert [(f["row"], f["column"], f["code"]) for f in after["findings"]] == [
        (4, "Q", "ahv.checksum")
    ]


# -- in-process ------------------------------------------------------------------------------
def test_text_report(tmp_path: Path) -> None:
    path = write(tmp_path, "list.xlsx", build_list(rows(3, r3={"A": "Meier"}, r4={"A": "Huber"})))
    status, out, _ = validate(path)
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("list.xlsx: list of 2025-03 for employer 1001: faulty, 3 row(s)")
    assert "by code:" in lines and "findings:" in lines
    assert any(line.split() == ["capitals", "error", "2"] for line in lines)
    assert any(line.startswith("  row 3, column A: capitals (error): Spalte A") for line in lines)


def test_assignment_findings_name_their_sheet(tmp_path: Path) -> None:
    content = build_list(
        rows(2),
        assignments=[{"A": ahv_number(55), "B": date(2025, 3, 3), "D": "N", "F": 8.0}],
        week_headers=["2025-W10"],
    )
    status, report = validate_json(write(tmp_path, "list.xlsx", content))
    assert status == 1
    [finding] = report["findings"]
    assert finding == {
        "row": 2,
        "column": "A",
        "code": "assignment.unknown_worker",
        "severity": "error",
        "message": finding["message"],
        "sheet": "Einsätze",
    }


def test_assignments_price_by_their_weeks(tmp_path: Path) -> None:
    content = build_list(
        rows(2),
        assignments=[
            {"A": ahv_number(1), "B": date(2024, 1, 1), "D": "J", "F": 40.0, "G": 40.0},
        ],
        week_headers=[date(2025, 3, 3), date(2025, 3, 10)],
    )
    status, report = validate_json(write(tmp_path, "list.xlsx", content))
    assert (status, report["status"]) == (0, "ok")


def test_declared_amounts_that_differ_are_warnings(tmp_path: Path) -> None:
    listed = rows(2)
    listed[1]["J"] = float(listed[1]["J"]) + 100  # type: ignore[arg-type]
    status, report = validate_json(write(tmp_path, "list.xlsx", build_list(listed)))
    assert (status, report["status"]) == (0, "ok")
    [warning] = report["findings"]
    assert {k: warning[k] for k in ("row", "column", "code", "severity")} == {
        "row": 3,
        "column": "J",
        "code": "declared.insured_wage",
        "severity": "warning",
    }


def test_a_correction_of_an_ended_assignment_is_judged_on_its_last_month(tmp_path: Path) -> None:
    """RULES §3: the March list corrects February, the month the S1 assignment ended in; its
    negative premium and insured wage are what the rules give, so no `declared.*` warning."""
    listed = rows(2)
    listed[1].update({"U": -10.0, "V": -300.0, "W": date(2024, 10, 7), "X": date(2025, 2, 14)})
    listed[1].update({"I": -17.9, "J": -179.0})  # 30.00/h - 12.10 = 17.90 x 10 h; 10 %
    status, report = validate_json(write(tmp_path, "list.xlsx", build_list(listed)))
    assert (status, report["status"], report["findings"]) == (0, "ok", [])


def test_no_sheet_in_the_chosen_language(tmp_path: Path) -> None:
    content = build_list(rows(1), sheet_name="Liste", extra_sheets=["Notizen"])
    status, report = validate_json(write(tmp_path, "list.xlsx", content), language="fr")
    assert status == 1
    [finding] = report["findings"]
    assert finding["code"] == "file.no_sheet"
    assert finding["message"].startswith("Le classeur n'a pas de feuille «Mutationen»")


def test_fix_with_json_keeps_stdout_json(tmp_path: Path) -> None:
    path = write(tmp_path, "list.xlsx", build_list(rows(2, r2={"F": "Bern"})))
    fixed = tmp_path / "out.xlsx"
    status, out, err = validate(path, as_json=True, fix_to=fixed)
    assert status == 1
    assert json.loads(out)["findings"][0]["code"] == "capitals"
    assert err == f"--fix: fixed 1 cell(s), written to {fixed}\n"
    assert validate_json(fixed) == (0, {"status": "ok", "rows": 2, "findings": []})


def test_fix_of_an_unreadable_file_writes_nothing(tmp_path: Path) -> None:
    fixed = tmp_path / "out.xlsx"
    status, out, _ = validate(write(tmp_path, "x.xlsx", build_png()), fix_to=fixed)
    assert status == 2
    assert "--fix: the file is unreadable; nothing written" in out
    assert not fixed.exists()


@pytest.mark.parametrize("period", ["2025-13", "March", "2025-3"])
def test_bad_period_exits_2(tmp_path: Path, period: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    request = offline.Request(path=tmp_path / "x.xlsx", employer_no=1, period=period)
    assert offline.validate(request, stdout, stderr) == 2
    assert "is not a month YYYY-MM" in stderr.getvalue()
