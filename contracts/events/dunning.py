"""Events of dunning: ladder steps, fees, terminations, notices (RULES §9-§10)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.values import Money, Payload, Recipient, Text, Track


class ReminderEscalatedPayload(Payload):
    """A dunning case reached its next step."""

    case_id: uuid.UUID = Field(description="Id of the dunning case.")
    track: Track = Field(description="data (Art. 22) or payment (Art. 23) ladder.")
    step: Literal["reminder_1", "reminder_2", "termination"] = Field(description="Step reached.")
    business_date: date = Field(description="Business date of the step.")
    fee: Money = Field(description="Fee of the step; 0.00 where there is none.")
    registered: bool = Field(description="Whether the letter goes by registered mail.")
    copies: list[Recipient] = Field(description="Outside bodies that get a copy.")


class ReminderEscalated(Envelope):
    """A reminder or termination letter was issued."""

    TOPIC: ClassVar[str] = "dunning.reminder-escalated.v1"
    type: Annotated[Literal["dunning.reminder-escalated"], TYPE_FIELD] = (
        "dunning.reminder-escalated"
    )
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[ReminderEscalatedPayload, PAYLOAD_FIELD]


class DunningFeeChargedPayload(Payload):
    """A fee of the ladders or of Art. 25-26, to be invoiced."""

    fee_id: uuid.UUID = Field(description="Id of the fee; billing books it once.")
    kind: Literal[
        "reminder", "enforcement", "legal_opening", "bankruptcy", "late_claim", "investigation"
    ] = Field(description="Kind of fee (RULES §9-§10).")
    amount: Money = Field(description="Amount in CHF.")
    article: str = Field(
        min_length=1, max_length=50, description="Source of the fee, e.g. `Art. 22`."
    )
    case_id: uuid.UUID | None = Field(description="Dunning case of the fee; null if none.")
    reason: Text = Field(description="Why the fee is charged, in English.")


class DunningFeeCharged(Envelope):
    """Dunning charged a fee."""

    TOPIC: ClassVar[str] = "dunning.fee-charged.v1"
    type: Annotated[Literal["dunning.fee-charged"], TYPE_FIELD] = "dunning.fee-charged"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[DunningFeeChargedPayload, PAYLOAD_FIELD]


class AffiliationTerminatedPayload(Payload):
    """The foundation terminated the employer's affiliation at the end of a ladder."""

    case_id: uuid.UUID = Field(description="Dunning case that ended in termination.")
    track: Track = Field(description="Ladder that ended in termination.")
    effective_date: date = Field(
        description="Last day of the affiliation (end of the following month)."
    )
    decided_on: date = Field(description="Business date of the termination letter.")


class AffiliationTerminated(Envelope):
    """An affiliation was terminated; auth ends it on the effective date."""

    TOPIC: ClassVar[str] = "dunning.affiliation-terminated.v1"
    type: Annotated[Literal["dunning.affiliation-terminated"], TYPE_FIELD] = (
        "dunning.affiliation-terminated"
    )
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[AffiliationTerminatedPayload, PAYLOAD_FIELD]


class NotificationSentPayload(Payload):
    """A notice to an outside body was delivered."""

    notification_id: uuid.UUID = Field(description="Id of the notification.")
    recipient: Recipient = Field(
        description="catch_all (Auffangeinrichtung), labour_office (of the canton) or association."
    )
    case_id: uuid.UUID = Field(description="Dunning case the notice belongs to.")
    channel: Literal["email"] = Field(description="How it was sent.")
    sent_on: date = Field(description="Business date it was sent.")


class NotificationSent(Envelope):
    """A notice was sent to an outside body."""

    TOPIC: ClassVar[str] = "dunning.notification-sent.v1"
    type: Annotated[Literal["dunning.notification-sent"], TYPE_FIELD] = "dunning.notification-sent"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[NotificationSentPayload, PAYLOAD_FIELD]
