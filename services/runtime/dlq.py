"""Operator view of the dead-letter topics: list, and replay once.

Replay publishes a message to its original topic again and records its DLQ id on the topic
`bvgconnect.dlq-replayed`, so a message is replayed once; consumers deduplicate by event id
should it have been handled already.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

REPLAYED_TOPIC = "bvgconnect.dlq-replayed"


@dataclass(frozen=True)
class DlqEntry:
    dlq_id: str
    dlq_topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int
    original_offset: int
    attempts: int
    error: str
    error_type: str
    consumer: str
    failed_at: str
    replayed: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _dlq_topics(
    bootstrap: str, prefix: str, topic: str | None, *, suffix: str = ".dlq"
) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    wanted = f"{prefix}{topic}.dlq" if topic else None
    return sorted(
        n
        for n in names
        if n.startswith(prefix) and n.endswith(suffix) and (wanted is None or wanted == n)
    )


async def _read_topics(
    bootstrap: str, topics: list[str]
) -> list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]]:
    """Every message of `topics`, from the beginning, without joining a group."""
    if not topics:
        return []
    reader: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    found: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes]]] = []
    try:
        await reader.topics()  # loads the metadata
        partitions = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(reader.partitions_for_topic(t) or ())
        ]
        if not partitions:
            return []
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await reader.getmany(*remaining, timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    found.append((tp, record))
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await reader.stop()
    return found


Found = tuple[DlqEntry, bytes | None, bytes | None, list[tuple[str, bytes]]]


async def _read(bootstrap: str, prefix: str, topic: str | None) -> list[Found]:
    """Every DLQ message (oldest first per partition) with its replay state."""
    topics = await _dlq_topics(bootstrap, prefix, topic)
    if not topics:
        return []
    all_topics = await _dlq_topics(bootstrap, prefix, None, suffix="")
    markers = f"{prefix}{REPLAYED_TOPIC}"
    replayed = {
        (record.value or b"").decode()
        for _, record in await _read_topics(bootstrap, [markers] if markers in all_topics else [])
    }
    found: list[Found] = []
    for tp, record in await _read_topics(bootstrap, topics):
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        dlq_id = headers.get("x-dlq-id", f"{tp.topic}:{tp.partition}:{record.offset}")
        entry = DlqEntry(
            dlq_id=dlq_id,
            dlq_topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            original_topic=headers.get("x-original-topic", ""),
            original_partition=int(headers.get("x-original-partition", "-1")),
            original_offset=int(headers.get("x-original-offset", "-1")),
            attempts=int(headers.get("x-attempts", "0")),
            error=headers.get("x-error", ""),
            error_type=headers.get("x-error-type", ""),
            consumer=headers.get("x-consumer", ""),
            failed_at=headers.get("x-failed-at", ""),
            replayed=dlq_id in replayed,
        )
        original_headers = [(k, v) for k, v in record.headers if not k.startswith("x-")]
        found.append((entry, record.key, record.value, original_headers))
    found.sort(key=lambda item: (item[0].dlq_topic, item[0].partition, item[0].offset))
    return found


async def list_entries(bootstrap: str, prefix: str, *, topic: str | None = None) -> list[DlqEntry]:
    return [entry for entry, *_ in await _read(bootstrap, prefix, topic)]


async def replay(
    bootstrap: str, prefix: str, *, topic: str | None = None, dlq_id: str | None = None
) -> list[DlqEntry]:
    """Publish waiting DLQ messages to their original topic, each once; returns them."""
    found = await _read(bootstrap, prefix, topic)
    chosen = [
        item
        for item in found
        if not item[0].replayed and (dlq_id is None or item[0].dlq_id == dlq_id)
    ]
    if not chosen:
        return []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        done: list[DlqEntry] = []
        for entry, key, value, headers in chosen:
            await producer.send_and_wait(
                f"{prefix}{entry.original_topic}", value=value, key=key, headers=headers
            )
            await producer.send_and_wait(
                f"{prefix}{REPLAYED_TOPIC}", value=entry.dlq_id.encode(), key=entry.dlq_id.encode()
            )
            done.append(replace(entry, replayed=True))
        return done
    finally:
        await producer.stop()
