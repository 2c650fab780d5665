"""`bvgconnect coverage explain` (issue 5): JSON in, timeline out; bad input → one error line."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from services.coverage.offline import EXIT_BAD_INPUT, EXIT_OK, explain

ISSUE_EXAMPLE: dict[str, Any] = {
    "birth_date": "1990-05-02",
    "sex": "F",
    "invalidity_degree": 0,
    "assignments": [
        {
            "start": "2025-01-06",
            "end": "2025-02-28",
            "expected_over_13_weeks": False,
            "extension_accepted_on": None,
            "requested": False,
            "children": False,
            "absences": [{"from": "2025-02-03", "to": "2025-02-07", "reason": "illness"}],
        }
    ],
    "previously_insured_until": None,
}


def run(document: str | dict[str, Any], *, text: bool = False) -> tuple[int, str]:
    stdin = io.StringIO(document if isinstance(document, str) else json.dumps(document))
    stdout = io.StringIO()
    code = explain(stdin, stdout, text=text)
    return code, stdout.getvalue()


def with_assignment(**changes: Any) -> dict[str, Any]:
    assignment = {**ISSUE_EXAMPLE["assignments"][0], **changes}
    return {**ISSUE_EXAMPLE, "assignments": [assignment]}


def test_the_issue_example() -> None:
    """Eight work weeks, the illness week among them (Art. 4.5): not yet insured."""
    code, out = run(ISSUE_EXAMPLE)
    assert code == EXIT_OK
    assert json.loads(out) == {"periods": [], "work_weeks": 8, "findings": []}


def test_s6_period_in_the_issue_shape() -> None:
    code, out = run(with_assignment(end="2025-06-30"))
    assert code == EXIT_OK
    assert json.loads(out) == {
        "periods": [
            {"from": "2025-04-07", "to": "2025-06-30", "start_rule": "S6", "end_rule": "E1"}
        ],
        "work_weeks": 26,
        "findings": [],
    }


def test_ongoing_assignment_has_an_open_period() -> None:
    code, out = run(with_assignment(end=None, expected_over_13_weeks=True, absences=[]))
    assert code == EXIT_OK
    assert json.loads(out)["periods"] == [
        {"from": "2025-01-06", "to": None, "start_rule": "S1", "end_rule": None}
    ]


def test_s4_from_previously_insured_until() -> None:
    code, out = run({**ISSUE_EXAMPLE, "previously_insured_until": "2024-12-20"})
    assert code == EXIT_OK
    assert json.loads(out)["periods"] == [
        {"from": "2025-01-06", "to": "2025-02-28", "start_rule": "S4", "end_rule": "E1"}
    ]


def test_text_names_the_article_behind_each_step() -> None:
    code, out = run(with_assignment(end="2025-06-30"), text=True)
    assert code == EXIT_OK
    lines = out.splitlines()
    assert "2025-01-06  assignment 1 starts  [Art. 2]" in lines
    assert (
        "2025-02-03  illness until 2025-02-07: its weeks count as work weeks  [Art. 4.5]" in lines
    )
    assert any(
        line.startswith("2025-04-07  insurance starts: S6") and line.endswith("[Art. 3.4]")
        for line in lines
    )
    assert any(
        line.startswith("2025-06-30  last insured day: E1") and line.endswith("[Art. 4.3]")
        for line in lines
    )
    assert "work weeks up to 2025-06-30: 26  [Art. 2, 4.4-4.5]" in lines
    assert lines[-1] == "findings: none"


def test_text_says_when_admission_deferred_the_start() -> None:
    document = {
        **with_assignment(start="2024-08-05", end="2025-03-28", requested=True, absences=[]),
        "birth_date": "2007-06-01",
    }
    code, out = run(document, text=True)
    assert code == EXIT_OK
    assert "the rule applied on 2024-08-05, admission deferred it (Art. 1)" in out


def test_declarations_give_the_art5_findings() -> None:
    document = {
        **with_assignment(
            start="2025-03-03", end="2025-06-24", expected_over_13_weeks=True, absences=[]
        ),
        "declarations": [
            {"period": "2025-03", "code": 1, "date": "2025-03-03"},
            {"period": "2025-07", "code": 4, "date": "2025-06-25"},
        ],
        "through": "2025-08",
    }
    code, out = run(document)
    assert code == EXIT_OK
    (finding,) = json.loads(out)["findings"]
    assert finding["code"] == "interruption.follow_up_missing"
    assert finding["period"] == "2025-08"
    assert finding["article"] == "Art. 5.2"
    assert finding["cost_to_employer"] is False


def test_undeclared_entry_in_json() -> None:
    document = {**with_assignment(end="2025-06-30"), "declarations": [], "through": "2025-04"}
    code, out = run(document)
    assert code == EXIT_OK
    (finding,) = json.loads(out)["findings"]
    assert (finding["code"], finding["period"], finding["cost_to_employer"]) == (
        "entry.not_declared",
        "2025-04",
        True,
    )


@pytest.mark.parametrize(
    ("document", "code", "in_message"),
    [
        pytest.param("{not json", "input.json", "not valid JSON", id="bad JSON"),
        pytest.param("", "input.json", "not valid JSON", id="empty"),
        pytest.param("[]", "input.not_object", "one JSON object", id="not an object"),
        pytest.param(
            {k: v for k, v in ISSUE_EXAMPLE.items() if k != "birth_date"},
            "input.missing",
            "birth_date",
            id="missing birth_date",
        ),
        pytest.param(
            {**ISSUE_EXAMPLE, "assignments": [{"end": "2025-02-28"}]},
            "input.missing",
            "assignments[0].start",
            id="missing start",
        ),
        pytest.param(
            with_assignment(extension="2025-02-01"),
            "input.unknown_field",
            "assignments[0].extension",
            id="unknown field",
        ),
        pytest.param({**ISSUE_EXAMPLE, "sex": "X"}, "input.invalid", "sex", id="bad sex"),
        pytest.param(with_assignment(start="06.01.2025"), "input.invalid", "start", id="bad date"),
        pytest.param(with_assignment(requested="yes"), "input.invalid", "requested", id="bad flag"),
        pytest.param(
            {**ISSUE_EXAMPLE, "invalidity_degree": 120},
            "input.invalid",
            "invalidity_degree",
            id="IV degree over 100",
        ),
        pytest.param(
            with_assignment(end="2025-01-03"),
            "assignment.end_before_start",
            "ends before it starts",
            id="end before start",
        ),
    ],
)
def test_bad_input_gives_one_error_line(
    document: str | dict[str, Any], code: str, in_message: str
) -> None:
    exit_code, out = run(document)
    assert exit_code == EXIT_BAD_INPUT
    assert out.endswith("\n") and out.count("\n") == 1
    error = json.loads(out)["error"]
    assert error["code"] == code
    assert in_message in error["message"]
    assert "Traceback" not in out
