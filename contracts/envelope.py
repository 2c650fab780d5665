"""The envelope every event travels in (ARCHITECTURE: Contracts)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
