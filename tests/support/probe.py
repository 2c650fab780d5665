"""A probe service for tests and benchmarks: its handler writes one row per event."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.values import Payload
from services.runtime.consumer import Subscription
from services.runtime.outbox import UnitOfWork
from services.runtime.service import ServiceSpec

PROBE_SQL = """
CREATE TABLE effects (
    seq       bigserial,
    event_id  uuid PRIMARY KEY,
    n         integer NOT NULL,
    instance  text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE attempts (event_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE repaired (event_id uuid PRIMARY KEY);
"""


class PingPayload(Payload):
    n: int = Field(description="Sequence number.")
    poison: bool = Field(default=False, description="Fail until repaired.")
    sent_ns: int = Field(default=0, description="perf_counter_ns at send, for latency.")


class Ping(Envelope):
    """A probe event."""

    TOPIC: ClassVar[str] = "probe.ping.v1"
    type: Annotated[Literal["probe.ping"], TYPE_FIELD] = "probe.ping"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[PingPayload, PAYLOAD_FIELD]


class PoisonError(Exception):
    """The probe refuses a poison event until it is repaired."""


def probe_spec(
    instance: str = "a", *, name: str = "probe", parallel_by_key: int = 1
) -> ServiceSpec:
    folder = Path(tempfile.mkdtemp(prefix="probe-migrations-"))
    (folder / "0001_probe.sql").write_text(PROBE_SQL)

    async def handle(uow: UnitOfWork, event: Envelope) -> None:
        assert isinstance(event, Ping)
        if event.payload.poison:
            await uow.conn.execute("INSERT INTO attempts (event_id) VALUES ($1)", event.event_id)
            repaired = await uow.conn.fetchval(
                "SELECT 1 FROM repaired WHERE event_id = $1", event.event_id
            )
            if not repaired:
                raise PoisonError("the probe refuses this event")
        uow.defer(
            "INSERT INTO effects (event_id, n, instance) VALUES ($1, $2, $3)",
            event.event_id,
            event.payload.n,
            instance,
        )

    return ServiceSpec(
        name=name,
        migrations=folder,
        subscriptions=(Subscription(Ping, handle, parallel_by_key=parallel_by_key),),
        produces=(Ping,),
    )
