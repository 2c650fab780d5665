"""The pricing service on the real broker and database: rows in, priced rows and totals out,
exactly once under redelivery, whichever of a list's check and its rows comes first.

Rows travel in parts of their list (`coverage.row-assessed.v2` in, `pricing.row-priced.v2`
out); `publish` and `payloads` speak rows where a test does (`tests/support/parts.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope
from contracts.events.auth import EmployerChanged
from contracts.events.coverage import RowAssessed, RowAssessedPayload, RowsAssessed
from contracts.events.intake import ListChecked
from contracts.events.pricing import ListPriced, PricingFeeCharged, RowsPriced
from services.auth.demo import DEMO_EMPLOYER
from services.registry import spec_of
from services.runtime.service import Runtime
from tests.conftest import StartRuntime
from tests.support.events import list_checked
from tests.support.kafka import eventually, read_topic
from tests.support.parts import as_sent, is_part_topic, pack, rows_of, value_of

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
EMPLOYER = 4711
AHVS = ["756.1234.5678.97", "756.9217.0769.85", "756.3047.5009.62"]


def assessed(upload: uuid.UUID, row_no: int, ahv: str, **changes: Any) -> RowAssessed:
    values: dict[str, Any] = {
        "upload_id": upload,
        "period": "2025-03",
        "row_no": row_no,
        "ahv": ahv,
        "insured": True,
        "insured_from": date(2025, 3, 1),
        "insured_to": date(2025, 3, 31),
        "insured_days": 31,
        "insured_hours": Decimal("160.5"),
        "rule_in_force": "S1",
        "birth_date": date(1985, 1, 13),
        "sex": "F",
        "hours": Decimal("160.5"),
        "base_wage": Decimal("4895.25"),
        "invalidity_degree": 0,
        "declared_insured_wage": Decimal("2953.20"),
        "declared_premium": Decimal("177.20"),
        **changes,
    }
    return RowAssessed.new(
        occurred_at=NOW,
        employer_no=EMPLOYER,
        correlation_id=str(upload),
        payload=RowAssessedPayload(**values),
    )


def checked(upload: uuid.UUID, row_count: int, status: str = "ok") -> ListChecked:
    return list_checked(upload, employer_no=EMPLOYER, row_count=row_count, status=status)


async def publish(bootstrap: str, prefix: str, events: Sequence[Envelope], **headers: str) -> None:
    """Put events on the broker as their producing service would (`headers`: e.g. trace).

    A row event (e.g. `RowAssessed`) goes as a one-row part of its list, with an id derived
    from the row event's (the same row event again is the same part); a test that wants
    several rows in one part passes the part (`tests.support.parts.pack`).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for event in map(as_sent, events):
            await producer.send_and_wait(
                prefix + event.TOPIC,
                event.model_dump_json().encode(),
                key=event.partition_key().encode(),
                headers=[(k, v.encode()) for k, v in headers.items()] or None,
            )
    finally:
        await producer.stop()


async def payloads(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The payloads on `topic`; on a topic of parts of lists, their rows' payloads, part
    after part (in list order within a part)."""
    values = [value_of(r.value) for r in await read_topic(bootstrap, topic)]
    if is_part_topic(topic):
        return rows_of(values)
    return [value["payload"] for value in values]


async def parts(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The payloads of the parts on `topic` (`upload_id`, `period`, `part_no`, `rows`)."""
    assert is_part_topic(topic), topic
    return [value_of(r.value)["payload"] for r in await read_topic(bootstrap, topic)]


async def wait_list_priced(runtime: Runtime, upload: uuid.UUID) -> None:
    assert runtime.pool is not None
    pool = runtime.pool

    async def done() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT completed_at IS NOT NULL FROM price_lists WHERE upload_id = $1", upload
            )
        )

    await eventually(done, timeout=30, what="the list to be priced")
    await wait_outbox_drained(runtime)


async def wait_handled(runtime: Runtime, topic: str, n: int) -> None:
    """Until the service's inbox holds `n` events of `topic` (duplicates are not kept)."""
    assert runtime.pool is not None
    pool = runtime.pool

    async def handled() -> bool:
        found = await pool.fetchval("SELECT count(*) FROM inbox WHERE topic = $1", topic)
        return int(found) >= n

    await eventually(handled, timeout=30, what=f"{n} events of {topic} handled")


async def wait_outbox_drained(runtime: Runtime) -> None:
    """Until the relay published everything the service wrote (then read the topics)."""
    assert runtime.pool is not None
    pool = runtime.pool

    async def drained() -> bool:
        pending = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(pending) == 0

    await eventually(drained, timeout=30, what="the outbox to be published")


@pytest.mark.parametrize("check_first", [True, False], ids=["check-first", "rows-first"])
async def test_a_list_is_priced_once_with_its_totals_and_correction_fee(
    start_runtime: StartRuntime, bootstrap: str, prefix: str, check_first: bool
) -> None:
    runtime = await start_runtime(spec_of("pricing"))
    assert runtime.pool is not None
    await runtime.pool.execute(
        "INSERT INTO employers (employer_no, name, address, canton, language, enabled_topics, "
        "status, affiliated_from, employer_share, changed_at) VALUES "
        "($1, 'T', '{}', 'ZH', 'de', '{}', 'affiliated', '2025-01-01', 0.6, now())",
        EMPLOYER,
    )
    upload = uuid.uuid4()
    normal = assessed(upload, 2, AHVS[0])
    below = assessed(
        upload,
        3,
        AHVS[1],
        base_wage=Decimal("1000"),
        hours=Decimal("100"),
        insured_hours=Decimal("100"),
        declared_insured_wage=Decimal("0"),
        declared_premium=Decimal("0"),
    )
    misdeclared = assessed(upload, 4, AHVS[2], declared_premium=Decimal("178.30"))
    part = pack([normal, below, misdeclared])
    replayed = part.model_copy(update={"event_id": uuid.uuid4()})  # the same rows, a new event
    rows: list[Envelope] = [part, part, replayed]  # the part redelivered, then replayed
    events = [checked(upload, 3), *rows] if check_first else [*rows, checked(upload, 3)]
    await publish(bootstrap, prefix, events)
    await wait_list_priced(runtime, upload)
    await wait_handled(runtime, RowsAssessed.TOPIC, 2)  # the part and its replay
    await wait_outbox_drained(runtime)

    priced = {p["row_no"]: p for p in await payloads(bootstrap, prefix + RowsPriced.TOPIC)}
    assert sorted(priced) == [2, 3, 4]
    # one part out, each row once: the replay derived the same part, which the outbox dropped
    [out] = await parts(bootstrap, prefix + RowsPriced.TOPIC)
    assert (out["part_no"], [r["row_no"] for r in out["rows"]]) == (1, [2, 3, 4])
    row = priced[2]
    # RULES §2-§4 for 2025: 30.50/h → capped, coordinated: 18.40; times 160.5 h; 6 % at BVG age 40.
    assert (row["hourly_base_wage"], row["insured_hourly_wage"]) == ("30.50", "18.40")
    assert (row["insured_wage"], row["premium_total"]) == ("2953.20", "177.20")
    assert (row["employer_share"], row["employee_share"]) == ("106.30", "70.90")  # plan 0.6
    assert row["findings"] == []
    assert priced[3]["subject"] is False and priced[3]["premium_total"] == "0.00"
    assert [f["code"] for f in priced[4]["findings"]] == ["declared.premium"]

    [totals] = await payloads(bootstrap, prefix + ListPriced.TOPIC)
    assert totals["row_count"] == 3
    assert totals["totals"] == {
        "insured_wage": "5906.40",
        "premium_total": "354.40",
        "employer_share": "212.60",
        "employee_share": "141.80",
    }
    [fee] = await payloads(bootstrap, prefix + PricingFeeCharged.TOPIC)
    assert (fee["amount"], fee["row_count"], fee["article"]) == ("10.00", 1, "Art. 24")
    assert totals["correction_fee_id"] == fee["fee_id"]  # billing invoices the two together


async def test_a_faulty_list_is_never_priced(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(spec_of("pricing"))
    assert runtime.pool is not None
    upload = uuid.uuid4()
    await publish(bootstrap, prefix, [checked(upload, 2, status="faulty")])

    async def recorded() -> bool:
        assert runtime.pool is not None
        return bool(await runtime.pool.fetchval("SELECT count(*) FROM price_lists"))

    await eventually(recorded, what="the faulty list to be recorded")
    assert await read_topic(bootstrap, prefix + ListPriced.TOPIC) == []


async def test_the_plan_split_comes_from_the_employer_projection(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    runtime = await start_runtime(spec_of("pricing"))
    assert runtime.pool is not None
    changed = EmployerChanged.new(
        occurred_at=NOW,
        employer_no=EMPLOYER,
        correlation_id="employer",
        payload=DEMO_EMPLOYER.model_copy(update={"employer_share": Decimal("0.75")}),
    )
    await publish(bootstrap, prefix, [changed])

    async def projected() -> bool:
        assert runtime.pool is not None
        share = await runtime.pool.fetchval(
            "SELECT employer_share FROM employers WHERE employer_no = $1", EMPLOYER
        )
        return bool(share == Decimal("0.75"))

    await eventually(projected, what="the employer's plan split")
    upload = uuid.uuid4()
    await publish(bootstrap, prefix, [assessed(upload, 2, AHVS[0]), checked(upload, 1)])
    await wait_list_priced(runtime, upload)
    [row] = await payloads(bootstrap, prefix + RowsPriced.TOPIC)
    assert (row["employer_share"], row["employee_share"]) == ("132.90", "44.30")
