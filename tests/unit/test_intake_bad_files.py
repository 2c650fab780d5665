"""Issue 4's bad input, each as a real xlsx file through the service's path (read + check),
and the HTTP API fuzzed: never a crash, never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl import load_workbook

from services.intake.checking import check_bytes
from services.intake.domain import CheckedList
from services.intake.model import COLUMNS
from services.intake.workbook import Limits
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from services.runtime.settings import Settings
from tests.support.tokens import TokenMint
from tests.support.xlsx import EMPLOYER_NO, HEADERS, build_list, sample_row

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)


def check(content: bytes) -> CheckedList:
    return check_bytes(
        content, "xlsx", employer_no=EMPLOYER_NO, period="2025-03", language="de", limits=Limits()
    )


def codes(checked: CheckedList) -> set[tuple[int | None, str | None, str]]:
    return {(f.row, f.column, f.code) for f in checked.findings}


def one_row(**cells: Any) -> bytes:
    return build_list([sample_row(0) | cells])


def test_a_valid_file_is_ok() -> None:
    checked = check(build_list([sample_row(i) for i in range(3)]))
    assert checked.status == "ok" and checked.row_count == 3 and not checked.findings


def test_a_missing_header_is_named() -> None:
    headers = tuple(h for h in HEADERS if h != "Vorname")
    checked = check(build_list([list(sample_row(0).values())[:27]], headers=headers))
    assert checked.status == "faulty" and {f.code for f in checked.findings} == {"file.headers"}


def test_shuffled_headers() -> None:
    headers = list(HEADERS)
    headers[0], headers[1] = headers[1], headers[0]
    checked = check(build_list([sample_row(0)], headers=headers))
    assert {f.code for f in checked.findings} == {"file.headers"}


def test_zero_data_rows() -> None:
    assert codes(check(build_list([]))) == {(None, None, "file.empty")}


def test_text_where_numbers_belong() -> None:
    assert (2, "U", "amount.format") in codes(check(one_row(U="viele")))


@pytest.mark.parametrize(
    "text", ["06.01.2024", "6.1.2024", "06.01.24", "060124"], ids=lambda t: f"accepted-{t}"
)
def test_dates_as_text_in_accepted_forms(text: str) -> None:
    checked = check(one_row(W=text))
    assert checked.status == "ok", checked.findings


@pytest.mark.parametrize(
    "text",
    ["2024/01/06", "31.02.2024", "Januar 2024", "06-01-2024x"],
    ids=lambda t: f"rejected-{t}",
)
def test_dates_as_text_in_rejected_forms(text: str) -> None:
    assert (2, "W", "date.format") in codes(check(one_row(W=text)))


def test_an_excel_date_serial_is_a_date() -> None:
    serial = (date(2024, 1, 6) - date(1899, 12, 30)).days
    checked = check(one_row(W=serial))
    assert checked.status == "ok", checked.findings
    assert checked.rows[0].values["assignment_start"] == date(2024, 1, 6)


def test_leading_and_trailing_spaces_are_trimmed() -> None:
    checked = check(one_row(A="  MEIER ", Q=f" {sample_row(0)['Q']} "))
    assert checked.status == "ok", checked.findings
    assert checked.rows[0].values["last_name"] == "MEIER"


def test_a_french_list_is_answered_in_french() -> None:
    checked = check(one_row(P=2, A="Meier"))
    [finding] = checked.findings
    assert (finding.code, finding.column) == ("capitals", "A")
    assert "MAJUSCULES" in finding.message


def _with(edit: Any) -> bytes:
    book = load_workbook(io.BytesIO(build_list([sample_row(0), sample_row(1)])))
    edit(book["Mutationen"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_formula_without_a_stored_value() -> None:
    def formula(sheet: Any) -> None:
        sheet["U2"] = "=100+60"

    assert (2, "U", "cell.formula") in codes(check(_with(formula)))


def test_merged_cells_in_the_data_area() -> None:
    def merge(sheet: Any) -> None:
        sheet.merge_cells("A2:A3")

    assert (2, "A", "cell.merged") in codes(check(_with(merge)))


def test_only_one_sheet_with_another_name_is_taken() -> None:
    checked = check(build_list([sample_row(0)], sheet_name="Tabelle1"))
    assert checked.status == "ok", checked.findings


def test_two_sheets_and_none_called_mutationen() -> None:
    checked = check(build_list([sample_row(0)], sheet_name="Tabelle1", extra_sheets=["Tabelle2"]))
    assert {f.code for f in checked.findings} == {"file.no_sheet"}


# -- the HTTP API under fuzzing -------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """The intake app without database or broker: `validate` needs neither."""
    mint = TokenMint(clock=FixedClock(NOW))
    jwks: Path = tmp_path_factory.mktemp("keys") / "jwks.json"
    jwks.write_text(json.dumps(mint.jwks()))
    runtime = Runtime(
        spec_of("intake"),
        Settings(auth_jwks_file=jwks),
        dsn="postgresql://unused",
        bootstrap="unused:9092",
        clock=FixedClock(NOW),
    )
    app = create_app(runtime)
    token = mint.mint(employer_no=EMPLOYER_NO, lifetime_s=900)
    # no `with`: the lifespan (database, broker) is not started
    yield TestClient(app, base_url="http://intake"), token


cells = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates().map(date.isoformat),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
json_rows = st.lists(
    st.dictionaries(st.sampled_from([c.field for c in COLUMNS] + ["assignments", "x"]), cells),
    max_size=4,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=json_rows)
def test_fuzzed_json_rows_never_give_a_500(api: tuple[TestClient, str], rows: Any) -> None:
    client, token = api
    answer = client.post(
        f"/employers/{EMPLOYER_NO}/lists/2025-03/validate",
        content=json.dumps({"rows": rows}),  # NaN and Infinity too, as a sloppy client sends
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] in {"ok", "faulty", "unreadable"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=4000))
def test_fuzzed_files_never_give_a_500(api: tuple[TestClient, str], body: bytes, cut: int) -> None:
    client, token = api
    valid = _VALID[: max(cut, 1)]  # a real workbook cut anywhere, or random bytes
    for content in (body, valid, valid + body):
        answer = client.post(
            f"/employers/{EMPLOYER_NO}/lists/2025-03/validate",
            content=content or b"x",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert answer.status_code == 200, answer.text


def _valid_workbook() -> bytes:
    book = OpenpyxlWorkbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Mutationen"
    sheet.append(list(HEADERS))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_VALID = _valid_workbook()
