"""What the simulation talks to: the running suite's HTTP APIs, its broker and its database.

Lists go in as an employer does (portal upload, or the connector topic), payments as the bank
does (a camt.054 file to billing), time as the scheduler does (`clock.day-started`). The
database is read only to wait until the suite is idle and to check the invariants at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from contracts.envelope import Envelope
from contracts.events.clock import DayStarted, DayStartedPayload
from contracts.events.intake import ListSubmitted, ListSubmittedPayload
from services.runtime.settings import SERVICE_NAMES

#: How long an act is retried while its service is away.
RETRY_FOR_S = 120.0
#: Rows per connector part (the contract allows 5,000; a part is one Kafka message).
PART_ROWS = 2000


#: Outbox rows of every service not yet published.
UNPUBLISHED = "SELECT " + " + ".join(
    f"(SELECT count(*) FROM {name}.outbox WHERE published_at IS NULL)" for name in SERVICE_NAMES
)


class SuiteError(Exception):
    """The suite refused something the simulation expects it to take."""


@dataclass(frozen=True)
class Endpoints:
    dsn: str
    bootstrap: str
    topic_prefix: str
    http: dict[str, str]
    key_folder: Path
    qr_iban: str
    #: The embedded suite's data folder (its `suite.json`), for `--chaos`.
    data_dir: Path | None = None


class Harness:
    def __init__(self, endpoints: Endpoints) -> None:
        self.e = endpoints
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self._watchers: dict[str, AIOKafkaConsumer] = {}
        self._caught_up: dict[tuple[str, TopicPartition], int] = {}
        self.http = httpx.AsyncClient(timeout=60)
        self.group_topics: dict[str, list[str]] = {}
        self._operator = ""
        self._tokens: dict[int, str] = {}
        self.quiet_seconds = 0.0
        self.retries = 0

    async def __aenter__(self) -> Harness:
        from services.registry import spec_of

        self.pool = await asyncpg.create_pool(self.e.dsn, min_size=1, max_size=4)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.e.bootstrap, enable_idempotence=False, acks="all"
        )
        await self.producer.start()
        for name in SERVICE_NAMES:
            topics = [self.e.topic_prefix + s.topic for s in spec_of(name).subscriptions]
            self.group_topics[f"{self.e.topic_prefix}bvgconnect.{name}"] = topics
        self._operator = self.token(kind="operator", employer_no=None, level=3)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        if self.producer is not None:
            await self.producer.stop()
        for consumer in self._watchers.values():
            await consumer.stop()
        if self.pool is not None:
            await self.pool.close()

    # -- tokens (the local suite's development key, as `bvgconnect token`) ----------------
    def token(self, *, kind: str, employer_no: int | None, level: int) -> str:
        from services.auth.tokens import MAX_LIFETIME_S, SigningKey

        key = SigningKey.load_or_create(self.e.key_folder)
        return key.issue(
            now=datetime.now(UTC),
            user_id=uuid.uuid4(),
            kind=kind,
            employer_no=employer_no,
            topics=["mutations", "contributions", "reminders", "messages"],
            level=level,
            lifetime_s=MAX_LIFETIME_S,
        )

    def employer_token(self, employer_no: int) -> str:
        if employer_no not in self._tokens:
            self._tokens[employer_no] = self.token(kind="connect", employer_no=employer_no, level=2)
        return self._tokens[employer_no]

    def refresh_tokens(self) -> None:
        """Tokens live 15 minutes; a long run signs in again."""
        self._tokens.clear()
        self._operator = self.token(kind="operator", employer_no=None, level=3)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The request, again while the service is away (restarting after a crash): a
        connection refused or cut, or 502-504. What a portal user or the bank's import
        would do; every act here is idempotent (same bytes, same booking ids)."""
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            try:
                answer = await self.http.request(method, url, **kwargs)
                if answer.status_code not in (502, 503, 504):
                    return answer
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SuiteError(f"{url} did not answer within {RETRY_FOR_S:.0f} s")
            self.retries += 1
            await asyncio.sleep(0.5)

    # -- acts ------------------------------------------------------------------------------
    async def affiliate(self, employer_no: int, body: dict[str, Any]) -> None:
        answer = await self._request(
            "PUT",
            f"{self.e.http['auth']}/employers/{employer_no}",
            json=body,
            headers={"Authorization": f"Bearer {self._operator}"},
        )
        if answer.status_code != 200:
            raise SuiteError(f"auth refused employer {employer_no}: {answer.status_code}")

    async def upload(self, employer_no: int, period: str, rows: list[dict[str, Any]]) -> str:
        """The list over the portal's API; returns the upload id."""
        answer = await self._request(
            "POST",
            f"{self.e.http['intake']}/employers/{employer_no}/lists/{period}",
            content=json.dumps({"rows": rows}).encode(),
            headers={
                "Authorization": f"Bearer {self.employer_token(employer_no)}",
                "Content-Type": "application/json",
            },
        )
        if answer.status_code not in (200, 202):
            raise SuiteError(
                f"intake refused the list {period} of {employer_no}: {answer.status_code} "
                f"{answer.text[:200]}"
            )
        return str(answer.json()["upload_id"])

    async def submit(self, employer_no: int, period: str, rows: list[dict[str, Any]]) -> None:
        """A payroll connector's submission in parts on `intake.list-submitted.v1`."""
        assert self.producer is not None
        submission = f"sim-{employer_no}-{period}-{uuid.uuid4().hex[:8]}"
        parts = [rows[i : i + PART_ROWS] for i in range(0, len(rows), PART_ROWS)] or [[]]
        for n, part in enumerate(parts, 1):
            event = ListSubmitted.new(
                occurred_at=datetime.now(UTC),
                employer_no=employer_no,
                correlation_id=submission,
                payload=ListSubmittedPayload.model_validate(
                    {
                        "submission_id": submission,
                        "period": period,
                        "part_no": n,
                        "part_count": len(parts),
                        "rows": part,
                        "language": "de",
                    }
                ),
            )
            await self._send(event)

    async def tick(self, day: date) -> None:
        event = DayStarted.new(
            occurred_at=datetime.now(UTC),
            employer_no=0,
            correlation_id=f"clock:{day.isoformat()}",
            payload=DayStartedPayload(business_date=day),
        )
        await self._send(event)

    async def _send(self, event: Envelope) -> None:
        assert self.producer is not None
        await self.producer.send_and_wait(
            self.e.topic_prefix + event.TOPIC,
            event.model_dump_json().encode(),
            key=event.partition_key().encode(),
        )

    async def pay(self, camt: bytes) -> dict[str, Any]:
        answer = await self._request(
            "POST",
            f"{self.e.http['billing']}/payments/camt054",
            content=camt,
            headers={
                "Authorization": f"Bearer {self._operator}",
                "Content-Type": "application/xml",
            },
        )
        if answer.status_code not in (200, 201, 202):
            raise SuiteError(f"billing refused a camt.054 file: {answer.status_code} {answer.text}")
        result: dict[str, Any] = answer.json()
        return result

    # -- waiting -------------------------------------------------------------------------
    async def ready(self, timeout_s: float = 120.0) -> None:
        """Until every service answers `/readyz` (after a restart)."""
        deadline = time.monotonic() + timeout_s
        for name, root in self.e.http.items():
            while True:
                try:
                    if (await self.http.get(f"{root}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SuiteError(f"{name} is not ready after {timeout_s:.0f} s")
                await asyncio.sleep(0.3)

    async def quiet(self, timeout_s: float = 300.0) -> None:
        """Until nothing is in flight: every outbox published, every upload checked, every
        consumer group's offsets at the end of its topics; twice in a row."""
        started = time.monotonic()
        calm = 0
        while calm < 2:
            if await self._idle():
                calm += 1
            else:
                calm = 0
                await asyncio.sleep(0.05)
            if time.monotonic() - started > timeout_s:
                raise SuiteError(f"the suite did not become idle within {timeout_s:.0f} s")
        self.quiet_seconds += time.monotonic() - started

    async def _idle(self) -> bool:
        assert self.pool is not None
        pending = await self.pool.fetchval(
            UNPUBLISHED + " + (SELECT count(*) FROM intake.uploads WHERE state = 'received')"
        )
        if pending:
            return False
        return await self._consumers_caught_up()

    async def _consumers_caught_up(self) -> bool:
        for group, topics in self.group_topics.items():
            try:
                lag = await self.lag(group, topics)
            except KafkaError:  # e.g. the group's coordinator busy with a rebalance
                return False
            if lag:
                return False
        return True

    async def lag(self, group: str, topics: Iterable[str]) -> int:
        """Messages of `topics` the group has not committed yet (a partition whose end the
        group was seen at before is not asked again until the end moves)."""
        consumer = self._watchers.get(group)
        if consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.e.bootstrap, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            self._watchers[group] = consumer
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        if not partitions:
            return 0
        ends = await consumer.end_offsets(partitions)
        total = 0
        for tp in partitions:
            end = ends[tp]
            if end == 0 or self._caught_up.get((group, tp)) == end:
                continue
            committed = await consumer.committed(tp) or 0
            if committed >= end:
                self._caught_up[(group, tp)] = end
            total += max(0, end - committed)
        return total
