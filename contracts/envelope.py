"""The envelope every event travels in (ARCHITECTURE: Contracts)."""

from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.values import Payload, Period

# Subclasses narrow `type`, `version` and `payload`; annotating the narrowed field with these
# keeps its description, e.g. `type: Annotated[Literal["clock.day-started"], TYPE_FIELD] = ...`.
TYPE_FIELD = Field(description="Event type, `<service>.<event>`.")
VERSION_FIELD = Field(description="Major version of the event's schema (the topic's `v<major>`).")
PAYLOAD_FIELD = Field(description="The event's own data.")


class Envelope(BaseModel):
    """Common envelope. Subclasses fix `TOPIC`, `type`, `version` and `payload`.

    Trace context travels in Kafka headers, never here. Serialised with
    `model_dump_json()`; money inside payloads travels as decimal strings.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: Topic this event is published on, `<service>.<event>.v<major>`; set by subclasses.
    TOPIC: ClassVar[str] = ""
    #: Whether the Kafka key is per worker (`employer_no:ahv`) or per employer.
    WORKER_KEYED: ClassVar[bool] = False
    #: Topic-level `max.message.bytes` where a message may exceed Kafka's default 1 MiB.
    MAX_MESSAGE_BYTES: ClassVar[int | None] = None

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this event; consumers deduplicate on it.",
    )
    type: Annotated[str, TYPE_FIELD]
    version: Annotated[int, VERSION_FIELD]
    occurred_at: AwareDatetime = Field(description="When the fact happened, UTC.")
    employer_no: int = Field(ge=0, description="Employer number (Firmennummer) the event concerns.")
    correlation_id: str = Field(
        description="Id of the upload, case or command that started the chain.",
        min_length=1,
        max_length=200,
    )
    payload: Annotated[Any, PAYLOAD_FIELD]

    def unpack(self) -> list[Envelope]:
        """The events a handler is given for this one: itself (a `RowsEvent`: its rows)."""
        return [self]

    def partition_key(self) -> str:
        """Kafka key: `employer_no`, or `employer_no:ahv` for worker-level events."""
        if self.WORKER_KEYED:
            return f"{self.employer_no}:{self.payload.ahv}"
        return str(self.employer_no)

    @classmethod
    def new(
        cls,
        *,
        occurred_at: datetime,
        employer_no: int,
        correlation_id: str,
        payload: Any,
        event_id: uuid.UUID | None = None,
    ) -> Self:
        """Build an event of this class with type and version taken from its topic; a
        derived event passes its stable `event_id` (else a new one is drawn)."""
        fields = cls.model_fields
        return cls(
            event_id=event_id or uuid.uuid4(),
            type=fields["type"].default,
            version=fields["version"].default,
            occurred_at=occurred_at,
            employer_no=employer_no,
            correlation_id=correlation_id,
            payload=payload,
        )

    @classmethod
    def caused_by(
        cls, cause: Envelope, *, event_id: uuid.UUID, payload: Any, employer_no: int | None = None
    ) -> Self:
        """An event derived from `cause`: its time, employer and correlation carry over, so
        deriving it again gives the same event."""
        fields = cls.model_fields
        return cls(
            event_id=event_id,
            type=fields["type"].default,
            version=fields["version"].default,
            occurred_at=cause.occurred_at,
            employer_no=cause.employer_no if employer_no is None else employer_no,
            correlation_id=cause.correlation_id,
            payload=payload,
        )


#: Rows in one event of a list's part (`RowsEvent`): a part of at most 100 rows is a few
#: hundred KB on the wire, well under the 1 MiB a Kafka message may have by default.
ROWS_PER_EVENT = 100


def part_of(row_no: int) -> int:
    """The part (from 1) a list's row falls in: rows 2-101 in part 1, 102-201 in part 2, ...

    Every service parts a list alike, so the events derived from one part are again one
    part: deriving it again (a redelivery) gives the same event id and the same rows.
    """
    return (row_no - 2) // ROWS_PER_EVENT + 1


class RowsEvent(Envelope):
    """An event that carries a part of one list: up to `ROWS_PER_EVENT` of its rows, each
    the payload of a `ROW_MODEL` event, keyed by employer (all of one employer's rows share
    a partition, so one worker's rows stay in order).

    Per-event costs (broker record, inbox and outbox rows, decoding) are paid once per part,
    not per row. Producers publish row events; the outbox packs them into parts
    (`services/runtime/outbox.py`), and consumers handle each row (`unpack`).
    """

    #: The event each row is the payload of (its payload has `upload_id` and `row_no`).
    ROW_MODEL: ClassVar[builtins.type[Envelope]]
    MAX_MESSAGE_BYTES: ClassVar[int | None] = 4 * 1024 * 1024

    def unpack(self) -> list[Envelope]:
        """One `ROW_MODEL` event per row, in list order, with this event's time, employer
        and correlation, and the id `uuid5(<this event's id>, <index of the row>)`.

        Built as `model_construct` builds (without validating again: the part was
        validated), in a third of its time: a row costs about 3 µs instead of 10.
        """
        model = self.ROW_MODEL
        fields = model.model_fields
        common = {
            "type": fields["type"].default,
            "version": fields["version"].default,
            "occurred_at": self.occurred_at,
            "employer_no": self.employer_no,
            "correlation_id": self.correlation_id,
        }
        names = {"event_id", *common, "payload"}
        namespace = hashlib.sha1(self.event_id.bytes, usedforsecurity=False)
        events: list[Envelope] = []
        for index, row in enumerate(self.payload.rows):
            digest = namespace.copy()
            digest.update(str(index).encode())
            event = _new(model)
            _set(event, "__dict__", {"event_id": _uuid5(digest), **common, "payload": row})
            _set(event, "__pydantic_fields_set__", set(names))
            _set(event, "__pydantic_extra__", None)
            _set(event, "__pydantic_private__", None)
            events.append(event)
        return events

    @classmethod
    def pack(cls, event_id: uuid.UUID, rows: Sequence[Envelope]) -> Self:
        """The part made of `rows` (row events of one upload and part), sorted by row."""
        first = rows[0]
        ordered = sorted((row.payload for row in rows), key=lambda p: p.row_no)
        return cls.model_validate(
            {
                "event_id": event_id,
                "occurred_at": first.occurred_at,
                "employer_no": first.employer_no,
                "correlation_id": first.correlation_id,
                "payload": {
                    "upload_id": first.payload.upload_id,
                    "period": first.payload.period,
                    "part_no": part_of(first.payload.row_no),
                    "rows": ordered,
                },
            }
        )


_new = object.__new__
_set = object.__setattr__


def _uuid5(digest: Any) -> uuid.UUID:
    """`uuid.uuid5` of a SHA-1 already fed with namespace and name."""
    return uuid.UUID(bytes=digest.digest()[:16], version=5)


def check_part(
    upload_id: uuid.UUID, period: str, part_no: int, rows: list[Any], *, once_per_row: bool = True
) -> None:
    """A part's rows are of its upload, period and part, each row once unless a row may
    have several entries (`once_per_row`); ValueError if not."""
    seen: set[int] = set()
    for row in rows:
        if row.upload_id != upload_id or row.period != period:
            raise ValueError(f"row {row.row_no} is not of the part's upload and period")
        if row.row_no is None or part_of(row.row_no) != part_no:
            raise ValueError(f"row {row.row_no} is not in part {part_no}")
        if once_per_row and row.row_no in seen:
            raise ValueError(f"row {row.row_no} is in the part twice")
        seen.add(row.row_no)


class PartPayload(Payload):
    """What every part of a list says of itself; subclasses add `rows`, each with `upload_id`,
    `period` and `row_no` (`check_part`)."""

    #: Whether a row has at most one entry in the part (not so for coverage changes).
    ONCE_PER_ROW: ClassVar[bool] = True

    upload_id: uuid.UUID = Field(description="Id of the upload the rows belong to.")
    period: Period = Field(description="Pay period of the list.")
    part_no: int = Field(
        ge=1, description="Part of the list: rows 2-101 are part 1, rows 102-201 part 2, ..."
    )

    @model_validator(mode="after")
    def _rows_of_the_part(self) -> Self:
        rows: list[Any] = getattr(self, "rows")  # noqa: B009 (declared by the subclasses)
        check_part(self.upload_id, self.period, self.part_no, rows, once_per_row=self.ONCE_PER_ROW)
        return self
