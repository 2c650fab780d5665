"""The outbox's own fast paths give what the libraries they replace give."""

from __future__ import annotations

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.runtime.outbox import _DERIVED, KeyPartitioner, derived_event_id, murmur2


def test_murmur2_and_partitions_match_aiokafka() -> None:
    rnd = random.Random(7)
    keys = [rnd.randbytes(rnd.randrange(0, 300)) for _ in range(3000)]
    keys += [
        f"{4000 + i % 50}:756.{i:04d}.{i * 7 % 10000:04d}.{i % 100:02d}".encode()
        for i in range(500)
    ]
    partitioner = KeyPartitioner(remember=100)
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key)
        for count in (1, 3, 6, 7):
            partitions = list(range(count))
            expected = DefaultPartitioner()(key, partitions, partitions)
            assert partitioner.index(key, count) == expected
            assert partitioner.index(key, count) == expected  # remembered


def test_derived_event_id_is_uuid5_of_what_the_event_is_about() -> None:
    rnd = random.Random(11)
    for _ in range(5000):
        parts = (
            rnd.randbytes(rnd.randrange(0, 60)).hex(),
            rnd.randrange(-(10**12), 10**12),
            uuid.UUID(int=rnd.getrandbits(128)),
            "é☃ Zürich",
        )[: rnd.randrange(0, 5)]
        name = ":".join(["coverage", "row-assessed", *map(str, parts)])
        assert derived_event_id("coverage", "row-assessed", *parts) == uuid.uuid5(_DERIVED, name)


class _RecordingConnection:
    """The two calls `UnitOfWork.flush` makes, recorded (a hand-written fake)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[object, ...]]]] = []

    async def executemany(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        self.calls.append((sql, rows))

    async def execute(self, sql: str, *args: object) -> None:
        self.calls.append((sql, [args]))


async def test_writes_deferred_by_an_after_writes_step_still_run() -> None:
    from typing import Any, cast

    from services.runtime.outbox import UnitOfWork

    conn = _RecordingConnection()
    uow = UnitOfWork(cast(Any, conn), "test")
    uow.defer("INSERT first", 1)
    steps: list[str] = []

    async def step() -> None:
        steps.append("step")
        uow.defer("INSERT later", 2)
        uow.after_writes("again", step)  # the same key twice in one flush runs once

    uow.after_writes("again", step)
    await uow.flush()
    assert [sql for sql, _ in conn.calls] == ["INSERT first", "INSERT later"]
    assert steps == ["step"]
