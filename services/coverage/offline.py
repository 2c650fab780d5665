"""`bvgconnect coverage explain`: why is this person (not) insured? (issue 5, RULES §5-§6).

Reads one JSON document on stdin (one worker's assignments at one employer) and prints the
coverage timeline as JSON, or with `text=True` as lines that name the article behind each step.
Bad input gives one line `{"error": {"code": ..., "message": ...}}` and exit code 2.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.coverage import domain
from services.coverage.calendar import PayPeriod
from services.coverage.domain import (
    END_RULES,
    START_RULES,
    CoverageError,
    Finding,
    Timeline,
)

EXIT_OK = 0
EXIT_BAD_INPUT = 2

Period = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AbsenceIn(_Input):
    from_: date = Field(alias="from")
    to: date
    reason: Literal["illness", "accident", "service", "maternity"]


class AssignmentIn(_Input):
    start: date
    end: date | None = None
    expected_over_13_weeks: bool = False
    extension_accepted_on: date | None = None
    requested: bool = False
    children: bool = False
    absences: list[AbsenceIn] = []
    #: Hours per calendar week, keyed by the week's Monday.
    weekly_hours: dict[date, Annotated[Decimal, Field(ge=0)]] = {}
    ends_with_exit: bool = False


class InvalidityChangeIn(_Input):
    on: date
    degree: int = Field(ge=0, le=100)


class DeclarationIn(_Input):
    period: Period
    code: Literal[1, 2, 4]
    on: date | None = Field(default=None, alias="date")


class ExplainInput(_Input):
    birth_date: date
    sex: Literal["M", "F"]
    invalidity_degree: int = Field(default=0, ge=0, le=100)
    invalidity_changes: list[InvalidityChangeIn] = []
    died_on: date | None = None
    assignments: list[AssignmentIn]
    previously_insured_until: date | None = None
    as_of: date | None = None
    #: What the lists declared; with it, the findings compare them with the rules.
    declarations: list[DeclarationIn] | None = None
    #: Latest list to judge; by default the latest declared period.
    through: Period | None = None


def explain(stdin: TextIO, stdout: TextIO, *, text: bool = False) -> int:
    """The body of `bvgconnect coverage explain [--text]`; returns the exit code."""
    try:
        document = ExplainInput.model_validate_json(stdin.read())
    except ValidationError as error:
        code, message = _input_error(error)
        return _fail(stdout, code, message)
    except UnicodeDecodeError:
        return _fail(stdout, "input.json", "The input is not UTF-8 text.")
    try:
        timeline, findings = _assess(document)
    except CoverageError as error:
        return _fail(stdout, error.code, error.message)
    if text:
        stdout.write(render_text(timeline, findings))
    else:
        json.dump(to_json(timeline, findings), stdout)
        stdout.write("\n")
    return EXIT_OK


def _assess(document: ExplainInput) -> tuple[Timeline, tuple[Finding, ...]]:
    worker = domain.Worker(
        birth_date=document.birth_date,
        sex=document.sex,
        invalidity_degree=document.invalidity_degree,
        invalidity_changes=tuple(
            domain.InvalidityChange(c.on, c.degree) for c in document.invalidity_changes
        ),
        died_on=document.died_on,
    )
    assignments = [
        domain.Assignment(
            start=a.start,
            end=a.end,
            expected_over_13_weeks=a.expected_over_13_weeks,
            extension_accepted_on=a.extension_accepted_on,
            requested=a.requested,
            children=a.children,
            absences=tuple(domain.Absence(x.from_, x.to, x.reason) for x in a.absences),
            weekly_hours=tuple(sorted(a.weekly_hours.items())),
            ends_with_exit=a.ends_with_exit,
        )
        for a in document.assignments
    ]
    timeline = domain.timeline(
        worker,
        assignments,
        previously_insured_until=document.previously_insured_until,
        as_of=document.as_of,
    )
    declarations = [
        domain.Declaration(PayPeriod.parse(d.period), d.code, d.on)
        for d in document.declarations or ()
    ]
    through = PayPeriod.parse(document.through) if document.through else None
    if through is None and declarations:
        through = max(d.period for d in declarations)
    if document.declarations is None or through is None:
        return timeline, ()
    return timeline, domain.compare_declarations(timeline, declarations, through=through)


def _input_error(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    where = _path(first["loc"])
    kind = first["type"]
    if kind == "json_invalid":
        detail = str(first["msg"]).removeprefix("Invalid JSON: ")
        return "input.json", f"The input is not valid JSON: {detail}."
    if kind == "model_type" and not where:
        return "input.not_object", "The input must be one JSON object."
    if kind == "missing":
        return "input.missing", f"The field {where} is required."
    if kind == "extra_forbidden":
        return "input.unknown_field", f"The field {where} is not known."
    return "input.invalid", f"The field {where} is invalid: {first['msg']}."


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fail(stdout: TextIO, code: str, message: str) -> int:
    stdout.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
    return EXIT_BAD_INPUT


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_json(timeline: Timeline, findings: tuple[Finding, ...]) -> dict[str, Any]:
    return {
        "periods": [
            {
                "from": _day(p.insured_from),
                "to": _day(p.insured_to),
                "start_rule": p.start_rule,
                "end_rule": p.end_rule,
            }
            for p in timeline.periods
        ],
        "work_weeks": timeline.work_weeks,
        "findings": [
            {
                "code": f.code,
                "period": str(f.period),
                "article": f.article,
                "severity": f.severity,
                "cost_to_employer": f.cost_to_employer,
                "message": f.message,
            }
            for f in findings
        ],
    }


def render_text(timeline: Timeline, findings: tuple[Finding, ...]) -> str:
    """The timeline as dated lines, each naming the article behind the step."""
    steps: list[tuple[date, int, str, str]] = []  # (day, order on that day, text, article)
    for n, a in enumerate(timeline.assignments, 1):
        flags = [
            label
            for on, label in (
                (a.expected_over_13_weeks, "expected over 13 weeks"),
                (a.requested, "insurance requested"),
                (a.children, "maintains children"),
            )
            if on
        ]
        extra = f" ({', '.join(flags)})" if flags else ""
        steps.append((a.start, 1, f"assignment {n} starts{extra}", "Art. 2"))
        if a.extension_accepted_on is not None:
            steps.append((a.extension_accepted_on, 2, f"assignment {n} extended", "Art. 3.3"))
        for x in a.absences:
            if x.reason in domain.ABSENCES_COUNTED_AS_WORK:
                what, article = "its weeks count as work weeks", "Art. 4.5"
            else:
                what, article = "no work week unless worked, no interruption", "Reading, Art. 4.1"
            steps.append((x.first_day, 3, f"{x.reason} until {x.last_day}: {what}", article))
        if a.end is not None:
            exit_note = ", exit declared (code 2)" if a.ends_with_exit else ""
            steps.append((a.end, 5, f"assignment {n} ends{exit_note}", "Art. 4.3"))
    for gap in timeline.interruptions:
        if gap.last_day is None:
            what = "interruption, no next assignment known"
            article = "Art. 4.1, 5"
        elif gap.long:
            what = f"interruption until {gap.last_day}, 52 weeks or more: the count starts again"
            article = "Art. 4.1"
        else:
            what = f"interruption until {gap.last_day}, under 52 weeks: judged on its own"
            article = "Art. 4.1-4.2"
        steps.append((gap.first_day, 0, what, article))
    for p in timeline.periods:
        article, reason = START_RULES[p.start_rule]
        deferred = ""
        if p.rule_date < p.insured_from:
            deferred = f"; the rule applied on {p.rule_date}, admission deferred it (Art. 1)"
        steps.append(
            (p.insured_from, 4, f"insurance starts: {p.start_rule}, {reason}{deferred}", article)
        )
        if p.insured_to is not None and p.end_rule is not None:
            article, reason = END_RULES[p.end_rule]
            steps.append((p.insured_to, 6, f"last insured day: {p.end_rule}, {reason}", article))
    lines = ["Coverage timeline at one employer (RULES §5-§6; guidelines Art. 1-5)"]
    lines += [f"{day}  {what}  [{article}]" for day, _, what, article in sorted(steps)]
    if not timeline.periods:
        lines.append(
            "no coverage: no start rule applies, or the worker is not admitted (Art. 1, 3)"
        )
    as_of = f" up to {timeline.as_of}" if timeline.as_of is not None else ""
    lines.append(f"work weeks{as_of}: {timeline.work_weeks}  [Art. 2, 4.4-4.5]")
    if timeline.previously_insured_until is not None:
        lines.append(
            f"previously insured here until {timeline.previously_insured_until}  [Art. 3.2d]"
        )
    lines.append(f"findings: {len(findings) or 'none'}")
    lines += [f"  {f.period} {f.code}: {f.message}  [{f.article}]" for f in findings]
    return "\n".join(lines) + "\n"
