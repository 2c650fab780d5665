"""The coverage service on the real broker and database: validated rows in; the insured part
of each row, coverage changes and findings out; and on into pricing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.events.coverage import CoverageChanges, CoverageFinding, RowsAssessed
from contracts.events.intake import RowValidated, RowValidatedPayload
from contracts.events.pricing import ListPriced, RowsPriced
from services.registry import spec_of
from services.runtime.service import Runtime
from tests.conftest import StartRuntime
from tests.integration.test_pricing_service import (
    checked,
    parts,
    payloads,
    publish,
    wait_outbox_drained,
)
from tests.support.kafka import eventually
from tests.support.parts import outbox_rows, pack

EXAMPLE = Path("contracts/examples/intake.row-validated.v1")
NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
ANNA = "756.1234.5678.97"
LUCA = "756.9217.0769.85"
#: The rows assessed so far: counted inside the parts in coverage's outbox.
ASSESSED = outbox_rows(RowsAssessed.TOPIC)


def example_row() -> dict[str, Any]:
    first = EXAMPLE / "entry.json"
    payload: dict[str, Any] = json.loads(first.read_text())["payload"]
    return payload


def row(upload: uuid.UUID, period: str, row_no: int, **changes: Any) -> RowValidated:
    values = {**example_row(), "upload_id": str(upload), "period": period, "row_no": row_no}
    values.update({"employer_no": 4711, **changes})
    return RowValidated.new(
        occurred_at=NOW,
        employer_no=4711,
        correlation_id=str(upload),
        payload=RowValidatedPayload.model_validate(values),
    )


async def wait_for(runtime: Runtime, sql: str, n: int, what: str) -> None:
    """Until `sql` counts `n`, and the relay published everything written so far."""

    async def enough() -> bool:
        assert runtime.pool is not None
        return int(await runtime.pool.fetchval(sql)) >= n

    await eventually(enough, timeout=30, what=what)
    await wait_outbox_drained(runtime)


async def test_a_declared_s1_entry_is_insured_from_the_first_day(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(spec_of("coverage"))
    upload = uuid.uuid4()
    declared = row(upload, "2025-03", 2)  # code 1, entry 2025-03-03, over 13 weeks: S1
    undeclared = row(upload, "2025-03", 3, ahv=LUCA, mutation_code=None, entry_date=None)
    part = pack([declared, undeclared])  # the list's two rows, one part of it
    await publish(bootstrap, prefix, [part, part])  # redelivered
    await wait_for(runtime, ASSESSED, 2, "rows")
    await wait_for(runtime, "SELECT count(*) FROM inbox", 1, "inbox")

    assessed = {p["ahv"]: p for p in await payloads(bootstrap, prefix + RowsAssessed.TOPIC)}
    [out] = await parts(bootstrap, prefix + RowsAssessed.TOPIC)  # handled once: one part
    assert [r["row_no"] for r in out["rows"]] == [2, 3]
    anna = assessed[ANNA]
    assert (anna["insured_from"], anna["insured_to"], anna["rule_in_force"]) == (
        "2025-03-03",
        "2025-03-31",
        "S1",
    )
    assert anna["insured_days"] == 29 and anna["insured"] is True
    # 21 of the 21 working days of March from the 3rd: every hour of the assignment counts.
    assert Decimal(anna["insured_hours"]) == Decimal("160.50")

    changes = await payloads(bootstrap, prefix + CoverageChanges.TOPIC)
    assert sorted((c["ahv"], c["change"], c["effective_date"], c["rule"]) for c in changes) == [
        (ANNA, "started", "2025-03-03", "S1"),
        (LUCA, "started", "2025-03-03", "S1"),
    ]
    findings = await payloads(bootstrap, prefix + CoverageFinding.TOPIC)
    assert [(f["ahv"], f["code"], f["cost_to_employer"]) for f in findings] == [
        (LUCA, "entry.not_declared", True)
    ]


async def test_several_months_reach_the_14th_work_week(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """Issue 5's example: from 2025-01-06, not expected over 13 weeks → S6 on 2025-04-07."""
    runtime = await start_runtime(spec_of("coverage"))
    short = {
        "assignment_start": "2025-01-06",
        "expected_over_13_weeks": False,
        "mutation_code": None,
        "entry_date": None,
    }
    events: list[Envelope] = [
        row(uuid.uuid4(), period, 2, **short)
        for period in ("2025-01", "2025-02", "2025-03", "2025-04")
    ]
    await publish(bootstrap, prefix, events)
    await wait_for(runtime, ASSESSED, 4, "rows")
    by_period = {p["period"]: p for p in await payloads(bootstrap, prefix + RowsAssessed.TOPIC)}
    assert [by_period[m]["insured"] for m in ("2025-01", "2025-02", "2025-03")] == [False] * 3
    april = by_period["2025-04"]
    assert (april["insured_from"], april["rule_in_force"]) == ("2025-04-07", "S6")
    [change] = await payloads(bootstrap, prefix + CoverageChanges.TOPIC)
    assert (change["change"], change["effective_date"], change["rule"]) == (
        "started",
        "2025-04-07",
        "S6",
    )


async def test_rows_flow_on_through_pricing(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    coverage = await start_runtime(spec_of("coverage"))
    pricing = await start_runtime(spec_of("pricing"))
    upload = uuid.uuid4()
    await publish(bootstrap, prefix, [row(upload, "2025-03", 2), checked(upload, 1)])
    assert coverage.pool is not None and pricing.pool is not None
    await wait_for(
        pricing, "SELECT count(*) FROM price_lists WHERE completed_at IS NOT NULL", 1, "pricing"
    )
    [priced] = await payloads(bootstrap, prefix + RowsPriced.TOPIC)
    # The example row: 4895.25 for 160.5 h in March 2025, insured from the 3rd (S1).
    assert (priced["insured_wage"], priced["premium_total"]) == ("2953.20", "177.20")
    [listed] = await payloads(bootstrap, prefix + ListPriced.TOPIC)
    assert listed["totals"]["premium_total"] == "177.20"


async def test_a_declared_exit_ends_insurance_by_e2(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(spec_of("coverage"))
    entry = row(uuid.uuid4(), "2025-03", 2)  # S1 from 2025-03-03
    exit_ = row(
        uuid.uuid4(),
        "2025-04",
        2,
        mutation_code=2,
        entry_date=None,
        exit_date="2025-04-18",
        assignment_end="2025-04-18",
        hours="100.00",
        base_wage="3000.00",
    )
    await publish(bootstrap, prefix, [entry, exit_])
    await wait_for(runtime, ASSESSED, 2, "rows")
    by_period = {p["period"]: p for p in await payloads(bootstrap, prefix + RowsAssessed.TOPIC)}
    april = by_period["2025-04"]
    assert (april["insured_from"], april["insured_to"], april["insured_days"]) == (
        "2025-04-01",
        "2025-04-18",
        18,
    )
    # All of April's hours fall on assignment days up to the 18th: all of them are insured.
    assert Decimal(april["insured_hours"]) == Decimal("100.00")
    changes = sorted(
        (c["change"], c["effective_date"], c["rule"])
        for c in await payloads(bootstrap, prefix + CoverageChanges.TOPIC)
    )
    assert changes == [("ended", "2025-04-18", "E2"), ("started", "2025-03-03", "S1")]
    assert await payloads(bootstrap, prefix + CoverageFinding.TOPIC) == []


async def test_a_correction_in_a_later_list_is_judged_on_the_month_it_corrects(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """RULES §3: negative hours in the list of May correct April, the assignment's last month
    (insured until its exit on the 18th), although nothing of May is insured."""
    runtime = await start_runtime(spec_of("coverage"))
    ended = {
        "mutation_code": 2,
        "entry_date": None,
        "exit_date": "2025-04-18",
        "assignment_end": "2025-04-18",
    }
    entry = row(uuid.uuid4(), "2025-03", 2)  # S1 from 2025-03-03
    exit_ = row(uuid.uuid4(), "2025-04", 2, **ended, hours="100.00", base_wage="3000.00")
    correction = row(
        uuid.uuid4(),
        "2025-05",
        2,
        **ended,
        hours="-10.00",
        base_wage="-300.00",
        premium_total="-10.60",
        insured_wage="-179.00",
    )
    await publish(bootstrap, prefix, [entry, exit_, correction])
    await wait_for(runtime, ASSESSED, 3, "rows")
    by_period = {p["period"]: p for p in await payloads(bootstrap, prefix + RowsAssessed.TOPIC)}
    may = by_period["2025-05"]
    assert (may["insured"], may["insured_from"], may["insured_to"]) == (
        True,
        "2025-04-01",
        "2025-04-18",
    )
    assert Decimal(may["insured_hours"]) == Decimal("-10.00")
    changes = {c["rule"] for c in await payloads(bootstrap, prefix + CoverageChanges.TOPIC)}
    assert changes == {"S1", "E2"}  # the correction repeats the exit: nothing changes
    assert await payloads(bootstrap, prefix + CoverageFinding.TOPIC) == []


async def test_weekly_hours_of_sheet_einsaetze_decide_the_insured_hours(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """S5 from Wed 12 March: the insured hours follow the weeks' hours, not the working days."""
    runtime = await start_runtime(spec_of("coverage"))
    weeks = [("2025-02-24", "40"), ("2025-03-03", "40"), ("2025-03-10", "10"),
             ("2025-03-17", "40"), ("2025-03-24", "40"), ("2025-03-31", "8")]  # fmt: skip
    einsaetze = [
        {
            "start": "2025-02-03",
            "end": None,
            "expected_over_13_weeks": False,
            "extension_accepted_on": "2025-03-12",
            "weekly_hours": [{"week_of": m, "hours": h} for m, h in weeks],
        }
    ]
    listed = row(
        uuid.uuid4(),
        "2025-03",
        2,
        mutation_code=None,
        entry_date=None,
        assignment_start="2025-02-03",
        expected_over_13_weeks=False,
        extension_accepted_on="2025-03-12",
        hours="138.00",
        assignments=einsaetze,
    )
    await publish(bootstrap, prefix, [listed])
    await wait_for(runtime, ASSESSED, 1, "row")
    [assessed] = await payloads(bootstrap, prefix + RowsAssessed.TOPIC)
    assert (assessed["insured_from"], assessed["rule_in_force"]) == ("2025-03-12", "S5")
    # Week of 10 March: 10 h over 5 days, 3 of them insured; then 40 + 40 + 1.6 (31 March) of
    # 131.6 h listed in March, scaled to the row's 138 h: 91.86 (by working days: 92.00).
    assert assessed["insured_hours"] == "91.86"


async def test_a_worker_left_out_after_code_4_gets_the_follow_up_finding(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """Art. 5.2, the example: interruption from 25 June, code 4 in the July list; the August
    list does not name the worker at all (no work, no row). The exit was due in August: the
    finding comes from the August list's check, whichever of its rows and check comes first,
    once, and a faulty list judges nobody."""
    runtime = await start_runtime(spec_of("coverage"))
    ended = {"assignment_end": "2025-06-24"}
    months = [
        row(uuid.uuid4(), "2025-03", 2),  # entry, S1 from 3 March
        row(uuid.uuid4(), "2025-06", 2, mutation_code=None, entry_date=None, **ended),
        row(
            uuid.uuid4(),
            "2025-07",
            2,
            mutation_code=4,
            entry_date=None,
            hours="0.00",
            base_wage="0.00",
            insured_wage="0.0",
            premium_total="0.0",
            **ended,
        ),
    ]
    august = uuid.uuid4()
    luca = row(august, "2025-08", 2, ahv=LUCA, mutation_code=None, entry_date=None)

    def check(upload: uuid.UUID, rows: int, status: str = "ok") -> Envelope:
        event = checked(upload, rows, status)
        event = event.model_copy(update={"employer_no": 4711})
        payload = event.payload.model_copy(update={"period": "2025-08"})
        return event.model_copy(update={"payload": payload})

    faulty = uuid.uuid4()
    # The check of August comes before its row; a faulty list of August judges nobody.
    await publish(bootstrap, prefix, [*months, check(faulty, 0, "faulty"), check(august, 1)])
    await wait_for(runtime, ASSESSED, 3, "rows")

    def follow_ups(found: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [
            (f["ahv"], f["code"], f["period"])
            for f in found
            if f["code"] == "interruption.follow_up_missing"
        ]

    assert follow_ups(await payloads(bootstrap, prefix + CoverageFinding.TOPIC)) == []
    await publish(bootstrap, prefix, [luca, luca])  # the list's row, redelivered
    await wait_for(runtime, ASSESSED, 4, "rows")
    found = await payloads(bootstrap, prefix + CoverageFinding.TOPIC)
    assert follow_ups(found) == [(ANNA, "interruption.follow_up_missing", "2025-08")]
    assert await runtime.pool.fetchval(  # type: ignore[union-attr]
        "SELECT judged FROM checked_lists WHERE upload_id = $1", august
    )
