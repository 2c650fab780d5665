"""Reading topics directly, to assert what really reached the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message on `topic` now, from the beginning."""
    reader: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        await reader.topics()  # loads the metadata
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await reader.getmany(*remaining, timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                found.extend(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await reader.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, what: str = "condition"
) -> None:
    """Wait until `check()` holds; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
