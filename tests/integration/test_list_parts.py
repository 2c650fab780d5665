"""Rows travel in parts of their list, on the real broker and database: up to 100 rows a
part, in list order, from service to service; a part redelivered or replayed changes
nothing; a part that cannot be decoded goes to the DLQ whole, and the parts after it flow.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from contracts.events.coverage import CoverageChanges, RowsAssessed
from contracts.events.intake import RowsValidated
from contracts.events.pricing import RowsPriced
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.consumer import dlq_topic
from services.runtime.service import create_app
from tests.conftest import StartRuntime
from tests.integration.test_coverage_service import LUCA, row, wait_for
from tests.integration.test_observability import NOW, XLSX, count, start_services
from tests.integration.test_pricing_service import parts, publish, wait_outbox_drained
from tests.support.kafka import eventually, read_topic
from tests.support.parts import outbox_rows, pack
from tests.support.tokens import TokenMint
from tests.support.xlsx import EMPLOYER_NO, ahv_number, build_list, sample_row

#: The employer of the rows the coverage tests build (`test_coverage_service.row`).
EMPLOYER = 4711
ASSESSED = outbox_rows(RowsAssessed.TOPIC)


def layout(found: list[dict[str, Any]]) -> list[tuple[int, list[int]]]:
    """Each part's number and its rows' numbers, in the order the parts are on the topic."""
    return [(p["part_no"], [r["row_no"] for r in p["rows"]]) for p in found]


def rows_of_list(upload: uuid.UUID, n: int) -> list[Any]:
    """`n` rows (2 to n+1) of a March list, each a worker's entry (S1)."""
    return [row(upload, "2025-03", 2 + i, ahv=ahv_number(1000 + i)) for i in range(n)]


async def test_a_list_of_250_rows_travels_in_three_parts_from_service_to_service(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path, bootstrap: str
) -> None:
    """Uploaded over HTTP: intake publishes parts 1, 2, 3 of 100, 100 and 50 rows, each row
    once, in list order, keyed by employer; coverage answers each part with a part of the
    same rows, so does pricing; dunning parks each part of coverage's changes as one event."""
    mint = TokenMint(clock=FixedClock(NOW))
    runtimes = await start_services(
        start_runtime, prefix, tmp_path, ("intake", "coverage", "pricing", "dunning"), mint=mint
    )
    intake, pricing, dunning = runtimes["intake"], runtimes["pricing"], runtimes["dunning"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(intake)), base_url="http://intake"
    ) as client:
        answer = await client.post(
            f"/employers/{EMPLOYER_NO}/lists/2025-03",
            content=build_list([sample_row(i) for i in range(250)]),
            headers={
                "Content-Type": XLSX,
                "Authorization": f"Bearer {mint.mint(employer_no=EMPLOYER_NO)}",
            },
        )
    assert answer.status_code == 202, answer.text
    upload_id = answer.json()["upload_id"]

    async def priced() -> bool:
        return bool(
            await count(pricing, "SELECT count(*) FROM price_lists WHERE completed_at IS NOT NULL")
        )

    await eventually(priced, timeout=90, what="the list to be priced")
    for runtime in runtimes.values():
        await wait_outbox_drained(runtime)

    expected = [(1, list(range(2, 102))), (2, list(range(102, 202))), (3, list(range(202, 252)))]
    for topic in (RowsValidated.TOPIC, RowsAssessed.TOPIC, RowsPriced.TOPIC):
        records = await read_topic(bootstrap, prefix + topic)
        assert {r.key for r in records} == {str(EMPLOYER_NO).encode()}, topic
        found = [json.loads(r.value or b"")["payload"] for r in records]
        assert layout(found) == expected, topic
        assert {p["upload_id"] for p in found} == {upload_id}, topic

    # each part of coverage's changes (the rows' starts) is parked whole, once
    changed = await parts(bootstrap, prefix + CoverageChanges.TOPIC)
    assert [p["part_no"] for p in changed] == [1, 2, 3]  # every worker is new: a start
    for part_no, row_nos in layout(changed):
        assert set(row_nos) <= set(expected[part_no - 1][1]), part_no

    of_changes = "SELECT count(*) FROM parked_events WHERE topic = $1"

    async def parked() -> bool:
        return await count(dunning, of_changes, CoverageChanges.TOPIC) >= len(changed)

    await eventually(parked, timeout=30, what="the parked changes")
    assert dunning.pool is not None
    kept = await dunning.pool.fetch(
        "SELECT body::text AS body FROM parked_events WHERE topic = $1", CoverageChanges.TOPIC
    )
    bodies = [json.loads(r["body"])["payload"] for r in kept]
    assert sorted(layout(bodies)) == sorted(layout(changed))  # each part whole
    assert len(kept) == len(changed)


async def test_a_part_delivered_twice_or_replayed_is_answered_by_one_part(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """The same part twice: handled once (the inbox keeps its id). The same part again
    with a new id (a replay): handled, but its answer is the same part, with the same id,
    which the outbox drops: one part out, each row once."""
    coverage = await start_runtime(spec_of("coverage"))
    upload = uuid.uuid4()
    part = pack(rows_of_list(upload, 100))
    await publish(bootstrap, prefix, [part, part])
    await wait_for(coverage, ASSESSED, 100, "the part's rows")
    assert await count(coverage, "SELECT count(*) FROM inbox") == 1

    replay = part.model_copy(update={"event_id": uuid.uuid4()})
    await publish(bootstrap, prefix, [replay])
    await wait_for(coverage, "SELECT count(*) FROM inbox", 2, "the replay to be handled")

    [out] = await parts(bootstrap, prefix + RowsAssessed.TOPIC)
    assert layout([out]) == [(1, list(range(2, 102)))]
    for topic in (RowsAssessed.TOPIC, CoverageChanges.TOPIC):
        in_outbox = "SELECT count(*) FROM outbox WHERE topic = $1"
        assert await count(coverage, in_outbox, topic) == 1, topic
    assert await count(coverage, ASSESSED) == 100
    [changes] = await parts(bootstrap, prefix + CoverageChanges.TOPIC)
    assert sorted(r["row_no"] for r in changes["rows"]) == list(range(2, 102))  # each a start


async def test_a_part_that_cannot_be_decoded_goes_to_the_dlq_whole_and_the_next_flow(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """Bad JSON, and a part with a row of another upload: each to `<topic>.dlq` as it came
    (all its rows), none of their rows assessed; the parts before and after them are."""
    coverage = await start_runtime(spec_of("coverage"))
    before, foreign, after = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = pack(rows_of_list(before, 3))
    last = pack(rows_of_list(after, 2))
    mixed = json.loads(pack(rows_of_list(foreign, 3)).model_dump_json())
    mixed["payload"]["rows"][1]["upload_id"] = str(uuid.uuid4())  # a row of another upload
    broken = b'{"event_id": "' + str(uuid.uuid4()).encode() + b'", "type": "intake.row-'
    values = [
        first.model_dump_json().encode(),
        broken,
        json.dumps(mixed).encode(),
        last.model_dump_json().encode(),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:  # one key: one partition, in this order
            await producer.send_and_wait(
                prefix + RowsValidated.TOPIC, value, key=str(EMPLOYER).encode()
            )
    finally:
        await producer.stop()

    await wait_for(coverage, ASSESSED, 5, "the good parts' rows")
    dlq = prefix + dlq_topic(RowsValidated.TOPIC)

    async def dead() -> bool:
        return len(await read_topic(bootstrap, dlq)) >= 2

    await eventually(dead, timeout=30, what="the bad parts in the DLQ")
    records = await read_topic(bootstrap, dlq)
    assert [r.value for r in records] == [values[1], values[2]]  # whole, as they came
    for record in records:
        headers = {k: v.decode() for k, v in record.headers or ()}
        assert headers["x-original-topic"] == RowsValidated.TOPIC
        assert headers["x-error-type"] == "UndecodableEvent"
        assert headers["x-attempts"] == "1"  # not retried: retrying cannot help
    assessed = await parts(bootstrap, prefix + RowsAssessed.TOPIC)
    assert [(p["upload_id"], p["part_no"], len(p["rows"])) for p in assessed] == [
        (str(before), 1, 3),
        (str(after), 1, 2),
    ]
    assert await count(coverage, "SELECT count(*) FROM inbox") == 2  # the two good parts


async def test_rows_of_one_part_in_two_transactions_are_dead_lettered_not_dropped(
    start_runtime: StartRuntime, bootstrap: str, prefix: str
) -> None:
    """A part's id is derived from its list and number: rows of one part published in a later
    transaction would find the id taken and vanish. No producer does that (a list's part is
    published whole); were one to, the second transaction fails and its cause goes to the
    DLQ, loudly. The same part again (a redelivery) is still nothing new."""
    runtime = await start_runtime(spec_of("coverage"))
    upload = uuid.uuid4()
    first, second = row(upload, "2025-03", 2), row(upload, "2025-03", 3, ahv=LUCA)
    await publish(bootstrap, prefix, [first])  # rows 2 and 3 of part 1, in two events
    await wait_for(runtime, ASSESSED, 1, "row 2")
    await publish(bootstrap, prefix, [second, first])
    dlq = prefix + dlq_topic(RowsValidated.TOPIC)

    async def dead_lettered() -> bool:
        return len(await read_topic(bootstrap, dlq)) >= 1

    await eventually(dead_lettered, timeout=30, what="the split part in the DLQ")
    [record] = await read_topic(bootstrap, dlq)
    headers = {k: v.decode() for k, v in record.headers or ()}
    assert headers["x-error-type"] == "PartSplitError"
    assert "must be published in one transaction" in headers["x-error"]
    await wait_outbox_drained(runtime)
    [part] = await parts(bootstrap, prefix + RowsAssessed.TOPIC)
    assert layout([part]) == [(1, [2])]  # row 2 once; row 3 is in the DLQ, not lost
