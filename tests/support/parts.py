"""Rows of a list in parts (`RowsEvent`), as a producer's outbox packs them: parts built from
row events to put on the broker, the rows read back out of parts, and the rows counted in an
outbox (tests and benchmarks)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from contracts.catalogue import PACKED
from contracts.envelope import Envelope, RowsEvent, part_of

#: The topics that carry parts of lists (`intake.row-validated.v2`, ...).
PART_TOPICS = frozenset(model.TOPIC for model in PACKED.values())


def pack(rows: Sequence[Envelope], *, event_id: uuid.UUID | None = None) -> RowsEvent:
    """The part made of `rows` (row events of one upload and part), as the producer's outbox
    writes it; its id is stable for the same rows (the first row's), unless `event_id`."""
    first = rows[0]
    return PACKED[type(first)].pack(event_id or uuid.uuid5(first.event_id, "part"), list(rows))


def in_parts(rows: Iterable[Envelope]) -> list[RowsEvent]:
    """Row events as the parts of their lists: grouped by employer, upload and part (up to
    100 rows each), in the order each part's first row comes."""
    groups: dict[tuple[int, uuid.UUID, int], list[Envelope]] = {}
    for row in rows:
        p = row.payload
        groups.setdefault((row.employer_no, p.upload_id, part_of(p.row_no)), []).append(row)
    return [pack(group) for group in groups.values()]


def as_sent(event: Envelope) -> Envelope:
    """What travels for `event`: a row event as a one-row part (a redelivered row event is
    the same part), any other event as it is."""
    return pack([event]) if type(event) in PACKED else event


def is_part_topic(topic: str) -> bool:
    """Whether `topic` (with or without a test's prefix) carries parts of lists."""
    return any(topic == name or topic.endswith("." + name) for name in PART_TOPICS)


def rows_of(values: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows' payloads of parts (their JSON values as dicts), part after part."""
    return [row for value in values for row in value["payload"]["rows"]]


def value_of(record_value: bytes | None) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record_value or b"")
    return value


def outbox_rows(topic: str, where: str = "") -> str:
    """SQL counting the rows inside the parts of `topic` in an outbox (its `value` is the
    event's JSON as bytea); `where`: more conditions, e.g. `published_at IS NOT NULL`."""
    assert topic in PART_TOPICS, topic
    extra = f" AND {where}" if where else ""
    return (
        "SELECT coalesce(sum(jsonb_array_length("
        "(convert_from(value, 'UTF8')::jsonb) -> 'payload' -> 'rows')), 0) "
        f"FROM outbox WHERE topic = '{topic}'{extra}"
    )
